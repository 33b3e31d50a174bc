#!/usr/bin/env bash
# trial.sh — one time-to-bug trial, called by bench/run.sh (one core, nice).
#
#   trial.sh ENGINE BIN SEEDS DICT MAXLEN CAP SEED REGEX DIR [MUTATOR_SO [CLOCK [WALL_LIMIT [REF]]]]
#
# ENGINE libfuzzer|afl; BIN the patched fuzzer; SEEDS a directory of starting inputs copied
# fresh into DIR (empty: start from nothing); DICT a dictionary file or -; CAP seconds;
# SEED the fuzzer's random seed; REGEX the bug's recogniser (bench/crashsig.py); MUTATOR_SO (AFL++
# only; - or absent: none) the custom mutator afl-fuzz loads (AFL_CUSTOM_MUTATOR_LIBRARY). A
# libFuzzer binary carries its mutator, if any, linked in.
# Runs the fuzzer until the first crash that matches REGEX or CAP seconds (startup included) of
# CLOCK: wall (default) = wall time since launch; cpu = CPU time (user + system) of the fuzzer's
# processes (libFuzzer's one process; afl-fuzz, its forkserver and the children it reaps), so that
# a trial on a loaded machine gets the same budget as on a quiet one. With cpu, WALL_LIMIT
# (default 20 x CAP) seconds of wall time stop a trial that gets too little CPU: it is censored
# with the budget it used. Writes DIR/result: "found seconds execs unrelated used wall" where
# found is 1 or 0 (censored; seconds = CAP), seconds on CLOCK, used the CLOCK seconds the trial
# consumed (CAP unless the wall limit stopped it first), wall its wall seconds, execs the
# executions up to the crash (libFuzzer: its
# stat::number_of_executed_units; AFL++: the execs: field of the crash file name, else
# fuzzer_stats), unrelated the number of crashes that did not match REGEX (libFuzzer is
# restarted on the remaining time with the corpus it grew; AFL++ keeps going).
# REF (- or absent: none) is the same target built from the real code: a crash REGEX does not
# match is the bug too when the patched BIN crashes on it again alone and REF passes it
# (bench/judge.sh); then DIR/result ends in "patch", else in "recogniser" (found) or "-". An input
# that crashes REF too is listed in DIR/real-crashes: a bug that is not the patch's.
set -uo pipefail
engine=$1 bin=$2 seeds=$3 dict=$4 maxlen=$5 cap=$6 seed=$7 rx=$8 dir=$9 so=${10:--} clock=${11:-wall}
wall_limit=${12:-$((20 * cap))} ref=${13:--}
[[ $clock == wall ]] && wall_limit=$cap
[[ $clock =~ ^(wall|cpu)$ ]] || { echo "trial.sh: CLOCK is wall or cpu" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dir/corpus" "$dir/art"
if [[ -d $seeds ]]; then
    find "$seeds" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$dir/corpus/" \;
fi
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
matches() { "${PYTHON:-python3}" "$HERE/crashsig.py" match "$rx" "$1"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b ? a : b) }'; }
# shellcheck source=bench/cpuclock.sh
. "$HERE/cpuclock.sh"
# shellcheck source=bench/judge.sh
. "$HERE/judge.sh"
# by_patch FILE: 0 when the patch makes the crash on FILE (bench/judge.sh); a crash of the real
# code too goes on the list of DIR/real-crashes
by_patch() {
    local v
    v=$(judge_by_patch "$bin" "$ref" "$1")
    [[ $v == real ]] && echo "$1" >>"$dir/real-crashes"
    [[ $v == patch ]]
}
# the clock a trial is measured on: CPU seconds of the fuzzer's processes so far (cpu_base: the
# runs already over, cpu_run: the live run's tree) or wall seconds since launch
cpu_base=0
clock_now() {
    if [[ $clock == cpu ]]; then awk -v a="$cpu_base" -v b="$1" 'BEGIN { printf "%.2f", a + b }'; else elapsed "$start"; fi
}
# launch LOG CPUFILE CMD...: CMD in the background (pid: $rpid) in DIR, its output in LOG; with the
# cpu clock its user + system seconds (children included) go to CPUFILE when it ends
launch() {
    local log=$1 cf=$2; shift 2
    if [[ $clock == cpu ]]; then
        (cd "$dir" && TIMEFORMAT='%3U %3S' && { time "$@" >"$log" 2>&1; } 2>"$cf") &
    else
        (cd "$dir" && exec "$@" >"$log" 2>&1) &
    fi
    rpid=$!
}
# over_budget: 0 when the live run ($rpid) has used the budget (CPU or wall) or the wall limit;
# sets cpu_run (its CPU so far) and kids (the processes to stop)
cpu_run=0 kids=""
over_budget() {
    local e r
    e=$(elapsed "$start")
    ge "$e" "$wall_limit" && return 0
    [[ $clock == cpu ]] || return 1
    r=$(tree_cpu "$rpid")
    cpu_run=${r%% *}; kids=${r#"$cpu_run"}
    ge "$(clock_now "$cpu_run")" "$cap"
}
stop_run() {   # SIGINT to the run's processes (libFuzzer and afl-fuzz stop cleanly on it)
    if [[ $clock == cpu ]]; then
        # shellcheck disable=SC2086
        [[ -n ${kids// /} ]] && kill -INT $kids 2>/dev/null
    else
        kill "$rpid" 2>/dev/null
    fi
}
found=0 secs=$cap execs=0 unrelated=0 how=-
start=$(now)

if [[ $engine == libfuzzer ]]; then
    k=0
    while :; do
        # the wall time left (the wall clock's budget, or the cpu clock's wall limit)
        left=$(awk -v c="$wall_limit" -v e="$(elapsed "$start")" 'BEGIN { l = int(c - e); print (l > 0 ? l : 0) }')
        [[ $left -ge 1 ]] || break
        [[ $clock == cpu ]] && { ge "$cpu_base" "$cap" && break; }
        args=(-seed=$((seed + k)) -max_total_time="$left" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$dir/art/")
        [[ $dict != - ]] && args+=(-dict="$dict")
        # the wall clock is the arbiter: libFuzzer stops only between runs
        # -k: after a SIGINT (the budget) libFuzzer prints its statistics and runs its exit-time
        # checks, which take a while at a small share of a core: killing it then would also lose
        # its CPU time from bash's time
        launch "$dir/log.$k" "$dir/cpu.$k" timeout -k 60 $((left + 15)) nice -n 5 "$bin" "${args[@]}" "$dir/corpus"
        stopped=0
        while kill -0 "$rpid" 2>/dev/null; do
            sleep 1
            if [[ $stopped -eq 0 ]] && over_budget; then stop_run; stopped=1; fi
        done
        wait "$rpid"
        rc=$?
        # the run's CPU: bash's time, or (a process killed before its parent reaped it is not
        # counted there) at least what the last check saw
        if [[ $clock == cpu ]]; then cpu_base=$(clock_now "$(max "$(cpu_of "$dir/cpu.$k")" "$cpu_run")"); cpu_run=0; fi
        t=$(clock_now 0)
        n=$(grep -a 'stat::number_of_executed_units' "$dir/log.$k" | tail -n 1 | awk '{print $2}')
        execs=$((execs + ${n:-0}))
        if [[ $rc -eq 0 || $rc -eq 124 || $rc -eq 137 ]]; then break; fi
        if matches "$dir/log.$k"; then
            found=1 secs=$t how=recogniser
            break
        fi
        # stopped at the budget (libFuzzer's exit status on SIGINT), not a crash
        [[ $stopped -eq 1 ]] && break
        # the input libFuzzer wrote for the crash: a crash-* (a timeout-, oom- or slow-unit- one
        # depends on the load at the time; leak-* needs the inputs before it)
        art=$(grep -a 'Test unit written to ' "$dir/log.$k" | tail -n 1 | sed 's/.*Test unit written to //')
        if [[ $(basename "$art") == crash-* ]] && by_patch "$art"; then
            found=1 secs=$t how="patch"
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
    args=(-i "$in" -o "$dir/afl" -s "$seed" -V "$wall_limit")
    [[ $dict != - ]] && args+=(-x "$dict")
    unset ASAN_OPTIONS UBSAN_OPTIONS AFL_CUSTOM_MUTATOR_LIBRARY
    if [[ $so != - ]]; then export AFL_CUSTOM_MUTATOR_LIBRARY=$so; fi
    launch "$dir/log.0" "$dir/cpu.0" env AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 \
        AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1 AFL_NO_AFFINITY=1 \
        nice -n 5 afl-fuzz "${args[@]}" -- "$bin"
    apid=$rpid
    declare -A seen=()
    check_crashes() {
        local f b
        for f in "$dir"/afl/default/crashes/id:*; do
            [[ -f $f ]] || continue
            b=$(basename "$f")
            [[ -n ${seen[$b]:-} ]] && continue
            seen[$b]=1
            { timeout 20 "$bin" "$f" >"$dir/replay.log" 2>&1; } 2>/dev/null
            how=-
            if matches "$dir/replay.log"; then how=recogniser; elif by_patch "$f"; then how="patch"; fi
            if [[ $how != - ]]; then
                found=1
                if [[ $clock == cpu ]]; then
                    # the CPU at the last check before the file was seen (checks are 1 s apart)
                    secs=$(clock_now "$cpu_run")
                else
                    secs=$(awk -v a="$start" -v m="$(stat -c %.Y "$f" 2>/dev/null || stat -c %Y "$f")" 'BEGIN { printf "%.2f", m - a }')
                fi
                if [[ $b =~ execs:([0-9]+) ]]; then execs=${BASH_REMATCH[1]}; else
                    execs=$(awk -F' *: *' '$1 == "execs_done" {print $2}' "$dir/afl/default/fuzzer_stats" 2>/dev/null); fi
                cp "$f" "$dir/art/$b"
                return 0
            fi
            unrelated=$((unrelated + 1))
        done
        return 1
    }
    hard=$(awk -v c="$wall_limit" 'BEGIN { print c + 60 }')   # calibration of a big corpus may precede -V
    while kill -0 "$apid" 2>/dev/null; do
        sleep 1
        # the budget first (it sets cpu_run, the CPU a crash found now is dated at)
        if over_budget; then over=1; else over=0; fi
        if check_crashes; then stop_run; break; fi
        # the cap counts from launch (as for libFuzzer); -V counts from the end of calibration
        if [[ $over -eq 1 ]]; then stop_run; break; fi
        ge "$(elapsed "$start")" "$hard" && { kill -9 "$apid" $kids 2>/dev/null; break; }
    done
    wait "$apid" 2>/dev/null
    # a persistent-mode target stops itself (SIGSTOP) between inputs until its forkserver
    # resumes it: a forkserver that went with the SIGINT leaves it stopped for ever, a child of
    # init. What is left of the run's processes last seen goes now
    # shellcheck disable=SC2086
    [[ -n ${kids// /} ]] && kill -KILL $kids 2>/dev/null
    # and a child forked after that last look: the forkserver leads its own process group
    # (afl-fuzz setsid()s it) and its children stay in it when orphaned. Seen: two targets
    # stopped for 15 and 34 minutes after their trials, holding build/fuzz-afl.lock, so that
    # the next bench run could not build (run 20261204-025453)
    for k in $kids; do kill -KILL -- "-$k" 2>/dev/null; done
    if [[ $clock == cpu ]]; then cpu_base=$(max "$(cpu_of "$dir/cpu.0")" "$cpu_run"); fi
    if [[ $found -eq 0 ]]; then check_crashes || true; fi
    if [[ $found -eq 0 ]]; then
        secs=$cap
        execs=$(awk -F' *: *' '$1 == "execs_done" {print $2}' "$dir/afl/default/fuzzer_stats" 2>/dev/null)
    fi
fi
# a find after the cap (libFuzzer's own clock starts after our launch; the CPU of its last
# half-second) is censored like any other
used=$(clock_now 0)
if [[ $found -eq 1 ]] && awk -v s="$secs" -v c="$cap" 'BEGIN { exit !(s > c) }'; then found=0; fi
[[ $found -eq 1 ]] || { secs=$cap how=-; }
awk -v u="$used" -v c="$cap" 'BEGIN { exit !(u > c) }' && used=$cap
# the binary that crashed beside its crash files: a variant is rebuilt (or its build dir
# replaced) by the next run, and an artifact replays only through the patched binary
if compgen -G "$dir/art/*" >/dev/null || compgen -G "$dir/afl/default/crashes/id:*" >/dev/null; then
    mkdir -p "$dir/art"
    ln -f "$bin" "$dir/art/$(basename "$bin").bin" 2>/dev/null || cp "$bin" "$dir/art/$(basename "$bin").bin"
    # and its $ORIGIN/lib (BoringSSL, libpcap, libdovecot when not linked in), so that it runs
    # there: hard links (a copy across file systems), not a symlink to the build's out/lib, which
    # the next build replaces (build.sh renames new libraries over the old, so linked ones stay)
    if [[ -d $(dirname "$bin")/lib && ! -e $dir/art/lib ]]; then
        cp -RLl "$(dirname "$bin")/lib" "$dir/art/lib" 2>/dev/null || cp -RL "$(dirname "$bin")/lib" "$dir/art/lib"
    fi
fi
echo "$found $secs ${execs:-0} $unrelated $used $(elapsed "$start") $how" >"$dir/result"
