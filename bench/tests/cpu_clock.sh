#!/usr/bin/env bash
# bench/cpuclock.sh counts the CPU of a process tree right (the --clock cpu budget of bench bugs
# and bench speed): on a made-up /proc whose figures are worked out by hand —
#  - a process's own utime + stime plus the cutime + cstime of the children it reaped;
#  - every live descendant, at any depth, and nothing outside the tree;
#  - a command name holding ") " and blanks does not shift the fields (proc(5): the name is in
#    parentheses and may contain anything, so the fields start after the LAST ") ");
#  - the pids it would signal are the descendants, not the root;
#  - cpu_of reads bash's time (TIMEFORMAT='%3U %3S'), 0 without a file.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# stat PID COMM PPID UTIME STIME CUTIME CSTIME: one made-up /proc/PID/stat (proc(5) field order)
stat() {
    mkdir -p "$work/proc/$1"
    printf '%s (%s) S %s 1 1 0 -1 4194560 100 0 0 0 %s %s %s %s 20 0 1 0 5 1000 10\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "$7" >"$work/proc/$1/stat"
}
stat 100 "bash" 1 10 5 0 0                       # the root: a trial's subshell
stat 200 "afl-fuzz" 100 300 100 0 0               # its child
stat 300 "imap) S 999 x" 200 50 50 900 100        # the forkserver: a name with ") " in it; reaped children 1000
stat 400 "imap" 300 7 3 0 0                       # a live execution
stat 500 "other" 1 5000 5000 0 0                  # not in the tree
stat 600 "grandchild of other" 500 77 0 0 0       # not in the tree either
fails=0
expect() { if [[ $2 == "$3" ]]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', want '$3'"; fails=$((fails + 1)); fi; }
# shellcheck source=bench/cpuclock.sh
CPUCLOCK_PROC=$work/proc CPUCLOCK_TICK=100
. "$ROOT/bench/cpuclock.sh"
r=$(tree_cpu 100)
# (10+5) + (300+100) + (50+50+900+100) + (7+3) = 1525 ticks = 15.25 s at 100 ticks/s
expect "CPU of the tree (own + reaped children, every depth, no outsider)" "${r%% *}" "15.25"
expect "the descendants to stop, not the root" "$(tr ' ' '\n' <<<"${r#* }" | sort -n | tr '\n' ' ')" "200 300 400 "
r=$(tree_cpu 300)
expect "a subtree" "${r%% *}" "11.10"
r=$(tree_cpu 999)
expect "a pid that is gone: nothing" "$r" "0.00"
printf '1.250 0.370\n' >"$work/time"
expect "cpu_of: user + system of bash's time" "$(cpu_of "$work/time")" "1.62"
expect "cpu_of: no file" "$(cpu_of "$work/none")" "0"
[[ $fails -eq 0 ]] || { echo "$fails check(s) failed"; exit 1; }
