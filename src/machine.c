/* machine.c - the protocol engine the SMTP, IMAP and POP3 machines share (see
 * include/mx/machine.h); each protocol is a descriptor (src/machine_proto.h). */
#include "machine_proto.h"

#include <string.h>

static const struct mx_proto *descriptor(enum mx_app_proto proto)
{
    switch (proto) {
    case MX_APP_SMTP: return &mx_proto_smtp;
    case MX_APP_IMAP: return &mx_proto_imap;
    case MX_APP_POP3: return &mx_proto_pop3;
    }
    return NULL;
}

/* A reply to a command line: counts in the run of consecutive errors, or ends it. At the
 * limit the reply goes out and the next step closes with the final line (as postfix's
 * smtpd_hard_error_limit: the last error is answered, then 421 and the close). */
static int count_error(struct mx_machine *m, const struct mx_step *st, int act)
{
    if (act == MX_ACT_REPLY && m->proto->is_error(st))
        m->error_run++;
    else
        m->error_run = 0;
    return act;
}

int mx_machine_init(struct mx_machine *m, enum mx_app_proto proto, const struct mx_conn_cfg *cfg,
                    uint8_t *linebuf, size_t max_line)
{
    memset(m, 0, sizeof *m);
    m->proto = descriptor(proto);
    if (!m->proto || !linebuf || max_line < MX_LINE_MIN || !cfg->host || !cfg->product)
        return -1;
    m->cfg = *cfg;
    mx_liner_init(&m->liner, linebuf, max_line);
    m->liner.watch = m->proto->watch;
    m->liner.watch_ctx = m;
    m->proto->reset(m);
    m->phase = cfg->mode == MX_LISTEN_IMPLICIT ? MX_PHASE_PRE_TLS : MX_PHASE_GREET;
    return 0;
}

int mx_machine_offers_tls(const struct mx_machine *m)
{
    if (m->cfg.mode != MX_LISTEN_STARTTLS || !m->cfg.cert || m->tls || m->tls_broken)
        return 0;
    /* IMAP and POP3 take STLS/STARTTLS only in the not-authenticated state (RFC 2595 3.1,
     * 4); SMTP's STARTTLS is independent of AUTH */
    return !(m->proto->flags & MX_PROTO_TLS_BEFORE_AUTH) || m->auth != MX_AUTH_DONE;
}

void mx_machine_tls_unavailable(struct mx_machine *m)
{
    m->tls_broken = 1;
}

int mx_machine_in_body(const struct mx_machine *m)
{
    return m->phase == MX_PHASE_BODY;
}

enum mx_auth mx_machine_auth(const struct mx_machine *m)
{
    return m->auth;
}

void mx_machine_tls_started(struct mx_machine *m, struct mx_chain *c)
{
    if (m->phase != MX_PHASE_WAIT_TLS && m->phase != MX_PHASE_PRE_TLS &&
        m->phase != MX_PHASE_HANDSHAKE)
        return; /* TLS did not come up from the machine's point of view */
    /* bytes still queued were read before TLS came up: never commands over TLS */
    mx_chain_discard(c);
    m->swallow = 0;
    m->sasl = 0;
    m->tls = 1;
    mx_liner_reset(&m->liner);
    if (m->phase == MX_PHASE_WAIT_TLS) {
        /* STARTTLS: no new greeting; the protocol forgets what it learnt in plaintext */
        m->proto->reset(m);
        m->phase = MX_PHASE_CMD;
    } else {
        /* implicit TLS: the greeting is the first thing said inside TLS */
        m->phase = MX_PHASE_GREET;
    }
}

int mx_machine_close(struct mx_machine *m, struct mx_step *st, const char *text, const char *diag)
{
    m->phase = MX_PHASE_CLOSED;
    return mx_step_close(st, text, diag);
}

enum mx_verdict mx_machine_check(const struct mx_machine *m, enum mx_check_kind kind, const uint8_t *arg,
                                 size_t n)
{
    return m->cfg.check ? m->cfg.check(m->cfg.check_ctx, kind, arg, n) : MX_ACCEPT;
}

