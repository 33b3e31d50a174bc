/* targets/starttls.c - the SMTP, IMAP (pre-auth) and POP3 STARTTLS state machines against an
 * independent model of the RFC rules, under three read chunkings.
 *
 * Input: one session file (corpus/FORMAT.md). The header picks the protocol (proto), the
 * listener mode (mode), whether a certificate is bound to the listener's address and port
 * (cert), the TLS-required policy, the line buffer size (max-line) and, for SMTP, the largest
 * message (max-literal). Client bytes are fed as the server would read them (fz_reader);
 * a `tls` event is the end of the handshake: the target calls mx_machine_tls_started() when the
 * connection was waiting for one (after STARTTLS/STLS was accepted, or on an implicit-TLS
 * listener); otherwise TLS did not come up from the server's point of view and the event is
 * ignored. Bytes the client sends while the server waits for the handshake belong to the
 * handshake and never reach the machine. `server` events are ignored. Bytes still queued when
 * TLS comes up (e.g. a lone 0x16 the implicit-TLS sniff was waiting on) were read before TLS:
 * mx_machine_tls_started() must discard them, the model drops them too.
 *
 * Oracle: a model written here from the RFC rules (flat buffer, whole-line parsing, reply
 * codes only) runs on the same reads. After every read the machine is stepped until it needs
 * input; its replies must equal the model's, one for one: the reply code (SMTP) / status
 * (+OK/-ERR) / tagged status and tag (IMAP), well-formed multi-line replies, and the
 * capability lists: STARTTLS/STLS advertised iff the listener is STARTTLS-capable, a
 * certificate is bound and TLS is off (and, IMAP, LOGINDISABLED by the same rule). Also:
 *   - no command is answered before its line is complete (the model only answers whole lines);
 *   - STARTTLS: the discarded byte count equals the bytes that followed the STARTTLS line in
 *     the receive chain (the rest of that read), and nothing pipelined after it is executed;
 *   - after TLS the state is reset (EHLO, transaction and authentication forgotten: the model
 *     resets and the codes must keep agreeing);
 *   - a TLS ClientHello on a plaintext/STARTTLS listener gives one reply and a close;
 *   - DATA: the message bytes delivered equal the model's (dot-unstuffed, ending only at
 *     CRLF.CRLF) whenever the message is accepted;
 *   - chain counters: appended = consumed + discarded + queued after every step,
 *     mx_chain_check() passes, and the chain is empty after a STARTTLS purge;
 *   - after a close every further step answers MX_ACT_CLOSE.
 * Then the same client stream is replayed with 1-byte reads and with 7-byte reads; the
 * transcript (actions, replies, message bytes) must be identical to the first run's.
 * A divergence aborts with a message naming the read, the command and both values.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx/chain.h"
#include "mx/listen.h"
#include "mx/machine.h"
#include "mx/protocol.h"
#include "session.h"

/* ---------------------------------------------------------------- failure reporting */
static int g_read; /* index of the read being processed */

#define DIVERGE(...)                                                   \
    do {                                                               \
        fprintf(stderr, "starttls: divergence at read %d: ", g_read);  \
        fprintf(stderr, __VA_ARGS__);                                  \
        fputc('\n', stderr);                                           \
        abort();                                                       \
    } while (0)

/* ---------------------------------------------------------------- growable bytes */
struct bytes {
    uint8_t *p;
    size_t n, cap;
};
static void b_put(struct bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q)
            abort();
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_drop_front(struct bytes *b, size_t n)
{
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
}

/* ---------------------------------------------------------------- the model */
enum m_phase { M_PRE_TLS, M_HS, M_CMD, M_DATA, M_WAIT_TLS, M_CLOSED };

/* what the model expects a step to produce */
struct expect {
    int act;         /* MX_ACT_REPLY, MX_ACT_STARTTLS, MX_ACT_HANDSHAKE, MX_ACT_CLOSE */
    int code;        /* SMTP: 3-digit code; POP3: 1 +OK / 0 -ERR; IMAP: see I_* */
    int offers;      /* capability reply: STARTTLS/STLS must be listed (1) or not (0); -1 n/a */
    int logindis;    /* IMAP CAPABILITY: LOGINDISABLED listed; -1 n/a */
    size_t discarded;/* MX_ACT_STARTTLS */
    char tag[MX_IMAP_TAG_MAX + 1];
    int data_end;    /* SMTP end-of-message reply: compare the message */
    size_t msg_off, msg_len; /* the expected message in model.msglog */
    const char *rule; /* the rule this reply checks, for divergence messages */
};
enum { I_GREET = 1, I_OK, I_NO, I_BAD, I_STAR_BAD, I_BYE_CLOSE, I_LOGOUT };

