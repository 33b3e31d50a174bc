/* mx/record.h - the TLS record decrypter (the server's read side).
 *
 * Reads TLS records from a receive chain (mx/chain.h) and returns them one per call as
 * content type + plaintext with its exact length. A record that is not complete in the
 * chain yet gives MX_REC_NEED_MORE and consumes nothing; a record split over any number of
 * reads decrypts the same as one read; several records queued at once come out one per call.
 *
 * Versions: TLS 1.0 (0x0301), 1.1 (0x0302), 1.2 (0x0303), 1.3 (keys from a traffic secret).
 * Cipher suites (IANA numbers; the key exchange does not matter to the record layer):
 *   CBC + HMAC-SHA1, TLS 1.0-1.2:
 *     3DES_EDE_CBC_SHA  0x000A 0x0016 0xC008 0xC012
 *     AES_128_CBC_SHA   0x002F 0x0033 0x008C 0xC009 0xC013 0xC035
 *     AES_256_CBC_SHA   0x0035 0x0039 0x008D 0xC00A 0xC014 0xC036
 *   CBC + HMAC-SHA256 / HMAC-SHA384, TLS 1.2 only (RFC 5246 A.5, RFC 5289 3.1):
 *     AES_128_CBC_SHA256 0x003C 0x0067 0xC023 0xC027
 *     AES_256_CBC_SHA256 0x003D 0x006B
 *     AES_256_CBC_SHA384 0xC024 0xC028
 *   AEAD, TLS 1.2 only:
 *     AES_128_GCM_SHA256 0x009C 0x009E 0xC02B 0xC02F
 *     AES_256_GCM_SHA384 0x009D 0x009F 0xC02C 0xC030
 *     CHACHA20_POLY1305  0xCCA8 0xCCA9 0xCCAA 0xCCAC
 *   TLS 1.3: 0x1301 AES_128_GCM_SHA256, 0x1302 AES_256_GCM_SHA384, 0x1303 CHACHA20_POLY1305
 *   mx_record_key_block_len() says 0 for anything else.
 * TLS 1.0 CBC chains the IV (the first from the key block, then the last ciphertext block of
 * the previous record); TLS 1.1+ CBC takes an explicit IV from each record.
 * Every CBC suite and version runs MAC-then-encrypt (RFC 5246 6.2.3.2) or, when the
 * encrypt_then_mac extension was negotiated, encrypt-then-MAC (RFC 7366): then the MAC over
 * the record as sent (IV included in TLS 1.1+) is checked first and only a record whose MAC
 * is right is decrypted and its padding checked. Which one is a key-setup input.
 *
 * Errors. Checks on public lengths come first and have their own codes (MX_REC_BAD_TYPE,
 * MX_REC_BAD_VERSION, MX_REC_TOO_LONG, MX_REC_TOO_SHORT, MX_REC_NOT_BLOCK_MULTIPLE); they are
 * decided from the 5-byte header before any cryptography. Every padding or MAC failure of a
 * CBC record and every AEAD tag failure is MX_REC_BAD_RECORD_MAC, one code, so that no
 * padding oracle exists. After any error (except MX_REC_OUT_TOO_SMALL, which changes nothing)
 * the decrypter is dead: every later mx_record_read returns MX_REC_FAILED.
 *
 * Constant time (CBC). Once the record length is known (public), the decrypted padding and MAC
 * bytes are handled without branches or memory indexes that depend on them: the padding is
 * scanned over min(256, len) bytes with masks, the HMAC (SHA-1, SHA-256: 64-byte blocks;
 * SHA-384: 128-byte blocks) is computed over every length the padding allows (hash blocks
 * selected by mask), the received MAC is extracted by rotation, compared with
 * CRYPTO_memcmp-style masking, and one branch on the combined result decides. In
 * encrypt-then-MAC the MAC is over public bytes; the computed tag is compared over all its
 * bytes, one branch on the verdict, then the padding is checked with the same masks.
 * What is not constant time: the plaintext copy-out after a record was accepted (its length
 * is public then), AEAD suites (BoringSSL's AEADs, constant time by themselves), and the
 * length checks on the header (public). src/tests/cbc_constant_time.sh checks this with valgrind.
 *
 * Memory: struct mx_record is fixed-size and caller-allocated (sizeof <= 20 KiB: one record
 * buffer of MX_RECORD_HEADER_LEN + MX_RECORD_MAX_CIPHERTEXT bytes + about 1.5 KiB of key
 * state). Nothing is allocated on the heap, neither per record nor at key setup, so there is
 * nothing to free; mx_record_cleanup() only wipes the keys.
 *
 * Copies: a record that one chain segment holds whole (a read buffer handed over with
 * mx_chain_append_owned, say) is read where it lies, otherwise it is first gathered into the
 * record buffer; CBC records are decrypted into the record buffer and the data copied out,
 * AEAD records straight into out. The chain's bytes are never written.
 */