int mx_machine_auth_refused(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    unsigned limit = m->cfg.max_auth_failures ? m->cfg.max_auth_failures : MX_MAX_AUTH_FAILURES;
    mx_cmd_reply(st, cl, m->proto->auth_refused);
    if (++m->auth_failures < limit)
        return st->act;
    return mx_machine_close(m, st, m->proto->too_many_auth, "too many failed logins: closed");
}

/* RFC 4648 4 base64, as RFC 4954 4 / RFC 3501 6.2.2 / RFC 5034 4 want the response: groups
 * of four from the alphabet, "=" padding only at the end. Empty is valid (an empty response). */
static int base64_ok(const uint8_t *p, size_t n)
{
    size_t pad = 0;
    if (n % 4)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/'))
            return 0;
    }
    return pad <= 2;
}

/* The line after the challenge (too_long: it did not fit the buffer, line is NULL): the
 * response, answered as the command that asked for it, and the exchange is over. */
static int sasl_response(struct mx_machine *m, struct mx_step *st, const uint8_t *line, size_t n,
                         int too_long)
{
    const struct mx_proto *p = m->proto;
    struct mx_cmdline cl = {NULL, m->sasl_tag, m->sasl_tag_n, m->sasl_tag, m->sasl_tag_n,
                            m->sasl_tag_n, NULL, 0};
    enum mx_sasl kind = (enum mx_sasl)m->sasl;
    m->sasl = MX_SASL_NONE;
    if (too_long)
        return mx_cmd_reply(st, &cl, p->sasl_too_long);
    if (n == 1 && line[0] == '*')
        return mx_cmd_reply(st, &cl, p->sasl_cancelled);
    if (!base64_ok(line, n))
        return mx_cmd_reply(st, &cl, p->sasl_invalid);
    if (kind == MX_SASL_LOGIN_USER) {
        if (mx_machine_check(m, MX_CHECK_SASL_USER, line, n) != MX_ACCEPT)
            return mx_machine_auth_refused(m, st, &cl);
        m->sasl = MX_SASL_LOGIN_PASS;
        return mx_step_reply(st, p->sasl_login_pass);
    }
    if (mx_machine_check(m, kind == MX_SASL_PLAIN ? MX_CHECK_PLAIN : MX_CHECK_SASL_PASS, line, n) !=
        MX_ACCEPT)
        return mx_machine_auth_refused(m, st, &cl);
    m->auth = MX_AUTH_DONE;
    return mx_cmd_reply(st, &cl, p->sasl_accepted);
}

int mx_machine_sasl_begin(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl,
                          enum mx_sasl kind, const uint8_t *ir, size_t irn)
{
    m->sasl = (unsigned char)kind;
    m->sasl_tag_n = (unsigned char)(cl->tag_n <= sizeof m->sasl_tag ? cl->tag_n : 0);
    memcpy(m->sasl_tag, cl->line, m->sasl_tag_n);
    if (ir)
        return sasl_response(m, st, ir, irn, 0);
    return mx_step_reply(st, kind == MX_SASL_PLAIN ? m->proto->sasl_challenge : m->proto->sasl_login_user);
}

int mx_cmd_reply(struct mx_step *st, const struct mx_cmdline *cl, const char *text)
{
    if (cl->tag_n) {
        mx_step_putn(st, cl->line, cl->tag_n);
        mx_step_puts(st, " ");
    }
    return mx_step_reply(st, text);
}

/* What is queued behind an accepted STARTTLS line: nothing; plaintext only; the start of the
 * TLS handshake (0x16 0x03 at the first byte, then records: the first of content type 22,
 * each of type 20..23, version 3.x, a length TLS allows, the last one may be incomplete); or a
 * mixture (plaintext with 0x16 0x03 at a line start, or records followed by something that is
 * not one). */
enum queued { Q_NONE, Q_PLAIN, Q_TLS, Q_MIXED };

