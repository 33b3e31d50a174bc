/* imap_model.c - the reference IMAP command parser (see imap_model.h). */
#include "imap_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a parsing step returns: go on, the stream ended (the model stops), an error (err_pos,
 * err_reason say which: a response, then skip to the next command), or the command is over
 * and *next says where the next one starts. */
enum { M_OK = 0, M_EOF, M_ERR, M_NEXT };
enum { A_MBOX, A_OPTS, A_FLAGS, A_AFTER_FLAGS, A_AFTER_DATE, A_DONE };

/* A new event; the pointer is valid until the next m_emit. */
static struct imap_mev *m_emit(struct imap_model *m, enum mx_imap_ev t, size_t pos)
{
    struct imap_mev e;
    memset(&e, 0, sizeof e);
    e.type = t;
    e.pos = pos;
    fz_buf_put(&m->evs, &e, sizeof e);
    m->ev = (struct imap_mev *)(void *)m->evs.p;
    return &m->ev[m->nev++];
}

/* Appends to the model's text; returns the offset of the bytes. */
static size_t m_text(struct imap_model *m, const uint8_t *p, size_t n)
{
    fz_buf_put(&m->text, p, n);
    return m->text.n - n;
}

/* The byte at i in *c; the stream's end stops the model, the piece's allowance is an error. */
static int m_byte(struct imap_model *m, size_t i, int *c)
{
    if (i >= m->n)
        return M_EOF;
    if (i >= m->limit) {
        m->err_pos = m->limit;
        m->err_reason = MX_IMAP_E_LINE_TOO_LONG;
        return M_ERR;
    }
    *c = m->s[i];
    return M_OK;
}

static int m_err(struct imap_model *m, size_t pos, int reason)
{
    m->err_pos = pos;
    m->err_reason = reason;
    return M_ERR;
}

/* Propagate anything but M_OK to the caller. */
#define CHECK(step)                \
    do {                           \
        int st_ = (step);          \
        if (st_ != M_OK)           \
            return st_;            \
    } while (0)
#define AT(i, c) CHECK(m_byte(m, (i), &(c)))

static void respond(struct imap_model *m, size_t pos, int reason)
{
    struct imap_mev *e = m_emit(m, MX_IMAP_RESPONSE, pos);
    e->status = reason == MX_IMAP_E_LITERAL_TOO_BIG ? MX_IMAP_NO : MX_IMAP_BAD;
    e->reason = reason;
    e->tagged = m->tagged;
    e->a_off = m_text(m, m->s + m->tag_off, m->tagged ? m->tag_len : 0);
    e->a_len = m->tagged ? m->tag_len : 0;
}

static int m_digit(int c) { return c >= '0' && c <= '9'; }

static int m_atom_char(int c)
{
    return c > ' ' && c != 127 && !(c == '(' || c == ')' || c == '{' || c == '"');
}

static int m_tag_char(int c)
{
    return c > ' ' && c < 127 && !memchr("(){%*\"\\+", c, 8);
}

static int m_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || m_digit(c) || c == '-' ||
           c == '_' || c == '.';
}

/* The date-time syntax of RFC 3501, written as a template: d digit, D day digit or space, m
 * month letters, s sign. */
static int m_date(const uint8_t *p, size_t n)
{
    static const char *const mon[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                      "jul", "aug", "sep", "oct", "nov", "dec"};
    char t[27];
    int ok = 0, v;
    if (n != 26)
        return 0;
    memcpy(t, p, 26);
    t[26] = 0;
    for (int i = 0; i < 12; i++)
        if (strncasecmp(t + 3, mon[i], 3) == 0)
            ok = 1;
    if (!ok || t[2] != '-' || t[6] != '-' || t[11] != ' ' || t[14] != ':' || t[17] != ':' ||
        t[20] != ' ' || !(t[21] == '+' || t[21] == '-'))
        return 0;
    static const int digs[] = {7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25};
    for (size_t i = 0; i < sizeof digs / sizeof digs[0]; i++)
        if (!m_digit(t[digs[i]]))
            return 0;
    if (!m_digit(t[1]) || !(t[0] == ' ' || m_digit(t[0])))
        return 0;
    v = (t[0] == ' ' ? 0 : t[0] - '0') * 10 + t[1] - '0';
    if (v < 1 || v > 31)
        return 0;
    if ((t[12] - '0') * 10 + t[13] - '0' > 23 || (t[15] - '0') * 10 + t[16] - '0' > 59 ||
        (t[18] - '0') * 10 + t[19] - '0' > 60)
        return 0;
    return 1;
}

