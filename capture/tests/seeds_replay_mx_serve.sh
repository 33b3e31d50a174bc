#!/usr/bin/env bash
# Imported seeds replay what happened: crafted captures of servers that refuse STARTTLS, do not
# offer it, offer it without being asked (capture/tests/pcapng_craft.py) are imported with
# pcap-import, then sent to mx-serve by tools/session-send.py --compare on a listener configured
# as each seed's header says (mode, certificate bound or not): the replies mx-serve gives must
# carry the statuses of the captured server's replies, in order. A seed whose header claimed
# STARTTLS because the client sent the command (the old guess) makes mx-serve answer 220 where
# the captured server answered 502 / BAD / -ERR, and fails here.
# (No EHLO in these conversations: session-send compares line by line and mx-serve's EHLO has
# its own line count; the EHLO listing itself is checked by listener_facts.py.)
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
}
for k, (name, (port, writes)) in enumerate(cases.items()):
    write_pcapng(os.path.join(w, name + ".pcapng"), [conv(port, writes, client_port=43000 + k)])
PY
names=(smtp-refused imap-refused pop3-refused imap-offered)
serve_ports ${#names[@]}
: >"$W/serve.conf"
seeds=()
for i in "${!names[@]}"; do
    n=${names[$i]}
    "$IMPORTER" --out "$W/$n.out" "$W/$n.pcapng" >"$W/$n.import" 2>&1 || { cat "$W/$n.import"; fail "$n: import"; }
    f=$(ls "$W/$n.out/starttls/"* | head -1)
    seeds+=("$f")
    txt=$("$MXFUZZ_BUILD/tools/mxsession" decode "$f")
    proto=$(sed -n 's/^proto //p' <<<"$txt")
    mode=$(sed -n 's/^mode //p' <<<"$txt")
    [[ $mode == plaintext ]] && mode=plain
    echo "listen 127.0.0.1 ${PORTS[$i]} $mode $proto" >>"$W/serve.conf"
    grep -qx 'cert yes' <<<"$txt" && echo "cert test 127.0.0.1 ${PORTS[$i]}" >>"$W/serve.conf"
    echo "$n: $(grep -E '^(mode|cert)' <<<"$txt" | tr '\n' ' ')"
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
echo "imported seeds through mx-serve: ${#names[@]} seeds, $bad mismatch(es)"
[[ $bad -eq 0 ]]
