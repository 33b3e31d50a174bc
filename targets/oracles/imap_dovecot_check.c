/* imap_dovecot_check.c - libmx's IMAP reader against dovecot's lib-imap parser, command by
 * command (see imap_dovecot_check.h). */
#include "imap_dovecot_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "fail.h"
#include "imap_dovecot_peer.h"
#include "mx/chain.h"
#include "mx/imap.h"

/* ------------------------------------------------------------------ libmx's side */
struct mxc {
    enum dv_verdict verdict;
    uint8_t *tag, *name;
    size_t tag_len, name_len;
    int started;
    enum mx_imap_reason reason;
    struct dv_tok *tok;
    size_t ntok;
    size_t read_done;
};

struct mxrun {
    struct mxc *cmd;
    size_t ncmd;
    int open; /* cmd[ncmd-1] is in progress */
    int lit;  /* the last token is a literal receiving octets */
};


static struct mxc *cur_cmd(struct mxrun *r)
{
    if (!r->open) {
        r->cmd = fz_xrealloc(r->cmd, (r->ncmd + 1) * sizeof *r->cmd);
        memset(&r->cmd[r->ncmd], 0, sizeof r->cmd[0]);
        r->ncmd++;
        r->open = 1;
    }
    return &r->cmd[r->ncmd - 1];
}

static struct dv_tok *add_tok(struct mxc *c, enum dv_tok_kind k, const void *p, size_t n)
{
    c->tok = fz_xrealloc(c->tok, (c->ntok + 1) * sizeof *c->tok);
    memset(&c->tok[c->ntok], 0, sizeof c->tok[0]);
    c->tok[c->ntok].kind = k;
    c->tok[c->ntok].p = fz_memdup(p, n);
    c->tok[c->ntok].n = n;
    return &c->tok[c->ntok++];
}

static void mx_sink(void *ctx, const uint8_t *p, size_t n)
{
    struct mxrun *r = ctx;
    struct dv_tok *t;
    if (!r->open || !r->lit)
        fz_fail("imap_dovecot", "libmx passed %zu literal octets with no literal announced", n);
    t = &r->cmd[r->ncmd - 1].tok[r->cmd[r->ncmd - 1].ntok - 1];
    t->p = fz_xrealloc(t->p, t->n + n + 1);
    memcpy(t->p + t->n, p, n);
    t->n += n;
}

static void mx_event(struct mxrun *r, const struct mx_imap_event *ev, size_t read_idx)
{
    struct mxc *c;
    struct dv_tok *t;
    switch (ev->type) {
    case MX_IMAP_COMMAND_START:
        if (r->open)
            fz_fail("imap_dovecot", "libmx: COMMAND_START inside a command");
        c = cur_cmd(r);
        c->started = 1;
        c->tag = fz_memdup(ev->tag, ev->tag_len);
        c->tag_len = ev->tag_len;
        c->name = fz_memdup(ev->name, ev->name_len);
        c->name_len = ev->name_len;
        break;
    case MX_IMAP_ARG:
        add_tok(cur_cmd(r), ev->arg_kind == MX_IMAP_QUOTED ? DV_QUOTED : DV_ATOM, ev->data,
                ev->len);
        r->lit = 0;
        break;
    case MX_IMAP_LIST_OPEN:
    case MX_IMAP_LIST_CLOSE:
        add_tok(cur_cmd(r), ev->type == MX_IMAP_LIST_OPEN ? DV_OPEN : DV_CLOSE, "", 0);
        r->lit = 0;
        break;
    case MX_IMAP_NEED_CONTINUATION:
    case MX_IMAP_LITERAL_START:
        t = add_tok(cur_cmd(r), DV_LITERAL, "", 0);
        t->size = ev->literal.size;
        t->sync = ev->literal.sync;
        t->binary = ev->literal.binary;
        r->lit = 1;
        break;
    case MX_IMAP_LITERAL_END:
        r->lit = 0;
        break;
    case MX_IMAP_COMMAND_END:
    case MX_IMAP_RESPONSE:
        c = cur_cmd(r);
        c->verdict = ev->type == MX_IMAP_COMMAND_END ? DV_ACCEPT : DV_REJECT;
        if (ev->type == MX_IMAP_RESPONSE)
            c->reason = ev->response.reason;
        c->read_done = read_idx;
        r->open = 0;
        r->lit = 0;
        break;
    default:
        break;
    }
}

