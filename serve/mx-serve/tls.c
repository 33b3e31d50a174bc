/* tls.c - BoringSSL for the handshake and the write direction, libmx's record decrypter for
 * the read direction after the handshake (see serve.h).
 *
 * The byte-exact BIO. BoringSSL reads the handshake through conn_bio_read, which serves bytes
 * from c->raw but never past the end of the TLS record it is in (it walks the record headers
 * itself). So when SSL_do_handshake returns 1, BoringSSL has consumed exactly the records of
 * the handshake (checked: the walk must be at a record boundary and SSL_has_pending must be
 * 0), and every byte after them -- application data the client pipelined behind its Finished
 * -- is still in c->raw for mx_record_read. BoringSSL ignores read-ahead for TLS anyway; the
 * cap makes that a guarantee rather than an assumption. After the switch the BIO refuses to
 * read at all.
 *
 * Keys. TLS 1.0-1.2: SSL_generate_key_block + SSL_get_read_sequence. TLS 1.0 CBC chains IVs:
 * the key block holds the IV of the client's first encrypted record (its Finished), and the
 * IV of the next record is the last ciphertext block of that Finished record -- the last bytes
 * the BIO handed over, so the server patches them into the key block. TLS 1.3: the
 * CLIENT_TRAFFIC_SECRET_0 line of BoringSSL's key-log callback.
 *
 * TLS 1.3 post-handshake messages from the client: KeyUpdate is supported (the next secret is
 * HKDF-Expand-Label(secret, "traffic upd", "", Hash.length); when the client requests an
 * update, BoringSSL's SSL_key_update sends ours). Anything else (NewSessionTicket from a
 * client, a certificate request answer we never asked for) is fatal: unexpected_message.
 * TLS 1.2 renegotiation (a ClientHello after the handshake) is refused with a fatal
 * no_renegotiation alert, as BoringSSL servers do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/hkdf.h>
#include <openssl/mem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "serve.h"

static BIO_METHOD *g_method;
static int g_ex_index = -1;

/* ---------------------------------------------------------------- the byte-exact BIO */

static int conn_bio_read(BIO *b, char *out, int outl)
{
    struct conn *c = BIO_get_data(b);
    size_t n, i;
    BIO_clear_retry_flags(b);
    if (!c || outl <= 0)
        return 0;
    if (c->tls != CONN_TLS_HANDSHAKE) {
        /* after the switch BoringSSL must never read: the decrypter owns the stream */
        clog_(c, "internal: BoringSSL tried to read after the handshake");
        return -1;
    }
    if (c->raw.bytes == 0) {
        if (c->peer_eof)
            return 0;
        BIO_set_retry_read(b);
        return -1;
    }
    n = (size_t)outl;
    if (c->hs_rec_left == 0) /* inside (or at the start of) a header: at most its 5 bytes */
        n = n < 5 - c->hs_hdr_n ? n : 5 - c->hs_hdr_n;
    else if (n > c->hs_rec_left)
        n = c->hs_rec_left;
    if (n > c->raw.bytes)
        n = c->raw.bytes;
    mx_chain_take_into(&c->raw, out, n);
    c->hs_bytes += n;
    if (c->hs_rec_left == 0) {
        memcpy(c->hs_hdr + c->hs_hdr_n, out, n);
        c->hs_hdr_n += n;
        if (c->hs_hdr_n == 5) {
            c->hs_rec_left = (size_t)c->hs_hdr[3] << 8 | c->hs_hdr[4];
            c->hs_hdr_n = 0;
        }
    } else {
        c->hs_rec_left -= n;
    }
    /* keep the last 16 bytes handed over */
    if (n >= 16) {
        memcpy(c->hs_tail, out + n - 16, 16);
    } else {
        memmove(c->hs_tail, c->hs_tail + n, 16 - n);
        for (i = 0; i < n; i++)
            c->hs_tail[16 - n + i] = (uint8_t)out[i];
    }
    return (int)n;
}

static int conn_bio_write(BIO *b, const char *in, int inl)
{
    struct conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!c || inl < 0)
        return -1;
    if (mx_chain_append(&c->out, in, (size_t)inl) != MX_CHAIN_OK)
        return -1;
    return inl;
}

