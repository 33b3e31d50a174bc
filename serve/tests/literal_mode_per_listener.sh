#!/usr/bin/env bash
# Issue 12 rule 5 over real sockets: LITERAL+ or LITERAL- is one IMAP listener's choice (libmx's
# `listen ... literal-minus`, docs/listen.md; here given with mx-serve's -l option). Python's
# imaplib sees LITERAL- (and not LITERAL+) in the capabilities of the literal-minus listener,
# before and after login, and LITERAL+ on its neighbour. After login, byte-exact writes: a
# {4096+} is data on both; a {4097+} is data on the LITERAL+ listener and a tagged
# BAD [TOOBIG] on the LITERAL- one (RFC 7888 4), whose 4097 octets -- smuggled LOGOUTs among
# them -- are dropped, never run (the NOOP after them is answered, no BYE). The hand-written
# sessions of the rule replay through session-send; literal-minus on an SMTP listener is a
# load-time error (exit 2, FILE:LINE).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 4
P_MINUS=${PORTS[0]} P_PLUS=${PORTS[1]} P_SMINUS=${PORTS[2]} P_SPLUS=${PORTS[3]}
: >"$W/serve.conf"
# the STARTTLS pair (with a certificate) for the hand-written sessions, as their headers say
serve_start "$W/serve.conf" -l "listen 127.0.0.1 $P_MINUS plain imap literal-minus" \
    -l "listen 127.0.0.1 $P_PLUS plain imap" \
    -l "listen 127.0.0.1 $P_SMINUS starttls imap literal-minus" -l "listen 127.0.0.1 $P_SPLUS starttls imap" \
    -l "cert test 127.0.0.1 $P_SMINUS" -l "cert test 127.0.0.1 $P_SPLUS"
T="timeout 60"

$T python3 - "$P_MINUS" "$P_PLUS" <<'PY' || fail "literal mode per listener"
import imaplib, socket, sys
minus, plus = map(int, sys.argv[1:])

def caps_after_login(c):
    typ, data = c.capability()
    assert typ == "OK", (typ, data)
    return data[0].split()

for port, want, other in ((minus, "LITERAL-", "LITERAL+"), (plus, "LITERAL+", "LITERAL-")):
    c = imaplib.IMAP4("127.0.0.1", port)
    assert want in c.capabilities and other not in c.capabilities, (port, c.capabilities)
    assert c.login("alice", "secret")[0] == "OK"
    after = caps_after_login(c)
    assert want.encode() in after and other.encode() not in after, (port, after)
    c.logout()
print("ok: imaplib sees LITERAL- on the literal-minus listener, LITERAL+ on its neighbour")

def octets(n):
    # filler lines with a smuggled LOGOUT every eighth line, n octets in all
    out, i = b"", 0
    while len(out) < n:
        out += b"x LOGOUT\r\n" if i % 8 == 0 else b"A" * 62 + b"\r\n"
        i += 1
    return out[:n]

def session(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    buf = b""
    def upto(tag):
        nonlocal buf
        while True:
            for line in buf.split(b"\r\n")[:-1]:
                if line.startswith(tag + b" "):
                    got, buf = buf[:buf.index(line) + len(line) + 2], buf[buf.index(line) + len(line) + 2:]
                    return got
            more = s.recv(65536)
            assert more, "connection closed, have %r" % buf
            buf += more
    upto(b"*")  # greeting
    s.sendall(b"a LOGIN alice secret\r\n")
    assert b"a OK" in upto(b"a")
    return s, upto

for port, minus_mode in ((minus, True), (plus, False)):
    s, upto = session(port)
    # 4096 octets: data under both modes
    s.sendall(b"b APPEND INBOX {4096+}\r\n" + octets(4096) + b"\r\n")
    r = upto(b"b")
    assert b"b OK [APPENDUID " in r, (port, r)
    # 4097 octets, then a NOOP: one write, as a pipelining client sends it
    s.sendall(b"c APPEND INBOX {4097+}\r\n" + octets(4097) + b"\r\nd NOOP\r\n")
    r = upto(b"c")
    if minus_mode:
        assert r.splitlines()[-1].startswith(b"c BAD [TOOBIG]"), r
    else:
        assert b"c OK [APPENDUID " in r, r
    r = upto(b"d")
    assert b"* BYE" not in r and r.splitlines()[-1].startswith(b"d OK"), (port, r)
    s.sendall(b"e LOGOUT\r\n")
    assert b"* BYE" in upto(b"e")
    s.close()
print("ok: {4097+} is BAD [TOOBIG] and swallowed under LITERAL-, data under LITERAL+; {4096+} data on both")
PY

for s in imap-literal-minus:$P_SMINUS imap-literal-plus:$P_SPLUS; do
    replay_session "${s%%:*}" "${s#*:}"
done
echo "ok: corpus/starttls/imap-literal-{minus,plus} replay through mx-serve on listeners given with -l"
serve_stop

# --- literal-minus on an SMTP listener: a configuration error naming the line
printf 'listen 127.0.0.1 %s starttls imap\nlisten 127.0.0.1 %s starttls smtp literal-minus\n' "$P_PLUS" "$P_MINUS" >"$W/bad.conf"
rc=0
"$SERVE_BIN" -c "$W/bad.conf" --cert-dir "$W/certs" -m "$W/md2" >"$W/bad.out" 2>&1 || rc=$?
[[ $rc -eq 2 ]] || { cat "$W/bad.out"; fail "smtp + literal-minus: exit $rc, want 2"; }
grep -q "bad.conf:2: .*literal-minus, an IMAP option" "$W/bad.out" || { cat "$W/bad.out"; fail "no FILE:LINE error for smtp + literal-minus"; }
echo "ok: literal-minus on an SMTP listener refused at load (exit 2, FILE:LINE)"
