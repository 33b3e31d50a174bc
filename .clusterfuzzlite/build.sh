#!/bin/bash -eu
# ClusterFuzzLite build step: identical to OSS-Fuzz's.
exec "$SRC/mxfuzz/ci/oss-fuzz/build.sh"
