#!/usr/bin/env bash
# ct_record.sh - constant-time check of the CBC padding/MAC path of src/record.c.
#
# Builds src/tests/ct/ct_cbc.c with src/record.c and src/chain.c (build.conf profile valgrind:
# -O2 as release, DWARF 4, no sanitizers; plus -DMX_CT_VALGRIND) and runs it under
# valgrind memcheck, once per family of records (ct_cbc.c: MAC-then-encrypt with HMAC-SHA1,
# -SHA256, -SHA384; encrypt-then-MAC). With MX_CT_VALGRIND the decrypted record (and in
# encrypt-then-MAC the expected tag) is marked undefined, so any branch or memory index on
# padding/MAC/data bytes is reported; the test fails on any report.
# Then it shows the check has teeth in every family: with bench/bugs/padding-oracle.patch (a
# branch on the padding verdict) or bench/bugs/ct-early-mac.patch (MAC compare with an early
# exit) or bench/bugs/ct-secret-divide.patch (the secret length divided by the hash block, a
# branch in clang's -O2 divide) applied to a scratch copy, each MAC-then-encrypt family must
# make valgrind report an error in record.c; with bench/bugs/etm-early-tag.patch (tag compare with an early exit) or
# bench/bugs/etm-mac-after-decrypt.patch (the padding decided before the MAC), the
# encrypt-then-MAC family must.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
# CC CFLAGS LDFLAGS BORINGSSL_INCLUDE BORINGSSL_LIB of the valgrind profile
eval "$("$ROOT/build.sh" flags valgrind)"
work=$(mktemp -d "${TMPDIR:-/tmp}/ct_record.XXXXXX")
trap 'rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "ct_record: valgrind not installed"; exit 1; }

build() { # SRCDIR OUT
    # shellcheck disable=SC2086  # CFLAGS and LDFLAGS are flag lists
    "$CC" $CFLAGS -DMX_CT_VALGRIND -I "$1/include" -isystem "$BORINGSSL_INCLUDE" \
        "$1/src/record.c" "$1/src/chain.c" "$ROOT/src/tests/ct/ct_cbc.c" $LDFLAGS \
        -L"$BORINGSSL_LIB" -lssl -lcrypto -Wl,-rpath,"$BORINGSSL_LIB" -o "$2"
}

run_vg() { # BINARY LOG FAMILY -> valgrind's exit status
    local rc=0
    valgrind --tool=memcheck --error-exitcode=97 --leak-check=no --track-origins=yes \
        --log-file="$2" "$1" "$3" >"$2.out" 2>&1 || rc=$?
    return $rc
}

MTE_FAMILIES="sha1 sha256 sha384"

# 1. the real code: no report, right results, in every family
build "$ROOT" "$work/ct_cbc"
for fam in $MTE_FAMILIES etm; do
    rc=0
    run_vg "$work/ct_cbc" "$work/real-$fam.log" "$fam" || rc=$?
    cat "$work/real-$fam.log.out"
    if [[ $rc -ne 0 ]]; then
        echo "FAIL: $fam: valgrind reports a secret-dependent branch/index in the real code (exit $rc):"
        grep -A12 'depends on uninitialised\|Use of uninitialised' "$work/real-$fam.log" | head -60
        exit 1
    fi
    grep -q 'ERROR SUMMARY: 0 errors' "$work/real-$fam.log" ||
        { echo "FAIL: $fam: no clean valgrind summary"; tail -5 "$work/real-$fam.log"; exit 1; }
    echo "ct_record: real code, $fam: 0 memcheck errors"
done

# 2. planted non-constant-time variants must be caught by the family whose code they are in
check_bug() { # BUG FAMILY...
    local bug=$1 fam rc
    shift
    mkdir -p "$work/$bug"
    cp -r "$ROOT/src" "$ROOT/include" "$work/$bug/"
    (cd "$work/$bug" && patch -s -p1 <"$ROOT/bench/bugs/$bug.patch")
    build "$work/$bug" "$work/$bug/ct_cbc"
    for fam in "$@"; do
        rc=0
        run_vg "$work/$bug/ct_cbc" "$work/$bug-$fam.log" "$fam" || rc=$?
        if [[ $rc -ne 97 ]]; then
            echo "FAIL: $bug.patch, $fam records: valgrind reported nothing (exit $rc); the check would miss it"
            exit 1
        fi
        if ! grep -A8 'depends on uninitialised\|Use of uninitialised' "$work/$bug-$fam.log" | grep -q 'record\.c'; then
            echo "FAIL: $bug.patch, $fam records: valgrind errors, but none in record.c:"
            head -30 "$work/$bug-$fam.log"
            exit 1
        fi
        echo "ct_record: $bug.patch, $fam records: caught ($(grep -m1 -o 'ERROR SUMMARY: [0-9]* errors' "$work/$bug-$fam.log"))"
    done
}
# shellcheck disable=SC2086  # the family list
check_bug padding-oracle $MTE_FAMILIES
# shellcheck disable=SC2086
check_bug ct-early-mac $MTE_FAMILIES
# shellcheck disable=SC2086
check_bug ct-secret-divide $MTE_FAMILIES
check_bug etm-early-tag etm
check_bug etm-mac-after-decrypt etm
echo "ct_record: PASS"
