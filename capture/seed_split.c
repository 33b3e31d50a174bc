/* seed_split.c - see seed_split.h. */
#include "seed_split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

struct part;

/* One change to the client stream: del bytes at off left out, ins written in their place. */
struct edit {
    size_t off, del;
    char ins[24];
    size_t ins_len;
};

#define MAX_EDITS 64 /* two per shortened literal: the count and the octets */

struct splitter {
    struct fz_session s;
    size_t hdr_len;           /* bytes of the file before the events */
    const uint8_t *file;
    struct fz_event *ev;      /* every event */
    size_t nev;
    size_t *c_off;            /* client stream offset of each event (client events only) */
    struct fz_buf stream;     /* the client stream: every C payload */
    struct edit edit[MAX_EDITS];
    size_t nedit;
    struct part *parts;       /* the literals / messages of the stream (no window starts in one) */
    size_t nparts;
    size_t prelude;           /* events [0, prelude) up to and with the first T: the TLS state a
                               * later window needs (0: no TLS in the session) */
};

/* p[0..n) equals w, letters in either case (w is lower case) */
static int lower_eq(const uint8_t *p, const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i] >= 'A' && p[i] <= 'Z' ? (uint8_t)(p[i] + 32) : p[i];
        if (c != (uint8_t)w[i])
            return 0;
    }
    return 1;
}

static int add_edit(struct splitter *sp, size_t off, size_t del, const char *ins)
{
    if (sp->nedit == MAX_EDITS)
        return -1;
    struct edit *e = &sp->edit[sp->nedit++];
    e->off = off;
    e->del = del;
    e->ins_len = ins ? strlen(ins) : 0;
    if (e->ins_len)
        memcpy(e->ins, ins, e->ins_len);
    return 0;
}

/* A long part of the client stream that may lose its middle. */
struct part {
    size_t start, end;          /* the octets / message lines: stream[start..end) */
    size_t count_off, count_len; /* IMAP: the digits of the marker; SMTP: 0, 0 */
    int lines;                  /* SMTP: cut at line starts only */
};

#define MAX_PARTS 32

/* IMAP client literals: "{N}", "{N+}", "~{N}" followed by CRLF (RFC 3501 4.3, RFC 7888, RFC
 * 3516). A scan of the bytes, not a parse: a marker inside a quoted string is taken for a
 * literal too, which at worst shortens bytes that were no literal. */
static size_t imap_parts(const uint8_t *p, size_t n, struct part *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        if (p[i] != '{')
            continue;
        size_t d = i + 1, v = 0;
        while (d < n && p[d] >= '0' && p[d] <= '9' && d - i <= 10)
            v = v * 10 + (size_t)(p[d++] - '0');
        size_t digits = d - i - 1;
        if (digits == 0 || d - i > 10)
            continue;
        size_t close = d < n && p[d] == '+' ? d + 1 : d;
        if (close + 2 >= n || p[close] != '}' || p[close + 1] != '\r' || p[close + 2] != '\n')
            continue;
        size_t start = close + 3, end = v > n - start ? n : start + v;
        out[k].start = start;
        out[k].end = end;
        out[k].count_off = i + 1;
        out[k].count_len = digits;
        out[k].lines = 0;
        k++;
        i = end - 1; /* the octets are no commands */
    }
    return k;
}

/* SMTP messages: after a "DATA" line, up to the line "." (RFC 5321 4.1.1.4); the part is the
 * message's lines, the final "." line excluded. */
static size_t smtp_parts(const uint8_t *p, size_t n, struct part *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i + 6 <= n && k < cap; i++) {
        if ((i && p[i - 1] != '\n') || !lower_eq(p + i, "data\r\n", 6))
            continue;
        size_t start = i + 6, end = start;
        /* the message ends at CRLF "." CRLF; a message that starts with "." CRLF is empty */
        if (!(n - start >= 3 && !memcmp(p + start, ".\r\n", 3))) {
            const uint8_t *q = NULL;
            for (size_t j = start; j + 5 <= n; j++)
                if (!memcmp(p + j, "\r\n.\r\n", 5)) {
                    q = p + j;
                    break;
                }
            end = q ? (size_t)(q - p) + 2 : n;
        }
        out[k].start = start;
        out[k].end = end;
        out[k].count_off = out[k].count_len = 0;
        out[k].lines = 1;
        k++;
        i = end;
    }
    return k;
}

/* The first line start at or after i within [lo, hi], or hi + 1 when none. */
static size_t line_start_from(const uint8_t *p, size_t i, size_t hi)
{
    for (; i <= hi; i++)
        if (p[i - 1] == '\n')
            return i;
    return hi + 1;
}

/* Plans the edits that take `need` bytes out of the long parts, largest first. Returns the
 * bytes still to take out. */
