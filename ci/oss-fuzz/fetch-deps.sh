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
# fetch-deps.sh DEST: clones every dependency of ci/oss-fuzz/deps into DEST/<name> at its pinned
# commit (never a moving HEAD: a dependency's new commit must not change what OSS-Fuzz builds
# without a change here). Both Dockerfiles run it; ./build.sh oss-fuzz-check too when it has no
# local copy.
dest=${1:?usage: fetch-deps.sh DEST}
deps=$(dirname "${BASH_SOURCE[0]}")/deps
mkdir -p "$dest"
grep -vE '^\s*(#|$)' "$deps" | while read -r name url commit; do
    if [[ -d $dest/$name/.git ]] && [[ $(git -C "$dest/$name" rev-parse HEAD) == "$commit" ]]; then continue; fi
    rm -rf "$dest/$name"
    git init -q "$dest/$name"
    # one commit, no history; a server that refuses to hand out a commit by its id gets a full clone
    if ! git -C "$dest/$name" fetch -q --depth 1 "$url" "$commit"; then
        rm -rf "$dest/$name"
        git clone -q "$url" "$dest/$name"
    fi
    git -C "$dest/$name" -c advice.detachedHead=false checkout -q "$commit"
done
