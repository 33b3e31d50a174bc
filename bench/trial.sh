#!/usr/bin/env bash
# trial.sh — one time-to-bug trial, called by bench/run.sh (one core, nice).
#
#   trial.sh ENGINE BIN SEEDS DICT MAXLEN CAP SEED REGEX DIR [MUTATOR_SO]
#
# ENGINE libfuzzer|afl; BIN the patched fuzzer; SEEDS a directory of starting inputs copied
# fresh into DIR (empty: start from nothing); DICT a dictionary file or -; CAP seconds;
# SEED the fuzzer's random seed; REGEX the bug's recogniser (bench/crashsig.py); MUTATOR_SO (AFL++
# only; - or absent: none) the custom mutator afl-fuzz loads (AFL_CUSTOM_MUTATOR_LIBRARY). A
# libFuzzer binary carries its mutator, if any, linked in.
# Runs the fuzzer until the first crash that matches REGEX or CAP seconds of wall time
# (startup included), and writes DIR/result: "found seconds execs unrelated" where found is 1 or
# 0 (censored at CAP; seconds = CAP), execs the executions up to the crash (libFuzzer: its
# stat::number_of_executed_units; AFL++: the execs: field of the crash file name, else
# fuzzer_stats), unrelated the number of crashes that did not match REGEX (libFuzzer is
# restarted on the remaining time with the corpus it grew; AFL++ keeps going).
set -uo pipefail
engine=$1 bin=$2 seeds=$3 dict=$4 maxlen=$5 cap=$6 seed=$7 rx=$8 dir=$9 so=${10:--}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dir/corpus" "$dir/art"
if [[ -d $seeds ]]; then
    find "$seeds" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$dir/corpus/" \;
fi
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
matches() { "${PYTHON:-python3}" "$HERE/crashsig.py" match "$rx" "$1"; }
found=0 secs=$cap execs=0 unrelated=0
start=$(now)

if [[ $engine == libfuzzer ]]; then
    k=0
    while :; do
        left=$(awk -v c="$cap" -v e="$(elapsed "$start")" 'BEGIN { l = int(c - e); print (l > 0 ? l : 0) }')
        [[ $left -ge 1 ]] || break
        args=(-seed=$((seed + k)) -max_total_time="$left" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$dir/art/")
        [[ $dict != - ]] && args+=(-dict="$dict")
        # the wall clock is the arbiter: libFuzzer stops only between runs
        (cd "$dir" && exec timeout -k 5 $((left + 15)) nice -n 5 "$bin" "${args[@]}" "$dir/corpus" >"$dir/log.$k" 2>&1)
        rc=$?
        t=$(elapsed "$start")
        n=$(grep -a 'stat::number_of_executed_units' "$dir/log.$k" | tail -n 1 | awk '{print $2}')
        execs=$((execs + ${n:-0}))
        if [[ $rc -eq 0 || $rc -eq 124 || $rc -eq 137 ]]; then break; fi
        if matches "$dir/log.$k"; then
            found=1 secs=$t
            break
        fi
        unrelated=$((unrelated + 1))
        # a crash that does not match: keep the artifact for the record, fuzz on
        k=$((k + 1))
        [[ $k -lt 50 ]] || break
    done
else
    in="$dir/corpus"
    if [[ -z $(ls -A "$in") ]]; then printf '\0\0\0\0' >"$in/zero"; fi
    args=(-i "$in" -o "$dir/afl" -s "$seed" -V "$cap")
    [[ $dict != - ]] && args+=(-x "$dict")
    (cd "$dir" && unset ASAN_OPTIONS UBSAN_OPTIONS AFL_CUSTOM_MUTATOR_LIBRARY &&
        if [[ $so != - ]]; then export AFL_CUSTOM_MUTATOR_LIBRARY=$so; fi &&
        AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 \
        AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1 AFL_NO_AFFINITY=1 \
        exec nice -n 5 afl-fuzz "${args[@]}" -- "$bin" >"$dir/log.0" 2>&1) &
    apid=$!
    declare -A seen=()
    check_crashes() {
        local f b
        for f in "$dir"/afl/default/crashes/id:*; do
            [[ -f $f ]] || continue
            b=$(basename "$f")
            [[ -n ${seen[$b]:-} ]] && continue
            seen[$b]=1
            { timeout 20 "$bin" "$f" >"$dir/replay.log" 2>&1; } 2>/dev/null
            if matches "$dir/replay.log"; then
                found=1
                secs=$(awk -v a="$start" -v m="$(stat -c %.Y "$f" 2>/dev/null || stat -c %Y "$f")" 'BEGIN { printf "%.2f", m - a }')
                if [[ $b =~ execs:([0-9]+) ]]; then execs=${BASH_REMATCH[1]}; else
                    execs=$(awk -F' *: *' '$1 == "execs_done" {print $2}' "$dir/afl/default/fuzzer_stats" 2>/dev/null); fi
                cp "$f" "$dir/art/$b"
                return 0
            fi
            unrelated=$((unrelated + 1))
        done
        return 1
    }
    hard=$(awk -v c="$cap" 'BEGIN { print c + 60 }')   # calibration of a big corpus may precede -V
    while kill -0 "$apid" 2>/dev/null; do
        sleep 1
        if check_crashes; then kill "$apid" 2>/dev/null; break; fi
        if awk -v e="$(elapsed "$start")" -v c="$cap" 'BEGIN { exit !(e >= c) }'; then
            # the cap counts from launch (as for libFuzzer); -V counts from the end of calibration
            kill "$apid" 2>/dev/null
            break
        fi
        awk -v e="$(elapsed "$start")" -v h="$hard" 'BEGIN { exit !(e >= h) }' && { kill -9 "$apid" 2>/dev/null; break; }
    done
    wait "$apid" 2>/dev/null
    if [[ $found -eq 0 ]]; then check_crashes || true; fi
    if [[ $found -eq 0 ]]; then
        secs=$cap
        execs=$(awk -F' *: *' '$1 == "execs_done" {print $2}' "$dir/afl/default/fuzzer_stats" 2>/dev/null)
    fi
fi
# a find after the cap (libFuzzer's own clock starts after our launch) is censored like any other
if [[ $found -eq 1 ]] && awk -v s="$secs" -v c="$cap" 'BEGIN { exit !(s > c) }'; then found=0; fi
[[ $found -eq 1 ]] || secs=$cap
echo "$found $secs ${execs:-0} $unrelated" >"$dir/result"
