#!/usr/bin/env python3
"""The shipped captures (corpus/captures/) against their seeds and mx-serve: the helper of
shipped_captures_replay.sh (few processes: the suite runs on loaded machines).

  prepare CAPS ID OUT CORPUS WORK
      1. every seed pcap-import wrote under OUT (OUT/<target>/<id>) is shipped, byte for byte, in
         CORPUS/<target>/ (and in any other CORPUS/*/ holding that name): the shipped seeds are
         what the importer makes of the captures today;
      2. the listener facts of capture ID read from tshark's ground truth (truth/ID.tcp.*,
         truth/ID.tls.s2c: not through the importer) and the header they give; every seed's
         header must say the same (each misread fact named);
      3. per distinct seed, WORK/<tag>.args: the mx-serve options for the facts the capture holds
         besides its header -- each login the captured server accepted (IMAP LOGIN /
         AUTHENTICATE PLAIN, POP3 USER+PASS, SMTP AUTH PLAIN) as -u USER:PASS, each recipient it
         accepted (RCPT answered 2xx) as a -u user and its domain as --domain, one a line; and
         "<tag> <seed>" lines on stdout after "seeds:". Exit 1 when 1 or 2 failed.
  plant CAPS WORK ID:KIND:SEED...
      planted misreadings: each SEED with one header fact turned (mode-plaintext,
      mode-starttls, cert-no, tls-required, literal-minus) as WORK/planted-ID-KIND, with its
      .args; "caught" or "MISSED" by the facts check of step 2, one line each.
  deliver PORT SEED
      POP3: the maildrop the captured server had, delivered by SMTP to mx-serve on
      127.0.0.1:PORT for the session's user: the messages its LIST reply counted, each with the
      bytes RETR showed (un-dot-stuffed) or, when not retrieved, that many octets of filler.
  explain SEED:UNITS.json...
      session-send --units pairs of each replayed seed: a status that differs is a mismatch;
      every other difference is named (below) or a mismatch. Per seed a "verdict <seed> ok" or
      "verdict <seed> MISMATCH" line.
  explain-target SEED:UNITS.json...
      the same for the starttls target's replies (capture/tests/target_replies.py: the seed
      through tools/starttls-replies), with two more names for what lies outside the target's
      machines (mx/machine.h), which mx-serve's replay covers instead:
        past-login         IMAP after a login both accepted: the machine does IMAP before
                           authentication only (its caller runs the command reader after it,
                           mx-serve does), so every unit after it is out of the target's scope
        maildrop-commands  POP3 LIST/RETR/UIDL/TOP: the TRANSACTION commands on a maildrop are
                           the caller's (the machine answers CAPA, STAT, NOOP, RSET, QUIT)

What mx-serve legitimately does not share with postfix and dovecot, named per difference by
`explain` (anything else fails):
  banner        the greeting's text: the server's name and product (same status)
  extensions    EHLO keywords / IMAP capabilities / POP3 CAPA tags the other server has and
                mx-serve has not, or the reverse -- except the facts the header carries, which
                must agree: STARTTLS/STLS listed (RFC 3207 4, RFC 3501 6.2.1, RFC 2595 4) and
                LITERAL+/LITERAL- (RFC 7888)
  logindisabled libmx lists LOGINDISABLED whenever it offers STARTTLS and TLS is off (RFC 3501
                6.2.3 lets a server do so); dovecot counts 127.0.0.1 as secured and allows
                plaintext login, so it does not list it. The header says `tls-required no` for
                both: no captured client logged in before TLS
  untagged      IMAP untagged data one side sends unasked (RFC 3501 7: at any time), e.g.
                dovecot's CAPABILITY after login
  mailbox       POP3 LIST/RETR/STAT/UIDL and IMAP APPENDUID contents: the real server's store
  text          the human-readable text after the same status (RFC 5321 4.2, RFC 1939 3,
                RFC 3501 7.1: for people, not for the protocol)
"""
import base64
import json
import os
import re
import smtplib
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mxsession  # noqa: E402


def lines_of(b):
    return [l for l in b.split(b"\r\n") if l]


def tls_at(b):
    """Where the first TLS record starts in a stream that may begin in plaintext: at a line
    start, content type 22 (handshake) and major version 3 (RFC 8446 5.1); len(b) if none."""
    i = 0
    while i < len(b):
        if b[i] == 0x16 and b[i + 1:i + 2] == b"\x03":
            return i
        j = b.find(b"\n", i)
        if j < 0:
            break
        i = j + 1
    return len(b)


