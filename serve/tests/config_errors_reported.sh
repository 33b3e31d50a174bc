#!/usr/bin/env bash
# mx-serve's configuration errors say where and what (issue 13):
#  - a certificate binding names its chain file: `cert mail.pem` loads mail.pem (never
#    mail.pem.pem), `cert test` loads test.pem; a key in NAME.key beside it is used when present;
#  - a file that lacks something says which file and what: no certificate chain, no private key,
#    a key that does not match; every broken certificate is reported, not only the first;
#  - an error on a -l line is reported as "-l #N", one in the file as FILE:LINE;
#  - the start-up log lists every listener with its mode, protocol, TLS policy and certificate.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 3
P1=${PORTS[0]} P2=${PORTS[1]} P3=${PORTS[2]}
C=$W/certs
cp "$C/test.pem" "$C/mail.pem"
cp "$C/cert.pem" "$C/split.pem" && cp "$C/key.pem" "$C/split.key"   # chain and key in two files
cp "$C/cert.pem" "$C/nokey.pem"                                      # a chain, no key anywhere
cp "$C/key.pem" "$C/nochain.pem"                                     # a key, no certificate
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other -keyout "$C/other.key" -out "$C/other.crt" 2>/dev/null
cat "$C/other.key" "$C/cert.pem" >"$C/mismatch.pem"                  # another key than the cert's

# the good bindings start, and the log says what serves each listener
cat >"$W/serve.conf" <<CONF
listen 127.0.0.1 $P1 implicit imap
listen 127.0.0.1 $P2 starttls smtp
listen 127.0.0.1 $P3 plain pop3
cert mail.pem 127.0.0.1 $P1
cert split 127.0.0.1 $P2
CONF
serve_start "$W/serve.conf"
grep -q "listening on 127.0.0.1 port $P1: imap, implicit, TLS from the first byte, certificate mail.pem ($W/serve.conf:1)" "$W/log" ||
    fail "start-up log: listener 1 not described: $(grep listening "$W/log")"
grep -q "listening on 127.0.0.1 port $P2: smtp, starttls, TLS optional, certificate split ($W/serve.conf:2)" "$W/log" ||
    fail "start-up log: listener 2 not described"
grep -q "listening on 127.0.0.1 port $P3: pop3, plain, no TLS, certificate (none) ($W/serve.conf:3)" "$W/log" ||
    fail "start-up log: listener 3 not described"
timeout 10 openssl s_client -connect "127.0.0.1:$P1" -CAfile "$C/cert.pem" -verify_return_error </dev/null >"$W/s1" 2>&1 ||
    fail "mail.pem does not serve: $(tail -n 3 "$W/s1")"
timeout 10 openssl s_client -connect "127.0.0.1:$P2" -starttls smtp -CAfile "$C/cert.pem" -verify_return_error </dev/null >"$W/s2" 2>&1 ||
    fail "split.pem + split.key do not serve: $(tail -n 3 "$W/s2")"
serve_stop
echo "ok: cert mail.pem loads mail.pem; split.pem + split.key; the start-up log describes every listener"

must_fail() { # WANT... -- mx-serve args
    local want=() rc=0 err
    while [[ $1 != -- ]]; do want+=("$1"); shift; done
    shift
    err=$("$SERVE_BIN" -m "$W/md" --cert-dir "$C" "$@" 2>&1 >/dev/null) || rc=$?
    [[ $rc -eq 2 ]] || fail "mx-serve $*: exit $rc, want 2 ($err)"
    for w in "${want[@]}"; do
        grep -qF -- "$w" <<<"$err" || fail "mx-serve $*: message lacks '$w': $err"
    done
    echo "ok: exit 2: $(tr '\n' '|' <<<"$err")"
}
cat >"$W/bad.conf" <<CONF
listen 127.0.0.1 $P1 implicit imap
listen 127.0.0.1 $P2 implicit smtp
listen 127.0.0.1 $P3 implicit pop3
cert nokey 127.0.0.1 $P1
cert nochain 127.0.0.1 $P2
cert mismatch 127.0.0.1 $P3
CONF
must_fail "$W/bad.conf:4: certificate 'nokey': $C/nokey.pem holds no private key" \
    "$W/bad.conf:5: certificate 'nochain': $C/nochain.pem holds no certificate chain" \
    "$W/bad.conf:6: certificate 'mismatch': $C/mismatch.pem holds a private key that does not match" -- -c "$W/bad.conf"
must_fail "-l #2: " -- -c "$W/serve.conf" -l "listen 127.0.0.1 1 plain smtp" -l "listen 127.0.0.1 notaport imap"
must_fail "-l #1: " -- -l "listen 127.0.0.1 99999 plain smtp"
must_fail "certificate 'gone': $C/gone.pem: No such file" -- -l "listen 127.0.0.1 $P1 implicit imap" -l "cert gone * *"
echo "PASS config_errors_reported"
