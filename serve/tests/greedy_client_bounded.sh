#!/usr/bin/env bash
# Issue 19 item 7: output backpressure holds for pipelined commands. A POP3 client pipelines 200
# "RETR 1" of a 1 MiB message and reads nothing: mx-serve must stop executing its commands while
# the output queued for it is above SERVE_OUT_HIGH (256 KiB), so the server's RSS grows by about
# one message, not 200 (before: every RETR was queued, up to the 65 MiB output cap, and then
# the connection was dropped). Meanwhile an SMTP client is served. Then the greedy client reads:
# its first 5 replies must come byte-exact and in order (one stream compared with the expected
# 5 x (+OK line, dot-stuffed message, "."), RFC 1939 section 3 and RETR): held, not dropped.
# (Only 5 of the 200 are read back: the sanitized server dot-stuffs ~7 MiB/s on a loaded
# machine.) The RSS bound is a memory assertion (VmRSS of /proc/PID/status), not a timing one.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 2
P_POP3=${PORTS[0]} P_SMTP=${PORTS[1]}
printf 'listen 127.0.0.1 %s plain pop3\nlisten 127.0.0.1 %s plain smtp\n' "$P_POP3" "$P_SMTP" >"$W/serve.conf"
mkdir -p "$W/md/new" "$W/md/cur" "$W/md/tmp"
gen_message "$W/md/new/1000000000.M1P1.greedy.test" $((1024 * 1024)) 7 dots
# ASan keeps freed blocks in a quarantine that counts in RSS; a small one keeps VmRSS about live data
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4 serve_start "$W/serve.conf"
cat >"$W/greedy.py" <<'PY'
import hashlib, socket, sys, threading, time
from hostile_peer import Checks, readline, rss_kib as rss_of
p_pop3, p_smtp, pid, msg_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
N, BOUND_KIB = 200, 16 * 1024
check = Checks()
def rss_kib():
    return rss_of(pid)
def login():
    s = socket.create_connection(("127.0.0.1", p_pop3), timeout=20)
    readline(s)
    for cmd in (b"USER alice\r\n", b"PASS secret\r\n"):
        s.sendall(cmd)
        r = readline(s)
        if not r.startswith(b"+OK"):
            raise SystemExit("login: %r" % r)
    return s

msg = open(msg_path, "rb").read()
stuffed = b"".join((b"." + l if l.startswith(b".") else l) for l in msg.splitlines(keepends=True))
one = b"+OK %d octets\r\n" % len(msg) + stuffed + b".\r\n"

# warm-up: one RETR read in full (the server's first message read, allocator arenas)
w = login()
w.sendall(b"RETR 1\r\n")
got = b""
while len(got) < len(one):
    got += w.recv(1 << 20)
check(got == one, "a plain RETR 1 is byte-exact (%d bytes)" % len(one))
w.sendall(b"QUIT\r\n"); readline(w); w.close()
time.sleep(0.3)
base = rss_kib()

g = login()
g.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the client's kernel buffer: small, as a slow reader's
g.sendall(b"RETR 1\r\n" * N)
peak = base
served = {}
def other():
    s = socket.create_connection(("127.0.0.1", p_smtp), timeout=20)
    r = [readline(s)]
    for cmd in (b"HELO other.test\r\n", b"NOOP\r\n", b"QUIT\r\n"):
        s.sendall(cmd)
        r.append(readline(s))
    served["replies"] = r
t = threading.Thread(target=other)
t.start()
for _ in range(20):  # 4 s of the greedy client reading nothing
    peak = max(peak, rss_kib())
    time.sleep(0.2)
t.join()
r = served.get("replies", [])
check(len(r) == 4 and r[0].startswith(b"220") and r[2].startswith(b"250") and r[3].startswith(b"221"),
      "an SMTP client was served while the greedy one read nothing: %r" % r)
check(peak - base < BOUND_KIB, "server RSS grew by %d KiB with %d pipelined 1 MiB RETRs unread (bound %d KiB; "
      "before %d KiB)" % (peak - base, N, BOUND_KIB, base))

# now the greedy client reads: its first replies, byte-exact and in order
READ = 5
want = hashlib.sha256(one * READ).hexdigest()
h, total = hashlib.sha256(), 0
g.settimeout(30)
try:
    while total < len(one) * READ:
        d = g.recv(min(1 << 20, len(one) * READ - total))
        if not d:
            break
        h.update(d)
        total += len(d)
except socket.timeout:
    pass
check(total == len(one) * READ and h.hexdigest() == want,
      "the greedy client got its first %d replies byte-exact once it read (%d of %d bytes)" % (READ, total, len(one) * READ))
g.close()
sys.exit(check.exit_status())
PY
PYTHONPATH=$MXFUZZ_ROOT/serve/tests timeout 120 python3 "$W/greedy.py" "$P_POP3" "$P_SMTP" "$SERVE_PID" "$W/md/new/1000000000.M1P1.greedy.test" ||
    fail "a greedy pipelining client was not bounded (see above)"
serve_stop
echo "ok: pipelined RETRs wait for the client to read; memory stays bounded; others are served"