/* The literals (IMAP) or messages (SMTP) of the client stream, into parts[MAX_PARTS]. */
static size_t find_parts(const struct splitter *sp, struct part *parts)
{
    const uint8_t *p = sp->stream.p;
    size_t n = sp->stream.n;
    return sp->s.proto == FZ_PROTO_IMAP   ? imap_parts(p, n, parts, MAX_PARTS)
           : sp->s.proto == FZ_PROTO_SMTP ? smtp_parts(p, n, parts, MAX_PARTS)
                                          : 0;
}

static size_t shorten(struct splitter *sp, size_t need)
{
    struct part *parts = sp->parts;
    const uint8_t *p = sp->stream.p;
    size_t np = sp->nparts;
    int used[MAX_PARTS] = {0};

    while (need > 0) {
        size_t best = np;
        for (size_t i = 0; i < np; i++)
            if (!used[i] && (best == np || parts[i].end - parts[i].start >
                                               parts[best].end - parts[best].start))
                best = i;
        if (best == np)
            break;
        used[best] = 1;
        struct part *pt = &parts[best];
        size_t size = pt->end - pt->start;
        /* a part over the session's limit stays whole: shortened, the server would take it */
        if (size > sp->s.max_literal || size <= 2 * CAP_SPLIT_KEEP)
            continue;
        size_t a = pt->start + CAP_SPLIT_KEEP, hi = pt->end - CAP_SPLIT_KEEP, b;
        if (pt->lines) {
            a = line_start_from(p, a, hi);
            b = a <= hi ? line_start_from(p, a + (need < hi - a ? need : hi - a), hi) : hi + 1;
            if (b > hi) /* no line start left before the kept tail: up to the tail's line */
                b = a <= hi ? line_start_from(p, hi, pt->end) : hi + 1;
            if (a > hi || b > pt->end || b <= a)
                continue;
        } else {
            b = a + (need < hi - a ? need : hi - a);
        }
        size_t cut = b - a;
        if (pt->count_len) {
            char digits[24];
            snprintf(digits, sizeof digits, "%zu", size - cut);
            if (add_edit(sp, pt->count_off, pt->count_len, digits) != 0)
                break;
            /* fewer digits are bytes taken out as well */
            cut += pt->count_len - strlen(digits);
        }
        if (add_edit(sp, a, b - a, NULL) != 0)
            break;
        need = cut >= need ? 0 : need - cut;
    }
    return need;
}

static int cmp_edit(const void *x, const void *y)
{
    const struct edit *a = x, *b = y;
    return a->off < b->off ? -1 : a->off > b->off;
}

/* Client stream [o, e) with the edits applied, appended to b. An insertion belongs to the
 * event holding the first byte it replaces. */
static void edited(const struct splitter *sp, size_t o, size_t e, struct fz_buf *b)
{
    size_t i = o;
    for (size_t k = 0; k < sp->nedit && i < e; k++) {
        const struct edit *ed = &sp->edit[k];
        if (ed->off + ed->del <= i && !(ed->del == 0 && ed->off == i))
            continue;
        if (ed->off >= e)
            break;
        if (ed->off > i) {
            fz_buf_append(b, sp->stream.p + i, ed->off - i);
            i = ed->off;
        }
        if (ed->off >= o)
            fz_buf_append(b, ed->ins, ed->ins_len);
        i = ed->off + ed->del > e ? e : ed->off + ed->del;
    }
    if (i < e)
        fz_buf_append(b, sp->stream.p + i, e - i);
}

/* Writes events [0, pre) and [from, to) as one session into b, the edits applied. */
static void write_seed(const struct splitter *sp, size_t pre, size_t from, size_t to, struct fz_buf *b)
{
    struct fz_buf payload = {0};
    fz_buf_append(b, sp->file, sp->hdr_len);
    for (size_t k = 0; k < pre + (to - from); k++) {
        size_t i = k < pre ? k : from + (k - pre);
        const struct fz_event *ev = &sp->ev[i];
        if (ev->type != FZ_EV_CLIENT) {
            fz_sbuf_event(b, ev->type, ev->p, ev->n);
            continue;
        }
        payload.n = 0;
        edited(sp, sp->c_off[i], sp->c_off[i] + ev->n, &payload);
        if (payload.oom)
            b->oom = 1;
        /* a write the edits emptied was one in the middle of a literal: it goes, with its
         * boundary (an empty write would be a read of nothing) */
        if (payload.n)
            fz_sbuf_event(b, FZ_EV_CLIENT, payload.p, payload.n);
    }
    fz_buf_free(&payload);
}

/* The length of events [0, pre) and [from, to) written as a session. */
static size_t seed_len(const struct splitter *sp, size_t pre, size_t from, size_t to, int *oom)
{
    struct fz_buf b = {0};
    write_seed(sp, pre, from, to, &b);
    size_t n = b.n;
    *oom |= b.oom;
    fz_buf_free(&b);
    return n;
}

