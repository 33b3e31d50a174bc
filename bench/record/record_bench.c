/* record_bench.c - plaintext throughput of libmx's record decrypter vs BoringSSL's SSL_read on
 * the same record stream, per cipher suite, plus the raw cipher+MAC cost (the floor).
 *
 *   record_bench [MB] [REPEATS]     (defaults 32 MB, best of 3; 3DES runs MB/4)
 *
 * For each suite a real BoringSSL client and server handshake in memory (targets/common/
 * tls_pair.c); the client writes MB megabytes in 16384-byte SSL_writes (full records). Then:
 *   SSL_read  the BoringSSL server reads the application records, fed to its memory BIO in
 *             16 KB writes between SSL_read calls;
 *   libmx     the same client bytes (handshake included) go into a receive chain in 16 KB
 *             reads and mx_record_read decrypts every record (keys set at the CCS / after the
 *             ClientHello, as a server does);
 *   floor     the bare primitives on the same number of 16384-byte records: AES/3DES-CBC
 *             decryption + HMAC-SHA1 (BoringSSL's one-shot HMAC), or one EVP_AEAD open.
 * Prints MB/s of plaintext for each and the ratios libmx/SSL_read and libmx/floor. The best of
 * REPEATS runs is kept (fresh handshake each time).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/des.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>

#include "mx/chain.h"
#include "mx/record.h"
#include "tls_pair.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define REC 16384u

/* libmx over the whole client stream; returns application bytes decrypted. */
static size_t run_libmx(const struct tls_pair *tp, uint8_t *pt)
{
    static struct mx_record r;
    struct mx_chain c;
    size_t off = 0, app = 0;
    int phase = 0, tls13 = tp->version == 0x0304;
    mx_record_init(&r);
    mx_chain_init(&c, 0, NULL);
    for (;;) {
        uint8_t type;
        size_t len;
        int st = mx_record_read(&r, &c, &type, pt, MX_RECORD_MAX_PLAINTEXT, &len);
        if (st == MX_REC_NEED_MORE) {
            size_t n = tp->stream_len - off;
            if (!n)
                break;
            if (n > 16384)
                n = 16384;
            mx_chain_append(&c, tp->stream + off, n);
            off += n;
            continue;
        }
        if (st != MX_REC_OK) {
            fprintf(stderr, "libmx: %s\n", mx_record_strerror(st));
            exit(1);
        }
        if (phase == 0 && !tls13 && type == MX_TLS_CHANGE_CIPHER_SPEC) {
            mx_record_set_tls12_keys(&r, tp->version, tp->suite, MX_REC_MAC_THEN_ENCRYPT, 1, tp->key_block, tp->key_block_len, 0);
            phase = 1;
        } else if (phase == 0 && tls13 && type == MX_TLS_HANDSHAKE) {
            mx_record_set_tls13_secret(&r, tp->suite, tp->c_hs_secret, tp->secret_len, 0);
            phase = 1;
        } else if (phase == 1 && type == MX_TLS_HANDSHAKE) {
            if (tls13)
                mx_record_set_tls13_secret(&r, tp->suite, tp->c_app_secret, tp->secret_len, 0);
            phase = 2;
        } else if (phase == 2) {
            app += len;
        }
    }
    mx_chain_release(&c);
    return app;
}

