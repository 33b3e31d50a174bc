#!/usr/bin/env bash
# A 300,000-line key log (issue 19, item 10): the wanted keys come last, after 300,000 lines of
# other client randoms (about 100,000 distinct ones); pcap-import keeps every entry (there was a
# 65,536-entry cap that silently dropped the newest) and decrypts the session exactly as with
# its own small key log. An unparsable line is warned about. The time taken is printed (not
# asserted): parsing used to be quadratic (56 s for 300k lines).
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${MXFUZZ_BUILD:?MXFUZZ_BUILD must point at the test build}"
bin=$MXFUZZ_BUILD/tools/pcap-import
cap=$ROOT/corpus/captures/b02-smtps-implicit-tls1.3-sclient
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 - "$W/big.keys" "$cap.keys" <<'PY'
import random, sys
rnd = random.Random(19)
labels = ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"]
with open(sys.argv[1], "w") as f:
    f.write("this line is not a key log line\n")
    n = 1
    while n < 300000:
        cr = "%064x" % rnd.getrandbits(256)
        for l in labels:
            f.write("%s %s %s\n" % (l, cr, "%064x" % rnd.getrandbits(256)))
            n += 1
    f.write(open(sys.argv[2]).read())
PY
lines=$(wc -l <"$W/big.keys")
[[ $lines -ge 300000 ]] || fail "generated only $lines lines"
"$bin" --keylog "$cap.keys" --out "$W/small" "$cap.pcapng" >"$W/small.log" 2>&1 || fail "import with the small key log failed: $(cat "$W/small.log")"
start=$(date +%s.%N)
rc=0
timeout 120 "$bin" --keylog "$W/big.keys" --out "$W/big" "$cap.pcapng" >"$W/big.log" 2>&1 || rc=$?
secs=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
[[ $rc -eq 0 ]] || fail "import with the $lines-line key log: exit $rc: $(tail -5 "$W/big.log")"
grep -q 'decrypted;' "$W/big.log" || fail "the session was not decrypted with the $lines-line key log: $(cat "$W/big.log")"
diff -r "$W/small" "$W/big" >/dev/null || fail "the sessions differ from those imported with the small key log"
grep -q 'not understood' "$W/big.log" || fail "no warning about the unparsable line: $(cat "$W/big.log")"
echo "ok: $lines-line key log ($(du -h "$W/big.keys" | cut -f1)): newest keys kept, session decrypted as with its own key log, in ${secs}s (ASan build)"
echo "ok: $(grep 'not understood' "$W/big.log")"
