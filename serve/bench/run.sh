#!/usr/bin/env bash
# serve/bench/run.sh - mx-serve under load, on loopback (a bench: figures, never a pass/fail test
# of speed).
#
# usage: serve/bench/run.sh [--clients N] [--seconds S] [--size BYTES] [--proto smtp|imap]
#                           [--kill-at S] [--tls 1.2|1.3] [--cipher LIST] [--idle N]
#
# Builds an optimized, unsanitized mx-serve + serve-client in build/release, then:
#  1. throughput: N concurrent serve-client processes, each one STARTTLS connection sending
#     messages back to back (SMTP DATA or IMAP APPEND, BYTES each, a unique X-Bench-Id first
#     line) for S seconds. Reports messages/s, latency p50/p99 (first command of a message to
#     its acknowledgement), the server's peak RSS (VmHWM) and CPU time, and checks every
#     stored message: each acknowledged id present exactly once, body intact (zero lost or
#     corrupted).
#  2. memory: N idle connections (default 200) after STARTTLS and the handshake (IMAP: logged
#     in): the server's RSS growth per connection.
#  3. crash: the same load on a fresh Maildir, kill -9 of the server after --kill-at seconds
#     (default S/2), restart on the same Maildir: every message acknowledged before the kill
#     must be in new/, intact. Reports acknowledged / present / unacknowledged leftovers in tmp/.
# Defaults: 16 clients, 20 s, 4096 bytes, smtp, TLS 1.3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
clients=16 seconds=20 size=4096 proto=smtp kill_at="" tls=1.3 cipher="" idle=200
while [[ $# -gt 0 ]]; do
    case $1 in
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --proto) proto=$2; shift 2 ;;
    --kill-at) kill_at=$2; shift 2 ;;
    --tls) tls=$2; shift 2 ;;
    --cipher) cipher=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve/bench/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
kill_at=${kill_at:-$((seconds / 2))}
[[ $proto =~ ^(smtp|imap)$ ]] || { echo "--proto smtp|imap" >&2; exit 2; }

B=$ROOT/build/release
echo "== building mx-serve + serve-client (build.conf profile release: -O2, no sanitizers) in ${B#"$ROOT"/}"
MXFUZZ_BUILD_DIR=$ROOT/build "$ROOT/build.sh" build release mx-serve serve-client
export MXFUZZ_BUILD=$B
# shellcheck source=serve/tests/testlib.sh
source "$ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 1
PORT=${PORTS[0]}
printf 'listen 127.0.0.1 %s starttls %s\ncert test * *\n' "$PORT" "$proto" >"$W/serve.conf"
gen_message "$W/msg" "$size" 99
copt=(--tls "$tls")
[[ -n $cipher ]] && copt+=(--cipher "$cipher")

start_clients() { # DURATION TAG
    CPIDS=()
    for i in $(seq "$clients"); do
        "$CLIENT_BIN" --quiet --proto "$proto" --port "$PORT" "${copt[@]}" --message "$W/msg" \
            --id-prefix "$2$i" --count 100000000 --duration "$1" >"$W/$2$i.out" 2>"$W/$2$i.err" &
        CPIDS+=($!)
    done
}

verify() { # MAILDIR TAG -> prints "acked N present N missing N corrupt N dup N tmp N"
    python3 - "$1" "$W/msg" "$W" "$2" <<'PY'
import glob, os, sys
md, tmpl_path, w, tag = sys.argv[1:5]
tmpl = open(tmpl_path, "rb").read()
acked = set()
for f in glob.glob(os.path.join(w, tag + "*.out")):
    for line in open(f):
        if line.startswith("acked "):
            acked.add(line.split()[1])
stored, corrupt, dup = {}, 0, 0
for f in glob.glob(os.path.join(md, "new", "*")) + glob.glob(os.path.join(md, "cur", "*")):
    data = open(f, "rb").read()
    nl = data.find(b"\r\n")
    if not data.startswith(b"X-Bench-Id: ") or data[nl + 2:] != tmpl:
        corrupt += 1
        continue
    mid = data[12:nl].decode()
    if mid in stored:
        dup += 1
    stored[mid] = f
missing = sorted(acked - set(stored))
print("acked %d present %d missing %d corrupt %d dup %d tmp %d" % (
    len(acked), len(set(stored) & acked), len(missing), corrupt, dup, len(os.listdir(os.path.join(md, "tmp")))))
if missing:
    print("missing ids: " + " ".join(missing[:20]), file=sys.stderr)
PY
}