/* The floor: bare decryption + MAC (or AEAD open) of nrec records of REC bytes. */
static double run_floor(uint16_t suite, uint16_t version, size_t nrec, uint8_t *buf)
{
    uint8_t key[32] = {1, 2, 3}, iv[16] = {4}, mac[20], nonce[12] = {0}, ad[13] = {0};
    size_t i, out_len;
    double t0;
    memset(buf, 0x5a, REC + 64);
    if (version == 0x0304 || suite == 0xC02F || suite == 0xC030 || suite == 0xCCA8 || suite == 0x009C ||
        suite == 0x009D) {
        const EVP_AEAD *a = (suite == 0xCCA8 || suite == 0x1303) ? EVP_aead_chacha20_poly1305()
                            : (suite == 0xC030 || suite == 0x009D || suite == 0x1302) ? EVP_aead_aes_256_gcm()
                                                                                        : EVP_aead_aes_128_gcm();
        EVP_AEAD_CTX ctx;
        uint8_t *sealed = malloc(REC + 64);
        size_t sl;
        EVP_AEAD_CTX_init(&ctx, a, key, EVP_AEAD_key_length(a), 0, NULL);
        EVP_AEAD_CTX_seal(&ctx, sealed, &sl, REC + 64, nonce, 12, buf, REC, ad, 13);
        t0 = now();
        for (i = 0; i < nrec; i++)
            if (!EVP_AEAD_CTX_open(&ctx, buf, &out_len, REC + 64, nonce, 12, sealed, sl, ad, 13))
                abort();
        t0 = now() - t0;
        EVP_AEAD_CTX_cleanup(&ctx);
        free(sealed);
        return t0;
    }
    t0 = now();
    if (suite == 0x000A) {
        DES_key_schedule k1, k2, k3;
        DES_set_key_unchecked((const DES_cblock *)key, &k1);
        DES_set_key_unchecked((const DES_cblock *)(key + 8), &k2);
        DES_set_key_unchecked((const DES_cblock *)(key + 16), &k3);
        t0 = now();
        for (i = 0; i < nrec; i++) {
            DES_cblock ivc;
            memcpy(ivc.bytes, iv, 8);
            DES_ede3_cbc_encrypt(buf, buf, REC + 32, &k1, &k2, &k3, &ivc, DES_DECRYPT);
            HMAC(EVP_sha1(), key, 20, buf, REC, mac, NULL);
        }
    } else {
        AES_KEY k;
        AES_set_decrypt_key(key, suite == 0x0035 || suite == 0xC014 ? 256 : 128, &k);
        t0 = now();
        for (i = 0; i < nrec; i++) {
            uint8_t ivc[16];
            memcpy(ivc, iv, 16);
            AES_cbc_encrypt(buf, buf, REC + 32, &k, ivc, AES_DECRYPT);
            HMAC(EVP_sha1(), key, 20, buf, REC, mac, NULL);
        }
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    static const struct {
        uint16_t version, suite;
        const char *name;
    } suites[] = {
        {0x0303, 0x002F, "TLS1.2 AES128-CBC-SHA"},   {0x0303, 0x0035, "TLS1.2 AES256-CBC-SHA"},
        {0x0301, 0x002F, "TLS1.0 AES128-CBC-SHA"},   {0x0303, 0x000A, "TLS1.2 3DES-CBC-SHA"},
        {0x0303, 0xC02F, "TLS1.2 AES128-GCM"},       {0x0303, 0xC030, "TLS1.2 AES256-GCM"},
        {0x0303, 0xCCA8, "TLS1.2 CHACHA20-POLY1305"}, {0x0304, 0, "TLS1.3 (negotiated)"},
    };
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 32;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    uint8_t *pt = malloc(MX_RECORD_MAX_PLAINTEXT), *data = malloc(REC), *rd = malloc(1 << 20);
    uint8_t *fb = malloc(REC + 128);
    size_t si;

    if (!pt || !data || !rd || !fb || mb == 0 || reps < 1)
        return 2;
    memset(data, 'x', REC);
    printf("%-26s %8s %10s %10s %10s %12s %12s\n", "suite", "MB", "SSL_read", "libmx", "floor",
           "libmx/SSL_rd", "libmx/floor");
    for (si = 0; si < sizeof suites / sizeof suites[0]; si++) {
        double best_ssl = 1e9, best_mx = 1e9, best_floor = 1e9;
        size_t m = suites[si].suite == 0x000A ? (mb + 3) / 4 : mb, nrec = m * 1024 * 1024 / REC, total = nrec * REC;
        uint16_t negotiated = 0;
        for (int rep = 0; rep < reps; rep++) {
            struct tls_pair tp;
            size_t i, got = 0;
            double t;
            if (tls_pair_handshake(&tp, suites[si].version, suites[si].suite) != 0) {
                fprintf(stderr, "%s: %s\n", suites[si].name, tp.err);
                return 1;
            }
            negotiated = tp.suite;
            for (i = 0; i < nrec; i++)
                if (tls_pair_client_write(&tp, data, REC) != 0) {
                    fprintf(stderr, "%s: %s\n", suites[si].name, tp.err);
                    return 1;
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
            if (got != total) {
                fprintf(stderr, "%s: SSL_read got %zu of %zu\n", suites[si].name, got, total);
                return 1;
            }
            if (t < best_ssl)
                best_ssl = t;
            t = now();
            got = run_libmx(&tp, pt);
            t = now() - t;
            if (got != total) {
                fprintf(stderr, "%s: libmx got %zu of %zu\n", suites[si].name, got, total);
                return 1;
            }
            if (t < best_mx)
                best_mx = t;
            t = run_floor(negotiated, suites[si].version, nrec, fb);
            if (t < best_floor)
                best_floor = t;
            tls_pair_free(&tp);
        }
        {
            double mbs = total / 1048576.0;
            char name[64];
            snprintf(name, sizeof name, "%s%s", suites[si].name,
                     suites[si].suite ? "" : (negotiated == 0x1303 ? " 1303" : negotiated == 0x1302 ? " 1302" : " 1301"));
            printf("%-26s %8.0f %10.1f %10.1f %10.1f %12.2f %12.2f\n", name, mbs, mbs / best_ssl, mbs / best_mx,
                   mbs / best_floor, best_ssl / best_mx, best_floor / best_mx);
        }
    }
    free(pt);
    free(data);
    free(rd);
    free(fb);
    return 0;
}
