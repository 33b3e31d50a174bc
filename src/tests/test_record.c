/* Unit tests for the record decrypter's contract: partial records wait without consuming,
 * several records in one read come out one per call, header/length errors are found from the
 * header alone (before the body arrives, before any crypto), padding and MAC failures share
 * one code, errors are sticky, OUT_TOO_SMALL is not, TLS 1.3 inner type/padding/CCS rules,
 * sequence exhaustion, key setup errors. Records are sealed by BoringSSL (tls_oracle): its
 * record AEADs, or for encrypt-then-MAC (RFC 7366) and HMAC-SHA256/384 CBC, which they do not
 * do, tls_oracle's RFC model on BoringSSL's EVP ciphers and HMAC (no libmx code). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx/chain.h"
#include "mx/record.h"
#include "tls_oracle.h"

static uint8_t kb[MX_RECORD_MAX_KEY_BLOCK], secret[48], pt[16400], out[MX_RECORD_MAX_PLAINTEXT];
static uint8_t recbuf[3][16384 + 2048 + 64];
static struct mx_record rec;

static void setup_keys(void)
{
    for (size_t i = 0; i < sizeof kb; i++)
        kb[i] = (uint8_t)(i * 13 + 7);
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (uint8_t)(i * 5 + 1);
    for (size_t i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)(i * 7 + 3);
}

/* seals len bytes with TLS 1.2 AES-128-CBC-SHA (client keys, seq from 0) into recbuf[k] */
static size_t seal12(struct tls_oracle *o, int k, uint8_t type, size_t len)
{
    uint8_t iv[16];
    memset(iv, k + 1, sizeof iv);
    size_t n = tls_oracle_seal(o, type, pt, len, iv, 0, recbuf[k], sizeof recbuf[k]);
    assert_true(n > 0);
    return n;
}

static void keys12(uint16_t version, uint16_t suite, uint64_t seq)
{
    mx_record_init(&rec);
    assert_int_equal(mx_record_set_tls12_keys(&rec, version, suite, MX_REC_MAC_THEN_ENCRYPT, 1, kb, sizeof kb, seq), MX_REC_OK);
}

static int rd(struct mx_chain *c, uint8_t *type, size_t *len) { return mx_record_read(&rec, c, type, out, sizeof out, len); }

static void test_null_passthrough(void **state)
{
    struct mx_chain c;
    uint8_t type, stream[] = {22, 3, 1, 0, 3, 'a', 'b', 'c', 21, 3, 3, 0, 2, 1, 0, 23, 3, 3, 0, 0};
    size_t len;
    (void)state;
    mx_record_init(&rec);
    mx_chain_init(&c, 0, NULL);
    /* a partial header, then a partial body: nothing consumed */
    assert_int_equal(mx_chain_append(&c, stream, 4), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_NEED_MORE);
    assert_int_equal(c.bytes, 4);
    assert_int_equal(mx_chain_append(&c, stream + 4, 3), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_NEED_MORE);
    assert_int_equal(c.consumed, 0);
    /* the rest at once: three records, one per call */
    assert_int_equal(mx_chain_append(&c, stream + 7, sizeof stream - 7), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(type, 22);
    assert_int_equal(len, 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(type, 21);
    assert_int_equal(len, 2);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(type, 23);
    assert_int_equal(len, 0);
    assert_int_equal(rd(&c, &type, &len), MX_REC_NEED_MORE);
    assert_int_equal(c.bytes, 0);
    mx_chain_release(&c);
}

/* Each header error is found from the 5 header bytes alone, then the decrypter is dead. */
static void expect_header_error(int keyed, const uint8_t h[5], int want)
{
    struct mx_chain c;
    uint8_t type;
    size_t len;
    if (keyed)
        keys12(0x0303, 0x002F, 0);
    else
        mx_record_init(&rec);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, h, 5), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), want);
    assert_int_equal(c.bytes, 5); /* nothing consumed */
    assert_int_equal(mx_record_error(&rec), want);
    assert_int_equal(rd(&c, &type, &len), MX_REC_FAILED);
    mx_chain_release(&c);
}