/* APPEND: which token kinds may come in which position (RFC 3501 + 3502). */
enum { T_ATOM, T_QUOTED, T_LIT, T_OPEN, T_CLOSE, T_END };
static int m_append_ok(struct imap_model *m, int t, int *role)
{
    static const signed char next[6][6] = {
        /*               ATOM    QUOTED          LIT     OPEN     CLOSE           END */
        /* MBOX */ {A_OPTS, A_OPTS, A_OPTS, -1, -1, -1},
        /* OPTS */ {-1, A_AFTER_DATE, A_DONE, A_FLAGS, -1, -1},
        /* FLAGS */ {A_FLAGS, -1, -1, -1, A_AFTER_FLAGS, -1},
        /* AFTER_FLAGS */ {-1, A_AFTER_DATE, A_DONE, -1, -1, -1},
        /* AFTER_DATE */ {-1, -1, A_DONE, -1, -1, -1},
        /* DONE */ {-1, A_AFTER_DATE, A_DONE, A_FLAGS, -1, A_DONE},
    };
    if (!m->append) {
        *role = MX_IMAP_LIT_ARG;
        return 1;
    }
    int nx = next[m->ast][t];
    if (nx < 0)
        return 0;
    *role = m->ast == A_MBOX ? MX_IMAP_LIT_ARG : MX_IMAP_LIT_MESSAGE;
    if (t == T_QUOTED && m->ast != A_MBOX)
        m->is_date = 1;
    m->ast = nx;
    return 1;
}

#define APPEND_CHECK(t, pos, role)                    \
    do {                                              \
        if (!m_append_ok(m, (t), (role)))             \
            return m_err(m, (pos), MX_IMAP_E_APPEND); \
    } while (0)

/* Where skipping from `from` after an error ends: the offset of the next command, or n. */
static size_t m_skip(struct imap_model *m, size_t from)
{
    for (;;) {
        const uint8_t *lf = from < m->n ? memchr(m->s + from, '\n', m->n - from) : NULL;
        if (!lf)
            return m->n;
        size_t j = (size_t)(lf - m->s), k;
        uint64_t v = 0;
        int ok = 0;
        /* does [from, j) end with "{" 1*DIGIT "+}" CR ? */
        if (j >= from + 5 && m->s[j - 1] == '\r' && m->s[j - 2] == '}' && m->s[j - 3] == '+') {
            k = j - 3;
            while (k > from && m_digit(m->s[k - 1]))
                k--;
            if (k < j - 3 && k > from && m->s[k - 1] == '{') {
                ok = 1;
                for (size_t i = k; i < j - 3; i++) {
                    unsigned d = m->s[i] - '0';
                    if (v > (UINT64_MAX - d) / 10) {
                        ok = 0;
                        break;
                    }
                    v = v * 10 + d;
                }
            }
        }
        if (!ok)
            return j + 1;
        if (v > m->n - (j + 1))
            return m->n; /* swallowing to the end of the stream */
        from = j + 1 + (size_t)v;
    }
}

/* tag SP (RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">); *p: past the SP */
static int m_tag(struct imap_model *m, size_t start, size_t *p)
{
    size_t q;
    int c;
    for (q = start;; q++) {
        AT(q, c);
        if (!m_tag_char(c))
            break;
    }
    if (q == start || c != ' ')
        return m_err(m, q, MX_IMAP_E_TAG);
    m->tag_len = q - start;
    m->tagged = 1;
    *p = q + 1;
    return M_OK;
}

