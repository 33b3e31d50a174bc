/* starttls_smtp.c - the SMTP model of the starttls target: commands (RFC 5321), STARTTLS
 * (RFC 3207), AUTH PLAIN (RFC 4954, RFC 4616), and the shape of SMTP replies. */
#include <string.h>
#include <strings.h>

#include "fail.h"
#include "mx/listen.h"
#include "mx/machine.h"
#include "starttls_model.h"

/* RFC 3207 4: STARTTLS is listed in the EHLO reply (and accepted) only when it can be
 * offered; Q237327 listed it without a certificate. */
static int offers(const struct starttls_model *m) { return starttls_offerable(m); }

static struct starttls_expect command(struct starttls_model *m, const uint8_t *l, size_t n)
{
    char verb[16];
    size_t a = starttls_verb(l, n, verb, sizeof verb);
    size_t an = n - a;
    const uint8_t *arg = l + a;
    /* RFC 3207 4: a server that requires TLS answers 530 to anything but EHLO, NOOP,
     * STARTTLS and QUIT until TLS is up */
    int exempt = !strcmp(verb, "EHLO") || !strcmp(verb, "NOOP") || !strcmp(verb, "STARTTLS") ||
                 !strcmp(verb, "QUIT");
    if (m->tls_required && !m->tls && !exempt)
        return starttls_reply(530);
    if (!strcmp(verb, "EHLO") || !strcmp(verb, "HELO")) {
        /* RFC 5321 4.1.1.1: a domain is required; EHLO/HELO also clear the transaction */
        if (!an)
            return starttls_reply(501);
        m->mail = 0;
        m->nrcpt = 0;
        m->helo = verb[0] == 'E' ? 2 : 1;
        struct starttls_expect e = starttls_reply(250);
        if (verb[0] == 'E')
            e.offers = offers(m);
        return e;
    }
    if (!strcmp(verb, "STARTTLS")) {
        /* RFC 3207 4: 501 with parameters; once TLS is on it is no longer an extension
         * (4.2: 503 here); a STARTTLS listener whose certificate cannot be used: "454 TLS not
         * available due to temporary reason" (4); not offered: 502 (RFC 5321 4.2.4) */
        if (an)
            return starttls_reply(501);
        if (m->tls)
            return starttls_reply(503);
        if (m->mode == MX_LISTEN_STARTTLS && m->cert && m->tls_unavailable) {
            struct starttls_expect e = starttls_reply(454);
            e.rule = "RFC 3207 4: STARTTLS on a server that cannot start TLS now is 454";
            return e;
        }
        if (!offers(m))
            return starttls_reply(502);
        struct starttls_expect e = starttls_reply(220);
        e.act = MX_ACT_STARTTLS;
        return e;
    }
    if (!strcmp(verb, "MAIL")) {
        /* RFC 5321 4.1.4: MAIL after EHLO/HELO and not inside a transaction; 4.1.1.2 syntax */
        if (!m->helo || m->mail)
            return starttls_reply(503);
        if (an < 5 || strncasecmp((const char *)arg, "FROM:", 5))
            return starttls_reply(501);
        m->mail = 1;
        return starttls_reply(250);
    }
    if (!strcmp(verb, "RCPT")) {
        /* RFC 5321 4.1.1.3; 4.5.3.1.8: past the recipient limit, 452 */
        if (!m->mail)
            return starttls_reply(503);
        if (an < 3 || strncasecmp((const char *)arg, "TO:", 3))
            return starttls_reply(501);
        if (m->nrcpt >= MX_SMTP_MAX_RCPT)
            return starttls_reply(452);
        m->nrcpt++;
        return starttls_reply(250);
    }
    if (!strcmp(verb, "DATA")) {
        /* RFC 5321 4.1.1.4: needs a sender and at least one recipient; 354, then the message */
        if (an)
            return starttls_reply(501);
        if (!m->mail || !m->nrcpt)
            return starttls_reply(503);
        m->phase = M_DATA;
        m->msg.n = 0;
        m->msg_over = 0;
        return starttls_reply(354);
    }
    if (!strcmp(verb, "RSET")) {
        /* RFC 5321 4.1.1.5 */
        if (an)
            return starttls_reply(501);
        m->mail = 0;
        m->nrcpt = 0;
        return starttls_reply(250);
    }
    if (!strcmp(verb, "NOOP")) /* RFC 5321 4.1.1.9 */
        return starttls_reply(250);
    if (!strcmp(verb, "QUIT")) { /* RFC 5321 4.1.1.10: 221, then close */
        struct starttls_expect e = starttls_reply(221);
        e.act = MX_ACT_CLOSE;
        m->phase = M_CLOSED;
        return e;
    }
    if (!strcmp(verb, "AUTH")) {
        /* RFC 4954 4: after EHLO, once per session, not inside a transaction (503); an
         * unknown mechanism is 504; PLAIN (RFC 4616) without the initial response gets the
         * empty challenge "334 " and the next line is the response; LOGIN
         * (draft-murchison-sasl-login) the "Username:" challenge (334), or, with an initial
         * response, that response is the user name (starttls_sasl_response) */
        if (m->helo != 2 || m->auth || m->mail)
            return starttls_reply(503);
        size_t mp = 0;
        while (mp < an && arg[mp] != ' ')
            mp++;
        int login = mp == 5 && !strncasecmp((const char *)arg, "LOGIN", 5);
        if (!login && (mp != 5 || strncasecmp((const char *)arg, "PLAIN", 5)))
            return starttls_reply(504);
        while (mp < an && arg[mp] == ' ')
            mp++;
        if (login) {
            m->sasl = S_LOGIN_USER;
            m->sasl_tag[0] = 0;
            return mp == an ? starttls_reply(334) : starttls_sasl_response(m, arg + mp, an - mp, 0);
        }
        if (mp == an) {
            m->sasl = S_PLAIN;
            m->sasl_tag[0] = 0;
            return starttls_reply(334);
        }
        m->auth = 1;
        return starttls_reply(235);
    }
    return starttls_reply(500); /* RFC 5321 4.2.4: command unrecognized */
}

