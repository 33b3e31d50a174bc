/* imap_check.c - libmx's IMAP reader against the reference parser, event by event (see
 * imap_check.h). */
#include "imap_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "sampled.h"

/* "imap: divergence at event N: (RUN, LABEL, D bytes delivered) WHAT" */
#define FAIL(r, fmt, ...)                                                                      \
    do {                                                                                       \
        fz_at("event", (long)(r)->idx);                                                        \
        fz_fail("imap", "(%s, %s, %zu bytes delivered) " fmt, (r)->name, (r)->label,           \
                (r)->delivered, ##__VA_ARGS__);                                                \
    } while (0)

void imap_check_init(struct imap_check *r, const struct imap_model *m, const char *name,
                     const char *label)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->name = name;
    r->label = label;
}

void imap_check_sink(void *ctx, const uint8_t *p, size_t n)
{
    struct imap_check *r = ctx;
    if (!r->lit_active)
        FAIL(r, "sink called with %zu bytes but no literal announced (octets before the "
                "continuation, or swallowed octets stored)", n);
    if (n == 0 || n > r->lit_size - r->lit_got)
        FAIL(r, "sink called with %zu bytes, %llu of %llu already received", n,
             (unsigned long long)r->lit_got, (unsigned long long)r->lit_size);
    if (memcmp(p, r->m->s + r->lit_data_off + r->lit_got, n) != 0)
        FAIL(r, "literal octets differ from the stream at literal offset %llu",
             (unsigned long long)r->lit_got);
    r->lit_got += n;
}

static void bytes_eq(struct imap_check *r, const char *what, const uint8_t *got, size_t glen,
                     const uint8_t *want, size_t wlen)
{
    if (glen != wlen || (glen && memcmp(got, want, glen) != 0))
        FAIL(r, "%s: reader \"%.*s\" (%zu bytes), model \"%.*s\" (%zu bytes)", what,
             (int)(glen > 60 ? 60 : glen), (const char *)got, glen,
             (int)(wlen > 60 ? 60 : wlen), (const char *)want, wlen);
}

/* The line mx_imap_format_response writes for a RESPONSE event, against RFC 3501 7.1 / 9:
 * response-tagged = tag SP resp-cond-state CRLF (untagged: "*" SP ...), resp-cond-state =
 * ("NO" / "BAD") SP resp-text, resp-text = ["[" resp-text-code "]" SP] text, text =
 * 1*TEXT-CHAR (CHAR, %x01-7F, but CR and LF), built here from the model's tag, status and
 * code; then the snprintf contract of mx/imap.h: the full length returned whatever n is, and
 * for n > 0 the first n - 1 bytes of the line and a NUL. */
static void check_response_line(struct imap_check *r, const struct mx_imap_event *ev, const struct imap_mev *w,
                                const char *code)
{
    /* a tag is at most a line: 32 KiB (session max-line) */
    static char line[65536], want[65536], cut[65536];
    size_t need = mx_imap_format_response(ev, line, sizeof line), pre, k;
    static const size_t ns[] = {0, 1, 2, 7};
    int n = w->a_len ? snprintf(want, sizeof want, "%.*s ", (int)w->a_len, (const char *)r->m->text.p + w->a_off)
                     : snprintf(want, sizeof want, "* ");
    n += snprintf(want + n, sizeof want - (size_t)n, "%s ", w->status == MX_IMAP_NO ? "NO" : "BAD");
    if (code)
        n += snprintf(want + n, sizeof want - (size_t)n, "[%s] ", code);
    pre = (size_t)n;
    if (need >= sizeof line || need < pre + 3 || strlen(line) != need)
        FAIL(r, "format_response needs %zu bytes, wrote %zu", need, strlen(line));
    if (memcmp(line, want, pre) != 0 || line[need - 2] != '\r' || line[need - 1] != '\n')
        FAIL(r, "response line \"%.*s\" does not start \"%s\" or end in CRLF", (int)need, line, want);
    for (k = pre; k < need - 2; k++)
        if (line[k] <= 0 || line[k] == '\r' || line[k] == '\n')
            FAIL(r, "response text byte %zu is 0x%02x, not a TEXT-CHAR", k, (unsigned char)line[k]);
    /* shorter buffers: every length the caller may pass, some of them cutting the tag. All
     * six on the run's first response; after that one per response, in turn: the function
     * depends on the event alone, and seven calls on every response were 3-5 % of the imap
     * targets' time (an error-heavy input answers hundreds of lines) */
    const size_t ncaps = sizeof ns / sizeof ns[0] + 2;
    size_t first = r->responses == 0 ? 0 : r->responses % ncaps,
           last = r->responses == 0 ? ncaps : first + 1;
    r->responses++;
    for (k = first; k < last; k++) {
        size_t cap = k < sizeof ns / sizeof ns[0] ? ns[k] : k == sizeof ns / sizeof ns[0] ? need : need / 2;
        memset(cut, 'x', cap + 1);
        if (mx_imap_format_response(ev, cut, cap) != need)
            FAIL(r, "format_response into %zu bytes returns another length than %zu", cap, need);
        if (cap == 0 ? cut[0] != 'x' : memcmp(cut, line, cap - 1) != 0 || cut[cap - 1] != 0 || cut[cap] != 'x')
            FAIL(r, "format_response into %zu bytes: not the line's first %zu bytes and a NUL, or wrote past it",
                 cap, cap ? cap - 1 : 0);
    }
}

