#!/usr/bin/env bash
# The OSS-Fuzz / ClusterFuzzLite build contract, checked the way the infrastructure checks it.
# For each engine x sanitizer below, run ./build.sh with the variables OSS-Fuzz's compile step
# sets (CC CXX CFLAGS CXXFLAGS LIB_FUZZING_ENGINE FUZZING_ENGINE SANITIZER OUT WORK) and check $OUT:
#  - every manifest target is there, named [A-Za-z0-9_-]+, executable, defines LLVMFuzzerTestOneInput
#  - <t>.options is INI with [libfuzzer], max_len, timeout and rss_limit_mb (and dict = <t>.dict
#    when the target has one)
#  - <t>.dict exists when referenced; <t>_seed_corpus.zip holds exactly corpus/<t>/, no hidden file
#  - no run-time dependency outside $OUT (ldd finds everything, BoringSSL from $OUT/lib)
#  - a target with a mutator (manifest column) has LLVMFuzzerCustomMutator linked in; the AFL++
#    build ships OUT/mxfuzz_mutator_<layout>.so, loadable into afl-fuzz (no sanitizer or AFL++
#    runtime symbols), and afl-fuzz runs each such target with it (AFL_CUSTOM_MUTATOR_LIBRARY)
#  - started from another directory with only $OUT, each fuzzer runs its seed corpus (libFuzzer),
#    and afl-fuzz reaches "All set and ready to roll" (AFL++)
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
targets=$("$ROOT/build.sh" targets --names)

check_out() {
    local cfg=$1 out=$2 t
    for t in $targets; do
        [[ $t =~ ^[A-Za-z0-9_-]+$ ]] || bad "$cfg: bad target name $t"
        [[ -x $out/$t ]] || { bad "$cfg: $t missing or not executable"; continue; }
        [[ $(nm "$out/$t" 2>/dev/null | grep -c ' T LLVMFuzzerTestOneInput') -ge 1 ]] || bad "$cfg: $t has no LLVMFuzzerTestOneInput"
        grep -qx '\[libfuzzer\]' "$out/$t.options" || bad "$cfg: $t.options lacks [libfuzzer]"
        grep -qE '^max_len = [0-9]+$' "$out/$t.options" || bad "$cfg: $t.options lacks max_len"
        grep -qE '^timeout = [0-9]+$' "$out/$t.options" || bad "$cfg: $t.options lacks timeout"
        grep -qE '^rss_limit_mb = [0-9]+$' "$out/$t.options" || bad "$cfg: $t.options lacks rss_limit_mb"
        if unzip -Z1 "$out/${t}_seed_corpus.zip" 2>/dev/null | grep -qE '(^|/)\.'; then bad "$cfg: ${t}_seed_corpus.zip holds hidden files"; fi
        local dicts
        dicts=$("$ROOT/build.sh" targets --field "$t" dicts)
        if [[ $dicts != - ]]; then
            grep -qx "dict = $t.dict" "$out/$t.options" || bad "$cfg: $t.options lacks dict = $t.dict"
            [[ -s $out/$t.dict ]] || bad "$cfg: $t.dict missing"
        fi
        if [[ -d $ROOT/corpus/$t ]]; then
            local want got
            want=$(find "$ROOT/corpus/$t" -type f ! -name '.*' | wc -l)
            got=$(unzip -Z1 "$out/${t}_seed_corpus.zip" 2>/dev/null | grep -vc '/$' || true)
            [[ $want == "$got" ]] || bad "$cfg: ${t}_seed_corpus.zip has $got files, corpus/$t has $want"
        fi
        local layout
        layout=$("$ROOT/build.sh" targets --field "$t" mutator)
        if [[ $layout != - ]]; then
            [[ $(nm "$out/$t" 2>/dev/null | grep -c ' T LLVMFuzzerCustomMutator$') -eq 1 ]] ||
                bad "$cfg: $t has no LLVMFuzzerCustomMutator (manifest: mutator $layout)"
            if [[ $cfg == afl* ]]; then
                local so="$out/mxfuzz_mutator_$layout.so"
                if [[ ! -f $so ]]; then
                    bad "$cfg: no mxfuzz_mutator_$layout.so in \$OUT for $t"
                else
                    nm -D "$so" | grep -q ' T afl_custom_fuzz$' || bad "$cfg: $so exports no afl_custom_fuzz"
                    if nm -D --undefined-only "$so" | grep -qE '__(asan|ubsan|sanitizer|afl)'; then
                        bad "$cfg: $so needs a sanitizer or AFL++ runtime: afl-fuzz cannot load it"
                    fi
                fi
            fi
        fi
        local deps
        deps=$(ldd "$out/$t")
        if grep -q 'not found' <<<"$deps"; then bad "$cfg: $t has unresolved libraries"; fi
        if grep -E 'lib(ssl|crypto|pcap)\.so' <<<"$deps" | grep -qv "$out/lib/"; then
            bad "$cfg: $t loads BoringSSL from outside \$OUT"
        fi
    done
}