/* May a window start at event i? Only where the client stream is at a line start outside
 * every literal (its octets and the rest of its command line: an IMAP literal's octets, or an
 * SMTP message's lines, read as commands would teach the target a session that never
 * happened). */
static int window_start_ok(const struct splitter *sp, size_t i)
{
    size_t o = sp->c_off[i];
    if (o > 0 && sp->stream.p[o - 1] != '\n')
        return 0;
    for (size_t k = 0; k < sp->nparts; k++)
        if (o >= sp->parts[k].start && o <= sp->parts[k].end)
            return 0;
    return 1;
}

static struct fz_buf *next_seed(struct cap_split *out)
{
    if (out->n == CAP_SPLIT_MAX) {
        out->dropped = 1;
        return NULL;
    }
    return &out->seed[out->n++];
}

int cap_split_session(const uint8_t *file, size_t len, size_t max_len, struct cap_split *out)
{
    struct splitter sp;
    struct fz_event ev;
    size_t cursor = 0, cap = 0;
    int oom = 0;

    memset(out, 0, sizeof *out);
    memset(&sp, 0, sizeof sp);
    if (len <= max_len) {
        fz_buf_append(&out->seed[0], file, len);
        out->n = 1;
        if (out->seed[0].oom) {
            cap_split_free(out);
            return -1;
        }
        return 0;
    }
    fz_session_parse(&sp.s, file, len);
    sp.file = file;
    sp.hdr_len = (size_t)(sp.s.ev - file);
    while (fz_session_next(&sp.s, &cursor, &ev)) {
        if (sp.nev == cap) {
            cap = cap ? 2 * cap : 64;
            struct fz_event *e2 = realloc(sp.ev, cap * sizeof *e2);
            size_t *o2 = e2 ? realloc(sp.c_off, cap * sizeof *o2) : NULL;
            if (e2)
                sp.ev = e2;
            if (!e2 || !o2) {
                oom = 1;
                break;
            }
            sp.c_off = o2;
        }
        sp.ev[sp.nev] = ev;
        sp.c_off[sp.nev] = sp.stream.n;
        if (ev.type == FZ_EV_CLIENT)
            fz_buf_append(&sp.stream, ev.p, ev.n);
        sp.nev++;
    }
    oom |= sp.stream.oom;

    struct part parts[MAX_PARTS];
    sp.parts = parts;
    for (size_t i = 0; i < sp.nev; i++)
        if (sp.ev[i].type == FZ_EV_TLS) {
            sp.prelude = i + 1;
            break;
        }
    if (!oom) {
        sp.nparts = find_parts(&sp, parts);
        size_t left = shorten(&sp, len - max_len);
        qsort(sp.edit, sp.nedit, sizeof sp.edit[0], cmp_edit);
        out->shortened = sp.nedit > 0;
        if (left == 0 && seed_len(&sp, 0, 0, sp.nev, &oom) <= max_len) {
            write_seed(&sp, 0, 0, sp.nev, next_seed(out));
        } else {
            /* windows of whole consecutive events, the first from the start, every one with
             * the header; a window after the TLS handshake starts with the events up to it
             * (greeting, STARTTLS, T: the client bytes in it are TLS plaintext and the
             * server is in its post-TLS state, as captured), and each starts at a command
             * boundary (window_start_ok) */
            out->windows = 1;
            size_t i = 0;
            while (i < sp.nev && !oom) {
                size_t pre = i >= sp.prelude ? sp.prelude : 0, j = i + 1;
                while (j < sp.nev && seed_len(&sp, pre, i, j + 1, &oom) <= max_len)
                    j++;
                /* end where the next window may start: back to the last boundary, unless
                 * there is none in this window (then the cut is where it fits) */
                size_t end = j;
                while (end > i + 1 && end < sp.nev && !window_start_ok(&sp, end))
                    end--;
                if (end < sp.nev && !window_start_ok(&sp, end))
                    end = j;
                else
                    j = end;
                if (seed_len(&sp, pre, i, j, &oom) > max_len) {
                    out->dropped = 1; /* one event longer than any window */
                    i = j;
                    continue;
                }
                struct fz_buf *b = next_seed(out);
                if (!b)
                    break;
                write_seed(&sp, pre, i, j, b);
                i = j;
            }
        }
    }
    for (size_t k = 0; k < out->n; k++)
        oom |= out->seed[k].oom;
    free(sp.ev);
    free(sp.c_off);
    fz_buf_free(&sp.stream);
    if (oom) {
        cap_split_free(out);
        return -1;
    }
    return 0;
}

void cap_split_free(struct cap_split *out)
{
    for (size_t k = 0; k < CAP_SPLIT_MAX; k++)
        fz_buf_free(&out->seed[k]);
    out->n = 0;
}
