# testlib.sh - shell helpers for mx-serve's tests (serve/tests/*.sh), bench (serve/bench/) and
# capture script. Source it; it needs MXFUZZ_BUILD (the test build, e.g. build/test).
#
#   serve_init                      a work dir ($W), a throwaway self-signed cert ($W/certs/test.pem),
#                                   a trap that stops every server started here (also on
#                                   SIGTERM, SIGINT, SIGHUP)
#   serve_ports N                   N free loopback ports into the array PORTS
#   serve_conf_starttls3            3 free ports as P_SMTP P_IMAP P_POP, and $W/serve.conf with one
#                                   STARTTLS listener each for SMTP, IMAP and POP3, all served
#                                   by the test certificate
#   serve_start CONF [ARGS...]      starts mx-serve on config file CONF (-m $W/md, --log $W/log,
#                                   user alice:secret); waits until it listens; pid in SERVE_PID
#   serve_start_ports N WRITER [ARGS...]  serve_ports N, WRITER (a function) writes $W/serve.conf
#                                   from PORTS, serve_start; again with new ports (5 tries) when
#                                   a port was taken between the probe and the bind (tests run
#                                   in parallel: "Address already in use")
#   serve_stop                      SIGTERM, wait (10 s max), check exit status 0
#   gen_message FILE SIZE [SEED] [dots]   SIZE bytes of CRLF text ending in CRLF; "dots": some
#                                   lines start with "." (for clients that dot-stuff)
#   assert_stored FILE              a message in $W/md/new or cur/ with FILE's sha256 must exist
#   fail MSG                        prints and exits 1
#   session_listener SESSION PORT   the configuration lines of a listener on 127.0.0.1:PORT as
#                                   session file SESSION's header says: protocol, mode, the
#                                   tls-required, literal-minus and tls-unavailable options, a `cert test` binding
#                                   when a certificate is bound
set -u
: "${MXFUZZ_BUILD:?MXFUZZ_BUILD must point at the test build}"
SERVE_BIN=$MXFUZZ_BUILD/tools/mx-serve
CLIENT_BIN=$MXFUZZ_BUILD/tools/serve-client
SERVE_FREE_PORTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tools/free_ports.py
SERVE_PIDS=()

fail() {
    echo "FAIL: $*" >&2
    if [[ -n ${W:-} && -f $W/log ]]; then
        echo "--- last lines of the mx-serve log:" >&2
        tail -n 25 "$W/log" >&2
    fi
    exit 1
}

serve_cleanup() {
    local p
    trap '' TERM INT HUP   # a second signal must not cut the cleanup short
    for p in "${SERVE_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${SERVE_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    [[ -n ${W:-} && -d $W && -z ${SERVE_KEEP:-} ]] && rm -rf "$W"
}

serve_init() {
    [[ -x $SERVE_BIN ]] || fail "no $SERVE_BIN (build first)"
    W=$(mktemp -d "${TMPDIR:-/tmp}/mx-serve-test.XXXXXX")
    trap serve_cleanup EXIT
    # a signal ends the script through its EXIT trap, once the foreground child has ended (bash
    # runs a trap only then): the servers stopped, $W removed (tools/test_group.sh)
    trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
    mkdir -p "$W/certs"
    # a throwaway self-signed RSA certificate (RSA: the RSA key-exchange suites need it)
    openssl req -x509 -newkey rsa:2048 -sha256 -days 2 -nodes -subj "/CN=mx-serve.test/O=mx-serve throwaway test" \
        -addext subjectAltName=DNS:mx-serve.test -keyout "$W/certs/key.pem" -out "$W/certs/cert.pem" 2>/dev/null ||
        fail "openssl req failed"
    cat "$W/certs/key.pem" "$W/certs/cert.pem" >"$W/certs/test.pem"
    CERT=$W/certs/cert.pem
}

serve_ports() {
    mapfile -t PORTS < <(python3 "$SERVE_FREE_PORTS" "$1")
}

# Starts mx-serve on a configuration with the test's certificates, Maildir, log and user, its
# stderr appended to $2; returns 0 once it wrote its ready file, 1 if it exited first, and
# fails the test if it is still starting after 10 s.
serve_launch() {
    local conf=$1 errf=$2
    shift 2
    rm -f "$W/ready"
    "$SERVE_BIN" -c "$conf" --cert-dir "$W/certs" -m "$W/md" --log "$W/log" -u alice:secret \
        --ready "$W/ready" "$@" 2>>"$errf" &
    SERVE_PID=$!
    SERVE_PIDS+=("$SERVE_PID")
    for _ in $(seq 100); do
        [[ -f $W/ready ]] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    fail "mx-serve did not get ready in 10 s"
}

