/* targets/record_diff.c - libmx's record decrypter against BoringSSL's record AEADs.
 *
 * Input format (every byte string is valid; fields past the end read as zero):
 *   u8  suite      index into SUITES below (value % NSUITES): a (version, cipher suite) pair
 *   u8  seq        first sequence number: v < 0xf0 gives v, else 2^64-1 - (0xff - v)
 *   key material   mx_record_key_block_len bytes (TLS 1.0-1.2) or the hash length (TLS 1.3)
 *   u8  ncuts      read pattern: ncuts % 8 sizes follow, one byte each: c & 0x80 ? (c & 0x7f)
 *                  * 128 + 1 : c, 0 meaning "everything left"; no sizes: one read for all
 *   then records until the input ends (at most MAX_RECORDS), each:
 *     u8    op       low 2 bits: content type 20 + (op & 3); op >> 2 (% 8): the corruption
 *     u16le len      plaintext length, % 16385 (0 … 16384)
 *     u8    fill     plaintext: fill 0: len bytes taken from the input (short: zero-filled),
 *                    else a pattern generated from fill
 *     iv             the CBC explicit IV, block-size bytes (TLS 1.1/1.2 CBC suites only)
 *     u8    pad      TLS 1.3 zero padding length (0 … 255)
 *     u16le pos, u8 val   corruption parameters
 *   corruptions (op >> 2): 0-2 none; 3 flip bit val & 7 of byte pos % record length (header
 *   included); 4 truncate the body by val % 32 + 1 bytes (val & 0x80: header length fixed up
 *   too, else the stream desynchronises); 5 append byte val to the body (header length +1);
 *   6 swap this record with the next one; 7 CBC: rewrite the padding (decrypt, re-pad, encrypt
 *   again: val & 0x80 corrupts padding byte pos, else adds (val % 16) blocks of valid padding);
 *   AEAD: set header byte pos % 5 to val.
 *
 * What runs: BoringSSL's record AEADs (tls_oracle: EVP_aead_*_cbc_sha1_tls[_implicit_iv],
 * EVP_aead_aes_*_gcm_tls12/tls13, ChaCha20-Poly1305) seal the records with the given keys
 * and IVs; corruptions are applied; the byte stream is cut into reads and fed to libmx's
 * decrypter (mx_record_read after mx_record_set_tls12_keys / _set_tls13_secret).
 *
 * Oracle: the same stream walked record by record by an independent model: the header rules
 * of RFC 5246/8446 (type, version, length limits, CBC minimum length and block multiple),
 * checked before any cryptography, then BoringSSL's record AEAD open (tls_oracle_open, a fresh
 * opener with the same keys), then the 2^14 plaintext limit. For each record libmx must
 * return exactly the same result: the same plaintext, type and length when BoringSSL opens it;
 * MX_REC_BAD_RECORD_MAC (TLS 1.3: or MX_REC_BAD_INNER) when BoringSSL rejects it; the same
 * length-class error code for header errors; MX_REC_NEED_MORE, consuming nothing, while a
 * record is incomplete; and MX_REC_FAILED after any error. Any divergence aborts with a
 * message naming the record and both results.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cipher.h>

#include "mx/chain.h"
#include "mx/record.h"
#include "tls_oracle.h"

#define MAX_RECORDS 48
#define MAX_STREAM (MAX_RECORDS * (5 + 16384 + 2048 + 16))

static const struct {
    uint16_t version, suite;
} SUITES[] = {
    {0x0301, 0x000A}, {0x0301, 0x002F}, {0x0301, 0x0035}, {0x0302, 0x000A}, {0x0302, 0x002F},
    {0x0302, 0x0035}, {0x0303, 0x000A}, {0x0303, 0x002F}, {0x0303, 0x0035}, {0x0303, 0xC02F},
    {0x0303, 0xC030}, {0x0303, 0xCCA8}, {0x0304, 0x1301}, {0x0304, 0x1302}, {0x0304, 0x1303},
    {0x0301, 0xC014}, {0x0303, 0x009C}, {0x0303, 0x009D},
};
#define NSUITES (sizeof SUITES / sizeof SUITES[0])

struct in {
    const uint8_t *p;
    size_t n;
};
static unsigned get8(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}
static size_t get16(struct in *in)
{
    size_t lo = get8(in);
    return lo | (size_t)get8(in) << 8;
}
static void getbytes(struct in *in, uint8_t *dst, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    memcpy(dst, in->p, k);
    memset(dst + k, 0, n - k);
    in->p += k;
    in->n -= k;
}

#define DIVERGE(...)                                              \
    do {                                                          \
        fprintf(stderr, "record_diff: divergence: " __VA_ARGS__); \
        fprintf(stderr, "\n");                                    \
        abort();                                                  \
    } while (0)

/* ---------------------------------------------------------------- building the stream */
struct conn {
    uint16_t version, suite;
    int tls13, cbc;
    size_t block, explicit_iv, key_len;
    uint8_t key_block[136];
    size_t key_block_len;
    uint8_t secret[48];
    size_t secret_len;
    uint64_t seq0;
};