static void check_event(struct imap_check *r, const struct mx_imap_event *ev)
{
    const struct imap_model *m = r->m;
    const struct imap_mev *w;
    if (r->idx >= m->nev)
        FAIL(r, "reader returned %s, model has no more events", mx_imap_ev_name(ev->type));
    w = &m->ev[r->idx];
    if (ev->type != w->type)
        FAIL(r, "reader returned %s, model %s (completed at stream offset %zu)",
             mx_imap_ev_name(ev->type), mx_imap_ev_name(w->type), w->pos);
    if (w->pos >= r->delivered)
        FAIL(r, "%s returned before its completing byte (offset %zu) was delivered",
             mx_imap_ev_name(ev->type), w->pos);
    switch (ev->type) {
    case MX_IMAP_COMMAND_START:
        bytes_eq(r, "tag", ev->tag, ev->tag_len, m->text.p + w->a_off, w->a_len);
        bytes_eq(r, "command name", ev->name, ev->name_len, m->text.p + w->b_off, w->b_len);
        break;
    case MX_IMAP_ARG:
        if ((int)ev->arg_kind != w->kind)
            FAIL(r, "argument kind %d, model %d", ev->arg_kind, w->kind);
        bytes_eq(r, "argument", ev->data, ev->len, m->text.p + w->a_off, w->a_len);
        break;
    case MX_IMAP_NEED_CONTINUATION:
    case MX_IMAP_LITERAL_START:
    case MX_IMAP_LITERAL_END:
        if (ev->literal.size != w->size || ev->literal.sync != w->sync ||
            ev->literal.binary != w->binary || (int)ev->literal.role != w->role)
            FAIL(r, "literal size/sync/binary/role %llu/%d/%d/%d, model %llu/%d/%d/%d",
                 (unsigned long long)ev->literal.size, ev->literal.sync, ev->literal.binary,
                 ev->literal.role, (unsigned long long)w->size, w->sync, w->binary, w->role);
        if (ev->type != MX_IMAP_LITERAL_END) {
            if (r->lit_active)
                FAIL(r, "literal announced inside a literal");
            r->lit_active = 1;
            r->lit_data_off = w->data_off;
            r->lit_size = w->size;
            r->lit_got = 0;
        } else {
            if (!r->lit_active || r->lit_got != r->lit_size)
                FAIL(r, "LITERAL_END after %llu of %llu octets", (unsigned long long)r->lit_got,
                     (unsigned long long)r->lit_size);
            r->lit_active = 0;
        }
        break;
    case MX_IMAP_RESPONSE: {
        const char *want_code =
            w->reason == MX_IMAP_E_LITERAL_TOO_BIG || w->reason == MX_IMAP_E_NONSYNC_TOO_BIG
                ? "TOOBIG"
                : w->reason == MX_IMAP_E_LINE_TOO_LONG || w->reason == MX_IMAP_E_DEPTH ? "LIMIT"
                                                                                       : NULL;
        if ((int)ev->response.reason != w->reason || (int)ev->response.status != w->status)
            FAIL(r, "response %s %s, model %s %s (offending byte at offset %zu)",
                 ev->response.status == MX_IMAP_NO ? "NO" : "BAD",
                 mx_imap_reason_name(ev->response.reason), w->status == MX_IMAP_NO ? "NO" : "BAD",
                 mx_imap_reason_name((enum mx_imap_reason)w->reason), w->pos);
        if ((ev->response.code == NULL) != (want_code == NULL) ||
            (want_code && strcmp(ev->response.code, want_code) != 0))
            FAIL(r, "response code %s, expected %s", ev->response.code ? ev->response.code : "none",
                 want_code ? want_code : "none");
        bytes_eq(r, "response tag", ev->tag, ev->tag_len, m->text.p + w->a_off, w->a_len);
        check_response_line(r, ev, w, want_code);
        if (r->lit_active)
            FAIL(r, "response inside a literal");
        break;
    }
    default:
        break;
    }
    r->idx++;
}

