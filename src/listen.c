/* listen.c - listeners and certificate bindings (see include/mx/listen.h). */
#include "mx/listen.h"

#include "mx/protocol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void mx_listen_init(struct mx_listen_table *t)
{
    memset(t, 0, sizeof *t);
}

const char *mx_listen_mode_name(enum mx_listen_mode m)
{
    switch (m) {
    case MX_LISTEN_PLAIN: return "plain";
    case MX_LISTEN_STARTTLS: return "starttls";
    case MX_LISTEN_IMPLICIT: return "implicit";
    }
    return "?";
}

const char *mx_app_proto_name(enum mx_app_proto p)
{
    switch (p) {
    case MX_APP_SMTP: return "smtp";
    case MX_APP_IMAP: return "imap";
    case MX_APP_POP3: return "pop3";
    }
    return "?";
}

int mx_ipaddr_parse(const char *s, size_t n, struct mx_ipaddr *a)
{
    char tmp[64];
    memset(a, 0, sizeof *a);
    if (n == 1 && s[0] == '*')
        return 0;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
        if (memchr(s, ':', n) == NULL)
            return MX_LISTEN_EINVAL; /* brackets are for IPv6 only */
    }
    if (n == 0 || n >= sizeof tmp || memchr(s, 0, n))
        return MX_LISTEN_EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (inet_pton(AF_INET, tmp, a->b) == 1) {
        a->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, a->b) == 1) {
        a->family = 6;
        if (memcmp(a->b, v4mapped, 12) == 0) {
            memmove(a->b, a->b + 12, 4);
            memset(a->b + 4, 0, 12);
            a->family = 4;
        }
        return 0;
    }
    memset(a, 0, sizeof *a);
    return MX_LISTEN_EINVAL;
}

char *mx_ipaddr_format(const struct mx_ipaddr *a, char *buf, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 2];
    if (a->family == 4)
        inet_ntop(AF_INET, a->b, tmp, sizeof tmp);
    else if (a->family == 6) {
        char v6[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, a->b, v6, sizeof v6);
        snprintf(tmp, sizeof tmp, "[%s]", v6);
    } else
        snprintf(tmp, sizeof tmp, "*");
    snprintf(buf, n, "%s", tmp);
    return buf;
}

int mx_ipaddr_equal(const struct mx_ipaddr *a, const struct mx_ipaddr *b)
{
    size_t k = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
    return a->family == b->family && memcmp(a->b, b->b, k) == 0;
}

int mx_listen_add(struct mx_listen_table *t, const struct mx_listener *l)
{
    if (l->port == 0 || l->mode > MX_LISTEN_IMPLICIT || l->proto > MX_APP_POP3 ||
        (l->options & ~MX_LISTEN_OPT_KNOWN) ||
        (l->addr.family != 0 && l->addr.family != 4 && l->addr.family != 6))
        return MX_LISTEN_EINVAL;
    for (size_t i = 0; i < t->nl; i++)
        if (t->l[i].port == l->port && mx_ipaddr_equal(&t->l[i].addr, &l->addr))
            return MX_LISTEN_EDUP;
    if (t->nl >= MX_LISTEN_MAX)
        return MX_LISTEN_EFULL;
    t->l[t->nl++] = *l;
    return MX_LISTEN_OK;
}

static int same_key(const struct mx_certbind *a, const struct mx_certbind *b)
{
    if (a->any_addr != b->any_addr || a->any_port != b->any_port)
        return 0;
    if (!a->any_addr && !mx_ipaddr_equal(&a->addr, &b->addr))
        return 0;
    if (!a->any_port && a->port != b->port)
        return 0;
    return 1;
}