struct rec {
    size_t off, len; /* in the arena */
};

/* CBC padding rewrite: decrypts body (after the header), changes the padding, encrypts again
 * with the same IV. iv_in is the IV for TLS 1.0 (chained); returns the new body length. */
static size_t cbc_repad(const struct conn *c, uint8_t *body, size_t n, const uint8_t *iv_in, unsigned pos,
                        unsigned val, size_t cap)
{
    const EVP_CIPHER *ciph = c->key_len == 24 ? EVP_des_ede3_cbc()
                             : c->key_len == 32 ? EVP_aes_256_cbc() : EVP_aes_128_cbc();
    size_t ivl = c->explicit_iv, ctn, padlen, newpad, i, newn;
    const uint8_t *key = c->key_block + 2 * 20; /* client write key */
    uint8_t iv[16], *p;
    EVP_CIPHER_CTX ctx;
    int outl;

    if (n < ivl + c->block || (n - ivl) % c->block)
        return n;
    memcpy(iv, ivl ? body : iv_in, c->block);
    ctn = n - ivl;
    p = malloc(ctn + 256 + 16);
    if (!p)
        return n;
    EVP_CIPHER_CTX_init(&ctx);
    if (!EVP_DecryptInit_ex(&ctx, ciph, NULL, key, iv) || !EVP_CIPHER_CTX_set_padding(&ctx, 0) ||
        !EVP_DecryptUpdate(&ctx, p, &outl, body + ivl, (int)ctn))
        goto out;
    padlen = p[ctn - 1];
    newn = ctn;
    if (val & 0x80) {
        if (padlen > 0 && padlen < ctn)
            p[ctn - 2 - (pos % padlen)] ^= (uint8_t)((val & 0x7f) | 1);
        else
            p[ctn - 1] = (uint8_t)pos;
    } else {
        size_t add = (val % 16) * c->block;
        newpad = padlen + add;
        while (newpad > 255)
            newpad -= c->block;
        if (newpad >= padlen && padlen < ctn && ivl + ctn - padlen - 1 + newpad + 1 <= cap) {
            newn = ctn - padlen - 1 + newpad + 1;
            for (i = ctn - padlen - 1; i < newn; i++)
                p[i] = (uint8_t)newpad;
        }
    }
    EVP_CIPHER_CTX_cleanup(&ctx);
    EVP_CIPHER_CTX_init(&ctx);
    if (!EVP_EncryptInit_ex(&ctx, ciph, NULL, key, iv) || !EVP_CIPHER_CTX_set_padding(&ctx, 0) ||
        !EVP_EncryptUpdate(&ctx, body + ivl, &outl, p, (int)newn))
        goto out;
    n = ivl + newn;
out:
    EVP_CIPHER_CTX_cleanup(&ctx);
    free(p);
    return n;
}

