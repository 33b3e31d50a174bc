#!/usr/bin/env python3
"""variant.py - build one target with a re-injected bug patch applied, reusing unpatched objects.

Two build bases, one job: "the binary of TARGET with PATCH applied", recompiling only what the
patch changes and relinking.

  variant.py replay --root R --build BUILD/test --patch P --target T --out DIR
      Base: the CMake test build (ASan+UBSan, plain replay driver). Compile commands come from
      BUILD/compile_commands.json, header dependencies from the compiler's .d files, the link
      line from CMakeFiles/replay_T.dir/link.txt. Result: DIR/T.

  variant.py fuzz --root R --engine libfuzzer|afl --base BUILD/fuzz-ENGINE --patch P
                  --target T [--target T2 ...] --out DIR
      Base: the objects `./build.sh build-fuzzers ENGINE` leaves in BASE/obj (src/<n>.o,
      common/<n>.o, targets/<t>.o, libmx.a, libharness.a). The flags below must equal
      build.sh's local_fuzz_build. A patch that touches a header recompiles everything.
      Result: DIR/T for each target.

  variant.py floor --root R --engine libfuzzer|afl --base BUILD/fuzz-ENGINE --src bench/empty.c
                   --out DIR
      The empty target (the speed floor) built exactly like a shipped fuzzer of ENGINE: same
      compiler, flags, engine and libraries (libmx, harness, BoringSSL). Result: DIR/empty.

The patch is applied to a scratch copy of src/ and include/ under DIR/tree (never to R).
Prints the list of recompiled files on stderr. Exit status 0 on success.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

BSSL_INC = os.environ.get("MX_BORINGSSL_INCLUDE", "/usr/include/android")
BSSL_LIB = os.environ.get("MX_BORINGSSL_LIB", "/usr/lib/x86_64-linux-gnu/android")

# Must match build.sh local_fuzz_build (the flags the shipped local fuzzers are built with).
ENGINES = {
    "libfuzzer": {
        "cc": "clang", "cxx": "clang++",
        "cflags": "-g -O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address,undefined "
                  "-fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link",
        "cxxflags": "-fsanitize=address,undefined",
        "engine": "-fsanitize=fuzzer",
    },
    "afl": {
        "cc": "afl-clang-fast", "cxx": "afl-clang-fast++",
        "cflags": "-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined "
                  "-fno-sanitize-recover=undefined",
        "cxxflags": "-fsanitize=address,undefined",
        "engine": "/usr/lib/afl/libAFLDriver.a",
    },
}


def die(msg):
    print("variant: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd, cwd=None, env=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, shell=isinstance(cmd, str))
    if r.returncode != 0:
        die("command failed (%s):\n%s\n%s" % (r.returncode, cmd if isinstance(cmd, str) else
                                               " ".join(shlex.quote(c) for c in cmd), r.stdout))
    return r.stdout


def scratch_tree(root, patch, out):
    """Copies src/ and include/ to OUT/tree, applies PATCH there; returns the touched paths
    (relative to the repository root)."""
    tree = os.path.join(out, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    for d in ("src", "include"):
        if os.path.isdir(os.path.join(root, d)):
            shutil.copytree(os.path.join(root, d), os.path.join(tree, d))
    patch = os.path.abspath(patch)
    # git apply works outside a repository; GIT_DIR points nowhere so that a repository above
    # the scratch directory is never consulted
    env = dict(os.environ, GIT_DIR=os.path.join(tree, ".no-git"), GIT_CEILING_DIRECTORIES=out)
    numstat = run(["git", "apply", "--numstat", patch], cwd=tree, env=env)
    run(["git", "apply", patch], cwd=tree, env=env)
    touched = [line.split("\t", 2)[2] for line in numstat.splitlines() if line.count("\t") >= 2]
    for t in touched:
        if not (t.startswith("src/") or t.startswith("include/")):
            die("%s touches %s: bug patches may only touch src/ and include/" % (patch, t))
    return tree, touched


def parallel(jobs, fn, items):
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(fn, items))


# ------------------------------------------------------------------ replay (CMake test build)
def replay(a):
    root, build, out = os.path.abspath(a.root), os.path.abspath(a.build), os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    tree, touched = scratch_tree(root, a.patch, out)
    touched_abs = {os.path.join(root, t) for t in touched}
    cc = json.load(open(os.path.join(build, "compile_commands.json")))
    link_txt = os.path.join(build, "CMakeFiles", "replay_%s.dir" % a.target, "link.txt")
    if not os.path.isfile(link_txt):
        die("no link line for replay_%s in %s (is %s in targets/manifest and built?)"
            % (a.target, build, a.target))
    link = open(link_txt).read().strip()
    recompile = []
    for e in cc:
        argv = shlex.split(e["command"])
        obj = argv[argv.index("-o") + 1]
        obj_abs = os.path.join(e["directory"], obj)
        deps = set()
        try:
            with open(obj_abs + ".d") as f:
                deps = set(f.read().replace("\\\n", " ").split()[1:])
        except OSError:
            pass
        if os.path.abspath(e["file"]) in touched_abs or deps & touched_abs:
            recompile.append((e, argv, obj))
    objmap = {}

    def compile_one(item):
        e, argv, obj = item
        new = []
        for x in argv:
            if x.startswith("-I" + root + "/include"):
                x = "-I" + tree + "/include"
            elif x == os.path.join(root, "include"):
                x = os.path.join(tree, "include")
            elif os.path.abspath(x) in touched_abs:
                x = os.path.join(tree, os.path.relpath(x, root))
            new.append(x)
        dest = os.path.join(out, "obj", obj)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        new[new.index("-o") + 1] = dest
        # the include/ copy must win over the original include/ for touched headers
        new.insert(1, "-I" + os.path.join(tree, "include"))
        run(new, cwd=e["directory"])
        objmap[obj] = dest

    parallel(a.jobs, compile_one, recompile)
    for obj in sorted(objmap):
        print("variant: recompiled %s" % obj, file=sys.stderr)
    # archives: replace the recompiled members in private copies
    words = shlex.split(link)
    for i, w in enumerate(words):
        if w.endswith(".a") and not os.path.isabs(w):
            lib = os.path.join(build, w)
            members = run(["ar", "t", lib]).split()
            # which recompiled objects belong to this archive: read the archive's own link line
            mine = [o for o in objmap if os.path.basename(o) in members and
                    ("CMakeFiles/%s.dir/" % libname(w)) in o]
            if mine:
                priv = os.path.join(out, os.path.basename(w))
                shutil.copy(lib, priv)
                run(["ar", "r", priv] + [objmap[o] for o in mine])
                words[i] = priv
        elif w in objmap:
            words[i] = objmap[w]
    words[words.index("-o") + 1] = os.path.join(out, a.target)
    run(words, cwd=build)


def libname(archive):
    """libmx.a -> mx, libmxharness.a -> mxharness (the CMake target owning the archive)."""
    b = os.path.basename(archive)
    return b[3:-2] if b.startswith("lib") else b[:-2]


# ------------------------------------------------------------------ fuzz (build-fuzzers objects)
def fuzz(a):
    root, base, out = os.path.abspath(a.root), os.path.abspath(a.base), os.path.abspath(a.out)
    eng = ENGINES[a.engine]
    obj = os.path.join(base, "obj")
    for f in ("libmx.a", "libharness.a"):
        if not os.path.isfile(os.path.join(obj, f)):
            die("%s missing: run ./build.sh build-fuzzers %s first" % (os.path.join(obj, f), a.engine))
    os.makedirs(out, exist_ok=True)
    tree, touched = scratch_tree(root, a.patch, out)
    inc = ["-I", os.path.join(tree, "include")]
    for d in ("targets/harness", "targets/oracles", "capture"):
        inc += ["-I", os.path.join(root, d)]
    inc += ["-isystem", BSSL_INC]
    env = dict(os.environ, AFL_QUIET="1")
    cflags = shlex.split(eng["cflags"]) + ["-Wall", "-Wextra", "-Werror"]
    header = any(t.startswith("include/") or t.endswith(".h") for t in touched)
    os.makedirs(os.path.join(out, "obj"), exist_ok=True)
    if header:
        srcs = sorted(os.path.join(tree, "src", f) for f in os.listdir(os.path.join(tree, "src"))
                      if f.endswith(".c"))
    else:
        srcs = [os.path.join(tree, t) for t in touched if t.endswith(".c")]
    mx_objs = []

    def cc_one(job):
        src, dest = job
        run([eng["cc"]] + cflags + inc + ["-c", src, "-o", dest], env=env)

    jobs = [(s, os.path.join(out, "obj", os.path.basename(s)[:-2] + ".o")) for s in srcs]
    harness_jobs, target_jobs = [], []
    if header:
        os.makedirs(os.path.join(out, "obj/harness"), exist_ok=True)
        for cdir in (os.path.join(root, "targets/harness"), os.path.join(root, "targets/oracles")):
            harness_jobs += [(os.path.join(cdir, f), os.path.join(out, "obj/harness", f[:-2] + ".o"))
                             for f in sorted(os.listdir(cdir))
                             if f.endswith(".c") and f != "replay_main.c"]
        os.makedirs(os.path.join(out, "obj/targets"), exist_ok=True)
        target_jobs = [(os.path.join(root, "targets", t + ".c"),
                        os.path.join(out, "obj/targets", t + ".o")) for t in a.target]
    parallel(a.jobs, cc_one, jobs + harness_jobs + target_jobs)
    mx_objs = [d for _, d in jobs]
    for s, _ in jobs + harness_jobs + target_jobs:
        print("variant: recompiled %s" % os.path.relpath(s, out), file=sys.stderr)
    libmx = os.path.join(out, "libmx.a")
    shutil.copy(os.path.join(obj, "libmx.a"), libmx)
    if mx_objs:
        run(["ar", "r", libmx] + mx_objs)
    libharness = os.path.join(obj, "libharness.a")
    if harness_jobs:
        libharness = os.path.join(out, "libharness.a")
        shutil.copy(os.path.join(obj, "libharness.a"), libharness)
        run(["ar", "r", libharness] + [d for _, d in harness_jobs])
    manifest = {}
    for line in open(os.path.join(root, "targets/manifest")):
        f = line.split()
        if f and not line.startswith("#"):
            manifest[f[0]] = f
    for t in a.target:
        if t not in manifest:
            die("target %s is not in targets/manifest" % t)
        tobj = os.path.join(out, "obj/targets", t + ".o") if header else os.path.join(obj, "targets", t + ".o")
        extra = []
        if len(manifest[t]) > 3 and "pcap" in manifest[t][3].split(","):
            extra = ["-lpcap"]
            tobj = [tobj, os.path.join(obj, "libcapture.a")]
        else:
            tobj = [tobj]
        run([eng["cxx"]] + shlex.split(eng["cxxflags"]) + tobj + [libharness, libmx] +
            shlex.split(eng["engine"]) +
            ["-L" + BSSL_LIB, "-lssl", "-lcrypto", "-Wl,-rpath," + BSSL_LIB] + extra +
            ["-o", os.path.join(out, t)], env=env)


def floor(a):
    root, base, out = os.path.abspath(a.root), os.path.abspath(a.base), os.path.abspath(a.out)
    eng = ENGINES[a.engine]
    obj = os.path.join(base, "obj")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, AFL_QUIET="1")
    o = os.path.join(out, "empty.o")
    run([eng["cc"]] + shlex.split(eng["cflags"]) + ["-Wall", "-Wextra", "-Werror", "-c",
                                                  os.path.abspath(a.src), "-o", o], env=env)
    run([eng["cxx"]] + shlex.split(eng["cxxflags"]) +
        [o, os.path.join(obj, "libharness.a"), os.path.join(obj, "libmx.a")] +
        shlex.split(eng["engine"]) +
        ["-L" + BSSL_LIB, "-lssl", "-lcrypto", "-lpcap", "-Wl,-rpath," + BSSL_LIB] +
        ["-o", os.path.join(out, "empty")], env=env)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("replay")
    r.add_argument("--root", required=True)
    r.add_argument("--build", required=True)
    r.add_argument("--patch", required=True)
    r.add_argument("--target", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--jobs", type=int, default=2)
    f = sub.add_parser("fuzz")
    f.add_argument("--root", required=True)
    f.add_argument("--engine", required=True, choices=sorted(ENGINES))
    f.add_argument("--base", required=True)
    f.add_argument("--patch", required=True)
    f.add_argument("--target", required=True, action="append")
    f.add_argument("--out", required=True)
    f.add_argument("--jobs", type=int, default=2)
    fl = sub.add_parser("floor")
    fl.add_argument("--root", required=True)
    fl.add_argument("--engine", required=True, choices=sorted(ENGINES))
    fl.add_argument("--base", required=True)
    fl.add_argument("--src", required=True)
    fl.add_argument("--out", required=True)
    a = p.parse_args()
    {"replay": replay, "fuzz": fuzz, "floor": floor}[a.mode](a)


if __name__ == "__main__":
    main()
