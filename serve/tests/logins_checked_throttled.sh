#!/usr/bin/env bash
# Logins and recipients are checked, and password guessing is bounded (issues 13 and 19 item 8).
# libmx's machines ask mx-serve (mx_conn_cfg.check, serve/mx-serve/auth.c) before accepting a
# login or an SMTP recipient; mx-serve holds a connection --auth-delay ms after each refused
# login and libmx closes it after --auth-failures refusals. Real clients as the peers:
#  - swaks --auth PLAIN: the right password is accepted and the message stored, a wrong one gets
#    535 (RFC 4954 6); a second -u user works; curl SMTP --user likewise;
#  - RCPT: an unknown local user 550 5.1.1, another domain 554 5.7.1 (no relaying, RFC 5321
#    3.6.2), <postmaster> accepted (RFC 5321 4.5.1);
#  - curl logs in over IMAP STARTTLS (AUTHENTICATE PLAIN with SASL-IR after the second
#    CAPABILITY) and fetches by UID byte for byte;
#  - IMAP LOGIN and POP3 PASS / AUTH PLAIN: a wrong password is refused and the client may try
#    again on the same connection; poplib TOP and UIDL (RFC 1939 7, RFC 2449);
#  - a bounded brute force over loopback on each protocol: after 3 refusals the connection is
#    closed with the final line, no guess is answered in less than the delay (a lower bound:
#    load only makes it later), a right password on a later guess of a closed connection is never
#    tried, and 4 parallel connections get 12 refusals in all;
#  - under --tls-required, AUTH before STARTTLS gets 530 (RFC 4954 4, RFC 3207 4).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 4
P_SMTP=${PORTS[0]} P_IMAP=${PORTS[1]} P_POP=${PORTS[2]} P_IMAPS=${PORTS[3]}
cat >"$W/serve.conf" <<CONF
listen 127.0.0.1 $P_SMTP starttls smtp
listen 127.0.0.1 $P_IMAP starttls imap
listen 127.0.0.1 $P_POP starttls pop3
listen 127.0.0.1 $P_IMAPS implicit imap
cert test * *
CONF
DELAY=300
serve_start "$W/serve.conf" -u bob:hunter2 --auth-delay $DELAY --auth-failures 3
gen_message "$W/m16384" 16384
{ cat "$W/m16384"; printf '.\r\n'; } >"$W/swaks16384" # swaks sends the file as it is
T="timeout 60"
R=(--resolve "mx-serve.test:$P_SMTP:127.0.0.1" --resolve "mx-serve.test:$P_IMAP:127.0.0.1")

# --- SMTP AUTH with swaks and curl
for who in alice:secret bob:hunter2; do
    $T swaks --server 127.0.0.1 --port "$P_SMTP" --tls --auth PLAIN --auth-user "${who%%:*}" --auth-password "${who#*:}" \
        --to alice@mx-serve.test --data @"$W/swaks16384" >"$W/swaks.out" 2>&1 || { cat "$W/swaks.out"; fail "swaks AUTH PLAIN $who"; }
    grep -q "^<~  235 " "$W/swaks.out" || fail "swaks $who: no 235"
done
assert_stored "$W/m16384"
before=$(stored_count)
if $T swaks --server 127.0.0.1 --port "$P_SMTP" --tls --auth PLAIN --auth-user alice --auth-password wrong \
    --to alice@mx-serve.test >"$W/swaks.out" 2>&1; then fail "swaks: a wrong password was accepted"; fi
grep -q "^<~\* 535 5.7.8 " "$W/swaks.out" || { cat "$W/swaks.out"; fail "swaks wrong password: no 535 5.7.8"; }
$T curl -sS --ssl-reqd --cacert "$CERT" "${R[@]}" --sasl-ir --user alice:secret --mail-from a@example.org \
    --mail-rcpt alice@mx-serve.test -T "$W/m16384" "smtp://mx-serve.test:$P_SMTP" || fail "curl smtp --user"
rc=0
$T curl -sS --ssl-reqd --cacert "$CERT" "${R[@]}" --sasl-ir --user alice:nope --mail-from a@example.org \
    --mail-rcpt alice@mx-serve.test -T "$W/m16384" "smtp://mx-serve.test:$P_SMTP" 2>/dev/null || rc=$?
[[ $rc -eq 67 ]] || fail "curl smtp with a wrong password: exit $rc, want 67 (login denied)"
[[ $(stored_count) -eq $((before + 1)) ]] || fail "the refused logins stored something"
echo "ok: swaks AUTH PLAIN alice and bob accepted, wrong password 535 5.7.8; curl smtp --sasl-ir --user right/wrong (the initial response; the 334 continuation: sasl_continuation_clients.sh)"