static int init_side(const struct conn *c, struct tls_oracle *o, enum tls_oracle_dir dir, uint64_t seq,
                     const uint8_t *kb_override)
{
    if (c->tls13)
        return tls_oracle_init13(o, dir, c->suite, c->secret, c->secret_len, seq);
    return tls_oracle_init12(o, dir, c->version, c->suite, 1, kb_override ? kb_override : c->key_block,
                             c->key_block_len, seq);
}

static void fill_plaintext(uint8_t *pt, size_t len, unsigned fill, struct in *in)
{
    size_t i;
    if (fill == 0) {
        getbytes(in, pt, len);
        return;
    }
    for (i = 0; i < len; i++)
        pt[i] = (uint8_t)(fill + i * (2 * fill + 1) + (i >> 7));
}

/* ---------------------------------------------------------------- the model */
enum { M_END = 100 };

struct expect {
    int status;      /* MX_REC_OK, an error, or M_END (incomplete / nothing left) */
    uint8_t type;
    size_t pt_off, pt_len; /* in the expected-plaintext buffer */
    size_t rec_len;        /* header + body consumed on MX_REC_OK */
};

static int valid_type(unsigned t) { return t >= 20 && t <= 23; }

/* Header rules (RFC 5246 6.2, RFC 8446 5), as documented in mx/record.h. */
static int model_header(const struct conn *c, const uint8_t *h, int *ccs13)
{
    unsigned type = h[0];
    size_t len = (size_t)h[3] << 8 | h[4];
    uint16_t ver = (uint16_t)(h[1] << 8 | h[2]);
    *ccs13 = 0;
    if (!valid_type(type))
        return MX_REC_BAD_TYPE;
    if (c->tls13) {
        if (type == 20 && len == 1)
            *ccs13 = 1;
        else if (type != 23)
            return MX_REC_BAD_TYPE;
        if (ver != 0x0303)
            return MX_REC_BAD_VERSION;
        if (len > 16384 + 256)
            return MX_REC_TOO_LONG;
        if (!*ccs13 && len < 17)
            return MX_REC_TOO_SHORT;
        return MX_REC_OK;
    }
    if (ver != c->version)
        return MX_REC_BAD_VERSION;
    if (len > 16384 + 2048)
        return MX_REC_TOO_LONG;
    if (c->cbc) {
        if (len < c->explicit_iv + 20 + 1)
            return MX_REC_TOO_SHORT;
        if (len % c->block)
            return MX_REC_NOT_BLOCK_MULTIPLE;
    } else if (len < (c->suite >= 0xCCA8 && c->suite <= 0xCCAC ? 16u : 24u)) {
        return MX_REC_TOO_SHORT;
    }
    return MX_REC_OK;
}

