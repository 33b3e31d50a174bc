/* chain.c - the receive chain (see include/mx/chain.h). */
#include "mx/chain.h"

#include <stdlib.h>
#include <string.h>

struct mx_chain_seg {
    struct mx_chain_seg *next;
    unsigned char *data; /* inline buf, or an owned external buffer */
    size_t start, end;   /* queued bytes are data[start..end) */
    size_t cap;          /* capacity of data */
    unsigned char buf[MX_CHAIN_SEG_CAP];
};

static void *sys_alloc(void *ctx, size_t n) { (void)ctx; return malloc(n); }
static void sys_release(void *ctx, void *p) { (void)ctx; free(p); }

void mx_chain_init(struct mx_chain *c, size_t limit, const struct mx_alloc *a)
{
    memset(c, 0, sizeof *c);
    c->limit = limit ? limit : SIZE_MAX;
    if (a && a->alloc && a->release) {
        c->a = *a;
    } else {
        c->a.alloc = sys_alloc;
        c->a.release = sys_release;
        c->a.ctx = NULL;
    }
}

static void seg_destroy(struct mx_chain *c, struct mx_chain_seg *s)
{
    if (s->data != s->buf)
        c->a.release(c->a.ctx, s->data);
    c->a.release(c->a.ctx, s);
}

void mx_chain_release(struct mx_chain *c)
{
    struct mx_chain_seg *s, *n;
    for (s = c->head; s; s = n) {
        n = s->next;
        seg_destroy(c, s);
    }
    for (s = c->spare; s; s = n) {
        n = s->next;
        seg_destroy(c, s);
    }
    c->head = c->tail = c->spare = NULL;
    c->nspare = 0;
    c->bytes = 0;
    c->segments = 0;
}

/* A fresh empty segment with inline storage: from the free list, else the allocator. */
static struct mx_chain_seg *seg_get(struct mx_chain *c)
{
    struct mx_chain_seg *s = c->spare;
    if (s) {
        c->spare = s->next;
        c->nspare--;
    } else {
        s = c->a.alloc(c->a.ctx, sizeof *s);
        if (!s)
            return NULL;
    }
    s->next = NULL;
    s->data = s->buf;
    s->start = s->end = 0;
    s->cap = MX_CHAIN_SEG_CAP;
    return s;
}

/* Returns an emptied segment to the free list (or the allocator). */
static void seg_put(struct mx_chain *c, struct mx_chain_seg *s)
{
    if (s->data != s->buf) {
        c->a.release(c->a.ctx, s->data);
        s->data = s->buf;
    }
    if (c->nspare < MX_CHAIN_SPARE_MAX) {
        s->next = c->spare;
        c->spare = s;
        c->nspare++;
    } else {
        c->a.release(c->a.ctx, s);
    }
}

static void link_tail(struct mx_chain *c, struct mx_chain_seg *s)
{
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
}

static void grew(struct mx_chain *c, size_t n)
{
    c->bytes += n;
    if (c->bytes > c->high_water)
        c->high_water = c->bytes;
}

int mx_chain_append(struct mx_chain *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    struct mx_chain_seg *fresh = NULL, **fp = &fresh, *s;
    size_t room = 0, need;

    if (len == 0)
        return MX_CHAIN_OK;
    if (!data)
        return MX_CHAIN_EINVAL;
    if (len > c->limit - c->bytes)
        return MX_CHAIN_ELIMIT;

    if (c->tail && c->tail->data == c->tail->buf)
        room = c->tail->cap - c->tail->end;
    /* Get every segment needed first, so a failure leaves the chain untouched. */
    need = len > room ? len - room : 0;
    while (need > 0) {
        s = seg_get(c);
        if (!s) {
            while (fresh) {
                s = fresh->next;
                seg_put(c, fresh);
                fresh = s;
            }
            return MX_CHAIN_ENOMEM;
        }
        *fp = s;
        fp = &s->next;
        need = need > s->cap ? need - s->cap : 0;
    }

    grew(c, len);
    if (room > 0) {
        size_t k = room < len ? room : len;
        memcpy(c->tail->data + c->tail->end, p, k);
        c->tail->end += k;
        p += k;
        len -= k;
    }
    while (fresh) {
        size_t k;
        s = fresh;
        fresh = s->next;
        s->next = NULL;
        k = len < s->cap ? len : s->cap;
        memcpy(s->data, p, k);
        s->end = k;
        p += k;
        len -= k;
        link_tail(c, s);
        c->segments++;
    }
    return MX_CHAIN_OK;
}

int mx_chain_append_owned(struct mx_chain *c, void *buf, size_t len)
{
    struct mx_chain_seg *s;

    if (len == 0) {
        if (buf)
            c->a.release(c->a.ctx, buf);
        return MX_CHAIN_OK;
    }
    if (!buf)
        return MX_CHAIN_EINVAL;
    if (len > c->limit - c->bytes)
        return MX_CHAIN_ELIMIT;
    s = seg_get(c);
    if (!s)
        return MX_CHAIN_ENOMEM;
    s->data = buf;
    s->cap = len;
    s->end = len;
    link_tail(c, s);
    c->segments++;
    grew(c, len);
    return MX_CHAIN_OK;
}

