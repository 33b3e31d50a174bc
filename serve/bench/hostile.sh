#!/usr/bin/env bash
# serve/bench/hostile.sh - what slow and greedy clients cost mx-serve, on loopback (a bench:
# figures, never a pass/fail test of speed; the bounds themselves are asserted by
# serve/tests/slow_clients_bounded.sh, per_address_limit.sh and greedy_client_bounded.sh).
#
# usage: serve/bench/hostile.sh [--slow N] [--greedy N] [--selects N] [--mserve PATH]
#
# Builds an optimized, unsanitized mx-serve in build/release (or measures the mx-serve given with
# --mserve, e.g. an older build: options it does not know are left out and it runs with its
# defaults), then:
#  1. slow: N slow-loris SMTP clients (default 64; "EHLO ..." at 1 byte/s, no LF):
#     a. with free slots (--max-conns 2N): the time a real client waits for its greeting, and the
#        server's RSS per slow connection;
#     b. with every slot taken (--max-conns N): the time a real client waits for its greeting
#        (it queues until a deadline frees a slot: --line-timeout 5, --greeting-timeout 10;
#        capped at 30 s).
#  2. greedy: N POP3 clients (default 4) each pipelining 200 RETR of a 1 MiB message and reading
#     nothing for 5 s: the server's RSS growth, and the time an SMTP client waits for its
#     greeting + NOOP meanwhile.
#  3. pipelined SELECT: one IMAP client pipelines N SELECT INBOX (default 16384; the Maildir
#     holds 300 2 KiB messages, so each SELECT lists and stats 300 files) and reads the replies; meanwhile a
#     second client sends NOOP after NOOP: its round-trip times (p50, max) and how long the
#     batch took.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
slow=64 greedy=4 selects=16384 mserve=""
while [[ $# -gt 0 ]]; do
    case $1 in
    --slow) slow=$2; shift 2 ;;
    --greedy) greedy=$2; shift 2 ;;
    --selects) selects=$2; shift 2 ;;
    --mserve) mserve=$2; shift 2 ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve/bench/hostile.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for v in "$slow" "$greedy" "$selects"; do
    [[ $v =~ ^[1-9][0-9]{0,5}$ ]] || { echo "serve/bench/hostile.sh: counts are 1..999999, not '$v'" >&2; exit 2; }
done

B=$ROOT/build/release
if [[ -z $mserve ]]; then
    echo "== building mx-serve (build.conf profile release: -O2, no sanitizers) in ${B#"$ROOT"/}"
    MXFUZZ_BUILD_DIR=$ROOT/build "$ROOT/build.sh" build release mx-serve serve-client
    mserve=$B/tools/mx-serve
fi
[[ -x $mserve ]] || { echo "serve/bench/hostile.sh: no mx-serve at $mserve" >&2; exit 2; }
# testlib.sh wants a build directory holding tools/mx-serve: a private one with a link to $mserve
TB=$(mktemp -d "${TMPDIR:-/tmp}/mx-serve-hostile.XXXXXX")
mkdir -p "$TB/tools"
ln -s "$(cd "$(dirname "$mserve")" && pwd)/$(basename "$mserve")" "$TB/tools/mx-serve"
export MXFUZZ_BUILD=$TB
# shellcheck source=serve/tests/testlib.sh
source "$ROOT/serve/tests/testlib.sh"
serve_init
trap 'serve_cleanup; rm -rf "$TB"' EXIT
serve_ports 3
P_SMTP=${PORTS[0]} P_POP3=${PORTS[1]} P_IMAP=${PORTS[2]}
printf 'listen 127.0.0.1 %s plain smtp\nlisten 127.0.0.1 %s plain pop3\nlisten 127.0.0.1 %s plain imap\n' \
    "$P_SMTP" "$P_POP3" "$P_IMAP" >"$W/serve.conf"
# the limit options this mx-serve knows (an older one runs with its defaults)
lim=()
for o in "--line-timeout 5" "--greeting-timeout 10" "--max-per-addr 100000"; do
    if "$mserve" --help | grep -q -- "${o%% *} "; then
        read -ra a <<<"$o"
        lim+=("${a[@]}")
    fi
done
echo "mx-serve: $mserve; limit options: ${lim[*]:-(none known: its defaults)}"

cat >"$W/hostile.py" <<'PY'
import socket, statistics, sys, threading, time
from hostile_peer import readline, rss_kib as rss_of
phase, port, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]

def rss_kib():
    return rss_of(pid)

def greeting_wait(p, cap):
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", p), timeout=cap)
        line = readline(s)
        s.close()
        return time.monotonic() - t0 if line.startswith((b"220", b"+OK", b"* OK")) else None
    except (OSError, EOFError):
        return None

def fmt(t):
    return "none within the cap" if t is None else "%.3f s" % t

stop = threading.Event()
def loris(k, ready):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        readline(s)
    except (OSError, EOFError):
        ready.append(False)
        return
    ready.append(True)
    data = b"EHLO slow-loris-%d.test" % k
    i = 0
    while not stop.is_set():
        try:
            s.send(data[i % len(data):i % len(data) + 1])
        except OSError:
            return
        i += 1
        stop.wait(1.0)
    s.close()