# --- recipients
$T python3 - "$P_SMTP" "$CERT" <<'PY' || fail "RCPT checks"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=15)
s.starttls(context=ctx); s.ehlo("client.test")
assert s.mail("a@example.org")[0] == 250
for rcpt, want in (("nobody@mx-serve.test", b"5.1.1"), ("alice@example.org", b"5.7.1"), ("alice@mx-serve.test.evil", b"5.7.1"),
                   ("bob@MX-SERVE.TEST", None), ("postmaster", None), ("alice@mx-serve.test", None)):
    code, text = s.rcpt(rcpt)
    if want:
        assert code in (550, 554) and text.startswith(want), (rcpt, code, text)
    else:
        assert code == 250, (rcpt, code, text)
s.quit()
PY
echo "ok: RCPT unknown user 550 5.1.1, other domains 554 5.7.1, local users and postmaster 250"

# --- curl IMAP over STARTTLS: AUTHENTICATE PLAIN (SASL-IR), fetch by UID
$T python3 - "$P_IMAPS" "$CERT" "$W/m16384" <<'PY' >"$W/uid" || fail "imaplib APPEND for curl"
import imaplib, ssl, sys, re
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
c = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
try:
    c.login("alice", "guess")
    raise SystemExit("a wrong IMAP password was accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
c.login("alice", "secret")  # a second try on the same connection
typ, data = c.append("INBOX", None, None, open(sys.argv[3], "rb").read())
print(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode())
c.logout()
PY
$T curl -sS --ssl-reqd --cacert "$CERT" "${R[@]}" -u alice:secret "imap://mx-serve.test:$P_IMAP/INBOX;UID=$(cat "$W/uid")" \
    -o "$W/curl.out" || fail "curl imap STARTTLS fetch"
cmp -s "$W/curl.out" "$W/m16384" || fail "curl imap STARTTLS: UID $(cat "$W/uid") differs"
rc=0
$T curl -sS --ssl-reqd --cacert "$CERT" "${R[@]}" -u alice:wrong "imap://mx-serve.test:$P_IMAP/INBOX;UID=1" -o /dev/null 2>/dev/null || rc=$?
[[ $rc -eq 67 ]] || fail "curl imap with a wrong password: exit $rc, want 67"
echo "ok: IMAP wrong password NO [AUTHENTICATIONFAILED] then a retry on the same connection; curl imap STARTTLS (AUTHENTICATE PLAIN SASL-IR) fetch by UID byte-identical, wrong password refused"

# --- POP3: PASS and AUTH PLAIN against the same table, retry, TOP, UIDL
$T python3 - "$P_POP" "$CERT" "$W/m16384" <<'PY' || fail "poplib"
import base64, poplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
m = open(sys.argv[3], "rb").read()
c = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=15)
c.stls(context=ctx)
# AUTH PLAIN works (with an initial response here; the "+" continuation:
# sasl_continuation_clients.sh) but CAPA lists no SASL line; USER is
assert b"USER" in c._longcmd("CAPA")[1] and b"SASL PLAIN" not in c._longcmd("CAPA")[1]
c.user("alice")
try:
    c.pass_("wrong")
    raise SystemExit("a wrong POP3 password was accepted")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
c.user("alice"); c.pass_("secret")
count, _ = c.stat()
assert count >= 3, count
assert b"TOP" in b"\n".join(c._longcmd("CAPA")[1])
hend = m.index(b"\r\n\r\n") + 4
body = m[hend:].split(b"\r\n")
for i in range(1, count + 1):
    if c.list(i).split()[2] == b"16384":
        break
_, lines, _ = c.top(i, 3)
want = m[:hend].split(b"\r\n")[:-2] + [b""] + body[:3]
assert lines == want, (lines, want)
_, lines, _ = c.top(i, 0)
assert lines == m[:hend].split(b"\r\n")[:-1], lines
uidl = c.uidl()[1]
assert len(uidl) == count and len(set(u.split()[1] for u in uidl)) == count, uidl
c.quit()
c = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=15)
c.stls(context=ctx)
assert c._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0bob\0hunter2").decode()).startswith(b"+OK")
assert c.stat()[0] == count
c.quit()
PY
echo "ok: poplib PASS wrong then right on one connection, AUTH PLAIN (bob), TOP 3 and TOP 0, UIDL"

# --- bounded brute force: one connection per protocol, then 4 in parallel
$T python3 - "$P_SMTP" "$P_IMAP" "$P_POP" "$CERT" "$DELAY" <<'PY' || fail "brute force"
import base64, socket, ssl, sys, threading, time
ps, pi, pp, cert, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]) / 1000
ctx = ssl.create_default_context(cafile=cert); ctx.check_hostname = False
plain = lambda u, p: base64.b64encode(b"\0" + u + b"\0" + p)

def session(proto):
    s = socket.create_connection(("127.0.0.1", {"smtp": ps, "imap": pi, "pop3": pp}[proto]), timeout=20)
    f = s.makefile("rb")
    f.readline()
    if proto == "smtp":
        s.sendall(b"EHLO c\r\n")
        while not f.readline().startswith(b"250 "): pass
        s.sendall(b"STARTTLS\r\n"); f.readline()
    elif proto == "imap":
        s.sendall(b"a STARTTLS\r\n"); f.readline()
    else:
        s.sendall(b"STLS\r\n"); f.readline()
    t = ctx.wrap_socket(s)
    f = t.makefile("rb")
    if proto == "smtp":
        t.sendall(b"EHLO c\r\n")
        while not f.readline().startswith(b"250 "): pass
    return t, f

