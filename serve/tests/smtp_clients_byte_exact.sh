#!/usr/bin/env bash
# mx-serve + real SMTP clients: swaks (STARTTLS and implicit TLS), curl (--ssl-reqd STARTTLS and
# smtps), Python smtplib (starttls and SMTP_SSL). Every stored message must be byte-identical
# to what was sent (sha256), at sizes around the 16384-byte TLS record boundary and multi-record.
# Also the seed diagnostics: a TLS ClientHello on a STARTTLS port (KB Q218430), plaintext on an
# implicit-TLS port, STARTTLS not offered where no certificate is bound (KB Q237327), and an
# implicit-TLS listener without a certificate refused at load time (KB Q251097).
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 5
P_STARTTLS=${PORTS[0]} P_IMPLICIT=${PORTS[1]} P_NOCERT=${PORTS[2]} P_PLAIN=${PORTS[3]} P_BAD=${PORTS[4]}
cat >"$W/serve.conf" <<CONF
# SMTP listeners for serve/tests/smtp_clients_byte_exact.sh
listen 127.0.0.1 $P_STARTTLS starttls smtp
listen 127.0.0.1 $P_IMPLICIT implicit smtp
listen 127.0.0.1 $P_NOCERT starttls smtp
listen 127.0.0.1 $P_PLAIN plain smtp
cert test 127.0.0.1 $P_STARTTLS
cert test 127.0.0.1 $P_IMPLICIT
CONF
serve_start "$W/serve.conf"

for size in 16383 16384 16385 70000; do gen_message "$W/m$size" $size; done
gen_message "$W/dots" 20000 7 dots
T="timeout 30"

# --- swaks: it sends the data file as it is (no dot-stuffing), so the file ends in ".\r\n"
for size in 16383 16384 16385 70000; do
    { cat "$W/m$size"; printf '.\r\n'; } >"$W/swaks$size"
    $T swaks --server 127.0.0.1 --port "$P_STARTTLS" --tls --helo swaks.test --from a@swaks.test \
        --to alice@mx-serve.test --data @"$W/swaks$size" >"$W/swaks.out" 2>&1 || { cat "$W/swaks.out"; fail "swaks STARTTLS $size"; }
    assert_stored "$W/m$size"
done
$T swaks --server 127.0.0.1 --port "$P_IMPLICIT" --tlsc --helo swaks.test --from a@swaks.test \
    --to alice@mx-serve.test --data @"$W/swaks16384" >"$W/swaks.out" 2>&1 || { cat "$W/swaks.out"; fail "swaks implicit TLS"; }
echo "ok: swaks STARTTLS 16383/16384/16385/70000, implicit TLS"

