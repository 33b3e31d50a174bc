#!/usr/bin/env bash
# Issue 13: SASL PLAIN without an initial response, libmx's engine exchange (mx/machine.h), with
# real clients over STARTTLS against the -u table:
#  - curl SMTP --user without --sasl-ir: AUTH PLAIN, "334 ", the response on its own line
#    (RFC 4954 4); the right password stores the message, a wrong one is login denied (67);
#  - swaks --auth LOGIN (draft-murchison-sasl-login): both challenges, right password stored,
#    wrong one 535 5.7.8;
#  - Python imaplib authenticate('PLAIN', ...) (no SASL-IR in imaplib: "+ " continuation, RFC
#    3501 6.2.2): right password logs in and SELECTs, wrong one NO [AUTHENTICATIONFAILED],
#    an authobject returning None sends "*": BAD, and the session is still not authenticated;
#  - poplib: AUTH PLAIN, "+ ", the response (RFC 5034 4): TRANSACTION state (STAT), wrong -ERR;
#  - raw SMTP: the line after "334 " is never run as a command (MAIL FROM there is refused as
#    an undecodable response, 501 5.5.2, and MAIL before a login still needs EHLO's state).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_conf_starttls3
serve_start "$W/serve.conf" --auth-delay 0
gen_message "$W/m" 20000
T="timeout 60"
R=(--resolve "mx-serve.test:$P_SMTP:127.0.0.1")

# --- curl SMTP without --sasl-ir: the 334 continuation
$T curl -v -sS --ssl-reqd --cacert "$CERT" "${R[@]}" --user alice:secret --mail-from a@example.org \
    --mail-rcpt alice@mx-serve.test -T "$W/m" "smtp://mx-serve.test:$P_SMTP" 2>"$W/curl.err" ||
    { cat "$W/curl.err"; fail "curl smtp --user (no --sasl-ir)"; }
grep -q '^> AUTH PLAIN$' <(tr -d '\r' <"$W/curl.err") || { cat "$W/curl.err"; fail "curl did not send AUTH PLAIN without a response"; }
grep -q '^< 334 ' "$W/curl.err" || fail "curl got no 334 challenge"
grep -q '^< 235 ' "$W/curl.err" || fail "curl: no 235 after the response"
assert_stored "$W/m"
rc=0
$T curl -sS --ssl-reqd --cacert "$CERT" "${R[@]}" --user alice:wrong --mail-from a@example.org \
    --mail-rcpt alice@mx-serve.test -T "$W/m" "smtp://mx-serve.test:$P_SMTP" 2>/dev/null || rc=$?
[[ $rc -eq 67 ]] || fail "curl smtp (no --sasl-ir) with a wrong password: exit $rc, want 67 (login denied)"
echo "ok: curl SMTP --user without --sasl-ir: 334 continuation, right password 235 and stored, wrong one refused"

# --- swaks AUTH LOGIN: "334 VXNlcm5hbWU6", the user, "334 UGFzc3dvcmQ6", the password
gen_message "$W/m2" 5000 7
{ cat "$W/m2"; printf '.\r\n'; } >"$W/swaks.data"
$T swaks --server 127.0.0.1 --port "$P_SMTP" --tls --auth LOGIN --auth-user alice --auth-password secret \
    --to alice@mx-serve.test --data @"$W/swaks.data" >"$W/swaks.out" 2>&1 || { cat "$W/swaks.out"; fail "swaks --auth LOGIN"; }
grep -q "^<~  334 VXNlcm5hbWU6" "$W/swaks.out" || { cat "$W/swaks.out"; fail "swaks LOGIN: no Username: challenge"; }
grep -q "^<~  334 UGFzc3dvcmQ6" "$W/swaks.out" || fail "swaks LOGIN: no Password: challenge"
grep -q "^<~  235 " "$W/swaks.out" || fail "swaks LOGIN: no 235"
assert_stored "$W/m2"
if $T swaks --server 127.0.0.1 --port "$P_SMTP" --tls --auth LOGIN --auth-user alice --auth-password wrong \
    --to alice@mx-serve.test >"$W/swaks.out" 2>&1; then fail "swaks LOGIN: a wrong password was accepted"; fi
