#!/usr/bin/env bash
# mxfuzz: the one entry point. `./build.sh help` lists the commands.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
JOBS_DEFAULT=$(nproc 2>/dev/null || echo 2)
# the build description: compilers, flags, sanitizer sets, engines, library paths
# shellcheck source=build.conf
source "$ROOT/build.conf"

say() { printf '%s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<'USAGE'
usage: ./build.sh [COMMAND] [ARGS]

  (no command)         fuzz every target for the default time (same as `fuzz`); under OSS-Fuzz
                       ($OUT and $LIB_FUZZING_ENGINE set) build the fuzzers into $OUT instead
  fuzz [TARGET...] [--time S] [--engine libfuzzer|afl] [--jobs N]
                       fuzz with the shipped corpus, dictionary and options; progress while it
                       runs; a summary per target; new corpus entries merged into corpus/TARGET/
  test                 build everything with ASan+UBSan and run the whole suite with ctest
  repro FILE [--target T] [--save "what it is"]
                       replay one input, print the sanitizer report and exit status; --save
                       minimizes it into repro/T/<id> and it becomes a named test
  bench bugs|speed [ARGS]
                       detection power: time-to-bug on the re-injected bugs of bench/bugs/,
                       exec/s against an empty target (see bench/README.md)
  coverage [--after-fuzz S]
                       llvm-cov line/branch coverage of src/ from the shipped corpus + reproducers
  oss-fuzz             build into $OUT with $CC $CFLAGS $LIB_FUZZING_ENGINE (the OSS-Fuzz contract)
  oss-fuzz-check [--sanitizer S] [--engine E] [--deps source|debian] [--src DIR]
                 [--project oss-fuzz|clusterfuzzlite] [--keep]
                       run ci/oss-fuzz/build.sh in a reproduction of OSS-Fuzz's build environment
                       and check $OUT as OSS-Fuzz's runner does (ci/oss-fuzz/check.sh); from
                       source, BoringSSL takes tens of minutes on 2 cores
  live [--quick] [--servers LIST] [--fuzz [--time S] [--count N] [--seed K]] [SESSION-OR-DIR...]
                       live mode: mx-serve, Debian's postfix (default and hardened) and dovecot
                       started on loopback with private configs under build/live, every session
                       replayed to each (--fuzz: mutated, reply classes as feedback), replies
                       judged by the RFC model, each finding minimized; report in
                       build/live/report.{txt,html}; every server stopped after (live/README.md)
  deps                 install (as root) or list the Debian packages mxfuzz needs
  targets [--names | --field TARGET name|dicts|max_len|libs|mutator]
                       the targets of targets/manifest (the one reader of that file): the
                       checked lines, only the names, or one field of one target
  build-fuzzers [libfuzzer|afl]
                       build the local fuzzers (ASan+UBSan) into build/fuzz-ENGINE/out, with
                       their objects and recorded compile/link commands in build/fuzz-ENGINE/obj;
                       afl: also the session-aware mutator, out/mxfuzz_mutator_<layout>.so
  build PROFILE [CMAKE_TARGET...]
                       configure and build the CMake tree build/PROFILE with a profile of
                       build.conf (test, coverage, release, valgrind); all targets by default
  flags PROFILE        print a profile of build.conf as shell assignments (CC CXX CFLAGS
                       CXXFLAGS LDFLAGS ENGINE BORINGSSL_INCLUDE BORINGSSL_LIB) for scripts
  help                 this text

Every flag, sanitizer set, engine and library path is in build.conf.
USAGE
}

