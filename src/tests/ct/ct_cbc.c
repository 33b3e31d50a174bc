/* ct_cbc.c - the CBC open path of libmx's record decrypter under valgrind memcheck.
 *
 * Built by src/tests/cbc_constant_time.sh with -DMX_CT_VALGRIND (src/record.c then marks every decrypted
 * byte secret and declassifies only the final accept/reject mask and the plaintext length) and
 * run under `valgrind --error-exitcode`. Any branch or memory index that depends on the padding
 * or MAC bytes is a memcheck error and fails the test.
 *
 * The records are built here with BoringSSL's HMAC and CBC ciphers (not with libmx), in four
 * families, one per run (argv[1]; all four without an argument):
 *   sha1    MAC-then-encrypt HMAC-SHA1, TLS 1.0/1.1/1.2 x AES-128/AES-256/3DES
 *   sha256  MAC-then-encrypt HMAC-SHA256 (64-byte blocks like SHA-1), TLS 1.2 AES-128/AES-256
 *   sha384  MAC-then-encrypt HMAC-SHA384 (128-byte blocks, 16-byte length field), TLS 1.2
 *   etm     encrypt-then-MAC (RFC 7366) with SHA-1, SHA-256 and SHA-384, TLS 1.0 and 1.2
 * plaintexts of 0 … 300 bytes, minimal padding and long padding (up to 255), each clean, with
 * a wrong MAC byte, and with a wrong padding byte (under a right MAC in encrypt-then-MAC).
 * Every result is also checked: clean records give MX_REC_OK and the plaintext, damaged ones
 * MX_REC_BAD_RECORD_MAC. Exit 0 when all results are right (valgrind decides the rest).
 * src/tests/cbc_constant_time.sh runs each family on its own, so that a planted early exit
 * is shown to be reported by the family whose code it is in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <valgrind/memcheck.h>

#include "mx/chain.h"
#include "mx/record.h"

static int failures;

/* One CBC record: type 23, version, plaintext pt_len bytes, padding pad (bytes of padding
 * value, pad + 1 in total incl. the length byte), damage 0 none / 1 MAC / 2 padding; etm for
 * encrypt-then-MAC (RFC 7366 3: the MAC over IV + ciphertext, after it). */
