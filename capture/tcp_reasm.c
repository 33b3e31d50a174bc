/* tcp_reasm.c - one direction of a TCP connection: segments in, chunks out
 * (see tcp_reasm.h for the rules). */
#include "tcp_reasm.h"

#include <stdlib.h>
#include <string.h>

void cap_reasm_init(struct cap_reasm *r, int dir, cap_reasm_deliver_fn fn, void *ctx,
                   uint64_t limit)
{
    memset(r, 0, sizeof *r);
    r->dir = dir;
    r->deliver = fn;
    r->ctx = ctx;
    r->limit = limit;
}

void cap_reasm_syn(struct cap_reasm *r, uint32_t isn)
{
    if (!r->have_base) {
        r->base = cap_seq_add(isn, 1);
        r->have_base = 1;
    }
}

/* Stream offset of a raw sequence number, unwrapped next to the delivered end.
 * Offsets before the stream start come out negative. */
static int64_t unwrap(struct cap_reasm *r, uint32_t seq)
{
    uint32_t rel = cap_seq_sub(seq, r->base);
    return (int64_t)r->next + cap_seq_diff(rel, (uint32_t)(r->next & 0xffffffffu));
}

static void set_overflow(struct cap_reasm *r, uint32_t pkt)
{
    if (!r->overflow) {
        r->overflow = 1;
        r->overflow_pkt = pkt;
    }
}

static void deliver(struct cap_reasm *r, uint32_t pkt, const uint8_t *p, size_t n)
{
    if (r->overflow)
        return;
    if (r->limit && r->next + n > r->limit) {
        set_overflow(r, pkt);
        return;
    }
    if (r->deliver)
        r->deliver(r->ctx, r->dir, pkt, r->next, p, n);
    r->next += n;
}

static void drain(struct cap_reasm *r, uint32_t pkt)
{
    while (r->npend && r->pend[0].off <= r->next && !r->overflow) {
        struct cap_reasm_seg s = r->pend[0];
        uint64_t end = s.off + s.len;
        memmove(r->pend, r->pend + 1, (r->npend - 1) * sizeof *r->pend);
        r->npend--;
        if (end > r->next) {
            if (s.off < r->next) {
                r->overlap_segments++;
                r->retrans_bytes += r->next - s.off;
            }
            deliver(r, pkt, s.data + (r->next - s.off), (size_t)(end - r->next));
        } else {
            r->retrans_segments++;
            r->retrans_bytes += s.len;
        }
        free(s.data);
    }
}

static int add_pending(struct cap_reasm *r, uint32_t pkt, uint64_t off, const uint8_t *p,
                       size_t len)
{
    size_t i = 0;
    while (i < r->npend && r->pend[i].off < off)
        i++;
    if (i < r->npend && r->pend[i].off == off) {
        /* the same start again: keep the longer copy, first bytes win */
        struct cap_reasm_seg *s = &r->pend[i];
        if (len <= s->len) {
            r->retrans_segments++;
            r->retrans_bytes += len;
            return 0;
        }
        uint8_t *q = realloc(s->data, len);
        if (!q) {
            set_overflow(r, pkt);
            return -1;
        }
        memcpy(q + s->len, p + s->len, len - s->len);
        r->retrans_bytes += s->len;
        s->data = q;
        s->len = (uint32_t)len;
        return 0;
    }
    if (r->npend >= CAP_REASM_PENDING_MAX) {
        set_overflow(r, pkt);
        return 0;
    }
    if (r->npend == r->cappend) {
        size_t nc = r->cappend ? r->cappend * 2 : 8;
        struct cap_reasm_seg *q = realloc(r->pend, nc * sizeof *q);
        if (!q) {
            set_overflow(r, pkt);
            return -1;
        }
        r->pend = q;
        r->cappend = nc;
    }
    uint8_t *d = malloc(len);
    if (!d) {
        set_overflow(r, pkt);
        return -1;
    }
    memcpy(d, p, len);
    memmove(r->pend + i + 1, r->pend + i, (r->npend - i) * sizeof *r->pend);
    r->pend[i].off = off;
    r->pend[i].pkt = pkt;
    r->pend[i].len = (uint32_t)len;
    r->pend[i].data = d;
    r->npend++;
    r->ooo_segments++;
    return 0;
}

