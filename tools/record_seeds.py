#!/usr/bin/env python3
"""Writes the seed corpus of targets/record_diff.c: corpus/record_diff/ (every version x suite of
record_suites in targets/oracles/record_model.c, clean records of boundary sizes, each corruption
kind, several read patterns). corpus/record/ comes from tools/record-seeds.c.
Usage: tools/record_seeds.py [REPO_ROOT]. File names are the first 12 hex of the sha256.
       tools/record_seeds.py --suites   (the suite table and key sizes, as record-seeds --suites)"""
import hashlib, os, struct, sys

# A copy of record_suites in targets/oracles/record_model.c (the targets pick by index; version,
# suite, encrypt-then-MAC), and in
# info() the key sizes of tls_oracle_suite_info / record_conn_init: kept equal by
# targets/tests/seed_tables_match_c.sh (this script's --suites against `record-seeds --suites`).
SUITES = [(0x0301, 0x000A, 0), (0x0301, 0x002F, 0), (0x0301, 0x0035, 0), (0x0302, 0x000A, 0),
          (0x0302, 0x002F, 0), (0x0302, 0x0035, 0), (0x0303, 0x000A, 0), (0x0303, 0x002F, 0),
          (0x0303, 0x0035, 0), (0x0303, 0xC02F, 0), (0x0303, 0xC030, 0), (0x0303, 0xCCA8, 0),
          (0x0304, 0x1301, 0), (0x0304, 0x1302, 0), (0x0304, 0x1303, 0), (0x0301, 0xC014, 0),
          (0x0303, 0x009C, 0), (0x0303, 0x009D, 0),
          # encrypt-then-MAC (the third field) and HMAC-SHA256/384 CBC
          (0x0301, 0x002F, 1), (0x0302, 0x000A, 1), (0x0303, 0x0035, 1), (0x0303, 0x003C, 0),
          (0x0303, 0x003D, 1), (0x0303, 0xC028, 0), (0x0303, 0xC024, 1), (0x0303, 0xC027, 1),
          (0x0301, 0x000A, 1)]

def info(v, s):
    """(cbc block or 0, key material length, explicit IV length)"""
    if v == 0x0304:
        return 0, 48 if s == 0x1302 else 32, 0
    mac = 20
    if s in (0x000A,):
        blk, key = 8, 24
    elif s in (0x002F,):
        blk, key = 16, 16
    elif s in (0x0035, 0xC014):
        blk, key = 16, 32
    elif s in (0x003C, 0xC027):
        blk, key, mac = 16, 16, 32
    elif s in (0x003D,):
        blk, key, mac = 16, 32, 32
    elif s in (0xC024, 0xC028):
        blk, key, mac = 16, 32, 48
    else:
        blk = 0
    if blk:
        ivk = blk if v == 0x0301 else 0
        return blk, 2 * (mac + key + ivk), blk if v > 0x0301 else 0
    key = 16 if s in (0xC02F, 0x009C) else 32
    iv = 12 if s == 0xCCA8 else 4
    return 0, 2 * (key + iv), 0

def seed(idx, records, cuts=(), seq=0):
    v, s, _etm = SUITES[idx]
    blk, klen, ivlen = info(v, s)
    out = bytes([idx, seq]) + bytes((i * 37 + idx) & 0xff for i in range(klen))
    out += bytes([len(cuts)]) + bytes(cuts)
    for (typ, corr, ln, fill, pad, pos, val) in records:
        out += bytes([(typ - 20) | (corr << 2)]) + struct.pack('<H', ln) + bytes([fill])
        if fill == 0:
            out += bytes((i * 5 + 3) & 0xff for i in range(ln))
        out += bytes((i * 11 + ln) & 0xff for i in range(ivlen))
        out += bytes([pad]) + struct.pack('<H', pos) + bytes([val])
    return out

def write(d, data):
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha256(data).hexdigest()[:12]
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

def main():
    if sys.argv[1:] == ['--suites']:
        # the table and the sizes the seeds are built with, as `record-seeds --suites` prints the
        # C ones (targets/tests/seed_tables_match_c.sh compares the two)
        for idx, (v, s, etm) in enumerate(SUITES):
            blk, klen, ivlen = info(v, s)
            print('%d 0x%04x 0x%04x %d %d %d %d' % (idx, v, s, etm, blk, klen, ivlen))
        return
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    d = os.path.join(root, 'corpus', 'record_diff')
    for idx in range(len(SUITES)):
        clean = [(23, 0, 0, 1, 0, 0, 0), (23, 0, 1, 2, 0, 0, 0), (22, 0, 16, 0, 3, 0, 0),
                 (21, 0, 2, 0, 0, 0, 0), (23, 0, 255, 9, 255, 0, 0), (23, 0, 1000, 7, 0, 0, 0)]
        write(d, seed(idx, clean))
        write(d, seed(idx, [(23, 0, 16384, 5, 0, 0, 0), (23, 0, 300, 6, 1, 0, 0)], cuts=(1, 7, 0x85, 200)))
        # one seed per corruption kind
        for corr, pos, val in ((3, 40, 3), (4, 0, 0x85), (4, 0, 3), (5, 0, 0x41), (6, 0, 0), (7, 0, 0x05),
                               (7, 2, 0x81), (3, 2, 0)):
            write(d, seed(idx, [(23, 0, 20, 4, 0, 0, 0), (23, corr, 47, 8, 0, pos, val), (23, 0, 5, 9, 0, 0, 0)],
                          cuts=(3,)))
    # sequence numbers near exhaustion
    write(d, seed(7, [(23, 0, 10, 1, 0, 0, 0)] * 3, seq=0xfd))
    write(d, seed(12, [(23, 0, 10, 1, 0, 0, 0)] * 3, seq=0xfe))


if __name__ == '__main__':
    main()