latency() { # TAG -> p50 p99 in ms
    cat "$W/$1"*.out | awk '$1 == "acked" {print $3}' | sort -n | awk '
        {v[NR] = $1} END { if (NR == 0) { print "n/a n/a"; exit }
        p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1];
        printf "%.2f %.2f\n", p50 / 1000, p99 / 1000 }'
}

echo "== 1. throughput: $clients clients x ${seconds}s, $proto STARTTLS, TLS $tls${cipher:+ $cipher}, $size-byte messages"
# every bench client comes from 127.0.0.1: the per-address limit is the connection limit
serve_start "$W/serve.conf" --max-conns $((clients + 16)) --max-per-addr $((clients + 16))
t0=$(date +%s.%N)
start_clients "$seconds" t
rss_max=0
while :; do
    alive=0
    for p in "${CPIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1 && break; done
    r=$(awk '/VmRSS/ {print $2}' "/proc/$SERVE_PID/status")
    ((r > rss_max)) && rss_max=$r
    [[ $alive -eq 0 ]] && break
    sleep 0.5
done
t1=$(date +%s.%N)
fails=0
for p in "${CPIDS[@]}"; do wait "$p" || fails=$((fails + 1)); done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
cpu=$(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$SERVE_PID/stat")
serve_stop
res=$(verify "$W/md" t)
read -r _ acked _ present _ missing _ corrupt _ dup _ tmpn <<<"$res"
read -r p50 p99 < <(latency t)
wall=$(python3 -c "print(round($t1 - $t0, 2))")
rate=$(python3 -c "print(round($acked / ($t1 - $t0), 1))")
echo "messages acknowledged: $acked in ${wall}s = $rate msg/s; latency p50 ${p50} ms, p99 ${p99} ms"
echo "server: peak RSS (VmHWM) $((hwm / 1024)) MiB (sampled VmRSS max $((rss_max / 1024)) MiB), CPU ${cpu}s; client failures: $fails"
echo "check: $res"
[[ $missing -eq 0 && $corrupt -eq 0 && $dup -eq 0 && $present -eq $acked ]] || { echo "LOST OR CORRUPTED MESSAGES"; exit 1; }

echo "== 2. memory per connection: $idle idle connections after STARTTLS + TLS handshake"
serve_start "$W/serve.conf" --max-conns $((idle + 16)) --max-per-addr $((idle + 16))
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$SERVE_PID/status")
timeout 120 python3 - "$PORT" "$proto" "$idle" "$W/idle.ready" <<'PY' &
import smtplib, imaplib, ssl, sys, time
port, proto, n, flag = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
conns = []
for _ in range(n):
    if proto == "smtp":
        c = smtplib.SMTP("127.0.0.1", port); c.ehlo("idle.test"); c.starttls(context=ctx); c.ehlo("idle.test")
    else:
        c = imaplib.IMAP4("127.0.0.1", port); c.starttls(ssl_context=ctx); c.login("alice", "secret")
    conns.append(c)
open(flag, "w").write("ready\n")
time.sleep(30)
PY
ipid=$!
for _ in $(seq 600); do [[ -f $W/idle.ready ]] && break; sleep 0.1; done
[[ -f $W/idle.ready ]] || { echo "idle clients did not connect"; exit 1; }
sleep 0.5
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$SERVE_PID/status")
kill "$ipid" 2>/dev/null || true
wait "$ipid" 2>/dev/null || true
serve_stop
echo "server RSS: $((rss0)) KiB before, $((rss1)) KiB with $idle connections: $(((rss1 - rss0) / idle)) KiB per TLS connection"

echo "== 3. crash: same load on a fresh Maildir, kill -9 after ${kill_at}s, restart"
serve_start "$W/serve.conf" --max-conns $((clients + 16)) --max-per-addr $((clients + 16)) -m "$W/md2"
start_clients "$seconds" k
sleep "$kill_at"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
for p in "${CPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
serve_start "$W/serve.conf" -m "$W/md2"
res=$(verify "$W/md2" k)
read -r _ acked _ present _ missing _ corrupt _ dup _ tmpn <<<"$res"
serve_stop
echo "check after kill -9 + restart: $res"
echo "(tmp/ holds the unacknowledged messages that were in flight at the kill; they were never acknowledged)"
[[ $missing -eq 0 && $corrupt -eq 0 && $dup -eq 0 && $present -eq $acked ]] || { echo "ACKNOWLEDGED MESSAGES LOST OR CORRUPTED"; exit 1; }
echo "== ok: zero acknowledged messages lost or corrupted in either run"