int cap_reasm_segment(struct cap_reasm *r, uint32_t pkt, uint32_t seq, const uint8_t *p,
                     size_t len, int fin)
{
    if (!r->have_base) {
        r->base = seq;
        r->have_base = 1;
    }
    int64_t off = unwrap(r, seq);
    if (len > UINT32_MAX)
        len = UINT32_MAX;
    if (fin && !r->fin) {
        r->fin = 1;
        r->fin_off = off + (int64_t)len > 0 ? (uint64_t)(off + (int64_t)len) : 0;
        r->fin_pkt = pkt;
    }
    if (len == 0)
        return 0;
    r->segments++;
    if (off < 0) { /* starts before the stream: keep what lies inside it */
        if (off + (int64_t)len <= 0) {
            r->retrans_segments++;
            r->retrans_bytes += len;
            return 0;
        }
        p += (size_t)-off;
        len -= (size_t)-off;
        off = 0;
    }
    uint64_t o = (uint64_t)off, end = o + len;
    if (r->overflow)
        return 0;
    if (end <= r->next) {
        r->retrans_segments++;
        r->retrans_bytes += len;
        return 0;
    }
    if (o <= r->next) {
        if (o < r->next) {
            r->overlap_segments++;
            r->retrans_bytes += r->next - o;
        }
        deliver(r, pkt, p + (r->next - o), (size_t)(end - r->next));
        drain(r, pkt);
        return 0;
    }
    return add_pending(r, pkt, o, p, len);
}

void cap_reasm_ack(struct cap_reasm *r, uint32_t pkt, uint32_t ack)
{
    if (!r->have_base)
        return;
    int64_t off = unwrap(r, ack);
    if (off <= 0 || (uint64_t)off <= r->ack_max)
        return;
    if (r->nacks == r->capacks) {
        size_t nc = r->capacks ? r->capacks * 2 : 16;
        void *q = realloc(r->acks, nc * sizeof *r->acks);
        if (!q) {
            set_overflow(r, pkt);
            return;
        }
        r->acks = q;
        r->capacks = nc;
    }
    r->acks[r->nacks].pkt = pkt;
    r->acks[r->nacks].off = (uint64_t)off;
    r->nacks++;
    r->ack_max = (uint64_t)off;
}

void cap_reasm_finish(struct cap_reasm *r, struct cap_reasm_gap *g)
{
    memset(g, 0, sizeof *g);
    g->off = r->next;
    g->pkt = UINT32_MAX;
    uint64_t end = r->next;
    /* data the peer acknowledged: a FIN takes one sequence number; an ACK one
     * past the data without a captured FIN is taken to be the FIN's. */
    for (size_t i = 0; i < r->nacks; i++) {
        uint64_t a = r->acks[i].off;
        if (r->fin ? a > r->fin_off : a == r->next + 1)
            a--;
        if (a > r->next) {
            if (a > end)
                end = a;
            if (r->acks[i].pkt < g->pkt) {
                g->pkt = r->acks[i].pkt;
                g->why = "data acknowledged by the peer was not captured";
            }
        }
    }
    if (r->fin && r->fin_off > r->next) {
        if (r->fin_off > end)
            end = r->fin_off;
        if (r->fin_pkt < g->pkt) {
            g->pkt = r->fin_pkt;
            g->why = "FIN beyond the captured data";
        }
    }
    for (size_t i = 0; i < r->npend; i++) {
        uint64_t e = r->pend[i].off;
        if (i == 0 && e > r->next)
            end = e; /* the hole ends where the first waiting segment starts */
        if (r->pend[i].pkt < g->pkt) {
            g->pkt = r->pend[i].pkt;
            g->why = "data missing before later segments";
        }
    }
    if (r->overflow && r->overflow_pkt < g->pkt) {
        g->pkt = r->overflow_pkt;
        g->why = "stream over the size or pending-segment limit";
    }
    if (g->pkt != UINT32_MAX) {
        g->present = 1;
        g->missing = end > r->next ? end - r->next : 1;
    }
}

void cap_reasm_free(struct cap_reasm *r)
{
    for (size_t i = 0; i < r->npend; i++)
        free(r->pend[i].data);
    free(r->pend);
    free(r->acks);
    r->pend = NULL;
    r->acks = NULL;
    r->npend = r->cappend = r->nacks = r->capacks = 0;
}
