/* record_model.c - the reference for libmx's record decrypter (see record_model.h). */
#include "record_model.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "fail.h"
#include "fuzz_input.h"
#include "mx/chain.h"
#include "mx/record.h"

const struct record_suite record_suites[] = {
    {0x0301, 0x000A, 0}, {0x0301, 0x002F, 0}, {0x0301, 0x0035, 0}, {0x0302, 0x000A, 0}, {0x0302, 0x002F, 0},
    {0x0302, 0x0035, 0}, {0x0303, 0x000A, 0}, {0x0303, 0x002F, 0}, {0x0303, 0x0035, 0}, {0x0303, 0xC02F, 0},
    {0x0303, 0xC030, 0}, {0x0303, 0xCCA8, 0}, {0x0304, 0x1301, 0}, {0x0304, 0x1302, 0}, {0x0304, 0x1303, 0},
    {0x0301, 0xC014, 0}, {0x0303, 0x009C, 0}, {0x0303, 0x009D, 0},
    /* encrypt-then-MAC (RFC 7366) and HMAC-SHA256/384 CBC (RFC 5246, RFC 5289), checked against
     * the RFC model of tls_oracle.h. Nine entries, so 27 in all: an input byte b picks b % 27,
     * which for every b < 18 and for the shipped reproducers' bytes is the suite it picked
     * from 18 (27 and 18 divide 54) */
    {0x0301, 0x002F, 1}, {0x0302, 0x000A, 1}, {0x0303, 0x0035, 1}, {0x0303, 0x003C, 0}, {0x0303, 0x003D, 1},
    {0x0303, 0xC028, 0}, {0x0303, 0xC024, 1}, {0x0303, 0xC027, 1}, {0x0301, 0x000A, 1},
};
const size_t record_nsuites = sizeof record_suites / sizeof record_suites[0];

/* The TLS 1.0-1.2 suite numbers of mx/record.h: several name one record protection (the key
 * exchange differs: RSA, DHE, ECDHE, PSK), which record_suite_alias picks among. */
static const uint16_t iana_suites[] = {
    0x000A, 0x0016, 0xC008, 0xC012, 0x002F, 0x0033, 0x008C, 0xC009, 0xC013, 0xC035, 0x0035, 0x0039,
    0x008D, 0xC00A, 0xC014, 0xC036, 0x003C, 0x0067, 0xC023, 0xC027, 0x003D, 0x006B, 0xC024, 0xC028,
    0x009C, 0x009E, 0xC02B, 0xC02F, 0x009D, 0x009F, 0xC02C, 0xC030, 0xCCA8, 0xCCA9, 0xCCAA, 0xCCAC,
};

uint16_t record_suite_alias(uint16_t version, uint16_t suite, unsigned k)
{
    int c0, c1;
    size_t m0, k0, i0, m1, k1, i1, n = 0, i, own = 0;
    uint16_t same[sizeof iana_suites / sizeof iana_suites[0]];
    if (version == 0x0304 || tls_oracle_suite_info(version, suite, &c0, &m0, &k0, &i0) != 0)
        return suite;
    /* the same protection as the oracle's table says: cipher, MAC, key and IV sizes */
    for (i = 0; i < sizeof iana_suites / sizeof iana_suites[0]; i++)
        if (tls_oracle_suite_info(version, iana_suites[i], &c1, &m1, &k1, &i1) == 0 && c1 == c0 && m1 == m0 &&
            k1 == k0 && i1 == i0) {
            if (iana_suites[i] == suite)
                own = n;
            same[n++] = iana_suites[i];
        }
    /* k = 0 is suite itself */
    return n ? same[(own + k) % n] : suite;
}

void record_conn_init_null(struct record_conn *c)
{
    memset(c, 0, sizeof *c);
    c->null_cipher = 1;
}

int record_conn_init(struct record_conn *c, uint16_t version, uint16_t suite, int etm, const uint8_t *keys,
                     size_t keys_len, uint64_t seq0)
{
    int cipher;
    memset(c, 0, sizeof *c);
    if (tls_oracle_suite_info(version, suite, &cipher, &c->mac_len, &c->key_len, &c->iv_len) != 0)
        return -1;
    c->version = version;
    c->suite = suite;
    c->seq0 = seq0;
    c->tls13 = version == 0x0304;
    c->cbc = cipher == TLS_ORACLE_CBC;
    c->etm = c->cbc && etm;
    c->block = c->cbc ? (c->key_len == 24 ? 8 : 16) : 0;
    c->explicit_iv = c->cbc && version > 0x0301 ? c->block : 0;
    if (c->tls13) {
        c->secret_len = suite == 0x1302 ? 48 : 32;
        if (keys_len < c->secret_len)
            return -1;
        memcpy(c->secret, keys, c->secret_len);
    } else {
        c->key_block_len = tls_oracle_key_block_len(version, suite);
        if (keys_len < c->key_block_len || c->key_block_len > sizeof c->key_block)
            return -1;
        memcpy(c->key_block, keys, c->key_block_len);
    }
    return 0;
}