serve_conf_starttls3() {
    serve_ports 3
    P_SMTP=${PORTS[0]} P_IMAP=${PORTS[1]} P_POP=${PORTS[2]}
    printf 'listen 127.0.0.1 %s starttls smtp\nlisten 127.0.0.1 %s starttls imap\nlisten 127.0.0.1 %s starttls pop3\ncert test * *\n' \
        "$P_SMTP" "$P_IMAP" "$P_POP" >"$W/serve.conf"
}

serve_start() {
    local conf=$1
    shift
    serve_launch "$conf" "$W/stderr" "$@" || { cat "$W/stderr" >&2; fail "mx-serve exited at start"; }
}

# serve_start for a configuration that names ports: $2 writes $W/serve.conf from PORTS; a port
# another process took between the probe and the bind gets new ports (5 tries).
serve_start_ports() {
    local n=$1 writer=$2 try
    shift 2
    for try in 1 2 3 4 5; do
        serve_ports "$n"
        "$writer"
        : >"$W/stderr.try"
        if serve_launch "$W/serve.conf" "$W/stderr.try" "$@"; then
            cat "$W/stderr.try" >>"$W/stderr"
            return 0
        fi
        cat "$W/stderr.try" >>"$W/stderr"
        grep -q "Address already in use" "$W/stderr.try" || { cat "$W/stderr.try" >&2; fail "mx-serve exited at start"; }
        echo "(try $try: a probed port was taken before mx-serve bound it; new ports)"
    done
    fail "mx-serve could not bind $n free ports in 5 tries"
}

session_listener() {
    local txt proto mode opt=""
    txt=$("$MXFUZZ_BUILD/tools/mxsession" decode "$1")
    proto=$(sed -n 's/^proto //p' <<<"$txt")
    mode=$(sed -n 's/^mode //p' <<<"$txt")
    [[ $mode == plaintext ]] && mode=plain
    # the header's policy bits are the listener's own options (issue 12 rules 6 and 5)
    grep -qx 'tls-required yes' <<<"$txt" && opt=" tls-required"
    grep -qx 'literal minus' <<<"$txt" && opt="$opt literal-minus"
    # a certificate bound but unusable (version 3 flags bit 3): the listener refuses STARTTLS
    grep -qx 'tls-unavailable yes' <<<"$txt" && opt="$opt tls-unavailable"
    echo "listen 127.0.0.1 $2 $mode $proto$opt"
    grep -qx 'cert yes' <<<"$txt" && echo "cert test 127.0.0.1 $2"
    return 0
}

serve_stop() {
    local rc=0
    kill -TERM "$SERVE_PID" 2>/dev/null || fail "mx-serve ($SERVE_PID) is not running"
    for _ in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SERVE_PID" 2>/dev/null && fail "mx-serve did not stop within 10 s of SIGTERM"
    wait "$SERVE_PID" || rc=$?
    [[ $rc -eq 0 ]] || fail "mx-serve exited with status $rc after SIGTERM"
    grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W/stderr" && fail "sanitizer report: $(cat "$W/stderr")"
    return 0
}

# Replays corpus/starttls/NAME through mx-serve on PORT with session-send --compare (the recorded
# server bytes must come back exactly); its output stays in $W/NAME.out
replay_session() {
    local name=$1 port=$2
    timeout 60 python3 "$MXFUZZ_ROOT/tools/session-send.py" --compare --port "$port" \
        "$MXFUZZ_ROOT/corpus/starttls/$name" >"$W/$name.out" 2>&1 ||
        { cat "$W/$name.out"; fail "session $name does not replay"; }
}

gen_message() {
    python3 - "$@" <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else size
dots = len(sys.argv) > 4 and sys.argv[4] == "dots"
rnd = random.Random(seed)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
out = bytearray(b"From: client@serve-client.test\r\nTo: alice@mx-serve.test\r\nSubject: mx-serve test %d\r\n\r\n" % size)
n = 0
while len(out) < size:
    n += 1
    line = ("." if dots and n % 7 == 0 else "") + " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 12)))
    out += line.encode() + b"\r\n"
out = out[:size]
# end in CRLF exactly at SIZE bytes (no line of just "." anywhere)
if size >= 2:
    out[size - 2:size] = b"\r\n"
    if size >= 3 and out[size - 3:size - 2] == b"\r":
        out[size - 3:size - 2] = b"x"
open(path, "wb").write(bytes(out))
PY
}

assert_stored() {
    local want f
    want=$(sha256sum "$1" | cut -d' ' -f1)
    for f in "$W"/md/new/* "$W"/md/cur/*; do
        [[ -f $f ]] || continue
        [[ $(sha256sum "$f" | cut -d' ' -f1) == "$want" ]] && return 0
    done
    fail "no stored message equals $(basename "$1") ($(stat -c %s "$1") bytes, sha256 $want); stored: $(ls "$W/md/new" 2>/dev/null | tr '\n' ' ')"
}

# the number of messages in INBOX (new/ and cur/)
stored_count() { find "$W/md/new" "$W/md/cur" -type f | wc -l; }
