#!/usr/bin/env bash
# imap_dovecot's peer must build against both dovecot parser APIs: imap_parser_create() with
# the params argument (dovecot >= 2.4.3, Debian 12's 2.3.19.1 backport: what this machine has)
# and without it (upstream 2.3.x, e.g. Ubuntu 20.04's 2.3.7.2 in OSS-Fuzz's base image, which
# we cannot install here). The old header is made from the installed one by taking the params
# argument and its struct out; the peer is compiled with the test build's own command (-Werror)
# with that header first on the include path. A planted direct 4-argument call must then fail
# to compile, or the check proves nothing.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# the test build's compile command for the peer, writing elsewhere, with an extra include dir
cmd=$(python3 - "$BUILD/compile_commands.json" "$W" <<'PY'
import json, shlex, sys
for e in json.load(open(sys.argv[1])):
    if e["file"].endswith("targets/oracles/imap_dovecot_peer.c"):
        a = shlex.split(e["command"]) if "command" in e else e["arguments"]
        i = a.index("-o")
        a[i + 1] = sys.argv[2] + "/peer.o"
        print(e["directory"])
        print(shlex.join(a))
        print(next((x[len("-idirafter"):] for x in a if x.startswith("-idirafter") and "dovecot" in x), ""))
        break
else:
    sys.exit("FAIL: imap_dovecot_peer.c not in compile_commands.json")
PY
)
dir=$(sed -n 1p <<<"$cmd")
compile=$(sed -n 2p <<<"$cmd")
inc=$(sed -n 3p <<<"$cmd")
[[ -n $inc && -f $inc/imap-parser.h ]] || { echo "FAIL: no dovecot imap-parser.h on the peer's include path ('$inc')"; exit 1; }
# the old API: no struct imap_parser_params, a 3-argument imap_parser_create
python3 - "$inc/imap-parser.h" "$W/old/imap-parser.h" <<'PY'
import os, re, sys
s = open(sys.argv[1]).read()
s, n1 = re.subn(r"struct imap_parser_params \{.*?\};\n", "", s, flags=re.S)
s, n2 = re.subn(r"size_t max_line_size,\s*const struct imap_parser_params \*params\);",
                "size_t max_line_size);", s)
if n2 != 1:
    sys.exit("FAIL: the installed imap-parser.h has no 4-argument imap_parser_create to take apart")
os.makedirs(os.path.dirname(sys.argv[2]))
open(sys.argv[2], "w").write(s)
PY

fails=0
compile_src() { # $1: include dir first, $2: source file; exit status of the compile
    local c=${compile/ -c / -I$1 -c }
    c=$(sed "s| -c [^ ]*imap_dovecot_peer\.c| -c $2|" <<<"$c")
    (cd "$dir" && eval "$c") >"$W/log" 2>&1
}
src="$ROOT/targets/oracles/imap_dovecot_peer.c"
if compile_src "$W/old" "$src"; then echo "ok: the peer builds against the 3-argument imap_parser_create"
else echo "FAIL: the peer does not build against dovecot 2.3's 3-argument imap_parser_create:"; tail -5 "$W/log"; fails=$((fails + 1)); fi
if compile_src "$W/none" "$src"; then echo "ok: the peer builds against the installed (4-argument) API"
else echo "FAIL: the peer does not build against the installed dovecot:"; tail -5 "$W/log"; fails=$((fails + 1)); fi
# the check can fail: a direct 4-argument call (what the peer had before) must not build old
sed 's|PARSER_CREATE(r.in, (size_t)-1 / 4)|imap_parser_create(r.in, NULL, (size_t)-1 / 4, NULL)|' "$src" >"$W/planted.c"
cmp -s "$src" "$W/planted.c" && { echo "FAIL: no PARSER_CREATE call in the peer to plant over"; fails=$((fails + 1)); }
cp "$ROOT"/targets/oracles/imap_dovecot_peer.h "$W/"
if compile_src "$W/old" "$W/planted.c"; then echo "FAIL: a 4-argument call builds against the old header: this test proves nothing"; fails=$((fails + 1))
else echo "ok: a direct 4-argument call is refused by the old header (the test can fail)"; fi
echo "dovecot_old_parser_api: $fails failure(s)"
[[ $fails -eq 0 ]]
