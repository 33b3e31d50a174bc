/* tls_pair.c - a real BoringSSL client and server talking in memory (see tls_pair.h). */
#include "tls_pair.h"
#include "hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* One throwaway key and self-signed certificate per process (kept for reuse; reachable). */
static EVP_PKEY *g_key;
static X509 *g_cert;

static int make_identity(void)
{
    RSA *rsa = NULL;
    BIGNUM *e = NULL;
    X509_NAME *name;
    int ok = 0;

    if (g_key && g_cert)
        return 0;
    rsa = RSA_new();
    e = BN_new();
    g_key = EVP_PKEY_new();
    g_cert = X509_new();
    if (!rsa || !e || !g_key || !g_cert || !BN_set_word(e, RSA_F4) || !RSA_generate_key_ex(rsa, 2048, e, NULL) ||
        !EVP_PKEY_assign_RSA(g_key, rsa))
        goto out;
    rsa = NULL; /* owned by g_key */
    if (!X509_set_version(g_cert, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(g_cert), 1) ||
        !X509_gmtime_adj(X509_getm_notBefore(g_cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(g_cert), 24 * 3600) || !X509_set_pubkey(g_cert, g_key))
        goto out;
    name = X509_get_subject_name(g_cert);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)"mxfuzz.test", -1, -1, 0) ||
        !X509_set_issuer_name(g_cert, name) || !X509_sign(g_cert, g_key, EVP_sha256()))
        goto out;
    ok = 1;
out:
    RSA_free(rsa);
    BN_free(e);
    if (!ok) {
        EVP_PKEY_free(g_key);
        X509_free(g_cert);
        g_key = NULL;
        g_cert = NULL;
        return -1;
    }
    return 0;
}

/* "LABEL <client_random> <secret>" */
static void keylog_cb(const SSL *ssl, const char *line)
{
    struct tls_pair *tp = SSL_get_app_data(ssl);
    uint8_t *dst = NULL;
    const char *p;
    size_t n = 0;

    if (!tp)
        return;
    if (strncmp(line, "CLIENT_HANDSHAKE_TRAFFIC_SECRET ", 32) == 0)
        dst = tp->c_hs_secret;
    else if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
        dst = tp->c_app_secret;
    else
        return;
    p = strrchr(line, ' ');
    if (!p)
        return;
    for (p++; p[0] && p[1] && n < 48; p += 2) {
        int hi = fz_hex_digit(p[0]), lo = fz_hex_digit(p[1]);
        if (hi < 0 || lo < 0)
            break;
        dst[n++] = (uint8_t)(hi << 4 | lo);
    }
    tp->secret_len = n;
}

static int set_err(struct tls_pair *tp, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[128];
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(tp->err, sizeof tp->err, "%s: %s", what, e ? buf : "no BoringSSL error");
    return -1;
}

static int keep(struct tls_pair *tp, const uint8_t *p, size_t n)
{
    if (tp->stream_len + n > tp->stream_cap) {
        size_t cap = tp->stream_cap ? tp->stream_cap : 16384;
        uint8_t *s;
        while (cap < tp->stream_len + n)
            cap *= 2;
        s = realloc(tp->stream, cap);
        if (!s)
            return -1;
        tp->stream = s;
        tp->stream_cap = cap;
    }
    memcpy(tp->stream + tp->stream_len, p, n);
    tp->stream_len += n;
    return 0;
}

/* Moves everything pending from one memory BIO to the other; client bytes are kept. */
static int pump(struct tls_pair *tp, BIO *from, BIO *to, int client_side)
{
    uint8_t buf[8192];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) {
        if (client_side && keep(tp, buf, (size_t)n) != 0)
            return -1;
        if (BIO_write(to, buf, n) != n)
            return -1;
    }
    return 0;
}

static int pump_all(struct tls_pair *tp)
{
    if (pump(tp, tp->c_out, tp->s_in, 1) != 0 || pump(tp, tp->s_out, tp->c_in, 0) != 0)
        return -1;
    return 0;
}

/* One handshake step of s unless *done; 0, or -1 on an error other than "wants to read". */
static int handshake_step(SSL *s, int *done)
{
    int rc;
    if (*done)
        return 0;
    rc = SSL_do_handshake(s);
    if (rc == 1)
        *done = 1;
    else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
        return -1;
    return 0;
}

