/* judge.c - live mode's judge: a real server's replies, judged by the starttls target's RFC model.
 *
 *   live-judge [--max-line N] [--max-message N] SESSION TRANSCRIPT
 *                                   the verdicts on one replay (format below), exit 0; the
 *                                   limits are the listener's (the session header's otherwise)
 *   live-judge --imap-auth [--limits-exact] [--max-line N] [--max-message N] [--expect] SESSION [TRANSCRIPT]
 *                                   the same for an IMAP reader's session (corpus/imap ...)
 *                                   replayed after the test user's LOGIN (judge_imap.c: the IMAP
 *                                   model); the first client write of the transcript is the login;
 *                                   --limits-exact: the limits are the server's own, so a literal
 *                                   over them is judged (else the server's limit decides, n.a.),
 *                                   and so is its literal mode (LITERAL+/-: the limit on a {N+}):
 *                                   advertising the other is a finding (else n.a.)
 *   live-judge --expect SESSION     per client write of SESSION, the reply units the model
 *                                   expects if the server follows it: one line per `C` event,
 *                                   "SMTP: r" per reply, POP3 "r"/"m" (multi-line), IMAP
 *                                   "t" (tagged) / "u" (one untagged line). tools/session-send.py
 *                                   waits for them (never judges by them): replies are then
 *                                   credited to the write that caused them, not to a later one.
 *
 * TRANSCRIPT is what tools/session-send.py --transcript wrote: `C HEX` (the session's write, as
 * the model sees it), `S HEX` (server bytes after it), `T up|refused|failed ...`, `X` (closed).
 *
 * The model (targets/oracles/starttls_model.h) is fed the client writes, one read each, exactly
 * as the starttls target feeds it, and lists the replies the RFC rules require. A real server's
 * reply is judged by its class, never by libmx's texts: accepted (SMTP 2xx/3xx, +OK, OK, "+"),
 * refused (4xx/5xx, -ERR, NO/BAD), closed, TLS up. Where the RFCs leave a choice the judge
 * accepts each allowed one (SMTP 4xx or 5xx; a close after a refusal, RFC 5321 3.8 / RFC 3501
 * 7.1.5; a command the server implements and the model does not know; credentials the real
 * server checks and the model takes as given): after such a choice the two states may differ, so
 * the rest of the session is not applicable (n.a.), never a finding. One finding ends the
 * judgement of a session too: what follows is a consequence. An IMAP session is judged in its
 * header's literal mode (LITERAL+, or LITERAL- for version 3 flags bit 2, RFC 7888 4); a
 * CAPABILITY reply listing the other mode is n.a. (another listener than the session's).
 *
 * Output, one verdict a line: "<pass|finding|choice|na>\t<rule>\t<expected>\t<got>\t<detail>",
 * then "classes\t<the server's reply-class sequence>" (the differential and the mutator's
 * feedback compare these).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "judge.h"
#include "session.h"
#include "starttls_model.h"

#define MAX_EX 4096
/* the rule of a reply before anything the model answers (the client has sent nothing yet) */
#define NOTHING_ASKED "RFC 5321 4.1 / RFC 3501 7 / RFC 1939 3: no reply but to a command (or the greeting)"

static const struct starttls_proto *const protos[3] = {&starttls_smtp, &starttls_imap, &starttls_pop3};

struct judge {
    int proto;
    struct starttls_model m;
    struct starttls_expect ex[MAX_EX];
    size_t nex, next;       /* expectations and the next one to match */
    struct fz_buf lines;    /* command lines fed in M_CMD, oldest first, each after its length
                             * (a size_t): a line may hold a NUL */
    struct fz_buf rq;       /* server bytes not yet matched to an expectation */
    struct fz_buf classes;  /* the reply-class sequence */
    int done;               /* a finding or a choice ended the judgement */
    int closed, findings;
    char verb[16];          /* the verb of the line behind the current expectation */
    size_t line_n;          /* and that line's length */
    int line_odd;           /* and it holds a byte outside printable ASCII (CR LF aside) */
    int line_args;          /* and something follows its verb */
    unsigned char piped[MAX_EX]; /* the expectation's write held more than one command */
    unsigned char greet[MAX_EX]; /* the expectation is the server's greeting */
};

/* ---------------------------------------------------------------- output */
void shown(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < cap; i++) {
        uint8_t c = p[i];
        if (c == '\r') { out[k++] = '\\'; out[k++] = 'r'; }
        else if (c == '\n') { out[k++] = '\\'; out[k++] = 'n'; }
        else if (c < 0x20 || c >= 0x7f || c == '\\') k += (size_t)snprintf(out + k, cap - k, "\\x%02x", c);
        else out[k++] = (char)c;
    }
    out[k] = 0;
}

void verdict_line(const char *v, const char *rule, const char *want, const char *got, const char *fmt, va_list ap)
{
    printf("%s\t%s\t%s\t%s\t", v, rule, want, got);
    vprintf(fmt, ap);
    putchar('\n');
}