static void test_header_errors(void **state)
{
    (void)state;
    expect_header_error(0, (const uint8_t[]){24, 3, 3, 0, 1}, MX_REC_BAD_TYPE);
    expect_header_error(0, (const uint8_t[]){22, 2, 0, 0, 1}, MX_REC_BAD_VERSION);
    expect_header_error(0, (const uint8_t[]){22, 3, 1, 0x40, 0x01}, MX_REC_TOO_LONG);
    expect_header_error(1, (const uint8_t[]){23, 3, 2, 0, 48}, MX_REC_BAD_VERSION);
    expect_header_error(1, (const uint8_t[]){23, 3, 3, 0x48, 0x01}, MX_REC_TOO_LONG);
    expect_header_error(1, (const uint8_t[]){23, 3, 3, 0, 36}, MX_REC_TOO_SHORT);       /* < 16 + 20 + 1 */
    expect_header_error(1, (const uint8_t[]){23, 3, 3, 0, 50}, MX_REC_NOT_BLOCK_MULTIPLE);
    expect_header_error(1, (const uint8_t[]){0, 3, 3, 0, 48}, MX_REC_BAD_TYPE);
}

static void test_cbc_split_and_batched(void **state)
{
    struct tls_oracle o;
    struct mx_chain c;
    uint8_t type;
    size_t len, n0, n1, n2, i;
    (void)state;
    assert_int_equal(tls_oracle_init12(&o, TLS_ORACLE_SEAL, 0x0303, 0x002F, 1, kb, sizeof kb, 0), 0);
    n0 = seal12(&o, 0, 23, 100);
    n1 = seal12(&o, 1, 23, 0);
    n2 = seal12(&o, 2, 22, 16384);
    tls_oracle_cleanup(&o);
    keys12(0x0303, 0x002F, 0);
    mx_chain_init(&c, 0, NULL);
    /* record 0 byte by byte: NEED_MORE and nothing consumed until the last byte */
    for (i = 0; i + 1 < n0; i++) {
        assert_int_equal(mx_chain_append(&c, recbuf[0] + i, 1), MX_CHAIN_OK);
        assert_int_equal(rd(&c, &type, &len), MX_REC_NEED_MORE);
        assert_int_equal(c.bytes, i + 1);
    }
    assert_int_equal(mx_chain_append(&c, recbuf[0] + i, 1), MX_CHAIN_OK);
    /* records 1 and 2 arrive in the same read as the end of record 0 */
    assert_int_equal(mx_chain_append(&c, recbuf[1], n1), MX_CHAIN_OK);
    assert_int_equal(mx_chain_append(&c, recbuf[2], n2), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(len, 100);
    assert_memory_equal(out, pt, 100);
    assert_int_equal(c.consumed, n0);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(len, 0);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(type, 22);
    assert_int_equal(len, 16384);
    assert_memory_equal(out, pt, 16384);
    assert_int_equal(rd(&c, &type, &len), MX_REC_NEED_MORE);
    assert_int_equal(mx_record_read_seq(&rec), 3);
    mx_chain_release(&c);
}

/* Damage the MAC (first plaintext block garbled) or the padding (the last plaintext byte is
 * the padding length: flipping the IV-side block before it flips it): one error code. */
static void test_one_code_for_padding_and_mac(void **state)
{
    (void)state;
    for (int what = 0; what < 3; what++) {
        struct tls_oracle o;
        struct mx_chain c;
        uint8_t type;
        size_t len, n;
        assert_int_equal(tls_oracle_init12(&o, TLS_ORACLE_SEAL, 0x0303, 0x002F, 1, kb, sizeof kb, 0), 0);
        n = seal12(&o, 0, 23, 64); /* 64 + 20 + 12 padding = 96: padding length 11 */
        tls_oracle_cleanup(&o);
        if (what == 0)
            recbuf[0][5 + 16 + 3] ^= 1;      /* data byte -> MAC mismatch */
        else if (what == 1)
            recbuf[0][n - 16 - 1] ^= 0x02;   /* padding length byte 11 -> 9: bad padding */
        else
            recbuf[0][n - 16 - 3] ^= 0x40;   /* one padding byte wrong */
        keys12(0x0303, 0x002F, 0);
        mx_chain_init(&c, 0, NULL);
        assert_int_equal(mx_chain_append(&c, recbuf[0], n), MX_CHAIN_OK);
        assert_int_equal(rd(&c, &type, &len), MX_REC_BAD_RECORD_MAC);
        assert_int_equal(c.bytes, n);
        assert_int_equal(rd(&c, &type, &len), MX_REC_FAILED);
        mx_chain_release(&c);
    }
}

static void test_out_too_small_is_not_sticky(void **state)
{
    struct tls_oracle o;
    struct mx_chain c;
    uint8_t type;
    size_t len, n;
    (void)state;
    assert_int_equal(tls_oracle_init12(&o, TLS_ORACLE_SEAL, 0x0303, 0xC02F, 1, kb, sizeof kb, 7), 0);
    n = tls_oracle_seal(&o, 23, pt, 500, NULL, 0, recbuf[0], sizeof recbuf[0]);
    tls_oracle_cleanup(&o);
    keys12(0x0303, 0xC02F, 7);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, recbuf[0], n), MX_CHAIN_OK);
    assert_int_equal(mx_record_read(&rec, &c, &type, out, 499, &len), MX_REC_OUT_TOO_SMALL);
    assert_int_equal(c.bytes, n);
    assert_int_equal(mx_record_error(&rec), 0);
    assert_int_equal(mx_record_read(&rec, &c, &type, out, 500, &len), MX_REC_OK);
    assert_int_equal(len, 500);
    assert_memory_equal(out, pt, 500);
    assert_int_equal(mx_record_read_seq(&rec), 8);
    mx_chain_release(&c);
}

