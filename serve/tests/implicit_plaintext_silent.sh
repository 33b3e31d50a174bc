#!/usr/bin/env bash
# Issue 12 rule 2 over real sockets (RFC 8314 3.3 / 7): a plaintext client on an implicit-TLS
# listener (SMTP 465, IMAP 993, POP3 995 style) gets no byte at all, only the close; the reason
# and what it sent are in the mx-serve log. The same ports still serve a real TLS client
# (openssl s_client gets the greeting inside TLS), and the hand-written sessions of the rule
# replay byte-exact through tools/session-send.py --compare (they record no reply: any byte
# from the server is a mismatch).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 3
: >"$W/serve.conf"
i=0
for p in smtp imap pop3; do
    echo "listen 127.0.0.1 ${PORTS[$i]} implicit $p" >>"$W/serve.conf"
    echo "cert test 127.0.0.1 ${PORTS[$i]}" >>"$W/serve.conf"
    i=$((i + 1))
done
serve_start "$W/serve.conf"

# a plaintext command on each implicit port: EOF with no byte before it
i=0
for cmd in 'EHLO plain.test' 'a CAPABILITY' 'USER alice'; do
    python3 - "${PORTS[$i]}" "$cmd" <<'PY' || fail "plaintext '$cmd' on an implicit port"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode() + b"\r\n")
data = b""
while True:
    d = s.recv(4096)      # a timeout (no close) raises: the test fails
    if not d:
        break
    data += d
assert data == b"", "plaintext reply on an implicit-TLS port: %r" % data
PY
    i=$((i + 1))
done
n=$(grep -c "diagnostic: plaintext client on an implicit-TLS listener: closed without a reply" "$W/log" || true)
[[ $n -eq 3 ]] || fail "want 3 diagnostics for plaintext on an implicit port, got $n"
grep -q "without a reply (RFC 8314 3.3); 12 unread bytes dropped" "$W/log" || fail "the log does not say what the client sent"
echo "ok: plaintext on implicit SMTP/IMAP/POP3: closed without a byte, logged server-side"

# the hand-written sessions of the rule, byte-exact
for p in smtp imap pop3; do
    port=${PORTS[0]}
    [[ $p == imap ]] && port=${PORTS[1]}
    [[ $p == pop3 ]] && port=${PORTS[2]}
    replay_session "$p-implicit-plaintext" "$port"
    grep -q "server closed the connection" "$W/$p-implicit-plaintext.out" ||
        { cat "$W/$p-implicit-plaintext.out"; fail "$p: no close"; }
done
echo "ok: corpus/starttls/{smtp,imap,pop3}-implicit-plaintext replay byte-exact"

# a real TLS client on the same ports: the greeting inside TLS
i=0
for want in '^220 ' '^\* OK ' '^+OK '; do
    timeout 20 openssl s_client -connect "127.0.0.1:${PORTS[$i]}" -quiet </dev/null >"$W/sc$i.out" 2>&1 || true
    grep -q "$want" "$W/sc$i.out" || { cat "$W/sc$i.out"; fail "openssl s_client on implicit port $i: no greeting"; }
    i=$((i + 1))
done
echo "ok: openssl s_client gets the greeting over implicit TLS on the same ports"
serve_stop