/* the command name, ended by SP or CR; emits COMMAND_START; *p: at the end */
static int m_name(struct imap_model *m, size_t *p)
{
    size_t q;
    int c;
    for (q = *p;; q++) {
        AT(q, c);
        if (!m_name_char(c))
            break;
    }
    if (q == *p || (c != ' ' && c != '\r'))
        return m_err(m, q, MX_IMAP_E_NAME);
    struct imap_mev *e = m_emit(m, MX_IMAP_COMMAND_START, q);
    e->a_off = m_text(m, m->s + m->tag_off, m->tag_len);
    e->a_len = m->tag_len;
    e->b_off = m_text(m, m->s + *p, q - *p);
    e->b_len = q - *p;
    m->append = q - *p == 6 && strncasecmp((const char *)m->s + *p, "append", 6) == 0;
    *p = q;
    return M_OK;
}

/* ")" at p, after a token */
static int m_close(struct imap_model *m, size_t p)
{
    int role;
    if (m->depth == 0)
        return m_err(m, p, MX_IMAP_E_PARENS);
    APPEND_CHECK(T_CLOSE, p, &role);
    m->depth--;
    m_emit(m, MX_IMAP_LIST_CLOSE, p);
    return M_OK;
}

/* CR LF at p: the command's end */
static int m_end(struct imap_model *m, size_t p)
{
    int role, c;
    if (m->depth)
        return m_err(m, p, MX_IMAP_E_PARENS);
    APPEND_CHECK(T_END, p, &role);
    AT(p + 1, c);
    if (c != '\n')
        return m_err(m, p + 1, MX_IMAP_E_LINE_END);
    m_emit(m, MX_IMAP_COMMAND_END, p + 1);
    return M_OK;
}

/* a quoted string at *p (RFC 3501 4.3: no CR, LF or NUL; only \" and \\ escaped); a date-time
 * where APPEND expects one; *p: past the closing quote */
static int m_quoted(struct imap_model *m, size_t *p)
{
    size_t off = m->text.n, q; /* the unescaped content goes straight to the text */
    int is_date, role, c;
    APPEND_CHECK(T_QUOTED, *p, &role);
    is_date = m->is_date;
    m->is_date = 0;
    for (q = *p + 1;; q++) {
        AT(q, c);
        uint8_t d = (uint8_t)c;
        if (d == '"')
            break;
        if (d == '\\') {
            AT(q + 1, c);
            d = (uint8_t)c;
            if (d != '"' && d != '\\')
                return m_err(m, q + 1, MX_IMAP_E_QUOTED);
            q++;
        } else if (d == 0 || d == '\r' || d == '\n') {
            return m_err(m, q, d == 0 ? MX_IMAP_E_QUOTED_NUL : MX_IMAP_E_QUOTED);
        }
        m_text(m, &d, 1);
    }
    if (is_date && !m_date(m->text.p + off, m->text.n - off))
        return m_err(m, q, MX_IMAP_E_DATE);
    struct imap_mev *e = m_emit(m, MX_IMAP_ARG, q);
    e->kind = MX_IMAP_QUOTED;
    e->a_off = off;
    e->a_len = m->text.n - off;
    *p = q + 1;
    return M_OK;
}

/* a literal marker at *p ("{" N ["+"] "}" CRLF, RFC 3501 4.3, RFC 7888; binary: "~" before,
 * RFC 3516) and its octets; *p: past the octets. A literal over its limit ends the command
 * (M_NEXT): synchronizing, NO [TOOBIG] and the next command right after the marker; LITERAL+,
 * BAD [TOOBIG] and the octets swallowed. */
