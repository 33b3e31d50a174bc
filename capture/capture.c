/* capture.c - capture bytes -> TCP connections (see capture.h). */
#include "capture.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct pkt_tcp {
    int af;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    const uint8_t *payload;
    size_t len;
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

static void flow_deliver(void *ctx, int dir, uint32_t pkt, uint64_t off, const uint8_t *p,
                         size_t n)
{
    struct cap_flow *f = ctx;
    if (f->oom)
        return;
    if (f->nchunks == f->capchunks) {
        size_t nc = f->capchunks ? f->capchunks * 2 : 16;
        struct cap_chunk *q = realloc(f->chunks, nc * sizeof *q);
        if (!q) {
            f->oom = 1;
            return;
        }
        f->chunks = q;
        f->capchunks = nc;
    }
    uint8_t *d = malloc(n ? n : 1);
    if (!d) {
        f->oom = 1;
        return;
    }
    memcpy(d, p, n);
    f->chunks[f->nchunks].pkt = pkt;
    f->chunks[f->nchunks].dir = (uint8_t)dir;
    f->chunks[f->nchunks].off = off;
    f->chunks[f->nchunks].len = n;
    f->chunks[f->nchunks].data = d;
    f->nchunks++;
}

static unsigned flow_hash(const struct pkt_tcp *t)
{
    /* symmetric in the two endpoints */
    unsigned h = (unsigned)t->sport ^ t->dport;
    for (int i = 0; i < 16; i++)
        h = (h * 31u + (t->src[i] ^ t->dst[i])) & 0xffffffu;
    return h % 1024u;
}

static int endpoint_is(const struct cap_flow *f, int i, const uint8_t *a, uint16_t port)
{
    return f->port[i] == port && memcmp(f->addr[i], a, 16) == 0;
}

static struct cap_flow *flow_new(struct cap_capture *c, const struct pkt_tcp *t, uint32_t pkt,
                                const struct cap_capture_opts *o)
{
    if (c->nflows >= CAP_CAPTURE_FLOWS_MAX) {
        c->flows_dropped++;
        return NULL;
    }
    if (c->nflows == c->capflows) {
        size_t nc = c->capflows ? c->capflows * 2 : 8;
        struct cap_flow **q = realloc(c->flows, nc * sizeof *q);
        if (!q)
            return NULL;
        c->flows = q;
        c->capflows = nc;
    }
    struct cap_flow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->af = t->af;
    memcpy(f->addr[0], t->src, 16);
    memcpy(f->addr[1], t->dst, 16);
    f->port[0] = t->sport;
    f->port[1] = t->dport;
    f->first_pkt = pkt;
    for (int i = 0; i < 2; i++)
        cap_reasm_init(&f->r[i], i, flow_deliver, f, o ? o->max_stream : 0);
    c->flows[c->nflows++] = f;
    unsigned h = flow_hash(t);
    f->hnext = c->hash[h];
    c->hash[h] = f;
    return f;
}

static void flow_unhash(struct cap_capture *c, struct cap_flow *f, unsigned h)
{
    for (struct cap_flow **pp = &c->hash[h]; *pp; pp = &(*pp)->hnext)
        if (*pp == f) {
            *pp = f->hnext;
            return;
        }
}

static void log_raw(struct cap_flow *f, const struct pkt_tcp *t, int dir, uint32_t pkt)
{
    if (f->oom)
        return;
    if (f->nraw == f->capraw) {
        size_t nc = f->capraw ? f->capraw * 2 : 16;
        struct cap_rawseg *q = realloc(f->raw, nc * sizeof *q);
        if (!q) {
            f->oom = 1;
            return;
        }
        f->raw = q;
        f->capraw = nc;
    }
    uint8_t *d = malloc(t->len ? t->len : 1);
    if (!d) {
        f->oom = 1;
        return;
    }
    memcpy(d, t->payload, t->len);
    struct cap_rawseg *s = &f->raw[f->nraw++];
    s->pkt = pkt;
    s->dir = (uint8_t)dir;
    s->flags = t->flags;
    s->seq = t->seq;
    s->ack = t->ack;
    s->len = t->len;
    s->data = d;
}

