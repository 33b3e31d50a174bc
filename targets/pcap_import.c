/* targets/pcap_import.c - the whole capture importer (capture/pcap_import.h) on
 * arbitrary capture bytes and key logs.
 *
 * Input format (every byte string is valid):
 *   u16le K              length of the key log (clamped to what follows); K = 0: no key log
 *   K bytes              the key log (NSS SSLKEYLOGFILE text)
 *   the rest             the capture (pcap or pcapng), opened by libpcap from memory
 * Seeds: the shipped captures with their key logs, and small crafted captures.
 *
 * Oracles (a divergence aborts naming what differed):
 *  1. Reassembly against a flat reference model, written here from the raw segments the
 *     capture reader logged (keep_raw): per direction an array indexed by stream offset,
 *     filled segment by segment, remembering bytes written twice with different values. The
 *     delivered stream (the flow's chunks, concatenated) must have exactly the model's
 *     contiguous-prefix length, equal its bytes wherever no conflicting overlap was
 *     captured, and come as chunks that each lie inside one captured segment, in order.
 *  2. Per session: the C payloads before T are a prefix of the client stream (the whole
 *     stream when there is no TLS and no cut), the S payloads before T of the server stream.
 *  3. Per session: the file parses back (fz_session_parse/next) to the header and the events
 *     the importer built, byte for byte (payloads over 65535 bytes as consecutive pieces).
 *  4. No crash, no leak (ASan), bounded memory: streams are limited to 1 MiB per direction.
 * Deterministic: no clock, no randomness.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcap_import.h"
#include "session.h"

#define STREAM_LIMIT (1u << 20)

static void die(const char *what, size_t a, size_t b)
{
    fprintf(stderr, "pcap_import: %s (%zu vs %zu)\n", what, a, b);
    abort();
}

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

/* Oracle 1 for one direction of one flow. Returns the model's prefix length. */
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
        die("delivered stream length differs from the model's contiguous prefix", (size_t)r->next,
            prefix);
    uint64_t pos = 0;
    for (size_t i = 0; i < f->nchunks; i++) {
        const struct cap_chunk *c = &f->chunks[i];
        if (c->dir != d)
            continue;
        if (c->off != pos)
            die("chunks are not contiguous", (size_t)c->off, (size_t)pos);
        if (c->len == 0)
            die("empty chunk", 0, 0);
        for (size_t k = 0; k < c->len; k++)
            if (m->have[pos + k] == 1 && m->b[pos + k] != c->data[k])
                die("delivered byte differs from the model", (size_t)(pos + k), 0);
        pos += c->len;
    }
    if (pos != r->next)
        die("chunks do not add up to the delivered length", (size_t)pos, (size_t)r->next);
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
                die("session holds more plaintext than the stream", total, stream);
            if (f->chunks[ci].data[co] != ev->p[k])
                die("session plaintext differs from the reassembled stream", total, 0);
            co++;
            total++;
        }
    }
    if (!s->tls_seen && !s->cut && total != stream)
        die("a session without TLS or cut lost stream bytes", total, stream);
}

/* Oracle 3: the file parses back to the events. */
static void check_file(const struct cap_imp_session *s)
{
    struct fz_session ps;
    fz_session_parse(&ps, s->file, s->file_len);
    if (ps.proto != s->proto || ps.mode != s->mode)
        die("header proto/mode do not parse back", ps.proto, s->proto);
    size_t cur = 0;
    struct fz_event ev;
    for (size_t e = 0; e < s->nev; e++) {
        const struct cap_imp_event *ie = &s->ev[e];
        size_t done = 0;
        do {
            if (!fz_session_next(&ps, &cur, &ev))
                die("the file has fewer events than built", e, s->nev);
            if (ev.type != ie->type)
                die("event type does not parse back", ev.type, ie->type);
            if (ev.n > ie->n - done || memcmp(ev.p, ie->p + done, ev.n) != 0)
                die("event payload does not parse back", e, ev.n);
            done += ev.n;
        } while (done < ie->n);
    }
    if (fz_session_next(&ps, &cur, &ev))
        die("the file has more events than built", s->nev, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t k = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0;
    size_t off = size >= 2 ? 2 : size;
    if (k > size - off)
        k = size - off;
    const uint8_t *kl = k ? data + off : NULL;
    const uint8_t *cap = data + off + k;
    size_t caplen = size - off - k;

    struct cap_import_opts o;
    memset(&o, 0, sizeof o);
    o.max_stream = STREAM_LIMIT;
    o.keep_raw = 1;
    struct cap_import *im = calloc(1, sizeof *im);
    if (!im)
        return 0;
    if (cap_import_run(im, cap, caplen, kl, k, &o) == 0) {
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
    cap_import_free(im);
    free(im);
    return 0;
}
