/* imap.c - the streaming IMAP command reader (see include/mx/imap.h).
 *
 * A byte-at-a-time state machine over the chain's head segment. step() looks at one byte and
 * either consumes it, or leaves it queued and switches state so that it is looked at again
 * (a token ends at the byte after it; an error leaves the offending byte for the skipper).
 * Literal octets are not stepped: they go to the sink a segment run at a time.
 */
#include "mx/imap.h"

#include <stdlib.h>
#include <string.h>

enum {
    S_TAG,      /* command start / in the tag */
    S_NAME,     /* in the command name */
    S_SEP,      /* after SP or "(": a token starts here */
    S_NEED_SEP, /* after a token: SP, ")" or CR */
    S_ATOM,
    S_TILDE,    /* after "~" at a token start */
    S_QUOTED,
    S_QESC,     /* after "\" in a quoted string */
    S_LSIZE,    /* after "{": digits */
    S_LPLUS,    /* after "+": "}" */
    S_LCLOSE,   /* after "}": CR */
    S_LCR,      /* after the marker's CR: LF */
    S_CR,       /* after the command's CR: LF */
    S_LITERAL,  /* octets to the sink */
    S_SWALLOW,  /* octets dropped */
    S_SKIP      /* after an error: to the end of the line */
};

/* APPEND argument order */
enum { A_MBOX, A_OPTS, A_FLAGS, A_AFTER_FLAGS, A_AFTER_DATE, A_DONE };
enum { K_ATOM, K_QUOTED, K_LIT, K_OPEN, K_CLOSE, K_END };

/* step() results */
#define CONSUMED 1
#define EVENT 2

static void *sys_alloc(void *ctx, size_t n) { (void)ctx; return malloc(n); }
static void sys_release(void *ctx, void *p) { (void)ctx; free(p); }

static void new_command(struct mx_imap *r)
{
    r->st = S_TAG;
    r->tag_len = r->tok_len = r->piece_len = 0;
    r->tagged = r->bracket = r->after_open = r->is_append = r->is_date = 0;
    r->ast = A_MBOX;
    r->depth = 0;
}

int mx_imap_init(struct mx_imap *r, const struct mx_imap_config *cfg)
{
    memset(r, 0, sizeof *r);
    if (!cfg || cfg->max_line < MX_IMAP_MIN_LINE || cfg->max_line > SIZE_MAX / 2)
        return -1;
    if (cfg->alloc && cfg->alloc->alloc && cfg->alloc->release) {
        r->a = *cfg->alloc;
    } else {
        r->a.alloc = sys_alloc;
        r->a.release = sys_release;
    }
    r->max_line = cfg->max_line;
    r->max_literal = cfg->max_literal;
    r->max_nonsync = (cfg->flags & MX_IMAP_LITERAL_PLUS) || cfg->max_literal < MX_IMAP_LITERAL_MINUS_MAX
                         ? cfg->max_literal
                         : MX_IMAP_LITERAL_MINUS_MAX;
    r->sink = cfg->sink;
    r->sink_ctx = cfg->sink_ctx;
    r->max_errors = cfg->max_errors;
    r->tag = r->a.alloc(r->a.ctx, 2 * cfg->max_line);
    if (!r->tag)
        return -1;
    r->tok = r->tag + cfg->max_line;
    new_command(r);
    return 0;
}

void mx_imap_release(struct mx_imap *r)
{
    if (r->tag)
        r->a.release(r->a.ctx, r->tag);
    r->tag = r->tok = NULL;
}

void mx_imap_reset(struct mx_imap *r)
{
    r->remaining = 0;
    r->error_run = 0;
    new_command(r);
}

static int is_tag_char(unsigned b)
{
    return b >= 0x21 && b <= 0x7e && !strchr("(){%*\"\\+", (int)b);
}

static int is_name_char(unsigned b)
{
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
           b == '-' || b == '_' || b == '.';
}

#define ATOM_CHAR(b) ((b) >= 0x21 && (b) != 0x7f && (b) != '(' && (b) != ')' && (b) != '{' && (b) != '"')
static int is_atom_char(unsigned b)
{
    return ATOM_CHAR(b);
}

