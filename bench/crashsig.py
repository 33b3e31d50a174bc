#!/usr/bin/env python3
"""crashsig.py - tell whether a crash output is a given bug.

  crashsig.py sig LOG            print the synthesized signature line of the crash in LOG
  crashsig.py match REGEX LOG    exit 0 if REGEX (Python re.search) matches a line of LOG or its
                                 signature line, else 1

The signature line is
    signature: <tool> <report type> in <function> <src/file.c>
built from the first sanitizer report in LOG: <tool> is asan, ubsan, lsan or libfuzzer,
<report type> is e.g. heap-buffer-overflow or "runtime error: index 9 out of bounds ...",
and <function> <file> is the first stack frame inside the code under test (a path with /src/),
or else the first frame outside the sanitizer runtime and libc. So a manifest regex such as
    signature: asan heap-buffer-overflow in mx_imap_feed src/imap\\.c
recognises a memory bug by its kind and place, and an oracle's abort message such as
    chain: divergence at operation [0-9]+: segments \\(counter vs walk\\)
is matched directly on its own line.
"""
import re
import sys

FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ in (\S+) (\S+)")
RUNTIME = re.compile(r"^(__asan|__ubsan|__sanitizer|__interceptor|fuzzer::|__libc|raise$|abort$|"
                     r"__pthread|_start$|main$|LLVMFuzzerTestOneInput$|ExecuteFilesOnyByOne|"
                     r"mem(cpy|move|set|cmp)$|str[a-z]*$|__GI_)")


def crash_kind(lines):
    """(tool, type, index of the report line) of the first sanitizer/engine report, or None."""
    for i, l in enumerate(lines):
        m = re.search(r"ERROR: (AddressSanitizer|LeakSanitizer): (\S+)", l)
        if m:
            tool = "asan" if m.group(1) == "AddressSanitizer" else "lsan"
            kind = "memory-leak" if tool == "lsan" else m.group(2)
            return tool, kind, i
        m = re.search(r"(\S+):\d+:\d+: runtime error: (.*)$", l)
        if m:
            return "ubsan", "runtime error: " + m.group(2), i
        m = re.search(r"ERROR: libFuzzer: (\S[^\n]*)", l)
        if m:
            return "libfuzzer", m.group(1).strip(), i
    return None


def top_frame(lines, start):
    first_other = None
    for l in lines[start:]:
        m = FRAME.match(l)
        if not m:
            continue
        fn, loc = m.group(2), m.group(3)
        if "/src/" in loc:
            path = loc.split("/src/", 1)[1].split(":")[0]
            return fn, "src/" + path
        if first_other is None and not RUNTIME.match(fn) and "/llvm-" not in loc and "libc.so" not in loc:
            first_other = (fn, loc.split(":")[0].rsplit("/", 1)[-1])
    return first_other or ("?", "?")


def signature(text):
    lines = text.splitlines()
    k = crash_kind(lines)
    if not k:
        return None
    tool, kind, i = k
    fn, path = top_frame(lines, i)
    # UBSan reports carry the location on the report line itself
    if tool == "ubsan" and path == "?":
        m = re.search(r"(\S+):\d+:\d+: runtime error", lines[i])
        if m and "/src/" in m.group(1):
            path = "src/" + m.group(1).split("/src/", 1)[1]
    return "signature: %s %s in %s %s" % (tool, kind, fn, path)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "sig":
        text = open(sys.argv[2], errors="replace").read()
        s = signature(text)
        print(s or "signature: none")
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "match":
        rx = re.compile(sys.argv[2])
        text = open(sys.argv[3], errors="replace").read()
        s = signature(text)
        lines = text.splitlines() + ([s] if s else [])
        return 0 if any(rx.search(l) for l in lines) else 1
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
