/* imap_starttls.c - IMAP's line-level pre-authentication commands with STARTTLS
 * (RFC 3501 6.1, 6.2; RFC 2595): the engine's (src/machine.c) IMAP descriptor. The IMAP
 * command reader with literals is mx/imap.h; this machine handles only CAPABILITY,
 * STARTTLS, LOGIN, AUTHENTICATE, LOGOUT and NOOP, and refuses lines that announce a literal ("{n}" at the
 * end) before authentication.
 *
 * Driven through mx/machine.h. Rules it implements:
 *   - greeting "* OK product IMAP4rev1 ready" (cfg.product; on an implicit-TLS listener,
 *     after the handshake);
 *   - a line is "tag SP command [SP arguments]"; a missing or invalid tag (empty, longer than
 *     MX_IMAP_TAG_MAX, or holding one of  * + ( ) { % " \ ]  or a control byte) gets
 *     "* BAD"; a missing command "tag BAD";
 *   - CAPABILITY lists IMAP4rev1, then LITERAL- when the listener has the literal-minus
 *     option (cfg.literal_minus), else LITERAL+ (RFC 7888 3, 4: one of the two, they promise
 *     different limits), STARTTLS iff the listener is STARTTLS-capable, a certificate is
 *     bound to the connection's (address, port), TLS is not active and the
 *     state is not-authenticated; LOGINDISABLED iff TLS is not active and (STARTTLS is listed
 *     or the policy requires TLS);
 *   - STARTTLS: with arguments, authenticated, TLS active, or not available: "tag BAD";
 *     else "tag OK" and MX_ACT_STARTTLS with every queued byte discarded (CVE-2011-0411) and
 *     counted. After mx_machine_tls_started() the state stays not-authenticated and
 *     STARTTLS is no longer listed;
 *   - LOGIN user pass: authenticated "tag BAD"; LOGINDISABLED in force
 *     "tag NO [PRIVACYREQUIRED]"; fewer than two arguments "tag BAD"; else "tag OK" and the
 *     authenticated state -- or, when cfg.check refuses the credentials,
 *     "tag NO [AUTHENTICATIONFAILED]" (RFC 5530) and still not authenticated; the
 *     cfg.max_auth_failures'th refusal is followed by "* BYE" and the close;
 *   - AUTHENTICATE PLAIN initial-response (RFC 3501 6.2.2, SASL-IR RFC 4959, PLAIN RFC
 *     4616): as LOGIN (BAD when authenticated, NO [PRIVACYREQUIRED] under LOGINDISABLED, the
 *     same check); no mechanism "tag BAD"; another mechanism "tag NO"; PLAIN with more
 *     arguments "tag BAD"; PLAIN without the initial response "+ " and the next line is the
 *     response (the engine's SASL exchange, mx/machine.h). CAPABILITY lists AUTH=PLAIN and SASL-IR while not authenticated and LOGIN is
 *     not disabled;
 *   - a refused line ending in a non-synchronizing literal marker {N+} (or ~{N+}) -- a bad
 *     tag, a literal, a line too long for the buffer alike --: its N octets are swallowed
 *     (m->swallow, counted in m->swallowed), never framed as commands; a size past 2^64-1
 *     gets "* BYE" and MX_ACT_CLOSE; a synchronizing {N} gets BAD, no "+". One watch
 *     (mx/imap.h struct mx_imap_litmark, the command reader's skipper) sees every byte the
 *     line framer takes, so the marker is found at the end of a line of any length; under
 *     LITERAL- a literal over MX_IMAP_LITERAL_MINUS_MAX octets gets "tag BAD [TOOBIG]" (RFC
 *     7888 4) and is swallowed the same way;
 *   - LOGOUT "* BYE product logging out" + "tag OK", MX_ACT_CLOSE; NOOP "tag OK"; anything
 *     else "tag BAD";
 *   - TLS record header (0x16 0x03) at a command start while TLS is off: one "* BYE" line,
 *     st.diag, MX_ACT_CLOSE (plaintext on an implicit-TLS listener: the engine's gate closes
 *     without a reply);
 *   - a command line longer than the line buffer gets "* BAD" once its LF arrives.
 */
