#!/usr/bin/env bash
# capture.sh - grow corpora from sessions against mx-serve: starts mx-serve on a free loopback
# port (one listener, a throwaway certificate, server-side key log), and records one client
# session with corpus/capture.sh (dumpcap on lo + key log + pcap-import). mx-serve's own key
# log is merged into the capture's key log before the import, so clients that write none
# (swaks, Net::SSLeay) are decrypted too.
#
# usage: serve/capture.sh [--proto smtp|imap|pop3] [--mode starttls|implicit]
#            [--option tls-required|literal-minus]... [--size BYTES] [--name NAME] [--dir DIR]
#            [--import] [-- CLIENT [ARG...]]
#
#   --option: a listener option of libmx's configuration (docs/listen.md) for the one listener.
#
#   Without a CLIENT, serve-client sends one generated message of --size bytes (default 3000;
#   POP3: the message is put into the Maildir first and retrieved with RETR 1). A CLIENT runs
#   with PORT, CERT (the certificate, for --cacert/-CAfile), MSG (the generated message) and
#   SSLKEYLOGFILE in its environment; the test login is alice:secret. Examples:
#     serve/capture.sh --proto smtp --name smtp-swaks -- \
#         sh -c 'swaks --server 127.0.0.1 --port $PORT --tls --to alice@mx-serve.test --data @$MSG'
#     serve/capture.sh --proto imap --mode implicit --name imaps-curl -- \
#         sh -c 'curl -s --cacert $CERT --resolve mx-serve.test:$PORT:127.0.0.1 -u alice:secret -T $MSG imaps://mx-serve.test:$PORT/INBOX'
#   --dir, --name, --import: as corpus/capture.sh (default dir corpus/captures/local;
#   --import writes the sessions into corpus/imap/ and corpus/starttls/).
# Needs: a test build (./build.sh test: mx-serve, serve-client, pcap-import), dumpcap (root or
# the wireshark group), openssl, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MXFUZZ_BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
# shellcheck source=serve/tests/testlib.sh
source "$ROOT/serve/tests/testlib.sh"

proto=smtp mode=starttls size=3000 pass=() opts=""
while [[ $# -gt 0 ]]; do
    case $1 in
    --proto) proto=${2:?}; shift 2 ;;
    --mode) mode=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --option) opts="$opts ${2:?}"; shift 2 ;;
    --name | --dir) pass+=("$1" "${2:?}"); shift 2 ;;
    --import) pass+=(--import); shift ;;
    --) shift; break ;;
    -h | --help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "capture.sh: unknown option '$1' (--help)" >&2; exit 2 ;;
    esac
done
[[ $proto =~ ^(smtp|imap|pop3)$ ]] || { echo "capture.sh: --proto smtp|imap|pop3" >&2; exit 2; }
[[ $mode =~ ^(starttls|implicit)$ ]] || { echo "capture.sh: --mode starttls|implicit" >&2; exit 2; }
[[ $size =~ ^[0-9]+$ && $size -ge 3 ]] || { echo "capture.sh: --size: a number >= 3" >&2; exit 2; }

serve_init
serve_ports 1
PORT=${PORTS[0]}
printf 'listen 127.0.0.1 %s %s %s%s\ncert test * *\n' "$PORT" "$mode" "$proto" "$opts" >"$W/serve.conf"
serve_start "$W/serve.conf" --keylog "$W/server.keys"
gen_message "$W/msg" "$size"
export PORT CERT MSG=$W/msg SERVER_KEYS=$W/server.keys

if [[ $# -eq 0 ]]; then
    impl=()
    [[ $mode == implicit ]] && impl=(--implicit)
    if [[ $proto == pop3 ]]; then
        mkdir -p "$W/md/new"
        cp "$W/msg" "$W/md/new/0000000000.M000000P0Q000000.capture,S=$size"
        set -- "$CLIENT_BIN" --quiet --proto pop3 --port "$PORT" "${impl[@]}" --retr 1 --out /dev/null
    else
        set -- "$CLIENT_BIN" --quiet --proto "$proto" --port "$PORT" "${impl[@]}" --message "$W/msg"
    fi
fi
pproto=$proto
[[ $mode == implicit ]] && pproto=$proto:implicit
# the client, then mx-serve's key log lines merged into the capture's key log
# shellcheck disable=SC2016
"$ROOT/corpus/capture.sh" --port "$PORT" --proto "$pproto" "${pass[@]}" -- bash -c '
    rc=0
    "$@" || rc=$?
    sort -u "$SERVER_KEYS" "$SSLKEYLOGFILE" >"$SSLKEYLOGFILE.merged" && cat "$SSLKEYLOGFILE.merged" >"$SSLKEYLOGFILE"
    rm -f "$SSLKEYLOGFILE.merged"
    exit $rc' capture-client "$@"
serve_stop
