#!/usr/bin/env bash
# The measuring tools of bench/ give the right answers on known inputs:
#  - bench/stats.py: Vargha-Delaney A12, Mann-Whitney U with its exact and approximate two-sided
#    p, medians with censored trials, Kaplan-Meier steps (values worked out by hand / from tables);
#  - bench/stats.py bugs: its Kaplan-Meier plot, a PNG that index.html shows;
#  - bench/crashsig.py: the signature line of ASan, UBSan and LeakSanitizer reports (first frame
#    in src/), and that a recogniser matches its own bug and not an unrelated crash.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$ROOT/bench" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import stats
INF = float("inf")
fails = 0
def check(what, got, want, tol=1e-9):
    global fails
    ok = (abs(got - want) <= tol) if isinstance(want, float) and want != INF else got == want
    print("%s: %s %r (want %r)" % ("ok" if ok else "FAIL", what, got, want))
    fails += not ok

check("A12 all smaller", stats.a12([1, 2, 3], [4, 5, 6]), 1.0)
check("A12 all larger", stats.a12([4, 5, 6], [1, 2, 3]), 0.0)
check("A12 all tied (censored)", stats.a12([INF] * 4, [INF] * 4), 0.5)
check("A12 mixed", stats.a12([1, 3], [2, INF]), 0.75)
u, p = stats.mann_whitney([1, 2, 3], [4, 5, 6])
check("U 3v3 separated", u, 9.0)
check("exact p 3v3 separated = 2/C(6,3)", p, 0.1)
u, p = stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
check("exact p 5v5 separated = 2/C(10,5)", p, 2 / 252)
u, p = stats.mann_whitney([INF] * 5, [INF] * 5)
check("p all tied", p, 1.0)
u, p = stats.mann_whitney([0.0] * 5, [INF] * 5)
check("p corpus-at-0 vs all censored (ties inside groups)", p, 2 / 252)
u, p = stats.mann_whitney(list(range(20)), list(range(20, 40)))
check("normal approximation 20v20 separated: p < 1e-6", p < 1e-6, True)
u, p = stats.mann_whitney(list(range(0, 40, 2)), list(range(1, 41, 2)))
check("normal approximation 20v20 interleaved: p > 0.5", p > 0.5, True)
check("median odd with censored", stats.median([1, INF, 3]), 3)
check("median even, middle censored", stats.median([1, 2, INF, INF]), INF)
check("median even", stats.median([1, 2, 3, INF]), 2.5)
check("Kaplan-Meier steps", stats.km_curve([1, 2, 30, 30], [True, True, False, False], 30),
      [(0.0, 1.0), (1, 0.75), (2, 0.5), (30.0, 0.5)])
check("Kaplan-Meier with censoring before an event",
      stats.km_curve([1, 2, 3], [False, True, True], 10), [(0.0, 1.0), (2, 0.5), (3, 0.0), (10.0, 0.0)])
# the bug x target against engine x configuration matrix and issue 14's goal, on made-up groups
def grp(bug, t, e, cfg, times, cap=60, corpus=0):
    return {"key": (bug, t, e, cfg), "n": len(times), "k": sum(x != INF for x in times), "cap": cap,
            "times": times, "median": stats.median(times), "corpus": corpus}
g = [grp("b", "imap", "afl", "empty", [1, 2, INF, INF, INF]),
     grp("b", "imap", "libfuzzer", "empty", [1, 2, 3, 4, INF]),
     grp("b", "imap", "libfuzzer", "shipped", [0, 0, 0, 0, 0], corpus=5),
     grp("b", "imap", "libfuzzer", "pruned", [5, 11, 12, 13, 14])]
rows, cols = stats.matrix_columns(g)
check("matrix columns: engines, then shipped/pruned/empty", cols,
      [("libfuzzer", "shipped"), ("libfuzzer", "pruned"), ("libfuzzer", "empty"), ("afl", "empty")])
check("matrix cell: corpus", stats.matrix_cell(g[2]), "5/5 corpus")
check("matrix cell: censored median", stats.matrix_cell(g[0]), "2/5 >60")
check("matrix cell: not run", stats.matrix_cell(None), "-")
goal = stats.goal_issue14(g, {x["key"]: x for x in g})[1]
check("goal 14: libFuzzer 4/5 meets 8/10", "libfuzzer empty meets (4/5" in goal, True)
check("goal 14: pruned median 12 misses 10 s", "libfuzzer pruned MISSES (median 12" in goal, True)
check("goal 14: AFL++ 2/5 misses 6/10", "afl empty MISSES (2/5" in goal, True)
sys.exit(1 if fails else 0)
EOF

sig() { python3 "$ROOT/bench/crashsig.py" sig "$1"; }
fails=0

