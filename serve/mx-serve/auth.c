/* auth.c - what libmx's machines leave to mx-serve (mx_conn_cfg.check): the logins of the
 * three protocols checked against the user table (-u USER:PASS, repeatable), SMTP recipients
 * against the local domains and users, and the delay after a refused login.
 *
 * Credentials arrive as the client sent them: IMAP LOGIN's arguments are parsed by libmx's
 * command reader (proto_imap.c, imap_login_args), SASL PLAIN's initial response (RFC 4616:
 * authzid NUL authcid NUL passwd, base64) is decoded here with BoringSSL, POP3's USER (and
 * SMTP AUTH LOGIN's base64 user name) is kept for its password. Passwords are compared in constant time against every entry.
 *
 * Throttling (issue 19 item 8): after a refused login the connection is held -- neither read
 * nor written -- for --auth-delay milliseconds, so the refusal itself arrives late and a
 * client learns nothing faster than one guess per delay per connection; libmx closes the
 * connection after --auth-failures refusals (cfg.max_auth_failures). Connections are bounded by
 * --max-conns, so the guesses per second the server answers are at most
 * max-conns * 1000 / auth-delay.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/base64.h>
#include <openssl/mem.h>

#include "serve.h"

int64_t serve_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int serve_check_login(const struct server *s, const uint8_t *user, size_t ulen, const uint8_t *pass,
                      size_t plen)
{
    int ok = 0;
    /* every entry is compared, and each comparison takes time independent of where bytes
     * differ: the answer's timing does not tell which part was wrong */
    for (int i = 0; i < s->o.nusers; i++) {
        size_t ul = strlen(s->o.users[i].user), pl = strlen(s->o.users[i].pass);
        int u = ulen == ul && CRYPTO_memcmp(user, s->o.users[i].user, ul) == 0;
        int p = plen == pl && CRYPTO_memcmp(pass, s->o.users[i].pass, pl) == 0;
        ok |= u & p;
    }
    return ok;
}

/* RFC 4616: message = [authzid] NUL authcid NUL passwd; mx-serve has no proxy users, so an
 * authzid must name the authcid itself */
static int check_plain(const struct server *s, const uint8_t *arg, size_t n, char *who, size_t wn)
{
    uint8_t buf[768];
    size_t len = 0;
    const uint8_t *z, *c, *p, *end;
    snprintf(who, wn, "?");
    if (n == 1 && arg[0] == '=') /* RFC 4954 4: "=" is an empty response */
        return 0;
    if (n > 1000 || !EVP_DecodeBase64(buf, &len, sizeof buf, arg, n))
        return 0;
    end = buf + len;
    z = buf;
    c = memchr(z, 0, len);
    if (!c)
        return 0;
    c++;
    p = memchr(c, 0, (size_t)(end - c));
    if (!p)
        return 0;
    snprintf(who, wn, "%.*s", (int)(p - c > 64 ? 64 : p - c), (const char *)c);
    p++;
    if (c - z > 1 && ((size_t)(c - 1 - z) != (size_t)(p - 1 - c) || memcmp(z, c, (size_t)(p - 1 - c)) != 0))
        return 0;
    return serve_check_login(s, c, (size_t)(p - 1 - c), p, (size_t)(end - p));
}

