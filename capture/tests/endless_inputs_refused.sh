#!/usr/bin/env bash
# pcap-import bounds what it reads (issue 19, item 11): /dev/zero as key log or as capture is
# refused with a message naming it and the limit (256 MiB each), instead of being read until
# memory runs out.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${MXFUZZ_BUILD:?MXFUZZ_BUILD must point at the test build}"
bin=$MXFUZZ_BUILD/tools/pcap-import
cap=$ROOT/corpus/captures/b02-smtps-implicit-tls1.3-sclient.pcapng
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
for args in "--keylog /dev/zero $cap" "/dev/zero"; do
    rc=0
    # shellcheck disable=SC2086
    err=$(timeout 120 "$bin" --out "$W/out" $args 2>&1 >/dev/null) || rc=$?
    [[ $rc -ne 0 && $rc -ne 124 && $rc -lt 128 ]] || fail "pcap-import $args: exit $rc (124: still reading after 120 s)"
    grep -q '/dev/zero: larger than 256 MiB' <<<"$err" || fail "pcap-import $args: no clear message: $err"
    echo "ok: pcap-import $args: exit $rc: $(grep 'larger than' <<<"$err")"
done