static void mx_run(const uint8_t *s, size_t n, const size_t *ends, size_t nreads, unsigned flags,
                   struct mxrun *out)
{
    struct mx_imap rd;
    struct mx_chain c;
    struct mx_imap_event ev;
    size_t off = 0;
    struct mx_imap_config cfg = {n + MX_IMAP_MIN_LINE, UINT64_MAX, flags, mx_sink, out, NULL, 0};

    memset(out, 0, sizeof *out);
    if (mx_imap_init(&rd, &cfg) != 0)
        fz_fail("imap_dovecot", "mx_imap_init failed");
    mx_chain_init(&c, 0, NULL);
    for (size_t i = 0; i < nreads; i++) {
        if (ends[i] > off && mx_chain_append(&c, s + off, ends[i] - off) != MX_CHAIN_OK)
            fz_fail("imap_dovecot", "chain append failed");
        off = ends[i];
        while (mx_imap_next(&rd, &c, &ev) != MX_IMAP_NEED_MORE)
            mx_event(out, &ev, i);
    }
    if (out->open) {
        out->cmd[out->ncmd - 1].verdict = DV_INCOMPLETE;
        out->cmd[out->ncmd - 1].read_done = nreads;
    }
    mx_imap_release(&rd);
    mx_chain_release(&c);
}

static void mx_free(struct mxrun *r)
{
    for (size_t i = 0; i < r->ncmd; i++) {
        for (size_t k = 0; k < r->cmd[i].ntok; k++)
            free(r->cmd[i].tok[k].p);
        free(r->cmd[i].tok);
        free(r->cmd[i].tag);
        free(r->cmd[i].name);
    }
    free(r->cmd);
}

/* ------------------------------------------------------------------ views */
struct sbuf {
    char *p;
    size_t n, cap;
};

static void sb_put(struct sbuf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = fz_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* does the atom end in "[" or "." followed by HEADER.FIELDS[.NOT] (any case), inside an open
 * section? (RFC 3501 §9: section-msgtext after "[" or a part number's "."; without an unclosed
 * "[" before it, "BO1.HEADER.FIELDS" is a plain atom) */
static int is_header_fields_atom(const struct dv_tok *t)
{
    static const char *const kw[] = {"HEADER.FIELDS", "HEADER.FIELDS.NOT"};
    size_t open = SIZE_MAX;
    if (t->kind != DV_ATOM)
        return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->p[i] == '[')
            open = i;
        else if (t->p[i] == ']')
            open = SIZE_MAX;
    if (open == SIZE_MAX)
        return 0;
    for (size_t k = 0; k < 2; k++) {
        size_t m = strlen(kw[k]);
        if (t->n >= m + 1 && (t->p[t->n - m - 1] == '[' || t->p[t->n - m - 1] == '.') &&
            strncasecmp((const char *)t->p + t->n - m, kw[k], m) == 0)
            return 1;
    }
    return 0;
}
static void sb_quoted(struct sbuf *b, const uint8_t *p, size_t n)
{
    sb_str(b, "\"");
    for (size_t k = 0; k < n; k++) {
        if (p[k] == '"' || p[k] == '\\')
            sb_str(b, "\\");
        sb_put(b, &p[k], 1);
    }
    sb_str(b, "\"");
}

/* t[i] opens a header list as dovecot splits it (RFC 3501 §9 header-list = "(" header-fld-name
 * *(SP header-fld-name) ")"): a header-fields atom, "(", atoms and quoted names, ")". Returns the
 * ")"'s index, or 0 when t[i] opens none or the list holds something else (a literal, a nested
 * list) or never closes. */