# ---------------------------------------------------------------- manifest
# The one reader of targets/manifest. Fields: name dicts max_len libs mutator. Every other script and
# CMakeLists.txt asks `./build.sh targets`; a malformed line stops them all the same way.
MANIFEST=$ROOT/targets/manifest
manifest() {
    awk -v root="$ROOT" '
        /^[ \t]*(#|$)/ { next }
        {
            if (NF != 5) { printf "targets/manifest:%d: %d fields, want 5 (name dicts max_len libs mutator)\n", NR, NF > "/dev/stderr"; bad = 1; next }
            if ($1 !~ /^[A-Za-z0-9_-]+$/) { printf "targets/manifest:%d: bad target name %s\n", NR, $1 > "/dev/stderr"; bad = 1; next }
            if ($3 !~ /^[0-9]+$/) { printf "targets/manifest:%d: max_len %s is not a number\n", NR, $3 > "/dev/stderr"; bad = 1; next }
            if ($5 != "-" && ($5 !~ /^[a-z0-9_]+$/ || system("test -f \"" root "/targets/mutator/layout_" $5 ".c\"") != 0)) { printf "targets/manifest:%d: mutator %s: no targets/mutator/layout_%s.c\n", NR, $5, $5 > "/dev/stderr"; bad = 1; next }
            if (seen[$1]++) { printf "targets/manifest:%d: %s listed twice\n", NR, $1 > "/dev/stderr"; bad = 1; next }
            print $1, $2, $3, $4, $5
        }
        END { exit bad }' "$MANIFEST"
}
target_names() { manifest | awk '{print $1}'; }
# target_field TARGET name|dicts|max_len|libs|mutator
target_field() {
    local n
    case $2 in name) n=1 ;; dicts) n=2 ;; max_len) n=3 ;; libs) n=4 ;; mutator) n=5 ;; *) die "targets: no field '$2' (name dicts max_len libs mutator)" ;; esac
    manifest | awk -v t="$1" -v f="$n" '$1 == t {print $f; found = 1} END {exit !found}'
}
is_target() { target_names | grep -qx -- "$1"; }

cmd_targets() {
    case ${1:-} in
    "") manifest ;;
    --names) target_names ;;
    --field) [[ $# -eq 3 ]] || die "targets --field TARGET FIELD"
             target_field "$2" "$3" || die "targets: no target '$2'" ;;
    *) die "targets: unknown option $1 (--names, --field TARGET FIELD)" ;;
    esac
}

# ---------------------------------------------------------------- the build description
bssl_inc() { printf '%s' "${MX_BORINGSSL_INCLUDE:-$MX_BORINGSSL_INCLUDE_DEFAULT}"; }
bssl_lib() { printf '%s' "${MX_BORINGSSL_LIB:-$MX_BORINGSSL_LIB_DEFAULT}"; }

is_profile() { [[ " $MX_PROFILES " == *" $1 "* ]]; }
# profile_var PROFILE KEY: the value of PROFILE_KEY in build.conf (empty when unset)
profile_var() { local v="${1}_$2"; printf '%s' "${!v:-}"; }

cmd_flags() {
    local p=${1:-}
    is_profile "$p" || die "flags: which profile? ($MX_PROFILES)"
    printf 'CC=%q\nCXX=%q\n' "$(profile_var "$p" CC)" "$(profile_var "$p" CXX)"
    printf 'CFLAGS=%q\n' "$(profile_var "$p" CFLAGS) $MX_COMMON_CFLAGS"
    printf 'CXXFLAGS=%q\nLDFLAGS=%q\nENGINE=%q\n' "$(profile_var "$p" CXXFLAGS)" \
        "$(profile_var "$p" LDFLAGS)" "$(profile_var "$p" ENGINE)"
    printf 'BORINGSSL_INCLUDE=%q\nBORINGSSL_LIB=%q\n' "$(bssl_inc)" "$(bssl_lib)"
}

