#!/usr/bin/env python3
"""session-send.py - play a session file (corpus/FORMAT.md) against a live server.

    tools/session-send.py --port N [--host 127.0.0.1] [--compare] [--timeout S] FILE

Sends each client write (`C` event) as one write on a TCP connection, in order, and prints what
the server answers. At a `T` event it reads what the server sent so far (the STARTTLS reply), then
runs a TLS handshake on the same connection (no certificate check: a test server) and goes on
inside TLS; an implicit-TLS session starts TLS before the first write, unless it has no `T`
event at all: that is a client that never speaks TLS (a plaintext client on an implicit-TLS
port), whose writes go out in clear text. With --compare, each `S` event recorded in the file
is an expectation: the server's reply lines must carry the same status (SMTP: the 3-digit code;
POP3: +OK/-ERR; IMAP: tag and status word), in order, and anything the server sends beyond the
recorded replies is a mismatch too (so a session that records no reply expects silence).

This is how a crash or a finding of a fuzz target is replayed through mx-serve (or any server):
the reproducer is a session file, and this sends it over a real socket.
Exit status: 0 when every expectation held, 1 on a mismatch, 2 on a usage or connection error.
"""
import argparse
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
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.closed = False

    def send(self, payload):
        print("C: %r" % payload)
        try:
            self.sock.sendall(payload)
        except OSError as e:
            print("   (send failed: %s)" % e)
            self.closed = True

    def _fill(self, wait):
        if self.closed:
            return False
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            ready = True
        else:
            ready = select.select([self.sock], [], [], wait)[0]
        if not ready:
            return False
        try:
            chunk = self.sock.recv(65536)
        except (OSError, ssl.SSLError) as e:
            print("   (receive failed: %s)" % e)
            self.closed = True
            return False
        if not chunk:
            print("   (server closed the connection)")
            self.closed = True
            return False
        self.buf += chunk
        return True

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
        """Everything the server sends until it is quiet for `quiet` seconds."""
        while self._fill(quiet):
            pass
        data, self.buf = self.buf, b""
        return data

    def start_tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        self.sock = ctx.wrap_socket(self.sock, server_hostname="mx-serve.test")
        print("-- TLS up: %s %s" % (self.sock.version(), self.sock.cipher()[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()
    try:
        with open(a.file, "rb") as f:
            proto, mode, events = parse(f.read())
    except OSError as e:
        print("session-send: %s" % e, file=sys.stderr)
        return 2
    try:
        c = Conn(a.host, a.port, a.timeout)
        has_tls = any(kind == "T" for kind, _ in events)
        if mode == "implicit" and has_tls and events[0][0] != "T":
            c.start_tls()
    except (OSError, ssl.SSLError) as e:
        print("session-send: cannot connect to %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 2
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