/* The byte classes of mx_imap_next's fast paths, one table lookup per byte instead of the
 * compares of step() (each of which a fuzzer build follows with a callback). RUN_ATOM: an
 * atom byte that step() would only append (an ATOM-CHAR but "[", which may open a section);
 * RUN_QUOTED: the same in a quoted string (not DQUOTE, "\", NUL, CR, LF); RUN_SKIP: a byte
 * that changes nothing while the skipper's marker watch is idle (not LF, not "{"). */
enum { RUN_ATOM = 1, RUN_QUOTED = 2, RUN_SKIP = 4 };
#define RUN_CLASS(b)                                                                        \
    ((ATOM_CHAR(b) && (b) != '[' ? RUN_ATOM : 0) |                                          \
     ((b) != '"' && (b) != '\\' && (b) != 0 && (b) != '\r' && (b) != '\n' ? RUN_QUOTED : 0) | \
     ((b) != '\n' && (b) != '{' ? RUN_SKIP : 0))
#define RUN_CLASS4(b) RUN_CLASS(b), RUN_CLASS(b + 1), RUN_CLASS(b + 2), RUN_CLASS(b + 3)
#define RUN_CLASS16(b) RUN_CLASS4(b), RUN_CLASS4(b + 4), RUN_CLASS4(b + 8), RUN_CLASS4(b + 12)
#define RUN_CLASS64(b) RUN_CLASS16(b), RUN_CLASS16(b + 16), RUN_CLASS16(b + 32), RUN_CLASS16(b + 48)
static const unsigned char run_class[256] = {RUN_CLASS64(0), RUN_CLASS64(64), RUN_CLASS64(128),
                                             RUN_CLASS64(192)};

/* r->bracket: where an atom stands with respect to a FETCH section (RFC 3501 §6.4.5, §9).
 * Only section-msgtext's header-list puts SP and parens inside "[...]", so an open "[" is just
 * an ATOM-CHAR until "HEADER.FIELDS[.NOT] SP" commits the atom to a header list. From there
 * the §9 rules are followed byte by byte, all bytes staying in the one atom:
 *   header-list     = "(" header-fld-name *(SP header-fld-name) ")"
 *   header-fld-name = astring = 1*ASTRING-CHAR / string;  ASTRING-CHAR = ATOM-CHAR / "]"
 *   section         = "[" [section-spec] "]"   -- the "]" right after the list's ")"
 * so "]" inside a name is part of the name ("TO]"), and only ")]" closes the section. A
 * header-fld-name given as a literal is refused (E_SYNTAX at its "{"): it would put a literal
 * inside an atom, no client is known to send one, and the IMAP servers we know of read header
 * lists as atoms and quoted strings too (a known difference: imap_dovecot_check.c). */
enum {
    BRACKET_NONE,
    BRACKET_OPEN,      /* after "[": an ordinary atom byte until HEADER.FIELDS SP */
    BRACKET_HL_OPEN,   /* after "HEADER.FIELDS[.NOT] SP": "(" */
    BRACKET_HL_FIRST,  /* after "(" or a name's SP: a header-fld-name starts */
    BRACKET_HL_NAME,   /* in an atom-form header-fld-name */
    BRACKET_HL_QUOTED, /* in a quoted header-fld-name */
    BRACKET_HL_QESC,   /* after "\" in a quoted header-fld-name */
    BRACKET_HL_AFTER,  /* after a quoted name's DQUOTE: SP or ")" */
    BRACKET_HL_CLOSE   /* after the list's ")": "]" */
};

/* does the atom so far end in "[" or "." followed by HEADER.FIELDS or HEADER.FIELDS.NOT
 * (any case)? section-text = "HEADER.FIELDS" [".NOT"] SP header-list, after "[" or a part
 * number's "." */
static int opens_header_list(const uint8_t *tok, size_t n)
{
    static const char *const kw[] = {"HEADER.FIELDS", "HEADER.FIELDS.NOT"};
    for (size_t k = 0; k < 2; k++) {
        size_t m = strlen(kw[k]), i;
        if (n < m + 1 || (tok[n - m - 1] != '[' && tok[n - m - 1] != '.'))
            continue;
        for (i = 0; i < m && (tok[n - m + i] & 0xdf) == (kw[k][i] & 0xdf); i++)
            ;
        if (i == m)
            return 1;
    }
    return 0;
}

