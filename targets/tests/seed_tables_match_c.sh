#!/usr/bin/env bash
# The seed generators are Python and copy tables of the C targets; this test keeps the copies
# equal to the C and the generators equal to the seeds they wrote:
#  - tools/imap_tls_seeds.py SUITES (version, suite, name; NSUITES = its length), KEYS_LEN and
#    its prefix size against SUITES in targets/oracles/imap_tls_check.c and IMAP_TLS_KEYS_LEN,
#    IMAP_TLS_PREFIX_FIXED in imap_tls_check.h, read from the C source (and the prefix size
#    targets/tests/shipped_sessions.py strips);
#  - tools/record_seeds.py SUITES and its key sizes (CBC block, key material, explicit IV)
#    against record_suites in targets/oracles/record_model.c as the C code sets it up
#    (`record-seeds --suites`: record_conn_init for every index);
#  - both generators, run into a scratch tree, write exactly the seeds shipped in
#    corpus/imap_tls/ (by name) and corpus/record_diff/ (by content hash).
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
export PYTHONDONTWRITEBYTECODE=1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ---- imap_tls: the C source's table vs the Python copy
IMAP_TLS_C="targets/oracles/imap_tls_check.h and .c"
python3 - "$ROOT/targets/oracles/imap_tls_check.h" "$ROOT/targets/oracles/imap_tls_check.c" \
    >"$W/imap_tls.c.txt" <<'PY' || bad "cannot read the tables of $IMAP_TLS_C"
import re, sys
src = open(sys.argv[1]).read() + open(sys.argv[2]).read()
keys = re.search(r"^#define IMAP_TLS_KEYS_LEN (\d+)$", src, re.M)
table = re.search(r"\}\s*SUITES\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
if not keys or not table:
    sys.exit("imap_tls_check.h/.c: no '#define IMAP_TLS_KEYS_LEN' or no 'SUITES[] = {...};'")
print("KEYS_LEN %s" % keys.group(1))
fixed = re.search(r"^#define IMAP_TLS_PREFIX_FIXED \(([0-9 +A-Z_]+)\)$", src, re.M)
if not fixed:
    sys.exit("imap_tls_check.h: no '#define IMAP_TLS_PREFIX_FIXED (...)'")
print("PREFIX_FIXED %d" % eval(fixed.group(1).replace("IMAP_TLS_KEYS_LEN", keys.group(1)), {}))
rows = re.findall(r'\{\s*0x([0-9A-Fa-f]+),\s*0x([0-9A-Fa-f]+),\s*"([^"]*)"\s*\}', table.group(1))
for i, (v, s, name) in enumerate(rows):
    print("%d 0x%04x 0x%04x %s" % (i, int(v, 16), int(s, 16), name))
PY
python3 "$ROOT/tools/imap_tls_seeds.py" --suites >"$W/imap_tls.py.txt"
if ! diff -u "$W/imap_tls.c.txt" "$W/imap_tls.py.txt" >"$W/d1"; then
    bad "tools/imap_tls_seeds.py SUITES/KEYS_LEN differ from $IMAP_TLS_C (- C, + Python):"
    cat "$W/d1"
fi
# targets/tests/shipped_sessions.py strips the same prefix to find the session
want=$(sed -n 's/^PREFIX_FIXED //p' "$W/imap_tls.c.txt")
got=$(cd "$ROOT/targets/tests" && python3 -c 'import shipped_sessions as s; print(s.IMAP_TLS_PREFIX_FIXED)')
[[ $want == "$got" ]] || bad "targets/tests/shipped_sessions.py strips $got prefix bytes, $IMAP_TLS_C has $want"
n_imap_tls=$(($(wc -l <"$W/imap_tls.c.txt") - 2))
[[ $n_imap_tls -ge 1 ]] || bad "no suites found in $IMAP_TLS_C"

# ---- record targets: the C table as the C code sets it up vs the Python copy
"$BUILD/tools/record-seeds" --suites >"$W/record.c.txt" || bad "record-seeds --suites failed"
python3 "$ROOT/tools/record_seeds.py" --suites >"$W/record.py.txt"
if ! diff -u "$W/record.c.txt" "$W/record.py.txt" >"$W/d2"; then
    bad "tools/record_seeds.py SUITES/info() differ from record_model.c (- C, + Python; index version suite etm block key-material explicit-IV):"
    cat "$W/d2"
fi
n_record=$(wc -l <"$W/record.c.txt")
[[ $n_record -ge 1 ]] || bad "record-seeds --suites printed nothing"

# ---- the generators write the shipped seeds
mkdir -p "$W/tree/corpus/sessions"
ln -s "$ROOT/corpus/imap" "$W/tree/corpus/imap"
ln -s "$ROOT/corpus/sessions/imap" "$W/tree/corpus/sessions/imap"
python3 "$ROOT/tools/imap_tls_seeds.py" "$W/tree" >/dev/null || bad "tools/imap_tls_seeds.py failed"
python3 "$ROOT/tools/record_seeds.py" "$W/tree" || bad "tools/record_seeds.py failed"
gen=0
for f in "$W"/tree/corpus/imap_tls/* "$W"/tree/corpus/record_diff/*; do
    [[ -f $f ]] || continue
    rel=${f#"$W/tree/"}
    cmp -s "$f" "$ROOT/$rel" || bad "the generator's $rel is not the shipped one"
    gen=$((gen + 1))
done
[[ $gen -ge 2 ]] || bad "the generators wrote $gen seeds"
echo "seed tables: imap_tls $n_imap_tls suites, record $n_record suites; $gen generated seeds equal the shipped ones; $fails failure(s)"
[[ $fails -eq 0 ]]
