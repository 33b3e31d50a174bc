/* smtp.c - SMTP with STARTTLS (RFC 5321, RFC 3207): the engine's (src/machine.c) SMTP
 * descriptor. Driven through mx/machine.h. Rules it implements:
 *   - greeting "220 host ESMTP product" (cfg.host, cfg.product; on an implicit-TLS
 *     listener, after the handshake);
 *   - EHLO/HELO (argument required, else 501) reset the transaction; EHLO lists PIPELINING,
 *     SIZE, 8BITMIME, STARTTLS, AUTH PLAIN LOGIN, ENHANCEDSTATUSCODES. STARTTLS is listed iff the
 *     listener is STARTTLS-capable, a certificate is bound to the connection's (address,
 *     port) and TLS is not active (KB Q237327);
 *   - MAIL (503 before EHLO/HELO or inside a transaction; 501 without FROM:), RCPT (503
 *     before MAIL; 501 without TO:; 452 past MX_SMTP_MAX_RCPT), DATA (501 with arguments; 503
 *     before MAIL or RCPT; 354, then message lines until CRLF "." CRLF; bare LF never ends a
 *     line of the message (SMTP smuggling); dot-unstuffed bytes come out as MX_ACT_DATA; 250,
 *     or 552 when the message is over cfg.max_message), RSET, NOOP, QUIT (221, close), AUTH
 *     PLAIN (503 before EHLO, when authenticated or inside a transaction; 504 other
 *     mechanisms; PLAIN without the initial response "334 " and the next line is the
 *     response; LOGIN "334 VXNlcm5hbWU6" (Username:), the user, "334 UGFzc3dvcmQ6"
 *     (Password:), the password (an initial response is the user name); the engine's SASL
 *     exchange, mx/machine.h); 235, or 535 when cfg.check refuses the
 *     credentials (RFC 4954 6: 535 5.7.8), the session staying unauthenticated; the
 *     cfg.max_auth_failures'th refusal is followed by 421 and the close);
 *   - RCPT: when cfg.check refuses the address, 550 5.1.1 (no such local user) or 554 5.7.1
 *     (not a local domain: no relaying, RFC 5321 3.6.2), and it is not counted;
 *   - STARTTLS: with parameters 501; TLS already active 503; not available (plaintext
 *     listener or no certificate) 502; advertised but failing (the caller said so with
 *     mx_machine_tls_unavailable(), e.g. the certificate no longer loads) 454; else 220 and
 *     MX_ACT_STARTTLS with every byte still queued in the chain discarded (CVE-2011-0411) and
 *     counted. After mx_machine_tls_started()
 *     the session is back in the post-greeting state: no EHLO, no transaction, not
 *     authenticated; MAIL before the new EHLO gets 503;
 *   - policy tls_required: until TLS is active every command but EHLO, NOOP, STARTTLS and QUIT
 *     gets 530;
 *   - a TLS record header (0x16 0x03) at the start of a command line while TLS is off: a
 *     client that expected implicit TLS (KB Q218430): one 421 line, st.diag, MX_ACT_CLOSE;
 *   - implicit-TLS listener: before the handshake the first bytes must be a TLS record
 *     (MX_ACT_HANDSHAKE); plaintext gets no reply, st.diag and MX_ACT_CLOSE (the engine's
 *     implicit-TLS gate, src/machine.c);
 *   - a command line longer than the line buffer (LF included) gets 500 once its LF arrives.
 * Unknown verbs get 500. Verbs are case-insensitive; lines end at LF (a CR before it is
 * dropped).
 */
#include "machine_proto.h"

#include <stdio.h>
#include <string.h>

/* a protocol error: a 5xx reply to a command line (RFC 5321 4.2.1, 4.2.4) */
static int smtp_is_error(const struct mx_step *st)
{
    return st->reply_n >= 3 && st->reply[0] == '5';
}

static void reset_transaction(struct mx_machine *m)
{
    m->ps.smtp.mail = 0;
    m->ps.smtp.nrcpt = 0;
}

