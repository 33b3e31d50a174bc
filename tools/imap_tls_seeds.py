#!/usr/bin/env python3
"""Writes the imap_tls seed corpus: the hand-written IMAP sessions of corpus/imap behind the
imap_tls prefix (targets/imap_tls.c: suite, seq, 144 key bytes, iv_seed, pad, cut pattern).

    tools/imap_tls_seeds.py [ROOT]      (default: the repository holding this script)
    tools/imap_tls_seeds.py --suites    (KEYS_LEN and the suite table, for the sync test)

The Q239082 seed (append_crlf_same_read) goes through every suite with one read per record;
the other sessions through a few suites and ciphertext cut patterns (1-byte reads, reads that
join records, reads that split them)."""
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--suites" else \
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A copy of SUITES (targets/oracles/imap_tls_check.c) and IMAP_TLS_KEYS_LEN (imap_tls_check.h):
# the input's suite byte indexes SUITES;
# kept equal by targets/tests/seed_tables_match_c.sh, which reads the C source.
SUITES = [
    (0x0301, 0x000A, "TLS1.0 DES-CBC3-SHA"), (0x0301, 0x002F, "TLS1.0 AES128-SHA"),
    (0x0301, 0x0035, "TLS1.0 AES256-SHA"), (0x0302, 0x000A, "TLS1.1 DES-CBC3-SHA"),
    (0x0302, 0x002F, "TLS1.1 AES128-SHA"), (0x0303, 0x000A, "TLS1.2 DES-CBC3-SHA"),
    (0x0303, 0x002F, "TLS1.2 AES128-SHA"), (0x0303, 0x0035, "TLS1.2 AES256-SHA"),
    (0x0303, 0xC02F, "TLS1.2 ECDHE-RSA-AES128-GCM-SHA256"),
    (0x0303, 0xC030, "TLS1.2 ECDHE-RSA-AES256-GCM-SHA384"),
    (0x0303, 0xCCA8, "TLS1.2 ECDHE-RSA-CHACHA20-POLY1305"),
    (0x0304, 0x1301, "TLS1.3 AES_128_GCM_SHA256"), (0x0304, 0x1302, "TLS1.3 AES_256_GCM_SHA384"),
    (0x0304, 0x1303, "TLS1.3 CHACHA20_POLY1305_SHA256"),
]
NSUITES = len(SUITES)
KEYS_LEN = 144


def suite_index(name):
    """The index of the suite called name in SUITES."""
    return [s[2] for s in SUITES].index(name)


def prefix(suite, seq=0, iv_seed=0x5a, pad=0, cuts=()):
    keys = bytes((i * 7 + 3 + suite) & 0xFF for i in range(KEYS_LEN))
    return bytes([suite, seq]) + keys + bytes([iv_seed, pad, len(cuts)]) + bytes(cuts)


def main():
    if sys.argv[1:] == ["--suites"]:  # the tables as targets/tests/seed_tables_match_c.sh reads them
        print("KEYS_LEN %d" % KEYS_LEN)
        print("PREFIX_FIXED %d" % len(prefix(0)))  # the prefix without its cut sizes
        for i, (v, s, name) in enumerate(SUITES):
            print("%d 0x%04x 0x%04x %s" % (i, v, s, name))
        return
    src = os.path.join(ROOT, "corpus", "imap")
    dst = os.path.join(ROOT, "corpus", "imap_tls")
    os.makedirs(dst, exist_ok=True)
    sessions = {}
    for name in sorted(os.listdir(src)):
        txt = os.path.join(ROOT, "corpus", "sessions", "imap", name + ".txt")
        if os.path.exists(txt):  # hand-written ones only
            with open(os.path.join(src, name), "rb") as f:
                sessions[name] = f.read()
    out = {}
    for s in range(NSUITES):
        out["append_crlf_same_read-s%02d" % s] = prefix(s, seq=s) + sessions["append_crlf_same_read"]
    variants = [
        (suite_index("TLS1.0 DES-CBC3-SHA"), (1,)),                # one ciphertext byte per read
        (suite_index("TLS1.2 AES128-SHA"), (7, 0x85)),             # 7 bytes then 641
        (suite_index("TLS1.2 ECDHE-RSA-AES128-GCM-SHA256"), (0x82, 3)),  # 257 then 3
        (suite_index("TLS1.3 AES_128_GCM_SHA256"), (0,)),          # everything in one read
        (suite_index("TLS1.3 CHACHA20_POLY1305_SHA256"), (5, 0)),  # the first header, then the rest
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
