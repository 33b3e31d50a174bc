/* ossl_pair.c - OpenSSL 3's SSL_read in its own link namespace (see ossl_pair.h). */
#define _POSIX_C_SOURCE 200809L
#include "ossl_pair.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* OpenSSL 3.0's ABI, from its public headers (ssl.h, bio.h, tls1.h): opaque pointers and the
 * few constants used here. */
typedef struct ossl_ssl OSSL;
typedef struct ossl_ctx OSSL_CTX;
typedef struct ossl_bio OBIO;
#define O_CTRL_SET_MIN_PROTO_VERSION 123
#define O_CTRL_SET_MAX_PROTO_VERSION 124
#define O_OP_NO_ENCRYPT_THEN_MAC ((uint64_t)1 << 19)
#define O_BIO_CTRL_RESET 1
typedef unsigned (*psk_client_cb)(OSSL *, const char *, char *, unsigned, unsigned char *, unsigned);
typedef unsigned (*psk_server_cb)(OSSL *, const char *, unsigned char *, unsigned);

static struct {
    const void *(*TLS_method)(void);
    OSSL_CTX *(*SSL_CTX_new)(const void *);
    void (*SSL_CTX_free)(OSSL_CTX *);
    int (*SSL_CTX_set_cipher_list)(OSSL_CTX *, const char *);
    uint64_t (*SSL_CTX_set_options)(OSSL_CTX *, uint64_t);
    long (*SSL_CTX_ctrl)(OSSL_CTX *, int, long, void *);
    void (*SSL_CTX_set_security_level)(OSSL_CTX *, int);
    void (*SSL_CTX_set_psk_client_callback)(OSSL_CTX *, psk_client_cb);
    void (*SSL_CTX_set_psk_server_callback)(OSSL_CTX *, psk_server_cb);
    OSSL *(*SSL_new)(OSSL_CTX *);
    void (*SSL_free)(OSSL *);
    void (*SSL_set_bio)(OSSL *, OBIO *, OBIO *);
    void (*SSL_set_connect_state)(OSSL *);
    void (*SSL_set_accept_state)(OSSL *);
    int (*SSL_do_handshake)(OSSL *);
    int (*SSL_write)(OSSL *, const void *, int);
    int (*SSL_read)(OSSL *, void *, int);
    const void *(*BIO_s_mem)(void);
    OBIO *(*BIO_new)(const void *);
    OBIO *(*BIO_new_mem_buf)(const void *, int);
    void (*SSL_set0_rbio)(OSSL *, OBIO *);
    int (*BIO_read)(OBIO *, void *, int);
    int (*BIO_write)(OBIO *, const void *, int);
    long (*BIO_ctrl)(OBIO *, int, long, void *);
} o;

int ossl_load(char *err, size_t errlen)
{
    /* this process has no BoringSSL loaded (ossl_read.c), so nothing else answers to these
     * symbol names */
    void *ssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!ssl) {
        snprintf(err, errlen, "dlopen libssl.so.3: %s", dlerror());
        return -1;
    }