/* RCPT TO:<local@domain> [parameters] (RFC 5321 4.1.1.3); "<postmaster>" is always local */
static enum mx_verdict check_rcpt(const struct server *s, const uint8_t *arg, size_t n)
{
    size_t i = 0, at, close;
    while (i < n && arg[i] == ' ')
        i++;
    if (s->o.any_rcpt)
        return MX_ACCEPT;
    if (i >= n || arg[i] != '<')
        return MX_REFUSE_UNKNOWN_USER;
    for (close = i + 1; close < n && arg[close] != '>'; close++)
        ;
    if (close >= n)
        return MX_REFUSE_UNKNOWN_USER;
    for (at = close; at > i && arg[at] != '@'; at--)
        ;
    if (at == i) {
        /* RFC 5321 4.5.1: the domain-less postmaster must be accepted */
        return close - i - 1 == 10 && strncasecmp((const char *)arg + i + 1, "postmaster", 10) == 0
                   ? MX_ACCEPT
                   : MX_REFUSE_UNKNOWN_USER;
    }
    {
        const char *dom = (const char *)arg + at + 1, *loc = (const char *)arg + i + 1;
        size_t dl = close - at - 1, ll = at - i - 1;
        int local = 0;
        for (int d = 0; d < s->o.ndomains && !local; d++)
            local = strlen(s->o.domains[d]) == dl && strncasecmp(dom, s->o.domains[d], dl) == 0;
        if (!local)
            return MX_REFUSE_RELAY;
        if (ll == 10 && strncasecmp(loc, "postmaster", 10) == 0)
            return MX_ACCEPT;
        for (int u = 0; u < s->o.nusers; u++)
            if (strlen(s->o.users[u].user) == ll && strncasecmp(loc, s->o.users[u].user, ll) == 0)
                return MX_ACCEPT;
        return MX_REFUSE_UNKNOWN_USER;
    }
}

enum mx_verdict serve_check(void *ctx, enum mx_check_kind kind, const uint8_t *arg, size_t n)
{
    struct conn *c = ctx;
    struct server *s = c->srv;
    char who[80] = "?";
    const char *what = "?";
    int ok = 0;
    switch (kind) {
    case MX_CHECK_RCPT: {
        enum mx_verdict v = check_rcpt(s, arg, n);
        if (v != MX_ACCEPT)
            clog_(c, "RCPT refused (%s): %.*s", v == MX_REFUSE_RELAY ? "not a local domain" : "no such user",
                  (int)(n > 100 ? 100 : n), (const char *)arg);
        return v;
    }
    case MX_CHECK_USER:
        /* kept for the PASS; USER itself is never refused (that would tell which names exist) */
        c->pop_ulen = n < sizeof c->pop_user ? n : sizeof c->pop_user - 1;
        memcpy(c->pop_user, arg, c->pop_ulen);
        return MX_ACCEPT;
    case MX_CHECK_PASS:
        what = "USER/PASS";
        snprintf(who, sizeof who, "%.*s", (int)(c->pop_ulen > 64 ? 64 : c->pop_ulen), c->pop_user);
        ok = serve_check_login(s, (const uint8_t *)c->pop_user, c->pop_ulen, arg, n);
        c->pop_ulen = 0;
        break;
    case MX_CHECK_SASL_USER: {
        /* AUTH LOGIN's user name, kept (decoded) for its password like POP3's USER; never
         * refused here either */
        size_t len = 0;
        if (n > 340 || !EVP_DecodeBase64((uint8_t *)c->pop_user, &len, sizeof c->pop_user - 1, arg, n))
            len = 0;
        c->pop_ulen = len;
        return MX_ACCEPT;
    }
    case MX_CHECK_SASL_PASS: {
        uint8_t pw[256];
        size_t len = 0;
        what = "AUTH LOGIN";
        snprintf(who, sizeof who, "%.*s", (int)(c->pop_ulen > 64 ? 64 : c->pop_ulen), c->pop_user);
        ok = n <= 340 && EVP_DecodeBase64(pw, &len, sizeof pw, arg, n) && c->pop_ulen > 0 &&
             serve_check_login(s, (const uint8_t *)c->pop_user, c->pop_ulen, pw, len);
        c->pop_ulen = 0;
        break;
    }
    case MX_CHECK_PLAIN:
        what = "AUTH PLAIN";
        ok = check_plain(s, arg, n, who, sizeof who);
        break;
    case MX_CHECK_LOGIN:
        what = "LOGIN";
        ok = imap_login_check(c, arg, n, who, sizeof who);
        break;
    }
    c->auth_failures += !ok;
    clog_(c, "%s %s %s: %s", mx_app_proto_name(c->l->proto), what, who,
          ok ? "ok" : "invalid credentials");
    if (!ok && s->o.auth_delay_ms > 0)
        c->hold_until = serve_now_ms() + s->o.auth_delay_ms;
    return ok ? MX_ACCEPT : MX_REFUSE_AUTH;
}
