#!/usr/bin/env bash
# fuzz-run.sh ENGINE SECONDS JOBS RUNS TARGET... — called by `./build.sh fuzz`.
#
# Runs one fuzzer per target (JOBS at a time) on a private working copy in a run directory of
# its own (mktemp -d under RUNS, so campaigns started in the same second never share one), shows
# progress every 10 s, merges what added coverage back into corpus/TARGET/ and prints a summary
# per target. Every libFuzzer option of OUT/TARGET.options applies, as under OSS-Fuzz.
# Corpus safety: corpus/TARGET/ is only ever read by the fuzzers; new entries are written as
# temporary files in .corpus-tmp/TARGET/ beside corpus/ (never inside it: libFuzzer and the seed
# zip would take them for inputs; same filesystem, so the rename is atomic) and renamed in, so an
# interrupted or killed campaign leaves every corpus file either absent or whole. Each start
# sweeps what a killed campaign left staged. Merges into one corpus hold a lock
# (.corpus-tmp/TARGET.lock, flock) so two campaigns' merges serialize. A corpus that cannot be
# written fails the campaign, naming the path and where the unsaved inputs are. Nothing in
# corpus/ is ever changed or deleted. Crashes are copied to build/crashes/TARGET/ with the
# command that reproduces each.
set -uo pipefail

engine=$1 secs=$2 jobs=$3 runs=$4
shift 4
targets=("$@")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
CORPUS=${MXFUZZ_CORPUS_DIR:-$ROOT/corpus}   # tests point it at a private copy
STAGE="$(dirname "$CORPUS")/.corpus-tmp"
LF_OUT="$BUILD/fuzz-libfuzzer/out"
AFL_OUT="$BUILD/fuzz-afl/out"

die() { printf 'fuzz-run: %s\n' "$*" >&2; exit 1; }
mkdir -p "$runs" || die "cannot create $runs"
run=$(mktemp -d "$runs/$(date +%Y%m%d-%H%M%S)-XXXXXX") || die "cannot create a run directory in $runs"
show() { local p=$1; printf '%s' "${p#"$ROOT"/}"; }

