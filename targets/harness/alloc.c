/* alloc.c - see alloc.h. */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

/* The pool. Under ASan a freed block waits in quarantine and the next malloc of the same size
 * gets fresh pages: a target that allocates a 4 KiB chain segment or a 64 KiB line buffer per
 * input spent a sixth of its time in page faults (imap, issue 14). So released blocks wait here
 * for the next allocation of exactly their size instead. The guarantees ASan gave stay:
 *   - a block is reused only for the same size, and the header sits in front of it, so the end
 *     of the caller's bytes is the end of the malloc'd block: an overflow still hits its redzone;
 *   - the header and every waiting block are poisoned: an underflow into the header, or a use
 *     after release, is still an ASan report (use-after-poison instead of use-after-free);
 *   - blocks are only kept up to POOL_KEEP bytes and POOL_SLOTS of them: the pool never holds
 *     more than POOL_SLOTS * POOL_KEEP bytes.
 * The pool lives for the process (reachable from pool[], so LeakSanitizer does not count it);
 * a block released and not reused is freed at once when the pool is full. */
#define POOL_SLOTS 64
#define POOL_KEEP (128u * 1024)
/* the size in front of every block, padded to malloc's alignment */
#define HDR 16u

static struct {
    uint8_t *base; /* malloc'd: HDR bytes of header, then the caller's n bytes */
    size_t n;
} pool[POOL_SLOTS];
static size_t npool;

static void *pool_get(size_t n)
{
    uint8_t *base = NULL;
    for (size_t i = npool; i-- > 0;)
        if (pool[i].n == n) {
            base = pool[i].base;
            pool[i] = pool[--npool];
            ASAN_UNPOISON_MEMORY_REGION(base + HDR, n);
            break;
        }
    if (!base) {
        if (n > SIZE_MAX - HDR)
            return NULL;
        base = malloc(HDR + n);
        if (!base)
            return NULL;
        memcpy(base, &n, sizeof n);
        ASAN_POISON_MEMORY_REGION(base, HDR);
    }
    return base + HDR;
}

static void pool_put(void *p)
{
    uint8_t *base = (uint8_t *)p - HDR;
    size_t n;
    ASAN_UNPOISON_MEMORY_REGION(base, HDR);
    memcpy(&n, base, sizeof n);
    if (n > POOL_KEEP || npool == POOL_SLOTS) {
        free(base);
        return;
    }
    ASAN_POISON_MEMORY_REGION(base, HDR + n);
    pool[npool].base = base;
    pool[npool].n = n;
    npool++;
}

void *fz_alloc_get(void *ctx, size_t n)
{
    struct fz_alloc *a = ctx;
    if (a->armed) {
        if (a->skip == 0) {
            a->armed = 0;
            a->fired++;
            return NULL;
        }
        a->skip--;
    }
    void *p = pool_get(n);
    if (p) {
        a->allocs++;
        a->live++;
    }
    return p;
}

void fz_alloc_release(void *ctx, void *p)
{
    struct fz_alloc *a = ctx;
    if (!p)
        return;
    a->live--;
    pool_put(p);
}

struct mx_alloc fz_alloc_hooks(struct fz_alloc *a)
{
    struct mx_alloc h = {fz_alloc_get, fz_alloc_release, a};
    return h;
}

struct mx_alloc fz_alloc_pooled(void)
{
    /* counts nothing anyone reads and never fails: the hooks need some fz_alloc */
    static struct fz_alloc uncounted;
    return fz_alloc_hooks(&uncounted);
}

void fz_alloc_fail_after(struct fz_alloc *a, unsigned skip)
{
    a->armed = 1;
    a->skip = skip;
}
