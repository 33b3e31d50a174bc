#!/usr/bin/env bash
# Version 1 of the session format is frozen (corpus/FORMAT.md, "Versions"): every session file
# the repository shipped when version 2 was introduced must still parse to exactly the same
# session. targets/tests/v1_sessions.sha256 pins, per file, the sha256 of its bytes and of its
# text form as decoded by the parser before version 2 existed (the v1-only mxsession of main at
# d9ca89e); this test decodes every listed file with today's mxsession and compares. Covered:
# corpus/{starttls,imap,imap_tls}/* and repro/{starttls,imap,imap_tls}/* (imap_tls without its
# prefix; targets/tests/shipped_sessions.py). Also: every hand-written text session
# corpus/sessions/<target>/<name>.txt still encodes, byte for byte, to corpus/<target>/<name>
# (text without a `version` line is version 1).
# A listed file that was deleted or rewritten on purpose: delete its line (never re-pin a
# changed decoding: that is what this test exists to catch). New files need no line.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
MXS=$BUILD/tools/mxsession
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

python3 "$ROOT/targets/tests/shipped_sessions.py" "$ROOT" "$W/s" >"$W/list"
# /dev/null first: every batch xargs makes has two files or more, so each text gets its
# "==> FILE <==" line
cut -d' ' -f3 "$ROOT/targets/tests/v1_sessions.sha256" | (cd "$W/s" && xargs -r "$MXS" decode /dev/null) >"$W/text"
python3 - "$ROOT" "$ROOT/targets/tests/v1_sessions.sha256" "$W/text" <<'PY' || fails=$((fails + 1))
import hashlib, os, sys
root, pins, text = sys.argv[1:]
texts, cur = {}, None
with open(text, "rb") as f:
    for line in f:
        if line.startswith(b"==> ") and line.endswith(b" <==\n"):
            cur = line[4:-5].decode()
            texts[cur] = b""
        else:
            texts[cur] += line
checked = bad = 0
for line in open(pins):
    fh, th, path = line.split()
    full = os.path.join(root, path)
    if not os.path.exists(full):
        print("FAIL: %s is pinned but gone (deleted on purpose? delete its line)" % path)
        bad += 1
        continue
    if hashlib.sha256(open(full, "rb").read()).hexdigest() != fh:
        print("FAIL: %s changed since it was pinned (rewritten on purpose? delete its line)" % path)
        bad += 1
        continue
    if path not in texts or hashlib.sha256(texts[path]).hexdigest() != th:
        print("FAIL: %s decodes differently from the v1 parser:" % path)
        print("".join("    " + l for l in texts.get(path, b"(no output)\n").decode("latin-1").splitlines(True)[:12]), end="")
        bad += 1
        continue
    checked += 1
print("v1 sessions: %d pinned files decode as before, %d failure(s)" % (checked, bad))
sys.exit(1 if bad or checked == 0 else 0)
PY
n=0
for t in "$ROOT"/corpus/sessions/*/*.txt; do
    target=$(basename "$(dirname "$t")")
    bin=$ROOT/corpus/$target/$(basename "$t" .txt)
    [[ -f $bin ]] || { bad "${t#"$ROOT"/} has no seed corpus/$target/$(basename "$t" .txt)"; continue; }
    "$MXS" encode "$t" "$W/enc" || { bad "${t#"$ROOT"/} does not encode"; continue; }
    cmp -s "$W/enc" "$bin" || bad "${t#"$ROOT"/} encodes to other bytes than ${bin#"$ROOT"/}"
    n=$((n + 1))
done
[[ $n -gt 0 ]] || bad "no hand-written sessions found"
echo "text sessions: $n encode to their shipped seeds"
[[ $fails -eq 0 ]]
