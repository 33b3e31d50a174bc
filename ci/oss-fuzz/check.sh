#!/usr/bin/env bash
# ./build.sh oss-fuzz-check [--sanitizer S] [--engine E] [--deps source|debian] [--src DIR]
#                           [--project oss-fuzz|clusterfuzzlite] [--keep]
#
# Runs ci/oss-fuzz/build.sh itself the way OSS-Fuzz runs it, then checks $OUT the way OSS-Fuzz's
# runner image does. Written from reading OSS-Fuzz's infra (infra/base-images/base-clang and
# base-builder's Dockerfile and `compile`, base-runner's test_all.py, bad_build_check,
# run_fuzzer, reproduce, parse_options.py and coverage; infra/presubmit.py): what they check,
# not their code.
#
#  build  base-builder's environment for (engine, sanitizer, x86_64): CC CXX, CFLAGS = base-clang's
#         flags + SANITIZER_FLAGS_<sanitizer> + COVERAGE_FLAGS (or COVERAGE_FLAGS_<sanitizer>),
#         CXXFLAGS = CFLAGS + -stdlib=libc++, LIB_FUZZING_ENGINE, FUZZING_ENGINE, SANITIZER,
#         ARCHITECTURE, SRC (the Dockerfile's layout: $SRC/{mxfuzz,boringssl,libpcap,build.sh}),
#         WORK, OUT; nothing else from this shell (env -i). Then `bash -eux $SRC/build.sh`.
#  run    $OUT moved elsewhere (test_all.py does so to catch hard-coded paths), mounted read-only,
#         with the checkout, $SRC and $WORK hidden and no network (a private mount and network
#         namespace): only what OSS-Fuzz ships to its fuzzing machines is there. Per target:
#         test_all.py's notion of a fuzz target; bad_build_check's engine check (libFuzzer: a
#         -runs=4 run loads >= 100 coverage counters; AFL++: afl-fuzz from $OUT reaches "All set
#         and ready to roll" within 35 s and the target neither crashes nor terminates), its
#         architecture check and its objdump count of sanitizer calls, its startup check through
#         run_fuzzer's command line (.options [libfuzzer] section as flags, the dictionary);
#         the seed corpus replayed (bad_build_check's check_seed_corpus, switched off upstream
#         but the first thing a crashing seed breaks); `reproduce` on a seed (-runs=100, always
#         libFuzzer-style arguments, also for AFL++ builds); for coverage builds, the coverage
#         job: per target its merge run, llvm-profdata merge, llvm-cov export and show, then the
#         report over all targets (merged profile, llvm-cov show -format=html, export, report),
#         every source read through $OUT (compile's copy of $SRC and $WORK, made by the build side).
#  plus   project.yaml and the Dockerfile as infra/presubmit.py reads them (sections, main_repo,
#         contact, license header), the seed zips against corpus/, and no run-time library from
#         outside $OUT. (No -Werror in the OSS-Fuzz build: build_description_single.sh.)
#
# --deps source (the default): BoringSSL and libpcap from source, at the commits
# ci/oss-fuzz/deps pins, from --src DIR (DIR/boringssl, DIR/libpcap; default build/oss-fuzz-deps,
# fetched there by ci/oss-fuzz/fetch-deps.sh when missing). --deps debian: Debian's BoringSSL and
# libpcap instead, uninstrumented (the suite's fast form: seconds instead of tens of minutes).
#
# --project clusterfuzzlite: the same, entered the way ClusterFuzzLite enters it: its Dockerfile
# copies .clusterfuzzlite/build.sh to $SRC/build.sh, which must hand over to ci/oss-fuzz/build.sh
# (one build script for both, not a copy: the check fails when the build does not pass through
# it). Its project.yaml and Dockerfile are checked instead of OSS-Fuzz's. Both projects of one
# configuration share build/oss-fuzz-check/<configuration>/ (and so its dependency builds).
#
# The one place outside build.conf that spells sanitizer and coverage flags: they are OSS-Fuzz's
# environment, not mxfuzz's build (build.sh must add none; targets/tests/build_description_single.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
die() { printf 'oss-fuzz-check: %s\n' "$*" >&2; exit 2; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

sanitizer=address engine=libfuzzer deps=source depsrc=$BUILD/oss-fuzz-deps keep=0 phase=build project=oss-fuzz
while [[ $# -gt 0 ]]; do
    case $1 in
    --sanitizer | --engine | --deps | --src | --project)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        case $1 in --sanitizer) sanitizer=$2 ;; --engine) engine=$2 ;; --deps) deps=$2 ;; --src) depsrc=$2 ;; --project) project=$2 ;; esac
        shift 2 ;;
    --keep) keep=1; shift ;;
    --runner-phase) phase=run; shift ;;   # internal: the part run inside the namespace
    *) die "unknown argument $1 (--sanitizer S --engine E --deps source|debian --src DIR --project P --keep)" ;;
    esac
done
case $sanitizer in address | undefined | memory | coverage | introspector) ;; *) die "--sanitizer: address undefined memory coverage introspector" ;; esac
case $engine in libfuzzer | afl) ;; *) die "--engine: libfuzzer or afl" ;; esac
case $deps in source | debian) ;; *) die "--deps: source or debian" ;; esac
case $project in
oss-fuzz) projdir=$HERE ;;
clusterfuzzlite) projdir=$ROOT/.clusterfuzzlite ;;
*) die "--project: oss-fuzz or clusterfuzzlite" ;;
esac