static void test_overflow_and_seq(void **state)
{
    struct tls_oracle o;
    struct mx_chain c;
    uint8_t type;
    size_t len, n;
    (void)state;
    /* 2^14 + 1 bytes of plaintext in a well-formed CBC record */
    assert_int_equal(tls_oracle_init12(&o, TLS_ORACLE_SEAL, 0x0302, 0x0035, 1, kb, sizeof kb, 0), 0);
    n = seal12(&o, 0, 23, 16385);
    tls_oracle_cleanup(&o);
    keys12(0x0302, 0x0035, 0);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, recbuf[0], n), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_RECORD_OVERFLOW);
    mx_chain_release(&c);
    /* the last sequence number cannot be used */
    keys12(0x0303, 0xCCA8, UINT64_MAX);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, (const uint8_t[]){23, 3, 3, 0, 16}, 5), MX_CHAIN_OK);
    assert_int_equal(mx_chain_append(&c, pt, 16), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_SEQ_EXHAUSTED);
    mx_chain_release(&c);
}

static void test_tls13_rules(void **state)
{
    struct tls_oracle o;
    struct mx_chain c;
    uint8_t type;
    size_t len, n;
    (void)state;
    assert_int_equal(tls_oracle_init13(&o, TLS_ORACLE_SEAL, 0x1302, secret, 48, 0), 0);
    mx_record_init(&rec);
    assert_int_equal(mx_record_set_tls13_secret(&rec, 0x1302, secret, 48, 0), MX_REC_OK);
    mx_chain_init(&c, 0, NULL);
    /* the compatibility CCS passes in the clear, without using a sequence number */
    assert_int_equal(mx_chain_append(&c, (const uint8_t[]){20, 3, 3, 0, 1, 1}, 6), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(type, 20);
    assert_int_equal(len, 1);
    /* inner type and 200 bytes of zero padding */
    n = tls_oracle_seal(&o, 22, pt, 40, NULL, 200, recbuf[0], sizeof recbuf[0]);
    assert_true(n > 0);
    assert_int_equal(mx_chain_append(&c, recbuf[0], n), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_OK);
    assert_int_equal(type, 22);
    assert_int_equal(len, 40);
    assert_memory_equal(out, pt, 40);
    assert_int_equal(mx_record_read_seq(&rec), 1);
    /* an inner plaintext of zeros only has no content type */
    n = tls_oracle_seal(&o, 0, pt, 0, NULL, 9, recbuf[0], sizeof recbuf[0]);
    assert_true(n > 0);
    assert_int_equal(mx_chain_append(&c, recbuf[0], n), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_BAD_INNER);
    mx_chain_release(&c);
    tls_oracle_cleanup(&o);

    /* 2^14 + 1 bytes of content: overflow */
    assert_int_equal(tls_oracle_init13(&o, TLS_ORACLE_SEAL, 0x1301, secret, 32, 0), 0);
    mx_record_init(&rec);
    assert_int_equal(mx_record_set_tls13_secret(&rec, 0x1301, secret, 32, 0), MX_REC_OK);
    mx_chain_init(&c, 0, NULL);
    n = tls_oracle_seal(&o, 23, pt, 16385, NULL, 0, recbuf[0], sizeof recbuf[0]);
    assert_true(n > 0);
    assert_int_equal(mx_chain_append(&c, recbuf[0], n), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_RECORD_OVERFLOW);
    mx_chain_release(&c);
    tls_oracle_cleanup(&o);

    /* outer type other than application data (and CCS of length 1) */
    mx_record_init(&rec);
    assert_int_equal(mx_record_set_tls13_secret(&rec, 0x1303, secret, 32, 0), MX_REC_OK);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, (const uint8_t[]){22, 3, 3, 0, 40}, 5), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_BAD_TYPE);
    mx_chain_release(&c);
    mx_record_init(&rec);
    assert_int_equal(mx_record_set_tls13_secret(&rec, 0x1303, secret, 32, 0), MX_REC_OK);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, (const uint8_t[]){23, 3, 3, 0x41, 0x01}, 5), MX_CHAIN_OK);
    assert_int_equal(rd(&c, &type, &len), MX_REC_TOO_LONG); /* 2^14 + 257 */
    mx_chain_release(&c);
}


