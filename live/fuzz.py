#!/usr/bin/env python3
"""fuzz.py - live mode's black-box mutation (`live --fuzz`): sessions mutated with the project's
session-aware mutator, sent to the running servers, kept when they produce a new reply-class
sequence, every finding minimized.

    live/fuzz.py --dir DIR --judge BIN --mutate BIN --time S [--count N] [--seed K]
                 [--servers a,b] [--jobs N] [--batch N] SEED-SESSION-OR-DIR...

No coverage from a server we do not build: the feedback is the server's reply classes (live-judge's
"classes" line: accepted, refused, refused+closing, continuation, TLS up, closed, ignored, ...).
Per server, a queue starts with the seed sessions; each round takes a queue entry (the least
often taken first), has tools/session-mutate (targets/harness/mutator.c: the one mutator, the
dictionaries of the starttls target) write --batch mutants of it, some spliced with other entries,
and replays them (live/run.py's client and judge, --jobs at once). A mutant whose (listener, class
sequence) the server has not shown before joins the queue. A mutant with a finding (a reply the
RFC model forbids) is kept in DIR/fuzz/findings/; after the loop every distinct finding is
minimized (live/minimize.py) against the still-running server.

Bounded: --time seconds of mutation (default 60) and --count replays (default 5000), each replay
bounded by the client's --timeout and --patience; sessions at most 4096 bytes (the mutator's
--max); loopback only (the ports of DIR/ports, all on 127.0.0.1, started by live/servers.sh).
Progress every 10 s on stdout. Results: DIR/results.jsonl (the seeds' replays, the queue's new
entries and the findings, as live/run.py writes them, "origin": "seed" or "fuzz") and
DIR/fuzz.json (the run's figures), read by live/report.py.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import minimize  # noqa: E402
import run  # noqa: E402

ROOT = run.ROOT
MAX_SESSION = 4096


def dictionaries(root):
    """The starttls target's dictionaries, as ./build.sh targets (the one reader of the target list) names them."""
    r = subprocess.run(["bash", os.path.join(root, "build.sh"), "targets", "--field", "starttls", "dicts"],
                       stdout=subprocess.PIPE, text=True, check=True)
    d = r.stdout.strip()
    return [] if d == "-" else [os.path.join(root, "dictionaries", n) for n in d.split("+")]


FEEDBACKS = ("bigram", "sequence")


def novelty(rec, mode):
    """The feedback keys of one replay. "sequence": the (listener, whole reply-class sequence),
    which nearly every mutant changes somewhere (each kept one then breeds more of the same);
    "bigram" (default): the (listener, class, next class) pairs of the sequence, from its start
    to its end, and the (listener, rule, verdict) of every verdict: a mutant is kept for a reply
    after a reply not seen before, or a rule reached or decided otherwise than before."""
    lst = rec.get("listener")
    if mode == "sequence":
        return {("seq", lst, rec.get("classes"))}
    seq = ["^"] + (rec.get("classes") or "").split() + ["$"]
    keys = {("bigram", lst, a, b) for a, b in zip(seq, seq[1:])}
    return keys | {("rule", lst, v["rule"], v["verdict"]) for v in rec.get("verdicts", [])}


