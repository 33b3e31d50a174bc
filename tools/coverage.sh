#!/usr/bin/env bash
# tools/coverage.sh — `./build.sh coverage [--after-fuzz S]`: line and branch coverage of src/
# (libmx, the code under test) reached by the shipped corpus plus the reproducers.
#
# Builds the plain replay binaries with clang source-based coverage (build.conf profile
# coverage: no sanitizer) in build/coverage, replays corpus/<t>/ and repro/<t>/*
# through each, merges the profiles (llvm-profdata of the same version as clang) and writes
#   build/coverage/report/index.html   llvm-cov HTML, per file with line and branch counts
#   build/coverage/summary.txt         one screen: lines and branches covered per file of src/
# --after-fuzz S first fuzzes every target for S seconds (libFuzzer, shipped dictionary) on a
# private copy of its corpus in build/coverage/fuzzed/<t>/ and measures that copy instead;
# corpus/ is never written.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
DIR=$BUILD/coverage
# the LLVM tools of the clang that builds (the profile format changes between versions)
llvm_ver=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
PROFDATA=${LLVM_PROFDATA:-llvm-profdata-$llvm_ver}
COV=${LLVM_COV:-llvm-cov-$llvm_ver}

say() { printf '%s\n' "$*"; }
die() { printf 'coverage: %s\n' "$*" >&2; exit 1; }

after=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --after-fuzz) after=${2:?--after-fuzz needs seconds}; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (usage: ./build.sh coverage [--after-fuzz S])" ;;
    esac
done
[[ $after =~ ^[0-9]+$ ]] || die "--after-fuzz wants a whole number of seconds"
command -v "$PROFDATA" >/dev/null || die "$PROFDATA not found (Debian package llvm-$llvm_ver)"
command -v "$COV" >/dev/null || die "$COV not found (Debian package llvm-$llvm_ver)"