void classes_put(struct fz_buf *classes, const char *c, size_t n)
{
    if (classes->n)
        fz_buf_put(classes, " ", 1);
    fz_buf_put(classes, c, n);
}

static void verdict(struct judge *j, const char *v, const char *rule, const char *want, const char *got,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void verdict(struct judge *j, const char *v, const char *rule, const char *want, const char *got,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verdict_line(v, rule ? rule : "command rules", want, got, fmt, ap);
    va_end(ap);
    if (!strcmp(v, "finding"))
        j->findings++;
    if (strcmp(v, "pass"))
        j->done = 1;
}

static void class_put(struct judge *j, const char *c)
{
    classes_put(&j->classes, c, strlen(c));
}

/* ---------------------------------------------------------------- reply units */
/* The length of the first complete reply unit in rq for expectation e, 0 when incomplete.
 * SMTP (RFC 5321 4.2): lines "ddd-" up to one "ddd ". POP3 (RFC 1939 3): a status line; a
 * CAPA +OK continues to a line holding one dot (RFC 2449 5). IMAP (RFC 3501 7): untagged lines
 * up to the tagged status line, or "+" (a continuation); the greeting, "* BAD" and "* BYE" are
 * one untagged line. */
static size_t unit_len(const struct judge *j, const struct starttls_expect *e)
{
    const uint8_t *p = j->rq.p;
    size_t n = j->rq.n, at = 0;
    while (at < n) {
        const uint8_t *lf = memchr(p + at, '\n', n - at);
        if (!lf)
            return 0;
        size_t ln = (size_t)(lf - (p + at)) + 1;
        const uint8_t *l = p + at;
        at += ln;
        if (j->proto == FZ_PROTO_SMTP) {
            if (ln < 4 || l[3] != '-')
                return at;
        } else if (j->proto == FZ_PROTO_POP3) {
            if (at == ln && !(e->offers >= 0 && ln >= 3 && !memcmp(l, "+OK", 3)))
                return at;
            if (at != ln && ln >= 1 && l[0] == '.' && (ln == 2 || (ln == 3 && l[1] == '\r')))
                return at;
        } else {
            int untagged = ln >= 2 && l[0] == '*' && l[1] == ' ';
            if (!untagged)
                return at; /* tagged, or "+" */
            if (e->code == I_GREET || e->code == I_STAR_BAD || e->code == I_BYE_CLOSE)
                return at;
            if (ln >= 6 && !memcmp(l, "* BYE ", 6) && e->code != I_LOGOUT)
                return at; /* the server is closing */
        }
    }
    return 0;
}

/* A: accepted, R: refused, C: continuation ("+"), B: the server says it closes (421, BYE). */
static char unit_class(const struct judge *j, const struct starttls_expect *e, const uint8_t *u, size_t n)
{
    const uint8_t *last = u;
    for (size_t i = 0; i + 1 < n; i++)
        if (u[i] == '\n')
            last = u + i + 1;
    size_t ln = (size_t)(u + n - last);
    if (j->proto == FZ_PROTO_SMTP) {
        /* 421, or 221 to anything but QUIT: the server says it closes (RFC 5321 3.8) */
        if (n >= 3 && (!memcmp(u, "421", 3) || (!memcmp(u, "221", 3) && e->code != 221)))
            return 'B';
        return n >= 1 && (u[0] == '2' || u[0] == '3') ? 'A' : 'R';
    }
    if (j->proto == FZ_PROTO_POP3)
        return n >= 3 && !memcmp(u, "+OK", 3) ? 'A' : 'R';
    if (ln >= 1 && last[0] == '+')
        return 'C';
    if (ln >= 6 && !memcmp(last, "* BYE ", 6))
        return 'B';
    const uint8_t *sp = memchr(last, ' ', ln);
    if (!sp || sp + 3 > last + ln)
        return 'R';
    if (!strncasecmp((const char *)sp + 1, "OK", 2) || !strncasecmp((const char *)sp + 1, "PREAUTH", 7))
        return 'A';
    return 'R';
}

static char expect_class(const struct judge *j, const struct starttls_expect *e)
{
    if (j->proto == FZ_PROTO_SMTP)
        return e->code == 421 ? 'B' : e->code < 400 ? 'A' : 'R';
    if (j->proto == FZ_PROTO_POP3)
        return e->code ? 'A' : 'R';
    if (e->code == I_BYE_CLOSE)
        return 'B';
    return e->code == I_GREET || e->code == I_OK || e->code == I_LOGOUT ? 'A' : 'R';
}

const char *class_name(char c)
{
    switch (c) {
    case 'A': return "accepted";
    case 'R': return "refused";
    case 'C': return "continuation";
    case 'B': return "refused+closing";
    case 'X': return "closed";
    case 'I': return "ignored";
    case 'T': return "TLS up";
    default: return "?";
    }
}

/* STARTTLS / STLS listed in a capability reply (RFC 3207 4, RFC 2595 4 and 3.2, RFC 3501
 * 6.1.1: a token of the CAPABILITY line, a line of the EHLO and CAPA replies). */
static int lists(const uint8_t *u, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++) {
        if (strncasecmp((const char *)u + i, word, w))
            continue;
        char before = i ? (char)u[i - 1] : ' ';
        char after = i + w < n ? (char)u[i + w] : '\r';
        if ((before == ' ' || before == '-' || before == '\n' || before == '[') &&
            (after == ' ' || after == '\r' || after == ']' || after == '\n'))
            return 1;
    }
    return 0;
}