#ifndef MX_RECORD_H
#define MX_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "mx/chain.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MX_RECORD_HEADER_LEN 5u
/* The largest plaintext a record may carry (RFC 8446 5.1, RFC 5246 6.2.1). An out buffer of
 * this size is always big enough for mx_record_read. */
#define MX_RECORD_MAX_PLAINTEXT 16384u
/* The largest ciphertext accepted: 2^14 + 2048 for TLS 1.0-1.2 (RFC 5246 6.2.3), 2^14 + 256
 * for TLS 1.3 (RFC 8446 5.2). Unencrypted records (before keys) may carry at most 2^14. */
#define MX_RECORD_MAX_CIPHERTEXT (16384u + 2048u)
#define MX_RECORD_MAX_CIPHERTEXT13 (16384u + 256u)
/* The longest key block of a supported suite: AES_256_CBC_SHA384, 2 * (48 + 32). */
#define MX_RECORD_MAX_KEY_BLOCK 160u

/* Content types. */
#define MX_TLS_CHANGE_CIPHER_SPEC 20
#define MX_TLS_ALERT 21
#define MX_TLS_HANDSHAKE 22
#define MX_TLS_APPLICATION_DATA 23

enum mx_record_status {
    MX_REC_OK = 0,
    MX_REC_NEED_MORE = 1,           /* the next record is not complete in the chain; nothing consumed */
    MX_REC_BAD_TYPE = -1,           /* unknown content type in the header */
    MX_REC_BAD_VERSION = -2,        /* header version is not the negotiated one (not 0x03xx before keys) */
    MX_REC_TOO_LONG = -3,           /* header length above the limit for the version/cipher */
    MX_REC_TOO_SHORT = -4,          /* shorter than IV + MAC + 1 (CBC) or nonce + tag (AEAD) */
    MX_REC_NOT_BLOCK_MULTIPLE = -5, /* CBC ciphertext not a multiple of the block size */
    MX_REC_BAD_RECORD_MAC = -6,     /* padding or MAC or AEAD tag wrong: one code for all */
    MX_REC_RECORD_OVERFLOW = -7,    /* decrypted plaintext longer than 2^14 */
    MX_REC_BAD_INNER = -8,          /* TLS 1.3: no non-zero inner content type */
    MX_REC_SEQ_EXHAUSTED = -9,      /* the sequence number would wrap */
    MX_REC_OUT_TOO_SMALL = -10,     /* out_cap below what the record may hold; nothing changed */
    MX_REC_FAILED = -11,            /* an earlier error killed the decrypter */
    MX_REC_UNSUPPORTED = -12,       /* set_keys: version/suite not supported */
    MX_REC_BAD_KEYS = -13,          /* set_keys: key material of the wrong length */
    MX_REC_INTERNAL = -14           /* a BoringSSL call failed */
};

