#!/usr/bin/env bash
# mx-serve's TLS matrix: the handshake is BoringSSL's, the read direction libmx's decrypter.
#  - openssl s_client -starttls smtp|imap|pop3 with forced versions and suites: AES128-SHA at
#    TLS 1.0 (CBC with chained IVs: mx-serve takes the IV from the client's Finished record)
#    and TLS 1.2, AES256-SHA at TLS 1.1, AES-GCM and ChaCha20 at TLS 1.2, two TLS 1.3 suites;
#    a 16385-byte message in (SMTP DATA, IMAP APPEND), RETR out (POP3), all compared by sha256.
#  - 3DES: Debian's OpenSSL 3 has no 3DES suites at all (not even at @SECLEVEL=0), so
#    DES-CBC3-SHA at TLS 1.0 and 1.2 is driven by serve-client (BoringSSL on the client side).
#  - serve-client: TLS 1.3 KeyUpdate (update requested) in the middle of a message; the
#    STARTTLS command-injection pipelining (the pipelined command must be discarded); tiny
#    records (100 bytes) for a multi-record APPEND.
#  - session resumption at TLS 1.0, 1.2 and 1.3;
#  - a client-initiated TLS 1.2 renegotiation is refused (fatal no_renegotiation alert).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_conf_starttls3
serve_start "$W/serve.conf"
gen_message "$W/m" 16385 11
gen_message "$W/big" 50000 12

# version/suite forcing, and the name the server must log for it
SUITES=(
    "-tls1 -cipher AES128-SHA:@SECLEVEL=0|TLSv1 AES128-SHA"
    "-tls1_1 -cipher AES256-SHA:@SECLEVEL=0|TLSv1.1 AES256-SHA"
    "-tls1_2 -cipher AES128-SHA|TLSv1.2 AES128-SHA"
    "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256|TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"
    "-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305|TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305"
    "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384|TLSv1.3 TLS_AES_256_GCM_SHA384"
    "-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256|TLSv1.3 TLS_CHACHA20_POLY1305_SHA256"
)

# drives `openssl s_client -starttls PROTO` through one session: SMTP sends the message, IMAP
# APPENDs it, POP3 RETRs message 1 into OUT
sclient() {
    timeout 30 python3 - "$@" <<'PY'
import os, select, subprocess, sys, time
proto, port, cert, msgfile, out = sys.argv[1:6]
extra = sys.argv[6:]
msg = open(msgfile, "rb").read() if msgfile != "-" else b""
p = subprocess.Popen(["openssl", "s_client", "-quiet", "-nocommands", "-connect", "127.0.0.1:" + port,
                      "-starttls", proto, "-CAfile", cert, "-servername", "mx-serve.test"] + extra,
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
buf = b""
def line():
    global buf
    end = time.time() + 20
    while b"\n" not in buf:
        r, _, _ = select.select([p.stdout], [], [], max(0, end - time.time()))
        if not r:
            raise SystemExit("timeout waiting for the server")
        d = os.read(p.stdout.fileno(), 65536)
        if not d:
            raise SystemExit("s_client ended: " + p.stderr.read().decode(errors="replace")[-400:])
        buf += d
    l, buf = buf.split(b"\n", 1)
    return l + b"\n"
def send(b):
    p.stdin.write(b)
    p.stdin.flush()
def smtp(code):
    while True:
        l = line()
        if not l.startswith(code):
            raise SystemExit("expected %s, got %r" % (code, l))
        if l[3:4] == b" ":
            return
def tagged(tag):
    while True:
        l = line()
        if l.startswith(tag + b" "):
            if not l.startswith(tag + b" OK"):
                raise SystemExit("got %r" % l)
            return
if proto == "smtp":
    send(b"EHLO sclient.test\r\n"); smtp(b"250")
    send(b"MAIL FROM:<a@sclient.test>\r\n"); smtp(b"250")
    send(b"RCPT TO:<alice@mx-serve.test>\r\n"); smtp(b"250")
    send(b"DATA\r\n"); smtp(b"354")
    stuffed = b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in msg.split(b"\r\n"))
    send(stuffed + b".\r\n"); smtp(b"250")
    send(b"QUIT\r\n"); smtp(b"221")
elif proto == "imap":
    send(b"a LOGIN alice secret\r\n"); tagged(b"a")
    send(b"b APPEND INBOX {%d}\r\n" % len(msg))
    l = line()
    if not l.startswith(b"+"):
        raise SystemExit("no continuation: %r" % l)
    send(msg + b"\r\n"); tagged(b"b")
    send(b"c LOGOUT\r\n"); tagged(b"c")
else:
    for c in (b"USER alice\r\n", b"PASS secret\r\n", b"RETR 1\r\n"):
        send(c)
        l = line()
        if not l.startswith(b"+OK"):
            raise SystemExit("%r -> %r" % (c, l))
    data = bytearray()
    while True:
        l = line()
        if l == b".\r\n":
            break
        data += l[1:] if l.startswith(b".") else l
    open(out, "wb").write(data)
    send(b"QUIT\r\n"); line()
p.stdin.close()
p.wait(timeout=10)
PY
}

