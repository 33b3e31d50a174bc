/* smtp.c - the SMTP server state machine with STARTTLS (see include/mx/smtp.h). */
#include "mx/smtp.h"

#include <stdio.h>
#include <string.h>

#include "mx/listen.h"

static const char *host(const struct mx_smtp *s)
{
    return s->cfg.host ? s->cfg.host : "mxfuzz";
}

int mx_smtp_init(struct mx_smtp *s, const struct mx_conn_cfg *cfg, uint8_t *linebuf,
                 size_t max_line)
{
    memset(s, 0, sizeof *s);
    if (!linebuf || max_line < MX_LINE_MIN)
        return -1;
    s->cfg = *cfg;
    mx_liner_init(&s->liner, linebuf, max_line);
    s->phase = cfg->mode == MX_LISTEN_IMPLICIT ? MX_SMTP_PRE_TLS : MX_SMTP_GREET;
    return 0;
}

int mx_smtp_offers_starttls(const struct mx_smtp *s)
{
    return s->cfg.mode == MX_LISTEN_STARTTLS && s->cfg.cert && !s->tls && !s->tls_broken;
}

void mx_smtp_tls_unavailable(struct mx_smtp *s)
{
    s->tls_broken = 1;
}

static void reset_transaction(struct mx_smtp *s)
{
    s->mail = 0;
    s->nrcpt = 0;
}

void mx_smtp_tls_started(struct mx_smtp *s, struct mx_chain *c)
{
    /* bytes still queued were read before TLS came up: never commands over TLS */
    if (s->phase == MX_SMTP_WAIT_TLS || s->phase == MX_SMTP_PRE_TLS || s->phase == MX_SMTP_HANDSHAKE)
        mx_chain_discard(c);
    if (s->phase == MX_SMTP_WAIT_TLS) {
        /* RFC 3207 4.2: discard all knowledge obtained from the client */
        s->tls = 1;
        s->helo = 0;
        s->auth = 0;
        reset_transaction(s);
        mx_liner_reset(&s->liner);
        s->phase = MX_SMTP_CMD;
    } else if (s->phase == MX_SMTP_PRE_TLS || s->phase == MX_SMTP_HANDSHAKE) {
        s->tls = 1;
        mx_liner_reset(&s->liner);
        s->phase = MX_SMTP_GREET;
    }
}


static int close_with(struct mx_smtp *s, struct mx_step *st, const char *text, const char *diag)
{
    s->phase = MX_SMTP_CLOSED;
    return mx_step_close(st, text, diag);
}

/* Argument after the verb (skipping one or more spaces); sets *an. */
static const uint8_t *arg_of(const uint8_t *line, size_t n, size_t verb, size_t *an)
{
    size_t i = verb;
    while (i < n && line[i] == ' ')
        i++;
    *an = n - i;
    return line + i;
}

static int prefix_ci(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        uint8_t c = p[i];
        if (c >= 'a' && c <= 'z')
            c = (uint8_t)(c - 32);
        if (c != (uint8_t)w[i])
            return 0;
    }
    return 1;
}

static int ehlo_reply(struct mx_smtp *s, struct mx_step *st, const uint8_t *arg, size_t an)
{
    char line[160], name[65];
    size_t k = an > 64 ? 64 : an;
    /* the client's name is echoed: only printable ASCII, so that a CR, LF or NUL in it can
     * never split or end the reply */
    for (size_t i = 0; i < k; i++)
        name[i] = arg[i] >= 0x20 && arg[i] < 0x7f ? (char)arg[i] : '?';
    name[k] = 0;
    snprintf(line, sizeof line, "250-%s greets %s\r\n", host(s), name);
    mx_step_puts(st, line);
    mx_step_puts(st, "250-PIPELINING\r\n");
    snprintf(line, sizeof line, "250-SIZE %zu\r\n", s->cfg.max_message);
    mx_step_puts(st, line);
    mx_step_puts(st, "250-8BITMIME\r\n");
    if (mx_smtp_offers_starttls(s))
        mx_step_puts(st, "250-STARTTLS\r\n");
    mx_step_puts(st, "250-AUTH PLAIN\r\n");
    return mx_step_reply(st, "250 ENHANCEDSTATUSCODES\r\n");
}