static long conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int conn_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int method_init(void)
{
    if (g_method)
        return 0;
    g_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "mx-serve conn");
    if (!g_method || !BIO_meth_set_read(g_method, conn_bio_read) ||
        !BIO_meth_set_write(g_method, conn_bio_write) || !BIO_meth_set_ctrl(g_method, conn_bio_ctrl) ||
        !BIO_meth_set_create(g_method, conn_bio_create))
        return -1;
    g_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return g_ex_index < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- certificates, contexts */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void keylog_cb(const SSL *ssl, const char *line)
{
    struct conn *c = SSL_get_ex_data(ssl, g_ex_index);
    static const char tag[] = "CLIENT_TRAFFIC_SECRET_0 ";
    if (!c)
        return;
    if (c->srv->keylog) {
        fprintf(c->srv->keylog, "%s\n", line);
        fflush(c->srv->keylog);
    }
    if (strncmp(line, tag, sizeof tag - 1) == 0) {
        const char *p = strchr(line + sizeof tag - 1, ' ');
        size_t n = 0;
        if (!p)
            return;
        p++;
        while (p[0] && p[1] && n < sizeof c->c_secret) {
            int hi = hexval(p[0]), lo = hexval(p[1]);
            if (hi < 0 || lo < 0)
                break;
            c->c_secret[n++] = (uint8_t)(hi << 4 | lo);
            p += 2;
        }
        c->c_secret_len = n;
    }
}

int tls_load_cert(struct server *s, const char *name, int line, char *err, size_t errlen)
{
    char path[4200];
    SSL_CTX *ctx;
    if (tls_ctx_for(s, name))
        return 0;
    if (method_init() != 0 || s->ncerts >= SERVE_MAX_CERTS) {
        snprintf(err, errlen, "internal: BIO method or certificate table");
        return -1;
    }
    char keypath[4200], where[200];
    const char *dir = s->o.cert_dir ? s->o.cert_dir : ".";
    size_t nl = strlen(name);
    int own_key;
    struct stat kst;
    serve_where(s, line, where, sizeof where);
    /* NAME is the chain file: NAME as it is when it ends in .pem (never NAME.pem.pem), else
     * NAME.pem; the key is BASE.key beside it when that file exists, else in the same PEM */
    if (nl > 4 && strcmp(name + nl - 4, ".pem") == 0) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        snprintf(keypath, sizeof keypath, "%s/%.*s.key", dir, (int)(nl - 4), name);
    } else {
        snprintf(path, sizeof path, "%s/%s.pem", dir, name);
        snprintf(keypath, sizeof keypath, "%s/%s.key", dir, name);
    }
    own_key = stat(keypath, &kst) == 0;
    if (!own_key)
        snprintf(keypath, sizeof keypath, "%s", path);
    for (int f = 0; f < 1 + own_key; f++) {
        const char *fp = f ? keypath : path;
        /* a named pipe or a device would block BoringSSL's open or read forever: only a
         * regular file (checked without blocking: O_NONBLOCK) */
        struct stat st;
        int fd = open(fp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        int ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            snprintf(err, errlen, "%s: certificate '%s': %s: %s", where, name, fp,
                     fd < 0 ? strerror(e) : "not a regular file");
            return -1;
        }
    }
    ctx = SSL_CTX_new(TLS_method());
    if (!ctx)
        return -1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    {
        const char *what = NULL, *file = keypath;
        char e[160];
        if (!SSL_CTX_use_certificate_chain_file(ctx, path))
            what = "holds no certificate chain (PEM CERTIFICATE blocks, the server's first)", file = path;
        else if (!SSL_CTX_use_PrivateKey_file(ctx, keypath, SSL_FILETYPE_PEM))
            /* BoringSSL compares the key with the certificate as it loads it */
            what = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
                       ? "holds a private key that does not match the certificate"
                   : own_key ? "holds no private key (a PEM PRIVATE KEY block)"
                           : "holds no private key (a PEM PRIVATE KEY block; or put it in NAME.key beside it)";
        else if (!SSL_CTX_check_private_key(ctx))
            what = "holds a private key that does not match the certificate";
        if (what) {
            ERR_error_string_n(ERR_get_error(), e, sizeof e);
            snprintf(err, errlen, "%s: certificate '%s': %s %s (%s)", where, name,
                     file, what, e);
            SSL_CTX_free(ctx);
            ERR_clear_error();
            return -1;
        }
    }
    if (!SSL_CTX_set_strict_cipher_list(ctx, s->o.ciphers ? s->o.ciphers : "ALL")) {
        snprintf(err, errlen, "bad cipher list '%s'", s->o.ciphers ? s->o.ciphers : "ALL");
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return -1;
    }
    SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    snprintf(s->certs[s->ncerts].name, sizeof s->certs[s->ncerts].name, "%s", name);
    s->certs[s->ncerts].ctx = ctx;
    s->ncerts++;
    return 0;
}

