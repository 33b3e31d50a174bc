#!/usr/bin/env bash
# The key of a kept dependency build (ci/oss-fuzz/dep-key.sh, used by `./build.sh oss-fuzz-check`)
# changes with what goes into that dependency's build and with nothing else: an edit of
# ci/oss-fuzz/build.sh outside build_boringssl must not rebuild BoringSSL (tens of minutes), an
# edit of its flags must. Each case edits a copy of the real ci/oss-fuzz/build.sh; compilers are
# stand-ins that print a version, so no toolchain is run; flags are opaque words to the key (and
# real flags are spelled only in build.conf and check.sh: build_description_single.sh).
set -euo pipefail
# shellcheck source=targets/tests/testlib.sh
. "$(dirname "$0")/testlib.sh"

for v in 1 2; do printf '#!/bin/sh\necho "stand-in compiler version %s"\n' "$v" >"$tmp/cc$v"; chmod +x "$tmp/cc$v"; done
# key FILE NAME [VAR=VALUE...]: the key under the base inputs, some of them overridden
key() {
    local file=$1 name=$2
    shift 2
    env DEP_COMMIT=0123abcd DEP_SRC=/src/"$name" CC="$tmp/cc1" CXX="$tmp/cc1" CFLAGS="c-flags" CXXFLAGS="c-flags c++-library" \
        DEP_ENV= "$@" "$ROOT/ci/oss-fuzz/dep-key.sh" "$file" "$name"
}
# edit NAME SED-SCRIPT: f = a copy of build.sh with one edit, which must change the file
edit() {
    f=$tmp/$1.sh
    sed "$2" "$ROOT/ci/oss-fuzz/build.sh" >"$f"
    if cmp -s "$ROOT/ci/oss-fuzz/build.sh" "$f"; then bad "edit '$1' changed nothing in build.sh"; fi
}
# same|differs CASE DEP FILE [VAR=VALUE...]: compare with the base key of DEP
expect() {
    local want=$1 case=$2 dep=$3 file=$4 k
    shift 4
    k=$(key "$file" "$dep" "$@") || { bad "$case: no key for $dep"; return; }
    if [[ $want == same && $k != "${base[$dep]}" ]]; then bad "$case: the $dep key changed ($k, was ${base[$dep]})"; fi
    if [[ $want == differs && $k == "${base[$dep]}" ]]; then bad "$case: the $dep key stayed ${base[$dep]}"; fi
    return 0
}

real=$ROOT/ci/oss-fuzz/build.sh
declare -A base
for dep in boringssl libpcap; do base[$dep]=$(key "$real" "$dep") || bad "no key for $dep in ci/oss-fuzz/build.sh"; done
[[ ${base[boringssl]} =~ ^[0-9a-f]{16}$ ]] || bad "boringssl key '${base[boringssl]}' is not 16 hex digits"
[[ ${base[boringssl]} != "${base[libpcap]}" ]] || bad "boringssl and libpcap have one key"
# the key is of the inputs, not of the moment: the same inputs twice, the same key
expect same "a second computation" boringssl "$real"

# unrelated edits: the mxfuzz step, the file's header, a comment and a blank line inside the function
edit mxfuzz-step 's|"$MXFUZZ_SRC/build.sh" oss-fuzz|"$MXFUZZ_SRC/build.sh" oss-fuzz --verbose|'
expect same "an edit of the mxfuzz step" boringssl "$f"
expect same "an edit of the mxfuzz step" libpcap "$f"
edit comment '/^build_boringssl() {$/a\    # a new comment\n'
expect same "a comment and a blank line in build_boringssl" boringssl "$f"
# an edit of libpcap's recipe is libpcap's alone
edit pcap-flag 's/-DENABLE_REMOTE=OFF/-DENABLE_REMOTE=ON/'
expect same "a libpcap flag" boringssl "$f"
expect differs "a libpcap flag" libpcap "$f"
# an edit of BoringSSL's recipe is BoringSSL's alone
edit bssl-flag 's/-DBORINGSSL_ALLOW_CXX_RUNTIME=1/-DBORINGSSL_ALLOW_CXX_RUNTIME=1 -DOPENSSL_SMALL=1/'
expect differs "a BoringSSL cmake flag" boringssl "$f"
expect same "a BoringSSL cmake flag" libpcap "$f"
edit bssl-targets 's/ssl crypto$/ssl crypto decrepit/'
expect differs "the BoringSSL ninja targets" boringssl "$f"
# the environment of the build: flags, compilers, commit, place, extra variables
expect differs "other CFLAGS" boringssl "$real" CFLAGS=other-c-flags
expect differs "other CFLAGS" libpcap "$real" CFLAGS=other-c-flags
expect differs "CXXFLAGS without the C++ library" boringssl "$real" CXXFLAGS=c-flags
expect differs "another compiler version" boringssl "$real" CC="$tmp/cc2" CXX="$tmp/cc2"
expect differs "another commit" boringssl "$real" DEP_COMMIT=4567ef01
expect differs "another source directory" libpcap "$real" DEP_SRC=/elsewhere/libpcap
expect differs "an extra variable (AFL++)" boringssl "$real" DEP_ENV=AFL_QUIET=1

# a dependency without its function is an error, not an empty recipe's key
if key "$real" nosuchdep >/dev/null 2>"$tmp/err"; then bad "a key for a dependency build.sh has no function for"; fi
grep -q 'no function build_nosuchdep' "$tmp/err" || bad "dep-key.sh did not say which function is missing"
# every dependency ci/oss-fuzz/deps pins has its function (check.sh keys each one)
while read -r name _; do
    key "$real" "$name" >/dev/null || bad "ci/oss-fuzz/deps names $name, build.sh has no build_$name"
done < <(grep -vE '^\s*(#|$)' "$ROOT/ci/oss-fuzz/deps")

finish oss_fuzz_dep_key