struct model {
    int proto, mode, cert, tls_required;
    size_t max_line, max_message;
    enum m_phase phase;
    int tls;
    /* SMTP */
    int helo, mail, auth;
    unsigned nrcpt;
    struct bytes msg; /* expected message */
    struct bytes msglog; /* messages completed in this read (the model runs ahead) */
    int msg_over;
    size_t data_lines; /* not used for checks; helps debugging */
    /* POP3 */
    int user, trans;
    /* IMAP */
    int authd;
    struct bytes buf; /* client bytes not yet acted on */
    size_t scan;      /* bytes of buf already searched for a line end */
};

static int m_offers(const struct model *m)
{
    if (m->mode != MX_LISTEN_STARTTLS || !m->cert || m->tls)
        return 0;
    if (m->proto == FZ_PROTO_POP3 && m->trans)
        return 0;
    if (m->proto == FZ_PROTO_IMAP && m->authd)
        return 0;
    return 1;
}

static void upper_word(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        uint8_t c = p[i];
        out[k++] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    out[k] = 0;
    if (n >= cap || memchr(p, 0, n))
        out[0] = 0x7f; /* too long, or a NUL inside: not any command */
}

static struct expect ex_reply(int code)
{
    struct expect e;
    memset(&e, 0, sizeof e);
    e.act = MX_ACT_REPLY;
    e.code = code;
    e.offers = -1;
    e.logindis = -1;
    return e;
}

static void m_reset_after_tls(struct model *m)
{
    m->tls = 1;
    m->helo = m->mail = m->auth = 0;
    m->nrcpt = 0;
    m->user = m->trans = 0;
    m->authd = 0;
}

/* SMTP: one complete command line (no LF/CR) */
static struct expect m_smtp(struct model *m, const uint8_t *l, size_t n)
{
    size_t sp = 0, a;
    char verb[16];
    while (sp < n && l[sp] != ' ')
        sp++;
    upper_word(l, sp, verb, sizeof verb);
    a = sp;
    while (a < n && l[a] == ' ')
        a++;
    size_t an = n - a;
    const uint8_t *arg = l + a;
    int exempt = !strcmp(verb, "EHLO") || !strcmp(verb, "NOOP") || !strcmp(verb, "STARTTLS") ||
                 !strcmp(verb, "QUIT");
    if (m->tls_required && !m->tls && !exempt)
        return ex_reply(530);
    if (!strcmp(verb, "EHLO") || !strcmp(verb, "HELO")) {
        if (!an)
            return ex_reply(501);
        m->mail = 0;
        m->nrcpt = 0;
        m->helo = verb[0] == 'E' ? 2 : 1;
        struct expect e = ex_reply(250);
        if (verb[0] == 'E')
            e.offers = m_offers(m);
        return e;
    }
    if (!strcmp(verb, "STARTTLS")) {
        if (an)
            return ex_reply(501);
        if (m->tls)
            return ex_reply(503);
        if (!m_offers(m))
            return ex_reply(502);
        struct expect e = ex_reply(220);
        e.act = MX_ACT_STARTTLS;
        return e;
    }
    if (!strcmp(verb, "MAIL")) {
        if (!m->helo || m->mail)
            return ex_reply(503);
        if (an < 5 || strncasecmp((const char *)arg, "FROM:", 5))
            return ex_reply(501);
        m->mail = 1;
        return ex_reply(250);
    }
    if (!strcmp(verb, "RCPT")) {
        if (!m->mail)
            return ex_reply(503);
        if (an < 3 || strncasecmp((const char *)arg, "TO:", 3))
            return ex_reply(501);
        if (m->nrcpt >= MX_SMTP_MAX_RCPT)
            return ex_reply(452);
        m->nrcpt++;
        return ex_reply(250);
    }
    if (!strcmp(verb, "DATA")) {
        if (an)
            return ex_reply(501);
        if (!m->mail || !m->nrcpt)
            return ex_reply(503);
        m->phase = M_DATA;
        m->msg.n = 0;
        m->msg_over = 0;
        return ex_reply(354);
    }
    if (!strcmp(verb, "RSET")) {
        if (an)
            return ex_reply(501);
        m->mail = 0;
        m->nrcpt = 0;
        return ex_reply(250);
    }
    if (!strcmp(verb, "NOOP"))
        return ex_reply(250);
    if (!strcmp(verb, "QUIT")) {
        struct expect e = ex_reply(221);
        e.act = MX_ACT_CLOSE;
        m->phase = M_CLOSED;
        return e;
    }
    if (!strcmp(verb, "AUTH")) {
        if (m->helo != 2 || m->auth || m->mail)
            return ex_reply(503);
        size_t mp = 0;
        while (mp < an && arg[mp] != ' ')
            mp++;
        if (mp != 5 || strncasecmp((const char *)arg, "PLAIN", 5))
            return ex_reply(504);
        while (mp < an && arg[mp] == ' ')
            mp++;
        if (mp == an)
            return ex_reply(501);
        m->auth = 1;
        return ex_reply(235);
    }
    return ex_reply(500);
}

