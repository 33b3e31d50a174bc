/* tls_etm.c - CBC-HMAC-SHA1 encrypt-then-MAC records (see tls_etm.h). */
#include "tls_etm.h"

#include <openssl/cipher.h>
#include <openssl/crypto.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <string.h>

static int suite_cipher(uint16_t s)
{
    switch (s) {
    case 0x000A: case 0x0016: case 0xC008: case 0xC012:
        return 0;
    case 0x002F: case 0x0033: case 0x008C: case 0xC009: case 0xC013: case 0xC035:
        return 1;
    case 0x0035: case 0x0039: case 0x008D: case 0xC00A: case 0xC014: case 0xC036:
        return 2;
    default:
        return -1;
    }
}

int cap_etm_suite_ok(uint16_t suite) { return suite_cipher(suite) >= 0; }

static void params(int c, size_t *key, size_t *block)
{
    *key = c == 0 ? 24 : c == 1 ? 16 : 32;
    *block = c == 0 ? 8 : 16;
}

size_t cap_etm_key_block_len(uint16_t version, uint16_t suite)
{
    int c = suite_cipher(suite);
    size_t k, b;
    if (c < 0)
        return 0;
    params(c, &k, &b);
    return 2 * 20 + 2 * k + (version == 0x0301 ? 2 * b : 0);
}

int cap_etm_init(struct cap_etm *e, uint16_t version, uint16_t suite, int from_client,
                const uint8_t *kb, size_t kblen)
{
    int c = suite_cipher(suite);
    memset(e, 0, sizeof *e);
    if (c < 0 || version < 0x0301 || version > 0x0303 || kblen < cap_etm_key_block_len(version, suite))
        return -1;
    e->version = version;
    e->cipher = c;
    params(c, &e->key_len, &e->block);
    size_t k = e->key_len, b = e->block;
    memcpy(e->mac_key, kb + (from_client ? 0 : 20), 20);
    memcpy(e->key, kb + 40 + (from_client ? 0 : k), k);
    if (version == 0x0301)
        memcpy(e->iv, kb + 40 + 2 * k + (from_client ? 0 : b), b);
    return 0;
}

static const EVP_CIPHER *cipher_of(int c)
{
    return c == 0 ? EVP_des_ede3_cbc() : c == 1 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
}

int cap_etm_open(struct cap_etm *e, const uint8_t *rec, size_t len, uint8_t *out, size_t cap,
                size_t *out_len)
{
    size_t b = e->block, ivl = e->version >= 0x0302 ? b : 0;
    if (len < 5)
        return -1;
    size_t body = len - 5;
    if (body < ivl + b + 20 || (body - ivl - 20) % b || body - ivl - 20 > cap)
        return -1;
    size_t enc = body - 20; /* IV + ciphertext */
    uint8_t hdr[13], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(e->seq >> (56 - 8 * i));
    hdr[8] = rec[0];
    hdr[9] = rec[1];
    hdr[10] = rec[2];
    hdr[11] = (uint8_t)(enc >> 8);
    hdr[12] = (uint8_t)enc;
    HMAC_CTX h;
    HMAC_CTX_init(&h);
    int ok = HMAC_Init_ex(&h, e->mac_key, 20, EVP_sha1(), NULL) && HMAC_Update(&h, hdr, 13) &&
             HMAC_Update(&h, rec + 5, enc) && HMAC_Final(&h, mac, &maclen);
    HMAC_CTX_cleanup(&h);
    if (!ok || maclen != 20 || CRYPTO_memcmp(mac, rec + 5 + enc, 20) != 0)
        return -1;
    const uint8_t *iv = ivl ? rec + 5 : e->iv;
    const uint8_t *ct = rec + 5 + ivl;
    size_t ctn = enc - ivl;
    uint8_t next_iv[16];
    memcpy(next_iv, ct + ctn - b, b);
    EVP_CIPHER_CTX cx;
    EVP_CIPHER_CTX_init(&cx);
    int outl = 0;
    ok = EVP_DecryptInit_ex(&cx, cipher_of(e->cipher), NULL, e->key, iv) &&
         EVP_CIPHER_CTX_set_padding(&cx, 0) && EVP_DecryptUpdate(&cx, out, &outl, ct, (int)ctn);
    EVP_CIPHER_CTX_cleanup(&cx);
    if (!ok || (size_t)outl != ctn)
        return -1;
    size_t pad = out[ctn - 1];
    if (pad + 1 > ctn)
        return -1;
    for (size_t i = 0; i <= pad; i++)
        if (out[ctn - 1 - i] != pad)
            return -1;
    if (e->version == 0x0301)
        memcpy(e->iv, next_iv, b);
    e->seq++;
    *out_len = ctn - pad - 1;
    return 0;
}
