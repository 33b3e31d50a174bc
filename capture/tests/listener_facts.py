#!/usr/bin/env python3
"""Listener facts, odd sessions, exit status and reasons of pcap-import, on crafted captures.

Usage: listener_facts.py IMPORTER CAPTURES_DIR WORKDIR [REPLAY_STARTTLS]

1. Mode and header flags come from what the server did (capture/pcap_import.h, "Header"): the
   greeting, STARTTLS/STLS listed or not, the reply to STARTTLS, whether the server answered a
   ClientHello with TLS. A server that does not offer STARTTLS and answers it 502 gives a
   plaintext seed without a certificate, whatever words its reply text holds; 454 a
   STARTTLS listener whose certificate is bound but unusable (version 3, flags bit 3; and a note
   where the server had listed STARTTLS, which libmx does not); TLS required = SMTP 530, IMAP LOGINDISABLED / NO [PRIVACYREQUIRED], POP3 -ERR
   to USER, before TLS; LITERAL- in an IMAP CAPABILITY = a version 3 seed with the LITERAL-
   bit.
2. A ClientHello sent to a plaintext port after the greeting (seed Q218430), or after a refused
   STARTTLS, is kept as client writes on the plaintext side, with the server's replies after it
   (formerly: taken for implicit TLS and nothing imported / cut with the 500 replies).
3. Every seed made here, and every shipped capture imported with its key log, replays
   through the starttls target's replay binary without a model divergence (when
   REPLAY_STARTTLS is given).
4. Exit status and reasons: an --out whose subfolder is a plain file, a directory as input,
   a full disk (a 64 KiB tmpfs, when we may mount one) give exit 1 and a message naming the
   file, and leave no partial file; a gap before the ServerHello is named as such (not "no
   ServerHello", not "key log matched no TLS session"); "cut early" counts TLS cuts too.
"""
import hashlib
import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tools"))
sys.path.insert(0, here)
import mxsession  # noqa: E402
from pcapng_craft import conv, write_pcapng  # noqa: E402

IMPORTER, CAPS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
REPLAY = sys.argv[4] if len(sys.argv) > 4 else None
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)
    return cond


def run(args, expect=None, label=""):
    p = subprocess.run([IMPORTER] + args, capture_output=True, text=True)
    if expect is not None:
        check(p.returncode == expect, "%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s" %
              (label or " ".join(args), p.returncode, expect, p.stdout, p.stderr))
    return p


def seeds(out, target="starttls"):
    d = os.path.join(out, target)
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, n) for n in sorted(os.listdir(d))]


from odd_sessions import CH, SH, EHLO_NO_TLS, EHLO_TLS, CONVERSATIONS  # noqa: E402


def odd(name, *expect):
    """A shared conversation (odd_sessions.py) with this test's expectations."""
    return CONVERSATIONS[name] + expect