count_files() { find "$1" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l; }
opt() { awk -F' *= *' -v k="$2" '$1 == k {print $2}' "$1" 2>/dev/null; }       # .options (INI)
# lf_options T: every option of the [libfuzzer] section of OUT/T.options as -key=value, one a
# line (ClusterFuzz passes them all the same way); dict = relative to OUT, like OSS-Fuzz's
lf_options() {
    awk -v out="$LF_OUT" '
        /^[ \t]*([#;]|$)/ { next }
        /^[ \t]*\[/ { sec = ($0 ~ /^[ \t]*\[libfuzzer\][ \t]*$/); next }
        sec {
            i = index($0, "="); if (!i) next
            k = substr($0, 1, i - 1); v = substr($0, i + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
            if (k == "dict" && v !~ /^\//) v = out "/" v
            print "-" k "=" v
        }' "$LF_OUT/$1.options"
}
# lock_corpus T: take (waiting) the lock of corpus/T on fd 9 of the calling (sub)shell
lock_corpus() {
    mkdir -p "$STAGE/$1" 2>/dev/null || { echo "cannot create $STAGE/$1"; return 1; }
    exec 9>>"$STAGE/$1.lock" || { echo "cannot open $STAGE/$1.lock"; return 1; }
    flock 9
}
# sweep T: under the lock, remove what a killed campaign staged for corpus/T, and the hidden
# .<sha1>.tmp files older versions of this script left inside corpus/T
sweep() {
    local t=$1 f
    (
        lock_corpus "$t" >&2 || exit 1
        rm -f "$STAGE/$t"/*
        for f in "$CORPUS/$t"/.*.tmp; do
            [[ -f $f && $(basename "$f") =~ ^\.[0-9a-f]{40}\.tmp$ ]] && rm -f "$f"
        done
        exit 0
    )
}
stat_of() { awk -F' *: *' -v k="$2" '$1 == k {print $2}' "$1" 2>/dev/null; }  # AFL++ fuzzer_stats

start_one() {
    local t=$1 w="$run/$1"
    mkdir -p "$w/new" "$w/crashes" "$CORPUS/$t"
    sweep "$t" || echo "  $t: could not sweep stale temp files of corpus/$t" >>"$run/crashes"
    count_files "$CORPUS/$t" >"$w/before"
    date +%s >"$w/start"
    if [[ $engine == libfuzzer ]]; then
        local args
        mapfile -t args < <(lf_options "$t")
        # ours last: libFuzzer takes the last of a repeated flag
        args+=(-max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$w/crashes/")
        (cd "$w" && exec nice -n 5 "$LF_OUT/$t" "${args[@]}" "$w/new" "$CORPUS/$t" >"$w/log" 2>&1) &
    else
        local in="$CORPUS/$t" args=()
        if [[ $(count_files "$in") -eq 0 ]]; then
            mkdir -p "$w/empty-seed" && printf '\0\0\0\0' >"$w/empty-seed/zero" && in="$w/empty-seed"
        fi
        [[ -f $AFL_OUT/$t.dict ]] && args+=(-x "$AFL_OUT/$t.dict")
        local to
        to=$(opt "$AFL_OUT/$t.options" timeout)
        [[ $to =~ ^[0-9]+$ ]] && args+=(-t "$((to * 1000))")
        # the session-aware mutator of the target's manifest line, as a shared object
        local layout so=""
        layout=$("$ROOT/build.sh" targets --field "$t" mutator)
        [[ $layout != - && -f $AFL_OUT/mxfuzz_mutator_$layout.so ]] && so="$AFL_OUT/mxfuzz_mutator_$layout.so"
        (cd "$w" && unset ASAN_OPTIONS UBSAN_OPTIONS && AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
            AFL_SKIP_CRASHES=1 AFL_NO_AFFINITY=1 AFL_QUIET=1 \
            exec env ${so:+AFL_CUSTOM_MUTATOR_LIBRARY=$so} nice -n 5 afl-fuzz -i "$in" -o "$w/afl" -V "$secs" "${args[@]}" -- "$AFL_OUT/$t" >"$w/log" 2>&1) &
    fi
    echo $! >"$w/pid"
}

# progress line for a running target, from its log or fuzzer_stats
status_of() {
    local t=$1 w="$run/$1" now el line
    now=$(date +%s)
    el=$((now - $(cat "$w/start")))
    if [[ $engine == libfuzzer ]]; then
        line=$(grep -aE '^#[0-9]+' "$w/log" 2>/dev/null | tail -n 1 |
            sed -E 's/^#([0-9]+).*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).* exec\/s: ([0-9]+).*/execs \1  cov \2  ft \3  corpus \4  exec\/s \5/')
    else
        local st="$w/afl/default/fuzzer_stats"
        [[ -f $st ]] && line="execs $(stat_of "$st" execs_done)  edges $(stat_of "$st" edges_found)  corpus $(stat_of "$st" corpus_count)  exec/s $(stat_of "$st" execs_per_sec)  crashes $(stat_of "$st" saved_crashes)"
    fi
    printf '  %-14s %4ss/%ss  %s\n' "$t" "$el" "$secs" "${line:-starting}"
}

# merge coverage-adding inputs into corpus/T, holding its lock: each new file is written in
# .corpus-tmp/T and renamed in. Prints the number added, "merge-failed", or
# "write-failed ADDED UNSAVED ERROR" (the unsaved inputs are then in $w/unsaved).
merge_back() {
    local t=$1 w="$run/$1" src m added=0 f h err opts
    if [[ $engine == libfuzzer ]]; then src="$w/new"; else src="$w/afl/default/queue"; fi
    [[ -d $src ]] || { echo 0; return; }
    if ! lock_corpus "$t" >"$w/lock.err"; then
        mkdir -p "$w/unsaved" && cp -p "$src"/* "$w/unsaved"/ 2>/dev/null
        echo "write-failed 0 $(count_files "$w/unsaved") $(cat "$w/lock.err")"; return
    fi
    m="$w/merged"
    rm -rf "$m" && mkdir -p "$m"
    find "$CORPUS/$t" -maxdepth 1 -type f ! -name ".*" -exec cp -p {} "$m"/ \;
    # the limits apply to the merge too; what bounds or shapes a fuzzing run does not
    mapfile -t opts < <(lf_options "$t" | grep -vE '^-(max_total_time|runs|jobs|workers|fork|merge)=')
    # in the run's directory, so that an input crashing during the merge lands there, not in cwd
    (cd "$w" && "$LF_OUT/$t" "${opts[@]}" -merge=1 -merge_control_file="$w/merge.ctl" -artifact_prefix="$w/crashes/" \
        "$m" "$src" >"$w/merge.log" 2>&1) || { echo "merge-failed"; return; }
    local new=()
    for f in "$m"/*; do
        [[ -f $f ]] || continue
        h=$(basename "$f")
        [[ -e $CORPUS/$t/$h ]] && continue
        # name new entries by content (libFuzzer already does; AFL++ queue names are not stable)
        [[ $h =~ ^[0-9a-f]{40}$ ]] || h=$(sha1sum "$f" | cut -c1-40)
        [[ -e $CORPUS/$t/$h ]] && continue
        if err=$( { cp "$f" "$STAGE/$t/$h" && mv "$STAGE/$t/$h" "$CORPUS/$t/$h"; } 2>&1); then
            added=$((added + 1))
        else
            rm -f "$STAGE/$t/$h"
            mkdir -p "$w/unsaved" && cp -p "$f" "$w/unsaved/$h"
            new+=("$h")
        fi
    done
    if [[ ${#new[@]} -gt 0 ]]; then
        echo "write-failed $added ${#new[@]} $(head -n 1 <<<"$err")"
    else
        echo "$added"
    fi
}

collect_crashes() {
    local t=$1 w="$run/$1" dir f n=0
    if [[ $engine == libfuzzer ]]; then dir="$w/crashes"; else dir="$w/afl/default/crashes"; fi
    mkdir -p "$BUILD/crashes/$t"
    for f in "$dir"/*; do
        [[ -f $f && $(basename "$f") != README.txt ]] || continue
        local h
        h=$(sha1sum "$f" | cut -c1-12)
        cp "$f" "$BUILD/crashes/$t/crash-$h"
        echo "    ./build.sh repro build/crashes/$t/crash-$h" >>"$w/crash-cmds"
        n=$((n + 1))
    done
    echo "$n"
}

summary_of() {
    local t=$1 w="$run/$1" execs eps cov after added crashes
    if [[ $engine == libfuzzer ]]; then
        execs=$(grep -a 'stat::number_of_executed_units' "$w/log" | awk '{print $2}')
        eps=$(grep -a 'stat::average_exec_per_sec' "$w/log" | awk '{print $2}')
        cov=$(grep -aE '^#[0-9]+' "$w/log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1 ft \2/')
    else
        local st="$w/afl/default/fuzzer_stats"
        execs=$(stat_of "$st" execs_done)
        eps=$(stat_of "$st" execs_per_sec)
        cov="edges $(stat_of "$st" edges_found) ($(stat_of "$st" bitmap_cvg))"
    fi
    added=$(merge_back "$t")
    crashes=$(collect_crashes "$t")
    after=$(count_files "$CORPUS/$t")
    echo "== fuzzing ${targets[*]} with $engine for ${secs}s each, $jobs at a time (logs in $(show "$run"))"
printf '%-14s %10s %9s  %-22s %6s -> %-6s %7s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" \
        "$(cat "$w/before")" "$after" "$crashes" >>"$run/summary"
    if [[ $crashes -gt 0 ]]; then
        {
            echo "  $t: $crashes crash(es); reproduce with:"
            cat "$w/crash-cmds"
        } >>"$run/crashes"
    fi
    if [[ $added == merge-failed ]]; then
        echo "  $t: merging into corpus/$t failed (see $(show "$w")/merge.log); corpus unchanged" >>"$run/crashes"
    elif [[ $added == write-failed* ]]; then
        local a u e
        read -r _ a u e <<<"$added"
        {
            echo "  $t: cannot write to the corpus $CORPUS/$t: $e"
            echo "    $u new input(s) NOT saved ($a saved); they are in $w/unsaved/"
            echo "    once the directory is writable: cp -n $w/unsaved/* $CORPUS/$t/"
        } >>"$run/crashes"
    fi
}

interrupted() {
    echo
    echo "fuzz-run: interrupted: stopping fuzzers; corpus/ holds only whole files (logs in $(show "$run"))"
    for t in "${targets[@]}"; do
        [[ -f $run/$t/pid ]] && kill "$(cat "$run/$t/pid")" 2>/dev/null
    done
    exit 130
}
trap interrupted INT TERM

printf '%-14s %10s %9s  %-22s %16s %7s\n' target execs exec/s coverage "corpus before->after" crashes >"$run/summary"
: >"$run/crashes"
pending=("${targets[@]}")
running=()
last=0
while [[ ${#pending[@]} -gt 0 || ${#running[@]} -gt 0 ]]; do
    while [[ ${#pending[@]} -gt 0 && ${#running[@]} -lt $jobs ]]; do
        start_one "${pending[0]}"
        running+=("${pending[0]}")
        pending=("${pending[@]:1}")
    done
    sleep 1
    still=()
    for t in "${running[@]}"; do
        if kill -0 "$(cat "$run/$t/pid")" 2>/dev/null; then
            still+=("$t")
        else
            wait "$(cat "$run/$t/pid")" 2>/dev/null
            status_of "$t"
            echo "  $t finished; merging"
            summary_of "$t"
        fi
    done
    running=("${still[@]+"${still[@]}"}")
    now=$(date +%s)
    if [[ ${#running[@]} -gt 0 && $((now - last)) -ge 10 ]]; then
        echo "[$(date +%H:%M:%S)]"
        for t in "${running[@]}"; do status_of "$t"; done
        last=$now
    fi
done

echo
echo "== summary ($engine, ${secs}s per target; logs in $(show "$run"))"
cat "$run/summary"
if [[ -s $run/crashes ]]; then
    echo
    cat "$run/crashes" >&2
    exit 1
fi
echo "no crashes"
