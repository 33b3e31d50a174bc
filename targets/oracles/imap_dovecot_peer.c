/* imap_dovecot_peer.c - dovecot's lib-imap parser over a session's client stream (see
 * imap_dovecot_peer.h). Written from dovecot's imap-parser.h and src/imap/imap-client.c,
 * cmd-append.c (2.3.19.1 as Debian ships it); no dovecot code is copied. */
#include "config.h" /* dovecot's (/usr/include/dovecot): lib.h needs it first */
#include "lib.h"
#include "istream.h"
#include "imap-parser.h"
#include "test-common.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h" /* ours (targets/harness): dovecot has no buf.h */
#include "imap_dovecot_peer.h"

/* imap_parser_create() takes a params argument since dovecot 2.4.3 (upstream commit 825bc297,
 * "Add params parameter to imap_parser_create()"); Debian 12's 2.3.19.1 has it as a security
 * backport, Ubuntu 20.04's 2.3.7.2 (OSS-Fuzz's base image) does not, and the version macros
 * cannot tell the two 2.3s apart. So the prototype we compiled against chooses: _Generic
 * picks the call whose type is the declared one, and the other call, cast to its own type to
 * compile, is never evaluated (targets/tests/dovecot_old_parser_api.sh compiles both). */
struct imap_parser_params;
typedef struct imap_parser *parser_create_params(struct istream *, struct ostream *, size_t,
                                                 const struct imap_parser_params *);
typedef struct imap_parser *parser_create_plain(struct istream *, struct ostream *, size_t);
#define PARSER_CREATE(in, max_line)                                                            \
    _Generic(&imap_parser_create,                                                              \
        parser_create_params *: ((parser_create_params *)(void (*)(void))imap_parser_create)(  \
                                   (in), NULL, (max_line), NULL),                              \
        default: ((parser_create_plain *)(void (*)(void))imap_parser_create)((in), NULL,        \
                                                                           (max_line)))

enum st { ST_TAG, ST_NAME, ST_ARGS, ST_EOL, ST_SKIP, ST_DEAD };

struct lit_info {
    int sync, binary;
};

struct run {
    struct istream *in;
    struct imap_parser *p;
    struct dv_result *out;
    struct dv_cmd cur;
    enum st st;
    size_t read_idx;
    struct lit_info lits[64];
    size_t nlits, lit_seen;
    int lits_overflow;
};


static void push_tok(struct dv_cmd *c, enum dv_tok_kind k, const void *p, size_t n)
{
    c->tok = fz_xrealloc(c->tok, (c->ntok + 1) * sizeof *c->tok);
    memset(&c->tok[c->ntok], 0, sizeof c->tok[0]);
    c->tok[c->ntok].kind = k;
    if (p != NULL)
        c->tok[c->ntok].p = fz_memdup(p, n);
    c->tok[c->ntok].n = n;
    c->ntok++;
}

static void flatten(struct run *r, const struct imap_arg *a)
{
    for (; a->type != IMAP_ARG_EOL; a++) {
        const struct imap_arg *list;
        switch (a->type) {
        case IMAP_ARG_NIL:
        case IMAP_ARG_ATOM:
            push_tok(&r->cur, DV_ATOM, a->_data.str, a->str_len);
            break;
        case IMAP_ARG_STRING:
            push_tok(&r->cur, DV_QUOTED, a->_data.str, a->str_len);
            break;
        case IMAP_ARG_LITERAL: {
            struct dv_tok *t;
            push_tok(&r->cur, DV_LITERAL, a->_data.str, a->str_len);
            t = &r->cur.tok[r->cur.ntok - 1];
            t->size = a->str_len;
            t->binary = a->literal8 ? 1 : 0;
            t->sync = r->lit_seen < r->nlits ? r->lits[r->lit_seen].sync : -1;
            r->lit_seen++;
            break;
        }
        case IMAP_ARG_LIST:
            push_tok(&r->cur, DV_OPEN, NULL, 0);
            if (imap_arg_get_list(a, &list))
                flatten(r, list);
            push_tok(&r->cur, DV_CLOSE, NULL, 0);
            break;
        default: /* LITERAL_SIZE*: not in a finished line */
            push_tok(&r->cur, DV_ATOM, "<literal size>", 14);
            break;
        }
    }
}

/* The argument that ends the line so far, descending into a trailing list. */
static const struct imap_arg *last_arg(const struct imap_arg *a)
{
    const struct imap_arg *prev = NULL, *list;
    for (; a->type != IMAP_ARG_EOL; a++)
        prev = a;
    if (prev != NULL && prev->type == IMAP_ARG_LIST && imap_arg_get_list(prev, &list))
        return last_arg(list);
    return prev;
}

static void finish(struct run *r, enum dv_verdict v)
{
    struct dv_result *o = r->out;
    r->cur.end = r->in->v_offset;
    if (r->cur.verdict == DV_ACCEPT)
        r->cur.verdict = v;
    o->cmd = fz_xrealloc(o->cmd, (o->ncmd + 1) * sizeof *o->cmd);
    o->cmd[o->ncmd++] = r->cur;
    memset(&r->cur, 0, sizeof r->cur);
    r->nlits = r->lit_seen = 0;
    r->lits_overflow = 0;
    imap_parser_reset(r->p);
    r->cur.start = r->in->v_offset;
}

static void reject(struct run *r, enum dv_verdict v, const char *why)
{
    r->cur.verdict = v;
    r->cur.error = why;
    r->cur.read_done = r->read_idx;
    r->st = v == DV_FATAL ? ST_DEAD : ST_SKIP;
}

