#!/usr/bin/env bash
# A script test that starts servers, run the way ctest runs it (tools/test_group.sh) and ended
# mid-run, leaves none of them running (and, when its traps could run, no private directory):
#  - serve/tests/tls_suite_matrix.sh, SIGTERM once its mx-serve is ready (a client may be in
#    the foreground then: the script's trap must wait for it, serve_cleanup stop mx-serve);
#  - the same test when "ctest" dies instead (the wrapper's parent and its output's reader
#    SIGKILLed, as a ctest killed by SIGTERM leaves its tests: running, their pipe broken);
#  - as root with the live packages (live/install.sh --check), also
#    live/tests/real_servers_judged_and_stopped.sh, killed as ctest's timeout kills a test (SIGKILL
#    to the wrapper and every process below it: no trap runs) once its first postfix master is
#    up (live mode starts postfix, postfix-hardened, dovecot in turn: the kill finds it between
#    two starts, or inside one): the masters daemonize out of the tree, so only the wrapper's
#    watchdog, outside it too, can stop them (the stop lines live/servers.sh registered).
# Every process below the test when it is ended (pid and start time), every server master and
# its children, and any process naming the test's directory in its command line or environment
# (a master started after the end) must be gone within the bound; after SIGTERM the wrapper must
# exit 143, and but for the SIGKILL case the directory must be gone.
set -uo pipefail
ROOT=${MXFUZZ_ROOT:?} BUILD=${MXFUZZ_BUILD:?}
fail() { echo "FAIL: $*"; exit 1; }
# the wrapper's KILL comes after the bound: what the traps did not stop in time fails the test
export MXFUZZ_TEST_GRACE=30
BOUND=12   # seconds from the SIGTERM to the last server gone
wrapper=""

# ident PID: "PID STARTTIME" (field 22 of /proc/PID/stat), or nothing when it is gone
ident() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; read -ra f <<<"$s"; echo "$1 ${f[19]}"; }
# under PID [WORD]: "PID ARGS" of every process under PID (ARGS holding WORD, if given); one ps
under() {
    ps -e -o pid=,ppid=,args= | awk -v root="$1" -v word="${2:-}" '
        { up[$1] = $2; a = $0; sub(/^ *[0-9]+ +[0-9]+ /, "", a); args[$1] = a }
        END { for (p in up) { q = p; while (q in up && q != root && q > 1) q = up[q]
                              if (q == root && p != root && index(args[p], word)) print p, args[p] } }'
}
# below PID: every process under PID, as "PID STARTTIME" lines
below() {
    local p rest
    while read -r p rest; do ident "$p"; done < <(under "$1")
}
# cmdline_of_below PID WORD: the command lines under PID holding WORD
cmdline_of_below() { under "$1" "$2" | sed 's/^[0-9]* //'; }
alive() { # alive "PID STARTTIME"...: prints the ones still running
    local l p t
    for l in "$@"; do
        read -r p t <<<"$l"
        [[ $(ident "$p") == "$p $t" ]] && echo "$p ($(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-80))"
    done
    return 0
}