/* NEED_MORE with r->delivered bytes in: nothing completable may be left waiting. */
static void check_need_more(struct imap_check *r)
{
    const struct imap_model *m = r->m;
    if (r->idx < m->nev && m->ev[r->idx].pos < r->delivered)
        FAIL(r, "NEED_MORE, but the model's next event %s completed at offset %zu, already "
                "delivered (the reader waits for bytes it has: the Q239082 hang)",
             mx_imap_ev_name(m->ev[r->idx].type), m->ev[r->idx].pos);
    if (r->lit_active) {
        uint64_t avail = r->delivered - r->lit_data_off;
        if (avail > r->lit_size)
            avail = r->lit_size;
        if (r->lit_got != avail)
            FAIL(r, "NEED_MORE with %llu literal octets delivered but %llu passed to the sink",
                 (unsigned long long)avail, (unsigned long long)r->lit_got);
    }
}

void imap_check_pump(struct imap_check *r, struct mx_imap *rd, struct mx_chain *c)
{
    struct mx_imap_event ev;
    for (;;) {
        enum mx_imap_ev t = mx_imap_next(rd, c, &ev);
        if (t != ev.type)
            FAIL(r, "mx_imap_next returned %d but ev.type is %d", t, ev.type);
        if (r->closed)
            FAIL(r, "events asked for after TOO_MANY_ERRORS");
        if (t == MX_IMAP_NEED_MORE) {
            check_need_more(r);
            if (c->bytes != 0)
                FAIL(r, "NEED_MORE with %zu bytes still queued", c->bytes);
            return;
        }
        check_event(r, &ev);
        if (t == MX_IMAP_COMMAND_END)
            mx_imap_answered(rd, 0);
        if (t == MX_IMAP_TOO_MANY_ERRORS) {
            r->closed = 1;
            return;
        }
    }
}

struct mx_alloc imap_check_alloc(struct imap_check *r)
{
    return fz_alloc_hooks(&r->alloc);
}

void imap_check_end(struct imap_check *r, const struct mx_imap *rd)
{
    const struct imap_model *m = r->m;
    uint64_t ends = 0, resp = 0;
    if (r->idx != m->nev)
        FAIL(r, "reader gave %zu events, model %zu", r->idx, m->nev);
    for (size_t i = 0; i < m->nev; i++) {
        ends += m->ev[i].type == MX_IMAP_COMMAND_END;
        resp += m->ev[i].type == MX_IMAP_RESPONSE;
    }
    if (rd->commands != ends || rd->responses != resp)
        FAIL(r, "reader counters commands %llu responses %llu, model %llu %llu",
             (unsigned long long)rd->commands, (unsigned long long)rd->responses,
             (unsigned long long)ends, (unsigned long long)resp);
    if (r->alloc.allocs != 1)
        FAIL(r, "the reader allocated %ld times (once at init is the bound)", r->alloc.allocs);
}

/* ------------------------------------------------------------------ the imap target */
unsigned imap_literal_flags(const struct fz_session *s)
{
    /* the session header's literal mode (corpus/FORMAT.md: version 3's LITERAL- bit; every
     * version 1 and 2 file is LITERAL+), as the reader's configuration flag */
    return fz_session_literal_minus(s) ? 0 : MX_IMAP_LITERAL_PLUS;
}

enum chunking { CH_FILE, CH_ONE, CH_WHOLE };

static void run_real(const struct imap_model *m, const struct fz_session *s, unsigned flags,
                     enum chunking ch, const char *label)
{
    static const char *const names[] = {"file's reads", "one-byte reads", "whole stream"};
    struct imap_check r;
    struct mx_alloc a, pooled = fz_alloc_pooled();
    struct mx_imap rd;
    struct mx_chain c;
    size_t biggest = 0;

