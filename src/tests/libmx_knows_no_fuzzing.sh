#!/usr/bin/env bash
# libmx knows nothing of fuzzing: its sources and public headers include no harness or oracle
# header, call no fz_/cap_ function, test no FUZZING_BUILD_MODE macro (BoringSSL has a fuzzer mode;
# libmx deliberately has none, so that the fuzzed code is the shipped code) and name no product
# (greetings take host and product from mx_conn_cfg).
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT"
fail=0
check() { # PATTERN WHAT
    local hits
    hits=$(grep -rnE "$1" src/*.c src/*.h include/mx/*.h 2>/dev/null || true)
    if [[ -n $hits ]]; then
        printf 'FAIL: %s:\n%s\n' "$2" "$hits"
        fail=1
    fi
}
check '#include "(session|fuzz_input|fail|buf|alloc|replay_main|capture|pcap_import|[a-z_]*_model|[a-z_]*_check|tls_oracle|tls_pair)\.h"' 'libmx includes a harness, oracle or importer header'
check '\b(fz|cap)_[a-z]' 'libmx calls the harness (fz_) or the importer (cap_)'
check 'FUZZING_BUILD_MODE|LLVMFuzzer|__AFL' 'libmx has a fuzzing mode'
check '"[^"]*mxfuzz[^"]*"' 'libmx hard-codes the product name in a string'
[[ $fail -eq 0 ]] && echo "libmx: no harness include, no fz_/cap_ call, no fuzzing mode, no product name"
exit "$fail"
