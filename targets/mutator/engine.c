/* engine.c - the session-aware mutator (targets/harness/mutator.h) as the engines call it:
 *   libFuzzer: LLVMFuzzerCustomMutator / LLVMFuzzerCustomCrossOver, linked into the fuzzer
 *              (build.sh links this file and the layout_*.c the manifest names); a fraction
 *              of mutations falls through to libFuzzer's own byte mutator, LLVMFuzzerMutate,
 *              which keeps its comparison-guided and dictionary mutations in play;
 *   AFL++:     afl_custom_init / afl_custom_fuzz / afl_custom_deinit in a shared object
 *              (build.sh: OUT/mxfuzz_mutator_<layout>.so), loaded by afl-fuzz through
 *              AFL_CUSTOM_MUTATOR_LIBRARY; AFL++ runs its own havoc stage besides, so the byte
 *              fall-through here is a small one of our own.
 *
 * Tokens: the dictionary the engine itself was given (libFuzzer -dict=FILE, afl-fuzz -x FILE,
 * read from /proc/self/cmdline), or MXFUZZ_MUTATOR_DICT=FILE. Without one the mutator knows
 * only the shape of a session (mutator.c: each protocol's command verbs from its RFC, STARTTLS,
 * a literal, a ClientHello; mutator_records.c: the record_diff layout): no dictionary is read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mutator.h"

/* The engine's dictionary from its command line: -dict=FILE (libFuzzer), -x FILE / -xFILE
 * (afl-fuzz); MXFUZZ_MUTATOR_DICT wins. */
static void find_dict(struct fz_mutator *m)
{
    const char *env = getenv("MXFUZZ_MUTATOR_DICT");
    static char cmd[65536];
    size_t n;
    FILE *f;
    if (env && *env) {
        fz_mutator_load_dict(m, env);
        return;
    }
    f = fopen("/proc/self/cmdline", "rb");
    if (!f)
        return;
    n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = 0;
    for (size_t i = 0; i < n; i += strlen(cmd + i) + 1) {
        const char *a = cmd + i;
        if (strncmp(a, "-dict=", 6) == 0)
            fz_mutator_load_dict(m, a + 6);
        else if (strcmp(a, "-x") == 0 && i + 3 < n)
            fz_mutator_load_dict(m, a + 3);
        else if (strncmp(a, "-x", 2) == 0 && a[2])
            fz_mutator_load_dict(m, a + 2);
    }
}

/* ---- libFuzzer */

/* weak: the AFL++ driver and the shared object have no libFuzzer; there the symbol is NULL */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max) __attribute__((weak));
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2, uint8_t *out,
                                 size_t max, unsigned int seed);

static size_t libfuzzer_bytes(uint8_t *data, size_t size, size_t max, void *ctx, uint64_t seed)
{
    (void)ctx;
    (void)seed; /* libFuzzer's mutator draws from its own seeded generator */
    if (max == 0)
        return 0;
    if (size == 0) { /* its mutators want a byte to work on */
        data[0] = 0;
        size = 1;
    }
    return LLVMFuzzerMutate(data, size, max);
}

static struct fz_mutator lf;
static int lf_ready;

static struct fz_mutator *libfuzzer_mutator(void)
{
    if (!lf_ready) {
        fz_mutator_init(&lf, fz_mutator_layout, LLVMFuzzerMutate ? libfuzzer_bytes : NULL, NULL);
        find_dict(&lf);
        lf_ready = 1;
    }
    return &lf;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed)
{
    return fz_mutate(libfuzzer_mutator(), data, size, NULL, 0, data, max, seed);
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2, uint8_t *out,
                                 size_t max, unsigned int seed)
{
    return fz_mutate(libfuzzer_mutator(), d1, s1, d2, s2, out, max, seed);
}

/* ---- AFL++ (docs/custom_mutators.md of AFL++: init, fuzz, deinit) */

struct afl_mut {
    struct fz_mutator m;
    uint64_t rng;
    uint8_t *buf;
    size_t cap;
};

void *afl_custom_init(void *afl, unsigned int seed);
size_t afl_custom_fuzz(void *data, uint8_t *buf, size_t buf_size, uint8_t **out_buf, uint8_t *add_buf,
                       size_t add_buf_size, size_t max_size);
void afl_custom_deinit(void *data);

/* A few byte edits (flip a bit, set a byte, insert one, delete one): AFL++'s havoc stage does
 * the heavy byte work, this only keeps payload edits inside the structure. */
static size_t afl_bytes(uint8_t *data, size_t size, size_t max, void *ctx, uint64_t seed)
{
    uint64_t s = seed;
    (void)ctx;
    for (unsigned k = 1 + (unsigned)(fz_splitmix64(&s) % 4); k > 0; k--) {
        uint64_t r = fz_splitmix64(&s);
        size_t at = size ? (size_t)(r >> 8) % size : 0;
        switch (r % 4) {
        case 0: if (size) data[at] ^= (uint8_t)(1u << (r >> 40) % 8); break;
        case 1: if (size) data[at] = (uint8_t)(r >> 48); break;
        case 2:
            if (size < max) {
                memmove(data + at + 1, data + at, size - at);
                data[at] = (uint8_t)(r >> 48);
                size++;
            }
            break;
        default:
            if (size) {
                memmove(data + at, data + at + 1, size - at - 1);
                size--;
            }
        }
    }
    return size;
}

void *afl_custom_init(void *afl, unsigned int seed)
{
    struct afl_mut *a = calloc(1, sizeof *a);
    (void)afl;
    if (!a)
        return NULL;
    fz_mutator_init(&a->m, fz_mutator_layout, afl_bytes, NULL);
    a->rng = seed;
    find_dict(&a->m);
    return a;
}

size_t afl_custom_fuzz(void *data, uint8_t *buf, size_t buf_size, uint8_t **out_buf, uint8_t *add_buf,
                       size_t add_buf_size, size_t max_size)
{
    struct afl_mut *a = data;
    if (a->cap < max_size) {
        uint8_t *p = realloc(a->buf, max_size);
        if (!p) { /* keep the input as it is: AFL++ goes on with its own stages */
            *out_buf = buf;
            return buf_size;
        }
        a->buf = p;
        a->cap = max_size;
    }
    /* AFL++ hands another queue entry as add_buf: the partner of a splice */
    *out_buf = a->buf;
    return fz_mutate(&a->m, buf, buf_size, add_buf, add_buf_size, a->buf, max_size, fz_splitmix64(&a->rng));
}

void afl_custom_deinit(void *data)
{
    struct afl_mut *a = data;
    if (!a)
        return;
    fz_mutator_free(&a->m);
    free(a->buf);
    free(a);
}
