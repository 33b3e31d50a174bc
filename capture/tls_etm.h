/* tls_etm.h - decryption of CBC-HMAC-SHA1 records with encrypt-then-MAC
 * (RFC 7366), which libmx's record decrypter (mx/record.h) does not do. The
 * importer uses it only for connections whose ServerHello echoed the
 * encrypt_then_mac extension with a CBC suite. Offline tool code: not
 * constant time, never on a server's path.
 *
 * Suites: 3DES_EDE_CBC_SHA, AES_128_CBC_SHA, AES_256_CBC_SHA (the CBC set of
 * mx/record.h); TLS 1.0 (chained IV from the key block) and 1.1/1.2 (explicit
 * per-record IV). Fixed-size state, nothing allocated.
 */
#ifndef CAP_TLS_ETM_H
#define CAP_TLS_ETM_H

#include <stddef.h>
#include <stdint.h>

struct cap_etm {
    uint16_t version;
    size_t key_len, block;
    int cipher;             /* 0 3DES, 1 AES-128, 2 AES-256 */
    uint8_t mac_key[20];
    uint8_t key[32];
    uint8_t iv[16];         /* TLS 1.0: the chained IV */
    uint64_t seq;
};

/* 1 if the suite is one of the CBC-SHA1 suites above. */
int cap_etm_suite_ok(uint16_t suite);
/* Key block length for the suite and version (0 if not a CBC-SHA1 suite). */
size_t cap_etm_key_block_len(uint16_t version, uint16_t suite);
/* Takes this direction's keys out of the key block. Returns 0 or -1. */
int cap_etm_init(struct cap_etm *e, uint16_t version, uint16_t suite, int from_client,
                const uint8_t *kb, size_t kblen);
/* One whole record (5-byte header + body). Returns 0 with the plaintext in
 * out (cap >= body length) and *out_len, or -1: MAC, padding or length wrong. */
int cap_etm_open(struct cap_etm *e, const uint8_t *rec, size_t len, uint8_t *out, size_t cap,
                size_t *out_len);

#endif
