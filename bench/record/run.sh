#!/usr/bin/env bash
# bench/record/run.sh [MB] [REPEATS] - builds record_bench.c (clang -O2, no sanitizers) and runs
# it: plaintext MB/s of libmx vs BoringSSL's SSL_read on the same records, and the floor.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${MXFUZZ_BUILD_DIR:-$ROOT/build}/bench
mkdir -p "$out"
BSSL_INC=/usr/include/android BSSL_LIB=/usr/lib/x86_64-linux-gnu/android
clang -std=c11 -O2 -Wall -Wextra -Werror -I "$ROOT/include" -I "$ROOT/targets/oracles" -isystem "$BSSL_INC" \
    "$ROOT/bench/record/record_bench.c" "$ROOT/src/record.c" "$ROOT/src/chain.c" "$ROOT/targets/oracles/tls_pair.c" \
    -L"$BSSL_LIB" -lssl -lcrypto -Wl,-rpath,"$BSSL_LIB" -o "$out/record_bench"
"$out/record_bench" "$@"