const char *record_conn_reference(const struct record_conn *c)
{
    return c->cbc && (c->etm || c->mac_len != 20) ? "the RFC CBC model" : "BoringSSL";
}

int record_fixed_conn(struct record_conn *c, unsigned cfg)
{
    uint8_t keys[TLS_ORACLE_MAX_KEY_BLOCK];
    size_t i;
    if (cfg >= record_nsuites) {
        record_conn_init_null(c);
        return 0;
    }
    for (i = 0; i < sizeof keys; i++)
        keys[i] = (uint8_t)(record_suites[cfg].version == 0x0304 ? i * 3 + 2 : i * 7 + 1);
    return record_conn_init(c, record_suites[cfg].version, record_suites[cfg].suite, record_suites[cfg].etm, keys,
                            sizeof keys, 0);
}

int record_conn_oracle(const struct record_conn *c, struct tls_oracle *o, enum tls_oracle_dir dir, uint64_t seq,
                       const uint8_t *kb_override)
{
    if (c->tls13)
        return tls_oracle_init13(o, dir, c->suite, c->secret, c->secret_len, seq);
    return tls_oracle_init12_mac_order(o, dir, c->version, c->suite, c->etm, 1,
                                       kb_override ? kb_override : c->key_block, c->key_block_len, seq);
}

int record_is_key_update(uint8_t type, const uint8_t *pt, size_t len)
{
    return type == 22 && len == 5 && pt[0] == 24 && pt[1] == 0 && pt[2] == 0 && pt[3] == 1 && pt[4] <= 1;
}

int record_conn_key_update(struct record_conn *c)
{
    if (!c->tls13)
        return -1;
    return tls_oracle_next_secret13(c->suite, c->secret, c->secret_len, c->secret);
}

/* Every status libmx returns is one of mx/record.h's codes, with its own message: not the one
 * a code outside the enum gets. */
static void check_status_known(const char *who, size_t rec, int st)
{
    if (strcmp(mx_record_strerror(st), mx_record_strerror(INT_MIN)) == 0)
        fz_fail(who, "record %zu: libmx returned %d, not a status of mx/record.h", rec, st);
}

static void expect_setup(const char *who, int got, int want, const char *what)
{
    check_status_known(who, 0, got);
    if (got != want)
        fz_fail(who, "%s: libmx returned %d (%s), mx/record.h says %d (%s)", what, got, mx_record_strerror(got), want,
                mx_record_strerror(want));
}

/* Key setups that mx/record.h says are refused, made on the keyed decrypter before the stream:
 * each must return its code and change nothing ("On error nothing changes": the stream is then
 * checked under the keys set before). Which (version, suite) pairs exist is the oracle's table
 * (tls_oracle_key_block_len, tls_oracle_suite_info). */
