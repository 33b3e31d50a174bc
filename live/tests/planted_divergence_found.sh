#!/usr/bin/env bash
# Live mode finds a divergence planted in a real server, and stops what it started.
# mx-serve is rebuilt with two re-injected bugs of bench/bugs (bench/variant.py, as the bench
# does: a scratch copy of src/ with the patch, only the touched objects recompiled, relinked):
#  - q237327-advertise: EHLO lists STARTTLS on a listener without a certificate (KB Q237327);
#  - cve-2011-0411-injection: plaintext pipelined behind STARTTLS is kept, not purged;
#  - literal-continuation: after login, "+" to a synchronizing literal over the limit (libmx's
#    IMAP reader; an IMAP reader's session, judged by the IMAP model: live-judge --imap-auth).
# The sessions recorded with TLS unavailable (format v3 flags bit 3) go to mx-serve's *-tlsdown
# listeners (tls-unavailable option) and are judged there without a finding.
# live/live.sh replays the same hand-written sessions to the real mx-serve and to each patched
# one over loopback (real TLS), and the RFC model must report a finding of that bug's rule on
# the patched server and none on the real one. Afterwards no mx-serve of the run may be alive
# and none of its ports may accept a connection. Needs no root: mx-serve only.
set -uo pipefail
ROOT=${MXFUZZ_ROOT:?} BUILD=${MXFUZZ_BUILD:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# terminated: wait for live/live.sh (it stops its servers in its own trap), then remove $work
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
. "$ROOT/live/tests/testlib.sh"
S=(corpus/starttls/smtp-advertise-nocert corpus/starttls/smtp-injection corpus/starttls/pop3-injection
   corpus/starttls/imap-injection corpus/starttls/smtp-state-reset "$work/imap-reader-over-limit"
   corpus/starttls/smtp-tls-unavailable corpus/starttls/imap-tls-unavailable corpus/starttls/pop3-tls-unavailable)
cd "$ROOT" || exit 1
# an APPEND of a synchronizing literal over mx-serve's --max-message (32 MiB), then a NOOP
python3 -B - "$work/imap-reader-over-limit" <<'EOF'
import sys
sys.path.insert(0, "tools")
import mxsession
s = mxsession.parse(open("corpus/imap/oversized_sync", "rb").read())
s.events = [("C", b"a1 APPEND INBOX {40000000}\r\n"), ("C", b"a2 NOOP\r\n")]
open(sys.argv[1], "wb").write(mxsession.encode(s))
EOF

# run NAME BINARY: live mode with mx-serve only; its report and results in $work/NAME
run() {
    "$ROOT/live/live.sh" --build "$BUILD" --dir "$work/$1" --servers mx-serve --mx-serve "$2" "${S[@]}" \
        >"$work/$1.out" 2>&1 || { cat "$work/$1.out"; fail "live/live.sh ($1) exited non-zero"; }
    live_assert_stopped "$1"
    [[ -s $work/$1/report.html ]] || fail "$1: no report.html"
}
findings() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for v in r.get("verdicts", []):
        if v["verdict"] == "finding":
            print(r["session"], "|", v["rule"])' "$work/$1/results.jsonl"; }

run real "$BUILD/tools/mx-serve"
findings real >"$work/real.findings"
n=$(wc -l <"$work/real.findings")
[[ $n -eq 0 ]] || { cat "$work/real.findings"; fail "the real mx-serve has $n finding(s) on the hand-written sessions"; }
judged=$(grep -c '"verdicts"' "$work/real/results.jsonl")
[[ $judged -eq ${#S[@]} ]] || fail "only $judged of ${#S[@]} sessions judged on the real mx-serve"
echo "ok: real mx-serve: ${#S[@]} sessions judged, no finding"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["session"].endswith("-tls-unavailable"):
        print(r["session"], r["listener"])' "$work/real/results.jsonl" >"$work/tlsdown"
[[ $(grep -cE -- "-tls-unavailable (smtp|imap|pop3)-tlsdown$" "$work/tlsdown") -eq 3 ]] ||
    { cat "$work/tlsdown"; fail "the tls-unavailable sessions were not replayed on the *-tlsdown listeners"; }
echo "ok: the 3 tls-unavailable sessions replayed on mx-serve's *-tlsdown listeners"

for bug in q237327-advertise:Q237327 cve-2011-0411-injection:CVE-2011-0411 literal-continuation:TOOBIG; do
    name=${bug%%:*} rule=${bug#*:}
    python3 "$ROOT/bench/variant.py" replay --root "$ROOT" --build "$BUILD" --jobs 1 \
        --patch "$ROOT/bench/bugs/$name.patch" --target mx-serve --out "$work/bin-$name" >"$work/$name.build" 2>&1 ||
        { cat "$work/$name.build"; fail "building mx-serve with $name failed"; }
    run "$name" "$work/bin-$name/mx-serve"
    # into a file first: under pipefail, grep -q's early exit would fail the pipeline (SIGPIPE)
    findings "$name" >"$work/$name.findings"
    grep -q "| .*$rule" "$work/$name.findings" || { cat "$work/$name.findings"; fail "$name: no finding of rule $rule on the patched mx-serve"; }
    echo "ok: $name planted in mx-serve: found ($(grep -m1 "| .*$rule" "$work/$name.findings"))"
done
