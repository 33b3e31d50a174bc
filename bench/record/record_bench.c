/* record_bench.c - plaintext throughput of libmx's record decrypter vs BoringSSL's SSL_read on
 * the same record stream, per cipher suite and record size, plus the raw cipher+MAC cost (the
 * floor).
 *
 *   record_bench [MB] [REPEATS]     (defaults 8 MB per suite and size, best of 3; 3DES MB/4)
 *
 * Record sizes 256, 1024, 4096 and 16384 bytes of plaintext. For the suites BoringSSL
 * negotiates, a real BoringSSL client and server handshake in memory (targets/oracles/
 * tls_pair.c); the client writes MB megabytes in SSL_writes of one record each. Then:
 *   SSL_read  the BoringSSL server reads the application records, fed to its memory BIO in
 *             16 KB writes between SSL_read calls;
 *   libmx     the same client bytes (handshake included) go into a receive chain in 16 KB
 *             reads and mx_record_read decrypts every record (keys set at the CCS / after the
 *             ClientHello, as a server does);
 *   floor     the bare primitives on the same number of records of the same size: AES/3DES-CBC
 *             decryption + one-shot HMAC (SHA-1/256/384), or one EVP_AEAD open.
 *   OpenSSL   OpenSSL 3's SSL_read (bench/record/ossl_read, a helper process beside this binary:
 *             see ossl_pair.h; libssl.so.3, a PSK
 *             suite of the same record layer, with or without encrypt-then-MAC as the row
 *             says), the same number of records of the same size; TLS 1.2/1.0 rows only.
 * BoringSSL negotiates neither encrypt-then-MAC nor the HMAC-SHA256/384 CBC suites: for those
 * the records are sealed by targets/oracles/tls_oracle.c's RFC model with a fixed key block,
 * libmx gets the keys directly, and SSL_read is "-".
 * Prints MB/s of plaintext for each and the ratios libmx/SSL_read, libmx/OpenSSL and
 * libmx/floor. The best of REPEATS runs is kept (fresh handshake each time).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/des.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>

#include "mx/chain.h"
#include "mx/record.h"
#include "tls_oracle.h"
#include "tls_pair.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define MAX_REC 16384u

/* libmx over stream[0..len) in 16 KB reads; returns application bytes decrypted. With tp, r
 * starts keyless and takes tp's keys where a server would (at the CCS / after the ClientHello,
 * the handshake records not counted); without, r has its keys and every record counts. */
static size_t run_libmx_stream(struct mx_record *r, const struct tls_pair *tp, const uint8_t *stream, size_t stream_len,
                               uint8_t *pt)
{
    struct mx_chain c;
    size_t off = 0, app = 0;
    int phase = tp ? 0 : 2, tls13 = tp && tp->version == 0x0304;
    mx_chain_init(&c, 0, NULL);
    for (;;) {
        uint8_t type;
        size_t len;
        int st = mx_record_read(r, &c, &type, pt, MX_RECORD_MAX_PLAINTEXT, &len);
        if (st == MX_REC_NEED_MORE) {
            size_t n = stream_len - off;
            if (!n)
                break;
            if (n > 16384)
                n = 16384;
            mx_chain_append(&c, stream + off, n);
            off += n;
            continue;
        }
        if (st != MX_REC_OK) {
            fprintf(stderr, "libmx: %s\n", mx_record_strerror(st));
            exit(1);
        }
        if (phase == 0 && !tls13 && type == MX_TLS_CHANGE_CIPHER_SPEC) {
            mx_record_set_tls12_keys(r, tp->version, tp->suite, MX_REC_MAC_THEN_ENCRYPT, 1, tp->key_block,
                                     tp->key_block_len, 0);
            phase = 1;
        } else if (phase == 0 && tls13 && type == MX_TLS_HANDSHAKE) {
            mx_record_set_tls13_secret(r, tp->suite, tp->c_hs_secret, tp->secret_len, 0);
            phase = 1;
        } else if (phase == 1 && type == MX_TLS_HANDSHAKE) {
            if (tls13)
                mx_record_set_tls13_secret(r, tp->suite, tp->c_app_secret, tp->secret_len, 0);
            phase = 2;
        } else if (phase == 2) {
            app += len;
        }
    }
    mx_chain_release(&c);
    return app;
}

