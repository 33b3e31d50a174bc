/* proto_imap.c - IMAP: before authentication libmx's pre-auth machine (mx/machine.h, MX_APP_IMAP)
 * answers CAPABILITY, STARTTLS, LOGIN, LOGOUT, NOOP; after LOGIN libmx's command reader
 * (mx/imap.h) parses every command -- tokens, lists, literals, APPEND, continuation requests --
 * and this module executes the RFC 3501 commands of the authenticated and selected states
 * that a client needs to store and read mail (the list is in serve/README.md); arguments are
 * collected as tokens (struct tok) and a command runs at its COMMAND_END. Mailboxes are
 * Maildir++ folders (maildir.h); their names are checked by md_box_check before any path is
 * made from them.
 *
 * The login check: the machine asks mx-serve (mx_conn_cfg.check, auth.c) before it accepts
 * LOGIN or AUTHENTICATE PLAIN; LOGIN's arguments are parsed here by libmx's command reader
 * (imap_login_check). A refusal is the machine's NO [AUTHENTICATIONFAILED]; the client may try
 * again, up to --auth-failures times, each refusal held back for --auth-delay.
 *
 * APPEND / MULTIAPPEND: up to IMAP_MULTI messages per APPEND; each literal is written and kept
 * open until the command's CRLF, then all are committed as one job on the commit threads
 * (commit.h), then the tagged OK [APPENDUID] is sent (or NO, and none is kept).
 *
 * FETCH writes one message's response at a time and pauses between messages while more than
 * SERVE_OUT_HIGH bytes wait to be sent (c->want_drive resumes it), so a FETCH of many large
 * messages never queues more than one of them. IDLE (RFC 2177) reads its DONE line with
 * libmx's line framer; a commit into the idling session's mailbox (any connection's APPEND or
 * SMTP delivery) sends the new EXISTS at once; the connection's idle timeout bounds it.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mx/imap.h"
#include "mx/machine.h"

#include "serve.h"

#define IMAP_MULTI COMMIT_MAX
#define IMAP_TAG_MAX 128
/* tokens of one command (arguments, list brackets) */
#define IMAP_MAX_TOK 128
/* largest mailbox a session selects: SELECT of a bigger one gets NO [LIMIT] */
#define IMAP_MAX_MSGS 10000
#define IMAP_MAX_RANGES 64
#define IMAP_MAX_ITEMS 16

enum tok_kind { T_ATOM, T_QUOTED, T_LITERAL, T_OPEN, T_CLOSE };
struct tok {
    uint8_t kind;
    uint32_t off, len;
};

struct range {
    uint32_t a, b;
};

enum fetch_kind { F_FLAGS, F_UID, F_SIZE, F_DATE, F_BODY };
enum fetch_section { S_ALL, S_HEADER, S_TEXT };
struct fetch_item {
    enum fetch_kind kind;
    enum fetch_section section;
    int peek;
    int partial;
    uint64_t origin, count;
    const char *rfc822; /* the item's RFC822 name ("RFC822", "RFC822.HEADER", ...) or NULL */
};

struct fetch {
    int active, uid;
    struct range set[IMAP_MAX_RANGES];
    int nset;
    struct fetch_item it[IMAP_MAX_ITEMS];
    int nit;
    size_t next; /* index into the session's messages */
};

struct imap_sess {
    struct mx_machine m;
    uint8_t line[SERVE_LINE_MAX];
    struct mx_imap r;
    int authed;
    struct conn *c;
    /* the command being read */
    char tag[IMAP_TAG_MAX + 1];
    char name[32];
    struct tok tok[IMAP_MAX_TOK];
    int ntok;
    uint8_t tokbuf[SERVE_IMAP_LINE];
    size_t tokn;
    int tok_over;     /* the command's tokens did not fit: BAD at its end */
    int lit_arg;      /* the sink's octets are an argument literal (tok[ntok - 1]) */
    /* APPEND */
    char mailbox[MD_BOX_MAX + 1];
    int flags_from;   /* first token of the next message's flag list */
    int refused;      /* APPEND refused: the rest of its literals is dropped */
    const char *refusal;
    char refusal_buf[300];
    int in_message;   /* msg receives the sink's octets */
    struct md_msg msg;
    struct md_msg done[IMAP_MULTI];
    unsigned done_flags[IMAP_MULTI];
    unsigned msg_flags;
    int ndone;
    /* the selected mailbox */
    int selected, readonly;
    char sel[MD_BOX_MAX + 1];
    uint32_t validity;
    struct md_mail *mail;
    size_t nmail;
    struct fetch f;
    /* IDLE */
    int idling;
    struct mx_liner il;
    uint8_t ibuf[64];
};

static void imap_sink(void *ctx, const uint8_t *p, size_t n)
{
    struct imap_sess *s = ctx;
    if (s->lit_arg) {
        /* an argument literal (a mailbox name, a flag): kept with the tokens, bounded */
        if (n > sizeof s->tokbuf - s->tokn) {
            s->tok_over = 1;
            return;
        }
        memcpy(s->tokbuf + s->tokn, p, n);
        s->tokn += n;
        s->tok[s->ntok - 1].len += (uint32_t)n;
        return;
    }
    if (s->in_message && !s->refused)
        md_write(&s->msg, p, n);
}

static int imap_open(struct conn *c, const struct mx_conn_cfg *cfg)
{
    struct imap_sess *s = calloc(1, sizeof *s);
    struct mx_imap_config rc;
    if (!s)
        return -1;
    s->c = c;
    md_msg_init(&s->msg);
    for (int i = 0; i < IMAP_MULTI; i++)
        md_msg_init(&s->done[i]);
    memset(&rc, 0, sizeof rc);
    rc.max_line = SERVE_IMAP_LINE;
    rc.max_literal = cfg->max_message;
    /* the listener's literal mode (libmx's literal-minus option, RFC 7888 4): the reader
     * refuses a {N+} over 4096 octets under LITERAL- and swallows its octets */
    rc.flags = cfg->literal_minus ? 0 : MX_IMAP_LITERAL_PLUS;
    rc.sink = imap_sink;
    rc.sink_ctx = s;
    /* after login the reader bounds the errors as the machine does before it (--max-errors) */
    rc.max_errors = cfg->max_errors ? cfg->max_errors : MX_MAX_ERRORS;
    if (conn_machine_init(c, &s->m, MX_APP_IMAP, cfg, s->line, sizeof s->line) != 0 || mx_imap_init(&s->r, &rc) != 0) {
        free(s);
        return -1;
    }
    mx_liner_init(&s->il, s->ibuf, sizeof s->ibuf);
    c->proto_state = s;
    return 0;
}

static void drop_messages(struct conn *c, struct imap_sess *s)
{
    md_abort(&c->srv->md, &s->msg);
    for (int i = 0; i < s->ndone; i++)
        md_abort(&c->srv->md, &s->done[i]);
    s->ndone = 0;
    s->in_message = 0;
}

static void tagged(struct conn *c, struct imap_sess *s, const char *rest)
{
    char l[512];
    snprintf(l, sizeof l, "%s %s\r\n", s->tag, rest);
    conn_sends(c, l);
    /* the command's answer: a BAD counts in libmx's bound on consecutive protocol errors, any
     * other ends the run (mx/imap.h, Errors) */
    mx_imap_answered(&s->r, strncmp(rest, "BAD", 3) == 0);
}

/* IMAP LOGIN's arguments (cfg.check, MX_CHECK_LOGIN): parsed by libmx's command reader as the
 * line "x LOGIN args", so quoted strings are unescaped as RFC 3501 4.3 says; the two arguments
 * against the user table. The reader is the session's own (idle before authentication). */