static size_t dv_header_list_close(const struct dv_tok *t, size_t nt, size_t i)
{
    size_t j;
    if (i + 2 >= nt || !is_header_fields_atom(&t[i]) || t[i + 1].kind != DV_OPEN)
        return 0;
    for (j = i + 2; j < nt && (t[j].kind == DV_ATOM || t[j].kind == DV_QUOTED); j++)
        ;
    return j < nt && t[j].kind == DV_CLOSE ? j : 0;
}

/* does the section's "]" come right after the list's ")" at t[j] (an atom starting with "]")? */
static int dv_section_closed(const struct dv_tok *t, size_t nt, size_t j)
{
    return j + 1 < nt && t[j + 1].kind == DV_ATOM && t[j + 1].n > 0 && t[j + 1].p[0] == ']';
}

/* dovecot's parser splits a section's header list at SP and parens ("BODY[HEADER.FIELDS", "(",
 * "TO]", ")", "]<0.10>"); imap-fetch.c puts it together again. Does the same, in RFC 3501 §9
 * form (the section's "]" right after the list's ")"): appends to b the one atom those tokens are
 * in libmx's reading and returns the index past them, or returns 0 when t[i] opens no header
 * list (dv_header_list_close). The atom after a list's ")" may open the next list
 * ("...]<0.1>X[HEADER.FIELDS (B)]": libmx's atom goes on after "]", and a second "[" opens a
 * section again). Without the atom starting with "]" the list is left unclosed, as dovecot read
 * it. */
static size_t dv_header_list_atom(const struct dv_tok *t, size_t nt, size_t i, struct sbuf *b)
{
    size_t j, start = i;
    while ((j = dv_header_list_close(t, nt, i)) != 0) {
        if (i == start)
            sb_put(b, t[i].p, t[i].n);
        sb_str(b, " (");
        for (size_t k = i + 2; k < j; k++) {
            if (k > i + 2)
                sb_str(b, " ");
            if (t[k].kind == DV_QUOTED)
                sb_quoted(b, t[k].p, t[k].n);
            else
                sb_put(b, t[k].p, t[k].n);
        }
        sb_str(b, ")");
        if (!dv_section_closed(t, nt, j))
            return j + 1;
        sb_put(b, t[j + 1].p, t[j + 1].n);
        i = j + 1; /* the "]" atom: it may open the next list */
    }
    return i == start ? 0 : i + 1;
}

/* The command in RFC 3501 form: single SP separators, quoted strings with \\ and \" escaped,
 * literals as [~]{N[+]} CRLF octets, a section's header list as one atom (no SP before its
 * "]"), CRLF at the end. */
static void canonical(struct sbuf *b, const char *tag, const char *name, const struct dv_tok *t,
                      size_t nt)
{
    sb_str(b, tag);
    sb_str(b, " ");
    sb_str(b, name);
    for (size_t i = 0; i < nt; i++) {
        char m[48];
        size_t past;
        if (t[i].kind != DV_CLOSE && !(i > 0 && t[i - 1].kind == DV_OPEN))
            sb_str(b, " ");
        if ((past = dv_header_list_atom(t, nt, i, b)) != 0) {
            i = past - 1;
            continue;
        }
        switch (t[i].kind) {
        case DV_ATOM:
            sb_put(b, t[i].p, t[i].n);
            break;
        case DV_QUOTED:
            sb_quoted(b, t[i].p, t[i].n);
            break;
        case DV_LITERAL:
            snprintf(m, sizeof m, "%s{%llu%s}\r\n", t[i].binary ? "~" : "",
                     (unsigned long long)t[i].size, t[i].sync ? "" : "+");
            sb_str(b, m);
            sb_put(b, t[i].p, t[i].n);
            break;
        case DV_OPEN:
            sb_str(b, "(");
            break;
        case DV_CLOSE:
            sb_str(b, ")");
            break;
        }
    }
    sb_str(b, "\r\n");
}

