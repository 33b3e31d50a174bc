#!/usr/bin/env bash
# bench/run.sh — detection power of mxfuzz; called as `./build.sh bench bugs|speed [ARGS]`.
# What the figures mean and how to read them: bench/README.md.
set -uo pipefail

# Started as a background job by a shell without job control (a script's `cmd &`), bash runs
# with SIGINT ignored, and a signal ignored on entry cannot be trapped: the run's interrupt
# handler (stop every trial) would never run and Ctrl-C / kill -INT would do nothing. Start
# again with SIGINT at its default, which the trap below can then take (coreutils env)
if [[ $(trap -p INT) == "trap -- '' SIGINT" && -z ${MXFUZZ_BENCH_SIGINT:-} ]]; then
    MXFUZZ_BENCH_SIGINT=1 exec env --default-signal=INT "$0" "$@"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/bench
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
MANIFEST=${BUG_MANIFEST:-$HERE/bugs/manifest}   # BUG_MANIFEST: another list of bugs (bench/tests/bug_patches_caught.sh reads it too)
# the interpreter itself, not a version-manager shim: crashsig.py runs once per crash
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON=python3
export PYTHON

# shellcheck source=bench/cpuclock.sh
. "$HERE/cpuclock.sh"
# shellcheck source=bench/judge.sh
. "$HERE/judge.sh"

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
ts() { date +%H:%M:%S; }

usage() {
    cat <<'EOF'
usage: ./build.sh bench bugs [--trials N] [--first-trial K] [--time S] [--engine libfuzzer|afl|both]
                             [--jobs J] [--mutator on|off|both] [--configs shipped,pruned,empty]
                             [--clock wall|cpu] [--wall-limit S]
                             [--quick] [--reuse-build] [--bug ID...] [--target T...]
         time to the first crash recognised as each re-injected bug of bench/bugs/manifest:
         N trials of at most S seconds per bug x engine x configuration (shipped corpus +
         dictionary; empty corpus, no dictionary; and, when shipped seeds already trigger the
         bug, "pruned": the shipped corpus without them + dictionary), J at a time, one core each;
         each configuration with the session-aware mutator (as shipped) and, for the targets
         that have one (the manifest's mutator column), without it (config name + "-nomut").
         Defaults: --trials 10 --time 30 --engine both --jobs 2 --mutator both, every
         configuration (several hours on 2 cores; most trials stop early). --quick: 3 trials x
         10 s, libFuzzer only, no empty configuration (does every target still find its bugs?).
         --bug / --target: only those bugs / only their pairs with those targets.
         --clock cpu: S is CPU seconds of the fuzzer's own processes, not wall seconds (fair
         on a loaded machine); a trial is stopped after --wall-limit S wall seconds (default
         20 x --time) and then censored with the CPU it got. --first-trial K (default 1):
         the trials are numbers K .. K+N-1, trial k with fuzzer seed 1000 k + 17, so that
         `--trials 5` and `--trials 5 --first-trial 6` are together the trials of --trials 10
         (bench/stats.py merge refuses two runs holding the same trial).
       ./build.sh bench speed [--time S] [--clock wall|cpu] [--engine libfuzzer|afl|both]
                              [--old REF|-] [--reuse-build] [--target T...]
         exec/s of every target (or of the T given) as ratios against, on the same corpus,
         dictionary and max_len, run just before it: the empty target (bench/empty.c), the
         component floor (bench/floor/T.c: the same input through the libmx component alone,
         no oracle), and the target as it was at git revision REF (default main; - : none),
         all built the same way in this run; the first floor is repeated at the end to show
         drift. Default --time 15 (each run; --clock cpu: CPU seconds of the run's processes,
         at most 20 x S wall seconds). --reuse-build: build/fuzz-ENGINE as it is (as for bugs). Also the time to replay each shipped corpus
         through the replay binaries.
Results go to build/bench/<stamp>/ (CSV, table, survival plots, index.html).
EOF
}