expect() { if [[ $2 == "$3" ]]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', want '$3'"; fails=$((fails + 1)); fi; }

# stats.py bugs draws each bug x target's Kaplan-Meier curve as a PNG that index.html shows
# (gnuplot's pngcairo; ./build.sh test and bench install gnuplot-nox): on made-up trials
mkdir "$work/km"
{
    echo "bug,target,engine,config,trial,seed,found,source,seconds,execs,unrelated_crashes,cap,clock,used,wall"
    for k in 1 2 3; do
        echo "b,imap,libfuzzer,empty,$k,$((1000 * k + 17)),1,fuzzer,$k.5,100,0,60,cpu,$k.5,$k"
        echo "b,imap,afl,empty,$k,$((1000 * k + 17)),$((k < 3)),fuzzer,$((k * 7)).0,900,0,60,cpu,60,60"
    done
} >"$work/km/trials.csv"
python3 "$ROOT/bench/stats.py" bugs --out "$work/km" >"$work/km.out" 2>&1 || { cat "$work/km.out"; echo "FAIL: stats.py bugs"; exit 1; }
expect "stats.py bugs: the Kaplan-Meier plot is a PNG" \
    "$(head -c 8 "$work/km/km-b-imap.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a
expect "... shown in index.html" "$(grep -c "<img src='km-b-imap.png'" "$work/km/index.html" 2>/dev/null)" 1

cat >"$work/asan" <<'EOF'
==123==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000031 at pc 0x1 bp 0x2 sp 0x3
READ of size 4 at 0x602000000031 thread T0
    #0 0x4c5d6e in __asan_memcpy (/x/imap+0x4c5d6e)
    #1 0x4f1a2b in mx_imap_next /home/dev/mxfuzz/src/imap.c:612:13
    #2 0x4f0000 in LLVMFuzzerTestOneInput /home/dev/mxfuzz/targets/imap.c:88:5
SUMMARY: AddressSanitizer: heap-buffer-overflow (/x/imap+0x4c5d6e) in __asan_memcpy
EOF
expect "ASan signature names the first src/ frame" "$(sig "$work/asan")" \
    "signature: asan heap-buffer-overflow in mx_imap_next src/imap.c"

cat >"$work/ubsan" <<'EOF'
/home/dev/mxfuzz/src/record.c:540:21: runtime error: index 20 out of bounds for type 'uint8_t[16]'
    #0 0x55 in mx_record_read /home/dev/mxfuzz/src/record.c:540:21
SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior /home/dev/mxfuzz/src/record.c:540:21 in
EOF
expect "UBSan signature" "$(sig "$work/ubsan")" \
    "signature: ubsan runtime error: index 20 out of bounds for type 'uint8_t[16]' in mx_record_read src/record.c"

cat >"$work/leak" <<'EOF'
==9==ERROR: LeakSanitizer: detected memory leaks
Direct leak of 64 byte(s) in 1 object(s) allocated from:
    #0 0x4a in malloc (/x/chain+0x4a)
    #1 0x4b in seg_get /home/dev/mxfuzz/src/chain.c:70:9
EOF
expect "LeakSanitizer signature" "$(sig "$work/leak")" "signature: lsan memory-leak in seg_get src/chain.c"

m() { python3 "$ROOT/bench/crashsig.py" match "$1" "$2" && echo match || echo no; }
expect "a type+frame recogniser matches its bug" \
    "$(m 'signature: asan heap-buffer-overflow in mx_imap_next src/imap\.c' "$work/asan")" match
expect "... and not a leak in another file" \
    "$(m 'signature: asan heap-buffer-overflow in mx_imap_next src/imap\.c' "$work/leak")" no
printf 'chain: divergence at operation 7: segments (counter vs walk): chain 1, model 0\n' >"$work/oracle"
expect "an oracle-message recogniser matches" \
    "$(m 'chain: divergence at operation [0-9]+: segments \(counter vs walk\)' "$work/oracle")" match
printf 'chain: divergence at operation 7: bytes: chain 1, model 0\n' >"$work/other"
expect "... and not another divergence of the same target" \
    "$(m 'chain: divergence at operation [0-9]+: segments \(counter vs walk\)' "$work/other")" no

# stats.py merge: runs with other trial numbers (--first-trial) join into one sample; two runs
# holding the same trial (same seed: the same course twice) are refused
hdr=bug,target,engine,config,trial,seed,found,source,seconds,execs,unrelated_crashes,cap,clock,used,wall
for r in a b c; do mkdir -p "$work/$r"; echo "command: run $r" >"$work/$r/meta"; done
printf '%s\nb,imap,afl,empty,1,1017,1,fuzzer,2.0,10,0,60,cpu,2.0,3\n' "$hdr" >"$work/a/trials.csv"
printf '%s\nb,imap,afl,empty,2,2017,0,censored,60,10,0,60,cpu,60,70\n' "$hdr" >"$work/b/trials.csv"
cp "$work/a/trials.csv" "$work/c/trials.csv"
python3 "$ROOT/bench/stats.py" merge --out "$work/ab" "$work/a" "$work/b" >/dev/null 2>&1 || true
expect "merge: trials 1 and 2 of two runs are one sample of 2" \
    "$(grep -m1 'b / imap' "$work/ab/table.txt" 2>/dev/null | grep -o '1/2' | head -n 1)" 1/2
expect "merge: the meta of each run, once" "$(grep '^command:' "$work/ab/meta" 2>/dev/null)" "command: run a ; run b"
expect "merge: the same trial in two runs is refused" \
    "$(python3 "$ROOT/bench/stats.py" merge --out "$work/ac" "$work/a" "$work/c" >/dev/null 2>&1 && echo merged || echo refused)" refused
[[ $fails -eq 0 ]]
