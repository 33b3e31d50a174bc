#!/usr/bin/env bash
# The re-injected bugs of bench/bugs/manifest are still real and still recognised:
#  - every manifest line is well formed and names an existing patch, target and reproducer;
#  - every patch applies to src/ (git apply --check);
#  - with the patch applied (scratch copy of src/+include/, only the touched objects recompiled
#    with the test build's own compile commands, relinked), the reproducer FAILS (non-zero exit)
#    and its output matches the bug's recogniser; without it (the test build's replay binary)
#    the reproducer PASSES.
# A patch in bench/bugs/ without a manifest line is reported (NOTE), not failed: the engineer
# landing a bug and the manifest line may land minutes apart.
set -uo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
MANIFEST=${BUG_MANIFEST:-$ROOT/bench/bugs/manifest}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:handle_abort=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:symbolize=1}

fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[[ -f $MANIFEST ]] || { echo "FAIL: no $MANIFEST"; exit 1; }
[[ -f $BUILD/compile_commands.json ]] || { echo "FAIL: no test build in $BUILD"; exit 1; }
targets=$("$ROOT/build.sh" targets --names)

# check one bug; runs in a subshell per bug (in parallel), prints its verdict lines
check_bug() {
    local id=$1 patch=$2 origin=$3 tlist=$4 repro=$5 rx=$6 t w rc
    w="$work/$id"
    mkdir -p "$w"
    [[ $id =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "FAIL: $id: bad bug id"; return; }
    [[ -n $rx ]] || { echo "FAIL: $id: no recogniser"; return; }
    [[ -f $ROOT/bench/bugs/$patch ]] || { echo "FAIL: $id: no bench/bugs/$patch"; return; }
    [[ $origin =~ ^(Q[0-9]+|KB[0-9]+|CVE-[0-9]+-[0-9]+|issue-[0-9]+)$ ]] || echo "FAIL: $id: origin '$origin' is not a KB/Q number, CVE or project issue"
    for t in ${tlist//,/ }; do
        [[ $t == - ]] && continue   # not a fuzzing bug (a constant-time one, say)
        grep -qx -- "$t" <<<"$targets" || echo "FAIL: $id: $t is not a fuzz target (./build.sh targets)"
    done
    python3 -c 'import re,sys; re.compile(sys.argv[1])' "$rx" 2>/dev/null || { echo "FAIL: $id: recogniser is not a valid regular expression"; return; }
    if ! (cd "$ROOT" && git apply --check "bench/bugs/$patch" 2>"$w/apply.log"); then
        echo "FAIL: $id: bench/bugs/$patch does not apply to src/: $(head -3 "$w/apply.log" | tr '\n' ' ')"
        return
    fi
    if [[ $repro == - ]]; then
        if [[ $tlist == - ]]; then echo "NOTE: $id: not a fuzzing bug, no reproducer (patch applies)"
        else echo "NOTE: $id: no reproducer yet (patch applies)"; fi
        return
    fi
    local r
    for r in ${repro//,/ }; do
        [[ -f $ROOT/$r ]] || { echo "FAIL: $id: reproducer $r missing"; continue; }
        t=$(basename "$(dirname "$r")")
        grep -qx -- "$t" <<<"$targets" || { echo "FAIL: $id: $r: no target $t"; continue; }
        [[ -x $BUILD/replay/$t ]] || { echo "FAIL: $id: $BUILD/replay/$t not built"; continue; }
        # without the patch: passes
        "$BUILD/replay/$t" "$ROOT/$r" >"$w/real.log" 2>&1
        rc=$?
        [[ $rc -eq 0 ]] || { echo "FAIL: $id: $r fails (exit $rc) on the real code:"; tail -5 "$w/real.log"; continue; }
        # with the patch: fails, recognised as this bug
        if [[ ! -x $w/$t/$t ]]; then
            python3 "$ROOT/bench/variant.py" replay --root "$ROOT" --build "$BUILD" --jobs 1 \
                --patch "$ROOT/bench/bugs/$patch" --target "$t" --out "$w/$t" >"$w/build.log" 2>&1 ||
                { echo "FAIL: $id: building the patched replay_$t failed:"; tail -15 "$w/build.log"; continue; }
        fi
        "$w/$t/$t" "$ROOT/$r" >"$w/bug.log" 2>&1
        rc=$?
        if [[ $rc -eq 0 ]]; then
            echo "FAIL: $id: $r passes with the patch applied (it must fail)"
            continue
        fi
        if ! python3 "$ROOT/bench/crashsig.py" match "$rx" "$w/bug.log"; then
            echo "FAIL: $id: $r fails with the patch but its output does not match /$rx/:"
            python3 "$ROOT/bench/crashsig.py" sig "$w/bug.log"
            grep -avE '^\s+#[0-9]+ ' "$w/bug.log" | tail -8
            continue
        fi
        echo "ok: $id: $r passes without the patch; with it exits $rc, recognised ($(python3 "$ROOT/bench/crashsig.py" sig "$w/bug.log" | cut -c12-90))"
    done
}

# every patch has a manifest line (NOTE only)
declare -A listed=()
while read -r id patch _; do listed[$patch]=1; done < <(grep -E '^[A-Za-z0-9]' "$MANIFEST")
for p in "$ROOT"/bench/bugs/*.patch; do
    [[ -f $p ]] || continue
    [[ -n ${listed[$(basename "$p")]:-} ]] || echo "NOTE: bench/bugs/$(basename "$p") has no line in bench/bugs/manifest"
done

# duplicate ids
dups=$(grep -E '^[A-Za-z0-9]' "$MANIFEST" | awk '{print $1}' | sort | uniq -d)
[[ -z $dups ]] || bad "duplicate bug ids in the manifest: $dups"

# the bugs, two at a time
pids=()
i=0
while read -r id patch origin tlist repro rx; do
    if [[ -z $rx ]]; then bad "$id: manifest line has fewer than 6 fields"; continue; fi
    i=$((i + 1))
    check_bug "$id" "$patch" "$origin" "$tlist" "$repro" "$rx" >"$work/verdict.$i" 2>&1 &
    pids+=($!)
    if [[ ${#pids[@]} -ge 2 ]]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done < <(grep -E '^[A-Za-z0-9]' "$MANIFEST")
wait
[[ $i -gt 0 ]] || bad "the manifest lists no bug"
for ((k = 1; k <= i; k++)); do
    cat "$work/verdict.$k"
    n=$(grep -c '^FAIL' "$work/verdict.$k")
    fails=$((fails + n))
done
echo "bug_patches: $i bug(s), $fails failure(s)"
[[ $fails -eq 0 ]]