/* RFC 3207 4.2: after STARTTLS "the server MUST discard any knowledge obtained from the
 * client, such as the argument to the EHLO command" -- and AUTH and the transaction with it */
static void smtp_reset(struct mx_machine *m)
{
    m->ps.smtp.helo = 0;
    m->auth = MX_AUTH_NONE;
    reset_transaction(m);
}

static void smtp_greeting(const struct mx_machine *m, struct mx_step *st)
{
    mx_step_puts(st, "220 ");
    mx_step_puts(st, m->cfg.host);
    mx_step_puts(st, " ESMTP ");
    mx_step_puts(st, m->cfg.product);
    mx_step_puts(st, "\r\n");
}

static int ehlo_reply(struct mx_machine *m, struct mx_step *st, const uint8_t *arg, size_t an)
{
    char name[65];
    size_t k = an > 64 ? 64 : an;
    /* the client's name is echoed: only printable ASCII, so that a CR, LF or NUL in it can
     * never split or end the reply */
    for (size_t i = 0; i < k; i++)
        name[i] = arg[i] >= 0x20 && arg[i] < 0x7f ? (char)arg[i] : '?';
    name[k] = 0;
    mx_step_puts(st, "250-");
    mx_step_puts(st, m->cfg.host);
    mx_step_puts(st, " greets ");
    mx_step_puts(st, name);
    mx_step_puts(st, "\r\n250-PIPELINING\r\n");
    {
        char line[48];
        snprintf(line, sizeof line, "250-SIZE %zu\r\n", m->cfg.max_message);
        mx_step_puts(st, line);
    }
    mx_step_puts(st, "250-8BITMIME\r\n");
    if (mx_machine_offers_tls(m))
        mx_step_puts(st, "250-STARTTLS\r\n");
    mx_step_puts(st, "250-AUTH PLAIN LOGIN\r\n");
    return mx_step_reply(st, "250 ENHANCEDSTATUSCODES\r\n");
}

static int c_helo(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    int ehlo = mx_word_is(cl->line, cl->n, "EHLO");
    if (cl->an == 0)
        return mx_step_reply(st, ehlo ? "501 5.5.4 Syntax: EHLO hostname\r\n"
                                      : "501 5.5.4 Syntax: HELO hostname\r\n");
    reset_transaction(m);
    m->ps.smtp.helo = ehlo ? 2 : 1;
    if (ehlo)
        return ehlo_reply(m, st, cl->arg, cl->an);
    mx_step_puts(st, "250 ");
    mx_step_puts(st, m->cfg.host);
    return mx_step_reply(st, "\r\n");
}

static int c_starttls(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (cl->an != 0)
        return mx_step_reply(st, "501 5.5.4 Syntax: STARTTLS (no parameters)\r\n");
    /* RFC 3207 4: advertised, but the server cannot start TLS now: a temporary failure */
    if (!m->tls && m->tls_broken && m->cfg.mode == MX_LISTEN_STARTTLS && m->cfg.cert)
        return mx_step_reply(st, "454 4.7.0 TLS not available due to temporary reason\r\n");
    return mx_cmd_starttls(m, st, cl, "503 5.5.1 Error: TLS already active\r\n",
                           "502 5.5.1 Error: STARTTLS not available\r\n",
                           "220 2.0.0 Ready to start TLS\r\n");
}