#include "machine_proto.h"

#include <string.h>

#include "mx/imap.h" /* MX_IMAP_LITERAL_MINUS_MAX */

/* RFC 2595 3.1: after STARTTLS the client "MUST discard cached information about server
 * capabilities"; the state stays not-authenticated */
static void imap_reset(struct mx_machine *m)
{
    m->auth = MX_AUTH_NONE;
    /* this machine frames lines at LF, a CR before it optional: so does the watch */
    mx_imap_litmark_init(&m->ps.imap.mark, 1);
    m->ps.imap.ended = MX_IMAP_MARK_NONE;
}

/* Every byte the line framer takes: at each LF, whether the line ended in a {N+} marker. */
static void imap_watch(void *ctx, const uint8_t *p, size_t n)
{
    struct mx_machine *m = ctx;
    for (size_t i = 0; i < n; i++) {
        enum mx_imap_mark v;
        i += mx_imap_litmark_idle(&m->ps.imap.mark, p + i, n - i); /* bytes that change nothing */
        if (i == n)
            break;
        v = mx_imap_litmark_byte(&m->ps.imap.mark, p[i], &m->ps.imap.ended_size);
        if (p[i] == '\n')
            m->ps.imap.ended = (unsigned char)v;
    }
}

/* A refused line (cl NULL: untagged): the reply, and if the line ended in a non-synchronizing
 * literal marker, its octets swallowed (m->swallow): RFC 7888 4, the client sends them
 * without waiting, so they are the refused command's data, never commands (command
 * smuggling). A size that does not fit closes the connection instead. The same watch decides
 * for every refused line: bad tag, literal, too long. */
static int refuse(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl, const char *text)
{
    if (m->ps.imap.ended == MX_IMAP_MARK_TOO_BIG)
        return mx_machine_close(m, st, "* BYE Literal size out of range\r\n",
                                "IMAP: a non-synchronizing literal size over 2^64 before "
                                "authentication");
    if (m->ps.imap.ended == MX_IMAP_MARK_NONSYNC)
        m->swallow = m->ps.imap.ended_size;
    return cl ? mx_cmd_reply(st, cl, text) : mx_step_reply(st, text);
}

static int imap_too_long(struct mx_machine *m, struct mx_step *st)
{
    return refuse(m, st, NULL, m->proto->too_long);
}

static void imap_greeting(const struct mx_machine *m, struct mx_step *st)
{
    mx_step_puts(st, "* OK ");
    mx_step_puts(st, m->cfg.product);
    mx_step_puts(st, " IMAP4rev1 ready\r\n");
}

/* RFC 3501 6.2.3: LOGINDISABLED while TLS is off and either STARTTLS is offered (the client
 * can get to TLS first) or the policy wants TLS anyway */
static int login_disabled(const struct mx_machine *m)
{
    return !m->tls && (mx_machine_offers_tls(m) || m->cfg.tls_required);
}

static int tag_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > MX_IMAP_TAG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] >= 0x7f || strchr("*+(){%\"\\]", p[i]))
            return 0;
    return 1;
}

/* Splits "tag SP command [SP arguments]"; answers a line without a valid tag or command, and
 * one that announces a literal (nothing before authentication may make the server wait for
 * octets it has not asked for). */
