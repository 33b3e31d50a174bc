#!/usr/bin/env bash
# Imported seeds replay what happened: crafted captures of servers that refuse STARTTLS, do not
# offer it, offer it without being asked (capture/tests/pcapng_craft.py) are imported with
# pcap-import, then sent to mx-serve by tools/session-send.py --compare on a listener configured
# as each seed's header says (mode, certificate bound or not, TLS required, LITERAL-;
# testlib.sh session_listener): the replies mx-serve gives must
# carry the statuses of the captured server's replies, in order. A seed whose header claimed
# STARTTLS because the client sent the command (the old guess) makes mx-serve answer 220 where
# the captured server answered 502 / BAD / -ERR, and fails here; so does one that misses TLS
# required (IMAP LOGINDISABLED / NO [PRIVACYREQUIRED], POP3 -ERR to USER: mx-serve accepts the
# login) or LITERAL- (mx-serve takes the {5000+} APPEND as data).
# (No EHLO in the line-by-line conversations: session-send compares line by line and mx-serve's
# EHLO has its own line count; the ones with EHLO, and the ClientHello sent on the plaintext
# side, are compared by reply unit, with named differences: reply_differences.py.)
# smtp-454-helo: a server that answered STARTTLS 454 (RFC 3207 4) gives a tls-unavailable seed,
# and mx-serve on such a listener answers 454 too.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
IMPORTER=${PCAP_IMPORT:-$MXFUZZ_BUILD/tools/pcap-import}
python3 - "$W" <<'PY'
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.environ["MXFUZZ_ROOT"], "capture", "tests"))
from pcapng_craft import conv, write_pcapng
w = sys.argv[1]
cases = {
    "smtp-refused": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"HELO c\r\n"), ("s", b"250 mx.test\r\n"),
                          ("c", b"STARTTLS\r\n"), ("s", b"502 5.5.1 STARTTLS not supported\r\n"),
                          ("c", b"NOOP\r\n"), ("s", b"250 ok\r\n"), ("c", b"QUIT\r\n"), ("s", b"221 Bye\r\n")]),
    "imap-refused": (143, [("s", b"* OK ready\r\n"), ("c", b"a1 STARTTLS\r\n"), ("s", b"a1 BAD not now\r\n"),
                           ("c", b"a2 NOOP\r\n"), ("s", b"a2 OK done\r\n")]),
    "pop3-refused": (110, [("s", b"+OK ready\r\n"), ("c", b"STLS\r\n"), ("s", b"-ERR no\r\n"),
                           ("c", b"USER alice\r\n"), ("s", b"+OK\r\n"), ("c", b"QUIT\r\n"), ("s", b"+OK bye\r\n")]),
    "imap-offered": (143, [("s", b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
                           ("c", b"a1 NOOP\r\n"), ("s", b"a1 OK done\r\n"), ("c", b"a2 LOGOUT\r\n"),
                           ("s", b"* BYE\r\na2 OK bye\r\n")]),
    # TLS required, no STARTTLS to offer: LOGINDISABLED and NO [PRIVACYREQUIRED] (RFC 3501
    # 6.2.3); a header without tls-required lets mx-serve accept the LOGIN
    "imap-logindisabled": (143, [("s", b"* OK ready\r\n"), ("c", b"a1 CAPABILITY\r\n"),
                                 ("s", b"* CAPABILITY IMAP4rev1 LITERAL+ LOGINDISABLED\r\na1 OK done\r\n"),
                                 ("c", b"a2 LOGIN alice secret\r\n"),
                                 ("s", b"a2 NO [PRIVACYREQUIRED] not without TLS\r\n"),
                                 ("c", b"a3 LOGOUT\r\n"), ("s", b"* BYE\r\na3 OK bye\r\n")]),
    # LITERAL- (RFC 7888 4): after login a {5000+} is BAD [TOOBIG]; under LITERAL+ it is data
    "imap-literal-minus": (143, [("s", b"* OK ready\r\n"), ("c", b"a1 CAPABILITY\r\n"),
                                 ("s", b"* CAPABILITY IMAP4rev1 LITERAL-\r\na1 OK done\r\n"),
                                 ("c", b"a2 LOGIN alice secret\r\n"), ("s", b"a2 OK in\r\n"),
                                 ("c", b"a3 APPEND INBOX {5000+}\r\n" + (b"y" * 98 + b"\r\n") * 50 + b"\r\n"),
                                 ("s", b"a3 BAD [TOOBIG] too big for LITERAL-\r\n"),
                                 ("c", b"a4 LOGOUT\r\n"), ("s", b"* BYE\r\na4 OK bye\r\n")]),
    # POP3 refusing USER in clear text (RFC 2595 2.3): TLS required, no STLS offered
    "pop3-user-refused": (110, [("s", b"+OK ready\r\n"), ("c", b"USER alice\r\n"),
                                ("s", b"-ERR [AUTH] Plaintext authentication disallowed\r\n"),
                                ("c", b"QUIT\r\n"), ("s", b"+OK bye\r\n")]),
    # a certificate it cannot use (RFC 3207 4: 454, twice) and the session goes on; a header
    # without tls-unavailable makes mx-serve answer 220 (certificate) or 502 (none)
    "smtp-454-helo": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"HELO c\r\n"), ("s", b"250 mx.test\r\n"),
                           ("c", b"STARTTLS\r\n"), ("s", b"454 4.7.0 TLS not available due to local problem\r\n"),
                           ("c", b"NOOP\r\n"), ("s", b"250 ok\r\n"),
                           ("c", b"STARTTLS\r\n"), ("s", b"454 4.7.0 TLS not available due to local problem\r\n"),
                           ("c", b"QUIT\r\n"), ("s", b"221 Bye\r\n")]),
}
for k, (name, (port, writes)) in enumerate(cases.items()):
    write_pcapng(os.path.join(w, name + ".pcapng"), [conv(port, writes, client_port=43000 + k)])
