#!/usr/bin/env bash
# mx-serve's lifecycle: idle timeout (421 then close); SIGTERM while a message is in flight
# (it is finished, stored and acknowledged within the grace period; an idle connection gets
# 421 at once; the server exits 0); SIGTERM while a client stalls past the grace period (the
# message is never acknowledged and nothing of it is left in new/ or tmp/).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 2
P=${PORTS[0]} P2=${PORTS[1]}
printf 'listen 127.0.0.1 %s starttls smtp\ncert test * *\n' "$P" >"$W/serve.conf"
gen_message "$W/big" 200000 5

# a connection that reads the greeting, then waits for the server to speak and close
wait_goodbye() {
    timeout 20 python3 - "$@" <<'PY'
import socket, sys, time
port, want = int(sys.argv[1]), sys.argv[2].encode()
s = socket.create_connection(("127.0.0.1", port), timeout=15)
f = s.makefile("rb")
assert f.readline().startswith(b"220")
open(sys.argv[3], "w").write("connected\n")
line = f.readline()
assert line.startswith(b"421") and want in line, line
assert f.readline() == b"", "the server did not close after 421"
PY
}

serve_start "$W/serve.conf" --idle-timeout 3 --grace 5
# --- idle timeout
start=$(date +%s.%N)
wait_goodbye "$P" "idle timeout" "$W/idle.flag" || fail "idle timeout"
elapsed=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
grep -q "idle for 3 s" "$W/log" || fail "no idle log line"
echo "ok: idle connection got 421 and was closed after ${elapsed}s (--idle-timeout 3)"

# --- SIGTERM with a message in flight and an idle connection
"$CLIENT_BIN" --quiet --proto smtp --port "$P" --message "$W/big" --pause-ms 1500 >"$W/client.out" 2>"$W/client.err" &
cpid=$!
wait_goodbye "$P" "shutting down" "$W/idle2.flag" &
ipid=$!
for _ in $(seq 50); do [[ -f $W/idle2.flag ]] && grep -q "STARTTLS accepted" "$W/log" && break; sleep 0.1; done
sleep 0.5
serve_stop
# the client's QUIT after its 250 meets the server's 421 goodbye: that is the expected ending
wait "$cpid" || grep -q "got: 421 .*shutting down" "$W/client.err" || fail "the in-flight client failed: $(cat "$W/client.err")"
grep -q "acked 1" "$W/client.out" || fail "the in-flight message was not acknowledged: $(cat "$W/client.err")"
wait "$ipid" || fail "the idle connection did not get 421 at shutdown"
assert_stored "$W/big"
grep -q "shutdown requested" "$W/log" || fail "no shutdown log line"
echo "ok: SIGTERM: the in-flight 200000-byte message was finished, stored and acknowledged; idle connection got 421"

# --- SIGTERM while a client stalls longer than the grace period
rm -f "$W"/md/new/*
printf 'listen 127.0.0.1 %s starttls smtp\ncert test * *\n' "$P2" >"$W/serve2.conf"
serve_start "$W/serve2.conf" --grace 1
"$CLIENT_BIN" --quiet --proto smtp --port "$P2" --message "$W/big" --pause-ms 3000 >"$W/client.out" 2>"$W/client.err" &
cpid=$!
for _ in $(seq 50); do grep -q "TLS handshake done" "$W/log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
t0=$(date +%s)
serve_stop
(($(date +%s) - t0 <= 4)) || fail "shutdown took more than grace + 3 s"
rc=0
wait "$cpid" || rc=$?
[[ $rc -ne 0 ]] || fail "the stalled client's message was acknowledged after the grace period"
grep -q "acked" "$W/client.out" && fail "stalled message acknowledged"
[[ $(stored_count) -eq 0 ]] || fail "a message that was never acknowledged is in new/"
[[ -z $(ls -A "$W/md/tmp") ]] || fail "tmp/ not cleaned: $(ls "$W/md/tmp")"
grep -q "grace period over: message in progress dropped" "$W/log" || fail "no grace-period log line"
echo "ok: SIGTERM + client stalled past --grace 1: not acknowledged, not stored, tmp/ clean, server exited in time"
echo "PASS serve_shutdown"
