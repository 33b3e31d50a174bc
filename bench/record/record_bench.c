/* record_bench.c - plaintext throughput of libmx's record decrypter vs BoringSSL's SSL_read vs
 * OpenSSL 3's SSL_read vs the raw cipher+MAC cost (the floor), per cipher suite and record
 * size, as ratios measured in one run.
 *
 *   record_bench [--mb MB] [--rounds N] [--sizes 256,1024,...] [--only SUBSTRING]
 *                [--feed owned|append] [--wall] [--html FILE]
 *
 * Defaults: 1 MB of plaintext per competitor and round (3DES a quarter), 20 rounds after one
 * warm-up round, record sizes 256, 1024, 4096 and 16384 bytes, every suite, thread CPU time.
 *
 * Why rounds. The machine is shared: a figure taken minutes after another's drifts with the
 * load, so a ratio of two "best of N" runs done one after the other is noise (ratios 0.05-36
 * were seen at load 35). Here every round measures the four competitors back to back on the
 * same amount of work, in an order rotated every round (nobody always runs first, after the
 * same neighbour, or on the same cache state), and each ratio is computed within its round;
 * the table gives the median of the per-round ratios and their interquartile range. The clock
 * is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID): time the thread spent descheduled by the
 * other jobs does not count (--wall takes CLOCK_MONOTONIC instead). The load average at start
 * and end is printed with the table.
 *
 * The competitors, on the same number of records of the same size:
 *   libmx     the client's bytes (handshake included) in a receive chain, mx_record_read
 *             decrypts every record (keys set at the CCS / after the ClientHello, as a server
 *             does);
 *   SSL_read  BoringSSL: a real client and server handshake in memory (targets/oracles/
 *             tls_pair.c), one SSL_write per record; the server's SSL_read reads the records
 *             from its rbio. A fresh handshake every round (not timed);
 *   OpenSSL   OpenSSL 3's SSL_read the same way in bench/record/ossl_read, a co-process beside
 *             this binary that answers one round per request (see ossl_pair.h for why a
 *             process of its own): a PSK suite of the same record layer, with or without
 *             encrypt-then-MAC as the row says; TLS 1.2/1.0 rows, not 3DES;
 *   floor     the bare primitives: AES/3DES-CBC decryption + HMAC (SHA-1/256/384, key set up
 *             once), or one EVP_AEAD open per record, reading the records from a buffer as
 *             large as the stream (see run_floor).
 * BoringSSL negotiates neither encrypt-then-MAC nor the HMAC-SHA256/384 CBC suites: for those
 * the records are sealed by targets/oracles/tls_oracle.c's RFC model with a fixed key block,
 * libmx gets the keys directly, and SSL_read is "-".
 *
 * How the bytes arrive (--feed): "owned" (default) times the record layers alone: the stream
 * is already received when the clock starts, handed to libmx's chain as one buffer
 * (mx_chain_append_owned, as a server that reads into its own buffers does) and given to
 * BoringSSL and OpenSSL as a read-only memory BIO; "append" also times the delivery, 16 KB
 * reads copied in (mx_chain_append into 4 KB segments; BIO_write), where records straddle
 * segments and libmx gathers each into its record buffer first.
 *
 * The goals column (issue 15) judges the median ratio: libmx >= 1.0x SSL_read at 1 KB and
 * 16 KB, >= 1.0x OpenSSL on encrypt-then-MAC at 1 KB and 16 KB, >= 0.9x the floor on AEAD at
 * 16 KB, and on MAC-then-encrypt CBC at 1 KB closer to the floor than BoringSSL (its own
 * floor ratio in the same rounds; 0.56, the figure the issue measured, where BoringSSL has
 * no such suite). Nothing here is asserted: a bench reports.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
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

/* the clock every competitor is timed with (the OpenSSL helper is told the same) */
static clockid_t g_clock = CLOCK_THREAD_CPUTIME_ID;

