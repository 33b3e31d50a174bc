/* pop3.c - the POP3 server state machine with STLS (see include/mx/pop3.h). */
#include "mx/pop3.h"

#include <string.h>

#include "mx/listen.h"

int mx_pop3_init(struct mx_pop3 *s, const struct mx_conn_cfg *cfg, uint8_t *linebuf,
                 size_t max_line)
{
    memset(s, 0, sizeof *s);
    if (!linebuf || max_line < MX_LINE_MIN)
        return -1;
    s->cfg = *cfg;
    mx_liner_init(&s->liner, linebuf, max_line);
    s->phase = cfg->mode == MX_LISTEN_IMPLICIT ? MX_POP3_PRE_TLS : MX_POP3_GREET;
    return 0;
}

int mx_pop3_offers_stls(const struct mx_pop3 *s)
{
    return s->cfg.mode == MX_LISTEN_STARTTLS && s->cfg.cert && !s->tls && !s->transaction;
}

void mx_pop3_tls_started(struct mx_pop3 *s, struct mx_chain *c)
{
    /* bytes still queued were read before TLS came up: never commands over TLS */
    if (s->phase == MX_POP3_WAIT_TLS || s->phase == MX_POP3_PRE_TLS || s->phase == MX_POP3_HANDSHAKE)
        mx_chain_discard(c);
    if (s->phase == MX_POP3_WAIT_TLS) {
        s->tls = 1;
        s->user = 0;
        s->transaction = 0;
        mx_liner_reset(&s->liner);
        s->phase = MX_POP3_CMD;
    } else if (s->phase == MX_POP3_PRE_TLS || s->phase == MX_POP3_HANDSHAKE) {
        s->tls = 1;
        mx_liner_reset(&s->liner);
        s->phase = MX_POP3_GREET;
    }
}


static int close_with(struct mx_pop3 *s, struct mx_step *st, const char *text, const char *diag)
{
    s->phase = MX_POP3_CLOSED;
    return mx_step_close(st, text, diag);
}

static size_t arg_len(const uint8_t *line, size_t n, size_t verb)
{
    size_t i = verb;
    while (i < n && line[i] == ' ')
        i++;
    return n - i;
}

static int command(struct mx_pop3 *s, struct mx_chain *c, struct mx_step *st,
                   const uint8_t *line, size_t n)
{
    int policy = s->cfg.tls_required && !s->tls;
    s->commands++;
    if (mx_word_is(line, n, "CAPA")) {
        mx_step_puts(st, "+OK Capability list follows\r\n");
        if (!s->transaction)
            mx_step_puts(st, "USER\r\n");
        mx_step_puts(st, "PIPELINING\r\n");
        if (mx_pop3_offers_stls(s))
            mx_step_puts(st, "STLS\r\n");
        return mx_step_reply(st, ".\r\n");
    }
    if (mx_word_is(line, n, "STLS")) {
        if (arg_len(line, n, 4))
            return mx_step_reply(st, "-ERR STLS takes no arguments\r\n");
        if (s->transaction)
            return mx_step_reply(st, "-ERR STLS only in AUTHORIZATION state\r\n");
        if (s->tls)
            return mx_step_reply(st, "-ERR TLS already active\r\n");
        if (!mx_pop3_offers_stls(s))
            return mx_step_reply(st, "-ERR STLS not available\r\n");
        mx_step_puts(st, "+OK Begin TLS negotiation\r\n");
        st->discarded = mx_chain_discard(c);
        s->starttls_discarded += st->discarded;
        mx_liner_reset(&s->liner);
        s->phase = MX_POP3_WAIT_TLS;
        st->act = MX_ACT_STARTTLS;
        return st->act;
    }
    if (mx_word_is(line, n, "QUIT"))
        return close_with(s, st, "+OK mxfuzz POP3 signing off\r\n", NULL);
    if (mx_word_is(line, n, "USER")) {
        if (s->transaction)
            return mx_step_reply(st, "-ERR already authenticated\r\n");
        if (policy)
            return mx_step_reply(st, "-ERR [AUTH] TLS required: use STLS first\r\n");
        if (!arg_len(line, n, 4))
            return mx_step_reply(st, "-ERR USER needs a name\r\n");
        s->user = 1;
        return mx_step_reply(st, "+OK send PASS\r\n");
    }
    if (mx_word_is(line, n, "PASS")) {
        int had_user = s->user;
        s->user = 0;
        if (s->transaction)
            return mx_step_reply(st, "-ERR already authenticated\r\n");
        if (policy)
            return mx_step_reply(st, "-ERR [AUTH] TLS required: use STLS first\r\n");
        if (!had_user)
            return mx_step_reply(st, "-ERR send USER first\r\n");
        if (!arg_len(line, n, 4))
            return mx_step_reply(st, "-ERR PASS needs a password\r\n");
        s->transaction = 1;
        return mx_step_reply(st, "+OK maildrop ready\r\n");
    }
    if (s->transaction) {
        if (mx_word_is(line, n, "STAT"))
            return mx_step_reply(st, "+OK 0 0\r\n");
        if (mx_word_is(line, n, "NOOP"))
            return mx_step_reply(st, "+OK\r\n");
        if (mx_word_is(line, n, "RSET"))
            return mx_step_reply(st, "+OK\r\n");
    }
    return mx_step_reply(st, "-ERR unknown command or not allowed in this state\r\n");
}

int mx_pop3_step(struct mx_pop3 *s, struct mx_chain *c, struct mx_step *st)
{
    size_t n, used;
    int r;
    mx_step_clear(st);
    switch (s->phase) {
    case MX_POP3_CLOSED:
        st->act = MX_ACT_CLOSE;
        return st->act;
    case MX_POP3_WAIT_TLS:
    case MX_POP3_HANDSHAKE:
        return MX_ACT_NEED_INPUT;
    case MX_POP3_PRE_TLS:
        r = mx_step_implicit_gate(c, st, "-ERR This port expects TLS from the first byte (implicit TLS)\r\n");
        if (r == MX_ACT_HANDSHAKE)
            s->phase = MX_POP3_HANDSHAKE;
        else if (r == MX_ACT_CLOSE)
            s->phase = MX_POP3_CLOSED;
        return r;
    case MX_POP3_GREET:
        s->phase = MX_POP3_CMD;
        return mx_step_reply(st, s->tls ? "+OK mxfuzz POP3 ready (TLS)\r\n" : "+OK mxfuzz POP3 ready\r\n");
    case MX_POP3_CMD:
        break;
    }
    if (!s->tls && !s->liner.skipping && mx_sniff_tls(c) == MX_SNIFF_TLS)
        return close_with(s, st, "-ERR TLS handshake received on a plaintext port: use STLS, "
                                 "or the implicit-TLS port\r\n",
                          "TLS ClientHello on a plaintext/STARTTLS listener (client expected "
                          "implicit TLS)");
    r = mx_liner_next(&s->liner, c, &n, &used);
    st->line_n = used;
    if (r == MX_LINE_NEED)
        return MX_ACT_NEED_INPUT;
    if (r == MX_LINE_TOOLONG) {
        s->commands++;
        return mx_step_reply(st, "-ERR line too long\r\n");
    }
    return command(s, c, st, s->liner.buf, n);
}