# name: (port, writes, want mode, want flags, events that must be there (type, bytes))
cases = {
    # seed Q218430: an SSL client on the STARTTLS port; the server greeted in plaintext
    "smtp-hello-on-plain-port": odd("smtp-hello-on-plain-port", "plaintext", 0,
                                    [("S", b"220 mx.test ESMTP\r\n"), ("C", CH),
                                     ("S", b"500 5.5.2 Error: bad syntax\r\n")]),
    "imap-hello-on-plain-port": odd("imap-hello-on-plain-port", "starttls", 1,
                                    [("C", CH), ("S", b"* BAD Error in IMAP command\r\n")]),
    # refused STARTTLS (the reply text mentions STARTTLS: not an offer), TLS forced anyway
    "smtp-refused-then-hello": odd("smtp-refused-then-hello", "plaintext", 0,
                                   [("C", CH), ("S", b"500 5.5.2 Error: bad syntax\r\n"),
                                    ("C", b"QUIT\r\n"), ("S", b"221 2.0.0 Bye\r\n")]),
    # not offered, not asked
    "smtp-plain": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", EHLO_NO_TLS),
                        ("c", b"QUIT\r\n"), ("s", b"221 Bye\r\n")], "plaintext", 0, []),
    # offered, not asked
    "smtp-offered": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", EHLO_TLS),
                          ("c", b"QUIT\r\n"), ("s", b"221 Bye\r\n")], "starttls", 1, []),
    # offered, then 454 (postfix whose TLS set-up failed, RFC 3207 4): a STARTTLS listener with a
    # certificate it cannot use: version 3, flags cert | TLS unavailable (bit 3)
    "smtp-454": odd("smtp-454", "starttls", 9, []),
    # not listed, and 454 all the same: the same fact (the reply, not the listing, says it)
    "smtp-454-unlisted": odd("smtp-454-unlisted", "starttls", 9, []),
    # TLS required: 530 before TLS
    "smtp-530": (587, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", EHLO_TLS),
                       ("c", b"MAIL FROM:<a@b>\r\n"), ("s", b"530 5.7.0 Must issue a STARTTLS command first\r\n"),
                       ("c", b"QUIT\r\n"), ("s", b"221 Bye\r\n")], "starttls", 3, []),
    # IMAP: not listed, a1 STARTTLS -> BAD
    "imap-refused": (143, [("s", b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"), ("c", b"a1 STARTTLS\r\n"),
                           ("s", b"a1 BAD STARTTLS not available\r\n"), ("c", b"a2 LOGOUT\r\n"),
                           ("s", b"* BYE\r\na2 OK bye\r\n")], "plaintext", 0, []),
    # POP3: CAPA without STLS, STLS -> -ERR, then the client forces TLS anyway
    "pop3-refused-then-hello": odd("pop3-refused-then-hello", "plaintext", 0,
                                   [("C", CH), ("S", b"-ERR unknown command\r\n")]),
    # TLS required without STARTTLS (RFC 3501 6.2.3): LOGINDISABLED, NO [PRIVACYREQUIRED]: a
    # STARTTLS-capable listener without a certificate that requires TLS (flags 2)
    "imap-logindisabled": (143, [("s", b"* OK ready\r\n"), ("c", b"a1 CAPABILITY\r\n"),
                                 ("s", b"* CAPABILITY IMAP4rev1 LITERAL+ LOGINDISABLED\r\na1 OK done\r\n"),
                                 ("c", b"a2 LOGIN alice secret\r\n"),
                                 ("s", b"a2 NO [PRIVACYREQUIRED] not without TLS\r\n")],
                           "starttls", 2, []),
    # LITERAL- in the greeting's capabilities (RFC 7888 4): version 3, flags cert | TLS
    # required (LOGINDISABLED) | LITERAL-
    "imap-literal-minus": (143, [("s", b"* OK [CAPABILITY IMAP4rev1 LITERAL- STARTTLS LOGINDISABLED] ready\r\n"),
                                 ("c", b"a1 LOGOUT\r\n"), ("s", b"* BYE\r\na1 OK bye\r\n")],
                           "starttls", 7, []),
    # POP3 refusing USER in clear text (RFC 2595 2.3), no STLS seen: TLS required (flags 2)
    "pop3-user-refused": (110, [("s", b"+OK ready\r\n"), ("c", b"USER alice\r\n"),
                                ("s", b"-ERR [AUTH] Plaintext authentication disallowed\r\n"),
                                ("c", b"QUIT\r\n"), ("s", b"+OK bye\r\n")], "starttls", 2, []),
    # POP3 listing STLS, and accepting it; the server's TLS follows (no key log: cut there)
    "pop3-accepted": (110, [("s", b"+OK ready\r\n"), ("c", b"CAPA\r\n"), ("s", b"+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
                            ("c", b"STLS\r\n"), ("s", b"+OK Begin TLS\r\n"), ("c", CH), ("s", SH)],
                      "starttls", 1, [("S", b"+OK Begin TLS\r\n")]),
}

MODES = {"plaintext": "plaintext", "starttls": "starttls", "implicit": "implicit"}
for k, (name, (port, writes, mode, flags, want)) in enumerate(cases.items()):
    path = os.path.join(WORK, name + ".pcapng")
    write_pcapng(path, [conv(port, writes, client_port=41000 + k)])
    out = os.path.join(WORK, name + ".out")
    p = run(["--out", out, path], expect=0, label=name)
    files = seeds(out)
    if not check(len(files) == 1, "%s: want one seed, got %s\n%s%s" % (name, files, p.stdout, p.stderr)):
        continue
    data = open(files[0], "rb").read()
    s = mxsession.parse(data)
    check(s.mode == MODES[mode], "%s: mode %s, want %s\n%s" % (name, s.mode, mode, p.stdout))
    check(s.flags == flags, "%s: flags %d, want %d\n%s" % (name, s.flags, flags, p.stdout))
    # LITERAL- and TLS unavailable only in version 3 (corpus/FORMAT.md); every other seed stays
    # version 1
    check(s.version == (3 if flags & 12 else 1) and s.literal_minus == bool(flags & 4) and
          s.tls_unavailable == bool(flags & 8),
          "%s: version %d, literal minus %s, TLS unavailable %s\n%s" % (name, s.version, s.literal_minus,
                                                                        s.tls_unavailable, p.stdout))
    # the listing libmx will not repeat is named under the session; no note where it was not listed
    listed_note = "replay: the server listed STARTTLS and answered it 454" in p.stdout
    check(listed_note == (name == "smtp-454"), "%s: replay note %s\n%s" % (name, listed_note, p.stdout))
    evs = [(t, bytes(x)) for t, x in s.events]
    if name != "pop3-accepted":
        # nothing cut: every byte of both directions is in the seed, in order
        check(b"".join(x for t, x in evs if t == "C") == b"".join(b for d, b in writes if d == "c"),
              "%s: client bytes lost\n%s" % (name, p.stdout))
        check(b"".join(x for t, x in evs if t == "S") == b"".join(b for d, b in writes if d == "s"),
              "%s: server bytes lost\n%s" % (name, p.stdout))
        check(not any(t == "T" for t, _ in evs), "%s: a T event" % name)
    for w in want:
        check(w in evs, "%s: event %r missing: %r" % (name, w, evs))
    if CH in [b for d, b in writes if d == "c"] and name != "pop3-accepted":
        check("kept as client writes on the plaintext side" in p.stdout, "%s: not explained:\n%s" % (name, p.stdout))
    if REPLAY:
        r = subprocess.run([REPLAY, files[0]], capture_output=True, text=True)
        check(r.returncode == 0, "%s: the starttls target diverges on the imported seed:\n%s%s" %
              (name, r.stdout, r.stderr[-3000:]))

# ---------------------------------------------------------------- exit status and reasons
base = os.path.join(WORK, "smtp-plain.pcapng")
# --out whose subfolder is a plain file
out = os.path.join(WORK, "out-file")
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "starttls"), "w").write("in the way\n")
p = run(["--out", out, base], expect=1, label="--out/starttls is a file")
check("%s/starttls" % out in p.stderr and "not a directory" in p.stderr,
      "--out/starttls is a file: message %r" % p.stderr)
