#!/usr/bin/env bash
# live-judge honours the session header's tls-unavailable (format v3 flags bit 3: a certificate
# is bound but cannot be used), as the starttls model and mx-serve's tls-unavailable listener
# do. For corpus/starttls/{smtp,imap,pop3}-tls-unavailable:
#  - the recorded replies (STARTTLS/STLS not listed; 454, BAD, -ERR to it: RFC 3207 4,
#    RFC 3501 6.2.1, RFC 2595 4) are judged without a finding, the refusal as a pass;
#  - the same replies with STARTTLS/STLS listed in the capabilities are a finding (a server
#    that cannot start TLS must not offer it).
# The end-to-end replay of these sessions on mx-serve's *-tlsdown listeners is in
# planted_divergence_found.sh. Needs no server.
set -uo pipefail
ROOT=${MXFUZZ_ROOT:?} BUILD=${MXFUZZ_BUILD:?}
JUDGE=$BUILD/live/live-judge
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[[ -x $JUDGE ]] || fail "no $JUDGE (build first)"

# transcript SESSION OUT [offer]: the session's recorded client writes and server replies as a
# tools/session-send.py transcript; "offer": STARTTLS/STLS added to the capability reply
transcript() {
    python3 -B - "$ROOT" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1] + "/tools")
import mxsession
s = mxsession.parse(open(sys.argv[2], "rb").read())
offer = len(sys.argv) > 4
added = 0
with open(sys.argv[3], "w") as f:
    for k, b in s.events:
        if offer and k == "S":
            for old, new in ((b"250 ENHANCEDSTATUSCODES\r\n", b"250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n"),
                             (b"* CAPABILITY IMAP4rev1 ", b"* CAPABILITY IMAP4rev1 STARTTLS "),
                             (b"USER\r\nPIPELINING\r\n", b"USER\r\nSTLS\r\nPIPELINING\r\n")):
                if old in b:
                    b = b.replace(old, new)
                    added += 1
        if k in ("C", "S"):
            f.write("%s %s\n" % (k, b.hex()))
    f.write("X\n")
if offer and added != 1:
    sys.exit("no capability reply to add STARTTLS to in " + sys.argv[2])
EOF
}

for p in smtp imap pop3; do
    s=$ROOT/corpus/starttls/$p-tls-unavailable
    [[ -f $s ]] || fail "no $s"
    transcript "$s" "$work/$p.recorded" || fail "$p: transcript"
    "$JUDGE" "$s" "$work/$p.recorded" >"$work/$p.out" || fail "$p: live-judge exited non-zero"
    grep -q "^finding" "$work/$p.out" && { cat "$work/$p.out"; fail "$p: the replies of a server without usable TLS judged a finding"; }
    word=STARTTLS
    [[ $p == pop3 ]] && word=STLS
    grep -qP "^pass\t[^\t]*$word[^\t]*\trefused[^\t]*\trefused\t" "$work/$p.out" ||
        { cat "$work/$p.out"; fail "$p: the refused $word is not judged a pass"; }
    echo "ok: $p: TLS unavailable, $word refused: $(grep -c '^pass' "$work/$p.out") pass(es), no finding"

    transcript "$s" "$work/$p.offered" offer || fail "$p: offering transcript"
    "$JUDGE" "$s" "$work/$p.offered" >"$work/$p.offered.out" || fail "$p: live-judge exited non-zero"
    grep -qP "^finding\t.*listed where it cannot be offered" "$work/$p.offered.out" ||
        { cat "$work/$p.offered.out"; fail "$p: $word listed by a server without usable TLS is not a finding"; }
    echo "ok: $p: $word listed although TLS is unavailable: a finding"
done