# the fuzz targets and their fields, from the one reader of the target manifest
manifest_targets() { "$ROOT/build.sh" targets --names; }
target_field() { "$ROOT/build.sh" targets --field "$1" "$2"; }
engines_of() { if [[ $1 == both ]]; then echo "libfuzzer afl"; else echo "$1"; fi; }
# selected WORD [LIST...]: WORD is in LIST, or LIST is empty (no --bug / --target: everything)
selected() { local w=$1; shift; [[ $# -eq 0 ]] || printf '%s\n' "$@" | grep -qx -- "$w"; }

build_base() {   # the unpatched fuzzers, their dictionaries and objects (build/fuzz-ENGINE)
    local e=$1 log=$2
    say "[$(ts)] building the $e fuzzers (log: ${log#"$ROOT"/})"
    "$ROOT/build.sh" build-fuzzers "$e" >"$log" 2>&1 || { tail -20 "$log"; die "building the $e fuzzers failed"; }
}

# ---------------------------------------------------------------- bugs
# prefilter BIN ENGINE CORPUS SEEDS_OUT REGEX DIR REF: copies into SEEDS_OUT the corpus files that
# do not crash BIN. Writes DIR/verdict: "hits other first": hits = files that trigger the bug
# (listed in DIR/triggering-seeds): recognised, or crashing BIN alone while REF, the unpatched
# fuzzer, passes them (bench/judge.sh; also in DIR/triggering-seeds-by-patch); other = files
# crashing otherwise (DIR/other-crash-seeds; those crashing REF too in DIR/real-crash-seeds);
# first = the first hit's name or -.
prefilter() {
    local bin=$1 e=$2 corpus=$3 sd=$4 rx=$5 dir=$6 ref=$7 files=() i=0 n rc last hit=0 other=0 first=- v
    # a recogniser that reads no stack frame (an oracle's message, not crashsig.py's signature
    # line) needs no symbolized stack: llvm-symbolizer costs about a second per crashing seed,
    # and a shipped corpus holds up to a hundred seeds that trigger its bug
    local sym=()
    [[ $rx == *signature:* ]] || sym=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}symbolize=0")
    mkdir -p "$sd"
    mapfile -t files < <(find "$corpus" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | sort)
    n=${#files[@]}
    while [[ $i -lt $n ]]; do
        if [[ $e == libfuzzer ]]; then
            # one process runs the files in order and stops at the first crash
            { timeout 300 "${sym[@]}" "$bin" -runs=1 "${files[@]:$i}" >"$dir/prefilter.log" 2>&1; } 2>/dev/null
            rc=$?
            last=$(grep -a '^Running: ' "$dir/prefilter.log" | tail -n 1 | cut -d' ' -f2)
            if [[ $rc -eq 0 ]]; then
                for f in "${files[@]:$i}"; do cp "$f" "$sd/"; done
                break
            fi
        else
            last=${files[$i]}
            if { timeout 20 "${sym[@]}" "$bin" "$last" >"$dir/prefilter.log" 2>&1; } 2>/dev/null; then
                cp "$last" "$sd/"; i=$((i + 1)); continue
            fi
        fi
        # files before the crashing one passed
        while [[ $i -lt $n && ${files[$i]} != "$last" ]]; do cp "${files[$i]}" "$sd/"; i=$((i + 1)); done
        [[ $i -lt $n ]] || break
        v=-
        "$PYTHON" "$HERE/crashsig.py" match "$rx" "$dir/prefilter.log" || v=$(judge_by_patch "$bin" "$ref" "$last")
        # a seed the recogniser does not know triggers the bug as well when the patch makes its
        # crash (bench/judge.sh); one that crashes the real code too is not the patch's
        [[ $v == patch ]] && basename "$last" >>"$dir/triggering-seeds-by-patch"
        [[ $v == real ]] && basename "$last" >>"$dir/real-crash-seeds"
        if [[ $v == - || $v == patch ]]; then
            hit=$((hit + 1))
            if [[ $first == - ]]; then first=$(basename "$last"); cp "$dir/prefilter.log" "$dir/triggering-seed.log"; fi
            basename "$last" >>"$dir/triggering-seeds"
        else
            other=$((other + 1))
            basename "$last" >>"$dir/other-crash-seeds"
        fi
        i=$((i + 1))
    done
    echo "$hit $other $first" >"$dir/verdict"
}

cmd_bugs() {
    local trials=10 first_trial=1 cap=30 engine=both jobs=2 quick=0 sel=() tsel=() mutator=both configs=shipped,pruned,empty configs_set=0
    local orig_args=("$@") reuse=0 clock=wall wall_limit=
    while [[ $# -gt 0 ]]; do
        case $1 in
        --trials) trials=${2:?}; shift 2 ;;
        --first-trial) first_trial=${2:?}; shift 2 ;;
        --time) cap=${2:?}; shift 2 ;;
        --engine) engine=${2:?}; shift 2 ;;
        --jobs) jobs=${2:?}; shift 2 ;;
        --mutator) mutator=${2:?}; shift 2 ;;
        --configs) configs=${2:?}; configs_set=1; shift 2 ;;
        --clock) clock=${2:?}; shift 2 ;;
        --wall-limit) wall_limit=${2:?}; shift 2 ;;
        --quick) quick=1; shift ;;
        --reuse-build) reuse=1; shift ;;
        --bug) shift; while [[ $# -gt 0 && $1 != --* ]]; do sel+=("$1"); shift; done ;;
        --target) shift; while [[ $# -gt 0 && $1 != --* ]]; do tsel+=("$1"); shift; done ;;
        -h | --help) usage; exit 0 ;;
        *) die "bugs: unknown argument $1 (see ./build.sh bench --help)" ;;
        esac
    done
    # --quick sets its defaults; options after it still count (--quick --time 60)
    if [[ $quick -eq 1 ]]; then
        trials=3 cap=10 engine=libfuzzer
        [[ $configs_set -eq 1 ]] || configs=shipped,pruned
        local i=0 a
        for a in "${orig_args[@]}"; do
            case $a in --trials) trials=${orig_args[$((i + 1))]} ;; --time) cap=${orig_args[$((i + 1))]} ;;
                       --engine) engine=${orig_args[$((i + 1))]} ;; esac
            i=$((i + 1))
        done
    fi
    [[ $mutator =~ ^(on|off|both)$ ]] || die "--mutator is on, off or both"
    [[ ,$configs, =~ ^(,(shipped|pruned|empty))+,$ ]] || die "--configs is a comma list of shipped, pruned, empty"
    [[ $trials =~ ^[1-9][0-9]*$ ]] || die "--trials wants a positive number"
    [[ $first_trial =~ ^[1-9][0-9]*$ ]] || die "--first-trial wants a positive number"
    [[ $cap =~ ^[1-9][0-9]*$ ]] || die "--time wants a positive number of seconds"
    [[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs wants a positive number"
    [[ $clock =~ ^(wall|cpu)$ ]] || die "--clock is wall or cpu"
    [[ -z $wall_limit || $wall_limit =~ ^[1-9][0-9]*$ ]] || die "--wall-limit wants a positive number of seconds"
    [[ -z $wall_limit || $clock == cpu ]] || die "--wall-limit goes with --clock cpu (with the wall clock the cap is the limit)"
    [[ -n $wall_limit ]] || wall_limit=$((20 * cap))
    [[ $clock == wall ]] && wall_limit=$cap
    [[ $engine =~ ^(libfuzzer|afl|both)$ ]] || die "--engine is libfuzzer, afl or both"
    [[ -f $MANIFEST ]] || die "no $MANIFEST"
    for t in "${tsel[@]}"; do
        manifest_targets | grep -qx -- "$t" || die "--target $t: not a fuzz target (targets: $(manifest_targets | tr '\n' ' '))"
    done

    # the bugs to measure
    local lines=() line id patch origin tl repro rx t e
    while read -r id patch origin tl repro rx; do
        [[ -z $id ]] && continue
        selected "$id" "${sel[@]}" || continue
        lines+=("$id $patch $tl $rx")
    done < <(grep -E '^[A-Za-z0-9]' "$MANIFEST")
    [[ ${#lines[@]} -gt 0 ]] || die "no bug selected (manifest ids: $(grep -E '^[A-Za-z0-9]' "$MANIFEST" | awk '{print $1}' | tr '\n' ' '))"
    if [[ ${#tsel[@]} -gt 0 ]]; then
        local any=0
        for line in "${lines[@]}"; do
            read -r id patch tl rx <<<"$line"
            for t in ${tl//,/ }; do selected "$t" "${tsel[@]}" && any=1; done
        done
        [[ $any -eq 1 ]] || die "no selected bug is expected to be found by --target ${tsel[*]} (the manifest's targets column)"
    fi

    local stamp out
    stamp=$(date +%Y%m%d-%H%M%S)
    out="$BUILD/bench/$stamp"
    mkdir -p "$out/trials" "$out/variants" "$out/seeds"
    say "== bench bugs: $trials trial(s) x ${cap}s, engine $engine, $jobs at a time -> ${out#"$ROOT"/}"
    {
        echo "command: ./build.sh bench bugs --trials $trials$([[ $first_trial -ne 1 ]] && echo " --first-trial $first_trial") --time $cap --engine $engine --jobs $jobs --mutator $mutator --configs $configs --clock $clock$([[ $clock == cpu ]] && echo " --wall-limit $wall_limit")$([[ $quick -eq 1 ]] && echo " (--quick)")${sel[*]:+ --bug ${sel[*]}}${tsel[*]:+ --target ${tsel[*]}}"
        echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "machine: $(uname -n) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
        echo "clock: $clock"
    } >"$out/meta"

    local e_list
    e_list=$(engines_of "$engine")
    # --reuse-build: build/fuzz-ENGINE as it is (it must be a build of this tree: say so in meta)
    if [[ $reuse -eq 1 ]]; then echo "base: reused build/fuzz-* ($e_list), not rebuilt" >>"$out/meta"; else
        for e in $e_list; do build_base "$e" "$out/build-$e.log"; done
    fi
    # the variants are built from build/fuzz-ENGINE's objects and commands and run its
    # dictionaries and mutator: a `./build.sh build-fuzzers ENGINE` now would change them under
    # the run. It takes build/fuzz-ENGINE.lock exclusively (build.sh); the run holds it shared
    # until it ends (the trials inherit it)
    for e in $e_list; do
        mkdir -p "$BUILD"
        exec {lock_fd}>"$BUILD/fuzz-$e.lock"
        flock -s -n "$lock_fd" || die "build/fuzz-$e is being rebuilt (build-fuzzers holds build/fuzz-$e.lock): wait for it"
    done

    # variants: patched fuzzers; and the seeds each variant starts from
    : >"$out/skipped"
    local jobsq=() line
    echo "bug,target,engine,config,trial,seed,found,source,seconds,execs,unrelated_crashes,cap,clock,used,wall" >"$out/trials.csv"
    for line in "${lines[@]}"; do
        read -r id patch tl rx <<<"$line"
        if ! (cd "$ROOT" && git apply --check "bench/bugs/$patch" 2>/dev/null); then
            say "[$(ts)] $id: bench/bugs/$patch does not apply to src/: skipped"
            echo "$id: patch does not apply" >>"$out/skipped"
            continue
        fi
        if [[ $tl == - ]]; then
            say "[$(ts)] $id: no fuzz target is expected to find it: skipped"
            echo "$id: no fuzz target (not a fuzzing bug; see bench/bugs/manifest)" >>"$out/skipped"
            continue
        fi
        for t in ${tl//,/ }; do
            selected "$t" "${tsel[@]}" || continue
            if ! manifest_targets | grep -qx -- "$t"; then
                say "[$(ts)] $id: $t is not a fuzz target (./build.sh targets): skipped"
                echo "$id/$t: no such target" >>"$out/skipped"
                continue
            fi
            local ok=1 layout
            layout=$(target_field "$t" mutator)
            for e in $e_list; do
                say "[$(ts)] $id: building the patched $t ($e)"
                "$PYTHON" "$HERE/variant.py" fuzz --root "$ROOT" --engine "$e" --base "$BUILD/fuzz-$e" \
                    --patch "$ROOT/bench/bugs/$patch" --target "$t" --out "$out/variants/$e/$id" \
                    >"$out/variants/$id-$e.log" 2>&1 ||
                    { tail -10 "$out/variants/$id-$e.log"; echo "$id/$t/$e: build failed" >>"$out/skipped"; ok=0; }
                # libFuzzer without the mutator: another link (AFL++: the same binary, no .so)
                if [[ $layout != - && $mutator != on && $e == libfuzzer ]]; then
                    "$PYTHON" "$HERE/variant.py" fuzz --root "$ROOT" --engine "$e" --base "$BUILD/fuzz-$e" \
                        --patch "$ROOT/bench/bugs/$patch" --target "$t" --out "$out/variants/$e-nomut/$id" \
                        --no-mutator >"$out/variants/$id-$e-nomut.log" 2>&1 ||
                        { tail -10 "$out/variants/$id-$e-nomut.log"; echo "$id/$t/$e-nomut: build failed" >>"$out/skipped"; ok=0; }
                fi
            done
            [[ $ok -eq 1 ]] || continue
            # seeds: the shipped corpus minus every seed that crashes the patched target. A seed
            # recognised as the bug means the shipped corpus finds it at t=0 (no fuzzing needed).
            local e0 sd="$out/seeds/$id/$t" hits=0 other=0 nseeds first=""
            e0=$(set -- $e_list; echo "$1")
            mkdir -p "$out/seeds/$id"
            if [[ ,$configs, == ,empty, ]]; then
                # only the empty configuration: no seed is used, none needs replaying
                echo "0 0 -" >"$out/seeds/$id/verdict"
            else
                prefilter "$out/variants/$e0/$id/$t" "$e0" "$ROOT/corpus/$t" "$sd" "$rx" "$out/seeds/$id" "$BUILD/fuzz-$e0/out/$t"
            fi
            read -r hits other first <"$out/seeds/$id/verdict"
            nseeds=$(find "$ROOT/corpus/$t" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l)
            if [[ $hits -gt 0 ]]; then
                say "[$(ts)] $id/$t: $hits of $nseeds shipped seeds trigger it (first: $first): the shipped corpus finds it at t=0; configuration 'pruned' fuzzes without them"
            elif [[ ,$configs, == ,empty, ]]; then
                say "[$(ts)] $id/$t: empty configuration only: the shipped seeds are not replayed"
            else
                say "[$(ts)] $id/$t: no shipped seed triggers it$([[ $other -gt 0 ]] && echo "; $other seed(s) crash otherwise (pruned)")"
            fi
            echo "$id,$t,$hits,$other,$nseeds,$first" >>"$out/seed-hits.csv"
            local dict maxlen
            maxlen=$(target_field "$t" max_len)
            for e in $e_list; do
                dict=-
                [[ -f $BUILD/fuzz-$e/out/$t.dict ]] && dict=$BUILD/fuzz-$e/out/$t.dict
                local cfg k base_cfg
                local cfgs="" suffixes=""
                [[ ,$configs, == *,shipped,* ]] && cfgs+=" shipped"
                [[ ,$configs, == *,pruned,* && $hits -gt 0 ]] && cfgs+=" pruned"
                [[ ,$configs, == *,empty,* ]] && cfgs+=" empty"
                # with the mutator: the shipped fuzzer; -nomut: without it (targets that have one)
                [[ $mutator != off || $layout == - ]] && suffixes+=" +"
                [[ $mutator != on && $layout != - ]] && suffixes+=" -nomut"
                local expanded="" x
                for sfx in $suffixes; do for x in $cfgs; do expanded+=" $x${sfx#+}"; done; done
                for cfg in $expanded; do
                    base_cfg=${cfg%-nomut}
                    # trial k runs with seed 1000 k + 17 whatever the run: runs of other trial
                    # numbers (--first-trial) are distinct trials and merge into one sample
                    for ((k = first_trial; k < first_trial + trials; k++)); do
                        if [[ $base_cfg == shipped && $hits -gt 0 ]]; then
                            echo "$id,$t,$e,$cfg,$k,-,1,corpus,0,0,0,$cap,$clock,0,0" >>"$out/trials.csv"
                            continue
                        fi
                        local seeds=- d=-
                        if [[ $base_cfg != empty ]]; then seeds=$sd; d=$dict; fi
                        jobsq+=("$id $t $e $cfg $k $((1000 * k + 17)) $seeds $d $maxlen $rx")
                    done
                done
            done
        done
    done

    local total=${#jobsq[@]} done_n=0 running=() last=0
    local worst=$(( (total * wall_limit + jobs - 1) / jobs ))
    say "[$(ts)] $total fuzzing trial(s) to run (worst case $((worst / 60)) min $((worst % 60)) s)"
    trial_dir() { echo "$out/trials/$1-$2-$3-$4-$5"; }
    start_trial() {
        local id t e cfg k seed seeds d maxlen rx
        read -r id t e cfg k seed seeds d maxlen rx <<<"$1"
        local dir bin="$out/variants/$e/$id/$t" so=- layout
        dir=$(trial_dir "$id" "$t" "$e" "$cfg" "$k")
        mkdir -p "$dir"
        echo "$1" >"$dir/job"
        date +%s >"$dir/start"
        # the mutator: linked into the libFuzzer binary (-nomut: the variant linked without it);
        # for AFL++ the shared object build-fuzzers afl made, unless -nomut
        layout=$(target_field "$t" mutator)
        if [[ $cfg == *-nomut ]]; then
            [[ $e == libfuzzer ]] && bin="$out/variants/$e-nomut/$id/$t"
        elif [[ $e == afl && $layout != - ]]; then
            so="$BUILD/fuzz-afl/out/mxfuzz_mutator_$layout.so"
        fi
        # the reference a crash the recogniser does not know is judged by: the shipped fuzzer
        "$HERE/trial.sh" "$e" "$bin" "$seeds" "$d" "$maxlen" "$cap" "$seed" "$rx" "$dir" "$so" "$clock" "$wall_limit" \
            "$BUILD/fuzz-$e/out/$t" >"$dir/trial.log" 2>&1 &
        echo $! >"$dir/pid"
        running+=("$1")
    }
    finish_trial() {
        local id t e cfg k seed seeds d maxlen rx dir found secs execs unrel src used wall how
        read -r id t e cfg k seed seeds d maxlen rx <<<"$1"
        dir=$(trial_dir "$id" "$t" "$e" "$cfg" "$k")
        if [[ -f $dir/result ]]; then read -r found secs execs unrel used wall how <"$dir/result"; else found=0 secs=$cap execs=0 unrel=0; fi
        used=${used:-0} wall=${wall:-0}
        # fuzzer: the recogniser matched; patch: a crash only the patched binary has (bench/judge.sh)
        src=fuzzer
        [[ ${how:-} == patch ]] && src="patch"
        [[ $found -eq 1 ]] || src=censored
        [[ -s $dir/real-crashes ]] &&
            say "[$(ts)] $id $t $e $cfg #$k: $(wc -l <"$dir/real-crashes") crash(es) of the real code too, not the patch's: ${dir#"$ROOT"/}/real-crashes"
        echo "$id,$t,$e,$cfg,$k,$seed,$found,$src,$secs,$execs,$unrel,$cap,$clock,$used,$wall" >>"$out/trials.csv"
        done_n=$((done_n + 1))
        if [[ $found -eq 1 ]]; then
            say "[$(ts)] $done_n/$total $id $t $e $cfg #$k: found in ${secs}s $clock (${wall}s wall, $execs execs)$([[ $src == patch ]] && echo ", a crash the recogniser does not know that the real code passes")$([[ $unrel -gt 0 ]] && echo ", after $unrel unrelated crash(es)")"
        else
            say "[$(ts)] $done_n/$total $id $t $e $cfg #$k: not found in ${used}s $clock of ${cap}s (${wall}s wall, $execs execs)$([[ $unrel -gt 0 ]] && echo "; $unrel unrelated crash(es)")"
        fi
    }
    interrupted() {
        say "bench: interrupted; stopping the trials"
        local j dir pids=() scripts=()
        # every process of every running trial, taken before any is stopped (a killed trial.sh
        # leaves its fuzzer to init, and `timeout` puts the fuzzer in a process group of its own,
        # so neither the trial's pid nor its group reaches it)
        for j in "${running[@]+"${running[@]}"}"; do
            read -r id t e cfg k _ <<<"$j"
            dir=$(trial_dir "$id" "$t" "$e" "$cfg" "$k")
            if [[ -f $dir/pid ]]; then
                local tree
                tree=$(tree_cpu "$(cat "$dir/pid")")   # "CPU descendant..." (bench/cpuclock.sh)
                scripts+=("$(cat "$dir/pid")")
                # shellcheck disable=SC2206
                [[ $tree == *" "* ]] && pids+=(${tree#* })
            fi
        done
        # the trial scripts first: trial.sh ignores SIGINT (a background job), and one left
        # running sees its libFuzzer exit on the SIGINT and starts it again with the next seed,
        # a process the KILL below never heard of
        [[ ${#scripts[@]} -gt 0 ]] && kill -KILL "${scripts[@]}" 2>/dev/null
        if [[ ${#pids[@]} -gt 0 ]]; then
            kill -INT "${pids[@]}" 2>/dev/null
            sleep 3
            kill -KILL "${pids[@]}" 2>/dev/null
        fi
        exit 130
    }
    trap interrupted INT TERM
    local q=0
    while [[ $q -lt $total || ${#running[@]} -gt 0 ]]; do
        while [[ $q -lt $total && ${#running[@]} -lt $jobs ]]; do
            start_trial "${jobsq[$q]}"
            q=$((q + 1))
        done
        sleep 1
        local still=() j dir
        for j in "${running[@]}"; do
            read -r id t e cfg k _ <<<"$j"
            dir=$(trial_dir "$id" "$t" "$e" "$cfg" "$k")
            if kill -0 "$(cat "$dir/pid")" 2>/dev/null; then still+=("$j"); else wait "$(cat "$dir/pid")" 2>/dev/null; finish_trial "$j"; fi
        done
        running=("${still[@]+"${still[@]}"}")
        local now
        now=$(date +%s)
        if [[ ${#running[@]} -gt 0 && $((now - last)) -ge 30 ]]; then
            local line="[$(ts)] running:"
            for j in "${running[@]}"; do
                read -r id t e cfg k _ <<<"$j"
                dir=$(trial_dir "$id" "$t" "$e" "$cfg" "$k")
                line+=" $id/$e/$cfg#$k $((now - $(cat "$dir/start")))s"
            done
            say "$line"
            last=$now
        fi
    done
    trap - INT TERM

    say "[$(ts)] statistics and plots"
    "$PYTHON" "$HERE/stats.py" bugs --out "$out" || die "stats failed"
    echo
    cat "$out/table.txt"
    say ""
    say "results: ${out#"$ROOT"/}/ (trials.csv, table.txt, km-*.png, index.html)"
    ln -sfn "$stamp" "$BUILD/bench/latest-bugs"
}

# ---------------------------------------------------------------- speed
# speed_one ENGINE BIN SEEDS DICT MAXLEN SECS DIR [CLOCK] -> prints
# "execs,seconds,exec_per_s,status,cpu_seconds,exec_per_cpu_s" (one process, nice, on a private
# copy of SEEDS; the fuzzer's own counters; cpu_seconds: user + system of the fuzzer and the
# children it waited for, from bash's time: what the run got of the shared machine). CLOCK wall
# (default): the run lasts SECS wall seconds; cpu: SECS CPU seconds (cpu_watch), at most 20 x SECS
# of wall time. libFuzzer: the figures are of the fuzzing after the corpus is loaded. Startup and
# the first execution of every seed (file reads, ASan start, feature bookkeeping of each new unit)
# cost about as much as seconds of fuzzing on a corpus of hundreds of seeds, and would make a
# short run measure the loading: a loading-only run (-runs=0: read and execute the corpus, then
# stop) on the same copy is timed first and its execs, seconds and CPU seconds are subtracted.
speed_one() {
    local e=$1 bin=$2 seeds=$3 dict=$4 maxlen=$5 secs=$6 dir=$7 clock=${8:-wall} wall=$6
    [[ $clock == cpu ]] && wall=$((20 * secs))
    mkdir -p "$dir/corpus"
    [[ -d $seeds ]] && find "$seeds" -maxdepth 1 -type f ! -name '.*' -exec cp -t "$dir/corpus/" {} +
    if [[ $e == libfuzzer ]]; then
        local args=(-seed=1 -max_total_time="$wall" -max_len="$maxlen" -print_final_stats=1 -timeout=10
                    -artifact_prefix="$dir/")
        [[ $dict != - ]] && args+=(-dict="$dict")
        local s0 s1 rc n status=ok l0 l1 n0
        # lf_run LOG CPUFILE [ARG...]: the fuzzer on the corpus copy (args + ARG), its output in
        # LOG, its user + system seconds (children included) in CPUFILE
        lf_run() { (cd "$dir" && TIMEFORMAT='%3U %3S' && { time nice -n 10 "$bin" "${args[@]}" "${@:3}" "$dir/corpus" >"$1" 2>&1; } 2>"$2"); }
        l0=$(date +%s.%N)
        lf_run "$dir/load-log" "$dir/load-cpu" -runs=0
        l1=$(date +%s.%N)
        n0=$(grep -a 'stat::number_of_executed_units' "$dir/load-log" | tail -n 1 | awk '{print $2}')
        s0=$(date +%s.%N)
        lf_run "$dir/log" "$dir/cpu" &
        if [[ $clock == cpu ]]; then cpu_watch $! "$secs" "$wall"; else wait $!; fi
        rc=$?
        # stopped at the CPU budget: libFuzzer's exit status on SIGINT, not a crash
        grep -aq 'run interrupted; exiting' "$dir/log" && rc=0
        s1=$(date +%s.%N)
        [[ $rc -eq 0 ]] || status=crashed
        n=$(grep -a 'stat::number_of_executed_units' "$dir/log" | tail -n 1 | awk '{print $2}')
        # the run less the loading-only run: executions, wall and CPU seconds of the fuzzing
        awk -v n="${n:-0}" -v n0="${n0:-0}" -v a="$s0" -v b="$s1" -v la="$l0" -v lb="$l1" -v st="$status" \
            -v c="$(cpu_of "$dir/cpu")" -v c0="$(cpu_of "$dir/load-cpu")" \
            'BEGIN { n -= n0; if (n < 0) n = 0; t = (b - a) - (lb - la); c -= c0
                     printf "%d,%.1f,%.0f,%s,%.2f,%.0f", n, t, (t > 0 ? n / t : 0), st, c, (c > 0 ? n / c : 0) }'
    else
        [[ -n $(ls -A "$dir/corpus") ]] || printf '\0\0\0\0' >"$dir/corpus/zero"
        local args=(-i "$dir/corpus" -o "$dir/afl" -s 1 -V "$wall")
        [[ $dict != - ]] && args+=(-x "$dict")
        (cd "$dir" && unset ASAN_OPTIONS UBSAN_OPTIONS && export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 \
            AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1 AFL_NO_AFFINITY=1 &&
            TIMEFORMAT='%3U %3S' && { time timeout -k 5 $((wall + 120)) nice -n 10 afl-fuzz "${args[@]}" -- "$bin" >"$dir/log" 2>&1; } 2>"$dir/cpu") &
        if [[ $clock == cpu ]]; then cpu_watch $! "$secs" "$wall"; else wait $!; fi
        local st="$dir/afl/default/fuzzer_stats"
        if [[ -f $st ]]; then
            awk -F' *: *' -v cpu="$(cpu_of "$dir/cpu")" \
                '$1 == "execs_done" {n = $2} $1 == "run_time" {t = $2} $1 == "saved_crashes" {c = $2}
                 END { printf "%d,%d,%.0f,%s,%.2f,%.0f", n, t, (t > 0 ? n / t : 0), (c > 0 ? "crashes:" c : "ok"),
                              cpu, (cpu > 0 ? n / cpu : 0) }' "$st"
        else
            echo "0,0,0,did-not-start,0,0"
        fi
    fi
}

# replay_times OUT: seconds to replay each shipped corpus through the test build's replay binary
replay_times() {
    local out=$1 t dir="$BUILD/test"
    # the test build of `./build.sh test` (build.conf profile test), brought up to date
    local names=()
    for t in $(manifest_targets); do names+=("replay_$t"); done
    MXFUZZ_BUILD_DIR=$BUILD "$ROOT/build.sh" build test "${names[@]}" >"$out/replay-build.log" 2>&1 ||
        { tail "$out/replay-build.log"; return 1; }
    echo "target,files,bytes,seconds,ms_per_file" >"$out/replay.csv"
    for t in $(manifest_targets); do
        [[ -d $ROOT/corpus/$t ]] || continue
        local n b s0 s1
        n=$(find "$ROOT/corpus/$t" -maxdepth 1 -type f ! -name '.*' | wc -l)
        b=$(find "$ROOT/corpus/$t" -maxdepth 1 -type f ! -name '.*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
        s0=$(date +%s.%N)
        ASAN_OPTIONS=detect_leaks=1 "$dir/replay/$t" "$ROOT/corpus/$t" >"$out/replay-$t.log" 2>&1 ||
            say "           $t: the replay of corpus/$t FAILED (see ${out#"$ROOT"/}/replay-$t.log)"
        s1=$(date +%s.%N)
        awk -v t="$t" -v n="$n" -v b="$b" -v a="$s0" -v z="$s1" \
            'BEGIN { printf "%s,%d,%d,%.3f,%.3f\n", t, n, b, z - a, (n ? 1000 * (z - a) / n : 0) }' >>"$out/replay.csv"
    done
}

cmd_speed() {
    local secs=15 engine=both old=main only=() clock=wall reuse=0
    while [[ $# -gt 0 ]]; do
        case $1 in
        --time) secs=${2:?}; shift 2 ;;
        --engine) engine=${2:?}; shift 2 ;;
        --old) old=${2:?}; shift 2 ;;
        --clock) clock=${2:?}; shift 2 ;;
        --reuse-build) reuse=1; shift ;;
        --target) only+=("${2:?}"); shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "speed: unknown argument $1" ;;
        esac
    done
    [[ $secs =~ ^[1-9][0-9]*$ ]] || die "--time wants a positive number of seconds"
    [[ $engine =~ ^(libfuzzer|afl|both)$ ]] || die "--engine is libfuzzer, afl or both"
    [[ $clock =~ ^(wall|cpu)$ ]] || die "--clock is wall or cpu"
    if [[ $old != - ]]; then
        git -C "$ROOT" rev-parse --verify -q "$old^{commit}" >/dev/null || die "--old: no git revision '$old'"
    fi
    local tl=() all_targets
    all_targets=$(manifest_targets) || die "cannot read the target manifest"
    if [[ ${#only[@]} -gt 0 ]]; then
        for t in "${only[@]}"; do
            grep -qx -- "$t" <<<"$all_targets" || die "--target: no target '$t' (./build.sh targets --names lists them)"
        done
        tl=("${only[@]}")
    else
        mapfile -t tl <<<"$all_targets"
    fi
    local stamp out e t
    stamp=$(date +%Y%m%d-%H%M%S)
    out="$BUILD/bench/speed-$stamp"
    mkdir -p "$out"
    {
        echo "command: ./build.sh bench speed --time $secs --clock $clock --engine $engine --old $old$(printf ' --target %s' "${only[@]+"${only[@]}"}")"
        [[ $old != - ]] && echo "old: $old = $(git -C "$ROOT" rev-parse --short "$old^{commit}")"
        echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "machine: $(uname -n) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
    } >"$out/meta"
    say "== bench speed: ${secs}s per target and engine, one at a time -> ${out#"$ROOT"/}"
    echo "engine,binary,inputs,run,execs,seconds,exec_per_s,status,cpu_seconds,exec_per_cpu_s" >"$out/speed.csv"
    [[ $reuse -eq 1 ]] && echo "base: reused build/fuzz-* ($(engines_of "$engine")), not rebuilt" >>"$out/meta"
    for e in $(engines_of "$engine"); do
        [[ $reuse -eq 1 ]] || build_base "$e" "$out/build-$e.log"
        "$PYTHON" "$HERE/variant.py" floor --root "$ROOT" --engine "$e" --base "$BUILD/fuzz-$e" \
            --src "$HERE/empty.c" --out "$out/floor-$e" >"$out/floor-$e.log" 2>&1 ||
            { cat "$out/floor-$e.log"; die "building the empty target failed"; }
        # the component floors: bench/floor/T.c built with T's own compile and link commands
        for t in "${tl[@]}"; do
            [[ -f $HERE/floor/$t.c ]] || continue
            "$PYTHON" "$HERE/variant.py" floor --root "$ROOT" --engine "$e" --base "$BUILD/fuzz-$e" \
                --src "$HERE/floor/$t.c" --like "$t" --name "$t-component" --out "$out/floor-$e" \
                >>"$out/floor-$e.log" 2>&1 || { cat "$out/floor-$e.log"; die "building the $t component floor failed"; }
        done
        # today's binaries: the targets as they are at REF, from this build's recorded commands
        if [[ $old != - ]]; then
            say "[$(ts)] building the $e fuzzers as of $old (log: ${out#"$ROOT"/}/old-$e.log)"
            "$PYTHON" "$HERE/variant.py" ref --root "$ROOT" --engine "$e" --base "$BUILD/fuzz-$e" \
                --ref "$old" $(printf -- '--target %s ' "${tl[@]}") --out "$out/old-$e" \
                >"$out/old-$e.log" 2>&1 || { cat "$out/old-$e.log"; die "building the fuzzers of $old failed"; }
        fi
        # each target right after its floors and its old binary on the same inputs (its corpus,
        # dictionary and max_len), so the ratios compare like with like; the first empty
        # floor is measured again at the end to show drift
        local order=() run=0 spec
        for t in "${tl[@]}"; do
            order+=("empty:$t")
            [[ -f $HERE/floor/$t.c ]] && order+=("component:$t")
            [[ $old != - ]] && order+=("old:$t")
            order+=("$t:$t")
        done
        order+=("empty:${tl[0]}")
        for spec in "${order[@]}"; do
            run=$((run + 1))
            local what=${spec%%:*} t=${spec#*:} bin dict=- maxlen r
            case $what in
            empty) bin="$out/floor-$e/empty" ;;
            component) bin="$out/floor-$e/$t-component" ;;
            old) bin="$out/old-$e/$t" ;;
            *) bin="$BUILD/fuzz-$e/out/$t" ;;
            esac
            maxlen=$(target_field "$t" max_len)
            [[ -f $BUILD/fuzz-$e/out/$t.dict ]] && dict=$BUILD/fuzz-$e/out/$t.dict
            say "[$(ts)] $e $what on corpus/$t (${secs}s $clock)"
            r=$(speed_one "$e" "$bin" "$ROOT/corpus/$t" "$dict" "${maxlen:-4096}" "$secs" "$out/run-$e-$run-$what-$t" "$clock")
            echo "$e,$what,$t,$run,$r" >>"$out/speed.csv"
            say "           $(echo "$r" | awk -F, '{printf "%s execs in %s s: %s exec/s (%s); %s CPU s: %s exec per CPU s", $1, $2, $3, $4, $5, $6}')"
        done
    done
    # corpus replay through the plain (ASan+UBSan) replay binaries of the test build
    say "[$(ts)] replaying the shipped corpora through the replay binaries (test build)"
    replay_times "$out" || die "replay timing failed"
    "$PYTHON" "$HERE/stats.py" speed --out "$out" || die "stats failed"
    echo
    cat "$out/speed.txt"
    ln -sfn "speed-$stamp" "$BUILD/bench/latest-speed"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
bugs) cmd_bugs "$@" ;;
speed) cmd_speed "$@" ;;
"" | -h | --help | help) usage ;;
*) usage >&2; die "unknown bench command '$cmd'" ;;
esac