static int imap_frame(struct mx_machine *m, struct mx_step *st, struct mx_cmdline *cl)
{
    const uint8_t *line = cl->line;
    size_t n = cl->n, tn = 0, i, ntok = 0;
    while (tn < n && line[tn] != ' ')
        tn++;
    if (!tag_ok(line, tn))
        return refuse(m, st, NULL, "* BAD Invalid or missing tag\r\n");
    cl->tag_n = tn;
    i = tn;
    while (i < n && line[i] == ' ')
        i++;
    cl->verb = line + i;
    cl->vn = n - i;
    if (cl->vn == 0)
        return mx_cmd_reply(st, cl, "BAD Missing command\r\n");
    if (line[n - 1] == '}' && memchr(cl->verb, '{', cl->vn)) {
        /* RFC 3501 7.5: a synchronizing {N} gets BAD and no "+": the client sends nothing;
         * a {N+} (RFC 7888 4) is sent anyway: refuse() swallows it. RFC 7888 4: a LITERAL-
         * server rejects a non-synchronizing literal over 4096 octets with a tagged BAD that
         * carries TOOBIG (RFC 4469); its octets are swallowed like any refused literal's. */
        if (m->cfg.literal_minus && m->ps.imap.ended == MX_IMAP_MARK_NONSYNC &&
            m->ps.imap.ended_size > MX_IMAP_LITERAL_MINUS_MAX)
            return refuse(m, st, cl, "BAD [TOOBIG] Non-synchronizing literal over 4096 octets (LITERAL-)\r\n");
        return refuse(m, st, cl, "BAD Literals are not accepted before authentication\r\n");
    }
    /* arguments: count space-separated tokens after the command word */
    for (size_t j = 0; j < cl->vn;) {
        while (j < cl->vn && cl->verb[j] == ' ')
            j++;
        if (j >= cl->vn)
            break;
        ntok++;
        while (j < cl->vn && cl->verb[j] != ' ')
            j++;
    }
    m->ps.imap.ntok = ntok - 1; /* the command word itself */
    return MX_ACT_NEED_INPUT;
}

/* a protocol error: BAD as the last (status) line, tagged or untagged (RFC 3501 7.1.3) */
static int imap_is_error(const struct mx_step *st)
{
    size_t last = 0, i;
    const uint8_t *sp;
    /* the last line starts after the last LF before the reply's final byte: searched from the
     * end (the status line is last), and its first SP by memchr */
    for (i = st->reply_n > 1 ? st->reply_n - 1 : 0; i > 0; i--)
        if (st->reply[i - 1] == '\n') {
            last = i;
            break;
        }
    sp = memchr(st->reply + last, ' ', st->reply_n - last);
    i = sp ? (size_t)(sp - st->reply) : st->reply_n;
    return st->reply_n - i >= 5 && !memcmp(st->reply + i, " BAD ", 5);
}

static int c_capability(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (m->ps.imap.ntok)
        return mx_cmd_reply(st, cl, "BAD CAPABILITY takes no arguments\r\n");
    /* RFC 7888 3 (LITERAL+: any size) or 4 (LITERAL-: at most 4096 octets): one of the two, as
     * the listener says; the refusal above keeps {N+} octets out of the command stream */
    mx_step_puts(st, m->cfg.literal_minus ? "* CAPABILITY IMAP4rev1 LITERAL-"
                                          : "* CAPABILITY IMAP4rev1 LITERAL+");
    if (mx_machine_offers_tls(m))
        mx_step_puts(st, " STARTTLS");
    if (login_disabled(m))
        mx_step_puts(st, " LOGINDISABLED");
    else if (m->auth != MX_AUTH_DONE)
        mx_step_puts(st, " AUTH=PLAIN SASL-IR");
    mx_step_puts(st, "\r\n");
    return mx_cmd_reply(st, cl, "OK CAPABILITY completed\r\n");
}

static int c_logout(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    mx_step_puts(st, "* BYE ");
    mx_step_puts(st, m->cfg.product);
    mx_step_puts(st, " logging out\r\n");
    mx_cmd_reply(st, cl, "OK LOGOUT completed\r\n");
    return mx_machine_close(m, st, NULL, NULL);
}

static int c_starttls(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (m->ps.imap.ntok)
        return mx_cmd_reply(st, cl, "BAD STARTTLS takes no arguments\r\n");
    if (m->auth == MX_AUTH_DONE)
        return mx_cmd_reply(st, cl, "BAD STARTTLS only before authentication\r\n");
    return mx_cmd_starttls(m, st, cl, "BAD TLS already active\r\n",
                           "BAD STARTTLS not available\r\n", "OK Begin TLS negotiation now\r\n");
}

