#!/usr/bin/env bash
# Every libFuzzer option of OUT/T.options applies to a campaign, as under OSS-Fuzz (issue 19,
# item 5): timeout, rss_limit_mb, an arbitrary one (use_value_profile) and the dictionary (a
# name relative to OUT) reach the fuzzing run, and the merge runs with the same limits; the
# campaign's own -max_total_time comes after them (libFuzzer takes the last). Fake engine.
set -euo pipefail
source "$(dirname "$0")/testlib.sh"
camp_init chain
out=$W/build/fuzz-libfuzzer/out
printf '"HELO"\n' >"$out/chain.dict"
cat >"$out/chain.options" <<'OPT'
[libfuzzer]
dict = chain.dict
max_len = 4096
timeout = 7
rss_limit_mb = 1234
use_value_profile = 1
max_total_time = 999
OPT
camp_run 1 1 "$W/runs" chain >"$W/out" 2>&1 || fail "the campaign failed: $(cat "$W/out")"
fuzz=$(grep -v -- '-merge=1' "$W/argv" | sed -n 1p)
merge=$(grep -- '-merge=1' "$W/argv" | sed -n 1p)
for want in -timeout=7 -rss_limit_mb=1234 -use_value_profile=1 -max_len=4096 "-dict=$out/chain.dict"; do
    [[ " $fuzz " == *" $want "* ]] || fail "the fuzzing run lacks $want: $fuzz"
done
[[ $fuzz == *-max_total_time=999*-max_total_time=1\ * ]] || fail "the campaign's -max_total_time=1 does not come last: $fuzz"
[[ -n $merge ]] || fail "no merge run"
[[ $merge != *max_total_time=999* ]] || fail "the merge got the fuzzing-only -max_total_time: $merge"
for want in -timeout=7 -rss_limit_mb=1234 -max_len=4096; do
    [[ " $merge " == *" $want "* ]] || fail "the merge lacks $want: $merge"
done
echo "ok: fuzzing: $fuzz"
echo "ok: merge:   $merge"
