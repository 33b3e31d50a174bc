#!/usr/bin/env python3
"""A one-connection SMTP server with STARTTLS (Python's ssl = OpenSSL), for the live capture
test. Usage: toy_smtp.py CERT KEY PORTFILE [--no-etm] [--old-tls]. Listens on 127.0.0.1 (a free
port, written to PORTFILE), serves one session, exits. Every step has a 10 s timeout.
--no-etm: refuse encrypt-then-MAC (SSL_OP_NO_ENCRYPT_THEN_MAC), so CBC records are
MAC-then-encrypt; --old-tls: accept TLS 1.0 and every cipher (@SECLEVEL=0)."""
import socket
import ssl
import sys

cert, key, portfile = sys.argv[1:4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if "--no-etm" in sys.argv:
    ctx.options |= 0x00080000  # SSL_OP_NO_ENCRYPT_THEN_MAC
if "--old-tls" in sys.argv:
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
srv.settimeout(10)
open(portfile, "w").write(str(srv.getsockname()[1]))
c, _ = srv.accept()
c.settimeout(10)
buf = b""


def line():
    global buf
    while b"\n" not in buf:
        d = c.recv(65536)
        if not d:
            raise SystemExit(0)
        buf += d
    l, buf = buf.split(b"\n", 1)
    return l + b"\n"


c.sendall(b"220 toy.test ESMTP\r\n")
tls = False
while True:
    cmd = line().strip().upper()
    if cmd.startswith(b"EHLO"):
        c.sendall(b"250-toy.test\r\n" + (b"" if tls else b"250-STARTTLS\r\n") + b"250 8BITMIME\r\n")
    elif cmd == b"STARTTLS" and not tls:
        c.sendall(b"220 2.0.0 Ready to start TLS\r\n")
        buf = b""
        c = ctx.wrap_socket(c, server_side=True)
        tls = True
    elif cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT"):
        c.sendall(b"250 2.1.0 Ok\r\n")
    elif cmd == b"DATA":
        c.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        while line() != b".\r\n":
            pass
        c.sendall(b"250 2.0.0 Ok: queued\r\n")
    elif cmd == b"QUIT":
        c.sendall(b"221 2.0.0 Bye\r\n")
        break
    else:
        c.sendall(b"502 5.5.2 Error\r\n")
c.close()
