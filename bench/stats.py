#!/usr/bin/env python3
"""stats.py - tables, statistics and plots for bench/run.sh (Python 3 standard library + gnuplot).

  stats.py bugs  --out DIR    DIR/trials.csv -> DIR/table.txt, DIR/summary.csv, DIR/km-<bug>.png,
                              DIR/index.html
  stats.py merge --out NEW DIR...
                              one report over several `bench bugs` runs (say, a libFuzzer run and
                              an AFL++ run): their trials, seed checks and metadata joined in NEW
  stats.py speed --out DIR    DIR/speed.csv + DIR/replay.csv -> DIR/speed.txt, DIR/index.html

Time to bug: a trial either finds the bug at t seconds (wall clock from the fuzzer's launch,
startup included; or, with `bench bugs --clock cpu`, CPU seconds of the fuzzer's processes) or is
censored at the cap. Censored trials count as "later than every found
one" (all share the same cap), so medians and rank statistics are exact without imputation:
 - median: the middle of the N times with censored ones at +inf; ">cap" if it falls on one
   (= the Kaplan-Meier median when every censoring is at the cap);
 - Vargha-Delaney A12(shipped, empty) = P(T_shipped < T_empty) + 0.5 P(T_shipped = T_empty):
   0.5 = no difference, 1 = the shipped corpus always finds it first;
 - Mann-Whitney U (the same pair count) with a two-sided p: exact (all splits of the pooled
   midranks) when there are at most 200000 splits, else the normal approximation with the tie
   correction.
"""
import argparse
import csv
import html
import itertools
import math
import os
import subprocess
import sys