SSL_CTX *tls_ctx_for(struct server *s, const char *name)
{
    for (size_t i = 0; i < s->ncerts; i++)
        if (strcmp(s->certs[i].name, name) == 0)
            return s->certs[i].ctx;
    return NULL;
}

void tls_free_all(struct server *s)
{
    for (size_t i = 0; i < s->ncerts; i++)
        SSL_CTX_free(s->certs[i].ctx);
    s->ncerts = 0;
    if (g_method)
        BIO_meth_free(g_method);
    g_method = NULL;
}

/* ---------------------------------------------------------------- handshake and switch */

int tls_begin(struct conn *c)
{
    BIO *b;
    if (!c->tls_ctx || method_init() != 0)
        return -1;
    c->ssl = SSL_new(c->tls_ctx);
    b = BIO_new(g_method);
    if (!c->ssl || !b) {
        BIO_free(b);
        return -1;
    }
    BIO_set_data(b, c);
    SSL_set_bio(c->ssl, b, b); /* one reference, both directions */
    SSL_set_ex_data(c->ssl, g_ex_index, c);
    SSL_set_accept_state(c->ssl);
    c->tls = CONN_TLS_HANDSHAKE;
    c->hs_bytes = 0;
    c->hs_hdr_n = c->hs_rec_left = 0;
    c->c_secret_len = 0;
    return 0;
}

static void log_ssl_error(struct conn *c, const char *what, int ret)
{
    char e[200] = "";
    unsigned long code = ERR_get_error();
    if (code)
        ERR_error_string_n(code, e, sizeof e);
    clog_(c, "%s failed (SSL_get_error %d)%s%s", what, SSL_get_error(c->ssl, ret), code ? ": " : "", e);
    ERR_clear_error();
}

static int key_decrypter(struct conn *c)
{
    const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
    uint64_t seq = SSL_get_read_sequence(c->ssl);
    int r;
    c->version = (uint16_t)SSL_version(c->ssl);
    c->suite = ciph ? SSL_CIPHER_get_protocol_id(ciph) : 0;
    mx_record_init(&c->rec);
    if (c->version == TLS1_3_VERSION) {
        if (c->c_secret_len == 0) {
            clog_(c, "TLS 1.3: no client traffic secret from the key-log callback");
            return -1;
        }
        r = mx_record_set_tls13_secret(&c->rec, c->suite, c->c_secret, c->c_secret_len, seq);
    } else {
        uint8_t kb[2 * (20 + 32 + 16)];
        size_t len = SSL_get_key_block_len(c->ssl);
        if (len != mx_record_key_block_len(c->version, c->suite) || len > sizeof kb) {
            clog_(c, "key block: BoringSSL says %zu bytes, libmx %zu for 0x%04x/0x%04x", len,
                  mx_record_key_block_len(c->version, c->suite), c->version, c->suite);
            return -1;
        }
        if (!SSL_generate_key_block(c->ssl, kb, len)) {
            log_ssl_error(c, "SSL_generate_key_block", 0);
            return -1;
        }
        if (c->version == TLS1_VERSION) {
            /* CBC with a chained IV: the client's next IV is the last ciphertext block of its
             * Finished record, the last bytes BoringSSL read */
            size_t iv = SSL_CIPHER_get_cipher_nid(ciph) == NID_des_ede3_cbc ? 8 : 16;
            size_t mac = 20, key = len / 2 - mac - iv;
            memcpy(kb + 2 * mac + 2 * key, c->hs_tail + 16 - iv, iv);
        }
        /* BoringSSL does not implement encrypt_then_mac (RFC 7366) and never echoes it: a CBC
         * suite it negotiated is MAC-then-encrypt */
        r = mx_record_set_tls12_keys(&c->rec, c->version, c->suite, MX_REC_MAC_THEN_ENCRYPT, 1, kb,
                                     len, seq);
        OPENSSL_cleanse(kb, sizeof kb);
    }
    if (r != MX_REC_OK) {
        clog_(c, "libmx decrypter: cannot key 0x%04x/0x%04x: %s", c->version, c->suite, mx_record_strerror(r));
        return -1;
    }
    return 0;
}