# naming DIR: the processes whose command line or environment holds DIR (postfix's master has
# it as MAIL_CONFIG, dovecot's as -c DIR/...); this shell and its children aside
naming() {
    local f p
    for f in $(grep -lsF -- "$1" /proc/[0-9]*/cmdline /proc/[0-9]*/environ); do
        p=${f#/proc/}
        p=${p%%/*}
        # the grep itself (it reads its own command line), or anything gone since
        [[ $p == "$$" || $p == "$BASHPID" ]] && continue
        grep -qsF -- "$1" "/proc/$p/cmdline" "/proc/$p/environ" || continue
        echo "$p ($(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-80))"
    done | sort -u
    return 0
}

# terminate NAME SCRIPT READY-FN HOW: runs SCRIPT under tools/test_group.sh, waits (60 s at
# most) until READY-FN prints the test's directory, then ends it HOW: "sigterm" (SIGTERM to the
# wrapper, as a user would), "ctest-gone" (the wrapper's parent and the reader of its output
# SIGKILLed: ctest killed, its pipe broken) or "timeout" (SIGKILL to the wrapper and everything
# below it, as ctest's timeout does: no trap runs, the directory stays; the wrapper's watchdog
# must stop the daemonized masters), and checks what is left. Run in a subshell of its own (the cases run side by side):
# fail ends that subshell.
terminate() {
    local name=$1 script=$2 ready=$3 how=$4 dir="" servers=() procs=() t0 t1 rc left start=$SECONDS
    local parent="" reader=""
    trap '[[ -n $wrapper ]] && kill -TERM "$wrapper" $parent $reader 2>/dev/null' EXIT
    if [[ $how != ctest-gone ]]; then
        bash "$ROOT/tools/test_group.sh" bash "$script" >"$WORK/$name.out" 2>&1 &
        wrapper=$!
    else
        mkfifo "$WORK/$name.pipe"
        cat "$WORK/$name.pipe" >"$WORK/$name.out" &
        reader=$!
        # a stand-in for ctest: the wrapper's parent, its output a pipe
        bash -c 'bash "$1" bash "$2" & echo $! >"$3"; wait' - "$ROOT/tools/test_group.sh" "$script" \
            "$WORK/$name.wrapper" >"$WORK/$name.pipe" 2>&1 &
        parent=$!
        for _ in $(seq 50); do [[ -s $WORK/$name.wrapper ]] && break; sleep 0.1; done
        wrapper=$(cat "$WORK/$name.wrapper")
    fi
    for _ in $(seq 300); do
        dir=$("$ready" "$wrapper") && [[ -n $dir ]] && break
        kill -0 "$wrapper" 2>/dev/null || { cat "$WORK/$name.out"; fail "$name ended before its servers were up"; }
        sleep 0.2
    done
    [[ -n $dir ]] || fail "$name: servers not up within 60 s"
    mapfile -t procs < <(below "$wrapper")
    mapfile -t servers < <(server_masters "$dir")
    t0=$SECONDS
    if [[ $how == sigterm ]]; then
        kill -TERM "$wrapper"
    elif [[ $how == timeout ]]; then
        { kill -KILL "$wrapper" $(under "$wrapper" | cut -d' ' -f1); wait "$wrapper"; } 2>/dev/null
    else
        { kill -KILL "$parent" "$reader"; wait "$parent" "$reader"; } 2>/dev/null   # no "Killed" notices
    fi
    # until everything is gone (the wrapper's helpers too), or the bound
    while ((SECONDS - t0 <= BOUND)); do
        kill -0 "$wrapper" 2>/dev/null || [[ ($how != timeout && -e $dir) || -n $(alive "${procs[@]}" "${servers[@]}") ]] || break
        sleep 0.2
    done
    kill -0 "$wrapper" 2>/dev/null && fail "$name: still running $BOUND s after $how"
    t1=$SECONDS
    if [[ $how == sigterm ]]; then
        wait "$wrapper"
        rc=$?
        [[ $rc -eq 143 ]] || { cat "$WORK/$name.out"; fail "$name: exit status $rc after SIGTERM, not 143"; }
    fi
    wrapper="" parent="" reader=""
    left=$(alive "${procs[@]}" "${servers[@]}")
    [[ -z $left ]] || fail "$name: left running after $how: $left"
    left=$(naming "$dir")
    [[ -z $left ]] || fail "$name: left running after $how, naming $dir: $left"
    if [[ $how == timeout ]]; then
        rm -rf "$dir"   # nothing of the test ran after the SIGKILL: its directory is ours to remove
    else
        [[ -e $dir ]] && fail "$name: its directory $dir is still there"
    fi
    echo "ok: $name: $how once its servers were up ($((t0 - start)) s); ${#procs[@]} process(es) below it and ${#servers[@]} daemonized master(s) gone in $((t1 - t0)) s, $dir removed"
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# serve: the directory of the mx-serve below the wrapper (serve/tests/testlib.sh: --ready
# $W/ready), once it wrote its ready file
serve_ready() {
    local c w
    c=$(cmdline_of_below "$1" "--ready" | head -n1)
    w=$(sed -n 's/.* --ready \([^ ]*\)\/ready .*/\1/p' <<<"$c ")
    [[ -n $w && -f $w/ready ]] && echo "$w"
    return 0
}
server_masters() { # DIR: live mode's daemonized masters under DIR and their children, if any
    local pf pid
    for pf in "$1"/run/postfix*/spool/pid/master.pid "$1"/run/dovecot/run/master.pid; do
        [[ -f $pf ]] || continue
        pid=$(tr -d ' \n' <"$pf")
        ident "$pid"
        below "$pid"
    done
    return 0
}
cases=()
terminate serve "$ROOT/serve/tests/tls_suite_matrix.sh" serve_ready sigterm >"$WORK/serve.verdict" 2>&1 &
cases+=("serve $!")
terminate serve-ctest-gone "$ROOT/serve/tests/tls_suite_matrix.sh" serve_ready ctest-gone \
    >"$WORK/serve-ctest-gone.verdict" 2>&1 &
cases+=("serve-ctest-gone $!")

# live: the test's directory (live.sh --dir DIR/run) once the first postfix master is up
live_ready() {
    local c d pf=""
    c=$(cmdline_of_below "$1" "live/live.sh" | head -n1)
    d=$(sed -n 's/.* --dir \([^ ]*\)\/run .*/\1/p' <<<"$c")
    [[ -n $d ]] && pf=$d/run/postfix/spool/pid/master.pid
    [[ -n $pf && -f $pf ]] && kill -0 "$(tr -d ' \n' <"$pf")" 2>/dev/null && echo "$d"
    return 0
}
if [[ $(id -u) -ne 0 ]]; then
    echo "note: not root: live mode's postfix and dovecot not tried"
elif ! miss=$("$ROOT/live/install.sh" --check); then
    echo "note: $miss: live mode's postfix and dovecot not tried"
else
    terminate live "$ROOT/live/tests/real_servers_judged_and_stopped.sh" live_ready timeout >"$WORK/live.verdict" 2>&1 &
    cases+=("live $!")
fi
rc=0
for c in "${cases[@]}"; do
    read -r name pid <<<"$c"
    wait "$pid" || rc=1
    grep -v "No such file or directory" "$WORK/$name.verdict"   # a process gone while read
done
exit $rc