/* Opaque storage; sizes checked at compile time in record.c. Do not touch the fields. */
#define MX_RECORD_STATE_SIZE 1536u
struct mx_record {
    _Alignas(16) unsigned char state_[MX_RECORD_STATE_SIZE];
    _Alignas(16) unsigned char buf_[MX_RECORD_HEADER_LEN + MX_RECORD_MAX_CIPHERTEXT + 16u];
};

/* Where the MAC of a CBC record is (ignored for AEAD suites). */
enum mx_record_mac_order {
    MX_REC_MAC_THEN_ENCRYPT = 0, /* RFC 5246 6.2.3.2: the MAC is inside the encryption */
    MX_REC_ENCRYPT_THEN_MAC = 1  /* RFC 7366: encrypt_then_mac negotiated, MAC after the ciphertext */
};

/* Null cipher: records pass through unchanged (the handshake before keys). */
void mx_record_init(struct mx_record *r);

/* TLS 1.0-1.2: version 0x0301..0x0303, IANA cipher suite number, the negotiated MAC order
 * (CBC suites: MX_REC_ENCRYPT_THEN_MAC when the ServerHello echoed encrypt_then_mac),
 * from_client=1 to decrypt what the client wrote (the server's read side), key block as from
 * SSL_generate_key_block / the PRF (at least mx_record_key_block_len bytes; more is ignored),
 * first sequence number. On error nothing changes. */
int mx_record_set_tls12_keys(struct mx_record *r, uint16_t version, uint16_t cipher_suite,
                             enum mx_record_mac_order mac_order, int from_client,
                             const uint8_t *key_block, size_t key_block_len, uint64_t seq);

/* TLS 1.3: suite 0x1301/0x1302/0x1303, a traffic secret (as in an NSS key log: 32 bytes for
 * 0x1301/0x1303, 48 for 0x1302), first sequence number. On error nothing changes. */
int mx_record_set_tls13_secret(struct mx_record *r, uint16_t cipher_suite, const uint8_t *secret,
                               size_t len, uint64_t seq);

/* TLS 1.3 KeyUpdate: after the caller has read a KeyUpdate handshake message, switches to the
 * next application traffic secret (HKDF-Expand-Label(secret, "traffic upd", "", Hash.length)),
 * sequence number 0. MX_REC_UNSUPPORTED when the keys are not TLS 1.3. */
int mx_record_tls13_key_update(struct mx_record *r);

/* One record out of the chain: MX_REC_OK with *type and out[0..*out_len) (the record is
 * consumed), MX_REC_NEED_MORE (nothing consumed), or an error (the record's bytes stay queued;
 * out[0..out_cap) may have been overwritten, with zeros where an AEAD tag failed).
 * out_cap >= MX_RECORD_MAX_PLAINTEXT always suffices; a smaller out_cap that cannot hold what
 * this record's length allows gives MX_REC_OUT_TOO_SMALL and changes nothing. */
int mx_record_read(struct mx_record *r, struct mx_chain *in, uint8_t *type, uint8_t *out,
                   size_t out_cap, size_t *out_len);

/* Key block length for (version, suite), as BoringSSL's SSL_get_key_block_len; 0 if
 * unsupported. TLS 1.0 CBC includes the two IVs, TLS 1.1+ CBC has none, GCM 4-byte and
 * ChaCha20 12-byte fixed IVs; MAC keys are 20, 32 or 48 bytes (SHA-1, SHA-256, SHA-384), the
 * longest block MX_RECORD_MAX_KEY_BLOCK. The MAC order does not change it. */
size_t mx_record_key_block_len(uint16_t version, uint16_t cipher_suite);

const char *mx_record_strerror(int status);

/* The sequence number of the next record to be read. */
uint64_t mx_record_read_seq(const struct mx_record *r);
/* 0 while usable, else the error that killed the decrypter. */
int mx_record_error(const struct mx_record *r);
/* Wipes the keys (optional: nothing was allocated). The struct can be re-initialised. */
void mx_record_cleanup(struct mx_record *r);

#ifdef __cplusplus
}
#endif
#endif
