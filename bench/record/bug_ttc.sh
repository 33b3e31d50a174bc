#!/usr/bin/env bash
# bench/record/bug_ttc.sh - time to first crash of the record targets on the re-injected bugs.
#
#   bench/record/bug_ttc.sh [PATCH...] [--time S] [--target T] [--pruned]
#
# Builds the libFuzzer fuzzers (`./build.sh build-fuzzers libfuzzer`, build.conf profile
# libfuzzer), then for each patch (default: the record patches in bench/bugs/) the patched
# binary of the target (default record_diff) with bench/variant.py fuzz (the patch applied to a
# scratch copy of src/ and include/, only the touched objects recompiled), and fuzzes it with
# the shipped corpus and dictionary until the first crash (or S seconds, default 300).
# --pruned first drops every seed that already crashes the patched build (so the number
# measures fuzzing, not the corpus). Prints: patch, seeds that crash at once, seconds and
# executions to the first crash, and the crashing input (kept in the scratch directory).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
time_cap=300 target=record_diff pruned=0 patches=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --time) time_cap=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --pruned) pruned=1; shift ;;
    *) patches+=("$1"); shift ;;
    esac
done
[[ ${#patches[@]} -gt 0 ]] || patches=("$ROOT"/bench/bugs/kb938857-length.patch "$ROOT"/bench/bugs/padding-oracle.patch "$ROOT"/bench/bugs/implicit-iv.patch)
maxlen=$("$ROOT/build.sh" targets --field "$target" max_len)
base=$BUILD/fuzz-libfuzzer
"$ROOT/build.sh" build-fuzzers libfuzzer >"$BUILD/bug_ttc-build.log" 2>&1 ||
    { tail -20 "$BUILD/bug_ttc-build.log"; echo "bug_ttc: building the fuzzers failed" >&2; exit 1; }

for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    w=$(mktemp -d "/tmp/mxbug-$name-XXXX")
    python3 "$ROOT/bench/variant.py" fuzz --root "$ROOT" --engine libfuzzer --base "$base" \
        --patch "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")" --target "$target" --out "$w/variant" \
        >"$w/build.log" 2>&1 || { tail -10 "$w/build.log"; echo "bug_ttc: $name: build failed" >&2; continue; }
    ln -s "variant/$target" "$w/fuzzer"
    mkdir -p "$w/fz" "$w/crashes"
    cp "$ROOT/corpus/$target"/* "$w/fz/"
    at_once=0
    for s in "$w"/fz/*; do
        if ! "$w/fuzzer" -artifact_prefix="$w/" "$s" >/dev/null 2>&1; then
            at_once=$((at_once + 1))
            [[ $pruned == 1 ]] && rm -f "$s"
        fi
    done
    dictarg=()
    [[ -f $base/out/$target.dict ]] && dictarg=(-dict="$base/out/$target.dict")
    start=$(date +%s.%N)
    (cd "$w" && nice -n 5 ./fuzzer -max_total_time="$time_cap" -max_len="$maxlen" "${dictarg[@]}" \
        -artifact_prefix="$w/crashes/" -print_final_stats=1 fz >"$w/log" 2>&1) || true
    end=$(date +%s.%N)
    crash=$(ls "$w"/crashes/ 2>/dev/null | head -1)
    execs=$(grep -Eo '^#[0-9]+' "$w/log" | tail -1 | tr -d '#' || true)
    [[ -n $crash ]] && execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$w/log" | grep -Eo '[0-9]+$' || echo "$execs")
    printf '%s: seeds crashing at once %s; %s after %.1f s, %s execs; input %s\n' "$name" "$at_once" \
        "$([[ -n $crash ]] && echo crash || echo 'no crash')" "$(echo "$end - $start" | bc)" "${execs:-?}" \
        "${crash:+$w/crashes/$crash}"
    grep -m1 'divergence\|ERROR: AddressSanitizer\|runtime error' "$w/log" || true
done
