#!/usr/bin/env bash
# mx-serve + real IMAP and POP3 clients: curl (IMAP APPEND via -T over imaps, POP3 RETR over
# STLS --ssl-reqd and pop3s), Python imaplib (STARTTLS and IMAP4_SSL APPEND) and poplib (stls,
# POP3_SSL RETR). APPENDed messages must be stored byte-identical (sha256) at 16383, 16384,
# 16385 and 70000 bytes; RETR must return each stored message byte-identical.
# (curl over IMAP STARTTLS logs in with AUTHENTICATE PLAIN: serve/tests/logins_checked_throttled.sh.)
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 4
P_IMAP=${PORTS[0]} P_IMAPS=${PORTS[1]} P_POP=${PORTS[2]} P_POPS=${PORTS[3]}
cat >"$W/serve.conf" <<CONF
listen 127.0.0.1 $P_IMAP starttls imap
listen 127.0.0.1 $P_IMAPS implicit imap
listen 127.0.0.1 $P_POP starttls pop3
listen 127.0.0.1 $P_POPS implicit pop3
cert test * *
CONF
serve_start "$W/serve.conf"
for size in 16383 16384 16385 70000; do gen_message "$W/m$size" $size; done
gen_message "$W/dots" 20000 7 dots
T="timeout 30"
R=(--resolve "mx-serve.test:$P_IMAPS:127.0.0.1" --resolve "mx-serve.test:$P_POP:127.0.0.1" --resolve "mx-serve.test:$P_POPS:127.0.0.1")

# --- curl IMAP APPEND (-T) over implicit TLS
for size in 16383 16384 16385 70000; do
    $T curl -sS --cacert "$CERT" "${R[@]}" -u alice:secret -T "$W/m$size" "imaps://mx-serve.test:$P_IMAPS/INBOX" ||
        fail "curl imaps APPEND $size"
    assert_stored "$W/m$size"
done
echo "ok: curl imaps APPEND 16383/16384/16385/70000"

# --- Python imaplib: STARTTLS and IMAP4_SSL
$T python3 - "$P_IMAP" "$P_IMAPS" "$CERT" "$W/dots" "$W/m16384" <<'PY' || fail "python imaplib"
import imaplib, ssl, sys
p, ps, cert = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dots, m = open(sys.argv[4], "rb").read(), open(sys.argv[5], "rb").read()
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False
c = imaplib.IMAP4("127.0.0.1", p)
assert "STARTTLS" in c.capabilities and "LOGINDISABLED" in c.capabilities, c.capabilities
c.starttls(ssl_context=ctx)
assert "STARTTLS" not in c.capabilities, c.capabilities
typ, _ = c.login("alice", "secret")
assert typ == "OK"
typ, data = c.append("INBOX", None, None, dots)
assert typ == "OK", data
c.logout()
c = imaplib.IMAP4_SSL("127.0.0.1", ps, ssl_context=ctx)
c.login("alice", "secret")
assert c.append("INBOX", None, None, m)[0] == "OK"
assert c.select("INBOX")[0] == "OK"
c.logout()
# a wrong password is refused (mx-serve checks the test login when libmx's machine accepts LOGIN)
c = imaplib.IMAP4_SSL("127.0.0.1", ps, ssl_context=ctx)
try:
    c.login("alice", "wrong")
    raise SystemExit("a wrong password was accepted")
except imaplib.IMAP4.error:
    pass
PY
assert_stored "$W/dots"
grep -q "imap LOGIN alice: invalid credentials" "$W/log" || fail "no log line for the failed login"
echo "ok: python imaplib STARTTLS + IMAP4_SSL APPEND (dot lines, 16384); wrong password refused"

# --- libmx's command reader, driven raw over implicit TLS: LITERAL+, MULTIAPPEND, a mailbox
# other than INBOX (no continuation, NO [TRYCREATE]), a literal over --max-message (NO
# [TOOBIG] from the reader), then a normal APPEND still works
before=$(stored_count)
$T python3 - "$P_IMAPS" "$CERT" <<'PY' || fail "raw IMAP session"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15))
f = s.makefile("rb")
def upto(tag):
    lines = []
    while True:
        l = f.readline()
        assert l, "connection closed"
        lines.append(l)
        if l.startswith(tag + b" ") or l.startswith(b"+"):
            return lines
