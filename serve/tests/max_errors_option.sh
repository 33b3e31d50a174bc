#!/usr/bin/env bash
# mx-serve --max-errors N (libmx's mx_conn_cfg.max_errors; issue 12 rule 4's bound, default
# MX_MAX_ERRORS 20): with N = 3, the third consecutive error line on SMTP, IMAP before and
# after login (libmx's machine, then its command reader) and POP3 is answered, then the final
# line (421 / * BYE / -ERR) and the close; a good command between errors resets the run. Out-of-range values are refused at start-up (exit 2).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 3
printf 'listen 127.0.0.1 %s plain smtp\nlisten 127.0.0.1 %s plain imap\nlisten 127.0.0.1 %s plain pop3\n' \
    "${PORTS[0]}" "${PORTS[1]}" "${PORTS[2]}" >"$W/serve.conf"
serve_start "$W/serve.conf" --max-errors 3 -u alice:secret
python3 - "${PORTS[@]}" <<'PY' || fail "--max-errors 3"
import socket, sys
def run(port, lines):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    s.sendall(b"".join(l + b"\r\n" for l in lines))
    data = b""
    while True:
        d = s.recv(65536)   # a timeout (no close) raises
        if not d:
            return data.split(b"\r\n")[1:-1]   # without the greeting
        data += d
smtp, imap, pop3 = sys.argv[1:]
r = run(smtp, [b"FOO", b"NOOP", b"FOO", b"FOO", b"FOO", b"NOOP"])
assert [l[:3] for l in r] == [b"500", b"250", b"500", b"500", b"500", b"421"], r
r = run(imap, [b"a FOO", b"b FOO", b"c FOO", b"d NOOP"])
assert [l.split(b" ")[:2] for l in r] == [[b"a", b"BAD"], [b"b", b"BAD"], [b"c", b"BAD"], [b"*", b"BYE"]], r
# after login libmx's command reader bounds the run the same way: its own BAD responses (an
# empty line) and commands mx-serve answered BAD alike; a good command ends the run
r = run(imap, [b"a LOGIN alice secret", b"", b"b NOOP", b"", b"c FOO", b"", b"d NOOP"])
assert [l.split(b" ")[:2] for l in r] == [[b"a", b"OK"], [b"*", b"BAD"], [b"b", b"OK"], [b"*", b"BAD"],
                                          [b"c", b"BAD"], [b"*", b"BAD"], [b"*", b"BYE"]], r
r = run(pop3, [b"FOO", b"FOO", b"FOO", b"NOOP"])
assert [l[:4] for l in r] == [b"-ERR"] * 4, r
print("ok")
PY
grep -q "diagnostic: too many consecutive protocol errors" "$W/log" || fail "no error-limit diagnostic in the log"
echo "ok: --max-errors 3: the third error answered, then the final line and the close (SMTP, IMAP before and after login, POP3)"
serve_stop
for bad in 0 1001 x; do
    rc=0
    "$SERVE_BIN" -c "$W/serve.conf" -m "$W/md2" --max-errors "$bad" >"$W/bad.out" 2>&1 || rc=$?
    [[ $rc -eq 2 ]] || { cat "$W/bad.out"; fail "--max-errors $bad: exit $rc, want 2"; }
    grep -q -- "--max-errors" "$W/bad.out" || { cat "$W/bad.out"; fail "--max-errors $bad: the error does not name the option"; }
done
echo "ok: --max-errors 0, 1001, x refused (exit 2)"
