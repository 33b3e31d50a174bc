#!/usr/bin/env bash
# Campaign temp files never live in corpus/ (issue 19, item 1): a run sweeps what an earlier
# killed run left (a hidden .<sha1>.tmp in corpus/T, whole or empty, and its own staging files)
# before the fuzzer sees the corpus, and a campaign killed (SIGKILL to the whole process group)
# or interrupted (SIGINT) at several moments of its merge leaves corpus/T with whole,
# content-named files and no hidden ones. Uses a fake engine (testlib.sh): nothing is fuzzed.
set -euo pipefail
source "$(dirname "$0")/testlib.sh"
camp_init chain

# --- leftovers of an earlier killed campaign
old=$(printf 'killed mid-copy\n' | sha1sum | cut -c1-40)
printf 'killed mid-copy\n' >"$W/corpus/chain/.$old.tmp"
: >"$W/corpus/chain/.$(printf x | sha1sum | cut -c1-40).tmp"
printf 'seed\n' >"$W/corpus/chain/$(printf 'seed\n' | sha1sum | cut -c1-40)"
camp_run 1 1 "$W/runs" chain >"$W/out1" 2>&1 || fail "the campaign failed: $(cat "$W/out1")"
if grep -q '^\.' "$W/seen"; then fail "the fuzzer was given hidden files as seeds: $(grep '^\.' "$W/seen" | tr '\n' ' ')"; fi
corpus_whole chain
n=$(find "$W/corpus/chain" -type f | wc -l)
[[ $n -eq 4 ]] || fail "want the seed + 3 new inputs in corpus/chain, got $n"
echo "ok: stale hidden temp files swept before fuzzing; corpus/chain holds $n whole files"

# --- killed or interrupted at several moments of the merge
for sig in KILL INT; do
    for delay in 0 0.2 0.5 1.0; do
        FAKE_NEW=60 setsid "$FUZZ_RUN" libfuzzer 1 1 "$W/runs" chain >"$W/out" 2>&1 &
        pid=$!
        for _ in $(seq 200); do grep -q 'finished; merging' "$W/out" && break; sleep 0.05; done
        sleep "$delay"
        kill -"$sig" -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        corpus_whole chain
        echo "ok: SIG$sig ${delay}s into the merge: corpus/chain has $(find "$W/corpus/chain" -type f | wc -l) whole files, none hidden"
    done
done
# the next campaign cleans what the killed ones staged
camp_run 1 1 "$W/runs" chain >"$W/out2" 2>&1 || fail "the campaign after the kills failed: $(cat "$W/out2")"
corpus_whole chain
left=$(find "$W/.corpus-tmp" -type f ! -name '*.lock' 2>/dev/null | wc -l)
[[ $left -eq 0 ]] || fail "$left staged temp files left after a clean campaign"
echo "ok: a clean campaign after the kills leaves no staged temp files"