/* Encrypt-then-MAC and the HMAC-SHA256/384 CBC suites, every version they exist in: records
 * of boundary lengths with the shortest and the longest padding, all in one stream (TLS 1.0
 * chains the IV across them), then each kind of damage alone, each MX_REC_BAD_RECORD_MAC. */
static const struct {
    uint16_t version, suite;
    int etm;
} cbc_suites[] = {
    {0x0301, 0x002F, 1}, {0x0301, 0x000A, 1}, {0x0302, 0x0035, 1}, {0x0302, 0x000A, 1}, {0x0303, 0x002F, 1},
    {0x0303, 0x003C, 0}, {0x0303, 0x003C, 1}, {0x0303, 0x006B, 0}, {0x0303, 0x006B, 1}, {0x0303, 0xC028, 0},
    {0x0303, 0xC028, 1}, {0x0303, 0xC024, 0}, {0x0303, 0xC023, 1},
};

static void keys_mac_order(uint16_t version, uint16_t suite, int etm)
{
    mx_record_init(&rec);
    assert_int_equal(mx_record_set_tls12_keys(&rec, version, suite, etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT,
                                              1, kb, mx_record_key_block_len(version, suite), 0),
                     MX_REC_OK);
}

static void test_etm_and_sha2_clean(void **state)
{
    static const size_t lens[] = {0, 1, 15, 16, 31, 255, 1000, 16384};
    static uint8_t stream[sizeof lens / sizeof lens[0] * 2][16384 + 2048 + 64];
    size_t sizes[sizeof lens / sizeof lens[0] * 2];
    (void)state;
    for (size_t si = 0; si < sizeof cbc_suites / sizeof cbc_suites[0]; si++) {
        struct tls_oracle o;
        struct mx_chain c;
        size_t k, nrec = 0;
        assert_int_equal(tls_oracle_init12_mac_order(&o, TLS_ORACLE_SEAL, cbc_suites[si].version, cbc_suites[si].suite,
                                                     cbc_suites[si].etm, 1, kb, sizeof kb, 0),
                         0);
        assert_true(tls_oracle_is_model(&o));
        for (k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            for (int longpad = 0; longpad < 2; longpad++) {
                uint8_t iv[16];
                size_t pad = tls_oracle_cbc_min_pad(&o, lens[k]), bs = cbc_suites[si].suite == 0x000A ? 8 : 16;
                if (longpad)
                    pad += ((255 - pad) / bs) * bs; /* the longest padding: up to 255 + its length byte */
                memset(iv, (int)(k * 2 + longpad + 1), sizeof iv);
                sizes[nrec] = tls_oracle_seal_cbc_padding(&o, (uint8_t)(21 + k % 3), pt, lens[k], iv, pad, 0, stream[nrec],
                                                          sizeof stream[nrec]);
                assert_true(sizes[nrec] > 0);
                nrec++;
            }
        }
        tls_oracle_cleanup(&o);
        keys_mac_order(cbc_suites[si].version, cbc_suites[si].suite, cbc_suites[si].etm);
        mx_chain_init(&c, 0, NULL);
        for (k = 0; k < nrec; k++)
            assert_int_equal(mx_chain_append(&c, stream[k], sizes[k]), MX_CHAIN_OK);
        for (k = 0; k < nrec; k++) {
            uint8_t type;
            size_t len;
            int st = rd(&c, &type, &len);
            if (st != MX_REC_OK)
                fail_msg("0x%04x/0x%04x etm %d record %zu: %s", cbc_suites[si].version, cbc_suites[si].suite,
                         cbc_suites[si].etm, k, mx_record_strerror(st));
            assert_int_equal(type, 21 + (k / 2) % 3);
            assert_int_equal(len, lens[k / 2]);
            assert_memory_equal(out, pt, len);
        }
        assert_int_equal(c.bytes, 0);
        assert_int_equal(mx_record_read_seq(&rec), nrec);
        mx_chain_release(&c);
    }
}

