# testlib.sh - helpers for the campaign tests (tools/tests/*.sh). Source it.
#
#   camp_init TARGET...   a work dir $W with a private corpus ($W/corpus, MXFUZZ_CORPUS_DIR) and
#                         build dir ($W/build, MXFUZZ_BUILD_DIR) holding a fake libFuzzer per
#                         TARGET in $W/build/fuzz-libfuzzer/out (so no real fuzzer is built or run)
#   camp_run ARGS...      tools/fuzz-run.sh libfuzzer ARGS (SECONDS JOBS RUNS TARGET...)
#   corpus_whole T        every file of $W/corpus/T is named by the sha1 of its content, none hidden
#   fail MSG              prints and exits 1
#
# The fake engine behaves like libFuzzer where fuzz-run.sh depends on it: fuzzing
# (`T [-flag=v...] NEWDIR SEEDDIR...`) writes FAKE_NEW (default 3) new inputs named by their sha1
# into NEWDIR after FAKE_FUZZ_SLEEP s and prints libFuzzer's progress and final stats; merging
# (`-merge=1 ... OUTDIR DIR...`) copies, after FAKE_MERGE_SLEEP s, every file of the DIRs that is
# not in OUTDIR into it. Like libFuzzer it reads hidden files too. Each run appends its argv to
# $W/argv and the names it was given as seeds to $W/seen.
set -u
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FUZZ_RUN=${MXFUZZ_FUZZ_RUN:-$ROOT/tools/fuzz-run.sh}   # another copy: to check a test fails on it
CAMP_IMMUTABLE=()

fail() { echo "FAIL: $*" >&2; exit 1; }

camp_cleanup() {
    local d
    for d in "${CAMP_IMMUTABLE[@]+"${CAMP_IMMUTABLE[@]}"}"; do chattr -i "$d" 2>/dev/null; chmod u+w "$d" 2>/dev/null; done
    [[ -n ${W:-} ]] && rm -rf "$W"
}

camp_init() {
    W=$(mktemp -d)
    trap camp_cleanup EXIT
    export MXFUZZ_CORPUS_DIR=$W/corpus MXFUZZ_BUILD_DIR=$W/build
    local out=$W/build/fuzz-libfuzzer/out t
    mkdir -p "$out" "$W/corpus"
    for t in "$@"; do
        mkdir -p "$W/corpus/$t"
        cat >"$out/$t" <<'FAKE'
#!/usr/bin/env bash
W=${FAKE_W:?}
echo "$(basename "$0") $*" >>"$W/argv"
merge=0 dirs=()
for a in "$@"; do
    case $a in
    -merge=1) merge=1 ;;
    -*) ;;
    *) dirs+=("$a") ;;
    esac
done
if [[ $merge == 1 ]]; then
    sleep "${FAKE_MERGE_SLEEP:-0}"
    for d in "${dirs[@]:1}"; do
        for f in "$d"/* "$d"/.[!.]*; do
            [[ -f $f ]] || continue
            h=$(sha1sum "$f" | cut -c1-40)
            [[ -e ${dirs[0]}/$h ]] || cp "$f" "${dirs[0]}/$h" || exit 1
        done
    done
    echo "MERGE-OUTER: done"
    exit 0
fi
for d in "${dirs[@]:1}"; do (cd "$d" && ls -A) >>"$W/seen"; done
sleep "${FAKE_FUZZ_SLEEP:-0}"
for i in $(seq "${FAKE_NEW:-3}"); do
    f=$(mktemp "${dirs[0]}/new.XXXXXX")
    echo "input $i of $$ $RANDOM $(date +%s%N)" >"$f"
    mv "$f" "${dirs[0]}/$(sha1sum "$f" | cut -c1-40)"
done
echo "INFO: Seed: 1"
echo "#3	DONE   cov: 10 ft: 12 corp: 3/60b lim: 4 exec/s: 100 rss: 30Mb"
echo "stat::number_of_executed_units: 300"
echo "stat::average_exec_per_sec:     100"
FAKE
        chmod +x "$out/$t"
        printf '[libfuzzer]\nmax_len = 4096\n' >"$out/$t.options"
    done
    export FAKE_W=$W
}

camp_run() { "$FUZZ_RUN" libfuzzer "$@"; }

corpus_whole() {
    local t=$1 f
    [[ -z $(find "$W/corpus/$t" -mindepth 1 -name '.*') ]] || fail "hidden files in corpus/$t: $(cd "$W/corpus/$t" && ls -A | grep '^\.')"
    for f in "$W/corpus/$t"/*; do
        [[ -f $f ]] || continue
        [[ $(sha1sum "$f" | cut -c1-40) == "$(basename "$f")" ]] || fail "corpus/$t/$(basename "$f") is not whole"
    done
}
