#!/usr/bin/env bash
# bench/record/run.sh [record_bench options] - builds record_bench.c and its OpenSSL helper
# ossl_read (build.conf profile release: -O2, no sanitizers; `./build.sh build release
# record_bench`) and runs it niced: plaintext MB/s of libmx vs BoringSSL's and OpenSSL 3's
# SSL_read and the floor, every suite at 256 B, 1 KB, 4 KB and 16 KB records, the four
# measured in interleaved rounds, ratios per round (median and quartiles), the load average
# beside them. Options: --mb MB (per competitor and round, default 1), --rounds N (20),
# --sizes 256,1024 --only SUBSTRING --wall (wall clock instead of thread CPU time),
# --html FILE (default build/release/bench/record_bench.html).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
MXFUZZ_BUILD_DIR=$BUILD "$ROOT/build.sh" build release record_bench
html=()
[[ " $* " == *" --html "* ]] || html=(--html "$BUILD/release/bench/record_bench.html")
# niced: the rounds interleave the competitors and time thread CPU, so sharing the machine
# moves each competitor alike and the per-round ratios stay put
nice -n 10 "$BUILD/release/bench/record_bench" "$@" "${html[@]}"
