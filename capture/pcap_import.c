/* pcap_import.c - capture -> sessions (see pcap_import.h). */
#include "pcap_import.h"

#include <ctype.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_follow.h"

static const struct cap_import_port default_ports[] = {
    {25, FZ_PROTO_SMTP, 0},  {587, FZ_PROTO_SMTP, 0}, {465, FZ_PROTO_SMTP, 1},
    {143, FZ_PROTO_IMAP, 0}, {993, FZ_PROTO_IMAP, 1}, {110, FZ_PROTO_POP3, 0},
    {995, FZ_PROTO_POP3, 1},
};

const char *cap_proto_name(enum fz_proto p)
{
    return p == FZ_PROTO_SMTP ? "smtp" : p == FZ_PROTO_IMAP ? "imap" : "pop3";
}

const char *cap_mode_name(enum fz_mode m)
{
    return m == FZ_MODE_PLAIN ? "plaintext" : m == FZ_MODE_STARTTLS ? "starttls" : "implicit";
}

const char *cap_tls_status_name(enum cap_tls_status t)
{
    switch (t) {
    case CAP_TLS_NONE: return "no TLS";
    case CAP_TLS_DECRYPTED: return "decrypted";
    case CAP_TLS_NO_KEYLOG: return "not decrypted: no key log";
    case CAP_TLS_NO_KEY: return "not decrypted: no key";
    case CAP_TLS_UNSUPPORTED: return "not decrypted: unsupported";
    case CAP_TLS_FAILED: return "not decrypted: failed";
    case CAP_TLS_NO_SERVER_TLS: return "server did not answer with TLS";
    case CAP_TLS_CUT: return "not decrypted: cut by a gap";
    }
    return "?";
}

const char *cap_tls_version_name(uint16_t v)
{
    switch (v) {
    case 0x0301: return "TLSv1.0";
    case 0x0302: return "TLSv1.1";
    case 0x0303: return "TLSv1.2";
    case 0x0304: return "TLSv1.3";
    default: return "TLS?";
    }
}

size_t cap_import_targets(const struct cap_imp_session *s, const char *names[2])
{
    size_t n = 0;
    if (s->proto == FZ_PROTO_IMAP)
        names[n++] = "imap";
    names[n++] = "starttls";
    return n;
}

static void note(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *dst, size_t cap, const char *fmt, ...)
{
    if (dst[0])
        return; /* the first reason wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* ---- building one session ---- */

struct builder {
    struct cap_imp_session *s;
    int tls_marked;
    int oom;
};

static void add_event(struct builder *b, enum fz_ev_type t, uint32_t pkt, const uint8_t *p,
                      size_t n)
{
    struct cap_imp_session *s = b->s;
    if (b->oom)
        return;
    if (s->nev == s->capev) {
        size_t nc = s->capev ? s->capev * 2 : 32;
        struct cap_imp_event *q = realloc(s->ev, nc * sizeof *q);
        if (!q) {
            b->oom = 1;
            return;
        }
        s->ev = q;
        s->capev = nc;
    }
    uint8_t *d = malloc(n ? n : 1);
    if (!d) {
        b->oom = 1;
        return;
    }
    if (n)
        memcpy(d, p, n);
    s->ev[s->nev].type = t;
    s->ev[s->nev].pkt = pkt;
    s->ev[s->nev].n = n;
    s->ev[s->nev].p = d;
    s->nev++;
    if (t == FZ_EV_CLIENT)
        s->bytes[0] += n;
    else if (t == FZ_EV_SERVER)
        s->bytes[1] += n;
}

static void on_record(void *ctx, int from_server, uint32_t pkt, const uint8_t *p, size_t n)
{
    struct builder *b = ctx;
    if (n == 0)
        return;
    if (!b->tls_marked) {
        add_event(b, FZ_EV_TLS, pkt, NULL, 0);
        b->tls_marked = 1;
    }
    add_event(b, from_server ? FZ_EV_SERVER : FZ_EV_CLIENT, pkt, p, n);
}

/* A direction's delivered bytes, concatenated (before any cut). */
struct stream {
    uint8_t *p;
    size_t n;
};

static int gather(const struct cap_flow *f, int ep, struct stream *st)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nchunks; i++)
        if (f->chunks[i].dir == ep)
            n += f->chunks[i].len;
    st->p = malloc(n ? n : 1);
    st->n = 0;
    if (!st->p)
        return -1;
    for (size_t i = 0; i < f->nchunks; i++)
        if (f->chunks[i].dir == ep) {
            memcpy(st->p + st->n, f->chunks[i].data, f->chunks[i].len);
            st->n += f->chunks[i].len;
        }
    return 0;
}

