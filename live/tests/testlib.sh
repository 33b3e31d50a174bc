# testlib.sh - shell helpers for live mode's tests (live/tests/*.sh; not a test itself: CMake
# leaves testlib.sh out). Source it after setting $work, the test's private directory.
#
#   fail MSG...                prints "FAIL: MSG" and exits 1
#   live_assert_stopped NAME   live/live.sh's run in $work/NAME (mx-serve only) left nothing
#                              behind: no mx-serve pid file, no port of $work/NAME/ports still
#                              accepting connections (live.sh's trap stops what it started; a
#                              server left alive would hold a port, and its spool, past the test)

fail() { echo "FAIL: $*"; exit 1; }

live_assert_stopped() {
    local p
    for p in "$work/$1"/mx-serve/*.pid; do [[ -e $p ]] && fail "$1: $(basename "$p") left behind"; done
    while read -r _ _ p; do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && fail "$1: port $p still accepts connections after the run"
    done <"$work/$1/ports"
}
