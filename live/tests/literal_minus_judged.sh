#!/usr/bin/env bash
# Live mode honours the session header's literal mode (format v3 flags bit 2: the listener
# advertises LITERAL-, RFC 7888 4: a {N+} over 4096 octets is refused with a tagged BAD): such a
# session is replayed only on mx-serve's literal-minus listeners (live/servers.sh LIVE_LMINUS:
# imap-lminus, imaps-lminus) and judged in that mode (live-judge, both judges).
#  - An IMAP reader's session in LITERAL- (CAPABILITY, APPEND INBOX {5000+} with its 5000 octets,
#    smuggled LOGOUTs among them, then NOOP) goes to imaps-lminus; the real mx-serve refuses the
#    APPEND (BAD [TOOBIG]) and drops the octets: no finding, the refusal a pass of RFC 7888 4.
#    The same session in LITERAL+ goes to imaps, where the 5000 octets are data: no finding.
#    corpus/starttls/imap-literal-minus (the pre-login machine) goes to imap-lminus: no finding.
#  - mx-serve rebuilt with bench/bugs/literal-minus-nonsync-accepted.patch (libmx's reader takes
#    a {N+} of any size as data whatever the listener's mode; bench/variant.py, as
#    planted_divergence_found.sh does): a finding of RFC 7888 4's LITERAL- rule on the LITERAL-
#    reader session, none on the LITERAL+ one.
#  - The real server's replies with LITERAL+ advertised in place of LITERAL- are n.a. (the
#    listener is not the session's; both judges, without a server), and on a server without a
#    literal-minus listener (dovecot, postfix) such a session is n.a. with that reason, never
#    judged under LITERAL+.
# Afterwards no mx-serve of the run may be alive and none of its ports may accept a connection.
# Needs no root: mx-serve only.
set -uo pipefail
ROOT=${MXFUZZ_ROOT:?} BUILD=${MXFUZZ_BUILD:?}
JUDGE=$BUILD/live/live-judge
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# terminated: wait for live/live.sh (it stops its servers in its own trap), then remove $work
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
. "$ROOT/live/tests/testlib.sh"
[[ -x $JUDGE ]] || fail "no $JUDGE (build first)"
cd "$ROOT" || exit 1
MINUS=$work/imap-reader-lminus-5000 PLUS=$work/imap-reader-lplus-5000
S=("$MINUS" "$PLUS" corpus/starttls/imap-literal-minus)
# the reader's sessions: corpus/imap/literal_minus's header (version 3, LITERAL-) and the same
# with bit 2 clear (LITERAL+); the {5000+} is over LITERAL-'s 4096 octets and far within
# mx-serve's --max-message (32 MiB), so only the literal mode decides
python3 -B - "$MINUS" "$PLUS" <<'EOF' || fail "writing the sessions"
import sys
sys.path.insert(0, "tools")
import mxsession
s = mxsession.parse(open("corpus/imap/literal_minus", "rb").read())
assert s.version >= mxsession.VERSION_LITERAL and s.literal_minus
octets, i = b"", 0
while len(octets) < 5000:  # filler lines, a smuggled LOGOUT every eighth
    octets += b"x LOGOUT\r\n" if i % 8 == 0 else b"A" * 62 + b"\r\n"
    i += 1
s.events = [("C", b"a0 CAPABILITY\r\n"), ("C", b"a1 APPEND INBOX {5000+}\r\n" + octets[:5000] + b"\r\n"),
            ("C", b"a2 NOOP\r\n")]
open(sys.argv[1], "wb").write(mxsession.encode(s))
s.flags &= ~mxsession.FLAG_LITERAL_MINUS
open(sys.argv[2], "wb").write(mxsession.encode(s))
assert mxsession.parse(open(sys.argv[1], "rb").read()).literal_minus
assert not mxsession.parse(open(sys.argv[2], "rb").read()).literal_minus
EOF

