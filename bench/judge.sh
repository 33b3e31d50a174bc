# shellcheck shell=bash
# bench/judge.sh — is a crash of a patched fuzzer the re-injected bug? Sourced by bench/trial.sh
# and bench/run.sh (bench/README.md, "What counts as found").
#
# A recogniser (the manifest's regex, bench/crashsig.py) names the forms of a bug's crash its
# author foresaw. The fuzzer finds others: open-bracket-atom's patched reader is reported as
# "dovecot accepts, libmx says E_PARENS", as an argument cut short, as a token returned before
# its completing byte... (559 such crashes in 20 AFL++ trials of run 20261204-025453, every one
# of them gone on the real code). The patch is the only difference between the two binaries, so
# an input that crashes the patched one alone, again, and that the real code passes, is a crash
# the patch makes: the bug, whatever its message says.

# judge_by_patch PATCHED REF FILE: prints one word about the input FILE
#   patch     the patched fuzzer crashes on FILE run alone and REF (the same target built from the
#             real code) passes it: the patch makes the crash
#   real      both crash: a bug of the real code or of the harness, not the patch's (report it)
#   flaky     the patched fuzzer passes FILE alone (the crash needed the state of earlier inputs)
#   hang      the patched fuzzer runs out of time or memory on it: that depends on the load of the
#             machine at the time, so it says nothing about the patch
#   unjudged  no REF (-) or no FILE
judge_by_patch() {
    local bin=$1 ref=$2 f=$3 log rc
    [[ $ref != - && -x $ref && -f $f ]] || { echo unjudged; return; }
    log=$(mktemp)
    # no symbolizing: only the exit status and libFuzzer's kind of error are read
    { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}symbolize=0" timeout 20 "$bin" "$f" >"$log" 2>&1; } 2>/dev/null
    rc=$?
    if [[ $rc -eq 124 || $rc -eq 137 ]] || grep -aqE 'ERROR: libFuzzer: (timeout|out-of-memory)' "$log"; then
        echo hang
    elif [[ $rc -eq 0 ]]; then
        echo flaky
    elif { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}symbolize=0" timeout 20 "$ref" "$f" >"$log" 2>&1; } 2>/dev/null; then
        echo patch
    else
        echo real
    fi
    rm -f "$log"
}
