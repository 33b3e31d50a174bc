#!/usr/bin/env bash
# ci/oss-fuzz/dep-key.sh BUILD_SH NAME
#
# The key of dependency NAME's kept build tree in `./build.sh oss-fuzz-check` (ci/oss-fuzz/check.sh
# reuses $WORK/NAME while the key stays the same, else builds it afresh). It covers what goes into
# that build and nothing else:
#   - the source: DEP_COMMIT (the checked-out commit) and DEP_SRC (where it is);
#   - the compilers: `$CC --version`, `$CXX --version`;
#   - the flags and environment it is built with: CFLAGS, CXXFLAGS, DEP_ENV (extra variables);
#   - its recipe: the text of the function build_NAME in BUILD_SH (ci/oss-fuzz/build.sh), whole-line
#     comments and blank lines left out. That function holds everything that builds NAME, so an
#     edit elsewhere in BUILD_SH (another dependency, the mxfuzz step) keeps the key.
# Prints 16 hex digits.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: dep-key.sh BUILD_SH NAME" >&2; exit 2; }
build_sh=$1 name=$2
: "${DEP_COMMIT:?}" "${DEP_SRC:?}" "${CC:?}" "${CXX:?}" "${CFLAGS?}" "${CXXFLAGS?}" "${DEP_ENV=}"
# the function from its "build_NAME() {" line to the first line that is only "}" (build.sh's layout)
recipe=$(awk -v head="build_${name}() {" '$0 == head { on = 1 } on { print } on && $0 == "}" { exit }' "$build_sh" |
         grep -vE '^\s*(#|$)' || true)
[[ $recipe == *$'\n}' ]] || { echo "dep-key.sh: no function build_$name() { ... } in $build_sh" >&2; exit 2; }
{
    echo "$name $DEP_COMMIT $DEP_SRC"
    "$CC" --version
    "$CXX" --version
    printf '%s|%s|%s\n' "$CFLAGS" "$CXXFLAGS" "$DEP_ENV"
    echo "$recipe"
} | sha256sum | cut -c1-16
