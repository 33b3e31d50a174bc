#!/usr/bin/env bash
# Fuzz-target sessions through the real server: every hand-written STARTTLS session of the
# shipped corpus (corpus/starttls/, the same files the `starttls` target and its unit tests use)
# is sent to mx-serve over real sockets and a real TLS handshake by tools/session-send.py, on a
# listener configured as the session's header says (protocol, mode, certificate bound or not).
# The replies recorded in the session (what libmx's machines must answer) must match what
# mx-serve answers, status by status. So a reproducer or corpus file of the `starttls` target
# replays through mx-serve the same way: tools/session-send.py --port N FILE.
# A session's TLS-required bit becomes its listener's `tls-required` option, its literal mode
# (`literal minus`, version 3) the `literal-minus` option.
# Sessions the server cannot reproduce as configured are skipped by rule, not by name: line
# limits other than mx-serve's, and sessions that expect the connection to be closed on a
# ClientHello (covered by smtp_clients_byte_exact.sh), and sessions where a login (SMTP AUTH,
# IMAP LOGIN / AUTHENTICATE, POP3 USER+PASS) succeeds (mx-serve checks the password; libmx's
# machines leave credentials to their caller, so the recorded replies assume any login works).
# Recorded recipients are arbitrary: mx-serve runs with --any-rcpt.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
# the hand-written ones: corpus files named after a text session in corpus/sessions/starttls/
files=()
for t in "$MXFUZZ_ROOT"/corpus/sessions/starttls/*.txt; do
    f="$MXFUZZ_ROOT/corpus/starttls/$(basename "$t" .txt)"
    [[ -f $f ]] && files+=("$f")
done
selected=()
for f in "${files[@]}"; do
    txt=$("$MXFUZZ_BUILD/tools/mxsession" decode "$f")
    grep -qx 'max-line 1024' <<<"$txt" || continue
    grep -q '\\x16\\x03' <<<"$txt" && continue                 # ClientHello sessions: closed, no replies
    grep -qE 'OK LOGIN completed|OK AUTHENTICATE completed|\+OK maildrop|^server "235 ' <<<"$txt" && continue  # a login that succeeds: see above
    selected+=("$f")
done
[[ ${#selected[@]} -ge 8 ]] || fail "only ${#selected[@]} sessions selected; the rules above are too strict"
# one listener per distinct header (a session's listener is what its header says: sessions with
# the same header share it, so the sessions stay below libmx's MX_LISTEN_MAX listeners);
# kinds[k] is listener k's configuration with PORT for its port, kind_of[i] session i's listener
kinds=()
kind_of=()
for i in "${!selected[@]}"; do
    conf=$(session_listener "${selected[$i]}" PORT)
    k=-1
    for j in "${!kinds[@]}"; do [[ ${kinds[$j]} == "$conf" ]] && k=$j; done
    if [[ $k -lt 0 ]]; then
        k=${#kinds[@]}
        kinds+=("$conf")
    fi
    kind_of+=("$k")
done
# the listeners on the probed ports (serve_start_ports may call it again)
write_conf() {
    : >"$W/serve.conf"
    for k in "${!kinds[@]}"; do
        echo "${kinds[$k]//PORT/${PORTS[$k]}}" >>"$W/serve.conf"
    done
}
serve_start_ports ${#kinds[@]} write_conf --any-rcpt
bad=0
for i in "${!selected[@]}"; do
    name=$(basename "${selected[$i]}")
    if timeout 60 python3 "$MXFUZZ_ROOT/tools/session-send.py" --compare --port "${PORTS[${kind_of[$i]}]}" \
        "${selected[$i]}" >"$W/$name.out" 2>&1; then
        echo "ok: $name"
    else
        echo "MISMATCH: $name"
        cat "$W/$name.out"
        bad=$((bad + 1))
    fi
done
echo "session replay through mx-serve: ${#selected[@]} sessions on ${#kinds[@]} listeners, $bad mismatch(es)"
[[ $bad -eq 0 ]]