class Server:
    def __init__(self, name, qdir):
        self.name, self.qdir = name, qdir
        self.queue = []     # [path, times taken]
        self.sigs = set()   # feedback keys seen (novelty())
        self.kept = 0       # mutants that joined the queue
        self.execs = 0
        self.na = 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    run.replay_options(ap, patience=1.5)
    ap.add_argument("--mutate", required=True, help="tools/session-mutate of the build")
    ap.add_argument("--servers", help="comma-separated (default: every server in DIR/ports)")
    ap.add_argument("--time", type=float, default=60.0, help="seconds of mutation (default 60)")
    ap.add_argument("--count", type=int, default=5000, help="at most this many replays (default 5000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8, help="mutants per round (default 8)")
    ap.add_argument("--feedback", choices=FEEDBACKS, default="bigram",
                    help="what makes a mutant new (default bigram; sequence: the whole reply-class sequence)")
    ap.add_argument("--until", metavar="RULE",
                    help="stop mutating at the first finding whose rule contains RULE (a test's bound)")
    minimize.minimize_options(ap)
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    for name, v, lo in (("--time", a.time, 1), ("--count", a.count, 1), ("--jobs", a.jobs, 1),
                        ("--batch", a.batch, 1), ("--min-budget", a.min_budget, 1)):
        if v < lo:
            sys.exit("live/fuzz.py: %s must be at least %d" % (name, lo))
    ports = run.read_ports(a.dir)
    names = a.servers.split(",") if a.servers else sorted({k[0] for k in ports})
    fdir = os.path.join(a.dir, "fuzz")
    shutil.rmtree(fdir, ignore_errors=True)
    for d in ("tmp", "findings"):
        os.makedirs(os.path.join(fdir, d))
    servers = []
    for n in names:
        os.makedirs(os.path.join(fdir, "queue", n))
        servers.append(Server(n, os.path.join(fdir, "queue", n)))
    dicts = dictionaries(ROOT)
    rng = random.Random(a.seed)
    results, found = [], {}  # found: (server, rule, want, got) -> the first record
    t_start = time.time()

    def note(rec, srv, path, origin):
        """Feedback and findings of one replay; returns 1 when it joined the queue."""
        srv.execs += 1
        rec["origin"] = origin
        if "na" in rec or "error" in rec:
            srv.na += 1
            if origin == "seed":
                results.append(rec)
            return 0
        kept = 0
        fs = minimize.findings_of(rec)
        for v in fs:
            k = (srv.name,) + minimize.finding_key(v)
            if k not in found:
                # the session stays on disk for the minimizer
                keep = os.path.join(fdir, "findings", run.reader_name("%s-%d" % (srv.name, len(found)), path))
                shutil.copyfile(path, keep)
                rec["session"] = os.path.relpath(keep, ROOT)
                found[k] = rec
                print("live fuzz: %s: new finding after %d replays: %s (expected %s, got %s)" % (
                    srv.name, srv.execs, v["rule"], v["want"], v["got"]), flush=True)
                results.append(rec)
        keys = novelty(rec, a.feedback)
        if not keys <= srv.sigs:
            srv.sigs |= keys
            if origin == "fuzz":
                srv.kept += 1
                dst = os.path.join(srv.qdir, os.path.basename(path))
                shutil.copyfile(path, dst)
                path = dst
                if not fs:
                    rec["session"] = os.path.relpath(dst, ROOT)
                    results.append(rec)
            elif not fs:
                results.append(rec)
            srv.queue.append([path, 0])
            kept = 1
        return kept

    seeds = run.sessions(a.paths)
    with ThreadPoolExecutor(max_workers=a.jobs) as ex:
        # the seeds first: their classes are what is known
        todo = [(p, s) for p in seeds for s in servers]
        for (p, s), rec in zip(todo, ex.map(lambda t: run.one(a, ports, t[0], t[1].name), todo)):
            note(rec, s, p, "seed")
        print("live fuzz: %d seeds on %s: %d feedback keys (%s) known; mutating for %.0f s (at most %d replays)" % (
            len(seeds), ",".join(names), sum(len(s.sigs) for s in servers), a.feedback, a.time, a.count), flush=True)
        total = sum(s.execs for s in servers)
        rounds, last_progress, seen = 0, time.time(), set()
        deadline = time.time() + a.time
        def reached():
            return a.until and any(a.until in k[1] for k in found)

        while time.time() < deadline and total < a.count and not reached():
            srv = servers[rounds % len(servers)]
            rounds += 1
            if not srv.queue:
                if all(not s.queue for s in servers):
                    print("live fuzz: no seed session has a listener on these servers", file=sys.stderr)
                    break
                continue
            # the least often taken entry (ties: at random): every class sequence gets its turn
            low = min(e[1] for e in srv.queue)
            entry = rng.choice([e for e in srv.queue if e[1] == low])
            entry[1] += 1
            partners = [e[0] for e in rng.sample(srv.queue, min(3, len(srv.queue)))]
            cmd = [a.mutate, "--seed", str(a.seed * 1000003 + rounds), "--count", str(a.batch),
                   "--out", os.path.join(fdir, "tmp"), "--max", str(MAX_SESSION)]
            for d in dicts:
                cmd += ["--dict", d]
            m = subprocess.run(cmd + [entry[0]] + partners, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if m.returncode != 0:
                sys.exit("live fuzz: session-mutate failed (exit %d): %s" % (m.returncode, m.stderr.strip()))
            mutants = []
            for line in m.stdout.splitlines():
                path = line.split("\t")[0]
                with open(path, "rb") as f:
                    h = hashlib.sha1(f.read()).hexdigest()
                if h in seen or total + len(mutants) >= a.count:
                    os.unlink(path)  # the same session again: no news from a black box
                    continue
                seen.add(h)
                dst = os.path.join(os.path.dirname(path), run.reader_name(h[:16], entry[0]))
                os.replace(path, dst)
                mutants.append(dst)
            for p, rec in zip(mutants, ex.map(lambda p: run.one(a, ports, p, srv.name), mutants)):
                note(rec, srv, p, "fuzz")
                os.unlink(p)
            total = sum(s.execs for s in servers)
            if time.time() - last_progress >= 10:
                last_progress = time.time()
                print("live fuzz: %3.0f s, %d replays (%.1f/s), queue %s, %d finding(s)" % (
                    time.time() - t_start, total, total / max(1e-9, time.time() - t_start),
                    " ".join("%s:%d" % (s.name, len(s.queue)) for s in servers), len(found)), flush=True)
    fuzz_seconds = time.time() - t_start
    print("live fuzz: done: %d replays in %.0f s, %d finding(s); minimizing each" % (total, fuzz_seconds, len(found)),
          flush=True)
    t_min = time.time()
    minimize.minimize_all(a, ports, list(found.values()), os.path.join(a.dir, "minimal"), a.min_budget,
                          a.min_seconds, log=lambda s: print(s, flush=True), mx_serve=a.mx_serve, jobs=a.jobs)
    summary = {
        "seconds": round(fuzz_seconds, 1), "minimize_seconds": round(time.time() - t_min, 1),
        "replays": total, "seeds": len(seeds), "seed": a.seed, "load": os.getloadavg(), "feedback": a.feedback,
        "servers": {s.name: {"replays": s.execs, "queue": len(s.queue), "kept": s.kept, "feedback_keys": len(s.sigs),
                             "not_applicable": s.na,
                             "findings": sum(1 for k in found if k[0] == s.name)} for s in servers},
    }
    run.write_results(os.path.join(a.dir, "results.jsonl"), results)
    with open(os.path.join(a.dir, "fuzz.json.tmp"), "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(os.path.join(a.dir, "fuzz.json.tmp"), os.path.join(a.dir, "fuzz.json"))
    shutil.rmtree(os.path.join(fdir, "tmp"), ignore_errors=True)
    print("live fuzz: %d replays, %d finding(s) -> %s" % (total, len(found), os.path.relpath(a.dir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
