/* tls_prf.c - TLS 1.0-1.2 PRF and key block (see tls_prf.h). */
#include "tls_prf.h"

#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <string.h>

int cap_tls12_prf_is_sha384(uint16_t s)
{
    switch (s) {
    case 0x009D: case 0x009F: case 0x00A1: case 0x00A3: case 0x00A5: case 0x00A7:
    case 0x00A9: case 0x00AB: case 0x00AD: case 0x00AF: case 0x00B1: case 0x00B3:
    case 0x00B5: case 0x00B7: case 0x00B9:
    case 0xC024: case 0xC028: case 0xC02C: case 0xC030: case 0xC026: case 0xC02A:
    case 0xC02E: case 0xC032: case 0xC038: case 0xC03B:
        return 1;
    default:
        return 0;
    }
}

/* out ^= P_hash(secret, label || seed1 || seed2) */
static int p_hash_xor(const EVP_MD *md, const uint8_t *secret, size_t slen, const char *label,
                      const uint8_t *s1, size_t n1, const uint8_t *s2, size_t n2, uint8_t *out,
                      size_t outlen)
{
    uint8_t a[EVP_MAX_MD_SIZE], blk[EVP_MAX_MD_SIZE];
    unsigned alen = 0, blen = 0;
    size_t mdlen = EVP_MD_size(md), llen = strlen(label);
    HMAC_CTX ctx;
    int ok = 0;
    HMAC_CTX_init(&ctx);
    /* A(1) = HMAC(secret, seed) */
    if (!HMAC_Init_ex(&ctx, secret, slen, md, NULL) ||
        !HMAC_Update(&ctx, (const uint8_t *)label, llen) || !HMAC_Update(&ctx, s1, n1) ||
        !HMAC_Update(&ctx, s2, n2) || !HMAC_Final(&ctx, a, &alen))
        goto done;
    for (size_t pos = 0; pos < outlen; pos += mdlen) {
        if (!HMAC_Init_ex(&ctx, NULL, 0, NULL, NULL) || !HMAC_Update(&ctx, a, alen) ||
            !HMAC_Update(&ctx, (const uint8_t *)label, llen) || !HMAC_Update(&ctx, s1, n1) ||
            !HMAC_Update(&ctx, s2, n2) || !HMAC_Final(&ctx, blk, &blen))
            goto done;
        for (size_t i = 0; i < blen && pos + i < outlen; i++)
            out[pos + i] ^= blk[i];
        /* A(i+1) = HMAC(secret, A(i)) */
        if (!HMAC_Init_ex(&ctx, NULL, 0, NULL, NULL) || !HMAC_Update(&ctx, a, alen) ||
            !HMAC_Final(&ctx, a, &alen))
            goto done;
    }
    ok = 1;
done:
    HMAC_CTX_cleanup(&ctx);
    return ok ? 0 : -1;
}

int cap_tls_prf(uint16_t version, uint16_t suite, const uint8_t *secret, size_t slen,
               const char *label, const uint8_t *seed1, size_t s1len, const uint8_t *seed2,
               size_t s2len, uint8_t *out, size_t outlen)
{
    memset(out, 0, outlen);
    if (version == 0x0303)
        return p_hash_xor(cap_tls12_prf_is_sha384(suite) ? EVP_sha384() : EVP_sha256(), secret,
                          slen, label, seed1, s1len, seed2, s2len, out, outlen);
    if (version != 0x0301 && version != 0x0302)
        return -1;
    size_t half = (slen + 1) / 2; /* the halves overlap by a byte when slen is odd */
    if (p_hash_xor(EVP_md5(), secret, half, label, seed1, s1len, seed2, s2len, out, outlen) ||
        p_hash_xor(EVP_sha1(), secret + (slen - half), half, label, seed1, s1len, seed2, s2len,
                   out, outlen))
        return -1;
    return 0;
}

int cap_tls_key_block(uint16_t version, uint16_t suite, const uint8_t master[48],
                     const uint8_t client_random[32], const uint8_t server_random[32],
                     uint8_t *out, size_t outlen)
{
    return cap_tls_prf(version, suite, master, 48, "key expansion", server_random, 32,
                      client_random, 32, out, outlen);
}