int mx_listen_bind_cert(struct mx_listen_table *t, const struct mx_certbind *c)
{
    size_t nlen = strnlen(c->name, sizeof c->name);
    if (nlen == 0 || nlen > MX_CERT_NAME_MAX || (!c->any_port && c->port == 0) ||
        (!c->any_addr && c->addr.family != 4 && c->addr.family != 6))
        return MX_LISTEN_EINVAL;
    for (size_t i = 0; i < t->nc; i++)
        if (same_key(&t->c[i], c))
            return MX_LISTEN_EDUP;
    if (t->nc >= MX_CERTBIND_MAX)
        return MX_LISTEN_EFULL;
    t->c[t->nc] = *c;
    if (c->any_addr)
        memset(&t->c[t->nc].addr, 0, sizeof t->c[t->nc].addr);
    if (c->any_port)
        t->c[t->nc].port = 0;
    t->nc++;
    return MX_LISTEN_OK;
}

const struct mx_certbind *mx_listen_cert_for(const struct mx_listen_table *t,
                                             const struct mx_ipaddr *addr, uint16_t port)
{
    /* rank: 3 (addr, port), 2 (addr, *), 1 (*, port), 0 (*, *) */
    const struct mx_certbind *best = NULL;
    int best_rank = -1;
    for (size_t i = 0; i < t->nc; i++) {
        const struct mx_certbind *c = &t->c[i];
        int rank;
        if (!c->any_addr && !mx_ipaddr_equal(&c->addr, addr))
            continue;
        if (!c->any_port && c->port != port)
            continue;
        rank = (c->any_addr ? 0 : 2) + (c->any_port ? 0 : 1);
        if (rank > best_rank) {
            best_rank = rank;
            best = c;
        }
    }
    return best;
}

const struct mx_listener *mx_listen_find(const struct mx_listen_table *t,
                                         const struct mx_ipaddr *addr, uint16_t port)
{
    const struct mx_listener *any = NULL;
    for (size_t i = 0; i < t->nl; i++) {
        const struct mx_listener *l = &t->l[i];
        if (l->port != port)
            continue;
        if (l->addr.family == 0)
            any = l;
        else if (mx_ipaddr_equal(&l->addr, addr))
            return l;
    }
    return any;
}

int mx_listen_conn_cfg(const struct mx_listen_table *t, const struct mx_ipaddr *addr,
                       uint16_t port, struct mx_conn_cfg *cfg, const struct mx_listener **l,
                       const struct mx_certbind **cert)
{
    const struct mx_listener *lis = mx_listen_find(t, addr, port);
    const struct mx_certbind *c = mx_listen_cert_for(t, addr, port);
    if (l)
        *l = lis;
    if (cert)
        *cert = lis ? c : NULL;
    if (!lis)
        return MX_LISTEN_EINVAL;
    cfg->mode = (int)lis->mode;
    cfg->cert = c != NULL;
    cfg->tls_required = !!(lis->options & MX_LISTEN_OPT_TLS_REQUIRED);
    cfg->literal_minus = !!(lis->options & MX_LISTEN_OPT_LITERAL_MINUS);
    return MX_LISTEN_OK;
}

static void errf(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (errlen)
        snprintf(err, errlen, "%s:%d: %s", file ? file : "<config>", line, msg);
}

/* Why a listener's options contradict its mode or protocol, or NULL when they do not. */
static const char *option_conflict(const struct mx_listener *l)
{
    if (l->mode == MX_LISTEN_PLAIN && (l->options & MX_LISTEN_OPT_TLS_REQUIRED))
        return "is plain (never TLS) and tls-required: every login would be refused (make it "
               "starttls, or drop tls-required)";
    /* RFC 7888 is an IMAP extension: on another protocol the option would configure nothing */
    if (l->proto != MX_APP_IMAP && (l->options & MX_LISTEN_OPT_LITERAL_MINUS))
        return "has literal-minus, an IMAP option (RFC 7888 LITERAL-): drop it, or make the "
               "listener imap";
    /* a certificate that cannot be used is refused in the plaintext protocol (SMTP 454): only
     * a STARTTLS listener has one to refuse it in */
    if (l->mode != MX_LISTEN_STARTTLS && (l->options & MX_LISTEN_OPT_TLS_UNAVAILABLE))
        return l->mode == MX_LISTEN_PLAIN
                   ? "is plain (never TLS) and tls-unavailable: there is no TLS to be unavailable "
                     "(make it starttls, or drop tls-unavailable)"
                   : "is implicit TLS and tls-unavailable: there is no plaintext in which to refuse "
                     "STARTTLS (make it starttls, or drop tls-unavailable)";
    return NULL;
}

