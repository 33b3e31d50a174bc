#!/usr/bin/env bash
# live/live.sh - live mode (./build.sh live runs it after building live-judge and mx-serve):
# starts mx-serve, postfix (Debian's defaults and hardened) and dovecot on loopback with private
# configurations under DIR, replays sessions to all of them, judges the replies with the RFC model,
# writes DIR/report.txt and DIR/report.html, and stops every server (also on Ctrl-C).
#
#   live/live.sh --build BUILD [--dir DIR] [--quick] [--servers LIST] [--mx-serve BIN] [--jobs N]
#                [SESSION-OR-DIR...]
#     --build      the test build (live/live-judge, tools/mx-serve)
#     --dir        default BUILD/../live (build/live)
#     --quick      only the hand-written sessions and the reproducers (the default set adds the
#                  whole corpus/starttls and corpus/imap)
#     --servers    a subset of: mx-serve postfix postfix-hardened dovecot (default: all)
#     --mx-serve   another mx-serve binary (a patched build: live/tests/)
#     --fuzz       black-box mutation: not available yet (needs the session-aware mutator)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="" DIR="" QUICK=0 SERVERS="mx-serve postfix postfix-hardened dovecot" MXSERVE="" JOBS=6 PATHS=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=${2:?}; shift 2 ;;
    --dir) DIR=${2:?}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --servers) SERVERS=${2:?}; SERVERS=${SERVERS//,/ }; shift 2 ;;
    --mx-serve) MXSERVE=${2:?}; shift 2 ;;
    --jobs) JOBS=${2:?}; shift 2 ;;
    --fuzz | --time)
        echo "live: --fuzz needs the session-aware mutator (targets/harness/mutator.*, branch mutator), which has not landed" >&2
        exit 2 ;;
    -*) echo "live: unknown option $1" >&2; exit 2 ;;
    *) PATHS+=("$1"); shift ;;
    esac
done
[[ -n $BUILD ]] || { echo "live: --build BUILD is required" >&2; exit 2; }
DIR=${DIR:-$(dirname "$BUILD")/live}
JUDGE=$BUILD/live/live-judge
MXSERVE=${MXSERVE:-$BUILD/tools/mx-serve}
for s in $SERVERS; do
    case $s in mx-serve | postfix | postfix-hardened | dovecot) ;; *) echo "live: no server '$s' (mx-serve postfix postfix-hardened dovecot)" >&2; exit 2 ;; esac
done
[[ -x $JUDGE ]] || { echo "live: no $JUDGE (build it: ./build.sh build test live-judge)" >&2; exit 2; }

# the real servers need their Debian packages and root (their masters drop privileges)
if [[ " $SERVERS " == *" postfix"* || " $SERVERS " == *" dovecot "* ]]; then
    "$ROOT/live/install.sh" || exit $?
fi

if [[ ${#PATHS[@]} -eq 0 ]]; then
    # the hand-written sessions (corpus files named after corpus/sessions/*/*.txt) and every
    # reproducer of the session-format targets
    for t in "$ROOT"/corpus/sessions/*/*.txt; do
        f="$ROOT/corpus/$(basename "$(dirname "$t")")/$(basename "$t" .txt)"
        [[ -f $f ]] && PATHS+=("$f")
    done
    for d in starttls imap imap_dovecot; do
        for f in "$ROOT"/repro/$d/*; do
            [[ -f $f && $f != *.txt && $f != *.md ]] && PATHS+=("$f")
        done
    done
    if [[ $QUICK -eq 0 ]]; then
        PATHS+=("$ROOT/corpus/starttls" "$ROOT/corpus/imap")
    fi
fi

source "$ROOT/live/servers.sh"
rm -rf "$DIR"
live_servers_init "$DIR"
started=()
for s in $SERVERS; do
    case $s in
    mx-serve) live_start_mxserve "$MXSERVE" ;;
    postfix) live_start_postfix postfix ;;
    # the hardening settings postfix 3.7.11 has: SMTP smuggling (CVE-2023-51764) and
    # unauthorized pipelining; HELO required; the exclusions default to $mynetworks, which
    # holds the loopback client, so they are emptied
    postfix-hardened) live_start_postfix postfix-hardened "smtpd_forbid_bare_newline = yes" \
        "smtpd_forbid_bare_newline_exclusions =" "smtpd_forbid_unauth_pipelining = yes" \
        "smtpd_helo_required = yes" ;;
    dovecot) live_start_dovecot dovecot ;;
    esac
    started+=("$s")
done
echo "live: started ${started[*]} (ports in ${DIR#"$ROOT"/}/ports)"
# a file of session paths can be long: dedup while keeping the order
mapfile -t PATHS < <(printf '%s\n' "${PATHS[@]}" | awk '!seen[$0]++')
rc=0
joined=$(IFS=,; echo "${started[*]}")
python3 "$ROOT/live/run.py" --dir "$DIR" --judge "$JUDGE" --jobs "$JOBS" --servers "$joined" "${PATHS[@]}" || rc=$?
live_stop_all || rc=1
echo "live: every server stopped"
trap - EXIT INT TERM
[[ $rc -eq 0 ]] || exit $rc
python3 "$ROOT/live/report.py" --dir "$DIR" >"$DIR/report.stdout"
head -c 20000 "$DIR/report.txt"
echo "live: report in ${DIR#"$ROOT"/}/report.txt and ${DIR#"$ROOT"/}/report.html"
