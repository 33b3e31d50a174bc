/* tls_pair.h - a real BoringSSL client and server talking in memory.
 *
 * Negotiates a chosen version and cipher suite (a throwaway RSA-2048 certificate made at
 * start), keeps every byte the client sent (the server's receive stream), and exposes what a
 * server-side record decrypter needs: the key block (SSL_generate_key_block) for TLS 1.0-1.2,
 * the client's TLS 1.3 traffic secrets (from the key-log callback), and the server's read
 * sequence number (SSL_get_read_sequence). After the handshake the client writes application
 * data with SSL_write and the server reads it with SSL_read (the reference result).
 *
 * Not deterministic (BoringSSL's RNG): for tests and tools, not for fuzz targets.
 */
#ifndef FZ_TLS_PAIR_H
#define FZ_TLS_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tls_pair {
    SSL_CTX *cctx, *sctx;
    SSL *client, *server;
    BIO *c_in, *c_out, *s_in, *s_out; /* memory BIOs: c_out -> s_in, s_out -> c_in */
    uint8_t *stream;                  /* every byte the client wrote, in order */
    size_t stream_len, stream_cap;
    size_t handshake_len;             /* stream bytes written before the handshake completed */
    uint16_t version, suite;          /* negotiated */
    uint8_t key_block[2 * (20 + 32 + 16)];
    size_t key_block_len;             /* 0 for TLS 1.3 */
    uint8_t c_hs_secret[48], c_app_secret[48];
    size_t secret_len;                /* TLS 1.3 */
    char err[256];
};

/* version: 0x0301..0x0304; suite: an IANA number. BoringSSL does not let a caller pick the
 * TLS 1.3 suite: it takes AES-128-GCM with AES hardware and ChaCha20 without (set
 * OPENSSL_ia32cap=~0x200000000000000 before the first BoringSSL call to hide AES-NI); for
 * TLS 1.3 pass 0 to take what was negotiated, or a suite to fail unless it was negotiated.
 * Returns 0, or -1 with tp->err set. */
int tls_pair_handshake(struct tls_pair *tp, uint16_t version, uint16_t suite);

/* The client writes len bytes in one SSL_write (one record when len <= 16384), the bytes go to
 * the stream and to the server. Returns 0 or -1. */
int tls_pair_client_write(struct tls_pair *tp, const uint8_t *data, size_t len);

/* The server reads everything pending with SSL_read into out; returns the byte count, or -1. */
long tls_pair_server_read(struct tls_pair *tp, uint8_t *out, size_t cap);

/* The client sends a TLS 1.3 KeyUpdate (not requesting one back). Returns 0 or -1. */
int tls_pair_client_key_update(struct tls_pair *tp);

uint64_t tls_pair_server_read_seq(const struct tls_pair *tp);

void tls_pair_free(struct tls_pair *tp);

#ifdef __cplusplus
}
#endif
#endif
