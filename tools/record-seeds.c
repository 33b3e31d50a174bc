/* tools/record-seeds.c - writes the seed corpus of targets/record.c.
 *
 *   record-seeds OUTDIR
 *   record-seeds --suites    the suite table (record_model.c) with each suite's key sizes
 *
 * For every config of targets/record.c (each (version, suite) pair with its fixed keys, and
 * the null cipher) writes a few streams of valid records sealed by BoringSSL's record AEADs
 * (tls_oracle): sizes 0, 1, 31, 256, 2000 and one 16384-byte record, types 21-23, TLS 1.3
 * padding; with one read, 1-byte reads and mixed reads. File names: first 12 hex of the sha256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "record_model.h"

static int write_seed(const char *dir, const uint8_t *p, size_t n)
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    char path[4096];
    FILE *f;
    SHA256(p, n, md);
    snprintf(path, sizeof path, "%s/%02x%02x%02x%02x%02x%02x", dir, md[0], md[1], md[2], md[3], md[4], md[5]);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "record-seeds: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* The suite table as the record targets see it, one line per index: version, suite, CBC block
 * size (0: AEAD), key material length (key block, TLS 1.3: secret), explicit IV length.
 * tools/record_seeds.py --suites prints its copy the same way; targets/tests/
 * seed_tables_match_c.sh compares them. */
static int print_suites(void)
{
    static const uint8_t keys[TLS_ORACLE_MAX_KEY_BLOCK];
    for (size_t i = 0; i < record_nsuites; i++) {
        struct record_conn c;
        if (record_conn_init(&c, record_suites[i].version, record_suites[i].suite, record_suites[i].etm, keys,
                             sizeof keys, 0) != 0) {
            fprintf(stderr, "record-seeds: suite %zu (0x%04x/0x%04x) unsupported\n", i, record_suites[i].version,
                    record_suites[i].suite);
            return 1;
        }
        printf("%zu 0x%04x 0x%04x %d %zu %zu %zu\n", i, c.version, c.suite, c.etm, c.block,
               c.tls13 ? c.secret_len : c.key_block_len, c.explicit_iv);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static uint8_t buf[200000], pt[16384];
    static const size_t small[] = {0, 1, 31, 256, 2000};
    unsigned cfg;
    size_t i;

    if (argc == 2 && strcmp(argv[1], "--suites") == 0)
        return print_suites();
    if (argc != 2) {
        fprintf(stderr, "usage: record-seeds OUTDIR | --suites\n");
        return 2;
    }
    for (i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)(i * 31 + 7);
    for (cfg = 0; cfg <= record_nsuites; cfg++) {
        for (int variant = 0; variant < 3; variant++) {
            struct record_conn c;
            struct tls_oracle o;
            size_t n = 0, k;
            if (record_fixed_conn(&c, cfg) != 0)
                return 1;
            buf[n++] = (uint8_t)cfg;
            if (variant == 0) {
                buf[n++] = 0;
            } else if (variant == 1) {
                buf[n++] = 1;
                buf[n++] = 1;
            } else {
                buf[n++] = 3;
                buf[n++] = 7;
                buf[n++] = 0x83; /* 3 * 128 + 1 */
                buf[n++] = 64;
            }
            if (c.null_cipher) {
                static const uint8_t recs[] = {22, 3, 1, 0, 4, 1, 0, 0, 0, 21, 3, 3, 0, 2, 1, 0, 20, 3, 3, 0, 1, 1,
                                               23, 3, 3, 0, 0};
                memcpy(buf + n, recs, sizeof recs);
                n += sizeof recs;
                if (write_seed(argv[1], buf, n) != 0)
                    return 1;
                continue;
            }
            if (record_conn_oracle(&c, &o, TLS_ORACLE_SEAL, 0, NULL) != 0)
                return 1;
            for (k = 0; k < (variant == 2 ? 1 : sizeof small / sizeof small[0]); k++) {
                uint8_t iv[16];
                size_t len = variant == 2 ? 16384 : small[k], r;
                memset(iv, (int)(k * 17 + 3), sizeof iv);
                r = tls_oracle_seal(&o, (uint8_t)(21 + (k % 3)), pt, len, iv, c.tls13 ? k * 10 : 0, buf + n,
                                    sizeof buf - n);
                if (r == 0) {
                    fprintf(stderr, "record-seeds: seal failed for config %u\n", cfg);
                    return 1;
                }
                n += r;
            }
            tls_oracle_cleanup(&o);
            if (write_seed(argv[1], buf, n) != 0)
                return 1;
        }
    }
    return 0;
}