static int is_tls_hello(const uint8_t *p, size_t n)
{
    return n >= 6 && p[0] == 0x16 && p[1] == 3 && p[2] <= 4 && (p[5] == 1 || p[5] == 2);
}

static int ci_eq(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n != k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (toupper(p[i]) != w[i])
            return 0;
    return 1;
}

static int ci_find(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    for (size_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && toupper(p[i + j]) == w[j])
            j++;
        if (j == k)
            return 1;
    }
    return 0;
}

/* Offset just past the client's STARTTLS/STLS command line, or -1. */
static long long starttls_command(enum fz_proto proto, const uint8_t *p, size_t n,
                                  size_t *line_start)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        if (!nl)
            return -1;
        size_t e = (size_t)(nl - p), le = e;
        if (le > i && p[le - 1] == '\r')
            le--;
        while (le > i && p[le - 1] == ' ')
            le--;
        const uint8_t *l = p + i;
        size_t ln = le - i;
        int hit = 0;
        if (proto == FZ_PROTO_SMTP)
            hit = ci_eq(l, ln, "STARTTLS");
        else if (proto == FZ_PROTO_POP3)
            hit = ci_eq(l, ln, "STLS");
        else {
            const uint8_t *sp = memchr(l, ' ', ln);
            hit = sp && sp > l && ci_eq(sp + 1, ln - (size_t)(sp + 1 - l), "STARTTLS");
        }
        if (hit) {
            *line_start = i;
            return (long long)(e + 1);
        }
        i = e + 1;
    }
    return -1;
}

/* Server bytes sent before the client byte at offset coff arrived (capture order). */
static uint64_t server_before(const struct cap_flow *f, int cl, int sv, uint64_t coff)
{
    uint64_t sbytes = 0;
    for (size_t i = 0; i < f->nchunks; i++) {
        const struct cap_chunk *ch = &f->chunks[i];
        if (ch->dir == cl && ch->off + ch->len > coff)
            break;
        if (ch->dir == sv)
            sbytes += ch->len;
    }
    return sbytes;
}

/* Line [*a, *e) (without CR LF) starting at i; returns the next line's offset, 0 at the end. */
static size_t next_line(const uint8_t *p, size_t n, size_t i, size_t *a, size_t *e)
{
    if (i >= n)
        return 0;
    const uint8_t *nl = memchr(p + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - p) : n;
    size_t le = end;
    if (le > i && p[le - 1] == '\r')
        le--;
    while (le > i && p[le - 1] == ' ')
        le--;
    *a = i;
    *e = le;
    return nl ? end + 1 : n;
}

static int ci_prefix(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (toupper(p[i]) != toupper((unsigned char)w[i]))
            return 0;
    return 1;
}

/* a word w in the line, delimited by space, '[', ']', '(' or the line's ends */
static int has_token(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    for (size_t i = 0; i + k <= n; i++) {
        if (i > 0 && p[i - 1] != ' ' && p[i - 1] != '[' && p[i - 1] != '(')
            continue;
        if (!ci_prefix(p + i, n - i, w))
            continue;
        if (i + k == n || p[i + k] == ' ' || p[i + k] == ']' || p[i + k] == ')')
            return 1;
    }
    return 0;
}

/* Did the server's plaintext [0, n) list STARTTLS (SMTP EHLO, IMAP capabilities) or STLS
 * (POP3 CAPA)? A reply text that merely mentions the word ("502 STARTTLS not supported")
 * does not count. Also sets *tls_required for an SMTP 530 before TLS, and an IMAP
 * LOGINDISABLED or [PRIVACYREQUIRED] (POP3: pop3_user_refused). */
