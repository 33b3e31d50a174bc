/* tls_prf.h - the TLS 1.0-1.2 pseudo-random function (RFC 2246 5, RFC 5246 5)
 * and the key block it derives from a master secret, on BoringSSL's HMAC.
 *
 * TLS 1.0/1.1: P_MD5(first half of the secret) XOR P_SHA1(second half).
 * TLS 1.2: P_SHA384 for the suites whose PRF is SHA-384 (the *_SHA384 suites
 * listed in cap_tls12_prf_is_sha384), P_SHA256 for every other suite.
 */
#ifndef CAP_TLS_PRF_H
#define CAP_TLS_PRF_H

#include <stddef.h>
#include <stdint.h>

int cap_tls12_prf_is_sha384(uint16_t cipher_suite);

/* out = PRF(secret, label, seed1 || seed2)[0..outlen). Returns 0, -1 on a
 * BoringSSL failure or a version outside 0x0301..0x0303. */
int cap_tls_prf(uint16_t version, uint16_t cipher_suite, const uint8_t *secret, size_t slen,
               const char *label, const uint8_t *seed1, size_t s1len, const uint8_t *seed2,
               size_t s2len, uint8_t *out, size_t outlen);

/* key_block = PRF(master, "key expansion", server_random || client_random). */
int cap_tls_key_block(uint16_t version, uint16_t cipher_suite, const uint8_t master[48],
                     const uint8_t client_random[32], const uint8_t server_random[32],
                     uint8_t *out, size_t outlen);

#endif
