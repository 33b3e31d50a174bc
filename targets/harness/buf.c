/* buf.c - see buf.h. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fz_buf_reserve(struct fz_buf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (n <= b->cap - b->n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *q = realloc(b->p, cap);
    if (!q) {
        b->oom = 1;
        return -1;
    }
    b->p = q;
    b->cap = cap;
    return 0;
}

int fz_buf_append(struct fz_buf *b, const void *p, size_t n)
{
    if (fz_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

void fz_buf_put(struct fz_buf *b, const void *p, size_t n)
{
    if (fz_buf_append(b, p, n) != 0) {
        fprintf(stderr, "harness: out of memory (a buffer of %zu bytes)\n", b->n + n);
        abort();
    }
}

void *fz_buf_scratch(struct fz_buf *b, size_t n)
{
    b->n = 0;
    if (fz_buf_reserve(b, n ? n : 1) != 0) {
        fprintf(stderr, "harness: out of memory (a buffer of %zu bytes)\n", n);
        abort();
    }
    return b->p;
}

void fz_buf_drop_front(struct fz_buf *b, size_t n)
{
    if (b->n > n)
        memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
}

void fz_buf_free(struct fz_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void *fz_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        abort();
    return q;
}

uint8_t *fz_memdup(const void *p, size_t n)
{
    uint8_t *q = fz_xrealloc(NULL, n + 1);
    if (n)
        memcpy(q, p, n);
    q[n] = 0;
    return q;
}

int fz_buf_read_file(struct fz_buf *b, const char *path, size_t limit)
{
    FILE *f = fopen(path, "rb");
    size_t start = b->n, k;
    uint8_t tmp[8192];
    int rc = 0;
    if (!f)
        return -1;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) {
        fz_buf_put(b, tmp, k);
        if (b->n - start > limit) {
            b->n = start + limit + 1;
            rc = -2;
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = -1;
    fclose(f);
    fz_buf_put(b, "", 1);
    b->n--;
    return rc;
}