static int server_offers(enum fz_proto proto, const uint8_t *p, size_t n, int *tls_required)
{
    size_t i = 0, a, e;
    int offers = 0;
    while ((i = next_line(p, n, i, &a, &e)) != 0) {
        const uint8_t *l = p + a;
        size_t ln = e - a;
        if (proto == FZ_PROTO_SMTP) {
            if (ln >= 12 && memcmp(l, "250", 3) == 0 && (l[3] == '-' || l[3] == ' ') &&
                ci_prefix(l + 4, ln - 4, "STARTTLS") && (ln == 12 || l[12] == ' '))
                offers = 1;
            if (ln >= 4 && memcmp(l, "530", 3) == 0 && (l[3] == '-' || l[3] == ' ') &&
                ci_find(l, ln, "STARTTLS"))
                *tls_required = 1;
        } else if (proto == FZ_PROTO_IMAP) {
            int caps = ln >= 2 && l[0] == '*' && l[1] == ' ' && has_token(l, ln, "CAPABILITY");
            if (caps && has_token(l, ln, "STARTTLS"))
                offers = 1;
            /* RFC 3501 6.2.3: LOGINDISABLED listed, or a login refused with PRIVACYREQUIRED
             * (RFC 5530): no login before TLS */
            if ((caps && has_token(l, ln, "LOGINDISABLED")) || has_token(l, ln, "PRIVACYREQUIRED"))
                *tls_required = 1;
        } else {
            if (ln >= 4 && ci_prefix(l, ln, "STLS") && (ln == 4 || l[4] == ' '))
                offers = 1;
        }
        if (i >= n)
            break;
    }
    return offers;
}

/* The server's reply to the STARTTLS command, looked for in its bytes from offset from on:
 * 1 accepted, -1 refused, 0 not found. SMTP: the first reply other than 250 (replies to
 * commands pipelined before it); IMAP: the tagged reply with the command's tag; POP3: the
 * first +OK / -ERR. */
static int starttls_reply(enum fz_proto proto, const uint8_t *p, size_t n, size_t from,
                          const uint8_t *tag, size_t tagn, int *code)
{
    size_t i = from, a, e;
    while (i < n && (i = next_line(p, n, i, &a, &e)) != 0) {
        const uint8_t *l = p + a;
        size_t ln = e - a;
        if (ln >= 5 && is_tls_hello(l, ln))
            return 0; /* the TLS handshake: no plaintext reply before it */
        if (proto == FZ_PROTO_SMTP) {
            if (ln >= 3 && isdigit(l[0]) && isdigit(l[1]) && isdigit(l[2]) &&
                (ln == 3 || l[3] == ' ' || l[3] == '-') && memcmp(l, "250", 3) != 0) {
                *code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
                return *code == 220 ? 1 : -1;
            }
        } else if (proto == FZ_PROTO_IMAP) {
            if (tagn && ln > tagn && memcmp(l, tag, tagn) == 0 && l[tagn] == ' ')
                return ci_prefix(l + tagn + 1, ln - tagn - 1, "OK") ? 1 : -1;
        } else {
            if (ci_prefix(l, ln, "+OK"))
                return 1;
            if (ci_prefix(l, ln, "-ERR"))
                return -1;
        }
    }
    return 0;
}

/* POP3: did the server answer a USER command the client sent in clear text (before offset
 * plain_end of the client stream) with -ERR? RFC 2595 2.3: a server may refuse clear-text
 * logins until STLS; the reply to USER (not PASS, whose -ERR may be a wrong password) is the
 * fact. Each USER's reply is the first +OK / -ERR the server sent after the command. */
static int pop3_user_refused(const struct cap_flow *f, int cl, int sv, const uint8_t *c, size_t cn,
                             const uint8_t *sp, size_t sn)
{
    size_t i = 0, a, e;
    while ((i = next_line(c, cn, i, &a, &e)) != 0) {
        int code = 0;
        if (e - a >= 5 && ci_prefix(c + a, e - a, "USER ") &&
            starttls_reply(FZ_PROTO_POP3, sp, sn, (size_t)server_before(f, cl, sv, e), NULL, 0,
                           &code) < 0)
            return 1;
        if (i >= cn)
            break;
    }
    return 0;
}

