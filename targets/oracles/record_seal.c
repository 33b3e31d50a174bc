/* record_seal.c - the record_diff stream (see record_seal.h): BoringSSL seals each record with
 * the input's keys and IVs, then the record's corruption is applied. */
#include "record_seal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cipher.h>

#include "fail.h"
#include "mutator.h"
#include "mx/record.h"
#include "tls_oracle.h"

#define MAX_STREAM (RECORD_SEAL_MAX_RECORDS * (5 + 16384 + 2048 + 16))

void record_seal_conn(struct in *in, struct record_conn *c)
{
    unsigned sel, s;
    uint16_t version, suite;
    uint64_t seq0;
    uint8_t keys[TLS_ORACLE_MAX_KEY_BLOCK];
    size_t kl;

    s = in_u8(in);
    sel = s % (unsigned)record_nsuites;
    version = record_suites[sel].version;
    /* the byte's quotient picks among the numbers of the same protection: the record layer must
     * not care which key exchange named it */
    suite = record_suite_alias(version, record_suites[sel].suite, s / (unsigned)record_nsuites);
    s = in_u8(in);
    seq0 = s < 0xf0 ? s : UINT64_MAX - (0xff - s);
    if (version == 0x0304) {
        kl = suite == 0x1302 ? 48 : 32;
    } else {
        kl = tls_oracle_key_block_len(version, suite);
        if (kl == 0 || kl != mx_record_key_block_len(version, suite))
            fz_fail("record_diff", "key block length for 0x%04x/0x%04x: libmx %zu, oracle %zu", version, suite,
                    mx_record_key_block_len(version, suite), kl);
    }
    in_copy(in, keys, kl);
    if (record_conn_init(c, version, suite, record_suites[sel].etm, keys, kl, seq0) != 0)
        fz_fail("record_diff", "record_conn_init failed for 0x%04x/0x%04x", version, suite);
    /* the record-list mutator (mutator_records.c) lays inputs out with its own table of these
     * lengths: it must read this input as this function does */
    size_t lay_keys, lay_iv;
    fz_record_layout_suite(sel, &lay_keys, &lay_iv);
    if (fz_record_layout_nsuites() != record_nsuites || lay_keys != kl || lay_iv != c->explicit_iv)
        fz_fail("record_diff", "suite %u (0x%04x/0x%04x): the mutator's layout says %zu key bytes and %zu IV bytes, "
                "the sealer reads %zu and %zu", sel, version, suite, lay_keys, lay_iv, kl, c->explicit_iv);
}

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
    const uint8_t *key = c->key_block + 2 * c->mac_len; /* client write key */
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

const uint8_t *record_seal_stream(struct in *in, const struct record_conn *c, size_t *out_len)
{
    static uint8_t *g_stream, *g_arena, *g_pt;
    struct tls_oracle seal;
    struct rec recs[RECORD_SEAL_MAX_RECORDS];
    unsigned swap_after[RECORD_SEAL_MAX_RECORDS];
    size_t nrec = 0, arena_len = 0, stream_len = 0, i, budget = RECORD_SEAL_PLAINTEXT_BUDGET;
    uint8_t iv[16], chain_iv[16];
    struct record_conn cur = *c; /* the sealer's keys: a TLS 1.3 KeyUpdate changes them */
    int sealed;

    if (!g_stream) {
        g_stream = malloc(MAX_STREAM);
        g_arena = malloc(MAX_STREAM);
        g_pt = malloc(MX_RECORD_MAX_PLAINTEXT + 2048 + 300);
        if (!g_stream || !g_arena || !g_pt)
            abort();
    }
    if (record_conn_oracle(c, &seal, TLS_ORACLE_SEAL, c->seq0, NULL) != 0)
        fz_fail("record_diff", "oracle sealer init failed for 0x%04x/0x%04x", c->version, c->suite);
    if (c->cbc && c->version == 0x0301)
        memcpy(chain_iv, c->key_block + 2 * (c->mac_len + c->key_len), c->block);

    /* ---- seal the records, apply corruptions */
    while (in->n > 0 && nrec < RECORD_SEAL_MAX_RECORDS) {
        unsigned op = in_u8(in), type = 20 + (op & 3), corr = (op >> 2) % 8, fill, pad, val;
        size_t len = in_u16(in) % 16385, pos, n, cap = 5 + 16384 + 2048 + 16;
        uint8_t *out = g_arena + arena_len;
        len = len < budget ? len : budget;
        budget -= len;
        fill = in_u8(in);
        fill_plaintext(g_pt, len, fill, in);
        in_copy(in, iv, tls_oracle_iv_len(&seal));
        pad = in_u8(in);
        pos = in_u16(in);
        val = in_u8(in);
        if (corr == 7 && tls_oracle_is_model(&seal)) {
            /* the model seals with the padding itself (a re-padded encrypt-then-MAC record
             * would need a new MAC): val & 0x80 a bad padding byte under a right MAC, else
             * val % 16 more blocks of valid padding */
            size_t minpad = tls_oracle_cbc_min_pad(&seal, len), more = (val & 0x80) ? pos % 16 : val % 16;
            size_t padlen = minpad + more * c->block;
            while (padlen > 255)
                padlen -= c->block;
            n = tls_oracle_seal_cbc_padding(&seal, (uint8_t)type, g_pt, len, iv, padlen, (val & 0x80) != 0, out, cap);
            corr = 0;
        } else {
            n = tls_oracle_seal(&seal, (uint8_t)type, g_pt, len, iv, c->tls13 ? pad : 0, out, cap);
        }
        sealed = n != 0;
        if (n == 0) {
            /* the sealer refuses (sequence number exhausted): a raw record instead */
            out[0] = 23;
            out[1] = 3;
            out[2] = c->tls13 ? 3 : (uint8_t)c->version;
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
            if (c->cbc && n > 5) {
                size_t body = cbc_repad(c, out + 5, n - 5, chain_iv, (unsigned)pos, val, cap - 5);
                n = 5 + body;
                out[3] = (uint8_t)(body >> 8);
                out[4] = (uint8_t)body;
                if (c->version == 0x0301 && body >= c->block) {
                    /* the sealer chains from what it wrote: restart it from the new last block */
                    uint8_t kb[TLS_ORACLE_MAX_KEY_BLOCK];
                    uint64_t next = seal.seq;
                    memcpy(kb, c->key_block, c->key_block_len);
                    memcpy(kb + 2 * (c->mac_len + c->key_len), out + n - c->block, c->block);
                    tls_oracle_cleanup(&seal);
                    if (record_conn_oracle(c, &seal, TLS_ORACLE_SEAL, next, kb) != 0)
                        fz_fail("record_diff", "oracle sealer re-init failed");
                }
            } else if (!c->cbc) {
                out[pos % 5] = (uint8_t)val;
            }
            break;
        default:
            break;
        }
        if (c->cbc && c->version == 0x0301 && n - 5 >= c->block)
            memcpy(chain_iv, out + n - c->block, c->block);
        if (c->tls13 && sealed && record_is_key_update((uint8_t)type, g_pt, len)) {
            /* the sender of a TLS 1.3 KeyUpdate seals what follows under the next traffic secret
             * from sequence number 0 (RFC 8446 4.6.3, 7.2) */
            tls_oracle_cleanup(&seal);
            if (record_conn_key_update(&cur) != 0 || record_conn_oracle(&cur, &seal, TLS_ORACLE_SEAL, 0, NULL) != 0)
                fz_fail("record_diff", "oracle sealer refused the updated keys");
        }
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
    *out_len = stream_len;
    return g_stream;
}
