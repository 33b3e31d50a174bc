/* session.c - session files: parse, read splitting, text form (corpus/FORMAT.md). */
#include "session.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const proto_names[] = {"smtp", "imap", "pop3"};
static const char *const mode_names[] = {"plaintext", "starttls", "implicit"};
static const char *const literal_names[] = {"plus", "minus"}; /* RFC 7888: LITERAL+, LITERAL- */
static const uint8_t ev_tags[4] = {FZ_TAG_CLIENT, FZ_TAG_SERVER, FZ_TAG_READS, FZ_TAG_TLS};

/* "MX" and a version byte >= 2 open a version-2 (or later) file; anything else is version 1, whose
 * layout has no magic (FORMAT.md, "Versions"). No shipped v1 file starts with "MX" + a byte
 * >= 2 (targets/tests/v1_sessions_decode_unchanged.sh pins them all), so none changes meaning. */
static unsigned file_version(const uint8_t *data, size_t size)
{
    if (size > FZ_SESSION_MAGIC_LEN && memcmp(data, FZ_SESSION_MAGIC, FZ_SESSION_MAGIC_LEN) == 0 &&
        data[FZ_SESSION_MAGIC_LEN] >= 2)
        return data[FZ_SESSION_MAGIC_LEN] < FZ_SESSION_VERSION_MAX
                   ? data[FZ_SESSION_MAGIC_LEN]
                   : FZ_SESSION_VERSION_MAX; /* a newer version is read as the newest known */
    return 1;
}

uint8_t fz_session_known_flags(unsigned version)
{
    return (uint8_t)(FZ_SFLAG_CERT | FZ_SFLAG_TLS_REQUIRED |
                     (version >= FZ_SESSION_VERSION_LITERAL ? FZ_SFLAG_LITERAL_MINUS : 0) |
                     (version >= FZ_SESSION_VERSION_TLS_UNAVAILABLE ? FZ_SFLAG_TLS_UNAVAILABLE : 0));
}

int fz_session_tls_unavailable(const struct fz_session *s)
{
    /* versions 1 and 2: bit 3 is reserved (FORMAT.md, "Versions") */
    return s->version >= FZ_SESSION_VERSION_TLS_UNAVAILABLE && (s->flags & FZ_SFLAG_TLS_UNAVAILABLE);
}

int fz_session_literal_minus(const struct fz_session *s)
{
    /* versions 1 and 2: bit 2 is reserved; those files come from listeners that all advertised
     * LITERAL+, so that is what they mean (FORMAT.md, "Versions") */
    return s->version >= FZ_SESSION_VERSION_LITERAL && (s->flags & FZ_SFLAG_LITERAL_MINUS);
}

void fz_session_parse(struct fz_session *s, const uint8_t *data, size_t size)
{
    uint8_t h[FZ_SESSION_HEADER] = {0};
    s->version = file_version(data, size);
    if (s->version >= 2) {
        data += FZ_SESSION_MAGIC_LEN + 1;
        size -= FZ_SESSION_MAGIC_LEN + 1;
    }
    memcpy(h, data, size < sizeof h ? size : sizeof h);
    s->proto = (enum fz_proto)(h[0] % 3);
    s->mode = (enum fz_mode)(h[1] % 3);
    s->flags = h[2];
    s->limits = h[3];
    s->max_line = (size_t)64 << ((h[3] & 15) % 10);
    s->max_literal = (size_t)256 << (h[3] >> 4);
    s->ev = size > FZ_SESSION_HEADER ? data + FZ_SESSION_HEADER : data + size;
    s->ev_size = size > FZ_SESSION_HEADER ? size - FZ_SESSION_HEADER : 0;
}

/* The event type of a type byte: 1 and *t, or 0 for a byte that names no event (v2 only). */
static int ev_type(unsigned version, uint8_t b, enum fz_ev_type *t)
{
    for (int i = 0; i < 4; i++)
        if (b == ev_tags[i]) {
            *t = (enum fz_ev_type)i;
            return 1;
        }
    if (version >= 2)
        return 0;
    /* v1 is closed: every other byte is an alias, type % 4 picks C, S, R, T. Frozen, because
     * v1 corpora and reproducers hold such bytes. */
    *t = (enum fz_ev_type)(b % 4);
    return 1;
}

