#!/usr/bin/env bash
# A fuzzer build into an $OUT where a fuzzer is running leaves that fuzzer running: build.sh
# writes each fuzzer and each library of $OUT/lib as a new file renamed over the old one
# (copy_in, link to .tmp then mv). Writing in place (cp over libssl.so.0, as build.sh did before
# bdb81d3; a linker that opens its output without unlinking it) changes pages the running process
# has mapped: SIGBUS. Against the build.sh of 9a40dc3 this test reports both libraries. Checked: the
# fuzzer is alive after the rebuild and stops on SIGINT the way libFuzzer does; the binary and
# the libraries have new inodes (a rewrite in place keeps the inode); no .tmp is left in $OUT.
# Built the OSS-Fuzz way (`./build.sh oss-fuzz`) into a private $OUT with the libfuzzer profile's
# compilers and flags (`./build.sh flags libfuzzer`: build.conf is their one home).
set -euo pipefail
# shellcheck source=targets/tests/testlib.sh
. "$(dirname "$0")/testlib.sh"

eval "$("$ROOT/build.sh" flags libfuzzer)"
build() {
    OUT=$tmp/out WORK=$tmp/work CC=$CC CXX=$CXX CFLAGS=$CFLAGS CXXFLAGS=$CXXFLAGS LIB_FUZZING_ENGINE=$ENGINE \
        "$ROOT/build.sh" oss-fuzz >"$tmp/build.log" 2>&1 && return
    cat "$tmp/build.log"; bad "build $1 failed"
    [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null   # the fuzzer of a failed second build goes too
    finish rebuild_under_running_fuzzer
}
build first
[[ -x $tmp/out/imap && -f $tmp/out/lib/libssl.so.0 ]] || { bad "no imap or lib/libssl.so.0 in \$OUT"; finish rebuild_under_running_fuzzer; }

mkdir -p "$tmp/corpus"
"$tmp/out/imap" -max_total_time=900 "$tmp/corpus" >"$tmp/fuzz.log" 2>&1 &
pid=$!
# running, not starting: libFuzzer prints INITED once the corpus is loaded
for _ in $(seq 1 100); do grep -q INITED "$tmp/fuzz.log" && break; sleep 0.1; done
grep -q INITED "$tmp/fuzz.log" || bad "the fuzzer did not start: $(tail -3 "$tmp/fuzz.log")"

declare -A before
for f in imap lib/libssl.so.0 lib/libcrypto.so.0; do before[$f]=$(stat -c %i "$tmp/out/$f"); done
build second

kill -0 "$pid" 2>/dev/null || bad "the fuzzer died during the rebuild: $(tail -5 "$tmp/fuzz.log")"
kill -INT "$pid" 2>/dev/null || true
rc=0; wait "$pid" || rc=$?
grep -q "run interrupted; exiting" "$tmp/fuzz.log" || bad "the fuzzer did not stop on SIGINT (exit $rc): $(tail -5 "$tmp/fuzz.log")"
grep -qE "SIGBUS|deadly signal" "$tmp/fuzz.log" && bad "the fuzzer crashed: $(grep -m1 -E 'SIGBUS|deadly signal' "$tmp/fuzz.log")"
for f in "${!before[@]}"; do
    [[ $(stat -c %i "$tmp/out/$f") != "${before[$f]}" ]] || bad "\$OUT/$f was rewritten in place (same inode ${before[$f]})"
done
left=$(find "$tmp/out" -name '*.tmp' | head -3)
[[ -z $left ]] || bad "left in \$OUT: $left"
finish rebuild_under_running_fuzzer
