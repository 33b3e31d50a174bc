#!/usr/bin/env python3
"""report.py - live mode's report from live/run.py's results: a text summary and one HTML page.

    live/report.py --dir DIR [RESULTS.jsonl]      writes DIR/report.txt and DIR/report.html

Per server and rule: pass / finding / choice (an answer the RFCs allow that differs from libmx's
model) / n.a. Each finding (grouped by server, rule and the server's answer) with its minimal
session (live/minimize.py's, else the shortest session file that shows it), the one command that
replays it against freshly started servers, the bytes sent and received (the minimal session's
transcript), and the rule with its RFC section. After `live --fuzz`, the run's figures
(DIR/fuzz.json: replays, queue, class sequences per server, the load average). The differential: every session whose reply-class sequences differ
between servers, each server's classes and the model's verdict side by side. Written aside and
renamed, never left half-written.
"""
import argparse
import html
import json
import os
import sys
from collections import defaultdict

CLASS_KEY = "A accepted, R refused, B refused+closing, C continuation, T TLS up, F TLS failed, X closed, I ignored, + unexpected reply"


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def first_verdict(r):
    """The verdict that ended the judgement (a finding/choice/na), else pass."""
    for v in r.get("verdicts", []):
        if v["verdict"] != "pass":
            return v
    return None


def summarize(results):
    per = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))  # server -> rule -> verdict -> n
    findings = defaultdict(list)  # (server, rule, got) -> results
    na = defaultdict(lambda: defaultdict(int))
    for r in results:
        srv = r["server"]
        if "na" in r or "error" in r:
            na[srv][r.get("na") or ("error: " + r["error"][:80])] += 1
            continue
        for v in r["verdicts"]:
            per[srv][v["rule"]][v["verdict"]] += 1
            if v["verdict"] == "finding":
                findings[(srv, v["rule"], v["got"])].append((r, v))
    return per, findings, na


def size_of(path, root):
    try:
        return os.path.getsize(os.path.join(root, path))
    except OSError:
        return 1 << 30


def example(hits, root):
    """The record to show for a finding: the minimized one, else the shortest session's."""
    hits.sort(key=lambda h: (not h[0].get("minimal"), size_of(h[0]["session"], root)))
    r, v = hits[0]
    if r.get("minimal"):
        return r, r["minimal_verdict"], r["minimal"], r["minimal_transcript"], r["replay_command"]
    return r, v, r["session"], r.get("transcript", []), "./build.sh live --servers %s %s" % (r["server"], r["session"])


def transcript_lines(tr, limit=40):
    out = []
    for k, b in tr[:limit]:
        if k in ("C", "S"):
            for piece in shown(b).rstrip("\n").split("\n") if b else [""]:
                out.append("%s: %s" % (k, piece))
        else:
            out.append("%s %s" % (k, b))
    if len(tr) > limit:
        out.append("... %d more events" % (len(tr) - limit))
    return out


def fuzz_summary(d):
    try:
        with open(os.path.join(d, "fuzz.json")) as f:
            return json.load(f)
    except OSError:
        return None


def differential(results):
    by = defaultdict(dict)
    for r in results:
        if "classes" in r:
            by[r["session"]][r["server"]] = r
    out = []
    for sess, m in sorted(by.items()):
        if len(m) >= 2 and len({r["classes"] for r in m.values()}) > 1:
            out.append((sess, m))
    return out


def shown(b):
    return b.encode("latin-1").decode("ascii", "backslashreplace").replace("\r", "\\r").replace("\n", "\\n\n")


def text_report(results, root, fz=None):
    per, findings, na = summarize(results)
    diff = differential(results)
    L = []
    servers = sorted({r["server"] for r in results})
    L.append("live mode: %d replays, servers: %s" % (len(results), " ".join(servers)))
    if fz:
        L.append("fuzz: %d replays in %.0f s (+ %.0f s minimizing), %d seeds, seed %d, feedback %s, load average %s" % (
            fz["replays"], fz["seconds"], fz["minimize_seconds"], fz["seeds"], fz["seed"], fz["feedback"],
            " ".join("%.2f" % x for x in fz["load"])))
        for srv, f in sorted(fz["servers"].items()):
            L.append("    %-18s %5d replays, %4d mutants kept, %4d feedback keys, queue %3d, %d n.a., %d finding(s)" % (
                srv, f["replays"], f["kept"], f["feedback_keys"], f["queue"], f["not_applicable"], f["findings"]))
        L.append("  (results below: the seeds' replays, the mutants that joined a queue, the findings)")
    for srv in servers:
        tot = defaultdict(int)
        for rule in per[srv].values():
            for k, n in rule.items():
                tot[k] += n
        judged = sum(1 for r in results if r["server"] == srv and "verdicts" in r)
        L.append("")
        L.append("== %s: %d sessions judged, verdicts: %d pass, %d finding, %d choice, %d n.a.; %d sessions n.a."
                 % (srv, judged, tot["pass"], tot["finding"], tot["choice"], tot["na"], sum(na[srv].values())))
        for rule in sorted(per[srv]):
            c = per[srv][rule]
            L.append("   %-5s pass %4d  finding %3d  choice %3d  n.a. %3d   %s" % (
                "FIND" if c["finding"] else "", c["pass"], c["finding"], c["choice"], c["na"], rule))
    L.append("")
    L.append("== findings (each with its minimal session, live/minimize.py's)")
    for (srv, rule, got), hits in sorted(findings.items()):
        n = len(hits)
        r, v, sess, tr, cmd = example(hits, root)
        L.append("- %s: %s [%d session(s)]" % (srv, rule, n))
        L.append("    expected %s, got %s: %s" % (v["want"], got, v["detail"]))
        if r.get("minimal"):
            L.append("    minimal session: %s (%s listener; %d -> %d bytes, from %s)" % (
                sess, r["listener"], r["minimal_bytes"][0], r["minimal_bytes"][1], r["session"]))
        else:
            L.append("    session: %s (%s listener; not minimized%s)" % (
                sess, r["listener"], ": it did not reproduce" if "minimal" in r else ""))
        L.append("    replay on fresh servers: %s" % cmd)
        L.extend("      " + t for t in transcript_lines(tr))
    L.append("")
    L.append("== differential: %d sessions whose reply classes differ (%s)" % (len(diff), CLASS_KEY))
    for sess, m in diff[:60]:
        L.append("- %s" % sess)
        for srv in sorted(m):
            fv = first_verdict(m[srv])
            L.append("    %-18s %-30s %s" % (srv, m[srv]["classes"], ("%s: %s" % (fv["verdict"], fv["rule"])) if fv else "pass"))
    if len(diff) > 60:
        L.append("  ... %d more in report.html" % (len(diff) - 60))
    return "\n".join(L) + "\n"