def imap_caps(lines):
    """The capability atoms listed in IMAP lines: `* CAPABILITY a b` (RFC 3501 7.2.1) and the
    `[CAPABILITY a b]` response code (RFC 3501 7.1); None if no line lists any."""
    caps = None
    for l in lines:
        m = re.match(rb"\* CAPABILITY (.*)", l, re.I) or re.search(rb"\[CAPABILITY ([^\]]*)\]", l, re.I)
        if m:
            caps = (caps or set()) | {w.upper() for w in m.group(1).split()}
    return caps


def ehlo_keywords(lines):
    """EHLO keywords (RFC 5321 4.1.1.1: every 250 line after the first names one)."""
    return {l[4:].split(b" ")[0].upper() for l in lines[1:] if l[:3] == b"250"}


def capa_tags(lines):
    """POP3 CAPA tags (RFC 2449 6: one a line between +OK and ".")."""
    return {l.split(b" ")[0].upper() for l in lines[1:] if l != b"."}


def command(proto, line):
    w = line.split(b" ")
    return (w[1] if proto == "imap" and len(w) > 1 else w[0]).upper()


def truth_facts(caps, tid):
    """The listener facts of capture tid from tshark's follow,tcp,raw and follow,tls,raw."""
    t = [json.loads(l) for l in open(os.path.join(caps, "truth.jsonl")) if json.loads(l)["id"] == tid][0]
    rd = lambda k: open(os.path.join(caps, t[k]), "rb").read() if t.get(k) else b""
    s2c, c2s, tls_s2c = rd("tcp_s2c_file"), rd("tcp_c2s_file"), rd("tls_s2c_file")
    proto = t["protocol"]
    f = {"proto": proto}
    # RFC 8314 3: on an implicit-TLS port the server's first bytes are its TLS handshake
    f["implicit"] = s2c[:1] == b"\x16"
    pre_s, pre_c = lines_of(s2c[:tls_at(s2c)]), lines_of(c2s[:tls_at(c2s)])
    f["tls_up"] = tls_at(s2c) < len(s2c)
    asked = any(command(proto, l) in (b"STARTTLS", b"STLS") for l in pre_c)
    if proto == "smtp":
        offered = b"STARTTLS" in ehlo_keywords([b""] + pre_s)  # RFC 3207 4
        required = any(l[:3] == b"530" for l in pre_s)          # RFC 3207 4: 530 before STARTTLS
    elif proto == "imap":
        pc = imap_caps(pre_s) or set()
        offered = b"STARTTLS" in pc                              # RFC 3501 6.2.1
        # RFC 3501 6.2.3 (LOGINDISABLED), RFC 5530 3 (PRIVACYREQUIRED)
        required = b"LOGINDISABLED" in pc or any(b"[PRIVACYREQUIRED]" in l.upper() for l in pre_s)
        allc = pc | (imap_caps(lines_of(tls_s2c)) or set())
        f["literal_minus"] = b"LITERAL-" in allc and b"LITERAL+" not in allc  # RFC 7888 4
    else:
        offered = b"STLS" in capa_tags([b""] + [l for l in pre_s if l[:1] not in (b"+", b"-")])  # RFC 2595 4
        # RFC 2595 2.3 / RFC 1939 7: the server refuses USER in clear text; replies pair with
        # commands in order after the greeting (multi-line bodies skipped)
        status = [l for l in pre_s if l[:3] == b"+OK" or l[:4] == b"-ERR"][1:]
        cmds = [command(proto, l) for l in pre_c]
        required = any(c == b"USER" and i < len(status) and status[i][:4] == b"-ERR" for i, c in enumerate(cmds))
    f.update(offered=offered, asked=asked, required=required)
    f.setdefault("literal_minus", False)
    refused = asked and not f["tls_up"]
    # RFC 3207 4: 454 to STARTTLS, TLS temporarily unavailable: a certificate it cannot use
    f["tls_unavailable"] = proto == "smtp" and asked and not f["tls_up"] and any(l[:3] == b"454" for l in pre_s)
    f["mode"] = "implicit" if f["implicit"] else \
        "starttls" if offered or f["tls_up"] or required or f["tls_unavailable"] else "plaintext"
    f["cert"] = f["implicit"] or f["tls_up"] or (offered and not refused) or f["tls_unavailable"]
    return f