# ---------------------------------------------------------------- run phase (inside the namespace)
# Arguments come through the environment: OUT, the target list MX_TARGETS, the scratch dir TMPD.
runner_checks() {
    local t f opts dict edges
    cd "$TMPD"
    # test_all.py: a fuzz target is a regular executable ELF file (or shell script) in $OUT,
    # not llvm-symbolizer, afl-* or jazzer_*, holding the string LLVMFuzzerTestOneInput. The
    # coverage job runs every other executable in $OUT too, so none may be there.
    local found=()
    for f in "$OUT"/*; do
        t=$(basename "$f")
        [[ -f $f && -x $f ]] || continue
        [[ $t == llvm-symbolizer || $t == afl-* || $t == jazzer_* ]] && continue
        if file "$f" | grep -qE 'ELF|shell script' && grep -qa LLVMFuzzerTestOneInput "$f"; then
            found+=("$t")
        else
            bad "$t: an executable in \$OUT that is no fuzz target (the coverage job would run it)"
        fi
    done
    [[ $(printf '%s\n' "${found[@]}" | sort) == "$(tr ' ' '\n' <<<"$MX_TARGETS" | sort)" ]] ||
        bad "fuzz targets found in \$OUT: [${found[*]}]; ./build.sh targets: [$MX_TARGETS]"

    for t in $MX_TARGETS; do
        f=$OUT/$t
        [[ -x $f ]] || continue
        # run_fuzzer: the [libfuzzer] section of the .options file as -key=value flags
        # (configparser, as parse_options.py), then -dict=<t>.dict when none was given
        opts=$(python3 - "$f.options" 2>/dev/null <<'EOF'
import configparser, sys
p = configparser.ConfigParser()
p.read(sys.argv[1])
if p.has_section("libfuzzer"):
    print(" ".join("-%s=%s" % kv for kv in p["libfuzzer"].items()))
EOF
) || { bad "$t.options does not parse as INI"; continue; }
        dict=$(sed -n 's/^\s*dict\s*=\s*\(.*\)/\1/p' "$f.options" | tail -1)
        [[ -z $dict || -f $OUT/$dict ]] || bad "$t.options names dict $dict, which is not in \$OUT"
        [[ $opts == *-dict=* ]] || { [[ -f $f.dict ]] && opts="$opts -dict=$t.dict"; }

        # bad_build_check: architecture
        file "$f" | grep -q x86-64 || bad "$t: not an x86-64 binary"
        check_sanitizer_calls "$t"

        local corpus=$TMPD/$t.corpus log=$TMPD/$t.log
        rm -rf "$corpus" && mkdir -p "$corpus"
        [[ -f $f"_seed_corpus.zip" ]] && unzip -qo -d "$corpus" "$f"_seed_corpus.zip

        if [[ $FUZZING_ENGINE == libfuzzer && $SANITIZER != coverage ]]; then
            # bad_build_check check_engine: instrumented, enough coverage counters
            (cd "$TMPD" && "$f" -- -seed=1337 -runs=4) >"$log" 2>&1 || true
            if grep -q 'no interesting inputs were found' "$log"; then bad "$t: no coverage instrumentation"; fi
            edges=$(grep -oP 'INFO: Loaded \d+ module.*\(.*(counters|guards)\):\s+\K\d+' "$log" | sed -n 1p)
            [[ -n $edges && $edges -ge 100 ]] || { bad "$t: ${edges:-no} coverage counters (bad_build_check wants >= 100)"; tail -5 "$log"; }
            # check_startup_crash through run_fuzzer's command line, from $OUT
            # shellcheck disable=SC2086
            (cd "$OUT" && "$f" -- $FUZZER_ARGS -seed=1337 -runs=4 $opts </dev/null) >"$log" 2>&1 || true
            grep -q 'Done 4 runs' "$log" || { bad "$t: startup crash or exit under run_fuzzer's flags"; tail -8 "$log"; }
            # check_seed_corpus: the whole seed corpus, no crash
            # shellcheck disable=SC2086
            (cd "$OUT" && "$f" -- $FUZZER_ARGS -runs=0 "$corpus" $opts </dev/null) >"$log" 2>&1 ||
                { bad "$t: its seed corpus crashes it"; tail -12 "$log"; }
        fi
        # the session-aware mutator (targets/manifest's mutator column): linked into the libFuzzer
        # build; under AFL++ a shared object in $OUT that afl-fuzz must load into its own,
        # uninstrumented process (AFL_CUSTOM_MUTATOR_LIBRARY: OSS-Fuzz's runner does not set it)
        local layout so=""
        layout=$(tr ' ' '\n' <<<"$MX_MUTATORS" | sed -n "s/^$t=//p")
        if [[ -n $layout && $layout != - ]]; then
            # nm's whole output first: grep -q would stop reading, and under pipefail nm's SIGPIPE fails the test
            local syms
            syms=$(nm "$f" 2>/dev/null || true)
            grep -q ' T LLVMFuzzerCustomMutator$' <<<"$syms" || bad "$t: no LLVMFuzzerCustomMutator (manifest: mutator $layout)"
            if [[ $FUZZING_ENGINE == afl ]]; then
                so=$OUT/mxfuzz_mutator_$layout.so
                if [[ ! -f $so ]]; then bad "$t: no mxfuzz_mutator_$layout.so in \$OUT"; so=""
                else
                    syms=$(nm -D "$so" 2>/dev/null || true)
                    grep -q ' T afl_custom_fuzz$' <<<"$syms" || bad "$so exports no afl_custom_fuzz"
                    syms=$(nm -D --undefined-only "$so" 2>/dev/null || true)
                    if grep -qE '__(asan|ubsan|sanitizer|afl)' <<<"$syms"; then
                        bad "$so needs a sanitizer or AFL++ runtime: afl-fuzz cannot load it"
                    fi
                fi
            fi
        fi
        if [[ $FUZZING_ENGINE == afl ]]; then
            check_afl "$t" "$opts"
            if [[ -n $so ]]; then
                AFL_CUSTOM_MUTATOR_LIBRARY=$so check_afl "$t" "$opts"
                grep -q 'Loading custom mutator library' "$TMPD/$t.afl.log" || bad "$t: afl-fuzz did not load $so"
            fi
        fi
        if [[ $SANITIZER != coverage ]]; then
            # reproduce (helper.py reproduce): FUZZING_ENGINE=libfuzzer, -runs=100, the testcase
            local tc
            tc=$(find "$corpus" -type f | sort | sed -n 1p)   # sed reads all: no SIGPIPE under pipefail
            [[ -n $tc ]] || { tc=$TMPD/$t.testcase; printf 'input' >"$tc"; }
            # shellcheck disable=SC2086
            (cd "$OUT" && "$f" -- $FUZZER_ARGS -runs=100 "$tc" $opts </dev/null) >"$log" 2>&1 ||
                { bad "$t: reproduce of a seed failed"; tail -12 "$log"; }
        else
            check_coverage "$t" "$corpus"
        fi
    done
    [[ $SANITIZER != coverage ]] || check_coverage_report
}

# bad_build_check check_mixed_sanitizers: objdump -dC, calls to each sanitizer's runtime
check_sanitizer_calls() {
    local t=$1 a d m u
    case $SANITIZER in address | undefined | memory) ;; *) return 0 ;; esac
    [[ $SANITIZER == undefined && $FUZZING_ENGINE != libfuzzer ]] && return 0
    read -r a d m u < <(objdump -dC "$OUT/$t" | awk '
        /callq?[ \t]+[0-9a-f]+[ \t]+<__asan/ { a++ } /callq?[ \t]+[0-9a-f]+[ \t]+<__dfsan/ { d++ }
        /callq?[ \t]+[0-9a-f]+[ \t]+<__msan/ { m++ } /callq?[ \t]+[0-9a-f]+[ \t]+<__ubsan/ { u++ }
        END { print a + 0, d + 0, m + 0, u + 0 }')
    echo "   $t: sanitizer calls asan $a dfsan $d msan $m ubsan $u"
    ((d == 0)) || bad "$t: built with DFSan"
    case $SANITIZER in
    address) ((a >= 1000)) || bad "$t: $a ASan calls (< 1000: not an ASan build)"
             ((m <= 3)) || bad "$t: ASan build with MSan"; ((u <= 200)) || bad "$t: ASan build with UBSan ($u calls > 200)" ;;
    undefined) ((u >= 168)) || bad "$t: $u UBSan calls (< 168: not a UBSan build)"
               ((a == 0)) || bad "$t: UBSan build with ASan"; ((m <= 3)) || bad "$t: UBSan build with MSan" ;;
    memory) ((m >= 1000)) || bad "$t: $m MSan calls (< 1000: not an MSan build)"
            ((a == 0)) || bad "$t: MSan build with ASan"; ((u <= 200)) || bad "$t: MSan build with UBSan" ;;
    esac
}

# bad_build_check for AFL++: run_fuzzer's afl-fuzz command line (afl-fuzz from $OUT, its
# environment, SKIP_SEED_CORPUS: only the one-line "input"); ready within 35 s, no crash
check_afl() {
    local t=$1 log=$TMPD/$1.afl.log in=$TMPD/$1.afl.in dict i
    rm -rf "$in" "$TMPD/$t.afl.out" && mkdir -p "$in" && echo input >"$in/input"
    dict=$(sed -n 's/^\s*dict\s*=\s*\(.*\)/\1/p' "$OUT/$t.options" | tail -1)
    [[ -z $dict && -f $OUT/$t.dict ]] && dict=$t.dict
    : >"$log"   # there before the loop below reads it (afl-fuzz starts in the background)
    (cd "$OUT" && exec env ASAN_OPTIONS="$ASAN_OPTIONS:abort_on_error=1:symbolize=0:detect_odr_violation=0:" \
        MSAN_OPTIONS="$MSAN_OPTIONS:exit_code=86:symbolize=0" UBSAN_OPTIONS="$UBSAN_OPTIONS:symbolize=0" AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 \
        AFL_TRY_AFFINITY=1 AFL_FAST_CAL=1 AFL_CMPLOG_ONLY_NEW=1 AFL_FORKSRV_INIT_TMOUT=30000 AFL_IGNORE_PROBLEMS=1 \
        AFL_IGNORE_UNKNOWN_ENVS=1 AFL_NO_UI=1 \
        "$OUT/afl-fuzz" $AFL_FUZZER_ARGS -t 5000+ -i "$in" -o "$TMPD/$t.afl.out" ${dict:+-x "$dict"} -- "$OUT/$t") \
        >"$log" 2>&1 &
    local pid=$!
    # stop as soon as it is ready (bad_build_check waits the full 35 s: same verdict, faster)
    for ((i = 0; i < 35; i++)); do
        grep -q 'All set and ready to roll' "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if grep -q 'All set and ready to roll' "$log"; then
        echo "   $t: afl-fuzz all set and ready to roll after ${i} s${AFL_CUSTOM_MUTATOR_LIBRARY:+ (custom mutator ${AFL_CUSTOM_MUTATOR_LIBRARY##*/})}"
    else
        bad "$t: afl-fuzz never got ready"; tail -12 "$log"
    fi
    if grep -qE 'target binary (crashed|terminated)' "$log"; then bad "$t: the target crashed or terminated under afl-fuzz"; fi
}