# --- curl: dot-stuffs itself
rm -f "$W"/md/new/*
$T curl -sS --ssl-reqd --cacert "$CERT" --resolve "mx-serve.test:$P_STARTTLS:127.0.0.1" --mail-from a@curl.test \
    --mail-rcpt alice@mx-serve.test -T "$W/m16385" "smtp://mx-serve.test:$P_STARTTLS" || fail "curl smtp STARTTLS"
assert_stored "$W/m16385"
$T curl -sS --ssl-reqd --cacert "$CERT" --resolve "mx-serve.test:$P_STARTTLS:127.0.0.1" --mail-from a@curl.test \
    --mail-rcpt alice@mx-serve.test -T "$W/dots" "smtp://mx-serve.test:$P_STARTTLS" || fail "curl smtp STARTTLS (dots)"
assert_stored "$W/dots"
$T curl -sS --cacert "$CERT" --resolve "mx-serve.test:$P_IMPLICIT:127.0.0.1" --mail-from a@curl.test \
    --mail-rcpt alice@mx-serve.test -T "$W/m16383" "smtps://mx-serve.test:$P_IMPLICIT" || fail "curl smtps"
assert_stored "$W/m16383"
echo "ok: curl smtp --ssl-reqd (16385, dot lines), smtps (16383)"

# --- Python smtplib
$T python3 - "$P_STARTTLS" "$P_IMPLICIT" "$P_NOCERT" "$P_PLAIN" "$CERT" "$W/m16384" "$W/dots" "$W/m70000" <<'PY' || fail "python smtplib"
import smtplib, ssl, sys
p_tls, p_imp, p_nocert, p_plain, cert = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
msgs = [open(f, "rb").read() for f in sys.argv[6:]]
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", p_tls) as s:
    s.ehlo("smtplib.test")
    assert s.has_extn("starttls"), "STARTTLS not offered on a listener with a certificate"
    s.starttls(context=ctx)
    s.ehlo("smtplib.test")
    assert not s.has_extn("starttls"), "STARTTLS offered again inside TLS"
    for m in msgs[:2]:
        s.sendmail("a@smtplib.test", ["alice@mx-serve.test"], m)
with smtplib.SMTP_SSL("127.0.0.1", p_imp, context=ctx) as s:
    s.ehlo("smtplib.test")
    s.sendmail("a@smtplib.test", ["alice@mx-serve.test"], msgs[2])
# KB Q237327: no STARTTLS where no certificate serves the (address, port), nor on a plain listener
for port in (p_nocert, p_plain):
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.ehlo("smtplib.test")
        assert not s.has_extn("starttls"), "STARTTLS advertised on port %d without a certificate" % port
        code, _ = s.docmd("STARTTLS")
        assert code == 502, "STARTTLS without a certificate answered %d" % code
PY
assert_stored "$W/m16384"
assert_stored "$W/dots"
assert_stored "$W/m70000"
echo "ok: python smtplib starttls (16384, dot lines), SMTP_SSL (70000); no STARTTLS without a certificate"

# --- KB Q218430: a TLS client on the STARTTLS port: libmx's machine sees the ClientHello
$T openssl s_client -connect "127.0.0.1:$P_STARTTLS" </dev/null >"$W/sclient.out" 2>&1 || true
grep -q "TLS ClientHello on a plaintext/STARTTLS listener" "$W/log" || fail "no ClientHello-on-plaintext-port diagnostic in the log"
# plaintext on the implicit-TLS port
python3 - "$P_IMPLICIT" <<'PY' || fail "plaintext on the implicit port"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"EHLO plain.test\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
assert data == b"", data  # issue 12 rule 2 (RFC 8314 3.3): no plaintext reply, the close
PY
grep -q "plaintext client on an implicit-TLS listener" "$W/log" || fail "no plaintext-on-implicit-port diagnostic"
echo "ok: diagnostics for a ClientHello on a STARTTLS port and plaintext on an implicit-TLS port"

# --- KB Q251097: an implicit-TLS listener that no certificate serves is a load-time error
printf 'listen 127.0.0.1 %s implicit smtp\ncert test 127.0.0.1 %s\n' "$P_BAD" "$P_STARTTLS" >"$W/bad.conf"
rc=0
"$SERVE_BIN" -c "$W/bad.conf" --cert-dir "$W/certs" -m "$W/md2" 2>"$W/bad.err" || rc=$?
[[ $rc -eq 2 ]] || fail "implicit listener without a certificate: exit $rc, want 2"
grep -q "bad.conf:1:" "$W/bad.err" || fail "the error does not name bad.conf:1: $(cat "$W/bad.err")"
# a certificate file that does not exist
printf 'listen 127.0.0.1 %s starttls smtp\ncert missing * *\n' "$P_BAD" >"$W/bad2.conf"
rc=0
"$SERVE_BIN" -c "$W/bad2.conf" --cert-dir "$W/certs" -m "$W/md2" 2>"$W/bad2.err" || rc=$?
[[ $rc -eq 2 ]] && grep -q "missing" "$W/bad2.err" || fail "missing certificate file: exit $rc: $(cat "$W/bad2.err")"
echo "ok: load-time errors: $(head -c 150 "$W/bad.err")"

serve_stop
[[ -z $(ls -A "$W/md/tmp") ]] || fail "files left in tmp/: $(ls "$W/md/tmp")"

# --- --tls-required: the machines' policy, passed through by mx-serve
printf 'listen 127.0.0.1 %s starttls smtp\ncert test * *\n' "$P_BAD" >"$W/req.conf"
serve_start "$W/req.conf" --tls-required --max-message 20000
$T python3 - "$P_BAD" "$CERT" "$W/m16384" "$W/m70000" <<'PY' || fail "--tls-required / --max-message"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.ehlo("req.test")
    code, _ = s.docmd("MAIL FROM:<a@req.test>")
    assert code == 530, "MAIL before STARTTLS under --tls-required: %d" % code
    s.starttls(context=ctx)
    s.ehlo("req.test")
    s.sendmail("a@req.test", ["alice@mx-serve.test"], open(sys.argv[3], "rb").read())
    try:
        s.sendmail("a@req.test", ["alice@mx-serve.test"], open(sys.argv[4], "rb").read())
        raise SystemExit("a message over --max-message was accepted")
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == 552, e
PY
serve_stop
grep -q "message refused by the machine: 552" "$W/log" || fail "no log line for the 552"
[[ -z $(ls -A "$W/md/tmp") ]] || fail "the refused message left a file in tmp/"
echo "ok: --tls-required: 530 before STARTTLS, delivered after; --max-message: 552, nothing kept"
echo "PASS serve_smtp"