def check_facts(caps, tid, seeds, quiet=False):
    """The header facts of seeds that differ from capture tid's, one message each."""
    f = truth_facts(caps, tid)
    if not quiet:
        print("%s facts from tshark's streams: %s" % (tid, ", ".join("%s=%s" % kv for kv in sorted(f.items()))))
    bad = []
    for path in seeds:
        s = mxsession.parse(open(path, "rb").read())
        got = {"proto": s.proto, "mode": s.mode, "cert": bool(s.flags & mxsession.FLAG_CERT),
               "required": bool(s.flags & mxsession.FLAG_TLS_REQUIRED), "literal_minus": s.literal_minus,
               "tls_unavailable": s.tls_unavailable}
        bad += ["MISREAD %s: %s says %s %s, the capture shows %s" % (tid, os.path.basename(path), k, v, f[k])
                for k, v in got.items() if f[k] != v]
    if not quiet:
        print("".join(m + "\n" for m in bad) + "%s: %d seed(s), %d misread fact(s)" % (tid, len(seeds), len(bad)))
    return bad


def check_shipped(out, corpus):
    bad = n = 0
    for target in sorted(os.listdir(out)):
        for name in sorted(os.listdir(os.path.join(out, target))):
            n += 1
            data = open(os.path.join(out, target, name), "rb").read()
            where = [d for d in sorted(os.listdir(corpus)) if os.path.isfile(os.path.join(corpus, d, name))]
            if target not in where:
                print("NOT SHIPPED: %s/%s (pcap-import writes it; corpus/%s/ lacks it)" % (target, name, target))
                bad += 1
            for d in where:
                if open(os.path.join(corpus, d, name), "rb").read() != data:
                    print("DIFFERS: corpus/%s/%s is not what pcap-import writes today" % (d, name))
                    bad += 1
    print("%d imported seed(s), %d not shipped as written" % (n, bad))
    return bad


def exchanges(s):
    """(client write, the server bytes recorded after it up to the next write) in order."""
    out, cur = [], None
    for k, p in s.events:
        if k == "C":
            cur = [bytes(p), b""]
            out.append(cur)
        elif k == "S" and cur is not None:
            cur[1] += bytes(p)
    return out


def positive(proto, reply):
    last = (lines_of(reply) or [b""])[-1 if proto == "imap" else 0]
    return last[:1] == b"2" if proto == "smtp" else last[:3] == b"+OK" if proto == "pop3" else \
        len(last.split(b" ")) > 1 and last.split(b" ")[1].upper() == b"OK"