/* libmx over the whole client stream of a handshake. */
static size_t run_libmx(const struct tls_pair *tp, uint8_t *pt)
{
    static struct mx_record r;
    mx_record_init(&r);
    return run_libmx_stream(&r, tp, tp->stream, tp->stream_len, pt);
}

/* libmx over a stream of records sealed with key block kb (no handshake). */
static size_t run_libmx_direct(uint16_t version, uint16_t suite, int etm, const uint8_t *kb, const uint8_t *stream,
                               size_t stream_len, uint8_t *pt)
{
    static struct mx_record r;
    mx_record_init(&r);
    if (mx_record_set_tls12_keys(&r, version, suite, etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT, 1, kb,
                                 mx_record_key_block_len(version, suite), 0) != MX_REC_OK)
        exit(1);
    return run_libmx_stream(&r, NULL, stream, stream_len, pt);
}

/* Keeps the smallest time; says what went wrong when a run decrypted the wrong amount. */
static int keep_best(double *best, double t, const char *what, uint16_t version, uint16_t suite, size_t got,
                     size_t total)
{
    if (got != total) {
        fprintf(stderr, "0x%04x/0x%04x: %s got %zu of %zu\n", version, suite, what, got, total);
        return -1;
    }
    if (t < *best)
        *best = t;
    return 0;
}

static int is_aead(uint16_t version, uint16_t suite)
{
    return version == 0x0304 || suite == 0xC02F || suite == 0xC030 || suite == 0xCCA8 || suite == 0x009C ||
           suite == 0x009D;
}

/* The floor: bare decryption + MAC (or AEAD open) of nrec records of rec bytes. mac_len 20, 32
 * or 48 picks HMAC-SHA1/256/384. */
static double run_floor(uint16_t suite, uint16_t version, size_t mac_len, size_t nrec, size_t rec, uint8_t *buf)
{
    uint8_t key[48] = {1, 2, 3}, iv[16] = {4}, mac[48], nonce[12] = {0}, ad[13] = {0};
    const EVP_MD *md = mac_len == 48 ? EVP_sha384() : mac_len == 32 ? EVP_sha256() : EVP_sha1();
    size_t i, out_len, ct = rec + 32; /* the ciphertext of rec bytes + MAC + padding, rounded */
    double t0;
    memset(buf, 0x5a, MAX_REC + 128);
    if (is_aead(version, suite)) {
        const EVP_AEAD *a = (suite == 0xCCA8 || suite == 0x1303) ? EVP_aead_chacha20_poly1305()
                            : (suite == 0xC030 || suite == 0x009D || suite == 0x1302) ? EVP_aead_aes_256_gcm()
                                                                                        : EVP_aead_aes_128_gcm();
        EVP_AEAD_CTX ctx;
        uint8_t *sealed = malloc(MAX_REC + 64);
        size_t sl;
        EVP_AEAD_CTX_init(&ctx, a, key, EVP_AEAD_key_length(a), 0, NULL);
        EVP_AEAD_CTX_seal(&ctx, sealed, &sl, MAX_REC + 64, nonce, 12, buf, rec, ad, 13);
        t0 = now();
        for (i = 0; i < nrec; i++)
            if (!EVP_AEAD_CTX_open(&ctx, buf, &out_len, MAX_REC + 64, nonce, 12, sealed, sl, ad, 13))
                abort();
        t0 = now() - t0;
        EVP_AEAD_CTX_cleanup(&ctx);
        free(sealed);
        return t0;
    }
    if (mac_len > 20)
        ct = (rec + mac_len + 16) / 16 * 16;
    t0 = now();
    if (suite == 0x000A) {
        DES_key_schedule k1, k2, k3;
        ct = (rec + 21 + 7) / 8 * 8;
        DES_set_key_unchecked((const DES_cblock *)key, &k1);
        DES_set_key_unchecked((const DES_cblock *)(key + 8), &k2);
        DES_set_key_unchecked((const DES_cblock *)(key + 16), &k3);
        t0 = now();
        for (i = 0; i < nrec; i++) {
            DES_cblock ivc;
            memcpy(ivc.bytes, iv, 8);
            DES_ede3_cbc_encrypt(buf, buf, ct, &k1, &k2, &k3, &ivc, DES_DECRYPT);
            HMAC(md, key, mac_len, buf, rec, mac, NULL);
        }
    } else {
        AES_KEY k;
        int bits = (suite == 0x0035 || suite == 0xC014 || suite == 0x003D || suite == 0xC028 || suite == 0xC024) ? 256 : 128;
        AES_set_decrypt_key(key, bits, &k);
        t0 = now();
        for (i = 0; i < nrec; i++) {
            uint8_t ivc[16];
            memcpy(ivc, iv, 16);
            AES_cbc_encrypt(buf, buf, ct, &k, ivc, AES_DECRYPT);
            HMAC(md, key, mac_len, buf, rec, mac, NULL);
        }
    }
    return now() - t0;
}

