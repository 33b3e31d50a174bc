#!/usr/bin/env bash
# test_group.sh CMD [ARG...] - runs one script test (ctest's COMMAND for every <product>/script/
# test, CMakeLists.txt mx_product_tests) in a process group of its own, so that terminating the
# test reaches everything it started, however deep:
#  - SIGTERM, SIGINT or SIGHUP to this process is sent on to the whole group, once, and to
#    every process below this one outside it;
#  - so is a SIGTERM when ctest (this process's parent) goes away without a word: a ctest killed
#    by SIGTERM leaves its tests running, and their pipes closed;
#  - after GRACE seconds (MXFUZZ_TEST_GRACE, default 20) whatever is left of the group is killed;
#  - and when this process is SIGKILLed (ctest's timeout), a watchdog it left behind does the same
#    for the group (the strays outside it, below a process that is gone, it cannot find).
# The tests' own traps do the rest: a TERM/INT/HUP trap makes a script wait for its foreground
# child (whose own trap stops the servers it started) before its EXIT trap removes the private
# directories; postfix's and dovecot's masters leave the group (they daemonize), so live mode
# stops them through their pid files (live/servers.sh live_stop_all). Exit status: the test's,
# or 128 + the signal's number when it was terminated.
set -u
[[ $# -gt 0 ]] || { echo "usage: test_group.sh CMD [ARG...]" >&2; exit 2; }
grace=${MXFUZZ_TEST_GRACE:-20}
parent=$PPID
# ctest's timeout SIGKILLs every process below it, this one and the whole test, so no trap runs
# and the daemonized masters (no longer below anything of ours) are left. A watchdog outside the
# tree (its parent subshell exits at once) waits for this process to end, then sends the test's
# group SIGTERM and runs the stop commands the test registered in MXFUZZ_TEST_STOPS (one shell
# command a line, live/servers.sh live_register_stop); after a normal end they find nothing to
# stop. It holds none of ctest's pipes.
MXFUZZ_TEST_STOPS=$(mktemp "${TMPDIR:-/tmp}/mxfuzz-test-stops.XXXXXX") || exit 1
export MXFUZZ_TEST_STOPS
# the test's output goes through a copier that outlives ctest: when ctest dies, its pipe breaks,
# and a script writing to it (bash's own "Terminated" notice of a killed child will do) would
# die of SIGPIPE before its trap had stopped anything. tee ignores the signals (the test's group
# gets them, not it) and goes on reading after a write error on a pipe; it ends at the test's
# last byte.
exec {out}> >(trap '' INT TERM HUP PIPE; exec tee --output-error=warn-nopipe 2>/dev/null)
set -m             # job control: the background job below gets a process group of its own
"$@" >&"$out" 2>&1 &
child=$!
set +m
exec {out}>&-
( (
    trap '' INT TERM HUP PIPE
    while kill -0 $$ 2>/dev/null; do sleep 1; done
    kill -TERM -- -"$child" 2>/dev/null
    while IFS= read -r line; do bash -c "$line"; done <"$MXFUZZ_TEST_STOPS"
    rm -f "$MXFUZZ_TEST_STOPS"
) </dev/null >/dev/null 2>&1 & )
sent=""

# the processes below this one, however deep, outside the test's own process group, as they are
# now (GNU timeout, used by many tests, moves its command into a process group of its own: the
# group signal does not reach it). Members of the group are left out: they get the group
# signal, and only once (a second SIGTERM would interrupt a script's EXIT trap).
strays() {
    ps -e -o pid=,ppid=,pgid= | awk -v root=$$ -v grp="$child" '{ up[$1] = $2; g[$1] = $3 }
        END { for (p in up) { q = p; while (q in up && q != root && q > 1) q = up[q]
                              if (q == root && p != root && g[p] != grp) print p } }'
}

# forward SIG to the test's group and to the strays, once: a second signal (or ctest's death
# after a signal) does not restart the grace period
forward() {
    local p list
    [[ -n $sent ]] && return 0
    sent=$1
    list=$(strays)
    kill -"$1" -- -"$child" 2>/dev/null || true
    for p in $list; do kill -"$1" "$p" 2>/dev/null || true; done
    deadline=$((SECONDS + grace))
}
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP

deadline=""
while kill -0 "$child" 2>/dev/null; do
    kill -0 "$parent" 2>/dev/null || forward TERM
    if [[ -n $deadline && $SECONDS -ge $deadline ]]; then
        for p in $(strays); do kill -KILL "$p" 2>/dev/null || true; done
        kill -KILL -- -"$child" 2>/dev/null || true
        break
    fi
    # a trapped signal interrupts `wait`, so the forward is not delayed by the sleep
    sleep 0.5 &
    wait $! 2>/dev/null
done
wait "$child"
rc=$?
# the test's script is gone; members of its group still alive (a background job it did not
# reap) are ended with it
if [[ -n $sent ]] || pgrep -g "$child" >/dev/null 2>&1; then
    kill -TERM -- -"$child" 2>/dev/null || true
fi
case $sent in
TERM) exit 143 ;;
INT) exit 130 ;;
HUP) exit 129 ;;
esac
exit "$rc"
