#!/usr/bin/env bash
# mxsession checks every write and every input size (issue 19, item 11): `decode` and `reads`
# into a full device (/dev/full) exit non-zero with a message, and an endless input (/dev/zero)
# is refused with a clear error instead of being read until memory runs out.
set -euo pipefail
source "$(dirname "$0")/testlib.sh"
: "${MXFUZZ_BUILD:?MXFUZZ_BUILD must point at the test build}"
bin=$MXFUZZ_BUILD/tools/mxsession
f=$(find "$ROOT/corpus/starttls" -type f ! -name ".*" | sort | sed -n 1p) # sed reads it all: head would SIGPIPE sort, and pipefail fail the script
[[ -n $f ]] || fail "no session file under corpus/starttls"
"$bin" decode "$f" >/dev/null || fail "decode $f failed"
for verb in decode reads; do
    rc=0
    err=$("$bin" "$verb" "$f" 2>&1 >/dev/full) || rc=$?
    [[ $rc -ne 0 ]] || fail "mxsession $verb > /dev/full exited 0"
    [[ $err == *mxsession:* ]] || fail "mxsession $verb > /dev/full: no message (stderr: $err)"
    echo "ok: mxsession $verb > /dev/full: exit $rc: $err"
done
rc=0
err=$(timeout 60 "$bin" decode /dev/zero 2>&1 >/dev/null) || rc=$?
[[ $rc -ne 0 && $rc -ne 124 && $rc -lt 128 ]] || fail "mxsession decode /dev/zero: exit $rc (124: still reading after 60 s)"
[[ $err == *"/dev/zero"* ]] || fail "mxsession decode /dev/zero: the message does not name the input: $err"
echo "ok: mxsession decode /dev/zero: exit $rc: $err"