/* IMAP: the literal mode the server advertised (RFC 7888): 1 when a CAPABILITY it sent (before
 * or after TLS, untagged or as a response code) lists LITERAL- and none lists LITERAL+, else 0
 * (LITERAL+, or neither: the session format has no third mode). */
static int imap_literal_minus(const struct cap_imp_session *s)
{
    int minus = 0, plus = 0;
    for (size_t k = 0; k < s->nev; k++) {
        const uint8_t *p = s->ev[k].p;
        size_t n = s->ev[k].n, i = 0, a, e;
        if (s->ev[k].type != FZ_EV_SERVER)
            continue;
        while ((i = next_line(p, n, i, &a, &e)) != 0) {
            if (e - a >= 2 && p[a] == '*' && has_token(p + a, e - a, "CAPABILITY")) {
                minus |= has_token(p + a, e - a, "LITERAL-");
                plus |= has_token(p + a, e - a, "LITERAL+");
            }
            if (i >= n)
                break;
        }
    }
    return minus && !plus;
}

static size_t longest_line(const struct cap_imp_session *s)
{
    size_t best = 0, cur = 0;
    for (size_t i = 0; i < s->nev; i++) {
        if (s->ev[i].type != FZ_EV_CLIENT)
            continue;
        for (size_t k = 0; k < s->ev[i].n; k++) {
            cur++;
            if (s->ev[i].p[k] == '\n') {
                if (cur > best)
                    best = cur;
                cur = 0;
            }
        }
    }
    return cur > best ? cur : best;
}

static int write_file(struct cap_imp_session *s)
{
    struct fz_buf b = {0};
    size_t line = longest_line(s), lit = (size_t)s->bytes[0];
    /* version 1 (readable by every older build) unless the header needs LITERAL- or TLS
     * unavailable, which only version 3 can say (corpus/FORMAT.md, "Versions") */
    unsigned version = s->flags & FZ_SFLAG_TLS_UNAVAILABLE ? FZ_SESSION_VERSION_TLS_UNAVAILABLE
                       : s->flags & FZ_SFLAG_LITERAL_MINUS  ? FZ_SESSION_VERSION_LITERAL
                                                            : 1;
    fz_sbuf_header(&b, version, s->proto,
                   s->mode, s->flags,
                   fz_session_limits(line > 2048 ? line : 2048, lit > 65536 ? lit : 65536));
    for (size_t i = 0; i < s->nev; i++)
        fz_sbuf_event(&b, s->ev[i].type, s->ev[i].p, s->ev[i].n);
    if (b.oom) {
        fz_buf_free(&b);
        return -1;
    }
    s->file = b.p;
    s->file_len = b.n;
    cap_seed_id(s->file, s->file_len, s->id);
    return 0;
}

void cap_seed_id(const uint8_t *p, size_t n, char id[17])
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256(p, n, h);
    for (int i = 0; i < 8; i++)
        snprintf(id + 2 * i, 3, "%02x", h[i]);
}

static const struct cap_import_port *port_lookup(const struct cap_import_opts *o, uint16_t port)
{
    if (o)
        for (size_t i = 0; i < o->nports; i++)
            if (o->ports[i].port == port)
                return &o->ports[i];
    for (size_t i = 0; i < sizeof default_ports / sizeof default_ports[0]; i++)
        if (default_ports[i].port == port)
            return &default_ports[i];
    return NULL;
}

static int first_chunk_of(const struct cap_flow *f, int ep)
{
    for (size_t i = 0; i < f->nchunks; i++)
        if (f->chunks[i].dir == ep)
            return (int)i;
    return -1;
}

static int choose_client(const struct cap_flow *f, const struct cap_import_opts *o)
{
    for (int i = 0; i < 2; i++)
        if (f->syn[i] && !f->syn[!i])
            return i;
    for (int i = 0; i < 2; i++)
        if (f->synack[i] && !f->synack[!i])
            return !i;
    int k0 = port_lookup(o, f->port[0]) != NULL, k1 = port_lookup(o, f->port[1]) != NULL;
    if (k0 != k1)
        return k0 ? 1 : 0;
    int c = first_chunk_of(f, 0), d = first_chunk_of(f, 1);
    int first = c < 0 ? 1 : d < 0 ? 0 : (c < d ? 0 : 1);
    const struct cap_chunk *fc = &f->chunks[first == 0 ? c : d];
    if (c >= 0 || d >= 0) {
        if (is_tls_hello(fc->data, fc->len))
            return first;
    }
    return f->port[0] > f->port[1] ? 0 : 1;
}

