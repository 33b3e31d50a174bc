/* session-mutate - the session-aware mutator (targets/harness/mutator.h) as a command, for a
 * black-box fuzzer that has no engine to link it into: live mode's `--fuzz` (live/fuzz.py)
 * mutates sessions it then sends to real servers.
 *
 *   session-mutate --seed N --count K --out DIR [--max BYTES] [--dict FILE]... PARENT [PARTNER...]
 *
 * Writes K mutants of PARENT to DIR/mut-N-0 .. DIR/mut-N-(K-1), each written aside and renamed,
 * and prints one line per mutant: "PATH\tMUTATION" (the name of the last mutation applied). The
 * i-th mutant comes from fz_mutate's seed N*K+i with a partner for its splice picked from the
 * PARTNERs by the same seed, so a run repeats exactly. No byte mutator: the mutator's event
 * mutations and the dictionaries' tokens only (the mutants stay framed sessions; a live server is
 * no place for libFuzzer's comparison-guided byte work, which needs its coverage).
 * Exit status: 0, 2 on a usage error or an unreadable input, 1 when a mutant cannot be written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mutator.h"

/* a live session is a few commands: the starttls target's max_len bounds it, never more */
#define SM_MAX_DEFAULT 4096
#define SM_MAX_LIMIT 65536
#define SM_COUNT_LIMIT 10000

static uint8_t *slurp(const char *path, size_t *n)
{
    struct fz_buf b = {0};
    int rc = fz_buf_read_file(&b, path, SM_MAX_LIMIT);
    if (rc == -1)
        fprintf(stderr, "session-mutate: cannot read %s: %s\n", path, strerror(errno));
    else if (rc == -2)
        fprintf(stderr, "session-mutate: %s: larger than %d bytes: not a live session\n", path, SM_MAX_LIMIT);
    if (rc != 0) {
        fz_buf_free(&b);
        return NULL;
    }
    *n = b.n;
    return b.p; /* never NULL: the NUL after the bytes */
}

static int number(const char *opt, const char *v, unsigned long long lo, unsigned long long hi,
                  unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi || v[0] == '-') {
        fprintf(stderr, "session-mutate: %s wants a number in %llu..%llu, not '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "session-mutate: cannot write %s: %s\n", tmp, strerror(errno));
        if (f)
            remove(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "session-mutate: cannot rename %s: %s\n", tmp, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 0, count = 0, max = SM_MAX_DEFAULT;
    int have_seed = 0;
    const char *out_dir = NULL;
    static struct fz_mutator m;
    fz_mutator_init(&m, FZ_LAYOUT_SESSION, NULL, NULL);
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
        const char *o = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "session-mutate: %s wants a value\n", o);
            return 2;
        }
        const char *v = argv[i + 1];
        if (!strcmp(o, "--seed")) {
            if (number(o, v, 0, UINT64_MAX / SM_COUNT_LIMIT, &seed))
                return 2;
            have_seed = 1;
        } else if (!strcmp(o, "--count")) {
            if (number(o, v, 1, SM_COUNT_LIMIT, &count))
                return 2;
        } else if (!strcmp(o, "--max")) {
            if (number(o, v, FZ_SESSION_HEADER + 3, SM_MAX_LIMIT, &max))
                return 2;
        } else if (!strcmp(o, "--out")) {
            out_dir = v;
        } else if (!strcmp(o, "--dict")) {
            if (fz_mutator_load_dict(&m, v) != 0)
                return 2;
        } else {
            fprintf(stderr, "session-mutate: unknown option %s\n", o);
            return 2;
        }
    }
    if (!have_seed || !count || !out_dir || i >= argc) {
        fprintf(stderr, "usage: session-mutate --seed N --count K --out DIR [--max BYTES] [--dict FILE]... "
                        "PARENT [PARTNER...]\n");
        return 2;
    }
    size_t pn, npartners = (size_t)(argc - i - 1);
    uint8_t *parent = slurp(argv[i], &pn);
    if (!parent)
        return 2;
    uint8_t **partner = calloc(npartners + 1, sizeof *partner);
    size_t *partner_n = calloc(npartners + 1, sizeof *partner_n);
    uint8_t *out = malloc(max);
    if (!partner || !partner_n || !out)
        abort();
    int rc = 0;
    for (size_t k = 0; k < npartners && rc == 0; k++)
        if (!(partner[k] = slurp(argv[i + 1 + k], &partner_n[k])))
            rc = 2;
    for (unsigned long long k = 0; k < count && rc == 0; k++) {
        uint64_t s = seed * SM_COUNT_LIMIT + k, pick = s;
        /* half the mutants splice a partner in, the others mutate the parent alone */
        size_t which = npartners ? (size_t)(fz_splitmix64(&pick) % (2 * npartners)) : 0;
        const uint8_t *other = which < npartners ? partner[which] : NULL;
        size_t other_n = which < npartners ? partner_n[which] : 0;
        size_t n = fz_mutate(&m, parent, pn, other, other_n, out, max, s);
        char path[4096];
        snprintf(path, sizeof path, "%s/mut-%llu-%llu", out_dir, seed, k);
        if (write_file(path, out, n) != 0)
            rc = 1;
        else
            printf("%s\t%s\n", path, m.last);
    }
    if (fflush(stdout) != 0 && rc == 0)
        rc = 1;
    for (size_t k = 0; k < npartners; k++)
        free(partner[k]);
    free(partner);
    free(partner_n);
    free(out);
    free(parent);
    fz_mutator_free(&m);
    return rc;
}
