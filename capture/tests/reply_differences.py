#!/usr/bin/env python3
"""The reply units of a seed replayed through mx-serve (tools/session-send.py --units JSON),
judged: every unit must carry the captured server's status, except where a difference has a
name, a reason, and the RFC that allows libmx's side. Prints one line per named difference.

    reply_differences.py SEED UNITS.json NAME [target]

UNITS.json is session-send --units' record of a replay through mx-serve, or (with `target`)
target_replies.py's record of the seed through the starttls target's engine.

The named differences (the captured server did one thing, libmx another, both defensible):
  clienthello-closed   a ClientHello on the plaintext side (after the greeting, or after a refused
                       STARTTLS): postfix answers it as a bad command (500) and dovecot with
                       "* BAD" / "-ERR", and both go on reading; libmx answers with its one line
                       before a close (SMTP 421, RFC 5321 3.8 and 4.2.4: 421 may answer any
                       command when the server closes; IMAP "* BYE", RFC 3501 7.1.5; POP3 -ERR,
                       RFC 1939 3 lets a server close) and closes: a client that expected TLS
                       understands no plaintext reply (KB Q218430), so there is nothing to go on
                       with. Where the captured server used the same status (POP3 -ERR), only the
                       close shows.
  after-close          a unit the captured server still answered after that ClientHello, to which
                       libmx, having closed, sends nothing.
  starttls-listed-454  the captured server listed STARTTLS in EHLO and answered it 454 (postfix
                       lists it from its configuration); libmx, on a tls-unavailable listener
                       (the seed's flags bit 3), does not list what it cannot start (RFC 3207 4);
                       the 454 itself must be the same.
  past-login           (target only) IMAP after a login both sides accepted: the starttls
                       target's machine does IMAP before authentication only (mx/machine.h; its
                       caller runs the command reader after it, as mx-serve does), so what follows
                       is out of its scope (shipped_captures.py explain-target names it alike).
Anything else that differs (a status, a STARTTLS/STLS listing where both sides list
capabilities) fails.
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mxsession  # noqa: E402


def lists_starttls(proto, lines):
    """STARTTLS/STLS listed in a capability reply, or None when the unit lists no capabilities
    (an SMTP reply of one line, a POP3 reply without a list, an IMAP unit without CAPABILITY: a
    greeting need not carry them, RFC 3501 7.1)."""
    if proto == "smtp":
        return any(l[4:].upper() == "STARTTLS" for l in lines if l[:3] == "250") if len(lines) > 1 else None
    if proto == "pop3":
        return any(l.upper() == "STLS" for l in lines) if len(lines) > 1 else None
    caps = [l for l in lines if "CAPABILITY" in l.upper()]
    return any("STARTTLS" in l.upper().replace("]", " ").split() for l in caps) if caps else None


def status(proto, lines):
    if not lines:
        return None
    l = lines[0] if proto == "pop3" else lines[-1]
    return l[:3] if proto == "smtp" else l.split(" ")[0] if proto == "pop3" else " ".join(l.split(" ")[:2])


# libmx's one line before a close for a ClientHello on the plaintext side (mx/machine.h)
CLOSE_LINE = {"smtp": "421", "imap": "* BYE", "pop3": "-ERR"}


def main():
    seed, units, name = sys.argv[1], sys.argv[2], sys.argv[3]
    target = sys.argv[4:] == ["target"]
    s = mxsession.parse(open(seed, "rb").read())
    pairs = json.load(open(units))
    bad, named, closed, authed = [], [], False, False
    for i, p in enumerate(pairs):
        want, got, after = p["want"], p["got"], p["after"]
        hello = after[:2] == "\x16\x03"
        if authed:
            named.append("past-login: unit %d after %r: captured %r, target %r" %
                         (i, after[:30], want[-1][:30] if want else None, got[-1][:30] if got else None))
            continue
        words = after.upper().split(" ")
        if target and s.proto == "imap" and len(words) > 1 and words[1] in ("LOGIN", "AUTHENTICATE") and \
                p["same_status"] and status(s.proto, want).upper().endswith(" OK"):
            authed = True
        if hello and status(s.proto, got) == CLOSE_LINE[s.proto]:
            named.append("clienthello-closed: unit %d: captured %r, libmx %r and the close" %
                         (i, want[-1][:40] if want else None, got[-1][:60]))
            closed = True
            continue
        if closed and not got:
            named.append("after-close: unit %d: captured %r after %r; libmx had closed" %
                         (i, want[-1][:40] if want else None, after[:30]))
            continue
        if not p["same_status"]:
            bad.append("unit %d after %r: status %r, captured %r" % (i, after[:40], status(s.proto, got),
                                                                     status(s.proto, want)))
            continue
        lw, lg = lists_starttls(s.proto, want), lists_starttls(s.proto, got)
        if lw is not None and lg is not None and lw != lg:
            if lw and not lg and s.tls_unavailable:
                named.append("starttls-listed-454: unit %d: the captured server listed STARTTLS it "
                             "could not start; libmx does not" % i)
            else:
                bad.append("unit %d after %r: STARTTLS listed by the %s only" %
                           (i, after[:40], "captured server" if lw else "replay"))
    for m in named:
        print("%s: named difference %s" % (name, m))
    for m in bad:
        print("%s: MISMATCH %s" % (name, m))
    print("%s: %d unit(s), %d named difference(s), %d mismatch(es)" % (name, len(pairs), len(named), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