static int sniff_proto(const struct stream *srv, enum fz_proto *p)
{
    const uint8_t *s = srv->p;
    size_t n = srv->n;
    if (n >= 4 && (memcmp(s, "* OK", 4) == 0 || (n >= 9 && memcmp(s, "* PREAUTH", 9) == 0))) {
        *p = FZ_PROTO_IMAP;
        return 1;
    }
    if (n >= 3 && memcmp(s, "+OK", 3) == 0) {
        *p = FZ_PROTO_POP3;
        return 1;
    }
    if (n >= 4 && memcmp(s, "220", 3) == 0 && (s[3] == ' ' || s[3] == '-')) {
        *p = FZ_PROTO_SMTP;
        return 1;
    }
    return 0;
}

static int grow_sessions(struct cap_import *im)
{
    if (im->ns < im->caps)
        return 0;
    size_t nc = im->caps ? im->caps * 2 : 8;
    struct cap_imp_session *q = realloc(im->s, nc * sizeof *q);
    if (!q)
        return -1;
    im->s = q;
    im->caps = nc;
    return 0;
}

static int import_flow(struct cap_import *im, size_t fi, const struct cap_import_opts *o)
{
    struct cap_flow *f = im->cap.flows[fi];
    if (f->nchunks == 0) {
        im->flows_empty++;
        return 0;
    }
    int cl = choose_client(f, o), sv = !cl;
    struct stream cs = {0}, ss = {0};
    if (gather(f, cl, &cs) || gather(f, sv, &ss)) {
        free(cs.p);
        free(ss.p);
        return -1;
    }
    int rc = -1;
    const struct cap_import_port *pm = port_lookup(o, f->port[sv]);
    enum fz_proto proto = FZ_PROTO_SMTP;
    int implicit_tls = is_tls_hello(cs.p, cs.n) && cs.p[5] == 1;
    if (pm)
        proto = pm->proto;
    else if (!sniff_proto(&ss, &proto)) {
        im->flows_unknown++;
        if (!im->unknown_note[0]) {
            char a[64], b[64];
            cap_flow_endpoint(f, cl, a, sizeof a);
            cap_flow_endpoint(f, sv, b, sizeof b);
            snprintf(im->unknown_note, sizeof im->unknown_note,
                     "%s -> %s: no mail protocol recognised (server port %u; give --port %u:PROTO)",
                     a, b, f->port[sv], f->port[sv]);
        }
        rc = 0;
        goto out;
    }
    /* a capture that starts inside TLS (after the handshake): the keys cannot be found and
     * the bytes are not the protocol; nothing to import */
    if (!implicit_tls && cs.n >= 5 && cs.p[0] >= 20 && cs.p[0] <= 23 && cs.p[1] == 3 &&
        cs.p[2] <= 4) {
        im->flows_midtls++;
        if (!im->midtls_note[0]) {
            char a[64], b[64];
            cap_flow_endpoint(f, cl, a, sizeof a);
            cap_flow_endpoint(f, sv, b, sizeof b);
            snprintf(im->midtls_note, sizeof im->midtls_note,
                     "%s -> %s: the capture starts inside TLS (no ClientHello); not imported", a,
                     b);
        }
        rc = 0;
        goto out;
    }
    if (grow_sessions(im))
        goto out;
    struct cap_imp_session *s = &im->s[im->ns++];
    memset(s, 0, sizeof *s);
    s->flow = fi;
    s->client = cl;
    cap_flow_endpoint(f, cl, s->client_ep, sizeof s->client_ep);
    cap_flow_endpoint(f, sv, s->server_ep, sizeof s->server_ep);
    s->proto = proto;
    s->no_syn = !f->syn[cl] && !f->synack[sv];

    /* where TLS starts, and what the server did (pcap_import.h, "Header") */
    uint64_t s_before_ch = 0; /* server bytes sent before the ClientHello arrived */
    s->greeted = ss.n > 0 && !is_tls_hello(ss.p, ss.n);
    if (implicit_tls) {
        s_before_ch = server_before(f, cl, sv, 0);
        s->client_hello_off = 0;
        if (s_before_ch == 0 && ss.n > 0 && is_tls_hello(ss.p, ss.n) && ss.p[5] == 2) {
            s->tls_seen = 1;
            s->server_tls = 1;
            s->tls_off[0] = s->tls_off[1] = 0;
        } else if (s_before_ch == 0 && ss.n == 0 && pm && pm->implicit) {
            /* no answer at all on an implicit-TLS port: TLS as far as the client went */
            s->tls_seen = 1;
            s->tls_off[0] = s->tls_off[1] = 0;
        } else {
            /* a greeting first, a plaintext answer, or no answer on a plaintext port: the
             * server is no TLS listener (the Q218430 path) */
            s->client_hello_plain = 1;
        }
    } else {
        size_t line0 = 0;
        long long cmd = starttls_command(proto, cs.p, cs.n, &line0);
        s->starttls_cmd = cmd >= 0;
        if (cmd >= 0) {
            uint64_t from = server_before(f, cl, sv, (uint64_t)cmd - 1);
            size_t tagn = 0;
            if (proto == FZ_PROTO_IMAP) {
                const uint8_t *sp = memchr(cs.p + line0, ' ', (size_t)cmd - line0);
                tagn = sp ? (size_t)(sp - (cs.p + line0)) : 0;
            }
            s->starttls_reply = starttls_reply(proto, ss.p, ss.n, (size_t)from, cs.p + line0, tagn,
                                               &s->reply_code);
            for (size_t k = (size_t)cmd; k + 6 <= cs.n; k++)
                if (is_tls_hello(cs.p + k, cs.n - k) && cs.p[k + 5] == 1) {
                    s->tls_seen = 1;
                    s->tls_off[0] = k;
                    s->client_hello_off = k;
                    break;
                }
        }
        if (s->tls_seen) {
            /* the server's TLS starts with the first byte it sent after the ClientHello */
            uint64_t sbytes = server_before(f, cl, sv, s->tls_off[0]);
            s_before_ch = sbytes;
            /* a client that did not wait for the reply: the server's plaintext reply lines
             * come after the ClientHello; its TLS starts at the ServerHello behind them */
            uint64_t k = sbytes;
            while (k < ss.n && !is_tls_hello(ss.p + k, ss.n - k)) {
                const uint8_t *nl = memchr(ss.p + k, '\n', (size_t)(ss.n - k));
                if (!nl)
                    break;
                k = (uint64_t)(nl - ss.p) + 1;
            }
            if (k < ss.n && is_tls_hello(ss.p + k, ss.n - k) && ss.p[k + 5] == 2)
                sbytes = k;
            s->tls_off[1] = sbytes;
            s->server_tls = sbytes < ss.n && is_tls_hello(ss.p + sbytes, ss.n - sbytes);
            if (s->starttls_reply < 0 || (sbytes < ss.n && !s->server_tls)) {
                /* refused, or answered in plaintext: the ClientHello never reached TLS */
                s->tls_seen = 0;
                s->client_hello_plain = 1;
            }
        }
    }
    if (s->client_hello_plain) {
        s->tls = CAP_TLS_NO_SERVER_TLS;
        note(s->tls_note, sizeof s->tls_note,
             "the client sent a ClientHello at client offset %llu, the server %s; kept as client "
             "writes on the plaintext side",
             (unsigned long long)s->client_hello_off,
             s->starttls_reply < 0 ? "had refused STARTTLS" : s->greeted ? "answered in plaintext"
                                                                          : "did not answer it");
    }
    {
        /* the server's plaintext: before its TLS, or all of it */
        size_t plain_n = s->tls_seen ? (size_t)s->tls_off[1] : ss.n;
        if (implicit_tls && !s->client_hello_plain)
            plain_n = 0;
        s->offered = server_offers(proto, ss.p, plain_n, &s->tls_required);
        if (proto == FZ_PROTO_POP3 &&
            pop3_user_refused(f, cl, sv, cs.p, s->tls_seen ? (size_t)s->tls_off[0] : cs.n, ss.p, plain_n))
            s->tls_required = 1;
    }
    int accepted = s->starttls_reply > 0 || (s->starttls_cmd && s->server_tls);
    if (implicit_tls && s->tls_seen) {
        s->mode = FZ_MODE_IMPLICIT;
        s->flags = FZ_SFLAG_CERT;
    } else if (accepted || (s->offered && !s->starttls_cmd)) {
        s->mode = FZ_MODE_STARTTLS;
        s->flags = FZ_SFLAG_CERT;
    } else if (proto == FZ_PROTO_SMTP && s->starttls_reply < 0 && s->reply_code == 454) {
        /* RFC 3207 4: 454 "TLS not available due to temporary reason": the listener has a
         * certificate it cannot use (postfix: TLS set-up failed), not none (that is 502):
         * corpus/FORMAT.md flags bit 3, version 3 */
        s->mode = FZ_MODE_STARTTLS;
        s->flags = FZ_SFLAG_CERT | FZ_SFLAG_TLS_UNAVAILABLE;
    } else if (s->offered) {
        s->mode = FZ_MODE_STARTTLS; /* capable, but no certificate to offer */
        s->flags = 0;
    } else {
        s->mode = FZ_MODE_PLAIN;
        s->flags = 0;
    }
    if (s->tls_required && s->mode == FZ_MODE_PLAIN) {
        /* TLS required where STARTTLS was never offered: the listener is STARTTLS-capable
         * without a certificate (a plain listener cannot require TLS: docs/listen.md), which
         * is what a replay must run to answer as the server did (IMAP LOGINDISABLED, POP3
         * -ERR to USER) */
        s->mode = FZ_MODE_STARTTLS;
    }
    if (s->tls_required)
        s->flags |= FZ_SFLAG_TLS_REQUIRED;
    if ((s->flags & FZ_SFLAG_TLS_UNAVAILABLE) && s->offered)
        note(s->replay_note, sizeof s->replay_note,
             "the server listed STARTTLS and answered it 454 (TLS temporarily unavailable); a "
             "replay (tls-unavailable) answers 454 too but does not list STARTTLS: libmx offers "
             "only what it can start (RFC 3207 4)");

    /* the cut from gaps */
    uint32_t cut_pkt = UINT32_MAX;
    int gap_dir = -1;
    uint64_t gap_off = 0;
    for (int d = 0; d < 2; d++) {
        const struct cap_reasm_gap *g = &f->gap[d];
        if (g->present && g->pkt < cut_pkt) {
            cut_pkt = g->pkt;
            gap_dir = d == cl ? 0 : 1;
            gap_off = g->off;
            s->cut = 1;
            s->cut_note[0] = 0;
            note(s->cut_note, sizeof s->cut_note,
                 "gap in the %s stream at offset %llu (%llu byte(s) missing: %s); session cut "
                 "before packet %u",
                 d == cl ? "client" : "server", (unsigned long long)g->off,
                 (unsigned long long)g->missing, g->why ? g->why : "?", g->pkt);
        }
    }

    struct builder b = {s, 0, 0};
    struct cap_follow *fw = NULL;
    if (s->tls_seen) {
        if (!im->have_keylog) {
            s->tls = CAP_TLS_NO_KEYLOG;
            note(s->tls_note, sizeof s->tls_note,
                 "TLS not decrypted (no key log given); session cut at the ClientHello");
        } else {
            fw = calloc(1, sizeof *fw);
            if (!fw)
                goto out;
            cap_follow_init(fw, &im->kl, on_record, &b);
            s->tls = CAP_TLS_DECRYPTED;
        }
    }
    int stopped = 0;
    for (size_t i = 0; i < f->nchunks && !stopped && !b.oom; i++) {
        const struct cap_chunk *ch = &f->chunks[i];
        if (ch->pkt >= cut_pkt)
            break;
        int d = ch->dir == cl ? 0 : 1;
        uint64_t pe = s->tls_seen ? s->tls_off[d] : UINT64_MAX;
        uint64_t a = ch->off, e = ch->off + ch->len;
        if (a < pe) {
            uint64_t m = e < pe ? e : pe;
            add_event(&b, d ? FZ_EV_SERVER : FZ_EV_CLIENT, ch->pkt, ch->data, (size_t)(m - a));
        }
        if (e > pe) {
            uint64_t from = a > pe ? a : pe;
            if (!fw) {
                stopped = 1;
                break;
            }
            enum cap_follow_status st =
                cap_follow_feed(fw, d, ch->pkt, ch->data + (from - a), (size_t)(e - from));
            if (st != CAP_FOLLOW_OK)
                stopped = 1;
        }
    }
    if (fw) {
        s->tls_version = fw->version;
        s->tls_suite = fw->suite;
        s->tls_etm = fw->etm;
        s->tls_key_lookup = fw->have_ch && fw->have_sh;
        if (fw->status != CAP_FOLLOW_OK) {
            s->tls = fw->status == CAP_FOLLOW_NO_KEY       ? CAP_TLS_NO_KEY
                     : fw->status == CAP_FOLLOW_UNSUPPORTED ? CAP_TLS_UNSUPPORTED
                                                           : CAP_TLS_FAILED;
            note(s->tls_note, sizeof s->tls_note, "%s; session cut there", fw->note);
        } else if (!fw->have_sh && gap_dir >= 0) {
            s->tls = CAP_TLS_CUT;
            note(s->tls_note, sizeof s->tls_note,
                 "not followed: the gap at offset %llu in the %s stream comes before the %s",
                 (unsigned long long)gap_off, gap_dir ? "server" : "client",
                 fw->have_ch ? "ServerHello" : "ClientHello");
        } else if (!fw->have_sh) {
            s->tls = CAP_TLS_FAILED;
            note(s->tls_note, sizeof s->tls_note, "no ServerHello in the capture");
        } else if (fw->d[0].in.bytes || fw->d[1].in.bytes) {
            note(s->tls_note, sizeof s->tls_note,
                 "an incomplete TLS record at the end (%zu client, %zu server bytes) dropped",
                 fw->d[0].in.bytes, fw->d[1].in.bytes);
        }
        cap_follow_free(fw);
        free(fw);
    }
    if (b.oom)
        goto out;
    if (s->tls_seen && s->tls != CAP_TLS_DECRYPTED && !s->cut) {
        /* TLS not followed: the session ends before the ClientHello (or where it stopped) */
        s->cut = 1;
        note(s->cut_note, sizeof s->cut_note, "at the TLS handshake (TLS not decrypted, above)");
    }
    /* the literal mode from the server's capabilities, decrypted ones included (RFC 7888) */
    if (proto == FZ_PROTO_IMAP && imap_literal_minus(s))
        s->flags |= FZ_SFLAG_LITERAL_MINUS;
    if (write_file(s))
        goto out;
    rc = 0;
out:
    free(cs.p);
    free(ss.p);
    return rc;
}

