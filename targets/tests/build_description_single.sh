#!/usr/bin/env bash
# One build description: fails when two places could disagree about how mxfuzz is built.
#  1. build.conf is well formed, and its two readers (build.sh, which sources it, and
#     cmake/description.cmake) read the same value for every name; every profile has a compiler
#     and flags, every fuzzer profile an engine.
#  2. No flag, sanitizer set, engine or library path is spelled outside build.conf in a file that
#     builds or runs builds (scripts, Python, CMake, CI): no -fsanitize / -Werror / -Wall / -std= /
#     -O<n> / coverage or DWARF flags / libAFLDriver / BoringSSL or libpcap library paths /
#     versioned LLVM paths or tools. The one exception is ci/oss-fuzz/check.sh, which
#     reproduces OSS-Fuzz's own CFLAGS and LIB_FUZZING_ENGINE (sanitizer, optimisation and
#     coverage flags only).
#  3. targets/manifest has one reader: no code line outside build.sh names the file, and
#     CMakeLists.txt takes its list from `./build.sh targets`.
#  4. The test build and the fuzzer build use the same target list and the description's flags:
#     the CMake tree in MXFUZZ_BUILD has a replay binary for exactly `./build.sh targets --names`
#     and compiles with its profile's flags; build_fuzzers, run with recording stand-ins for the
#     compilers (as OSS-Fuzz would run it), builds exactly those targets, passes $CFLAGS,
#     $CXXFLAGS and $LIB_FUZZING_ENGINE through and adds no sanitizer or optimisation flag, and
#     no -Werror (a newer clang under OSS-Fuzz must not stop continuous fuzzing).
set -uo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
SELF=targets/tests/build_description_single.sh
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$ROOT" || exit 1

# ---- 1. build.conf: format, both readers agree, profiles complete
n=0
while IFS= read -r line; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line =~ ^[A-Za-z0-9_]+=\"[^\"\$\`\\]*(\$\{[A-Za-z0-9_]+\}[^\"\$\`\\]*)*\"$ ]] ||
        bad "build.conf:$n: not NAME=\"value\" with only \${NAME} references: $line"
done <build.conf
# bash's reading (a clean shell: nothing from this environment leaks in)
env -i bash -c 'set -a; source ./build.conf; set +a
    grep -oE "^[A-Za-z0-9_]+=" build.conf | tr -d = | sort -u | while read -r k; do printf "%s=%s\n" "$k" "${!k}"; done' \
    >"$work/bash.txt"
# CMake's reading
cmake -DMX_PRINT_DESCRIPTION=1 -P cmake/description.cmake 2>&1 | sort -u >"$work/cmake.txt"
sort -u "$work/bash.txt" -o "$work/bash.txt"
diff "$work/bash.txt" "$work/cmake.txt" >"$work/readers.diff" ||
    { bad "build.sh and CMake read build.conf differently:"; cat "$work/readers.diff"; }
get() { grep -m1 "^$1=" "$work/bash.txt" | cut -d= -f2-; }
profiles=$(get MX_PROFILES)
[[ -n $profiles ]] || bad "build.conf: no MX_PROFILES"
for p in $profiles; do
    [[ -n $(get "${p}_CC") && -n $(get "${p}_CFLAGS") ]] || bad "build.conf: profile $p lacks ${p}_CC or ${p}_CFLAGS"
done
for p in libfuzzer afl; do
    [[ -n $(get "${p}_ENGINE") && -n $(get "${p}_CXX") ]] || bad "build.conf: fuzzer profile $p lacks ${p}_ENGINE or ${p}_CXX"
done

