#!/usr/bin/env bash
# corpus/capture.sh end to end: a real SMTP STARTTLS session on loopback (curl as the client,
# writing its key log; a Python/OpenSSL toy server), captured with dumpcap, imported with
# pcap-import (through --proto, as the port is not a standard one). The message curl sent
# must come out decrypted, after the T event, as one C event per TLS record.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:?}
BUILD=${MXFUZZ_BUILD:?}
work=$(mktemp -d)
spid=""
trap '[[ -n $spid ]] && kill $spid 2>/dev/null; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=toy.test -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
python3 "$ROOT/tests/pcap_import/toy_smtp.py" "$work/cert.pem" "$work/key.pem" "$work/port" &
spid=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")
printf 'Subject: live capture test\r\n\r\nmxfuzz live capture line one\r\nline two\r\n' >"$work/msg"
PCAP_IMPORT="$BUILD/tools/pcap-import" bash "$ROOT/corpus/capture.sh" --port "$port" --proto smtp \
    --dir "$work/cap" --name live -- \
    curl -s --max-time 10 --ssl-reqd -k --mail-from a@example.org --mail-rcpt b@toy.test \
    -T "$work/msg" "smtp://127.0.0.1:$port" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
wait $spid || true
spid=""
cat "$work/out"
fail() { echo "FAIL: $*"; exit 1; }
grep -q "smtp starttls TLSv1.[23] .*decrypted" "$work/out" || fail "the session was not decrypted"
# the dump: STARTTLS in the clear, then tls, then the message inside
awk '/^client "STARTTLS\\r\\n"/{s=1} s&&/^tls$/{t=1} t&&/mxfuzz live capture line one/{m=1} END{exit !(s&&t&&m)}' \
    "$work/out" || fail "dump does not show STARTTLS, tls, then the message"
echo "live capture: ok"
