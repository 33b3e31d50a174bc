#!/usr/bin/env bash
# corpus/capture.sh end to end: real SMTP STARTTLS sessions on loopback (curl as the client,
# writing its key log; a Python/OpenSSL toy server), captured with dumpcap, imported with
# pcap-import (through --proto, as the port is not a standard one). The message curl sent
# must come out decrypted, after the T event. Four TLS setups, so that every decryption path
# runs on real traffic: TLS 1.3 (default), TLS 1.2 AES128-SHA MAC-then-encrypt (mx/record.h
# CBC), TLS 1.0 AES256-SHA encrypt-then-MAC (mx/record.h EtM, chained IV), TLS 1.2 and 1.3
# ChaCha20-Poly1305, and the HMAC-SHA256/384 CBC suites with encrypt-then-MAC (OpenSSL's
# default) and without (the server refuses it): OpenSSL's own record layer on both ends, libmx
# decrypting what it wrote.
# Needs the right to capture on lo (root or the wireshark group).
set -euo pipefail
ROOT=${MXFUZZ_ROOT:?}
BUILD=${MXFUZZ_BUILD:?}
work=$(mktemp -d)
spid=""
trap '[[ -n $spid ]] && kill $spid 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$work"' EXIT
# terminated: the toy server stopped and $work removed by the EXIT trap (tools/test_group.sh)
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
fail() { echo "FAIL: $*"; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=toy.test \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
printf 'Subject: live capture test\r\n\r\nmxfuzz live capture line one\r\nline two\r\n' >"$work/msg"

run_case() { # name, expected "version suite" regex, server flags, curl TLS options...
    local name=$1 want=$2 sflags=$3
    shift 3
    rm -f "$work/port"
    # shellcheck disable=SC2086
    python3 "$ROOT/capture/tests/toy_smtp.py" "$work/cert.pem" "$work/key.pem" "$work/port" $sflags &
    spid=$!
    for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
    local port
    port=$(cat "$work/port")
    PCAP_IMPORT="$BUILD/tools/pcap-import" bash "$ROOT/corpus/capture.sh" --port "$port" --proto smtp \
        --dir "$work/cap" --name "$name" -- \
        curl -s --max-time 10 --ssl-reqd -k "$@" --mail-from a@example.org --mail-rcpt b@toy.test \
        -T "$work/msg" "smtp://127.0.0.1:$port" >"$work/$name.out" 2>&1 || { cat "$work/$name.out"; fail "$name: capture.sh failed"; }
    wait $spid || true
    spid=""
    grep -E "smtp starttls $want, decrypted" "$work/$name.out" ||
        { cat "$work/$name.out"; fail "$name: not decrypted as $want"; }
    # the dump: STARTTLS in the clear, then tls, then the message inside
    awk '/^client "STARTTLS\\r\\n"/{s=1} s&&/^tls$/{t=1} t&&/mxfuzz live capture line one/{m=1} END{exit !(s&&t&&m)}' \
        "$work/$name.out" || { cat "$work/$name.out"; fail "$name: dump does not show STARTTLS, tls, then the message"; }
}
run_case tls13 "TLSv1.3 TLS_AES_(128|256)_GCM_SHA(256|384)|TLSv1.3 TLS_CHACHA20_POLY1305_SHA256" ""
run_case tls12-cbc-mte "TLSv1.2 TLS_RSA_WITH_AES_128_CBC_SHA" "--no-etm --old-tls" --tlsv1.2 --tls-max 1.2 --ciphers "AES128-SHA:@SECLEVEL=0"
run_case tls10-cbc-etm "TLSv1.0 TLS_RSA_WITH_AES_256_CBC_SHA encrypt-then-MAC" "--old-tls" --tlsv1.0 --tls-max 1.0 --ciphers 'AES256-SHA:@SECLEVEL=0'
run_case tls12-sha256-etm "TLSv1.2 TLS_RSA_WITH_AES_128_CBC_SHA256 encrypt-then-MAC" "--old-tls" --tlsv1.2 --tls-max 1.2 --ciphers AES128-SHA256
run_case tls12-sha256-mte "TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" "--no-etm" --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-SHA256
run_case tls12-sha384-etm "TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384 encrypt-then-MAC" "" --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES256-SHA384
run_case tls12-sha384-mte "TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384" "--no-etm" --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES256-SHA384
run_case tls12-chacha "TLSv1.2 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" "" --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305
run_case tls13-chacha "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256" "" --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256
echo "live capture: ok"