static void handle_tcp(struct cap_capture *c, const struct pkt_tcp *t, uint32_t pkt,
                       const struct cap_capture_opts *o)
{
    unsigned h = flow_hash(t);
    struct cap_flow *f = NULL;
    int dir = 0;
    for (struct cap_flow *g = c->hash[h]; g; g = g->hnext) {
        if (endpoint_is(g, 0, t->src, t->sport) && endpoint_is(g, 1, t->dst, t->dport)) {
            f = g;
            dir = 0;
            break;
        }
        if (endpoint_is(g, 1, t->src, t->sport) && endpoint_is(g, 0, t->dst, t->dport)) {
            f = g;
            dir = 1;
            break;
        }
    }
    int pure_syn = (t->flags & (TH_SYN | TH_ACK)) == TH_SYN;
    if (f && pure_syn) {
        int closed = f->rst || (f->fin[0] && f->fin[1]);
        int other_isn = (f->syn[dir] && f->isn[dir] != t->seq) ||
                        (!f->syn[dir] && (f->r[0].next || f->r[1].next));
        if (closed || other_isn) {
            flow_unhash(c, f, h);
            f = NULL;
        }
    }
    if (!f) {
        f = flow_new(c, t, pkt, o);
        dir = 0;
        if (!f)
            return;
    }
    f->last_pkt = pkt;
    if (o && o->keep_raw)
        log_raw(f, t, dir, pkt);
    if (t->flags & TH_SYN) {
        if (t->flags & TH_ACK)
            f->synack[dir] = 1;
        else
            f->syn[dir] = 1;
        f->isn[dir] = t->seq;
        cap_reasm_syn(&f->r[dir], t->seq);
    }
    if (t->flags & TH_RST)
        f->rst = 1;
    if (t->flags & TH_FIN)
        f->fin[dir] = 1;
    /* data carried by a SYN starts one past its sequence number */
    uint32_t seq = (t->flags & TH_SYN) ? cap_seq_add(t->seq, 1) : t->seq;
    if (!(t->flags & TH_RST) || t->len)
        cap_reasm_segment(&f->r[dir], pkt, seq, t->payload, t->len, t->flags & TH_FIN);
    if (t->flags & TH_ACK)
        cap_reasm_ack(&f->r[!dir], pkt, t->ack);
}

/* Returns 1 with *t filled for a TCP segment, 0 when the packet is to be
 * skipped (counted). */
static int parse_ip(struct cap_capture *c, const uint8_t *p, size_t n, int wire_short,
                    struct pkt_tcp *t)
{
    memset(t, 0, sizeof *t);
    if (n < 1) {
        c->bad_headers++;
        return 0;
    }
    unsigned v = p[0] >> 4;
    uint8_t proto;
    const uint8_t *l4;
    size_t l4n;
    if (v == 4) {
        if (n < 20) {
            c->bad_headers++;
            return 0;
        }
        size_t ihl = (size_t)(p[0] & 15) * 4, tot = be16(p + 2);
        if (ihl < 20 || ihl > n) {
            c->bad_headers++;
            return 0;
        }
        if (tot < ihl) {
            /* TSO captures carry 0 here; take the frame's length */
            if (tot != 0) {
                c->bad_headers++;
                return 0;
            }
            tot = n;
        }
        if (tot > n) {
            if (!wire_short) {
                c->bad_headers++;
                return 0;
            }
            tot = n; /* the frame was cut by the snap length */
        }
        if ((be16(p + 6) & 0x3fff) != 0) { /* MF or a fragment offset */
            c->fragments++;
            return 0;
        }
        proto = p[9];
        t->af = 4;
        memcpy(t->src, p + 12, 4);
        memcpy(t->dst, p + 16, 4);
        l4 = p + ihl;
        l4n = tot - ihl;
    } else if (v == 6) {
        if (n < 40) {
            c->bad_headers++;
            return 0;
        }
        size_t plen = be16(p + 4);
        proto = p[6];
        t->af = 6;
        memcpy(t->src, p + 8, 16);
        memcpy(t->dst, p + 24, 16);
        l4 = p + 40;
        l4n = n - 40;
        if (plen && plen < l4n)
            l4n = plen;
        else if (plen > l4n && !wire_short) {
            c->bad_headers++;
            return 0;
        }
        /* extension headers */
        for (int k = 0; k < 16; k++) {
            if (proto == 0 || proto == 43 || proto == 60) {
                if (l4n < 8) {
                    c->bad_headers++;
                    return 0;
                }
                size_t hl = ((size_t)l4[1] + 1) * 8;
                if (hl > l4n) {
                    c->bad_headers++;
                    return 0;
                }
                proto = l4[0];
                l4 += hl;
                l4n -= hl;
            } else if (proto == 44) {
                c->fragments++;
                return 0;
            } else {
                break;
            }
        }
    } else {
        c->not_ip++;
        return 0;
    }
    if (proto != 6) {
        c->not_tcp++;
        return 0;
    }
    if (l4n < 20) {
        c->bad_headers++;
        return 0;
    }
    size_t doff = (size_t)(l4[12] >> 4) * 4;
    if (doff < 20 || doff > l4n) {
        c->bad_headers++;
        return 0;
    }
    t->sport = be16(l4);
    t->dport = be16(l4 + 2);
    t->seq = be32(l4 + 4);
    t->ack = be32(l4 + 8);
    t->flags = l4[13];
    t->payload = l4 + doff;
    t->len = l4n - doff;
    return 1;
}

static const char *link_name(int dlt)
{
    const char *n = pcap_datalink_val_to_name(dlt);
    return n ? n : "unknown";
}

/* Strips the link-layer header: returns the network-layer bytes, or NULL (the
 * frame is counted as skipped). *ip_hint: 4/6 when the link header says so. */
