#!/usr/bin/env python3
"""session-send.py - play a session file (corpus/FORMAT.md) against a live server.

    tools/session-send.py --port N [--host 127.0.0.1] [--compare] [--timeout S] FILE
    tools/session-send.py --port N --units OUT.json [--timeout S] FILE   (reply units)
    tools/session-send.py --port N --transcript OUT [--quiet S] FILE     (live mode, live/)

Sends each client write (`C` event) as one write on a TCP connection, in order, and prints what
the server answers. At a `T` event it reads what the server sent so far (the STARTTLS reply), then
runs a TLS handshake on the same connection (no certificate check: a test server) and goes on
inside TLS; an implicit-TLS session starts TLS before the first write, unless it has no `T`
event at all: that is a client that never speaks TLS (a plaintext client on an implicit-TLS
port), whose writes go out in clear text. With --compare, each `S` event recorded in the file
is an expectation: the server's reply lines must carry the same status (SMTP: the 3-digit code;
POP3: +OK/-ERR; IMAP: tag and status word), in order, and anything the server sends beyond the
recorded replies is a mismatch too (so a session that records no reply expects silence).

With --units, the comparison is by reply unit, for a session recorded against another server
(a capture of postfix or dovecot, whose replies have other line counts): the recorded replies
between two client writes are cut into units (SMTP: a reply up to its "ddd " line; POP3: a
status line and, after +OK, its lines up to "."; IMAP: untagged lines up to the tagged line or
the "+" continuation that ends them, or a lone untagged line such as the greeting), and for each
unit one unit of the server's is read: the statuses (the code, +OK/-ERR, tag and OK/NO/BAD, "+")
must be equal. Every pair (recorded lines, lines received) goes to OUT.json, a JSON list of
{"after": the client's command line it answers (by position in the last write), "want": [...], "got": [...],
"same_status": bool}, lines as latin-1 strings, for the caller to name the differences that
are not statuses (capability lists, texts).

With --transcript, the session is played as a live client (live/README.md): after the greeting
and after every write it reads until the server is quiet for --quiet seconds (or closes), and
writes what crossed the wire to OUT, one event a line: `C HEX` (the session's client write, as the
judge's model must see it), `S HEX` (server bytes after it), `T up|refused|failed WHY`, `X` (the
server closed). TLS starts at a `T` event only after a positive reply (220 / +OK / tagged OK):
after a refusal a real client does not start TLS, and neither does this one. A handshake record
in the session (a ClientHello pipelined behind STARTTLS, or the first bytes on an implicit-TLS
port) is replaced by the real ClientHello of the handshake, sent in the same write.

This is how a crash or a finding of a fuzz target is replayed through mx-serve (or any server):
the reproducer is a session file, and this sends it over a real socket.
Exit status: 0 when every expectation held, 1 on a mismatch, 2 on a usage or connection error.
"""
import argparse
import json
import os
import select
import socket
import ssl
import sys
import time

sys.dont_write_bytecode = True  # no tools/__pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxsession  # noqa: E402  (the session parser shared by the Python tools)


def parse(data):
    """Header fields and the event list: the one Python parser, tools/mxsession.py."""
    s = mxsession.parse(data)
    return s.proto, s.mode, s.events


def status(proto, line):
    if proto == "smtp":
        return line[:3]
    if proto == "pop3":
        return line.split(b" ", 1)[0]
    words = line.split(b" ")
    return b" ".join(words[:2]) if words and words[0] != b"+" else b"+"


