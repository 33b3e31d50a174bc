#!/usr/bin/env bash
# bench/record/run.sh [MB] [REPEATS] - builds record_bench.c (build.conf profile release: -O2,
# no sanitizers; `./build.sh build release record_bench`) and runs it: plaintext MB/s of libmx vs
# BoringSSL's SSL_read on the same records, and the floor.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
MXFUZZ_BUILD_DIR=$BUILD "$ROOT/build.sh" build release record_bench
"$BUILD/release/bench/record_bench" "$@"