static double now(void)
{
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define MAX_REC 16384u

/* How the receive stream reaches the reader (--feed). */
enum feed {
    FEED_OWNED,  /* already received: libmx's chain holds it as one buffer handed over
                  * (mx_chain_append_owned), SSL_read's rbio is a read-only memory BIO over it;
                  * set up before the clock starts */
    FEED_APPEND  /* 16 KB reads copied in while the clock runs: mx_chain_append, BIO_write */
};
static enum feed g_feed = FEED_OWNED;

/* libmx over stream[0..stream_len), of which chain c already holds the first off bytes; the
 * rest goes in in 16 KB reads. Returns application bytes decrypted. With tp, r starts keyless
 * and takes tp's keys where a server would (at the CCS / after the ClientHello, the handshake
 * records not counted); without, r has its keys and every record counts. */
static size_t run_libmx_stream(struct mx_record *r, const struct tls_pair *tp, struct mx_chain *chain,
                               const uint8_t *stream, size_t stream_len, size_t off, uint8_t *pt)
{
    struct mx_chain c = *chain;
    size_t app = 0;
    int phase = tp ? 0 : 2, tls13 = tp && tp->version == 0x0304;
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
    *chain = c;
    return app;
}

static int is_aead(uint16_t version, uint16_t suite)
{
    return version == 0x0304 || suite == 0xC02F || suite == 0xC030 || suite == 0xCCA8 || suite == 0x009C ||
           suite == 0x009D;
}

/* The floor: bare decryption + MAC (or AEAD open) of nrec records of rec bytes. mac_len 20, 32
 * or 48 picks HMAC-SHA1/256/384. As the competitors do, it reads nrec distinct records laid
 * out one after the other (the same bytes of memory as their stream; one record opened over
 * and over would sit in L1 and flatter the floor) and writes each plaintext to the same
 * buffer; the HMAC key is set up once (its ipad/opad states reused, as libmx and the TLS
 * stacks keep them), so the floor is what the bare primitives can do. The inputs are made
 * before the clock starts. */
static double run_floor(uint16_t suite, uint16_t version, size_t mac_len, size_t nrec, size_t rec, uint8_t *buf)
{
    uint8_t key[48] = {1, 2, 3}, iv[16] = {4}, mac[48], nonce[12] = {0}, ad[13] = {0};
    const EVP_MD *md = mac_len == 48 ? EVP_sha384() : mac_len == 32 ? EVP_sha256() : EVP_sha1();
    size_t i, out_len, ct = rec + 32; /* the ciphertext of rec bytes + MAC + padding, rounded */
    uint8_t *in;
    double t0 = 0;
    memset(buf, 0x5a, MAX_REC + 128);
    if (is_aead(version, suite)) {
        const EVP_AEAD *a = (suite == 0xCCA8 || suite == 0x1303) ? EVP_aead_chacha20_poly1305()
                            : (suite == 0xC030 || suite == 0x009D || suite == 0x1302) ? EVP_aead_aes_256_gcm()
                                                                                        : EVP_aead_aes_128_gcm();
        EVP_AEAD_CTX ctx;
        size_t per = rec + 16, sl;
        in = malloc(nrec * per);
        if (!in)
            abort();
        EVP_AEAD_CTX_init(&ctx, a, key, EVP_AEAD_key_length(a), 0, NULL);
        for (i = 0; i < nrec; i++) {
            memcpy(nonce + 4, &i, sizeof i < 8 ? sizeof i : 8);
            if (!EVP_AEAD_CTX_seal(&ctx, in + i * per, &sl, per, nonce, 12, buf, rec, ad, 13))
                abort();
        }
        t0 = now();
        for (i = 0; i < nrec; i++) {
            memcpy(nonce + 4, &i, sizeof i < 8 ? sizeof i : 8);
            if (!EVP_AEAD_CTX_open(&ctx, buf, &out_len, MAX_REC + 64, nonce, 12, in + i * per, per, ad, 13))
                abort();
        }
        t0 = now() - t0;
        EVP_AEAD_CTX_cleanup(&ctx);
        free(in);
        return t0;
    }
    if (mac_len > 20)
        ct = (rec + mac_len + 16) / 16 * 16;
    if (suite == 0x000A)
        ct = (rec + 21 + 7) / 8 * 8;
    in = malloc(nrec * ct);
    if (!in)
        abort();
    memset(in, 0x5a, nrec * ct);
    {
        HMAC_CTX h;
        unsigned ml;
        HMAC_CTX_init(&h);
        if (!HMAC_Init_ex(&h, key, mac_len, md, NULL))
            abort();
        if (suite == 0x000A) {
            DES_key_schedule k1, k2, k3;
            DES_set_key_unchecked((const DES_cblock *)key, &k1);
            DES_set_key_unchecked((const DES_cblock *)(key + 8), &k2);
            DES_set_key_unchecked((const DES_cblock *)(key + 16), &k3);
            t0 = now();
            for (i = 0; i < nrec; i++) {
                DES_cblock ivc;
                memcpy(ivc.bytes, iv, 8);
                DES_ede3_cbc_encrypt(in + i * ct, buf, ct, &k1, &k2, &k3, &ivc, DES_DECRYPT);
                HMAC_Init_ex(&h, NULL, 0, NULL, NULL);
                HMAC_Update(&h, buf, rec);
                HMAC_Final(&h, mac, &ml);
            }
            t0 = now() - t0;
        } else {
            AES_KEY k;
            int bits = (suite == 0x0035 || suite == 0xC014 || suite == 0x003D || suite == 0xC028 || suite == 0xC024)
                           ? 256
                           : 128;
            AES_set_decrypt_key(key, bits, &k);
            t0 = now();
            for (i = 0; i < nrec; i++) {
                uint8_t ivc[16];
                memcpy(ivc, iv, 16);
                AES_cbc_encrypt(in + i * ct, buf, ct, &k, ivc, AES_DECRYPT);
                HMAC_Init_ex(&h, NULL, 0, NULL, NULL);
                HMAC_Update(&h, buf, rec);
                HMAC_Final(&h, mac, &ml);
            }
            t0 = now() - t0;
        }
        HMAC_CTX_cleanup(&h);
    }
    free(in);
    return t0;
}

/* ---------------------------------------------------------------- the OpenSSL co-process */
static struct {
    pid_t pid;
    FILE *to, *from;
} g_ossl = {-1, NULL, NULL};

/* Starts bench/record/ossl_read (built beside this binary) with pipes both ways. */
static int ossl_start(void)
{
    char helper[4096], *slash;
    int to[2], from[2];
    ssize_t n = readlink("/proc/self/exe", helper, sizeof helper - 16);
    if (n <= 0)
        return -1;
    helper[n] = 0;
    slash = strrchr(helper, '/');
    strcpy(slash ? slash + 1 : helper, "ossl_read");
    if (pipe(to) != 0 || pipe(from) != 0)
        return -1;
    g_ossl.pid = fork();
    if (g_ossl.pid < 0)
        return -1;
    if (g_ossl.pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        execl(helper, helper, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    g_ossl.to = fdopen(to[1], "w");
    g_ossl.from = fdopen(from[0], "r");
    return g_ossl.to && g_ossl.from ? 0 : -1;
}

/* Sends one command line, reads the answer line into ans (without its newline). */
static int ossl_ask(const char *cmd, char *ans, size_t cap)
{
    size_t l;
    if (g_ossl.pid < 0 && ossl_start() != 0)
        return -1;
    if (fputs(cmd, g_ossl.to) == EOF || fflush(g_ossl.to) != 0 || !fgets(ans, (int)cap, g_ossl.from))
        return -1;
    l = strlen(ans);
    if (l && ans[l - 1] == '\n')
        ans[l - 1] = 0;
    return strncmp(ans, "error", 5) == 0 ? -1 : 0;
}

static void ossl_stop(void)
{
    if (g_ossl.pid < 0)
        return;
    fclose(g_ossl.to);
    fclose(g_ossl.from);
    waitpid(g_ossl.pid, NULL, 0);
    g_ossl.pid = -1;
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

/* ---------------------------------------------------------------- one cell, in rounds */
enum { C_MX, C_SSL, C_OSSL, C_FLOOR, NCOMP };
#define MAX_ROUNDS 200

struct suite_row {
    uint16_t version, suite;
    int etm, boringssl; /* encrypt-then-MAC; BoringSSL negotiates it (else the RFC model seals) */
    const char *name;
};

struct cell {
    const struct suite_row *row;
    size_t rec, nrec;
    int have[NCOMP];
    double t[NCOMP][MAX_ROUNDS]; /* seconds of each counted round */
    int rounds;
    uint16_t negotiated;
};

/* shared buffers */
static uint8_t *g_pt, *g_data, *g_rd, *g_fb;

static int check_got(const struct cell *c, const char *what, size_t got)
{
    if (got == c->nrec * c->rec)
        return 0;
    fprintf(stderr, "%s %zu B: %s got %zu of %zu bytes\n", c->row->name, c->rec, what, got, c->nrec * c->rec);
    return -1;
}

static double time_ssl_read(struct cell *c, struct tls_pair *tp)
{
    size_t off = tp->handshake_len, got = 0;
    double t;
    if (g_feed == FEED_OWNED) {
        /* the application records as received, in a read-only memory BIO (no copy in, and
         * reading from it moves nothing) */
        BIO *ro = BIO_new_mem_buf(tp->stream + off, (int)(tp->stream_len - off));
        if (!ro)
            return -1;
        SSL_set0_rbio(tp->server, ro);
        off = tp->stream_len;
    }
    t = now();
    /* FEED_APPEND: the server's BIO was emptied (BIO_reset) and gets the application records
     * again in 16 KB writes, as libmx does (a memory BIO holding megabytes makes every BIO_read
     * move the rest, which is not what a socket costs) */
    for (;;) {
        int n = SSL_read(tp->server, g_rd, 16384);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (off == tp->stream_len)
            break;
        n = (int)(tp->stream_len - off > 16384 ? 16384 : tp->stream_len - off);
        BIO_write(tp->s_in, tp->stream + off, n);
        off += (size_t)n;
    }
    t = now() - t;
    return check_got(c, "SSL_read", got) ? -1 : t;
}

static double time_ossl(struct cell *c)
{
    char ans[512];
    if (ossl_ask("round\n", ans, sizeof ans) != 0) {
        fprintf(stderr, "%s %zu B: OpenSSL helper: %s\n", c->row->name, c->rec, ans);
        return -1;
    }
    (void)c;
    return strtod(ans, NULL);
}

/* Runs rounds+1 rounds (the first a warm-up, not kept) of every competitor the cell has. */
static int run_cell(struct cell *c, int rounds)
{
    const struct suite_row *row = c->row;
    uint8_t kb[TLS_ORACLE_MAX_KEY_BLOCK], iv[16] = {9};
    uint8_t *stream = NULL;
    size_t stream_len = 0, mac_len = 20;
    int round, rc = -1;

    c->rounds = rounds;
    c->have[C_MX] = c->have[C_FLOOR] = 1;
    c->have[C_SSL] = row->boringssl;
    c->negotiated = row->suite;
    if (!row->boringssl) {
        /* the RFC model seals the stream once; every round decrypts it afresh */
        size_t i, per = 5 + 16 + c->rec + 48 + 256, key_len, iv_len;
        struct tls_oracle o;
        int kind;
        stream = malloc(c->nrec * per);
        if (!stream || tls_oracle_suite_info(row->version, row->suite, &kind, &mac_len, &key_len, &iv_len) != 0)
            goto out;
        for (i = 0; i < sizeof kb; i++)
            kb[i] = (uint8_t)(i * 11 + 3);
        if (tls_oracle_init12_mac_order(&o, TLS_ORACLE_SEAL, row->version, row->suite, row->etm, 1, kb, sizeof kb,
                                        0) != 0)
            goto out;
        for (i = 0; i < c->nrec; i++) {
            size_t n = tls_oracle_seal(&o, 23, g_data, c->rec, iv, 0, stream + stream_len, per);
            if (!n)
                goto out;
            stream_len += n;
        }
        tls_oracle_cleanup(&o);
    }
    for (round = 0; round <= rounds; round++) {
        struct tls_pair tp;
        int k, have_tp = 0;
        if (row->boringssl) {
            /* a fresh handshake every round (BoringSSL reads a stream once), not timed */
            size_t i;
            if (tls_pair_handshake(&tp, row->version, row->suite) != 0) {
                fprintf(stderr, "%s: %s\n", row->name, tp.err);
                goto out;
            }
            have_tp = 1;
            c->negotiated = tp.suite;
            for (i = 0; i < c->nrec; i++)
                if (tls_pair_client_write(&tp, g_data, c->rec) != 0) {
                    fprintf(stderr, "%s: %s\n", row->name, tp.err);
                    tls_pair_free(&tp);
                    goto out;
                }
            (void)BIO_reset(tp.s_in);
        }
        if (round == 0) {
            const char *oc = row->version == 0x0304 ? NULL : ossl_psk_cipher(c->negotiated);
            char cmd[256], ans[512];
            if (oc) {
                snprintf(cmd, sizeof cmd, "cell %s %u %d %zu %zu %d %d\n", oc, row->version, row->etm, c->nrec,
                         c->rec, (int)g_clock, g_feed == FEED_OWNED);
                if (ossl_ask(cmd, ans, sizeof ans) != 0) {
                    fprintf(stderr, "%s: OpenSSL helper: %s\n", row->name, ans);
                    if (have_tp)
                        tls_pair_free(&tp);
                    goto out;
                }
                c->have[C_OSSL] = 1;
            }
        }
        /* the competitors in an order rotated every round */
        for (k = 0; k < NCOMP; k++) {
            int comp = (round + k) % NCOMP;
            double t = -1;
            if (!c->have[comp])
                continue;
            switch (comp) {
            case C_MX: {
                static struct mx_record r;
                const uint8_t *in = have_tp ? tp.stream : stream;
                size_t got, in_len = have_tp ? tp.stream_len : stream_len, pre = 0;
                struct mx_chain chain;
                mx_chain_init(&chain, 0, NULL);
                if (g_feed == FEED_OWNED) {
                    /* the received bytes as one read buffer the chain takes over (not timed) */
                    uint8_t *copy = malloc(in_len);
                    if (!copy || mx_chain_append_owned(&chain, memcpy(copy, in, in_len), in_len) != MX_CHAIN_OK)
                        break;
                    pre = in_len;
                }
                t = now();
                mx_record_init(&r);
                if (have_tp) {
                    got = run_libmx_stream(&r, &tp, &chain, in, in_len, pre, g_pt);
                } else {
                    if (mx_record_set_tls12_keys(&r, row->version, row->suite,
                                                 row->etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT, 1, kb,
                                                 mx_record_key_block_len(row->version, row->suite), 0) != MX_REC_OK)
                        break;
                    got = run_libmx_stream(&r, NULL, &chain, in, in_len, pre, g_pt);
                }
                t = now() - t;
                mx_chain_release(&chain);
                if (check_got(c, "libmx", got))
                    t = -1;
                break;
            }
            case C_SSL:
                t = time_ssl_read(c, &tp);
                break;
            case C_OSSL:
                t = time_ossl(c);
                break;
            case C_FLOOR:
                t = run_floor(c->negotiated, row->version, mac_len, c->nrec, c->rec, g_fb);
                break;
            }
            if (t < 0) {
                if (have_tp)
                    tls_pair_free(&tp);
                goto out;
            }
            if (round > 0)
                c->t[comp][round - 1] = t > 1e-9 ? t : 1e-9;
        }
        if (have_tp)
            tls_pair_free(&tp);
    }
    rc = 0;
out:
    free(stream);
    return rc;
}

/* ---------------------------------------------------------------- statistics */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the q-quantile (0..1) of v[0..n), linear between order statistics; v is sorted in place */
static double quantile(double *v, int n, double q)
{
    double pos, frac;
    int i;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    pos = q * (n - 1);
    i = (int)pos;
    frac = pos - i;
    return i + 1 < n ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

struct ratio {
    double med, q1, q3; /* median and quartiles of the per-round ratios */
};

/* libmx's speed relative to comp: t_comp / t_libmx within each round (> 1: libmx faster) */
static struct ratio round_ratio(const struct cell *c, int num, int den)
{
    double v[MAX_ROUNDS];
    struct ratio r;
    for (int i = 0; i < c->rounds; i++)
        v[i] = c->t[num][i] / c->t[den][i];
    r.med = quantile(v, c->rounds, 0.5);
    r.q1 = quantile(v, c->rounds, 0.25);
    r.q3 = quantile(v, c->rounds, 0.75);
    return r;
}

/* MB/s from the median round */
static double mbs(const struct cell *c, int comp)
{
    double v[MAX_ROUNDS];
    memcpy(v, c->t[comp], sizeof(double) * (size_t)c->rounds);
    return (double)(c->nrec * c->rec) / 1048576.0 / quantile(v, c->rounds, 0.5);
}

static int is_aead_row(const struct suite_row *row)
{
    return is_aead(row->version, row->suite);
}

/* The goals that apply to this cell, judged on the median ratios: text like
 * "SSL>=1.0 ok, floor>0.56 MISS"; "" when none applies. */
static void judge(const struct cell *c, char *out, size_t cap)
{
    const struct suite_row *row = c->row;
    int both = c->rec == 1024 || c->rec == 16384;
    size_t used = 0;
    out[0] = 0;
#define GOAL(cond_met, ...)                                                                                           \
    do {                                                                                                              \
        used += (size_t)snprintf(out + used, cap - used, "%s", used ? ", " : "");                                     \
        used += (size_t)snprintf(out + used, cap - used, __VA_ARGS__);                                                \
        used += (size_t)snprintf(out + used, cap - used, " %s", (cond_met) ? "ok" : "MISS");                          \
    } while (0)
    if (c->have[C_SSL] && both) {
        struct ratio r = round_ratio(c, C_SSL, C_MX);
        GOAL(r.med >= 1.0, "SSL>=1.0");
    }
    if (c->have[C_OSSL] && row->etm && both) {
        struct ratio r = round_ratio(c, C_OSSL, C_MX);
        GOAL(r.med >= 1.0, "OSSL>=1.0");
    }
    if (is_aead_row(row) && c->rec == 16384) {
        struct ratio r = round_ratio(c, C_FLOOR, C_MX);
        GOAL(r.med >= 0.9, "floor>=0.9");
    }
    if (!is_aead_row(row) && !row->etm && c->rec == 1024) {
        struct ratio r = round_ratio(c, C_FLOOR, C_MX);
        double bar = 0.56;
        if (c->have[C_SSL])
            bar = round_ratio(c, C_FLOOR, C_SSL).med;
        GOAL(r.med > bar, "floor>%.2f", bar);
    }
#undef GOAL
}

/* ---------------------------------------------------------------- output */
static void loadavg(char *out, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;
    if (!f || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
        snprintf(out, cap, "unknown");
    else
        snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
    if (f)
        fclose(f);
}

static void fmt_mbs(const struct cell *c, int comp, char *out, size_t cap)
{
    if (c->have[comp])
        snprintf(out, cap, "%.1f", mbs(c, comp));
    else
        snprintf(out, cap, "-");
}

static void fmt_ratio(const struct cell *c, int num, char *out, size_t cap)
{
    if (c->have[num]) {
        struct ratio r = round_ratio(c, num, C_MX);
        snprintf(out, cap, "%.2f [%.2f-%.2f]", r.med, r.q1, r.q3);
    } else {
        snprintf(out, cap, "-");
    }
}

static void print_row(FILE *f, const struct cell *c, const char *name)
{
    char m[4][32], r[3][48], goals[160];
    fmt_mbs(c, C_MX, m[0], sizeof m[0]);
    fmt_mbs(c, C_SSL, m[1], sizeof m[1]);
    fmt_mbs(c, C_OSSL, m[2], sizeof m[2]);
    fmt_mbs(c, C_FLOOR, m[3], sizeof m[3]);
    fmt_ratio(c, C_SSL, r[0], sizeof r[0]);
    fmt_ratio(c, C_OSSL, r[1], sizeof r[1]);
    fmt_ratio(c, C_FLOOR, r[2], sizeof r[2]);
    judge(c, goals, sizeof goals);
    fprintf(f, "%-30s %6zu %9s %9s %9s %9s  %-18s %-18s %-18s %s\n", name, c->rec, m[0], m[1], m[2], m[3], r[0], r[1],
            r[2], goals);
    fflush(f);
}

static void html_escape(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        default: fputc(*s, f);
        }
}

static void html_ratio(FILE *f, const struct cell *c, int num)
{
    if (!c->have[num]) {
        fputs("<td>-</td>", f);
        return;
    }
    struct ratio r = round_ratio(c, num, C_MX);
    fprintf(f, "<td class=\"%s\">%.2f <small>[%.2f&ndash;%.2f]</small></td>", r.med >= 1.0 ? "ahead" : "behind", r.med,
            r.q1, r.q3);
}

static const char *feed_text(void)
{
    return g_feed == FEED_OWNED ? "owned (input received before the clock starts: one buffer handed to the chain, "
                                  "a read-only BIO)"
                                : "append (16 KB reads copied in while timed)";
}

static void html_write(const char *path, struct cell *cells, const char **names, int ncell, const char *cmdline,
                       const char *load0, const char *load1, double mb, int rounds)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>record_bench</title>\n"
          "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
          "padding:2px 6px;text-align:right}td.name{text-align:left}.ahead{background:#dfd}.behind{background:#fdd}"
          ".miss{color:#b00;font-weight:bold}</style></head><body>\n<h1>TLS record decryption: libmx vs "
          "BoringSSL vs OpenSSL vs the floor</h1>\n<p>",
          f);
    html_escape(f, cmdline);
    fprintf(f, "<br>%g MB per competitor and round, %d rounds interleaved (order rotated each round), clock: %s; "
               "feed: %s.<br>Load average at start: %s; at end: %s.</p>\n",
            mb, rounds, g_clock == CLOCK_MONOTONIC ? "wall (CLOCK_MONOTONIC)" : "thread CPU time", feed_text(), load0,
            load1);
    fputs("<p>MB/s of plaintext from the median round; ratios are libmx's speed over the other's, the median of "
          "the per-round ratios [interquartile range]; &gt; 1 means libmx is faster.</p>\n<table>\n<tr><th>suite</th>"
          "<th>record</th><th>libmx</th><th>SSL_read</th><th>OpenSSL</th><th>floor</th><th>mx/SSL_read</th>"
          "<th>mx/OpenSSL</th><th>mx/floor</th><th>goals</th></tr>\n",
          f);
    for (int i = 0; i < ncell; i++) {
        char m[32], goals[160];
        fputs("<tr><td class=\"name\">", f);
        html_escape(f, names[i]);
        fprintf(f, "</td><td>%zu</td>", cells[i].rec);
        for (int comp = 0; comp < NCOMP; comp++) {
            static const int order[NCOMP] = {C_MX, C_SSL, C_OSSL, C_FLOOR};
            fmt_mbs(&cells[i], order[comp], m, sizeof m);
            fprintf(f, "<td>%s</td>", m);
        }
        html_ratio(f, &cells[i], C_SSL);
        html_ratio(f, &cells[i], C_OSSL);
        html_ratio(f, &cells[i], C_FLOOR);
        judge(&cells[i], goals, sizeof goals);
        fprintf(f, "<td class=\"name%s\">", strstr(goals, "MISS") ? " miss" : "");
        html_escape(f, goals);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n</body></html>\n", f);
    if (fclose(f) != 0)
        perror(path);
}

static int usage(void)
{
    fprintf(stderr, "usage: record_bench [--mb MB] [--rounds N] [--sizes N,N,...] [--only SUBSTRING] "
                    "[--feed owned|append] [--wall] [--html FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct suite_row suites[] = {
        {0x0303, 0x002F, 0, 1, "TLS1.2 AES128-CBC-SHA"},
        {0x0303, 0x0035, 0, 1, "TLS1.2 AES256-CBC-SHA"},
        {0x0301, 0x002F, 0, 1, "TLS1.0 AES128-CBC-SHA"},
        {0x0303, 0x000A, 0, 1, "TLS1.2 3DES-CBC-SHA"},
        {0x0303, 0xC02F, 0, 1, "TLS1.2 AES128-GCM"},
        {0x0303, 0xC030, 0, 1, "TLS1.2 AES256-GCM"},
        {0x0303, 0xCCA8, 0, 1, "TLS1.2 CHACHA20-POLY1305"},
        {0x0304, 0, 0, 1, "TLS1.3"},
        {0x0303, 0x002F, 1, 0, "TLS1.2 AES128-CBC-SHA EtM"},
        {0x0301, 0x002F, 1, 0, "TLS1.0 AES128-CBC-SHA EtM"},
        {0x0303, 0x003C, 0, 0, "TLS1.2 AES128-CBC-SHA256"},
        {0x0303, 0x003C, 1, 0, "TLS1.2 AES128-CBC-SHA256 EtM"},
        {0x0303, 0xC028, 0, 0, "TLS1.2 AES256-CBC-SHA384"},
        {0x0303, 0xC028, 1, 0, "TLS1.2 AES256-CBC-SHA384 EtM"},
    };
    enum { NSUITE = sizeof suites / sizeof suites[0], MAX_SIZES = 8 };
    size_t sizes[MAX_SIZES] = {256, 1024, 4096, 16384};
    int nsizes = 4, rounds = 20, ncell = 0;
    double mb = 1;
    const char *html = NULL, *only = NULL;
    char cmdline[1024] = "", load0[64], load1[64];
    static struct cell cells[NSUITE * MAX_SIZES];
    static char names[NSUITE * MAX_SIZES][48];
    const char *name_ptr[NSUITE * MAX_SIZES];
    size_t used = 0;

    for (int i = 0; i < argc; i++)
        used += (size_t)snprintf(cmdline + used, used < sizeof cmdline ? sizeof cmdline - used : 0, "%s%s",
                                 i ? " " : "", argv[i]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--wall") == 0) {
            g_clock = CLOCK_MONOTONIC;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--feed") == 0) {
            if (strcmp(v, "owned") == 0)
                g_feed = FEED_OWNED;
            else if (strcmp(v, "append") == 0)
                g_feed = FEED_APPEND;
            else
                return usage();
        } else if (strcmp(a, "--mb") == 0) {
            mb = strtod(v, NULL);
        } else if (strcmp(a, "--rounds") == 0) {
            rounds = atoi(v);
        } else if (strcmp(a, "--html") == 0) {
            html = v;
        } else if (strcmp(a, "--only") == 0) {
            only = v;
        } else if (strcmp(a, "--sizes") == 0) {
            char *end;
            nsizes = 0;
            for (const char *p = v; *p && nsizes < MAX_SIZES; p = *end ? end + 1 : end) {
                sizes[nsizes] = strtoul(p, &end, 10);
                if (end == p || sizes[nsizes] == 0 || sizes[nsizes] > MAX_REC)
                    return usage();
                nsizes++;
            }
        } else {
            return usage();
        }
    }
    if (!(mb > 0) || rounds < 1 || rounds > MAX_ROUNDS || nsizes == 0)
        return usage();
    g_pt = malloc(MX_RECORD_MAX_PLAINTEXT);
    g_data = malloc(MAX_REC);
    g_rd = malloc(1 << 20);
    g_fb = malloc(MAX_REC + 128);
    if (!g_pt || !g_data || !g_rd || !g_fb)
        return 2;
    memset(g_data, 'x', MAX_REC);
    /* a dead helper must not kill the bench with SIGPIPE: the write fails and says so */
    signal(SIGPIPE, SIG_IGN);

    loadavg(load0, sizeof load0);
    printf("# %s\n# %g MB per competitor and round (3DES %g), %d rounds + 1 warm-up, interleaved, order rotated "
           "each round; clock: %s; feed: %s\n# load average at start: %s\n",
           cmdline, mb, mb / 4, rounds, g_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU time", feed_text(), load0);
    printf("# MB/s of plaintext from the median round; ratios: libmx's speed over the other's, median of the "
           "per-round ratios [quartiles]; > 1: libmx faster\n");
    printf("%-30s %6s %9s %9s %9s %9s  %-18s %-18s %-18s %s\n", "suite", "record", "libmx", "SSL_read", "OpenSSL",
           "floor", "mx/SSL_read", "mx/OpenSSL", "mx/floor", "goals");
    for (int si = 0; si < NSUITE; si++) {
        if (only && !strstr(suites[si].name, only))
            continue;
        for (int zi = 0; zi < nsizes; zi++) {
            struct cell *c = &cells[ncell];
            double m = suites[si].suite == 0x000A ? mb / 4 : mb;
            c->row = &suites[si];
            c->rec = sizes[zi];
            c->nrec = (size_t)(m * 1048576.0 / (double)c->rec);
            if (c->nrec == 0)
                c->nrec = 1;
            if (run_cell(c, rounds) != 0) {
                fprintf(stderr, "%s %zu B: failed\n", suites[si].name, c->rec);
                ossl_stop();
                return 1;
            }
            snprintf(names[ncell], sizeof names[ncell], "%s%s", suites[si].name,
                     suites[si].version != 0x0304 ? ""
                     : c->negotiated == 0x1303    ? " CHACHA20 (0x1303)"
                     : c->negotiated == 0x1302    ? " AES256-GCM (0x1302)"
                                                  : " AES128-GCM (0x1301)");
            name_ptr[ncell] = names[ncell];
            print_row(stdout, c, names[ncell]);
            ncell++;
        }
    }
    ossl_stop();
    loadavg(load1, sizeof load1);
    printf("# load average at end: %s\n", load1);
    if (html)
        html_write(html, cells, name_ptr, ncell, cmdline, load0, load1, mb, rounds);
    free(g_pt);
    free(g_data);
    free(g_rd);
    free(g_fb);
    return 0;
}