/* One (suite, record size): the best of reps runs of each column, in seconds. */
struct timing {
    double ssl, mx, floor, ossl;
    uint16_t negotiated;
};

static int bench_boringssl(uint16_t version, uint16_t suite, size_t nrec, size_t rec, int reps, struct timing *tm,
                           uint8_t *pt, const uint8_t *data, uint8_t *rd, uint8_t *fb)
{
    size_t total = nrec * rec;
    for (int rep = 0; rep < reps; rep++) {
        struct tls_pair tp;
        size_t i, got = 0;
        double t;
        if (tls_pair_handshake(&tp, version, suite) != 0) {
            fprintf(stderr, "0x%04x/0x%04x: %s\n", version, suite, tp.err);
            return -1;
        }
        tm->negotiated = tp.suite;
        for (i = 0; i < nrec; i++)
            if (tls_pair_client_write(&tp, data, rec) != 0) {
                fprintf(stderr, "0x%04x/0x%04x: %s\n", version, suite, tp.err);
                return -1;
            }
        /* the server's BIO already holds the stream: empty it and feed the application
         * records again in 16 KB reads, as libmx gets them (a memory BIO holding megabytes
         * makes every BIO_read move the rest, which is not what a socket costs) */
        (void)BIO_reset(tp.s_in);
        t = now();
        {
            size_t off = tp.handshake_len;
            for (;;) {
                int n = SSL_read(tp.server, rd, 16384);
                if (n > 0) {
                    got += (size_t)n;
                    continue;
                }
                if (off == tp.stream_len)
                    break;
                n = (int)(tp.stream_len - off > 16384 ? 16384 : tp.stream_len - off);
                BIO_write(tp.s_in, tp.stream + off, n);
                off += (size_t)n;
            }
        }
        t = now() - t;
        if (keep_best(&tm->ssl, t, "SSL_read", version, suite, got, total) != 0)
            return -1;
        t = now();
        got = run_libmx(&tp, pt);
        t = now() - t;
        if (keep_best(&tm->mx, t, "libmx", version, suite, got, total) != 0)
            return -1;
        t = run_floor(tm->negotiated, version, 20, nrec, rec, fb);
        keep_best(&tm->floor, t, "floor", version, suite, total, total);
        tls_pair_free(&tp);
    }
    return 0;
}