def unquote(w):
    return w[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\") if w[:1] == b'"' else w


def serve_args(path):
    s = mxsession.parse(open(path, "rb").read())
    users, domains = {}, set()
    ex = exchanges(s)
    pop_user = None
    for i, (c, r) in enumerate(ex):
        ls = lines_of(c)
        first = ls[0] if ls else b""
        if s.proto == "imap":
            m = re.match(rb'\S+ LOGIN ("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$', first, re.I)
            if m and positive("imap", r):
                users[unquote(m.group(1))] = unquote(m.group(2))
            m = re.match(rb"\S+ AUTHENTICATE PLAIN(?: (\S+))?$", first, re.I)
            if m:
                b64, rr = m.group(1), r
                if not b64 and i + 1 < len(ex):  # the response after the "+" continuation
                    b64, rr = (lines_of(ex[i + 1][0]) or [b""])[0], ex[i + 1][1]
                parts = base64.b64decode(b64 or b"").split(b"\0")
                if len(parts) == 3 and positive("imap", rr):  # RFC 4616 2: authzid NUL authcid NUL passwd
                    users[parts[1]] = parts[2]
        elif s.proto == "pop3":
            if command("pop3", first) == b"USER":
                pop_user = first[5:]
            if command("pop3", first) == b"PASS" and pop_user and positive("pop3", r):
                users[pop_user] = first[5:]
        else:
            rl = [l for l in lines_of(r) if l[3:4] != b"-"]  # one final line per reply, in order
            for j, l in enumerate(ls):
                m = re.match(rb"RCPT TO:\s*<([^@>]+)@([^>]+)>", l, re.I)
                if m and j < len(rl) and rl[j][:1] == b"2":
                    users.setdefault(m.group(1), b"unused-" + m.group(1))
                    domains.add(m.group(2))
                m = re.match(rb"AUTH PLAIN (\S+)$", l, re.I)
                if m and j < len(rl) and rl[j][:3] == b"235":
                    parts = base64.b64decode(m.group(1)).split(b"\0")
                    if len(parts) == 3:
                        users[parts[1]] = parts[2]
    out = []
    for u, p in sorted(users.items()):
        out += ["-u", "%s:%s" % (u.decode("latin-1"), p.decode("latin-1"))]
    for d in sorted(domains):
        out += ["--domain", d.decode("latin-1")]
    return out


def write_args(path, work, tag):
    with open(os.path.join(work, tag + ".args"), "w") as f:
        f.write("".join(a + "\n" for a in serve_args(path)))


def cmd_prepare(caps, tid, out, corpus, work):
    bad = check_shipped(out, corpus)
    seeds = {}
    for target in sorted(os.listdir(out)):
        for name in sorted(os.listdir(os.path.join(out, target))):
            seeds.setdefault(name, os.path.join(out, target, name))  # one replay per distinct seed
    bad += len(check_facts(caps, tid, list(seeds.values())))
    print("seeds:")
    for name, path in seeds.items():
        tag = "%s-%s-%s" % (tid, os.path.basename(os.path.dirname(path)), name)
        write_args(path, work, tag)
        print(tag, path)
    return 1 if bad else 0


def cmd_plant(caps, work, specs):
    for spec in specs:
        tid, kind, path = spec.split(":", 2)
        tag = "planted-%s-%s" % (tid, kind)
        out = os.path.join(work, tag)
        plant(path, kind, out)
        write_args(out, work, tag)
        caught = check_facts(caps, tid, [out], quiet=True)
        print("%s %s %s" % (tag, out, "caught " + caught[0] if caught else "MISSED"))
    return 0


def cmd_deliver(port, path):
    s = mxsession.parse(open(path, "rb").read())
    sizes, bodies, user = {}, {}, None
    for c, r in exchanges(s):
        first = (lines_of(c) or [b""])[0]
        cmd = command("pop3", first)
        rl = r.split(b"\r\n")
        if cmd == b"USER":
            user = first[5:].decode("latin-1")
        elif cmd == b"LIST" and first.strip().upper() == b"LIST" and rl[0][:3] == b"+OK":
            for l in rl[1:]:
                if l == b".":
                    break
                n, size = l.split(b" ")[:2]
                sizes[int(n)] = int(size)
        elif cmd == b"RETR" and rl[0][:3] == b"+OK":
            body = r[r.index(b"\r\n") + 2:]
            body = body[:body.rindex(b".\r\n")]
            # RFC 1939 3: a line starting with "." was sent with one more "."
            bodies[int(first.split(b" ")[1])] = b"\r\n".join(l[1:] if l[:1] == b"." else l
                                                              for l in body.split(b"\r\n"))
    if not sizes:
        print("no LIST in the session: nothing to deliver")
        return 0
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for n in sorted(sizes):
            msg = bodies.get(n)
            if msg is None:  # not retrieved: its size in filler lines
                msg = (b"x" * 70 + b"\r\n") * (sizes[n] // 72)
                msg += b"y" * max(0, sizes[n] - len(msg) - 2) + b"\r\n"
                msg = msg[-sizes[n]:] if len(msg) > sizes[n] else msg
            smtp.sendmail("capture@mail.test", [user + "@mx-serve.test"], msg)
            print("delivered message %d for %s: %d octets%s" % (n, user, len(msg), "" if n in bodies else " (filler)"))
    return 0


FACT_ATOMS = {"smtp": {b"STARTTLS"}, "imap": {b"STARTTLS", b"LITERAL+", b"LITERAL-"}, "pop3": {b"STLS"}}


def explain(proto, path, target=False):
    """The named differences and mismatches of one --units file; the number of mismatches.
    target: the pairs are the starttls target's replies (target_replies.py), not mx-serve's, and
    the two differences of its scope are named too (past-login, maildrop-commands)."""
    pairs = json.load(open(path))
    bad = 0
    peer = "the target" if target else "mx-serve"  # whose replies the pairs hold
    authed = False  # IMAP: the captured server accepted a login (a pair before this one)
    # the greeting: the first unit, or the first after an implicit-TLS handshake
    greet = 1 if pairs and pairs[0]["after"] == "(TLS handshake)" else 0
    for k, p in enumerate(pairs):
        want = [l.encode("latin-1") for l in p["want"]]
        got = [l.encode("latin-1") for l in p["got"]]
        cmd = command(proto, p["after"].encode("latin-1")) if k != greet else b""
        where = "unit %d (after %r)" % (k, p["after"][:40]) if k != greet else "unit %d (greeting)" % k
        if target and authed:
            print("difference past-login %s: captured %r, target %r" % (where, want[-1:] or None, got[-1:] or None))
            continue
        if target and proto == "imap" and command(proto, want[-1] if want else b"") in (b"OK",) and \
                command(proto, p["after"].encode("latin-1")) in (b"LOGIN", b"AUTHENTICATE"):
            authed = p["same_status"]  # the same login accepted by both: what follows is past it
        if target and proto == "pop3" and cmd in (b"LIST", b"RETR", b"UIDL", b"TOP") and not p["same_status"]:
            print("difference maildrop-commands %s: captured %r, target %r" % (where, want[:1], got[:1]))
            continue
        if not p["same_status"]:
            print("MISMATCH %s: the captured server answered %r, %s %r" % (where, want[-1:] or None, peer, got[-1:] or None))
            bad += 1
            continue
        if want == got:
            continue
        sets = None
        if proto == "smtp" and len(want) > 1 and len(got) > 1:
            sets = ehlo_keywords(want), ehlo_keywords(got)
        elif proto == "pop3" and cmd == b"CAPA":
            sets = capa_tags(want), capa_tags(got)
        elif proto == "imap" and imap_caps(want) is not None and imap_caps(got) is not None:
            sets = imap_caps(want), imap_caps(got)
        if sets:
            w, g = sets
            for atom in sorted(FACT_ATOMS[proto]):
                if (atom in w) != (atom in g):
                    print("MISMATCH %s: %s listed by %s only (a header fact)" %
                          (where, atom.decode(), "the captured server" if atom in w else peer))
                    bad += 1
            extra_w = sorted(a.decode() for a in w - g - FACT_ATOMS[proto] - {b"LOGINDISABLED"})
            extra_g = sorted(a.decode() for a in g - w - FACT_ATOMS[proto] - {b"LOGINDISABLED"})
            if extra_w or extra_g:
                print("difference extensions %s: captured server only %s; %s only %s" % (where, extra_w, peer, extra_g))
            if (b"LOGINDISABLED" in w) != (b"LOGINDISABLED" in g):
                print("difference logindisabled %s: listed by %s only" %
                      (where, "the captured server" if b"LOGINDISABLED" in w else peer))
        elif proto == "imap":
            uw = [l for l in want if l.startswith(b"* ")]
            ug = [l for l in got if l.startswith(b"* ")]
            if uw != ug and k != greet:
                kinds = sorted({l.split(b" ")[1].decode("latin-1") for l in uw + ug if len(l.split(b" ")) > 1})
                print("difference untagged %s: untagged data %s (captured %d line(s), %s %d)" %
                      (where, kinds, len(uw), peer, len(ug)))
        if k == greet:
            print("difference banner %s: %r / %r" % (where, want[0][:60], got[0][:60]))
        elif proto == "pop3" and cmd in (b"LIST", b"RETR", b"STAT", b"UIDL", b"TOP") or \
                proto == "imap" and b"[APPENDUID" in want[-1].upper():
            print("difference mailbox %s: %r / %r" % (where, want[0][:50], got[0][:50]))
        elif not sets and want[-1] != got[-1]:
            print("difference text %s: %r / %r" % (where, want[-1][:50], got[-1][:50]))
    print("%d unit(s), %d mismatch(es)" % (len(pairs), bad))
    return bad


def cmd_explain(specs, target=False):
    for spec in specs:
        seed, path = spec.split(":", 1)
        proto = mxsession.parse(open(seed, "rb").read()).proto
        print("--- %s" % seed)
        try:
            bad = explain(proto, path, target)
        except (OSError, ValueError) as e:
            print("MISMATCH: no replay record: %s" % e)
            bad = 1
        print("verdict %s %s" % (seed, "MISMATCH" if bad else "ok"))
    return 0


def plant(path, kind, out):
    s = mxsession.parse(open(path, "rb").read())
    if kind == "mode-plaintext":
        s.mode = "plaintext"
    elif kind == "mode-starttls":
        s.mode = "starttls"
    elif kind == "cert-no":
        s.flags &= ~mxsession.FLAG_CERT
    elif kind == "tls-required":
        s.flags |= mxsession.FLAG_TLS_REQUIRED
    elif kind == "literal-minus":
        s.flags |= mxsession.FLAG_LITERAL_MINUS
        s.version = max(s.version, mxsession.VERSION_LITERAL)
    else:
        raise SystemExit("unknown plant %s" % kind)
    open(out, "wb").write(mxsession.encode(s))


def main(a):
    if a[:1] == ["prepare"] and len(a) == 6:
        return cmd_prepare(*a[1:])
    if a[:1] == ["plant"] and len(a) >= 4:
        return cmd_plant(a[1], a[2], a[3:])
    if a[:1] == ["deliver"] and len(a) == 3:
        return cmd_deliver(int(a[1]), a[2])
    if a[:1] == ["explain"]:
        return cmd_explain(a[1:])
    if a[:1] == ["explain-target"]:
        return cmd_explain(a[1:], target=True)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