static struct expect m_pop3(struct model *m, const uint8_t *l, size_t n)
{
    size_t sp = 0, a;
    char verb[16];
    while (sp < n && l[sp] != ' ')
        sp++;
    upper_word(l, sp, verb, sizeof verb);
    a = sp;
    while (a < n && l[a] == ' ')
        a++;
    int has_arg = a < n;
    int policy = m->tls_required && !m->tls;
    if (!strcmp(verb, "CAPA")) {
        struct expect e = ex_reply(1);
        e.offers = m_offers(m);
        return e;
    }
    if (!strcmp(verb, "STLS")) {
        if (has_arg || m->trans || m->tls || !m_offers(m))
            return ex_reply(0);
        struct expect e = ex_reply(1);
        e.act = MX_ACT_STARTTLS;
        return e;
    }
    if (!strcmp(verb, "QUIT")) {
        struct expect e = ex_reply(1);
        e.act = MX_ACT_CLOSE;
        m->phase = M_CLOSED;
        return e;
    }
    if (!strcmp(verb, "USER")) {
        if (m->trans || policy || !has_arg)
            return ex_reply(0);
        m->user = 1;
        return ex_reply(1);
    }
    if (!strcmp(verb, "PASS")) {
        int had = m->user;
        m->user = 0;
        if (m->trans || policy || !had || !has_arg)
            return ex_reply(0);
        m->trans = 1;
        return ex_reply(1);
    }
    if (m->trans && (!strcmp(verb, "STAT") || !strcmp(verb, "NOOP") || !strcmp(verb, "RSET")))
        return ex_reply(1);
    return ex_reply(0);
}

static struct expect m_imap(struct model *m, const uint8_t *l, size_t n)
{
    size_t tn = 0, i;
    struct expect e;
    char verb[16];
    while (tn < n && l[tn] != ' ')
        tn++;
    int tag_valid = tn >= 1 && tn <= MX_IMAP_TAG_MAX;
    for (i = 0; i < tn && tag_valid; i++) {
        uint8_t c = l[i];
        if (c <= ' ' || c == 0x7f || c >= 0x80 || c == '*' || c == '+' || c == '(' || c == ')' ||
            c == '{' || c == '%' || c == '"' || c == '\\' || c == ']')
            tag_valid = 0;
    }
    if (!tag_valid)
        return ex_reply(I_STAR_BAD);
    const uint8_t *cmd = l + tn;
    size_t cn = n - tn;
    while (cn && *cmd == ' ')
        cmd++, cn--;
    /* tokens */
    size_t ntok = 0, w = 0;
    for (i = 0; i < cn;) {
        while (i < cn && cmd[i] == ' ')
            i++;
        if (i >= cn)
            break;
        size_t s0 = i;
        while (i < cn && cmd[i] != ' ')
            i++;
        if (ntok == 0)
            w = i - s0;
        ntok++;
    }
    e = ex_reply(I_BAD);
    memcpy(e.tag, l, tn);
    e.tag[tn] = 0;
    if (cn == 0)
        return e;
    if (l[n - 1] == '}' && memchr(cmd, '{', cn))
        return e;
    upper_word(cmd, w, verb, sizeof verb);
    int login_disabled = !m->tls && (m_offers(m) || m->tls_required);
    if (!strcmp(verb, "CAPABILITY")) {
        if (ntok > 1)
            return e;
        e.code = I_OK;
        e.offers = m_offers(m);
        e.logindis = login_disabled;
        return e;
    }
    if (!strcmp(verb, "NOOP")) {
        e.code = I_OK;
        return e;
    }
    if (!strcmp(verb, "LOGOUT")) {
        e.code = I_LOGOUT;
        e.act = MX_ACT_CLOSE;
        m->phase = M_CLOSED;
        return e;
    }
    if (!strcmp(verb, "STARTTLS")) {
        if (ntok > 1 || m->authd || m->tls || !m_offers(m))
            return e;
        e.code = I_OK;
        e.act = MX_ACT_STARTTLS;
        return e;
    }
    if (!strcmp(verb, "LOGIN")) {
        if (m->authd)
            return e;
        if (login_disabled) {
            e.code = I_NO;
            return e;
        }
        if (ntok < 3)
            return e;
        m->authd = 1;
        e.code = I_OK;
        return e;
    }
    return e;
}

