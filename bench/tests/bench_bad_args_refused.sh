#!/usr/bin/env bash
# `./build.sh bench bugs` refuses a bad command line before it builds or writes anything: each
# case below exits 1 with a message naming the bad argument, and build/bench gets no new run
# directory (a stamp directory with only a meta file would show up in `latest` lists and in
# bench/stats.py merges as an empty run).
set -uo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
runs() { ls "$ROOT/build/bench" 2>/dev/null | sort; }

check() { # check 'regex of the message' ARGS...
    local want=$1 before after rc err
    shift
    before=$(runs)
    err=$("$ROOT/build.sh" bench bugs "$@" 2>&1 >/dev/null)
    rc=$?
    after=$(runs)
    [[ $rc -eq 1 ]] || bad "bench bugs $*: exit $rc, wanted 1"
    grep -qE -- "$want" <<<"$err" || bad "bench bugs $*: message '$err' does not say /$want/"
    [[ $before == "$after" ]] || bad "bench bugs $*: left a run directory: $(comm -13 <(echo "$before") <(echo "$after"))"
    [[ $rc -eq 1 ]] && echo "ok: bench bugs $*: $err"
}

check '--target nosuch: not a fuzz target' --target nosuch --trials 1
check 'no bug selected' --bug nosuch --trials 1
check 'no selected bug is expected to be found by --target imap' --bug chain-counter --target imap
check '--trials wants a positive number' --trials 0
check '--configs is a comma list' --configs bogus
check 'unknown argument --bogus' --bogus
[[ $fails -eq 0 ]]