int tls_handshake(struct conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ && !c->peer_eof)
            return 0;
        log_ssl_error(c, "TLS handshake", r);
        return -1;
    }
    if (c->hs_hdr_n != 0 || c->hs_rec_left != 0 || SSL_has_pending(c->ssl)) {
        clog_(c, "internal: BoringSSL stopped inside a record (header %zu, body left %zu) or "
                 "buffered plaintext: cannot hand the stream to libmx", c->hs_hdr_n, c->hs_rec_left);
        return -1;
    }
    c->tls = CONN_TLS_ON;
    if (key_decrypter(c) != 0)
        return -1;
    clog_(c, "TLS handshake done: %s %s (0x%04x)%s; BoringSSL read %llu handshake bytes, %zu "
             "more queued for libmx's decrypter from seq %llu",
          SSL_get_version(c->ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)), c->suite,
          SSL_session_reused(c->ssl) ? ", session resumed" : "",
          (unsigned long long)c->hs_bytes, c->raw.bytes,
          (unsigned long long)mx_record_read_seq(&c->rec));
    return 1;
}

/* HKDF-Expand-Label(secret, "traffic upd", "", len) (RFC 8446 7.2) */
static int next_secret(struct conn *c)
{
    const EVP_MD *md = c->suite == 0x1302 ? EVP_sha384() : EVP_sha256();
    uint8_t info[2 + 1 + 17 + 1], out[48];
    size_t len = c->c_secret_len;
    static const char label[] = "tls13 traffic upd";
    info[0] = 0;
    info[1] = (uint8_t)len;
    info[2] = (uint8_t)(sizeof label - 1);
    memcpy(info + 3, label, sizeof label - 1);
    info[3 + sizeof label - 1] = 0;
    if (!HKDF_expand(out, len, md, c->c_secret, len, info, sizeof info))
        return -1;
    memcpy(c->c_secret, out, len);
    OPENSSL_cleanse(out, sizeof out);
    return mx_record_set_tls13_secret(&c->rec, c->suite, c->c_secret, len, 0) == MX_REC_OK ? 0 : -1;
}

static int fatal(struct conn *c, uint8_t alert, const char *why)
{
    clog_(c, "TLS: %s: sending fatal alert %u", why, alert);
    SSL_send_fatal_alert(c->ssl, alert);
    ERR_clear_error();
    c->dead = 0;
    c->closing = 1;
    c->close_reason = why;
    return -1;
}