static struct expect m_toolong(const struct model *m)
{
    return ex_reply(m->proto == FZ_PROTO_SMTP ? 500 : m->proto == FZ_PROTO_POP3 ? 0 : I_STAR_BAD);
}

static struct expect m_greeting(const struct model *m)
{
    return ex_reply(m->proto == FZ_PROTO_SMTP ? 220 : m->proto == FZ_PROTO_POP3 ? 1 : I_GREET);
}

/* Runs the model on everything buffered; appends expectations to ex (max nex). */
static size_t m_run(struct model *m, struct expect *ex, size_t cap)
{
    size_t k = 0;
    m->msglog.n = 0;
    while (k < cap) {
        if (m->phase == M_CLOSED || m->phase == M_WAIT_TLS)
            return k;
        if (m->phase == M_HS) { /* handshake bytes: to the TLS layer */
            m->buf.n = 0;
            m->scan = 0;
            return k;
        }
        if (m->phase == M_PRE_TLS) {
            if (m->buf.n == 0)
                return k;
            if (m->buf.p[0] == 0x16 && m->buf.n < 2)
                return k;
            if (m->buf.p[0] == 0x16 && m->buf.p[1] == 0x03) {
                ex[k] = ex_reply(0);
                ex[k++].act = MX_ACT_HANDSHAKE;
                m->phase = M_HS;
                continue;
            }
            ex[k] = ex_reply(m->proto == FZ_PROTO_SMTP ? 421 : m->proto == FZ_PROTO_POP3 ? 0 : I_BYE_CLOSE);
            ex[k].rule = "plaintext on an implicit-TLS listener: one reply and close";
            ex[k++].act = MX_ACT_CLOSE;
            m->phase = M_CLOSED;
            return k;
        }
        if (m->phase == M_DATA) {
            /* a message line ends at CRLF; the message at a line that is exactly "." */
            uint8_t *p = m->buf.p;
            size_t i, n = m->buf.n;
            for (i = m->scan ? m->scan - 1 : 0; i + 1 < n && !(p[i] == '\r' && p[i + 1] == '\n'); i++)
                ;
            if (i + 1 >= n) {
                m->scan = n;
                return k;
            }
            m->scan = 0;
            size_t ll = i + 2;
            if (ll == 3 && p[0] == '.') {
                struct expect e = ex_reply(m->msg_over ? 552 : 250);
                e.data_end = 1;
                e.rule = "end of message only at CRLF.CRLF";
                e.msg_off = m->msglog.n;
                e.msg_len = m->msg.n;
                b_put(&m->msglog, m->msg.p, m->msg.n);
                ex[k++] = e;
                m->phase = M_CMD;
                m->mail = 0;
                m->nrcpt = 0;
                b_drop_front(&m->buf, ll);
                continue;
            }
            {
                const uint8_t *q = p;
                size_t qn = ll;
                if (q[0] == '.')
                    q++, qn--;
                if (!m->msg_over && m->msg.n + qn > m->max_message)
                    m->msg_over = 1;
                if (!m->msg_over)
                    b_put(&m->msg, q, qn);
            }
            b_drop_front(&m->buf, ll);
            continue;
        }
        /* M_CMD: a TLS record at a line start while TLS is off */
        if (!m->tls && m->buf.n >= 2 && m->buf.p[0] == 0x16 && m->buf.p[1] == 0x03) {
            ex[k] = ex_reply(m->proto == FZ_PROTO_SMTP ? 421 : m->proto == FZ_PROTO_POP3 ? 0 : I_BYE_CLOSE);
            ex[k].rule = "Q218430: TLS ClientHello on a plaintext/STARTTLS listener: one reply and close";
            ex[k++].act = MX_ACT_CLOSE;
            m->phase = M_CLOSED;
            return k;
        }
        uint8_t *lf = m->scan < m->buf.n ? memchr(m->buf.p + m->scan, '\n', m->buf.n - m->scan) : NULL;
        if (!lf) {
            m->scan = m->buf.n;
            return k;
        }
        m->scan = 0;
        size_t ll = (size_t)(lf - m->buf.p) + 1, n = ll - 1;
        struct expect e;
        if (ll > m->max_line) {
            e = m_toolong(m);
        } else {
            if (n && m->buf.p[n - 1] == '\r')
                n--;
            e = m->proto == FZ_PROTO_SMTP ? m_smtp(m, m->buf.p, n)
              : m->proto == FZ_PROTO_POP3 ? m_pop3(m, m->buf.p, n) : m_imap(m, m->buf.p, n);
        }
        if (!e.rule)
            e.rule = e.offers >= 0 ? "Q237327: STARTTLS listed iff certificate bound and TLS off"
                   : e.act == MX_ACT_STARTTLS ? "CVE-2011-0411: STARTTLS accepted, pipelined input purged"
                   : m->tls && m->mode == MX_LISTEN_STARTTLS ? "RFC 3207 4.2: state reset after STARTTLS"
                   : "command rules";
        b_drop_front(&m->buf, ll);
        if (e.act == MX_ACT_STARTTLS) {
            e.discarded = m->buf.n; /* everything that followed the line */
            m->buf.n = 0;
            m->scan = 0;
            m->phase = M_WAIT_TLS;
        }
        ex[k++] = e;
    }
    DIVERGE("model produced more than %zu replies for one read", cap);
}

