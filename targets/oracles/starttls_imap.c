/* starttls_imap.c - the IMAP model of the starttls target: the not-authenticated state of
 * RFC 3501 (CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN with SASL-IR),
 * LOGINDISABLED (RFC 2595 3.2), and the
 * shape of IMAP replies. */
#include <string.h>
#include <strings.h>

#include "fail.h"
#include "mx/protocol.h"
#include "starttls_model.h"

/* RFC 3501 6.2.1: STARTTLS only in the not-authenticated state. */
static int offers(const struct starttls_model *m) { return starttls_offerable(m) && !m->authd; }

/* RFC 7888 4 (LITERAL+ and LITERAL-), RFC 3501 7.5: a line that ends in a non-synchronizing
 * literal marker "{" number "+}" (number = 1*DIGIT, leading zeros allowed, RFC 3501 9) is
 * followed by its N octets, which the client sends without waiting for the server's answer:
 * if the server refuses the line -- whatever the reason: a bad tag, a literal before
 * authentication, a line longer than the server reads (RFC 7888 4 has the server read the
 * octets of a command it rejects) -- the octets are still data of that line, never commands
 * (command smuggling). The server swallows them, or closes the connection: both are accepted.
 * A number past 2^64-1 cannot be skipped: "* BYE" and close (RFC 3501 7.1.5).
 * l[0..n): the line without CR LF. e: the refusal; returns it with the rule applied. */
static struct starttls_expect refused_line(struct starttls_model *m, const uint8_t *l, size_t n,
                                           struct starttls_expect e)
{
    size_t d;
    unsigned long long v = 0;
    int big = 0;
    if (n < 4 || l[n - 1] != '}' || l[n - 2] != '+')
        return e;
    d = n - 2;
    while (d > 0 && l[d - 1] >= '0' && l[d - 1] <= '9')
        d--;
    if (d == n - 2 || d == 0 || l[d - 1] != '{')
        return e;
    for (size_t j = d; j < n - 2; j++) {
        unsigned dig = (unsigned)(l[j] - '0');
        if (v > (~0ULL - dig) / 10)
            big = 1;
        else
            v = v * 10 + dig;
    }
    if (big) {
        e = starttls_reply(I_BYE_CLOSE);
        e.act = MX_ACT_CLOSE;
        e.rule = "RFC 7888 4: a non-synchronizing literal too big to skip: BYE, close";
        m->phase = M_CLOSED;
        return e;
    }
    m->swallow = v;
    e.may_close = 1;
    e.rule = "RFC 7888 4 / RFC 3501 7.5: a refused command's {N+} octets are swallowed, never commands";
    return e;
}

/* a line over the server's limit: untagged BAD (RFC 3501 7.1.3), and refused_line's rule */
static struct starttls_expect too_long_line(struct starttls_model *m, const uint8_t *l, size_t n)
{
    return refused_line(m, l, n, starttls_reply(I_STAR_BAD));
}