class Conn:
    """A TCP connection that can go to TLS (ssl.SSLObject over memory BIOs, so that the
    ClientHello can be sent in the same write as a STARTTLS line)."""

    def __init__(self, host, port, timeout, verbose=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.verbose = verbose
        self.buf = b""
        self.closed = False
        self.tls = None  # ssl.SSLObject once TLS is up (or being set up)
        self.diverged = False  # live mode: expected replies did not come
        self.rbio = self.wbio = None

    def say(self, text):
        if self.verbose:
            print(text)

    def send(self, payload):
        self.say("C: %r" % payload)
        try:
            if self.tls:
                self.tls.write(payload)
                payload = self.wbio.read()
            self.sock.sendall(payload)
        except (OSError, ssl.SSLError) as e:
            self.say("   (send failed: %s)" % e)
            self.closed = True

    def _recv(self, wait):
        """Raw bytes from the socket within wait seconds: b"" at a close, None at a timeout."""
        if not select.select([self.sock], [], [], wait)[0]:
            return None
        try:
            return self.sock.recv(65536)
        except OSError as e:
            self.say("   (receive failed: %s)" % e)
            return b""

    def _fill(self, wait):
        if self.closed:
            return False
        if self.tls:
            while True:
                try:
                    chunk = self.tls.read(65536)
                    if not chunk:
                        raise ssl.SSLZeroReturnError("TLS close_notify")
                    self.buf += chunk
                    return True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as e:
                    self.say("   (TLS receive failed: %s)" % e)
                    self.closed = True
                    return False
                raw = self._recv_open(wait)
                if not raw:
                    return False
                self.rbio.write(raw)
        raw = self._recv_open(wait)
        if not raw:
            return False
        self.buf += raw
        return True

    def _recv_open(self, wait):
        """The next bytes from the socket; None at a timeout, b"" once the server closed."""
        raw = self._recv(wait)
        if raw is not None and not raw:
            self.say("   (server closed the connection)")
            self.closed = True
        return raw

    def lines(self, count):
        """Up to count complete reply lines (fewer at a timeout or close)."""
        out, deadline = [], time.time() + self.timeout
        while len(out) < count:
            while b"\r\n" in self.buf and len(out) < count:
                line, self.buf = self.buf.split(b"\r\n", 1)
                out.append(line)
            if len(out) >= count or time.time() > deadline:
                break
            if not self._fill(0.2) and self.closed:
                break
        return out

    def drain(self, quiet=0.5):
        """Everything the server sends until it is quiet for `quiet` seconds (or closes),
        at most --timeout seconds."""
        deadline = time.time() + self.timeout
        while time.time() < deadline and self._fill(quiet):
            pass
        data, self.buf = self.buf, b""
        return data

    def wait_units(self, proto, kinds, patience, quiet):
        """Reads until the reply units in kinds (live-judge --expect: r, m, t, u) are complete
        or patience seconds passed, then until the server is quiet for `quiet` seconds."""
        deadline = time.time() + min(patience, self.timeout)
        while kinds and not units_complete(proto, kinds, self.buf) and time.time() < deadline:
            if not self._fill(max(0.01, deadline - time.time())) and self.closed:
                break
        # the server did not answer as the model expects: the judgement ends here, so the
        # replay does too (a diverged session would wait out the patience at every write)
        self.diverged = bool(kinds) and not self.closed and not units_complete(proto, kinds, self.buf)
        return self.drain(quiet)

    def client_hello(self):
        """Starts a TLS client on memory BIOs; returns its ClientHello (not yet sent)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        self.rbio, self.wbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.rbio, self.wbio, server_hostname="mx-serve.test")
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.wbio.read()

    def finish_tls(self, early=b""):
        """Completes the handshake begun by client_hello (whose ClientHello was sent); early:
        raw bytes already received that belong to TLS."""
        if early:
            self.rbio.write(early)
        deadline = time.time() + self.timeout
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                out = self.wbio.read()
                if out:
                    self.sock.sendall(out)
                raw = self._recv(max(0.0, deadline - time.time()))
                if raw is None:
                    raise ssl.SSLError("handshake timed out")
                if not raw:
                    raise ssl.SSLError("connection closed during the handshake")
                self.rbio.write(raw)
        out = self.wbio.read()
        if out:
            self.sock.sendall(out)
        self.say("-- TLS up: %s %s" % (self.tls.version(), self.tls.cipher()[0]))

    def start_tls(self):
        self.sock.sendall(self.client_hello())
        self.finish_tls()


def reply_units(proto, data, greeting=False):
    """The reply units in data (whole lines, CRLF dropped): see --units at the top. greeting:
    data starts with the greeting (an IMAP greeting is an untagged unit of its own)."""
    lines = data.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()  # the CRLF of the last line (empty lines inside a unit are kept)
    pop_status = lambda l: l.startswith((b"+OK", b"-ERR", b"+ ")) or l == b"+"
    units, cur, multi = [], [], False
    for i, l in enumerate(lines):
        cur.append(l)
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if proto == "smtp":
            done = len(l) < 4 or l[3:4] != b"-"
        elif proto == "pop3":
            if len(cur) == 1:  # +OK followed by a line that is no status: a dot-terminated list
                multi = l.startswith(b"+OK") and nxt is not None and not pop_status(nxt)
            done = l == b"." if multi and len(cur) > 1 else not multi
        else:
            done = not l.startswith(b"* ") or (greeting and not units and i == 0)
        if done:
            units.append(cur)
            cur = []
    if cur:
        units.append(cur)
    return units


def unit_end(proto, want, line, first):
    """line ends the server's unit that answers the recorded unit want (first: its first line)."""
    if proto == "smtp":
        return len(line) < 4 or line[3:4] != b"-"
    if proto == "pop3":
        multi = len(want) > 1
        return line == b"." or (first and (not multi or not line.startswith(b"+OK")))
    last = want[-1]
    if last.startswith(b"* "):  # an untagged unit (the greeting, a BYE): one line
        return True
    return not line.startswith(b"* ")


def unit_status(proto, unit):
    """A reply unit's status: SMTP the last line's code, POP3 the status line's, IMAP the
    closing line's (tag and OK/NO/BAD, or "+"; untagged data before it carries none)."""
    return status(proto, unit[0] if proto == "pop3" else unit[-1])


def compare_units(a, c, proto, events):
    """--units: the session by reply unit; returns the number of status mismatches."""
    pairs, mismatches = [], 0
    block, sent, last = b"", False, [b""]  # last: the lines of the last client write

    def flush():
        nonlocal block, mismatches
        for j, want in enumerate(reply_units(proto, block, greeting=not sent)):
            after = last[j] if j < len(last) else last[0]  # pipelined commands: one unit each
            got = []
            while True:
                line = c.lines(1)
                if not line:
                    break
                got.append(line[0])
                if unit_end(proto, want, line[0], len(got) == 1):
                    break
            same = bool(got) and unit_status(proto, got) == unit_status(proto, want)
            print("unit: want %r ... got %r%s" % (want[-1][:60], got[-1][:60] if got else None,
                                                  "" if same else "   MISMATCH"))
            mismatches += not same
            pairs.append({"after": after.decode("latin-1"), "want": [l.decode("latin-1") for l in want],
                          "got": [l.decode("latin-1") for l in got], "same_status": same})
        block = b""

    for kind, payload in events:
        if kind == "S":
            block += payload
            continue
        flush()
        if c.closed:
            break
        if kind == "C":
            c.send(payload)
            sent, last = True, [l[:200] for l in payload.split(b"\r\n")[:-1]] or [payload[:200]]
        elif kind == "T":
            # the handshake is a unit too: the recorded server took TLS up here
            try:
                c.start_tls()
                got, same = "(TLS up)", True
            except (OSError, ssl.SSLError) as e:
                print("   (TLS handshake failed: %s)" % e)
                got, same = "(TLS failed: %s)" % e, False
                c.closed = True
                mismatches += 1
            pairs.append({"after": "(TLS handshake)", "want": ["(TLS up)"], "got": [got], "same_status": same})
            if not same:
                break
    flush()
    rest = c.drain(0.3) if not c.closed else b""
    if rest:
        print("S: %r   MISMATCH: the session records no more replies" % rest)
        mismatches += 1
        pairs.append({"after": last[0].decode("latin-1"), "want": [], "got": [l.decode("latin-1") for l in rest.split(b"\r\n") if l],
                      "same_status": False})
    tmp = a.units + ".tmp"
    with open(tmp, "w") as f:
        json.dump(pairs, f, indent=1)
    os.replace(tmp, a.units)
    print("session-send: %d unit(s), %d status mismatch(es)" % (len(pairs), mismatches))
    return mismatches


def handshake_record(b):
    """b starts a TLS handshake record (content type 22, major version 3): RFC 8446 5.1."""
    return len(b) >= 1 and b[0] == 0x16 and (len(b) == 1 or b[1] == 0x03)


def units_complete(proto, kinds, data):
    """data holds the reply units listed in kinds: r a reply (SMTP up to its "ddd " line, POP3
    one status line), m a POP3 status line and its dot-terminated list, t IMAP untagged lines up
    to a tagged (or "+") line, u one IMAP untagged line."""
    lines = data.split(b"\r\n")[:-1]  # complete lines only
    i = 0
    for k in kinds:
        while True:
            if i >= len(lines):
                return False
            l = lines[i]
            i += 1
            if k == "r" and (proto != "smtp" or len(l) < 4 or l[3:4] != b"-"):
                break
            if k == "u" or (k == "t" and not l.startswith(b"* ")):
                break
            if k == "m" and (not l.startswith(b"+OK") or l == b"." or i == len(lines)):
                if l == b"." or not l.startswith(b"+"):
                    break
    return True


def positive(proto, data):
    """The last reply line in data is positive: SMTP 2xx, POP3 +OK, IMAP a tagged OK."""
    lines = [l for l in data.split(b"\r\n") if l]
    if not lines:
        return False
    last = lines[-1]
    if proto == "smtp":
        return last[:1] == b"2"
    if proto == "pop3":
        return last.startswith(b"+OK")
    w = last.split(b" ")
    return len(w) >= 2 and w[0] not in (b"*", b"+") and w[1].upper() == b"OK"


def live(a, proto, mode, events):
    """--transcript: the session as a live client; the transcript (see the top) to a.transcript."""
    out = []
    hexs = lambda b: b.hex() or "-"
    try:
        c = Conn(a.host, a.port, a.timeout, verbose=False)
    except OSError as e:
        print("session-send: cannot connect to %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 2
    reply = b""
    implicit = mode == "implicit" and any(k == "T" for k, _ in events)
    if not implicit or events[0][0] != "T" and not handshake_record(events[0][1] if events[0][0] == "C" else b""):
        # the greeting (none on implicit TLS before the handshake)
        reply = c.wait_units(proto, "u" if proto == "imap" else "r", a.patience, a.quiet)
        out.append("S " + hexs(reply))
        if c.closed:
            out.append("X")
    writes = 0  # client writes so far: the index into a.expect's lines
    for i, (kind, payload) in enumerate(events):
        if c.closed or c.diverged:
            break
        kinds = ""
        if kind == "C":
            kinds = a.expect[writes] if writes < len(a.expect) else ""
            writes += 1
        nxt = next((k for k, _ in events[i + 1:] if k != "S"), None)
        if kind == "C":
            hello_here = nxt == "T" and not c.tls
            if hello_here and implicit and handshake_record(payload):
                out.append("C " + hexs(payload))
                continue  # the handshake's first bytes: sent as the real ClientHello at T
            if hello_here and mode != "implicit" and b"\n" in payload:
                line, rest = payload.split(b"\n", 1)
                if handshake_record(rest):
                    # a ClientHello pipelined behind STARTTLS: the real one, in the same write
                    out.append("C " + hexs(payload))
                    try:
                        c.sock.sendall(line + b"\n" + c.client_hello())
                    except OSError:
                        c.closed = True
                    raw = b""
                    while not c.closed and b"\r\n" not in raw:
                        got = c._recv(a.timeout)
                        if not got:
                            c.closed = True
                        else:
                            raw += got
                    reply, early = raw.split(b"\r\n", 1) if b"\r\n" in raw else (raw, b"")
                    reply += b"\r\n" if b"\r\n" in raw else b""
                    out.append("S " + hexs(reply))
                    if not positive(proto, reply):
                        out.append("T refused")
                        c.tls = None
                        if c.closed:
                            out.append("X")
                        break
                    try:
                        c.finish_tls(early)
                        out.append("T up %s" % c.tls.version())
                    except (OSError, ssl.SSLError) as e:
                        out.append("T failed %s" % str(e).replace("\n", " "))
                        c.closed = True
                        out.append("X")
                    rest = events[i + 1:]
                    skipped = sum(1 for k, _ in rest[:len(rest) - len(_after_first_t(rest))] if k == "C")
                    return _rest(a, c, proto, _after_first_t(rest), out, writes + skipped)
            out.append("C " + hexs(payload))
            c.send(payload)
            reply = c.wait_units(proto, kinds, a.patience, a.quiet)
            out.append("S " + hexs(reply))
            if c.closed:
                out.append("X")
        elif kind == "T":
            if c.tls:
                continue
            if not implicit and not positive(proto, reply):
                out.append("T refused")
                continue
            try:
                c.start_tls()
                out.append("T up %s" % c.tls.version())
            except (OSError, ssl.SSLError) as e:
                out.append("T failed %s" % str(e).replace("\n", " "))
                c.closed = True
                out.append("X")
                break
            if implicit:
                reply = c.wait_units(proto, "u" if proto == "imap" else "r", a.patience, a.quiet)
                out.append("S " + hexs(reply))
                if c.closed:
                    out.append("X")
    return _write(a, out)


def _after_first_t(evs):
    """The events after the first T of evs."""
    for j, (k, _) in enumerate(evs):
        if k == "T":
            return evs[j + 1:]
    return evs


def _rest(a, c, proto, events, out, writes):
    """The client writes after TLS came up behind a pipelined ClientHello."""
    for kind, payload in events:
        if c.closed or c.diverged:
            break
        if kind != "C":
            continue
        kinds = a.expect[writes] if writes < len(a.expect) else ""
        writes += 1
        out.append("C " + (payload.hex() or "-"))
        c.send(payload)
        out.append("S " + (c.wait_units(proto, kinds, a.patience, a.quiet).hex() or "-"))
        if c.closed:
            out.append("X")
    return _write(a, out)


def _write(a, out):
    tmp = a.transcript + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, a.transcript)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--units", help="compare by reply unit; the pairs to this JSON file (see the top)")
    ap.add_argument("--transcript", help="live mode: write the transcript here (see the top)")
    ap.add_argument("--quiet", type=float, default=0.25,
                    help="live mode: a reply is complete when the server is quiet this long")
    ap.add_argument("--expect", help="live mode: the reply units per write (live-judge --expect)")
    ap.add_argument("--patience", type=float, default=3.0,
                    help="live mode: how long to wait for the expected reply units")
    a = ap.parse_args()
    try:
        with open(a.file, "rb") as f:
            proto, mode, events = parse(f.read())
    except OSError as e:
        print("session-send: %s" % e, file=sys.stderr)
        return 2
    if a.transcript:
        try:
            a.expect = open(a.expect).read().split("\n") if a.expect else []
        except OSError as e:
            print("session-send: %s" % e, file=sys.stderr)
            return 2
        return live(a, proto, mode, events)
    try:
        c = Conn(a.host, a.port, a.timeout)
        has_tls = any(kind == "T" for kind, _ in events)
        if mode == "implicit" and has_tls and events[0][0] != "T":
            c.start_tls()
    except (OSError, ssl.SSLError) as e:
        print("session-send: cannot connect to %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 2
    if a.units:
        return 1 if compare_units(a, c, proto, events) else 0
    mismatches = 0
    for kind, payload in events:
        if kind == "C":
            if c.closed:
                break
            c.send(payload)
        elif kind == "S":
            want = [l for l in payload.split(b"\r\n") if l]
            got = c.lines(len(want))
            for i, w in enumerate(want):
                g = got[i] if i < len(got) else None
                ok = g is not None and status(proto, g) == status(proto, w)
                print("S: %r%s" % (g, "" if ok or not a.compare else "   MISMATCH: want %r" % w))
                if a.compare and not ok:
                    mismatches += 1
        elif kind == "T":
            pending = c.drain()
            if pending:
                print("S: %r" % pending)
            if c.closed:
                break
            try:
                c.start_tls()
            except (OSError, ssl.SSLError) as e:
                print("   (TLS handshake failed: %s)" % e)
                c.closed = True
                break
    rest = c.drain(0.3) if not c.closed else b""
    if rest:
        print("S: %r%s" % (rest, "   MISMATCH: the session records no more replies" if a.compare else ""))
        if a.compare:
            mismatches += 1
    if a.compare:
        print("session-send: %d mismatch(es)" % mismatches)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
