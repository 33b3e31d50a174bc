#!/usr/bin/env bash
# A trial counts a crash its bug's recogniser does not know as the bug exactly when the patch
# makes it (bench/judge.sh): the patched fuzzer crashes on the input run alone and the real
# code's fuzzer passes it. Made-up fuzzers (shell scripts that behave as libFuzzer and as an
# AFL++ target: they crash in fuzzing mode with an input chosen by the test, and on replay crash
# or pass by that input's content) drive bench/trial.sh through both engines:
#  - a recognised crash is found ("recogniser"), an unrecognised one the real code passes is
#    found ("patch");
#  - one the real code crashes on too is not found and is listed in real-crashes;
#  - one the patched fuzzer passes when replayed alone (it needed earlier inputs) is not found;
#  - a timeout artifact is not judged (it depends on the load), nor anything without a reference;
#  - judge_by_patch's own verdicts, "hang" included.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
expect() { if [[ $2 == "$3" ]]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', want '$3'"; fails=$((fails + 1)); fi; }

# the patched fuzzer. Fuzzing (libFuzzer: the last argument is the corpus directory) writes
# $FAKE_FUZZ as the crash input to $FAKE_KIND-1 under -artifact_prefix and crashes. Replaying a
# file crashes by its content: "recognised" with the bug's message, "patchbug" and "realbug"
# with another, "slow" as a libFuzzer timeout; "flaky" passes
cat >"$work/patched" <<'EOF'
#!/usr/bin/env bash
last=${*: -1} prefix=
for a in "$@"; do case $a in -artifact_prefix=*) prefix=${a#*=} ;; esac; done
if [[ -d $last ]]; then
    printf '%s' "$FAKE_FUZZ" >"${prefix}${FAKE_KIND:-crash}-1"
    "$0" "${prefix}${FAKE_KIND:-crash}-1"   # the crash's own message
    echo "Test unit written to ${prefix}${FAKE_KIND:-crash}-1"
    exit 1
fi
case $(cat "$last") in
recognised) echo "THE-BUG: here"; exit 1 ;;
patchbug | realbug) echo "==1== ERROR: another message"; exit 1 ;;
slow) echo "==1== ERROR: libFuzzer: timeout after 10 seconds"; exit 70 ;;
*) exit 0 ;;
esac
EOF
# the real code: crashes on "realbug" only
cat >"$work/ref" <<'EOF'
#!/usr/bin/env bash
[[ $(cat "${*: -1}") == realbug ]] && { echo "==1== ERROR: a bug of the real code"; exit 1; }
exit 0
EOF
# afl-fuzz: writes one crash file holding $FAKE_FUZZ and fuzzes on until it is stopped
mkdir -p "$work/bin"
cat >"$work/bin/afl-fuzz" <<'EOF'
#!/usr/bin/env bash
while [[ $# -gt 0 && $1 != -o ]]; do shift; done
out=$2
mkdir -p "$out/default/crashes"
printf 'execs_done        : 42\n' >"$out/default/fuzzer_stats"
printf '%s' "$FAKE_FUZZ" >"$out/default/crashes/id:000000,sig:06,src:000000,time:5,execs:42"
trap 'kill $s 2>/dev/null; exit 0' INT TERM
sleep 30 & s=$!
wait $s
EOF
chmod +x "$work/patched" "$work/ref" "$work/bin/afl-fuzz"

# trial ENGINE INPUT REF [KIND]: runs one trial in its own directory ($d); got = "found how" of its result
n=0
trial() {
    n=$((n + 1))
    d="$work/t$n"
    FAKE_FUZZ=$2 FAKE_KIND=${4:-crash} PATH="$work/bin:$PATH" \
        bash "$ROOT/bench/trial.sh" "$1" "$work/patched" - - 4096 4 1 'THE-BUG' "$d" - wall 4 "$3" >"$d.log" 2>&1
    read -r found _ _ _ _ _ how <"$d/result"
    got="$found $how"
}
for e in libfuzzer afl; do
    trial $e recognised "$work/ref"
    expect "$e: a recognised crash is the bug" "$got" "1 recogniser"
    trial $e patchbug "$work/ref"
    expect "$e: an unrecognised crash the real code passes is the bug, by the patch" "$got" "1 patch"
    trial $e patchbug -
    expect "$e: without a reference it is not" "$got" "0 -"
    trial $e realbug "$work/ref"
    expect "$e: a crash of the real code too is not the bug" "$got" "0 -"
    expect "$e: ... and it is listed as the real code's" "$(test -s "$d/real-crashes" && echo listed)" "listed"
    trial $e flaky "$work/ref"
    expect "$e: a crash the patched fuzzer does not repeat alone is not the bug" "$got" "0 -"
done
trial libfuzzer patchbug "$work/ref" timeout
expect "libfuzzer: a timeout input is not judged" "$got" "0 -"

# shellcheck source=bench/judge.sh
. "$ROOT/bench/judge.sh"
printf patchbug >"$work/in.patch"; printf realbug >"$work/in.real"; printf flaky >"$work/in.flaky"; printf slow >"$work/in.slow"
expect "judge: patch" "$(judge_by_patch "$work/patched" "$work/ref" "$work/in.patch")" patch
expect "judge: real" "$(judge_by_patch "$work/patched" "$work/ref" "$work/in.real")" real
expect "judge: flaky" "$(judge_by_patch "$work/patched" "$work/ref" "$work/in.flaky")" flaky
expect "judge: hang (libFuzzer's timeout)" "$(judge_by_patch "$work/patched" "$work/ref" "$work/in.slow")" hang
expect "judge: no reference" "$(judge_by_patch "$work/patched" - "$work/in.patch")" unjudged
expect "judge: no input" "$(judge_by_patch "$work/patched" "$work/ref" "$work/none")" unjudged
[[ $fails -eq 0 ]] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
