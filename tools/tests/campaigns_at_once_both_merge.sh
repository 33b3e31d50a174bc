#!/usr/bin/env bash
# Two campaigns on one target started in the same second (issue 19, item 2): each gets a run
# directory of its own and their merges into corpus/T serialize (a lock per corpus), so both
# succeed and every new input of both reaches the corpus, whole. Fake engine (testlib.sh) whose
# merge takes 1 s, so that the two merges overlap without the lock.
set -euo pipefail
source "$(dirname "$0")/testlib.sh"
camp_init chain
printf 'seed\n' >"$W/corpus/chain/$(printf 'seed\n' | sha1sum | cut -c1-40)"
FAKE_MERGE_SLEEP=1 camp_run 1 1 "$W/runs" chain >"$W/a.out" 2>&1 & a=$!
FAKE_MERGE_SLEEP=1 camp_run 1 1 "$W/runs" chain >"$W/b.out" 2>&1 & b=$!
ra=0 rb=0
wait "$a" || ra=$?
wait "$b" || rb=$?
[[ $ra -eq 0 && $rb -eq 0 ]] || fail "campaign exit statuses $ra and $rb, want 0 and 0
--- first:
$(cat "$W/a.out")
--- second:
$(cat "$W/b.out")"
n=$(find "$W/runs" -mindepth 1 -maxdepth 1 -type d | wc -l)
[[ $n -eq 2 ]] || fail "want two run directories under runs/, got $n"
corpus_whole chain
n=$(find "$W/corpus/chain" -type f | wc -l)
[[ $n -eq 7 ]] || fail "want the seed + 3 + 3 new inputs in corpus/chain, got $n"
echo "ok: two concurrent campaigns: two run directories, both merges succeeded, corpus/chain holds $n whole files"