static size_t build(uint16_t version, const EVP_CIPHER *ciph, const EVP_MD *md, int etm, const uint8_t *mac_key,
                    const uint8_t *key, const uint8_t *iv, uint64_t seq, const uint8_t *pt, size_t pt_len,
                    size_t pad, int damage, uint8_t *out)
{
    uint8_t buf[700], hdr[13];
    size_t bs = EVP_CIPHER_block_size(ciph), n = 0, i, ivl = version >= 0x0302 ? bs : 0, mlen = EVP_MD_size(md);
    size_t body;
    unsigned ml;
    EVP_CIPHER_CTX c;
    int ol;

    for (i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(seq >> (56 - 8 * i));
    hdr[8] = 23;
    hdr[9] = (uint8_t)(version >> 8);
    hdr[10] = (uint8_t)version;
    hdr[11] = (uint8_t)(pt_len >> 8);
    hdr[12] = (uint8_t)pt_len;
    memcpy(buf, pt, pt_len);
    n = pt_len;
    if (!etm) {
        HMAC_CTX h;
        HMAC_CTX_init(&h);
        HMAC_Init_ex(&h, mac_key, mlen, md, NULL);
        HMAC_Update(&h, hdr, 13);
        HMAC_Update(&h, pt, pt_len);
        HMAC_Final(&h, buf + n, &ml);
        HMAC_CTX_cleanup(&h);
        if (damage == 1)
            buf[n + 7] ^= 0x10;
        n += mlen;
    }
    for (i = 0; i <= pad; i++)
        buf[n + i] = (uint8_t)pad;
    if (damage == 2)
        buf[n + pad / 2] ^= 0x01;
    n += pad + 1;
    if (n % bs)
        abort(); /* caller picks a pad that aligns */
    body = ivl + n + (etm ? mlen : 0);
    out[0] = 23;
    out[1] = 3;
    out[2] = (uint8_t)version;
    out[3] = (uint8_t)(body >> 8);
    out[4] = (uint8_t)body;
    memcpy(out + 5, iv, ivl);
    EVP_CIPHER_CTX_init(&c);
    if (!EVP_EncryptInit_ex(&c, ciph, NULL, key, iv) || !EVP_CIPHER_CTX_set_padding(&c, 0) ||
        !EVP_EncryptUpdate(&c, out + 5 + ivl, &ol, buf, (int)n))
        abort();
    EVP_CIPHER_CTX_cleanup(&c);
    if (etm) {
        /* length: IV + ciphertext */
        HMAC_CTX h;
        hdr[11] = (uint8_t)((ivl + n) >> 8);
        hdr[12] = (uint8_t)(ivl + n);
        HMAC_CTX_init(&h);
        HMAC_Init_ex(&h, mac_key, mlen, md, NULL);
        HMAC_Update(&h, hdr, 13);
        HMAC_Update(&h, out + 5, ivl + n);
        HMAC_Final(&h, out + 5 + ivl + n, &ml);
        HMAC_CTX_cleanup(&h);
        if (damage == 1)
            out[5 + ivl + n + 7] ^= 0x10;
    }
    return 5 + body;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *family;
        uint16_t version, suite;
        int etm;
        const EVP_CIPHER *(*ciph)(void);
        const EVP_MD *(*md)(void);
        size_t key_len;
    } suites[] = {
        {"sha1", 0x0303, 0x002F, 0, EVP_aes_128_cbc, EVP_sha1, 16},
        {"sha1", 0x0303, 0x0035, 0, EVP_aes_256_cbc, EVP_sha1, 32},
        {"sha1", 0x0302, 0x000A, 0, EVP_des_ede3_cbc, EVP_sha1, 24},
        {"sha1", 0x0301, 0x002F, 0, EVP_aes_128_cbc, EVP_sha1, 16},
        {"sha1", 0x0301, 0x000A, 0, EVP_des_ede3_cbc, EVP_sha1, 24},
        {"sha256", 0x0303, 0x003C, 0, EVP_aes_128_cbc, EVP_sha256, 16},
        {"sha256", 0x0303, 0x006B, 0, EVP_aes_256_cbc, EVP_sha256, 32},
        {"sha384", 0x0303, 0xC028, 0, EVP_aes_256_cbc, EVP_sha384, 32},
        {"etm", 0x0303, 0x002F, 1, EVP_aes_128_cbc, EVP_sha1, 16},
        {"etm", 0x0301, 0x000A, 1, EVP_des_ede3_cbc, EVP_sha1, 24},
        {"etm", 0x0303, 0xC027, 1, EVP_aes_128_cbc, EVP_sha256, 16},
        {"etm", 0x0303, 0xC024, 1, EVP_aes_256_cbc, EVP_sha384, 32},
    };
    static const size_t lens[] = {0, 1, 13, 64, 300};
    const char *only = argc > 1 ? argv[1] : NULL;
    struct mx_record *r = malloc(sizeof *r);
    uint8_t kb[MX_RECORD_MAX_KEY_BLOCK], pt[300], rec[800], out[MX_RECORD_MAX_PLAINTEXT];
    size_t si, li, i, runs = 0;

    if (!r)
        return 2;
    for (i = 0; i < sizeof kb; i++)
        kb[i] = (uint8_t)(i * 29 + 5);
    for (i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)(i * 3 + 1);
    for (si = 0; si < sizeof suites / sizeof suites[0]; si++) {
        const EVP_CIPHER *ciph = suites[si].ciph();
        const EVP_MD *md = suites[si].md();
        uint16_t v = suites[si].version;
        int etm = suites[si].etm;
        size_t bs = EVP_CIPHER_block_size(ciph), kl = suites[si].key_len, ml = EVP_MD_size(md);
        size_t kbl = mx_record_key_block_len(v, suites[si].suite);
        const uint8_t *mac_key = kb, *key = kb + 2 * ml, *iv0 = kb + 2 * ml + 2 * kl;
        uint8_t explicit_iv[16];
        if (only && strcmp(only, suites[si].family) != 0)
            continue;
        for (i = 0; i < 16; i++)
            explicit_iv[i] = (uint8_t)(0xa0 + i);
        for (li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t base = lens[li] + (etm ? 0 : ml) + 1, minpad = (bs - base % bs) % bs, pads[2], pi;
            pads[0] = minpad;
            pads[1] = minpad + ((255 - minpad) / bs) * bs; /* the longest padding that aligns */
            for (pi = 0; pi < 2; pi++) {
                for (int damage = 0; damage < 3; damage++) {
                    struct mx_chain c;
                    uint8_t type;
                    size_t out_len, n;
                    int st;
                    if (damage == 2 && pads[pi] == 0)
                        continue; /* no padding byte to damage besides the length */
                    n = build(v, ciph, md, etm, mac_key, key, v >= 0x0302 ? explicit_iv : iv0, 5, pt, lens[li],
                              pads[pi], damage, rec);
                    mx_record_init(r);
                    if (mx_record_set_tls12_keys(r, v, suites[si].suite,
                                                 etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT, 1, kb, kbl,
                                                 5) != MX_REC_OK) {
                        fprintf(stderr, "ct_cbc: set_tls12_keys failed\n");
                        return 2;
                    }
                    mx_chain_init(&c, 0, NULL);
                    mx_chain_append(&c, rec, n);
                    st = mx_record_read(r, &c, &type, out, sizeof out, &out_len);
                    /* the plaintext is secret to memcheck; it is public to the caller */
                    VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);
                    runs++;
                    if (damage == 0 && (st != MX_REC_OK || out_len != lens[li] || memcmp(out, pt, out_len) != 0)) {
                        fprintf(stderr, "ct_cbc: 0x%04x/0x%04x len %zu pad %zu: clean record: %s\n", v,
                                suites[si].suite, lens[li], pads[pi], mx_record_strerror(st));
                        failures++;
                    }
                    if (damage != 0 && st != MX_REC_BAD_RECORD_MAC) {
                        fprintf(stderr, "ct_cbc: 0x%04x/0x%04x len %zu pad %zu damage %d: %s (want bad record MAC)\n",
                                v, suites[si].suite, lens[li], pads[pi], damage, mx_record_strerror(st));
                        failures++;
                    }
                    mx_chain_release(&c);
                }
            }
        }
    }
    free(r);
    printf("ct_cbc: %s: %zu records, %d wrong results\n", only ? only : "all", runs, failures);
    return failures || runs == 0 ? 1 : 0;
}