/* One byte of a header list (RFC 3501 §9, see r->bracket): advances r->bracket and returns 0,
 * or returns the mx_imap_reason why the byte cannot come here. A line end anywhere in the list
 * leaves the section unclosed, so it is refused like any other byte the grammar has no place for. */
static int header_list_byte(struct mx_imap *r, unsigned b)
{
    switch (r->bracket) {
    case BRACKET_HL_OPEN:
        if (b != '(')
            return MX_IMAP_E_SYNTAX;
        r->bracket = BRACKET_HL_FIRST;
        return 0;
    case BRACKET_HL_FIRST: /* "(" ")" and a second SP are not names */
        if (b == '"')
            r->bracket = BRACKET_HL_QUOTED;
        else if (is_atom_char(b))
            r->bracket = BRACKET_HL_NAME; /* "]" among them: an ASTRING-CHAR */
        else
            return MX_IMAP_E_SYNTAX;
        return 0;
    case BRACKET_HL_NAME:
        if (is_atom_char(b)) /* "]" among them */
            return 0;
        /* fall through: an atom name ends where a quoted one does, at SP or ")" */
    case BRACKET_HL_AFTER:
        if (b == ' ')
            r->bracket = BRACKET_HL_FIRST;
        else if (b == ')')
            r->bracket = BRACKET_HL_CLOSE;
        else
            return MX_IMAP_E_SYNTAX;
        return 0;
    case BRACKET_HL_QUOTED: /* the reasons of S_QUOTED, for the same bytes */
        if (b == '"')
            r->bracket = BRACKET_HL_AFTER;
        else if (b == '\\')
            r->bracket = BRACKET_HL_QESC;
        else if (b == 0)
            return MX_IMAP_E_QUOTED_NUL;
        else if (b == '\r' || b == '\n')
            return MX_IMAP_E_QUOTED;
        return 0;
    case BRACKET_HL_QESC:
        if (b != '"' && b != '\\')
            return MX_IMAP_E_QUOTED;
        r->bracket = BRACKET_HL_QUOTED;
        return 0;
    default: /* BRACKET_HL_CLOSE: section = "[" section-spec "]", nothing between ")" and "]" */
        if (b != ']')
            return MX_IMAP_E_SYNTAX;
        r->bracket = BRACKET_NONE; /* the atom goes on: "<0.100>" may follow */
        return 0;
    }
}

static int is_append_name(const uint8_t *p, size_t n)
{
    static const char w[] = "APPEND";
    if (n != 6)
        return 0;
    for (size_t i = 0; i < 6; i++)
        if ((p[i] & 0xdf) != (uint8_t)w[i])
            return 0;
    return 1;
}

static int two_digits(const uint8_t *p, unsigned max)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return 0;
    return (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0') <= max;
}

/* "dd-Mon-yyyy hh:mm:ss +zzzz", day may be " d" (RFC 3501 date-time). */
static int date_ok(const uint8_t *p, size_t n)
{
    static const char months[] = "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC";
    int m, day;
    if (n != 26)
        return 0;
    if (p[0] == ' ') {
        if (p[1] < '1' || p[1] > '9')
            return 0;
    } else {
        if (!two_digits(p, 31))
            return 0;
    }
    day = (p[0] == ' ' ? 0 : p[0] - '0') * 10 + (p[1] - '0');
    if (day == 0 || p[2] != '-' || p[6] != '-' || p[11] != ' ' || p[14] != ':' || p[17] != ':' ||
        p[20] != ' ' || (p[21] != '+' && p[21] != '-'))
        return 0;
    for (m = 0; m < 12; m++)
        if ((p[3] & 0xdf) == months[3 * m] && (p[4] & 0xdf) == months[3 * m + 1] &&
            (p[5] & 0xdf) == months[3 * m + 2])
            break;
    if (m == 12)
        return 0;
    return two_digits(p + 7, 99) && two_digits(p + 9, 99) && two_digits(p + 12, 23) &&
           two_digits(p + 15, 59) && two_digits(p + 18, 60) && two_digits(p + 22, 99) &&
           two_digits(p + 24, 99);
}