/* A record that one chain segment holds whole is read where it lies (mx/record.h, "Copies"),
 * one that straddles segments is gathered first: the same records decrypt to the same
 * plaintext either way, and reading never writes the chain's bytes. Every CBC family (MtE
 * SHA-1/256/384, EtM, TLS 1.0 chained IVs) and the AEADs (GCM, ChaCha20-Poly1305). */
static void test_in_place_and_gathered_agree(void **state)
{
    static const struct {
        uint16_t version, suite;
        int etm;
    } suites[] = {{0x0301, 0x002F, 0}, {0x0303, 0x002F, 0}, {0x0303, 0x003C, 0}, {0x0303, 0xC028, 0},
                  {0x0301, 0x002F, 1}, {0x0303, 0xC028, 1}, {0x0303, 0xC02F, 0}, {0x0303, 0xCCA8, 0}};
    static const size_t lens[] = {0, 1, 100, 4000, 16384, 31};
    static uint8_t stream[6 * (16384 + 2048 + 64)];
    (void)state;
    for (size_t si = 0; si < sizeof suites / sizeof suites[0]; si++) {
        struct tls_oracle o;
        size_t total = 0, k;
        for (int gathered = 0; gathered < 2; gathered++) {
            struct mx_chain c;
            uint8_t *owned = NULL;
            if (gathered == 0) {
                assert_int_equal(tls_oracle_init12_mac_order(&o, TLS_ORACLE_SEAL, suites[si].version, suites[si].suite,
                                                             suites[si].etm, 1, kb, sizeof kb, 0),
                                 0);
                for (k = 0; k < sizeof lens / sizeof lens[0]; k++) {
                    uint8_t iv[16];
                    memset(iv, (int)k + 1, sizeof iv);
                    size_t n = tls_oracle_seal(&o, 23, pt, lens[k], iv, 0, stream + total, sizeof stream - total);
                    assert_true(n > 0);
                    total += n;
                }
                tls_oracle_cleanup(&o);
            }
            keys_mac_order(suites[si].version, suites[si].suite, suites[si].etm);
            mx_chain_init(&c, 0, NULL);
            if (gathered) {
                /* 4 KB segments from 1000-byte reads: the long records straddle them */
                for (k = 0; k < total; k += 1000)
                    assert_int_equal(mx_chain_append(&c, stream + k, total - k < 1000 ? total - k : 1000), MX_CHAIN_OK);
            } else {
                owned = malloc(total);
                assert_non_null(owned);
                memcpy(owned, stream, total);
                assert_int_equal(mx_chain_append_owned(&c, owned, total), MX_CHAIN_OK);
            }
            for (k = 0; k < sizeof lens / sizeof lens[0]; k++) {
                uint8_t type;
                size_t len;
                int st = rd(&c, &type, &len);
                if (st != MX_REC_OK)
                    fail_msg("0x%04x/0x%04x etm %d %s, record %zu: %s", suites[si].version, suites[si].suite,
                             suites[si].etm, gathered ? "gathered" : "in place", k, mx_record_strerror(st));
                assert_int_equal(type, 23);
                assert_int_equal(len, lens[k]);
                assert_memory_equal(out, pt, len);
                /* the owned buffer lives while it holds queued bytes: still as received */
                if (owned && c.bytes > 0)
                    assert_memory_equal(owned, stream, total);
            }
            assert_int_equal(c.bytes, 0);
            mx_chain_release(&c);
        }
    }
}

