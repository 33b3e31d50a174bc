/* pcap_check.c - the oracles of the pcap_import target (see pcap_check.h). */
#include "pcap_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "session.h"

struct model {
    uint8_t *b;
    uint8_t *have; /* 0 none, 1 written, 2 written twice with different values */
    size_t cap;
};

static void model_put(struct model *m, int64_t off, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t o = off + (int64_t)i;
        if (o < 0 || (uint64_t)o >= m->cap)
            continue;
        if (!m->have[o]) {
            m->have[o] = 1;
            m->b[o] = p[i];
        } else if (m->b[o] != p[i]) {
            m->have[o] = 2;
        }
    }
}

/* Oracle 1 for one direction of one flow. */
static void check_direction(const struct cap_flow *f, int d, struct model *m)
{
    int have = 0;
    uint32_t base = 0;
    memset(m->have, 0, m->cap);
    for (size_t i = 0; i < f->nraw; i++) {
        const struct cap_rawseg *s = &f->raw[i];
        if (s->dir != d)
            continue;
        int syn = s->flags & 0x02, rst = s->flags & 0x04;
        if (syn && !have) {
            base = cap_seq_add(s->seq, 1);
            have = 1;
        }
        if (rst && s->len == 0)
            continue;
        uint32_t seq = syn ? cap_seq_add(s->seq, 1) : s->seq;
        if (!have) {
            base = seq;
            have = 1;
        }
        model_put(m, cap_seq_diff(seq, base), s->data, s->len);
    }
    size_t prefix = 0;
    while (prefix < m->cap && m->have[prefix])
        prefix++;
    const struct cap_reasm *r = &f->r[d];
    if (r->overflow)
        return; /* limits: the model does not know them */
    if (prefix == m->cap)
        return; /* beyond the model's window */
    if (r->next != prefix)
        fz_fail("pcap_import", "delivered stream length differs from the model's contiguous prefix (%zu vs %zu)",
                (size_t)r->next, (size_t)prefix);
    uint64_t pos = 0;
    for (size_t i = 0; i < f->nchunks; i++) {
        const struct cap_chunk *c = &f->chunks[i];
        if (c->dir != d)
            continue;
        if (c->off != pos)
            fz_fail("pcap_import", "chunks are not contiguous (%zu vs %zu)",
                (size_t)c->off, (size_t)pos);
        if (c->len == 0)
            fz_fail("pcap_import", "empty chunk (%zu vs %zu)",
                (size_t)0, (size_t)0);
        for (size_t k = 0; k < c->len; k++)
            if (m->have[pos + k] == 1 && m->b[pos + k] != c->data[k])
                fz_fail("pcap_import", "delivered byte differs from the model (%zu vs %zu)",
                (size_t)(pos + k), (size_t)0);
        pos += c->len;
    }
    if (pos != r->next)
        fz_fail("pcap_import", "chunks do not add up to the delivered length (%zu vs %zu)",
                (size_t)pos, (size_t)r->next);
}

/* Oracle 2: C (or S) payloads before T are a prefix of the direction's chunks. */
static void check_prefix(const struct cap_flow *f, int ep, const struct cap_imp_session *s,
                         enum fz_ev_type t)
{
    size_t ci = 0, co = 0, total = 0, stream = 0;
    for (size_t i = 0; i < f->nchunks; i++)
        if (f->chunks[i].dir == ep)
            stream += f->chunks[i].len;
    for (size_t e = 0; e < s->nev; e++) {
        const struct cap_imp_event *ev = &s->ev[e];
        if (ev->type == FZ_EV_TLS)
            break;
        if (ev->type != t)
            continue;
        for (size_t k = 0; k < ev->n; k++) {
            while (ci < f->nchunks && (f->chunks[ci].dir != ep || co == f->chunks[ci].len)) {
                ci++;
                co = 0;
            }
            if (ci >= f->nchunks)
                fz_fail("pcap_import", "session holds more plaintext than the stream (%zu vs %zu)",
                (size_t)total, (size_t)stream);
            if (f->chunks[ci].data[co] != ev->p[k])
                fz_fail("pcap_import", "session plaintext differs from the reassembled stream (%zu vs %zu)",
                (size_t)total, (size_t)0);
            co++;
            total++;
        }
    }
    if (!s->tls_seen && !s->cut && total != stream)
        fz_fail("pcap_import", "a session without TLS or cut lost stream bytes (%zu vs %zu)",
                (size_t)total, (size_t)stream);
}

/* Oracle 3: the file parses back to the events. */
static void check_file(const struct cap_imp_session *s)
{
    struct fz_session ps;
    fz_session_parse(&ps, s->file, s->file_len);
    if (ps.proto != s->proto || ps.mode != s->mode)
        fz_fail("pcap_import", "header proto/mode do not parse back (%zu vs %zu)",
                (size_t)ps.proto, (size_t)s->proto);
    size_t cur = 0;
    struct fz_event ev;
    for (size_t e = 0; e < s->nev; e++) {
        const struct cap_imp_event *ie = &s->ev[e];
        size_t done = 0;
        do {
            if (!fz_session_next(&ps, &cur, &ev))
                fz_fail("pcap_import", "the file has fewer events than built (%zu vs %zu)",
                (size_t)e, (size_t)s->nev);
            if (ev.type != ie->type)
                fz_fail("pcap_import", "event type does not parse back (%zu vs %zu)",
                (size_t)ev.type, (size_t)ie->type);
            if (ev.n > ie->n - done || memcmp(ev.p, ie->p + done, ev.n) != 0)
                fz_fail("pcap_import", "event payload does not parse back (%zu vs %zu)",
                (size_t)e, (size_t)ev.n);
            done += ev.n;
        } while (done < ie->n);
    }
    if (fz_session_next(&ps, &cur, &ev))
        fz_fail("pcap_import", "the file has more events than built (%zu vs %zu)",
                (size_t)s->nev, (size_t)0);
}

void pcap_check_import(const struct cap_import *im, size_t caplen)
{
    struct model m;
    m.cap = caplen + 1; /* a stream never holds more bytes than the capture */
    m.b = malloc(m.cap);
    m.have = malloc(m.cap);
    if (m.b && m.have) {
        for (size_t i = 0; i < im->cap.nflows; i++)
            for (int d = 0; d < 2; d++)
                check_direction(im->cap.flows[i], d, &m);
    }
    free(m.b);
    free(m.have);
    for (size_t i = 0; i < im->ns; i++) {
        const struct cap_imp_session *s = &im->s[i];
        const struct cap_flow *f = im->cap.flows[s->flow];
        check_prefix(f, s->client, s, FZ_EV_CLIENT);
        check_prefix(f, !s->client, s, FZ_EV_SERVER);
        check_file(s);
    }
}
