#!/usr/bin/env bash
# Every shipped capture (corpus/captures/*.pcapng: real postfix and dovecot sessions) and every
# seed the repository ships from it replays what happened (issue 16):
#  1. pcap-import with the capture's key log writes exactly the seeds shipped in corpus/<target>/;
#  2. each seed's header says what tshark's ground truth of the capture shows the server did
#     (greeting or TLS first, STARTTLS/STLS listed, asked, TLS up, TLS required, LITERAL-): read
#     by capture/tests/shipped_captures.py from truth/, not through the importer;
#  3. each seed is sent (tools/session-send.py --units) to a fresh mx-serve started with the
#     capture's facts: the listener its header gives (testlib.sh session_listener), the logins
#     and recipients the captured server accepted (-u, --domain), the POP3 maildrop its LIST and
#     RETR showed (delivered beforehand); every reply unit must carry the captured status (SMTP
#     code, +OK/-ERR, IMAP tagged OK/NO/BAD, "+", TLS up where it came up), the header's facts
#     in capability lists must agree, and every other difference is named (banner, extensions,
#     logindisabled, untagged, mailbox, text: shipped_captures.py's docstring says why each is
#     legitimate) -- anything else fails;
#  4. each seed also runs through the starttls target's run engine (tools/starttls-replies: libmx's
#     machine checked against the RFC model, a divergence fails) and the target's replies are set
#     against the recorded ones by reply unit (target_replies.py), judged as in 3 plus the two
#     names of the target's scope (past-login, maildrop-commands: shipped_captures.py);
#  5. planted misreadings -- a seed whose header gets one fact wrong -- must fail the facts
#     check, the replay through mx-serve and the one through the target, so the test shows it
#     can fail.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
CAPS=$MXFUZZ_ROOT/corpus/captures
IMPORTER=$MXFUZZ_BUILD/tools/pcap-import
helper() { python3 "$MXFUZZ_ROOT/capture/tests/shipped_captures.py" "$@"; }

# through_target TAG SEED: the seed through the starttls target's engine, its replies set against
# the recorded ones into $W/target-TAG.json (appended to tspecs); a model divergence fails
tspecs=()
through_target() {
    "$MXFUZZ_BUILD/tools/starttls-replies" "$2" >"$W/target-$1.ans" 2>"$W/target-$1.err" ||
        { cat "$W/target-$1.err"; echo "FAIL: $1: the starttls target diverges from its model"; bad=$((bad + 1)); return 0; }
    python3 "$MXFUZZ_ROOT/capture/tests/target_replies.py" "$2" "$W/target-$1.ans" "$W/target-$1.json" >/dev/null ||
        { echo "FAIL: $1: no reply units from the target"; bad=$((bad + 1)); return 0; }
    tspecs+=("$2:$W/target-$1.json")
}

# writes $W/serve.conf from PORTS for $SEED (serve_start_ports' writer): the seed's listener,
# and a plain SMTP listener to deliver the POP3 maildrop through
seed_conf() {
    { session_listener "$SEED" "${PORTS[0]}"; echo "listen 127.0.0.1 ${PORTS[1]} plain smtp"; } >"$W/serve.conf"
}

# replay TAG SEED: a fresh mx-serve started with the seed's facts ($W/TAG.args, the listener
# from its header), the POP3 maildrop delivered, the seed sent by reply unit into $W/TAG.json
replay() {
    local args
    SEED=$2
    mapfile -t args <"$W/$1.args"
    rm -rf "$W/md"
    serve_start_ports 2 seed_conf "${args[@]}"
    cp "$W/serve.conf" "$W/$1.conf"
    if "$MXFUZZ_BUILD/tools/mxsession" decode "$SEED" | grep -qx 'proto pop3'; then
        helper deliver "${PORTS[1]}" "$SEED" >"$W/$1.deliver" 2>&1 || { cat "$W/$1.deliver"; fail "$1: maildrop not delivered"; }
    fi
    timeout 60 python3 "$MXFUZZ_ROOT/tools/session-send.py" --units "$W/$1.json" --port "${PORTS[0]}" "$SEED" \
        >"$W/$1.send" 2>&1 || true
    serve_stop
}

