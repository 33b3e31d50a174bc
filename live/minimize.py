#!/usr/bin/env python3
"""minimize.py - live mode's minimizer: a session that shows a finding on a running server, cut
down to a small session that still shows it.

    live/minimize.py --dir DIR --judge BIN [--min-budget N] [--min-seconds S] [RESULTS.jsonl]

reads live/run.py's (or live/fuzz.py's) results, and for each distinct finding (server, rule,
expected and received class) minimizes its shortest session against the server that is running
now (DIR/ports), writes it to DIR/minimal/<server>-<sha1 of the session>, and records it in the
results ("minimal": path, "minimal_transcript", "minimal_verdict"), rewritten aside and renamed.

A candidate reproduces the finding when a replay of it (the same client, live/run.py's `one`)
gets a verdict "finding" of the same rule with the same expected and received class. The cuts,
each kept only when the finding stays (delta debugging, Zeller and Hildebrandt, "Simplifying and
Isolating Failure-Inducing Input", TSE 2002):
  1. the events a live client does not send (the server writes `S` and read patterns `R` of the
     in-process targets), all at once;
  2. the events: ddmin over the list (client writes and TLS-up events);
  3. each client write's lines: ddmin over the lines of the write;
  4. each client write's bytes: ddmin over its bytes (writes of at most 512 bytes).
Bounded: at most --min-budget replays (default 150) and --min-seconds (default 120) per finding; the last
candidate that reproduced is the result, whatever the bound cut short. A finding that does not
reproduce at all (timing) keeps its original session and says so ("minimal_verdict": null).
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (the replay of one session: the live client and the judge)

mxsession = run.mxsession


def finding_key(v):
    return (v["rule"], v["want"], v["got"])


def findings_of(rec):
    return [v for v in rec.get("verdicts", []) if v["verdict"] == "finding"]


class Budget(Exception):
    pass


class Reducer:
    """Replays candidates of one finding on one server; remembers the smallest that reproduced."""

    def __init__(self, a, ports, server, key, data, work, budget, seconds, like=""):
        self.a, self.ports, self.server, self.key = a, ports, server, key
        self.like = like  # the session minimized: its candidates are judged as it is
        self.work, self.budget, self.deadline = work, budget, time.time() + seconds
        self.tests = 0
        self.best, self.best_rec = None, None
        self.seen = {}
        base = mxsession.parse(data)
        self.base = base

    def encode(self, events):
        self.base.events = list(events)
        return mxsession.encode(self.base)

    def reproduces(self, events):
        data = self.encode(events)
        h = hashlib.sha1(data).hexdigest()
        if h in self.seen:
            return self.seen[h]
        if self.tests >= self.budget or time.time() > self.deadline:
            raise Budget()
        self.tests += 1
        path = os.path.join(self.work, run.reader_name("cand-" + h[:16], self.like))
        with open(path, "wb") as f:
            f.write(data)
        rec = run.one(self.a, self.ports, path, self.server)
        os.unlink(path)
        ok = any(finding_key(v) == self.key for v in findings_of(rec))
        self.seen[h] = ok
        if ok and (self.best is None or len(data) <= len(self.best)):
            self.best, self.best_rec = data, rec
        return ok


def ddmin(items, test):
    """The 1-minimal sublist of items (in order) for which test holds (test(items) holds)."""
    n = 2
    while len(items) >= 2:
        size = max(1, len(items) // n)
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        reduced = False
        for i in range(len(chunks)):
            rest = [x for j, c in enumerate(chunks) if j != i for x in c]
            if rest and test(rest):
                items, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    return items


def lines_of(p):
    out, s = [], 0
    for i, c in enumerate(p):
        if c == 0x0A:
            out.append(p[s:i + 1])
            s = i + 1
    if s < len(p):
        out.append(p[s:])
    return out


def reduce_events(r, events):
    live = [e for e in events if e[0] in ("C", "T")]
    if len(live) < len(events) and r.reproduces(live):
        events = live
    events = ddmin(events, r.reproduces)
    # each client write: its lines, then its bytes; the other events as they are
    for unit in ("lines", "bytes"):
        i = 0
        while i < len(events):
            k, p = events[i]
            if k == "C" and len(p) > 1 and (unit == "lines" or len(p) <= 512):
                parts = lines_of(p) if unit == "lines" else [p[j:j + 1] for j in range(len(p))]
                if len(parts) > 1:
                    def test(sub, i=i):
                        return r.reproduces(events[:i] + [("C", b"".join(sub))] + events[i + 1:])
                    kept = ddmin(parts, test)
                    events = events[:i] + [("C", b"".join(kept))] + events[i + 1:]
            i += 1
    return events


def minimize(a, ports, server, key, data, work, budget=150, seconds=120, like=""):
    """(minimal session bytes, its replay record, replays used); (None, None, n) when the
    finding did not reproduce even once. like: the session's path (an IMAP reader's?)."""
    r = Reducer(a, ports, server, key, data, work, budget, seconds, like)
    try:
        if r.reproduces(r.base.events):
            reduce_events(r, list(r.base.events))
    except Budget:
        pass
    return r.best, r.best_rec, r.tests


def replay_command(server, path, mx_serve=None):
    """The one command that replays a minimal session against a freshly started server (the
    mx-serve binary named when the run was given another one: a patched build)."""
    extra = " --mx-serve %s" % shown_path(mx_serve) if mx_serve and server == "mx-serve" else ""
    return "./build.sh live --servers %s%s %s" % (server, extra, shown_path(path))


def shown_path(p):
    """A path as the commands print it: relative to the checkout when inside it."""
    p = os.path.abspath(p)
    return os.path.relpath(p, run.ROOT) if p.startswith(run.ROOT + os.sep) else p


def minimize_all(a, ports, results, out_dir, budget, seconds, log=print, mx_serve=None, jobs=4):
    """Minimizes the shortest session of each distinct finding in results (records updated in
    place: the first record showing it gets "minimal"...). Returns the records minimized."""
    groups = {}
    for rec in results:
        for v in findings_of(rec):
            k = (rec["server"],) + finding_key(v)
            groups.setdefault(k, []).append(rec)
    os.makedirs(out_dir, exist_ok=True)

    def one_finding(item):
        k, recs = item
        recs.sort(key=lambda r: run.session_size(r))
        with open(run.session_path(recs[0]), "rb") as f:
            data = f.read()
        t0 = time.time()
        with tempfile.TemporaryDirectory(dir=out_dir) as work:
            best, brec, tests = minimize(a, ports, k[0], k[1:], data, work, budget, seconds, run.session_path(recs[0]))
        return k, recs[0], data, best, brec, tests, time.time() - t0

    done = []
    # the findings at once (each a connection at a time): most of a replay is waiting for replies
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        for k, rec, data, best, brec, tests, secs in ex.map(one_finding, sorted(groups.items())):
            if best is None:
                rec["minimal"], rec["minimal_verdict"] = None, None
                log("live: minimize %s | %s: did not reproduce (%d replays)" % (k[0], k[1], tests))
                continue
            path = os.path.join(out_dir, "%s-%s" % (k[0], run.reader_name(hashlib.sha1(best).hexdigest()[:12],
                                                                         run.session_path(rec))))
            with open(path + ".tmp", "wb") as f:
                f.write(best)
            os.replace(path + ".tmp", path)
            rec["minimal"] = shown_path(path)
            rec["minimal_bytes"] = [len(data), len(best)]
            rec["minimal_transcript"] = brec.get("transcript", [])
            rec["minimal_verdict"] = next(v for v in findings_of(brec) if finding_key(v) == k[1:])
            rec["replay_command"] = replay_command(k[0], path, mx_serve)
            log("live: minimized %s | %s: %d -> %d bytes in %d replays, %.0f s: %s" % (
                k[0], k[1], len(data), len(best), tests, secs, rec["minimal"]))
            done.append(rec)
    return done


def minimize_options(ap):
    """The minimizer's bounds and the replay command's binary (here and in live/fuzz.py)."""
    ap.add_argument("--min-budget", type=int, default=150, help="replays per finding (default 150)")
    ap.add_argument("--min-seconds", type=float, default=120, help="seconds per finding (default 120)")
    ap.add_argument("--mx-serve", help="the mx-serve binary the run used, when not the build's (for the replay command)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    run.replay_options(ap)
    minimize_options(ap)
    ap.add_argument("--jobs", type=int, default=4, help="findings minimized at once (default 4)")
    ap.add_argument("results", nargs="?")
    a = ap.parse_args()
    if a.min_budget < 1 or a.min_seconds <= 0:
        sys.exit("live/minimize.py: --min-budget and --min-seconds must be positive")
    path = a.results or os.path.join(a.dir, "results.jsonl")
    with open(path) as f:
        results = [json.loads(l) for l in f if l.strip()]
    ports = run.read_ports(a.dir)
    minimize_all(a, ports, results, os.path.join(a.dir, "minimal"), a.min_budget, a.min_seconds, mx_serve=a.mx_serve, jobs=a.jobs)
    run.write_results(path, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