def html_report(results, root, fz=None):
    per, findings, na = summarize(results)
    diff = differential(results)
    e = html.escape
    H = ["<!doctype html><meta charset=utf-8><title>mxfuzz live mode</title>",
         "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
         "padding:2px 6px;vertical-align:top}.finding{background:#fdd}.choice{background:#ffd}.pass{background:#dfd}"
         "pre{background:#f6f6f6;padding:6px;white-space:pre-wrap;max-width:110em}</style>",
         "<h1>mxfuzz live mode</h1><p>%d replays. The starttls target's RFC model judges each server's replies by "
         "class; <b>choice</b> is an answer the RFCs allow that differs from libmx's; <b>n.a.</b> a rule the "
         "session cannot test on that server.</p>" % len(results)]
    if fz:
        H.append("<p>fuzz: %d replays in %.0f s (+ %.0f s minimizing), feedback %s, load average %s</p><table><tr>"
                 "<th>server</th><th>replays</th><th>mutants kept</th><th>feedback keys</th><th>queue</th>"
                 "<th>findings</th></tr>" % (
                     fz["replays"], fz["seconds"], fz["minimize_seconds"], e(fz["feedback"]),
                     e(" ".join("%.2f" % x for x in fz["load"]))))
        for srv, f in sorted(fz["servers"].items()):
            H.append("<tr><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td></tr>" % (
                e(srv), f["replays"], f["kept"], f["feedback_keys"], f["queue"], f["findings"]))
        H.append("</table>")
    servers = sorted({r["server"] for r in results})
    rules = sorted({rule for s in per for rule in per[s]})
    H.append("<h2>Per server, per rule</h2><table><tr><th>rule</th>%s</tr>" % "".join("<th>%s</th>" % e(s) for s in servers))
    for rule in rules:
        H.append("<tr><td>%s</td>" % e(rule))
        for s in servers:
            c = per[s].get(rule)
            if not c:
                H.append("<td>n.a.</td>")
                continue
            cls = "finding" if c["finding"] else "choice" if c["choice"] else "pass"
            H.append("<td class=%s>pass %d, finding %d, choice %d, n.a. %d</td>" % (cls, c["pass"], c["finding"], c["choice"], c["na"]))
        H.append("</tr>")
    H.append("</table><h3>Sessions not applicable</h3><ul>")
    for s in servers:
        for why, n in sorted(na[s].items()):
            H.append("<li>%s: %d × %s</li>" % (e(s), n, e(why)))
    H.append("</ul><h2>Findings</h2>")
    for (srv, rule, got), hits in sorted(findings.items()):
        n = len(hits)
        r, v, sess, tr, cmd = example(hits, root)
        H.append("<h3 class=finding>%s: %s</h3><p>expected <b>%s</b>, got <b>%s</b>: %s<br>minimal session: "
                 "<code>%s</code> (%s listener; %d session(s) show it; replay on fresh servers: <code>%s</code>)</p><pre>" % (
                     e(srv), e(rule), e(v["want"]), e(got), e(v["detail"]), e(sess), e(r["listener"]), n, e(cmd)))
        for k, b in tr:
            if k in ("C", "S"):
                H.append("%s: %s\n" % ("C" if k == "C" else "S", e(shown(b))))
            else:
                H.append("%s %s\n" % (e(k), e(b)))
        H.append("</pre>")
    H.append("<h2>Differential (%d sessions)</h2><p>%s</p><table><tr><th>session</th><th>server</th><th>classes</th>"
             "<th>model's verdict</th></tr>" % (len(diff), e(CLASS_KEY)))
    for sess, m in diff:
        for i, srv in enumerate(sorted(m)):
            fv = first_verdict(m[srv])
            cls = fv["verdict"] if fv else "pass"
            H.append("<tr>%s<td>%s</td><td><code>%s</code></td><td class=%s>%s</td></tr>" % (
                "<td rowspan=%d><code>%s</code></td>" % (len(m), e(sess)) if i == 0 else "", e(srv), e(m[srv]["classes"]),
                cls if cls in ("finding", "choice") else "pass",
                e("%s: %s — %s" % (fv["verdict"], fv["rule"], fv["detail"])) if fv else "pass"))
    H.append("</table>")
    return "\n".join(H) + "\n"


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("results", nargs="?")
    a = ap.parse_args()
    results = load(a.results or os.path.join(a.dir, "results.jsonl"))
    fz = fuzz_summary(a.dir)
    txt = text_report(results, a.root, fz)
    write(os.path.join(a.dir, "report.txt"), txt)
    write(os.path.join(a.dir, "report.html"), html_report(results, a.root, fz))
    sys.stdout.write(txt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