size_t mx_chain_peek(const struct mx_chain *c, size_t off, void *dst, size_t n)
{
    const struct mx_chain_seg *s;
    unsigned char *d = dst;
    size_t done = 0;

    for (s = c->head; s && done < n; s = s->next) {
        size_t have = s->end - s->start;
        if (off >= have) {
            off -= have;
            continue;
        }
        {
            size_t k = have - off;
            if (k > n - done)
                k = n - done;
            memcpy(d + done, s->data + s->start + off, k);
            done += k;
            off = 0;
        }
    }
    return done;
}

int mx_chain_byte(const struct mx_chain *c, size_t off)
{
    const struct mx_chain_seg *s;
    for (s = c->head; s; s = s->next) {
        size_t have = s->end - s->start;
        if (off < have)
            return s->data[s->start + off];
        off -= have;
    }
    return -1;
}

/* Drops n <= bytes from the head, counting them in *counter. */
static void drop(struct mx_chain *c, size_t n, uint64_t *counter)
{
    c->bytes -= n;
    *counter += n;
    while (n > 0) {
        struct mx_chain_seg *s = c->head;
        size_t have = s->end - s->start;
        if (n < have) {
            s->start += n;
            return;
        }
        n -= have;
        c->head = s->next;
        if (!c->head)
            c->tail = NULL;
        c->segments--;
        seg_put(c, s);
    }
}

int mx_chain_consume(struct mx_chain *c, size_t n)
{
    if (n > c->bytes)
        return MX_CHAIN_ESHORT;
    drop(c, n, &c->consumed);
    return MX_CHAIN_OK;
}

int mx_chain_take_into(struct mx_chain *c, void *dst, size_t n)
{
    if (n > c->bytes)
        return MX_CHAIN_ESHORT;
    if (n > 0 && !dst)
        return MX_CHAIN_EINVAL;
    mx_chain_peek(c, 0, dst, n);
    drop(c, n, &c->consumed);
    return MX_CHAIN_OK;
}

int mx_chain_take(struct mx_chain *c, size_t n, unsigned char **out)
{
    unsigned char *p;
    *out = NULL;
    if (n > c->bytes)
        return MX_CHAIN_ESHORT;
    p = c->a.alloc(c->a.ctx, n ? n : 1);
    if (!p)
        return MX_CHAIN_ENOMEM;
    mx_chain_peek(c, 0, p, n);
    drop(c, n, &c->consumed);
    *out = p;
    return MX_CHAIN_OK;
}

void mx_chain_free(struct mx_chain *c, void *p)
{
    if (p)
        c->a.release(c->a.ctx, p);
}

int mx_chain_find(const struct mx_chain *c, size_t from, const void *needle,
                  size_t nlen, size_t *pos)
{
    const unsigned char *nd = needle;
    const struct mx_chain_seg *s;
    size_t base = 0; /* offset of s's first queued byte */

    if (nlen == 0 || !needle || from >= c->bytes || nlen > c->bytes - from)
        return 0;
    for (s = c->head; s; s = s->next) {
        size_t have = s->end - s->start;
        const unsigned char *p = s->data + s->start;
        size_t i = from > base ? from - base : 0;
        for (; i < have; i++) {
            size_t at, j, ti;
            const struct mx_chain_seg *t = s;
            /* the next candidate start: memchr instead of a compare per byte */
            const unsigned char *hit = memchr(p + i, nd[0], have - i);
            if (!hit)
                break;
            i = (size_t)(hit - p);
            at = base + i;
            ti = i;
            if (at + nlen > c->bytes)
                return 0;
            /* compare the rest, following segments */
            for (j = 1; j < nlen; j++) {
                ti++;
                while (ti >= t->end - t->start) {
                    ti -= t->end - t->start;
                    t = t->next;
                }
                if (t->data[t->start + ti] != nd[j])
                    break;
            }
            if (j == nlen) {
                *pos = at;
                return 1;
            }
        }
        base += have;
    }
    return 0;
}

size_t mx_chain_discard(struct mx_chain *c)
{
    size_t n = c->bytes;
    drop(c, n, &c->discarded);
    return n;
}

int mx_chain_iter(const struct mx_chain *c, const struct mx_chain_seg **it,
                  const unsigned char **p, size_t *n)
{
    const struct mx_chain_seg *s = *it ? (*it)->next : c->head;
    if (!s)
        return 0;
    *it = s;
    *p = s->data + s->start;
    *n = s->end - s->start;
    return 1;
}

int mx_chain_check(const struct mx_chain *c)
{
    const struct mx_chain_seg *s, *last = NULL;
    size_t bytes = 0, segs = 0;
    for (s = c->head; s; s = s->next) {
        if (s->end <= s->start || s->end > s->cap)
            return -1;
        bytes += s->end - s->start;
        segs++;
        last = s;
    }
    if (last != c->tail)
        return -1;
    if (bytes != c->bytes || segs != c->segments || c->bytes > c->high_water)
        return -1;
    return 0;
}
