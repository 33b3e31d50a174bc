/* imap_starttls.c - IMAP pre-authentication commands with STARTTLS (see
 * include/mx/imap_starttls.h). */
#include "mx/imap_starttls.h"

#include <string.h>

#include "mx/listen.h"

int mx_imap_starttls_init(struct mx_imap_starttls *s, const struct mx_conn_cfg *cfg,
                          uint8_t *linebuf, size_t max_line)
{
    memset(s, 0, sizeof *s);
    if (!linebuf || max_line < MX_LINE_MIN)
        return -1;
    s->cfg = *cfg;
    mx_liner_init(&s->liner, linebuf, max_line);
    s->phase = cfg->mode == MX_LISTEN_IMPLICIT ? MX_IMAP_PRE_TLS : MX_IMAP_GREET;
    return 0;
}

int mx_imap_offers_starttls(const struct mx_imap_starttls *s)
{
    return s->cfg.mode == MX_LISTEN_STARTTLS && s->cfg.cert && !s->tls && !s->authenticated;
}

int mx_imap_login_disabled(const struct mx_imap_starttls *s)
{
    return !s->tls && (mx_imap_offers_starttls(s) || s->cfg.tls_required);
}

void mx_imap_starttls_tls_started(struct mx_imap_starttls *s, struct mx_chain *c)
{
    /* bytes still queued were read before TLS came up: never commands over TLS */
    if (s->phase == MX_IMAP_WAIT_TLS || s->phase == MX_IMAP_PRE_TLS || s->phase == MX_IMAP_HANDSHAKE)
        mx_chain_discard(c);
    if (s->phase == MX_IMAP_WAIT_TLS) {
        s->tls = 1;
        s->authenticated = 0;
        mx_liner_reset(&s->liner);
        s->phase = MX_IMAP_CMD;
    } else if (s->phase == MX_IMAP_PRE_TLS || s->phase == MX_IMAP_HANDSHAKE) {
        s->tls = 1;
        mx_liner_reset(&s->liner);
        s->phase = MX_IMAP_GREET;
    }
}

static int close_with(struct mx_imap_starttls *s, struct mx_step *st, const char *diag)
{
    s->phase = MX_IMAP_CLOSED;
    return mx_step_close(st, NULL, diag);
}