if phase in ("slow", "full"):
    n, cap = int(args[0]), float(args[1])
    rss0 = rss_kib()
    ready = []
    for k in range(n):
        threading.Thread(target=loris, args=(k, ready), daemon=True).start()
    while len(ready) < n:
        time.sleep(0.05)
    time.sleep(0.5)
    rss1 = rss_kib()
    w = greeting_wait(port, cap)
    stop.set()
    if phase == "slow":
        print("%d slow clients attached (%d greeted): a real client waited %s for its greeting; server RSS "
              "+%d KiB = %.1f KiB per slow connection" % (n, sum(ready), fmt(w), rss1 - rss0, (rss1 - rss0) / n))
    else:
        print("%d slow clients hold all %d slots: a real client waited %s for its greeting (cap %d s)"
              % (n, n, fmt(w), cap))
elif phase == "greedy":
    n, p_smtp = int(args[0]), int(args[1])
    def login():
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        readline(s)
        for cmd in (b"USER alice\r\n", b"PASS secret\r\n"):
            s.sendall(cmd)
            readline(s)
        return s
    w = login(); w.sendall(b"RETR 1\r\n"); w.recv(65536); w.close()  # warm-up
    time.sleep(0.3)
    rss0 = rss_kib()
    peak = [rss0]
    def sampler():  # apart from the SMTP client below, which may wait for seconds
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib())
            stop.wait(0.05)
    threading.Thread(target=sampler, daemon=True).start()
    gs = [login() for _ in range(n)]
    for g in gs:
        g.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        g.sendall(b"RETR 1\r\n" * 200)
    waits = []
    t_end = time.monotonic() + 5
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", p_smtp), timeout=10)
            readline(s); s.sendall(b"NOOP\r\n"); readline(s); s.close()
            waits.append(time.monotonic() - t0)
        except (OSError, EOFError):
            waits.append(None)
        time.sleep(0.2)
    stop.set()
    ok = [x for x in waits if x is not None]
    print("%d greedy clients x 200 pipelined 1 MiB RETRs, unread for 5 s: server peak RSS +%d KiB (%.0f KiB per "
          "greedy client); an SMTP greeting+NOOP meanwhile: p50 %s, max %s (%d of %d served)"
          % (n, peak[0] - rss0, (peak[0] - rss0) / n, fmt(statistics.median(ok) if ok else None),
             fmt(max(ok) if ok else None), len(ok), len(waits)))
elif phase == "select":
    n, p_smtp = int(args[0]), int(args[1])
    g = socket.create_connection(("127.0.0.1", port), timeout=60)
    readline(g); g.sendall(b"a LOGIN alice secret\r\n"); readline(g)
    done = threading.Event()
    def reader():
        want, buf = b"s%d OK" % (n - 1), b""
        while True:
            d = g.recv(1 << 16)
            if not d:
                break
            buf = buf[-64:] + d
            if want in buf:
                break
        done.set()
    o = socket.create_connection(("127.0.0.1", p_smtp), timeout=60)
    readline(o)
    t = threading.Thread(target=reader); t.start()
    t0 = time.monotonic()
    threading.Thread(target=lambda: g.sendall(b"".join(b"s%d SELECT INBOX\r\n" % i for i in range(n))), daemon=True).start()
    rtts = []
    while not done.is_set():
        a = time.monotonic(); o.sendall(b"NOOP\r\n"); readline(o); rtts.append(time.monotonic() - a)
    t.join()
    batch = time.monotonic() - t0
    print("%d pipelined SELECT (300 messages) took %.2f s; another client's NOOP meanwhile: %d round trips, "
          "p50 %.1f ms, max %.1f ms" % (n, batch, len(rtts), statistics.median(rtts) * 1000, max(rtts) * 1000))
PY

echo "== 1a. $slow slow-loris clients, slots free"
serve_start "$W/serve.conf" --max-conns $((2 * slow + 8)) "${lim[@]}"
PYTHONPATH=$ROOT/serve/tests python3 "$W/hostile.py" slow "$P_SMTP" "$SERVE_PID" "$slow" 10
serve_stop
echo "== 1b. $slow slow-loris clients, every slot taken"
serve_start "$W/serve.conf" --max-conns "$slow" "${lim[@]}"
PYTHONPATH=$ROOT/serve/tests python3 "$W/hostile.py" full "$P_SMTP" "$SERVE_PID" "$slow" 30
serve_stop
echo "== 2. $greedy greedy POP3 clients"
mkdir -p "$W/md/new" "$W/md/cur" "$W/md/tmp"
gen_message "$W/md/new/1000000000.M1P1.hostile.test" $((1024 * 1024)) 7
serve_start "$W/serve.conf" "${lim[@]}"
PYTHONPATH=$ROOT/serve/tests python3 "$W/hostile.py" greedy "$P_POP3" "$SERVE_PID" "$greedy" "$P_SMTP"
serve_stop
echo "greedy connections the server dropped for a full output queue: $(grep -c 'closed (output queue full)' "$W/log" || true) of $greedy"

echo "== 3. $selects pipelined SELECT"
rm -f "$W/md/new/"*
gen_message "$W/small" 2048 8
for i in $(seq 300); do cp "$W/small" "$W/md/new/$((1000000000 + i)).M1P$i.hostile.test"; done
serve_start "$W/serve.conf" "${lim[@]}"
PYTHONPATH=$ROOT/serve/tests python3 "$W/hostile.py" select "$P_IMAP" "$SERVE_PID" "$selects" "$P_SMTP"
serve_stop
