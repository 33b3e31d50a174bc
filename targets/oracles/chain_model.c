/* chain_model.c - the receive chain against a flat byte array with plain counters (see
 * chain_model.h), written without looking at src/chain.c. */
#include "chain_model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fail.h"
#include "mx/chain.h"

struct model {
    uint8_t *buf; /* queued bytes, head at buf[0] */
    size_t len, limit;
    uint64_t consumed, discarded;
    size_t high_water;
};

/* "chain: divergence at operation N: WHAT: chain GOT, model WANT" */
static void diverge(const char *what, uint64_t got, uint64_t want)
{
    fz_fail("chain", "%s: chain %llu, model %llu", what, (unsigned long long)got,
            (unsigned long long)want);
}
#define DIVERGE(what, got, want) diverge(what, (uint64_t)(got), (uint64_t)(want))
#define EXPECT_EQ(what, got, want)               \
    do {                                         \
        if ((uint64_t)(got) != (uint64_t)(want)) \
            DIVERGE(what, got, want);            \
    } while (0)

static void m_consume(struct model *m, size_t n, uint64_t *counter)
{
    memmove(m->buf, m->buf + n, m->len - n);
    m->len -= n;
    *counter += n;
}

static void compare(const struct mx_chain *c, const struct model *m, uint8_t *scratch)
{
    const struct mx_chain_seg *it = NULL;
    const uint8_t *p;
    size_t n, walked = 0, segs = 0;

    EXPECT_EQ("bytes", c->bytes, m->len);
    EXPECT_EQ("consumed", c->consumed, m->consumed);
    EXPECT_EQ("discarded", c->discarded, m->discarded);
    EXPECT_EQ("high_water", c->high_water, m->high_water);
    while (mx_chain_iter(c, &it, &p, &n)) {
        if (n == 0)
            DIVERGE("empty segment in the chain at", segs, 0);
        if (walked + n > m->len)
            DIVERGE("walked bytes", walked + n, m->len);
        if (memcmp(p, m->buf + walked, n) != 0)
            DIVERGE("content differs in segment", segs, 0);
        walked += n;
        segs++;
    }
    EXPECT_EQ("walked bytes", walked, m->len);
    EXPECT_EQ("segments (counter vs walk)", c->segments, segs);
    EXPECT_EQ("mx_chain_check", mx_chain_check(c), 0);
    (void)scratch;
}

void chain_model_check(struct in *in, size_t limit, size_t size)
{
    struct fz_alloc fa = {0};
    struct mx_alloc a = fz_alloc_hooks(&fa);
    struct mx_chain c;
    struct model m = {0};
    uint8_t *scratch = malloc(size + 1);
    int op_index;

    m.buf = malloc(size + 1);
    m.limit = limit ? limit : SIZE_MAX;
    if (!scratch || !m.buf) {
        free(scratch);
        free(m.buf);
        return;
    }
    mx_chain_init(&c, limit, &a);

    for (op_index = 0; in->n > 0; op_index++) {
        fz_at("operation", op_index);
        unsigned op = in_u8(in) % 10;
        unsigned fired = fa.fired;
        int rc = 0, want = MX_CHAIN_OK;
        switch (op) {
        case 0:
        case 1: {
            size_t n = in_u16(in);
            const uint8_t *p = in_take(in, &n);
            if (op == 0) {
                rc = mx_chain_append(&c, p, n);
            } else {
                uint8_t *own = n ? fz_alloc_get(&fa, n) : NULL;
                if (n && !own)
                    break; /* our own allocation failed: nothing was handed over */
                if (n)
                    memcpy(own, p, n);
                fired = fa.fired;
                rc = mx_chain_append_owned(&c, own, n);
                if (rc != MX_CHAIN_OK)
                    fz_alloc_release(&fa, own);
            }
            if (n > m.limit - m.len)
                want = MX_CHAIN_ELIMIT;
            else if (fa.fired != fired)
                want = MX_CHAIN_ENOMEM;
            EXPECT_EQ("append status (negated)", -rc, -want);
            if (want == MX_CHAIN_OK) {
                memcpy(m.buf + m.len, p, n);
                m.len += n;
                if (m.len > m.high_water)
                    m.high_water = m.len;
            }
            break;
        }
        case 2: {
            size_t off = in_u16(in), n = in_u16(in);
            size_t got = mx_chain_peek(&c, off, scratch, n < size ? n : size);
            size_t exp = off >= m.len ? 0 : (m.len - off < n ? m.len - off : n);
            if (exp > size)
                exp = size;
            EXPECT_EQ("peek length", got, exp);
            if (memcmp(scratch, m.buf + (off < m.len ? off : 0), got) != 0)
                DIVERGE("peek content", 1, 0);
            break;
        }
        case 3:
        case 4:
        case 5: {
            size_t n = in_u16(in);
            unsigned char *taken = NULL;
            if (op == 3)
                rc = mx_chain_consume(&c, n);
            else if (op == 4)
                rc = mx_chain_take_into(&c, scratch, n <= size ? n : size);
            else
                rc = mx_chain_take(&c, n, &taken);
            if (op == 4 && n > size)
                n = size;
            if (n > m.len)
                want = MX_CHAIN_ESHORT;
            else if (fa.fired != fired)
                want = MX_CHAIN_ENOMEM;
            EXPECT_EQ("consume/take status", -rc, -want);
            if (rc == MX_CHAIN_OK) {
                if (op == 4 && memcmp(scratch, m.buf, n) != 0)
                    DIVERGE("take_into content", 1, 0);
                if (op == 5 && memcmp(taken, m.buf, n) != 0)
                    DIVERGE("take content", 1, 0);
                m_consume(&m, n, &m.consumed);
            } else if (op == 5 && taken) {
                DIVERGE("take returned a buffer with an error", 1, 0);
            }
            mx_chain_free(&c, taken);
            break;
        }
        case 6: {
            size_t from = in_u16(in), nlen = 1 + in_u8(in) % 4, pos = 0, exp = SIZE_MAX;
            const uint8_t *nd = in_take(in, &nlen);
            if (nlen == 0)
                break;
            for (size_t i = from; i + nlen <= m.len && i >= from; i++)
                if (memcmp(m.buf + i, nd, nlen) == 0) {
                    exp = i;
                    break;
                }
            int found = mx_chain_find(&c, from, nd, nlen, &pos);
            EXPECT_EQ("find found", found, exp != SIZE_MAX);
            if (found)
                EXPECT_EQ("find position", pos, exp);
            break;
        }
        case 7: {
            size_t n = mx_chain_discard(&c);
            EXPECT_EQ("discard count", n, m.len);
            m_consume(&m, m.len, &m.discarded);
            break;
        }
        case 8:
            fz_alloc_fail_after(&fa, in_u8(in) % 8);
            break;
        case 9: {
            size_t off = in_u16(in);
            EXPECT_EQ("byte", mx_chain_byte(&c, off) + 1, off < m.len ? m.buf[off] + 1 : 0);
            break;
        }
        }
        compare(&c, &m, scratch);
    }

    mx_chain_release(&c);
    fz_at("operation", op_index);
    EXPECT_EQ("allocations outstanding after release", fa.live, 0);
    free(scratch);
    free(m.buf);
    fz_at(NULL, 0);
}