int mx_listen_check(const struct mx_listen_table *t, const char *file, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->nl; i++) {
        const struct mx_listener *l = &t->l[i];
        int served = 0;
        const char *conflict = option_conflict(l);
        if (conflict) {
            char a[64];
            errf(err, errlen, file, l->line, "listener %s:%u (%s) %s",
                 mx_ipaddr_format(&l->addr, a, sizeof a), (unsigned)l->port,
                 mx_app_proto_name(l->proto), conflict);
            return MX_LISTEN_ECONFLICT;
        }
        if (l->mode != MX_LISTEN_IMPLICIT)
            continue;
        if (l->addr.family != 0) {
            served = mx_listen_cert_for(t, &l->addr, l->port) != NULL;
        } else {
            for (size_t j = 0; j < t->nc; j++)
                if (t->c[j].any_addr && (t->c[j].any_port || t->c[j].port == l->port))
                    served = 1;
        }
        if (!served) {
            char a[64];
            errf(err, errlen, file, l->line,
                 "implicit-TLS listener %s:%u (%s) has no certificate bound to its %s and "
                 "port; TLS clients would be refused (bind one with `cert NAME %s %u` or "
                 "`cert NAME * *`)",
                 mx_ipaddr_format(&l->addr, a, sizeof a), (unsigned)l->port,
                 mx_app_proto_name(l->proto),
                 l->addr.family ? "address" : "every address (needs a `*` address binding)",
                 l->addr.family ? a : "*", (unsigned)l->port);
            return MX_LISTEN_ENOCERT;
        }
    }
    return MX_LISTEN_OK;
}

/* ---- configuration text ---- */

struct field {
    const char *p;
    size_t n;
};

static int feq(const struct field *f, const char *w)
{
    size_t n = strlen(w);
    return f->n == n && memcmp(f->p, w, n) == 0;
}