/* One step; 0 when more input is needed. */
static int step(struct run *r)
{
    const char *w;
    const struct imap_arg *args;
    const unsigned char *d;
    size_t dn;
    int ret;

    switch (r->st) {
    case ST_TAG:
        ret = imap_parser_read_tag(r->p, &w);
        if (ret == 0)
            return 0;
        if (ret < 0) {
            reject(r, DV_REJECT, "Invalid tag.");
            return 1;
        }
        r->cur.tag = (char *)fz_memdup(w, strlen(w));
        r->st = ST_NAME;
        return 1;
    case ST_NAME:
        ret = imap_parser_read_command_name(r->p, &w);
        if (ret == 0)
            return 0;
        if (ret < 0) {
            reject(r, DV_REJECT, "Invalid command name.");
            return 1;
        }
        r->cur.name = (char *)fz_memdup(w, strlen(w));
        r->st = ST_ARGS;
        return 1;
    case ST_ARGS: {
        enum imap_parser_error err;
        const struct imap_arg *last;
        ret = imap_parser_read_args(r->p, 0,
                                    IMAP_PARSE_FLAG_LITERAL_SIZE | IMAP_PARSE_FLAG_LITERAL8 |
                                        IMAP_PARSE_FLAG_LITERAL_TYPE,
                                    &args);
        if (ret == -2)
            return 0;
        if (ret < 0) {
            const char *msg = imap_parser_get_error(r->p, &err);
            reject(r, err == IMAP_PARSE_ERROR_LITERAL_TOO_BIG ? DV_FATAL : DV_REJECT, msg);
            return 1;
        }
        last = last_arg(args);
        if (last != NULL && (last->type == IMAP_ARG_LITERAL_SIZE ||
                             last->type == IMAP_ARG_LITERAL_SIZE_NONSYNC)) {
            /* the server reads the literal's octets now (cmd-append.c); here the parser does */
            if (r->nlits < sizeof r->lits / sizeof r->lits[0]) {
                r->lits[r->nlits].sync = last->type == IMAP_ARG_LITERAL_SIZE;
                r->lits[r->nlits].binary = last->literal8 ? 1 : 0;
                r->nlits++;
            }
            imap_parser_read_last_literal(r->p);
            return 1;
        }
        flatten(r, args);
        r->cur.read_done = r->read_idx;
        r->st = ST_EOL;
        return 1;
    }
    case ST_EOL:
        d = i_stream_get_data(r->in, &dn);
        if (dn == 0 || (d[0] == '\r' && dn < 2))
            return 0;
        i_stream_skip(r->in, d[0] == '\r' ? 2 : 1);
        finish(r, DV_ACCEPT);
        r->st = ST_TAG;
        return 1;
    case ST_SKIP: {
        const unsigned char *lf;
        d = i_stream_get_data(r->in, &dn);
        if (dn == 0)
            return 0;
        lf = memchr(d, '\n', dn);
        if (lf == NULL) {
            i_stream_skip(r->in, dn);
            return 0;
        }
        i_stream_skip(r->in, (size_t)(lf - d) + 1);
        finish(r, DV_REJECT);
        r->st = ST_TAG;
        return 1;
    }
    case ST_DEAD:
    default:
        return 0;
    }
}

static void load(struct istream *in)
{
    while (i_stream_read(in) > 0)
        ;
}

void dv_init(void)
{
    static int inited;
    if (!inited) { /* process-global: once */
        lib_init();
        inited = 1;
    }
}

void dv_run(const uint8_t *s, size_t n, const size_t *ends, size_t nreads, int literal_minus,
            struct dv_result *out)
{
    struct run r;

    dv_init();
    memset(out, 0, sizeof *out);
    memset(&r, 0, sizeof r);
    r.out = out;
    r.in = test_istream_create_data(s, n);
    test_istream_set_allow_eof(r.in, FALSE);
    test_istream_set_size(r.in, 0);
    r.p = PARSER_CREATE(r.in, (size_t)-1 / 4);
    if (literal_minus)
        imap_parser_enable_literal_minus(r.p);
    r.st = ST_TAG;
    for (size_t i = 0; i < nreads && r.st != ST_DEAD; i++) {
        r.read_idx = i;
        test_istream_set_size(r.in, ends[i]);
        load(r.in);
        while (step(&r))
            ;
    }
    /* end of the session: what is open stays so */
    if (r.st == ST_DEAD || r.st == ST_SKIP) {
        enum dv_verdict v = r.cur.verdict;
        r.cur.end = n;
        out->cmd = fz_xrealloc(out->cmd, (out->ncmd + 1) * sizeof *out->cmd);
        out->cmd[out->ncmd++] = r.cur;
        out->cmd[out->ncmd - 1].verdict = v;
        memset(&r.cur, 0, sizeof r.cur);
    } else if (r.st != ST_TAG || r.in->v_offset < n) {
        r.cur.verdict = DV_INCOMPLETE;
        r.cur.end = n;
        r.cur.read_done = nreads;
        out->cmd = fz_xrealloc(out->cmd, (out->ncmd + 1) * sizeof *out->cmd);
        out->cmd[out->ncmd++] = r.cur;
        memset(&r.cur, 0, sizeof r.cur);
    }
    imap_parser_unref(&r.p);
    i_stream_unref(&r.in);
}

void dv_free(struct dv_result *r)
{
    for (size_t i = 0; i < r->ncmd; i++) {
        struct dv_cmd *c = &r->cmd[i];
        for (size_t k = 0; k < c->ntok; k++)
            free(c->tok[k].p);
        free(c->tok);
        free(c->tag);
        free(c->name);
    }
    free(r->cmd);
    memset(r, 0, sizeof *r);
}