static struct starttls_expect command(struct starttls_model *m, const uint8_t *l, size_t n)
{
    size_t tn = 0, i;
    struct starttls_expect e;
    char verb[16];
    while (tn < n && l[tn] != ' ')
        tn++;
    /* RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">, here also without "]" and at most
     * MX_IMAP_TAG_MAX bytes; RFC 3501 7.1.3: no usable tag, an untagged BAD */
    int tag_valid = tn >= 1 && tn <= MX_IMAP_TAG_MAX;
    for (i = 0; i < tn && tag_valid; i++) {
        uint8_t c = l[i];
        if (c <= ' ' || c == 0x7f || c >= 0x80 || c == '*' || c == '+' || c == '(' || c == ')' ||
            c == '{' || c == '%' || c == '"' || c == '\\' || c == ']')
            tag_valid = 0;
    }
    if (!tag_valid)
        return refused_line(m, l, n, starttls_reply(I_STAR_BAD));
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
    e = starttls_reply(I_BAD);
    memcpy(e.tag, l, tn);
    e.tag[tn] = 0;
    if (cn == 0)
        return e;
    /* a literal before authentication: refused with BAD, its octets never awaited (no "+"
     * for a synchronizing {N}: RFC 3501 7.5, the client sends nothing); a {N+}: refused_line */
    if (l[n - 1] == '}' && memchr(cmd, '{', cn))
        return refused_line(m, l, n, e);
    starttls_upper_word(cmd, w, verb, sizeof verb);
    /* RFC 3501 6.2.3 and RFC 2595 3.2: LOGIN is disabled (and LOGINDISABLED listed) while
     * TLS is off and either offered or required */
    int login_disabled = !m->tls && (offers(m) || m->tls_required);
    if (!strcmp(verb, "CAPABILITY")) { /* RFC 3501 6.1.1: no arguments */
        if (ntok > 1)
            return e;
        e.code = I_OK;
        e.offers = offers(m);
        e.logindis = login_disabled;
        return e;
    }
    if (!strcmp(verb, "NOOP")) { /* RFC 3501 6.1.2 */
        e.code = I_OK;
        return e;
    }
    if (!strcmp(verb, "LOGOUT")) { /* RFC 3501 6.1.3: untagged BYE, tagged OK, close */
        e.code = I_LOGOUT;
        e.act = MX_ACT_CLOSE;
        m->phase = M_CLOSED;
        return e;
    }
    if (!strcmp(verb, "STARTTLS")) { /* RFC 3501 6.2.1: no arguments; BAD when not offered */
        if (ntok > 1 || m->authd || m->tls || !offers(m))
            return e;
        e.code = I_OK;
        e.act = MX_ACT_STARTTLS;
        return e;
    }
    if (!strcmp(verb, "LOGIN")) { /* RFC 3501 6.2.3: LOGIN userid password */
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
    if (!strcmp(verb, "AUTHENTICATE")) {
        /* RFC 3501 6.2.2: AUTHENTICATE mechanism; BAD for invalid arguments, NO for an
         * unsupported mechanism; without an initial response the server's continuation "+ "
         * (PLAIN's challenge is empty) and the next line is the response (sasl_response in
         * starttls_model.c). RFC 4959: the initial response on the command line (SASL-IR);
         * more arguments are BAD. RFC 2595 3.2: refused like LOGIN while LOGINDISABLED holds.
         * The target checks no credentials: PLAIN with a response authenticates. */
        if (m->authd)
            return e;
        if (login_disabled) {
            e.code = I_NO;
            return e;
        }
        if (ntok < 2)
            return e;
        size_t a = w;
        while (a < cn && cmd[a] == ' ')
            a++;
        size_t an = 0;
        while (a + an < cn && cmd[a + an] != ' ')
            an++;
        if (an != 5 || strncasecmp((const char *)cmd + a, "PLAIN", 5)) {
            e.code = I_NO;
            return e;
        }
        if (ntok == 2) {
            memcpy(m->sasl_tag, e.tag, sizeof m->sasl_tag); /* the tag of this command */
            e = starttls_reply(I_CONT);
            m->sasl = S_PLAIN;
            e.rule = "RFC 3501 6.2.2: AUTHENTICATE without an initial response: '+ ' continuation";
            return e;
        }
        if (ntok != 3)
            return e;
        m->authd = 1;
        e.code = I_OK;
        return e;
    }
    return e;
}

/* RFC 3501 2.2.2 and 7.1: untagged lines start "* ", the last line is the tagged status
 * (greeting, untagged BAD and BYE are one untagged line); 6.1.3: LOGOUT sends "* BYE" first;
 * 6.1.1: CAPABILITY sends "* CAPABILITY" with space-delimited tokens. */
static void check_reply(const struct starttls_model *m, const uint8_t *p, size_t n,
                        const char *shown, const struct starttls_expect *e)
{
    const uint8_t *last = p;
    (void)m;
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\n')
            last = p + i + 1;
    size_t lastn = (size_t)(p + n - last);
    switch (e->code) {
    case I_GREET: /* RFC 3501 7.1.1 */
        if (n < 5 || memcmp(p, "* OK ", 5) || last != p)
            fz_fail("starttls", "IMAP greeting expected, got '%s'", shown);
        return;
    case I_STAR_BAD: /* RFC 3501 7.1.3 */
        if (n < 6 || memcmp(p, "* BAD ", 6) || last != p)
            fz_fail("starttls", "IMAP '* BAD' expected, got '%s'", shown);
        return;
    case I_CONT: /* RFC 3501 7.5: continue-req = "+" SP (resp-text / base64) CRLF, one line */
        if (n < 4 || p[0] != '+' || p[1] != ' ' || last != p)
            fz_fail("starttls", "IMAP '+ ' continuation expected, got '%s'", shown);
        return;
    case I_BYE_CLOSE: /* RFC 3501 7.1.5 */
        if (n < 6 || memcmp(p, "* BYE ", 6) || last != p)
            fz_fail("starttls", "IMAP '* BYE' expected, got '%s'", shown);
        return;
    default:
        break;
    }
    size_t tl = strlen(e->tag);
    const char *want = e->code == I_OK || e->code == I_LOGOUT ? "OK " : e->code == I_NO ? "NO " : "BAD ";
    if (lastn < tl + 1 + strlen(want) || memcmp(last, e->tag, tl) || last[tl] != ' ' ||
        memcmp(last + tl + 1, want, strlen(want)))
        fz_fail("starttls", "IMAP: expected '%s %s...' as the last line, got '%s' [rule: %s]",
                e->tag, want, shown, e->rule ? e->rule : "-");
    for (const uint8_t *q = p; q < last;) {
        if (q[0] != '*' || q[1] != ' ')
            fz_fail("starttls", "IMAP: untagged line expected before the tagged one: '%s'", shown);
        q = memchr(q, '\n', (size_t)(last - q));
        q++;
    }
    if (e->code == I_LOGOUT && (last == p || memcmp(p, "* BYE ", 6)))
        fz_fail("starttls", "IMAP LOGOUT without '* BYE': '%s'", shown);
    if (e->offers >= 0) {
        size_t cl = (size_t)(last - p);
        char caps[MX_REPLY_MAX + 2];
        if (cl < 14 || memcmp(p, "* CAPABILITY ", 13))
            fz_fail("starttls", "IMAP CAPABILITY without '* CAPABILITY': '%s'", shown);
        /* tokens of the capability line, space-delimited */
        memcpy(caps, p + 12, cl - 14);
        caps[cl - 14] = ' ';
        caps[cl - 13] = 0;
        int st_ = strstr(caps, " STARTTLS ") != NULL, ld = strstr(caps, " LOGINDISABLED ") != NULL;
        if (st_ != e->offers || ld != e->logindis)
            fz_fail("starttls", "CAPABILITY STARTTLS %d LOGINDISABLED %d; model %d %d", st_, ld,
                    e->offers, e->logindis);
    }
}

/* greeting "* OK" (RFC 3501 7.1.1), "* BAD" for a line too long, "* BYE" before a close */
const struct starttls_proto starttls_imap = {"imap", I_GREET, I_STAR_BAD, I_BYE_CLOSE, command,
                                             NULL, check_reply, too_long_line};