/* ---------------------------------------------------------------- the machine under test */
struct run {
    int proto;
    struct mx_machine mc; /* libmx's engine, whichever the protocol */
    struct mx_chain chain;
    uint64_t appended;
    struct bytes transcript;
    struct bytes msg; /* message bytes delivered since DATA */
    int awaiting_tls; /* the machine asked for a handshake */
    int closed;
    struct model m;
    int check; /* run the model */
};

static int mc_step(struct run *r, struct mx_step *st)
{
    return mx_machine_step(&r->mc, &r->chain, st);
}

static void mc_tls(struct run *r)
{
    mx_machine_tls_started(&r->mc, &r->chain);
}

static const char *act_name(int a)
{
    static const char *n[] = {"NEED_INPUT", "REPLY", "DATA", "STARTTLS", "HANDSHAKE", "CLOSE"};
    return a >= 0 && a <= 5 ? n[a] : "?";
}

static void check_chain(const struct run *r)
{
    const struct mx_chain *c = &r->chain;
    if (mx_chain_check(c) != 0)
        DIVERGE("mx_chain_check failed");
    if (r->appended != c->consumed + c->discarded + c->bytes)
        DIVERGE("chain counters: appended %llu != consumed %llu + discarded %llu + queued %zu",
                (unsigned long long)r->appended, (unsigned long long)c->consumed,
                (unsigned long long)c->discarded, c->bytes);
}