int imap_login_check(struct conn *c, const uint8_t *arg, size_t n, char *who, size_t wn)
{
    struct imap_sess *s = c->proto_state;
    struct mx_chain ch;
    struct mx_imap_event ev;
    int nargs = 0, ok = 0, done = 0;
    uint8_t user[256], pass[256];
    size_t ul = 0, pl = 0;
    snprintf(who, wn, "?");
    mx_chain_init(&ch, 0, NULL);
    mx_imap_reset(&s->r);
    if (mx_chain_append(&ch, "x LOGIN ", 8) == MX_CHAIN_OK && mx_chain_append(&ch, arg, n) == MX_CHAIN_OK &&
        mx_chain_append(&ch, "\r\n", 2) == MX_CHAIN_OK) {
        for (int guard = 0; guard < 16 && !done; guard++) {
            switch (mx_imap_next(&s->r, &ch, &ev)) {
            case MX_IMAP_COMMAND_START:
                break;
            case MX_IMAP_ARG:
                if (nargs == 0 && ev.len < sizeof user)
                    memcpy(user, ev.data, ul = ev.len);
                if (nargs == 1 && ev.len < sizeof pass)
                    memcpy(pass, ev.data, pl = ev.len);
                nargs++;
                break;
            case MX_IMAP_COMMAND_END:
                ok = nargs == 2 && serve_check_login(c->srv, user, ul, pass, pl);
                done = 1;
                break;
            default:
                done = 1;
                break;
            }
        }
    }
    mx_chain_release(&ch);
    mx_imap_reset(&s->r);
    snprintf(who, wn, "%.*s", (int)(ul > 64 ? 64 : ul), (const char *)user);
    return ok;
}

static void capability(struct conn *c, struct imap_sess *s)
{
    /* LITERAL+ or LITERAL- as the listener says (the reader runs in that mode: imap_open) */
    conn_sends(c, s->m.cfg.literal_minus ? "* CAPABILITY IMAP4rev1 LITERAL- MULTIAPPEND UIDPLUS IDLE UNSELECT\r\n"
                                         : "* CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND UIDPLUS IDLE UNSELECT\r\n");
    tagged(c, s, "OK CAPABILITY completed");
}

/* ---- tokens ---- */

static const uint8_t *tok_data(const struct imap_sess *s, int i)
{
    return s->tokbuf + s->tok[i].off;
}

static int tok_is_string(const struct imap_sess *s, int i)
{
    return i < s->ntok && (s->tok[i].kind == T_ATOM || s->tok[i].kind == T_QUOTED || s->tok[i].kind == T_LITERAL);
}

static int tok_atom_is(const struct imap_sess *s, int i, const char *w)
{
    size_t n = strlen(w);
    return i < s->ntok && s->tok[i].kind == T_ATOM && s->tok[i].len == n &&
           strncasecmp((const char *)tok_data(s, i), w, n) == 0;
}

/* token i as a C string (atom, quoted, literal); NULL if it is not one, does not fit or holds
 * a NUL */
static const char *tok_cstr(const struct imap_sess *s, int i, char *out, size_t cap)
{
    if (!tok_is_string(s, i) || s->tok[i].len >= cap || memchr(tok_data(s, i), 0, s->tok[i].len))
        return NULL;
    memcpy(out, tok_data(s, i), s->tok[i].len);
    out[s->tok[i].len] = 0;
    return out;
}

/* token i as a mailbox name: NULL, or why it is refused. INBOX in any case becomes "INBOX". */
static const char *tok_box(const struct imap_sess *s, int i, char out[MD_BOX_MAX + 1])
{
    const char *why;
    if (!tok_is_string(s, i))
        return "mailbox name expected";
    why = md_box_check((const char *)tok_data(s, i), s->tok[i].len);
    if (why)
        return why;
    memcpy(out, tok_data(s, i), s->tok[i].len);
    out[s->tok[i].len] = 0;
    if (md_box_is_inbox(out))
        strcpy(out, "INBOX");
    return NULL;
}

static void add_tok(struct imap_sess *s, enum tok_kind k, const uint8_t *p, size_t n)
{
    if (s->ntok >= IMAP_MAX_TOK || n > sizeof s->tokbuf - s->tokn) {
        s->tok_over = 1;
        return;
    }
    s->tok[s->ntok].kind = (uint8_t)k;
    s->tok[s->ntok].off = (uint32_t)s->tokn;
    s->tok[s->ntok].len = (uint32_t)n;
    if (n)
        memcpy(s->tokbuf + s->tokn, p, n);
    s->tokn += n;
    s->ntok++;
}

/* an IMAP quoted string (RFC 3501 4.3) of name into l at *k */
static void put_quoted(char *l, size_t cap, size_t *k, const char *name)
{
    if (*k < cap)
        l[(*k)++] = '"';
    for (; *name && *k + 2 < cap; name++) {
        if (*name == '"' || *name == '\\')
            l[(*k)++] = '\\';
        l[(*k)++] = *name;
    }
    if (*k < cap)
        l[(*k)++] = '"';
    l[*k < cap ? *k : cap - 1] = 0;
}

/* ---- flags ---- */

static const struct {
    const char *name;
    unsigned bit;
} system_flags[] = {{"\\Answered", MDF_ANSWERED}, {"\\Flagged", MDF_FLAGGED}, {"\\Deleted", MDF_DELETED},
                    {"\\Seen", MDF_SEEN}, {"\\Draft", MDF_DRAFT}};

static void flags_str(unsigned f, char *out, size_t n)
{
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof system_flags / sizeof system_flags[0]; i++)
        if (f & system_flags[i].bit)
            k += (size_t)snprintf(out + k, n - k, "%s%s", k ? " " : "", system_flags[i].name);
}

/* one flag atom: its bit, 0 for a keyword (kept for the session only: not in PERMANENTFLAGS,
 * RFC 3501 7.1), -1 for \Recent or an unknown system flag (RFC 3501 6.4.6: BAD) */
static int flag_bit(const uint8_t *p, size_t n)
{
    if (n == 0)
        return -1;
    if (p[0] != '\\')
        return 0;
    for (size_t i = 0; i < sizeof system_flags / sizeof system_flags[0]; i++)
        if (strlen(system_flags[i].name) == n && strncasecmp((const char *)p, system_flags[i].name, n) == 0)
            return (int)system_flags[i].bit;
    return -1;
}

/* flags from tokens [from, to): an optional list "(" ... ")" or bare atoms; -1 on a bad one */
static int parse_flags(const struct imap_sess *s, int from, int to, unsigned *out)
{
    *out = 0;
    for (int i = from; i < to; i++) {
        int b;
        if (s->tok[i].kind == T_OPEN || s->tok[i].kind == T_CLOSE)
            continue;
        if (s->tok[i].kind != T_ATOM)
            return -1;
        b = flag_bit(tok_data(s, i), s->tok[i].len);
        if (b < 0)
            return -1;
        *out |= (unsigned)b;
    }
    return 0;
}

/* ---- sequence sets (RFC 3501 9: sequence-set) ---- */

