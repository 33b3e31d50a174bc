#!/usr/bin/env bash
# serve/capture.sh end to end: sessions against mx-serve recorded with dumpcap on lo and
# imported with pcap-import, decrypted with mx-serve's own key log (swaks writes none; curl
# writes its own, merged). The imported session must contain the message that was sent.
# Needs the right to capture on lo (root or the wireshark group).
set -euo pipefail
ROOT=${MXFUZZ_ROOT:?}
export MXFUZZ_BUILD=${MXFUZZ_BUILD:?}
out=$(mktemp -d "${TMPDIR:-/tmp}/mx-serve-capture.XXXXXX")
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# swaks over STARTTLS (no client key log at all)
timeout 60 "$ROOT/serve/capture.sh" --proto smtp --size 2000 --dir "$out" --name swaks -- \
    sh -c 'swaks --server 127.0.0.1 --port $PORT --tls --to alice@mx-serve.test --data @$MSG >/dev/null && cp $MSG '"$out"'/swaks.msg' \
    >"$out/swaks.txt" 2>&1 || { cat "$out/swaks.txt"; fail "capture with swaks"; }
grep -q "smtp 1 (plaintext 0, starttls 1, implicit 0)" "$out/swaks.txt" || fail "swaks session not imported: $(tail -5 "$out/swaks.txt")"
grep -q "TLS: decrypted 1" "$out/swaks.txt" || fail "swaks session not decrypted with mx-serve's key log"
[[ -s $out/swaks.keys ]] || fail "no key log"
# the message's last text line is in the decrypted dump
last=$(tail -n 2 "$out/swaks.msg" | head -n 1 | tr -d '\r')
grep -qF "$last" "$out/swaks.txt" || fail "the message text is not in the imported session"
echo "ok: swaks STARTTLS session captured, decrypted with mx-serve's key log, imported"

# curl IMAP APPEND over implicit TLS (curl writes SSLKEYLOGFILE itself; merged with mx-serve's)
timeout 60 "$ROOT/serve/capture.sh" --proto imap --mode implicit --size 3000 --dir "$out" --name curl -- \
    sh -c 'curl -s --cacert $CERT --resolve mx-serve.test:$PORT:127.0.0.1 -u alice:secret -T $MSG imaps://mx-serve.test:$PORT/INBOX' \
    >"$out/curl.txt" 2>&1 || { cat "$out/curl.txt"; fail "capture with curl"; }
grep -q "imap 1 (plaintext 0, starttls 0, implicit 1)" "$out/curl.txt" || fail "curl session not imported"
grep -q "TLS: decrypted 1" "$out/curl.txt" || fail "curl session not decrypted"
grep -q 'APPEND' "$out/curl.txt" || fail "no APPEND in the imported session"
echo "ok: curl imaps APPEND session captured and imported"
echo "PASS serve_capture"
