#!/usr/bin/env bash
# The capture importer against tshark's ground truth (shipped in corpus/captures/), against
# tshark run live on crafted variants, and on bad input. Details: capture/tests/check.py.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:?}
BUILD=${MXFUZZ_BUILD:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v tshark >/dev/null 2>&1 || { echo "tshark is needed (./build.sh deps)"; exit 1; }
python3 "$ROOT/capture/tests/check.py" "$BUILD/tools/pcap-import" "$ROOT/corpus/captures" "$work"