static void check_refused_setups(const char *who, struct mx_record *r, const struct record_conn *c)
{
    enum mx_record_mac_order order = c->etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT;
    for (uint16_t v = 0x0300; v <= 0x0305; v++) {
        size_t want = tls_oracle_key_block_len(v, c->suite);
        if (mx_record_key_block_len(v, c->suite) != want)
            fz_fail(who, "key block length for 0x%04x/0x%04x: libmx %zu, oracle %zu", v, c->suite,
                    mx_record_key_block_len(v, c->suite), want);
        if (want == 0)
            expect_setup(who, mx_record_set_tls12_keys(r, v, c->suite, order, 1, c->key_block, sizeof c->key_block, 0),
                         MX_REC_UNSUPPORTED, "TLS 1.0-1.2 keys for a pair the oracle does not have");
    }
    if (c->tls13) {
        int c1;
        size_t m, k, iv;
        expect_setup(who, mx_record_set_tls13_secret(r, c->suite, c->secret, c->secret_len - 1, 0), MX_REC_BAD_KEYS,
                     "a TLS 1.3 secret a byte short");
        expect_setup(who, mx_record_set_tls13_secret(r, c->suite, NULL, c->secret_len, 0), MX_REC_BAD_KEYS,
                     "no TLS 1.3 secret");
        if (tls_oracle_suite_info(0x0304, 0x1304, &c1, &m, &k, &iv) == 0)
            fz_fail(who, "the oracle has TLS_AES_128_CCM_SHA256, which mx/record.h does not");
        expect_setup(who, mx_record_set_tls13_secret(r, 0x1304, c->secret, c->secret_len, 0), MX_REC_UNSUPPORTED,
                     "TLS 1.3 suite 0x1304 (AES_128_CCM)");
    } else {
        expect_setup(who, mx_record_set_tls12_keys(r, c->version, c->suite, order, 1, c->key_block, c->key_block_len - 1, 0),
                     MX_REC_BAD_KEYS, "a key block a byte short");
        expect_setup(who, mx_record_set_tls12_keys(r, c->version, c->suite, order, 1, NULL, c->key_block_len, 0),
                     MX_REC_BAD_KEYS, "no key block");
        expect_setup(who, mx_record_set_tls12_keys(r, c->version, c->suite, (enum mx_record_mac_order)2, 1, c->key_block,
                                                   c->key_block_len, 0),
                     MX_REC_UNSUPPORTED, "a MAC order that is neither");
    }
}

static int valid_type(unsigned t) { return t >= 20 && t <= 23; }

int record_model_header(const struct record_conn *c, const uint8_t h[5], int *ccs13)
{
    unsigned type = h[0];
    size_t len = (size_t)h[3] << 8 | h[4];
    uint16_t ver = (uint16_t)(h[1] << 8 | h[2]);
    *ccs13 = 0;
    if (!valid_type(type))
        return MX_REC_BAD_TYPE;
    if (c->null_cipher) {
        if (h[1] != 3)
            return MX_REC_BAD_VERSION;
        if (len > 16384)
            return MX_REC_TOO_LONG;
        return MX_REC_OK;
    }
    if (c->tls13) {
        if (type == 20 && len == 1)
            *ccs13 = 1;
        else if (type != 23)
            return MX_REC_BAD_TYPE;
        if (ver != 0x0303)
            return MX_REC_BAD_VERSION;
        if (len > 16384 + 256)
            return MX_REC_TOO_LONG;
        if (!*ccs13 && len < 16 + 1)
            return MX_REC_TOO_SHORT;
        return MX_REC_OK;
    }
    if (ver != c->version)
        return MX_REC_BAD_VERSION;
    if (len > 16384 + 2048)
        return MX_REC_TOO_LONG;
    if (c->cbc && c->etm) {
        /* RFC 7366 3: IV (TLS 1.1+) + ciphertext (whole blocks, at least one: the padding
         * length byte is in it) + MAC */
        if (len < c->explicit_iv + c->block + c->mac_len)
            return MX_REC_TOO_SHORT;
        if ((len - c->mac_len) % c->block)
            return MX_REC_NOT_BLOCK_MULTIPLE;
    } else if (c->cbc) {
        /* RFC 5246 6.2.3.2: IV (TLS 1.1+) + whole blocks holding at least the MAC and the
         * padding length byte */
        if (len < c->explicit_iv + c->mac_len + 1)
            return MX_REC_TOO_SHORT;
        if (len % c->block)
            return MX_REC_NOT_BLOCK_MULTIPLE;
    } else if (len < (c->iv_len == 12 ? 16u : 8u + 16u)) { /* ChaCha20: tag; GCM: nonce + tag */
        return MX_REC_TOO_SHORT;
    }
    return MX_REC_OK;
}

enum { M_END = 100 };

struct expect {
    int status; /* MX_REC_OK, an error, or M_END (incomplete / nothing left) */
    uint8_t type;
    size_t pt_off, pt_len; /* in the expected-plaintext buffer */
    size_t rec_len;        /* header + body consumed on MX_REC_OK */
    uint64_t seq_after;    /* the read sequence number after the record (before a key update) */
    int key_update;        /* a KeyUpdate record (record_is_key_update): the driver updates keys */
};