run_libfuzzer() {
    local cfg=$1 out=$2 t tmp
    tmp=$(mktemp -d)
    for t in $targets; do
        mkdir -p "$tmp/$t"
        (cd "$tmp/$t" && unzip -q "$out/${t}_seed_corpus.zip" -d seeds 2>/dev/null; mkdir -p seeds
         "$out/$t" -runs=200 -dict="$out/$t.dict" seeds >log 2>&1 ||
         "$out/$t" -runs=200 seeds >log 2>&1) || { bad "$cfg: $t failed its seed corpus run"; tail -5 "$tmp/$t/log"; }
        grep -q 'INITED' "$tmp/$t/log" || bad "$cfg: $t did not start"
    done
    rm -rf "$tmp"
}

run_afl() {
    local cfg=$1 out=$2 t tmp
    command -v afl-fuzz >/dev/null || { bad "afl-fuzz not installed"; return; }
    tmp=$(mktemp -d)
    for t in $targets; do
        mkdir -p "$tmp/$t/in"
        (cd "$tmp/$t" && unzip -q "$out/${t}_seed_corpus.zip" -d in 2>/dev/null || true)
        [[ -n $(ls -A "$tmp/$t/in") ]] || printf '\0\0\0\0' >"$tmp/$t/in/zero"
        local layout so=""
        layout=$("$ROOT/build.sh" targets --field "$t" mutator)
        [[ $layout != - ]] && so="$out/mxfuzz_mutator_$layout.so"
        (cd "$tmp/$t" && unset ASAN_OPTIONS UBSAN_OPTIONS && AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
            AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=1 AFL_BENCH_UNTIL_CRASH=0 \
            env ${so:+AFL_CUSTOM_MUTATOR_LIBRARY=$so} timeout 60 afl-fuzz -i in -o o -V 3 -- "$out/$t" >log 2>&1) || true
        grep -q 'All set and ready to roll' "$tmp/$t/log" || { bad "$cfg: afl-fuzz never got ready for $t"; tail -5 "$tmp/$t/log"; }
        if [[ -n $so ]] && ! grep -q 'Loading custom mutator library' "$tmp/$t/log"; then
            bad "$cfg: afl-fuzz did not load $so for $t"
        fi
    done
    rm -rf "$tmp"
}

build() {
    local cfg=$1 out
    out=$(mktemp -d)
    echo "== $cfg"
    if ! (cd "$ROOT" && env OUT="$out" WORK="$(mktemp -d)" SRC="$ROOT/.." "${@:2}" ./build.sh >"$out.log" 2>&1); then
        bad "$cfg: build.sh failed"; tail -20 "$out.log"; return
    fi
    check_out "$cfg" "$out"
    case $cfg in
    afl*) run_afl "$cfg" "$out" ;;
    coverage) ;;   # coverage builds are not run by the infra's check
    *) run_libfuzzer "$cfg" "$out" ;;
    esac
    rm -rf "$out"
}

# The flags below imitate OSS-Fuzz's compile step (infra/base-images/base-clang, by engine and
# sanitizer): this is the one place outside build.conf that spells sanitizer flags, on purpose.
# They stand in for the infrastructure, not for mxfuzz's build; build.sh must add none of its own.
base="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
build libfuzzer-address CC=clang CXX=clang++ FUZZING_ENGINE=libfuzzer SANITIZER=address \
    CFLAGS="$base -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link" \
    CXXFLAGS="$base -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link" \
    LIB_FUZZING_ENGINE=-fsanitize=fuzzer
build libfuzzer-undefined CC=clang CXX=clang++ FUZZING_ENGINE=libfuzzer SANITIZER=undefined \
    CFLAGS="$base -fsanitize=array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unsigned-integer-overflow,unreachable,vla-bound,vptr -fno-sanitize-recover=array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound,vptr -fsanitize=fuzzer-no-link" \
    CXXFLAGS="$base -fsanitize=undefined -fsanitize=fuzzer-no-link" \
    LIB_FUZZING_ENGINE=-fsanitize=fuzzer
build afl-address CC=afl-clang-fast CXX=afl-clang-fast++ FUZZING_ENGINE=afl SANITIZER=address AFL_QUIET=1 \
    CFLAGS="$base -fsanitize=address -fsanitize-address-use-after-scope" \
    CXXFLAGS="$base -fsanitize=address -fsanitize-address-use-after-scope" \
    LIB_FUZZING_ENGINE=/usr/lib/afl/libAFLDriver.a
build coverage CC=clang CXX=clang++ FUZZING_ENGINE=libfuzzer SANITIZER=coverage \
    CFLAGS="$base -fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer-no-link" \
    CXXFLAGS="$base -fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer-no-link" \
    LIB_FUZZING_ENGINE=-fsanitize=fuzzer

echo "oss-fuzz contract: $fails problem(s)"
[[ $fails -eq 0 ]]