/* APPEND argument order; 0 if the token kind may come now. Sets the literal role. */
static int append_tok(struct mx_imap *r, int kind)
{
    if (!r->is_append)
        return 0;
    switch (kind) {
    case K_ATOM:
        if (r->ast == A_MBOX)
            r->ast = A_OPTS;
        else if (r->ast != A_FLAGS)
            return -1;
        return 0;
    case K_QUOTED:
        if (r->ast == A_MBOX) {
            r->ast = A_OPTS;
        } else if (r->ast == A_OPTS || r->ast == A_DONE || r->ast == A_AFTER_FLAGS) {
            r->ast = A_AFTER_DATE;
            r->is_date = 1;
        } else {
            return -1;
        }
        return 0;
    case K_LIT:
        if (r->ast == A_MBOX) {
            r->ast = A_OPTS;
            r->lit_role = MX_IMAP_LIT_ARG;
        } else if (r->ast == A_FLAGS) {
            return -1;
        } else {
            r->ast = A_DONE;
            r->lit_role = MX_IMAP_LIT_MESSAGE;
        }
        return 0;
    case K_OPEN:
        if (r->ast != A_OPTS && r->ast != A_DONE)
            return -1;
        r->ast = A_FLAGS;
        return 0;
    case K_CLOSE:
        if (r->ast != A_FLAGS)
            return -1;
        r->ast = A_AFTER_FLAGS;
        return 0;
    default: /* K_END */
        return r->ast == A_DONE ? 0 : -1;
    }
}

static const char *const reason_text[] = {
    "",
    "missing or bad tag",
    "missing or bad command name",
    "syntax error",
    "bad quoted string",
    "NUL in a quoted string",
    "bad line end",
    "unbalanced parentheses",
    "lists nested too deep",
    "bad literal size",
    "literal too big",
    "non-synchronizing literal too big",
    "line too long",
    "APPEND arguments out of order",
    "bad date-time",
};

static const char *const reason_names[] = {
    "none", "E_TAG", "E_NAME", "E_SYNTAX", "E_QUOTED", "E_QUOTED_NUL", "E_LINE_END",
    "E_PARENS", "E_DEPTH", "E_LITERAL_SYNTAX", "E_LITERAL_TOO_BIG", "E_NONSYNC_TOO_BIG",
    "E_LINE_TOO_LONG", "E_APPEND", "E_DATE",
};

const char *mx_imap_reason_name(enum mx_imap_reason r)
{
    return (unsigned)r < sizeof reason_names / sizeof reason_names[0] ? reason_names[r] : "?";
}