void record_check_stream(const char *who, const struct record_conn *c, const uint8_t *stream, size_t stream_len,
                         const size_t *cuts, size_t ncuts)
{
    /* at most one expectation per 5 bytes of stream, plus the end */
    size_t max_exp = stream_len / 5 + 2, nexp = 0, exp_pt_len = 0, off = 0;
    /* kept from input to input: the expectations (up to 48 bytes per 5 bytes of a stream of up
     * to 800 KB), the expected plaintext and the 18 KiB record state were a calloc and three
     * mallocs per input, mostly fresh pages under ASan */
    static struct fz_buf exp_b, expect_pt_b;
    static uint8_t pt[MX_RECORD_MAX_PLAINTEXT + 2048 + 300];
    static struct mx_record r_state;
    struct expect *exp = fz_buf_scratch(&exp_b, max_exp * sizeof *exp);
    uint8_t *expect_pt = fz_buf_scratch(&expect_pt_b, stream_len + 1);
    struct mx_record *r = &r_state;
    struct mx_alloc pooled = fz_alloc_pooled();
    struct tls_oracle open;
    struct mx_chain chain;
    uint64_t seq = c->seq0;
    struct record_conn cur = *c; /* the model's keys: a TLS 1.3 KeyUpdate changes them */

    if (!c->null_cipher && record_conn_oracle(c, &open, TLS_ORACLE_OPEN, c->seq0, NULL) != 0)
        fz_fail(who, "the %s opener refused the keys for 0x%04x/0x%04x", record_conn_reference(c), c->version,
                c->suite);

    /* ---- the model */
    for (;;) {
        struct expect *e = &exp[nexp++];
        int ccs13, hs;
        size_t len;
        if (stream_len - off < 5) {
            e->status = M_END;
            break;
        }
        len = (size_t)stream[off + 3] << 8 | stream[off + 4];
        hs = record_model_header(c, stream + off, &ccs13);
        if (hs != MX_REC_OK) {
            e->status = hs;
            /* length rules must never reject what the reference's crypto would accept */
            if (!c->null_cipher && (hs == MX_REC_TOO_SHORT || hs == MX_REC_NOT_BLOCK_MULTIPLE) &&
                stream_len - off >= 5 + len) {
                uint8_t t;
                size_t pl;
                if (tls_oracle_open(&open, stream + off, 5 + len, &t, expect_pt + exp_pt_len,
                                    stream_len + 1 - exp_pt_len, &pl))
                    fz_fail(who, "record %zu: length rule %d rejects a record %s opens", nexp - 1, hs,
                            record_conn_reference(c));
            }
            break;
        }
        if (stream_len - off < 5 + len) {
            e->status = M_END;
            break;
        }
        e->rec_len = 5 + len;
        e->key_update = 0;
        if (c->null_cipher || ccs13) {
            e->status = MX_REC_OK;
            e->type = stream[off];
            e->pt_off = exp_pt_len;
            e->pt_len = len;
            memcpy(expect_pt + exp_pt_len, stream + off + 5, len);
            exp_pt_len += len;
            off += 5 + len;
            e->seq_after = seq; /* a record in the clear counts no sequence number */
            e->key_update = record_is_key_update(e->type, expect_pt + e->pt_off, len);
            continue;
        }
        if (seq == UINT64_MAX) {
            e->status = MX_REC_SEQ_EXHAUSTED;
            break;
        }
        {
            uint8_t t;
            size_t pl;
            if (!tls_oracle_open(&open, stream + off, 5 + len, &t, expect_pt + exp_pt_len, stream_len + 1 - exp_pt_len,
                                 &pl)) {
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
            e->seq_after = seq;
            e->key_update = record_is_key_update(t, expect_pt + e->pt_off, pl);
            if (e->key_update && c->tls13) {
                /* RFC 8446 4.6.3: the records after it are under the next traffic secret, from
                 * sequence number 0 */
                tls_oracle_cleanup(&open);
                if (record_conn_key_update(&cur) != 0 || record_conn_oracle(&cur, &open, TLS_ORACLE_OPEN, 0, NULL) != 0)
                    fz_fail(who, "record %zu: the %s opener refused the updated keys", nexp - 1,
                            record_conn_reference(c));
                seq = 0;
            }
        }
    }
    if (!c->null_cipher)
        tls_oracle_cleanup(&open);

    /* ---- libmx over the same stream, cut into reads */
    mx_record_init(r);
    if (!c->null_cipher) {
        int k = c->tls13 ? mx_record_set_tls13_secret(r, c->suite, c->secret, c->secret_len, c->seq0)
                         : mx_record_set_tls12_keys(r, c->version, c->suite,
                                                    c->etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT, 1,
                                                    c->key_block, c->key_block_len, c->seq0);
        if (k != MX_REC_OK)
            fz_fail(who, "libmx refused the keys for 0x%04x/0x%04x: %s", c->version, c->suite, mx_record_strerror(k));
        check_refused_setups(who, r, c);
    }
    mx_chain_init(&chain, 0, &pooled);
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
                st = mx_record_read(r, &chain, &type, pt, MX_RECORD_MAX_PLAINTEXT, &out_len);
                if (st != MX_REC_OK && (chain.bytes != before || chain.consumed != consumed))
                    fz_fail(who, "record %zu: status %d consumed bytes", ei, st);
                if (st != MX_REC_NEED_MORE || fed == stream_len)
                    break;
                {
                    size_t n = in_cut_next(cuts, ncuts, &ci, stream_len - fed);
                    if (mx_chain_append(&chain, stream + fed, n) != MX_CHAIN_OK)
                        fz_fail(who, "chain append failed");
                    fed += n;
                }
            }
            if (e->status == M_END) {
                if (st != MX_REC_NEED_MORE)
                    fz_fail(who, "record %zu: libmx %d (%s), model: incomplete/end of stream", ei, st,
                            mx_record_strerror(st));
                check_status_known(who, ei, st);
                break;
            }
            if (e->status == MX_REC_BAD_RECORD_MAC) {
                if (st != MX_REC_BAD_RECORD_MAC && !(c->tls13 && st == MX_REC_BAD_INNER))
                    fz_fail(who, "record %zu (0x%04x/0x%04x): %s rejects it, libmx says %d (%s)", ei, c->version,
                            c->suite, record_conn_reference(c), st, mx_record_strerror(st));
            } else if (st != e->status) {
                fz_fail(who, "record %zu (0x%04x/0x%04x): libmx %d (%s), model %d (%s)", ei, c->version, c->suite, st,
                        mx_record_strerror(st), e->status, mx_record_strerror(e->status));
            }
            /* after the comparison with the model, so that a wrong status is reported as the
             * divergence it is (bench/bugs/manifest's signatures expect that message) */
            check_status_known(who, ei, st);
            if (st != MX_REC_OK) {
                size_t dummy;
                /* mx/record.h: after an error mx_record_error names it */
                if (mx_record_error(r) != st)
                    fz_fail(who, "record %zu: libmx returned %d but mx_record_error says %d", ei, st, mx_record_error(r));
                int again = mx_record_read(r, &chain, &type, pt, MX_RECORD_MAX_PLAINTEXT, &dummy);
                check_status_known(who, ei, again);
                if (again != MX_REC_FAILED)
                    fz_fail(who, "record %zu: the decrypter accepted a call after error %d", ei, st);
                break;
            }
            if (chain.consumed - consumed0 != e->rec_len)
                fz_fail(who, "record %zu: libmx consumed %llu bytes, the record has %zu", ei,
                        (unsigned long long)(chain.consumed - consumed0), e->rec_len);
            if (type != e->type)
                fz_fail(who, "record %zu: type libmx %u, %s %u", ei, type, record_conn_reference(c), e->type);
            if (out_len != e->pt_len)
                fz_fail(who, "record %zu (0x%04x/0x%04x): plaintext length libmx %zu, %s %zu", ei, c->version,
                        c->suite, out_len, record_conn_reference(c), e->pt_len);
            if (out_len && memcmp(pt, expect_pt + e->pt_off, out_len) != 0)
                fz_fail(who, "record %zu (0x%04x/0x%04x): plaintext differs", ei, c->version, c->suite);
            if (mx_record_read_seq(r) != e->seq_after)
                fz_fail(who, "record %zu: libmx's next sequence number %llu, the model's %llu", ei,
                        (unsigned long long)mx_record_read_seq(r), (unsigned long long)e->seq_after);
            if (e->key_update) {
                /* what a server does on reading a KeyUpdate; mx/record.h: MX_REC_UNSUPPORTED
                 * (and nothing changed: the next records are checked under the old keys) when the
                 * keys are not TLS 1.3 */
                int want = c->tls13 ? MX_REC_OK : MX_REC_UNSUPPORTED, k = mx_record_tls13_key_update(r);
                check_status_known(who, ei, k);
                if (k != want)
                    fz_fail(who, "record %zu: mx_record_tls13_key_update returned %d (%s), want %d", ei, k,
                            mx_record_strerror(k), want);
                if (mx_record_read_seq(r) != (c->tls13 ? 0 : e->seq_after))
                    fz_fail(who, "record %zu: sequence number %llu after the key update", ei,
                            (unsigned long long)mx_record_read_seq(r));
            }
        }
    }
    mx_chain_release(&chain);
}