static int parse_num(const uint8_t *p, size_t n, size_t *i, uint32_t star, uint32_t *out)
{
    uint64_t v = 0;
    size_t st = *i;
    if (*i < n && p[*i] == '*') {
        (*i)++;
        *out = star;
        return 0;
    }
    while (*i < n && p[*i] >= '0' && p[*i] <= '9') {
        v = v * 10 + (uint64_t)(p[*i] - '0');
        if (v > UINT32_MAX)
            return -1;
        (*i)++;
    }
    if (*i == st || v == 0) /* nz-number */
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_set(const struct imap_sess *s, int ti, uint32_t star, struct range *set, int *nset)
{
    const uint8_t *p;
    size_t n, i = 0;
    if (ti >= s->ntok || s->tok[ti].kind != T_ATOM)
        return -1;
    p = tok_data(s, ti);
    n = s->tok[ti].len;
    *nset = 0;
    while (i < n) {
        uint32_t a, b;
        if (parse_num(p, n, &i, star, &a) != 0)
            return -1;
        b = a;
        if (i < n && p[i] == ':') {
            i++;
            if (parse_num(p, n, &i, star, &b) != 0)
                return -1;
        }
        if (*nset >= IMAP_MAX_RANGES)
            return -1;
        set[*nset].a = a < b ? a : b;
        set[(*nset)++].b = a < b ? b : a;
        if (i < n && p[i] != ',')
            return -1;
        if (i < n && ++i == n)
            return -1; /* a trailing comma */
    }
    return *nset ? 0 : -1;
}

static int in_set(const struct range *set, int nset, uint32_t v)
{
    for (int i = 0; i < nset; i++)
        if (v >= set[i].a && v <= set[i].b)
            return 1;
    return 0;
}

/* the "*" of a set, and whether message i (0-based) is in it */
static uint32_t set_star(const struct imap_sess *s, int uid)
{
    return uid ? (s->nmail ? s->mail[s->nmail - 1].uid : 0) : (uint32_t)s->nmail;
}

static int msg_in(const struct imap_sess *s, const struct range *set, int nset, int uid, size_t i)
{
    return in_set(set, nset, uid ? s->mail[i].uid : (uint32_t)(i + 1));
}

/* a message sequence set may only name messages that exist (RFC 3501 9, 6.4.8: UIDs need not) */
static int seq_valid(const struct imap_sess *s, const struct range *set, int nset)
{
    for (int i = 0; i < nset; i++)
        if (set[i].b > s->nmail || set[i].a == 0)
            return 0;
    return 1;
}

/* ---- the selected mailbox ---- */

static void deselect(struct imap_sess *s)
{
    free(s->mail);
    s->mail = NULL;
    s->nmail = 0;
    s->selected = 0;
    s->f.active = 0;
}

/* Rescans the selected mailbox and tells the client what changed (RFC 3501 7.4.1 EXPUNGE,
 * 7.3.1 EXISTS, 7.4.2 FETCH FLAGS). Called only between commands, where RFC 3501 5.5 allows
 * expunge responses. */
static void update(struct conn *c, struct imap_sess *s)
{
    struct md_mail *nm;
    int n;
    size_t j = 0;
    char l[200], fl[80];
    if (!s->selected)
        return;
    n = md_scan(&c->srv->md, s->sel, &nm, IMAP_MAX_MSGS);
    if (n < 0)
        return; /* keep the old view; the next command may fail on a vanished message */
    /* expunged by someone else: highest sequence number first, so each number is still valid */
    for (size_t i = s->nmail; i-- > 0;) {
        int found = 0;
        for (int k = 0; k < n && !found; k++)
            found = nm[k].uid == s->mail[i].uid;
        if (!found) {
            snprintf(l, sizeof l, "* %zu EXPUNGE\r\n", i + 1);
            conn_sends(c, l);
            memmove(&s->mail[i], &s->mail[i + 1], (s->nmail - i - 1) * sizeof *s->mail);
            s->nmail--;
        }
    }
    /* flag changes of the ones still here */
    for (size_t i = 0; i < s->nmail; i++) {
        while (j < (size_t)n && nm[j].uid < s->mail[i].uid)
            j++;
        if (j < (size_t)n && nm[j].uid == s->mail[i].uid && nm[j].flags != s->mail[i].flags) {
            flags_str(nm[j].flags, fl, sizeof fl);
            snprintf(l, sizeof l, "* %zu FETCH (FLAGS (%s))\r\n", i + 1, fl);
            conn_sends(c, l);
        }
    }
    if ((size_t)n != s->nmail) {
        snprintf(l, sizeof l, "* %d EXISTS\r\n", n);
        conn_sends(c, l);
    }
    free(s->mail);
    s->mail = nm;
    s->nmail = (size_t)n;
}

/* token i names a mailbox that exists: 0; else the NO is sent and -1 */
static int existing_box(struct conn *c, struct imap_sess *s, int i, char box[MD_BOX_MAX + 1])
{
    char l[300];
    const char *why = tok_box(s, i, box);
    if (why) {
        snprintf(l, sizeof l, "NO %s", why);
        tagged(c, s, l);
        return -1;
    }
    if (!md_box_exists(&c->srv->md, box)) {
        tagged(c, s, "NO [NONEXISTENT] no such mailbox");
        return -1;
    }
    return 0;
}

static void do_select(struct conn *c, struct imap_sess *s, int readonly)
{
    char box[MD_BOX_MAX + 1], l[600], fl[80];
    uint32_t validity, next;
    size_t unseen = 0;
    int n;
    deselect(s); /* RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected */
    if (s->ntok != 1) {
        tagged(c, s, "BAD SELECT/EXAMINE takes one mailbox name");
        return;
    }
    if (existing_box(c, s, 0, box) != 0)
        return;
    n = md_scan(&c->srv->md, box, &s->mail, IMAP_MAX_MSGS);
    if (n < 0 || md_box_uids(&c->srv->md, box, &validity, &next) != 0) {
        tagged(c, s, n < 0 && errno == EOVERFLOW ? "NO [LIMIT] mailbox holds more messages than mx-serve selects"
                                                 : "NO [SERVERBUG] cannot read the mailbox");
        free(s->mail);
        s->mail = NULL;
        return;
    }
    s->nmail = (size_t)n;
    s->selected = 1;
    s->readonly = readonly;
    s->validity = validity;
    snprintf(s->sel, sizeof s->sel, "%s", box);
    for (size_t i = 0; i < s->nmail && !unseen; i++)
        if (!(s->mail[i].flags & MDF_SEEN))
            unseen = i + 1;
    flags_str(MDF_ANSWERED | MDF_FLAGGED | MDF_DELETED | MDF_SEEN | MDF_DRAFT, fl, sizeof fl);
    snprintf(l, sizeof l, "* FLAGS (%s)\r\n* %zu EXISTS\r\n* 0 RECENT\r\n* OK [PERMANENTFLAGS (%s)] flags kept\r\n"
                          "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] next UID\r\n",
             fl, s->nmail, readonly ? "" : fl, validity, next);
    conn_sends(c, l);
    if (unseen) {
        snprintf(l, sizeof l, "* OK [UNSEEN %zu] first unseen\r\n", unseen);
        conn_sends(c, l);
    }
    tagged(c, s, readonly ? "OK [READ-ONLY] EXAMINE completed" : "OK [READ-WRITE] SELECT completed");
}

/* ---- LIST / LSUB (RFC 3501 6.3.8, 6.3.9) ---- */

/* "*" matches anything, "%" anything but the hierarchy delimiter */
static int wild_match(const char *pat, const char *name)
{
    for (; *pat; pat++, name++) {
        if (*pat == '*' || *pat == '%') {
            for (const char *t = name;; t++) {
                if (wild_match(pat + 1, t))
                    return 1;
                if (!*t || (*pat == '%' && *t == '.'))
                    return 0;
            }
        }
        if (*pat != *name)
            return 0;
    }
    return *name == 0;
}

struct list_ctx {
    char names[MD_MAX_BOXES + 1][MD_BOX_MAX + 1];
    int n;
};

static void list_collect(void *ctx, const char *name)
{
    struct list_ctx *lc = ctx;
    if (lc->n <= MD_MAX_BOXES)
        snprintf(lc->names[lc->n++], MD_BOX_MAX + 1, "%s", name);
}

static void do_list(struct conn *c, struct imap_sess *s, int lsub)
{
    char ref[MD_BOX_MAX + 1], pat[MD_BOX_MAX + 1], full[2 * MD_BOX_MAX + 2];
    struct list_ctx *lc;
    const char *word = lsub ? "LSUB" : "LIST";
    if (s->ntok != 2 || !tok_cstr(s, 0, ref, sizeof ref) || !tok_cstr(s, 1, pat, sizeof pat)) {
        tagged(c, s, "BAD LIST/LSUB takes a reference and a mailbox pattern");
        return;
    }
    if (!pat[0]) {
        /* RFC 3501 6.3.8: an empty pattern asks for the hierarchy delimiter */
        char l[80];
        snprintf(l, sizeof l, "* %s (\\Noselect) \".\" \"\"\r\n", word);
        conn_sends(c, l);
        tagged(c, s, lsub ? "OK LSUB completed" : "OK LIST completed");
        return;
    }
    snprintf(full, sizeof full, "%s%s", ref, pat);
    if (strncasecmp(full, "INBOX", 5) == 0 && (full[5] == 0 || full[5] == '.'))
        memcpy(full, "INBOX", 5); /* INBOX is case-insensitive (RFC 3501 5.1) */
    if (!(lc = calloc(1, sizeof *lc))) {
        tagged(c, s, "NO [SERVERBUG] out of memory");
        return;
    }
    md_box_list(&c->srv->md, list_collect, lc);
    for (int i = 0; i < lc->n; i++) {
        char l[600];
        size_t k, nl = strlen(lc->names[i]);
        int children = 0;
        if (!wild_match(full, lc->names[i]))
            continue;
        for (int j = 0; j < lc->n && !children; j++)
            children = strncmp(lc->names[j], lc->names[i], nl) == 0 && lc->names[j][nl] == '.';
        k = (size_t)snprintf(l, sizeof l, "* %s (%s) \".\" ", word, children ? "\\HasChildren" : "\\HasNoChildren");
        put_quoted(l, sizeof l - 2, &k, lc->names[i]);
        memcpy(l + k, "\r\n", 3);
        conn_sends(c, l);
    }
    free(lc);
    tagged(c, s, lsub ? "OK LSUB completed" : "OK LIST completed");
}

static void do_status(struct conn *c, struct imap_sess *s)
{
    char box[MD_BOX_MAX + 1], l[700], item[32];
    struct md_mail *mm = NULL;
    uint32_t validity, next;
    size_t k, unseen = 0;
    int n, first = 1;
    if (s->ntok < 3 || s->tok[1].kind != T_OPEN || s->tok[s->ntok - 1].kind != T_CLOSE) {
        tagged(c, s, "BAD STATUS mailbox (items)");
        return;
    }
    if (existing_box(c, s, 0, box) != 0)
        return;
    n = md_scan(&c->srv->md, box, &mm, IMAP_MAX_MSGS);
    if (n < 0 || md_box_uids(&c->srv->md, box, &validity, &next) != 0) {
        free(mm);
        tagged(c, s, "NO [SERVERBUG] cannot read the mailbox");
        return;
    }
    for (int i = 0; i < n; i++)
        unseen += !(mm[i].flags & MDF_SEEN);
    free(mm);
    k = (size_t)snprintf(l, sizeof l, "* STATUS ");
    put_quoted(l, sizeof l, &k, box);
    k += (size_t)snprintf(l + k, sizeof l - k, " (");
    for (int i = 2; i < s->ntok - 1; i++) {
        unsigned long v;
        if (!tok_cstr(s, i, item, sizeof item) || s->tok[i].kind != T_ATOM) {
            tagged(c, s, "BAD STATUS item expected");
            return;
        }
        if (!strcasecmp(item, "MESSAGES"))
            v = (unsigned long)n;
        else if (!strcasecmp(item, "RECENT"))
            v = 0;
        else if (!strcasecmp(item, "UIDNEXT"))
            v = next;
        else if (!strcasecmp(item, "UIDVALIDITY"))
            v = validity;
        else if (!strcasecmp(item, "UNSEEN"))
            v = (unsigned long)unseen;
        else {
            tagged(c, s, "BAD unknown STATUS item");
            return;
        }
        for (char *u = item; *u; u++)
            *u = (char)toupper((unsigned char)*u);
        k += (size_t)snprintf(l + k, sizeof l - k, "%s%s %lu", first ? "" : " ", item, v);
        first = 0;
    }
    snprintf(l + k, sizeof l - k, ")\r\n");
    conn_sends(c, l);
    tagged(c, s, "OK STATUS completed");
}

static void do_create_delete(struct conn *c, struct imap_sess *s, int create)
{
    char box[MD_BOX_MAX + 1], l[300];
    const char *why;
    if (s->ntok != 1) {
        tagged(c, s, "BAD CREATE/DELETE takes one mailbox name");
        return;
    }
    if ((why = tok_box(s, 0, box))) {
        snprintf(l, sizeof l, "NO %s", why);
        clog_(c, "IMAP %s refused: %s", create ? "CREATE" : "DELETE", why);
        tagged(c, s, l);
        return;
    }
    if (md_box_is_inbox(box)) {
        tagged(c, s, create ? "NO [ALREADYEXISTS] INBOX always exists" : "NO [CANNOT] INBOX cannot be deleted");
        return;
    }
    if (create ? md_box_create(&c->srv->md, box) : md_box_delete(&c->srv->md, box)) {
        tagged(c, s, errno == EEXIST   ? "NO [ALREADYEXISTS] mailbox exists"
                     : errno == ENOENT ? "NO [NONEXISTENT] no such mailbox"
                     : errno == ENOSPC ? "NO [LIMIT] too many mailboxes"
                                       : "NO [SERVERBUG] the Maildir refused");
        return;
    }
    clog_(c, "IMAP %s %s", create ? "CREATE" : "DELETE", box);
    if (!create && s->selected && strcmp(s->sel, box) == 0)
        deselect(s);
    tagged(c, s, create ? "OK CREATE completed" : "OK DELETE completed");
}

/* ---- FETCH (RFC 3501 6.4.5, 7.4.2) ---- */

static int parse_item(struct fetch_item *it, const char *a)
{
    const char *sec, *rest;
    memset(it, 0, sizeof *it);
    if (!strcasecmp(a, "FLAGS")) return it->kind = F_FLAGS, 0;
    if (!strcasecmp(a, "UID")) return it->kind = F_UID, 0;
    if (!strcasecmp(a, "RFC822.SIZE")) return it->kind = F_SIZE, 0;
    if (!strcasecmp(a, "INTERNALDATE")) return it->kind = F_DATE, 0;
    it->kind = F_BODY;
    if (!strcasecmp(a, "RFC822")) return it->rfc822 = "RFC822", 0;
    if (!strcasecmp(a, "RFC822.HEADER")) return it->rfc822 = "RFC822.HEADER", it->peek = 1, it->section = S_HEADER, 0;
    if (!strcasecmp(a, "RFC822.TEXT")) return it->rfc822 = "RFC822.TEXT", it->section = S_TEXT, 0;
    if (!strncasecmp(a, "BODY.PEEK[", 10))
        it->peek = 1, sec = a + 10;
    else if (!strncasecmp(a, "BODY[", 5))
        sec = a + 5;
    else
        return -1;
    rest = strchr(sec, ']');
    if (!rest)
        return -1;
    if (rest == sec)
        it->section = S_ALL;
    else if ((size_t)(rest - sec) == 6 && !strncasecmp(sec, "HEADER", 6))
        it->section = S_HEADER;
    else if ((size_t)(rest - sec) == 4 && !strncasecmp(sec, "TEXT", 4))
        it->section = S_TEXT;
    else
        return -1; /* MIME parts, HEADER.FIELDS: not implemented */
    rest++;
    if (*rest == '<') {
        char *end;
        unsigned long long o, n;
        if (rest[1] < '0' || rest[1] > '9')
            return -1;
        o = strtoull(rest + 1, &end, 10);
        if (*end != '.' || end[1] < '0' || end[1] > '9')
            return -1;
        n = strtoull(end + 1, &end, 10);
        if (*end != '>' || end[1] || n == 0)
            return -1;
        it->partial = 1;
        it->origin = o;
        it->count = n;
    } else if (*rest) {
        return -1;
    }
    return 0;
}

/* where the header ends in the file (after its blank line; the whole file if there is none) */
static uint64_t header_end(int fd, uint64_t size)
{
    uint8_t buf[4096];
    uint64_t off = 0;
    uint32_t last = 0;
    ssize_t r;
    while (off < size && (r = pread(fd, buf, sizeof buf, (off_t)off)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            last = (last << 8) | buf[i];
            if (last == 0x0d0a0d0aU)
                return off + (uint64_t)i + 1;
        }
        off += (uint64_t)r;
    }
    return size;
}

static void send_file_range(struct conn *c, int fd, uint64_t off, uint64_t n)
{
    uint8_t buf[SERVE_READ_CHUNK];
    while (n > 0) {
        ssize_t r = pread(fd, buf, n < sizeof buf ? (size_t)n : sizeof buf, (off_t)off);
        if (r <= 0) {
            /* the file shrank under us: the literal's length was promised, so the connection
             * cannot continue */
            c->dead = 1;
            c->close_reason = "message file shrank during FETCH";
            return;
        }
        conn_send(c, buf, (size_t)r);
        off += (uint64_t)r;
        n -= (uint64_t)r;
    }
}

/* one message's FETCH response; 0, or -1 if it vanished (NO at the end) */
static int fetch_one(struct conn *c, struct imap_sess *s, size_t i)
{
    struct md_mail *m = &s->mail[i];
    char l[400], fl[80];
    size_t k;
    int fd = -1, want_flags = 0, has_flags = 0, has_uid = 0;
    uint64_t hend = 0;
    for (int t = 0; t < s->f.nit; t++) {
        has_flags |= s->f.it[t].kind == F_FLAGS;
        has_uid |= s->f.it[t].kind == F_UID;
        if (s->f.it[t].kind == F_BODY && !s->f.it[t].peek && !s->readonly && !(m->flags & MDF_SEEN)) {
            /* RFC 3501 6.4.5: BODY[] (not .PEEK) sets \Seen; the new flags go with the response */
            if (md_set_flags(&c->srv->md, s->sel, m, m->flags | MDF_SEEN) == 0)
                want_flags = 1;
        }
    }
    k = (size_t)snprintf(l, sizeof l, "* %zu FETCH (", i + 1);
    if (s->f.uid && !has_uid)
        k += (size_t)snprintf(l + k, sizeof l - k, "UID %u ", m->uid); /* RFC 3501 6.4.8 */
    for (int t = 0; t < s->f.nit; t++) {
        const struct fetch_item *it = &s->f.it[t];
        const char *sp = t ? " " : "";
        switch (it->kind) {
        case F_FLAGS:
            flags_str(m->flags, fl, sizeof fl);
            k += (size_t)snprintf(l + k, sizeof l - k, "%sFLAGS (%s)", sp, fl);
            break;
        case F_UID:
            k += (size_t)snprintf(l + k, sizeof l - k, "%sUID %u", sp, m->uid);
            break;
        case F_SIZE:
            k += (size_t)snprintf(l + k, sizeof l - k, "%sRFC822.SIZE %llu", sp, (unsigned long long)m->size);
            break;
        case F_DATE: {
            time_t when = md_mail_time(&c->srv->md, s->sel, m);
            struct tm tm;
            char d[40];
            gmtime_r(&when, &tm);
            strftime(d, sizeof d, "%d-%b-%Y %H:%M:%S +0000", &tm); /* RFC 3501 9: date-time */
            if (d[0] == '0')
                d[0] = ' '; /* date-day-fixed */
            k += (size_t)snprintf(l + k, sizeof l - k, "%sINTERNALDATE \"%s\"", sp, d);
            break;
        }
        case F_BODY: {
            uint64_t from = 0, n = m->size;
            static const char *const sec[] = {"", "HEADER", "TEXT"};
            if (fd < 0 && (fd = md_open_mail(&c->srv->md, s->sel, m)) < 0)
                return -1;
            if (it->section != S_ALL) {
                if (!hend)
                    hend = header_end(fd, m->size);
                if (it->section == S_HEADER)
                    n = hend;
                else
                    from = hend, n = m->size - hend;
            }
            if (it->partial) {
                uint64_t o = it->origin < n ? it->origin : n;
                from += o;
                n -= o;
                if (n > it->count)
                    n = it->count;
            }
            if (it->rfc822)
                k += (size_t)snprintf(l + k, sizeof l - k, "%s%s {%llu}\r\n", sp, it->rfc822, (unsigned long long)n);
            else if (it->partial)
                k += (size_t)snprintf(l + k, sizeof l - k, "%sBODY[%s]<%llu> {%llu}\r\n", sp, sec[it->section],
                                      (unsigned long long)it->origin, (unsigned long long)n);
            else
                k += (size_t)snprintf(l + k, sizeof l - k, "%sBODY[%s] {%llu}\r\n", sp, sec[it->section],
                                      (unsigned long long)n);
            conn_send(c, l, k < sizeof l ? k : sizeof l - 1);
            k = 0;
            l[0] = 0;
            send_file_range(c, fd, from, n);
            break;
        }
        }
        if (k >= sizeof l - 100) {
            conn_send(c, l, k < sizeof l ? k : sizeof l - 1);
            k = 0;
        }
    }
    if (want_flags && !has_flags) {
        flags_str(m->flags, fl, sizeof fl);
        k += (size_t)snprintf(l + k, sizeof l - k, " FLAGS (%s)", fl);
    }
    k += (size_t)snprintf(l + k, sizeof l - k, ")\r\n");
    conn_send(c, l, k < sizeof l ? k : sizeof l - 1);
    if (fd >= 0)
        close(fd);
    return 0;
}

/* runs the FETCH in progress; returns with s->f.active still set when the output is full */
static void fetch_continue(struct conn *c, struct imap_sess *s)
{
    int vanished = 0;
    while (s->f.next < s->nmail && !c->dead) {
        size_t i = s->f.next;
        if (c->out.bytes > SERVE_OUT_HIGH) {
            c->want_drive = 1; /* conn.c drives again once the client has read */
            return;
        }
        s->f.next++;
        if (msg_in(s, s->f.set, s->f.nset, s->f.uid, i) && fetch_one(c, s, i) != 0)
            vanished = 1;
    }
    s->f.active = 0;
    c->want_drive = 0;
    tagged(c, s, vanished ? "NO some messages were expunged meanwhile" : "OK FETCH completed");
}

static void do_fetch(struct conn *c, struct imap_sess *s, int uid, int t0)
{
    char a[200];
    int from = t0 + 1, to = s->ntok;
    struct fetch *f = &s->f;
    memset(f, 0, sizeof *f);
    if (parse_set(s, t0, set_star(s, uid), f->set, &f->nset) != 0 || (!uid && !seq_valid(s, f->set, f->nset))) {
        tagged(c, s, "BAD invalid sequence set");
        return;
    }
    if (from < to && s->tok[from].kind == T_OPEN && s->tok[to - 1].kind == T_CLOSE)
        from++, to--;
    else if (to - from != 1) {
        tagged(c, s, "BAD FETCH wants one item or a parenthesized list");
        return;
    }
    for (int i = from; i < to; i++) {
        if (!tok_cstr(s, i, a, sizeof a) || s->tok[i].kind != T_ATOM) {
            tagged(c, s, "BAD fetch item expected");
            return;
        }
        if (!strcasecmp(a, "FAST") && to - from == 1) {
            /* RFC 3501 6.4.5: FAST = (FLAGS INTERNALDATE RFC822.SIZE) */
            parse_item(&f->it[0], "FLAGS");
            parse_item(&f->it[1], "INTERNALDATE");
            parse_item(&f->it[2], "RFC822.SIZE");
            f->nit = 3;
            break;
        }
        if (f->nit >= IMAP_MAX_ITEMS || parse_item(&f->it[f->nit], a) != 0) {
            char l[300];
            snprintf(l, sizeof l, "BAD fetch item %.64s is not implemented by mx-serve", a);
            tagged(c, s, l);
            return;
        }
        f->nit++;
    }
    f->uid = uid;
    f->active = 1;
    fetch_continue(c, s);
}

/* ---- STORE, EXPUNGE, SEARCH ---- */

static void do_store(struct conn *c, struct imap_sess *s, int uid, int t0)
{
    struct range set[IMAP_MAX_RANGES];
    int nset, mode, silent, failed = 0;
    unsigned fl;
    char item[32], l[200], fs[80];
    if (parse_set(s, t0, set_star(s, uid), set, &nset) != 0 || (!uid && !seq_valid(s, set, nset))) {
        tagged(c, s, "BAD invalid sequence set");
        return;
    }
    if (!tok_cstr(s, t0 + 1, item, sizeof item) || s->tok[t0 + 1].kind != T_ATOM || t0 + 2 >= s->ntok) {
        tagged(c, s, "BAD STORE set item flags");
        return;
    }
    mode = item[0] == '+' ? 1 : item[0] == '-' ? -1 : 0;
    {
        const char *w = item + (mode != 0);
        silent = !strcasecmp(w, "FLAGS.SILENT");
        if (!silent && strcasecmp(w, "FLAGS")) {
            tagged(c, s, "BAD STORE item is FLAGS, +FLAGS or -FLAGS (.SILENT)");
            return;
        }
    }
    if (parse_flags(s, t0 + 2, s->ntok, &fl) != 0) {
        tagged(c, s, "BAD invalid flag (\\Recent cannot be stored)");
        return;
    }
    if (s->readonly) {
        tagged(c, s, "NO [READ-ONLY] mailbox selected with EXAMINE");
        return;
    }
    for (size_t i = 0; i < s->nmail; i++) {
        struct md_mail *m = &s->mail[i];
        unsigned nf;
        if (!msg_in(s, set, nset, uid, i))
            continue;
        nf = mode > 0 ? m->flags | fl : mode < 0 ? m->flags & ~fl : fl;
        if (nf != m->flags && md_set_flags(&c->srv->md, s->sel, m, nf) != 0) {
            failed = 1;
            continue;
        }
        if (!silent) {
            flags_str(m->flags, fs, sizeof fs);
            if (uid)
                snprintf(l, sizeof l, "* %zu FETCH (UID %u FLAGS (%s))\r\n", i + 1, m->uid, fs);
            else
                snprintf(l, sizeof l, "* %zu FETCH (FLAGS (%s))\r\n", i + 1, fs);
            conn_sends(c, l);
        }
    }
    tagged(c, s, failed ? "NO some messages were expunged meanwhile" : "OK STORE completed");
}

/* removes the \Deleted messages (of set, when given); sends EXPUNGE responses unless quiet */
static int expunge(struct conn *c, struct imap_sess *s, const struct range *set, int nset, int quiet)
{
    char l[64];
    int gone = 0;
    for (size_t i = s->nmail; i-- > 0;) {
        if (!(s->mail[i].flags & MDF_DELETED) || (set && !in_set(set, nset, s->mail[i].uid)))
            continue;
        if (md_expunge(&c->srv->md, s->sel, &s->mail[i]) != 0)
            continue;
        gone++;
        if (!quiet) {
            snprintf(l, sizeof l, "* %zu EXPUNGE\r\n", i + 1);
            conn_sends(c, l);
        }
        memmove(&s->mail[i], &s->mail[i + 1], (s->nmail - i - 1) * sizeof *s->mail);
        s->nmail--;
    }
    if (gone) {
        md_expunge_done(&c->srv->md, s->sel);
        clog_(c, "IMAP EXPUNGE %s: %d messages removed", s->sel, gone);
    }
    return gone;
}

static void do_search(struct conn *c, struct imap_sess *s, int uid, int t0)
{
    struct range set[IMAP_MAX_RANGES];
    int nset = 0, useset = 0, useuidset = 0;
    unsigned need = 0, forbid = 0;
    char a[64], l[32];
    int i = t0;
    if (tok_atom_is(s, i, "CHARSET"))
        i += 2; /* RFC 3501 6.4.4: only US-ASCII text; no text criteria here anyway */
    for (; i < s->ntok; i++) {
        if (!tok_cstr(s, i, a, sizeof a) || s->tok[i].kind != T_ATOM) {
            tagged(c, s, "BAD search criterion expected");
            return;
        }
        if (!strcasecmp(a, "ALL")) continue;
        if (!strcasecmp(a, "SEEN")) { need |= MDF_SEEN; continue; }
        if (!strcasecmp(a, "UNSEEN")) { forbid |= MDF_SEEN; continue; }
        if (!strcasecmp(a, "DELETED")) { need |= MDF_DELETED; continue; }
        if (!strcasecmp(a, "UNDELETED")) { forbid |= MDF_DELETED; continue; }
        if (!strcasecmp(a, "FLAGGED")) { need |= MDF_FLAGGED; continue; }
        if (!strcasecmp(a, "UNFLAGGED")) { forbid |= MDF_FLAGGED; continue; }
        if (!strcasecmp(a, "ANSWERED")) { need |= MDF_ANSWERED; continue; }
        if (!strcasecmp(a, "UNANSWERED")) { forbid |= MDF_ANSWERED; continue; }
        if (!strcasecmp(a, "DRAFT")) { need |= MDF_DRAFT; continue; }
        if (!strcasecmp(a, "UNDRAFT")) { forbid |= MDF_DRAFT; continue; }
        if (!strcasecmp(a, "UID") && !useset && parse_set(s, i + 1, set_star(s, 1), set, &nset) == 0) {
            useset = useuidset = 1;
            i++;
            continue;
        }
        if (!useset && parse_set(s, i, set_star(s, 0), set, &nset) == 0) {
            useset = 1;
            continue;
        }
        tagged(c, s, "BAD search criterion not implemented by mx-serve (ALL, set, UID set, and the flag criteria are)");
        return;
    }
    conn_sends(c, "* SEARCH");
    for (size_t k = 0; k < s->nmail; k++) {
        const struct md_mail *m = &s->mail[k];
        if ((m->flags & need) != need || (m->flags & forbid) || (useset && !msg_in(s, set, nset, useuidset, k)))
            continue;
        snprintf(l, sizeof l, " %lu", uid ? (unsigned long)m->uid : (unsigned long)(k + 1));
        conn_sends(c, l);
    }
    conn_sends(c, "\r\n");
    tagged(c, s, "OK SEARCH completed");
}

/* the flags of an APPEND message: the list before its literal (tokens from flags_from) */
static unsigned append_flags(const struct imap_sess *s)
{
    unsigned f = 0;
    int open = -1, close = -1;
    for (int i = s->flags_from; i < s->ntok; i++) {
        if (s->tok[i].kind == T_OPEN && open < 0)
            open = i;
        if (s->tok[i].kind == T_CLOSE)
            close = i;
    }
    if (open >= 0 && close > open && parse_flags(s, open + 1, close, &f) != 0)
        f = 0;
    return f;
}

static void execute(struct conn *c, struct imap_sess *s)
{
    const char *n = s->name;
    int uid = 0, t0 = 0;
    if (s->tok_over) {
        drop_messages(c, s);
        tagged(c, s, "BAD command arguments too long");
        return;
    }
    if (strcasecmp(n, "UID") == 0) {
        char sub[16];
        if (!tok_cstr(s, 0, sub, sizeof sub)) {
            tagged(c, s, "BAD UID wants FETCH, STORE, SEARCH or EXPUNGE");
            return;
        }
        snprintf(s->name, sizeof s->name, "%s", sub);
        uid = 1;
        t0 = 1;
        if (strcasecmp(sub, "FETCH") && strcasecmp(sub, "STORE") && strcasecmp(sub, "SEARCH") &&
            strcasecmp(sub, "EXPUNGE")) {
            tagged(c, s, "BAD UID wants FETCH, STORE, SEARCH or EXPUNGE");
            return;
        }
    }
    if (strcasecmp(n, "APPEND") == 0) {
        struct commit_job *j;
        if (s->refused || s->ndone == 0) {
            char l[300];
            drop_messages(c, s);
            snprintf(l, sizeof l, "%s", s->refused ? s->refusal : "BAD APPEND without a message");
            tagged(c, s, l);
            return;
        }
        j = calloc(1, sizeof *j);
        if (!j) {
            drop_messages(c, s);
            tagged(c, s, "NO [SERVERBUG] out of memory");
            return;
        }
        /* the tagged OK goes out when every message is in new/ (imap_committed) */
        j->n = s->ndone;
        for (int i = 0; i < s->ndone; i++) {
            j->msgs[i] = s->done[i];
            j->flags[i] = s->done_flags[i];
            md_msg_init(&s->done[i]);
        }
        s->ndone = 0;
        conn_commit(c, j);
    } else if (strcasecmp(n, "CAPABILITY") == 0) {
        capability(c, s);
    } else if (strcasecmp(n, "NOOP") == 0 || strcasecmp(n, "CHECK") == 0) {
        update(c, s);
        tagged(c, s, "OK completed");
    } else if (strcasecmp(n, "LOGOUT") == 0) {
        conn_sends(c, "* BYE mx-serve logging out\r\n");
        tagged(c, s, "OK LOGOUT completed");
        conn_close_after_flush(c, "client logged out");
    } else if (strcasecmp(n, "SELECT") == 0 || strcasecmp(n, "EXAMINE") == 0) {
        do_select(c, s, strcasecmp(n, "EXAMINE") == 0);
    } else if (strcasecmp(n, "CREATE") == 0 || strcasecmp(n, "DELETE") == 0) {
        do_create_delete(c, s, strcasecmp(n, "CREATE") == 0);
    } else if (strcasecmp(n, "LIST") == 0 || strcasecmp(n, "LSUB") == 0) {
        /* every mailbox counts as subscribed: LSUB lists what LIST lists */
        do_list(c, s, strcasecmp(n, "LSUB") == 0);
    } else if (strcasecmp(n, "SUBSCRIBE") == 0) {
        char box[MD_BOX_MAX + 1];
        tagged(c, s, s->ntok != 1 || tok_box(s, 0, box) ? "BAD SUBSCRIBE mailbox"
                     : md_box_exists(&c->srv->md, box) ? "OK every mailbox is subscribed"
                                                       : "NO [NONEXISTENT] no such mailbox");
    } else if (strcasecmp(n, "UNSUBSCRIBE") == 0) {
        tagged(c, s, "NO [CANNOT] mx-serve keeps every mailbox subscribed");
    } else if (strcasecmp(n, "STATUS") == 0) {
        do_status(c, s);
    } else if (strcasecmp(n, "IDLE") == 0) {
        if (s->ntok) {
            tagged(c, s, "BAD IDLE takes no arguments");
            return;
        }
        s->idling = 1;
        mx_liner_reset(&s->il);
        conn_sends(c, "+ idling\r\n");
    } else if (strcasecmp(n, "LOGIN") == 0 || strcasecmp(n, "AUTHENTICATE") == 0 ||
               strcasecmp(n, "STARTTLS") == 0) {
        tagged(c, s, "BAD already authenticated");
    } else if (!strcasecmp(s->name, "FETCH") || !strcasecmp(s->name, "STORE") || !strcasecmp(s->name, "SEARCH") ||
               !strcasecmp(s->name, "EXPUNGE") || !strcasecmp(n, "CLOSE") || !strcasecmp(n, "UNSELECT")) {
        if (!s->selected) {
            tagged(c, s, "BAD no mailbox selected");
        } else if (!strcasecmp(s->name, "FETCH")) {
            do_fetch(c, s, uid, t0);
        } else if (!strcasecmp(s->name, "STORE")) {
            do_store(c, s, uid, t0);
        } else if (!strcasecmp(s->name, "SEARCH")) {
            do_search(c, s, uid, t0);
        } else if (!strcasecmp(s->name, "EXPUNGE")) {
            struct range set[IMAP_MAX_RANGES];
            int nset = 0;
            if (s->readonly)
                tagged(c, s, "NO [READ-ONLY] mailbox selected with EXAMINE");
            else if ((uid && parse_set(s, 1, set_star(s, 1), set, &nset) != 0) || s->ntok != (uid ? 2 : 0))
                tagged(c, s, uid ? "BAD UID EXPUNGE takes a UID set" : "BAD EXPUNGE takes no arguments");
            else {
                expunge(c, s, uid ? set : NULL, nset, 0);
                tagged(c, s, "OK EXPUNGE completed");
            }
        } else {
            /* CLOSE expunges silently (RFC 3501 6.4.2); UNSELECT does not (RFC 3691) */
            if (!strcasecmp(n, "CLOSE") && !s->readonly)
                expunge(c, s, NULL, 0, 1);
            deselect(s);
            tagged(c, s, "OK completed");
        }
    } else {
        tagged(c, s, "BAD command not implemented by mx-serve");
    }
}

/* a commit into box finished: idling sessions that have it selected hear of it now (RFC 2177) */
void imap_mailbox_changed(struct server *srv, const char *box)
{
    const char *b = md_box_is_inbox(box) ? "INBOX" : box;
    for (struct conn *c = srv->conns; c; c = c->next) {
        struct imap_sess *s;
        if (c->ops != &imap_ops || !c->proto_state || c->dead || c->closing)
            continue;
        s = c->proto_state;
        if (s->idling && s->selected && strcmp(s->sel, b) == 0)
            update(c, s);
    }
}

static void imap_committed(struct conn *c, const struct commit_job *j)
{
    struct imap_sess *s = c->proto_state;
    char l[200], hex[65];
    int failed = 0;
    for (int i = 0; i < j->n; i++)
        failed |= !j->ok[i];
    for (int i = 0; i < j->n; i++) {
        if (!j->ok[i])
            continue;
        if (failed) {
            /* MULTIAPPEND is all or nothing (RFC 3502): take back the ones that made it */
            struct md_mail m;
            memset(&m, 0, sizeof m);
            m.uid = j->msgs[i].uid;
            snprintf(m.name, sizeof m.name, "%s", j->msgs[i].name);
            md_expunge(&c->srv->md, j->msgs[i].box, &m);
            continue;
        }
        md_hex(&j->msgs[i], hex);
        c->messages++;
        clog_(c, "message stored: %s%snew/%s size=%llu sha256=%s", j->msgs[i].box[0] ? "." : "", j->msgs[i].box,
              j->msgs[i].name, (unsigned long long)j->msgs[i].size, hex);
        if (j->flags[i]) {
            /* APPEND's flag list (RFC 3501 6.3.11): the file moves to cur/ with them */
            struct md_mail m;
            memset(&m, 0, sizeof m);
            m.uid = j->msgs[i].uid;
            snprintf(m.name, sizeof m.name, "%s", j->msgs[i].name);
            md_set_flags(&c->srv->md, j->msgs[i].box, &m, j->flags[i]);
        }
    }
    if (failed) {
        clog_(c, "APPEND: Maildir write failed");
        tagged(c, s, "NO [SERVERBUG] APPEND failed: could not store the message");
        return;
    }
    imap_mailbox_changed(c->srv, j->msgs[0].box);
    /* RFC 3501 6.3.11: the client learns of a message appended to its selected mailbox */
    if (s->selected && strcmp(s->sel, md_box_is_inbox(j->msgs[0].box) ? "INBOX" : j->msgs[0].box) == 0)
        update(c, s);
    /* RFC 4315 3: APPENDUID uidvalidity uid-set */
    if (j->n > 1)
        snprintf(l, sizeof l, "OK [APPENDUID %u %u:%u] APPEND completed", j->msgs[0].validity, j->msgs[0].uid,
                 j->msgs[j->n - 1].uid);
    else
        snprintf(l, sizeof l, "OK [APPENDUID %u %u] APPEND completed", j->msgs[0].validity, j->msgs[0].uid);
    tagged(c, s, l);
}

/* IDLE: lines until DONE, framed by libmx's line framer */
static void idle_drive(struct conn *c, struct imap_sess *s)
{
    size_t n, used;
    int r = mx_liner_next(&s->il, &c->plain, &n, &used);
    if (r == MX_LINE_NEED)
        return;
    s->idling = 0;
    if (r == MX_LINE_OK && mx_word_is(s->ibuf, n, "DONE") && n == 4) {
        update(c, s);
        tagged(c, s, "OK IDLE terminated");
    } else {
        tagged(c, s, "BAD expected DONE");
    }
}

static void authed_drive(struct conn *c, struct imap_sess *s)
{
    struct mx_imap_event ev;
    while (!c->dead && !c->closing && !c->commit_wait && conn_may_step(c)) {
        enum mx_imap_ev t;
        if (s->f.active) {
            fetch_continue(c, s);
            if (s->f.active)
                return;
            continue;
        }
        if (s->idling) {
            size_t before = c->plain.bytes;
            idle_drive(c, s);
            if (s->idling || c->plain.bytes == before)
                return;
            continue;
        }
        t = mx_imap_next(&s->r, &c->plain, &ev);
        switch (t) {
        case MX_IMAP_NEED_MORE:
            return;
        case MX_IMAP_COMMAND_START:
            drop_messages(c, s);
            snprintf(s->tag, sizeof s->tag, "%.*s", (int)ev.tag_len, (const char *)ev.tag);
            snprintf(s->name, sizeof s->name, "%.*s", (int)ev.name_len, (const char *)ev.name);
            s->mailbox[0] = 0;
            s->ntok = 0;
            s->tokn = 0;
            s->tok_over = 0;
            s->lit_arg = 0;
            s->flags_from = 0;
            s->refused = 0;
            s->refusal = NULL;
            break;
        case MX_IMAP_ARG:
            add_tok(s, ev.arg_kind == MX_IMAP_QUOTED ? T_QUOTED : T_ATOM, ev.data, ev.len);
            break;
        case MX_IMAP_LIST_OPEN:
            add_tok(s, T_OPEN, NULL, 0);
            break;
        case MX_IMAP_LIST_CLOSE:
            add_tok(s, T_CLOSE, NULL, 0);
            break;
        case MX_IMAP_NEED_CONTINUATION:
        case MX_IMAP_LITERAL_START:
            if (ev.literal.role == MX_IMAP_LIT_MESSAGE) {
                const char *why = NULL;
                if (s->ndone == 0 && !s->refused) {
                    why = tok_box(s, 0, s->mailbox);
                    if (why) {
                        snprintf(s->refusal_buf, sizeof s->refusal_buf, "NO %s", why);
                        why = s->refusal_buf;
                    } else if (!md_box_exists(&c->srv->md, s->mailbox)) {
                        why = "NO [TRYCREATE] no such mailbox";
                    }
                }
                if (!why && s->ndone >= IMAP_MULTI)
                    why = "NO [LIMIT] too many messages in one APPEND";
                if (!why && md_begin(&c->srv->md, s->mailbox, &s->msg) != 0)
                    why = "NO [SERVERBUG] cannot create the message file";
                if (why || s->refused) {
                    if (!s->refused)
                        s->refusal = why;
                    s->refused = 1;
                    if (t == MX_IMAP_NEED_CONTINUATION) {
                        /* no "+": the client sends no octets; the command ends here */
                        drop_messages(c, s);
                        tagged(c, s, s->refusal);
                        mx_imap_reset(&s->r);
                        break;
                    }
                } else {
                    s->msg_flags = append_flags(s);
                    s->in_message = 1;
                }
            } else {
                /* an argument literal: its octets become the next token */
                add_tok(s, T_LITERAL, NULL, 0);
                s->lit_arg = !s->tok_over;
            }
            if (t == MX_IMAP_NEED_CONTINUATION)
                conn_sends(c, "+ Ready for literal data\r\n");
            break;
        case MX_IMAP_LITERAL_END:
            s->lit_arg = 0;
            if (s->in_message) {
                s->done_flags[s->ndone] = s->msg_flags;
                s->done[s->ndone++] = s->msg;
                md_msg_init(&s->msg);
                s->in_message = 0;
                s->flags_from = s->ntok;
            }
            break;
        case MX_IMAP_COMMAND_END:
            execute(c, s);
            break;
        case MX_IMAP_TOO_MANY_ERRORS:
            conn_sends(c, "* BYE Too many protocol errors\r\n");
            conn_close_after_flush(c, "too many consecutive protocol errors: closed");
            return;
        case MX_IMAP_RESPONSE: {
            char l[512];
            size_t k = mx_imap_format_response(&ev, l, sizeof l);
            drop_messages(c, s);
            if (k >= sizeof l) {
                k = sizeof l - 1;
                l[k - 2] = '\r', l[k - 1] = '\n';
            }
            conn_send(c, l, k);
            break;
        }
        default:
            break;
        }
    }
}

static void imap_drive(struct conn *c)
{
    struct imap_sess *s = c->proto_state;
    struct mx_step st;
    while (!s->authed && !c->dead && !c->closing && c->tls != CONN_TLS_HANDSHAKE && conn_may_step(c)) {
        int was = mx_machine_auth(&s->m) == MX_AUTH_DONE;
        int act = mx_machine_step(&s->m, &c->plain, &st);
        if (act == MX_ACT_NEED_INPUT)
            return;
        /* LOGIN / AUTHENTICATE accepted: cfg.check (auth.c) already said yes */
        if (!was && mx_machine_auth(&s->m) == MX_AUTH_DONE)
            s->authed = 1;
        conn_act(c, &st);
    }
    if (s->authed && c->tls != CONN_TLS_HANDSHAKE)
        authed_drive(c, s);
}

static void imap_tls_started(struct conn *c)
{
    struct imap_sess *s = c->proto_state;
    mx_machine_tls_started(&s->m, &c->plain);
}

static int imap_busy(const struct conn *c)
{
    const struct imap_sess *s = c->proto_state;
    return s->in_message || s->ndone > 0;
}

static void imap_farewell(struct conn *c, const char *why)
{
    char l[160];
    if (c->tls == CONN_TLS_HANDSHAKE || (c->l->mode == MX_LISTEN_IMPLICIT && c->tls != CONN_TLS_ON))
        return;
    snprintf(l, sizeof l, "* BYE mx-serve: %s\r\n", why);
    conn_sends(c, l);
}

static void imap_abort(struct conn *c)
{
    drop_messages(c, c->proto_state);
}

static void imap_close(struct conn *c)
{
    struct imap_sess *s = c->proto_state;
    drop_messages(c, s);
    deselect(s);
    mx_imap_release(&s->r);
    free(s);
    c->proto_state = NULL;
}

const struct proto_ops imap_ops = {"imap", imap_open, imap_drive, imap_tls_started, imap_busy,
                                   imap_farewell, imap_abort, imap_committed, imap_close};