/* printable, shortened */
static void sb_escaped(struct sbuf *b, const uint8_t *p, size_t n)
{
    size_t lim = n > 160 ? 160 : n;
    for (size_t i = 0; i < lim; i++) {
        char e[8];
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            sb_put(b, &p[i], 1);
        else {
            snprintf(e, sizeof e, "\\x%02x", p[i]);
            sb_str(b, e);
        }
    }
    if (lim < n)
        sb_str(b, "...");
}

static const char *const verdict_name[] = {"accept", "reject", "fatal", "incomplete"};

static void view_dv(struct sbuf *b, const struct dv_cmd *d)
{
    struct sbuf c = {0};
    char h[160];
    snprintf(h, sizeof h, "dovecot %s%s%s [%zu,%zu) read %zu: ", verdict_name[d->verdict],
             d->error ? " " : "", d->error ? d->error : "", d->start, d->end, d->read_done);
    sb_str(b, h);
    canonical(&c, d->tag ? d->tag : "<no tag>", d->name ? d->name : "<no name>", d->tok, d->ntok);
    sb_escaped(b, (const uint8_t *)c.p, c.n);
    free(c.p);
}

static void view_mx(struct sbuf *b, const struct mxc *m)
{
    struct sbuf c = {0};
    char h[160];
    snprintf(h, sizeof h, "libmx %s%s%s read %zu: ", verdict_name[m->verdict],
             m->verdict == DV_REJECT ? " " : "",
             m->verdict == DV_REJECT ? mx_imap_reason_name(m->reason) : "", m->read_done);
    sb_str(b, h);
    canonical(&c, m->started ? (const char *)m->tag : "<no tag>",
              m->started ? (const char *)m->name : "<no name>", m->tok, m->ntok);
    sb_escaped(b, (const uint8_t *)c.p, c.n);
    free(c.p);
}

/* ------------------------------------------------------------------ the known differences */
struct kctx {
    const struct dv_cmd *d; /* NULL: dovecot has no command here */
    const struct mxc *m;    /* NULL: libmx has none */
    const uint8_t *s;
    size_t n;
    int canon; /* dovecot accepted and the bytes are its parse in RFC 3501 form */
};

static int is_name_byte(unsigned b)
{
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
           b == '-' || b == '_' || b == '.';
}

static int mx_rejects(const struct kctx *k, enum mx_imap_reason r)
{
    return k->m && k->m->verdict == DV_REJECT && (r == 0 || k->m->reason == r);
}
static int dv_accepts(const struct kctx *k)
{
    return k->d && k->d->verdict == DV_ACCEPT;
}
static int dv_rejects(const struct kctx *k, const char *err)
{
    return k->d && (k->d->verdict == DV_REJECT || k->d->verdict == DV_FATAL) &&
           (err == NULL || (k->d->error && strcmp(k->d->error, err) == 0));
}
static int mx_accepts_or_waits(const struct kctx *k)
{
    return k->m && (k->m->verdict == DV_ACCEPT || k->m->verdict == DV_INCOMPLETE);
}

