/* pop3.c - POP3 with STLS (RFC 1939, RFC 2449, RFC 2595): the engine's (src/machine.c) POP3
 * descriptor. Driven through mx/machine.h. Rules it implements:
 *   - greeting "+OK product POP3 ready" (cfg.product; "... ready (TLS)" on an implicit-TLS
 *     listener, after the handshake);
 *   - AUTHORIZATION state: CAPA, STLS, USER, PASS, AUTH, QUIT; TRANSACTION state (after USER +
 *     PASS or AUTH): CAPA, STAT, NOOP, RSET, QUIT; anything else -ERR;
 *   - credentials: cfg.check is told the USER name and asked about the PASS (or AUTH PLAIN's
 *     initial response, RFC 5034); a refusal is "-ERR [AUTH]" (RFC 3206) and the state stays
 *     AUTHORIZATION; the cfg.max_auth_failures'th refusal ends the connection. Without a
 *     check every login is accepted (the machine tracks the state only);
 *   - AUTH PLAIN [initial-response] (RFC 5034 4; RFC 4616): TRANSACTION state -ERR; no
 *     mechanism, another mechanism or more arguments -ERR; without the initial response
 *     "+ " and the next line is the response (the engine's SASL exchange, mx/machine.h); not
 *     listed in CAPA (see c_capa);
 *   - CAPA lists USER, PIPELINING, and STLS iff the listener is STARTTLS-capable, a
 *     certificate is bound to the connection's (address, port), TLS is not active and the
 *     state is AUTHORIZATION;
 *   - STLS: with arguments -ERR; outside AUTHORIZATION -ERR; TLS active -ERR; not available
 *     -ERR; else "+OK" and MX_ACT_STARTTLS with every queued byte discarded (CVE-2011-0411)
 *     and counted. After mx_machine_tls_started(): AUTHORIZATION, USER forgotten, no STLS;
 *   - policy tls_required: USER and PASS get -ERR until TLS is active;
 *   - TLS record header (0x16 0x03) at a command start while TLS is off: one -ERR line,
 *     st.diag, MX_ACT_CLOSE (plaintext on an implicit-TLS listener: the engine's gate closes
 *     without a reply);
 *   - a command line longer than the line buffer gets -ERR once its LF arrives.
 */
#include "machine_proto.h"

#include <string.h>

/* a protocol error: -ERR (RFC 1939 3) */
static int pop3_is_error(const struct mx_step *st)
{
    return st->reply_n >= 4 && !memcmp(st->reply, "-ERR", 4);
}

/* RFC 2595 4: after STLS the client "MUST discard cached information about server
 * capabilities" and the server starts over in AUTHORIZATION: USER is forgotten */
static void pop3_reset(struct mx_machine *m)
{
    m->auth = MX_AUTH_NONE;
}

static void pop3_greeting(const struct mx_machine *m, struct mx_step *st)
{
    mx_step_puts(st, "+OK ");
    mx_step_puts(st, m->cfg.product);
    mx_step_puts(st, m->tls ? " POP3 ready (TLS)\r\n" : " POP3 ready\r\n");
}

static int c_capa(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    (void)cl;
    mx_step_puts(st, "+OK Capability list follows\r\n");
    /* no "SASL PLAIN" line (RFC 2449 6.3): a client that sees it logs in with AUTH PLAIN and
     * waits for a "+" continuation, which this machine does not have (curl 7.88 then gives
     * up instead of falling back to USER); AUTH PLAIN with an initial response still works */
    if (m->auth != MX_AUTH_DONE)
        mx_step_puts(st, "USER\r\n");
    mx_step_puts(st, "PIPELINING\r\n");
    if (mx_machine_offers_tls(m))
        mx_step_puts(st, "STLS\r\n");
    return mx_step_reply(st, ".\r\n");
}

static int c_stls(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (cl->an)
        return mx_step_reply(st, "-ERR STLS takes no arguments\r\n");
    if (m->auth == MX_AUTH_DONE)
        return mx_step_reply(st, "-ERR STLS only in AUTHORIZATION state\r\n");
    return mx_cmd_starttls(m, st, cl, "-ERR TLS already active\r\n", "-ERR STLS not available\r\n",
                           "+OK Begin TLS negotiation\r\n");
}

static int c_quit(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    (void)cl;
    mx_step_puts(st, "+OK ");
    mx_step_puts(st, m->cfg.product);
    return mx_machine_close(m, st, " POP3 signing off\r\n", NULL);
}

static int c_user(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (m->auth == MX_AUTH_DONE)
        return mx_step_reply(st, "-ERR already authenticated\r\n");
    if (!cl->an)
        return mx_step_reply(st, "-ERR USER needs a name\r\n");
    if (mx_machine_check(m, MX_CHECK_USER, cl->arg, cl->an) != MX_ACCEPT)
        return mx_machine_auth_refused(m, st, cl);
    m->auth = MX_AUTH_USER;
    return mx_step_reply(st, "+OK send PASS\r\n");
}