# a directory as input
p = run(["--out", os.path.join(WORK, "out-dir"), WORK], expect=1, label="directory as input")
check(WORK in p.stderr and "Is a directory" in p.stderr and "Input/output" not in p.stderr,
      "directory as input: message %r" % p.stderr)
# one capture unreadable among good ones: not everything imported, exit 1
p = run(["--out", os.path.join(WORK, "out-mixed"), base, os.path.join(WORK, "no-such.pcapng")], expect=1,
        label="one missing capture")
check("no-such.pcapng" in p.stderr, "missing capture not named: %r" % p.stderr)

# a full disk: many sessions onto a 64 KiB tmpfs
many = os.path.join(WORK, "many.pcapng")
big = [conv(143, [("s", b"* OK ready\r\n"), ("c", b"a1 NOOP %04d " % i + b"x" * 3000 + b"\r\n"),
                  ("s", b"a1 OK\r\n")], client_port=42000 + i) for i in range(40)]
write_pcapng(many, big)
mnt = os.path.join(WORK, "tmpfs")
os.makedirs(mnt, exist_ok=True)
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt],
                         capture_output=True).returncode == 0
if not mounted:
    print("SKIP: full-disk case (cannot mount a tmpfs here)")
else:
    try:
        p = run(["--out", mnt, many], expect=1, label="full tmpfs")
        check("No space left on device" in p.stderr and "cannot write %s/" % mnt in p.stderr,
              "full disk: message %r" % p.stderr[:600])
        check("could not be written" in p.stderr, "full disk: no count of failed files: %r" % p.stderr[-300:])
        for d in ("imap", "starttls"):
            for n in os.listdir(os.path.join(mnt, d)):
                check(not n.startswith(".tmp"), "full disk: temporary file %s left" % n)
                data = open(os.path.join(mnt, d, n), "rb").read()
                check(hashlib.sha256(data).hexdigest()[:16] == n, "full disk: %s/%s is partial" % (d, n))
    finally:
        subprocess.run(["umount", mnt])

