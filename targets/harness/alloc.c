/* alloc.c - see alloc.h. */
#include "alloc.h"

#include <stdlib.h>

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
    void *p = malloc(n);
    if (p) {
        a->allocs++;
        a->live++;
    }
    return p;
}

void fz_alloc_release(void *ctx, void *p)
{
    struct fz_alloc *a = ctx;
    if (p)
        a->live--;
    free(p);
}

struct mx_alloc fz_alloc_hooks(struct fz_alloc *a)
{
    struct mx_alloc h = {fz_alloc_get, fz_alloc_release, a};
    return h;
}

void fz_alloc_fail_after(struct fz_alloc *a, unsigned skip)
{
    a->armed = 1;
    a->skip = skip;
}
