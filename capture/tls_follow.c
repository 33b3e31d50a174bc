/* tls_follow.c - decrypting a captured TLS connection (see tls_follow.h). */
#include "tls_follow.h"

#include <stdio.h>
#include <string.h>

#include "tls_prf.h"

static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* IANA names of every suite mx/record.h decrypts (the "_CBC_" in a name tells the importer
 * that encrypt_then_mac applies) */
const char *cap_tls_suite_name(uint16_t s)
{
    static const struct {
        uint16_t id;
        const char *name;
    } t[] = {
        {0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
        {0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"},
        {0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"},
        {0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"},
        {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"},
        {0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"},
        {0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"},
        {0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"},
        {0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"},
        {0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"},
        {0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA"},
        {0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA"},
        {0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"},
        {0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384"},
        {0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"},
        {0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"},
        {0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"},
        {0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
        {0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"},
        {0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"},
        {0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
        {0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
        {0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"},
        {0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"},
        {0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
        {0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"},
        {0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
        {0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
        {0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
        {0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
        {0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA"},
        {0xC036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA"},
        {0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
        {0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
        {0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
        {0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"},
        {0x1301, "TLS_AES_128_GCM_SHA256"},
        {0x1302, "TLS_AES_256_GCM_SHA384"},
        {0x1303, "TLS_CHACHA20_POLY1305_SHA256"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].id == s)
            return t[i].name;
    return "?";
}

void cap_follow_init(struct cap_follow *f, struct cap_keylog *kl, cap_follow_out_fn out, void *ctx)
{
    memset(f, 0, sizeof *f);
    f->kl = kl;
    f->out = out;
    f->ctx = ctx;
    for (int i = 0; i < 2; i++) {
        mx_chain_init(&f->d[i].in, 0, NULL);
        mx_record_init(&f->d[i].rec);
    }
}

void cap_follow_free(struct cap_follow *f)
{
    for (int i = 0; i < 2; i++) {
        mx_chain_release(&f->d[i].in);
        mx_record_cleanup(&f->d[i].rec);
    }
}

static enum cap_follow_status stop(struct cap_follow *f, enum cap_follow_status st, const char *fmt,
                                  ...) __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static enum cap_follow_status stop(struct cap_follow *f, enum cap_follow_status st, const char *fmt,
                                  ...)
{
    if (f->status == CAP_FOLLOW_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->note, sizeof f->note, fmt, ap);
        va_end(ap);
        f->status = st;
    }
    return f->status;
}

static const char *side(int d) { return d ? "server" : "client"; }

/* Key block kept between the ServerHello and the ChangeCipherSpecs. */
static uint8_t *kb_of(struct cap_follow *f) { return f->kb; }

static void server_hello(struct cap_follow *f, const uint8_t *m, size_t n)
{
    /* legacy_version(2) random(32) sid(1+n) suite(2) comp(1) [exts(2) ...] */
    if (n < 38)
        return (void)stop(f, CAP_FOLLOW_FAILED, "ServerHello too short");
    const uint8_t *random = m + 2;
    if (memcmp(random, hrr_random, 32) == 0)
        return; /* HelloRetryRequest: the real ServerHello follows */
    size_t p = 34, sid = m[p];
    p += 1 + sid;
    if (p + 3 > n)
        return (void)stop(f, CAP_FOLLOW_FAILED, "ServerHello too short");
    uint16_t version = (uint16_t)(m[0] << 8 | m[1]);
    uint16_t suite = (uint16_t)(m[p] << 8 | m[p + 1]);
    p += 3;
    int etm = 0;
    if (p + 2 <= n) {
        size_t el = (size_t)m[p] << 8 | m[p + 1];
        p += 2;
        size_t end = p + el < n ? p + el : n;
        while (p + 4 <= end) {
            unsigned t = (unsigned)m[p] << 8 | m[p + 1];
            size_t l = (size_t)m[p + 2] << 8 | m[p + 3];
            p += 4;
            if (p + l > end)
                break;
            if (t == 0x002b && l == 2)
                version = (uint16_t)(m[p] << 8 | m[p + 1]);
            if (t == 0x0016)
                etm = 1;
            p += l;
        }
    }
    memcpy(f->server_random, random, 32);
    f->have_sh = 1;
    f->version = version;
    f->suite = suite;
    if (!f->have_ch)
        return (void)stop(f, CAP_FOLLOW_FAILED, "ServerHello without a ClientHello");
    f->key = f->kl ? cap_keylog_find(f->kl, f->client_random) : NULL;
    if (f->key)
        f->key->used = 1;
    if (version == 0x0304) {
        if (suite < 0x1301 || suite > 0x1303)
            return (void)stop(f, CAP_FOLLOW_UNSUPPORTED, "TLS 1.3 suite 0x%04x", suite);
        unsigned need = 1u << CAP_KL_CLIENT_HS | 1u << CAP_KL_SERVER_HS;
        if (!f->key || (f->key->have & need) != need)
            return (void)stop(f, CAP_FOLLOW_NO_KEY,
                              "no CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET for this client random");
        int rc = mx_record_set_tls13_secret(&f->d[1].rec, suite, f->key->secret[CAP_KL_SERVER_HS],
                                            f->key->len[CAP_KL_SERVER_HS], 0);
        if (rc == 0)
            rc = mx_record_set_tls13_secret(&f->d[0].rec, suite, f->key->secret[CAP_KL_CLIENT_HS],
                                            f->key->len[CAP_KL_CLIENT_HS], 0);
        if (rc)
            return (void)stop(f, rc == MX_REC_UNSUPPORTED ? CAP_FOLLOW_UNSUPPORTED : CAP_FOLLOW_FAILED,
                              "handshake secrets rejected: %s", mx_record_strerror(rc));
        f->d[0].keys = f->d[1].keys = 1;
        return;
    }
    if (version < 0x0301 || version > 0x0303)
        return (void)stop(f, CAP_FOLLOW_UNSUPPORTED, "protocol version 0x%04x", version);
    /* RFC 7366 3: encrypt_then_mac changes block-cipher suites only (a server must not echo it
     * for an AEAD one; if it does, the AEAD records are as always) */
    f->etm = etm && strstr(cap_tls_suite_name(suite), "_CBC_") != NULL;
    size_t kbl = mx_record_key_block_len(version, suite);
    if (kbl == 0 || kbl > sizeof f->kb)
        return (void)stop(f, CAP_FOLLOW_UNSUPPORTED, "cipher suite 0x%04x (%s) not supported by the record decrypter",
                          suite, cap_tls_suite_name(suite));
    if (!f->key || !(f->key->have & (1u << CAP_KL_MASTER)))
        return (void)stop(f, CAP_FOLLOW_NO_KEY, "no CLIENT_RANDOM line for this client random");
    if (cap_tls_key_block(version, suite, f->key->secret[CAP_KL_MASTER], f->client_random,
                         f->server_random, kb_of(f), kbl))
        return (void)stop(f, CAP_FOLLOW_FAILED, "key block derivation failed");
}

static void change_cipher_spec(struct cap_follow *f, int d)
{
    if (!f->have_sh || f->version == 0x0304)
        return; /* TLS 1.3 compatibility CCS, or one before any hello: ignored */
    struct cap_follow_dir *D = &f->d[d];
    size_t kbl = mx_record_key_block_len(f->version, f->suite);
    int rc = mx_record_set_tls12_keys(&D->rec, f->version, f->suite,
                                      f->etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT, d == 0,
                                      kb_of(f), kbl, 0);
    if (rc)
        return (void)stop(f, rc == MX_REC_UNSUPPORTED ? CAP_FOLLOW_UNSUPPORTED : CAP_FOLLOW_FAILED,
                          "%s keys rejected: %s", side(d), mx_record_strerror(rc));
    D->keys = 1;
}

static void handshake_msg(struct cap_follow *f, int d, int encrypted, uint8_t type,
                          const uint8_t *m, size_t n)
{
    struct cap_follow_dir *D = &f->d[d];
    if (!encrypted) {
        if (d == 0 && type == 1 && n >= 34) {
            memcpy(f->client_random, m + 2, 32);
            f->have_ch = 1;
        } else if (d == 1 && type == 2) {
            server_hello(f, m, n);
        }
        return;
    }
    if (f->version != 0x0304)
        return; /* TLS 1.2 Finished / renegotiation: not looked into */
    if (type == 24)
        return (void)stop(f, CAP_FOLLOW_UNSUPPORTED, "%s sent a KeyUpdate", side(d));
    if (type == 20 && !D->app) {
        int kind = d ? CAP_KL_SERVER_APP : CAP_KL_CLIENT_APP;
        if (!(f->key->have & (1u << kind)))
            return (void)stop(f, CAP_FOLLOW_NO_KEY, "no %s_TRAFFIC_SECRET_0 for this client random",
                              d ? "SERVER" : "CLIENT");
        int rc = mx_record_set_tls13_secret(&D->rec, f->suite, f->key->secret[kind],
                                            f->key->len[kind], 0);
        if (rc)
            return (void)stop(f, CAP_FOLLOW_FAILED, "%s application secret rejected: %s", side(d),
                              mx_record_strerror(rc));
        D->app = 1;
    }
}

static void handshake_bytes(struct cap_follow *f, int d, int encrypted, const uint8_t *p, size_t n)
{
    struct cap_follow_dir *D = &f->d[d];
    if (n > CAP_TLS_HS_MAX - D->hs_len)
        return (void)stop(f, CAP_FOLLOW_FAILED, "%s handshake message over %u bytes", side(d),
                          CAP_TLS_HS_MAX);
    memcpy(D->hs + D->hs_len, p, n);
    D->hs_len += n;
    while (D->hs_len >= 4 && f->status == CAP_FOLLOW_OK) {
        size_t ml = (size_t)D->hs[1] << 16 | (size_t)D->hs[2] << 8 | D->hs[3];
        if (4 + ml > CAP_TLS_HS_MAX)
            return (void)stop(f, CAP_FOLLOW_FAILED, "%s handshake message over %u bytes", side(d),
                              CAP_TLS_HS_MAX);
        if (D->hs_len < 4 + ml)
            break;
        handshake_msg(f, d, encrypted, D->hs[0], D->hs + 4, ml);
        memmove(D->hs, D->hs + 4 + ml, D->hs_len - 4 - ml);
        D->hs_len -= 4 + ml;
    }
}

static void pump(struct cap_follow *f, int d, uint32_t pkt)
{
    struct cap_follow_dir *D = &f->d[d];
    uint8_t *rb = f->raw; /* one whole record (plaintext phase) */
    while (f->status == CAP_FOLLOW_OK && D->in.bytes >= 5) {
        uint8_t h[5];
        mx_chain_peek(&D->in, 0, h, 5);
        size_t len = (size_t)h[3] << 8 | h[4];
        uint8_t type = h[0];
        if (D->keys == 0 || (type == 20 && f->version == 0x0304)) {
            if (len > MX_RECORD_MAX_CIPHERTEXT)
                return (void)stop(f, CAP_FOLLOW_FAILED, "%s record of %zu bytes (over the limit)",
                                  side(d), len);
            if (h[1] != 3)
                return (void)stop(f, CAP_FOLLOW_FAILED, "%s sent bytes that are not a TLS record",
                                  side(d));
            if (D->in.bytes < 5 + len)
                return;
            mx_chain_take_into(&D->in, rb, 5 + len);
            D->records++;
            switch (type) {
            case 22:
                handshake_bytes(f, d, 0, rb + 5, len);
                break;
            case 20:
                change_cipher_spec(f, d);
                break;
            case 21:
                break;
            case 23:
                return (void)stop(f, CAP_FOLLOW_FAILED,
                                  "%s sent application data before the keys changed", side(d));
            default:
                return (void)stop(f, CAP_FOLLOW_FAILED, "%s record of unknown type %u", side(d),
                                  type);
            }
            if (d == 1 && f->d[0].keys && f->d[0].in.bytes)
                pump(f, 0, pkt); /* the client's bytes queued behind the keys */
            continue;
        }
        uint8_t rtype = 0;
        size_t n = 0;
        int rc = mx_record_read(&D->rec, &D->in, &rtype, f->pt, sizeof f->pt, &n);
        if (rc == MX_REC_NEED_MORE)
            return;
        if (rc != MX_REC_OK)
            return (void)stop(f, CAP_FOLLOW_FAILED, "%s record %llu: %s", side(d),
                              (unsigned long long)D->records + 1, mx_record_strerror(rc));
        D->records++;
        if (rtype == 23) {
            D->app_records++;
            f->out(f->ctx, d, pkt, f->pt, n);
        } else if (rtype == 22) {
            handshake_bytes(f, d, 1, f->pt, n);
        }
    }
}

enum cap_follow_status cap_follow_feed(struct cap_follow *f, int from_server, uint32_t pkt,
                                     const uint8_t *p, size_t n)
{
    int d = from_server ? 1 : 0;
    if (f->status != CAP_FOLLOW_OK)
        return f->status;
    if (n && mx_chain_append(&f->d[d].in, p, n) != MX_CHAIN_OK)
        return stop(f, CAP_FOLLOW_FAILED, "out of memory");
    pump(f, d, pkt);
    return f->status;
}
