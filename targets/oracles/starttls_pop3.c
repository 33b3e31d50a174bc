/* starttls_pop3.c - the POP3 model of the starttls target: the AUTHORIZATION and TRANSACTION
 * states (RFC 1939), CAPA (RFC 2449), STLS (RFC 2595), and the shape of POP3 replies. */
#include <string.h>
#include <strings.h>

#include "fail.h"
#include "starttls_model.h"

/* RFC 2595 4: STLS only in the AUTHORIZATION state; RFC 2449 5: CAPA lists what the current
 * state allows. */
static int offers(const struct starttls_model *m) { return starttls_offerable(m) && !m->trans; }

static struct starttls_expect command(struct starttls_model *m, const uint8_t *l, size_t n)
{
    char verb[16];
    size_t a = starttls_verb(l, n, verb, sizeof verb);
    int has_arg = a < n;
    /* the TLS-required policy (RFC 2595 2.3: a server may refuse clear-text passwords) */
    int policy = m->tls_required && !m->tls;
    if (!strcmp(verb, "CAPA")) { /* RFC 2449 5: +OK and a dot-terminated list */
        struct starttls_expect e = starttls_reply(1);
        e.offers = offers(m);
        return e;
    }
    if (!strcmp(verb, "STLS")) {
        /* RFC 2595 4: no arguments, AUTHORIZATION state only, not once TLS is on */
        if (has_arg || m->trans || m->tls || !offers(m))
            return starttls_reply(0);
        struct starttls_expect e = starttls_reply(1);
        e.act = MX_ACT_STARTTLS;
        return e;
    }
    if (!strcmp(verb, "QUIT")) { /* RFC 1939 6: +OK, then close */
        struct starttls_expect e = starttls_reply(1);
        e.act = MX_ACT_CLOSE;
        m->phase = M_CLOSED;
        return e;
    }
    if (!strcmp(verb, "USER")) { /* RFC 1939 7: AUTHORIZATION state, a name */
        if (m->trans || policy || !has_arg)
            return starttls_reply(0);
        m->user = 1;
        return starttls_reply(1);
    }
    if (!strcmp(verb, "PASS")) {
        /* RFC 1939 7: only right after a successful USER; either way USER must come again */
        int had = m->user;
        m->user = 0;
        if (m->trans || policy || !had || !has_arg)
            return starttls_reply(0);
        m->trans = 1;
        return starttls_reply(1);
    }
    if (!strcmp(verb, "AUTH")) {
        /* RFC 5034 4: AUTH mechanism [initial-response], AUTHORIZATION state only; this server
         * has PLAIN (RFC 4616); without the initial response the empty challenge "+ " and the
         * next line is the response (sasl_response); more arguments -ERR. Credentials leave
         * the client: the TLS-required policy applies (RFC 2595 2.3).
         * Like PASS, it uses up a USER before it (RFC 1939 7). */
        m->user = 0;
        if (m->trans || policy || !has_arg)
            return starttls_reply(0);
        size_t a0 = a, i = a;
        while (i < n && l[i] != ' ')
            i++;
        if (i - a0 != 5 || strncasecmp((const char *)l + a0, "PLAIN", 5))
            return starttls_reply(0);
        while (i < n && l[i] == ' ')
            i++;
        size_t r = i;
        while (r < n && l[r] != ' ')
            r++;
        if (i == n) {
            m->sasl = S_PLAIN;
            m->sasl_tag[0] = 0;
            return starttls_reply(P_CONT);
        }
        if (r != n)
            return starttls_reply(0);
        m->trans = 1;
        return starttls_reply(1);
    }
    /* RFC 1939 5: STAT, NOOP, RSET in the TRANSACTION state */
    if (m->trans && (!strcmp(verb, "STAT") || !strcmp(verb, "NOOP") || !strcmp(verb, "RSET")))
        return starttls_reply(1);
    return starttls_reply(0);
}

/* RFC 1939 3: a reply starts with +OK or -ERR; RFC 2449 5: the CAPA list ends with a line
 * holding one dot; RFC 2595 4: STLS listed as a capability line. */
static void check_reply(const struct starttls_model *m, const uint8_t *p, size_t n,
                        const char *shown, const struct starttls_expect *e)
{
    int ok = n >= 3 && !memcmp(p, "+OK", 3);
    int err = n >= 4 && !memcmp(p, "-ERR", 4);
    (void)m;
    /* RFC 5034 4: a continuation is "+" SP [base64] CRLF, one line */
    int cont = n >= 4 && p[0] == '+' && p[1] == ' ' && memchr(p, '\n', n) == p + n - 1;
    if ((e->code == P_CONT) != cont)
        fz_fail("starttls", "POP3 %s, model expects %s (reply '%s') [rule: %s]",
                cont ? "continuation" : "reply", e->code == P_CONT ? "a '+ ' continuation" : "+OK/-ERR",
                shown, e->rule ? e->rule : "-");
    if (cont)
        return;
    if (!ok && !err)
        fz_fail("starttls", "POP3 reply without +OK/-ERR: '%s'", shown);
    if (ok != e->code)
        fz_fail("starttls", "POP3 %s, model expects %s (reply '%s') [rule: %s]", ok ? "+OK" : "-ERR",
                e->code ? "+OK" : "-ERR", shown, e->rule ? e->rule : "-");
    if (e->offers >= 0) {
        int stls = 0;
        if (n < 5 || memcmp(p + n - 5, "\r\n.\r\n", 5))
            fz_fail("starttls", "CAPA list not terminated by a dot line");
        for (size_t i = 0; i + 7 <= n; i++)
            if (!memcmp(p + i, "\nSTLS\r\n", 7))
                stls = 1;
        if (stls != e->offers)
            fz_fail("starttls", "CAPA %s STLS; model: %s", stls ? "lists" : "does not list",
                    e->offers ? "listed" : "not listed");
    }
}

/* greeting +OK (RFC 1939 4), -ERR for a line too long and before a close */
const struct starttls_proto starttls_pop3 = {"pop3", 1, 0, 0, command, NULL, check_reply, NULL};
