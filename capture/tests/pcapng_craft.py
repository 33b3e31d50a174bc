"""pcapng_craft.py - writes small pcapng captures of TCP conversations for the importer's tests.

    conv(port, [("s", b"220 hi\r\n"), ("c", b"EHLO x\r\n"), ...], client_port=40000)
        -> list of (src, dst, tcp header, payload) segments: SYN, SYN+ACK, ACK, one segment per
           write (seq/ack kept right), then FIN from the client, FIN+ACK, ACK.
    write_pcapng(path, [segments, ...])  -> Ethernet/IPv4 pcapng, the conversations one after
           the other (each with its own client port).
    read_pcapng_frames(path) / write_frames(path, frames): a pcapng's packets, (ts_hi, ts_lo,
           frame), and back (check.py, capture/bench/import_vs_tshark.sh).
Used by capture/tests/listener_facts.py (cases no server mx-serve can play: a server that does
not offer STARTTLS, refuses it, a client that sends TLS to a plaintext port, ...).
"""
import struct

CLIENT_IP = bytes([127, 0, 0, 1])
SERVER_IP = bytes([127, 0, 0, 2])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_header(sport, dport, seq, ack, flags):
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                       65535, 0, 0)


def ip4(src, dst, tcph, payload):
    tot = 20 + len(tcph) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, 0, 0x4000, 64, 6, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + tcph + payload


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def conv(port, writes, client_port=40000, drop=()):
    """writes: ("c"|"s", bytes). drop: indexes of writes whose segment is left out (a gap)."""
    cseq, sseq = 1000, 5000
    segs = [(CLIENT_IP, SERVER_IP, tcp_header(client_port, port, cseq, 0, SYN), b""),
            (SERVER_IP, CLIENT_IP, tcp_header(port, client_port, sseq, cseq + 1, SYN | ACK), b""),
            (CLIENT_IP, SERVER_IP, tcp_header(client_port, port, cseq + 1, sseq + 1, ACK), b"")]
    cseq += 1
    sseq += 1
    for k, (d, data) in enumerate(writes):
        if d == "c":
            seg = (CLIENT_IP, SERVER_IP, tcp_header(client_port, port, cseq, sseq, ACK | PSH), data)
            cseq += len(data)
        else:
            seg = (SERVER_IP, CLIENT_IP, tcp_header(port, client_port, sseq, cseq, ACK | PSH), data)
            sseq += len(data)
        if k not in drop:
            segs.append(seg)
    segs += [(CLIENT_IP, SERVER_IP, tcp_header(client_port, port, cseq, sseq, FIN | ACK), b""),
             (SERVER_IP, CLIENT_IP, tcp_header(port, client_port, sseq, cseq + 1, FIN | ACK), b""),
             (CLIENT_IP, SERVER_IP, tcp_header(client_port, port, cseq + 1, sseq + 1, ACK), b"")]
    return segs


def block(btype, body):
    pad = (4 - len(body) % 4) % 4
    n = 12 + len(body) + pad
    return struct.pack("<II", btype, n) + body + b"\0" * pad + struct.pack("<I", n)


def write_pcapng(path, convs):
    frames, ts = [], 1_700_000_000_000_000
    for segs in convs:
        for src, dst, th, pl in segs:
            ts += 100
            frames.append((ts >> 32, ts & 0xFFFFFFFF, b"\0" * 12 + b"\x08\x00" + ip4(src, dst, th, pl)))
    write_frames(path, frames)


def write_frames(path, frames):
    """An Ethernet pcapng of frames: (ts_hi, ts_lo, frame bytes), as read_pcapng_frames gives."""
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", 1, 0, 262144))]
    for ts_hi, ts_lo, fr in frames:
        out.append(block(6, struct.pack("<IIIII", 0, ts_hi, ts_lo, len(fr), len(fr)) + fr))
    with open(path, "wb") as f:
        f.write(b"".join(out))


def read_pcapng_frames(path):
    """Enhanced Packet Blocks of a little-endian pcapng file: list of (ts_hi, ts_lo, frame)."""
    d = open(path, "rb").read()
    i, frames = 0, []
    while i + 12 <= len(d):
        btype, blen = struct.unpack_from("<II", d, i)
        if btype == 6:
            _, ts_hi, ts_lo, caplen, _ = struct.unpack_from("<IIIII", d, i + 8)
            frames.append((ts_hi, ts_lo, d[i + 28:i + 28 + caplen]))
        i += blen
    return frames


def client_hello(n=60):
    """Bytes that look like a TLS ClientHello record (enough for the importer's sniffing and
    for a server's: 0x16 0x03 0x01, length, handshake type 1)."""
    body = b"\x01" + (n - 4).to_bytes(3, "big") + b"\x03\x03" + b"\x11" * (n - 6)
    return b"\x16\x03\x01" + len(body).to_bytes(2, "big") + body


def server_hello(n=60):
    body = b"\x02" + (n - 4).to_bytes(3, "big") + b"\x03\x03" + b"\x22" * (n - 6)
    return b"\x16\x03\x03" + len(body).to_bytes(2, "big") + body