static enum queued classify(const struct mx_chain *c)
{
    size_t q = c->bytes, o = 0;
    if (!q)
        return Q_NONE;
    if (mx_chain_byte(c, 0) != 0x16 || (q > 1 && mx_chain_byte(c, 1) != 0x03)) {
        /* prev: the two bytes before, as 0 (other), 1 (LF), 2 (LF 0x16) */
        const struct mx_chain_seg *it = NULL;
        const unsigned char *p;
        size_t n;
        int prev = 0;
        while (mx_chain_iter(c, &it, &p, &n))
            for (size_t i = 0; i < n; i++) {
                if (prev == 2 && p[i] == 0x03)
                    return Q_MIXED;
                prev = p[i] == '\n' ? 1 : prev == 1 && p[i] == 0x16 ? 2 : 0;
            }
        return prev == 2 ? Q_MIXED : Q_PLAIN;
    }
    while (o < q) {
        int t = mx_chain_byte(c, o), v = mx_chain_byte(c, o + 1);
        int l1 = mx_chain_byte(c, o + 3), l2 = mx_chain_byte(c, o + 4);
        if (t < 20 || t > 23 || (o == 0 && t != 22) || (v >= 0 && v != 3))
            return Q_MIXED;
        if (l2 < 0)
            return Q_TLS; /* an incomplete header: the rest comes through the TLS layer */
        if ((size_t)l1 * 256 + (size_t)l2 > 16384 + 2048)
            return Q_MIXED;
        o += 5 + (size_t)l1 * 256 + (size_t)l2;
    }
    return Q_TLS;
}

int mx_cmd_starttls(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl,
                    const char *active, const char *unavailable, const char *accepted)
{
    enum queued q;
    if (m->tls)
        return mx_cmd_reply(st, cl, active);
    if (!mx_machine_offers_tls(m))
        return mx_cmd_reply(st, cl, unavailable);
    mx_cmd_reply(st, cl, accepted);
    q = classify(cl->chain);
    if (q == Q_TLS) {
        /* a client that pipelined its ClientHello behind the command: those bytes are the
         * handshake, left queued for the TLS layer (st->tls_kept) */
        st->tls_kept = cl->chain->bytes;
        m->starttls_kept += st->tls_kept;
    } else {
        /* CVE-2011-0411: nothing the client pipelined behind STARTTLS may run inside TLS. The
         * purge is at the reply, not at the handshake, so that st->discarded is exactly what
         * was queued behind the command; mx_machine_tls_started() drops what came in between. */
        st->discarded = mx_chain_discard(cl->chain);
        m->starttls_discarded += st->discarded;
    }
    mx_liner_reset(&m->liner);
    if (q == Q_MIXED) {
        /* plaintext and TLS records mixed: neither a command nor a handshake can follow */
        m->phase = MX_PHASE_CLOSED;
        st->diag = "plaintext mixed with TLS records behind STARTTLS: closed";
        st->act = MX_ACT_CLOSE;
        return st->act;
    }
    m->phase = MX_PHASE_WAIT_TLS;
    st->act = MX_ACT_STARTTLS;
    return st->act;
}

/* The table entry for a verb: the first whose name is the line's first word, else the
 * fallback at the end. An MX_CMD_AUTHED command before authentication is not there yet. */
static const struct mx_cmd *lookup(const struct mx_machine *m, const struct mx_cmdline *cl)
{
    const struct mx_cmd *e = m->proto->commands;
    for (; e->name; e++)
        if (mx_word_is(cl->verb, cl->vn, e->name))
            break;
    if (e->name && (e->flags & MX_CMD_AUTHED) && m->auth != MX_AUTH_DONE)
        while (e->name)
            e++;
    return e;
}