bad=0
tags=() specs=()
declare -A first_seed
for cap in "$CAPS"/*.pcapng; do
    id=$(basename "$cap" | cut -d- -f1)
    keys=()
    [[ -f ${cap%.pcapng}.keys ]] && keys=(--keylog "${cap%.pcapng}.keys")
    "$IMPORTER" "${keys[@]}" --out "$W/imp-$id" "$cap" >"$W/$id.import" 2>&1 || { cat "$W/$id.import"; fail "$id: import"; }
    helper prepare "$CAPS" "$id" "$W/imp-$id" "$MXFUZZ_ROOT/corpus" "$W" >"$W/$id.prepare" ||
        { echo "FAIL: $id: a seed not shipped as imported, or a header fact misread"; bad=$((bad + 1)); }
    sed -n '/^seeds:$/q;s/^/  /p' "$W/$id.prepare"
    while read -r tag seed; do
        replay "$tag" "$seed"
        through_target "$tag" "$seed"
        tags+=("$tag") specs+=("$seed:$W/$tag.json")
        [[ -n ${first_seed[$id]:-} ]] || first_seed[$id]=$seed
    done < <(sed '1,/^seeds:$/d' "$W/$id.prepare")
done
[[ ${#tags[@]} -ge 7 ]] || fail "only ${#tags[@]} seed(s) from the shipped captures"

# planted misreadings: each must be caught by the facts check and by the replay
plants=()
for p in b01:mode-plaintext b07:cert-no b06:tls-required b03:literal-minus b02:mode-starttls b05:cert-no; do
    [[ -n ${first_seed[${p%%:*}]:-} ]] || fail "plant $p: no seed of capture ${p%%:*}"
    plants+=("$p:${first_seed[${p%%:*}]}")
done
helper plant "$CAPS" "$W" "${plants[@]}" >"$W/plants"
ptags=() pseeds=() pargs=()
while read -r tag seed verdict; do
    [[ $verdict == caught* ]] || { echo "FAIL: $tag: the facts check did not notice"; bad=$((bad + 1)); }
    echo "ok: $tag: facts check $verdict"
    ptags+=("$tag") pseeds+=("$seed")
    mapfile -t more <"$W/$tag.args"
    pargs+=("${more[@]}")
done <"$W/plants"
# one mx-serve for all of them (a listener each as its header says; the logins of all): a
# plant fails at its first reply unit that depends on the planted fact
plants_conf() {
    local i
    for i in "${!pseeds[@]}"; do session_listener "${pseeds[$i]}" "${PORTS[$i]}"; done >"$W/serve.conf"
}
rm -rf "$W/md"
serve_start_ports "${#pseeds[@]}" plants_conf "${pargs[@]}"
for i in "${!pseeds[@]}"; do
    timeout 60 python3 "$MXFUZZ_ROOT/tools/session-send.py" --units "$W/${ptags[$i]}.json" --port "${PORTS[$i]}" \
        "${pseeds[$i]}" >"$W/${ptags[$i]}.send" 2>&1 || true
    specs+=("${pseeds[$i]}:$W/${ptags[$i]}.json")
    through_target "${ptags[$i]}" "${pseeds[$i]}"
done
serve_stop

helper explain "${specs[@]}" >"$W/explain"
for spec in "${specs[@]}"; do
    seed=${spec%%:*} tag=$(basename "${spec#*:}" .json)
    verdict=$(sed -n "s|^verdict $seed ||p" "$W/explain")
    section=$(sed -n "\|^--- $seed\$|,\|^verdict $seed |p" "$W/explain")
    case $tag:$verdict in
    planted-*:MISMATCH)
        echo "ok: $tag caught: $(grep -m1 MISMATCH <<<"$section" | cut -c1-120)" ;;
    planted-*:*)
        echo "FAIL: $tag: the replay through mx-serve did not notice"; sed 's/^/    /' <<<"$section"; bad=$((bad + 1)) ;;
    *:ok)
        echo "ok: $tag replays through mx-serve, $(grep -c '^difference' <<<"$section" || true) named difference(s):"
        grep '^difference' <<<"$section" | sed 's/^/    /' || true ;;
    *)
        echo "FAIL: $tag does not replay through mx-serve:"; sed 's/^/    /' <<<"$section"
        grep -v '^C:' "$W/$tag.send" | tail -n 20 | sed 's/^/    | /'; bad=$((bad + 1)) ;;
    esac
done
# the same seeds' replies through the starttls target
helper explain-target "${tspecs[@]}" >"$W/explain-target"
for spec in "${tspecs[@]}"; do
    seed=${spec%%:*} tag=$(basename "${spec#*:}" .json)
    verdict=$(sed -n "s|^verdict $seed ||p" "$W/explain-target")
    section=$(sed -n "\|^--- $seed\$|,\|^verdict $seed |p" "$W/explain-target")
    case $tag:$verdict in
    target-planted-*:MISMATCH)
        echo "ok: $tag caught by the target: $(grep -m1 MISMATCH <<<"$section" | cut -c1-120)" ;;
    target-planted-*:*)
        echo "FAIL: $tag: the replay through the starttls target did not notice"; sed 's/^/    /' <<<"$section"; bad=$((bad + 1)) ;;
    *:ok)
        echo "ok: $tag: the starttls target answers as captured, $(grep -c '^difference' <<<"$section" || true) named difference(s)" \
            "($(grep -o '^difference [a-z-]*' <<<"$section" | sort | uniq -c | awk '{printf "%s%s %s", sep, $3, $1; sep=", "}'))" ;;
    *)
        echo "FAIL: $tag: the starttls target does not answer as captured:"; sed 's/^/    /' <<<"$section"; bad=$((bad + 1)) ;;
    esac
done
echo "shipped captures: ${#tags[@]} seed(s) replayed through mx-serve and the starttls target, ${#plants[@]} planted" \
    "misreading(s), $bad failure(s)"
[[ $bad -eq 0 ]]