# run NAME BINARY: live mode with mx-serve only; its report and results in $work/NAME
run() {
    "$ROOT/live/live.sh" --build "$BUILD" --dir "$work/$1" --servers mx-serve --mx-serve "$2" "${S[@]}" \
        >"$work/$1.out" 2>&1 || { cat "$work/$1.out"; fail "live/live.sh ($1) exited non-zero"; }
    live_assert_stopped "$1"
    grep -qE "^mx-serve imaps-lminus [0-9]+$" "$work/$1/ports" && grep -qE "^mx-serve imap-lminus [0-9]+$" "$work/$1/ports" ||
        { cat "$work/$1/ports"; fail "$1: no imap-lminus / imaps-lminus listener in DIR/ports"; }
}
# verdicts NAME: "session listener verdict | rule" per verdict of the run
verdicts() { python3 -c '
import json, os, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for v in r.get("verdicts", []) or [{"verdict": "none", "rule": r.get("na") or r.get("error", "")}]:
        print(os.path.basename(r["session"]), r["listener"], v["verdict"], "|", v["rule"])' "$work/$1/results.jsonl"; }

run real "$BUILD/tools/mx-serve"
verdicts real >"$work/real.verdicts"
grep " finding |" "$work/real.verdicts" && fail "the real mx-serve has a finding on the literal-mode sessions"
for want in "imap-reader-lminus-5000 imaps-lminus" "imap-reader-lplus-5000 imaps " "imap-literal-minus imap-lminus"; do
    grep -q "^$want" "$work/real.verdicts" || { cat "$work/real.verdicts"; fail "not replayed as '$want'"; }
done
judged=$(grep -c '"verdicts"' "$work/real/results.jsonl")
[[ $judged -eq ${#S[@]} ]] || { cat "$work/real.verdicts"; fail "only $judged of ${#S[@]} sessions judged on the real mx-serve"; }
grep -q "^imap-reader-lminus-5000 imaps-lminus pass | RFC 7888 4: LITERAL- refuses" "$work/real.verdicts" ||
    { cat "$work/real.verdicts"; fail "the refused {5000+} is not judged a pass of RFC 7888 4 (LITERAL-)"; }
grep " na |\| none |" "$work/real.verdicts" && fail "a session was n.a. on the real mx-serve"
echo "ok: real mx-serve: LITERAL- sessions on imaps-lminus / imap-lminus, LITERAL+ on imaps; no finding; {5000+} refused: $(grep -c "RFC 7888 4: LITERAL- refuses" "$work/real.verdicts") pass(es) of RFC 7888 4"

# the real server's replies to the LITERAL- reader's session with LITERAL+ advertised instead
python3 -B - "$work/real/results.jsonl" "$work/plus-advertised" <<'EOF' || fail "writing the transcript"
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["session"].endswith("imap-reader-lminus-5000"):
        n = 0
        with open(sys.argv[2], "w") as f:
            for k, v in r["transcript"]:
                if k == "S":
                    n += v.count("LITERAL-")
                    v = v.replace("LITERAL-", "LITERAL+")
                f.write("%s %s\n" % (k, v.encode("latin-1").hex() or "-") if k in ("C", "S") else "%s %s\n" % (k, v))
        sys.exit(0 if n else "no LITERAL- advertised in the transcript")
sys.exit("no imap-reader-lminus-5000 result")
EOF
# a server whose limits are guesses (not mx-serve's): n.a.; mx-serve's (--limits-exact, as
# live/run.py passes for it): its listener is configured LITERAL-, so advertising LITERAL+ is a finding
"$JUDGE" --imap-auth --max-line 1024 --max-message 33554432 "$MINUS" "$work/plus-advertised" >"$work/plus-advertised.out" ||
    fail "live-judge exited non-zero"
grep -qP "^na\tRFC 7888 4: a listener advertises LITERAL\+ or LITERAL-[^\t]*\tLITERAL-\tLITERAL\+\t" "$work/plus-advertised.out" ||
    { cat "$work/plus-advertised.out"; fail "LITERAL+ advertised to a LITERAL- session is not n.a."; }
grep -q "^finding" "$work/plus-advertised.out" && { cat "$work/plus-advertised.out"; fail "LITERAL+ advertised: a finding"; }
"$JUDGE" --imap-auth --limits-exact --max-line 1024 --max-message 33554432 "$MINUS" "$work/plus-advertised" >"$work/plus-exact.out" ||
    fail "live-judge exited non-zero"
grep -qP "^finding\tRFC 7888 4: a listener advertises LITERAL\+ or LITERAL-[^\t]*\tLITERAL-\tLITERAL\+\t" "$work/plus-exact.out" ||
    { cat "$work/plus-exact.out"; fail "LITERAL+ advertised by a listener configured LITERAL- (--limits-exact) is not a finding"; }
echo "ok: the same replies with LITERAL+ advertised: n.a. (the listener is not the session's), with exact limits a finding"

# the pre-login machine's judge (live/judge.c) likewise: corpus/starttls/imap-literal-minus's
# recorded replies are judged without n.a.; with LITERAL+ in their CAPABILITY line, n.a.
for mode in recorded swapped; do
    python3 -B - corpus/starttls/imap-literal-minus "$work/starttls.$mode" "$mode" <<'EOF' || fail "writing the transcript"
import sys
sys.path.insert(0, "tools")
import mxsession
s = mxsession.parse(open(sys.argv[1], "rb").read())
n = 0
with open(sys.argv[2], "w") as f:
    for k, b in s.events:
        if sys.argv[3] == "swapped" and k == "S":
            n += b.count(b"LITERAL-")
            b = b.replace(b"LITERAL-", b"LITERAL+")
        if k in ("C", "S"):
            f.write("%s %s\n" % (k, b.hex()))
    f.write("X\n")
sys.exit("no LITERAL- advertised in the session" if sys.argv[3] == "swapped" and not n else 0)
EOF
    "$JUDGE" corpus/starttls/imap-literal-minus "$work/starttls.$mode" >"$work/starttls.$mode.out" || fail "live-judge exited non-zero"
done
grep -q "^finding\|^na" "$work/starttls.recorded.out" && { cat "$work/starttls.recorded.out"; fail "imap-literal-minus's recorded replies: a finding or n.a."; }
grep -qP "^na\tRFC 7888 4: a listener advertises LITERAL\+ or LITERAL-[^\t]*\tLITERAL-\tLITERAL\+\t" "$work/starttls.swapped.out" ||
    { cat "$work/starttls.swapped.out"; fail "imap-literal-minus with LITERAL+ advertised is not n.a."; }
echo "ok: corpus/starttls/imap-literal-minus: recorded replies judged, with LITERAL+ advertised n.a."

# a server without a literal-minus listener: n.a., with the reason (live/run.py, no replay)
python3 -B - "$MINUS" <<'EOF' || fail "a LITERAL- session on a server without a literal-minus listener"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("run", "live/run.py")
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)
for srv in ("dovecot", "postfix"):
    rec = run.one(None, {(srv, "imaps"): 1, (srv, "imap"): 2, (srv, "smtp"): 3}, sys.argv[1], srv)
    assert rec["listener"] == "imaps-lminus" and "LITERAL-" in rec.get("na", "") and "verdicts" not in rec, rec
    print("ok: %s: n.a. (%s)" % (srv, rec["na"]))
EOF

# planted NAME BUG: mx-serve built with bench/bugs/BUG.patch (bench/variant.py, as the bench
# does), live mode on it as run NAME, its verdicts in $work/NAME.verdicts
planted() {
    python3 "$ROOT/bench/variant.py" replay --root "$ROOT" --build "$BUILD" --jobs 2 \
        --patch "$ROOT/bench/bugs/$2.patch" --target mx-serve --out "$work/bin-$1" \
        >"$work/$1.build" 2>&1 || { cat "$work/$1.build"; fail "building mx-serve with $2 failed"; }
    run "$1" "$work/bin-$1/mx-serve"
    verdicts "$1" >"$work/$1.verdicts"
}

planted planted literal-minus-nonsync-accepted
grep -q "^imap-reader-lminus-5000 imaps-lminus finding | RFC 7888 4: LITERAL- refuses" "$work/planted.verdicts" ||
    { cat "$work/planted.verdicts"; fail "literal-minus-nonsync-accepted: no finding of RFC 7888 4 (LITERAL-) on the patched mx-serve"; }
grep "^imap-reader-lplus-5000 .* finding |" "$work/planted.verdicts" &&
    fail "literal-minus-nonsync-accepted: a finding on the LITERAL+ session (the patch changes only LITERAL-)"
echo "ok: literal-minus-nonsync-accepted planted in mx-serve: found ($(grep -m1 " finding |" "$work/planted.verdicts"))"

# literal-plus-always: mx-serve ignores the literal-minus option (every listener LITERAL+ and
# advertises it): the LITERAL- sessions' listener advertises the wrong mode, a finding
planted plus literal-plus-always
grep -q "^imap-reader-lminus-5000 imaps-lminus finding | RFC 7888 4: a listener advertises LITERAL+ or LITERAL-" "$work/plus.verdicts" ||
    { cat "$work/plus.verdicts"; fail "literal-plus-always: no finding of the literal mode on the patched mx-serve"; }
echo "ok: literal-plus-always planted in mx-serve: found ($(grep -m1 "^imap-reader-lminus-5000 .* finding |" "$work/plus.verdicts"))"
