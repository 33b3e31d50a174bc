# shellcheck shell=bash disable=SC2034
# testlib.sh - shell helpers for the checks of ci/oss-fuzz's parts (targets/tests/oss_fuzz_*.sh).
# Source it after `set -euo pipefail`.
#
#   ROOT            the checkout (MXFUZZ_ROOT, else two levels above this file)
#   bad MSG         prints FAIL: MSG and counts it in $fails
#   $tmp            a scratch directory, removed on exit
#   finish NAME     prints "NAME: ok" and returns 0, or the failure count and exits 1
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
finish() { if [[ $fails -eq 0 ]]; then echo "$1: ok"; else echo "$1: $fails failure(s)"; exit 1; fi; }
