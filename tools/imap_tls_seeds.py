#!/usr/bin/env python3
"""Writes the imap_tls seed corpus: the hand-written IMAP sessions of corpus/imap behind the
imap_tls prefix (targets/imap_tls.c: suite, seq, 144 key bytes, iv_seed, pad, cut pattern).

    tools/imap_tls_seeds.py [ROOT]      (default: the repository holding this script)

The Q239082 seed (append_crlf_same_read) goes through every suite with one read per record;
the other sessions through a few suites and ciphertext cut patterns (1-byte reads, reads that
join records, reads that split them)."""
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NSUITES = 14  # SUITES in targets/oracles/imap_tls_check.c
KEYS_LEN = 144


def prefix(suite, seq=0, iv_seed=0x5a, pad=0, cuts=()):
    keys = bytes((i * 7 + 3 + suite) & 0xFF for i in range(KEYS_LEN))
    return bytes([suite, seq]) + keys + bytes([iv_seed, pad, len(cuts)]) + bytes(cuts)


def main():
    src = os.path.join(ROOT, "corpus", "imap")
    dst = os.path.join(ROOT, "corpus", "imap_tls")
    os.makedirs(dst, exist_ok=True)
    sessions = {}
    for name in sorted(os.listdir(src)):
        txt = os.path.join(ROOT, "tests", "sessions", "imap", name + ".txt")
        if os.path.exists(txt):  # hand-written ones only
            with open(os.path.join(src, name), "rb") as f:
                sessions[name] = f.read()
    out = {}
    for s in range(NSUITES):
        out["append_crlf_same_read-s%02d" % s] = prefix(s, seq=s) + sessions["append_crlf_same_read"]
    variants = [
        (0, (1,)),            # TLS 1.0 3DES, one ciphertext byte per read
        (6, (7, 0x85)),       # TLS 1.2 AES128-SHA, 7 bytes then 641
        (8, (0x82, 3)),       # TLS 1.2 AES128-GCM, 257 then 3
        (11, (0,)),           # TLS 1.3: everything in one read
        (13, (5, 0)),         # TLS 1.3 ChaCha20: the first header, then the rest
    ]
    for i, name in enumerate(sorted(sessions)):
        if name == "append_crlf_same_read":
            continue
        suite, cuts = variants[i % len(variants)]
        out["%s-s%02d" % (name, suite)] = prefix(suite, seq=i, iv_seed=i * 13, pad=i % 5, cuts=cuts) + sessions[name]
    for name, data in out.items():
        with open(os.path.join(dst, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(out), dst))


if __name__ == "__main__":
    main()