const char *mx_imap_ev_name(enum mx_imap_ev t)
{
    static const char *const n[] = {"NEED_MORE", "COMMAND_START", "ARG", "LIST_OPEN",
                                    "LIST_CLOSE", "NEED_CONTINUATION", "LITERAL_START",
                                    "LITERAL_END", "COMMAND_END", "RESPONSE",
                                    "TOO_MANY_ERRORS"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "?";
}

static void fill_response(struct mx_imap *r, struct mx_imap_event *ev, enum mx_imap_reason why)
{
    ev->type = MX_IMAP_RESPONSE;
    ev->tag = r->tag;
    ev->tag_len = r->tagged ? r->tag_len : 0;
    ev->response.status = why == MX_IMAP_E_LITERAL_TOO_BIG ? MX_IMAP_NO : MX_IMAP_BAD;
    ev->response.reason = why;
    ev->response.code = (why == MX_IMAP_E_LITERAL_TOO_BIG || why == MX_IMAP_E_NONSYNC_TOO_BIG)
                            ? "TOOBIG"
                            : (why == MX_IMAP_E_LINE_TOO_LONG || why == MX_IMAP_E_DEPTH) ? "LIMIT"
                                                                                       : NULL;
    ev->response.text = reason_text[why];
    r->responses++;
    if (ev->response.status == MX_IMAP_BAD)
        r->error_run++;
}

void mx_imap_answered(struct mx_imap *r, int error)
{
    r->error_run = error ? r->error_run + 1 : 0;
}

/* An error at the current byte: answer, then skip from it (it stays queued). */
static int fail(struct mx_imap *r, struct mx_imap_event *ev, enum mx_imap_reason why)
{
    fill_response(r, ev, why);
    r->st = S_SKIP;
    mx_imap_litmark_init(&r->skip, 0);
    return EVENT;
}

static void lit_begin(struct mx_imap *r, int binary)
{
    r->lit_binary = binary;
    r->lit_plus = 0;
    r->lit_digits = 0;
    r->lit_size = 0;
    if (!r->is_append)
        r->lit_role = MX_IMAP_LIT_ARG;
    r->st = S_LSIZE;
}

static void lit_event(struct mx_imap *r, struct mx_imap_event *ev, enum mx_imap_ev t)
{
    ev->type = t;
    ev->literal.size = r->lit_size;
    ev->literal.sync = !r->lit_plus;
    ev->literal.binary = r->lit_binary;
    ev->literal.role = (enum mx_imap_lit_role)r->lit_role;
}

/* A byte of the current line piece consumed. */
static int eat(struct mx_imap *r)
{
    r->piece_len++;
    return CONSUMED;
}

/* A ")" in S_SEP (after "(") or S_NEED_SEP. */
static int close_list(struct mx_imap *r, struct mx_imap_event *ev)
{
    if (r->depth == 0)
        return fail(r, ev, MX_IMAP_E_PARENS);
    if (append_tok(r, K_CLOSE))
        return fail(r, ev, MX_IMAP_E_APPEND);
    r->depth--;
    r->st = S_NEED_SEP;
    ev->type = MX_IMAP_LIST_CLOSE;
    return eat(r) | EVENT;
}

void mx_imap_litmark_init(struct mx_imap_litmark *w, int bare_lf)
{
    w->size = 0;
    w->st = w->ovf = 0;
    w->bare_lf = (unsigned char)!!bare_lf;
}

/* st: 0 nothing, 1 after "{", 2 in the digits, 3 after "+", 4 after "}", 5 after its CR */
enum mx_imap_mark mx_imap_litmark_byte(struct mx_imap_litmark *w, unsigned b, uint64_t *size)
{
    if (b == '\n') {
        int lit = w->st == 5 || (w->bare_lf && w->st == 4);
        enum mx_imap_mark v = !lit ? MX_IMAP_MARK_NONE : w->ovf ? MX_IMAP_MARK_TOO_BIG : MX_IMAP_MARK_NONSYNC;
        *size = v == MX_IMAP_MARK_NONSYNC ? w->size : 0;
        mx_imap_litmark_init(w, w->bare_lf);
        return v;
    }
    if (b == '{') {
        w->st = 1;
        w->size = 0;
        w->ovf = 0;
    } else if (b >= '0' && b <= '9' && (w->st == 1 || w->st == 2)) {
        if (w->size > (UINT64_MAX - (b - '0')) / 10)
            w->ovf = 1;
        else
            w->size = w->size * 10 + (b - '0');
        w->st = 2;
    } else if (b == '+' && w->st == 2) {
        w->st = 3;
    } else if (b == '}' && w->st == 3) {
        w->st = 4;
    } else if (b == '\r' && w->st == 4) {
        w->st = 5;
    } else {
        w->st = 0;
    }
    return MX_IMAP_MARK_NONE;
}

size_t mx_imap_litmark_idle(const struct mx_imap_litmark *w, const uint8_t *p, size_t n)
{
    size_t i = 0;
    /* with the watch idle (st 0) only LF and "{" move it: a digit, "+", "}" or CR counts only
     * after "{" (st 1 to 4), and every other byte sets st 0 again */
    if (w->st != 0)
        return 0;
    while (i < n && (run_class[p[i]] & RUN_SKIP))
        i++;
    return i;
}

/* The skipper: a skipped line that ends in a {N+} marker is followed by N octets the client
 * sends anyway: swallowed; one whose size does not fit ends the skip like any other line. */
static int skip_byte(struct mx_imap *r, unsigned b)
{
    uint64_t n;
    if (mx_imap_litmark_byte(&r->skip, b, &n) == MX_IMAP_MARK_NONSYNC) {
        r->remaining = n;
        r->st = S_SWALLOW;
    } else if (b == '\n') {
        new_command(r);
    }
    return CONSUMED;
}

static int step(struct mx_imap *r, unsigned b, struct mx_imap_event *ev)
{
    if (r->st == S_SKIP)
        return skip_byte(r, b);
    if (r->piece_len >= r->max_line)
        return fail(r, ev, MX_IMAP_E_LINE_TOO_LONG);

    switch (r->st) {
    case S_TAG:
        if (b == ' ' && r->tag_len > 0) {
            r->tagged = 1;
            r->tok_len = 0;
            r->st = S_NAME;
            return eat(r);
        }
        if (!is_tag_char(b))
            return fail(r, ev, MX_IMAP_E_TAG);
        r->tag[r->tag_len++] = (uint8_t)b;
        return eat(r);

    case S_NAME:
        if (is_name_char(b)) {
            r->tok[r->tok_len++] = (uint8_t)b;
            return eat(r);
        }
        if ((b != ' ' && b != '\r') || r->tok_len == 0)
            return fail(r, ev, MX_IMAP_E_NAME);
        r->is_append = is_append_name(r->tok, r->tok_len);
        r->ast = A_MBOX;
        r->st = S_NEED_SEP;
        ev->type = MX_IMAP_COMMAND_START;
        ev->tag = r->tag;
        ev->tag_len = r->tag_len;
        ev->name = r->tok;
        ev->name_len = r->tok_len;
        return EVENT;

    case S_NEED_SEP:
        if (b == ' ') {
            r->st = S_SEP;
            r->after_open = 0;
            return eat(r);
        }
        if (b == ')')
            return close_list(r, ev);
        if (b == '\r') {
            if (r->depth > 0)
                return fail(r, ev, MX_IMAP_E_PARENS);
            if (append_tok(r, K_END))
                return fail(r, ev, MX_IMAP_E_APPEND);
            r->st = S_CR;
            return eat(r);
        }
        return fail(r, ev, MX_IMAP_E_SYNTAX);

    case S_SEP:
        if (b == '(') {
            if (r->depth >= MX_IMAP_MAX_DEPTH)
                return fail(r, ev, MX_IMAP_E_DEPTH);
            if (append_tok(r, K_OPEN))
                return fail(r, ev, MX_IMAP_E_APPEND);
            r->depth++;
            r->after_open = 1;
            ev->type = MX_IMAP_LIST_OPEN;
            return eat(r) | EVENT;
        }
        if (b == ')') {
            if (!r->after_open)
                return fail(r, ev, MX_IMAP_E_SYNTAX);
            return close_list(r, ev);
        }
        if (b == '"') {
            if (append_tok(r, K_QUOTED))
                return fail(r, ev, MX_IMAP_E_APPEND);
            r->tok_len = 0;
            r->st = S_QUOTED;
            return eat(r);
        }
        if (b == '{') {
            if (append_tok(r, K_LIT))
                return fail(r, ev, MX_IMAP_E_APPEND);
            lit_begin(r, 0);
            return eat(r);
        }
        if (b == '~') {
            r->st = S_TILDE;
            return eat(r);
        }
        if (!is_atom_char(b))
            return fail(r, ev, MX_IMAP_E_SYNTAX);
        if (append_tok(r, K_ATOM))
            return fail(r, ev, MX_IMAP_E_APPEND);
        r->tok_len = 0;
        r->bracket = BRACKET_NONE;
        r->st = S_ATOM;
        return 0; /* look at b again as the atom's first byte */

    case S_TILDE:
        if (b == '{') {
            if (append_tok(r, K_LIT))
                return fail(r, ev, MX_IMAP_E_APPEND);
            lit_begin(r, 1);
            return eat(r);
        }
        if (append_tok(r, K_ATOM))
            return fail(r, ev, MX_IMAP_E_APPEND);
        r->tok[0] = '~';
        r->tok_len = 1;
        r->bracket = BRACKET_NONE;
        r->st = S_ATOM;
        return 0;

    case S_ATOM:
        if (r->bracket >= BRACKET_HL_OPEN) {
            int why = header_list_byte(r, b);
            if (why)
                return fail(r, ev, (enum mx_imap_reason)why);
            r->tok[r->tok_len++] = (uint8_t)b;
            return eat(r);
        }
        if (r->bracket == BRACKET_OPEN && b == ' ' && opens_header_list(r->tok, r->tok_len)) {
            r->bracket = BRACKET_HL_OPEN;
            r->tok[r->tok_len++] = (uint8_t)b;
            return eat(r);
        }
        if (is_atom_char(b)) {
            /* "[" is an ATOM-CHAR (RFC 3501 §9): it may open a section, and nothing but
             * SP after HEADER.FIELDS commits to one, so "a[b" stays a plain atom */
            if (b == '[')
                r->bracket = BRACKET_OPEN;
            else if (b == ']')
                r->bracket = BRACKET_NONE;
            r->tok[r->tok_len++] = (uint8_t)b;
            return eat(r);
        }
        if (b == ' ' || b == ')' || b == '\r') {
            r->st = S_NEED_SEP;
            ev->type = MX_IMAP_ARG;
            ev->arg_kind = MX_IMAP_ATOM;
            ev->data = r->tok;
            ev->len = r->tok_len;
            return EVENT;
        }
        return fail(r, ev, MX_IMAP_E_SYNTAX);

    case S_QUOTED:
        if (b == '"') {
            if (r->is_date && !date_ok(r->tok, r->tok_len))
                return fail(r, ev, MX_IMAP_E_DATE);
            r->is_date = 0;
            r->st = S_NEED_SEP;
            ev->type = MX_IMAP_ARG;
            ev->arg_kind = MX_IMAP_QUOTED;
            ev->data = r->tok;
            ev->len = r->tok_len;
            return eat(r) | EVENT;
        }
        if (b == '\\') {
            r->st = S_QESC;
            return eat(r);
        }
        if (b == 0)
            return fail(r, ev, MX_IMAP_E_QUOTED_NUL);
        if (b == '\r' || b == '\n')
            return fail(r, ev, MX_IMAP_E_QUOTED);
        r->tok[r->tok_len++] = (uint8_t)b;
        return eat(r);

    case S_QESC:
        if (b != '"' && b != '\\')
            return fail(r, ev, MX_IMAP_E_QUOTED);
        r->tok[r->tok_len++] = (uint8_t)b;
        r->st = S_QUOTED;
        return eat(r);

    case S_LSIZE:
        if (b >= '0' && b <= '9') {
            if (r->lit_size > (UINT64_MAX - (b - '0')) / 10)
                return fail(r, ev, MX_IMAP_E_LITERAL_SYNTAX);
            r->lit_size = r->lit_size * 10 + (b - '0');
            r->lit_digits = 1;
            return eat(r);
        }
        if ((b != '+' && b != '}') || !r->lit_digits)
            return fail(r, ev, MX_IMAP_E_LITERAL_SYNTAX);
        r->lit_plus = b == '+';
        r->st = b == '+' ? S_LPLUS : S_LCLOSE;
        return eat(r);

    case S_LPLUS:
        if (b != '}')
            return fail(r, ev, MX_IMAP_E_LITERAL_SYNTAX);
        r->st = S_LCLOSE;
        return eat(r);

    case S_LCLOSE:
        if (b != '\r')
            return fail(r, ev, MX_IMAP_E_LITERAL_SYNTAX);
        r->st = S_LCR;
        return eat(r);

    case S_LCR:
        if (b != '\n')
            return fail(r, ev, MX_IMAP_E_LINE_END);
        if (!r->lit_plus) {
            if (r->lit_size > r->max_literal) {
                fill_response(r, ev, MX_IMAP_E_LITERAL_TOO_BIG);
                new_command(r); /* no continuation: the client sends no octets */
                return CONSUMED | EVENT;
            }
            lit_event(r, ev, MX_IMAP_NEED_CONTINUATION);
        } else {
            if (r->lit_size > r->max_nonsync) {
                fill_response(r, ev, MX_IMAP_E_NONSYNC_TOO_BIG);
                r->remaining = r->lit_size;
                r->st = S_SWALLOW;
                mx_imap_litmark_init(&r->skip, 0);
                return eat(r) | EVENT;
            }
            lit_event(r, ev, MX_IMAP_LITERAL_START);
        }
        r->remaining = r->lit_size;
        r->st = S_LITERAL;
        return eat(r) | EVENT;

    case S_CR:
        if (b != '\n')
            return fail(r, ev, MX_IMAP_E_LINE_END);
        ev->type = MX_IMAP_COMMAND_END;
        r->commands++;
        new_command(r);
        return CONSUMED | EVENT;
    }
    return fail(r, ev, MX_IMAP_E_SYNTAX); /* not reached */
}

enum mx_imap_ev mx_imap_next(struct mx_imap *r, struct mx_chain *c, struct mx_imap_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (r->max_errors && r->error_run >= r->max_errors) {
        /* the limit'th error was answered: nothing more is parsed on this connection */
        ev->type = MX_IMAP_TOO_MANY_ERRORS;
        return ev->type;
    }
    for (;;) {
        const struct mx_chain_seg *it = NULL;
        const unsigned char *p;
        size_t n, i;

        if (r->st == S_LITERAL && r->remaining == 0) {
            lit_event(r, ev, MX_IMAP_LITERAL_END);
            r->st = S_NEED_SEP;
            r->piece_len = 0; /* a new line piece starts after the octets */
            return ev->type;
        }
        if (r->st == S_SWALLOW && r->remaining == 0) {
            r->st = S_SKIP;
            mx_imap_litmark_init(&r->skip, 0);
        }
        if (c->bytes == 0 || !mx_chain_iter(c, &it, &p, &n)) {
            ev->type = MX_IMAP_NEED_MORE;
            return ev->type;
        }
        if (r->st == S_LITERAL || r->st == S_SWALLOW) {
            size_t k = n < r->remaining ? n : (size_t)r->remaining;
            if (r->st == S_LITERAL && r->sink)
                r->sink(r->sink_ctx, p, k);
            mx_chain_consume(c, k);
            r->remaining -= k;
            continue;
        }
        for (i = 0; i < n;) {
            int rc;
            if ((r->st == S_ATOM && r->bracket == BRACKET_NONE) || r->st == S_QUOTED) {
                /* fast path: a run of ordinary bytes inside an atom or a quoted string, each
                 * of which step() would append and count; stops before the line limit */
                size_t j = i, room = r->max_line - r->piece_len;
                size_t end = n - i < room ? n : i + room;
                unsigned cls = r->st == S_ATOM ? RUN_ATOM : RUN_QUOTED;
                while (j < end && (run_class[p[j]] & cls))
                    j++;
                if (j > i) {
                    memcpy(r->tok + r->tok_len, p + i, j - i);
                    r->tok_len += j - i;
                    r->piece_len += j - i;
                    i = j;
                    continue;
                }
            }
            if (r->st == S_SKIP) {
                /* fast path: after an error, the bytes that would go through skip_byte and
                 * change nothing */
                size_t j = mx_imap_litmark_idle(&r->skip, p + i, n - i);
                if (j > 0) {
                    i += j;
                    continue;
                }
            }
            rc = step(r, p[i], ev);
            if (rc & CONSUMED)
                i++;
            if (rc & EVENT) {
                mx_chain_consume(c, i);
                return ev->type;
            }
            if (r->st == S_LITERAL || r->st == S_SWALLOW)
                break;
        }
        mx_chain_consume(c, i);
    }
}

size_t mx_imap_format_response(const struct mx_imap_event *ev, char *buf, size_t n)
{
    size_t need = 0, k;
    const char *parts[6];
    size_t lens[6], np = 0;

    if (ev->type != MX_IMAP_RESPONSE)
        return 0;
    if (ev->tag_len) {
        parts[np] = (const char *)ev->tag;
        lens[np++] = ev->tag_len;
    } else {
        parts[np] = "*";
        lens[np++] = 1;
    }
    parts[np] = ev->response.status == MX_IMAP_NO ? " NO " : " BAD ";
    lens[np] = strlen(parts[np]);
    np++;
    if (ev->response.code) {
        parts[np] = "[";
        lens[np++] = 1;
        parts[np] = ev->response.code;
        lens[np] = strlen(parts[np]);
        np++;
        parts[np] = "] ";
        lens[np++] = 2;
    }
    parts[np] = ev->response.text;
    lens[np] = strlen(parts[np]);
    np++;
    for (k = 0; k < np; k++) {
        if (need < n)
            memcpy(buf + need, parts[k], lens[k] < n - need ? lens[k] : n - need);
        need += lens[k];
    }
    if (need < n)
        memcpy(buf + need, "\r\n", n - need < 2 ? n - need : 2);
    need += 2;
    if (n)
        buf[need < n ? need : n - 1] = 0;
    return need;
}
