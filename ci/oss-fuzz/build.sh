#!/bin/bash -eu
# Copyright 2026 the mxfuzz authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
################################################################################
# OSS-Fuzz / ClusterFuzzLite build step for mxfuzz. base-builder's `compile` runs it as
# `bash -eux $SRC/build.sh` with CC CXX CFLAGS CXXFLAGS LIB_FUZZING_ENGINE SANITIZER
# FUZZING_ENGINE ARCHITECTURE SRC WORK OUT set. It builds the two dependencies from source with
# exactly those flags (MSan and the mixed-sanitizer check need every library instrumented), then
# the top-level build.sh, which leaves every fuzzer, its .dict, .options and _seed_corpus.zip in
# $OUT. Every step's errors stop the build and are shown: nothing is sent to /dev/null.
#
# `./build.sh oss-fuzz-check` runs this script in a reproduction of that environment
# (ci/oss-fuzz/check.sh). MXFUZZ_DEPS=debian is for that check's fast form only (the suite):
# Debian's BoringSSL and libpcap stand in for the from-source builds. OSS-Fuzz never sets it.
MXFUZZ_SRC=${MXFUZZ_SRC:-$SRC/mxfuzz}

# One function per dependency, holding everything that builds it: `./build.sh oss-fuzz-check`
# keys each dependency's kept build tree on its function's text (ci/oss-fuzz/dep-key.sh), so an
# edit elsewhere in this file does not rebuild it, and an edit inside does.

# BoringSSL (static). No CMAKE_BUILD_TYPE: a build type appends its own optimisation level (and
# -DNDEBUG for Release) after OSS-Fuzz's -O1, and BoringSSL's asserts are worth having while
# fuzzing. BORINGSSL_ALLOW_CXX_RUNTIME: BoringSSL compiles its C++ with -fno-rtti unless told
# otherwise, which clang refuses next to UBSan's -fsanitize=vptr. Under MSan no assembly: MSan
# sees only what the compiler instrumented.
# BoringSSL's own -Werror: its CMakeLists.txt adds it unconditionally for clang and gcc
# (add_compile_options, after CMAKE_C_FLAGS on each command line; no CMake option turns it off at
# our pin, 2026-08-21), so a blanket -Wno-error in CFLAGS would lose to it. What OSS-Fuzz
# does when it moves to a newer clang does hold: base-clang's CFLAGS gain -Wno-error=<warning> for
# each new warning (vla-cxx-extension, int-conversion, ...), and a -Wno-error=X stays in force
# after a later -Werror (clang: "int x;" unused under -Wno-error=unused-variable -Werror is a
# warning, under -Wno-error -Werror an error). Any other new error is BoringSSL's to fix at its
# HEAD; we then move the pin (ci/oss-fuzz/deps).
build_boringssl() {
    local bssl_defs=(-DBORINGSSL_ALLOW_CXX_RUNTIME=1)
    if [[ $SANITIZER == memory ]]; then bssl_defs+=(-DOPENSSL_NO_ASM=1); fi
    cmake -S "$SRC/boringssl" -B "$WORK/boringssl" -G Ninja \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
        -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" "${bssl_defs[@]}"
    # -j: one job per core the builder gives us (ninja's default, cores + 2, oversubscribes a
    # shared machine); only the two libraries, not BoringSSL's tests and tools
    ninja -C "$WORK/boringssl" -j"$(nproc)" ssl crypto
    export MX_BORINGSSL_INCLUDE="$SRC/boringssl/include" MX_BORINGSSL_LIB="$WORK/boringssl"
}

# libpcap (static) with its CMake: base-builder has no autoconf, so the configure script of a
# git checkout cannot be generated. Only what pcap_import needs (reading capture files): no
# D-Bus, RDMA, USB, Bluetooth, netmap, DAG, SNF, libnl or remote capture, none of which the
# runner image has.
build_libpcap() {
    cmake -S "$SRC/libpcap" -B "$WORK/libpcap" -G Ninja \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" -DBUILD_SHARED_LIBS=OFF \
        -DDISABLE_DBUS=ON -DDISABLE_RDMA=ON -DDISABLE_LINUX_USBMON=ON -DDISABLE_BLUETOOTH=ON \
        -DDISABLE_NETMAP=ON -DDISABLE_DAG=ON -DDISABLE_SNF=ON -DBUILD_WITH_LIBNL=OFF -DENABLE_REMOTE=OFF
    ninja -C "$WORK/libpcap" -j"$(nproc)" pcap_static
    export MX_PCAP_INCLUDE="$SRC/libpcap" MX_PCAP_LIB="$WORK/libpcap"
}

if [[ ${MXFUZZ_DEPS:-source} == source ]]; then
    build_boringssl
    build_libpcap
elif [[ $MXFUZZ_DEPS != debian ]]; then
    echo "ci/oss-fuzz/build.sh: MXFUZZ_DEPS is source (the default) or debian, not '$MXFUZZ_DEPS'" >&2
    exit 1
fi

# --- mxfuzz
"$MXFUZZ_SRC/build.sh" oss-fuzz
