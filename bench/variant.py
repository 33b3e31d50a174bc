#!/usr/bin/env python3
"""variant.py - build one target with a re-injected bug patch applied, reusing unpatched objects.

It has no compile rules of its own: it replays the compile and link commands a build of the one
build description (build.conf) recorded, recompiling only the objects the patch touches (the
patched files and, through the compiler's .d files, whatever includes a patched header) and
relinking against private copies of the archives with those members replaced.

  variant.py replay --root R --build BUILD/test --patch P --target T --out DIR
      Base: the CMake test build (`./build.sh test`: ASan+UBSan, plain replay driver). Commands
      from BUILD/compile_commands.json and CMakeFiles/replay_T.dir/link.txt. Result: DIR/T.
      T may also be a program of that build that links libmx (mx-serve: CMakeFiles/mx-serve.dir/
      link.txt), so that live mode can run a server with a re-injected bug (live/tests/).

  variant.py fuzz --root R --engine libfuzzer|afl --base BUILD/fuzz-ENGINE --patch P
                  --target T [--target T2 ...] --out DIR [--no-mutator]
      Base: `./build.sh build-fuzzers ENGINE`; commands from BASE/obj/compile_commands.json and
      BASE/obj/link_commands.json (build.sh build_fuzzers writes both). Result: DIR/T per target.
      --no-mutator: linked without the session-aware mutator's objects (the link entry's
      "mutator" list), so that libFuzzer runs its own mutations only.

  variant.py floor --root R --engine libfuzzer|afl --base BUILD/fuzz-ENGINE --src bench/empty.c
                   [--like T] [--name N] --out DIR
      A speed floor built exactly like a shipped fuzzer of ENGINE: target T's compile and link
      commands (default: the first manifest target's) with its source replaced by SRC. The empty
      target (bench/empty.c) and the component floors (bench/floor/T.c). Result: DIR/N
      (default: empty).

  variant.py ref --root R --engine libfuzzer|afl --base BUILD/fuzz-ENGINE --ref REF
                 --target T [--target T2 ...] --out DIR
      The fuzzers as they were at git revision REF (say main: "today's binary"), built with
      the recorded commands of BASE: REF's src/ include/ targets/ capture/ are exported to
      DIR/tree, every object whose source or header differs between R's working tree and REF is
      compiled from DIR/tree, objects of files REF does not have are left out. A REF whose
      build.conf has no ORACLE_CFLAGS compiled its harness, oracles and mutator with libmx's
      flags: those objects are compiled so too. Result: DIR/T.

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

ENV = dict(os.environ, AFL_QUIET="1")


def die(msg):
    print("variant: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd, cwd=None, env=ENV):
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


# ------------------------------------------------------------------ the one rebuild
class Base:
    """A recorded build: BASE (the directory the object paths are relative to), its compile
    entries (CMake's compile_commands.json format) and its link commands by target."""

    def __init__(self, base, compile_db, links, mutator=None):
        self.base = base
        self.entries = json.load(open(compile_db))
        self.links = links          # target -> (directory, argv)
        self.mutator = mutator or {}  # target -> the mutator objects on its link line

    def link(self, target):
        if target not in self.links:
            die("no link command for %s in %s (is it in `./build.sh targets` and built?)"
                % (target, self.base))
        return self.links[target]


def obj_of(e):
    argv = shlex.split(e["command"])
    return argv, os.path.normpath(os.path.join(e["directory"], argv[argv.index("-o") + 1]))


def deps_of(obj):
    """The headers the compiler said OBJ depends on (its .d file), as a set of paths."""
    try:
        with open(obj + ".d") as f:
            return set(f.read().replace("\\\n", " ").split()[1:])
    except OSError:
        return set()


def recompile(b, root, tree, touched, out, jobs):
    """Recompiles every object whose source or dependencies the patch touched; returns
    {original object path: new object path}."""
    touched_abs = {os.path.join(root, t) for t in touched}
    todo = []
    for e in b.entries:
        argv, obj = obj_of(e)
        if os.path.abspath(e["file"]) in touched_abs or deps_of(obj) & touched_abs:
            todo.append((e, argv, obj))
    objmap = {}

    def compile_one(item):
        e, argv, obj = item
        new = []
        for x in argv:
            if x.startswith("-I" + root + "/include"):
                x = "-I" + tree + "/include"
            elif x == os.path.join(root, "include"):
                x = os.path.join(tree, "include")
            elif os.path.abspath(os.path.join(e["directory"], x)) in touched_abs:
                x = os.path.join(tree, os.path.relpath(os.path.join(e["directory"], x), root))
            new.append(x)
        dest = os.path.join(out, "obj", os.path.relpath(obj, b.base))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        new[new.index("-o") + 1] = dest
        # the include/ copy must win over the original include/ for touched headers
        new.insert(1, "-I" + os.path.join(tree, "include"))
        run(new, cwd=e["directory"])
        objmap[obj] = dest

    parallel(jobs, compile_one, todo)
    for obj in sorted(objmap):
        print("variant: recompiled %s" % os.path.relpath(obj, b.base), file=sys.stderr)
    return objmap


def relink(b, target, objmap, out, dest, drop=(), dropped=()):
    """The recorded link of TARGET with the recompiled objects, archives copied and patched;
    the words in DROP left out of the link line (the session-aware mutator's objects), the
    objects in DROPPED taken out of the archives (files a git revision does not have)."""
    directory, words = b.link(target)
    words = [w for w in words if w not in drop]
    for i, w in enumerate(words):
        path = os.path.normpath(os.path.join(directory, w))
        if w.endswith(".a") and os.path.isfile(path):
            stem = libname(w)
            members = set(run(["ar", "t", path]).split())
            # an archive's members are the objects under its own directory: CMake's
            # CMakeFiles/<lib>.dir/, build_fuzzers' <lib>/
            def own(o):
                return os.path.basename(o) in members and \
                    {stem, stem + ".dir"} & set(os.path.relpath(o, b.base).split(os.sep)[:-1])
            mine = [o for o in objmap if own(o)]
            gone = [o for o in dropped if own(o)]
            if mine or gone:
                priv = os.path.join(out, "lib-" + target, os.path.basename(w))
                os.makedirs(os.path.dirname(priv), exist_ok=True)
                shutil.copy(path, priv)
                if mine:
                    run(["ar", "r", priv] + [objmap[o] for o in mine])
                if gone:
                    run(["ar", "d", priv] + [os.path.basename(o) for o in gone])
                words[i] = priv
        elif path in objmap:
            words[i] = objmap[path]
    o = words.index("-o") + 1
    orig = os.path.normpath(os.path.join(directory, words[o]))
    words[o] = dest
    # fuzzers find BoringSSL (and libpcap) in $ORIGIN/lib, next to the original binary
    lib = os.path.join(os.path.dirname(orig), "lib")
    if os.path.isdir(lib) and os.path.dirname(os.path.abspath(dest)) != os.path.dirname(orig):
        link = os.path.join(os.path.dirname(dest), "lib")
        if os.path.islink(link):
            os.unlink(link)
        if not os.path.exists(link):
            os.symlink(lib, link)
    run(words, cwd=directory)


def libname(archive):
    """libmx.a -> mx, libfzharness.a -> fzharness (the CMake target or directory owning it)."""
    b = os.path.basename(archive)
    return b[3:-2] if b.startswith("lib") else b[:-2]


def cmake_base(build):
    links = {}
    d = os.path.join(build, "CMakeFiles")
    for n in os.listdir(d) if os.path.isdir(d) else []:
        if n.startswith("replay_") and n.endswith(".dir"):
            f = os.path.join(d, n, "link.txt")
            if os.path.isfile(f):
                links[n[len("replay_"):-len(".dir")]] = (build, shlex.split(open(f).read().strip()))
    for n in ("mx-serve",):  # programs, after the targets: a target's name wins
        f = os.path.join(d, n + ".dir", "link.txt")
        if os.path.isfile(f):
            links.setdefault(n, (build, shlex.split(open(f).read().strip())))
    return Base(build, os.path.join(build, "compile_commands.json"), links)


def fuzz_base(base, engine):
    obj = os.path.join(base, "obj")
    if not os.path.isfile(os.path.join(obj, "link_commands.json")):
        die("%s has no recorded build: run ./build.sh build-fuzzers %s first" % (obj, engine))
    db = json.load(open(os.path.join(obj, "link_commands.json")))
    links = {e["target"]: (e["directory"], shlex.split(e["command"])) for e in db}
    mutator = {e["target"]: e.get("mutator", []) for e in db}
    return Base(obj, os.path.join(obj, "compile_commands.json"), links, mutator)


def replay(a):
    root, out = os.path.abspath(a.root), os.path.abspath(a.out)
    b = cmake_base(os.path.abspath(a.build))
    b.link(a.target)
    os.makedirs(out, exist_ok=True)
    tree, touched = scratch_tree(root, a.patch, out)
    objmap = recompile(b, root, tree, touched, out, a.jobs)
    relink(b, a.target, objmap, out, os.path.join(out, a.target))


def fuzz_setup(a):
    """ROOT, OUT (created) and the recorded fuzzer build of a fuzz/ref command, every --target
    checked to have a link command."""
    root, out = os.path.abspath(a.root), os.path.abspath(a.out)
    b = fuzz_base(os.path.abspath(a.base), a.engine)
    for t in a.target:
        b.link(t)
    os.makedirs(out, exist_ok=True)
    return root, out, b


def fuzz(a):
    root, out, b = fuzz_setup(a)
    tree, touched = scratch_tree(root, a.patch, out)
    objmap = recompile(b, root, tree, touched, out, a.jobs)
    for t in a.target:
        relink(b, t, objmap, out, os.path.join(out, t), b.mutator.get(t, []) if a.no_mutator else ())


def floor(a):
    out = os.path.abspath(a.out)
    b = fuzz_base(os.path.abspath(a.base), a.engine)
    os.makedirs(out, exist_ok=True)
    first = a.like or json.load(open(os.path.join(b.base, "link_commands.json")))[0]["target"]
    directory, words = b.link(first)
    # the first target's own object and compile command: an object of its link line that is
    # not the session-aware mutator's (those are linked into the floor too, as into the target)
    mut = {os.path.normpath(os.path.join(directory, w)) for w in b.mutator.get(first, [])}
    own = {os.path.normpath(os.path.join(directory, w)) for w in words} - mut
    for e in b.entries:
        argv, obj = obj_of(e)
        if os.path.normpath(os.path.join(directory, obj)) in own:
            break
    else:
        die("no compile command for the object of %s" % first)
    o = os.path.join(out, a.name + ".o")
    argv = [os.path.abspath(a.src) if os.path.normpath(os.path.join(e["directory"], x)) ==
            os.path.normpath(e["file"]) else x for x in argv]
    argv[argv.index("-o") + 1] = o
    run(argv, cwd=e["directory"])
    relink(b, first, {obj: o}, out, os.path.join(out, a.name))


# the folders a fuzzer is compiled from (build.sh build_fuzzers)
SOURCE_DIRS = ("src", "include", "targets", "capture")


def flags_of(argv):
    """The flags of a recorded compile command: the words between the compiler and the first -I."""
    i = 1
    while i < len(argv) and not argv[i].startswith("-I"):
        i += 1
    return argv[1:i]


def uniform_flags(root, ref, b):
    """libmx's compile flags when REF's build compiled every file with them (its build.conf has
    no ORACLE_CFLAGS, build.sh build_fuzzers: the harness, oracles and mutator then got $CFLAGS
    too), else None: the old binary must be built the way REF built it."""
    conf = subprocess.run(["git", "-C", root, "show", "%s:build.conf" % ref],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if conf.returncode == 0 and b"ORACLE_CFLAGS" in conf.stdout:
        return None
    for e in b.entries:
        if os.path.relpath(os.path.abspath(e["file"]), root).startswith("src" + os.sep):
            return flags_of(shlex.split(e["command"]))
    return None


def ref(a):
    root, out, b = fuzz_setup(a)
    tree = os.path.join(out, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", root, "archive", "--format=tar", a.ref, "--"] +
                             [d for d in SOURCE_DIRS if os.path.isdir(os.path.join(root, d))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if archive.returncode != 0:
        die("git archive %s failed: %s" % (a.ref, archive.stderr.decode(errors="replace")))
    subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
    # what differs between REF and the working tree the base was built from: tracked changes
    # (committed or not) and files REF does not know
    changed = run(["git", "-C", root, "diff", "--name-only", a.ref, "--"] + list(SOURCE_DIRS)).split()
    changed += run(["git", "-C", root, "ls-files", "--others", "--exclude-standard", "--"] +
                   list(SOURCE_DIRS)).split()
    changed_abs = {os.path.join(root, c) for c in changed}
    uniform = uniform_flags(root, a.ref, b)
    todo, dropped = [], []
    for e in b.entries:
        argv, obj = obj_of(e)
        src = os.path.abspath(e["file"])
        rel = os.path.relpath(src, root)
        if not os.path.isfile(os.path.join(tree, rel)):
            dropped.append(obj)  # a file REF does not have: its object is no part of REF's build
            continue
        if uniform and flags_of(argv) != uniform:
            # REF compiled this file with libmx's flags (its build.conf had no ORACLE_CFLAGS)
            todo.append((e, [argv[0]] + uniform + argv[1 + len(flags_of(argv)):], obj))
        elif src in changed_abs or deps_of(obj) & changed_abs:
            todo.append((e, argv, obj))
    objmap = {}

    def in_tree(x, directory):
        """x (a word of a compile command) moved to REF's tree when it is a path into R."""
        for prefix in ("-I", ""):
            if x.startswith(prefix) and len(x) > len(prefix):
                p = os.path.normpath(os.path.join(directory, x[len(prefix):]))
                rel = os.path.relpath(p, root)
                if rel.split(os.sep)[0] in SOURCE_DIRS:
                    return prefix + os.path.join(tree, rel)
        return x

    def compile_one(item):
        e, argv, obj = item
        new = [argv[0]] + [in_tree(x, e["directory"]) for x in argv[1:]]
        dest = os.path.join(out, "obj", os.path.relpath(obj, b.base))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        new[new.index("-o") + 1] = dest
        run(new, cwd=e["directory"])
        objmap[obj] = dest

    parallel(a.jobs, compile_one, todo)
    for obj in sorted(objmap):
        print("variant: compiled %s from %s" % (os.path.relpath(obj, b.base), a.ref), file=sys.stderr)
    for obj in sorted(dropped):
        print("variant: left out %s (not in %s)" % (os.path.relpath(obj, b.base), a.ref), file=sys.stderr)
    for t in a.target:
        directory, words = b.link(t)
        # the session-aware mutator's objects on the link line: a revision before the mutator
        # links without them (its binary runs libFuzzer's own mutations, as it did then)
        gone = [w for w in b.mutator.get(t, []) if os.path.normpath(os.path.join(directory, w)) in dropped]
        if any(os.path.normpath(os.path.join(directory, w)) in dropped for w in words if w not in gone):
            die("%s: its entry point is not in %s" % (t, a.ref))
        relink(b, t, objmap, out, os.path.join(out, t), drop=gone, dropped=dropped)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)

    def mode(name, base, *extra):
        """A sub-command: --root, its base (--build or --engine/--base), EXTRA, --out."""
        m = sub.add_parser(name)
        m.add_argument("--root", required=True)
        if base == "cmake":
            m.add_argument("--build", required=True)
        else:
            m.add_argument("--engine", required=True, choices=["afl", "libfuzzer"])
            m.add_argument("--base", required=True)
        for flag, kw in extra:
            m.add_argument(flag, **kw)
        m.add_argument("--out", required=True)
        return m

    req, many = {"required": True}, {"required": True, "action": "append"}
    jobs = ("--jobs", {"type": int, "default": 2})
    mode("replay", "cmake", ("--patch", req), ("--target", req), jobs)
    mode("fuzz", "fuzz", ("--patch", req), ("--target", many), jobs,
         ("--no-mutator", {"action": "store_true"}))
    mode("floor", "fuzz", ("--src", req),
         ("--like", {"help": "the target whose compile and link commands to use"}),
         ("--name", {"default": "empty"}))
    mode("ref", "fuzz", ("--ref", req), ("--target", many), jobs)
    a = p.parse_args()
    {"replay": replay, "fuzz": fuzz, "floor": floor, "ref": ref}[a.mode](a)


if __name__ == "__main__":
    main()
