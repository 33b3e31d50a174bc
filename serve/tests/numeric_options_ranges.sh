#!/usr/bin/env bash
# Every numeric option of mx-serve is parsed as itself: for each option `--help` lists with a
# value, a non-number must be refused with a message naming that option and its range LO..HI;
# then LO and HI must be accepted (exit 0 through a later --help) and HI+1 refused, again naming
# that option. The options and ranges come from mx-serve's own help and messages, so a new
# option is checked without editing this test. Found necessary: a lost `break` made
# --rate-window fall through into --max-errors, so `--rate-window 30` set max_errors = 30 and
# `--rate-window 86400` failed start-up with a message about --max-errors.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
opts=$("$SERVE_BIN" --help | grep -oE -- '--[a-z-]+ [A-Z]+' | awk '{print $1}' | sort -u)
checked=0
for o in $opts; do
    rc=0
    msg=$("$SERVE_BIN" "$o" not-a-number --help 2>&1 >/dev/null) || rc=$?
    grep -q "is not a number in" <<<"$msg" || continue   # a path or a name, not a number
    [[ $rc -eq 2 ]] || fail "$o not-a-number: exit $rc, want 2"
    grep -q -- "^mx-serve: $o: " <<<"$msg" || fail "$o not-a-number: the message names another option: $msg"
    lo=$(sed -n 's/.* in \(-\{0,1\}[0-9]*\)\.\.\([0-9]*\)$/\1/p' <<<"$msg")
    hi=$(sed -n 's/.* in \(-\{0,1\}[0-9]*\)\.\.\([0-9]*\)$/\2/p' <<<"$msg")
    [[ -n $lo && -n $hi ]] || fail "$o: no range in: $msg"
    for v in "$lo" "$hi"; do
        rc=0
        out=$("$SERVE_BIN" "$o" "$v" --help 2>&1 >/dev/null) || rc=$?
        [[ $rc -eq 0 ]] || fail "$o $v (in its range $lo..$hi): exit $rc: $out"
    done
    rc=0
    msg=$("$SERVE_BIN" "$o" $((hi + 1)) --help 2>&1 >/dev/null) || rc=$?
    [[ $rc -eq 2 ]] && grep -q -- "^mx-serve: $o: " <<<"$msg" ||
        fail "$o $((hi + 1)) (above $hi): exit $rc, message: $msg"
    echo "ok: $o: $lo..$hi, out of range refused"
    checked=$((checked + 1))
done
[[ $checked -ge 10 ]] || fail "only $checked numeric options found in --help"
echo "numeric_options_ranges: $checked options checked"
