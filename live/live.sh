#!/usr/bin/env bash
# live/live.sh - live mode (./build.sh live runs it after building live-judge and mx-serve):
# starts mx-serve, postfix (Debian's defaults and hardened) and dovecot on loopback with private
# configurations under DIR, replays sessions to all of them, judges the replies with the RFC model,
# writes DIR/report.txt and DIR/report.html, and stops every server (also on Ctrl-C).
#
#   live/live.sh --build BUILD [--dir DIR] [--quick] [--servers LIST] [--mx-serve BIN] [--jobs N]
#                [--fuzz [--time S] [--count N] [--seed K] [--feedback F] [--until RULE]] [SESSION-OR-DIR...]
#     --build      the test build (live/live-judge, tools/mx-serve)
#     --dir        default BUILD/../live (build/live)
#     --quick      only the hand-written sessions and the reproducers (the default set adds the
#                  whole corpus/starttls and corpus/imap)
#     --servers    a subset of: mx-serve postfix postfix-hardened dovecot (default: all)
#     --mx-serve   another mx-serve binary (a patched build: live/tests/)
#     --fuzz       black-box mutation (live/fuzz.py) instead of the replay: the sessions are the
#                  seeds, mutated with tools/session-mutate (the session-aware mutator), kept when
#                  a server answers with a new reply-class sequence; --time S seconds (default 60),
#                  at most --count N replays (default 5000), --seed K (default 1); --feedback
#                  bigram (default: new reply-class bigrams or rule verdicts) or sequence (a new
#                  whole class sequence); --until RULE: stop mutating at the first finding of RULE;
#                  --min-budget N / --min-seconds S: the minimizer's bounds per finding (150, 120)
#
# Every finding is minimized (live/minimize.py) against the running server to
# DIR/minimal/SERVER-HASH, which this script keeps across runs (everything else in DIR is
# renewed), so that the report's one-line replay, ./build.sh live --servers SERVER FILE, works
# against freshly started servers.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="" DIR="" QUICK=0 SERVERS="mx-serve postfix postfix-hardened dovecot" MXSERVE="" JOBS=6 PATHS=()
FUZZ=0 FUZZ_OPTS=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) BUILD=${2:?}; shift 2 ;;
    --dir) DIR=${2:?}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --servers) SERVERS=${2:?}; SERVERS=${SERVERS//,/ }; shift 2 ;;
    --mx-serve) MXSERVE=${2:?}; shift 2 ;;
    --jobs) JOBS=${2:?}; shift 2 ;;
    --fuzz) FUZZ=1; shift ;;
    --time | --count | --seed | --min-budget | --min-seconds)
        [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "live: $1 wants a whole number, not '${2:-}'" >&2; exit 2; }
        FUZZ_OPTS+=("$1" "$2"); shift 2 ;;
    --feedback)
        [[ ${2:-} == bigram || ${2:-} == sequence ]] || { echo "live: --feedback is bigram or sequence, not '${2:-}'" >&2; exit 2; }
        FUZZ_OPTS+=("$1" "$2"); shift 2 ;;
    --until)
        [[ -n ${2:-} ]] || { echo "live: --until wants a rule (a part of its name)" >&2; exit 2; }
        FUZZ_OPTS+=("$1" "$2"); shift 2 ;;
    -*) echo "live: unknown option $1" >&2; exit 2 ;;
    *) PATHS+=("$1"); shift ;;
    esac
done
[[ -n $BUILD ]] || { echo "live: --build BUILD is required" >&2; exit 2; }
[[ $FUZZ -eq 1 || ${#FUZZ_OPTS[@]} -eq 0 ]] || { echo "live: ${FUZZ_OPTS[0]} is an option of --fuzz" >&2; exit 2; }
DIR=${DIR:-$(dirname "$BUILD")/live}
JUDGE=$BUILD/live/live-judge
# another mx-serve (a patched build): the replay commands of the findings name it
REPLAY_OPTS=()
[[ -z $MXSERVE ]] || REPLAY_OPTS=(--mx-serve "$MXSERVE")
MXSERVE=${MXSERVE:-$BUILD/tools/mx-serve}
for s in $SERVERS; do
    case $s in mx-serve | postfix | postfix-hardened | dovecot) ;; *) echo "live: no server '$s' (mx-serve postfix postfix-hardened dovecot)" >&2; exit 2 ;; esac
done
MUTATE=$BUILD/tools/session-mutate
[[ -x $JUDGE ]] || { echo "live: no $JUDGE (build it: ./build.sh build test live-judge)" >&2; exit 2; }
[[ $FUZZ -eq 0 || -x $MUTATE ]] || { echo "live: no $MUTATE (build it: ./build.sh build test session-mutate)" >&2; exit 2; }

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
# a fresh directory, but the minimal sessions of earlier runs stay (their replay commands name them)
if [[ -d $DIR ]]; then
    find "$DIR" -mindepth 1 -maxdepth 1 ! -name minimal -exec rm -rf {} +
fi
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
if [[ $FUZZ -eq 1 ]]; then
    # the minimizer runs inside, while the servers are still up
    nice -n 10 python3 "$ROOT/live/fuzz.py" --dir "$DIR" --judge "$JUDGE" --mutate "$MUTATE" --jobs "$JOBS" \
        --servers "$joined" "${REPLAY_OPTS[@]}" "${FUZZ_OPTS[@]}" "${PATHS[@]}" || rc=$?
else
    python3 "$ROOT/live/run.py" --dir "$DIR" --judge "$JUDGE" --jobs "$JOBS" --servers "$joined" "${PATHS[@]}" || rc=$?
    [[ $rc -ne 0 ]] || python3 "$ROOT/live/minimize.py" --dir "$DIR" --judge "$JUDGE" --jobs "$JOBS" "${REPLAY_OPTS[@]}" || rc=$?
fi
live_stop_all || rc=1
echo "live: every server stopped"
trap - EXIT INT TERM HUP
[[ $rc -eq 0 ]] || exit $rc
python3 "$ROOT/live/report.py" --dir "$DIR" >"$DIR/report.stdout"
head -c 20000 "$DIR/report.txt"
echo "live: report in ${DIR#"$ROOT"/}/report.txt and ${DIR#"$ROOT"/}/report.html"
