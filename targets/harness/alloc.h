/* alloc.h - the allocator the targets hand to libmx (struct mx_alloc): it counts allocations,
 * so that a target can bound them and find leaks, and fails one allocation on request, so that
 * a target can check the out-of-memory paths. A zeroed struct counts and never fails.
 * Released blocks are kept for the next allocation of the same size (alloc.c says why and what
 * ASan still catches), so a target that allocates the same buffers for every input does not
 * pay for fresh pages each time. */
#ifndef FZ_ALLOC_H
#define FZ_ALLOC_H

#include <stddef.h>

#include "mx/chain.h"

struct fz_alloc {
    long allocs;    /* successful allocations */
    long live;      /* outstanding allocations, for the leak check */
    int armed;      /* 1 while a failure is pending */
    unsigned skip;  /* successful allocations left before it */
    unsigned fired; /* failures delivered */
};

/* The mx_alloc hooks over a. */
struct mx_alloc fz_alloc_hooks(struct fz_alloc *a);
/* The allocation after the next `skip` successful ones fails (once). */
void fz_alloc_fail_after(struct fz_alloc *a, unsigned skip);
/* The hooks themselves (ctx is a struct fz_alloc), for buffers the target hands to libmx. */
void *fz_alloc_get(void *ctx, size_t n);
void fz_alloc_release(void *ctx, void *p);
/* The same pooled allocator without a count to read: for receive chains, whose 4 KiB segments
 * are allocated afresh for every input otherwise. */
struct mx_alloc fz_alloc_pooled(void);

#endif