static int bench_model(uint16_t version, uint16_t suite, int etm, size_t nrec, size_t rec, int reps, struct timing *tm,
                       uint8_t *pt, const uint8_t *data, uint8_t *fb)
{
    uint8_t kb[TLS_ORACLE_MAX_KEY_BLOCK], iv[16] = {9};
    size_t i, stream_len = 0, total = nrec * rec, per = 5 + 16 + rec + 48 + 256;
    uint8_t *stream = malloc(nrec * per);
    struct tls_oracle o;
    int c;
    size_t mac_len, key_len, iv_len;
    if (!stream || tls_oracle_suite_info(version, suite, &c, &mac_len, &key_len, &iv_len) != 0)
        return -1;
    for (i = 0; i < sizeof kb; i++)
        kb[i] = (uint8_t)(i * 11 + 3);
    if (tls_oracle_init12_mac_order(&o, TLS_ORACLE_SEAL, version, suite, etm, 1, kb, sizeof kb, 0) != 0)
        return -1;
    for (i = 0; i < nrec; i++) {
        size_t n = tls_oracle_seal(&o, 23, data, rec, iv, 0, stream + stream_len, per);
        if (!n)
            return -1;
        stream_len += n;
    }
    tls_oracle_cleanup(&o);
    tm->negotiated = suite;
    for (int rep = 0; rep < reps; rep++) {
        double t = now();
        size_t got = run_libmx_direct(version, suite, etm, kb, stream, stream_len, pt);
        t = now() - t;
        if (keep_best(&tm->mx, t, "libmx", version, suite, got, total) != 0)
            return -1;
        t = run_floor(suite, version, mac_len, nrec, rec, fb);
        keep_best(&tm->floor, t, "floor", version, suite, total, total);
    }
    free(stream);
    return 0;
}

/* The OpenSSL IANA-equivalent PSK cipher of a suite (the same record layer), or NULL. */
static const char *ossl_psk_cipher(uint16_t suite)
{
    /* Debian's OpenSSL 3 has no 3DES TLS cipher left (0x000A: "-") */
    switch (suite) {
    case 0x002F: return "PSK-AES128-CBC-SHA";
    case 0x0035: return "PSK-AES256-CBC-SHA";
    case 0x003C: return "PSK-AES128-CBC-SHA256";
    case 0xC028: return "PSK-AES256-CBC-SHA384";
    case 0xC02F: return "PSK-AES128-GCM-SHA256";
    case 0xC030: return "PSK-AES256-GCM-SHA384";
    case 0xCCA8: return "PSK-CHACHA20-POLY1305";
    default: return NULL;
    }
}

/* Runs the helper; its SSL_read seconds, or -1. */
static double ossl_seconds(const char *helper, const char *cipher, uint16_t version, int etm, size_t nrec, size_t rec,
                           int reps)
{
    char cmd[4400];
    double t = -1;
    FILE *p;
    snprintf(cmd, sizeof cmd, "'%s' %s %u %d %zu %zu %d", helper, cipher, version, etm, nrec, rec, reps);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    if (fscanf(p, "%lf", &t) != 1)
        t = -1;
    if (pclose(p) != 0)
        return -1;
    return t;
}