mapfile -t targets < <("$ROOT/build.sh" targets --names)
[[ ${#targets[@]} -gt 0 ]] || die "./build.sh targets lists no target"
mkdir -p "$DIR"

say "== building the replay binaries with coverage instrumentation in ${DIR#"$ROOT"/}"
names=()
for t in "${targets[@]}"; do names+=("replay_$t"); done
MXFUZZ_BUILD_DIR=$BUILD "$ROOT/build.sh" build coverage "${names[@]}" || die "the coverage build failed"

label="the shipped corpus + reproducers"
if [[ $after -gt 0 ]]; then
    say "== fuzzing each target ${after}s (libFuzzer) on a private copy of its corpus"
    "$ROOT/build.sh" build-fuzzers libfuzzer >"$DIR/build-fuzzers.log" 2>&1 ||
        { tail -20 "$DIR/build-fuzzers.log"; die "building the libFuzzer fuzzers failed"; }
    out="$BUILD/fuzz-libfuzzer/out"
    rm -rf "$DIR/fuzzed"
    for t in "${targets[@]}"; do
        mkdir -p "$DIR/fuzzed/$t" "$DIR/fuzzed/crashes-$t"
        [[ -d $ROOT/corpus/$t ]] && find "$ROOT/corpus/$t" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$DIR/fuzzed/$t/" \;
        args=(-max_total_time="$after" -print_final_stats=1 -artifact_prefix="$DIR/fuzzed/crashes-$t/"
              -max_len="$("$ROOT/build.sh" targets --field "$t" max_len)")
        [[ -f $out/$t.dict ]] && args+=(-dict="$out/$t.dict")
        before=$(ls "$DIR/fuzzed/$t" | wc -l)
        (cd "$DIR/fuzzed" && nice -n 5 "$out/$t" "${args[@]}" "$DIR/fuzzed/$t" >"$DIR/fuzzed/$t.log" 2>&1)
        rc=$?
        say "   $t: corpus $before -> $(ls "$DIR/fuzzed/$t" | wc -l) files$([[ $rc -ne 0 ]] && echo "; CRASH (exit $rc, see ${DIR#"$ROOT"/}/fuzzed/$t.log)")"
    done
    label="the shipped corpus + reproducers after ${after}s of libFuzzer per target"
fi

say "== replaying $label"
rm -rf "$DIR/prof" && mkdir -p "$DIR/prof"
objects=()
for t in "${targets[@]}"; do
    inputs=()
    if [[ $after -gt 0 ]]; then inputs+=("$DIR/fuzzed/$t"); elif [[ -d $ROOT/corpus/$t ]]; then inputs+=("$ROOT/corpus/$t"); fi
    for r in "$ROOT/repro/$t"/*; do
        [[ -f $r && ! $r =~ \.(txt|md)$ ]] && inputs+=("$r")
    done
    objects+=("$DIR/replay/$t")
    if [[ ${#inputs[@]} -eq 0 ]]; then say "   $t: no inputs"; continue; fi
    LLVM_PROFILE_FILE="$DIR/prof/$t-%p.profraw" "$DIR/replay/$t" "${inputs[@]}" >"$DIR/prof/$t.log" 2>&1 ||
        say "   $t: the replay exited non-zero (see ${DIR#"$ROOT"/}/prof/$t.log)"
    say "   $t: $(grep -c '^Running: ' "$DIR/prof/$t.log") input(s)"
done
ls "$DIR"/prof/*.profraw >/dev/null 2>&1 || die "no profile was written"
"$PROFDATA" merge -sparse "$DIR"/prof/*.profraw -o "$DIR/merged.profdata" || die "llvm-profdata merge failed"

objargs=("${objects[0]}")
for o in "${objects[@]:1}"; do objargs+=(-object "$o"); done
# every libmx object too, so that a file of src/ that no target links counts (at 0%) instead of
# silently dropping out of the report
for o in "$DIR"/CMakeFiles/mx.dir/src/*.o; do [[ -f $o ]] && objargs+=(-object "$o"); done
rm -rf "$DIR/report"
"$COV" show "${objargs[@]}" -instr-profile="$DIR/merged.profdata" -format=html -output-dir="$DIR/report" \
    -show-branches=count -show-line-counts-or-regions -project-title="mxfuzz libmx (src/) from $label" \
    "$ROOT/src" >"$DIR/show.log" 2>&1 || { tail "$DIR/show.log"; die "llvm-cov show failed"; }
"$COV" export "${objargs[@]}" -instr-profile="$DIR/merged.profdata" -summary-only "$ROOT/src" \
    >"$DIR/summary.json" 2>"$DIR/export.log" || { tail "$DIR/export.log"; die "llvm-cov export failed"; }

python3 - "$DIR/summary.json" "$ROOT" "$label" >"$DIR/summary.txt" <<'EOF'
import json, sys
data, root, label = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
files = data["data"][0]["files"]
def pct(c, n): return "%5.1f%%" % (100.0 * c / n) if n else "    -"
print("Coverage of src/ from %s" % label)
print("%-28s %23s %26s" % ("file", "lines", "branches"))
tl = tb = cl = cb = 0
for f in sorted(files, key=lambda f: f["filename"]):
    s = f["summary"]
    l, b = s["lines"], s["branches"]
    name = f["filename"][len(root) + 1:] if f["filename"].startswith(root + "/") else f["filename"]
    print("%-28s %7d/%-8d %s %9d/%-8d %s" % (name, l["covered"], l["count"], pct(l["covered"], l["count"]),
                                         b["covered"], b["count"], pct(b["covered"], b["count"])))
    tl += l["count"]; cl += l["covered"]; tb += b["count"]; cb += b["covered"]
print("%-28s %7d/%-8d %s %9d/%-8d %s" % ("TOTAL", cl, tl, pct(cl, tl), cb, tb, pct(cb, tb)))
EOF
[[ -s $DIR/summary.txt ]] || die "summary failed"
echo
cat "$DIR/summary.txt"
say ""
say "HTML report: ${DIR#"$ROOT"/}/report/index.html"
