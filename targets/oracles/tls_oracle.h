/* tls_oracle.h - BoringSSL's own record AEADs as a reference record layer.
 *
 * Seals plaintexts into TLS records and opens records the way BoringSSL's record layer does,
 * with its record-level AEADs: EVP_aead_{des_ede3,aes_128,aes_256}_cbc_sha1_tls (TLS 1.1/1.2)
 * and their _implicit_iv variants (TLS 1.0, IV chained across records), EVP_aead_aes_{128,256}
 * _gcm_tls12 and _tls13, and EVP_aead_chacha20_poly1305 with the TLS nonce (IV XOR sequence
 * number, RFC 7905 / RFC 8446; BoringSSL has no separate record-level ChaCha20 AEAD).
 * Everything is deterministic: the per-record IVs come from the caller.
 *
 * BoringSSL has no record AEAD for encrypt-then-MAC (RFC 7366) nor for the HMAC-SHA256/384 CBC
 * suites (RFC 5246 A.5, RFC 5289). For those, and only those, the oracle is a plain model
 * written from the RFCs on BoringSSL's CBC ciphers and HMAC (EVP_CIPHER, HMAC; not constant
 * time: it is a reference, not a server): RFC 5246 6.2.3.2 MAC-then-encrypt, RFC 7366 3
 * encrypt-then-MAC. tls_oracle_is_model() says which one a struct runs. OpenSSL 3's record
 * layer, which has both, cannot be keyed from a key block without a handshake (no public
 * record-layer API), so it is the peer of the real-handshake tests instead
 * (capture/tests/live_capture_decrypts.sh: OpenSSL server and client, libmx decrypting).
 *
 * Used as the oracle for libmx's decrypter (targets/record_diff.c, tests) and by targets that
 * need TLS records from a session plaintext (e.g. IMAP over TLS). It shares no code with
 * src/record.c.
 *
 * One struct tls_oracle is one direction of one connection: a sealer or an opener, with its
 * own sequence number (incremented by every successful seal/open; a failed open leaves it).
 */
#ifndef FZ_TLS_ORACLE_H
#define FZ_TLS_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/aead.h>
#include <openssl/cipher.h>
#include <openssl/digest.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tls_oracle_dir { TLS_ORACLE_SEAL = 0, TLS_ORACLE_OPEN = 1 };

enum tls_oracle_cipher { TLS_ORACLE_CBC = 1, TLS_ORACLE_GCM = 2, TLS_ORACLE_CHACHA = 3 };

/* The longest key block of a suite here: AES_256_CBC_SHA384, 2 * (48 + 32). */
#define TLS_ORACLE_MAX_KEY_BLOCK 160u

/* The CBC model's state (see above): keys, the TLS 1.0 IV chain. */
struct tls_oracle_cbc_model {
    const EVP_MD *md;
    const EVP_CIPHER *cipher;
    uint8_t mac_key[48], key[32], chain_iv[16];
    size_t mac_len, key_len;
};

struct tls_oracle {
    EVP_AEAD_CTX ctx;
    int ready;
    int dir;
    int cipher;           /* enum tls_oracle_cipher */
    int tls13;
    uint16_t version;     /* record-layer version written into headers: 0x0301..0x0303 */
    uint16_t suite;
    uint64_t seq;
    size_t block;         /* CBC block size */
    size_t explicit_iv;   /* bytes of per-record IV/nonce carried in the record */
    uint8_t fixed_iv[12]; /* GCM salt (4) or ChaCha20 / TLS 1.3 IV (12) */
    int etm;              /* RFC 7366 encrypt-then-MAC (CBC) */
    int model;            /* CBC run by the RFC model, not by a BoringSSL record AEAD */
    struct tls_oracle_cbc_model m;
};

/* Cipher suites the oracle knows (the same list as mx/record.h): the cipher family, key and
 * IV sizes. Returns 0 and fills the sizes, or -1 if the (version, suite) pair is invalid.
 * version 0x0304 means TLS 1.3 (suite 0x1301..0x1303). */
int tls_oracle_suite_info(uint16_t version, uint16_t suite, int *cipher, size_t *mac_len,
                          size_t *key_len, size_t *iv_len);

/* Key block length (TLS 1.0-1.2), computed from the table above; 0 if unsupported. */
size_t tls_oracle_key_block_len(uint16_t version, uint16_t suite);