/* Checks one reply against the model's expectation. */
static void check_reply(const struct run *r, const struct mx_step *st, const struct expect *e)
{
    const uint8_t *p = st->reply;
    size_t n = st->reply_n;
    char shown[80];
    snprintf(shown, sizeof shown, "%.*s", (int)(n > 60 ? 60 : n), (const char *)p);
    for (char *q = shown; *q; q++)
        if (*q == '\r' || *q == '\n')
            *q = '|';
    if ((int)st->act != e->act)
        DIVERGE("action %s, model expects %s (reply '%s', model code %d) [rule: %s]",
                act_name(st->act), act_name(e->act), shown, e->code, e->rule ? e->rule : "-");
    if (e->act == MX_ACT_HANDSHAKE) {
        if (n)
            DIVERGE("handshake action with a reply '%s'", shown);
        return;
    }
    if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n')
        DIVERGE("reply not CRLF-terminated: '%s'", shown);
    for (size_t i = 0; i < n; i++)
        if ((p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) || (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')))
            DIVERGE("bare CR or LF inside the reply '%s'", shown);
    if (r->proto == FZ_PROTO_SMTP) {
        /* every line "ddd-" except the last "ddd " */
        int code = -1, offers = 0;
        size_t i = 0;
        while (i < n) {
            const uint8_t *eol = memchr(p + i, '\n', n - i);
            size_t ln = (size_t)(eol - (p + i)) + 1;
            int c;
            if (ln < 6 || p[i] < '2' || p[i] > '5' || p[i + 1] < '0' || p[i + 1] > '9' ||
                p[i + 2] < '0' || p[i + 2] > '9')
                DIVERGE("malformed SMTP reply line in '%s'", shown);
            c = (p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + (p[i + 2] - '0');
            if (code >= 0 && c != code)
                DIVERGE("multi-line reply changes code %d -> %d", code, c);
            code = c;
            if ((p[i + 3] != '-' && p[i + 3] != ' ') || (i + ln < n) != (p[i + 3] == '-'))
                DIVERGE("multi-line reply continuation markers wrong in '%s'", shown);
            if (ln == 14 && !memcmp(p + i + 4, "STARTTLS\r\n", 10))
                offers = 1;
            i += ln;
        }
        if (code != e->code)
            DIVERGE("reply code %d, model expects %d (reply '%s') [rule: %s]", code, e->code,
                    shown, e->rule ? e->rule : "-");
        if (e->offers >= 0 && offers != e->offers)
            DIVERGE("EHLO %s STARTTLS; model: %s (mode %d, cert %d, tls %d)",
                    offers ? "lists" : "does not list", e->offers ? "listed" : "not listed",
                    r->m.mode, r->m.cert, r->m.tls);
    } else if (r->proto == FZ_PROTO_POP3) {
        int ok = n >= 3 && !memcmp(p, "+OK", 3);
        int err = n >= 4 && !memcmp(p, "-ERR", 4);
        if (!ok && !err)
            DIVERGE("POP3 reply without +OK/-ERR: '%s'", shown);
        if (ok != e->code)
            DIVERGE("POP3 %s, model expects %s (reply '%s') [rule: %s]", ok ? "+OK" : "-ERR",
                    e->code ? "+OK" : "-ERR", shown, e->rule ? e->rule : "-");
        if (e->offers >= 0) {
            int stls = 0;
            if (n < 5 || memcmp(p + n - 5, "\r\n.\r\n", 5))
                DIVERGE("CAPA list not terminated by a dot line");
            for (size_t i = 0; i + 7 <= n; i++)
                if (!memcmp(p + i, "\nSTLS\r\n", 7))
                    stls = 1;
            if (stls != e->offers)
                DIVERGE("CAPA %s STLS; model: %s", stls ? "lists" : "does not list",
                        e->offers ? "listed" : "not listed");
        }
    } else {
        /* IMAP: untagged lines start "* "; the last line is tagged unless the expectation is
         * an untagged one */
        const uint8_t *last = p;
        for (size_t i = 0; i + 1 < n; i++)
            if (p[i] == '\n')
                last = p + i + 1;
        size_t lastn = (size_t)(p + n - last);
        switch (e->code) {
        case I_GREET:
            if (n < 5 || memcmp(p, "* OK ", 5) || last != p)
                DIVERGE("IMAP greeting expected, got '%s'", shown);
            return;
        case I_STAR_BAD:
            if (n < 6 || memcmp(p, "* BAD ", 6) || last != p)
                DIVERGE("IMAP '* BAD' expected, got '%s'", shown);
            return;
        case I_BYE_CLOSE:
            if (n < 6 || memcmp(p, "* BYE ", 6) || last != p)
                DIVERGE("IMAP '* BYE' expected, got '%s'", shown);
            return;
        default:
            break;
        }
        size_t tl = strlen(e->tag);
        const char *want = e->code == I_OK || e->code == I_LOGOUT ? "OK " : e->code == I_NO ? "NO " : "BAD ";
        if (lastn < tl + 1 + strlen(want) || memcmp(last, e->tag, tl) || last[tl] != ' ' ||
            memcmp(last + tl + 1, want, strlen(want)))
            DIVERGE("IMAP: expected '%s %s...' as the last line, got '%s' [rule: %s]", e->tag, want,
                    shown, e->rule ? e->rule : "-");
        for (const uint8_t *q = p; q < last;) {
            if (q[0] != '*' || q[1] != ' ')
                DIVERGE("IMAP: untagged line expected before the tagged one: '%s'", shown);
            q = memchr(q, '\n', (size_t)(last - q));
            q++;
        }
        if (e->code == I_LOGOUT && (last == p || memcmp(p, "* BYE ", 6)))
            DIVERGE("IMAP LOGOUT without '* BYE': '%s'", shown);
        if (e->offers >= 0) {
            size_t cl = (size_t)(last - p);
            char caps[MX_REPLY_MAX + 2];
            if (cl < 14 || memcmp(p, "* CAPABILITY ", 13))
                DIVERGE("IMAP CAPABILITY without '* CAPABILITY': '%s'", shown);
            /* tokens of the capability line, space-delimited */
            memcpy(caps, p + 12, cl - 14);
            caps[cl - 14] = ' ';
            caps[cl - 13] = 0;
            int st_ = strstr(caps, " STARTTLS ") != NULL, ld = strstr(caps, " LOGINDISABLED ") != NULL;
            if (st_ != e->offers || ld != e->logindis)
                DIVERGE("CAPABILITY STARTTLS %d LOGINDISABLED %d; model %d %d", st_, ld,
                        e->offers, e->logindis);
        }
    }
}

static void record(struct run *r, const struct mx_step *st)
{
    uint8_t h[5] = {(uint8_t)st->act, (uint8_t)st->reply_n, (uint8_t)(st->reply_n >> 8),
                    (uint8_t)st->data_n, (uint8_t)(st->data_n >> 8)};
    b_put(&r->transcript, h, sizeof h);
    b_put(&r->transcript, st->reply, st->reply_n);
    if (st->act == MX_ACT_DATA)
        b_put(&r->transcript, st->data, st->data_n);
}

#define MAX_EX 4096

/* Steps the machine until it needs input; compares with the model's expectations. */
static void pump(struct run *r, struct expect *ex, size_t nex)
{
    static struct mx_step st;
    size_t k = 0;
    for (;;) {
        int act = mc_step(r, &st);
        check_chain(r);
        if (act == MX_ACT_NEED_INPUT) {
            if (st.reply_n)
                DIVERGE("NEED_INPUT with a reply");
            break;
        }
        if (r->closed) {
            if (act != MX_ACT_CLOSE || st.reply_n)
                DIVERGE("step after close gave %s", act_name(act));
            break;
        }
        record(r, &st);
        if (act == MX_ACT_DATA) {
            if (r->check && r->m.proto != FZ_PROTO_SMTP)
                DIVERGE("message data from a non-SMTP machine");
            if (st.data_n == 0 || st.reply_n)
                DIVERGE("empty DATA piece or DATA with a reply");
            b_put(&r->msg, st.data, st.data_n);
            continue;
        }
        if (r->check) {
            if (k >= nex)
                DIVERGE("machine answered (%s '%.*s') where the model expects nothing more "
                        "(model phase %d, tls %d)", act_name(act),
                        (int)(st.reply_n > 40 ? 40 : st.reply_n), (const char *)st.reply,
                        r->m.phase, r->m.tls);
            check_reply(r, &st, &ex[k]);
            if (act == MX_ACT_STARTTLS && st.discarded != ex[k].discarded)
                DIVERGE("STARTTLS discarded %zu bytes; %zu followed the command line",
                        st.discarded, ex[k].discarded);
            if (ex[k].data_end && ex[k].code == 250 &&
                (r->msg.n != ex[k].msg_len ||
                 (r->msg.n && memcmp(r->msg.p, r->m.msglog.p + ex[k].msg_off, r->msg.n))))
                DIVERGE("message delivered (%zu bytes) differs from the model's (%zu bytes)",
                        r->msg.n, ex[k].msg_len);
            k++;
        }
        if (st.reply_n == 0 && act != MX_ACT_HANDSHAKE)
            DIVERGE("%s without a reply", act_name(act));
        if (act == MX_ACT_REPLY && st.reply_n >= 3 &&
            r->proto == FZ_PROTO_SMTP && !memcmp(st.reply, "354", 3))
            r->msg.n = 0;
        if (act == MX_ACT_STARTTLS) {
            if (r->chain.bytes != 0)
                DIVERGE("chain not empty after the STARTTLS purge (%zu bytes)", r->chain.bytes);
            r->awaiting_tls = 1;
        }
        if (act == MX_ACT_HANDSHAKE) {
            /* the TLS layer takes the queued bytes */
            mx_chain_consume(&r->chain, r->chain.bytes);
            r->awaiting_tls = 1;
        }
        if (act == MX_ACT_CLOSE)
            r->closed = 1;
    }
    if (r->check && k != nex)
        DIVERGE("machine gave %zu replies, model expects %zu (next: code %d) [rule: %s]", k, nex,
                ex[k].code, ex[k].rule ? ex[k].rule : "-");
}

/* Runs a session; the transcript goes to r->transcript. */
static void run_session(struct run *r, const struct fz_session *s, int check)
{
    static struct expect ex[MAX_EX];
    struct mx_conn_cfg cfg;
    struct fz_reader rd;
    struct fz_read rr;
    uint8_t *linebuf = malloc(s->max_line);
    int implicit = s->mode == FZ_MODE_IMPLICIT;
    size_t nex = 0;

    if (!linebuf)
        abort();
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = (int)s->mode; /* same numbering as enum mx_listen_mode */
    cfg.cert = !!(s->flags & FZ_SFLAG_CERT);
    cfg.tls_required = !!(s->flags & FZ_SFLAG_TLS_REQUIRED);
    cfg.max_message = s->max_literal;
    cfg.host = cfg.product = "mxfuzz"; /* the names in the corpus's recorded replies */
    r->proto = (int)s->proto;
    r->check = check;
    r->awaiting_tls = implicit;
    /* the session's proto byte is numbered as enum mx_app_proto */
    if (mx_machine_init(&r->mc, (enum mx_app_proto)r->proto, &cfg, linebuf, s->max_line) != 0)
        abort(); /* max-line is clamped to >= MX_LINE_MIN by the session format */
    mx_chain_init(&r->chain, 0, NULL);

    memset(&r->m, 0, sizeof r->m);
    r->m.proto = r->proto;
    r->m.mode = cfg.mode;
    r->m.cert = cfg.cert;
    r->m.tls_required = cfg.tls_required;
    r->m.max_line = s->max_line;
    r->m.max_message = s->max_literal;
    r->m.phase = implicit ? M_PRE_TLS : M_CMD;

    g_read = -1;
    if (!implicit)
        ex[nex++] = m_greeting(&r->m);
    pump(r, ex, nex);

    fz_reader_init(&rd, s);
    for (g_read = 0; !r->closed && fz_reader_next(&rd, &rr); g_read++) {
        nex = 0;
        if (rr.kind == FZ_READ_SERVER)
            continue;
        if (rr.kind == FZ_READ_TLS) {
            if (!r->awaiting_tls)
                continue; /* the server did not start TLS: nothing happened */
            r->awaiting_tls = 0;
            b_put(&r->transcript, "T", 1);
            if (r->m.phase != M_WAIT_TLS && r->m.phase != M_PRE_TLS && r->m.phase != M_HS)
                DIVERGE("machine waited for TLS, model in phase %d", r->m.phase);
            if (r->m.phase == M_WAIT_TLS) {
                m_reset_after_tls(&r->m);
                r->m.phase = M_CMD;
            } else {
                r->m.tls = 1;
                r->m.phase = M_CMD;
                ex[nex++] = m_greeting(&r->m);
            }
            r->m.buf.n = 0;
            r->m.scan = 0;
            mc_tls(r);
            if (r->chain.bytes != 0) /* plaintext read before TLS must not reach a command */
                DIVERGE("%zu pre-TLS bytes still queued after *_tls_started()", r->chain.bytes);
            pump(r, ex, nex);
            continue;
        }
        if (r->awaiting_tls && !(implicit && r->m.phase == M_PRE_TLS)) {
            /* the handshake is under way: these bytes are the TLS layer's */
            if (r->m.phase == M_HS)
                continue;
            continue;
        }
        if (rr.n == 0)
            continue;
        if (mx_chain_append(&r->chain, rr.p, rr.n) != MX_CHAIN_OK)
            abort(); /* no limit, so only the allocator can fail */
        r->appended += rr.n;
        b_put(&r->m.buf, rr.p, rr.n);
        nex = m_run(&r->m, ex, MAX_EX);
        pump(r, ex, nex);
    }
    if (r->closed) {
        static struct mx_step st;
        if (mc_step(r, &st) != MX_ACT_CLOSE)
            DIVERGE("a closed machine stepped to %s", act_name(st.act));
    }
    mx_chain_release(&r->chain);
    free(linebuf);
}

static void run_free(struct run *r)
{
    free(r->transcript.p);
    free(r->msg.p);
    free(r->m.buf.p);
    free(r->m.msg.p);
    free(r->m.msglog.p);
}

/* The same session with a fixed read size: R events dropped, one R{size} in front. */
static uint8_t *rechunk(const struct fz_session *s, const uint8_t *data, size_t size,
                        uint8_t readsz, size_t *out_n)
{
    struct fz_sbuf b = {0};
    struct fz_event ev;
    size_t cur = 0;
    (void)data, (void)size; /* header from s: in a v2 file bytes 2-3 are no flags, limits */
    fz_sbuf_header(&b, (enum fz_proto)s->proto, (enum fz_mode)s->mode, s->flags, s->limits);
    fz_sbuf_event(&b, FZ_EV_READS, &readsz, 1);
    while (fz_session_next(s, &cur, &ev))
        if (ev.type != FZ_EV_READS)
            fz_sbuf_event(&b, ev.type, ev.p, ev.n);
    if (b.oom)
        abort();
    *out_n = b.n;
    return b.p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run a, b;
    struct fz_session s, s2;
    static const uint8_t sizes[2] = {1, 7};

    fz_session_parse(&s, data, size);
    memset(&a, 0, sizeof a);
    run_session(&a, &s, 1);
    for (int i = 0; i < 2; i++) {
        size_t n2;
        uint8_t *d2 = rechunk(&s, data, size, sizes[i], &n2);
        fz_session_parse(&s2, d2, n2);
        memset(&b, 0, sizeof b);
        run_session(&b, &s2, 1);
        if (b.transcript.n != a.transcript.n || (a.transcript.n && memcmp(b.transcript.p, a.transcript.p, a.transcript.n))) {
            size_t j = 0;
            while (j < a.transcript.n && j < b.transcript.n && a.transcript.p[j] == b.transcript.p[j])
                j++;
            fprintf(stderr, "starttls: transcripts differ with %u-byte reads at byte %zu "
                            "(lengths %zu vs %zu)\n", sizes[i], j, a.transcript.n, b.transcript.n);
            abort();
        }
        run_free(&b);
        free(d2);
    }
    run_free(&a);
    return 0;
}