/* RFC 5321 4.1.1.4 and 4.5.2: a message line ends at CRLF, the message at a line that is
 * exactly "."; a leading dot is removed (transparency). Over max-message the message is still
 * read to its end, then refused with 552 (RFC 5321 4.5.3.1.10, RFC 1870). */
static int data_line(struct starttls_model *m, struct starttls_expect *out)
{
    uint8_t *p = m->buf.p;
    size_t i, n = m->buf.n;
    for (i = m->scan ? m->scan - 1 : 0; i + 1 < n && !(p[i] == '\r' && p[i + 1] == '\n'); i++)
        ;
    if (i + 1 >= n) {
        m->scan = n;
        return -1;
    }
    m->scan = 0;
    size_t ll = i + 2;
    if (ll == 3 && p[0] == '.') {
        struct starttls_expect e = starttls_reply(m->msg_over ? 552 : 250);
        e.data_end = 1;
        e.rule = "end of message only at CRLF.CRLF";
        e.msg_off = m->msglog.n;
        e.msg_len = m->msg.n;
        fz_buf_put(&m->msglog, m->msg.p, m->msg.n);
        *out = e;
        m->phase = M_CMD;
        m->mail = 0;
        m->nrcpt = 0;
        fz_buf_drop_front(&m->buf, ll);
        return 1;
    }
    {
        const uint8_t *q = p;
        size_t qn = ll;
        if (q[0] == '.')
            q++, qn--;
        if (!m->msg_over && m->msg.n + qn > m->max_message)
            m->msg_over = 1;
        if (!m->msg_over)
            fz_buf_put(&m->msg, q, qn);
    }
    fz_buf_drop_front(&m->buf, ll);
    return 0;
}

/* RFC 5321 4.2: every line "ddd-" except the last "ddd ", one code throughout; RFC 3207 4:
 * STARTTLS listed as a line of its own. */
static void check_reply(const struct starttls_model *m, const uint8_t *p, size_t n,
                        const char *shown, const struct starttls_expect *e)
{
    int code = -1, listed = 0;
    size_t i = 0;
    while (i < n) {
        const uint8_t *eol = memchr(p + i, '\n', n - i);
        size_t ln = (size_t)(eol - (p + i)) + 1;
        int c;
        if (ln < 6 || p[i] < '2' || p[i] > '5' || p[i + 1] < '0' || p[i + 1] > '9' ||
            p[i + 2] < '0' || p[i + 2] > '9')
            fz_fail("starttls", "malformed SMTP reply line in '%s'", shown);
        c = (p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + (p[i + 2] - '0');
        if (code >= 0 && c != code)
            fz_fail("starttls", "multi-line reply changes code %d -> %d", code, c);
        code = c;
        if ((p[i + 3] != '-' && p[i + 3] != ' ') || (i + ln < n) != (p[i + 3] == '-'))
            fz_fail("starttls", "multi-line reply continuation markers wrong in '%s'", shown);
        if (ln == 14 && !memcmp(p + i + 4, "STARTTLS\r\n", 10))
            listed = 1;
        i += ln;
    }
    if (code != e->code)
        fz_fail("starttls", "reply code %d, model expects %d (reply '%s') [rule: %s]", code,
                e->code, shown, e->rule ? e->rule : "-");
    if (e->offers >= 0 && listed != e->offers)
        fz_fail("starttls", "EHLO %s STARTTLS; model: %s (mode %d, cert %d, tls %d)",
                listed ? "lists" : "does not list", e->offers ? "listed" : "not listed", m->mode,
                m->cert, m->tls);
}

/* greeting 220 (RFC 5321 4.2), line too long 500 (4.5.3.1.4), refusal before a close 421 */
const struct starttls_proto starttls_smtp = {"smtp", 220, 500, 421, command, data_line, check_reply, NULL};