def guess(proto, t, f, n, pw):
    if proto == "smtp":
        t.sendall(b"AUTH PLAIN " + plain(b"alice", pw) + b"\r\n")
        return [f.readline()]
    if proto == "imap":
        t.sendall(b"g%d LOGIN alice %s\r\n" % (n, pw))
        out = [f.readline()]
        while out[-1] and not out[-1].startswith(b"g%d " % n) and not out[-1].startswith(b"* BYE"):
            out.append(f.readline())
        return out
    t.sendall(b"USER alice\r\n"); f.readline()
    t.sendall(b"PASS " + pw + b"\r\n")
    return [f.readline()]

refused = {"smtp": b"535 ", "imap": b"NO [AUTHENTICATIONFAILED]", "pop3": b"-ERR [AUTH]"}
final = {"smtp": b"421 ", "imap": b"* BYE", "pop3": b"-ERR Too many"}
for proto in ("smtp", "imap", "pop3"):
    t, f = session(proto)
    times = []
    for n in range(3):
        t0 = time.monotonic()
        r = guess(proto, t, f, n, b"guess%d" % n)
        times.append(time.monotonic() - t0)
        assert any(refused[proto] in l for l in r), (proto, n, r)
    # the third refusal came with the final line (IMAP: after the tagged NO); then the close
    rest = f.readline() if proto != "imap" or not any(l.startswith(b"* BYE") for l in r) else b"* BYE"
    assert rest.startswith(final[proto]) or any(l.startswith(final[proto]) for l in r), (proto, rest, r)
    try:
        t.sendall(b"NOOP\r\n")
        assert f.readline() == b"", proto + ": still open after the limit"
    except (ConnectionError, ssl.SSLError):
        pass
    assert min(times) >= delay * 0.9, (proto, "a refusal came sooner than --auth-delay", times)
    print("%s: 3 refusals, each after >= %.0f ms (%s), then closed" % (proto, delay * 1000, ", ".join("%.0f" % (x * 1000) for x in times)))

# 4 connections guessing at once: each gets exactly 3 refusals, then its close
counts = []
def worker():
    t, f = session("imap")
    k = 0
    for n in range(10):
        try:
            r = guess("imap", t, f, n, b"x%d" % n)
        except (ConnectionError, ssl.SSLError):
            break
        k += sum(refused["imap"] in l for l in r)
        if not r[-1] or any(l.startswith(b"* BYE") for l in r):
            break
    counts.append(k)
th = [threading.Thread(target=worker) for _ in range(4)]
t0 = time.monotonic()
[x.start() for x in th]; [x.join() for x in th]
assert counts == [3, 3, 3, 3], counts
print("4 parallel IMAP connections x 10 guesses: %d refusals in %.2f s, every connection closed after 3" % (sum(counts), time.monotonic() - t0))
PY
echo "ok: bounded brute force (3 refusals per connection, each held >= ${DELAY} ms, then the close)"
serve_stop

# --- TLS-required: no AUTH in plaintext (530), LOGIN disabled, USER refused
checks=$(grep -c "invalid credentials\|: ok$" "$W/log")
serve_start "$W/serve.conf" --tls-required
$T python3 - "$P_SMTP" "$P_IMAP" "$P_POP" <<'PY' || fail "tls-required"
import socket, sys
def talk(port, lines):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    f = s.makefile("rb"); f.readline()
    out = []
    for l in lines:
        s.sendall(l + b"\r\n")
        r = f.readline()
        while r[:4] in (b"250-",):
            r = f.readline()
        out.append(r)
    return out
r = talk(sys.argv[1], [b"EHLO c", b"AUTH PLAIN AGFsaWNlAHNlY3JldA=="])
assert r[1].startswith(b"530 "), r
r = talk(sys.argv[2], [b"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", b"b LOGIN alice secret"])
assert r[0].startswith(b"a NO [PRIVACYREQUIRED]") and r[1].startswith(b"b NO [PRIVACYREQUIRED]"), r
r = talk(sys.argv[3], [b"AUTH PLAIN AGFsaWNlAHNlY3JldA==", b"USER alice"])
assert r[0].startswith(b"-ERR") and r[1].startswith(b"-ERR"), r
PY
[[ $(grep -c "invalid credentials\|: ok$" "$W/log") -eq $checks ]] || fail "a plaintext login reached the credential check"
echo "ok: --tls-required: SMTP AUTH 530, IMAP AUTHENTICATE/LOGIN NO [PRIVACYREQUIRED], POP3 AUTH/USER -ERR before TLS"
serve_stop
echo "PASS logins_checked_throttled"