/* TLS 1.0-1.2 from a key block (client_MAC, server_MAC, client_key, server_key, client_IV,
 * server_IV); from_client picks the client's write keys. Returns 0, or -1. */
int tls_oracle_init12(struct tls_oracle *o, enum tls_oracle_dir dir, uint16_t version,
                      uint16_t suite, int from_client, const uint8_t *key_block,
                      size_t key_block_len, uint64_t seq);

/* The same with the MAC order of a CBC suite: etm 1 for encrypt-then-MAC (RFC 7366; ignored
 * for AEAD suites). Encrypt-then-MAC and the SHA-256/384 CBC suites run the RFC model. */
int tls_oracle_init12_mac_order(struct tls_oracle *o, enum tls_oracle_dir dir, uint16_t version,
                                uint16_t suite, int etm, int from_client, const uint8_t *key_block,
                                size_t key_block_len, uint64_t seq);

/* 1 if o runs the RFC CBC model (see above), 0 for a BoringSSL record AEAD. */
int tls_oracle_is_model(const struct tls_oracle *o);

/* TLS 1.3 from a traffic secret (HKDF-Expand-Label "key"/"iv"). Returns 0, or -1. */
int tls_oracle_init13(struct tls_oracle *o, enum tls_oracle_dir dir, uint16_t suite,
                      const uint8_t *secret, size_t secret_len, uint64_t seq);

/* TLS 1.3 KeyUpdate: the next traffic secret of suite's hash (RFC 8446 7.2) into next
 * (secret_len bytes; next may be secret). Returns 0, or -1. */
int tls_oracle_next_secret13(uint16_t suite, const uint8_t *secret, size_t secret_len, uint8_t *next);

void tls_oracle_cleanup(struct tls_oracle *o);

/* Bytes of per-record IV the caller supplies to tls_oracle_seal: the CBC IV block in TLS
 * 1.1/1.2 (8 or 16), else 0 (GCM's explicit nonce is the sequence number, as BoringSSL
 * writes it; TLS 1.0 chains; ChaCha20 and TLS 1.3 have none). */
size_t tls_oracle_iv_len(const struct tls_oracle *o);

/* Upper bound of the record (header included) that sealing pt_len bytes with tls13_pad zero
 * bytes of padding produces. */
size_t tls_oracle_sealed_max(const struct tls_oracle *o, size_t pt_len, size_t tls13_pad);

/* Seals one record: 5-byte header + body into out. iv: tls_oracle_iv_len bytes (may be NULL
 * when that is 0). TLS 1.3: type is the inner content type, tls13_pad zero bytes are added.
 * Returns the record length, or 0 on error (cap too small, pt_len too long for a record). */
size_t tls_oracle_seal(struct tls_oracle *o, uint8_t type, const uint8_t *pt, size_t pt_len,
                       const uint8_t *iv, size_t tls13_pad, uint8_t *out, size_t cap);

/* The RFC CBC model only (tls_oracle_is_model): seals with padding of pad_len bytes plus the
 * length byte (pad_len + 1 in all; pad_len must make the encrypted part whole blocks and be
 * at most 255), and with bad_pad a padding byte (not the length byte; the length byte when
 * pad_len is 0) changed, so that the record's MAC is right and its padding is not. Returns
 * the record length or 0 (not the model, pad_len impossible, cap too small). */
size_t tls_oracle_seal_cbc_padding(struct tls_oracle *o, uint8_t type, const uint8_t *pt, size_t pt_len,
                                   const uint8_t *iv, size_t pad_len, int bad_pad, uint8_t *out, size_t cap);

/* The smallest CBC padding (pad_len) for pt_len bytes, and the block size. */
size_t tls_oracle_cbc_min_pad(const struct tls_oracle *o, size_t pt_len);

/* Opens one record given as header + body (rec_len = 5 + body). Only the cryptography is
 * checked here (BoringSSL's record AEAD open; TLS 1.3 padding strip), not the header's type,
 * version or length limits. Returns 1 with *type and out[0..*out_len), or 0 if rejected.
 * out_cap should be at least rec_len. */
int tls_oracle_open(struct tls_oracle *o, const uint8_t *rec, size_t rec_len, uint8_t *type,
                    uint8_t *out, size_t out_cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
