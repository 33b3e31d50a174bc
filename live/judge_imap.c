/* judge_imap.c - live-judge --imap-auth: the IMAP reader's sessions (corpus/imap, repro/imap,
 * ...: commands with literals, APPEND) replayed after a LOGIN of the test user, judged by the
 * IMAP target's reference parser (targets/oracles/imap_model.h: RFC 3501 / RFC 9051 syntax,
 * RFC 7888 literals), never by libmx's texts.
 *
 * The client sends the login prefix (live/run.py: one write, "L0 LOGIN user pass") and then the
 * session's client writes. The model parses the session's client stream (the writes joined) with
 * the listener's limits, in the session header's literal mode (LITERAL+, or LITERAL- for version
 * 3 with flags bit 2: live/run.py replays those on a literal-minus listener), and lists, in
 * stream order, what the server must answer:
 *   - a synchronizing literal {N} within the limit: a "+" continuation (RFC 3501 7.5 / 4.3), or
 *     a tagged refusal of the whole command (RFC 3501 2.2.1 lets the server reject a command
 *     instead of asking for its octets: a choice, after which the states differ);
 *   - a command the model parses whole: one tagged reply with its tag (RFC 3501 2.2.1 / 2.2.2),
 *     and no "+" for its non-synchronizing literals (RFC 7888 3 / 4). Its class where an RFC
 *     fixes it: a command that takes no arguments given some (CAPABILITY RFC 3501 6.1.1, ...):
 *     refused (7.1.3 BAD); CAPABILITY / NOOP / LOGOUT without: accepted (6.1.x: valid in every
 *     state); a not-authenticated-state command (STARTTLS, LOGIN, AUTHENTICATE) or a
 *     selected-state command while no mailbox is selected: refused (RFC 3501 3: "a protocol
 *     error ... BAD or NO"); a name no RFC defines: refused (6 / 7.1.3), accepted is n.a. (an
 *     extension of the server). Anything else is the server's own decision (mailboxes, the
 *     command's own argument grammar, which the model does not check): only the tagged reply
 *     is judged;
 *   - a command that breaks the formal syntax (RFC 3501 9, the model's error): refused, BAD (or
 *     NO [TOOBIG] for a literal over the limit, RFC 7888 4 / RFC 4469), never accepted and never
 *     a "+" for a literal after the error. Under LITERAL- a {N+} over 4096 octets is such an
 *     error whatever the server's own limits (RFC 7888 4 fixes the number): accepted, a
 *     finding. The model then skips to the next line, swallowing the octets of a {N+} that ends
 *     it: RFC 7888 3 has the server "treat the specified number of following octets and the
 *     following line as part of the same command" even when it rejects errors line by line. A
 *     mismatch right after such a skip (or after the server refused a command holding a {N+})
 *     names that rule.
 * The server's untagged data lines (and its own literals inside them, RFC 3501 4.3) are skipped;
 * "* BYE" is the server closing (RFC 3501 7.1.5: a choice after a refusal, the end after LOGOUT).
 * A server that advertises (CAPABILITY, or a [CAPABILITY] response code) the other literal mode
 * than the session's header is not judged (n.a.): its listener is not the one the session was
 * written for, and the model's rules would not be the listener's.
 * One finding or choice ends the judgement, as in judge.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap_model.h"
#include "judge.h"
#include "session.h"

#define LOGIN_TAG "L0"

/* what the server must send next, in stream order */
enum ex_kind { EX_CONT, EX_END, EX_ERR };
struct ex {
    enum ex_kind kind;
    size_t pos;             /* stream offset of the byte that causes it */
    char tag[64], name[24]; /* the command's tag and name (upper case); tag "" when untagged */
    int args;               /* the command has arguments (EX_END) */
    int nonsync;            /* it held a {N+} literal */
    int status, reason;     /* EX_ERR: the model's BAD/NO and why */
    int swallowed;          /* the model skipped a {N+}'s octets after this error, or the
                             * server refused this command that held a {N+} */
    int byte;               /* EX_ERR: the byte at the error (-1: the stream's end) */
    char got;               /* the class of the server's answer, once judged */
};

/* one server response: "+", tagged or untagged; its first line's bytes for the verdicts */
struct resp {
    char kind; /* '+', 't' tagged, 'u' untagged */
    char tag[64];
    char status[8]; /* OK NO BAD BYE PREAUTH, or "" (untagged data) */
    const uint8_t *line;
    size_t n;
};

struct ij {
    struct ex *ex;
    size_t nex, cap;
    struct fz_buf classes;
    int done, selected;
    int limits_exact; /* the model's limits are the server's own */
    int literal_minus;     /* the session's listener advertises LITERAL- (fz_session_literal_minus) */
    uint64_t max_literal;  /* the model's literal limit */
    char open_tag[64];  /* the tag of a command the stream ends inside (no expectation yet) */
};

static void ij_class(struct ij *j, char c)
{
    classes_put(&j->classes, &c, 1);
}