n=0
for entry in "${SUITES[@]}"; do
    args=${entry%%|*}
    want=${entry#*|}
    # shellcheck disable=SC2086
    sclient smtp "$P_SMTP" "$CERT" "$W/m" - $args || fail "s_client smtp $args"
    # shellcheck disable=SC2086
    sclient imap "$P_IMAP" "$CERT" "$W/m" - $args || fail "s_client imap $args"
    # shellcheck disable=SC2086
    sclient pop3 "$P_POP" "$CERT" - "$W/retr" $args || fail "s_client pop3 $args"
    n=$((n + 1))
    got=$(grep -c "TLS handshake done: $want " "$W/log" || true)
    [[ $got -eq 3 ]] || fail "$args: the server logged '$want' $got times, want 3"
    cmp -s "$W/retr" "$W/m" || fail "$args: POP3 RETR 1 differs from the message sent"
    [[ $(stored_count) -eq $((2 * n)) ]] || fail "$args: $(stored_count) messages stored, want $((2 * n))"
    for f in "$W"/md/new/*; do cmp -s "$f" "$W/m" || fail "$args: stored $(basename "$f") differs"; done
    echo "ok: s_client $args: smtp, imap, pop3"
done

# --- 3DES through serve-client (BoringSSL)
C=("$CLIENT_BIN" --quiet)
for v in 1.0 1.2; do
    "${C[@]}" --proto smtp --port "$P_SMTP" --tls $v --cipher DES-CBC3-SHA --message "$W/big" >"$W/c.out" || fail "3DES TLS $v smtp"
    grep -q "DES-CBC3-SHA" "$W/c.out" || fail "3DES not negotiated: $(cat "$W/c.out")"
    "${C[@]}" --proto imap --port "$P_IMAP" --tls $v --cipher DES-CBC3-SHA --message "$W/big" >"$W/c.out" || fail "3DES TLS $v imap"
    "${C[@]}" --proto pop3 --port "$P_POP" --tls $v --cipher DES-CBC3-SHA --retr 1 --out "$W/retr" >"$W/c.out" || fail "3DES TLS $v pop3"
    cmp -s "$W/retr" "$W/m" || fail "3DES TLS $v: RETR differs"
    assert_stored "$W/big"
done
[[ $(grep -c "DES-CBC3-SHA (0x000a)" "$W/log") -eq 6 ]] || fail "the server did not log 6 DES-CBC3-SHA handshakes"
echo "ok: DES-CBC3-SHA at TLS 1.0 and 1.2 (serve-client): smtp, imap, pop3"

# --- TLS 1.3 KeyUpdate mid-message, both directions (the client requests ours)
rm -f "$W"/md/new/*
"${C[@]}" --proto smtp --port "$P_SMTP" --tls 1.3 --key-update --message "$W/big" --count 2 >/dev/null || fail "KeyUpdate smtp"
"${C[@]}" --proto imap --port "$P_IMAP" --tls 1.3 --key-update --message "$W/big" >/dev/null || fail "KeyUpdate imap"
[[ $(grep -c "KeyUpdate from the client (update_requested=1)" "$W/log") -eq 3 ]] || fail "3 KeyUpdates expected in the log"
[[ $(stored_count) -eq 3 ]] || fail "KeyUpdate: $(stored_count) stored, want 3"
for f in "$W"/md/new/*; do cmp -s "$f" "$W/big" || fail "KeyUpdate: stored $(basename "$f") differs"; done
echo "ok: TLS 1.3 KeyUpdate (requested) in the middle of SMTP and IMAP messages"

# --- STARTTLS command injection: the pipelined plaintext command is discarded
for pp in smtp:$P_SMTP imap:$P_IMAP pop3:$P_POP; do
    proto=${pp%%:*} port=${pp#*:}
    "${C[@]}" --proto "$proto" --port "$port" --inject --message "$W/m" --retr 1 --out "$W/retr" >/dev/null || fail "injection $proto"
done
[[ $(grep -c "pipelined plaintext bytes discarded (command injection" "$W/log") -eq 3 ]] || fail "injection not logged 3 times"
echo "ok: STARTTLS injection discarded (smtp, imap, pop3)"

# --- 100-byte records for a 50000-byte APPEND (500 records), TLS 1.2 CBC
"${C[@]}" --proto imap --port "$P_IMAP" --tls 1.2 --cipher AES128-SHA --record-size 100 --message "$W/big" >/dev/null || fail "small records"
assert_stored "$W/big"
echo "ok: 500 records of 100 bytes, AES128-SHA"

# --- session resumption (abbreviated handshakes; TLS 1.0 CBC: the chained IV then comes from
# the client's Finished of the abbreviated handshake)
before=$(stored_count)
for v in "-tls1 -cipher AES128-SHA:@SECLEVEL=0" "-tls1_2 -cipher AES128-SHA" "-tls1_3"; do
    rm -f "$W/sess"
    # shellcheck disable=SC2086
    sclient smtp "$P_SMTP" "$CERT" "$W/m" - $v -sess_out "$W/sess" || fail "resumption, first session $v"
    # shellcheck disable=SC2086
    sclient smtp "$P_SMTP" "$CERT" "$W/m" - $v -sess_in "$W/sess" || fail "resumption, resumed session $v"
done
[[ $(grep -c ", session resumed;" "$W/log") -eq 3 ]] || fail "3 resumed sessions expected in the log"
[[ $(($(stored_count) - before)) -eq 6 ]] || fail "resumption: $(($(stored_count) - before)) stored, want 6"
echo "ok: resumed sessions at TLS 1.0 (AES128-SHA), 1.2 (AES128-SHA), 1.3"

# --- TLS 1.2 renegotiation from the client (s_client's "R" command) is refused: the decrypter
# sees a handshake record after the handshake, mx-serve sends a fatal no_renegotiation alert
# The client's input waits for what the server log says, not for fixed sleeps: under load the
# handshake can take longer than any sleep (a slow machine must not look like a failure).
wait_log() { # PATTERN MIN_COUNT: until the log holds MIN_COUNT lines matching PATTERN (<= 20 s)
    local i
    for ((i = 0; i < 200; i++)); do
        [[ $(grep -c -- "$1" "$W/log") -ge $2 ]] && return 0
        sleep 0.1
    done
    return 1
}
hs_before=$(grep -c "TLS handshake done" "$W/log")
(printf 'EHLO renego.test\r\n'; wait_log "TLS handshake done" $((hs_before + 1)); sleep 0.2; printf 'R\n'
 wait_log "renegotiation attempt refused" 1) |
    timeout 30 openssl s_client -connect "127.0.0.1:$P_SMTP" -starttls smtp -tls1_2 >"$W/renego.out" 2>&1 || true
grep -q "renegotiation attempt refused: sending fatal alert 100" "$W/log" || fail "renegotiation not refused"
echo "ok: client-initiated TLS 1.2 renegotiation refused with no_renegotiation"

serve_stop
echo "PASS serve_suites"