static int k_lenient(const struct kctx *k)
{
    return dv_accepts(k) && mx_rejects(k, 0) && !k->canon;
}
static int k_name_atom(const struct kctx *k)
{
    if (!(dv_accepts(k) || dv_rejects(k, NULL) || (k->d && k->d->verdict == DV_INCOMPLETE)) ||
        !mx_rejects(k, MX_IMAP_E_NAME) || k->d->name == NULL)
        return 0;
    for (const char *p = k->d->name; *p; p++)
        if (!is_name_byte((unsigned char)*p))
            return 1;
    return 0;
}
static int k_depth(const struct kctx *k)
{
    return mx_rejects(k, MX_IMAP_E_DEPTH);
}
static int k_append(const struct kctx *k)
{
    return (mx_rejects(k, MX_IMAP_E_APPEND) || mx_rejects(k, MX_IMAP_E_DATE)) && k->m->started &&
           strcasecmp((const char *)k->m->name, "APPEND") == 0;
}
static int k_8bit(const struct kctx *k)
{
    return dv_rejects(k, "8bit data in atom") && mx_accepts_or_waits(k);
}
static int k_tag_bracket(const struct kctx *k)
{
    if (!dv_rejects(k, "Invalid tag."))
        return 0;
    if (!k->m) /* the stream ends before libmx's tag does: libmx reports a command from its
                * name, dovecot refuses at the "]" (no LF after it: libmx cannot have decided) */
        return memchr(k->s + k->d->start, ']', k->n - k->d->start) &&
               !memchr(k->s + k->d->start, '\n', k->n - k->d->start);
    if (!mx_accepts_or_waits(k) || !k->m->started)
        return 0;
    return memchr(k->m->tag, ']', k->m->tag_len) != NULL;
}
static int k_tag_del(const struct kctx *k)
{
    return k->d && k->d->tag && strchr(k->d->tag, 0x7f) && mx_rejects(k, MX_IMAP_E_TAG);
}
static int k_section(const struct kctx *k)
{
    if (!k->m || !k->d)
        return 0;
    /* dovecot refused a byte libmx takes inside the section (or libmx still waits for ']') */
    if (dv_rejects(k, NULL) && mx_accepts_or_waits(k) && k->d->end > k->d->start &&
        memchr(k->s + k->d->start, '[', k->d->end - k->d->start))
        return 1;
    if (!k->m->started)
        return 0;
    for (size_t i = 0; i < k->m->ntok; i++)
        if (k->m->tok[i].kind == DV_ATOM && memchr(k->m->tok[i].p, '[', k->m->tok[i].n))
            return dv_rejects(k, NULL) && mx_accepts_or_waits(k);
    return 0;
}
/* dovecot's tokens hold a header list outside RFC 3501 §9: section-text = "HEADER.FIELDS"
 * [".NOT"] SP header-list, header-list = "(" header-fld-name *(SP header-fld-name) ")", and
 * section = "[" [section-spec] "]", the "]" right after the list's ")". Invalid: no name ("()"),
 * no list at all after the SP, a nested list, a literal name (an astring, but libmx refuses
 * it: include/mx/imap.h), or no atom starting with "]" right after ")" ("(TO]))", "(TO)" CRLF:
 * "TO]" is one name, "]" being an ASTRING-CHAR). */
static int dv_invalid_header_list(const struct dv_cmd *d)
{
    for (size_t i = 0; i + 1 < d->ntok; i++) {
        size_t j;
        if (!is_header_fields_atom(&d->tok[i]) || d->tok[i + 1].kind == DV_CLOSE)
            continue; /* "(BODY[HEADER.FIELDS)": no SP, so to libmx a plain atom ending at ")" */
        /* no "(" after "HEADER.FIELDS" SP, a literal or nested list, no ")", no name, no "]" */
        j = dv_header_list_close(d->tok, d->ntok, i);
        if (j == 0 || j == i + 2 || !dv_section_closed(d->tok, d->ntok, j))
            return 1;
    }
    return 0;
}
static int k_header_list_invalid(const struct kctx *k)
{
    /* libmx follows §9 byte by byte inside the section (src/imap.c header_list_byte): every
     * such list ends in E_SYNTAX at the byte the grammar has no place for */
    return dv_accepts(k) && mx_rejects(k, MX_IMAP_E_SYNTAX) && dv_invalid_header_list(k->d);
}
static int k_literal_at_lf(const struct kctx *k)
{
    const uint8_t *b, *open;
    if (!k->m || k->m->verdict != DV_INCOMPLETE ||
        !(dv_rejects(k, "Non-synchronizing literal size too large") ||
          dv_rejects(k, "Literal size too large")))
        return 0;
    /* the stream ends between the marker's "}" and its LF */
    b = k->s + k->d->start;
    for (open = NULL; b < k->s + k->n; b++)
        if (*b == '{')
            open = b;
    return open && !memchr(open, '\n', (size_t)(k->s + k->n - open));
}
static int k_incomplete(const struct kctx *k)
{
    return k->d && k->d->verdict == DV_INCOMPLETE && mx_rejects(k, 0);
}

