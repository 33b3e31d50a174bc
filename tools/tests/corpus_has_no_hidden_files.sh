#!/usr/bin/env bash
# The shipped corpus holds no hidden file (issue 19, item 1): a `.<sha1>.tmp` left in corpus/T by
# a killed campaign would be loaded by libFuzzer as a seed and shipped in T_seed_corpus.zip,
# while the replaying corpus/T test skips it. Checks every target's corpus/T and repro/T (and
# first that the check itself catches one).
set -euo pipefail
source "$(dirname "$0")/testlib.sh"
hidden() { [[ -d $1 ]] || return 0; find "$1" -mindepth 1 -name '.*'; }
camp_init chain
: >"$W/corpus/chain/.0123456789abcdef0123456789abcdef01234567.tmp"
[[ -n $(hidden "$W/corpus/chain") ]] || fail "the check misses a hidden temp file"
bad=0
for t in $("$ROOT/build.sh" targets --names); do
    for d in "$ROOT/corpus/$t" "$ROOT/repro/$t"; do
        h=$(hidden "$d")
        if [[ -n $h ]]; then echo "FAIL: hidden files in ${d#"$ROOT"/}: $h"; bad=$((bad + 1)); fi
    done
done
[[ $bad -eq 0 ]] || fail "hidden files in the shipped corpus or reproducers (remove them: they are no inputs)"
echo "ok: no hidden file in corpus/ or repro/ of any target"