# ---- 2. no flag outside build.conf
files() {   # the files that build or run builds
    { git ls-files 2>/dev/null || find . -type f ! -path './build/*' ! -path './.git/*' | sed 's|^\./||'; } |
        grep -E '(\.(sh|py|cmake|json|ya?ml|conf|mk)$|(^|/)(CMakeLists\.txt|Dockerfile|Makefile|run)$)' |
        grep -vxE "build\.conf|$SELF"
}
# pattern, and whether the OSS-Fuzz imitation may use it
checks=(
    '-f(no-)?sanitize|yes'
    '-W(error|all|extra)\b|no'
    '(^|[^A-Za-z0-9_])-std=|no'
    '(^|[[:space:]"'\''=(])-O[0-3sgz]?([[:space:]"'\'')]|$)|yes'
    '-fprofile-instr|-fcoverage-mapping|-gline-tables|-gdwarf|yes'
    'libAFLDriver|yes'
    '/usr/include/android|x86_64-linux-gnu/android|libpcap\.so|no'
    '/usr/include/dovecot|/usr/lib/dovecot|libdovecot\.so|no'
    '/usr/lib/llvm-[0-9]|llvm-(profdata|cov|symbolizer)-[0-9]|clang-[0-9]+\b|no'
)
mapfile -t F < <(files)
for c in "${checks[@]}"; do
    rx=${c%|*} imitation=${c##*|}
    # comment lines may talk about flags; code may not spell them
    grep -nHE -- "$rx" "${F[@]}" 2>/dev/null | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' >"$work/hits"
    while IFS= read -r h; do
        f=${h%%:*}
        [[ $f == ci/oss-fuzz/check.sh && $imitation == yes ]] && continue
        bad "${h%%:*}:$(cut -d: -f2 <<<"$h"): a build flag or path outside build.conf (/${rx}/): $(cut -d: -f3- <<<"$h")"
    done <"$work/hits"
done

# ---- 3. one manifest reader
# (a CMake configure dependency on the file is not a reader)
grep -nHE 'targets/manifest' "${F[@]}" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#|CMAKE_CONFIGURE_DEPENDS' |
    grep -v '^build\.sh:' >"$work/hits"
while IFS= read -r h; do
    bad "${h%%:*}:$(cut -d: -f2 <<<"$h"): reads targets/manifest itself (ask ./build.sh targets): $(cut -d: -f3- <<<"$h")"
done <"$work/hits"
grep -q 'build.sh targets --names' CMakeLists.txt || bad "CMakeLists.txt does not take its targets from ./build.sh targets"
names=$(./build.sh targets --names) || bad "./build.sh targets fails"
[[ -n $names ]] || bad "./build.sh targets lists no target"

# ---- 4a. the CMake tree: same targets, the profile's flags
if [[ -f $BUILD/CMakeCache.txt ]]; then
    prof=$(sed -n 's/^MX_PROFILE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
    got=$(find "$BUILD/CMakeFiles" -maxdepth 1 -name 'replay_*.dir' -printf '%f\n' | sed 's/^replay_//; s/\.dir$//' | sort)
    [[ $got == "$(sort <<<"$names")" ]] || bad "the CMake tree $BUILD has replay targets [$(echo $got)], ./build.sh targets says [$(echo $names)]"
    want="$(get "${prof}_CFLAGS") $(get MX_COMMON_CFLAGS)"
    python3 - "$BUILD/compile_commands.json" "$want" "$(get "${prof}_CC")" >"$work/cc.txt" <<'EOF'
import json, os, shlex, sys
db, want, cc = json.load(open(sys.argv[1])), shlex.split(sys.argv[2]), sys.argv[3]
for e in db:
    argv = shlex.split(e["command"])
    if not e["file"].endswith(".c"):
        continue
    if os.path.basename(argv[0]) != os.path.basename(cc):
        print("%s: compiler %s, the profile says %s" % (e["file"], argv[0], cc))
    # the profile's flags, in order, as one run of the command line
    if not any(argv[i:i + len(want)] == want for i in range(len(argv))):
        print("%s: compiled without the profile's flags %s" % (e["file"], " ".join(want)))
EOF
    while IFS= read -r l; do bad "CMake profile $prof: $l"; done <"$work/cc.txt"
else
    echo "NOTE: no CMake tree in $BUILD: the test build's target list and flags are not checked"
fi

# ---- 4b. build_fuzzers as OSS-Fuzz runs it, with recording stand-ins for CC CXX AR
cat >"$work/tool" <<'EOF'
#!/usr/bin/env bash
# records its command line; creates what a compiler, linker or archiver would
printf '%s %s\n' "$(basename "$0")" "$*" >>"${0%/*}/log"
case $1 in rcs) : >"$2"; exit 0 ;; esac
while [[ $# -gt 0 ]]; do
    case $1 in -o) : >"$2"; shift ;; -MF) echo "x:" >"$2"; shift ;; esac
    shift
done
EOF
chmod +x "$work/tool"
for t in cc cxx ar; do ln -s tool "$work/$t"; done
mkdir -p "$work/out" "$work/w"
if env OUT="$work/out" WORK="$work/w" CC="$work/cc" CXX="$work/cxx" AR="$work/ar" \
    CFLAGS="-DOSSFUZZ_CFLAGS_MARK" CXXFLAGS="-DOSSFUZZ_CXXFLAGS_MARK" LIB_FUZZING_ENGINE="-DOSSFUZZ_ENGINE_MARK" \
    ./build.sh oss-fuzz >"$work/oss.log" 2>&1; then
    got=$(find "$work/out" -maxdepth 1 -type f ! -name '*.*' -printf '%f\n' | sort)
    [[ $got == "$(sort <<<"$names")" ]] || bad "build_fuzzers built [$(echo $got)], ./build.sh targets says [$(echo $names)]"
    for t in $names; do
        [[ -f $work/out/$t.options ]] || bad "build_fuzzers: no $t.options"
        grep -q "^max_len = $(./build.sh targets --field "$t" max_len)\$" "$work/out/$t.options" ||
            bad "build_fuzzers: $t.options has another max_len than the manifest"
    done
    grep '^cc ' "$work/log" | grep -v -- '-DOSSFUZZ_CFLAGS_MARK' | head -3 | while IFS= read -r l; do
        echo "FAIL: build_fuzzers compiled without \$CFLAGS: $l"; done | tee -a "$work/fails"
    grep '^cxx ' "$work/log" | grep -v -- '-DOSSFUZZ_CXXFLAGS_MARK.*-DOSSFUZZ_ENGINE_MARK' | head -3 | while IFS= read -r l; do
        echo "FAIL: build_fuzzers linked without \$CXXFLAGS \$LIB_FUZZING_ENGINE: $l"; done | tee -a "$work/fails"
    grep -E '^(cc|cxx) ' "$work/log" | grep -E -- '-f(no-)?sanitize|(^| )-O[0-3sgz]?( |$)|-fprofile|-fcoverage' | head -3 |
        while IFS= read -r l; do echo "FAIL: build_fuzzers added a flag OSS-Fuzz did not ask for: $l"; done | tee -a "$work/fails"
    grep '^cc ' "$work/log" | grep -E -- '-Werror( |$)' | head -3 |
        while IFS= read -r l; do echo "FAIL: the OSS-Fuzz build turns warnings into errors: $l"; done | tee -a "$work/fails"
    fails=$((fails + $(cat "$work/fails" 2>/dev/null | wc -l)))
    [[ $(grep -c '^cc ' "$work/log") -gt 0 ]] || bad "build_fuzzers compiled nothing"
else
    bad "./build.sh oss-fuzz with stand-in compilers failed:"; tail -15 "$work/oss.log"
fi

echo "build description: $fails problem(s)"
[[ $fails -eq 0 ]]