grep -q "^<~\* 535 5.7.8 " "$W/swaks.out" || { cat "$W/swaks.out"; fail "swaks LOGIN wrong password: no 535 5.7.8"; }
grep -q "AUTH LOGIN alice: invalid credentials" "$W/log" || fail "no refused AUTH LOGIN in the log"
echo "ok: swaks --auth LOGIN right (stored) and wrong (535 5.7.8)"

# --- imaplib, poplib, raw SMTP
$T python3 - "$P_IMAP" "$P_POP" "$P_SMTP" "$CERT" <<'PY' || fail "imaplib / poplib / raw SMTP continuation"
import base64, imaplib, poplib, socket, ssl, sys
p_imap, p_pop, p_smtp, cert = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False
plain = lambda u, p: b"\0" + u + b"\0" + p

def imap():
    m = imaplib.IMAP4("127.0.0.1", p_imap)
    m.starttls(ctx)
    return m
m = imap()
typ, _ = m.authenticate("PLAIN", lambda _: plain(b"alice", b"secret"))
assert typ == "OK", typ
assert m.select("INBOX")[0] == "OK"
m.logout()
m = imap()
try:
    m.authenticate("PLAIN", lambda _: plain(b"alice", b"wrong"))
    raise SystemExit("imaplib: a wrong password was accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
try:
    m.authenticate("PLAIN", lambda _: None)   # imaplib sends "*": the client cancels
    raise SystemExit("imaplib: a cancelled AUTHENTICATE succeeded")
except imaplib.IMAP4.error as e:
    assert "cancelled" in str(e), e
typ, _ = m.authenticate("PLAIN", lambda _: plain(b"alice", b"secret"))
assert typ == "OK", typ
m.logout()

p = poplib.POP3("127.0.0.1", p_pop)
p.stls(ctx)
assert p._shortcmd("AUTH PLAIN").startswith(b"+ ")
assert p._shortcmd(base64.b64encode(plain(b"alice", b"secret")).decode()).startswith(b"+OK")
assert p.stat()[0] >= 1
p.quit()
p = poplib.POP3("127.0.0.1", p_pop)
p.stls(ctx)
assert p._shortcmd("AUTH PLAIN").startswith(b"+ ")
try:
    p._shortcmd(base64.b64encode(plain(b"alice", b"wrong")).decode())
    raise SystemExit("poplib: a wrong password was accepted")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.quit()

# raw SMTP over STARTTLS: the response line is data, never a command
s = socket.create_connection(("127.0.0.1", p_smtp), timeout=20)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline()
        lines.append(l)
        if l[3:4] != b"-":
            return lines
reply()
s.sendall(b"EHLO c\r\n"); reply()
s.sendall(b"STARTTLS\r\n"); assert reply()[0].startswith(b"220")
t = ctx.wrap_socket(s, server_hostname="mx-serve.test")
f = t.makefile("rb")
t.sendall(b"EHLO c\r\n"); reply()
t.sendall(b"AUTH PLAIN\r\n"); assert reply() == [b"334 \r\n"]
t.sendall(b"MAIL FROM:<a@b>\r\n"); r = reply(); assert r[0].startswith(b"501 5.5.2"), r
t.sendall(b"AUTH PLAIN\r\n"); assert reply() == [b"334 \r\n"]
t.sendall(b"*\r\n"); r = reply(); assert r[0].startswith(b"501 "), r
t.sendall(b"QUIT\r\n"); assert reply()[0].startswith(b"221")
print("ok")
PY
grep -q "AUTH PLAIN alice: invalid credentials" "$W/log" || fail "no refused AUTH PLAIN in the log"
echo "ok: imaplib authenticate('PLAIN') right/wrong/cancelled, poplib AUTH PLAIN continuation right/wrong, raw SMTP: the response line is never a command"
serve_stop