static int m_literal(struct imap_model *m, size_t *p, int binary, size_t *next)
{
    uint64_t v = 0;
    int plus, role, c;
    size_t q, lf;
    APPEND_CHECK(T_LIT, *p, &role);
    for (q = *p + 1;; q++) {
        AT(q, c);
        if (!m_digit(c))
            break;
        unsigned d = m->s[q] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return m_err(m, q, MX_IMAP_E_LITERAL_SYNTAX);
        v = v * 10 + d;
    }
    if (q == *p + 1 || (c != '+' && c != '}'))
        return m_err(m, q, MX_IMAP_E_LITERAL_SYNTAX);
    plus = c == '+';
    if (plus) {
        AT(++q, c);
        if (c != '}')
            return m_err(m, q, MX_IMAP_E_LITERAL_SYNTAX);
    }
    AT(q + 1, c);
    if (c != '\r')
        return m_err(m, q + 1, MX_IMAP_E_LITERAL_SYNTAX);
    AT(q + 2, c);
    if (c != '\n')
        return m_err(m, q + 2, MX_IMAP_E_LINE_END);
    lf = q + 2;
    if (!plus && v > m->max_literal) {
        respond(m, lf, MX_IMAP_E_LITERAL_TOO_BIG);
        *next = lf + 1;
        return M_NEXT;
    }
    if (plus && v > m->max_nonsync) {
        respond(m, lf, MX_IMAP_E_NONSYNC_TOO_BIG);
        *next = v > m->n - (lf + 1) ? m->n : m_skip(m, lf + 1 + (size_t)v);
        return M_NEXT;
    }
    struct imap_mev *e = m_emit(m, plus ? MX_IMAP_LITERAL_START : MX_IMAP_NEED_CONTINUATION, lf);
    e->size = v;
    e->sync = !plus;
    e->binary = binary;
    e->role = role;
    e->data_off = lf + 1;
    if (v > m->n - (lf + 1)) {
        *next = m->n;
        return M_NEXT;
    }
    struct imap_mev *f = m_emit(m, MX_IMAP_LITERAL_END, v ? lf + (size_t)v : lf);
    f->size = v;
    f->sync = !plus;
    f->binary = binary;
    f->role = role;
    *p = lf + 1 + (size_t)v;
    m->limit = *p + m->max_line < *p ? SIZE_MAX : *p + m->max_line;
    return M_OK;
}

/* RFC 3501 §9: section-msgtext = "HEADER.FIELDS" [".NOT"] SP header-list, and section-text
 * follows "[" or a section-part's "."; header-list is the one place where a section holds SP
 * and parens. Is s[a..q) such a section so far, with the SP at q? (s[a] is the "[") */
static int m_header_list_at(const uint8_t *s, size_t a, size_t q)
{
    size_t i = q;
    if (i - a > 4 && strncasecmp((const char *)s + i - 4, ".NOT", 4) == 0)
        i -= 4;
    if (i - a < 14 || strncasecmp((const char *)s + i - 13, "HEADER.FIELDS", 13) != 0)
        return 0;
    return s[i - 14] == '[' || s[i - 14] == '.';
}

/* a header-list at *q (the byte after "HEADER.FIELDS[.NOT] SP") through the section's "]",
 * RFC 3501 §9:
 *   section          = "[" [section-spec] "]"
 *   header-list      = "(" header-fld-name *(SP header-fld-name) ")"
 *   header-fld-name  = astring
 *   astring          = 1*ASTRING-CHAR / string;  ASTRING-CHAR = ATOM-CHAR / resp-specials ("]")
 *   string           = quoted / literal
 * so "]" inside a name belongs to it and the section ends only at the "]" after ")". Atom bytes
 * are this model's (m_atom_char: the lenient set the reader accepts); a literal name is refused
 * at its "{" (the reader's documented choice, include/mx/imap.h). *q: past the "]". */
static int m_header_list(struct imap_model *m, size_t *q)
{
    size_t i = *q;
    int c;
    AT(i, c);
    if (c != '(')
        return m_err(m, i, MX_IMAP_E_SYNTAX);
    for (;;) { /* one header-fld-name per turn, after "(" or SP */
        AT(++i, c);
        if (c == '"') { /* quoted = DQUOTE *QUOTED-CHAR DQUOTE, the reasons of m_quoted */
            for (;;) {
                AT(++i, c);
                if (c == '"')
                    break;
                if (c == '\\') {
                    AT(++i, c);
                    if (c != '"' && c != '\\')
                        return m_err(m, i, MX_IMAP_E_QUOTED);
                } else if (c == 0 || c == '\r' || c == '\n') {
                    return m_err(m, i, c == 0 ? MX_IMAP_E_QUOTED_NUL : MX_IMAP_E_QUOTED);
                }
            }
            AT(++i, c);
        } else if (m_atom_char(c)) { /* 1*ASTRING-CHAR: "]" is among m_atom_char's bytes */
            while (m_atom_char(c))
                AT(++i, c);
        } else {
            return m_err(m, i, MX_IMAP_E_SYNTAX); /* ")", SP, "{", a CTL: no name here */
        }
        if (c == ')')
            break;
        if (c != ' ')
            return m_err(m, i, MX_IMAP_E_SYNTAX);
    }
    AT(++i, c);
    if (c != ']') /* nothing but the section's "]" may follow the list */
        return m_err(m, i, MX_IMAP_E_SYNTAX);
    *q = i + 1;
    return M_OK;
}