/* THE table: every deliberate difference between libmx's reader and dovecot's parser. A row
 * excuses a command pair the two read differently; the comparison goes on after it only when
 * both sides must be at the same byte again (see resync_safe). */
static const struct known {
    const char *id;
    int (*applies)(const struct kctx *);
    const char *reason;
    const char *rfc;
} known[] = {
    {"lenient-syntax", k_lenient,
     "dovecot accepts forms outside the grammar (runs of SP, SP after '(' or before ')', no SP "
     "between arguments, SP before CRLF, bare LF, '\\' before any character in a quoted "
     "string); libmx rejects them. Excused only when the bytes differ from dovecot's own parse "
     "written in RFC form, so libmx rejecting a well-formed command is still a divergence",
     "RFC 3501 §9 (command, SP, quoted), §2.2 (CRLF); RFC 9051 §9"},
    {"name-atom", k_name_atom,
     "libmx's command name is ALPHA/DIGIT/-/_/. (every defined command); dovecot reads any atom "
     "and its server answers BAD Unknown command (imap-client.c): both reject",
     "RFC 3501 §9 (command-any/auth/nonauth/select, x-command)"},
    {"depth", k_depth,
     "libmx limits list nesting to MX_IMAP_MAX_DEPTH; dovecot's imap process gives its parser no "
     "list limit (imap-client.c passes NULL params)",
     "RFC 3501 §9 sets no depth; a limit is the implementation's (RFC 9051 §2.3? none)"},
    {"append-structure", k_append,
     "libmx checks APPEND's argument order and date-time while reading; dovecot's parser does "
     "not know APPEND (cmd-append.c checks it after parsing)",
     "RFC 3501 §6.3.11, §9 (append, date-time); RFC 3502"},
    {"8bit-atom", k_8bit,
     "libmx's atoms take 0x80-0xFF (mx/imap.h grammar, for UTF-8 mailbox names); dovecot "
     "rejects 8-bit atoms",
     "RFC 3501 §9 ATOM-CHAR is 7-bit; RFC 6855 §3, RFC 9051 §9 (UTF-8 in astring)"},
    {"tag-resp-special", k_tag_bracket,
     "RFC 3501 allows ']' in a tag (ASTRING-CHAR includes resp-specials); libmx accepts it, "
     "dovecot's imap_parser_read_tag rejects it (a dovecot deviation)",
     "RFC 3501 §9 (tag = 1*<any ASTRING-CHAR except \"+\">)"},
    {"tag-del", k_tag_del,
     "dovecot 2.3.19.1 accepts DEL (0x7F) in a tag (fixed upstream, dovecot 05320b62); libmx "
     "rejects it",
     "RFC 3501 §9 (atom-specials include CTL)"},
    {"section", k_section,
     "dovecot's parser refuses some bytes inside a section ('[' ... ']') that libmx's atom takes; "
     "when both accept, dovecot's split header list (\"BODY[HEADER.FIELDS\" \"(\" names \")\" "
     "\"]\") is put together again as libmx's one atom and compared whole",
     "RFC 3501 §6.4.5, §9 (section, section-spec)"},
    {"header-list-invalid", k_header_list_invalid,
     "a section's header list outside the grammar that dovecot's parser accepts as parens "
     "(imap-fetch.c refuses the section later): \")\" not followed by \"]\" (\"BODY[HEADER.FIELDS "
     "(TO]))\", \"(TO)\" CRLF), no list after \"HEADER.FIELDS SP\", no name \"()\", a nested "
     "list, or a literal name (an astring, "
     "refused by libmx by choice: mx/imap.h). libmx refuses each with E_SYNTAX; a list closed "
     "by \")]\" that libmx refuses, or one both read differently, is still a divergence",
     "RFC 3501 §9 (section, section-text, header-list, header-fld-name = astring)"},
    {"literal-size-at-lf", k_literal_at_lf,
     "dovecot refuses a literal's size at its \"}\"; libmx answers at the marker's LF, where the "
     "command line (and with it the literal) is complete: a session ending in between has no "
     "libmx verdict yet",
     "RFC 7888 §4 (LITERAL-: BAD for a larger non-synchronizing literal); RFC 3501 §7.5"},
    {"incomplete", k_incomplete,
     "the session ends before dovecot reached its verdict on a command libmx already rejected "
     "(dovecot reads a line to its end before deciding some forms)",
     "-"},
};
#define NKNOWN (sizeof known / sizeof known[0])

