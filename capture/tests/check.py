#!/usr/bin/env python3
"""Checks the pcap-import command against tshark's ground truth and against tshark run live.

Usage: check.py IMPORTER CAPTURES_DIR WORKDIR

1. Every capture of CAPTURES_DIR/truth.jsonl (shipped copies of the shared set, with the
   ground truth tshark 4.0.17 produced: truth/<id>.tcp.* = follow,tcp,raw, truth/<id>.tls.* =
   follow,tls,raw with the key log):
   - with its key log: the session file's C events before T are exactly the captured client
     segments up to the ClientHello (lengths = tcp_c2s_segment_lengths, bytes = tcp.c2s), the
     S events before T the server's up to the ServerHello; after T the C/S payloads
     concatenated equal tls.c2s / tls.s2c and their lengths are the non-empty record lengths;
   - without a key log: no T event, the session ends at the ClientHello (b02, implicit TLS,
     imports nothing: exit 1).
2. Crafted variants of the plaintext capture b06, built here from its frames: other link
   types (Linux SLL, SLL2, BSD NULL, raw IPv4), IPv6, reordered, retransmitted, overlapping and
   split segments. Each must give the same client/server streams as tshark's follow,tcp,raw on
   the same file (tshark run live), and the boundaries of the segments as sent.
   A capture with a segment removed must be reported as a gap and cut, never glued.
3. Bad input: empty, garbage, truncated file, unsupported link type, garbage and non-matching
   key logs: a clear message and the documented exit status, never a crash (the importer runs
   under ASan/UBSan in the test build).
4. Output rules: file name = sha256(content)[:16], IMAP sessions in imap/ and starttls/, a
   second run writes nothing new and overwrites nothing.
The session files are decoded by tools/mxsession.py, the Python session parser.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mxsession  # noqa: E402

from pcapng_craft import csum, read_pcapng_frames  # the capture tests' one checksum and pcapng reader

IMPORTER, CAPS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def decode_session(data):
    """The raw header bytes and the events, by the one Python session parser (tools/mxsession.py,
    kept equal to the C parser by targets/tests/session_parsers_agree.sh). The importer writes
    version 1 (corpus/FORMAT.md, "Versions"): the header is the first 4 bytes."""
    s = mxsession.parse(data)
    check(s.version == 1, "session file is version %d, the importer writes version 1" % s.version)
    return data[:4], s.events


def run(args, expect=None):
    # --whole: every file is compared with the capture byte for byte, so no session is split
    # for a target's max_len (capture/seed_split.h; listener_facts.py checks the split)
    p = subprocess.run([IMPORTER, "--whole"] + args, capture_output=True, text=True)
    if expect is not None and p.returncode != expect:
        fail("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(args), p.returncode, expect,
                                                               p.stdout, p.stderr))
    return p


def files_in(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def one_session(out, target="starttls"):
    names = [n for n in files_in(os.path.join(out, target)) if not n.startswith(".")]
    if not check(len(names) == 1, "%s: want 1 session file in %s, got %s" % (out, target, names)):
        return None, None
    data = open(os.path.join(out, target, names[0]), "rb").read()
    check(names[0] == hashlib.sha256(data).hexdigest()[:16], "%s: file name is not sha256[:16]" % names[0])
    return names[0], data


def split_tls(evs):
    """(C before T, S before T, C after T, S after T), each a list of payloads."""
    seen_t = False
    out = ([], [], [], [])
    for t, p in evs:
        if t == "T":
            seen_t = True
        elif t in "CS":
            out[(2 if seen_t else 0) + (t == "S")].append(p)
    return out, seen_t


def segs_prefix(lengths, cut):
    """segment lengths of a stream truncated at byte offset cut (the last one split)."""
    out, pos = [], 0
    for n in lengths:
        if pos >= cut:
            break
        out.append(min(n, cut - pos))
        pos += n
    return out


# ---------------------------------------------------------------- 1. the real captures
truth = [json.loads(l) for l in open(os.path.join(CAPS, "truth.jsonl"))]
check(len(truth) == 7, "truth.jsonl has %d lines, want 7" % len(truth))
for t in truth:
    sid = t["id"]
    cap = os.path.join(CAPS, t["file"])
    tcp_c = open(os.path.join(CAPS, t["tcp_c2s_file"]), "rb").read()
    tcp_s = open(os.path.join(CAPS, t["tcp_s2c_file"]), "rb").read()
    hc = t["tls_handshake_offset_c2s"]
    hs = t["tls_handshake_offset_s2c"]
    c_cut = len(tcp_c) if hc is None else hc
    s_cut = len(tcp_s) if hs is None else hs
    for with_keys in ([True, False] if t["keylog"] else [False]):
        out = os.path.join(WORK, "%s-%s" % (sid, "keys" if with_keys else "nokeys"))
        args = ["--out", out, cap]
        if with_keys:
            args = ["--keylog", os.path.join(CAPS, t["keylog"])] + args
        implicit_nokeys = t["tls_mode"] == "implicit" and not with_keys
        p = run(args, expect=1 if implicit_nokeys else 0)
        if implicit_nokeys:
            check("nothing could be imported" in p.stderr, "%s: no message for nothing imported" % sid)
            check("no key log" in p.stdout, "%s: no reason given for the cut" % sid)
            continue
        name, data = one_session(out)
        if data is None:
            continue
        if t["protocol"] == "imap":
            n2, d2 = one_session(out, "imap")
            check(n2 == name and d2 == data, "%s: imap/ and starttls/ differ" % sid)
        else:
            check(files_in(os.path.join(out, "imap")) == [], "%s: a non-IMAP session in imap/" % sid)
        hdr, evs = decode_session(data)
        check(hdr[0] == {"smtp": 0, "imap": 1, "pop3": 2}[t["protocol"]], "%s: proto byte %d" % (sid, hdr[0]))
        want_mode = {"plain": None, "starttls": 1, "implicit": 2}[t["tls_mode"]]
        if want_mode is not None:
            check(hdr[1] == want_mode, "%s: mode byte %d, want %d" % (sid, hdr[1], want_mode))
        (c0, s0, c1, s1), seen_t = split_tls(evs)
        label = "%s (%s)" % (sid, "key log" if with_keys else "no key log")
        check(b"".join(c0) == tcp_c[:c_cut], "%s: client plaintext differs from follow,tcp" % label)
        check(b"".join(s0) == tcp_s[:s_cut], "%s: server plaintext differs from follow,tcp" % label)
        check([len(x) for x in c0] == segs_prefix(t["tcp_c2s_segment_lengths"], c_cut),
              "%s: client segment boundaries %s, want %s" % (label, [len(x) for x in c0],
                                                             segs_prefix(t["tcp_c2s_segment_lengths"], c_cut)))
        check([len(x) for x in s0] == segs_prefix(t["tcp_s2c_segment_lengths"], s_cut),
              "%s: server segment boundaries differ" % label)
        if t["tls_mode"] == "plain":
            check(not seen_t and not c1 and not s1, "%s: TLS events in a plain session" % label)
        elif with_keys:
            tls_c = open(os.path.join(CAPS, t["tls_c2s_file"]), "rb").read()
            tls_s = open(os.path.join(CAPS, t["tls_s2c_file"]), "rb").read()
            check(seen_t, "%s: no T event" % label)
            check(b"".join(c1) == tls_c, "%s: decrypted client data differs from follow,tls" % label)
            check(b"".join(s1) == tls_s, "%s: decrypted server data differs from follow,tls" % label)
            check([len(x) for x in c1] == t["tls_c2s_record_lengths"],
                  "%s: client record boundaries %s want %s" % (label, [len(x) for x in c1], t["tls_c2s_record_lengths"]))
            check([len(x) for x in s1] == t["tls_s2c_record_lengths"], "%s: server record boundaries" % label)
            check("decrypted" in p.stdout, "%s: summary does not say decrypted" % label)
            etm = bool(t["tls_observed"].get("encrypt_then_mac"))
            check(("encrypt-then-MAC" in p.stdout) == etm, "%s: encrypt-then-MAC should be %s" % (label, etm))
        else:
            check(not seen_t and not c1 and not s1, "%s: events after the handshake without keys" % label)
            check("no key log" in p.stdout, "%s: the cut is not explained" % label)

# ---------------------------------------------------------------- 2. crafted variants of b06
PCAP_HDR = struct.Struct("<IHHiIII")
REC = struct.Struct("<IIII")


def write_pcap(path, linktype, frames):
    with open(path, "wb") as f:
        f.write(PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for k, fr in enumerate(frames):
            f.write(REC.pack(1000 + k, 0, len(fr), len(fr)))
            f.write(fr)


def split_eth(frame):
    return frame[14:]  # all frames of the set are Ethernet + IPv4


def ip4_fields(ip):
    ihl = (ip[0] & 15) * 4
    return ip[12:16], ip[16:20], ip[ihl:]


def tcp_parts(ip):
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:tot]
    doff = (tcp[12] >> 4) * 4
    return tcp[:doff], tcp[doff:]


def build_ip4(src, dst, tcph, payload):
    tot = 20 + len(tcph) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, 0, 0x4000, 64, 6, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + tcph + payload


def build_ip6(src4, dst4, tcph, payload):
    src = b"\x20\x01\x0d\xb8" + b"\0" * 8 + src4
    dst = b"\x20\x01\x0d\xb8" + b"\0" * 8 + dst4
    # a destination-options extension header before TCP (8 bytes, PadN)
    ext = bytes([6, 0, 1, 4, 0, 0, 0, 0])
    return struct.pack("!IHBB16s16s", 0x60000000, len(ext) + len(tcph) + len(payload), 60, 64, src, dst) + ext + tcph + payload


def with_seq(tcph, seq):
    return tcph[:4] + struct.pack("!I", seq) + tcph[8:]


def link(kind, ip, v6=False):
    et = b"\x86\xdd" if v6 else b"\x08\x00"
    if kind == "eth":
        return b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + et + ip
    if kind == "sll":
        return struct.pack("!HHH8s", 0, 772, 6, b"\0" * 8) + et + ip
    if kind == "sll2":
        return et + b"\0\0" + struct.pack("!IHBB8s", 1, 772, 0, 6, b"\0" * 8) + ip
    if kind == "null":
        return struct.pack("<I", 30 if v6 else 2) + ip
    if kind == "raw":
        return ip
    raise ValueError(kind)


LINKTYPE = {"eth": 1, "sll": 113, "sll2": 276, "null": 0, "raw": 101}

b06 = [t for t in truth if t["id"] == "b06"][0]
frames = read_pcapng_frames(os.path.join(CAPS, b06["file"]))
segs = []  # (src, dst, tcp header, payload)
for _, _, fr in frames:
    ip = split_eth(fr)
    src, dst, _ = ip4_fields(ip)
    th, pl = tcp_parts(ip)
    segs.append((src, dst, th, pl))
client_port = b06["client_port"]


def is_client(s):
    return struct.unpack("!H", s[2][:2])[0] == client_port


def variant(name):
    """List of (src, dst, tcph, payload) for a perturbation of b06; returns (segments, note)."""
    s = list(segs)
    data_idx = [i for i, x in enumerate(s) if x[3]]
    cdata = [i for i in data_idx if is_client(s[i])]
    if name == "plain":
        return s
    if name == "reorder":  # the 1505-byte client segment before the 62-byte one
        i, j = cdata[1], cdata[2]
        s[i], s[j] = s[j], s[i]
        return s
    if name == "retransmit":  # every client data segment sent twice, the copy later
        out = []
        for k, x in enumerate(s):
            out.append(x)
            if k in cdata:
                out.append(x)
        return out
    if name == "overlap":  # the big segment split in two that overlap by 100 bytes, sent as
        #                   first half, then the whole, then the second half
        k = cdata[2]
        src, dst, th, pl = s[k]
        seq = struct.unpack("!I", th[4:8])[0]
        a = (src, dst, th, pl[:700])
        b = (src, dst, with_seq(th, seq + 600), pl[600:])
        return s[:k] + [a, s[k], b] + s[k + 1:]
    if name == "split":  # the big segment sent as two segments, second first (out of order)
        k = cdata[2]
        src, dst, th, pl = s[k]
        seq = struct.unpack("!I", th[4:8])[0]
        a = (src, dst, th, pl[:500])
        b = (src, dst, with_seq(th, seq + 500), pl[500:])
        return s[:k] + [b, a] + s[k + 1:]
    if name == "gap":  # the 62-byte client segment is lost
        return s[:cdata[1]] + s[cdata[1] + 1:]
    raise ValueError(name)


def tshark_follow(path):
    p = subprocess.run(["tshark", "-r", path, "-q", "-z", "follow,tcp,raw,0"], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    lines = p.stdout.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("Node 1:")) + 1
    except StopIteration:
        return None
    c, s = b"", b""
    for l in lines[start:]:
        if l.startswith("====="):
            break
        if l.startswith("\t"):
            s += bytes.fromhex(l.strip())
        else:
            c += bytes.fromhex(l.strip())
    return c, s


tcp_c6 = open(os.path.join(CAPS, b06["tcp_c2s_file"]), "rb").read()
tcp_s6 = open(os.path.join(CAPS, b06["tcp_s2c_file"]), "rb").read()
cases = [("eth", False, "plain"), ("sll", False, "plain"), ("sll2", False, "plain"), ("null", False, "plain"),
         ("raw", False, "plain"), ("eth", True, "plain"), ("sll2", True, "reorder"), ("eth", False, "reorder"),
         ("eth", False, "retransmit"), ("null", True, "overlap"), ("eth", False, "split"), ("eth", False, "gap")]
for kind, v6, name in cases:
    label = "b06 %s%s %s" % (kind, "/ipv6" if v6 else "", name)
    path = os.path.join(WORK, "b06-%s-%s-%s.pcap" % (kind, "6" if v6 else "4", name))
    fr = [link(kind, (build_ip6 if v6 else build_ip4)(a, b, th, pl), v6) for a, b, th, pl in variant(name)]
    write_pcap(path, LINKTYPE[kind], fr)
    out = path + ".out"
    p = run(["--out", out, path], expect=0)
    nm, data = one_session(out)
    if data is None:
        continue
    _, evs = decode_session(data)
    cs = [x for t, x in evs if t == "C"]
    ss = [x for t, x in evs if t == "S"]
    if name == "gap":
        check("gap in the client stream" in p.stdout and "cut" in p.stdout, "%s: gap not reported:\n%s" % (label, p.stdout))
        lost = b06["tcp_c2s_segment_lengths"][1]
        first = b06["tcp_c2s_segment_lengths"][0]
        check(b"".join(cs) == tcp_c6[:first], "%s: client data after the gap was kept" % label)
        check(all(tcp_c6[first + lost:] not in x for x in cs), "%s: glued across the gap" % label)
        continue
    check(b"".join(cs) == tcp_c6, "%s: client stream differs from the truth" % label)
    check(b"".join(ss) == tcp_s6, "%s: server stream differs from the truth" % label)
    want = b06["tcp_c2s_segment_lengths"]
    got = [len(x) for x in cs]
    if name in ("plain", "retransmit", "reorder"):
        check(got == want, "%s: client boundaries %s, want %s" % (label, got, want))
    elif name == "overlap":
        check(got == [want[0], want[1], 700, want[2] - 700, want[3]], "%s: boundaries %s" % (label, got))
    elif name == "split":
        # the second half waited for the first: each is one chunk, delivered in stream order
        check(got == [want[0], want[1], 500, want[2] - 500, want[3]], "%s: boundaries %s" % (label, got))
    ts = tshark_follow(path)
    if check(ts is not None, "%s: tshark follow gave nothing" % label):
        check(ts[0] == b"".join(cs), "%s: client stream differs from tshark follow,tcp" % label)
        check(ts[1] == b"".join(ss), "%s: server stream differs from tshark follow,tcp" % label)

# capture started late: without the handshake packets (no SYN) the session is imported and
# flagged; started after the TLS handshake, it cannot be imported and says why
path = os.path.join(WORK, "b06-nosyn.pcap")
write_pcap(path, 1, [fr for _, _, fr in frames[3:]])
p = run(["--out", path + ".out", path], expect=0)
check("SYN was not captured" in p.stdout, "no-SYN capture: not flagged:\n%s" % p.stdout)
nm, data = one_session(path + ".out")
if data is not None:
    _, evs = decode_session(data)
    check(b"".join(x for t, x in evs if t == "C") == tcp_c6, "no-SYN capture: client stream differs")
    check(b"".join(x for t, x in evs if t == "S") == tcp_s6, "no-SYN capture: server stream differs")
b04 = [t for t in truth if t["id"] == "b04"][0]
f4 = read_pcapng_frames(os.path.join(CAPS, b04["file"]))
late = None
for k, (_, _, fr) in enumerate(f4):
    ip = split_eth(fr)
    th, pl = tcp_parts(ip)
    if struct.unpack("!H", th[:2])[0] == b04["client_port"] and pl[:1] == b"\x17":
        late = k
        break
check(late is not None, "b04: no client application data frame found")
path = os.path.join(WORK, "b04-late.pcap")
write_pcap(path, 1, [fr for _, _, fr in f4[late:]])
p = run(["--keylog", os.path.join(CAPS, b04["keylog"]), "--out", path + ".out", path], expect=1)
check("starts inside TLS" in p.stdout, "capture started inside TLS: not explained:\n%s" % p.stdout)

# a client that sends its ClientHello in the same segment as STARTTLS, before the server's
# reply (b01 rebuilt that way): the plaintext part, the server's reply and the decrypted data
# must come out as from the original
b01 = [t for t in truth if t["id"] == "b01"][0]
f1 = read_pcapng_frames(os.path.join(CAPS, b01["file"]))
cidx = []
for k, (_, _, fr) in enumerate(f1):
    th, pl = tcp_parts(split_eth(fr))
    if struct.unpack("!H", th[:2])[0] == b01["client_port"] and pl:
        cidx.append(k)
src, dst, _ = ip4_fields(split_eth(f1[cidx[1]][2]))
th2, pl2 = tcp_parts(split_eth(f1[cidx[1]][2]))
_, pl3 = tcp_parts(split_eth(f1[cidx[2]][2]))
check(pl2 == b"STARTTLS\r\n" and pl3[:1] == b"\x16", "b01: segments 2 and 3 are not STARTTLS + ClientHello")
merged = f1[cidx[1]][2][:14] + build_ip4(src, dst, th2, pl2 + pl3)
fr1 = [fr for k, (_, _, fr) in enumerate(f1) if k != cidx[2]]
fr1[cidx[1]] = merged
path = os.path.join(WORK, "b01-eager.pcap")
write_pcap(path, 1, fr1)
p = run(["--keylog", os.path.join(CAPS, b01["keylog"]), "--out", path + ".out", path], expect=0)
nm, data = one_session(path + ".out")
if data is not None:
    _, evs = decode_session(data)
    (c0, s0, c1, s1), seen_t = split_tls(evs)
    tcp_c1 = open(os.path.join(CAPS, b01["tcp_c2s_file"]), "rb").read()
    tcp_s1 = open(os.path.join(CAPS, b01["tcp_s2c_file"]), "rb").read()
    check([len(x) for x in c0] == [18, 10] and b"".join(c0) == tcp_c1[:28], "eager client: plaintext part %s" % [len(x) for x in c0])
    check(b"".join(s0) == tcp_s1[:b01["tls_handshake_offset_s2c"]], "eager client: server plaintext differs")
    check(seen_t and b"".join(c1) == open(os.path.join(CAPS, b01["tls_c2s_file"]), "rb").read(),
          "eager client: decrypted client data differs:\n%s" % p.stdout)
    check(b"".join(s1) == open(os.path.join(CAPS, b01["tls_s2c_file"]), "rb").read(), "eager client: decrypted server data differs")

# ---------------------------------------------------------------- 3. bad input
bad = os.path.join(WORK, "bad")
os.makedirs(bad, exist_ok=True)
b06cap = os.path.join(CAPS, b06["file"])
b06bytes = open(b06cap, "rb").read()
b01 = [t for t in truth if t["id"] == "b01"][0]
b02 = [t for t in truth if t["id"] == "b02"][0]
b07 = [t for t in truth if t["id"] == "b07"][0]


def write(name, data):
    path = os.path.join(bad, name)
    open(path, "wb").write(data)
    return path


p = run(["--out", bad + "/o1", write("empty.pcap", b"")], expect=1)
check("empty file" in p.stderr, "empty capture: message %r" % p.stderr)
p = run(["--out", bad + "/o2", write("garbage.pcap", b"this is not a capture\n" * 20)], expect=1)
check("not a readable pcap" in p.stderr, "garbage capture: message %r" % p.stderr)
# wrong link type: IEEE 802.11 (105)
p = run(["--out", bad + "/o3", write("wlan.pcap", PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, 105) + REC.pack(0, 0, 4, 4) + b"abcd")], expect=1)
check("unsupported link type 105" in p.stderr, "wrong link type: message %r" % p.stderr)
# truncated in the middle of a packet: what came before is imported, the break is reported
plain = os.path.join(WORK, "b06-eth-4-plain.pcap")
pb = open(plain, "rb").read()
p = run(["--out", bad + "/o4", write("trunc.pcap", pb[:len(pb) * 2 // 3])], expect=0)
check("breaks off" in p.stdout, "truncated capture: no warning:\n%s" % p.stdout)
# truncated inside the file header
p = run(["--out", bad + "/o5", write("trunc-hdr.pcapng", b06bytes[:10])], expect=1)
check("pcap-import:" in p.stderr, "header-truncated capture: no message")
# garbage key log: lines reported, plaintext part still imported, cut at the handshake
kg = write("garbage.keys", b"CLIENT_RANDOM zz 00\nhello world\n\x00\xff\xfe\nCLIENT_RANDOM " + b"ab" * 32 + b" 1234\n")
p = run(["--keylog", kg, "--out", bad + "/o6", os.path.join(CAPS, b01["file"])], expect=0)
check("not understood" in p.stderr and "4 line(s)" in p.stderr, "garbage key log: message %r" % p.stderr)
check("no CLIENT_RANDOM" in p.stdout, "garbage key log: the missing key is not explained:\n%s" % p.stdout)
# a key log for another session: nothing matches; implicit TLS then imports nothing
p = run(["--keylog", os.path.join(CAPS, b01["keylog"]), "--out", bad + "/o7", os.path.join(CAPS, b02["file"])], expect=1)
check("matched no TLS session" in p.stderr, "non-matching key log: message %r" % p.stderr)
p = run(["--keylog", os.path.join(CAPS, b01["keylog"]), "--out", bad + "/o8", os.path.join(CAPS, b07["file"])], expect=0)
check("matched no TLS session" in p.stderr and "no CLIENT/SERVER_HANDSHAKE" in p.stdout, "non-matching key log (b07)")
# usage errors
run(["--port", "99:gopher", b06cap], expect=2)
run([b06cap], expect=2)
run(["--out", bad + "/o9"], expect=2)

# ---------------------------------------------------------------- 4. output rules
out = os.path.join(WORK, "twice")
args = ["--keylog", os.path.join(CAPS, [t for t in truth if t["id"] == "b03"][0]["keylog"]), "--out", out,
        os.path.join(CAPS, [t for t in truth if t["id"] == "b03"][0]["file"]), b06cap]


def fsyncs(args):
    """The fsync calls of one pcap-import run (strace: build.sh's test dependencies)."""
    log = os.path.join(WORK, "fsync.strace")
    # LeakSanitizer cannot run under ptrace: its exit check only, the rest of ASan stays on
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,sync,syncfs", "-o", log, IMPORTER] + args,
                       capture_output=True, text=True, env=env)
    check(r.returncode == 0, "pcap-import under strace: exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
    return [l for l in open(log) if "sync" in l]


# fsync only what is new: one per new file before its link, one per folder at the end (issue
# 16: one fsync per target per session, files already present included, made it half as fast
# as tshark); a second run finds every file present and syncs nothing
synced = fsyncs(args)
first = {d: {n: os.stat(os.path.join(out, d, n)).st_ino for n in files_in(os.path.join(out, d))} for d in ("imap", "starttls")}
check(len(first["imap"]) == 1 and len(first["starttls"]) == 2, "output layout %s" % first)
check(len(synced) == 3 + 2, "first run: %d fsync call(s), want 5 (3 new files, 2 folders):\n%s" % (len(synced), "".join(synced)))
check(fsyncs(args) == [], "second run (every file present): fsync calls")
p = run(args, expect=0)
second = {d: {n: os.stat(os.path.join(out, d, n)).st_ino for n in files_in(os.path.join(out, d))} for d in ("imap", "starttls")}
check(first == second, "a second run changed the output directory")
check("imap 0 written, 1 already present; starttls 0 written, 2 already present" in p.stdout, "second run summary:\n%s" % p.stdout)
# --dump prints the text form
p = run(["--dump", b06cap], expect=0)
check('client "EHLO' in p.stdout and "proto smtp" in p.stdout, "--dump output:\n%s" % p.stdout[:500])

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("pcap-import: all checks passed")