int fz_session_next(const struct fz_session *s, size_t *cursor, struct fz_event *ev)
{
    size_t c = *cursor, n;
    for (;;) {
        int known;
        if (c >= s->ev_size) {
            *cursor = c;
            return 0;
        }
        known = ev_type(s->version, s->ev[c++], &ev->type);
        n = 0;
        if (c < s->ev_size)
            n = s->ev[c++];
        if (c < s->ev_size)
            n |= (size_t)s->ev[c++] << 8;
        if (n > s->ev_size - c)
            n = s->ev_size - c;
        if (!known) { /* v2: an event type this reader does not know is skipped whole */
            c += n;
            continue;
        }
        ev->p = s->ev + c;
        ev->n = n;
        *cursor = c + n;
        return 1;
    }
}

void fz_reader_init(struct fz_reader *r, const struct fz_session *s)
{
    memset(r, 0, sizeof *r);
    r->s = s;
}

int fz_reader_next(struct fz_reader *r, struct fz_read *out)
{
    struct fz_event ev;
    size_t fill = 0, want = 0;

    for (;;) {
        if (r->pending) {
            *out = r->pend;
            r->pending = 0;
            return 1;
        }
        if (r->cur_n > 0) {
            if (r->npattern == 0) {
                out->kind = FZ_READ_DATA;
                out->p = r->cur;
                out->n = r->cur_n;
                r->cur_n = 0;
                return 1;
            }
            if (want == 0) {
                want = r->pattern[r->ipattern] ? r->pattern[r->ipattern] : 256;
                r->ipattern = (r->ipattern + 1) % r->npattern;
            }
            {
                size_t k = want - fill < r->cur_n ? want - fill : r->cur_n;
                memcpy(r->buf + fill, r->cur, k);
                fill += k;
                r->cur += k;
                r->cur_n -= k;
            }
            if (fill == want)
                goto deliver;
            continue;
        }
        if (!fz_session_next(r->s, &r->cursor, &ev)) {
            if (fill)
                goto deliver;
            return 0;
        }
        switch (ev.type) {
        case FZ_EV_CLIENT:
            r->cur = ev.p;
            r->cur_n = ev.n;
            break;
        case FZ_EV_READS:
            r->npattern = ev.n < sizeof r->pattern ? ev.n : sizeof r->pattern;
            memcpy(r->pattern, ev.p, r->npattern);
            r->ipattern = 0;
            if (fill) /* a new pattern ends the read in progress */
                goto deliver;
            break;
        case FZ_EV_SERVER:
        case FZ_EV_TLS:
            /* The server wrote, or TLS came up, between two client writes: no
             * read spans that point. A partial read is delivered first. */
            r->pend.kind = ev.type == FZ_EV_TLS ? FZ_READ_TLS : FZ_READ_SERVER;
            r->pend.p = ev.type == FZ_EV_TLS ? NULL : ev.p;
            r->pend.n = ev.type == FZ_EV_TLS ? 0 : ev.n;
            r->pending = 1;
            if (fill)
                goto deliver;
            break;
        }
    }
deliver:
    out->kind = FZ_READ_DATA;
    out->p = r->buf;
    out->n = fill;
    return 1;
}

/* ---- text form ---- */

