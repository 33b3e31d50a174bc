#!/usr/bin/env bash
# Debian's postfix (default and hardened settings) and dovecot, started by live mode with
# private configurations under the build directory, judged on a few hand-written sessions, and
# stopped: afterwards no master of theirs is alive and no port of theirs answers. The behaviour
# checked is documented real behaviour of postfix 3.7:
#  - default settings: a bare-LF line end before "." ends DATA (SMTP smuggling, CVE-2023-51764
#    class): the model reports replies where the message is still open;
#  - smtpd_forbid_bare_newline = yes (hardened): no such finding.
# Needs root and the packages (live/install.sh; `./build.sh test` installs them as root with their
# services kept stopped). Without them it says exactly what is missing and exits 77 (ctest: skipped).
set -uo pipefail
ROOT=${MXFUZZ_ROOT:?} BUILD=${MXFUZZ_BUILD:?}
fail() { echo "FAIL: $*"; exit 1; }
if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: postfix's and dovecot's masters must run as root (live mode starts them as root)"
    exit 77
fi
miss=$("$ROOT/live/install.sh" --check) || { echo "SKIP: $miss (install: live/install.sh)"; exit 77; }
work=$(mktemp -d "$BUILD/live-test.XXXXXX")
chmod 755 "$work"   # postfix and dovecot (their own users) must reach their directories in it
trap 'rm -rf "$work"' EXIT
# terminated: wait for live/live.sh (it stops its servers in its own trap), then remove $work
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
cd "$ROOT" || exit 1
S=(corpus/starttls/smtp-data-smuggling corpus/starttls/smtp-advertise-cert corpus/starttls/imap-capability-cert
   corpus/starttls/pop3-capa-cert corpus/starttls/imap-injection)
"$ROOT/live/live.sh" --build "$BUILD" --dir "$work/run" --servers postfix,postfix-hardened,dovecot "${S[@]}" \
    >"$work/out" 2>&1 || { cat "$work/out"; fail "live/live.sh exited non-zero"; }
# stopped
for pf in "$work/run"/postfix*/spool/pid/master.pid "$work/run"/dovecot/run/master.pid; do
    [[ -f $pf ]] || continue
    pid=$(tr -d ' \n' <"$pf")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && fail "master $pid ($pf) still running after the run"
done
while read -r srv lst p; do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && fail "$srv $lst: port $p still accepts connections"
done <"$work/run/ports"
echo "ok: every server stopped, no port of theirs answers"
verdicts() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for v in r.get("verdicts", []):
        print(r["server"], r["session"].split("/")[-1], v["verdict"], v["detail"][:70], sep=" | ")' "$work/run/results.jsonl"; }
verdicts >"$work/v"
grep -q "^postfix | smtp-data-smuggling | finding | the server answered where the model expects nothing" "$work/v" ||
    { cat "$work/v"; fail "postfix (defaults): the bare-LF DATA end was not reported"; }
echo "ok: postfix defaults: $(grep '^postfix | smtp-data-smuggling | finding' "$work/v")"
grep -q "^postfix-hardened | smtp-data-smuggling | finding | the server answered where" "$work/v" &&
    fail "postfix (smtpd_forbid_bare_newline = yes) still ends DATA at a bare LF"
grep -q "^postfix-hardened | smtp-data-smuggling |" "$work/v" || fail "postfix-hardened judged nothing"
# each server judged at least one session with passes (the listeners worked)
for s in postfix postfix-hardened dovecot; do
    grep -q "^$s | .* | pass |" "$work/v" || { cat "$work/v"; fail "$s: no reply judged"; }
done
echo "ok: postfix-hardened: no bare-LF DATA end; dovecot judged"
