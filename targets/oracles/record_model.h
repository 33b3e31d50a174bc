/* record_model.h - the reference for libmx's record decrypter, shared by the record targets.
 *
 * A TLS byte stream as a server receives it, walked record by record by an independent model:
 * the header rules of RFC 5246 / RFC 8446 (content type 20-23, the negotiated record version,
 * length limits 2^14 (clear) / 2^14+2048 / 2^14+256 (TLS 1.3), CBC minimum length and block
 * multiple, AEAD minimum length), checked before any cryptography, then BoringSSL's record
 * AEAD open (tls_oracle.h; its RFC model where BoringSSL has no record AEAD: encrypt-then-MAC,
 * HMAC-SHA256/384 CBC) and the 2^14 plaintext limit. record_check_stream() feeds the same
 * stream, cut into reads, to libmx and aborts on the first difference.
 */
#ifndef FZ_RECORD_MODEL_H
#define FZ_RECORD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "tls_oracle.h"

/* The (version, suite, MAC order) triples the record targets pick from, by index (input byte
 * % count). New entries go at the end: an index is what shipped seeds and reproducers mean. */
struct record_suite {
    uint16_t version, suite;
    int etm; /* RFC 7366 encrypt-then-MAC (CBC suites) */
};
extern const struct record_suite record_suites[];
extern const size_t record_nsuites;

/* One direction of a connection (the client's writes, read by the server). */
struct record_conn {
    int null_cipher; /* records in the clear (before keys) */
    uint16_t version; /* 0x0301..0x0303, 0x0304 for TLS 1.3 */
    uint16_t suite;
    int tls13, cbc;
    int etm; /* CBC with encrypt-then-MAC */
    size_t block, explicit_iv, key_len, mac_len, iv_len;
    uint8_t key_block[TLS_ORACLE_MAX_KEY_BLOCK];
    size_t key_block_len;
    uint8_t secret[48];
    size_t secret_len;
    uint64_t seq0;
};

/* The k-th (cycled) IANA number that names the same record protection as suite at version
 * (tls_oracle_suite_info: same cipher, MAC, key and IV), e.g. 0x002F, 0x0033, 0x008C, 0xC009,
 * 0xC013, 0xC035 for AES_128_CBC_SHA; suite itself for TLS 1.3. */
uint16_t record_suite_alias(uint16_t version, uint16_t suite, unsigned k);

/* Sets up a keyed connection from key material: the key block (TLS 1.0-1.2, at least
 * tls_oracle_key_block_len bytes) or the traffic secret (TLS 1.3: 32 or 48 bytes); etm for
 * encrypt-then-MAC (CBC only). Returns 0, or -1 if the pair is unsupported or the material too
 * short. */
int record_conn_init(struct record_conn *c, uint16_t version, uint16_t suite, int etm, const uint8_t *keys,
                     size_t keys_len, uint64_t seq0);
/* Who decides what a record of c should give: "BoringSSL" (its record AEADs) or the RFC CBC
 * model of tls_oracle.h (encrypt-then-MAC, HMAC-SHA256/384). */
const char *record_conn_reference(const struct record_conn *c);
/* A connection before keys: records pass in the clear. */
void record_conn_init_null(struct record_conn *c);

/* The fixed keys of targets/record.c for config cfg: cfg < record_nsuites picks that pair with
 * key block byte i = i * 7 + 1 (TLS 1.3 secret byte i = i * 3 + 2) and sequence number 0;
 * any other cfg is the null cipher. Returns 0 or -1. */
int record_fixed_conn(struct record_conn *c, unsigned cfg);

/* A TLS 1.3 KeyUpdate handshake message as a record's whole plaintext (RFC 8446 4.6.3:
 * handshake type 24, length 1, request_update 0 or 1; 5.1: it ends its record, the next record
 * is under the next keys). After such a record a TLS 1.3 reader switches keys; the record
 * targets' sealer and model do (record_conn_key_update), and the driver calls
 * mx_record_tls13_key_update, which must refuse (MX_REC_UNSUPPORTED) on any other connection. */
int record_is_key_update(uint8_t type, const uint8_t *pt, size_t len);
/* TLS 1.3: c's traffic secret becomes the next one (RFC 8446 7.2). Returns 0, or -1. */
int record_conn_key_update(struct record_conn *c);

/* A BoringSSL sealer or opener for the connection, starting at seq; kb_override replaces the
 * key block (TLS 1.0: a restarted IV chain), NULL for the connection's own. */
int record_conn_oracle(const struct record_conn *c, struct tls_oracle *o, enum tls_oracle_dir dir, uint64_t seq,
                       const uint8_t *kb_override);

/* The header rules: MX_REC_OK or the length-class error libmx must return (mx/record.h codes).
 * *ccs13 is set for a TLS 1.3 ChangeCipherSpec passing in the clear. */
int record_model_header(const struct record_conn *c, const uint8_t h[5], int *ccs13);

/* Runs libmx over stream[0..len) cut into reads (cuts cycled; none or 0: all that is left)
 * and compares every result with the model. `who` prefixes the divergence message; abort()s. */
void record_check_stream(const char *who, const struct record_conn *c, const uint8_t *stream, size_t len,
                         const size_t *cuts, size_t ncuts);

#endif