static void test_etm_and_sha2_damage(void **state)
{
    (void)state;
    for (size_t si = 0; si < sizeof cbc_suites / sizeof cbc_suites[0]; si++) {
        /* 0 last MAC byte (EtM: the tag; MtE: a data byte, so the MAC no longer fits), 1 IV or
         * first ciphertext byte, 2 one bad byte in a padding a block longer than needed, under
         * a right MAC, 3 the same in the shortest padding (the length byte itself if it is 0) */
        for (int what = 0; what < 4; what++) {
            struct tls_oracle o;
            struct mx_chain c;
            uint8_t type, iv[16];
            size_t len, n, pad;
            assert_int_equal(tls_oracle_init12_mac_order(&o, TLS_ORACLE_SEAL, cbc_suites[si].version,
                                                         cbc_suites[si].suite, cbc_suites[si].etm, 1, kb, sizeof kb, 0),
                             0);
            memset(iv, 0x5a, sizeof iv);
            pad = tls_oracle_cbc_min_pad(&o, 100) + (what == 2 ? 16 : 0) - (what == 2 && cbc_suites[si].suite == 0x000A ? 8 : 0);
            n = tls_oracle_seal_cbc_padding(&o, 23, pt, 100, iv, pad, what >= 2, recbuf[0], sizeof recbuf[0]);
            assert_true(n > 0);
            tls_oracle_cleanup(&o);
            if (what == 0)
                recbuf[0][cbc_suites[si].etm ? n - 1 : 5 + 16 + 2] ^= 0x01;
            else if (what == 1)
                recbuf[0][5] ^= 0x80;
            keys_mac_order(cbc_suites[si].version, cbc_suites[si].suite, cbc_suites[si].etm);
            mx_chain_init(&c, 0, NULL);
            assert_int_equal(mx_chain_append(&c, recbuf[0], n), MX_CHAIN_OK);
            if (rd(&c, &type, &len) != MX_REC_BAD_RECORD_MAC)
                fail_msg("0x%04x/0x%04x etm %d damage %d accepted", cbc_suites[si].version, cbc_suites[si].suite,
                         cbc_suites[si].etm, what);
            assert_int_equal(c.bytes, n);
            mx_chain_release(&c);
        }
    }
}

/* RFC 7366 3 header rules: IV + at least one block + MAC, the encrypted part whole blocks;
 * HMAC-SHA384 MtE needs 48 + 1 bytes in whole blocks. */
static void test_etm_and_sha2_header_rules(void **state)
{
    static const struct {
        uint16_t version, suite;
        int etm;
        size_t len;
        int want;
    } cases[] = {
        {0x0303, 0x002F, 1, 16 + 16 + 20 - 1, MX_REC_TOO_SHORT},
        {0x0303, 0x002F, 1, 16 + 16 + 20 + 1, MX_REC_NOT_BLOCK_MULTIPLE},
        {0x0303, 0x002F, 1, 16 + 48, MX_REC_NOT_BLOCK_MULTIPLE}, /* a MtE-valid length */
        {0x0301, 0x000A, 1, 8 + 20 - 1, MX_REC_TOO_SHORT},
        {0x0303, 0xC028, 1, 16 + 16 + 48 + 8, MX_REC_NOT_BLOCK_MULTIPLE},
        {0x0303, 0xC028, 0, 16 + 48, MX_REC_TOO_SHORT},
        {0x0303, 0x003C, 0, 16 + 32, MX_REC_TOO_SHORT},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mx_chain c;
        uint8_t type, h[5] = {23, 3, (uint8_t)cases[i].version, (uint8_t)(cases[i].len >> 8), (uint8_t)cases[i].len};
        size_t len;
        keys_mac_order(cases[i].version, cases[i].suite, cases[i].etm);
        mx_chain_init(&c, 0, NULL);
        assert_int_equal(mx_chain_append(&c, h, 5), MX_CHAIN_OK);
        assert_int_equal(rd(&c, &type, &len), cases[i].want);
        mx_chain_release(&c);
    }
}

