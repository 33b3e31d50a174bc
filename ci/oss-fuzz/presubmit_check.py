#!/usr/bin/env python3
# ci/oss-fuzz/presubmit_check.py PROJECT_YAML DOCKERFILE SANITIZER ENGINE
#
# What OSS-Fuzz's infra/presubmit.py says of ci/oss-fuzz/project.yaml and the Dockerfile (read
# from it, not copied): the sections it knows, the values of sanitizers, fuzzing_engines and
# architectures against infra/constants.py's, main_repo and primary_contact present, language c,
# the Dockerfile cloning main_repo into $SRC/mxfuzz. One line per problem on stdout; lines
# starting "NOTE:" are not problems (a configuration project.yaml does not list, which
# `./build.sh oss-fuzz-check` may still build). ci/oss-fuzz/check.sh runs it.
import re, sys
yaml_path, docker_path, sanitizer, engine = sys.argv[1:]
text = open(yaml_path).read()
# a small reader for this file's shape: top-level "key: value" and "key:" followed by "- item"
data, key = {}, None
for line in text.splitlines():
    line = line.split(" #")[0].rstrip()
    if not line or line.startswith("#"):
        continue
    m = re.match(r'^([a-z_]+):\s*(.*)$', line)
    if m:
        key, val = m.group(1), m.group(2).strip().strip('"')
        data[key] = [] if val in ("", "[]") else val
    elif key and line.strip().startswith("- "):
        data[key].append(line.strip()[2:].strip().strip('"'))
valid = {"architectures", "auto_ccs", "blackbox", "builds_per_day", "coverage_extra_args", "disabled",
         "disable_remediation", "disable_remediation_pre_review", "fuzzing_engines", "help_url", "homepage",
         "language", "labels", "main_repo", "primary_contact", "run_tests", "sanitizers", "selective_unpack",
         "vendor_ccs", "view_restrictions", "file_github_issue", "indexer", "base_os_version"}
for k in data:
    if k not in valid:
        print("project.yaml: %s is not a section OSS-Fuzz knows" % k)
# the sections whose values are constants (infra/constants.py); a value may also be
# "name: {experimental: true}", which this reader keeps as "name:"
constants = {"sanitizers": {"address", "none", "memory", "undefined", "thread", "coverage", "introspector", "hwaddress"},
             "fuzzing_engines": {"libfuzzer", "afl", "honggfuzz", "centipede", "none", "wycheproof"},
             "architectures": {"i386", "x86_64", "aarch64"}}
for k, allowed in constants.items():
    for v in data.get(k, []) if isinstance(data.get(k), list) else []:
        if v.rstrip(":").strip() not in allowed:
            print("project.yaml: %s is not a valid %s constant" % (v, k))
if not data.get("main_repo"):
    print("project.yaml: no main_repo (OSS-Fuzz requires it)")
for k in ("primary_contact",):
    if not re.match(r'^[^@\s]+@[^@\s]+\.[^@\s]+$', data.get(k, "") or ""):
        print("project.yaml: %s is not an e-mail address" % k)
if data.get("language") != "c":
    print("project.yaml: language is not c")
# coverage and introspector builds are made for every project; the others must be listed
if sanitizer not in ("coverage", "introspector") and sanitizer not in data.get("sanitizers", []):
    print("NOTE: project.yaml does not list sanitizer %s: OSS-Fuzz would not build it" % sanitizer)
if engine not in data.get("fuzzing_engines", ["libfuzzer"]):
    print("NOTE: project.yaml does not list engine %s" % engine)
docker = open(docker_path).read()
if data.get("main_repo") and not re.search(r'git clone [^\n]*' + re.escape(data["main_repo"]) + r'(\.git)?\s+mxfuzz', docker):
    print("Dockerfile: does not clone main_repo %s into $SRC/mxfuzz" % data.get("main_repo"))