# the odd sessions listener_facts.py imports (odd_sessions.py), for the replay by reply unit
from odd_sessions import CONVERSATIONS
for k, (name, (port, writes)) in enumerate(CONVERSATIONS.items()):
    write_pcapng(os.path.join(w, name + ".pcapng"), [conv(port, writes, client_port=43100 + k)])
PY
names=(smtp-refused imap-refused pop3-refused imap-offered imap-logindisabled imap-literal-minus pop3-user-refused
       smtp-454-helo)
# by reply unit (session-send --units; the EHLO replies have other line counts), judged by
# reply_differences.py: statuses equal but for its named differences (a ClientHello on the
# plaintext side: the captured 500 / * BAD / -ERR and going on, libmx's 421 / * BYE / -ERR and
# the close; a STARTTLS listed before 454)
unit_names=(smtp-hello-on-plain-port imap-hello-on-plain-port smtp-refused-then-hello pop3-refused-then-hello
            smtp-454 smtp-454-unlisted)
all=("${names[@]}" "${unit_names[@]}")
serve_ports ${#all[@]}
: >"$W/serve.conf"
seeds=()
for i in "${!all[@]}"; do
    n=${all[$i]}
    "$IMPORTER" --out "$W/$n.out" "$W/$n.pcapng" >"$W/$n.import" 2>&1 || { cat "$W/$n.import"; fail "$n: import"; }
    f=$(ls "$W/$n.out/starttls/"* | head -1)
    seeds+=("$f")
    session_listener "$f" "${PORTS[$i]}" | tee -a "$W/serve.conf" | sed "s/^/$n: /"
done
serve_start "$W/serve.conf"
bad=0
for i in "${!names[@]}"; do
    if timeout 60 python3 "$MXFUZZ_ROOT/tools/session-send.py" --compare --port "${PORTS[$i]}" \
        "${seeds[$i]}" >"$W/${names[$i]}.out.txt" 2>&1; then
        echo "ok: ${names[$i]}"
    else
        echo "MISMATCH: ${names[$i]}"
        cat "$W/${names[$i]}.out.txt"
        bad=$((bad + 1))
    fi
done
named=0
for j in "${!unit_names[@]}"; do
    i=$((${#names[@]} + j))
    n=${unit_names[$j]}
    # exit status 1 = a status differs somewhere: reply_differences.py decides whether by name
    timeout 60 python3 "$MXFUZZ_ROOT/tools/session-send.py" --units "$W/$n.units.json" --port "${PORTS[$i]}" \
        "${seeds[$i]}" >"$W/$n.out.txt" 2>&1 || true
    [[ -f $W/$n.units.json ]] || { cat "$W/$n.out.txt"; fail "$n: no reply units"; }
    if python3 "$MXFUZZ_ROOT/capture/tests/reply_differences.py" "${seeds[$i]}" "$W/$n.units.json" "$n" \
        >"$W/$n.judged" 2>&1; then
        cat "$W/$n.judged"
    else
        echo "MISMATCH: $n"
        cat "$W/$n.judged" "$W/$n.out.txt"
        bad=$((bad + 1))
        continue
    fi
    k=$(grep -c ": named difference " "$W/$n.judged" || true)
    named=$((named + k))
    # each case shows what it is here for: the ClientHello's close, or the 454 (with the
    # listing libmx leaves out where the captured server listed STARTTLS)
    case $n in
    *hello*) grep -q "named difference clienthello-closed" "$W/$n.judged" || { echo "MISMATCH: $n: no ClientHello close"; bad=$((bad + 1)); } ;;
    smtp-454) grep -q "named difference starttls-listed-454" "$W/$n.judged" || { echo "MISMATCH: $n: listing not named"; bad=$((bad + 1)); } ;;
    smtp-454-unlisted) [[ $k -eq 0 ]] || { echo "MISMATCH: $n: differences where libmx should answer alike"; bad=$((bad + 1)); } ;;
    esac
    case $n in
    smtp-454*) python3 - "$W/$n.units.json" <<'PY' || { echo "MISMATCH: $n: no 454 from the replay"; bad=$((bad + 1)); }
