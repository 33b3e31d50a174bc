#!/usr/bin/env bash
# pcap-import on crafted captures: mode and header flags from what the server did, a ClientHello
# on a plaintext port or after a refused STARTTLS kept as client writes, every seed replayed
# through the starttls target, exit status and messages for a bad --out, a directory as input,
# a full tmpfs, a gap before the ServerHello. Details: capture/tests/listener_facts.py.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:?}
BUILD=${MXFUZZ_BUILD:?}
work=$(mktemp -d)
cleanup() { umount "$work/tmpfs" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# terminated: the tmpfs unmounted and $work removed by the EXIT trap (tools/test_group.sh)
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
replay=()
[[ -x $BUILD/replay/starttls ]] && replay=("$BUILD/replay/starttls")
python3 "$ROOT/capture/tests/listener_facts.py" "$BUILD/tools/pcap-import" "$ROOT/corpus/captures" "$work" "${replay[@]}"