int cap_import_run(struct cap_import *im, const uint8_t *cap, size_t caplen,
                  const uint8_t *keylog, size_t keylog_len, const struct cap_import_opts *o)
{
    memset(im, 0, sizeof *im);
    if (keylog) {
        if (cap_keylog_parse(&im->kl, keylog, keylog_len)) {
            snprintf(im->err, sizeof im->err, "out of memory reading the key log");
            return -1;
        }
        im->have_keylog = 1;
    }
    struct cap_capture_opts co = {o ? o->max_stream : 0, o ? o->keep_raw : 0};
    if (cap_capture_read(&im->cap, cap, caplen, &co, im->err, sizeof im->err))
        return -1;
    for (size_t i = 0; i < im->cap.nflows; i++) {
        if (im->cap.flows[i]->oom) {
            snprintf(im->err, sizeof im->err, "out of memory reassembling connection %zu", i + 1);
            return -1;
        }
        if (import_flow(im, i, o)) {
            snprintf(im->err, sizeof im->err, "out of memory importing connection %zu", i + 1);
            return -1;
        }
    }
    return 0;
}

void cap_import_free(struct cap_import *im)
{
    for (size_t i = 0; i < im->ns; i++) {
        struct cap_imp_session *s = &im->s[i];
        for (size_t k = 0; k < s->nev; k++)
            free(s->ev[k].p);
        free(s->ev);
        free(s->file);
    }
    free(im->s);
    cap_capture_free(&im->cap);
    cap_keylog_free(&im->kl);
    memset(im, 0, sizeof *im);
}