/* the model knows this verb (its command table; anything else it refuses as unknown) */
static int model_knows(int proto, const char *v)
{
    static const char *const smtp[] = {"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "AUTH", NULL};
    static const char *const imap[] = {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "LOGIN", NULL};
    static const char *const pop3[] = {"CAPA", "STLS", "QUIT", "USER", "PASS", "STAT", "NOOP", "RSET", NULL};
    const char *const *t = proto == FZ_PROTO_SMTP ? smtp : proto == FZ_PROTO_IMAP ? imap : pop3;
    for (; *t; t++)
        if (!strcmp(*t, v))
            return 1;
    return 0;
}

static int credentials(const char *v)
{
    return !strcmp(v, "AUTH") || !strcmp(v, "LOGIN") || !strcmp(v, "AUTHENTICATE") || !strcmp(v, "USER") ||
           !strcmp(v, "PASS") || !strcmp(v, "APOP");
}

/* the verb of the oldest command line not yet matched (IMAP: the word after the tag) */
static void pop_verb(struct judge *j)
{
    j->verb[0] = 0;
    j->line_n = 0;
    j->line_odd = 0;
    j->line_args = 0;
    if (!j->lines.n)
        return;
    size_t n;
    memcpy(&n, j->lines.p, sizeof n);
    const uint8_t *l = j->lines.p + sizeof n;
    j->line_n = n;
    j->line_odd = 0;
    for (size_t i = 0; i < n; i++)
        if ((l[i] < 0x20 && l[i] != '\r' && l[i] != '\n') || l[i] >= 0x7f)
            j->line_odd = 1;
    size_t a = 0;
    if (j->proto == FZ_PROTO_IMAP) {
        while (a < n && l[a] != ' ')
            a++;
        while (a < n && l[a] == ' ')
            a++;
    }
    size_t k = 0;
    while (a < n && l[a] != ' ' && l[a] != '\r' && l[a] != '\n' && k + 1 < sizeof j->verb)
        j->verb[k++] = (char)toupper(l[a++]);
    j->verb[k] = 0;
    while (a < n && l[a] == ' ')
        a++;
    j->line_args = a < n && l[a] != '\r' && l[a] != '\n';
    fz_buf_drop_front(&j->lines, sizeof n + n);
}

/* RFC 3501 9: the IMAP commands of the not-authenticated state that take no arguments ("capability =
 * "CAPABILITY"", ...): any argument makes the line a syntax error, BAD (7.1.3) */
static const char *no_args_rule(const char *verb)
{
    if (!strcmp(verb, "CAPABILITY"))
        return "RFC 3501 6.1.1: CAPABILITY takes no arguments (9; 7.1.3: BAD)";
    if (!strcmp(verb, "LOGOUT"))
        return "RFC 3501 6.1.3: LOGOUT takes no arguments (9; 7.1.3: BAD)";
    if (!strcmp(verb, "STARTTLS"))
        return "RFC 3501 6.2.1: STARTTLS takes no arguments (9; 7.1.3: BAD)";
    return NULL;
}

/* The rule of an expectation as the report names it: the model's own where it has one, else the
 * RFC section of the command the reply answers (the model's catch-all "command rules" covers
 * every command; the starttls target's messages and bench/bugs recognisers keep that label, so
 * the sections are given here, by the verb of the line the reply answers). */
static const char *section(const struct judge *j, const struct starttls_expect *e, int greeting)
{
    struct verb_rule { const char *verb, *rule; };
    static const struct verb_rule smtp[] = {
        {"EHLO", "RFC 5321 4.1.1.1: EHLO"}, {"HELO", "RFC 5321 4.1.1.1: HELO"},
        {"MAIL", "RFC 5321 4.1.1.2 / 4.1.4: MAIL (after EHLO/HELO, not nested)"},
        {"RCPT", "RFC 5321 4.1.1.3 / 4.1.4: RCPT (after MAIL)"},
        {"DATA", "RFC 5321 4.1.1.4 / 4.1.4: DATA (after RCPT)"}, {"RSET", "RFC 5321 4.1.1.5: RSET"},
        {"NOOP", "RFC 5321 4.1.1.9: NOOP"}, {"QUIT", "RFC 5321 4.1.1.10: QUIT"},
        {"STARTTLS", "RFC 3207 4: STARTTLS"}, {"AUTH", "RFC 4954 4: AUTH"}, {NULL, NULL}};
    static const struct verb_rule imap[] = {
        {"CAPABILITY", "RFC 3501 6.1.1: CAPABILITY"}, {"NOOP", "RFC 3501 6.1.2: NOOP"},
        {"LOGOUT", "RFC 3501 6.1.3: LOGOUT"}, {"STARTTLS", "RFC 3501 6.2.1: STARTTLS"},
        {"AUTHENTICATE", "RFC 3501 6.2.2 / RFC 4959: AUTHENTICATE"}, {"LOGIN", "RFC 3501 6.2.3: LOGIN"},
        {NULL, NULL}};
    static const struct verb_rule pop3[] = {
        {"USER", "RFC 1939 7: USER"}, {"PASS", "RFC 1939 7: PASS"}, {"STAT", "RFC 1939 5: STAT"},
        {"NOOP", "RFC 1939 5: NOOP"}, {"RSET", "RFC 1939 5: RSET"}, {"QUIT", "RFC 1939 6: QUIT"},
        {"CAPA", "RFC 2449 5: CAPA"}, {"STLS", "RFC 2595 4: STLS"}, {NULL, NULL}};
    if (e->rule && strcmp(e->rule, "command rules")) {
        if (!strcmp(e->rule, "end of message only at CRLF.CRLF"))
            return "RFC 5321 4.1.1.4 / 2.3.8: the message ends only at CRLF.CRLF (bare LF is no line end)";
        return e->rule;
    }
    if (greeting)
        return j->proto == FZ_PROTO_SMTP ? "RFC 5321 4.3.1 / 3.1: the 220 greeting"
             : j->proto == FZ_PROTO_IMAP ? "RFC 3501 7.1.1 / 7.1.4: the greeting (OK or PREAUTH)"
                                         : "RFC 1939 4: the +OK greeting";
    const struct verb_rule *t = j->proto == FZ_PROTO_SMTP ? smtp : j->proto == FZ_PROTO_IMAP ? imap : pop3;
    for (; t->verb; t++)
        if (!strcmp(t->verb, j->verb))
            return t->rule;
    if (!j->verb[0])
        return j->proto == FZ_PROTO_SMTP ? "RFC 5321 4.1 / 4.2: a reply to each command line"
             : j->proto == FZ_PROTO_IMAP ? "RFC 3501 2.2.2 / 7.1.3: a tagged reply to each command (BAD when invalid)"
                                         : "RFC 1939 3: a status reply to each command line";
    return j->proto == FZ_PROTO_SMTP ? "RFC 5321 4.2.4: unrecognized or unimplemented command (500/502)"
         : j->proto == FZ_PROTO_IMAP ? "RFC 3501 6 / 7.1.3: a command unknown or invalid in this state (BAD)"
                                     : "RFC 1939 3: -ERR to a command unknown or invalid in this state";
}

/* Matches queued server units against the pending expectations. */
static void match(struct judge *j)
{
    while (!j->done && j->next < j->nex) {
        struct starttls_expect *e = &j->ex[j->next];
        if (e->act == MX_ACT_HANDSHAKE) { /* no reply: the TLS layer's turn */
            j->next++;
            continue;
        }
        size_t un = unit_len(j, e);
        if (!un)
            return;
        char us[240], want[48], got[48];
        shown(us, sizeof us, j->rq.p, un > 60 ? 60 : un);
        char uc = unit_class(j, e, j->rq.p, un), ec = expect_class(j, e);
        if (e->code != I_GREET || j->proto != FZ_PROTO_IMAP)
            pop_verb(j);
        if (j->proto == FZ_PROTO_SMTP && e->code == 530 && (!e->rule || !strcmp(e->rule, "command rules")))
            e->rule = "RFC 3207 4: TLS required: 530 to all but EHLO, NOOP, STARTTLS, QUIT before TLS";
        e->rule = section(j, e, j->greet[j->next]);
        /* an IMAP command that takes no arguments, given some (a literal among them): its
         * refusal is that command's rule, whatever else the model says of the line (the {N+}
         * rule of refused_line is about the octets, not about why the line is refused) */
        if (j->proto == FZ_PROTO_IMAP && ec == 'R' && j->line_args && no_args_rule(j->verb))
            e->rule = no_args_rule(j->verb);
        if (j->proto == FZ_PROTO_SMTP)
            snprintf(want, sizeof want, "%s (%d)", class_name(ec), e->code);
        else
            snprintf(want, sizeof want, "%s", class_name(ec));
        snprintf(got, sizeof got, "%s", class_name(uc));
        char c[2] = {uc, 0};
        class_put(j, c);
        if (uc == ec || (ec == 'R' && uc == 'B' && e->may_close)) {
            const char *what = NULL;
            if (e->offers >= 0) {
                const char *word = j->proto == FZ_PROTO_POP3 ? "STLS" : "STARTTLS";
                int l = lists(j->rq.p, un, word);
                if (l != e->offers)
                    what = l ? "listed where it cannot be offered" : "not listed where it is offered";
                if (what)
                    verdict(j, "finding", e->rule, e->offers ? "STARTTLS listed" : "not listed",
                            l ? "listed" : "not listed", "%s %s: '%s'", word, what, us);
                else if (j->proto == FZ_PROTO_IMAP && lists(j->rq.p, un, j->m.literal_minus ? "LITERAL+" : "LITERAL-"))
                    /* RFC 7888 4 (LITERAL-) / 3 (LITERAL+): the listener takes {N+} as it
                     * advertises; the other mode than the header's is another listener than the
                     * session's, whose literal rules the model does not apply */
                    verdict(j, "na", LITERAL_MODE_RULE, j->m.literal_minus ? "LITERAL-" : "LITERAL+",
                            j->m.literal_minus ? "LITERAL+" : "LITERAL-",
                            "the session's header says %s, the server advertises the other: '%s'",
                            j->m.literal_minus ? "LITERAL-" : "LITERAL+", us);
                else if (e->logindis >= 0 && lists(j->rq.p, un, "LOGINDISABLED") != e->logindis)
                    /* RFC 2595 3.2: a server that disables LOGIN before TLS lists LOGINDISABLED;
                     * disabling it is the server's policy (libmx's: while TLS is offered) */
                    verdict(j, "choice", "RFC 2595 3.2 / RFC 3501 6.2.3: LOGINDISABLED iff LOGIN is disabled before TLS",
                            e->logindis ? "LOGINDISABLED" : "no LOGINDISABLED",
                            e->logindis ? "not listed" : "listed",
                            "the server's policy on LOGIN before TLS differs from libmx's: '%s'", us);
            }
            if (!j->done && j->proto == FZ_PROTO_IMAP && e->tag[0] && uc != 'B') {
                const uint8_t *last = j->rq.p;
                for (size_t i = 0; i + 1 < un; i++)
                    if (j->rq.p[i] == '\n')
                        last = j->rq.p + i + 1;
                size_t tl = strlen(e->tag);
                if (uc != 'C' && (memcmp(last, e->tag, tl) || last[tl] != ' '))
                    verdict(j, "finding", "RFC 3501 2.2.1: the tagged reply carries the command's tag",
                            e->tag, "other tag", "'%s'", us);
            }
            if (!j->done)
                verdict(j, "pass", e->rule, want, got, "'%s'", us);
        } else if (j->line_n > j->m.max_line) {
            verdict(j, "na", "RFC 5321 4.5.3.1.4 / RFC 3501 / RFC 1939: line limits", want, got,
                    "a %zu-byte line: the server's own line limit decides: '%s'", j->line_n, us);
        } else if (ec == 'A' && uc == 'R' && j->proto == FZ_PROTO_SMTP && j->piped[j->next]) {
            verdict(j, "choice", "RFC 2920 3.1 / RFC 3207 4.2: pipelining", want, got,
                    "the server refuses commands pipelined in one write (a client pipelines only after EHLO "
                    "lists PIPELINING, and never behind STARTTLS): '%s'", us);
        } else if (ec == 'A' && uc == 'R' && j->line_odd) {
            verdict(j, "choice", "RFC 5321 4.1.2 / RFC 3501 9 / RFC 1939: argument syntax", want, got,
                    "the server refuses a line holding bytes outside printable ASCII (the model does not "
                    "check arguments): '%s'", us);
        } else if (ec == 'B' && uc == 'R') {
            verdict(j, "choice", e->rule, want, got, "refused but kept open (no RFC requires the close): '%s'", us);
        } else if (ec == 'R' && uc == 'A' && j->proto == FZ_PROTO_SMTP && e->code == 503 && !strcmp(j->verb, "MAIL")) {
            verdict(j, "choice", "RFC 5321 4.1.4: EHLO/HELO before MAIL (a duty of the client)", want, got,
                    "the server accepts MAIL without EHLO/HELO or within a transaction: '%s'", us);
        } else if (ec == 'R' && uc == 'B') {
            verdict(j, "choice", e->rule, want, got, "refused and closing (RFC 5321 3.8, RFC 3501 7.1.5): '%s'", us);
        } else if (ec == 'A' && uc == 'R' && (credentials(j->verb) || strstr(e->rule, "after a SASL challenge"))) {
            /* a SASL response (the line after 334 / "+ ") carries credentials too */
            verdict(j, "na", e->rule, want, got,
                    "%s refused: the server checks credentials or offers other mechanisms; the model takes them as given: '%s'",
                    j->verb, us);
        } else if (ec == 'R' && (uc == 'A' || uc == 'C') && j->verb[0] && !model_knows(j->proto, j->verb)) {
            verdict(j, "na", e->rule, want, got, "%s: a command the server implements and the model does not know: '%s'",
                    j->verb, us);
        } else if (ec == 'R' && uc == 'C' && j->proto == FZ_PROTO_IMAP) {
            verdict(j, "choice", "RFC 3501 7.5 / 6.2.3: a literal before authentication", want, got,
                    "the server accepts a literal before login (RFC 3501 allows it; libmx refuses it): '%s'", us);
        } else if (ec == 'R' && uc == 'A' && j->proto == FZ_PROTO_SMTP && e->code == 500 && j->verb[0] &&
                   !model_knows(j->proto, j->verb)) {
            verdict(j, "na", e->rule, want, got, "an SMTP extension the model does not know: '%s'", us);
        } else {
            verdict(j, "finding", e->rule, want, got, "'%s'%s%s", us, j->verb[0] ? " in reply to " : "", j->verb);
        }
        fz_buf_drop_front(&j->rq, un);
        j->next++;
    }
}

/* The server sent rq's bytes where the model expects no reply. A final refusal before the server
 * closes is its own error limit (RFC 5321 3.8 / 4.2.2: 421 at any time; RFC 3501 7.1.5: BYE;
 * POP3 has no rule against a last -ERR): a choice. Anything else is a finding. */
static void unexpected_reply(struct judge *j, int then_closed)
{
    char us[240];
    shown(us, sizeof us, j->rq.p, j->rq.n > 60 ? 60 : j->rq.n);
    const char *rule = j->nex ? section(j, &j->ex[j->nex - 1], j->greet[j->nex - 1]) : NOTHING_ASKED;
    const uint8_t *u = j->rq.p;
    int refusal = j->proto == FZ_PROTO_SMTP ? j->rq.n >= 1 && (u[0] == '4' || u[0] == '5')
                : j->proto == FZ_PROTO_POP3 ? j->rq.n >= 4 && !memcmp(u, "-ERR", 4)
                                            : j->rq.n >= 6 && !memcmp(u, "* BYE ", 6);
    class_put(j, "+");
    if (then_closed && refusal)
        verdict(j, "choice", "RFC 5321 3.8 / RFC 3501 7.1.5 / RFC 1939 3: a final refusal, then the close",
                "no reply", "a reply, closed", "the server ends the connection with a last refusal of its own "
                "(its error or command limit, not the model's): '%s'", us);
    else
        verdict(j, "finding", rule, "no reply", "a reply", "the server answered where the model expects nothing: '%s'", us);
}

/* The client waited (--patience) for the replies of the next expectation and none came. */
static void unanswered(struct judge *j, const char *when, int verb_popped)
{
    const struct starttls_expect *e = &j->ex[j->next];
    char ec = expect_class(j, e);
    if (!verb_popped)
        pop_verb(j);
    const char *rule = section(j, e, j->greet[j->next]);
    class_put(j, "I");
    if (j->proto == FZ_PROTO_IMAP && e->rule && strstr(e->rule, "RFC 7888 4"))
        verdict(j, "choice", rule, class_name(ec), "waits",
                "the server reads on after the literal (RFC 3501 9: a command continues after a "
                "literal); the model ends the refused command at it");
    else
        verdict(j, "finding", rule, class_name(ec), "ignored", "no reply %s%s%s", when,
                j->verb[0] ? " to " : "", j->verb);
}

/* The model's expectations for one client write. */
static void feed(struct judge *j, const uint8_t *p, size_t n)
{
    if (j->m.phase == M_CMD || j->m.phase == M_DATA) {
        /* the command lines, for the verbs of the expectations they cause */
        size_t s = 0;
        for (size_t i = 0; i < n; i++)
            if (p[i] == '\n') {
                if (j->m.phase == M_CMD) {
                    size_t ln = i + 1 - s;
                    fz_buf_put(&j->lines, &ln, sizeof ln);
                    fz_buf_put(&j->lines, p + s, ln);
                }
                s = i + 1;
            }
    }
    if (j->m.phase == M_WAIT_TLS || j->m.phase == M_HS || j->m.phase == M_CLOSED)
        return; /* bytes of the TLS layer, or after the end */
    fz_buf_put(&j->m.buf, p, n);
    size_t before = j->nex, lfs = 0;
    j->nex += starttls_model_run(&j->m, j->ex + j->nex, MAX_EX - j->nex);
    for (size_t i = 0; i < n; i++)
        lfs += p[i] == '\n';
    /* more than one line, or bytes after the last line end */
    int piped = lfs > 1 || (lfs && p[n - 1] != '\n');
    for (size_t i = before; i < j->nex; i++)
        j->piped[i] = (unsigned char)piped;
}

static void model_init(struct judge *j, const struct fz_session *s)
{
    memset(&j->m, 0, sizeof j->m);
    j->proto = (int)s->proto;
    j->m.p = protos[s->proto];
    j->m.mode = (int)s->mode;
    j->m.cert = !!(s->flags & FZ_SFLAG_CERT);
    j->m.tls_required = !!(s->flags & FZ_SFLAG_TLS_REQUIRED);
    /* version 3 bit 3: the certificate cannot be used, so STARTTLS/STLS is neither listed nor
     * accepted (RFC 3207 4: 454; RFC 3501 6.2.1: BAD; RFC 2595 4: -ERR); live/run.py replays such
     * a session only on a listener set up that way (mx-serve's *-tlsdown) */
    j->m.tls_unavailable = fz_session_tls_unavailable(s);
    /* version 3 bit 2: the listener advertises LITERAL-, so a {N+} over 4096 octets is refused
     * with BAD [TOOBIG] (RFC 7888 4), as the starttls target's run sets it (starttls_run.c);
     * live/run.py replays such a session only on a literal-minus listener (mx-serve's *-lminus) */
    j->m.literal_minus = fz_session_literal_minus(s);
    j->m.max_line = s->max_line;
    j->m.max_message = s->max_literal;
    j->m.phase = s->mode == FZ_MODE_IMPLICIT ? M_PRE_TLS : M_CMD;
    if (s->mode != FZ_MODE_IMPLICIT) {
        j->greet[j->nex] = 1;
        j->ex[j->nex++] = starttls_reply(j->m.p->greeting);
    }
}

/* TLS came up (the server accepted, the handshake completed) */
static void tls_up(struct judge *j)
{
    if (j->m.phase == M_WAIT_TLS) {
        starttls_model_reset(&j->m);
        j->m.phase = M_CMD;
    } else if (j->m.phase == M_PRE_TLS || j->m.phase == M_HS) {
        j->m.tls = 1;
        j->m.phase = M_CMD;
        j->greet[j->nex] = 1;
        j->ex[j->nex++] = starttls_reply(j->m.p->greeting);
    }
    j->m.buf.n = 0;
    j->m.scan = 0;
    j->lines.n = 0;
}

/* the whole file, NUL-terminated (a transcript is text); exits on an error (a usage error) */
static uint8_t *slurp(const char *path, size_t *n)
{
    struct fz_buf b = {0};
    /* a session is at most 64 KiB; its transcript a few times that in hex */
    if (fz_buf_read_file(&b, path, (size_t)64 << 20) != 0) {
        fprintf(stderr, "live-judge: cannot read %s\n", path);
        exit(2);
    }
    *n = b.n;
    return b.p;
}

size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    if (!strcmp(h, "-"))
        return 0;
    for (; h[0] && h[1] && isxdigit((unsigned char)h[0]); h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* --expect: the reply units per client write, if the server follows the model */
static int expect_main(const struct fz_session *s)
{
    static struct judge j;
    struct fz_event ev;
    size_t cur = 0;
    model_init(&j, s);
    j.nex = 0; /* the greeting is read before the first write */

    while (fz_session_next(s, &cur, &ev)) {
        if (ev.type == FZ_EV_TLS) {
            if (j.m.phase == M_WAIT_TLS || j.m.phase == M_PRE_TLS || j.m.phase == M_HS)
                tls_up(&j);
            continue;
        }
        if (ev.type != FZ_EV_CLIENT)
            continue;
        size_t from = j.nex;
        feed(&j, ev.p, ev.n);
        for (size_t i = from; i < j.nex; i++) {
            const struct starttls_expect *e = &j.ex[i];
            if (e->act == MX_ACT_HANDSHAKE)
                continue;
            if (j.proto == FZ_PROTO_SMTP)
                putchar('r');
            else if (j.proto == FZ_PROTO_POP3)
                putchar(e->offers >= 0 ? 'm' : 'r');
            else
                putchar(e->code == I_GREET || e->code == I_STAR_BAD || e->code == I_BYE_CLOSE ? 'u' : 't');
        }
        putchar('\n');
        j.nex = 0;
    }
    fz_buf_free(&j.lines);
    starttls_model_free(&j.m);
    return 0;
}

int main(int argc, char **argv)
{
    static struct judge j;
    struct fz_session s;
    size_t sn, tn;
    /* --max-line N --max-message N: the listener's real limits, in place of the header's */
    size_t max_line = 0, max_message = 0;
    int imap_auth = 0;
    if (argc >= 2 && !strcmp(argv[1], "--imap-auth")) {
        imap_auth = 1;
        argv++;
        argc--;
        /* --limits-exact: the limits given are the server's own (mx-serve's), not a guess */
        if (argc >= 2 && !strcmp(argv[1], "--limits-exact")) {
            imap_auth = 2;
            argv++;
            argc--;
        }
    }
    while (argc >= 3 && (!strcmp(argv[1], "--max-line") || !strcmp(argv[1], "--max-message"))) {
        char *end;
        unsigned long long v = strtoull(argv[2], &end, 10);
        if (*end || !v) {
            fprintf(stderr, "live-judge: %s wants a positive number\n", argv[1]);
            return 2;
        }
        *(argv[1][6] == 'l' ? &max_line : &max_message) = (size_t)v;
        argv += 2;
        argc -= 2;
    }
    if (argc == 3 && !strcmp(argv[1], "--expect")) {
        uint8_t *sd = slurp(argv[2], &sn);
        fz_session_parse(&s, sd, sn);
        if (max_line) s.max_line = max_line;
        if (max_message) s.max_literal = max_message;
        int rc = imap_auth ? imap_auth_expect(&s, s.max_line, s.max_literal) : expect_main(&s);
        free(sd);
        return rc;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: live-judge [--imap-auth] [--max-line N] [--max-message N] SESSION TRANSCRIPT | ... --expect SESSION\n");
        return 2;
    }
    uint8_t *sd = slurp(argv[1], &sn);
    char *td = (char *)slurp(argv[2], &tn);
    fz_session_parse(&s, sd, sn);
    if (max_line)
        s.max_line = max_line;
    if (max_message)
        s.max_literal = max_message;
    if (imap_auth) {
        int rc = imap_auth_judge(&s, td, s.max_line, s.max_literal, imap_auth == 2);
        free(sd);
        free(td);
        return rc;
    }
    model_init(&j, &s);
    uint8_t *bytes = malloc(tn / 2 + 1);
    if (!bytes)
        abort();
    for (char *line = strtok(td, "\n"); line; line = strtok(NULL, "\n")) {
        char kind = line[0];
        const char *arg = line[1] ? line + 2 : "";
        if (j.done)
            break;
        if (kind == 'C') {
            /* server bytes left over: the server answered where the model expects nothing */
            if (j.rq.n && j.next >= j.nex) {
                unexpected_reply(&j, 0);
                break;
            }
            if (j.next < j.nex) {
                unanswered(&j, "before the next write", 0);
                break;
            }
            size_t n = unhex(arg, bytes);
            feed(&j, bytes, n);
            match(&j);
        } else if (kind == 'S' && (j.m.phase == M_WAIT_TLS || j.m.phase == M_PRE_TLS || j.m.phase == M_HS) &&
                   j.next >= j.nex &&
                   strlen(arg) >= 4 && !strncmp(arg, "1503", 4)) {
            /* RFC 8446 6 / RFC 5246 7.2: the TLS layer answers non-TLS bytes with an alert */
            class_put(&j, "L");
            verdict(&j, "pass", j.m.phase == M_WAIT_TLS ? "RFC 3207 4.2 / CVE-2011-0411: plaintext after the 220 goes to the TLS layer"
                                  : "RFC 8314 3.3 / RFC 8446 6: bytes that are no TLS handshake, on an implicit-TLS listener: a TLS alert",
                    "TLS layer", "TLS alert", "bytes sent before the handshake were answered by a TLS alert");
            j.done = 1;
        } else if (kind == 'S') {
            size_t n = unhex(arg, bytes);
            fz_buf_put(&j.rq, bytes, n);
            match(&j);
        } else if (kind == 'T') {
            if (!strncmp(arg, "up", 2)) {
                class_put(&j, "T");
                if (j.m.phase != M_WAIT_TLS && j.m.phase != M_PRE_TLS && j.m.phase != M_HS) {
                    verdict(&j, "finding", "RFC 3207 4 / RFC 2595 4 / RFC 3501 6.2.1: TLS only after an accepted STARTTLS",
                            "no TLS", "TLS up", "TLS came up where the model refuses it");
                    break;
                }
                tls_up(&j);
            } else if (!strncmp(arg, "failed", 6) && j.m.phase == M_WAIT_TLS) {
                const struct starttls_expect *e = j.next ? &j.ex[j.next - 1] : NULL;
                class_put(&j, "F");
                verdict(&j, "finding", e && e->kept ? e->rule : "RFC 3207 4.2: the TLS negotiation follows the 220 reply",
                        "TLS up", "handshake failed", "%s", arg);
                break;
            }
        } else if (kind == 'X') {
            j.closed = 1;
        }
    }
    if (!j.done) {
        match(&j);
        if (j.next < j.nex && !j.done) {
            const struct starttls_expect *e = &j.ex[j.next];
            char ec = expect_class(&j, e);
            pop_verb(&j);
            const char *rule = section(&j, e, j.greet[j.next]);
            if (j.closed) {
                class_put(&j, "X");
                const struct starttls_expect *prev = j.next ? &j.ex[j.next - 1] : NULL;
                int after_refusal = prev && expect_class(&j, prev) != 'A';
                if (e->act == MX_ACT_CLOSE && !e->code)
                    verdict(&j, "pass", rule, "closed", "closed", "closed");
                else if (ec == 'B' || (e->act == MX_ACT_CLOSE && expect_class(&j, e) != 'A'))
                    verdict(&j, "choice", rule, class_name(ec), "closed",
                            "closed without the final line (RFC 5321 3.8: SHOULD send 421; RFC 8314 sets no "
                            "plaintext reply on an implicit-TLS port)");
                else
                    verdict(&j, after_refusal ? "choice" : "finding", rule, class_name(ec), "closed",
                            "the server closed the connection%s%s", j.verb[0] ? " at " : "", j.verb);
            } else {
                unanswered(&j, "within the client's patience", 1);
            }
        } else if (!j.done && j.rq.n) {
            unexpected_reply(&j, j.closed);
        } else if (!j.done && j.closed) {
            class_put(&j, "X");
            if (j.m.phase == M_WAIT_TLS)
                verdict(&j, "choice", j.nex ? j.ex[j.nex - 1].rule : "RFC 3207 4 / RFC 2595 4 / RFC 3501 6.2.1: the TLS negotiation", "TLS", "closed",
                        "the server closed instead of negotiating TLS (nothing pipelined was executed)");
        }
    }
    fz_buf_put(&j.classes, "", 1);
    printf("classes\t%s\n", (const char *)j.classes.p);
    free(bytes);
    free(sd);
    free(td);
    fz_buf_free(&j.lines);
    fz_buf_free(&j.rq);
    fz_buf_free(&j.classes);
    starttls_model_free(&j.m);
    return 0;
}