#define SYM(name)                                                                                                     \
    do {                                                                                                              \
        *(void **)(&o.name) = dlsym(ssl, #name);                                                                      \
        if (!o.name) {                                                                                                \
            snprintf(err, errlen, "libssl.so.3 has no %s", #name);                                                    \
            return -1;                                                                                                \
        }                                                                                                             \
    } while (0)
    SYM(TLS_method);
    SYM(SSL_CTX_new);
    SYM(SSL_CTX_free);
    SYM(SSL_CTX_set_cipher_list);
    SYM(SSL_CTX_set_options);
    SYM(SSL_CTX_ctrl);
    SYM(SSL_CTX_set_security_level);
    SYM(SSL_CTX_set_psk_client_callback);
    SYM(SSL_CTX_set_psk_server_callback);
    SYM(SSL_new);
    SYM(SSL_free);
    SYM(SSL_set_bio);
    SYM(SSL_set_connect_state);
    SYM(SSL_set_accept_state);
    SYM(SSL_do_handshake);
    SYM(SSL_write);
    SYM(SSL_read);
    SYM(BIO_s_mem);
    SYM(BIO_new);
    SYM(BIO_new_mem_buf);
    SYM(SSL_set0_rbio);
    SYM(BIO_read);
    SYM(BIO_write);
    SYM(BIO_ctrl);
#undef SYM
    return 0;
}

static const unsigned char g_psk[32] = {1, 2, 3, 4, 5, 6, 7, 8};

static unsigned client_psk(OSSL *s, const char *hint, char *id, unsigned id_max, unsigned char *psk, unsigned psk_max)
{
    (void)s;
    (void)hint;
    if (id_max < 6 || psk_max < sizeof g_psk)
        return 0;
    memcpy(id, "bench", 6);
    memcpy(psk, g_psk, sizeof g_psk);
    return sizeof g_psk;
}

static unsigned server_psk(OSSL *s, const char *id, unsigned char *psk, unsigned psk_max)
{
    (void)s;
    (void)id;
    if (psk_max < sizeof g_psk)
        return 0;
    memcpy(psk, g_psk, sizeof g_psk);
    return sizeof g_psk;
}

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* moves everything pending in from into to; returns the bytes moved */
static size_t pump(OBIO *from, OBIO *to)
{
    unsigned char buf[16384];
    size_t moved = 0;
    int n;
    while ((n = o.BIO_read(from, buf, sizeof buf)) > 0) {
        o.BIO_write(to, buf, n);
        moved += (size_t)n;
    }
    return moved;
}

static double one_run(OSSL_CTX *cctx, OSSL_CTX *sctx, size_t nrec, size_t rec, clockid_t clock, int owned,
                      char *err, size_t errlen)
{
    OSSL *c = o.SSL_new(cctx), *s = o.SSL_new(sctx);
    OBIO *c_in = o.BIO_new(o.BIO_s_mem()), *c_out = o.BIO_new(o.BIO_s_mem());
    OBIO *s_in = o.BIO_new(o.BIO_s_mem()), *s_out = o.BIO_new(o.BIO_s_mem());
    size_t cap = nrec * (rec + 128) + 4096, len = 0, off = 0, got = 0, i;
    unsigned char *stream = malloc(cap), *data = calloc(1, rec ? rec : 1), *rd = malloc(16384);
    double t = -1;
    int k;

    if (!c || !s || !c_in || !c_out || !s_in || !s_out || !stream || !data || !rd) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    o.SSL_set_bio(c, c_in, c_out);
    o.SSL_set_bio(s, s_in, s_out);
    o.SSL_set_connect_state(c);
    o.SSL_set_accept_state(s);
    for (k = 0; k < 20; k++) {
        int cr = o.SSL_do_handshake(c), sr;
        pump(c_out, s_in);
        sr = o.SSL_do_handshake(s);
        pump(s_out, c_in);
        if (cr == 1 && sr == 1)
            break;
    }
    if (k == 20) {
        snprintf(err, errlen, "OpenSSL handshake did not complete");
        goto out;
    }
    /* the client's records, kept aside (the server gets them in 16 KB reads, as libmx does) */
    for (i = 0; i < nrec; i++) {
        int n;
        if (o.SSL_write(c, data, (int)rec) != (int)rec) {
            snprintf(err, errlen, "OpenSSL SSL_write failed");
            goto out;
        }
        while (len < cap && (n = o.BIO_read(c_out, stream + len, (int)(cap - len))) > 0)
            len += (size_t)n;
    }
    if (owned) {
        /* received before the clock starts: a read-only memory BIO over the records (the
         * server's BIO from the handshake is freed by SSL_set0_rbio) */
        OBIO *ro = o.BIO_new_mem_buf(stream, (int)len);
        if (!ro) {
            snprintf(err, errlen, "BIO_new_mem_buf failed");
            goto out;
        }
        o.SSL_set0_rbio(s, ro);
        off = len;
    }
    t = now(clock);
    for (;;) {
        int n = o.SSL_read(s, rd, 16384);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (off == len)
            break;
        n = (int)(len - off > 16384 ? 16384 : len - off);
        o.BIO_write(s_in, stream + off, n);
        off += (size_t)n;
    }
    t = now(clock) - t;
    if (got != nrec * rec) {
        snprintf(err, errlen, "OpenSSL SSL_read got %zu of %zu bytes", got, nrec * rec);
        t = -1;
    }
out:
    if (c)
        o.SSL_free(c); /* frees its BIOs */
    if (s)
        o.SSL_free(s);
    free(stream);
    free(data);
    free(rd);
    return t;
}

struct ossl_cell {
    OSSL_CTX *cctx, *sctx;
};

struct ossl_cell *ossl_cell_open(const char *cipher, unsigned version, int etm, char *err, size_t errlen)
{
    struct ossl_cell *cell = calloc(1, sizeof *cell);
    int i;
    if (!cell) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cell->cctx = o.SSL_CTX_new(o.TLS_method());
    cell->sctx = o.SSL_CTX_new(o.TLS_method());
    if (!cell->cctx || !cell->sctx) {
        snprintf(err, errlen, "SSL_CTX_new failed");
        ossl_cell_close(cell);
        return NULL;
    }
    for (i = 0; i < 2; i++) {
        OSSL_CTX *x = i ? cell->sctx : cell->cctx;
        /* security level 0 for TLS 1.0; the version pinned; EtM on (OpenSSL's default) or
         * refused by both */
        o.SSL_CTX_set_security_level(x, 0);
        o.SSL_CTX_ctrl(x, O_CTRL_SET_MIN_PROTO_VERSION, (long)version, NULL);
        o.SSL_CTX_ctrl(x, O_CTRL_SET_MAX_PROTO_VERSION, (long)version, NULL);
        if (!etm)
            o.SSL_CTX_set_options(x, O_OP_NO_ENCRYPT_THEN_MAC);
        if (!o.SSL_CTX_set_cipher_list(x, cipher)) {
            snprintf(err, errlen, "OpenSSL does not know cipher %s", cipher);
            ossl_cell_close(cell);
            return NULL;
        }
    }
    o.SSL_CTX_set_psk_client_callback(cell->cctx, client_psk);
    o.SSL_CTX_set_psk_server_callback(cell->sctx, server_psk);
    return cell;
}

double ossl_cell_round(struct ossl_cell *cell, size_t nrec, size_t rec, int clock, int owned, char *err,
                       size_t errlen)
{
    return one_run(cell->cctx, cell->sctx, nrec, rec, (clockid_t)clock, owned, err, errlen);
}

void ossl_cell_close(struct ossl_cell *cell)
{
    if (!cell)
        return;
    if (cell->cctx)
        o.SSL_CTX_free(cell->cctx);
    if (cell->sctx)
        o.SSL_CTX_free(cell->sctx);
    free(cell);
}