/* an atom at *p, c its first byte; *p: at the byte that ends it. "[" is an ATOM-CHAR (RFC 3501
 * §9), so "a[b" is an atom; only a header list ("[HEADER.FIELDS (A B)]", §6.4.5) holds SP and
 * parens, and the atom goes on after its "]" ("<0.10>") */
static int m_atom(struct imap_model *m, size_t *p, int c)
{
    size_t q, open_at = SIZE_MAX; /* the unclosed "[", if any */
    int role;
    if (!m_atom_char(c))
        return m_err(m, *p, MX_IMAP_E_SYNTAX);
    APPEND_CHECK(T_ATOM, c == '~' ? *p + 1 : *p, &role);
    for (q = *p;; q++) {
        int d;
        AT(q, d);
        if (d == ' ' && open_at != SIZE_MAX && m_header_list_at(m->s, open_at, q)) {
            q++;
            CHECK(m_header_list(m, &q));
            open_at = SIZE_MAX;
            q--; /* the loop's q++ brings it to the byte after "]" */
            continue;
        }
        if (m_atom_char(d)) {
            if (d == '[')
                open_at = q;
            else if (d == ']')
                open_at = SIZE_MAX;
            continue;
        }
        if (d == ' ' || d == ')' || d == '\r')
            break;
        return m_err(m, q, MX_IMAP_E_SYNTAX);
    }
    struct imap_mev *e = m_emit(m, MX_IMAP_ARG, q);
    e->kind = MX_IMAP_ATOM;
    e->a_off = m_text(m, m->s + *p, q - *p);
    e->a_len = q - *p;
    *p = q;
    return M_OK;
}

/* one token after SP at *p: list opens, then ")" (left for m_close), a quoted string, a
 * literal or an atom */
static int m_token(struct imap_model *m, size_t *p, size_t *next)
{
    int after_open = 0, binary = 0, role, c;
    for (;;) {
        AT(*p, c);
        if (c != '(')
            break;
        if (m->depth >= (int)MX_IMAP_MAX_DEPTH)
            return m_err(m, *p, MX_IMAP_E_DEPTH);
        APPEND_CHECK(T_OPEN, *p, &role);
        m->depth++;
        m_emit(m, MX_IMAP_LIST_OPEN, *p);
        (*p)++;
        after_open = 1;
    }
    if (c == ')')
        return after_open ? M_OK : m_err(m, *p, MX_IMAP_E_SYNTAX);
    if (c == '"')
        return m_quoted(m, p);
    if (c == '~') {
        int c1;
        AT(*p + 1, c1);
        if (c1 == '{') {
            binary = 1;
            (*p)++;
        }
    }
    if (c == '{' || binary)
        return m_literal(m, p, binary, next);
    return m_atom(m, p, c); /* c may be "~" not followed by "{" */
}

/* tag SP name, then tokens separated by SP, ")" closing lists, until CRLF */
static int m_command_body(struct imap_model *m, size_t start, size_t *next)
{
    size_t p;
    int c;
    CHECK(m_tag(m, start, &p));
    CHECK(m_name(m, &p));
    for (;;) {
        AT(p, c);
        if (c == ')') {
            CHECK(m_close(m, p));
            p++;
            continue;
        }
        if (c == '\r') {
            CHECK(m_end(m, p));
            *next = p + 2;
            return M_NEXT;
        }
        if (c != ' ')
            return m_err(m, p, MX_IMAP_E_SYNTAX);
        p++;
        CHECK(m_token(m, &p, next));
    }
}

/* One command starting at `start`; returns where the next starts (n when the stream ends). */
static size_t m_command(struct imap_model *m, size_t start)
{
    size_t next = m->n;

    m->limit = start + m->max_line < start ? SIZE_MAX : start + m->max_line;
    m->tagged = 0;
    m->tag_off = start;
    m->tag_len = 0;
    m->append = 0;
    m->ast = A_MBOX;
    m->depth = 0;
    m->is_date = 0;

    switch (m_command_body(m, start, &next)) {
    case M_EOF:
        return m->n;
    case M_ERR:
        respond(m, m->err_pos, m->err_reason);
        return m_skip(m, m->err_pos);
    default: /* M_NEXT */
        return next;
    }
}

