#!/usr/bin/env bash
# bench/record/run.sh [MB] [REPEATS] - builds record_bench.c and its OpenSSL helper ossl_read
# (build.conf profile release: -O2, no sanitizers; `./build.sh build release record_bench`) and
# runs it: plaintext MB/s of libmx vs BoringSSL's and OpenSSL 3's SSL_read and the floor, every
# suite at 256 B, 1 KB, 4 KB and 16 KB records, in one run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
MXFUZZ_BUILD_DIR=$BUILD "$ROOT/build.sh" build release record_bench
"$BUILD/release/bench/record_bench" "$@"
