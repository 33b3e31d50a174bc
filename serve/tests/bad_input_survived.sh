#!/usr/bin/env bash
# mx-serve against bad input: every failure is a log line and a closed connection, never a
# crash or a sanitizer report, and the server keeps serving.
#  - a TLS ClientHello on the IMAP and POP3 STARTTLS ports (KB Q218430 diagnostic);
#  - a forged application-data record right after the handshake (serve-client --bad-record) on
#    every protocol and at TLS 1.2 CBC, TLS 1.2 GCM and TLS 1.3: libmx's decrypter rejects it,
#    mx-serve sends a fatal alert and closes;
#  - garbage instead of a ClientHello after STARTTLS and on an implicit-TLS port;
#  - random bytes and a 300 KB line without LF on plaintext ports; a client that sends half a
#    message and disappears (nothing stored, tmp/ clean);
#  - -l configuration lines, a malformed line (FILE:LINE error), an IPv6 listener on ::1,
#    `listen *` bound to 127.0.0.1 only (no --bind-any).
# Afterwards a normal message must still go through, and SIGTERM must give exit status 0.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 6
P_SMTP=${PORTS[0]} P_IMAP=${PORTS[1]} P_POP=${PORTS[2]} P_SMTPS=${PORTS[3]} P_V6=${PORTS[4]} P_ANY=${PORTS[5]}
printf 'listen 127.0.0.1 %s starttls smtp\nlisten 127.0.0.1 %s starttls imap\ncert test * *\n' "$P_SMTP" "$P_IMAP" >"$W/serve.conf"
# the other listeners come from -l lines (libmx's parser, after the file)
serve_start "$W/serve.conf" -l "listen 127.0.0.1 $P_POP starttls pop3" -l "listen 127.0.0.1 $P_SMTPS implicit smtp" \
    -l "listen ::1 $P_V6 starttls smtp" -l "listen * $P_ANY starttls smtp"
gen_message "$W/m" 5000 3
C=("$CLIENT_BIN" --quiet)

# --- forged records after the handshake
n=0
for pp in smtp:$P_SMTP imap:$P_IMAP pop3:$P_POP; do
    proto=${pp%%:*} port=${pp#*:}
    for tls in "--tls 1.2 --cipher AES128-SHA" "--tls 1.2 --cipher ECDHE-RSA-AES128-GCM-SHA256" "--tls 1.3"; do
        # shellcheck disable=SC2086
        timeout 20 "${C[@]}" --proto "$proto" --port "$port" $tls --bad-record >"$W/bad.out" 2>&1 ||
            fail "forged record ($proto $tls): $(cat "$W/bad.out")"
        n=$((n + 1))
    done
done
timeout 20 "${C[@]}" --proto smtp --port "$P_SMTPS" --implicit --bad-record >"$W/bad.out" 2>&1 || fail "forged record (smtps)"
n=$((n + 1))
got=$(grep -c "TLS: bad record from the client: sending fatal alert 20" "$W/log" || true)
[[ $got -eq $n ]] || fail "$got bad_record_mac alerts logged, want $n"
echo "ok: $n forged records rejected by libmx's decrypter with a bad_record_mac alert"

# --- garbage where a ClientHello should be; random bytes; an endless line; half a message
timeout 30 python3 - "$P_SMTP" "$P_IMAP" "$P_POP" "$P_SMTPS" <<'PY' || fail "garbage clients"
import os, random, socket, sys, time
p_smtp, p_imap, p_pop, p_smtps = map(int, sys.argv[1:5])
rnd = random.Random(1)
def conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s
def drain(s):
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out
# STARTTLS, then garbage instead of a ClientHello
s = conn(p_smtp); s.recv(1000); s.sendall(b"EHLO g\r\nSTARTTLS\r\n"); time.sleep(0.2)
s.sendall(bytes(rnd.getrandbits(8) for _ in range(3000))); s.shutdown(socket.SHUT_WR); drain(s)
# a TLS-looking header with garbage on the implicit port
s = conn(p_smtps); s.sendall(b"\x16\x03\x01\x02\x00" + bytes(rnd.getrandbits(8) for _ in range(512))); s.shutdown(socket.SHUT_WR); drain(s)
# random bytes on every plaintext port
for port in (p_smtp, p_imap, p_pop):
    for _ in range(3):
        s = conn(port)
        try:
            s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 20000))))
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # issue 12 rule 4: closed after MX_MAX_ERRORS consecutive errors
        drain(s)
# a 300 KB line without LF, then a command: the server answers the command
for port, cmd, want in ((p_smtp, b"NOOP\r\nQUIT\r\n", b"221"), (p_pop, b"QUIT\r\n", b"+OK"), (p_imap, b"z LOGOUT\r\n", b"z OK")):
    s = conn(port)
    s.sendall(b"A" * 300000 + b"\r\n" + cmd)
    s.shutdown(socket.SHUT_WR)
    out = drain(s)
    assert want in out, (port, out[-300:])