    imap_check_init(&r, m, names[ch], label);
    a = imap_check_alloc(&r);
    struct mx_imap_config cfg = {m->max_line, m->max_literal, flags, imap_check_sink, &r, &a,
                                 IMAP_CHECK_MAX_ERRORS};
    if (mx_imap_init(&rd, &cfg) != 0)
        FAIL(&r, "mx_imap_init failed");
    mx_chain_init(&c, ch == CH_WHOLE ? 0 : 65536, &pooled);
    if (ch == CH_FILE) {
        struct fz_reader rdr;
        struct fz_read rd1;
        fz_reader_init(&rdr, s);
        while (fz_reader_next(&rdr, &rd1)) {
            if (rd1.kind != FZ_READ_DATA || rd1.n == 0)
                continue;
            if (r.closed) {
                r.delivered += rd1.n; /* the server closed: nothing more is read */
                continue;
            }
            if (mx_chain_append(&c, rd1.p, rd1.n) != MX_CHAIN_OK)
                FAIL(&r, "chain append of %zu bytes failed", rd1.n);
            r.delivered += rd1.n;
            biggest = rd1.n > biggest ? rd1.n : biggest;
            imap_check_pump(&r, &rd, &c);
        }
        if (r.delivered != m->n)
            FAIL(&r, "file reads delivered %zu bytes, stream has %zu", r.delivered,
                            m->n);
    } else {
        size_t step = ch == CH_ONE ? 1 : (m->n ? m->n : 1);
        for (size_t off = 0; off < m->n && !r.closed; off += step) {
            size_t k = m->n - off < step ? m->n - off : step;
            if (mx_chain_append(&c, m->s + off, k) != MX_CHAIN_OK)
                FAIL(&r, "chain append of %zu bytes failed", k);
            r.delivered += k;
            biggest = k > biggest ? k : biggest;
            imap_check_pump(&r, &rd, &c);
        }
    }
    if (!r.closed)
        imap_check_pump(&r, &rd, &c);
    imap_check_end(&r, &rd);
    if (r.closed) {
        /* what was queued at the close is never parsed: the connection is dropped with it */
        mx_chain_discard(&c);
    }
    if (c.bytes != 0 || (!r.closed && (c.consumed != m->n || c.discarded != 0)) ||
        c.consumed + c.discarded > m->n || mx_chain_check(&c) != 0)
        FAIL(&r, "chain counters: bytes %zu consumed %llu discarded %llu (stream %zu)",
                        c.bytes, (unsigned long long)c.consumed,
                        (unsigned long long)c.discarded, m->n);
    if (c.high_water > biggest)
        FAIL(&r, "chain held %zu bytes, more than one read (%zu)", c.high_water,
                        biggest);
    mx_imap_release(&rd);
    if (r.alloc.live != 0)
        FAIL(&r, "%ld reader allocations outstanding after release", r.alloc.live);
    mx_chain_release(&c);
}

void imap_check_session(const struct fz_session *s)
{
    /* kept from input to input: the stream and the model's event lists are allocated once,
     * at the size of the largest input so far */
    static struct fz_buf stream;
    static struct imap_model m;
    static int trace = -1;
    struct fz_reader rdr;
    struct fz_read rd;
    unsigned asked = imap_literal_flags(s);
    int repeat = fz_sampled(s->ev, s->ev_size);

    if (trace < 0) {
        const char *t = getenv("MXFUZZ_IMAP_TRACE");
        trace = t && *t && *t != '0';
    }
    stream.n = 0;
    fz_reader_init(&rdr, s);
    while (fz_reader_next(&rdr, &rd))
        if (rd.kind == FZ_READ_DATA)
            fz_buf_put(&stream, rd.p, rd.n);

    /* One run: the LITERAL mode and the reads the session asks for. A sampled input (every
     * input under the replay driver) is then fed in one-byte reads and in one read, which must
     * give the model's events again: the reader's result does not depend on how its input was
     * cut. The replay driver also runs the other LITERAL mode, so that the corpus and the
     * reproducers check both modes as before. */
    for (int pass = 0; pass < 2; pass++) {
        unsigned flags = pass ? asked ^ MX_IMAP_LITERAL_PLUS : asked;
        const char *label = flags & MX_IMAP_LITERAL_PLUS ? "LITERAL+" : "LITERAL-";
        if (pass && !fz_sampling_all())
            break;
        imap_model_run(&m, stream.p, stream.n, s->max_line, s->max_literal, flags, IMAP_CHECK_MAX_ERRORS);
        if (trace)
            imap_model_print(&m, label);
        run_real(&m, s, flags, CH_FILE, label);
        if (repeat) {
            run_real(&m, s, flags, CH_ONE, label);
            run_real(&m, s, flags, CH_WHOLE, label);
        }
    }
}
