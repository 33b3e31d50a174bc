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
# terminated: wait for serve/capture.sh (its mx-serve stopped by its own trap), then remove $out
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
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
# issue 16: the header of a recorded session says what the server did. Python's imaplib against
# a literal-minus listener: CAPABILITY lists LITERAL- and (STARTTLS offered) LOGINDISABLED, so the
# seed is version 3 with `literal minus` and `tls-required yes`; sent to a fresh mx-serve on a
# listener made from that header (testlib.sh session_listener) with session-send --compare, every
# reply carries the captured reply's status, after STARTTLS and login too.
timeout 60 "$ROOT/serve/capture.sh" --proto imap --option literal-minus --dir "$out" --name imaplib -- \
    python3 -c 'import imaplib, os, ssl
ctx = ssl.create_default_context(cafile=os.environ["CERT"])
ctx.check_hostname = False
c = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT"]))
assert "LITERAL-" in c.capabilities and "LITERAL+" not in c.capabilities, c.capabilities
c.starttls(ssl_context=ctx)
c.login("alice", "secret")
assert c.append("INBOX", None, None, b"Subject: literal minus\r\n\r\nhello\r\n")[0] == "OK"
c.logout()' >"$out/imaplib.txt" 2>&1 || { cat "$out/imaplib.txt"; fail "capture with imaplib"; }
grep -q "TLS: decrypted 1" "$out/imaplib.txt" || fail "imaplib session not decrypted: $(tail -5 "$out/imaplib.txt")"
grep -q "header: mode starttls, cert yes, tls-required yes, literal minus (version 3)" "$out/imaplib.txt" ||
    { grep header "$out/imaplib.txt"; fail "the imaplib seed's header is not what mx-serve did"; }
# replay NAME [ARGS]: the seed imported from capture NAME (its key log; ARGS for pcap-import),
# sent to a fresh mx-serve on a listener made from its header with session-send --compare:
# every reply carries the status the captured one did (mx-serve both times: same line counts)
replay() {
    "$MXFUZZ_BUILD/tools/pcap-import" --keylog "$out/$1.keys" --out "$out/$1.out" "${@:2}" "$out/$1.pcapng" \
        >"$out/$1.import" 2>&1 || { cat "$out/$1.import"; fail "pcap-import of the $1 capture"; }
    seed=$(ls "$out/$1.out/starttls/"* | head -1)
    (
        source "$ROOT/serve/tests/testlib.sh"
        serve_init
        serve_ports 1
        session_listener "$seed" "${PORTS[0]}" >"$W/serve.conf"
        serve_start "$W/serve.conf"
        timeout 60 python3 "$ROOT/tools/session-send.py" --compare --port "${PORTS[0]}" "$seed" >"$out/$1.replay" 2>&1 ||
            { cat "$out/$1.replay"; fail "the imported $1 seed does not replay through mx-serve"; }
        serve_stop
    )
}
replay imaplib
"$MXFUZZ_BUILD/tools/mxsession" decode "$seed" | grep -qx "version 3" || fail "the LITERAL- seed is not version 3"
echo "ok: imaplib on a literal-minus listener captured; the seed (v3, literal minus, tls-required) replays through mx-serve"
# the two captures above too (issue 16: every capture the tests make replays)
replay swaks
# implicit TLS on a port of no protocol: the port from serve/capture.sh's import
port=$(grep -o -m1 -- '-> 127.0.0.1:[0-9]* imap implicit' "$out/curl.txt" | cut -d: -f2 | cut -d' ' -f1)
replay curl --port "$port:imap:implicit"
echo "ok: the swaks (STARTTLS) and curl (implicit TLS) seeds replay through mx-serve"
echo "PASS serve_capture"