/* post-handshake handshake messages (TLS 1.3); msg is one record's plaintext */
static int post_handshake(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->version != TLS1_3_VERSION)
        return fatal(c, SSL_AD_NO_RENEGOTIATION, "renegotiation attempt refused");
    while (n > 0) {
        size_t take = n < sizeof c->post_hs - c->post_hs_n ? n : sizeof c->post_hs - c->post_hs_n;
        size_t mlen;
        if (take == 0)
            return fatal(c, SSL_AD_UNEXPECTED_MESSAGE, "oversized post-handshake message");
        memcpy(c->post_hs + c->post_hs_n, p, take);
        c->post_hs_n += take;
        p += take;
        n -= take;
        if (c->post_hs_n < 4)
            continue;
        mlen = (size_t)c->post_hs[1] << 16 | (size_t)c->post_hs[2] << 8 | c->post_hs[3];
        if (c->post_hs[0] != 24 /* key_update */ || mlen != 1)
            return fatal(c, SSL_AD_UNEXPECTED_MESSAGE, "unexpected post-handshake message from the client");
        if (c->post_hs_n < 5)
            continue;
        if (c->post_hs[4] > 1)
            return fatal(c, SSL_AD_ILLEGAL_PARAMETER, "bad KeyUpdate request_update");
        /* the KeyUpdate must end its record (RFC 8446 5.1): nothing after it, neither in what
         * was copied nor in the rest of the record */
        if (c->post_hs_n != 5 || n != 0)
            return fatal(c, SSL_AD_UNEXPECTED_MESSAGE, "KeyUpdate not at the end of its record");
        if (next_secret(c) != 0)
            return fatal(c, SSL_AD_INTERNAL_ERROR, "KeyUpdate: cannot derive the next secret");
        c->key_updates++;
        clog_(c, "TLS 1.3 KeyUpdate from the client (update_requested=%u): read keys updated",
              c->post_hs[4]);
        if (c->post_hs[4] == 1) {
            if (!SSL_key_update(c->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) || SSL_write(c->ssl, "", 0) < 0) {
                ERR_clear_error();
                return fatal(c, SSL_AD_INTERNAL_ERROR, "cannot send our KeyUpdate");
            }
        }
        c->post_hs_n = 0;
    }
    return 0;
}

int tls_decrypt(struct conn *c)
{
    while (c->plain.bytes < SERVE_IN_LIMIT && !c->tls_closed) {
        uint8_t type;
        size_t n;
        int r = mx_record_read(&c->rec, &c->raw, &type, c->recbuf, sizeof c->recbuf, &n);
        if (r == MX_REC_NEED_MORE)
            return 0;
        if (r != MX_REC_OK) {
            uint8_t alert = r == MX_REC_BAD_RECORD_MAC ? SSL_AD_BAD_RECORD_MAC
                          : r == MX_REC_RECORD_OVERFLOW || r == MX_REC_TOO_LONG ? SSL_AD_RECORD_OVERFLOW
                          : SSL_AD_DECODE_ERROR;
            clog_(c, "libmx decrypter: %s at read seq %llu", mx_record_strerror(r),
                  (unsigned long long)mx_record_read_seq(&c->rec));
            return fatal(c, alert, "bad record from the client");
        }
        switch (type) {
        case MX_TLS_APPLICATION_DATA:
            if (mx_chain_append(&c->plain, c->recbuf, n) != MX_CHAIN_OK)
                return fatal(c, SSL_AD_INTERNAL_ERROR, "out of memory");
            break;
        case MX_TLS_ALERT:
            if (n == 2 && c->recbuf[1] == 0) {
                clog_(c, "TLS close_notify from the client");
                c->peer_eof = c->tls_closed = 1;
                return 0;
            }
            clog_(c, "TLS alert from the client: level %u description %u", n > 0 ? c->recbuf[0] : 0,
                  n > 1 ? c->recbuf[1] : 0);
            c->peer_eof = c->tls_closed = 1;
            c->dead = 1;
            c->close_reason = "TLS alert from the client";
            return -1;
        case MX_TLS_HANDSHAKE:
            if (post_handshake(c, c->recbuf, n) != 0)
                return -1;
            break;
        default:
            return fatal(c, SSL_AD_UNEXPECTED_MESSAGE, "unexpected record type after the handshake");
        }
    }
    return 0;
}

int tls_write(struct conn *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        int k = n > 16384 ? 16384 : (int)n;
        int w = SSL_write(c->ssl, b, k);
        if (w <= 0) {
            log_ssl_error(c, "SSL_write", w);
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

void tls_close_notify(struct conn *c)
{
    if (c->ssl && c->tls == CONN_TLS_ON) {
        SSL_shutdown(c->ssl); /* queues close_notify; never reads (we never call it twice) */
        ERR_clear_error();
    }
}