# the suffix of a configuration run without the session-aware mutator (bench/run.sh)
NOMUT = "-nomut"
INF = float("inf")


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return None
    if n % 2:
        return s[n // 2]
    a, b = s[n // 2 - 1], s[n // 2]
    return INF if INF in (a, b) else (a + b) / 2


def pair_count(xs, ys):
    """#(x < y) + 0.5 #(x == y): the Mann-Whitney U of xs being smaller (faster)."""
    u = 0.0
    for x in xs:
        for y in ys:
            u += 1.0 if x < y else 0.5 if x == y else 0.0
    return u


def a12(xs, ys):
    return pair_count(xs, ys) / (len(xs) * len(ys)) if xs and ys else None


def mann_whitney(xs, ys):
    """(U, two-sided p) for xs vs ys; U = pair_count(xs, ys)."""
    n1, n2 = len(xs), len(ys)
    if not n1 or not n2:
        return None, None
    u = pair_count(xs, ys)
    mid = n1 * n2 / 2.0
    pooled = list(xs) + list(ys)
    if math.comb(n1 + n2, n1) <= 200000:
        total = extreme = 0
        d_obs = abs(u - mid) - 1e-9
        idx = range(n1 + n2)
        for pick in itertools.combinations(idx, n1):
            chosen = set(pick)
            a = [pooled[i] for i in pick]
            b = [pooled[i] for i in idx if i not in chosen]
            total += 1
            if abs(pair_count(a, b) - mid) >= d_obs:
                extreme += 1
        return u, extreme / total
    # normal approximation with tie correction
    n = n1 + n2
    counts = {}
    for v in pooled:
        counts[v] = counts.get(v, 0) + 1
    tie = sum(t ** 3 - t for t in counts.values())
    var = n1 * n2 / 12.0 * ((n + 1) - tie / (n * (n - 1)))
    if var <= 0:
        return u, 1.0
    z = (abs(u - mid) - 0.5) / math.sqrt(var)
    p = math.erfc(max(z, 0) / math.sqrt(2))
    return u, min(1.0, p)


def km_curve(times, found, cap):
    """Kaplan-Meier survival S(t) (probability the bug is not yet found) as step points."""
    ev = sorted((t, f) for t, f in zip(times, found))
    at_risk = len(ev)
    s = 1.0
    pts = [(0.0, 1.0)]
    i = 0
    while i < len(ev):
        t = ev[i][0]
        d = c = 0
        while i < len(ev) and ev[i][0] == t:
            if ev[i][1]:
                d += 1
            else:
                c += 1
            i += 1
        if d:
            s *= 1.0 - d / at_risk
            pts.append((t, s))
        at_risk -= d + c
    pts.append((float(cap), s))
    return pts


def fmt_t(v, cap):
    if v is None:
        return "-"
    if v == INF:
        return ">%d" % cap
    return "%.1f" % v


def read_meta(out):
    meta = {}
    p = os.path.join(out, "meta")
    if os.path.exists(p):
        for line in open(p):
            k, _, v = line.partition(": ")
            meta[k] = v.strip()
    return meta


# ------------------------------------------------------------------ bugs
def clock_words(meta):
    """What a trial's seconds are, from the run's meta (runs before --clock: wall)."""
    clocks = set(c.strip() for c in meta.get("clock", "wall").split(";"))
    if clocks == {"cpu"}:
        return "CPU time of the fuzzer's processes (startup included)"
    if clocks == {"wall"}:
        return "wall clock from launch (startup included)"
    return "wall clock or CPU time (merged runs: see each run's meta)"


def matrix_columns(summary):
    """(engine, config) pairs present, engines then configurations in the bench's order."""
    eng = {"libfuzzer": 0, "afl": 1}
    cfg = {"shipped": 0, "pruned": 1, "empty": 2}
    cols = sorted(set(s["key"][2:] for s in summary),
                  key=lambda c: (c[1].endswith(NOMUT), eng.get(c[0], 9),
                                 cfg.get(c[1].replace(NOMUT, ""), 9), c))
    rows = []
    for s in summary:
        if s["key"][:2] not in rows:
            rows.append(s["key"][:2])
    return rows, cols


def matrix_cell(s):
    """'k/N median' of one group; '-' when not run (pruned: no shipped seed triggers the bug)."""
    if s is None:
        return "-"
    if s["corpus"] == s["n"]:
        return "%d/%d corpus" % (s["k"], s["n"])
    return "%d/%d %s" % (s["k"], s["n"], fmt_t(s["median"], s["cap"]))


def matrix_text(summary):
    by_key = {s["key"]: s for s in summary}
    rows, cols = matrix_columns(summary)
    names = ["%s %s" % c for c in cols]
    wid = [max(len(n), 11) for n in names]
    first = max([len("bug / target")] + [len("%s / %s" % r) for r in rows])
    out = ["Found k/N and median seconds per bug x target (columns: engine x configuration):"]
    hdr = "%-*s " % (first, "bug / target") + " ".join("%*s" % (wd, n) for wd, n in zip(wid, names))
    out += [hdr, "-" * len(hdr)]
    for bug, t in rows:
        out.append("%-*s " % (first, "%s / %s" % (bug, t)) + " ".join(
            "%*s" % (wd, matrix_cell(by_key.get((bug, t) + c))) for wd, c in zip(wid, cols)))
    return out


def matrix_html(summary):
    by_key = {s["key"]: s for s in summary}
    rows, cols = matrix_columns(summary)
    h = ["<table><tr><th>bug</th><th>target</th>" +
         "".join("<th>%s<br>%s</th>" % (html.escape(e), html.escape(c)) for e, c in cols) + "</tr>"]
    for bug, t in rows:
        cells = []
        for c in cols:
            s = by_key.get((bug, t) + c)
            cls = ""
            if s is not None:
                cls = " class='corpus'" if s["corpus"] == s["n"] else (
                    " class='miss'" if s["k"] < 0.8 * s["n"] else "")
            cells.append("<td%s>%s</td>" % (cls, html.escape(matrix_cell(s))))
        h.append("<tr><td>%s</td><td>%s</td>%s</tr>" % (html.escape(bug), html.escape(t), "".join(cells)))
    h.append("</table>")
    return "\n".join(h)


# issue 14: from an empty corpus without dictionary, libFuzzer >= 8/10 and AFL++ >= 6/10 within
# 60 s each; the pruned corpus's median <= 10 s
GOAL14 = {"libfuzzer": 0.8, "afl": 0.6}


def goal_issue14(summary, by_key):
    out = ["Goal (issue 14: empty without dictionary: libFuzzer >= 8/10, AFL++ >= 6/10, cap <= 60 s;"
           " pruned: median <= 10 s):"]
    rows, _ = matrix_columns(summary)
    for bug, t in rows:
        v = []
        for e in ("libfuzzer", "afl"):
            s = by_key.get((bug, t, e, "empty"))
            if s is not None:
                ok = s["k"] >= GOAL14[e] * s["n"] and s["cap"] <= 60
                v.append("%s empty %s (%d/%d, median %s)" % (e, "meets" if ok else "MISSES", s["k"], s["n"],
                                                            fmt_t(s["median"], s["cap"])))
            p = by_key.get((bug, t, e, "pruned"))
            if p is not None:
                ok = p["median"] is not None and p["median"] <= 10
                v.append("%s pruned %s (median %s)" % (e, "meets" if ok else "MISSES", fmt_t(p["median"], p["cap"])))
        if v:
            out.append("  %-24s %-12s %s" % (bug, t, "; ".join(v)))
    return out


def bugs(out):
    rows = list(csv.DictReader(open(os.path.join(out, "trials.csv"))))
    meta = read_meta(out)
    groups = {}
    order = []
    for r in rows:
        key = (r["bug"], r["target"], r["engine"], r["config"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    seedhits = {}
    sp = os.path.join(out, "seed-hits.csv")
    if os.path.exists(sp):
        for line in open(sp):
            f = line.strip().split(",")
            if len(f) >= 6:
                seedhits[(f[0], f[1])] = (int(f[2]), f[5], int(f[4]))

    def times(rs):
        return [float(r["seconds"]) if r["found"] == "1" else INF for r in rs]

    summary = []
    for key in order:
        rs = groups[key]
        cap = int(float(rs[0]["cap"]))
        ts = times(rs)
        k = sum(1 for r in rs if r["found"] == "1")
        found_t = [t for t in ts if t != INF]
        execs = [int(float(r["execs"] or 0)) if r["found"] == "1" else INF for r in rs]
        by_corpus = sum(1 for r in rs if r["source"] == "corpus")
        # found through a crash the recogniser does not know that the real code passes (judge.sh)
        by_patch = sum(1 for r in rs if r["source"] == "patch")
        unrel = sum(int(r["unrelated_crashes"] or 0) for r in rs)
        # censored before the whole budget was used (--clock cpu: stopped by the wall limit)
        short = sum(1 for r in rs if r["found"] != "1" and r.get("used") not in (None, "")
                    and float(r["used"]) < 0.95 * cap)
        summary.append({
            "key": key, "n": len(rs), "k": k, "cap": cap, "times": ts,
            "median": median(ts), "min": min(found_t) if found_t else None,
            "max": (max(found_t) if k == len(rs) else INF) if found_t else None,
            "median_execs": median(execs), "corpus": by_corpus, "patch": by_patch, "unrelated": unrel, "short": short,
        })
    by_key = {s["key"]: s for s in summary}
    bug_order = []
    for s in summary:
        if s["key"][0] not in bug_order:
            bug_order.append(s["key"][0])
    eng_order = {"libfuzzer": 0, "afl": 1}
    # each configuration with the session-aware mutator (the shipped fuzzer) and, for targets
    # that have one, without it (NOMUT suffix: the engine's own mutations only)
    cfg_order = {"shipped": 0, "pruned": 1, "empty": 2,
                 "shipped" + NOMUT: 3, "pruned" + NOMUT: 4, "empty" + NOMUT: 5}
    summary.sort(key=lambda s: (bug_order.index(s["key"][0]), s["key"][1],
                                eng_order.get(s["key"][2], 9), cfg_order.get(s["key"][3], 9)))

    clock = clock_words(meta)
    lines = []
    w = lines.append
    w("Time to bug: %s" % meta.get("command", ""))
    w("%s; %s; %s" % (meta.get("date", ""), meta.get("machine", ""), "commit " + meta.get("commit", "")))
    w("found k/N: trials that hit a crash of the bug within the cap: recognised by its regex, or")
    w("('N by patch') one the patched binary has alone and the real code passes (bench/judge.sh);")
    w("times in seconds of %s." % clock)
    w("'(corpus)': a shipped seed already triggers it (t=0, no fuzzing). pruned: the shipped")
    w("corpus without the seeds that trigger the bug, + dictionary")
    w("(run only when some seed triggers it). A12/U/p compare that row with the empty configuration")
    w("for the same bug, target, engine and mutator: A12 > 0.5 = it finds the bug sooner than no corpus.")
    w("%s: without the session-aware mutator (targets/harness/mutator.h; the others have it, as" % NOMUT)
    w("shipped). A12m: that row against the same configuration %s (> 0.5: the mutator finds it sooner)." % NOMUT)
    w("")
    hdr = "%-24s %-12s %-9s %-13s %12s %8s %7s %7s %12s %6s %8s %7s %6s" % (
        "bug", "target", "engine", "config", "found", "median", "min", "max", "median_execs",
        "A12", "U", "p", "A12m")
    w(hdr)
    w("-" * len(hdr))
    csv_rows = []
    for s in summary:
        bug, t, e, cfg = s["key"]
        suffix = NOMUT if cfg.endswith(NOMUT) else ""
        other = by_key.get((bug, t, e, "empty" + suffix)) if cfg != "empty" + suffix else None
        a = u = p = am = None
        if other:
            a = a12(s["times"], other["times"])
            u, p = mann_whitney(s["times"], other["times"])
        nomut = by_key.get((bug, t, e, cfg + NOMUT)) if not suffix else None
        if nomut:
            am = a12(s["times"], nomut["times"])
        found = "%d/%d" % (s["k"], s["n"])
        if s["corpus"]:
            found += " (corpus)"
        if s.get("patch"):
            found += " (%d by patch)" % s["patch"]
        me = s["median_execs"]
        w("%-24s %-12s %-9s %-13s %12s %8s %7s %7s %12s %6s %8s %7s %6s" % (
            bug, t, e, cfg, found, fmt_t(s["median"], s["cap"]), fmt_t(s["min"], s["cap"]),
            fmt_t(s["max"], s["cap"]),
            "-" if me is None else (">cap" if me == INF else "%d" % me),
            "" if a is None else "%.2f" % a, "" if u is None else "%.1f" % u,
            "" if p is None else "%.3f" % p, "" if am is None else "%.2f" % am))
        csv_rows.append([bug, t, e, cfg, s["n"], s["k"], s["corpus"], fmt_t(s["median"], s["cap"]),
                         fmt_t(s["min"], s["cap"]), fmt_t(s["max"], s["cap"]),
                         "" if me is None else (">cap" if me == INF else me),
                         "" if a is None else "%.3f" % a, "" if u is None else u,
                         "" if p is None else "%.4f" % p, s["unrelated"], "" if am is None else "%.3f" % am,
                         s["patch"]])
    w("")
    lines += matrix_text(summary)
    w("")
    short = sum(s["short"] for s in summary)
    if short:
        w("%d censored trial(s) were stopped by the wall limit before their CPU budget was used"
          " (trials.csv: used < cap)." % short)
        w("")
    goal14 = goal_issue14(summary, by_key)
    lines += goal14
    w("")
    # goal: found by both engines in >= 9/10 trials with median <= 30 s using the shipped corpus
    bugs_seen = []
    for s in summary:
        if (s["key"][0], s["key"][1]) not in bugs_seen:
            bugs_seen.append((s["key"][0], s["key"][1]))
    # the shipped corpus's goal, when the run had that configuration
    shipped_run = any(s["key"][3] == "shipped" for s in summary)
    if shipped_run:
        w("Goal (every bug: both engines, shipped corpus, >= 90% of trials, median <= 30 s):")
    for bug, t in bugs_seen if shipped_run else ():
        verdicts = []
        for e in ("libfuzzer", "afl"):
            s = by_key.get((bug, t, e, "shipped"))
            if not s:
                verdicts.append("%s not measured" % e)
                continue
            ok = s["k"] >= 0.9 * s["n"] and s["median"] is not None and s["median"] <= 30
            v = "%s %s (%d/%d, median %s%s)" % (e, "meets" if ok else "MISSES", s["k"], s["n"],
                                                 fmt_t(s["median"], s["cap"]), ", corpus" if s["corpus"] else "")
            pr = by_key.get((bug, t, e, "pruned"))
            if pr:
                okp = pr["k"] >= 0.9 * pr["n"] and pr["median"] is not None and pr["median"] <= 30
                v += " [without the triggering seeds: %s %d/%d, median %s]" % (
                    "meets" if okp else "misses", pr["k"], pr["n"], fmt_t(pr["median"], pr["cap"]))
            verdicts.append(v)
        hits = seedhits.get((bug, t))
        extra = "; %d of %d shipped seeds trigger it" % (hits[0], hits[2]) if hits and hits[0] else ""
        w("  %-24s %-12s %s%s" % (bug, t, "; ".join(verdicts), extra))
    skipped = os.path.join(out, "skipped")
    if os.path.exists(skipped) and os.path.getsize(skipped):
        w("")
        w("Not measured:")
        for line in open(skipped):
            w("  " + line.strip())
    open(os.path.join(out, "table.txt"), "w").write("\n".join(lines) + "\n")
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        cw = csv.writer(f)
        cw.writerow(["bug", "target", "engine", "config", "trials", "found", "found_by_corpus",
                     "median_s", "min_s", "max_s", "median_execs", "a12_shipped_vs_empty", "u", "p",
                     "unrelated_crashes", "a12_mutator_vs_none", "found_by_patch"])
        cw.writerows(csv_rows)

    # Kaplan-Meier plots, one per bug x target
    plots = []
    for bug, t in bugs_seen:
        series = [s for s in summary if s["key"][0] == bug and s["key"][1] == t]
        cap = max(s["cap"] for s in series)
        dat = os.path.join(out, "km-%s-%s.dat" % (bug, t))
        with open(dat, "w") as f:
            for s in series:
                f.write("# %s %s\n" % (s["key"][2], s["key"][3]))
                for x, y in km_curve([min(v, s["cap"]) for v in s["times"]],
                                     [v != INF for v in s["times"]], s["cap"]):
                    f.write("%.3f %.4f\n" % (max(x, 0.1), y))
                f.write("\n\n")
        png = "km-%s-%s.png" % (bug, t)
        style = {("libfuzzer", "shipped"): "lc rgb '#1f77b4' lw 2",
                 ("libfuzzer", "pruned"): "lc rgb '#1f77b4' lw 2 dt 4",
                 ("libfuzzer", "empty"): "lc rgb '#1f77b4' lw 2 dt 2",
                 ("afl", "shipped"): "lc rgb '#d62728' lw 2",
                 ("afl", "pruned"): "lc rgb '#d62728' lw 2 dt 4",
                 ("afl", "empty"): "lc rgb '#d62728' lw 2 dt 2"}
        for (e_, c_), st in list(style.items()):   # without the mutator: the same line, thin
            style[(e_, c_ + NOMUT)] = st.replace("lw 2", "lw 1")
        plot = ", ".join("'%s' index %d with steps %s title '%s %s (%d/%d%s)'" % (
            dat, i, style.get((s["key"][2], s["key"][3]), "lw 2"), s["key"][2], s["key"][3],
            s["k"], s["n"], ", corpus" if s["corpus"] else "") for i, s in enumerate(series))
        gp = ("set terminal pngcairo size 720,420 font 'sans,10'\n"
              "set output '%s'\n"
              "set title 'Kaplan-Meier: %s on %s (bug not yet found)'\n"
              "set xlabel 'seconds from launch (log scale; t <= 0.1 drawn at 0.1; cap %d)'\n"
              "set ylabel 'fraction of trials without the bug'\nset logscale x\n"
              "set xrange [0.1:%d]\nset yrange [-0.02:1.05]\nset key outside right\nset grid\n"
              "plot %s\n" % (os.path.join(out, png), bug, t, cap, cap, plot))
        open(os.path.join(out, "km-%s-%s.gp" % (bug, t)), "w").write(gp)
        try:
            r = subprocess.run(["gnuplot"], input=gp, text=True, capture_output=True)
        except FileNotFoundError:   # no gnuplot: the tables still stand, without the plot
            r = subprocess.CompletedProcess(["gnuplot"], 127, "", "gnuplot is not installed")
        if r.returncode != 0:
            print("stats: gnuplot failed for %s: %s" % (bug, r.stderr), file=sys.stderr)
        else:
            plots.append((bug, t, png))

    # HTML
    h = ["<!doctype html><html><head><meta charset='utf-8'><title>mxfuzz: time to bug</title>",
         "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
         "td:first-child,td:nth-child(2),td:nth-child(3),td:nth-child(4){text-align:left}"
         ".miss{background:#fdd}.corpus{background:#dfd}</style></head><body>",
         "<h1>mxfuzz detection power: time to bug</h1>",
         "<p><code>%s</code><br>%s<br>%s<br>commit %s</p>" % tuple(html.escape(meta.get(k, "")) for k in
                                                             ("command", "date", "machine", "commit")),
         "<p>Found k/N: trials in which a crash recognised as the bug (bench/bugs/manifest) came "
         "within the cap. Seconds are %s. <em>(corpus)</em>: a shipped seed "
         "already triggers the bug (t=0, no fuzzing). <em>pruned</em>: the shipped corpus without "
         "those seeds, + dictionary. A12 = P(this configuration finds it before the empty one); U "
         "and the two-sided p: Mann-Whitney against the empty configuration.</p>" % html.escape(clock),
         "<h2>Found k/N, median seconds: bug x target against engine x configuration</h2>",
         matrix_html(summary),
         "<h2>Every group</h2>",
         "<table><tr>" + "".join("<th>%s</th>" % c for c in
                                 ("bug", "target", "engine", "config", "found", "median s", "min s",
                                  "max s", "median execs", "A12", "U", "p", "A12m")) + "</tr>"]
    for row in csv_rows:
        bug, t, e, cfg, n, k, corpus = row[:7]
        cls = " class='corpus'" if corpus else (" class='miss'" if k < 0.9 * n else "")
        found = "%d/%d%s" % (k, n, " (corpus)" if corpus else "")
        cells = [bug, t, e, cfg, found] + [str(x) for x in row[7:14]] + [str(row[15])]
        h.append("<tr%s>%s</tr>" % (cls, "".join("<td>%s</td>" % html.escape(str(c)) for c in cells)))
    h.append("</table>")
    h.append("<h2>Goals</h2><pre>%s</pre>" % html.escape("\n".join(
        lines[lines.index(goal14[0]):])))
    h.append("<h2>Survival (Kaplan-Meier)</h2>")
    for bug, t, png in plots:
        h.append("<h3>%s (%s)</h3><img src='%s' alt='%s'>" % (html.escape(bug), html.escape(t), png, png))
    h.append("<p>Every trial: <a href='trials.csv'>trials.csv</a>; per group: "
             "<a href='summary.csv'>summary.csv</a>.</p></body></html>")
    open(os.path.join(out, "index.html"), "w").write("\n".join(h) + "\n")


# ------------------------------------------------------------------ speed
def speed_block(w, rs, e, mk, mname):
    """One engine's table of target against floors and old binary, on metric mk of speed.csv."""

    def ratio(a, b):
        return "%.3f" % (a / b) if b else "-"

    floors = {"empty": {}, "component": {}, "old": {}}
    first_floor = []
    for r in rs:
        if r["binary"] in floors:
            if r["binary"] == "empty" and r["inputs"] in floors["empty"]:
                first_floor.append(float(r[mk]))
                continue
            floors[r["binary"]][r["inputs"]] = float(r[mk])
            if r["binary"] == "empty" and not first_floor:
                first_floor.append(float(r[mk]))
    drift = 0.0
    if len(first_floor) >= 2 and max(first_floor) > 0:
        drift = abs(first_floor[0] - first_floor[-1]) / max(first_floor) * 100
    w("%s, %s (floor drift %.0f%%%s):" % (e, mname, drift, " - NOT STEADY, repeat" if drift > 20 else ""))
    w("  %-13s %9s %9s %8s %9s %7s %6s %10s %7s  %s" % (
        "target", "exec", "old", "new/old", "component", "/comp", ">=0.3", "empty", "/empty", "status"))
    for r in rs:
        if r["binary"] in floors:
            continue
        eps = float(r[mk])
        t = r["inputs"]
        old, comp, emp = (floors[k].get(t) for k in ("old", "component", "empty"))
        w("  %-13s %9.0f %9s %8s %9s %7s %6s %10s %7s  %s" % (
            r["binary"], eps, "%.0f" % old if old is not None else "-", ratio(eps, old),
            "%.0f" % comp if comp is not None else "-", ratio(eps, comp),
            ("yes" if eps >= 0.3 * comp else "NO") if comp else "-",
            "%.0f" % emp if emp is not None else "-", ratio(eps, emp), r.get("status", "")))
    w("")


def speed(out):
    meta = read_meta(out)
    rows = list(csv.DictReader(open(os.path.join(out, "speed.csv"))))
    lines = []
    w = lines.append
    w("Exec/s against floors and the old binary: %s" % meta.get("command", ""))
    w("%s; %s; commit %s%s" % (meta.get("date", ""), meta.get("machine", ""), meta.get("commit", ""),
                               "; old %s" % meta["old"] if meta.get("old") else ""))
    w("Each target fuzzed alone (one process, nice) on its shipped corpus + dictionary + max_len,")
    w("right after, on the same inputs and built the same way: the empty target (bench/empty.c),")
    w("the component floor (bench/floor/T.c: the libmx component alone, once, no oracle) and the")
    w("target as it was at the old revision. new/old = target exec/s / old exec/s; /comp and")
    w("/empty = target exec/s / that floor's. The first empty run is repeated at the end:")
    w("drift = how much it moved (> 20%: the machine was not steady; repeat the run).")
    w("exec/s = execs / wall time of the run; exec per CPU second = execs / user + system seconds")
    w("of the fuzzer's processes; libFuzzer: of the fuzzing after the corpus is loaded (a loading-")
    w("only run, -runs=0, is subtracted), AFL++: of the whole run. status: crashed")
    w("(libFuzzer stopped at a crash: the figure covers the run up to it), crashes:N (AFL++ saved N")
    w("crashes and went on), did-not-start (afl-fuzz refused the seeds).")
    w("")
    engines = []
    for r in rows:
        if r["engine"] not in engines:
            engines.append(r["engine"])

    # exec/s over wall time, and (runs since the CPU column) executions per CPU second of the
    # fuzzer's processes: on a shared machine the second does not depend on what the run got
    metrics = [("exec_per_s", "exec/s (wall)")]
    if rows and rows[0].get("exec_per_cpu_s") not in (None, ""):
        metrics.append(("exec_per_cpu_s", "exec per CPU second"))
    for mk, mname in metrics:
        for e in engines:
            speed_block(w, [r for r in rows if r["engine"] == e], e, mk, mname)
    rp = os.path.join(out, "replay.csv")
    rep = list(csv.DictReader(open(rp))) if os.path.exists(rp) else []
    if rep:
        w("Replay of the shipped corpora through the ASan+UBSan replay binaries (build/test/replay):")
        w("  %-14s %7s %10s %9s %10s" % ("target", "files", "bytes", "seconds", "ms/file"))
        for r in rep:
            w("  %-14s %7s %10s %9s %10s" % (r["target"], r["files"], r["bytes"], r["seconds"], r["ms_per_file"]))
        tot = sum(float(r["seconds"]) for r in rep)
        w("  %-14s %7d %10d %9.3f" % ("total", sum(int(r["files"]) for r in rep),
                                      sum(int(r["bytes"]) for r in rep), tot))
    open(os.path.join(out, "speed.txt"), "w").write("\n".join(lines) + "\n")
    h = ["<!doctype html><html><head><meta charset='utf-8'><title>mxfuzz: speed</title></head><body>",
         "<h1>mxfuzz speed against its floors and the old binary</h1><pre>%s</pre></body></html>" %
         html.escape("\n".join(lines))]
    open(os.path.join(out, "index.html"), "w").write("\n".join(h) + "\n")


def merge(out, dirs):
    os.makedirs(out, exist_ok=True)
    header = None
    trials, hits, skipped, metas = [], [], [], []
    for d in dirs:
        with open(os.path.join(d, "trials.csv")) as f:
            lines = f.read().splitlines()
        header = header or lines[0]
        if lines[0] != header:
            sys.exit("stats: %s/trials.csv has another header" % d)
        trials += lines[1:]
        for name, acc in (("seed-hits.csv", hits), ("skipped", skipped)):
            p = os.path.join(d, name)
            if os.path.exists(p):
                acc += [l for l in open(p).read().splitlines() if l not in acc]
        metas.append(read_meta(d))
    # a trial is its bug, target, engine, configuration, number and seed: two runs holding the
    # same one repeated each other (same seed, same course), and counting both would make the
    # sample look bigger than it is; run.sh's --first-trial numbers a second run's trials apart
    cols = header.split(",")
    key = [cols.index(c) for c in ("bug", "target", "engine", "config", "trial", "seed")]
    seen = {}
    for line in trials:
        k = tuple(line.split(",")[i] for i in key)
        if k in seen:
            sys.exit("stats: trial %s of %s/%s %s %s (seed %s) is in two of the runs: they repeat each other;"
                     " run the second with --first-trial (bench/README.md)" % (k[4], k[0], k[1], k[2], k[3], k[5]))
        seen[k] = 1
    open(os.path.join(out, "trials.csv"), "w").write("\n".join([header] + trials) + "\n")
    open(os.path.join(out, "seed-hits.csv"), "w").write("".join(l + "\n" for l in hits))
    open(os.path.join(out, "skipped"), "w").write("".join(l + "\n" for l in skipped))
    with open(os.path.join(out, "meta"), "w") as f:
        f.write("command: %s\n" % " ; ".join(m.get("command", "?") for m in metas))
        f.write("date: %s\n" % " ; ".join(m.get("date", "?") for m in metas))
        f.write("machine: %s\n" % " ; ".join(m.get("machine", "?") for m in metas))
        f.write("commit: %s\n" % " ; ".join(m.get("commit", "?") for m in metas))
        f.write("clock: %s\n" % " ; ".join(m.get("clock", "wall") for m in metas))
        f.write("merged: %s\n" % " ".join(dirs))
    bugs(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["bugs", "speed", "merge"])
    p.add_argument("--out", required=True)
    p.add_argument("dirs", nargs="*")
    a = p.parse_intermixed_args()
    if a.mode == "merge":
        merge(a.out, a.dirs)
    elif a.mode == "bugs":
        bugs(a.out)
    else:
        speed(a.out)


if __name__ == "__main__":
    main()
