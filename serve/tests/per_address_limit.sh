#!/usr/bin/env bash
# Issue 19 item 6: --max-per-addr. With 2 connections open from 127.0.0.1, a third from that
# address is refused on every listener with the protocol's refusal before the close -- SMTP
# "421 4.7.0" (RFC 5321 3.8), IMAP "* BYE" (RFC 3501 7.1.5), POP3 "-ERR" (RFC 1939 4) -- and on an
# implicit-TLS port with the close alone (a plaintext line would be a broken TLS record to a
# client that sent a ClientHello); a client from another address (127.0.0.2) is served, and
# once one of the two leaves, 127.0.0.1 is served again. The log names the reason.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 4
printf 'listen 127.0.0.1 %s plain smtp\nlisten 127.0.0.1 %s starttls imap\nlisten 127.0.0.1 %s plain pop3\nlisten 127.0.0.1 %s implicit smtp\ncert test * *\n' \
    "${PORTS[@]}" >"$W/serve.conf"
serve_start "$W/serve.conf" --max-per-addr 2 --max-conns 50
cat >"$W/peraddr.py" <<'PY'
import socket, sys, time
from hostile_peer import Checks, readline, said_until_close
p_smtp, p_imap, p_pop3, p_smtps = map(int, sys.argv[1:5])
check = Checks()
def conn(port, src="127.0.0.1"):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s
def first_line(s):
    try:
        return readline(s)
    except EOFError:
        return b""

a = conn(p_smtp); check(first_line(a).startswith(b"220 "), "1st connection from 127.0.0.1 greeted")
b = conn(p_smtp); check(first_line(b).startswith(b"220 "), "2nd connection from 127.0.0.1 greeted")
for port, want, name in ((p_smtp, b"421 4.7.0 ", "SMTP"), (p_imap, b"* BYE ", "IMAP"), (p_pop3, b"-ERR ", "POP3")):
    said = said_until_close(conn(port))
    check(said is not None and said.startswith(want) and said.endswith(b"\r\n") and said.count(b"\n") == 1,
          "3rd from 127.0.0.1 on %s: one refusal line, then the close: %r" % (name, said))
said = said_until_close(conn(p_smtps))
check(said == b"", "3rd from 127.0.0.1 on the implicit-TLS port: closed without a byte: %r" % said)
o = conn(p_smtp, "127.0.0.2")
check(first_line(o).startswith(b"220 "), "a client from 127.0.0.2 is greeted meanwhile")
a.sendall(b"QUIT\r\n"); said_until_close(a); a.close()
# the server frees the slot in its next loop round: a refusal meanwhile is allowed, a greeting must come
greeted = False
for _ in range(50):
    s = conn(p_smtp)
    if first_line(s).startswith(b"220 "):
        greeted = True
        break
    s.close(); time.sleep(0.1)
check(greeted, "after one of the two left, 127.0.0.1 is greeted again")
sys.exit(check.exit_status())
PY
PYTHONPATH=$MXFUZZ_ROOT/serve/tests timeout 60 python3 "$W/peraddr.py" "${PORTS[@]}" || fail "the per-address limit did not hold (see above)"
grep -q "refused on smtp port ${PORTS[0]}: too many connections from your address" "$W/log" ||
    fail "the log does not give the refusal's reason"
serve_stop
echo "ok: --max-per-addr refuses with 421 / * BYE / -ERR (implicit TLS: the close), other addresses are served"