static void test_key_setup(void **state)
{
    (void)state;
    /* the same numbers as BoringSSL's SSL_get_key_block_len (the handshake test uses them) */
    assert_int_equal(mx_record_key_block_len(0x0301, 0x002F), 2 * (20 + 16 + 16));
    assert_int_equal(mx_record_key_block_len(0x0303, 0x002F), 2 * (20 + 16));
    assert_int_equal(mx_record_key_block_len(0x0302, 0x000A), 2 * (20 + 24));
    assert_int_equal(mx_record_key_block_len(0x0303, 0xC030), 2 * (32 + 4));
    assert_int_equal(mx_record_key_block_len(0x0303, 0xCCA8), 2 * (32 + 12));
    assert_int_equal(mx_record_key_block_len(0x0302, 0x009C), 0); /* GCM needs TLS 1.2 */
    assert_int_equal(mx_record_key_block_len(0x0303, 0x1301), 0);
    assert_int_equal(mx_record_key_block_len(0x0300, 0x002F), 0);
    assert_int_equal(mx_record_key_block_len(0x0303, 0x003C), 2 * (32 + 16));
    assert_int_equal(mx_record_key_block_len(0x0303, 0xC028), MX_RECORD_MAX_KEY_BLOCK);
    assert_int_equal(mx_record_key_block_len(0x0302, 0x003C), 0); /* SHA-256 CBC needs TLS 1.2 */
    assert_int_equal(mx_record_key_block_len(0x0301, 0xC024), 0);
    mx_record_init(&rec);
    assert_int_equal(mx_record_set_tls12_keys(&rec, 0x0303, 0x0004, MX_REC_MAC_THEN_ENCRYPT, 1, kb, sizeof kb, 0), MX_REC_UNSUPPORTED);
    assert_int_equal(mx_record_set_tls12_keys(&rec, 0x0303, 0x002F, MX_REC_MAC_THEN_ENCRYPT, 1, kb, 71, 0), MX_REC_BAD_KEYS);
    assert_int_equal(mx_record_set_tls12_keys(&rec, 0x0303, 0xC028, MX_REC_ENCRYPT_THEN_MAC, 1, kb, 159, 0), MX_REC_BAD_KEYS);
    assert_int_equal(mx_record_set_tls12_keys(&rec, 0x0303, 0x002F, (enum mx_record_mac_order)2, 1, kb, sizeof kb, 0),
                     MX_REC_UNSUPPORTED);
    assert_int_equal(mx_record_set_tls13_secret(&rec, 0x1302, secret, 32, 0), MX_REC_BAD_KEYS);
    assert_int_equal(mx_record_set_tls13_secret(&rec, 0x1304, secret, 32, 0), MX_REC_UNSUPPORTED);
    assert_int_equal(mx_record_error(&rec), 0);
    /* every status has its own message */
    for (int a = MX_REC_INTERNAL; a <= MX_REC_NEED_MORE; a++)
        for (int b = a + 1; b <= MX_REC_NEED_MORE; b++)
            assert_string_not_equal(mx_record_strerror(a), mx_record_strerror(b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_passthrough),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_cbc_split_and_batched),
        cmocka_unit_test(test_in_place_and_gathered_agree),
        cmocka_unit_test(test_one_code_for_padding_and_mac),
        cmocka_unit_test(test_out_too_small_is_not_sticky),
        cmocka_unit_test(test_overflow_and_seq),
        cmocka_unit_test(test_tls13_rules),
        cmocka_unit_test(test_etm_and_sha2_clean),
        cmocka_unit_test(test_etm_and_sha2_damage),
        cmocka_unit_test(test_etm_and_sha2_header_rules),
        cmocka_unit_test(test_key_setup),
    };
    setup_keys();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