static const uint8_t *strip_link(struct cap_capture *c, int dlt, const uint8_t *p, size_t *n)
{
    uint16_t et;
    size_t hl;
    switch (dlt) {
    case DLT_EN10MB:
        if (*n < 14)
            goto short_hdr;
        et = be16(p + 12);
        hl = 14;
        for (int k = 0; k < 2 && (et == 0x8100 || et == 0x88a8); k++) {
            if (*n < hl + 4)
                goto short_hdr;
            et = be16(p + hl + 2);
            hl += 4;
        }
        break;
    case DLT_LINUX_SLL:
        if (*n < 16)
            goto short_hdr;
        et = be16(p + 14);
        hl = 16;
        break;
    case DLT_LINUX_SLL2:
        if (*n < 20)
            goto short_hdr;
        et = be16(p);
        hl = 20;
        break;
    case DLT_NULL:
    case DLT_LOOP: {
        if (*n < 4)
            goto short_hdr;
        uint32_t fam = dlt == DLT_LOOP ? be32(p)
                                       : (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if (dlt == DLT_NULL && (fam & 0xffff) == 0 && fam) /* written big-endian */
            fam = be32(p);
        hl = 4;
        if (fam == 2)
            et = 0x0800;
        else if (fam == 10 || fam == 24 || fam == 28 || fam == 30)
            et = 0x86dd;
        else
            et = 0;
        break;
    }
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return p;
    default:
        return NULL;
    }
    if (et != 0x0800 && et != 0x86dd) {
        c->not_ip++;
        return NULL;
    }
    *n -= hl;
    return p + hl;
short_hdr:
    c->bad_headers++;
    return NULL;
}

static int link_supported(int dlt)
{
    return dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2 ||
           dlt == DLT_NULL || dlt == DLT_LOOP || dlt == DLT_RAW || dlt == DLT_IPV4 ||
           dlt == DLT_IPV6;
}

int cap_capture_read(struct cap_capture *c, const uint8_t *buf, size_t len,
                    const struct cap_capture_opts *o, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    memset(c, 0, sizeof *c);
    if (len == 0) {
        snprintf(err, errlen, "empty file, not a capture");
        return -1;
    }
    FILE *fp = fmemopen((void *)buf, len, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open the capture in memory");
        return -1;
    }
    pcap_t *pc = pcap_fopen_offline(fp, ebuf);
    if (!pc) {
        fclose(fp);
        snprintf(err, errlen, "not a readable pcap/pcapng capture (libpcap: %s)", ebuf);
        return -1;
    }
    c->linktype = pcap_datalink(pc);
    c->linktype_name = link_name(c->linktype);
    if (!link_supported(c->linktype)) {
        snprintf(err, errlen,
                 "unsupported link type %d (%s); supported: EN10MB, LINUX_SLL, LINUX_SLL2, "
                 "NULL, LOOP, RAW, IPV4, IPV6",
                 c->linktype, c->linktype_name);
        pcap_close(pc);
        return -1;
    }
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *d;
        int rc = pcap_next_ex(pc, &h, &d);
        if (rc == PCAP_ERROR_BREAK)
            break;
        if (rc != 1) {
            c->truncated_file = 1;
            snprintf(c->warn, sizeof c->warn, "%s", pcap_geterr(pc));
            break;
        }
        c->packets++;
        size_t n = h->caplen;
        int wire_short = h->caplen < h->len;
        const uint8_t *ip = strip_link(c, c->linktype, d, &n);
        if (!ip)
            continue;
        struct pkt_tcp t;
        if (!parse_ip(c, ip, n, wire_short, &t))
            continue;
        if (wire_short) {
            /* the payload is incomplete: keep the header facts, drop the data */
            c->short_frames++;
            t.len = 0;
        }
        c->tcp_packets++;
        handle_tcp(c, &t, c->packets, o);
    }
    pcap_close(pc); /* closes fp */
    for (size_t i = 0; i < c->nflows; i++)
        for (int d = 0; d < 2; d++)
            cap_reasm_finish(&c->flows[i]->r[d], &c->flows[i]->gap[d]);
    if (c->packets == 0 && c->truncated_file) {
        snprintf(err, errlen, "no packet could be read (libpcap: %s)", c->warn);
        return -1;
    }
    return 0;
}

void cap_capture_free(struct cap_capture *c)
{
    for (size_t i = 0; i < c->nflows; i++) {
        struct cap_flow *f = c->flows[i];
        for (size_t k = 0; k < f->nchunks; k++)
            free(f->chunks[k].data);
        for (size_t k = 0; k < f->nraw; k++)
            free(f->raw[k].data);
        free(f->chunks);
        free(f->raw);
        cap_reasm_free(&f->r[0]);
        cap_reasm_free(&f->r[1]);
        free(f);
    }
    free(c->flows);
    memset(c, 0, sizeof *c);
}

void cap_flow_endpoint(const struct cap_flow *f, int i, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (f->af == 4) {
        inet_ntop(AF_INET, f->addr[i], a, sizeof a);
        snprintf(out, outlen, "%s:%u", a, f->port[i]);
    } else {
        inet_ntop(AF_INET6, f->addr[i], a, sizeof a);
        snprintf(out, outlen, "[%s]:%u", a, f->port[i]);
    }
}