static void put_quoted(FILE *f, const uint8_t *p, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\r')
            fputs("\\r", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\\' || c == '"')
            fprintf(f, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            fputc(c, f);
        else
            fprintf(f, "\\x%02x", c);
    }
    fputc('"', f);
}

static void put_payload(FILE *f, const char *kw, const uint8_t *p, size_t n)
{
    /* break long payloads after each LF, or every 64 bytes of binary */
    size_t i = 0, start = 0;
    fprintf(f, "%s ", kw);
    if (n == 0) {
        fputs("\"\"\n", f);
        return;
    }
    while (i < n) {
        i++;
        if (i == n || p[i - 1] == '\n' || i - start >= 72) {
            if (start)
                fputs("+ ", f);
            put_quoted(f, p + start, i - start);
            fputc('\n', f);
            start = i;
        }
    }
}

void fz_session_decode(FILE *f, const uint8_t *data, size_t size)
{
    struct fz_session s;
    struct fz_event ev;
    size_t cur = 0;
    fz_session_parse(&s, data, size);
    fprintf(f, "# mxfuzz session (corpus/FORMAT.md)\n");
    if (s.version >= 2) /* v1 prints no version line: its text is what it was before v2 */
        fprintf(f, "version %u\n", s.version);
    fprintf(f, "proto %s\nmode %s\ncert %s\ntls-required %s\n", proto_names[s.proto],
            mode_names[s.mode], (s.flags & FZ_SFLAG_CERT) ? "yes" : "no",
            (s.flags & FZ_SFLAG_TLS_REQUIRED) ? "yes" : "no");
    if (s.version >= FZ_SESSION_VERSION_LITERAL) /* v1 and v2 texts stay as they were */
        fprintf(f, "literal %s\n", fz_session_literal_minus(&s) ? "minus" : "plus");
    if (s.version >= FZ_SESSION_VERSION_TLS_UNAVAILABLE)
        fprintf(f, "tls-unavailable %s\n", fz_session_tls_unavailable(&s) ? "yes" : "no");
    if (s.flags & ~fz_session_known_flags(s.version))
        fprintf(f, "flags 0x%02x\n", s.flags);
    fprintf(f, "max-line %zu\nmax-literal %zu\n", s.max_line, s.max_literal);
    if ((s.limits & 15) >= 10)
        fprintf(f, "limits 0x%02x\n", s.limits);
    while (fz_session_next(&s, &cur, &ev)) {
        switch (ev.type) {
        case FZ_EV_CLIENT:
            put_payload(f, "client", ev.p, ev.n);
            break;
        case FZ_EV_SERVER:
            put_payload(f, "server", ev.p, ev.n);
            break;
        case FZ_EV_READS:
            fputs("reads", f);
            for (size_t i = 0; i < ev.n; i++)
                fprintf(f, " %u", ev.p[i]);
            fputc('\n', f);
            break;
        case FZ_EV_TLS:
            fputs("tls", f);
            if (ev.n)
                fputs(" ", f), put_quoted(f, ev.p, ev.n);
            fputc('\n', f);
            break;
        }
    }
}

void fz_sbuf_header(struct fz_buf *b, unsigned version, enum fz_proto proto, enum fz_mode mode,
                    uint8_t flags, uint8_t limits)
{
    uint8_t h[4] = {(uint8_t)proto, (uint8_t)mode, flags, limits};
    if (version >= 2) {
        uint8_t v = (uint8_t)version;
        fz_buf_append(b, FZ_SESSION_MAGIC, FZ_SESSION_MAGIC_LEN);
        fz_buf_append(b, &v, 1);
    }
    fz_buf_append(b, h, 4);
}

void fz_sbuf_event(struct fz_buf *b, enum fz_ev_type t, const void *p, size_t n)
{
    const uint8_t *q = p;
    do {
        size_t k = n > 65535 ? 65535 : n;
        uint8_t h[3] = {ev_tags[t], (uint8_t)(k & 255), (uint8_t)(k >> 8)};
        fz_buf_append(b, h, 3);
        if (k) {
            fz_buf_append(b, q, k);
            q += k;
        }
        n -= k;
    } while (n > 0);
}

uint8_t fz_session_limits(size_t max_line, size_t max_literal)
{
    unsigned l = 0, m = 0;
    while (l < 9 && ((size_t)64 << l) < max_line)
        l++;
    while (m < 15 && ((size_t)256 << m) < max_literal)
        m++;
    return (uint8_t)(l | (m << 4));
}

/* ---- text -> binary ---- */

struct lx {
    const char *p, *end;
    int line;
    char *err;
    size_t errlen;
};

static int fail(struct lx *x, const char *what)
{
    snprintf(x->err, x->errlen, "line %d: %s", x->line, what);
    return -1;
}

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parses quoted strings from p to eol into b; returns -1 on error. */
static int parse_strings(struct lx *x, const char *p, const char *eol, struct fz_buf *b)
{
    int any = 0;
    for (;;) {
        skip_ws(&p, eol);
        if (p >= eol || *p == '#')
            return any ? 0 : fail(x, "expected a quoted string");
        if (*p != '"')
            return fail(x, "expected a quoted string");
        p++;
        while (p < eol && *p != '"') {
            uint8_t c = (uint8_t)*p++;
            if (c == '\\') {
                if (p >= eol)
                    return fail(x, "unfinished escape");
                c = (uint8_t)*p++;
                switch (c) {
                case 'r': c = '\r'; break;
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case '0': c = 0; break;
                case '\\': case '"': break;
                case 'x': {
                    int h1 = p < eol ? hexval(p[0]) : -1;
                    int h2 = p + 1 < eol ? hexval(p[1]) : -1;
                    if (h1 < 0 || h2 < 0)
                        return fail(x, "bad \\x escape (want two hex digits)");
                    c = (uint8_t)(h1 * 16 + h2);
                    p += 2;
                    break;
                }
                default:
                    return fail(x, "unknown escape");
                }
            }
            fz_buf_append(b, &c, 1);
        }
        if (p >= eol)
            return fail(x, "unterminated string");
        p++;
        any = 1;
    }
}

static int word_is(const char *p, const char *e, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(e - p) == n && memcmp(p, w, n) == 0;
}

/* Which of the three names p..e is, or -1. */
static int name_index(const char *const *names, int count, const char *p, const char *e)
{
    for (int i = 0; i < count; i++)
        if (word_is(p, e, names[i]))
            return i;
    return -1;
}

static int parse_yes_no(struct lx *x, const char *p, const char *e, int *v)
{
    if (word_is(p, e, "yes"))
        *v = 1;
    else if (word_is(p, e, "no"))
        *v = 0;
    else
        return fail(x, "expected yes or no");
    return 0;
}

static int parse_num(struct lx *x, const char *p, const char *e, unsigned long *v)
{
    char tmp[32], *q;
    if (e - p <= 0 || (size_t)(e - p) >= sizeof tmp)
        return fail(x, "expected a number");
    memcpy(tmp, p, (size_t)(e - p));
    tmp[e - p] = 0;
    *v = strtoul(tmp, &q, 0);
    if (*q)
        return fail(x, "expected a number");
    return 0;
}

int fz_session_encode(const char *text, size_t len, uint8_t **out, size_t *out_len,
                      char *err, size_t errlen)
{
    struct lx x = {text, text + len, 0, err, errlen};
    uint8_t hdr[4] = {0, 0, 0, 0};
    unsigned long version = 1;
    int minus_line = 0; /* the line of a `literal minus`, checked against the version at the end */
    int unavailable_line = 0; /* the line of a `tls-unavailable yes`, likewise */
    struct fz_buf ev = {0}, cur = {0};
    int cur_type = -1, started = 0;
    const char *p = text;

    *out = NULL;
    *out_len = 0;
    if (errlen)
        err[0] = 0;
    while (p < x.end) {
        const char *eol = memchr(p, '\n', (size_t)(x.end - p));
        const char *line_end, *kw, *kw_end, *arg;
        if (!eol)
            eol = x.end;
        x.line++;
        line_end = eol;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        kw = p;
        skip_ws(&kw, line_end);
        p = eol < x.end ? eol + 1 : eol;
        if (kw >= line_end || *kw == '#')
            continue;
        if (*kw == '+') {
            if (cur_type != FZ_EV_CLIENT && cur_type != FZ_EV_SERVER)
                goto bad_cont;
            if (parse_strings(&x, kw + 1, line_end, &cur) < 0)
                goto err;
            continue;
        }
        if (cur_type >= 0) {
            fz_sbuf_event(&ev, (enum fz_ev_type)cur_type, cur.p, cur.n);
            cur.n = 0;
            cur_type = -1;
        }
        kw_end = kw;
        while (kw_end < line_end && *kw_end != ' ' && *kw_end != '\t')
            kw_end++;
        arg = kw_end;
        skip_ws(&arg, line_end);
        {
            /* argument without trailing spaces or comment, for header words */
            const char *ae = arg;
            while (ae < line_end && *ae != '#')
                ae++;
            while (ae > arg && (ae[-1] == ' ' || ae[-1] == '\t'))
                ae--;
            if (word_is(kw, kw_end, "proto") || word_is(kw, kw_end, "mode") ||
                word_is(kw, kw_end, "cert") || word_is(kw, kw_end, "tls-required") ||
                word_is(kw, kw_end, "max-line") || word_is(kw, kw_end, "max-literal") ||
                word_is(kw, kw_end, "flags") || word_is(kw, kw_end, "limits") ||
                word_is(kw, kw_end, "version") || word_is(kw, kw_end, "literal") ||
                word_is(kw, kw_end, "tls-unavailable")) {
                /* set by parse_yes_no / parse_num on success, read only then; initialised
                 * because gcc -O1 cannot see that fail() always returns -1 */
                int yn = 0;
                unsigned long v = 0;
                if (started) {
                    fail(&x, "header line after the first event");
                    goto err;
                }
                if (word_is(kw, kw_end, "version")) {
                    if (parse_num(&x, arg, ae, &version) < 0)
                        goto err;
                    if (version < 1 || version > FZ_SESSION_VERSION_MAX) {
                        fail(&x, "version must be 1, 2 or 3");
                        goto err;
                    }
                } else if (word_is(kw, kw_end, "literal")) {
                    int i = name_index(literal_names, 2, arg, ae);
                    if (i < 0) {
                        fail(&x, "literal must be plus or minus (RFC 7888: LITERAL+ or LITERAL-)");
                        goto err;
                    }
                    hdr[2] = (uint8_t)(i ? hdr[2] | FZ_SFLAG_LITERAL_MINUS : hdr[2] & ~FZ_SFLAG_LITERAL_MINUS);
                    minus_line = i ? x.line : 0;
                } else if (word_is(kw, kw_end, "proto") || word_is(kw, kw_end, "mode")) {
                    int is_proto = word_is(kw, kw_end, "proto");
                    int i = name_index(is_proto ? proto_names : mode_names, 3, arg, ae);
                    if (i < 0) {
                        fail(&x, is_proto ? "proto must be smtp, imap or pop3"
                                          : "mode must be plaintext, starttls or implicit");
                        goto err;
                    }
                    hdr[is_proto ? 0 : 1] = (uint8_t)i;
                } else if (word_is(kw, kw_end, "cert") || word_is(kw, kw_end, "tls-required") ||
                           word_is(kw, kw_end, "tls-unavailable")) {
                    uint8_t bit = word_is(kw, kw_end, "cert")           ? FZ_SFLAG_CERT
                                  : word_is(kw, kw_end, "tls-required") ? FZ_SFLAG_TLS_REQUIRED
                                                                        : FZ_SFLAG_TLS_UNAVAILABLE;
                    if (parse_yes_no(&x, arg, ae, &yn) < 0)
                        goto err;
                    hdr[2] = (uint8_t)(yn ? hdr[2] | bit : hdr[2] & ~bit);
                    if (bit == FZ_SFLAG_TLS_UNAVAILABLE)
                        unavailable_line = yn ? x.line : 0;
                } else if (word_is(kw, kw_end, "flags") || word_is(kw, kw_end, "limits")) {
                    if (parse_num(&x, arg, ae, &v) < 0)
                        goto err;
                    if (v > 255) {
                        fail(&x, "value over 255");
                        goto err;
                    }
                    hdr[word_is(kw, kw_end, "flags") ? 2 : 3] = (uint8_t)v;
                } else {
                    int is_line = word_is(kw, kw_end, "max-line");
                    unsigned k, lim = is_line ? 9 : 15;
                    size_t base = is_line ? 64 : 256;
                    if (parse_num(&x, arg, ae, &v) < 0)
                        goto err;
                    for (k = 0; k <= lim && (base << k) != v; k++)
                        ;
                    if (k > lim) {
                        fail(&x, is_line ? "max-line must be a power of two from 64 to 32768"
                                         : "max-literal must be a power of two from 256 to 8388608");
                        goto err;
                    }
                    hdr[3] = is_line ? (uint8_t)((hdr[3] & 0xf0) | k)
                                     : (uint8_t)((hdr[3] & 0x0f) | (k << 4));
                }
                continue;
            }
            started = 1;
            if (word_is(kw, kw_end, "client") || word_is(kw, kw_end, "server")) {
                cur_type = word_is(kw, kw_end, "client") ? FZ_EV_CLIENT : FZ_EV_SERVER;
                cur.n = 0;
                if (parse_strings(&x, arg, line_end, &cur) < 0)
                    goto err;
            } else if (word_is(kw, kw_end, "reads")) {
                struct fz_buf sz = {0};
                const char *q = arg;
                while (q < ae) {
                    const char *w = q;
                    unsigned long v;
                    while (q < ae && *q != ' ' && *q != '\t')
                        q++;
                    /* v is set only when parse_num succeeds: test it only then (gcc's
                     * -Wmaybe-uninitialized caught the read of it after a failed parse) */
                    if (parse_num(&x, w, q, &v) < 0 || (v > 255 && fail(&x, "read size over 255 (0 means 256)") < 0)) {
                        fz_buf_free(&sz);
                        goto err;
                    }
                    uint8_t b = (uint8_t)v;
                    fz_buf_append(&sz, &b, 1);
                    skip_ws(&q, ae);
                }
                fz_sbuf_event(&ev, FZ_EV_READS, sz.p, sz.n);
                fz_buf_free(&sz);
            } else if (word_is(kw, kw_end, "tls")) {
                struct fz_buf t = {0};
                if (arg < ae && parse_strings(&x, arg, line_end, &t) < 0) {
                    fz_buf_free(&t);
                    goto err;
                }
                fz_sbuf_event(&ev, FZ_EV_TLS, t.p, t.n);
                fz_buf_free(&t);
            } else {
                fail(&x, "unknown keyword (want version, proto, mode, cert, tls-required, literal, tls-unavailable, "
                         "max-line, max-literal, client, server, reads, tls, or + to continue)");
                goto err;
            }
        }
    }
    if (cur_type >= 0)
        fz_sbuf_event(&ev, (enum fz_ev_type)cur_type, cur.p, cur.n);
    if (minus_line && version < FZ_SESSION_VERSION_LITERAL) {
        /* versions 1 and 2 have no literal mode (the bit is reserved there): a text that needs
         * LITERAL- says `version 3`, so that no version 1 file changes meaning */
        x.line = minus_line;
        fail(&x, "literal minus needs version 3 (versions 1 and 2 have no literal mode: LITERAL+)");
        goto err;
    }
    if (unavailable_line && version < FZ_SESSION_VERSION_TLS_UNAVAILABLE) {
        /* bit 3 is reserved in versions 1 and 2: no such file may change meaning */
        x.line = unavailable_line;
        fail(&x, "tls-unavailable yes needs version 3 (versions 1 and 2 have no such fact)");
        goto err;
    }
    {
        struct fz_buf all = {0};
        if (version >= 2) {
            uint8_t v = (uint8_t)version;
            fz_buf_append(&all, FZ_SESSION_MAGIC, FZ_SESSION_MAGIC_LEN);
            fz_buf_append(&all, &v, 1);
        }
        fz_buf_append(&all, hdr, 4);
        if (ev.n)
            fz_buf_append(&all, ev.p, ev.n);
        if (all.oom || ev.oom || cur.oom) {
            fz_buf_free(&all);
            snprintf(err, errlen, "out of memory");
            goto err_nomsg;
        }
        *out = all.p;
        *out_len = all.n;
    }
    fz_buf_free(&ev);
    fz_buf_free(&cur);
    return 0;
bad_cont:
    fail(&x, "a + line continues only a client or server line");
err:
err_nomsg:
    fz_buf_free(&ev);
    fz_buf_free(&cur);
    return -1;
}