# half a message, then the client vanishes
s = conn(p_smtp); s.recv(1000)
for c in (b"EHLO h\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<alice@mx-serve.test>\r\n", b"DATA\r\n"):
    s.sendall(c)
    s.recv(4000)
s.sendall(b"Subject: half\r\n\r\nnever finished\r\n"); time.sleep(0.2); s.close()
PY
sleep 0.5
grep -q "TLS handshake failed" "$W/log" || fail "no handshake failure logged"
grep -q "the client went away in the middle of a message: not stored" "$W/log" || fail "half message not logged"
[[ $(stored_count) -eq 0 ]] || fail "something was stored from garbage"
[[ -z $(ls -A "$W/md/tmp") ]] || fail "tmp/ not clean: $(ls "$W/md/tmp")"
echo "ok: garbage ClientHellos, random bytes, a 300 KB line, half a message: logged, nothing stored, tmp/ clean"

# --- KB Q218430 on IMAP and POP3: an implicit-TLS client on a STARTTLS port
before=$(grep -c "diagnostic: TLS ClientHello on a plaintext/STARTTLS listener" "$W/log" || true)
for port in "$P_IMAP" "$P_POP"; do
    timeout 20 openssl s_client -connect "127.0.0.1:$port" </dev/null >/dev/null 2>&1 || true
done
after=$(grep -c "diagnostic: TLS ClientHello on a plaintext/STARTTLS listener" "$W/log" || true)
[[ $((after - before)) -eq 2 ]] || fail "IMAP/POP3 ClientHello diagnostics: $((after - before)), want 2"
echo "ok: ClientHello on the IMAP and POP3 STARTTLS ports diagnosed by libmx's machines"

# --- still serving: a message over IPv6 (::1) and one over IPv4
timeout 20 python3 - "$P_V6" "$CERT" "$W/m" <<'PY' || fail "smtplib over ::1"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
with smtplib.SMTP("::1", int(sys.argv[1])) as s:
    s.starttls(context=ctx)
    s.sendmail("a@v6.test", ["alice@mx-serve.test"], open(sys.argv[3], "rb").read())
PY
timeout 20 "${C[@]}" --proto imap --port "$P_IMAP" --message "$W/m" >/dev/null || fail "APPEND after the garbage"
[[ $(stored_count) -eq 2 ]] || fail "want 2 stored messages"
assert_stored "$W/m"
echo "ok: still serving afterwards (IPv6 ::1 SMTP, IPv4 IMAP)"

# --- `listen *` stays on loopback without --bind-any
grep -q "listening on \* (bound to 127.0.0.1 only" "$W/log" || fail "no loopback-only log line for listen *"
timeout 20 python3 - "$P_ANY" <<'PY' || fail "listen * without --bind-any"
import socket, subprocess, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
assert s.recv(100).startswith(b"220")
s.close()
others = [a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
          if "." in a and not a.startswith("127.")]
for a in others:
    try:
        socket.create_connection((a, port), timeout=3).close()
        raise SystemExit("listen * is reachable on %s without --bind-any" % a)
    except (ConnectionRefusedError, socket.timeout, OSError) as e:
        if isinstance(e, SystemExit):
            raise
print("checked non-loopback addresses: %s" % (" ".join(others) or "none on this machine"))
PY
echo "ok: listen * binds 127.0.0.1 only without --bind-any"
serve_stop

# --- configuration errors: FILE:LINE, exit 2
printf 'listen 127.0.0.1 %s starttls smtp\nlisten 127.0.0.1 %s bogus smtp\n' "$P_SMTP" "$P_IMAP" >"$W/bad.conf"
rc=0
"$SERVE_BIN" -c "$W/bad.conf" -m "$W/md3" 2>"$W/bad.err" || rc=$?
[[ $rc -eq 2 ]] && grep -q "bad.conf:2:" "$W/bad.err" || fail "malformed config: exit $rc: $(cat "$W/bad.err")"
rc=0
"$SERVE_BIN" -m "$W/md3" -l "listen 127.0.0.1 $P_SMTP starttls smtp" -l "cert" 2>"$W/bad.err" || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "-l #2:" "$W/bad.err" || fail "malformed -l line: exit $rc: $(cat "$W/bad.err")"
rc=0
"$SERVE_BIN" -c "$W/serve.conf" -m "$W/md3" --idle-timeout 0 2>"$W/bad.err" || rc=$?
[[ $rc -eq 2 ]] || fail "--idle-timeout 0 accepted"
echo "ok: configuration errors: $(head -c 120 "$W/bad.err" | tr '\n' ' ')"
echo "PASS serve_badinput"
