#!/usr/bin/env bash
# ci/oss-fuzz/presubmit_check.py (what `./build.sh oss-fuzz-check` reports of project.yaml and the
# Dockerfile, as OSS-Fuzz's infra/presubmit.py would): the real files give no problem, and each
# planted mistake is reported. The constants are infra/constants.py's SANITIZERS, ENGINES and
# ARCHITECTURES (google/oss-fuzz 955c6866): a value outside them fails presubmit upstream.
set -euo pipefail
# shellcheck source=targets/tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
yaml=$ROOT/ci/oss-fuzz/project.yaml docker=$ROOT/ci/oss-fuzz/Dockerfile

# check YAML DOCKERFILE: the problem lines (NOTE: lines are not problems)
check() { python3 "$ROOT/ci/oss-fuzz/presubmit_check.py" "$1" "$2" address libfuzzer | grep -v '^NOTE:' || true; }
# planted CASE SED-SCRIPT WANT [FILE]: project.yaml (or FILE) with one edit must be reported with WANT
planted() {
    local case=$1 script=$2 want=$3 file=${4:-yaml} y=$yaml d=$docker out
    if [[ $file == yaml ]]; then y=$tmp/project.yaml; sed "$script" "$yaml" >"$y"; cmp -s "$yaml" "$y" && bad "$case: the edit changed nothing"
    else d=$tmp/Dockerfile; sed "$script" "$docker" >"$d"; cmp -s "$docker" "$d" && bad "$case: the edit changed nothing"; fi
    out=$(check "$y" "$d")
    grep -qF -- "$want" <<<"$out" || bad "$case: not reported (wanted '$want', got: ${out:-nothing})"
}

out=$(check "$yaml" "$docker")
[[ -z $out ]] || bad "the real project.yaml and Dockerfile: $out"

# values against infra/constants.py
planted "a misspelt sanitizer" 's/^  - undefined$/  - undefind/' 'undefind is not a valid sanitizers constant'
planted "an engine OSS-Fuzz does not have" 's/^  - afl$/  - aflplusplus/' 'aflplusplus is not a valid fuzzing_engines constant'
planted "an architecture spelt with a dash" 's/^  - x86_64$/  - x86-64/' 'x86-64 is not a valid architectures constant'
# the experimental form "- memory:" + "experimental: True" is a valid sanitizer, not a problem
sed 's/^  - undefined$/  - undefined\n  - memory:\n      experimental: True/' "$yaml" >"$tmp/exp.yaml"
grep -q '^  - memory:$' "$tmp/exp.yaml" || bad "the experimental-sanitizer edit changed nothing"
out=$(check "$tmp/exp.yaml" "$docker")
[[ -z $out ]] || bad "an experimental memory sanitizer was reported: $out"
# the other sections presubmit.py reads
planted "a section OSS-Fuzz does not know" 's/^sanitizers:$/sanitisers:/' 'sanitisers is not a section OSS-Fuzz knows'
planted "no main_repo" '/^main_repo:/d' 'no main_repo'
planted "a contact that is no address" 's/^primary_contact: .*/primary_contact: "mxfuzz security team"/' 'primary_contact is not an e-mail address'
planted "language c++" 's/^language: c$/language: c++/' 'language is not c'
planted "the Dockerfile cloning another repository" 's|github.com/mxfuzz/mxfuzz|github.com/someone/else|' 'does not clone main_repo' docker

finish oss_fuzz_presubmit
