#!/usr/bin/env bash
# mx-serve with the client's byte stream cut into tiny TCP segments: a proxy forwards
# client->server bytes in pieces of 1..7 bytes (with a pause after each, so that the server
# reads them separately) for the first 2000 bytes -- the STARTTLS dialogue, the whole TLS
# handshake, the first records -- and in random pieces of 1..4000 bytes after that. The
# byte-exact handshake BIO must follow record headers split anywhere, the switch to libmx's
# decrypter must happen at the exact record boundary, and records split over many reads must
# decrypt: every message must be stored byte-identical.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 4
P_SMTP=${PORTS[0]} P_IMAP=${PORTS[1]} X_SMTP=${PORTS[2]} X_IMAP=${PORTS[3]}
printf 'listen 127.0.0.1 %s starttls smtp\nlisten 127.0.0.1 %s starttls imap\ncert test * *\n' "$P_SMTP" "$P_IMAP" >"$W/serve.conf"
serve_start "$W/serve.conf"
gen_message "$W/m" 16385 21

python3 - "$X_SMTP" "$P_SMTP" "$X_IMAP" "$P_IMAP" >"$W/proxy.log" 2>&1 <<'PY' &
import random, socket, sys, threading, time
def pump(src, dst, chop, seed):
    rnd = random.Random(seed)
    sent = 0
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            i = 0
            while i < len(d):
                k = rnd.randint(1, 7) if (chop and sent < 2000) else rnd.randint(1, 4000)
                dst.sendall(d[i:i + k])
                if chop and sent < 2000:
                    time.sleep(0.0005)
                i += k
                sent += k
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve(lport, dport):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(16)
    n = 0
    while True:
        c, _ = ls.accept()
        s = socket.create_connection(("127.0.0.1", dport))
        for x in (c, s):
            x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n += 1
        threading.Thread(target=pump, args=(c, s, True, n), daemon=True).start()
        threading.Thread(target=pump, args=(s, c, False, n), daemon=True).start()
for lp, dp in ((int(sys.argv[1]), int(sys.argv[2])), (int(sys.argv[3]), int(sys.argv[4]))):
    threading.Thread(target=serve, args=(lp, dp), daemon=True).start()
time.sleep(120)
PY
ppid=$!
trap 'kill $ppid 2>/dev/null; serve_cleanup' EXIT
for _ in $(seq 50); do python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=1).close()" "$X_IMAP" 2>/dev/null && break; sleep 0.1; done

C=("$CLIENT_BIN" --quiet)
n=0
for tls in "--tls 1.0 --cipher AES128-SHA" "--tls 1.0 --cipher DES-CBC3-SHA" "--tls 1.2 --cipher ECDHE-RSA-AES128-GCM-SHA256" \
    "--tls 1.3 --key-update"; do
    # shellcheck disable=SC2086
    timeout 60 "${C[@]}" --proto smtp --port "$X_SMTP" $tls --message "$W/m" >/dev/null || fail "fragmented smtp $tls"
    # shellcheck disable=SC2086
    timeout 60 "${C[@]}" --proto imap --port "$X_IMAP" $tls --message "$W/m" >/dev/null || fail "fragmented imap $tls"
    n=$((n + 2))
    echo "ok: 1..7-byte segments through the handshake: $tls (smtp, imap)"
done
[[ $(stored_count) -eq $n ]] || fail "$(stored_count) stored, want $n"
for f in "$W"/md/new/*; do cmp -s "$f" "$W/m" || fail "stored $(basename "$f") differs"; done
grep -q "internal:" "$W/log" && fail "internal error logged: $(grep internal: "$W/log" | head -3)"
serve_stop
echo "PASS serve_fragment"