# the coverage job (base-runner's coverage), per target: a -merge=1 run over the corpus writing
# profiles (crash-resistant, 100 s timeout), llvm-profdata merge, llvm-cov export of the summary
# and llvm-cov show of the covered lines (the textcov report introspector reads). Sources are
# found as the job finds them: compile copied $SRC and $WORK into $OUT with their full paths,
# and -path-equivalence=/,$OUT maps the build's paths there.
cov_args() { echo "-path-equivalence=/,$OUT -ignore-filename-regex=.*src/libfuzzer/.*"; }
check_coverage() {
    local t=$1 corpus=$2 dumps=$TMPD/$1.dumps lines
    rm -rf "$dumps" && mkdir -p "$dumps/dummy"
    (cd "$OUT" && LLVM_PROFILE_FILE="$dumps/$t.%1m.profraw" "$OUT/$t" -merge=1 -timeout=100 "$dumps/dummy" "$corpus") \
        >"$dumps/log" 2>&1 || { bad "$t: the coverage run failed"; tail -8 "$dumps/log"; return; }
    if grep -qE '^==[0-9]+== ERROR: libFuzzer:' "$dumps/log"; then bad "$t: libFuzzer error in the coverage run"; fi
    compgen -G "$dumps/*.profraw" >/dev/null || { bad "$t: the coverage run wrote no profile"; return; }
    llvm-profdata merge -j=1 -sparse "$dumps"/*.profraw -o "$dumps/$t.profdata" || { bad "$t: llvm-profdata merge failed"; return; }
    # shellcheck disable=SC2046
    llvm-cov export -summary-only -instr-profile="$dumps/$t.profdata" -object="$OUT/$t" $(cov_args) >"$dumps/$t.json" ||
        { bad "$t: llvm-cov export failed"; return; }
    lines=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"][0]["totals"]["lines"]["covered"])' "$dumps/$t.json")
    echo "   $t: coverage job covered $lines lines"
    ((lines > 0)) || bad "$t: the coverage job covered no line"
    # shellcheck disable=SC2046
    llvm-cov show -instr-profile="$dumps/$t.profdata" -object="$OUT/$t" -line-coverage-gt=0 --show-branches=count \
        --show-expansions $(cov_args) >"$dumps/$t.covreport" 2>"$dumps/show.err" || { bad "$t: llvm-cov show failed"; return; }
    check_sources_found "$t" "$dumps/show.err"
}

# the job's report over all targets: their profiles merged into one, then llvm-cov show -format=html
# and llvm-cov export of the summary over every target as one set of objects (and llvm-cov report,
# the same totals as a table)
check_coverage_report() {
    local t objects=() dir=$TMPD/coverage-report lines
    rm -rf "$dir" && mkdir -p "$dir"
    for t in $MX_TARGETS; do
        [[ -f $TMPD/$t.dumps/$t.profdata ]] || { bad "$t: no profile for the coverage report"; return; }
        # llvm-cov's form: the first object plain, the others as -object=
        if [[ ${#objects[@]} -eq 0 ]]; then objects=("$OUT/$t"); else objects+=("-object=$OUT/$t"); fi
    done
    llvm-profdata merge -sparse "$TMPD"/*.dumps/*.profdata -o "$dir/merged.profdata" || { bad "coverage report: llvm-profdata merge of all targets failed"; return; }
    # shellcheck disable=SC2046
    llvm-cov show -format=html -output-dir="$dir/html" -instr-profile="$dir/merged.profdata" "${objects[@]}" $(cov_args) \
        2>"$dir/show.err" || { bad "coverage report: llvm-cov show -format=html failed"; return; }
    check_sources_found "the coverage report" "$dir/show.err"
    [[ -f $dir/html/index.html ]] || bad "coverage report: no index.html"
    # shellcheck disable=SC2046
    llvm-cov export -summary-only -instr-profile="$dir/merged.profdata" "${objects[@]}" $(cov_args) >"$dir/summary.json" ||
        { bad "coverage report: llvm-cov export failed"; return; }
    lines=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["data"][0]["totals"]["lines"]; print(t["covered"], "of", t["count"])' "$dir/summary.json")
    echo "   coverage report over all targets: $lines lines"
    [[ ${lines%% *} -gt 0 ]] || bad "coverage report: no line covered"
    # shellcheck disable=SC2046
    llvm-cov report -instr-profile="$dir/merged.profdata" "${objects[@]}" $(cov_args) >"$dir/report.txt" ||
        { bad "coverage report: llvm-cov report failed"; return; }
    grep -q '^TOTAL' "$dir/report.txt" || bad "coverage report: llvm-cov report printed no TOTAL"
}

# llvm-cov says "error: FILE: No such file or directory" and carries on for a source it cannot
# read: the report would show nothing for it. Every source but the system's headers (which
# compile copies from the builder image's /usr/include, not part of this build) must be found.
check_sources_found() {
    local missing
    missing=$(sed -n 's/^.*error: \(.*\): No such file or directory.*$/\1/p' "$2" | grep -v '^/usr/' | sort -u || true)
    [[ -z $missing ]] || bad "$1: llvm-cov cannot read $(wc -l <<<"$missing") source(s) through \$OUT, e.g. $(sed -n 1p <<<"$missing")"
}

# ---------------------------------------------------------------- build phase
# (a function, so that bash has read all of it before it starts: editing this file while a
# long check runs cannot change the running check)
build_phase() {
cfg=$engine-$sanitizer
[[ $deps == debian ]] && cfg+=-debian
top=$BUILD/oss-fuzz-check/$cfg
mkdir -p "$top"
targets=$("$ROOT/build.sh" targets --names | tr '\n' ' ')
targets=${targets% }
mutators=$(for t in $targets; do printf '%s=%s ' "$t" "$("$ROOT/build.sh" targets --field "$t" mutator)"; done)
echo "== oss-fuzz-check ($project): engine $engine, sanitizer $sanitizer, dependencies from $deps -> ${top#"$ROOT"/}"

# -- project.yaml and the Dockerfile, the way infra/presubmit.py reads them
if [[ $project == oss-fuzz ]]; then
python3 "$HERE/presubmit_check.py" "$HERE/project.yaml" "$HERE/Dockerfile" "$sanitizer" "$engine" >"$top.presubmit" 2>&1 ||
    echo "ci/oss-fuzz/presubmit_check.py failed: $(tail -1 "$top.presubmit")" >>"$top.presubmit"
while IFS= read -r l; do
    if [[ $l == NOTE:* ]]; then echo "$l"; else bad "$l"; fi
done <"$top.presubmit"
rm -f "$top.presubmit"
for f in Dockerfile build.sh; do
    grep -q 'http://www.apache.org/licenses/LICENSE-2.0' "$HERE/$f" || bad "ci/oss-fuzz/$f: no license header (presubmit.py)"
done
else
    # ClusterFuzzLite reads only language from its project.yaml; its Dockerfile copies the
    # checkout (the build context is the repository) and its build.sh into $SRC
    grep -qE '^language:\s*c\s*$' "$projdir/project.yaml" || bad ".clusterfuzzlite/project.yaml: language is not c"
    grep -qE '^COPY \. \$SRC/mxfuzz\s*$' "$projdir/Dockerfile" || bad ".clusterfuzzlite/Dockerfile: does not COPY the checkout to \$SRC/mxfuzz"
    grep -qE '^COPY \.clusterfuzzlite/build\.sh \$SRC/?\s*$' "$projdir/Dockerfile" || bad ".clusterfuzzlite/Dockerfile: does not COPY .clusterfuzzlite/build.sh to \$SRC/"
fi
# the layout this check reproduces: the dependencies cloned at their pins into $SRC/<name>
grep -qE '^RUN .*ci/oss-fuzz/fetch-deps\.sh \$SRC\s*$' "$projdir/Dockerfile" ||
    bad "${projdir#"$ROOT"/}/Dockerfile: does not run ci/oss-fuzz/fetch-deps.sh \$SRC (the layout this check builds in)"

# -- the dependencies' source, at the pinned commits
if [[ $deps == source ]]; then
    if [[ ! -d $depsrc/boringssl || ! -d $depsrc/libpcap ]]; then
        echo "== fetching the pinned dependencies into $depsrc"
        "$HERE/fetch-deps.sh" "$depsrc" || die "cannot fetch the dependencies; put their source in DIR/boringssl and DIR/libpcap (at the commits of ci/oss-fuzz/deps) and pass --src DIR"
    fi
    declare -A dep_commit=()   # name -> the commit checked out
    while read -r name url commit; do
        # a git checkout (fetch-deps.sh), or an exported tree with its commit in DIR/<name>.commit
        if [[ -e $depsrc/$name/.git ]]; then have=$(git -C "$depsrc/$name" rev-parse HEAD)
        else have=$(cat "$depsrc/$name.commit" 2>/dev/null || echo "an unknown commit"); fi
        [[ $have == "$commit" ]] || echo "NOTE: $depsrc/$name is at $have, ci/oss-fuzz/deps pins $commit"
        dep_commit[$name]=$have
    done < <(grep -vE '^\s*(#|$)' "$HERE/deps")
fi

# -- base-builder's environment (base-clang's CFLAGS, base-builder's ENV, compile, compile_<engine>)
rm -rf "$top/src" "$top/out" "$top/work/mxfuzz-obj"
mkdir -p "$top/src" "$top/out" "$top/work"
SRC=$top/src OUT=$top/out WORK=$top/work
ln -s "$ROOT" "$SRC/mxfuzz"
cp "$projdir/build.sh" "$SRC/build.sh"   # the Dockerfile's COPY [.clusterfuzzlite/]build.sh $SRC/
if [[ $deps == source ]]; then ln -s "$(cd "$depsrc/boringssl" && pwd)" "$SRC/boringssl"; ln -s "$(cd "$depsrc/libpcap" && pwd)" "$SRC/libpcap"; fi

cflags="-O1 -fno-omit-frame-pointer -gline-tables-only -Wno-error=incompatible-function-pointer-types -Wno-error=int-conversion -Wno-error=deprecated-declarations -Wno-error=implicit-function-declaration -Wno-error=implicit-int -Wno-error=unknown-warning-option -Wno-error=vla-cxx-extension -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
case $sanitizer in
address) san="-fsanitize=address -fsanitize-address-use-after-scope" ;;
undefined) san="-fsanitize=array-bounds,bool,builtin,enum,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unsigned-integer-overflow,unreachable,vla-bound,vptr -fno-sanitize-recover=array-bounds,bool,builtin,enum,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound,vptr" ;;
memory) san="-fsanitize=memory -fsanitize-memory-track-origins" ;;
introspector) san="-O0 -flto -fno-inline-functions -fuse-ld=gold -Wno-unused-command-line-argument" ;;
coverage) san="" ;;
esac
covflags="-fsanitize=fuzzer-no-link"
[[ $sanitizer == coverage ]] && covflags="-fprofile-instr-generate -fcoverage-mapping -pthread -Wl,--no-as-needed -Wl,-ldl -Wl,-lm -Wno-unused-command-line-argument"
env_extra=()
if [[ $engine == libfuzzer ]]; then
    cc=clang cxx=clang++ lib_engine=-fsanitize=fuzzer
    # base-clang's libFuzzer carries its own C++ runtime; Debian's is built against libstdc++,
    # which a -stdlib=libc++ link does not bring: name it with the engine, as part of the engine
    # (the project's own C++, BoringSSL's, still compiles and links against libc++). By file
    # name: clang's driver rewrites -lstdc++ into the -stdlib's library.
    if [[ $(nm "$(clang --print-runtime-dir)/libclang_rt.fuzzer-x86_64.a" 2>/dev/null | grep -c ' U .*St7__cxx11') -gt 0 ]]; then
        lib_engine="$lib_engine -l:libstdc++.so.6"
        echo "NOTE: this clang's libFuzzer needs libstdc++: LIB_FUZZING_ENGINE=\"$lib_engine\""
    fi
else
    # compile_afl: AFL++'s compilers, its driver as LIB_FUZZING_ENGINE, its tools in $OUT, no
    # libFuzzer coverage flags. Here the AFL++ of build.conf's afl profile stands in for
    # base-builder's.
    eval "$("$ROOT/build.sh" flags afl | grep -E '^(CC|CXX|ENGINE)=')"
    cc=$CC cxx=$CXX lib_engine=$top/libFuzzingEngine.a
    cp "$ENGINE" "$lib_engine"
    for f in afl-fuzz afl-showmap afl-tmin afl-cmin afl-analyze; do cp "$(command -v $f)" "$OUT/"; done
    covflags=""
    env_extra=(AFL_QUIET=1 AFL_IGNORE_PROBLEMS=1 AFL_IGNORE_UNKNOWN_ENVS=1
               ASAN_OPTIONS=detect_leaks=0:symbolize=0:detect_odr_violation=0:abort_on_error=1)
    env | grep '^AFL_' >"$OUT/afl_options.txt" || true
fi
# base-clang's CFLAGS name the warnings of base-clang's compiler, LLVM's newest release. A
# -Wno-error=X that this clang does not know makes it print "unknown warning option" on every
# compile, which CMake's check_c_compiler_flag reads as "flag not supported" (libpcap's CMake then
# stops: "C99 support is required"). OSS-Fuzz's clang knows them all: only here are they left out.
known=""
for f in $cflags; do
    if [[ $f == -Wno-error=* ]] && AFL_QUIET=1 "$cc" "$f" -fsyntax-only -x c /dev/null 2>&1 | grep 'unknown warning option' >/dev/null; then
        echo "NOTE: $("$cc" --version 2>/dev/null | grep -m1 version) does not know $f (base-clang does): left out"
        continue
    fi
    known+="${known:+ }$f"
done
cflags=$known
CFLAGS="$cflags $san $covflags"
CXXFLAGS="$CFLAGS -stdlib=libc++"
# compile: the function sanitizer off for C code under UBSan (OSS-Fuzz issue 11778)
[[ $sanitizer == undefined ]] && CFLAGS="$CFLAGS -fno-sanitize=function"
if [[ $sanitizer == introspector ]]; then
    # compile swaps ar/nm/ranlib for LLVM's so that archives of LTO bitcode link; here a PATH
    # entry does it without touching the system's
    mkdir -p "$top/llvm-bin"
    for f in ar nm ranlib; do ln -sf "$(command -v llvm-$f)" "$top/llvm-bin/$f"; done
    env_extra+=(AR=llvm-ar NM=llvm-nm RANLIB=llvm-ranlib)
    CFLAGS="$CFLAGS -g" CXXFLAGS="$CXXFLAGS -g"
fi
# compile_libfuzzer / base-builder: the symbolizer ships with the fuzzers
cp "$(command -v llvm-symbolizer)" "$OUT/"
path=$PATH
[[ $sanitizer == introspector ]] && path=$top/llvm-bin:$PATH
[[ $deps == debian ]] && env_extra+=(MXFUZZ_DEPS=debian)

# Each dependency's build tree in $WORK is kept between runs of one configuration while nothing
# that goes into it changed: its source commit, the compilers, the flags and its own function in
# ci/oss-fuzz/build.sh (ci/oss-fuzz/dep-key.sh says what the key covers: an edit of the mxfuzz
# step or of the other dependency keeps it). ci/oss-fuzz/build.sh still runs every step (cmake,
# ninja), which then finds it up to date; a half-finished build resumes. Anything else changed:
# built afresh. (Ninja alone would miss a source tree swapped for another commit with older
# file times.)
if [[ $deps == source ]]; then
    rm -f "$WORK/deps.key"   # the one key over all of build.sh, before keys per dependency
    for name in "${!dep_commit[@]}"; do
        key=$(DEP_COMMIT=${dep_commit[$name]} DEP_SRC=$(cd "$depsrc/$name" && pwd) \
              CC=$cc CXX=$cxx CFLAGS=$CFLAGS CXXFLAGS=$CXXFLAGS DEP_ENV="${env_extra[*]}" \
              "$HERE/dep-key.sh" "$HERE/build.sh" "$name") || die "no dependency key for $name"
        if [[ $(cat "$WORK/$name.key" 2>/dev/null) == "$key" ]]; then
            echo "   $name build in ${WORK#"$ROOT"/} kept (key $key: same commit, compilers, flags, build_$name)"
        else
            rm -rf "${WORK:?}/$name"
            echo "$key" >"$WORK/$name.key"
            echo "   $name built afresh in ${WORK#"$ROOT"/} (key $key)"
        fi
    done
fi
echo "   CC=$cc CXX=$cxx"
echo "   CFLAGS=$CFLAGS"
echo "   CXXFLAGS=$CXXFLAGS"
echo "   LIB_FUZZING_ENGINE=$lib_engine"
start=$SECONDS
if ! env -i PATH="$path" HOME="${HOME:-/root}" SRC="$SRC" OUT="$OUT" WORK="$WORK" CC="$cc" CXX="$cxx" CCC="$cxx" \
    CFLAGS="$CFLAGS" CXXFLAGS="$CXXFLAGS" LIB_FUZZING_ENGINE="$lib_engine" FUZZING_ENGINE="$engine" \
    SANITIZER="$sanitizer" ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c "${env_extra[@]}" \
    bash -c 'cd "$SRC" && bash -eux "$SRC/build.sh"' >"$top/build.log" 2>&1; then
    tail -40 "$top/build.log"
    bad "ci/oss-fuzz/build.sh failed (engine $engine, sanitizer $sanitizer; full log ${top#"$ROOT"/}/build.log)"
    echo "oss-fuzz-check $cfg: $fails problem(s)"
    exit 1
fi
echo "   built in $((SECONDS - start)) s"
if [[ $project == clusterfuzzlite ]]; then
    # one build script: ClusterFuzzLite's entry hands over to ci/oss-fuzz/build.sh (bash -x traced
    # the call) and does nothing else of its own that could drift from it
    grep -qE '^\+ (exec )?\S*/mxfuzz/ci/oss-fuzz/build\.sh$' "$top/build.log" ||
        bad ".clusterfuzzlite/build.sh did not hand the build over to ci/oss-fuzz/build.sh"
    [[ $(grep -cvE '^\s*(#|$)' "$projdir/build.sh") -eq 1 ]] ||
        bad ".clusterfuzzlite/build.sh does more than call ci/oss-fuzz/build.sh (a second build script drifts)"
fi

if [[ $sanitizer == coverage ]]; then
    # compile, after a coverage build: the sources the coverage report shows, $SRC and $WORK
    # copied into $OUT at their full paths (cp -rL --parents $SRC $WORK $OUT). Here $SRC/mxfuzz
    # is the checkout itself, whose build/ holds $OUT: that is left out, as is version control
    # (the report reads neither); system headers are not copied (see check_sources_found).
    start=$SECONDS
    tar -C / -chf - --exclude-vcs --exclude="${SRC#/}/mxfuzz/build" "${SRC#/}" "${WORK#/}" | tar -C "$OUT" -xf - ||
        bad "copying \$SRC and \$WORK into \$OUT for the coverage report failed"
    echo "   sources copied into \$OUT for the coverage report ($(du -sm "$OUT/${SRC#/}" "$OUT/${WORK#/}" | awk '{ s += $1 } END { print s }') MiB, $((SECONDS - start)) s)"
fi

# -- what only the build side can see: seed zips against corpus/, the compile commands
for t in $targets; do
    zip=$OUT/${t}_seed_corpus.zip
    if [[ -d $ROOT/corpus/$t ]]; then
        want=$(find "$ROOT/corpus/$t" -type f ! -name '.*' | wc -l)
        got=$(unzip -Z1 "$zip" 2>/dev/null | grep -vc '/$' || true)
        [[ $want == "$got" ]] || bad "${t}_seed_corpus.zip has $got files, corpus/$t has $want"
        [[ $(unzip -Z1 "$zip" 2>/dev/null | grep -cE '(^|/)\.') -eq 0 ]] || bad "${t}_seed_corpus.zip holds hidden files"
    fi
    [[ -f $OUT/$t.options ]] || bad "no $t.options"
done
# run-time libraries: everything from $OUT, or from the base system every runner has; Debian's
# libc++ is shared where OSS-Fuzz's is static (base-clang builds libc++ without a shared library).
# Under --deps debian, what Debian's shared libraries in $OUT/lib load (libpcap's D-Bus, systemd,
# ...) belongs to the stand-ins, not to the OSS-Fuzz build, which links them statically without.
standin=" "
if [[ $deps == debian ]]; then
    for f in "$OUT"/lib/*; do
        [[ -f $f ]] && standin+="$(ldd "$f" | awk '$2 == "=>" { printf "%s ", $1 }')"
    done
fi
for t in $targets; do
    [[ -x $OUT/$t ]] || { bad "$t: not built"; continue; }
    while read -r lib path; do
        case ${lib##*/} in
        linux-vdso.so.* | ld-linux-x86-64.so.* | libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | libgcc_s.so.* | libstdc++.so.* | libresolv.so.*) ;;
        libc++.so.* | libc++abi.so.* | libunwind.so.*) ;;
        *) [[ $path == "$OUT"/* || $standin == *" $lib "* ]] || bad "$t: loads $lib from $path, outside \$OUT" ;;
        esac
    done < <(ldd "$OUT/$t" | awk '$2 == "=>" { print $1, $3 } $2 != "=>" { print $1, $1 }')
    [[ $(ldd "$OUT/$t" | grep -c 'not found') -eq 0 ]] || bad "$t: a library ldd cannot find"
done

# -- the runner's side: $OUT elsewhere, read-only, the checkout hidden, no network
command -v unshare >/dev/null || die "unshare (util-linux) is needed for the runner checks"
TMPD=$(mktemp -d /tmp/mxfuzz-oss-run.XXXXXX)
notout=$(mktemp -d /tmp/mxfuzz-not-out.XXXXXX)
trap 'mv "$notout"/* "$OUT"/ 2>/dev/null; rm -rf "$notout" "$TMPD"' EXIT
mv "$OUT"/* "$notout"/
cp "$HERE/check.sh" "$TMPD/check.sh"
echo "== runner checks (\$OUT at $notout, read-only; no network; the checkout hidden)"
env -i PATH="/usr/sbin:/usr/bin:/sbin:/bin" HOME=/tmp OUT="$notout" TMPD="$TMPD" MX_TARGETS="$targets" MX_MUTATORS="$mutators" \
    FUZZING_ENGINE="$engine" SANITIZER="$sanitizer" ARCHITECTURE=x86_64 \
    ASAN_OPTIONS="alloc_dealloc_mismatch=0:allocator_may_return_null=1:allocator_release_to_os_interval_ms=500:check_malloc_usable_size=0:detect_container_overflow=1:detect_odr_violation=0:detect_leaks=1:detect_stack_use_after_return=1:fast_unwind_on_fatal=0:handle_abort=1:handle_segv=1:handle_sigill=1:max_uar_stack_size_log=16:print_scariness=1:quarantine_size_mb=10:strict_memcmp=1:symbolize=1:use_sigaltstack=1:dedup_token_length=3" \
    MSAN_OPTIONS="print_stats=1:symbolize=1:dedup_token_length=3" \
    UBSAN_OPTIONS="print_stacktrace=1:print_summary=1:silence_unsigned_overflow=1:symbolize=1:dedup_token_length=3" \
    FUZZER_ARGS="-rss_limit_mb=2560 -timeout=25" AFL_FUZZER_ARGS="-m none" \
    unshare -m -n bash -c '
        set -e
        mount --bind "$OUT" "$OUT" && mount -o remount,bind,ro "$OUT"
        mount -t tmpfs mxfuzz-hidden "$1"
        exec bash "$TMPD/check.sh" --runner-phase --sanitizer "$2" --engine "$3"' _ "$ROOT" "$sanitizer" "$engine" ||
    fails=$((fails + 1))
mv "$notout"/* "$OUT"/
trap - EXIT
rm -rf "$notout" "$TMPD"
[[ $keep == 1 ]] || rm -rf "$top/src"

echo "oss-fuzz-check $cfg: $fails problem(s)"
[[ $fails -eq 0 ]]
}

if [[ $phase == run ]]; then runner_checks; exit $((fails > 0)); else build_phase; exit; fi