static int command(struct mx_smtp *s, struct mx_chain *c, struct mx_step *st,
                   const uint8_t *line, size_t n)
{
    size_t an;
    const uint8_t *arg;
    int exempt = mx_word_is(line, n, "EHLO") || mx_word_is(line, n, "NOOP") ||
                 mx_word_is(line, n, "STARTTLS") || mx_word_is(line, n, "QUIT");

    s->commands++;
    if (s->cfg.tls_required && !s->tls && !exempt)
        return mx_step_reply(st, "530 5.7.0 Must issue a STARTTLS command first\r\n");

    if (mx_word_is(line, n, "EHLO") || mx_word_is(line, n, "HELO")) {
        int ehlo = mx_word_is(line, n, "EHLO");
        arg = arg_of(line, n, 4, &an);
        if (an == 0)
            return mx_step_reply(st, ehlo ? "501 5.5.4 Syntax: EHLO hostname\r\n"
                                  : "501 5.5.4 Syntax: HELO hostname\r\n");
        reset_transaction(s);
        s->helo = ehlo ? 2 : 1;
        if (ehlo)
            return ehlo_reply(s, st, arg, an);
        {
            char l[96];
            snprintf(l, sizeof l, "250 %s\r\n", host(s));
            return mx_step_reply(st, l);
        }
    }
    if (mx_word_is(line, n, "STARTTLS")) {
        arg = arg_of(line, n, 8, &an);
        if (an != 0)
            return mx_step_reply(st, "501 5.5.4 Syntax: STARTTLS (no parameters)\r\n");
        if (s->tls)
            return mx_step_reply(st, "503 5.5.1 Error: TLS already active\r\n");
        if (s->tls_broken && s->cfg.mode == MX_LISTEN_STARTTLS && s->cfg.cert)
            return mx_step_reply(st, "454 4.7.0 TLS not available due to temporary reason\r\n");
        if (!mx_smtp_offers_starttls(s))
            return mx_step_reply(st, "502 5.5.1 Error: STARTTLS not available\r\n");
        mx_step_puts(st, "220 2.0.0 Ready to start TLS\r\n");
        /* CVE-2011-0411: nothing the client pipelined behind STARTTLS may run inside TLS */
        st->discarded = mx_chain_discard(c);
        s->starttls_discarded += st->discarded;
        mx_liner_reset(&s->liner);
        s->phase = MX_SMTP_WAIT_TLS;
        st->act = MX_ACT_STARTTLS;
        return st->act;
    }
    if (mx_word_is(line, n, "MAIL")) {
        arg = arg_of(line, n, 4, &an);
        if (!s->helo)
            return mx_step_reply(st, "503 5.5.1 Error: send HELO/EHLO first\r\n");
        if (s->mail)
            return mx_step_reply(st, "503 5.5.1 Error: nested MAIL command\r\n");
        if (!prefix_ci(arg, an, "FROM:"))
            return mx_step_reply(st, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
        s->mail = 1;
        return mx_step_reply(st, "250 2.1.0 Ok\r\n");
    }
    if (mx_word_is(line, n, "RCPT")) {
        arg = arg_of(line, n, 4, &an);
        if (!s->mail)
            return mx_step_reply(st, "503 5.5.1 Error: need MAIL command\r\n");
        if (!prefix_ci(arg, an, "TO:"))
            return mx_step_reply(st, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
        if (s->nrcpt >= MX_SMTP_MAX_RCPT)
            return mx_step_reply(st, "452 4.5.3 Error: too many recipients\r\n");
        s->nrcpt++;
        return mx_step_reply(st, "250 2.1.5 Ok\r\n");
    }
    if (mx_word_is(line, n, "DATA")) {
        arg_of(line, n, 4, &an);
        if (an != 0)
            return mx_step_reply(st, "501 5.5.4 Syntax: DATA (no parameters)\r\n");
        if (!s->mail)
            return mx_step_reply(st, "503 5.5.1 Error: need MAIL command\r\n");
        if (!s->nrcpt)
            return mx_step_reply(st, "503 5.5.1 Error: need RCPT command\r\n");
        s->phase = MX_SMTP_DATA;
        s->midline = 0;
        s->dscan = 0;
        s->msg_size = 0;
        s->msg_over = 0;
        return mx_step_reply(st, "354 End data with <CR><LF>.<CR><LF>\r\n");
    }
    if (mx_word_is(line, n, "RSET")) {
        arg_of(line, n, 4, &an);
        if (an != 0)
            return mx_step_reply(st, "501 5.5.4 Syntax: RSET\r\n");
        reset_transaction(s);
        return mx_step_reply(st, "250 2.0.0 Ok\r\n");
    }
    if (mx_word_is(line, n, "NOOP"))
        return mx_step_reply(st, "250 2.0.0 Ok\r\n");
    if (mx_word_is(line, n, "QUIT"))
        return close_with(s, st, "221 2.0.0 Bye\r\n", NULL);
    if (mx_word_is(line, n, "AUTH")) {
        arg = arg_of(line, n, 4, &an);
        if (s->helo != 2)
            return mx_step_reply(st, "503 5.5.1 Error: send EHLO first\r\n");
        if (s->auth)
            return mx_step_reply(st, "503 5.5.1 Error: already authenticated\r\n");
        if (s->mail)
            return mx_step_reply(st, "503 5.5.1 Error: MAIL transaction in progress\r\n");
        if (!mx_word_is(arg, an, "PLAIN"))
            return mx_step_reply(st, "504 5.5.4 Unrecognized authentication type\r\n");
        arg_of(arg, an, 5, &an);
        if (an == 0)
            return mx_step_reply(st, "501 5.5.4 Syntax: AUTH PLAIN initial-response\r\n");
        s->auth = 1;
        return mx_step_reply(st, "235 2.7.0 Authentication successful\r\n");
    }
    return mx_step_reply(st, "500 5.5.2 Error: command not recognized\r\n");
}

/* One piece of the message, or the end of it. Returns an action, or NEED_INPUT. */
static int data_step(struct mx_smtp *s, struct mx_chain *c, struct mx_step *st)
{
    uint8_t *buf = s->liner.buf;
    size_t cap = s->liner.cap;
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
                s->phase = MX_SMTP_CMD;
                reset_transaction(s);
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
        if (s->msg_over || n > s->cfg.max_message - s->msg_size) {
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

int mx_smtp_step(struct mx_smtp *s, struct mx_chain *c, struct mx_step *st)
{
    mx_step_clear(st);
    for (;;) {
        switch (s->phase) {
        case MX_SMTP_CLOSED:
            st->act = MX_ACT_CLOSE;
            return st->act;
        case MX_SMTP_WAIT_TLS:
        case MX_SMTP_HANDSHAKE:
            return MX_ACT_NEED_INPUT;
        case MX_SMTP_PRE_TLS:
            switch (mx_step_implicit_gate(c, st, "421 4.7.0 This port expects TLS from the first "
                                                 "byte (implicit TLS); plaintext refused\r\n")) {
            case MX_ACT_HANDSHAKE:
                s->phase = MX_SMTP_HANDSHAKE;
                return st->act;
            case MX_ACT_CLOSE:
                s->phase = MX_SMTP_CLOSED;
                return st->act;
            default:
                return MX_ACT_NEED_INPUT;
            }
        case MX_SMTP_GREET: {
            char l[128];
            snprintf(l, sizeof l, "220 %s ESMTP mxfuzz\r\n", host(s));
            s->phase = MX_SMTP_CMD;
            return mx_step_reply(st, l);
        }
        case MX_SMTP_DATA:
            return data_step(s, c, st);
        case MX_SMTP_CMD: {
            size_t n, used;
            int r;
            if (!s->tls && !s->liner.skipping && mx_sniff_tls(c) == MX_SNIFF_TLS)
                return close_with(s, st, "421 4.7.0 TLS handshake received on a plaintext port: "
                                         "use STARTTLS, or the implicit-TLS port\r\n",
                                  "TLS ClientHello on a plaintext/STARTTLS listener (client "
                                  "expected implicit TLS)");
            r = mx_liner_next(&s->liner, c, &n, &used);
            st->line_n = used;
            if (r == MX_LINE_NEED)
                return MX_ACT_NEED_INPUT;
            if (r == MX_LINE_TOOLONG) {
                s->commands++;
                return mx_step_reply(st, "500 5.5.2 Error: line too long\r\n");
            }
            return command(s, c, st, s->liner.buf, n);
        }
        }
    }
}