static void ij_verdict(struct ij *j, const char *v, const char *rule, const char *want, const char *got,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void ij_verdict(struct ij *j, const char *v, const char *rule, const char *want, const char *got,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verdict_line(v, rule, want, got, fmt, ap);
    va_end(ap);
    if (strcmp(v, "pass"))
        j->done = 1;
}

static const char *reason_text(int r)
{
    switch (r) {
    case MX_IMAP_E_TAG: return "no valid tag";
    case MX_IMAP_E_NAME: return "no valid command name";
    case MX_IMAP_E_SYNTAX: return "a byte the grammar does not allow there";
    case MX_IMAP_E_QUOTED: return "a bad escape, CR or LF in a quoted string";
    case MX_IMAP_E_QUOTED_NUL: return "NUL in a quoted string";
    case MX_IMAP_E_LINE_END: return "CR without LF (or a bare LF)";
    case MX_IMAP_E_PARENS: return "unbalanced parentheses";
    case MX_IMAP_E_DEPTH: return "lists nested too deep";
    case MX_IMAP_E_LITERAL_SYNTAX: return "a malformed literal marker";
    case MX_IMAP_E_LITERAL_TOO_BIG: return "a synchronizing literal over the limit";
    case MX_IMAP_E_NONSYNC_TOO_BIG: return "a non-synchronizing literal over the limit";
    case MX_IMAP_E_LINE_TOO_LONG: return "a line over the limit";
    case MX_IMAP_E_APPEND: return "APPEND arguments out of order or missing";
    case MX_IMAP_E_DATE: return "a malformed APPEND date-time";
    default: return "?";
    }
}

/* ---------------------------------------------------------------- the RFCs' command table */
/* states: 'a' any, 'n' not authenticated only, 's' selected only, 'u' authenticated or
 * selected; args: 0 none allowed (RFC 3501 9's grammar), 1 some. */
struct cmd_rule {
    const char *name;
    char state;
    int args;
    const char *rule;
};
static const struct cmd_rule cmds[] = {
    {"CAPABILITY", 'a', 0, "RFC 3501 6.1.1: CAPABILITY takes no arguments (9; 7.1.3: BAD)"},
    {"NOOP", 'a', 0, "RFC 3501 6.1.2: NOOP takes no arguments (9; 7.1.3: BAD)"},
    {"LOGOUT", 'a', 0, "RFC 3501 6.1.3: LOGOUT takes no arguments (9; 7.1.3: BAD)"},
    {"STARTTLS", 'n', 0, "RFC 3501 6.2.1: STARTTLS only in the not authenticated state (3: BAD or NO)"},
    {"AUTHENTICATE", 'n', 1, "RFC 3501 6.2.2: AUTHENTICATE only in the not authenticated state (3: BAD or NO)"},
    {"LOGIN", 'n', 1, "RFC 3501 6.2.3: LOGIN only in the not authenticated state (3: BAD or NO)"},
    {"SELECT", 'u', 1, "RFC 3501 6.3.1: SELECT"}, {"EXAMINE", 'u', 1, "RFC 3501 6.3.2: EXAMINE"},
    {"CREATE", 'u', 1, "RFC 3501 6.3.3: CREATE"}, {"DELETE", 'u', 1, "RFC 3501 6.3.4: DELETE"},
    {"RENAME", 'u', 1, "RFC 3501 6.3.5: RENAME"}, {"SUBSCRIBE", 'u', 1, "RFC 3501 6.3.6: SUBSCRIBE"},
    {"UNSUBSCRIBE", 'u', 1, "RFC 3501 6.3.7: UNSUBSCRIBE"}, {"LIST", 'u', 1, "RFC 3501 6.3.8: LIST"},
    {"LSUB", 'u', 1, "RFC 3501 6.3.9: LSUB"}, {"STATUS", 'u', 1, "RFC 3501 6.3.10: STATUS"},
    {"APPEND", 'u', 1, "RFC 3501 6.3.11 / RFC 3502: APPEND"},
    {"CHECK", 's', 0, "RFC 3501 6.4.1: CHECK: selected state, no arguments (3 / 9: BAD or NO)"},
    {"CLOSE", 's', 0, "RFC 3501 6.4.2: CLOSE: selected state, no arguments (3 / 9: BAD or NO)"},
    {"EXPUNGE", 's', 0, "RFC 3501 6.4.3: EXPUNGE: selected state, no arguments (3 / 9: BAD or NO)"},
    {"SEARCH", 's', 1, "RFC 3501 6.4.4: SEARCH only in the selected state (3: BAD or NO)"},
    {"FETCH", 's', 1, "RFC 3501 6.4.5: FETCH only in the selected state (3: BAD or NO)"},
    {"STORE", 's', 1, "RFC 3501 6.4.6: STORE only in the selected state (3: BAD or NO)"},
    {"COPY", 's', 1, "RFC 3501 6.4.7: COPY only in the selected state (3: BAD or NO)"},
    {"UID", 's', 1, "RFC 3501 6.4.8: UID only in the selected state (3: BAD or NO)"},
    {"MOVE", 's', 1, "RFC 6851 3.1 / RFC 9051 6.4.8: MOVE only in the selected state (BAD or NO)"},
    {"UNSELECT", 's', 0, "RFC 3691 2 / RFC 9051 6.4.2: UNSELECT: selected state, no arguments (BAD or NO)"},
    {"ENABLE", 'u', 1, "RFC 5161 3.1 / RFC 9051 6.3.1: ENABLE"},
    {"IDLE", 'u', 0, "RFC 2177 3 / RFC 9051 6.3.13: IDLE"},
    {"NAMESPACE", 'u', 0, "RFC 2342 5 / RFC 9051 6.3.10: NAMESPACE takes no arguments (BAD)"},
    {NULL, 0, 0, NULL}};

static const struct cmd_rule *cmd_find(const char *name)
{
    for (const struct cmd_rule *c = cmds; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

/* ---------------------------------------------------------------- the model's expectations */
static struct ex *ex_add(struct ij *j, enum ex_kind k, size_t pos)
{
    if (j->nex == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 64;
        j->ex = realloc(j->ex, j->cap * sizeof *j->ex);
        if (!j->ex)
            abort();
    }
    struct ex *e = &j->ex[j->nex++];
    memset(e, 0, sizeof *e);
    e->kind = k;
    e->pos = pos;
    return e;
}

static void copy_text(char *out, size_t cap, const struct imap_model *m, size_t off, size_t n, int upper)
{
    size_t k = 0;
    for (; k < n && k + 1 < cap; k++) {
        char c = (char)m->text.p[off + k];
        out[k] = upper && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    out[k] = 0;
}

/* Does the line holding offset `at` end in a "{N+}" marker (the model's skip swallows its octets)? */
static int line_ends_nonsync(const uint8_t *s, size_t n, size_t at)
{
    const uint8_t *lf = at < n ? memchr(s + at, '\n', n - at) : NULL;
    if (!lf)
        return 0;
    size_t j = (size_t)(lf - s);
    return j >= 4 && s[j - 1] == '\r' && s[j - 2] == '}' && s[j - 3] == '+' && s[j - 4] >= '0' && s[j - 4] <= '9';
}

/* The model over the session's client stream; the listener's limits, the session's literal mode
 * (j->literal_minus). */
static void expectations(struct ij *j, const struct fz_buf *stream, size_t max_line, uint64_t max_literal)
{
    static struct imap_model m;
    /* RFC 7888 4: a LITERAL- listener takes non-synchronizing literals of at most 4096 octets and
     * refuses a bigger one with a tagged BAD; RFC 7888 3: under LITERAL+ any size within the
     * limit is data. The model's flag: MX_IMAP_LITERAL_PLUS, or 0 for LITERAL- (its limit for a
     * {N+} is then min(4096, max_literal), imap_model.c) */
    j->max_literal = max_literal;
    imap_model_run(&m, stream->p, stream->n, max_line, max_literal, j->literal_minus ? 0 : MX_IMAP_LITERAL_PLUS, 0);
    char tag[64] = "", name[24] = "";
    int args = 0, nonsync = 0;
    for (size_t i = 0; i < m.nev; i++) {
        const struct imap_mev *v = &m.ev[i];
        struct ex *e;
        switch (v->type) {
        case MX_IMAP_COMMAND_START:
            copy_text(tag, sizeof tag, &m, v->a_off, v->a_len, 0);
            copy_text(name, sizeof name, &m, v->b_off, v->b_len, 1);
            args = nonsync = 0;
            break;
        case MX_IMAP_ARG:
        case MX_IMAP_LIST_OPEN:
            args = 1;
            break;
        case MX_IMAP_LITERAL_START:
            args = nonsync = 1;
            break;
        case MX_IMAP_NEED_CONTINUATION:
            args = 1;
            e = ex_add(j, EX_CONT, v->pos);
            snprintf(e->tag, sizeof e->tag, "%s", tag);
            snprintf(e->name, sizeof e->name, "%s", name);
            break;
        case MX_IMAP_COMMAND_END:
            e = ex_add(j, EX_END, v->pos);
            snprintf(e->tag, sizeof e->tag, "%s", tag);
            snprintf(e->name, sizeof e->name, "%s", name);
            e->args = args;
            e->nonsync = nonsync;
            tag[0] = name[0] = 0;
            break;
        case MX_IMAP_RESPONSE:
            e = ex_add(j, EX_ERR, v->pos);
            if (v->tagged)
                copy_text(e->tag, sizeof e->tag, &m, v->a_off, v->a_len, 0);
            snprintf(e->name, sizeof e->name, "%s", v->tagged ? name : "");
            e->status = v->status;
            e->reason = v->reason;
            e->nonsync = nonsync;
            e->byte = v->pos < stream->n ? stream->p[v->pos] : -1;
            e->swallowed = v->reason != MX_IMAP_E_LITERAL_TOO_BIG && v->reason != MX_IMAP_E_NONSYNC_TOO_BIG &&
                           line_ends_nonsync(stream->p, stream->n, v->pos);
            tag[0] = name[0] = 0;
            break;
        default:
            break;
        }
    }
    snprintf(j->open_tag, sizeof j->open_tag, "%s", tag);
    imap_model_free(&m);
}

/* ---------------------------------------------------------------- the server's responses */
/* The response at *at in the server's bytes (a line, with the server's own literals "{N}" CRLF
 * and their octets inside it, RFC 3501 4.3); 0 when none is complete. */
static int next_resp(const uint8_t *p, size_t n, size_t *at, struct resp *r)
{
    size_t a = *at, q = a;
    const uint8_t *lf = NULL;
    for (;;) {
        lf = q < n ? memchr(p + q, '\n', n - q) : NULL;
        if (!lf)
            return 0;
        size_t e = (size_t)(lf - p), k = e;
        if (k > q && p[k - 1] == '\r')
            k--;
        /* "{" digits "}" at the line's end: N octets of the server's literal follow */
        if (k > q + 2 && p[k - 1] == '}') {
            size_t d = k - 1;
            unsigned long long v = 0;
            while (d > q && p[d - 1] >= '0' && p[d - 1] <= '9')
                d--;
            if (d < k - 1 && d > q && p[d - 1] == '{') {
                for (size_t i = d; i < k - 1 && v < (1ULL << 40); i++)
                    v = v * 10 + (p[i] - '0');
                if (v > n - (e + 1))
                    return 0;
                q = e + 1 + (size_t)v;
                continue;
            }
        }
        break;
    }
    const uint8_t *l = p + a;
    size_t ln = (size_t)(lf - l) + 1;
    memset(r, 0, sizeof *r);
    r->line = l;
    r->n = ln;
    *at = (size_t)(lf - p) + 1;
    size_t w = 0;
    while (w < ln && l[w] != ' ' && l[w] != '\r' && l[w] != '\n')
        w++;
    if (w == 1 && l[0] == '+') {
        r->kind = '+';
        return 1;
    }
    r->kind = w == 1 && l[0] == '*' ? 'u' : 't';
    if (r->kind == 't')
        snprintf(r->tag, sizeof r->tag, "%.*s", (int)(w < 63 ? w : 63), (const char *)l);
    size_t s = w < ln ? w + 1 : w, k = 0;
    while (s < ln && k + 1 < sizeof r->status && l[s] >= 'A' && l[s] <= 'z')
        r->status[k++] = (char)(l[s] >= 'a' ? l[s] - 32 : l[s]), s++;
    r->status[k] = 0;
    if (strcmp(r->status, "OK") && strcmp(r->status, "NO") && strcmp(r->status, "BAD") &&
        strcmp(r->status, "BYE") && strcmp(r->status, "PREAUTH"))
        r->status[0] = 0;
    return 1;
}

/* the next response that answers something: untagged data ("* 3 EXISTS", "* OK [...]", "* FLAGS")
 * is skipped; "+", tagged, "* BAD" and "* BYE" are not */
static int next_answer(const uint8_t *p, size_t n, size_t *at, struct resp *r)
{
    while (next_resp(p, n, at, r))
        if (r->kind != 'u' || !strcmp(r->status, "BAD") || !strcmp(r->status, "BYE"))
            return 1;
    return 0;
}

static char resp_class(const struct resp *r)
{
    if (r->kind == '+')
        return 'C';
    if (!strcmp(r->status, "BYE"))
        return 'B';
    return !strcmp(r->status, "OK") ? 'A' : 'R';
}

/* ---------------------------------------------------------------- judging one expectation */
/* What class the RFCs fix for a command the model parsed whole ('A', 'R', or 0: the server's
 * choice), and the rule that says so. */
static char end_class(const struct ij *j, const struct ex *e, const char **rule)
{
    const struct cmd_rule *c = cmd_find(e->name);
    *rule = "RFC 3501 2.2.2 / 7.1: one tagged reply to each command";
    if (!c) {
        *rule = "RFC 3501 6 / 7.1.3: a command no RFC of the model defines (BAD; accepted: an extension)";
        return 'R';
    }
    if (!c->args && e->args) {
        *rule = c->rule;
        return 'R';
    }
    if (c->state == 'n' || (c->state == 's' && !j->selected)) {
        *rule = c->rule;
        return 'R';
    }
    if (!strcmp(c->name, "CAPABILITY") || !strcmp(c->name, "NOOP") || !strcmp(c->name, "LOGOUT")) {
        *rule = !strcmp(c->name, "CAPABILITY") ? "RFC 3501 6.1.1: CAPABILITY (valid in every state): OK"
              : !strcmp(c->name, "NOOP")       ? "RFC 3501 6.1.2: NOOP (valid in every state): OK"
                                               : "RFC 3501 6.1.3: LOGOUT: BYE, OK, close";
        return 'A';
    }
    *rule = c->rule;
    return 0;
}

#define SWALLOW_RULE "RFC 7888 3: a {N+} ending a line: its octets and the next line are the same command, refused or not"
#define SWALLOWED "octets swallowed"
#define SMUGGLED "octets parsed as commands"
#define LMINUS_RULE "RFC 7888 4: LITERAL- refuses a {N+} over 4096 octets (tagged BAD, TOOBIG)"

/* Did the model refuse e's {N+} for RFC 7888 4's 4096 octets (LITERAL-), not for the server's own
 * limit? Then the refusal is fixed by the RFC, exact limits or not: the model's LITERAL- limit is
 * min(4096, max_literal) (imap_model.c), so it is the RFC's whenever max_literal is at least 4096
 * (a {N+} over max_literal too must still be refused under LITERAL-). */
static int lminus_refusal(const struct ij *j, const struct ex *e)
{
    return e->kind == EX_ERR && e->reason == MX_IMAP_E_NONSYNC_TOO_BIG && j->literal_minus &&
           j->max_literal >= MX_IMAP_LITERAL_MINUS_MAX;
}

/* The server's answers and the model's expectations went out of step (a tag not the command's,
 * a tagged answer where the model finds no tag, an answer more than the commands): right after
 * the server refused a command, that is where the two resumed parsing. RFC 7888 3 fixes it for a
 * line that ends in {N+} (a finding); otherwise no RFC says where parsing resumes after a BAD
 * (a choice). Returns 1 when it gave the verdict. */
static int resync_verdict(struct ij *j, const struct ex *prev, const char *want, const char *got, const char *us)
{
    if (!prev || prev->got == 'A' || prev->got == 'C')
        return 0;
    /* the finding's expected and received classes are fixed: where the smuggled command's answer
     * shows (in this write's answers or the next's) is timing, and the minimizer keys on them */
    (void)want;
    (void)got;
    if (prev->swallowed)
        ij_verdict(j, "finding", SWALLOW_RULE, SWALLOWED, SMUGGLED,
                   "after refusing %s %s the server parses the {N+} octets as commands: '%s'", prev->tag[0] ? prev->tag : "*",
                   prev->name, us);
    else
        ij_verdict(j, "choice", "RFC 3501 7.1.3 / 9: where parsing resumes after a BAD (no RFC fixes it)",
                   "resume at the next line", "resumed elsewhere",
                   "after refusing %s %s the server resumes elsewhere than at the next line: '%s'",
                   prev->tag[0] ? prev->tag : "*", prev->name, us);
    return 1;
}

static void judge_one(struct ij *j, struct ex *e, const struct resp *r, const struct ex *prev, int more)
{
    char us[240], want[48], got[48];
    shown(us, sizeof us, r->line, r->n > 70 ? 70 : r->n);
    char uc = resp_class(r);
    ij_class(j, uc);
    snprintf(got, sizeof got, "%s", class_name(uc));
    e->got = uc;
    /* right after the model swallowed a {N+}'s octets: a mismatch is about that skip */
    const char *after_skip = prev && prev->swallowed && prev->got != 'A' ? SWALLOW_RULE : NULL;
    if (uc == 'B') {
        if (e->kind == EX_END && !strcmp(e->name, "LOGOUT") && !e->args) {
            ij_verdict(j, "pass", "RFC 3501 6.1.3: LOGOUT: BYE, OK, close", "BYE", "BYE", "'%s'", us);
            j->done = 1; /* the session ends here */
        } else
            ij_verdict(j, "choice", "RFC 3501 7.1.5: BYE (the server closes: its error limit or timeout)",
                       e->kind == EX_CONT ? "continuation" : "a reply", got, "'%s'", us);
        return;
    }
    if (e->kind == EX_CONT) {
        if (uc == 'C') {
            ij_verdict(j, "pass", "RFC 3501 7.5 / 4.3: '+' before a synchronizing literal's octets", "continuation", got,
                       "'%s'", us);
        } else if (uc == 'R') {
            ij_verdict(j, "choice", "RFC 3501 2.2.1: the server may reject a command instead of asking for its literal",
                       "continuation", got, "%s: '%s'", e->name, us);
        } else {
            ij_verdict(j, "finding",
                       after_skip ? after_skip : "RFC 3501 7.5 / 4.3: '+' before a synchronizing literal's octets",
                       after_skip ? SWALLOWED : "continuation", after_skip ? SMUGGLED : got,
                       "the command was answered before its literal: '%s'", us);
        }
        return;
    }
    if (uc == 'C' && e->kind == EX_ERR &&
        (e->reason == MX_IMAP_E_LITERAL_TOO_BIG || e->reason == MX_IMAP_E_NONSYNC_TOO_BIG)) {
        if (lminus_refusal(j, e))
            ij_verdict(j, "finding", LMINUS_RULE, "refused (BAD)", got,
                       "a '+' to a {N+} over 4096 octets on a LITERAL- listener: '%s'", us);
        else if (j->limits_exact)
            ij_verdict(j, "finding", "RFC 3501 7.5 / RFC 4469 TOOBIG: a literal over the server's limit is refused, no '+'",
                       "refused (TOOBIG)", got, "%s: '%s'", reason_text(e->reason), us);
        else
            ij_verdict(j, "na", "RFC 7888 4 / RFC 4469: limits", "refused (TOOBIG)", got,
                       "the server's own literal limit decides (the model's is a guess of it): '%s'", us);
        return;
    }
    if (uc == 'C') {
        const struct cmd_rule *c = cmd_find(e->name);
        if (e->kind == EX_END && c && (!strcmp(c->name, "IDLE") || !strcmp(c->name, "AUTHENTICATE")))
            ij_verdict(j, "na", c->rule, "a tagged reply", got,
                       "%s has continuations of its own (the model does not follow them): '%s'", e->name, us);
        else if (after_skip)
            ij_verdict(j, "finding", after_skip, SWALLOWED, SMUGGLED, "'%s'", us);
        else if (e->nonsync)
            ij_verdict(j, "finding", "RFC 7888 3 / 4: no '+' for a non-synchronizing literal {N+}", "no continuation",
                       got, "%s: '%s'", e->name[0] ? e->name : "(no command)", us);
        else
            ij_verdict(j, "finding",
                       e->kind == EX_ERR ? "RFC 3501 9 / 7.1.3 / 2.2.1: a command outside the formal syntax is refused (BAD), "
                                           "its literal never asked for"
                                         : "RFC 3501 7.5: '+' only where the command awaits a continuation",
                       e->kind == EX_ERR ? "refused" : "a tagged reply", got, "%s%s%s: '%s'",
                       e->kind == EX_ERR ? "the model: " : "", e->kind == EX_ERR ? reason_text(e->reason) : "",
                       e->kind == EX_ERR ? "" : e->name, us);
        return;
    }
    /* a tagged reply (or "* BAD") */
    if ((e->tag[0] && r->kind == 't' && strcmp(r->tag, e->tag)) || (!e->tag[0] && r->kind == 't') ||
        (e->tag[0] && r->kind == 'u')) {
        if (resync_verdict(j, prev, e->tag[0] ? e->tag : "* (untagged)", r->kind == 'u' ? "* (untagged)" : r->tag, us))
            return;
        if (r->kind == 'u')
            ij_verdict(j, "finding", "RFC 3501 7.1.3 / 9: an untagged BAD only where no tag can be read", e->tag,
                       "* (untagged)", "the model reads the tag '%s' (%s): '%s'", e->tag, e->name, us);
        else if (!e->tag[0])
            ij_verdict(j, "finding", "RFC 3501 9: tag = 1*<any ASTRING-CHAR except \"+\">", "* (untagged)", r->tag,
                       "the model finds no tag (%s, byte 0x%02x), the server answers with one: '%s'",
                       reason_text(e->reason), e->byte & 0xff, us);
        else if (more)
            ij_verdict(j, "choice", "RFC 3501 5.5: the server may answer pipelined commands out of order", e->tag,
                       r->tag, "'%s'", us);
        else
            ij_verdict(j, "finding", after_skip ? after_skip : "RFC 3501 2.2.1: the tagged reply carries the command's tag",
                       after_skip ? SWALLOWED : e->tag, after_skip ? SMUGGLED : r->tag, "'%s'", us);
        return;
    }
    if (e->kind == EX_ERR) {
        snprintf(want, sizeof want, "refused (%s)", e->status == MX_IMAP_NO ? "NO" : "BAD");
        if (uc == 'R' && lminus_refusal(j, e))
            ij_verdict(j, "pass", LMINUS_RULE, want, got, "%s: '%s'", e->name, us);
        else if (uc == 'R')
            ij_verdict(j, "pass", "RFC 3501 9 / 7.1.3: a command outside the formal syntax: BAD", want, got,
                       "the model: %s (byte 0x%02x): '%s'", reason_text(e->reason), e->byte & 0xff, us);
        else if (lminus_refusal(j, e))
            /* the server's limits play no part: RFC 7888 4 sets the 4096 octets */
            ij_verdict(j, "finding", LMINUS_RULE, want, got,
                       "%s: a {N+} over 4096 octets taken as data on a LITERAL- listener: '%s'", e->name, us);
        else if (e->reason == MX_IMAP_E_LITERAL_TOO_BIG || e->reason == MX_IMAP_E_NONSYNC_TOO_BIG ||
                 e->reason == MX_IMAP_E_LINE_TOO_LONG)
            ij_verdict(j, "na", "RFC 7888 4 / RFC 4469: limits", want, got, "the server's own limit decides: '%s'", us);
        else
            ij_verdict(j, "finding", after_skip ? after_skip : "RFC 3501 9 / 7.1.3: a command outside the formal syntax: BAD",
                       after_skip ? SWALLOWED : want, after_skip ? SMUGGLED : got, "the model: %s (byte 0x%02x)%s%s: '%s'", reason_text(e->reason), e->byte & 0xff,
                       e->name[0] ? ", in " : "", e->name, us);
        return;
    }
    /* EX_END: the server's reply to a command the model parsed whole */
    const char *rule;
    char ec = end_class(j, e, &rule);
    snprintf(want, sizeof want, "%s", ec ? class_name(ec) : "a tagged reply");
    if (!ec || uc == ec) {
        ij_verdict(j, "pass", rule, want, got, "%s: '%s'", e->name, us);
    } else if (after_skip) {
        ij_verdict(j, "finding", after_skip, SWALLOWED, SMUGGLED, "%s: '%s'", e->name, us);
    } else if (ec == 'R' && !cmd_find(e->name)) {
        ij_verdict(j, "na", rule, want, got, "%s: a command the server implements and the model does not know: '%s'",
                   e->name, us);
    } else {
        ij_verdict(j, "finding", rule, want, got, "%s: '%s'", e->name, us);
    }
    /* the server refused a command whose {N+} octets the client sent without waiting: they are
     * still that command's (RFC 7888 4), so a mismatch right after is about them */
    if (uc != 'A' && e->nonsync)
        e->swallowed = 1;
    if (!j->done && uc == 'A' && (!strcmp(e->name, "SELECT") || !strcmp(e->name, "EXAMINE")))
        j->selected = 1;
    else if (!j->done && (!strcmp(e->name, "SELECT") || !strcmp(e->name, "EXAMINE")))
        j->selected = 0; /* RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected */
    else if (!j->done && uc == 'A' && (!strcmp(e->name, "CLOSE") || !strcmp(e->name, "UNSELECT")))
        j->selected = 0;
    if (!j->done && uc == 'A' && !strcmp(e->name, "LOGOUT"))
        j->done = 1; /* the session ends here */
}

/* The literal mode the server advertises in its responses: a "* CAPABILITY" line or a
 * "[CAPABILITY ...]" response code (RFC 3501 7.2.1 / 7.1) listing LITERAL+ (RFC 7888 3) or
 * LITERAL- (RFC 7888 4). Returns 0 LITERAL+, 1 LITERAL-, 2 both, -1 neither (nothing to check:
 * a server need not list its capabilities unasked). */
static int advertised_literal(const uint8_t *p, size_t n)
{
    int plus = 0, minus = 0;
    size_t at = 0;
    struct resp r;
    while (next_resp(p, n, &at, &r)) {
        size_t i = 0, ln = r.n;
        const uint8_t *l = r.line;
        /* the capability list: after "* CAPABILITY" (untagged data) or "[CAPABILITY" (a code) */
        if (r.kind == 'u' && ln >= 13 && !strncasecmp((const char *)l, "* CAPABILITY ", 13))
            i = 13;
        else {
            const uint8_t *b = memchr(l, '[', ln);
            if (!b || (size_t)(b - l) + 12 > ln || strncasecmp((const char *)b + 1, "CAPABILITY ", 11))
                continue;
            i = (size_t)(b - l) + 12;
        }
        /* capability names are atoms, case-insensitive (RFC 3501 7.2.1 / 9) */
        while (i < ln && l[i] != ']' && l[i] != '\r' && l[i] != '\n') {
            size_t w = i;
            while (w < ln && l[w] != ' ' && l[w] != ']' && l[w] != '\r' && l[w] != '\n')
                w++;
            if (w - i == 8 && !strncasecmp((const char *)l + i, "LITERAL", 7)) {
                plus |= l[i + 7] == '+';
                minus |= l[i + 7] == '-';
            }
            i = w < ln && l[w] == ' ' ? w + 1 : w;
        }
    }
    return plus && minus ? 2 : minus ? 1 : plus ? 0 : -1;
}

/* ---------------------------------------------------------------- the two modes */
/* the session's client stream and where each write starts (off[k], off[nw] = the end) */
static size_t *writes_of(const struct fz_session *s, struct fz_buf *stream, size_t *nw)
{
    struct fz_event ev;
    size_t cur = 0, k = 0, cap = 16;
    size_t *off = malloc(cap * sizeof *off);
    if (!off)
        abort();
    while (fz_session_next(s, &cur, &ev)) {
        if (ev.type != FZ_EV_CLIENT)
            continue;
        if (k + 2 > cap && !(off = realloc(off, (cap *= 2) * sizeof *off)))
            abort();
        off[k++] = stream->n;
        fz_buf_put(stream, ev.p, ev.n);
    }
    off[k] = stream->n;
    *nw = k;
    return off;
}

int imap_auth_expect(const struct fz_session *s, size_t max_line, uint64_t max_literal)
{
    struct ij j = {0};
    struct fz_buf stream = {0};
    size_t nw;
    size_t *off = writes_of(s, &stream, &nw);
    j.literal_minus = fz_session_literal_minus(s);
    expectations(&j, &stream, max_line, max_literal);
    puts("t"); /* the login prefix: its tagged OK */
    size_t e = 0;
    for (size_t w = 0; w < nw; w++) {
        for (; e < j.nex && j.ex[e].pos < off[w + 1]; e++)
            putchar(j.ex[e].kind == EX_ERR && !j.ex[e].tag[0] ? 'u' : 't');
        putchar('\n');
    }
    free(off);
    free(j.ex);
    fz_buf_free(&stream);
    return 0;
}

/* an answer that no expectation is left for, after the expectation prev; next: the expectation
 * the next write (or none) brings */
static void extra_answer(struct ij *j, const struct ex *prev, const struct ex *next, const struct resp *r,
                         int closed)
{
    char us[240];
    shown(us, sizeof us, r->line, r->n > 70 ? 70 : r->n);
    ij_class(j, '+');
    const char *early = next ? next->tag : j->open_tag;
    if (r->kind == 't' && early[0] && !strcmp(r->tag, early) && resp_class(r) == 'R')
        /* RFC 3501 2.2.1: "If, instead, the server detected an error in the command, it sends a
         * BAD completion response ... to reject the command and prevent the client from sending
         * any more of the command": a refusal before the command's end */
        ij_verdict(j, "choice", "RFC 3501 2.2.1: the server may reject a command before its end", "no reply yet",
                   "refused", "the command %s is refused before the model has read it whole: '%s'", early, us);
    else if (r->kind == 'u' && !strcmp(r->status, "BYE"))
        ij_verdict(j, "choice", "RFC 3501 7.1.5: BYE (the server closes: its error limit or timeout)", "no reply",
                   closed ? "BYE, closed" : "BYE", "'%s'", us);
    else if (!resync_verdict(j, prev, "no reply", "a reply", us))
        ij_verdict(j, "finding", "RFC 3501 2.2.2: no reply but to a command", "no reply", "a reply",
                   "the server answered where the model expects nothing: '%s'", us);
}

/* no answer came for e (the client waited out its patience, or the server closed) */
static void unanswered_ex(struct ij *j, const struct ex *e, const struct ex *prev, int closed)
{
    const char *want = e->kind == EX_CONT ? "continuation" : e->kind == EX_ERR ? "refused" : "a tagged reply";
    int after_refusal = prev && prev->got != 'A' && prev->got != 'C';
    ij_class(j, closed ? 'X' : 'I');
    if (closed)
        ij_verdict(j, after_refusal ? "choice" : "finding",
                   after_refusal ? "RFC 3501 7.1.5: the server closes after refusals (its error limit)"
                                 : "RFC 3501 2.2.2: a reply to each command",
                   want, "closed", "closed before the reply to %s %s", e->tag, e->name);
    else if (prev && prev->swallowed && after_refusal)
        ij_verdict(j, "finding", SWALLOW_RULE, want, "ignored",
                   "no reply to %s %s (the server reads on where the model skipped)", e->tag, e->name);
    else
        ij_verdict(j, "finding",
                   e->kind == EX_CONT ? "RFC 3501 7.5 / 4.3: '+' before a synchronizing literal's octets"
                   : e->kind == EX_ERR ? "RFC 3501 9 / 7.1.3: a command outside the formal syntax: BAD"
                                       : "RFC 3501 2.2.2: a reply to each command",
                   want, "ignored", "no reply within the client's patience to %s %s%s%s%s", e->tag, e->name,
                   e->kind == EX_ERR ? " (the model: " : "", e->kind == EX_ERR ? reason_text(e->reason) : "",
                   e->kind == EX_ERR ? ")" : "");
}

/* The transcript: the server's bytes (srv) and where the answer to each client write starts
 * (seg[k]: srv's length when write k went out; write 0 is the login). Answers are credited to
 * the write whose segment they start in: an answer in a write's segment that no expectation of
 * that write or an earlier one is waiting for is one the model does not expect. */
int imap_auth_judge(const struct fz_session *s, char *transcript, size_t max_line, uint64_t max_literal,
                    int limits_exact)
{
    struct ij j = {0};
    j.limits_exact = limits_exact;
    j.literal_minus = fz_session_literal_minus(s);
    struct fz_buf stream = {0}, srv = {0}, segs = {0};
    size_t nw;
    size_t *off = writes_of(s, &stream, &nw);
    expectations(&j, &stream, max_line, max_literal);
    int closed = 0;
    uint8_t *bytes = malloc(strlen(transcript) / 2 + 1);
    if (!bytes)
        abort();
    for (char *line = strtok(transcript, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == 'S' && line[1])
            fz_buf_put(&srv, bytes, unhex(line + 2, bytes));
        else if (line[0] == 'C')
            fz_buf_put(&segs, &srv.n, sizeof srv.n);
        else if (line[0] == 'X')
            closed = 1;
    }
    free(bytes);
    const size_t *seg = (const size_t *)(const void *)segs.p;
    size_t nseg = segs.n / sizeof *seg; /* client writes sent: the login and nseg - 1 of the session's */
    size_t at = 0;
    struct resp r;
    /* the greeting and the login prefix's reply */
    if (!next_resp(srv.p, srv.n, &at, &r) || r.kind != 'u' || strcmp(r.status, "OK")) {
        ij_verdict(&j, "na", "RFC 3501 7.1.1: the greeting", "* OK", "other", "no OK greeting: the session is not replayed");
        goto out;
    }
    if (!nseg || !next_answer(srv.p, srv.n, &at, &r) || r.kind != 't' || strcmp(r.tag, LOGIN_TAG) ||
        strcmp(r.status, "OK")) {
        ij_verdict(&j, "na", "RFC 3501 6.2.3: LOGIN", "OK", "other",
                   "the test user's LOGIN was not accepted: the session is not judged");
        goto out;
    }
    int adv = advertised_literal(srv.p, srv.n);
    if (adv >= 0 && adv != j.literal_minus) {
        /* RFC 7888 4: the listener follows the mode it advertises, so the header's rules are not
         * this listener's: judged under them, its answers would be findings of the wrong RFC.
         * With exact limits the listener is one live/servers.sh configured (mx-serve's), whose
         * literal mode, the limit on a {N+}, is known as exactly as its other limits: there
         * advertising the other mode is the server's error (bench/bugs/literal-plus-always) */
        const char *mode = j.literal_minus ? "LITERAL-" : "LITERAL+";
        ij_verdict(&j, j.limits_exact ? "finding" : "na", LITERAL_MODE_RULE, mode,
                   adv == 2 ? "LITERAL+ and LITERAL-" : adv ? "LITERAL-" : "LITERAL+",
                   j.limits_exact ? "the listener is configured %s, the server advertises otherwise"
                                  : "the session's header says %s, the server advertises otherwise: the session is not judged",
                   mode);
        goto out;
    }
    size_t qh = 0, qt = 0; /* expectations judged / due so far (of the writes sent) */
    for (size_t w = 0; w + 1 < nseg && w < nw && !j.done; w++) {
        while (qt < j.nex && j.ex[qt].pos < off[w + 1])
            qt++;
        size_t end = w + 2 < nseg ? seg[w + 2] : srv.n;
        for (;;) {
            size_t was = at;
            if (!next_answer(srv.p, srv.n, &at, &r))
                break;
            if ((size_t)(r.line - srv.p) >= end && w + 2 < nseg) {
                at = was; /* the next write's */
                break;
            }
            if (qh < qt) {
                judge_one(&j, &j.ex[qh], &r, qh ? &j.ex[qh - 1] : NULL,
                          qh + 1 < qt && r.kind == 't' && !strcmp(r.tag, j.ex[qh + 1].tag));
                qh++;
            } else {
                extra_answer(&j, qh ? &j.ex[qh - 1] : NULL, qt < j.nex ? &j.ex[qt] : NULL, &r, closed);
            }
            if (j.done)
                break;
        }
    }
    if (!j.done && qh < qt)
        unanswered_ex(&j, &j.ex[qh], qh ? &j.ex[qh - 1] : NULL, closed);
out:
    fz_buf_put(&j.classes, "", 1);
    printf("classes\t%s\n", (const char *)j.classes.p);
    free(off);
    free(j.ex);
    fz_buf_free(&stream);
    fz_buf_free(&srv);
    fz_buf_free(&segs);
    fz_buf_free(&j.classes);
    return 0;
}