void imap_model_run(struct imap_model *m, const uint8_t *s, size_t n, size_t max_line,
                    uint64_t max_literal, unsigned flags, unsigned max_errors)
{
    unsigned run = 0;
    /* the event and text buffers are kept (emptied) from the last run: no allocation per
     * input once they are as large as the largest input's */
    struct fz_buf evs = m->evs, text = m->text;
    memset(m, 0, sizeof *m);
    m->evs = evs;
    m->evs.n = 0;
    m->text = text;
    m->text.n = 0;
    m->s = s;
    m->n = n;
    m->max_line = max_line;
    m->max_literal = max_literal;
    m->max_nonsync = (flags & MX_IMAP_LITERAL_PLUS) || max_literal < MX_IMAP_LITERAL_MINUS_MAX
                         ? max_literal
                         : MX_IMAP_LITERAL_MINUS_MAX;
    if (fz_buf_reserve(&m->text, 64) != 0) /* never NULL: events point into it even when empty */
        abort();

    /* Issue 12 rule 4 (RFC 5321 7.8's licence, postfix's smtpd_hard_error_limit; RFC 3501
     * 7.1.3: BAD is the protocol error, NO [TOOBIG] is not): after max_errors BAD responses
     * with no command completed in between, the limit'th is answered and nothing more is
     * parsed: one TOO_MANY_ERRORS, at the last response's offset, ends the events. */
    size_t i = 0;
    while (i < m->n) {
        size_t before = m->nev;
        i = m_command(m, i);
        if (m->nev == before)
            continue;
        const struct imap_mev *last = &m->ev[m->nev - 1];
        if (last->type == MX_IMAP_COMMAND_END)
            run = 0;
        else if (last->type == MX_IMAP_RESPONSE && last->status == MX_IMAP_BAD)
            run++;
        if (max_errors && run >= max_errors) {
            m_emit(m, MX_IMAP_TOO_MANY_ERRORS, m->ev[m->nev - 1].pos);
            return;
        }
    }
}

void imap_model_free(struct imap_model *m)
{
    fz_buf_free(&m->evs);
    fz_buf_free(&m->text);
    m->ev = NULL;
    m->nev = 0;
}

void imap_model_print(const struct imap_model *m, const char *label)
{
    fprintf(stderr, "imap model (%s): %zu events\n", label, m->nev);
    for (size_t i = 0; i < m->nev; i++) {
        const struct imap_mev *e = &m->ev[i];
        fprintf(stderr, "  @%-5zu %-17s", e->pos, mx_imap_ev_name(e->type));
        switch (e->type) {
        case MX_IMAP_COMMAND_START:
            fprintf(stderr, " %.*s %.*s", (int)e->a_len, (const char *)m->text.p + e->a_off,
                    (int)e->b_len, (const char *)m->text.p + e->b_off);
            break;
        case MX_IMAP_ARG:
            fprintf(stderr, " %s \"%.*s\"", e->kind == MX_IMAP_QUOTED ? "quoted" : "atom",
                    (int)(e->a_len > 60 ? 60 : e->a_len), (const char *)m->text.p + e->a_off);
            break;
        case MX_IMAP_NEED_CONTINUATION:
        case MX_IMAP_LITERAL_START:
        case MX_IMAP_LITERAL_END:
            fprintf(stderr, " size %llu%s%s%s", (unsigned long long)e->size, e->sync ? "" : " +",
                    e->binary ? " binary" : "", e->role == MX_IMAP_LIT_MESSAGE ? " message" : "");
            break;
        case MX_IMAP_RESPONSE:
            fprintf(stderr, " %.*s %s %s", e->tagged ? (int)e->a_len : 1,
                    e->tagged ? (const char *)m->text.p + e->a_off : "*",
                    e->status == MX_IMAP_NO ? "NO" : "BAD",
                    mx_imap_reason_name((enum mx_imap_reason)e->reason));
            break;
        default:
            break;
        }
        fputc('\n', stderr);
    }
}
