#!/usr/bin/env bash
# A corpus directory that cannot be written fails the campaign (issue 19, item 3): exit status
# non-zero, the message names the directory and where the unsaved new inputs are, and they are
# there, whole; the corpus is unchanged. Fake engine (testlib.sh). As root the directory is made
# immutable (chattr +i), else read-only (chmod 555).
set -euo pipefail
source "$(dirname "$0")/testlib.sh"
camp_init chain
printf 'seed\n' >"$W/corpus/chain/$(printf 'seed\n' | sha1sum | cut -c1-40)"
d=$W/corpus/chain
CAMP_IMMUTABLE+=("$d")
if [[ $(id -u) -eq 0 ]]; then
    chattr +i "$d" 2>/dev/null || { echo "SKIP: chattr +i is not supported here and we are root"; exit 0; }
else
    chmod 555 "$d"
fi
touch "$d/probe" 2>/dev/null && { rm -f "$d/probe"; echo "SKIP: cannot make $d unwritable"; exit 0; }
rc=0
camp_run 1 1 "$W/runs" chain >"$W/out" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "the campaign exited 0 with an unwritable corpus:
$(cat "$W/out")"
grep -q "$d" "$W/out" || fail "the message does not name $d:
$(cat "$W/out")"
unsaved=$(grep -o '[^ ]*/unsaved/' "$W/out" | head -n 1)
[[ -n $unsaved && -d $unsaved ]] || fail "the message does not say where the unsaved inputs are:
$(cat "$W/out")"
n=$(find "$unsaved" -type f | wc -l)
[[ $n -eq 3 ]] || fail "want the 3 new inputs in $unsaved, got $n"
for f in "$unsaved"/*; do [[ $(sha1sum "$f" | cut -c1-40) == "$(basename "$f")" ]] || fail "$f is not whole"; done
[[ $(find "$d" -type f | wc -l) -eq 1 ]] || fail "the corpus changed"
if grep -q 'no crashes' "$W/out"; then fail "it still says 'no crashes' as if all went well"; fi
echo "ok: unwritable corpus: exit $rc, message names $d and the $n unsaved inputs' directory:"
grep -A2 'cannot write' "$W/out" | sed 's/^/    /'
