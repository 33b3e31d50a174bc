#!/usr/bin/env bash
# mx-serve's start-up against odd paths (issue 19, item 9): a certificate or a config path that
# is a named pipe fails at once (it used to hang start-up, blocked in open), a directory as the
# config path says so (it used to say "no listener"), and tmp/ leftovers of a crashed server
# (an mx-serve temp file of a dead process, any file older than 36 h) are removed at start-up
# while a fresh foreign file is kept.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 1
P=${PORTS[0]}
printf 'listen 127.0.0.1 %s starttls smtp\ncert test * *\n' "$P" >"$W/serve.conf"

# start-up that must fail within 20 s with a message matching WANT
must_fail() {
    local want=$1 rc=0 err
    shift
    err=$(timeout 20 "$SERVE_BIN" "$@" -m "$W/md-x" 2>&1 </dev/null) || rc=$?
    [[ $rc -ne 0 && $rc -ne 124 ]] || fail "mx-serve $*: exit $rc (124: hung for 20 s); stderr: $err"
    grep -q -- "$want" <<<"$err" || fail "mx-serve $*: message lacks '$want': $err"
    echo "ok: mx-serve $*: exit $rc: $(head -n 1 <<<"$err")"
}
mkdir -p "$W/fifo-certs" "$W/confdir"
mkfifo "$W/fifo-certs/test.pem" "$W/conf.fifo"
must_fail "not a regular file" -c "$W/serve.conf" --cert-dir "$W/fifo-certs"
must_fail "not a regular file" -c "$W/conf.fifo" --cert-dir "$W/certs"
must_fail "not a regular file" -c "$W/confdir" --cert-dir "$W/certs"

# tmp/ leftovers
mkdir -p "$W/md/tmp"
true & dead=$!
wait "$dead"
crashed="1700000000.M000001P${dead}Q000001.mx-serve"
printf 'half a message' >"$W/md/tmp/$crashed"
printf 'old' >"$W/md/tmp/old-foreign"
touch -d '40 hours ago' "$W/md/tmp/old-foreign"
printf 'fresh' >"$W/md/tmp/fresh-foreign"
serve_start "$W/serve.conf"
serve_stop
[[ ! -e $W/md/tmp/$crashed ]] || fail "the crashed server's tmp/$crashed was not removed"
[[ ! -e $W/md/tmp/old-foreign ]] || fail "the 40-hour-old tmp/old-foreign was not removed"
[[ -e $W/md/tmp/fresh-foreign ]] || fail "the fresh foreign tmp/fresh-foreign was removed"
echo "ok: start-up removed tmp/ leftovers (dead mx-serve's file, a 40 h old one), kept a fresh foreign file"
