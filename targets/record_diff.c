/* targets/record_diff.c - libmx's record decrypter against BoringSSL's record AEADs.
 *
 * Input format (every byte string is valid; fields past the end read as zero):
 *   u8  suite      index into record_suites (targets/oracles/record_model.c), value % 18: a
 *                  (version, cipher suite) pair
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
 * Oracle (targets/oracles/record_model.c, shared with targets/record.c): the same stream walked
 * record by record by an independent model: the header rules of RFC 5246/8446 (type, version,
 * length limits, CBC minimum length and block multiple), checked before any cryptography, then
 * BoringSSL's record AEAD open (tls_oracle_open, a fresh opener with the same keys), then the
 * 2^14 plaintext limit. For each record libmx must
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
#include "fuzz_input.h"
#include "record_model.h"
#include "tls_oracle.h"

#define MAX_RECORDS 48
#define MAX_STREAM (MAX_RECORDS * (5 + 16384 + 2048 + 16))

#define DIVERGE(...)                                              \
    do {                                                          \
        fprintf(stderr, "record_diff: divergence: " __VA_ARGS__); \
        fprintf(stderr, "\n");                                    \
        abort();                                                  \
    } while (0)

/* ---------------------------------------------------------------- building the stream */
struct rec {
    size_t off, len; /* in the arena */
};

/* CBC padding rewrite: decrypts body (after the header), changes the padding, encrypts again
 * with the same IV. iv_in is the IV for TLS 1.0 (chained); returns the new body length. */
static size_t cbc_repad(const struct record_conn *c, uint8_t *body, size_t n, const uint8_t *iv_in, unsigned pos,
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

static void fill_plaintext(uint8_t *pt, size_t len, unsigned fill, struct in *in)
{
    size_t i;
    if (fill == 0) {
        in_copy(in, pt, len);
        return;
    }
    for (i = 0; i < len; i++)
        pt[i] = (uint8_t)(fill + i * (2 * fill + 1) + (i >> 7));
}

static uint8_t *g_stream, *g_arena, *g_pt;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    struct record_conn c;
    struct tls_oracle seal;
    struct rec recs[MAX_RECORDS];
    unsigned swap_after[MAX_RECORDS];
    size_t cuts[8], ncuts, nrec = 0, arena_len = 0, stream_len = 0, i, kl;
    unsigned sel, s;
    uint8_t iv[16], chain_iv[16], keys[136];
    uint16_t version, suite;
    uint64_t seq0;

    if (!g_stream) {
        g_stream = malloc(MAX_STREAM);
        g_arena = malloc(MAX_STREAM);
        g_pt = malloc(MX_RECORD_MAX_PLAINTEXT + 2048 + 300);
        if (!g_stream || !g_arena || !g_pt)
            abort();
    }
    sel = (unsigned)(in_u8(&in) % record_nsuites);
    version = record_suites[sel].version;
    suite = record_suites[sel].suite;
    s = in_u8(&in);
    seq0 = s < 0xf0 ? s : UINT64_MAX - (0xff - s);
    if (version == 0x0304) {
        kl = suite == 0x1302 ? 48 : 32;
    } else {
        kl = tls_oracle_key_block_len(version, suite);
        if (kl == 0 || kl != mx_record_key_block_len(version, suite))
            DIVERGE("key block length for 0x%04x/0x%04x: libmx %zu, oracle %zu", version, suite,
                    mx_record_key_block_len(version, suite), kl);
    }
    in_copy(&in, keys, kl);
    if (record_conn_init(&c, version, suite, keys, kl, seq0) != 0)
        DIVERGE("record_conn_init failed for 0x%04x/0x%04x", version, suite);
    ncuts = in_u8(&in) % 8;
    for (i = 0; i < ncuts; i++) {
        unsigned b = in_u8(&in);
        cuts[i] = b & 0x80 ? (size_t)(b & 0x7f) * 128 + 1 : b;
    }
    if (record_conn_oracle(&c, &seal, TLS_ORACLE_SEAL, c.seq0, NULL) != 0)
        DIVERGE("oracle sealer init failed for 0x%04x/0x%04x", c.version, c.suite);
    if (c.cbc && c.version == 0x0301)
        memcpy(chain_iv, c.key_block + 2 * (c.mac_len + c.key_len), c.block);

    /* ---- seal the records, apply corruptions */
    while (in.n > 0 && nrec < MAX_RECORDS) {
        unsigned op = in_u8(&in), type = 20 + (op & 3), corr = (op >> 2) % 8, fill, pad, val;
        size_t len = in_u16(&in) % 16385, pos, n, cap = 5 + 16384 + 2048 + 16;
        uint8_t *out = g_arena + arena_len;
        fill = in_u8(&in);
        fill_plaintext(g_pt, len, fill, &in);
        in_copy(&in, iv, tls_oracle_iv_len(&seal));
        pad = in_u8(&in);
        pos = in_u16(&in);
        val = in_u8(&in);
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
                    uint64_t next = seal.seq;
                    memcpy(kb, c.key_block, c.key_block_len);
                    memcpy(kb + 2 * (c.mac_len + c.key_len), out + n - c.block, c.block);
                    tls_oracle_cleanup(&seal);
                    if (record_conn_oracle(&c, &seal, TLS_ORACLE_SEAL, next, kb) != 0)
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
    record_check_stream("record_diff", &c, g_stream, stream_len, cuts, ncuts);
    return 0;
}
