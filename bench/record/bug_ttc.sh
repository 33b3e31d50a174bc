#!/usr/bin/env bash
# bench/record/bug_ttc.sh - time to first crash of the record targets on the re-injected bugs.
#
#   bench/record/bug_ttc.sh [PATCH...] [--time S] [--target T] [--pruned]
#
# For each patch (default: the record patches in bench/bugs/): exports HEAD into a scratch
# directory, applies the patch to src/, builds the libFuzzer+ASan+UBSan binary of the target
# (default record_diff) with the flags of `./build.sh build-fuzzers libfuzzer`, and fuzzes with
# the shipped corpus and dictionary until the first crash (or S seconds, default 300).
# --pruned first drops every seed that already crashes the patched build (so the number
# measures fuzzing, not the corpus). Prints: patch, seeds that crash at once, seconds and
# executions to the first crash, and the crashing input (kept in the scratch directory).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
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
BSSL_INC=/usr/include/android BSSL_LIB=/usr/lib/x86_64-linux-gnu/android
CFLAGS="-g -O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link"
dict=$(awk -v t="$target" '$1 == t {print $2}' "$ROOT/targets/manifest")
maxlen=$(awk -v t="$target" '$1 == t {print $3}' "$ROOT/targets/manifest")

for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    w=$(mktemp -d "/tmp/mxbug-$name-XXXX")
    git -C "$ROOT" archive HEAD | tar -x -C "$w"
    (cd "$w" && git apply "$p" 2>/dev/null || patch -p1 -s <"$p")
    objs=()
    for f in "$w"/src/*.c "$w"/targets/harness/*.c "$w"/targets/oracles/*.c "$w"/capture/*.c "$w/targets/$target.c"; do
        [[ $(basename "$f") == replay_main.c ]] && continue
        o="$w/$(basename "$(dirname "$f")")-$(basename "$f" .c).o"
        # shellcheck disable=SC2086
        clang $CFLAGS -I "$w/include" -I "$w/targets/harness" -I "$w/targets/oracles" -I "$w/capture" -isystem "$BSSL_INC" -c "$f" -o "$o"
        objs+=("$o")
    done
    clang++ -fsanitize=address,undefined,fuzzer "${objs[@]}" -L"$BSSL_LIB" -lssl -lcrypto -lpcap \
        -Wl,-rpath,"$BSSL_LIB" -o "$w/fuzzer"
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
    [[ $dict != - ]] && dictarg=(-dict="$ROOT/dictionaries/$dict")
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