static int tagged(struct mx_step *st, const uint8_t *tag, size_t tn, const char *rest)
{
    mx_step_putn(st, tag, tn);
    mx_step_puts(st, " ");
    mx_step_puts(st, rest);
    st->act = MX_ACT_REPLY;
    return st->act;
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

static int command(struct mx_imap_starttls *s, struct mx_chain *c, struct mx_step *st,
                   const uint8_t *line, size_t n)
{
    size_t tn = 0, i, ntok = 0;
    const uint8_t *cmd;
    size_t cn;
    s->commands++;
    while (tn < n && line[tn] != ' ')
        tn++;
    if (!tag_ok(line, tn)) {
        mx_step_puts(st, "* BAD Invalid or missing tag\r\n");
        st->act = MX_ACT_REPLY;
        return st->act;
    }
    i = tn;
    while (i < n && line[i] == ' ')
        i++;
    cmd = line + i;
    cn = n - i;
    if (cn == 0)
        return tagged(st, line, tn, "BAD Missing command\r\n");
    if (line[n - 1] == '}' && memchr(cmd, '{', cn))
        return tagged(st, line, tn, "BAD Literals are not accepted before authentication\r\n");
    /* arguments: count space-separated tokens after the command word */
    for (size_t j = 0; j < cn;) {
        while (j < cn && cmd[j] == ' ')
            j++;
        if (j >= cn)
            break;
        ntok++;
        while (j < cn && cmd[j] != ' ')
            j++;
    }
    ntok--; /* the command word itself */

    if (mx_word_is(cmd, cn, "CAPABILITY")) {
        if (ntok)
            return tagged(st, line, tn, "BAD CAPABILITY takes no arguments\r\n");
        mx_step_puts(st, "* CAPABILITY IMAP4rev1");
        if (mx_imap_offers_starttls(s))
            mx_step_puts(st, " STARTTLS");
        if (mx_imap_login_disabled(s))
            mx_step_puts(st, " LOGINDISABLED");
        mx_step_puts(st, "\r\n");
        return tagged(st, line, tn, "OK CAPABILITY completed\r\n");
    }
    if (mx_word_is(cmd, cn, "NOOP"))
        return tagged(st, line, tn, "OK NOOP completed\r\n");
    if (mx_word_is(cmd, cn, "LOGOUT")) {
        mx_step_puts(st, "* BYE mxfuzz logging out\r\n");
        tagged(st, line, tn, "OK LOGOUT completed\r\n");
        return close_with(s, st, NULL);
    }
    if (mx_word_is(cmd, cn, "STARTTLS")) {
        if (ntok)
            return tagged(st, line, tn, "BAD STARTTLS takes no arguments\r\n");
        if (s->authenticated)
            return tagged(st, line, tn, "BAD STARTTLS only before authentication\r\n");
        if (s->tls)
            return tagged(st, line, tn, "BAD TLS already active\r\n");
        if (!mx_imap_offers_starttls(s))
            return tagged(st, line, tn, "BAD STARTTLS not available\r\n");
        tagged(st, line, tn, "OK Begin TLS negotiation now\r\n");
        st->discarded = mx_chain_discard(c);
        s->starttls_discarded += st->discarded;
        mx_liner_reset(&s->liner);
        s->phase = MX_IMAP_WAIT_TLS;
        st->act = MX_ACT_STARTTLS;
        return st->act;
    }
    if (mx_word_is(cmd, cn, "LOGIN")) {
        if (s->authenticated)
            return tagged(st, line, tn, "BAD Already authenticated\r\n");
        if (mx_imap_login_disabled(s))
            return tagged(st, line, tn, "NO [PRIVACYREQUIRED] LOGIN disabled until TLS is active\r\n");
        if (ntok < 2)
            return tagged(st, line, tn, "BAD LOGIN needs a user name and a password\r\n");
        s->authenticated = 1;
        return tagged(st, line, tn, "OK LOGIN completed\r\n");
    }
    return tagged(st, line, tn, "BAD Command unknown or not available in this state\r\n");
}

int mx_imap_starttls_step(struct mx_imap_starttls *s, struct mx_chain *c, struct mx_step *st)
{
    size_t n, used;
    int r;
    mx_step_clear(st);
    switch (s->phase) {
    case MX_IMAP_CLOSED:
        st->act = MX_ACT_CLOSE;
        return st->act;
    case MX_IMAP_WAIT_TLS:
    case MX_IMAP_HANDSHAKE:
        return MX_ACT_NEED_INPUT;
    case MX_IMAP_PRE_TLS:
        r = mx_step_implicit_gate(c, st, "* BYE This port expects TLS from the first byte (implicit TLS)\r\n");
        if (r == MX_ACT_HANDSHAKE)
            s->phase = MX_IMAP_HANDSHAKE;
        else if (r == MX_ACT_CLOSE)
            s->phase = MX_IMAP_CLOSED;
        return r;
    case MX_IMAP_GREET:
        s->phase = MX_IMAP_CMD;
        return mx_step_reply(st, "* OK mxfuzz IMAP4rev1 ready\r\n");
    case MX_IMAP_CMD:
        break;
    }
    if (!s->tls && !s->liner.skipping && mx_sniff_tls(c) == MX_SNIFF_TLS) {
        mx_step_puts(st, "* BYE TLS handshake received on a plaintext port: use STARTTLS, or "
                         "the implicit-TLS port\r\n");
        return close_with(s, st, "TLS ClientHello on a plaintext/STARTTLS listener (client "
                                 "expected implicit TLS)");
    }
    r = mx_liner_next(&s->liner, c, &n, &used);
    st->line_n = used;
    if (r == MX_LINE_NEED)
        return MX_ACT_NEED_INPUT;
    if (r == MX_LINE_TOOLONG) {
        s->commands++;
        mx_step_puts(st, "* BAD Line too long\r\n");
        st->act = MX_ACT_REPLY;
        return st->act;
    }
    return command(s, c, st, s->liner.buf, n);
}
