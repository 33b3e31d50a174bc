#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build step for mxfuzz. Runs in the base-builder image with
# CC CXX CFLAGS CXXFLAGS LIB_FUZZING_ENGINE SANITIZER FUZZING_ENGINE SRC WORK OUT set.
# Builds the two dependencies from source with the same flags, then the top-level build.sh,
# which leaves every fuzzer, its .dict, .options and _seed_corpus.zip in $OUT.
MXFUZZ_SRC=${MXFUZZ_SRC:-$SRC/mxfuzz}

# --- BoringSSL (static; no assembly under MSan so that every byte is instrumented)
bssl_flags=()
if [[ ${SANITIZER:-} == memory ]]; then bssl_flags+=(-DOPENSSL_NO_ASM=1); fi
cmake -S "$SRC/boringssl" -B "$WORK/boringssl" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" "${bssl_flags[@]}"
ninja -C "$WORK/boringssl" ssl crypto
mkdir -p "$WORK/bssl-lib"
# the archives sit at the top of the build tree in current BoringSSL, in ssl/ and crypto/ before
find "$WORK/boringssl" -maxdepth 2 \( -name libssl.a -o -name libcrypto.a \) -exec cp {} "$WORK/bssl-lib/" \;

# --- libpcap (static, no D-Bus/RDMA/USB/Bluetooth: nothing the runner image lacks)
(cd "$SRC/libpcap" && ./autogen.sh >/dev/null 2>&1 || true
 cd "$SRC/libpcap" && CC="$CC" CFLAGS="$CFLAGS" ./configure --disable-shared --disable-dbus \
    --disable-rdma --disable-usb --disable-bluetooth --disable-netmap --without-libnl --enable-remote=no \
 && make -j"$(nproc)" libpcap.a)

# --- mxfuzz
MX_BORINGSSL_INCLUDE="$SRC/boringssl/include" MX_BORINGSSL_LIB="$WORK/bssl-lib" \
MX_PCAP_INCLUDE="$SRC/libpcap" MX_PCAP_LIB="$SRC/libpcap" \
    "$MXFUZZ_SRC/build.sh" oss-fuzz
