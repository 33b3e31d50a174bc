#!/usr/bin/env bash
# Issue 12 rule 1 over real sockets: a client that writes STARTTLS and its ClientHello in one
# segment (Python's ssl on a MemoryBIO) gets 220, the handshake completes and EHLO is answered
# over TLS (the ClientHello was kept for the handshake, not purged as injection); one that puts a
# plaintext command between them gets 220 and the close. The mx-serve log says which.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 1
echo "listen 127.0.0.1 ${PORTS[0]} starttls smtp" >"$W/serve.conf"
echo "cert test 127.0.0.1 ${PORTS[0]}" >>"$W/serve.conf"
serve_start "$W/serve.conf"
cat >"$W/pipelined.py" <<'PY'
# Rule 1 over a real socket: STARTTLS + the ClientHello in one write (Python's ssl, MemoryBIO),
# then the handshake must complete and EHLO must answer over TLS.
import socket, ssl, sys
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
def readline():
    b = b""
    while not b.endswith(b"\n"):
        c = s.recv(1)
        if not c: raise SystemExit("closed")
        b += c
    return b
def reply():
    lines = [readline()]
    while lines[-1][3:4] == b"-": lines.append(readline())
    return b"".join(lines)
print(reply())
s.sendall(b"EHLO c\r\n"); print(reply())
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname="mx-serve.test")
try: tls.do_handshake()
except ssl.SSLWantReadError: pass
hello = out.read()
extra = b"RSET\r\n" if mode == "mixed" else b""
s.sendall(b"STARTTLS\r\n" + extra + hello)   # one write: the ClientHello pipelined
print(reply())
if mode == "mixed":
    s.settimeout(5)
    r = s.recv(100)
    print("after mixed:", r); sys.exit(0 if r == b"" else 1)
while True:
    try:
        tls.do_handshake(); break
    except ssl.SSLWantReadError:
        if out.pending: s.sendall(out.read())
        d = s.recv(65536)
        if not d: raise SystemExit("closed during handshake")
        inc.write(d)
if out.pending: s.sendall(out.read())
print("handshake done:", tls.version())
tls.write(b"EHLO c\r\n"); s.sendall(out.read())
buf = b""
while b"250 " not in buf:
    try: buf += tls.read(4096)
    except ssl.SSLWantReadError:
        if out.pending: s.sendall(out.read())
        inc.write(s.recv(65536))
print(buf)
PY
timeout 60 python3 "$W/pipelined.py" "${PORTS[0]}" hello >"$W/hello.out" 2>&1 || { cat "$W/hello.out"; fail "pipelined ClientHello: no TLS session"; }
grep -q "handshake done" "$W/hello.out" || fail "no handshake"
grep -q "250 " "$W/hello.out" || fail "no EHLO reply over TLS"
timeout 60 python3 "$W/pipelined.py" "${PORTS[0]}" mixed >"$W/mixed.out" 2>&1 || { cat "$W/mixed.out"; fail "mixed pipeline: not closed after the 220"; }
grep -q "pipelined handshake bytes handed to TLS" "$W/log" || fail "the log does not say the ClientHello went to TLS"
grep -q "plaintext mixed with TLS records behind STARTTLS" "$W/log" || fail "the log does not give the mixed-pipeline diagnostic"
echo "pipelined ClientHello: handshake + EHLO over TLS; mixed pipeline: 220 and closed"