static int c_login(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    if (m->auth == MX_AUTH_DONE)
        return mx_cmd_reply(st, cl, "BAD Already authenticated\r\n");
    if (login_disabled(m))
        return mx_cmd_reply(st, cl, "NO [PRIVACYREQUIRED] LOGIN disabled until TLS is active\r\n");
    if (m->ps.imap.ntok < 2)
        return mx_cmd_reply(st, cl, "BAD LOGIN needs a user name and a password\r\n");
    if (mx_machine_check(m, MX_CHECK_LOGIN, cl->arg, cl->an) != MX_ACCEPT)
        return mx_machine_auth_refused(m, st, cl);
    m->auth = MX_AUTH_DONE;
    return mx_cmd_reply(st, cl, "OK LOGIN completed\r\n");
}

static int c_authenticate(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl)
{
    size_t i = 5; /* after "PLAIN" */
    if (m->auth == MX_AUTH_DONE)
        return mx_cmd_reply(st, cl, "BAD Already authenticated\r\n");
    if (login_disabled(m))
        return mx_cmd_reply(st, cl, "NO [PRIVACYREQUIRED] Authentication disabled until TLS is active\r\n");
    if (m->ps.imap.ntok == 0)
        return mx_cmd_reply(st, cl, "BAD AUTHENTICATE needs a mechanism\r\n");
    if (!mx_word_is(cl->arg, cl->an, "PLAIN"))
        return mx_cmd_reply(st, cl, "NO Unsupported authentication mechanism\r\n");
    if (m->ps.imap.ntok == 1) /* RFC 3501 6.2.2: no initial response, an empty "+ " */
        return mx_machine_sasl_begin(m, st, cl, MX_SASL_PLAIN, NULL, 0);
    if (m->ps.imap.ntok != 2)
        return mx_cmd_reply(st, cl, "BAD AUTHENTICATE PLAIN takes at most an initial response (SASL-IR)\r\n");
    while (i < cl->an && cl->arg[i] == ' ')
        i++;
    if (mx_machine_check(m, MX_CHECK_PLAIN, cl->arg + i, cl->an - i) != MX_ACCEPT)
        return mx_machine_auth_refused(m, st, cl);
    m->auth = MX_AUTH_DONE;
    return mx_cmd_reply(st, cl, "OK AUTHENTICATE completed\r\n");
}

/* No policy flags: IMAP's TLS-required policy is LOGINDISABLED (login_disabled), applied by
 * LOGIN itself with a tagged NO, not a refusal of every command. */
static const struct mx_cmd imap_commands[] = {
    {"CAPABILITY", c_capability, 0, NULL},
    {"NOOP", NULL, 0, "OK NOOP completed\r\n"},
    {"LOGOUT", c_logout, 0, NULL},
    {"STARTTLS", c_starttls, 0, NULL},
    {"LOGIN", c_login, 0, NULL},
    {"AUTHENTICATE", c_authenticate, 0, NULL},
    {NULL, NULL, 0, "BAD Command unknown or not available in this state\r\n"},
};

const struct mx_proto mx_proto_imap = {
    .name = "imap", .flags = MX_PROTO_TLS_BEFORE_AUTH,
    .commands = imap_commands, .greeting = imap_greeting, .frame = imap_frame, .reset = imap_reset,
    .watch = imap_watch, .too_long_line = imap_too_long,
    .too_long = "* BAD Line too long\r\n",
    .too_many_errors = "* BYE Too many protocol errors\r\n",
    .is_error = imap_is_error,
    .auth_refused = "NO [AUTHENTICATIONFAILED] Authentication failed\r\n",
    /* RFC 3501 6.2.2: "+ " and the challenge (empty for PLAIN); "*" cancels with BAD, and a
     * response that is not base64 is BAD too */
    .sasl_challenge = "+ \r\n",
    .sasl_cancelled = "BAD AUTHENTICATE cancelled\r\n",
    .sasl_invalid = "BAD Invalid base64 response\r\n",
    .sasl_too_long = "BAD AUTHENTICATE response too long\r\n",
    .sasl_accepted = "OK AUTHENTICATE completed\r\n",
    .too_many_auth = "* BYE Too many failed logins\r\n",
    .clienthello = "* BYE TLS handshake received on a plaintext port: use STARTTLS, or the "
                   "implicit-TLS port\r\n",
    /* no policy_refusal: see imap_commands */
};