# the reasons: a gap in the server stream before the ServerHello (b01 without that segment)
sys.path.insert(0, here)
truth = [json.loads(l) for l in open(os.path.join(CAPS, "truth.jsonl"))]
b01 = [t for t in truth if t["id"] == "b01"][0]
import struct  # noqa: E402


def read_pcapng_frames(path):
    d = open(path, "rb").read()
    i, frames, head = 0, [], b""
    while i + 12 <= len(d):
        btype, blen = struct.unpack_from("<II", d, i)
        if btype == 6:
            frames.append(d[i:i + blen])
        elif not frames:
            head += d[i:i + blen]
        i += blen
    return head, frames


head, frames = read_pcapng_frames(os.path.join(CAPS, b01["file"]))
keep, dropped = [], False
for blk in frames:
    caplen = struct.unpack_from("<I", blk, 20)[0]
    fr = blk[28:28 + caplen]
    ip = fr[14:]
    ihl = (ip[0] & 15) * 4
    tcp = ip[ihl:]
    pl = tcp[(tcp[12] >> 4) * 4:struct.unpack("!H", ip[2:4])[0] - ihl]
    sport = struct.unpack("!H", tcp[:2])[0]
    if not dropped and sport != b01["client_port"] and pl[:1] == b"\x16":
        dropped = True
        continue
    keep.append(blk)
check(dropped, "b01: no ServerHello frame found")
gap = os.path.join(WORK, "b01-gap-sh.pcapng")
open(gap, "wb").write(head + b"".join(keep))
p = run(["--keylog", os.path.join(CAPS, b01["keylog"]), "--out", os.path.join(WORK, "out-gap"), gap], expect=0,
        label="gap before the ServerHello")
check("comes before the ServerHello" in p.stdout, "gap before the ServerHello: not named:\n%s" % p.stdout)
check("no ServerHello in the capture" not in p.stdout, "gap before the ServerHello: 'no ServerHello':\n%s" % p.stdout)
check("matched no TLS session" not in p.stderr, "gap before the ServerHello: blames the key log: %r" % p.stderr)
# cut early counts the TLS cut (no key log) as well as gaps
p = run(["--out", os.path.join(WORK, "out-nokeys"), os.path.join(CAPS, b01["file"])], expect=0, label="b01 no keys")
check("cut early: 1;" in p.stdout, "b01 without keys: the TLS cut is not counted:\n%s" % p.stdout)

# long sessions (capture/seed_split.h): a session over a target's max_len (targets/manifest:
# imap 4096, starttls 16384) is written as seeds that fit it.
# Many short commands: cut into windows of whole events, the first as the capture started.
longw = [("s", b"* OK ready\r\n")]
for i in range(40):
    longw += [("c", b"a%d NOOP " % i + b"y" * 500 + b"\r\n"), ("s", b"a%d OK\r\n" % i)]
