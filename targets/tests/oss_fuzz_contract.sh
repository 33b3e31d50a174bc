#!/usr/bin/env bash
# The OSS-Fuzz / ClusterFuzzLite contract, in the suite: ci/oss-fuzz/check.sh (the same script as
# `./build.sh oss-fuzz-check`) runs ci/oss-fuzz/build.sh itself in a reproduction of OSS-Fuzz's
# build environment and checks $OUT the way OSS-Fuzz's runner does, for libFuzzer under address
# and undefined, with Debian's BoringSSL and libpcap standing in for the from-source builds
# (--deps debian: those take tens of minutes on 2 cores; `./build.sh oss-fuzz-check` does them).
# address enters as OSS-Fuzz does (ci/oss-fuzz/build.sh), undefined as ClusterFuzzLite does
# (.clusterfuzzlite/build.sh, which must hand over to it): both entries, one build each.
# A doctored copy of the address build's $OUT shows that the runner checks do fail. Then the
# ClusterFuzzLite workflows, read as GitHub would run them:
#  - every `with:` key of a ClusterFuzzLite action is an input of that action (an unknown key is
#    ignored silently: `fuzzing-engine` on build_fuzzers built libFuzzer while it said AFL++)
#  - a run with output-sarif has an upload-sarif step after it, in a job allowed to write
#    security events
#  - the storage repository (its URL carries a token) comes from secrets, never vars (printed
#    unmasked in the log)
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

BUILD=${MXFUZZ_BUILD_DIR:-$ROOT/build}
"$ROOT/ci/oss-fuzz/check.sh" --sanitizer address --engine libfuzzer --deps debian --project oss-fuzz ||
    bad "oss-fuzz-check address (OSS-Fuzz, debian dependencies)"
"$ROOT/ci/oss-fuzz/check.sh" --sanitizer undefined --engine libfuzzer --deps debian --project clusterfuzzlite ||
    bad "oss-fuzz-check undefined (ClusterFuzzLite, debian dependencies)"

# The runner checks can fail: the address build's chain, doctored, must be reported. chain.options
# that is no INI file; a dictionary the options name but $OUT lacks; an executable in $OUT that is
# no fuzz target (test_all.py would not see it, the coverage job would run it); and the ASan
# binary checked as a UBSan build (bad_build_check's sanitizer-call count).
asan_out=$BUILD/oss-fuzz-check/libfuzzer-address-debian/out
if [[ -x $asan_out/chain ]]; then
    neg=$(mktemp -d)
    mkdir -p "$neg/out" "$neg/tmp"
    cp -a "$asan_out"/chain "$asan_out"/chain_seed_corpus.zip "$asan_out"/llvm-symbolizer "$asan_out"/lib "$neg/out/"
    cp "$asan_out/record.options" "$neg/out/record.options"
    printf 'max_len 4096\n' >"$neg/out/chain.options"
    cp "$(type -P true)" "$neg/out/not_a_fuzzer"
    cp "$asan_out/record" "$neg/out/record"
    env -i PATH="$PATH" OUT="$neg/out" TMPD="$neg/tmp" MX_TARGETS="chain record" FUZZING_ENGINE=libfuzzer \
        SANITIZER=undefined ARCHITECTURE=x86_64 FUZZER_ARGS="-rss_limit_mb=2560 -timeout=25" \
        bash "$ROOT/ci/oss-fuzz/check.sh" --runner-phase >"$neg/log" 2>&1 && bad "the runner checks passed a doctored \$OUT"
    for want in 'chain.options does not parse as INI' 'record.options names dict record.dict, which is not in' \
                'not_a_fuzzer: an executable in $OUT that is no fuzz target' 'UBSan build with ASan'; do
        grep -qF -- "$want" "$neg/log" || { bad "the runner checks did not report: $want"; cat "$neg/log"; }
    done
    rm -rf "$neg"
else
    bad "no address build in $asan_out to doctor"
fi

python3 - "$ROOT"/.github/workflows/*.yml >"${TMPDIR:-/tmp}/cflite-workflows.$$" <<'EOF' || true
import re, sys
# the inputs of google/clusterfuzzlite/actions/*@v1 (their action.yml)
INPUTS = {
    "build_fuzzers": {"language", "dry-run", "allowed-broken-targets-percentage", "sanitizer",
                      "project-src-path", "bad-build-check", "keep-unaffected-fuzz-targets",
                      "storage-repo", "storage-repo-branch", "storage-repo-branch-coverage",
                      "upload-build", "github-token"},
    "run_fuzzers": {"language", "fuzz-seconds", "dry-run", "sanitizer", "mode", "github-token",
                    "storage-repo", "storage-repo-branch", "storage-repo-branch-coverage",
                    "report-unreproducible-crashes", "minimize-crashes", "parallel-fuzzing",
                    "output-sarif", "report-timeouts", "report-ooms"},
}
for path in sys.argv[1:]:
    name = path.rsplit("/", 1)[-1]
    lines = open(path).read().splitlines()
    # jobs: "  Name:" at indent 2 under "jobs:"; steps: "- " items; with: keys one level deeper
    jobs, job, step, in_with, with_indent = [], None, None, False, 0
    in_jobs = False
    for raw in lines:
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        if indent == 0:
            in_jobs = text == "jobs:"
            continue
        if in_jobs and indent == 2 and text.endswith(":"):
            job = {"name": text[:-1], "steps": [], "text": []}
            jobs.append(job)
            continue
        if job is None:
            continue
        job["text"].append(text)
        if text.startswith("- "):
            step = {"uses": None, "with": {}, "indent": indent}
            job["steps"].append(step)
            text = text[2:]
            indent += 2
            in_with = False
        if step is None:
            continue
        if in_with and indent > with_indent:
            k, _, v = text.partition(":")
            step["with"][k.strip()] = v.strip()
            continue
        in_with = False
        if text.startswith("uses:"):
            step["uses"] = text[5:].strip()
        elif text == "with:":
            in_with, with_indent = True, indent
    for job in jobs:
        steps = job["steps"]
        for i, st in enumerate(steps):
            m = re.match(r"google/clusterfuzzlite/actions/(\w+)@", st["uses"] or "")
            if not m:
                continue
            action = m.group(1)
            for k, v in st["with"].items():
                if action in INPUTS and k not in INPUTS[action]:
                    print("%s: job %s: %s has no input %s (ignored silently)" % (name, job["name"], action, k))
                if k == "storage-repo" and "secrets." not in v:
                    print("%s: job %s: storage-repo must come from secrets (its URL carries a token), not %s" % (name, job["name"], v))
            if st["with"].get("output-sarif") == "true":
                if not any("codeql-action/upload-sarif" in (later["uses"] or "") for later in steps[i + 1:]):
                    print("%s: job %s: output-sarif without an upload-sarif step" % (name, job["name"]))
                if "security-events: write" not in job["text"]:
                    print("%s: job %s: upload-sarif needs permissions security-events: write" % (name, job["name"]))
EOF
while IFS= read -r l; do bad "$l"; done <"${TMPDIR:-/tmp}/cflite-workflows.$$"
rm -f "${TMPDIR:-/tmp}/cflite-workflows.$$"

echo "oss-fuzz contract: $fails problem(s)"
[[ $fails -eq 0 ]]
