#!/usr/bin/env bash
# Issue 12 rule 6 over real sockets: "TLS required" is one listener's option (libmx's
# `listen ... tls-required`, docs/listen.md), not the server's. A submission port that requires
# TLS next to a port 25 that does not, and IMAP and POP3 listeners that require it next to ones
# that do not (the IMAP one plain: see below): real clients (swaks, Python smtplib, imaplib, poplib) see SMTP 530 5.7.0 (RFC 3207
# 4), IMAP LOGINDISABLED and NO [PRIVACYREQUIRED] (RFC 3501 6.2.3), POP3 -ERR for USER/PASS
# (RFC 2595 2.3) before TLS on the requiring listener only, and log in or deliver after STARTTLS.
# A plain listener with tls-required is a load-time error (exit 2, FILE:LINE).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 6
P_SUB=${PORTS[0]} P_MX=${PORTS[1]} P_IMAPR=${PORTS[2]} P_IMAP=${PORTS[3]} P_POPR=${PORTS[4]} P_POP=${PORTS[5]}
cat >"$W/serve.conf" <<CONF
listen 127.0.0.1 $P_SUB starttls smtp tls-required
listen 127.0.0.1 $P_MX starttls smtp
listen 127.0.0.1 $P_IMAPR starttls imap tls-required
listen 127.0.0.1 $P_IMAP plain imap
listen 127.0.0.1 $P_POPR starttls pop3 tls-required
listen 127.0.0.1 $P_POP starttls pop3
cert test * *
CONF
serve_start "$W/serve.conf"
T="timeout 60"

# --- SMTP: swaks without TLS is refused on the submission port (530 at MAIL), accepted on 25;
# with --tls it delivers on the submission port
$T swaks --server 127.0.0.1 --port "$P_SUB" --to alice@mx-serve.test --body "plain sub" >"$W/sw1.out" 2>&1 &&
    fail "swaks without TLS delivered on the tls-required port"
grep -q '<\*\* 530 5.7.0' "$W/sw1.out" || { cat "$W/sw1.out"; fail "no 530 5.7.0 on the tls-required port"; }
$T swaks --server 127.0.0.1 --port "$P_MX" --to alice@mx-serve.test --body "plain mx" >"$W/sw2.out" 2>&1 ||
    { cat "$W/sw2.out"; fail "swaks without TLS refused on the port that does not require TLS"; }
$T swaks --server 127.0.0.1 --port "$P_SUB" --tls --to alice@mx-serve.test --body "tls sub" >"$W/sw3.out" 2>&1 ||
    { cat "$W/sw3.out"; fail "swaks --tls refused on the tls-required port"; }
echo "ok: SMTP 530 5.7.0 before STARTTLS on the tls-required listener only (swaks)"

# --- IMAP and POP3 with Python's clients
python3 - "$P_IMAPR" "$P_IMAP" "$P_POPR" "$P_POP" <<'PY' || fail "IMAP/POP3 tls-required per listener"
import imaplib, poplib, ssl, sys
imapr, imap, popr, pop = map(int, sys.argv[1:])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

c = imaplib.IMAP4("127.0.0.1", imapr)
assert "LOGINDISABLED" in c.capabilities and "STARTTLS" in c.capabilities, c.capabilities
typ, data = c._simple_command("LOGIN", "alice", "secret")  # imaplib refuses LOGIN itself otherwise
assert typ == "NO" and b"[PRIVACYREQUIRED]" in data[0], (typ, data)
c.starttls(ssl_context=ctx)
assert "LOGINDISABLED" not in c.capabilities, c.capabilities
assert c.login("alice", "secret")[0] == "OK"
c.logout()

# the neighbour: LOGIN in clear text is allowed. It is a plain listener because libmx lists
# LOGINDISABLED wherever STARTTLS is offered (RFC 2595 3.2), required or not: on IMAP the option
# shows where no STARTTLS is offered (corpus/starttls/imap-tls-required-nocert)
c = imaplib.IMAP4("127.0.0.1", imap)
assert "LOGINDISABLED" not in c.capabilities, c.capabilities
assert c.login("alice", "secret")[0] == "OK"
c.logout()

p = poplib.POP3("127.0.0.1", popr, timeout=10)
try:
    p.user("alice")
    raise SystemExit("POP3 USER accepted before TLS on the tls-required listener")
except poplib.error_proto as e:
    assert e.args[0].startswith(b"-ERR"), e
p.stls(context=ctx)
p.user("alice")
p.pass_("secret")
p.quit()

p = poplib.POP3("127.0.0.1", pop, timeout=10)
p.user("alice")
p.pass_("secret")
p.quit()
print("ok")
PY
echo "ok: IMAP LOGINDISABLED/NO [PRIVACYREQUIRED], POP3 -ERR before STLS on the tls-required listeners only (imaplib, poplib)"

# --- the hand-written sessions of the rule, through session-send on their listener
for s in smtp-tls-required:$P_SUB imap-tls-required:$P_IMAPR pop3-tls-required:$P_POPR; do
    replay_session "${s%%:*}" "${s#*:}"
done
echo "ok: corpus/starttls/{smtp,imap,pop3}-tls-required replay through mx-serve"
serve_stop

# --- tls-required on a plain listener: a configuration error
echo "listen 127.0.0.1 $P_MX plain smtp tls-required" >"$W/bad.conf"
rc=0
"$SERVE_BIN" -c "$W/bad.conf" --cert-dir "$W/certs" -m "$W/md2" >"$W/bad.out" 2>&1 || rc=$?
[[ $rc -eq 2 ]] || { cat "$W/bad.out"; fail "plain + tls-required: exit $rc, want 2"; }
grep -q "bad.conf:1: .*plain" "$W/bad.out" || { cat "$W/bad.out"; fail "no FILE:LINE error for plain + tls-required"; }
echo "ok: plain + tls-required refused at load (exit 2, FILE:LINE)"