longp = os.path.join(WORK, "long.pcapng")
write_pcapng(longp, [conv(143, longw, client_port=44000)])
p = run(["--out", os.path.join(WORK, "out-long"), longp], expect=0, label="long session")
for tdir, ml in (("imap", 4096), ("starttls", 16384)):
    fs = seeds(os.path.join(WORK, "out-long"), tdir)
    sizes = [os.path.getsize(f) for f in fs]
    check(len(fs) >= 2 and max(sizes) <= ml,
          "long session: %s seeds %r, want several of at most %d bytes" % (tdir, sizes, ml))
    data = [open(f, "rb").read() for f in fs]
    check(any(b"* OK ready" in d and b"a0 NOOP" in d for d in data),
          "long session: no %s seed starts as the capture did" % tdir)
    got = b"".join(data)
    check(all((b"a%d NOOP " % i) in got for i in range(40)), "long session: %s seeds lost a command" % tdir)
check("over max_len, split: imap 1 (max_len 4096), starttls 1 (max_len 16384)" in p.stdout,
      "long session: not in the summary:\n%s" % p.stdout)
# One long literal: one seed; the literal keeps its start, its last octets and the CRLF after
# them in the write they came in, and its marker counts the octets that are left.
octets = bytes(33 + (i * 7) % 90 for i in range(20000))
litw = [("s", b"* OK ready\r\n"), ("c", b"a1 APPEND INBOX {20000}\r\n"), ("s", b"+ OK\r\n")]
litw += [("c", octets[k:k + 4000]) for k in range(0, 16000, 4000)]
litw += [("c", octets[16000:] + b"\r\n"), ("s", b"a1 OK\r\n"), ("c", b"a2 LOGOUT\r\n")]
litp = os.path.join(WORK, "literal.pcapng")
write_pcapng(litp, [conv(143, litw, client_port=44001)])
p = run(["--out", os.path.join(WORK, "out-lit"), litp], expect=0, label="long literal")
fs = seeds(os.path.join(WORK, "out-lit"), "imap")
if check(len(fs) == 1 and os.path.getsize(fs[0]) <= 4096,
         "long literal: imap seeds %r, want one of at most 4096 bytes" % [os.path.getsize(f) for f in fs]):
    d = open(fs[0], "rb").read()
    m = re.search(rb"a1 APPEND INBOX \{(\d+)\}\r\n", d)
    if check(m is not None, "long literal: the marker is gone"):
        k = int(m.group(1))
        tail = octets[-64:] + b"\r\n"
        check(64 < k < 4096 and octets[:64] in d and tail in d,
              "long literal: count %d, start kept %s, end kept %s" % (k, octets[:64] in d, tail in d))
        # the literal's last write is the captured one's end: its event ends with the CRLF
        end = d.index(tail) + len(tail)
        check(d[end:end + 1] in (b"S", b"C") and d.count(b"a2 LOGOUT\r\n") == 1,
              "long literal: the write holding the literal's end was cut elsewhere")
check("long literals/messages shortened in the middle" in p.stdout, "long literal: not reported:\n%s" % p.stdout)
p = run(["--out", os.path.join(WORK, "out-short"), base], expect=0, label="short session")
check("max_len" not in p.stdout, "short session: a max_len warning:\n%s" % p.stdout)

# every shipped capture, imported with its key log, replays through the starttls target
if REPLAY:
    for t in truth:
        args = ["--out", os.path.join(WORK, "ship-" + t["id"]), os.path.join(CAPS, t["file"])]
        if t["keylog"]:
            args = ["--keylog", os.path.join(CAPS, t["keylog"])] + args
        run(args, expect=0, label="shipped " + t["id"])
        for f in seeds(os.path.join(WORK, "ship-" + t["id"])):
            r = subprocess.run([REPLAY, f], capture_output=True, text=True)
            check(r.returncode == 0, "shipped %s: the starttls target diverges:\n%s" % (t["id"], r.stderr[-3000:]))

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("listener facts, odd sessions, exit status: all checks passed")