static const struct known *excuse(const struct kctx *k)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (known[i].applies(k))
            return &known[i];
    return NULL;
}

/* After a pair not both accepted, both sides are at the same byte again only if the command's
 * first line holds no literal marker: dovecot skips to the next LF (client_skip_line) and
 * disconnects on LITERAL_TOO_BIG; libmx swallows the octets of a non-synchronizing literal that
 * ends a skipped line (mx/imap.h "After an error"; RFC 7888 §4: the client sends them anyway).
 * Otherwise the comparison stops at this command. */
static int resync_safe(const struct dv_cmd *d, const uint8_t *s, size_t n)
{
    for (size_t i = d->start; i < n && s[i] != '\n'; i++)
        if (s[i] == '{')
            return 0;
    return d->verdict != DV_FATAL && d->verdict != DV_INCOMPLETE;
}

/* ------------------------------------------------------------------ comparison */
static __attribute__((noreturn)) void diverge(size_t k, const char *label, const char *what,
                                              const struct dv_cmd *d, const struct mxc *m)
{
    struct sbuf b = {0};
    sb_str(&b, what);
    sb_str(&b, " | ");
    if (d)
        view_dv(&b, d);
    else
        sb_str(&b, "dovecot: no command");
    sb_str(&b, " | ");
    if (m)
        view_mx(&b, m);
    else
        sb_str(&b, "libmx: no command");
    fz_at("command", (long)k);
    fz_fail("imap_dovecot", "(%s) %s", label, b.p);
}

static int tok_eq(const struct dv_tok *a, const struct dv_tok *b)
{
    if (a->kind != b->kind || a->n != b->n || (a->n && memcmp(a->p, b->p, a->n) != 0))
        return 0;
    if (a->kind == DV_LITERAL &&
        (a->size != b->size || a->sync != b->sync || a->binary != b->binary))
        return 0;
    return 1;
}