assert f.readline().startswith(b"* OK")
s.sendall(b"a LOGIN alice secret\r\n"); assert upto(b"a")[-1].startswith(b"a OK")
s.sendall(b"b APPEND INBOX {7+}\r\nlitplus\r\n"); assert upto(b"b")[-1].startswith(b"b OK [APPENDUID "), "LITERAL+"
s.sendall(b"c APPEND INBOX (\\Seen) {5+}\r\nmulti {6+}\r\nappend\r\n")
l = upto(b"c")[-1]; assert l.startswith(b"c OK [APPENDUID ") and b":" in l, l
s.sendall(b"d APPEND Other {3}\r\n"); l = upto(b"d")[-1]; assert l.startswith(b"d NO [TRYCREATE]"), l
s.sendall(b"e APPEND INBOX {40000000}\r\n"); l = upto(b"e")[-1]; assert l.startswith(b"e NO [TOOBIG]"), l
s.sendall(b"f APPEND INBOX {4}\r\n"); assert upto(b"f")[-1].startswith(b"+")
s.sendall(b"sync\r\n"); assert upto(b"f")[-1].startswith(b"f OK")
s.sendall(b"g LOGOUT\r\n"); upto(b"g")
PY
for body in litplus multi append sync; do
    printf '%s' "$body" >"$W/raw.$body"
    assert_stored "$W/raw.$body"
done
[[ $(stored_count) -eq $((before + 4)) ]] || fail "raw session: $(($(stored_count) - before)) stored, want 4"
rm -f "$W"/md/new/*,S=[4-7],U=* "$W"/md/cur/*,S=[4-7],U=*
echo "ok: LITERAL+, MULTIAPPEND (APPENDUID range), TRYCREATE, TOOBIG through libmx's command reader"

# --- POP3 RETR: every stored message, in delivery order, must come back byte-identical
# POP3 lists INBOX's new/ and cur/ (curl's APPEND sets \Seen: cur/) in name order
mapfile -t STORED < <(cd "$W/md" && ls new cur | grep -v ':$' | grep . | sort | while read -r f; do [[ -f new/$f ]] && echo "new/$f" || echo "cur/$f"; done)
[[ ${#STORED[@]} -eq 6 ]] || fail "expected 6 stored messages, have ${#STORED[@]}"
for i in 1 4; do
    $T curl -sS --ssl-reqd --cacert "$CERT" "${R[@]}" -u alice:secret "pop3://mx-serve.test:$P_POP/$i" -o "$W/retr$i" ||
        fail "curl pop3 STLS RETR $i"
    cmp -s "$W/retr$i" "$W/md/${STORED[$((i - 1))]}" || fail "curl pop3 RETR $i differs from ${STORED[$((i - 1))]}"
done
$T curl -sS --cacert "$CERT" "${R[@]}" -u alice:secret "pop3s://mx-serve.test:$P_POPS/3" -o "$W/retr3" || fail "curl pop3s RETR 3"
cmp -s "$W/retr3" "$W/md/${STORED[2]}" || fail "curl pop3s RETR 3 differs"
echo "ok: curl pop3 --ssl-reqd RETR 1, 4 (16383, 70000) and pop3s RETR 3 (16385)"

$T python3 - "$P_POP" "$P_POPS" "$CERT" "$W/md" "${STORED[@]}" <<'PY' || fail "python poplib"
import poplib, ssl, sys, os
p, ps, cert, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
names = sys.argv[5:]
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False
def check(c):
    c.user("alice")
    c.pass_("secret")
    count, size = c.stat()
    assert count == len(names), (count, names)
    for i, n in enumerate(names, 1):
        want = open(os.path.join(d, n), "rb").read()
        _, lines, _ = c.retr(i)
        got = b"\r\n".join(lines) + b"\r\n"
        assert got == want, "RETR %d differs from %s" % (i, n)
    c.quit()
c = poplib.POP3("127.0.0.1", p)
c.stls(context=ctx)
check(c)
check(poplib.POP3_SSL("127.0.0.1", ps, context=ctx))
# LIST, UIDL, DELE, RSET; QUIT deletes what is still marked
c = poplib.POP3_SSL("127.0.0.1", ps, context=ctx)
c.user("alice"); c.pass_("secret")
_, listing, _ = c.list()
assert len(listing) == len(names), listing
for i, n in enumerate(names, 1):
    assert listing[i - 1] == b"%d %d" % (i, os.path.getsize(os.path.join(d, n))), listing[i - 1]
_, uids, _ = c.uidl()
assert len(set(u.split()[1] for u in uids)) == len(names), uids
c.dele(1); c.rset(); c.dele(len(names))
try:
    c.retr(len(names))
    raise SystemExit("RETR of a deleted message succeeded")
except poplib.error_proto:
    pass
c.quit()
c = poplib.POP3_SSL("127.0.0.1", ps, context=ctx)
c.user("alice"); c.pass_("secret")
assert c.stat()[0] == len(names) - 1, c.stat()
c.quit()
assert not os.path.exists(os.path.join(d, names[-1])), "DELE + QUIT did not remove the last message"
PY
echo "ok: python poplib stls + POP3_SSL: RETR of all ${#STORED[@]} messages byte-identical; LIST, UIDL, DELE, RSET, QUIT"

serve_stop
echo "PASS serve_imap_pop3"
