#!/usr/bin/env bash
# corpus/capture.sh - record a real mail session on loopback, with the client's TLS key log,
# and turn it into session files for the corpora (capture/, the pcap-import command).
#
# usage: corpus/capture.sh --port N [--proto smtp|imap|pop3[:implicit]] [--name NAME]
#                          [--dir DIR] [--iface IF] [--import] -- CLIENT [ARG...]
#
#   Starts dumpcap on IF (default lo) with the filter "tcp port N", runs CLIENT with
#   SSLKEYLOGFILE set to DIR/NAME.keys (curl, Python's ssl module, NSS and BoringSSL clients
#   honour it; for openssl s_client pass -keylogfile "$SSLKEYLOGFILE", which the script puts
#   in the client's environment), stops the capture when the client exits, and writes
#   DIR/NAME.pcapng and DIR/NAME.keys (DIR default: corpus/captures/local, NAME default:
#   capture-<date>). Then it runs pcap-import on the capture: --dump prints the session, and
#   with --import the sessions are also written into corpus/imap/ and corpus/starttls/
#   (content-hash names, never overwriting). --proto maps the port when it is not a standard
#   one (25 587 465 smtp, 143 993 imap, 110 995 pop3).
#   Needs: dumpcap (wireshark-common; root or the wireshark group), a built pcap-import
#   (./build.sh test builds build/test/tools/pcap-import, or set PCAP_IMPORT).
#
# Examples (a server listening on 127.0.0.1):
#   corpus/capture.sh --port 25 --name smtp-curl -- curl -s --ssl-reqd -k \
#       --mail-from a@example.org --mail-rcpt b@mail.test -T msg.txt smtp://127.0.0.1:25
#   corpus/capture.sh --port 143 --name imap-sclient -- sh -c \
#       'printf "a LOGIN alice secret\r\nb LOGOUT\r\n" | openssl s_client -quiet -starttls imap \
#        -connect 127.0.0.1:143 -keylogfile "$SSLKEYLOGFILE"'
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port="" proto="" name="capture-$(date +%Y%m%d-%H%M%S)" dir="$ROOT/corpus/captures/local"
iface=lo import=0
die() { printf 'capture.sh: %s\n' "$*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --port) port=${2:?--port needs a number}; shift 2 ;;
    --proto) proto=${2:?--proto needs smtp, imap or pop3}; shift 2 ;;
    --name) name=${2:?--name needs a name}; shift 2 ;;
    --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
    --iface) iface=${2:?--iface needs an interface}; shift 2 ;;
    --import) import=1; shift ;;
    --) shift; break ;;
    -h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (the client command goes after --)" ;;
    esac
done
[[ $port =~ ^[0-9]+$ && $port -gt 0 && $port -lt 65536 ]] || die "--port N is required"
[[ $# -gt 0 ]] || die "no client command given (after --)"
[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "--name: letters, digits, . _ - only"
command -v dumpcap >/dev/null || die "dumpcap not found (apt-get install wireshark-common)"
importer=${PCAP_IMPORT:-$ROOT/build/test/tools/pcap-import}
[[ -x $importer ]] || die "no pcap-import at $importer (run ./build.sh test, or set PCAP_IMPORT)"

mkdir -p "$dir"
cap="$dir/$name.pcapng" keys="$dir/$name.keys"
[[ -e $cap || -e $keys ]] && die "$cap or $keys exists already; pick another --name"
: >"$keys"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

dumpcap -q -i "$iface" -f "tcp port $port" -w "$cap" 2>"$log" &
dpid=$!
# wait until dumpcap is capturing (it says so on stderr), at most 10 s
for _ in $(seq 100); do
    grep -q "Capturing on" "$log" 2>/dev/null && break
    kill -0 "$dpid" 2>/dev/null || { cat "$log" >&2; die "dumpcap did not start"; }
    sleep 0.1
done
grep -q "Capturing on" "$log" || { kill "$dpid"; cat "$log" >&2; die "dumpcap did not start capturing"; }
# "Capturing on" can come a moment before packets are really captured: on a loaded machine the
# first packets of the session (the ClientHello) were seen missing. Give the capture a second.
sleep 1

set +e
SSLKEYLOGFILE="$keys" "$@"
crc=$?
set -e
sleep 1.5 # let the last packets (FIN/ACK) reach the capture (generous: CI runs tests in parallel)
kill -INT "$dpid"
wait "$dpid" || true
[[ $crc -eq 0 ]] || printf 'capture.sh: the client exited with status %d (the capture is kept)\n' "$crc" >&2
printf 'capture.sh: wrote %s (%s bytes) and %s (%s lines)\n' "$cap" "$(stat -c %s "$cap")" \
    "$keys" "$(wc -l <"$keys")"

args=()
[[ -s $keys ]] && args+=(--keylog "$keys")
[[ -n $proto ]] && args+=(--port "$port:$proto")
if [[ $import -eq 1 ]]; then
    "$importer" "${args[@]}" --out "$ROOT/corpus" --dump "$cap"
else
    "$importer" "${args[@]}" --dump "$cap"
fi