static uint8_t *g_stream, *g_arena, *g_expect_pt, *g_pt;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    struct conn c;
    struct tls_oracle seal, open;
    struct rec recs[MAX_RECORDS];
    unsigned swap_after[MAX_RECORDS];
    struct expect exp[MAX_RECORDS + 2];
    size_t cuts[8], ncuts, nrec = 0, arena_len = 0, stream_len = 0, nexp = 0, exp_pt_len = 0, i;
    unsigned sel, s;
    uint8_t iv[16], chain_iv[16];
    struct mx_record *r;
    struct mx_chain chain;

    if (!g_stream) {
        g_stream = malloc(MAX_STREAM);
        g_arena = malloc(MAX_STREAM);
        g_expect_pt = malloc(MAX_STREAM);
        g_pt = malloc(MX_RECORD_MAX_PLAINTEXT + 2048 + 300);
        if (!g_stream || !g_arena || !g_expect_pt || !g_pt)
            abort();
    }
    memset(&c, 0, sizeof c);
    sel = get8(&in) % NSUITES;
    c.version = SUITES[sel].version;
    c.suite = SUITES[sel].suite;
    c.tls13 = c.version == 0x0304;
    s = get8(&in);
    c.seq0 = s < 0xf0 ? s : UINT64_MAX - (0xff - s);
    if (c.tls13) {
        c.secret_len = c.suite == 0x1302 ? 48 : 32;
        getbytes(&in, c.secret, c.secret_len);
    } else {
        c.key_block_len = tls_oracle_key_block_len(c.version, c.suite);
        if (c.key_block_len == 0 || c.key_block_len != mx_record_key_block_len(c.version, c.suite))
            DIVERGE("key block length for 0x%04x/0x%04x: libmx %zu, oracle %zu", c.version, c.suite,
                    mx_record_key_block_len(c.version, c.suite), c.key_block_len);
        getbytes(&in, c.key_block, c.key_block_len);
    }
    ncuts = get8(&in) % 8;
    for (i = 0; i < ncuts; i++) {
        unsigned b = get8(&in);
        cuts[i] = b & 0x80 ? (size_t)(b & 0x7f) * 128 + 1 : b;
    }
    if (init_side(&c, &seal, TLS_ORACLE_SEAL, c.seq0, NULL) != 0)
        DIVERGE("oracle sealer init failed for 0x%04x/0x%04x", c.version, c.suite);
    {
        int cipher;
        size_t mac, key, ivl;
        tls_oracle_suite_info(c.version, c.suite, &cipher, &mac, &key, &ivl);
        c.cbc = cipher == TLS_ORACLE_CBC;
        c.key_len = key;
        c.block = c.cbc ? (key == 24 ? 8 : 16) : 0;
        c.explicit_iv = c.cbc && c.version > 0x0301 ? c.block : 0;
        if (c.cbc && c.version == 0x0301)
            memcpy(chain_iv, c.key_block + 2 * (20 + key), c.block);
    }

    /* ---- seal the records, apply corruptions */
    while (in.n > 0 && nrec < MAX_RECORDS) {
        unsigned op = get8(&in), type = 20 + (op & 3), corr = (op >> 2) % 8, fill, pad, val;
        size_t len = get16(&in) % 16385, pos, n, cap = 5 + 16384 + 2048 + 16;
        uint8_t *out = g_arena + arena_len;
        fill = get8(&in);
        fill_plaintext(g_pt, len, fill, &in);
        getbytes(&in, iv, tls_oracle_iv_len(&seal));
        pad = get8(&in);
        pos = get16(&in);
        val = get8(&in);
        n = tls_oracle_seal(&seal, (uint8_t)type, g_pt, len, iv, c.tls13 ? pad : 0, out, cap);
        if (n == 0) {
            /* the sealer refuses (sequence number exhausted): a raw record instead */
            out[0] = 23;
            out[1] = 3;
            out[2] = c.tls13 ? 3 : (uint8_t)c.version;
            n = 5 + (len % 64) + 32;
            out[3] = 0;
            out[4] = (uint8_t)(n - 5);
            memset(out + 5, (int)fill, n - 5);
        }
        swap_after[nrec] = 0;
        switch (corr) {
        case 3:
            out[pos % n] ^= (uint8_t)(1u << (val & 7));
            break;
        case 4: {
            size_t cut = val % 32 + 1, body = n - 5;
            if (cut > body)
                cut = body;
            n -= cut;
            if (val & 0x80) {
                out[3] = (uint8_t)((body - cut) >> 8);
                out[4] = (uint8_t)(body - cut);
            }
            break;
        }
        case 5: {
            size_t body = n - 5 + 1;
            out[n++] = (uint8_t)val;
            out[3] = (uint8_t)(body >> 8);
            out[4] = (uint8_t)body;
            break;
        }
        case 6:
            swap_after[nrec] = 1;
            break;
        case 7:
            if (c.cbc && n > 5) {
                size_t body = cbc_repad(&c, out + 5, n - 5, chain_iv, (unsigned)pos, val, cap - 5);
                n = 5 + body;
                out[3] = (uint8_t)(body >> 8);
                out[4] = (uint8_t)body;
                if (c.version == 0x0301 && body >= c.block) {
                    /* the sealer chains from what it wrote: restart it from the new last block */
                    uint8_t kb[136];
                    int cipher;
                    size_t mac, key, ivl;
                    uint64_t next = seal.seq;
                    tls_oracle_suite_info(c.version, c.suite, &cipher, &mac, &key, &ivl);
                    memcpy(kb, c.key_block, c.key_block_len);
                    memcpy(kb + 2 * (mac + key), out + n - c.block, c.block);
                    tls_oracle_cleanup(&seal);
                    if (init_side(&c, &seal, TLS_ORACLE_SEAL, next, kb) != 0)
                        DIVERGE("oracle sealer re-init failed");
                }
            } else if (!c.cbc) {
                out[pos % 5] = (uint8_t)val;
            }
            break;
        default:
            break;
        }
        if (c.cbc && c.version == 0x0301 && n - 5 >= c.block)
            memcpy(chain_iv, out + n - c.block, c.block);
        recs[nrec].off = arena_len;
        recs[nrec].len = n;
        arena_len += n;
        nrec++;
    }
    tls_oracle_cleanup(&seal);
    /* wire order, with swaps */
    for (i = 0; i < nrec; i++) {
        if (swap_after[i] && i + 1 < nrec) {
            struct rec t = recs[i];
            recs[i] = recs[i + 1];
            recs[i + 1] = t;
            i++;
        }
    }
    for (i = 0; i < nrec; i++) {
        memcpy(g_stream + stream_len, g_arena + recs[i].off, recs[i].len);
        stream_len += recs[i].len;
    }

    /* ---- the model: header rules + BoringSSL's open */
    if (init_side(&c, &open, TLS_ORACLE_OPEN, c.seq0, NULL) != 0)
        DIVERGE("oracle opener init failed");
    {
        size_t off = 0;
        uint64_t seq = c.seq0;
        for (;;) {
            struct expect *e = &exp[nexp++];
            int ccs13, hs;
            size_t len;
            memset(e, 0, sizeof *e);
            if (stream_len - off < 5) {
                e->status = M_END;
                break;
            }
            len = (size_t)g_stream[off + 3] << 8 | g_stream[off + 4];
            hs = model_header(&c, g_stream + off, &ccs13);
            if (hs != MX_REC_OK) {
                e->status = hs;
                /* length rules must never reject what BoringSSL's crypto would accept */
                if ((hs == MX_REC_TOO_SHORT || hs == MX_REC_NOT_BLOCK_MULTIPLE) && stream_len - off >= 5 + len) {
                    uint8_t t;
                    size_t pl;
                    if (tls_oracle_open(&open, g_stream + off, 5 + len, &t, g_expect_pt + exp_pt_len,
                                        MAX_STREAM - exp_pt_len, &pl))
                        DIVERGE("record %zu: length rule %d rejects a record BoringSSL opens", nexp - 1, hs);
                }
                break;
            }
            if (stream_len - off < 5 + len) {
                e->status = M_END;
                break;
            }
            e->rec_len = 5 + len;
            if (ccs13) {
                e->status = MX_REC_OK;
                e->type = 20;
                e->pt_off = exp_pt_len;
                e->pt_len = 1;
                g_expect_pt[exp_pt_len++] = g_stream[off + 5];
                off += 5 + len;
                continue;
            }
            if (seq == UINT64_MAX) {
                e->status = MX_REC_SEQ_EXHAUSTED;
                break;
            }
            {
                uint8_t t;
                size_t pl;
                if (!tls_oracle_open(&open, g_stream + off, 5 + len, &t, g_expect_pt + exp_pt_len,
                                     MAX_STREAM - exp_pt_len, &pl)) {
                    e->status = MX_REC_BAD_RECORD_MAC;
                    break;
                }
                if (pl > 16384) {
                    e->status = MX_REC_RECORD_OVERFLOW;
                    break;
                }
                e->status = MX_REC_OK;
                e->type = t;
                e->pt_off = exp_pt_len;
                e->pt_len = pl;
                exp_pt_len += pl;
                seq++;
                off += 5 + len;
            }
        }
    }
    tls_oracle_cleanup(&open);

    /* ---- libmx over the same stream, cut into reads */
    r = malloc(sizeof *r);
    if (!r)
        abort();
    mx_record_init(r);
    {
        int k = c.tls13 ? mx_record_set_tls13_secret(r, c.suite, c.secret, c.secret_len, c.seq0)
                        : mx_record_set_tls12_keys(r, c.version, c.suite, 1, c.key_block, c.key_block_len, c.seq0);
        if (k != MX_REC_OK)
            DIVERGE("libmx refused the keys for 0x%04x/0x%04x: %s", c.version, c.suite, mx_record_strerror(k));
    }
    mx_chain_init(&chain, 0, NULL);
    {
        size_t fed = 0, ci = 0, ei;
        for (ei = 0; ei < nexp; ei++) {
            const struct expect *e = &exp[ei];
            uint8_t type = 0;
            size_t out_len = 0;
            uint64_t consumed0 = chain.consumed;
            int st;
            for (;;) {
                size_t before = chain.bytes;
                uint64_t consumed = chain.consumed;
                st = mx_record_read(r, &chain, &type, g_pt, MX_RECORD_MAX_PLAINTEXT, &out_len);
                if (st != MX_REC_OK && (chain.bytes != before || chain.consumed != consumed))
                    DIVERGE("record %zu: status %d consumed bytes", ei, st);
                if (st != MX_REC_NEED_MORE || fed == stream_len)
                    break;
                {
                    size_t n = stream_len - fed, want = ncuts ? cuts[ci++ % ncuts] : 0;
                    if (want && want < n)
                        n = want;
                    if (mx_chain_append(&chain, g_stream + fed, n) != MX_CHAIN_OK)
                        DIVERGE("chain append failed");
                    fed += n;
                }
            }
            if (e->status == M_END) {
                if (st != MX_REC_NEED_MORE)
                    DIVERGE("record %zu: libmx %d (%s), model: incomplete/end of stream", ei, st, mx_record_strerror(st));
                break;
            }
            if (e->status == MX_REC_BAD_RECORD_MAC) {
                if (st != MX_REC_BAD_RECORD_MAC && !(c.tls13 && st == MX_REC_BAD_INNER))
                    DIVERGE("record %zu (0x%04x/0x%04x): BoringSSL rejects it, libmx says %d (%s)", ei, c.version,
                            c.suite, st, mx_record_strerror(st));
            } else if (st != e->status) {
                DIVERGE("record %zu (0x%04x/0x%04x): libmx %d (%s), model %d (%s)", ei, c.version, c.suite, st,
                        mx_record_strerror(st), e->status, mx_record_strerror(e->status));
            }
            if (st != MX_REC_OK) {
                size_t dummy;
                if (mx_record_read(r, &chain, &type, g_pt, MX_RECORD_MAX_PLAINTEXT, &dummy) != MX_REC_FAILED)
                    DIVERGE("record %zu: the decrypter accepted a call after error %d", ei, st);
                break;
            }
            if (chain.consumed - consumed0 != e->rec_len)
                DIVERGE("record %zu: libmx consumed %llu bytes, the record has %zu", ei,
                        (unsigned long long)(chain.consumed - consumed0), e->rec_len);
            if (type != e->type)
                DIVERGE("record %zu: type libmx %u, BoringSSL %u", ei, type, e->type);
            if (out_len != e->pt_len)
                DIVERGE("record %zu (0x%04x/0x%04x): plaintext length libmx %zu, BoringSSL %zu", ei, c.version,
                        c.suite, out_len, e->pt_len);
            if (out_len && memcmp(g_pt, g_expect_pt + e->pt_off, out_len) != 0)
                DIVERGE("record %zu (0x%04x/0x%04x): plaintext differs", ei, c.version, c.suite);
        }
    }
    mx_chain_release(&chain);
    free(r);
    return 0;
}
