#!/usr/bin/env python3
"""run.py - live mode's replay: every session to every running server, judged by the RFC model.

    live/run.py --dir DIR --judge BIN [--servers a,b] [--jobs N] [--quiet S] SESSION-OR-DIR...

DIR is live/servers.sh's directory (DIR/ports: "server listener port"). For each session file and
server it picks the listener the session's header describes (below), asks the judge what replies
to wait for (`live-judge --expect`), replays the session with tools/session-send.py --transcript
(its exact writes, a real TLS handshake), and has live-judge give the verdicts. Results: one JSON
object a line in DIR/results.jsonl (session, server, listener, verdicts, reply classes,
transcript), read by live/report.py. Exit status 0 (findings are results, not errors), 2 when a
server cannot be reached at all.

Listener of a session (header: proto, mode, cert, tls-required, tls-unavailable, literal mode):
  starttls+cert+tls-unavailable -> smtp-tlsdown/imap-tlsdown/pop3-tlsdown (mx-serve only: a
  certificate bound, TLS not available; the judge expects STARTTLS refused);
  imap LITERAL- (version 3 flags bit 2) starttls+cert -> imap-lminus, implicit+cert ->
  imaps-lminus (mx-serve only: the literal-minus option; the judge applies RFC 7888 4's 4096
  octets); LITERAL- with TLS unavailable has no listener (n.a.);
  smtp implicit+cert -> smtps; tls-required+cert -> submission; starttls+cert -> smtp;
  plaintext, or starttls without a certificate -> smtp-nocert;
  imap/pop3 implicit+cert -> imaps/pop3s; starttls+cert -> imap/pop3;
  an IMAP reader's session (below) -> imaps, or imaps-lminus when its header says LITERAL-;
  anything else (an implicit listener without a certificate is a configuration error, KB
  Q251097; the servers have no IMAP/POP3 listener without a certificate) -> n.a.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mxsession  # noqa: E402  (the one Python parser of the session format)
import importlib.util  # noqa: E402

# tools/session-send.py, the live client, loaded as a module: one Python process for every
# replay instead of one per replay (a start costs ~0.3 s on a loaded machine)
_spec = importlib.util.spec_from_file_location("session_send", os.path.join(ROOT, "tools", "session-send.py"))
session_send = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(session_send)

# the listeners' own limits (longest command line, largest message): mx-serve's serve.h and
# --max-message default; postfix's line_length_limit and message_size_limit; dovecot's
# imap_max_line_length. The judge's model uses them in place of the session header's.
LIMITS = {"mx-serve": (1024, 33554432), "postfix": (2048, 10240000), "dovecot": (65536, 33554432)}


# The suffix of the listeners that advertise LITERAL- (live/servers.sh LIVE_LMINUS, mx-serve only).
# The literal mode is an IMAP listener's (RFC 7888 4; mx-serve refuses literal-minus elsewhere), so
# the header's bit decides only IMAP sessions: the SMTP and POP3 models never read it.
LMINUS = "-lminus"


def listener(s):
    cert = bool(s.flags & mxsession.FLAG_CERT)
    req = bool(s.flags & mxsession.FLAG_TLS_REQUIRED)
    if s.proto == "imap" and s.literal_minus:
        # a LITERAL+ listener would take a {N+} over 4096 octets as data and the judge's model,
        # in the header's mode, expects it refused: only a literal-minus listener can be judged.
        # None has TLS unavailable too (n.a.)
        if s.tls_unavailable or req or not cert:
            return None
        if s.mode == "implicit":
            return "imaps" + LMINUS
        return "imap" + LMINUS if s.mode == "starttls" else None
    if s.tls_unavailable:
        # a listener whose certificate cannot be used (the only way the judge's expectations,
        # STARTTLS refused, hold); the header's other facts as below
        return s.proto + "-tlsdown" if s.mode == "starttls" and cert and not req else None
    if s.proto == "smtp":
        if s.mode == "implicit":
            return "smtps" if cert and not req else None
        if req:
            return "submission" if cert and s.mode == "starttls" else None
        if s.mode == "starttls" and cert:
            return "smtp"
        return "smtp-nocert"
    if s.mode == "implicit" and cert and not req:
        return s.proto + "s"
    if s.mode == "starttls" and cert and not req:
        return s.proto
    return None


# The IMAP reader's sessions (the imap, imap_tls and imap_dovecot targets: a client stream of
# commands with literals, APPEND; their header's proto and mode are ignored by those targets) are
# meaningful only after a login: they are replayed on the IMAPS listener behind login_prefix() (the
# test user of live/servers.sh, DIR/test-user) and judged with the IMAP model (live-judge --imap-auth). A session
# is one when its directory is such a target's (corpus/imap, repro/imap_dovecot, ...) or its name
# carries IMAP_READER (the minimizer's and the fuzzer's copies of one).
IMAP_READER_DIRS = ("imap", "imap_tls", "imap_dovecot")
IMAP_READER = "imap-reader-"


def imap_reader(path):
    return os.path.basename(os.path.dirname(os.path.abspath(path))) in IMAP_READER_DIRS or \
        IMAP_READER in os.path.basename(path)


def reader_name(name, path):
    """name, marked as an IMAP reader's session when path (the session it is a copy or a cut of)
    is one: the copies of the fuzzer and the minimizer keep their judge."""
    return IMAP_READER + name if imap_reader(path) else name


def login_prefix(d):
    """The login of the IMAP reader's sessions: "L0 LOGIN user password" of DIR/test-user (the
    tag is the one live-judge --imap-auth expects)."""
    with open(os.path.join(d, "test-user")) as f:
        user, password = f.read().split()
    return b"L0 LOGIN %s %s\r\n" % (user.encode(), password.encode())


def kind_of(server):
    for k in LIMITS:
        if server == k or server.startswith(k + "-"):
            return k
    return server


def transcript_text(path):
    out = []
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return out
    for line in lines:
        k, _, v = line.partition(" ")
        if k in ("C", "S"):
            out.append([k, "" if v == "-" else bytes.fromhex(v).decode("latin-1")])
        else:
            out.append([k, v])
    return out


def na_reason(s, lst, server):
    """Why session s is not replayed on server: its listener lst is not there (None: no server
    has a listener of its kind)."""
    if lst is None:
        facts = [s.proto, s.mode] + [w for w, on in (
            ("cert", s.flags & mxsession.FLAG_CERT), ("tls-required", s.flags & mxsession.FLAG_TLS_REQUIRED),
            ("tls-unavailable", s.tls_unavailable), ("literal-minus", s.proto == "imap" and s.literal_minus)) if on]
        return "no listener of this kind (%s)" % " ".join(facts)
    if lst.endswith(LMINUS):
        # judged on a LITERAL+ listener, a {N+} over 4096 octets taken as data would be a
        # finding of a rule the listener does not follow
        return "no %s listener on %s (the session's listener advertises LITERAL-, RFC 7888 4: only " \
            "mx-serve's literal-minus listeners do here)" % (lst, server)
    return "no %s listener on %s" % (lst, server)


def one(a, ports, path, server):
    rel = os.path.relpath(path, ROOT)
    with open(path, "rb") as f:
        s = mxsession.parse(f.read())
    reader = imap_reader(path)
    # a reader's session in LITERAL- (its header, as for the imap target) needs a listener that
    # advertises it: the judge's model runs in the header's mode (RFC 7888 4)
    lst = ("imaps" + (LMINUS if s.literal_minus else "")) if reader else listener(s)
    rec = {"session": rel, "server": server, "listener": lst, "proto": "imap" if reader else s.proto}
    if reader:
        rec["imap_auth"] = True
    port = ports.get((server, lst)) if lst else None
    if port is None:
        rec["na"] = na_reason(s, lst, server)
        return rec
    ml, mm = LIMITS.get(kind_of(server), (0, 0))
    lim = ["--max-line", str(ml), "--max-message", str(mm)] if ml else []
    if reader:
        # mx-serve's limits are known exactly (serve.h, --max-message); the others' are guesses
        lim = ["--imap-auth"] + (["--limits-exact"] if kind_of(server) == "mx-serve" else []) + lim
    with tempfile.TemporaryDirectory() as t:
        ex, tr = os.path.join(t, "expect"), os.path.join(t, "transcript")
        with open(ex, "w") as f:
            subprocess.run([a.judge] + lim + ["--expect", path], stdout=f, check=True)
        opts = argparse.Namespace(host="127.0.0.1", port=port, transcript=tr, quiet=a.quiet,
                                  patience=a.patience, timeout=a.timeout,
                                  expect=open(ex).read().split("\n"))
        # a reader's session: implicit TLS (mx-serve, as libmx, disables LOGIN in plaintext while
        # TLS is offered), the login, then the session's client writes
        proto, mode, events = ("imap", "implicit", [("T", b""), ("C", login_prefix(a.dir))] +
                               [e for e in s.events if e[0] == "C"]) if reader else (s.proto, s.mode, s.events)
        try:
            rc = session_send.live(opts, proto, mode, events)
        except (OSError, ValueError) as e:
            rc, rec["error"] = 2, "session-send: %s" % e
        if rc != 0 or not os.path.exists(tr):
            rec.setdefault("error", "session-send: exit %d (cannot connect?)" % rc)
            return rec
        j = subprocess.run([a.judge] + lim + [path, tr], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, errors="replace")
        if j.returncode != 0:
            rec["error"] = "live-judge exit %d: %s" % (j.returncode, j.stderr.strip()[-300:])
            return rec
        rec["transcript"] = transcript_text(tr)
    rec["verdicts"] = []
    for line in j.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "classes":
            rec["classes"] = f[1] if len(f) > 1 else ""
        elif len(f) >= 5:
            rec["verdicts"].append({"verdict": f[0], "rule": f[1], "want": f[2], "got": f[3],
                                    "detail": "\t".join(f[4:])})
    return rec


def session_path(rec):
    return os.path.join(ROOT, rec["session"])


def session_size(rec):
    try:
        return os.path.getsize(session_path(rec))
    except OSError:
        return 1 << 30


def read_ports(d):
    """DIR/ports of live/servers.sh: (server, listener) -> port."""
    ports = {}
    with open(os.path.join(d, "ports")) as f:
        for line in f:
            srv, lst, p = line.split()
            ports[(srv, lst)] = int(p)
    return ports


def write_results(path, results):
    """One JSON object a line, written aside and renamed (never half a file)."""
    with open(path + ".tmp", "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    os.replace(path + ".tmp", path)


def sessions(args):
    out = []
    for p in args:
        if os.path.isdir(p):
            out += [os.path.join(p, n) for n in sorted(os.listdir(p))
                    if not n.startswith(".") and not n.endswith((".txt", ".md")) and os.path.isfile(os.path.join(p, n))]
        elif os.path.isfile(p):
            out.append(p)
        else:
            sys.exit("live/run.py: no such session file or directory: %s" % p)
    return [os.path.abspath(p) for p in out]


def replay_options(ap, patience=2.0):
    """The options of a replay (live/run.py, live/fuzz.py, live/minimize.py): where the servers
    and the judge are, and the live client's waits (tools/session-send.py --quiet --patience
    --timeout: what bounds each connection)."""
    ap.add_argument("--dir", required=True, help="live/servers.sh's directory (DIR/ports)")
    ap.add_argument("--judge", required=True, help="live-judge of the build")
    ap.add_argument("--quiet", type=float, default=0.1, help="a reply is complete after this many quiet seconds")
    ap.add_argument("--patience", type=float, default=patience, help="seconds to wait for a reply the model expects")
    ap.add_argument("--timeout", type=float, default=4.0, help="the connection's socket timeout")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    replay_options(ap)
    ap.add_argument("--servers", help="comma-separated (default: every server in DIR/ports)")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--out", help="default DIR/results.jsonl")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    ports = read_ports(a.dir)
    servers = a.servers.split(",") if a.servers else sorted({k[0] for k in ports})
    todo = [(p, s) for p in sessions(a.paths) for s in servers]
    results, done = [], [0]

    def step(t):
        r = one(a, ports, t[0], t[1])
        done[0] += 1
        if done[0] % 200 == 0:
            print("live: %d/%d replays" % (done[0], len(todo)), flush=True)
        return r

    with ThreadPoolExecutor(max_workers=a.jobs) as ex:
        results = list(ex.map(step, todo))
    out = a.out or os.path.join(a.dir, "results.jsonl")
    write_results(out, results)
    errors = [r for r in results if "error" in r]
    for r in errors[:10]:
        print("live: %s on %s: %s" % (r["session"], r["server"], r["error"]), file=sys.stderr)
    print("live: %d replays (%d sessions x %d servers), %d errors -> %s" % (
        len(results), len(todo) // max(1, len(servers)), len(servers), len(errors), os.path.relpath(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