static int command(struct mx_machine *m, struct mx_chain *c, struct mx_step *st, size_t n)
{
    const struct mx_proto *p = m->proto;
    struct mx_cmdline cl = {c, m->liner.buf, n, m->liner.buf, n, 0, NULL, 0};
    const struct mx_cmd *e;
    size_t i;
    m->commands++;
    if (p->frame) {
        int r = p->frame(m, st, &cl);
        if (r != MX_ACT_NEED_INPUT)
            return r;
    }
    e = lookup(m, &cl);
    i = e->name ? strlen(e->name) : cl.vn;
    while (i < cl.vn && cl.verb[i] == ' ')
        i++;
    cl.arg = cl.verb + i;
    cl.an = cl.vn - i;
    if (!e->name)
        m->errors++;
    if (p->policy_refusal && m->cfg.tls_required && !m->tls && !(e->flags & MX_CMD_PRE_TLS)) {
        if (e->name)
            m->errors++;
        return mx_step_reply(st, p->policy_refusal);
    }
    if (e->action)
        return e->action(m, st, &cl);
    if (e->flags & MX_CMD_CLOSE) {
        mx_cmd_reply(st, &cl, e->reply);
        return mx_machine_close(m, st, NULL, NULL);
    }
    return mx_cmd_reply(st, &cl, e->reply);
}

int mx_machine_step(struct mx_machine *m, struct mx_chain *c, struct mx_step *st)
{
    const struct mx_proto *p = m->proto;
    size_t n, used;
    int r;
    mx_step_clear(st);
    switch (m->phase) {
    case MX_PHASE_CLOSED:
        st->act = MX_ACT_CLOSE;
        return st->act;
    case MX_PHASE_WAIT_TLS:
    case MX_PHASE_HANDSHAKE:
        return MX_ACT_NEED_INPUT; /* the chain's bytes are the TLS layer's */
    case MX_PHASE_PRE_TLS:
        r = mx_step_implicit_gate(c, st);
        if (r == MX_ACT_HANDSHAKE) {
            m->phase = MX_PHASE_HANDSHAKE;
        } else if (r == MX_ACT_CLOSE) {
            /* for the server's log: how much plaintext the refused client had sent */
            m->implicit_refused = c->bytes;
            m->phase = MX_PHASE_CLOSED;
        }
        return r;
    case MX_PHASE_GREET:
        m->phase = MX_PHASE_CMD;
        p->greeting(m, st);
        st->act = MX_ACT_REPLY;
        return st->act;
    case MX_PHASE_BODY:
        return p->body(m, c, st);
    case MX_PHASE_CMD:
        break;
    }
    if (m->error_run >= (m->cfg.max_errors ? m->cfg.max_errors : MX_MAX_ERRORS))
        return mx_machine_close(m, st, p->too_many_errors,
                                "too many consecutive protocol errors: closed");
    /* a refused command's literal octets: data, never commands, never a ClientHello */
    if (m->swallow) {
        size_t k = c->bytes < m->swallow ? c->bytes : (size_t)m->swallow;
        mx_chain_consume(c, k);
        m->swallow -= k;
        m->swallowed += k;
        if (m->swallow)
            return MX_ACT_NEED_INPUT;
    }
    /* KB Q218430: a client that expected implicit TLS sends a ClientHello where a command
     * should start. Only at a line start: inside a skipped over-long line 0x16 0x03 is data. */
    if (!m->tls && !m->liner.skipping && mx_sniff_tls(c) == MX_SNIFF_TLS)
        return mx_machine_close(m, st, p->clienthello,
                                "TLS ClientHello on a plaintext/STARTTLS listener (client "
                                "expected implicit TLS)");
    r = mx_liner_next(&m->liner, c, &n, &used);
    st->line_n = used;
    if (r == MX_LINE_NEED)
        return MX_ACT_NEED_INPUT;
    if (m->sasl && r != MX_LINE_NEED) {
        /* the client's SASL response: data of the command that asked for it */
        m->commands++;
        return count_error(m, st, sasl_response(m, st, m->liner.buf, n, r == MX_LINE_TOOLONG));
    }
    if (r == MX_LINE_TOOLONG) {
        /* answered only once its LF arrived, so the next line is framed from its start */
        m->commands++;
        m->errors++;
        return count_error(m, st, p->too_long_line ? p->too_long_line(m, st)
                                                   : mx_step_reply(st, p->too_long));
    }
    return count_error(m, st, command(m, c, st, n));
}
