#!/usr/bin/env bash
# capture/bench/import_vs_tshark.sh - pcap-import against tshark on a capture of 100 mail
# connections (a bench: figures and ratios from one run, never a pass/fail test of speed).
#
# usage: capture/bench/import_vs_tshark.sh [--connections N] [--rounds R]
#
# Builds an optimized, unsanitized pcap-import in build/release, makes a capture of N (default
# 100) connections from the seven shipped ones (corpus/captures/: each copied in turn with its
# own client port, so every TLS session is decrypted again; their key logs merged), then R
# rounds (default 5), interleaved so that both see the same machine load:
#   import-new    pcap-import --keylog K --out FRESH_DIR CAP (every session decrypted and
#                 written, new files fsynced; copies of one capture give one file, same content)
#   import-again  the same into the directory of the previous round (every file present:
#                 nothing written, nothing synced)
#   tshark        tshark -n -r CAP -o tls.keylog_file:K -Y "smtp||imap||pop" -T fields
#                 -e frame.number (reassembles TCP, decrypts TLS with the key log, dissects the
#                 mail protocols: the work the importer does, minus writing the sessions)
# Each run's wall time and CPU time (user+sys of the process); per round the ratio tshark /
# importer (> 1: the importer is faster), and their medians. The load average is printed
# before and after (the machine may be shared).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
conns=100 rounds=5
while [[ $# -gt 0 ]]; do
    case $1 in
    --connections) conns=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "import_vs_tshark.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v tshark >/dev/null || { echo "import_vs_tshark.sh: no tshark (apt-get install tshark)" >&2; exit 2; }
B=$ROOT/build/release
echo "== building pcap-import (build.conf profile release: -O2, no sanitizers) in ${B#"$ROOT"/}"
MXFUZZ_BUILD_DIR=$ROOT/build "$ROOT/build.sh" build release pcap-import >/dev/null
W=$(mktemp -d "${TMPDIR:-/tmp}/import-vs-tshark.XXXXXX")
trap 'rm -rf "$W"' EXIT
echo "== load before: $(uptime)"
python3 - "$ROOT" "$W" "$conns" "$rounds" "$B/tools/pcap-import" <<'PY'
import os, resource, statistics, struct, subprocess, sys, time
root, w, conns, rounds, importer = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(root, "capture", "tests"))
from pcapng_craft import read_pcapng_frames, write_frames  # noqa: E402

caps = os.path.join(root, "corpus", "captures")
names = sorted(n[:-7] for n in os.listdir(caps) if n.endswith(".pcapng"))
frames, keys, ts = [], b"", 1_700_000_000_000_000
for k in range(conns):
    name = names[k % len(names)]
    src = read_pcapng_frames(os.path.join(caps, name + ".pcapng"))
    # the client port: the lower-numbered side is the server's well-known port
    ip = src[0][2][14:]
    sport, dport = struct.unpack_from("!HH", ip, (ip[0] & 15) * 4)
    client, port = (sport, dport) if sport > dport else (dport, sport)
    new = 20000 + k
    for _, _, fr in src:
        ip = bytearray(fr[14:])
        off = (ip[0] & 15) * 4
        s, d = struct.unpack_from("!HH", ip, off)
        struct.pack_into("!HH", ip, off, new if s == client else s, new if d == client else d)
        struct.pack_into("!H", ip, off + 16, 0)  # no TCP checksum (0: not computed; neither tool checks)
        ts += 50
        frames.append((ts >> 32, ts & 0xFFFFFFFF, fr[:14] + bytes(ip)))
    if k < len(names) and os.path.exists(os.path.join(caps, name + ".keys")):
        keys += open(os.path.join(caps, name + ".keys"), "rb").read()
cap, keylog = os.path.join(w, "many.pcapng"), os.path.join(w, "many.keys")
write_frames(cap, frames)
open(keylog, "wb").write(keys)
print("== capture: %d connections, %d packets, %d bytes (%s)" % (conns, len(frames), os.path.getsize(cap), cap))


def run(args, out=subprocess.DEVNULL):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(args, stdout=out, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("%s: exit %d\n%s" % (args[0], p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p


ratios = {"import-new": [], "import-again": []}
print("%-6s %-13s %9s %9s" % ("round", "run", "wall s", "cpu s"))
for r in range(rounds):
    out = os.path.join(w, "out%d" % r)
    res = {}
    res["import-new"] = run([importer, "--keylog", keylog, "--out", out, cap], out=subprocess.PIPE)
    res["import-again"] = run([importer, "--keylog", keylog, "--out", out, cap])
    res["tshark"] = run(["tshark", "-n", "-r", cap, "-o", "tls.keylog_file:" + keylog, "-Y", "smtp||imap||pop",
                         "-T", "fields", "-e", "frame.number"], out=subprocess.PIPE)
    if r == 0:
        for l in res["import-new"][2].stdout.decode().splitlines():
            if l.startswith(("summary:", "  TLS:", "  files:")):
                print("   import, round 0:", l.strip())
        # copies of one capture give the same session file (same name = same content)
        print("   tshark printed %d mail packet(s)" % len(res["tshark"][2].stdout.split()))
    for k in ("import-new", "import-again", "tshark"):
        print("%-6d %-13s %9.3f %9.3f" % (r, k, res[k][0], res[k][1]))
    for k in ratios:
        ratios[k].append((res["tshark"][0] / res[k][0], res["tshark"][1] / max(res[k][1], 1e-6)))
for k, v in ratios.items():
    print("median tshark/%s: wall %.2f, cpu %.2f (per round: %s)" %
          (k, statistics.median(a for a, _ in v), statistics.median(b for _, b in v),
           " ".join("%.2f/%.2f" % x for x in v)))
PY
echo "== load after: $(uptime)"