static int c_mail(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (!m->ps.smtp.helo)
        return mx_step_reply(st, "503 5.5.1 Error: send HELO/EHLO first\r\n");
    if (m->ps.smtp.mail)
        return mx_step_reply(st, "503 5.5.1 Error: nested MAIL command\r\n");
    if (!mx_prefix_is(cl->arg, cl->an, "FROM:"))
        return mx_step_reply(st, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    m->ps.smtp.mail = 1;
    return mx_step_reply(st, "250 2.1.0 Ok\r\n");
}

static int c_rcpt(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (!m->ps.smtp.mail)
        return mx_step_reply(st, "503 5.5.1 Error: need MAIL command\r\n");
    if (!mx_prefix_is(cl->arg, cl->an, "TO:"))
        return mx_step_reply(st, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
    if (m->ps.smtp.nrcpt >= MX_SMTP_MAX_RCPT)
        return mx_step_reply(st, "452 4.5.3 Error: too many recipients\r\n");
    switch (mx_machine_check(m, MX_CHECK_RCPT, cl->arg + 3, cl->an - 3)) {
    case MX_ACCEPT:
        break;
    case MX_REFUSE_RELAY:
        return mx_step_reply(st, "554 5.7.1 Error: relay access denied\r\n");
    default:
        return mx_step_reply(st, "550 5.1.1 Error: no such user here\r\n");
    }
    m->ps.smtp.nrcpt++;
    return mx_step_reply(st, "250 2.1.5 Ok\r\n");
}

static int c_data(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (cl->an != 0)
        return mx_step_reply(st, "501 5.5.4 Syntax: DATA (no parameters)\r\n");
    if (!m->ps.smtp.mail)
        return mx_step_reply(st, "503 5.5.1 Error: need MAIL command\r\n");
    if (!m->ps.smtp.nrcpt)
        return mx_step_reply(st, "503 5.5.1 Error: need RCPT command\r\n");
    m->phase = MX_PHASE_BODY;
    m->ps.smtp.midline = 0;
    m->ps.smtp.dscan = 0;
    m->ps.smtp.msg_size = 0;
    m->ps.smtp.msg_over = 0;
    return mx_step_reply(st, "354 End data with <CR><LF>.<CR><LF>\r\n");
}

static int c_rset(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (cl->an != 0)
        return mx_step_reply(st, "501 5.5.4 Syntax: RSET\r\n");
    reset_transaction(m);
    return mx_step_reply(st, "250 2.0.0 Ok\r\n");
}

static int c_auth(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    size_t i = 5; /* after "PLAIN" */
    if (m->ps.smtp.helo != 2)
        return mx_step_reply(st, "503 5.5.1 Error: send EHLO first\r\n");
    if (m->auth == MX_AUTH_DONE)
        return mx_step_reply(st, "503 5.5.1 Error: already authenticated\r\n");
    if (m->ps.smtp.mail)
        return mx_step_reply(st, "503 5.5.1 Error: MAIL transaction in progress\r\n");
    int login = mx_word_is(cl->arg, cl->an, "LOGIN");
    if (!login && !mx_word_is(cl->arg, cl->an, "PLAIN"))
        return mx_step_reply(st, "504 5.5.4 Unrecognized authentication type\r\n");
    while (i < cl->an && cl->arg[i] == ' ')
        i++;
    /* LOGIN: "Username:" and "Password:" challenges; an initial response is the user name */
    if (login)
        return mx_machine_sasl_begin(m, st, cl, MX_SASL_LOGIN_USER, i < cl->an ? cl->arg + i : NULL,
                                     cl->an - i);
    if (i == cl->an) /* RFC 4954 4: no initial response: an empty challenge */
        return mx_machine_sasl_begin(m, st, cl, MX_SASL_PLAIN, NULL, 0);
    if (mx_machine_check(m, MX_CHECK_PLAIN, cl->arg + i, cl->an - i) != MX_ACCEPT)
        return mx_machine_auth_refused(m, st, cl);
    m->auth = MX_AUTH_DONE;
    return mx_step_reply(st, "235 2.7.0 Authentication successful\r\n");
}

/* One piece of the message, or the end of it. Returns an action, or NEED_INPUT. */
static int data_step(struct mx_machine *m, struct mx_chain *c, struct mx_step *st)
{
    struct mx_smtp_state *s = &m->ps.smtp;
    uint8_t *buf = m->liner.buf;
    size_t cap = m->liner.cap;
    for (;;) {
        size_t pos, n, from = s->dscan ? s->dscan - 1 : 0;
        const uint8_t *p;
        if (s->dscan > c->bytes)
            from = 0;
        if (mx_chain_find(c, from, "\r\n", 2, &pos) && pos + 2 <= cap) {
            n = pos + 2;
            mx_chain_take_into(c, buf, n);
            st->line_n += n;
            s->dscan = 0;
            if (!s->midline && n == 3 && buf[0] == '.') {
                int over = s->msg_over;
                m->phase = MX_PHASE_CMD;
                reset_transaction(m);
                return mx_step_reply(st, over ? "552 5.3.4 Error: message too big\r\n"
                                              : "250 2.0.0 Ok: queued\r\n");
            }
            p = buf;
            if (!s->midline && buf[0] == '.') {
                p++;
                n--;
            }
            s->midline = 0;
        } else if (c->bytes >= cap) {
            /* a line longer than the buffer: pass it on in pieces that never end in CR,
             * so that a CRLF is always seen whole */
            n = cap - 1;
            mx_chain_peek(c, 0, buf, n);
            if (buf[n - 1] == '\r')
                n--;
            mx_chain_consume(c, n);
            st->line_n += n;
            s->dscan = 0;
            p = buf;
            if (!s->midline && buf[0] == '.') {
                p++;
                n--;
            }
            s->midline = 1;
        } else {
            s->dscan = c->bytes;
            return MX_ACT_NEED_INPUT;
        }
        if (s->msg_over || n > m->cfg.max_message - s->msg_size) {
            s->msg_over = 1;
            continue;
        }
        s->msg_size += n;
        if (n == 0)
            continue;
        st->data = p;
        st->data_n = n;
        st->act = MX_ACT_DATA;
        return st->act;
    }
}

/* EHLO, NOOP, STARTTLS and QUIT stay usable under the TLS-required policy: a client needs
 * them to get to TLS (RFC 3207 4: 530 for the others) */
static const struct mx_cmd smtp_commands[] = {
    {"EHLO", c_helo, MX_CMD_PRE_TLS, NULL},
    {"HELO", c_helo, 0, NULL},
    {"STARTTLS", c_starttls, MX_CMD_PRE_TLS, NULL},
    {"MAIL", c_mail, 0, NULL},
    {"RCPT", c_rcpt, 0, NULL},
    {"DATA", c_data, 0, NULL},
    {"RSET", c_rset, 0, NULL},
    {"NOOP", NULL, MX_CMD_PRE_TLS, "250 2.0.0 Ok\r\n"},
    {"QUIT", NULL, MX_CMD_PRE_TLS | MX_CMD_CLOSE, "221 2.0.0 Bye\r\n"},
    {"AUTH", c_auth, 0, NULL},
    {NULL, NULL, 0, "500 5.5.2 Error: command not recognized\r\n"},
};

const struct mx_proto mx_proto_smtp = {
    .name = "smtp",
    .commands = smtp_commands, .greeting = smtp_greeting, .body = data_step, .reset = smtp_reset,
    .too_long = "500 5.5.2 Error: line too long\r\n",
    .too_many_errors = "421 4.7.0 Error: too many errors\r\n",
    .is_error = smtp_is_error,
    .clienthello = "421 4.7.0 TLS handshake received on a plaintext port: use STARTTLS, or the "
                   "implicit-TLS port\r\n",
    .policy_refusal = "530 5.7.0 Must issue a STARTTLS command first\r\n",
    .auth_refused = "535 5.7.8 Error: authentication failed\r\n",
    /* RFC 4954 4: "334 " + the (empty) challenge; "*" and undecodable responses 501; a
     * response longer than the server's buffer "500 5.5.6" */
    .sasl_challenge = "334 \r\n",
    .sasl_cancelled = "501 5.7.0 Authentication aborted\r\n",
    .sasl_invalid = "501 5.5.2 Cannot decode the response\r\n",
    .sasl_too_long = "500 5.5.6 Authentication exchange line is too long\r\n",
    .sasl_accepted = "235 2.7.0 Authentication successful\r\n",
    /* draft-murchison-sasl-login 2: base64 of "Username:" and "Password:" */
    .sasl_login_user = "334 VXNlcm5hbWU6\r\n",
    .sasl_login_pass = "334 UGFzc3dvcmQ6\r\n",
    .too_many_auth = "421 4.7.0 Error: too many failed authentications\r\n",
};