static int parse_port(const struct field *f, uint16_t *port)
{
    unsigned long v = 0;
    if (f->n == 0 || f->n > 5)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        if (f->p[i] < '0' || f->p[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(f->p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int default_proto(uint16_t port, enum mx_app_proto *p)
{
    switch (port) {
    case 25: case 587: case 465: *p = MX_APP_SMTP; return 0;
    case 143: case 993: *p = MX_APP_IMAP; return 0;
    case 110: case 995: *p = MX_APP_POP3; return 0;
    }
    return -1;
}

static int name_ok(const struct field *f)
{
    if (f->n == 0 || f->n > MX_CERT_NAME_MAX)
        return 0;
    for (size_t i = 0; i < f->n; i++) {
        char c = f->p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '/' || c == '-'))
            return 0;
    }
    return 1;
}

static int parse_line(struct mx_listen_table *t, const char *file, int lineno,
                      struct field *f, size_t nf, char *err, size_t errlen)
{
#define BAD(...) do { errf(err, errlen, file, lineno, __VA_ARGS__); return MX_LISTEN_ESYNTAX; } while (0)
    if (feq(&f[0], "listen")) {
        struct mx_listener l;
        int have_mode = 0, have_proto = 0, rc;
        memset(&l, 0, sizeof l);
        l.line = lineno;
        if (nf < 3)
            BAD("listen needs an address and a port: listen ADDRESS PORT [MODE] [PROTO] [OPTION...]");
        if (nf > 8)
            BAD("listen takes at most 7 fields (ADDRESS PORT MODE PROTO and the options "
                "tls-required, literal-minus, tls-unavailable); extra field '%.*s'",
                (int)(f[8].n > 40 ? 40 : f[8].n), f[8].p);
        if (mx_ipaddr_parse(f[1].p, f[1].n, &l.addr) != 0)
            BAD("bad address '%.*s' (want IPv4, IPv6 or *)", (int)(f[1].n > 64 ? 64 : f[1].n), f[1].p);
        if (l.addr.family == 4 && memcmp(l.addr.b, "\0\0\0\0", 4) == 0)
            l.addr.family = 0; /* 0.0.0.0: every address */
        if (l.addr.family == 6 && memcmp(l.addr.b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0)
            l.addr.family = 0; /* :: */
        if (parse_port(&f[2], &l.port) != 0)
            BAD("bad port '%.*s' (want 1..65535)", (int)(f[2].n > 16 ? 16 : f[2].n), f[2].p);
        for (size_t i = 3; i < nf; i++) {
            if (!have_mode && (feq(&f[i], "plain") || feq(&f[i], "starttls") || feq(&f[i], "implicit"))) {
                l.mode = feq(&f[i], "plain") ? MX_LISTEN_PLAIN
                       : feq(&f[i], "starttls") ? MX_LISTEN_STARTTLS : MX_LISTEN_IMPLICIT;
                have_mode = 1;
            } else if (!have_proto && (feq(&f[i], "smtp") || feq(&f[i], "imap") || feq(&f[i], "pop3"))) {
                l.proto = feq(&f[i], "smtp") ? MX_APP_SMTP : feq(&f[i], "imap") ? MX_APP_IMAP : MX_APP_POP3;
                have_proto = 1;
            } else if (!(l.options & MX_LISTEN_OPT_TLS_REQUIRED) && feq(&f[i], "tls-required")) {
                l.options |= MX_LISTEN_OPT_TLS_REQUIRED;
            } else if (!(l.options & MX_LISTEN_OPT_LITERAL_MINUS) && feq(&f[i], "literal-minus")) {
                l.options |= MX_LISTEN_OPT_LITERAL_MINUS;
            } else if (!(l.options & MX_LISTEN_OPT_TLS_UNAVAILABLE) && feq(&f[i], "tls-unavailable")) {
                l.options |= MX_LISTEN_OPT_TLS_UNAVAILABLE;
            } else {
                BAD("unexpected '%.*s' (want one mode plain|starttls|implicit, one protocol "
                    "smtp|imap|pop3 and the options tls-required, literal-minus, tls-unavailable, each once)",
                    (int)(f[i].n > 40 ? 40 : f[i].n), f[i].p);
            }
        }
        if (!have_mode)
            l.mode = (l.port == 465 || l.port == 993 || l.port == 995) ? MX_LISTEN_IMPLICIT
                                                                        : MX_LISTEN_STARTTLS;
        if (!have_proto && default_proto(l.port, &l.proto) != 0)
            BAD("port %u has no conventional protocol: name one (smtp, imap or pop3)", (unsigned)l.port);
        rc = mx_listen_add(t, &l);
        if (rc == MX_LISTEN_EDUP) {
            int first = 0;
            for (size_t i = 0; i < t->nl; i++)
                if (t->l[i].port == l.port && mx_ipaddr_equal(&t->l[i].addr, &l.addr))
                    first = t->l[i].line;
            BAD("a listener on this address and port already exists (line %d)", first);
        }
        if (rc == MX_LISTEN_EFULL)
            BAD("too many listeners (at most %d)", MX_LISTEN_MAX);
        if (rc != 0)
            BAD("invalid listener");
        return 0;
    }
    if (feq(&f[0], "cert")) {
        struct mx_certbind c;
        int rc;
        memset(&c, 0, sizeof c);
        c.line = lineno;
        if (nf != 4)
            BAD("cert takes exactly 3 fields: cert NAME ADDRESS|* PORT|* (got %zu)", nf - 1);
        if (!name_ok(&f[1]))
            BAD("bad certificate name '%.*s' (1..%d characters of A-Z a-z 0-9 . _ / -)",
                (int)(f[1].n > 64 ? 64 : f[1].n), f[1].p, MX_CERT_NAME_MAX);
        memcpy(c.name, f[1].p, f[1].n);
        if (mx_ipaddr_parse(f[2].p, f[2].n, &c.addr) != 0)
            BAD("bad address '%.*s' (want IPv4, IPv6 or *)", (int)(f[2].n > 64 ? 64 : f[2].n), f[2].p);
        c.any_addr = c.addr.family == 0;
        if (f[3].n == 1 && f[3].p[0] == '*')
            c.any_port = 1;
        else if (parse_port(&f[3], &c.port) != 0)
            BAD("bad port '%.*s' (want 1..65535 or *)", (int)(f[3].n > 16 ? 16 : f[3].n), f[3].p);
        rc = mx_listen_bind_cert(t, &c);
        if (rc == MX_LISTEN_EDUP) {
            int first = 0;
            for (size_t i = 0; i < t->nc; i++)
                if (same_key(&t->c[i], &c))
                    first = t->c[i].line;
            BAD("a certificate is already bound to this address and port (line %d)", first);
        }
        if (rc == MX_LISTEN_EFULL)
            BAD("too many certificate bindings (at most %d)", MX_CERTBIND_MAX);
        if (rc != 0)
            BAD("invalid certificate binding");
        return 0;
    }
    BAD("unknown statement '%.*s' (want listen or cert)", (int)(f[0].n > 40 ? 40 : f[0].n), f[0].p);
#undef BAD
}

int mx_listen_parse(struct mx_listen_table *t, const char *file, const char *text, size_t len,
                    char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    int lineno = 0;
    mx_listen_init(t);
    if (errlen)
        err[0] = 0;
    if (!text && len)
        return MX_LISTEN_EINVAL;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le;
        struct field f[9]; /* a listen statement has at most 8; one more tells "extra field" from "too many" */
        size_t nf = 0;
        int rc;
        if (!eol)
            eol = end;
        lineno++;
        le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        if ((size_t)(le - p) > MX_LISTEN_LINE_MAX) {
            errf(err, errlen, file, lineno, "line longer than %d bytes", MX_LISTEN_LINE_MAX);
            return MX_LISTEN_ESYNTAX;
        }
        for (const char *q = p; q < le; q++) {
            unsigned char c = (unsigned char)*q;
            if (c == '#')
                le = q;
            else if (c != '\t' && (c < 0x20 || c >= 0x7f)) {
                errf(err, errlen, file, lineno, "control or non-ASCII byte 0x%02x at column %d",
                     c, (int)(q - p) + 1);
                return MX_LISTEN_ESYNTAX;
            }
        }
        for (const char *q = p; q < le;) {
            while (q < le && (*q == ' ' || *q == '\t'))
                q++;
            if (q >= le)
                break;
            if (nf == 9) {
                errf(err, errlen, file, lineno, "too many fields");
                return MX_LISTEN_ESYNTAX;
            }
            f[nf].p = q;
            while (q < le && *q != ' ' && *q != '\t')
                q++;
            f[nf].n = (size_t)(q - f[nf].p);
            nf++;
        }
        p = eol < end ? eol + 1 : end;
        if (nf == 0)
            continue;
        rc = parse_line(t, file, lineno, f, nf, err, errlen);
        if (rc != 0)
            return rc;
    }
    return mx_listen_check(t, file, err, errlen);
}

int mx_listen_load(struct mx_listen_table *t, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    size_t n;
    int rc;
    if (!fp) {
        if (errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return MX_LISTEN_EIO;
    }
    buf = malloc(MX_LISTEN_FILE_MAX + 1);
    if (!buf) {
        fclose(fp);
        if (errlen)
            snprintf(err, errlen, "%s: out of memory", path);
        return MX_LISTEN_EIO;
    }
    n = fread(buf, 1, MX_LISTEN_FILE_MAX + 1, fp);
    if (ferror(fp) || n > MX_LISTEN_FILE_MAX) {
        if (errlen)
            snprintf(err, errlen, "%s: %s", path,
                     ferror(fp) ? "read error" : "larger than the 256 KiB limit");
        free(buf);
        fclose(fp);
        return MX_LISTEN_EIO;
    }
    fclose(fp);
    rc = mx_listen_parse(t, path, buf, n, err, errlen);
    free(buf);
    return rc;
}
