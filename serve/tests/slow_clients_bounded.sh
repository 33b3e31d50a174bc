#!/usr/bin/env bash
# Issue 19 item 6: a client that trickles one byte a second no longer keeps its slot (the idle
# timer restarts on every byte; the phase deadlines of serve/mx-serve/limits.c do not).
#  1. 20 slow-loris clients ("EHLO ..." at 1 byte/s, never a LF) hold every slot of --max-conns 20;
#     a real client waiting in the listen queue must still get its greeting: the loris are closed
#     by --line-timeout / --greeting-timeout, each with a 421 first.
#  2. meanwhile-independent phases, concurrently: a ClientHello at 1 byte/s on an implicit-TLS port
#     is closed (no reply: it is mid-handshake) by --handshake-timeout; a silent client gets 421
#     after --greeting-timeout; SMTP DATA at 3 bytes/s is closed by --min-rate with a 421, and an
#     IMAP APPEND literal at 1 byte/s with a * BYE (one rate rule for both protocols).
# --idle-timeout is 120 s so that no close here can be the idle timer's; every wait is bounded.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 3
P_SMTP=${PORTS[0]} P_IMAPS=${PORTS[1]} P_IMAP=${PORTS[2]}
printf 'listen 127.0.0.1 %s starttls smtp\nlisten 127.0.0.1 %s implicit imap\nlisten 127.0.0.1 %s plain imap\ncert test * *\n' \
    "$P_SMTP" "$P_IMAPS" "$P_IMAP" >"$W/serve.conf"
serve_start "$W/serve.conf" --max-conns 20 --max-per-addr 100 --idle-timeout 120 --greeting-timeout 4 \
    --line-timeout 3 --handshake-timeout 3 --min-rate 200 --rate-window 3

cat >"$W/slow.py" <<'PY'
import socket, ssl, sys, threading, time
from hostile_peer import Checks, readline, said_until_close, trickle
p_smtp, p_imaps, p_imap, log = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
check = Checks()

# 1. twenty slow-loris clients take every slot
loris = []
def one_loris(k):
    s = socket.create_connection(("127.0.0.1", p_smtp), timeout=10)
    readline(s)  # the greeting
    loris.append(trickle(s, b"EHLO slow-loris-%d.test" % k, 40))
threads = [threading.Thread(target=one_loris, args=(k,)) for k in range(20)]
for t in threads:
    t.start()
deadline = time.monotonic() + 20
while open(log).read().count(" accepted;") < 20 and time.monotonic() < deadline:
    time.sleep(0.1)
check(open(log).read().count(" accepted;") >= 20, "20 slow clients were accepted")
real = socket.create_connection(("127.0.0.1", p_smtp), timeout=25)  # queued: every slot is taken
try:
    greeting = readline(real)
except socket.timeout:
    greeting = b"(none within 25 s)"
check(greeting.startswith(b"220 "), "a real client behind 20 slow ones got its greeting: %r" % greeting)
real.sendall(b"QUIT\r\n")
real.close()
for t in threads:
    t.join()
check(len(loris) == 20 and all(dt is not None for _, dt in loris), "every slow-loris client was closed")
check(all(said.startswith(b"421 ") for said, _ in loris),
      "every slow-loris client got a 421 before the close: %r" % sorted(set(s[:60] for s, _ in loris)))

# 2. the other phases, concurrently
results = {}
def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="mx-serve.test")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = socket.create_connection(("127.0.0.1", p_imaps), timeout=10)
    results["hello"] = (len(hello),) + trickle(s, hello, min(len(hello), 40))
def silent():
    s = socket.create_connection(("127.0.0.1", p_smtp), timeout=40)
    results["silent"] = said_until_close(s) or b""  # None: still open after 40 s
def slow_data():
    s = socket.create_connection(("127.0.0.1", p_smtp), timeout=10)
    readline(s)
    for cmd in (b"EHLO slow.test\r\n", b"MAIL FROM:<a@slow.test>\r\n", b"RCPT TO:<alice@mx-serve.test>\r\n", b"DATA\r\n"):
        s.sendall(cmd)
        while not readline(s)[3:4] == b" ":
            pass
    results["data"] = trickle(s, b"x\r\n", 40)  # 3 bytes/s: every line complete, the message too slow
def slow_literal():
    s = socket.create_connection(("127.0.0.1", p_imap), timeout=10)
    readline(s)
    s.sendall(b"a LOGIN alice secret\r\n")
    readline(s)
    s.sendall(b"b APPEND INBOX {1000}\r\n")
    cont = readline(s)
    results["literal"] = (cont,) + trickle(s, b"y", 40)
threads = [threading.Thread(target=f) for f in (client_hello, silent, slow_data, slow_literal)]
for t in threads:
    t.start()
for t in threads:
    t.join()
n, said, dt = results["hello"]
check(dt is not None and said == b"", "a %d-byte ClientHello at 1 byte/s on the implicit port was closed "
      "without a reply (closed after %s s)" % (n, dt and round(dt, 1)))
said = results["silent"]
check(said.startswith(b"220 ") and b"\r\n421 " in said, "a silent client got the greeting, then 421: %r" % said)
said, dt = results["data"]
check(dt is not None and said.startswith(b"421 "), "DATA at 3 bytes/s was closed with a 421: %r (after %s s)"
      % (said, dt and round(dt, 1)))
cont, said, dt = results["literal"]
check(cont.startswith(b"+ ") and dt is not None and said.startswith(b"* BYE "),
      "an APPEND literal at 1 byte/s was closed with * BYE: %r (after %s s)" % (said, dt and round(dt, 1)))
sys.exit(check.exit_status())
PY
PYTHONPATH=$MXFUZZ_ROOT/serve/tests timeout 120 python3 "$W/slow.py" "$P_SMTP" "$P_IMAPS" "$P_IMAP" "$W/log" || fail "slow clients kept their slots (see above)"
# the log names each reason
for why in "command line not complete" "TLS handshake not done" "no complete command line" "below --min-rate"; do
    grep -q "$why" "$W/log" || fail "the log does not say '$why'"
done
serve_stop
echo "ok: slow clients are closed by their phase's deadline, a real client is served"