int tls_pair_handshake(struct tls_pair *tp, uint16_t version, uint16_t suite)
{
    int i, cdone = 0, sdone = 0;
    const SSL_CIPHER *c;

    memset(tp, 0, sizeof *tp);
    if (make_identity() != 0)
        return set_err(tp, "making the test certificate");
    tp->cctx = SSL_CTX_new(TLS_method());
    tp->sctx = SSL_CTX_new(TLS_method());
    if (!tp->cctx || !tp->sctx)
        return set_err(tp, "SSL_CTX_new");
    if (!SSL_CTX_set_min_proto_version(tp->cctx, version) || !SSL_CTX_set_max_proto_version(tp->cctx, version) ||
        !SSL_CTX_set_min_proto_version(tp->sctx, version) || !SSL_CTX_set_max_proto_version(tp->sctx, version))
        return set_err(tp, "setting the version");
    if (version < 0x0304) {
        const SSL_CIPHER *want = SSL_get_cipher_by_value(suite);
        if (!want)
            return set_err(tp, "unknown cipher suite");
        if (!SSL_CTX_set_strict_cipher_list(tp->cctx, SSL_CIPHER_get_name(want)) ||
            !SSL_CTX_set_strict_cipher_list(tp->sctx, SSL_CIPHER_get_name(want)))
            return set_err(tp, "setting the cipher suite");
    }
    if (!SSL_CTX_use_certificate(tp->sctx, g_cert) || !SSL_CTX_use_PrivateKey(tp->sctx, g_key))
        return set_err(tp, "installing the certificate");
    SSL_CTX_set_verify(tp->cctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_keylog_callback(tp->cctx, keylog_cb);

    tp->client = SSL_new(tp->cctx);
    tp->server = SSL_new(tp->sctx);
    tp->c_in = BIO_new(BIO_s_mem());
    tp->c_out = BIO_new(BIO_s_mem());
    tp->s_in = BIO_new(BIO_s_mem());
    tp->s_out = BIO_new(BIO_s_mem());
    if (!tp->client || !tp->server || !tp->c_in || !tp->c_out || !tp->s_in || !tp->s_out)
        return set_err(tp, "SSL_new/BIO_new");
    BIO_set_mem_eof_return(tp->c_in, -1);
    BIO_set_mem_eof_return(tp->s_in, -1);
    BIO_up_ref(tp->c_in);
    BIO_up_ref(tp->c_out);
    BIO_up_ref(tp->s_in);
    BIO_up_ref(tp->s_out);
    SSL_set_bio(tp->client, tp->c_in, tp->c_out);
    SSL_set_bio(tp->server, tp->s_in, tp->s_out);
    SSL_set_app_data(tp->client, tp);
    SSL_set_connect_state(tp->client);
    SSL_set_accept_state(tp->server);

    for (i = 0; i < 32 && !(cdone && sdone); i++) {
        if (handshake_step(tp->client, &cdone) != 0)
            return set_err(tp, "client handshake");
        if (pump_all(tp) != 0)
            return set_err(tp, "moving bytes");
        if (handshake_step(tp->server, &sdone) != 0)
            return set_err(tp, "server handshake");
        if (pump_all(tp) != 0)
            return set_err(tp, "moving bytes");
    }
    if (!(cdone && sdone))
        return set_err(tp, "handshake did not finish");
    tp->handshake_len = tp->stream_len;
    c = SSL_get_current_cipher(tp->server);
    tp->version = (uint16_t)SSL_version(tp->server);
    tp->suite = c ? SSL_CIPHER_get_protocol_id(c) : 0;
    if (tp->version != version)
        return set_err(tp, "negotiated another version");
    if (suite && tp->suite != suite) {
        snprintf(tp->err, sizeof tp->err, "negotiated suite 0x%04x, wanted 0x%04x", tp->suite, suite);
        return -1;
    }
    if (version < 0x0304) {
        tp->key_block_len = SSL_get_key_block_len(tp->server);
        if (tp->key_block_len == 0 || tp->key_block_len > sizeof tp->key_block ||
            !SSL_generate_key_block(tp->server, tp->key_block, tp->key_block_len))
            return set_err(tp, "SSL_generate_key_block");
    } else if (tp->secret_len == 0) {
        snprintf(tp->err, sizeof tp->err, "no TLS 1.3 secrets from the key log");
        return -1;
    }
    return 0;
}

int tls_pair_client_write(struct tls_pair *tp, const uint8_t *data, size_t len)
{
    int rc = SSL_write(tp->client, data, (int)len);
    if (len > 0 && rc != (int)len)
        return set_err(tp, "SSL_write");
    if (len == 0) {
        /* SSL_write of 0 bytes writes nothing in BoringSSL */
    }
    return pump_all(tp) == 0 ? 0 : set_err(tp, "moving bytes");
}

long tls_pair_server_read(struct tls_pair *tp, uint8_t *out, size_t cap)
{
    size_t got = 0;
    for (;;) {
        int rc;
        if (got == cap)
            break;
        rc = SSL_read(tp->server, out + got, (int)(cap - got > 0x7fffffff ? 0x7fffffff : cap - got));
        if (rc > 0) {
            got += (size_t)rc;
            continue;
        }
        if (SSL_get_error(tp->server, rc) == SSL_ERROR_WANT_READ)
            break;
        set_err(tp, "SSL_read");
        return -1;
    }
    pump_all(tp);
    return (long)got;
}

int tls_pair_client_key_update(struct tls_pair *tp)
{
    if (!SSL_key_update(tp->client, SSL_KEY_UPDATE_NOT_REQUESTED))
        return set_err(tp, "SSL_key_update");
    /* the KeyUpdate goes out with the next write; flush it with an empty write attempt */
    if (SSL_write(tp->client, "", 0) < 0)
        return set_err(tp, "SSL_write after key update");
    return pump_all(tp) == 0 ? 0 : set_err(tp, "moving bytes");
}

uint64_t tls_pair_server_read_seq(const struct tls_pair *tp) { return SSL_get_read_sequence(tp->server); }

void tls_pair_free(struct tls_pair *tp)
{
    SSL_free(tp->client);
    SSL_free(tp->server);
    BIO_free(tp->c_in);
    BIO_free(tp->c_out);
    BIO_free(tp->s_in);
    BIO_free(tp->s_out);
    SSL_CTX_free(tp->cctx);
    SSL_CTX_free(tp->sctx);
    free(tp->stream);
    memset(tp, 0, sizeof *tp);
}