# cmake_build PROFILE [CMAKE_TARGET...]: the CMake tree $BUILD/PROFILE, configured with
# -DMX_PROFILE=PROFILE (CMakeLists.txt takes that profile's compiler and flags from build.conf)
cmake_build() {
    local p=$1 dir="$BUILD/$1"
    shift
    is_profile "$p" || die "build: no profile '$p' ($MX_PROFILES)"
    mkdir -p "$BUILD"
    cmake -S "$ROOT" -B "$dir" -DMX_PROFILE="$p" \
        -DMX_BORINGSSL_INCLUDE="$(bssl_inc)" -DMX_BORINGSSL_LIBDIR="$(bssl_lib)" \
        >"$BUILD/$p-configure.log" 2>&1 || { cat "$BUILD/$p-configure.log"; die "cmake configure ($p) failed"; }
    local tg=()
    [[ $# -gt 0 ]] && tg=(--target "$@")
    if ! cmake --build "$dir" -j "$JOBS_DEFAULT" "${tg[@]}" >"$BUILD/$p-build.log" 2>&1; then
        grep -E 'error|Error' "$BUILD/$p-build.log" | head -40
        die "the $p build failed (full log: ${BUILD#"$ROOT"/}/$p-build.log)"
    fi
}

# ---------------------------------------------------------------- dependencies
# pkg:probe pairs; a probe is a command name, an absolute file path, @fuzzer-rt: libFuzzer's
# runtime in the directory of the installed clang's runtimes (whatever its version), or @lib=NAME:
# a library file clang's linker finds (clang -print-file-name answers a bare NAME when it finds none).
DEPS_BASE="clang:clang cmake:cmake make:make zip:zip unzip:unzip libclang-rt-dev:@fuzzer-rt android-libboringssl-dev:$(bssl_inc)/openssl/ssl.h libpcap-dev:/usr/include/pcap/pcap.h libcmocka-dev:/usr/include/cmocka.h llvm:llvm-symbolizer dovecot-dev:$MX_DOVECOT_INCLUDE/imap-parser.h dovecot-core:$MX_DOVECOT_SHARED"
DEPS_AFL="afl++:afl-fuzz"
DEPS_TEST="valgrind:valgrind strace:strace tshark:tshark swaks:swaks curl:curl python3:python3 openssl:openssl"
# bench/stats.py draws each bug's Kaplan-Meier curve as a PNG for the run's index.html with
# gnuplot's pngcairo terminal (gnuplot-nox has it); the suite checks that drawing too
DEPS_BENCH="gnuplot-nox:gnuplot"
# ./build.sh oss-fuzz-check, also the suite's --deps debian form of it: base-builder's CXXFLAGS
# carry -stdlib=libc++, so every C++ link (the fuzzers are linked with $CXX) needs libc++ and
# libc++abi; the runner checks read binaries with file(1)
DEPS_OSSFUZZ="libc++-dev:@lib=libc++.so libc++abi-dev:@lib=libc++abi.so file:file"
# its --deps source form: ci/oss-fuzz/build.sh drives BoringSSL and libpcap with CMake and ninja;
# libpcap's filter grammar needs flex and bison (the OSS-Fuzz Dockerfile installs the same)
DEPS_OSSFUZZ_SOURCE="ninja-build:ninja flex:flex bison:bison git:git"

missing_pkgs() {
    local pair pkg probe miss=""
    for pair in "$@"; do
        pkg=${pair%%:*}
        probe=${pair#*:}
        [[ $probe == @fuzzer-rt ]] && probe="$(clang --print-runtime-dir 2>/dev/null || echo /nonexistent)/libclang_rt.fuzzer-x86_64.a"
        [[ $probe == @lib=* ]] && probe=$(clang -print-file-name="${probe#@lib=}" 2>/dev/null || echo "${probe#@lib=}")
        if [[ $probe == /* ]]; then
            [[ -e $probe ]] || miss="$miss $pkg"
        else
            command -v "$probe" >/dev/null 2>&1 || miss="$miss $pkg"
        fi
    done
    printf '%s' "${miss# }"
}

ensure_deps() {
    local miss
    miss=$(missing_pkgs "$@")
    [[ -z $miss ]] && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "build.sh: installing missing Debian packages: $miss"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null || die "apt-get update failed"
        # tshark asks whether non-root users may capture; answer no, non-interactively
        echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
        # shellcheck disable=SC2086
        apt-get install -y -q $miss >/dev/null || die "apt-get install $miss failed"
        miss=$(missing_pkgs "$@")
        [[ -z $miss ]] || die "still missing after install: $miss"
    else
        die "missing Debian packages. Install them with:
    sudo apt-get install -y $miss"
    fi
}

# ---------------------------------------------------------------- fuzzer builds
# build_fuzzers OUTDIR OBJDIR WARN: compiles libmx, the harness and every manifest target with
# $CC $CFLAGS (the harness, oracles and mutator with $ORACLE_CFLAGS when set) (plus WARN: the
# warnings and the C standard of build.conf, never a sanitizer), links each
# with $CXX $CXXFLAGS $LIB_FUZZING_ENGINE, and leaves in OUTDIR each fuzzer with its .dict,
# .options and _seed_corpus.zip (the OSS-Fuzz contract). OBJDIR keeps the objects (mx/, harness/,
# capture/, targets/, each archive lib<dir>.a), their dependency files, and the commands:
# compile_commands.json (CMake's format) and link_commands.json, which bench/variant.py replays
# to rebuild a patched fuzzer.
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
quoted() { local q; q=$(printf '%q ' "$@"); printf '%s' "${q% }"; }
# copy_in SRC DIR: SRC into DIR under its own name by a new file renamed over the old one, so
# that a fuzzer already running from DIR keeps its mapping (cp rewrites in place: SIGBUS)
copy_in() { local f; f=$2/$(basename "$1"); mkdir -p "$2" && cp -L "$1" "$f.tmp" && mv -f "$f.tmp" "$f"; }

build_fuzzers() {
    local out=$1 obj=$2 warn=$3 t src o dicts maxlen libs d link_bssl
    : "${CC:?}" "${CXX:?}" "${LIB_FUZZING_ENGINE:?}"
    manifest >/dev/null || die "targets/manifest is malformed"
    rm -rf "$obj"
    mkdir -p "$out" "$obj/mx" "$obj/harness" "$obj/capture" "$obj/targets" "$obj/mutator"
    local inc=(-I "$ROOT/include" -I "$ROOT/targets/harness" -I "$ROOT/targets/oracles" -I "$ROOT/capture"
               -isystem "$(bssl_inc)")
    [[ -n ${MX_PCAP_INCLUDE:-} ]] && inc+=(-isystem "$MX_PCAP_INCLUDE")
    # dovecot's headers last: only targets/oracles/imap_dovecot_peer.c includes them
    inc+=(-idirafter "$MX_DOVECOT_INCLUDE")
    local cflags=(${CFLAGS:-} $warn)   # word splitting is intended: flag lists
    # the harness, oracles and mutator: ORACLE_CFLAGS when the profile has them (build.conf
    # says why), else the same CFLAGS as libmx
    local oracle_cflags=(${ORACLE_CFLAGS:-${CFLAGS:-}} $warn)
    # libmx: the functions of targets/untraced.txt without coverage instrumentation when the
    # profile says how (build.conf libfuzzer_UNTRACED; the list says why)
    local libmx_cflags=("${cflags[@]}")
    [[ -n ${UNTRACED:-} ]] && libmx_cflags+=("${UNTRACED}$ROOT/targets/untraced.txt")
    local cxxflags=(${CXXFLAGS:-})
    local engine=(${LIB_FUZZING_ENGINE})
    local ccdb="$obj/compile_commands.json" lkdb="$obj/link_commands.json" sep=" "
    echo "[" >"$ccdb"
    echo "[" >"$lkdb"
    compile() {   # SRC OBJ [oracle]
        local argv=("$CC" "${cflags[@]}" "${inc[@]}" -c "$1" -o "$2")
        [[ ${3:-} == oracle ]] && argv=("$CC" "${oracle_cflags[@]}" "${inc[@]}" -c "$1" -o "$2")
        [[ ${3:-} == libmx ]] && argv=("$CC" "${libmx_cflags[@]}" "${inc[@]}" -c "$1" -o "$2")
        "${argv[@]}" -MMD -MF "$2.d"
        printf '%s{"directory": %s, "file": %s, "output": %s, "command": %s}\n' "$sep" "$(json_str "$obj")" \
            "$(json_str "$1")" "$(json_str "$2")" "$(json_str "$(quoted "${argv[@]}")")" >>"$ccdb"
        sep=","
    }
    for src in "$ROOT"/src/*.c; do compile "$src" "$obj/mx/$(basename "$src" .c).o" libmx; done
    for src in "$ROOT"/targets/harness/*.c "$ROOT"/targets/oracles/*.c; do
        [[ $(basename "$src") == replay_main.c ]] && continue
        compile "$src" "$obj/harness/$(basename "$src" .c).o" oracle
    done
    for src in "$ROOT"/capture/*.c; do compile "$src" "$obj/capture/$(basename "$src" .c).o"; done
    # the session-aware mutator's engine entry points and layouts: objects, not an archive,
    # because the engines only refer to them weakly (an archive member would never be pulled in)
    for src in "$ROOT"/targets/mutator/*.c; do compile "$src" "$obj/mutator/$(basename "$src" .c).o" oracle; done
    for d in mx harness capture; do "${AR:-ar}" rcs "$obj/lib$d.a" "$obj/$d"/*.o; done
    # BoringSSL: static archives when given (OSS-Fuzz builds them), else Debian's shared
    # libraries copied into OUT/lib so that nothing outside OUT is needed at run time.
    if [[ -f $(bssl_lib)/libcrypto.a ]]; then
        link_bssl=("$(bssl_lib)/libssl.a" "$(bssl_lib)/libcrypto.a" -lpthread)
    else
        copy_in "$(bssl_lib)/libssl.so.0" "$out/lib"
        copy_in "$(bssl_lib)/libcrypto.so.0" "$out/lib"
        link_bssl=(-L"$(bssl_lib)" -lssl -lcrypto -Wl,-rpath,'$ORIGIN/lib')
    fi
    local lsep=" " mutators=""
    while read -r t dicts maxlen libs mutator; do
        compile "$ROOT/targets/$t.c" "$obj/targets/$t.o"
        local extra=() late=() mut=()
        # the manifest's mutator column: LLVMFuzzerCustomMutator and its layout linked in
        if [[ $mutator != - ]]; then
            mut=("$obj/mutator/engine.o" "$obj/mutator/layout_$mutator.o")
            [[ " $mutators " == *" $mutator "* ]] || mutators+=" $mutator"
        fi
        if [[ ,$libs, == *,pcap,* ]]; then
            extra+=("$obj/libcapture.a")
            # libpcap: a static archive when given (OSS-Fuzz builds one without D-Bus), else the
            # system's shared library, copied into OUT/lib like BoringSSL's
            if [[ -n ${MX_PCAP_LIB:-} && -f $MX_PCAP_LIB/libpcap.a ]]; then
                extra+=("$MX_PCAP_LIB/libpcap.a")
            else
                copy_in "$MX_PCAP_SHARED" "$out/lib"
                extra+=(-lpcap -Wl,-rpath,'$ORIGIN/lib')
            fi
        fi
        if [[ ,$libs, == *,dovecot,* ]]; then
            # libdovecot: Debian's shared library and the libraries it loads (libunwind, liblzma)
            # copied into OUT/lib; an RPATH (not RUNPATH) so that libdovecot's own NEEDED
            # entries are found there too
            copy_in "$MX_DOVECOT_SHARED" "$out/lib"
            local dep
            for dep in $(ldd "$MX_DOVECOT_SHARED" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
                case $(basename "$dep") in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|ld-linux*) continue ;; esac
                copy_in "$dep" "$out/lib"
            done
            late+=("$MX_DOVECOT_SHARED" -Wl,--disable-new-dtags -Wl,-rpath,'$ORIGIN/lib')
        fi
        local link=("$CXX" "${cxxflags[@]}" "$obj/targets/$t.o" "${mut[@]}" "${extra[@]:0:1}" "$obj/libharness.a" "$obj/libmx.a"
                    "${engine[@]}" "${link_bssl[@]}" "${extra[@]:1}" "${late[@]}" -o "$out/$t")
        # linked beside the fuzzer and renamed over it: whether a linker unlinks its output
        # first (GNU ld does) or writes into it (a fuzzer running from $out/$t would crash) is
        # the linker's business; the rename makes it ours (link_commands.json keeps -o $out/$t)
        "${link[@]::${#link[@]}-1}" "$out/$t.tmp"
        mv -f "$out/$t.tmp" "$out/$t"
        # "mutator": the objects bench/variant.py leaves out for a fuzzer without the mutator
        local mjson="" m
        for m in "${mut[@]}"; do mjson+="${mjson:+, }$(json_str "$m")"; done
        printf '%s{"target": %s, "directory": %s, "command": %s, "mutator": [%s]}\n' "$lsep" "$(json_str "$t")" \
            "$(json_str "$obj")" "$(json_str "$(quoted "${link[@]}")")" "$mjson" >>"$lkdb"
        lsep=","
        # dictionary: the listed files joined
        rm -f "$out/$t.dict"
        if [[ $dicts != - ]]; then
            for d in ${dicts//+/ }; do
                [[ -f $ROOT/dictionaries/$d ]] || die "manifest: $t: no dictionaries/$d"
                cat "$ROOT/dictionaries/$d" >>"$out/$t.dict.tmp"
            done
            mv "$out/$t.dict.tmp" "$out/$t.dict"
        fi
        {
            echo "[libfuzzer]"
            [[ $dicts != - ]] && echo "dict = $t.dict"
            echo "max_len = $maxlen"
            # the limits every target runs with (OSS-Fuzz's defaults are 25 s and 2560 MB);
            # targets/<t>.options may set its own
            grep -qE '^[ \t]*timeout[ \t]*=' "$ROOT/targets/$t.options" 2>/dev/null || echo "timeout = $MX_FUZZ_TIMEOUT"
            grep -qE '^[ \t]*rss_limit_mb[ \t]*=' "$ROOT/targets/$t.options" 2>/dev/null || echo "rss_limit_mb = $MX_FUZZ_RSS_LIMIT_MB"
            [[ -f $ROOT/targets/$t.options ]] && grep -v '^\[libfuzzer\]' "$ROOT/targets/$t.options"
            true
        } >"$out/$t.options.tmp"
        mv "$out/$t.options.tmp" "$out/$t.options"
        rm -f "$out/${t}_seed_corpus.zip.tmp"
        # hidden files (a killed campaign's temp files) are no seeds
        if [[ -d $ROOT/corpus/$t ]] && [[ -n $(find "$ROOT/corpus/$t" -maxdepth 1 -type f ! -name '.*') ]]; then
            (cd "$ROOT/corpus/$t" && zip -q -X -r "$out/${t}_seed_corpus.zip.tmp" . -x '.*' '*/.*')
            mv "$out/${t}_seed_corpus.zip.tmp" "$out/${t}_seed_corpus.zip"
        fi
    done < <(manifest)
    echo "]" >>"$ccdb"
    echo "]" >>"$lkdb"
    # AFL++ takes a custom mutator as a shared object (AFL_CUSTOM_MUTATOR_LIBRARY), one per
    # layout: OUT/mxfuzz_mutator_<layout>.so. afl-fuzz loads it into its own process, which has
    # no sanitizer runtime and no coverage map: the plain compiler of build.conf, not $CC $CFLAGS.
    if [[ ${FUZZING_ENGINE:-} == afl ]]; then
        local m so
        for m in $mutators; do
            so="$out/mxfuzz_mutator_$m.so"
            $MX_MUTATOR_SO_CC $MX_MUTATOR_SO_CFLAGS $warn -I "$ROOT/include" -I "$ROOT/targets/harness" \
                "$ROOT/targets/mutator/engine.c" "$ROOT/targets/mutator/layout_$m.c" \
                "$ROOT/targets/harness/mutator.c" "$ROOT/targets/harness/mutator_records.c" \
                "$ROOT/targets/harness/session.c" "$ROOT/targets/harness/buf.c" \
                -o "$so.tmp"
            # not executable: OSS-Fuzz's coverage job runs every executable in OUT as a target
            chmod a-x "$so.tmp"
            mv "$so.tmp" "$so"
        done
    fi
}

# Local builds of the fuzzers: build/fuzz-libfuzzer, build/fuzz-afl, with the engine's profile
# of build.conf.
local_fuzz_build() {
    local engine=$1 dir="$BUILD/fuzz-$1"
    [[ $engine == libfuzzer || $engine == afl ]] || die "build-fuzzers: the engine is libfuzzer or afl"
    # a `bench bugs` run builds its variants from this directory and holds the lock shared
    # (bench/run.sh): rebuilding under it would break them
    local lock_fd
    mkdir -p "$BUILD"
    exec {lock_fd}>"$BUILD/fuzz-$engine.lock"
    flock -n "$lock_fd" || die "build-fuzzers: build/fuzz-$engine is in use by a bench run (it holds build/fuzz-$engine.lock); rebuild when it has ended"
    say "== building $engine fuzzers in ${dir#"$ROOT"/}"
    if [[ $engine == libfuzzer ]]; then ensure_deps $DEPS_BASE; else ensure_deps $DEPS_BASE $DEPS_AFL; fi
    AFL_QUIET=1 FUZZING_ENGINE=$engine CC=$(profile_var "$engine" CC) CXX=$(profile_var "$engine" CXX) \
    CFLAGS=$(profile_var "$engine" CFLAGS) CXXFLAGS=$(profile_var "$engine" CXXFLAGS) \
    ORACLE_CFLAGS=$(profile_var "$engine" ORACLE_CFLAGS) UNTRACED=$(profile_var "$engine" UNTRACED) \
    LIB_FUZZING_ENGINE=$(profile_var "$engine" ENGINE) build_fuzzers "$dir/out" "$dir/obj" "$MX_COMMON_CFLAGS"
}

cmd_oss_fuzz() {
    [[ -n ${OUT:-} && -n ${LIB_FUZZING_ENGINE:-} ]] || die "oss-fuzz: set OUT and LIB_FUZZING_ENGINE (and CC CXX CFLAGS CXXFLAGS)"
    : "${CC:=clang}" "${CXX:=clang++}"
    export CC CXX
    local work=${WORK:-$(mktemp -d)}
    say "== OSS-Fuzz build: engine ${FUZZING_ENGINE:-?} sanitizer ${SANITIZER:-?} -> $OUT"
    # OSS-Fuzz: its $CFLAGS for every file (no ORACLE_CFLAGS from the environment)
    ORACLE_CFLAGS= UNTRACED= build_fuzzers "$OUT" "$work/mxfuzz-obj" "$MX_OSSFUZZ_CFLAGS"
    say "== built: $(target_names | tr '\n' ' ')"
}

# ---------------------------------------------------------------- test
TEST_DIR="$BUILD/test"

sanitizer_env() {
    export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:handle_abort=1:detect_leaks=1:symbolize=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:symbolize=1}
}

cmd_test() {
    ensure_deps $DEPS_BASE $DEPS_AFL $DEPS_TEST $DEPS_BENCH $DEPS_OSSFUZZ
    # live mode's real servers (live/tests/): not in ensure_deps, because installing postfix or
    # dovecot plainly would start their system services; live/install.sh keeps them stopped.
    # As non-root it only says what is missing; that test is then reported as skipped.
    if [[ $(id -u) -eq 0 ]]; then
        "$ROOT/live/install.sh" || die "live/install.sh failed"
    else
        "$ROOT/live/install.sh" --check || true
    fi
    say "== configuring and building the ASan+UBSan test build in ${TEST_DIR#"$ROOT"/}"
    cmake_build test
    say "== running the suite"
    sanitizer_env
    cd "$TEST_DIR"
    ctest --output-on-failure -j "$JOBS_DEFAULT" --timeout 900 "$@"
}

# ---------------------------------------------------------------- fuzz
MX_FUZZ_TIME_MAX=2147483647   # INT_MAX: libFuzzer's -max_total_time is an int
MX_FUZZ_JOBS_MAX=1024
# num_in_range OPTION VALUE MAX WHAT: VALUE must be a whole number from 1 to MAX (no sign, no
# leading zero: bash would read 08 as octal), compared as text so that no size overflows bash
num_in_range() {
    local v=$2 max=$3
    if ! [[ $v =~ ^[1-9][0-9]*$ ]] || [[ ${#v} -gt ${#max} ]] || { [[ ${#v} -eq ${#max} ]] && [[ $v > $max ]]; }; then
        die "fuzz: $1 wants a whole number of $4 from 1 to $max, not '$v'"
    fi
}
cmd_fuzz() {
    local time=60 engine=libfuzzer jobs=$JOBS_DEFAULT targets=()
    while [[ $# -gt 0 ]]; do
        case $1 in
        --time | --engine | --jobs)
            [[ $# -ge 2 ]] || die "fuzz: $1 needs a value"
            case $1 in --time) time=$2 ;; --engine) engine=$2 ;; --jobs) jobs=$2 ;; esac
            shift 2 ;;
        -*) die "fuzz: unknown option $1" ;;
        *) is_target "$1" || die "fuzz: no target '$1' (targets: $(target_names | tr '\n' ' '))"; targets+=("$1"); shift ;;
        esac
    done
    # libFuzzer reads -max_total_time into an int: 2^32+1 became 1 s, 2^31 a negative (never stop)
    num_in_range --time "$time" "$MX_FUZZ_TIME_MAX" "seconds"
    num_in_range --jobs "$jobs" "$MX_FUZZ_JOBS_MAX" "fuzzers at a time"
    [[ $engine == libfuzzer || $engine == afl ]] || die "fuzz: --engine is libfuzzer or afl, not '$engine'"
    [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(target_names)

    local_fuzz_build libfuzzer   # also used to merge an AFL++ queue into the corpus
    [[ $engine == afl ]] && local_fuzz_build afl
    # fuzz-run.sh makes the campaign's own run directory under build/runs (mktemp -d)
    "$ROOT/tools/fuzz-run.sh" "$engine" "$time" "$jobs" "$BUILD/runs" "${targets[@]}"
}

# ---------------------------------------------------------------- repro
cmd_repro() {
    local file="" target="" save="" save_set=0
    while [[ $# -gt 0 ]]; do
        case $1 in
        --target) target=${2:?--target needs a name}; shift 2 ;;
        --save) save=${2:?--save needs a description}; save_set=1; shift 2 ;;
        -*) die "repro: unknown option $1" ;;
        *) [[ -z $file ]] || die "repro: one file at a time"; file=$1; shift ;;
        esac
    done
    [[ -n $file ]] || die "repro: which file? usage: ./build.sh repro FILE [--target T] [--save \"what it is\"]"
    [[ -f $file ]] || die "repro: no such file: $file"
    file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
    if [[ -z $target ]]; then
        # from the path: build/crashes/T/..., repro/T/..., corpus/T/..., build/runs/*/T/...
        local d=$file
        while [[ $d != / ]]; do
            d=$(dirname "$d")
            if is_target "$(basename "$d")"; then target=$(basename "$d"); break; fi
        done
        [[ -n $target ]] || die "repro: cannot tell the target from the path; add --target T (targets: $(target_names | tr '\n' ' '))"
    fi
    is_target "$target" || die "repro: no target '$target' (targets: $(target_names | tr '\n' ' '))"
    ensure_deps $DEPS_BASE
    cmake_build test "replay_$target"
    sanitizer_env
    local bin="$TEST_DIR/replay/$target" rc=0
    say "== $target < ${file#"$ROOT"/}"
    "$bin" "$file" || rc=$?
    if [[ $rc -eq 0 ]]; then say "== exit status 0: no crash"; else say "== exit status $rc: CRASH"; fi
    [[ $save_set -eq 1 ]] || return "$rc"

    # --save: minimize (when it crashes), store as repro/T/<id> with its description
    local keep=$file tmpd
    tmpd=$(mktemp -d)
    if [[ $rc -ne 0 ]]; then
        say "== minimizing (libFuzzer -minimize_crash)"
        local_fuzz_build libfuzzer >/dev/null
        (cd "$tmpd" && "$BUILD/fuzz-libfuzzer/out/$target" -minimize_crash=1 -runs=20000 \
            -exact_artifact_path="$tmpd/min" "$file" >"$tmpd/min.log" 2>&1) || true
        if [[ -s $tmpd/min ]] && ! "$bin" "$tmpd/min" >/dev/null 2>&1; then
            say "   $(stat -c %s "$file") -> $(stat -c %s "$tmpd/min") bytes, still crashes"
            keep=$tmpd/min
        else
            say "   minimization did not give a smaller crashing input; keeping the original"
        fi
    else
        say "== it does not crash here: saved as a regression input as it is"
    fi
    local id dest
    id=$(sha256sum "$keep" | cut -c1-12)
    dest="$ROOT/repro/$target"
    mkdir -p "$dest"
    if [[ -e $dest/$id ]]; then
        say "== already saved as repro/$target/$id"
    else
        cp "$keep" "$dest/.$id.tmp" && mv "$dest/.$id.tmp" "$dest/$id"
        printf '%s\n' "$save" >"$dest/.$id.txt.tmp" && mv "$dest/.$id.txt.tmp" "$dest/$id.txt"
        say "== saved as repro/$target/$id (+ $id.txt); \`./build.sh test\` runs it as test repro/$target/$id"
        [[ $rc -ne 0 ]] && say "   it fails until the bug is fixed"
    fi
    rm -rf "$tmpd"
    return "$rc"
}

# ---------------------------------------------------------------- main
cmd=${1:-}
if [[ -z $cmd && -n ${OUT:-} && -n ${LIB_FUZZING_ENGINE:-} ]]; then
    cmd=oss-fuzz
fi
[[ $# -gt 0 ]] && shift
case $cmd in
"" | fuzz) cmd_fuzz "$@" ;;
test) cmd_test "$@" ;;
repro) cmd_repro "$@" ;;
oss-fuzz) cmd_oss_fuzz "$@" ;;
oss-fuzz-check) ensure_deps $DEPS_BASE $DEPS_AFL $DEPS_OSSFUZZ
                [[ " $* " == *" --deps debian "* ]] || ensure_deps $DEPS_OSSFUZZ_SOURCE
                exec "$ROOT/ci/oss-fuzz/check.sh" "$@" ;;
bench) ensure_deps $DEPS_BASE $DEPS_AFL $DEPS_BENCH; exec "$ROOT/bench/run.sh" "$@" ;;
coverage) ensure_deps $DEPS_BASE; exec "$ROOT/tools/coverage.sh" "$@" ;;
deps) ensure_deps $DEPS_BASE $DEPS_AFL $DEPS_TEST $DEPS_BENCH $DEPS_OSSFUZZ $DEPS_OSSFUZZ_SOURCE; say "all dependencies present" ;;
live) ensure_deps $DEPS_BASE; cmake_build test live-judge mx-serve session-mutate; sanitizer_env
      exec "$ROOT/live/live.sh" --build "$TEST_DIR" "$@" ;;
targets) cmd_targets "$@" ;;
build-fuzzers) local_fuzz_build "${1:-libfuzzer}" ;;
build) [[ $# -gt 0 ]] || die "build: which profile? ($MX_PROFILES)"; cmake_build "$@" ;;
flags) cmd_flags "$@" ;;
help | -h | --help) usage ;;
*) usage >&2; die "unknown command '$cmd'" ;;
esac
