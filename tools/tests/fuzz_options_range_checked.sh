#!/usr/bin/env bash
# `./build.sh fuzz` range-checks every numeric option before building anything (issue 19,
# item 4): --time 4294967297 (libFuzzer's int wrapped it to 1 s) and 2147483648 (negative: never
# stopped), 0, 08 (bash took it for octal), -5, a missing value; the same for --jobs. Each fails
# at once with exit status 1 and build.sh's own message (no raw bash error such as "line 12:").
set -euo pipefail
source "$(dirname "$0")/testlib.sh"
camp_init
fails=0
check() {
    local err rc=0
    err=$(timeout 60 "$ROOT/build.sh" fuzz chain "$@" 2>&1 >/dev/null) || rc=$?
    if [[ $rc -ne 1 ]] || [[ $err != "build.sh: "* ]] || grep -qE 'line [0-9]+:|syntax error|value too great' <<<"$err"; then
        echo "FAIL: ./build.sh fuzz $*: exit $rc, stderr: ${err:-<empty>}"
        fails=$((fails + 1))
    else
        echo "ok: ./build.sh fuzz $* -> ${err%%$'\n'*}"
    fi
}
check --time 4294967297
check --time 2147483648
check --time 99999999999999999999
check --time 0
check --time 08
check --time -5
check --time 1.5
check --time
check --jobs 0
check --jobs 08
check --jobs 4294967297
check --jobs
check --engine
check --engine honggfuzz
[[ $fails -eq 0 ]] || fail "$fails bad option(s) not refused cleanly"