import json, sys
sys.exit(0 if any(p["want"][-1][:3] == "454" and p["got"] and p["got"][-1][:3] == "454"
                  for p in json.load(open(sys.argv[1])) if p["want"]) else 1)
PY
    ;;
    esac
done
# every seed through the starttls target too (tools/starttls-replies: libmx's machine under the
# target's RFC model), its replies set against the recorded ones by reply unit
# (target_replies.py) and judged the same way (the machine gives libmx's texts, not mx-serve's,
# so only statuses and the named differences count)
tnamed=0
for i in "${!all[@]}"; do
    n=${all[$i]}
    "$MXFUZZ_BUILD/tools/starttls-replies" "${seeds[$i]}" >"$W/$n.target" 2>"$W/$n.target.err" ||
        { cat "$W/$n.target.err"; echo "MISMATCH: $n: the starttls target diverges from its model"; bad=$((bad + 1)); continue; }
    python3 "$MXFUZZ_ROOT/capture/tests/target_replies.py" "${seeds[$i]}" "$W/$n.target" "$W/$n.target.json" >/dev/null &&
        python3 "$MXFUZZ_ROOT/capture/tests/reply_differences.py" "${seeds[$i]}" "$W/$n.target.json" "target $n" target \
            >"$W/$n.target.judged" 2>&1 || { echo "MISMATCH: target $n"; cat "$W/$n.target.judged"; bad=$((bad + 1)); continue; }
    tail -n 1 "$W/$n.target.judged"
    tnamed=$((tnamed + $(grep -c ": named difference " "$W/$n.target.judged" || true)))
    case $n in
    *hello*) grep -q "named difference clienthello-closed" "$W/$n.target.judged" ||
        { echo "MISMATCH: target $n: no ClientHello close"; bad=$((bad + 1)); } ;;
    esac
done
echo "imported seeds through mx-serve: ${#names[@]} seeds line by line, ${#unit_names[@]} by reply unit" \
    "($named named difference(s)); all ${#all[@]} through the starttls target ($tnamed named difference(s)); $bad mismatch(es)"
[[ $bad -eq 0 ]]