int main(int argc, char **argv)
{
    static const struct {
        uint16_t version, suite;
        int etm, boringssl; /* encrypt-then-MAC; BoringSSL negotiates it (else the RFC model seals) */
        const char *name;
    } suites[] = {
        {0x0303, 0x002F, 0, 1, "TLS1.2 AES128-CBC-SHA"},
        {0x0303, 0x0035, 0, 1, "TLS1.2 AES256-CBC-SHA"},
        {0x0301, 0x002F, 0, 1, "TLS1.0 AES128-CBC-SHA"},
        {0x0303, 0x000A, 0, 1, "TLS1.2 3DES-CBC-SHA"},
        {0x0303, 0xC02F, 0, 1, "TLS1.2 AES128-GCM"},
        {0x0303, 0xC030, 0, 1, "TLS1.2 AES256-GCM"},
        {0x0303, 0xCCA8, 0, 1, "TLS1.2 CHACHA20-POLY1305"},
        {0x0304, 0, 0, 1, "TLS1.3 (negotiated)"},
        {0x0303, 0x002F, 1, 0, "TLS1.2 AES128-CBC-SHA EtM"},
        {0x0301, 0x002F, 1, 0, "TLS1.0 AES128-CBC-SHA EtM"},
        {0x0303, 0x003C, 0, 0, "TLS1.2 AES128-CBC-SHA256"},
        {0x0303, 0x003C, 1, 0, "TLS1.2 AES128-CBC-SHA256 EtM"},
        {0x0303, 0xC028, 0, 0, "TLS1.2 AES256-CBC-SHA384"},
        {0x0303, 0xC028, 1, 0, "TLS1.2 AES256-CBC-SHA384 EtM"},
    };
    static const size_t sizes[] = {256, 1024, 4096, 16384};
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 8;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    uint8_t *pt = malloc(MX_RECORD_MAX_PLAINTEXT), *data = malloc(MAX_REC), *rd = malloc(1 << 20);
    uint8_t *fb = malloc(MAX_REC + 128);
    size_t si, zi;
    char helper[4096];

    if (!pt || !data || !rd || !fb || mb == 0 || reps < 1)
        return 2;
    {
        /* the helper is built beside this binary */
        ssize_t n = readlink("/proc/self/exe", helper, sizeof helper - 16);
        char *slash;
        if (n <= 0)
            return 2;
        helper[n] = 0;
        slash = strrchr(helper, '/');
        strcpy(slash ? slash + 1 : helper, "ossl_read");
    }
    memset(data, 'x', MAX_REC);
    printf("%-30s %6s %5s %9s %9s %9s %9s %8s %8s %8s\n", "suite", "record", "MB", "SSL_read", "OpenSSL", "libmx",
           "floor", "mx/SSLrd", "mx/OSSL", "mx/floor");
    for (si = 0; si < sizeof suites / sizeof suites[0]; si++) {
        for (zi = 0; zi < sizeof sizes / sizeof sizes[0]; zi++) {
            struct timing tm = {1e9, 1e9, 1e9, -1, 0};
            size_t rec = sizes[zi], m = suites[si].suite == 0x000A ? (mb + 3) / 4 : mb;
            size_t nrec = m * 1024 * 1024 / rec, total = nrec * rec;
            double mbs = total / 1048576.0;
            char name[64], c_ssl[16] = "-", c_ossl[16] = "-", r_ssl[16] = "-", r_ossl[16] = "-";
            const char *ocipher;
            int rc = suites[si].boringssl
                         ? bench_boringssl(suites[si].version, suites[si].suite, nrec, rec, reps, &tm, pt, data, rd, fb)
                         : bench_model(suites[si].version, suites[si].suite, suites[si].etm, nrec, rec, reps, &tm, pt,
                                       data, fb);
            if (rc != 0) {
                fprintf(stderr, "%s: failed\n", suites[si].name);
                return 1;
            }
            ocipher = suites[si].version == 0x0304 ? NULL : ossl_psk_cipher(tm.negotiated);
            if (ocipher) {
                tm.ossl = ossl_seconds(helper, ocipher, suites[si].version, suites[si].etm, nrec, rec, reps);
                if (tm.ossl < 0) {
                    fprintf(stderr, "%s: the OpenSSL helper failed\n", suites[si].name);
                    return 1;
                }
                snprintf(c_ossl, sizeof c_ossl, "%.1f", mbs / tm.ossl);
                snprintf(r_ossl, sizeof r_ossl, "%.2f", tm.ossl / tm.mx);
            }
            if (suites[si].boringssl) {
                snprintf(c_ssl, sizeof c_ssl, "%.1f", mbs / tm.ssl);
                snprintf(r_ssl, sizeof r_ssl, "%.2f", tm.ssl / tm.mx);
            }
            snprintf(name, sizeof name, "%s%s", suites[si].name,
                     suites[si].suite ? "" : (tm.negotiated == 0x1303 ? " 1303" : tm.negotiated == 0x1302 ? " 1302" : " 1301"));
            printf("%-30s %6zu %5.0f %9s %9s %9.1f %9.1f %8s %8s %8.2f\n", name, rec, mbs, c_ssl, c_ossl, mbs / tm.mx,
                   mbs / tm.floor, r_ssl, r_ossl, tm.floor / tm.mx);
            fflush(stdout);
        }
    }
    free(pt);
    free(data);
    free(rd);
    free(fb);
    return 0;
}