static void compare(const uint8_t *s, size_t n, const struct dv_result *dv,
                    const struct mxrun *mx, const char *label, int trace)
{
    for (size_t k = 0;; k++) {
        const struct dv_cmd *d = k < dv->ncmd ? &dv->cmd[k] : NULL;
        const struct mxc *m = k < mx->ncmd ? &mx->cmd[k] : NULL;
        struct kctx kc = {d, m, s, n, 0};
        const struct known *why = NULL;
        if (!d && !m)
            return;
        if (trace) {
            struct sbuf b = {0};
            if (d)
                view_dv(&b, d);
            sb_str(&b, "\n    ");
            if (m)
                view_mx(&b, m);
            fprintf(stderr, "[%s] command %zu:\n    %s\n", label, k, b.p);
            free(b.p);
        }
        if (!m && d->verdict == DV_INCOMPLETE && d->name == NULL)
            return; /* a partial tag or name at the end: libmx reports a command from its name */
        if (!d || !m) { /* nothing after it to compare: the stream ends inside a command */
            if ((why = excuse(&kc)) == NULL)
                diverge(k, label, "one side has a command the other has not", d, m);
            if (trace)
                fprintf(stderr, "    known difference: %s\n", why->id);
            return;
        }
        if (d->verdict == DV_ACCEPT) {
            struct sbuf c = {0};
            canonical(&c, d->tag, d->name, d->tok, d->ntok);
            kc.canon = c.n == d->end - d->start && memcmp(c.p, s + d->start, c.n) == 0;
            free(c.p);
        }
        if (d->verdict == DV_ACCEPT && m->verdict == DV_ACCEPT) {
            if (strlen(d->tag) != m->tag_len || memcmp(d->tag, m->tag, m->tag_len) != 0)
                diverge(k, label, "tags differ", d, m);
            if (strlen(d->name) != m->name_len || memcmp(d->name, m->name, m->name_len) != 0)
                diverge(k, label, "command names differ", d, m);
            if (d->read_done != m->read_done)
                diverge(k, label, "the command ends in different reads", d, m);
            /* dovecot's tokens with each header list put together as libmx reads it: one
             * atom (dv_header_list_atom), so every argument is compared whole */
            struct dv_tok *dt = fz_xrealloc(NULL, (d->ntok ? d->ntok : 1) * sizeof *dt);
            struct sbuf *hl = fz_xrealloc(NULL, (d->ntok ? d->ntok : 1) * sizeof *hl);
            size_t nd = 0, nhl = 0;
            for (size_t i = 0; i < d->ntok; nd++) {
                size_t past;
                hl[nhl] = (struct sbuf){0};
                if ((past = dv_header_list_atom(d->tok, d->ntok, i, &hl[nhl])) != 0) {
                    dt[nd] = (struct dv_tok){.kind = DV_ATOM, .p = (uint8_t *)hl[nhl].p,
                                             .n = hl[nhl].n};
                    nhl++;
                    i = past;
                } else {
                    dt[nd] = d->tok[i++];
                }
            }
            if (nd != m->ntok)
                diverge(k, label, "argument counts differ", d, m);
            for (size_t i = 0; i < nd; i++)
                if (!tok_eq(&dt[i], &m->tok[i]))
                    diverge(k, label, "arguments differ", d, m);
            for (size_t i = 0; i < nhl; i++)
                free(hl[i].p);
            free(hl);
            free(dt);
            continue;
        }
        if (d->verdict == DV_INCOMPLETE && m->verdict == DV_INCOMPLETE)
            return;
        if ((d->verdict == DV_REJECT || d->verdict == DV_FATAL) && m->verdict == DV_REJECT) {
            /* both reject */
        } else if ((why = excuse(&kc)) == NULL) {
            diverge(k, label, "verdicts differ", d, m);
        }
        if (trace && why)
            fprintf(stderr, "    known difference: %s\n", why->id);
        if (!resync_safe(d, s, n) || m->verdict == DV_INCOMPLETE)
            return;
    }
}

/* ------------------------------------------------------------------ the target */
void imap_dovecot_init(void)
{
    dv_init();
}

void imap_dovecot_check_session(const struct fz_session *s)
{
    struct fz_reader rdr;
    struct fz_read rd;
    uint8_t *stream = malloc(s->ev_size + 1);
    size_t *ends = malloc((s->ev_size + 1) * sizeof *ends);
    size_t n = 0, nreads = 0;
    static int trace = -1;

    if (trace < 0) {
        const char *t = getenv("MXFUZZ_IMAP_DOVECOT_TRACE");
        trace = t && *t && *t != '0';
    }
    if (!stream || !ends) {
        free(stream);
        free(ends);
        return;
    }
    fz_reader_init(&rdr, s);
    while (fz_reader_next(&rdr, &rd))
        if (rd.kind == FZ_READ_DATA && rd.n > 0) {
            memcpy(stream + n, rd.p, rd.n);
            n += rd.n;
            ends[nreads++] = n;
        }
    for (int plus = 0; plus <= 1; plus++) {
        struct dv_result dv;
        struct mxrun mx;
        const char *label = plus ? "LITERAL+" : "LITERAL-";
        dv_run(stream, n, ends, nreads, !plus, &dv);
        mx_run(stream, n, ends, nreads, plus ? MX_IMAP_LITERAL_PLUS : 0, &mx);
        compare(stream, n, &dv, &mx, label, trace);
        dv_free(&dv);
        mx_free(&mx);
    }
    free(stream);
    free(ends);
}