static int c_pass(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (m->auth == MX_AUTH_DONE)
        return mx_step_reply(st, "-ERR already authenticated\r\n");
    /* a PASS, right or wrong, uses up the USER before it (RFC 1939 7: USER again after a
     * failed PASS) */
    if (m->auth != MX_AUTH_USER)
        return mx_step_reply(st, "-ERR send USER first\r\n");
    m->auth = MX_AUTH_NONE;
    if (!cl->an)
        return mx_step_reply(st, "-ERR PASS needs a password\r\n");
    if (mx_machine_check(m, MX_CHECK_PASS, cl->arg, cl->an) != MX_ACCEPT)
        return mx_machine_auth_refused(m, st, cl);
    m->auth = MX_AUTH_DONE;
    return mx_step_reply(st, "+OK maildrop ready\r\n");
}

static int c_auth(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    size_t i = 5, ir; /* after "PLAIN" */
    if (m->auth == MX_AUTH_DONE)
        return mx_step_reply(st, "-ERR already authenticated\r\n");
    m->auth = MX_AUTH_NONE; /* any AUTH uses up a USER before it, as PASS does */
    if (!mx_word_is(cl->arg, cl->an, "PLAIN"))
        return mx_step_reply(st, "-ERR AUTH: only PLAIN is supported\r\n");
    while (i < cl->an && cl->arg[i] == ' ')
        i++;
    for (ir = i; ir < cl->an && cl->arg[ir] != ' '; ir++)
        ;
    if (i == cl->an) /* RFC 5034 4: no initial response, an empty "+ " challenge */
        return mx_machine_sasl_begin(m, st, cl, MX_SASL_PLAIN, NULL, 0);
    if (ir != cl->an)
        return mx_step_reply(st, "-ERR AUTH PLAIN takes at most an initial response\r\n");
    if (mx_machine_check(m, MX_CHECK_PLAIN, cl->arg + i, cl->an - i) != MX_ACCEPT)
        return mx_machine_auth_refused(m, st, cl);
    m->auth = MX_AUTH_DONE;
    return mx_step_reply(st, "+OK maildrop ready\r\n");
}

/* Under the TLS-required policy only USER and PASS wait for TLS (RFC 2595 4: the credentials
 * are what must not travel in plaintext). The maildrop commands exist only in TRANSACTION
 * state; before it they are unknown. */
static const struct mx_cmd pop3_commands[] = {
    {"CAPA", c_capa, MX_CMD_PRE_TLS, NULL},
    {"STLS", c_stls, MX_CMD_PRE_TLS, NULL},
    {"QUIT", c_quit, MX_CMD_PRE_TLS, NULL},
    {"USER", c_user, 0, NULL},
    {"PASS", c_pass, 0, NULL},
    {"AUTH", c_auth, 0, NULL},
    {"STAT", NULL, MX_CMD_PRE_TLS | MX_CMD_AUTHED, "+OK 0 0\r\n"}, /* an empty maildrop */
    {"NOOP", NULL, MX_CMD_PRE_TLS | MX_CMD_AUTHED, "+OK\r\n"},
    {"RSET", NULL, MX_CMD_PRE_TLS | MX_CMD_AUTHED, "+OK\r\n"},
    {NULL, NULL, MX_CMD_PRE_TLS, "-ERR unknown command or not allowed in this state\r\n"},
};

const struct mx_proto mx_proto_pop3 = {
    .name = "pop3", .flags = MX_PROTO_TLS_BEFORE_AUTH,
    .commands = pop3_commands, .greeting = pop3_greeting, .reset = pop3_reset,
    .too_long = "-ERR line too long\r\n",
    .too_many_errors = "-ERR too many errors\r\n",
    .is_error = pop3_is_error,
    .clienthello = "-ERR TLS handshake received on a plaintext port: use STLS, or the "
                   "implicit-TLS port\r\n",
    .policy_refusal = "-ERR [AUTH] TLS required: use STLS first\r\n",
    .auth_refused = "-ERR [AUTH] Authentication failed\r\n",
    /* RFC 5034 4: "+ " and the (empty) challenge; "*" cancels with -ERR */
    .sasl_challenge = "+ \r\n",
    .sasl_cancelled = "-ERR AUTH cancelled\r\n",
    .sasl_invalid = "-ERR invalid base64 response\r\n",
    .sasl_too_long = "-ERR AUTH response too long\r\n",
    .sasl_accepted = "+OK maildrop ready\r\n",
    .too_many_auth = "-ERR Too many failed logins\r\n",
};
