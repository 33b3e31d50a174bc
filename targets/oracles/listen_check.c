/* listen_check.c - the oracles of the listen target (see listen_check.h): a brute-force model
 * of the listener/certificate tables, and the configuration parser's invariants. */
#define _GNU_SOURCE /* memfd_create */
#include "listen_check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fail.h"
#include "sampled.h"
#include "mx/listen.h"
#include "mx/protocol.h"

#define FAIL(...) fz_fail("listen", __VA_ARGS__)

static const char *const addr_text[8] = {"10.0.0.1", "::ffff:10.0.0.1", "10.0.0.2", "2001:db8::1",
                                         "[2001:db8::2]", "127.0.0.1", "::1", "*"};
/* same-address classes for the model: entries 0 and 1 are one address; 7 is "any" */
static const int addr_class[8] = {0, 0, 2, 3, 4, 5, 6, -1};
static const uint16_t ports[8] = {25, 465, 587, 993, 995, 110, 143, 2525};

struct m_listener { int acls, port_i, mode, proto, used, tls_required, literal_minus, tls_unavailable; };
struct m_bind { int acls, any_addr, port_i, any_port; char name[8]; };
struct model {
    struct m_listener l[MX_LISTEN_MAX];
    int nl;
    struct m_bind c[MX_CERTBIND_MAX];
    int nc;
};

static const struct m_bind *m_lookup(const struct model *m, int acls, int port_i)
{
    /* class by class, most specific first */
    for (int cls = 0; cls < 4; cls++) {
        for (int i = 0; i < m->nc; i++) {
            const struct m_bind *b = &m->c[i];
            int want_any_addr = cls >= 2, want_any_port = cls == 1 || cls == 3;
            if (b->any_addr != want_any_addr || b->any_port != want_any_port)
                continue;
            if (!b->any_addr && b->acls != acls)
                continue;
            if (!b->any_port && b->port_i != port_i)
                continue;
            return b;
        }
    }
    return NULL;
}

static int m_check(const struct model *m)
{
    for (int i = 0; i < m->nl; i++) {
        const struct m_listener *l = &m->l[i];
        int ok = 0;
        /* issue 12 rule 6: TLS required where TLS never comes up is a contradiction (RFC 3207
         * 4: the client could only ever get 530; RFC 3501 6.2.3: LOGIN disabled for good) */
        if (l->mode == MX_LISTEN_PLAIN && l->tls_required)
            return 0;
        /* issue 12 rule 5: LITERAL- is an IMAP capability (RFC 7888 4); on SMTP or POP3 the
         * option would configure nothing, so it is refused */
        if (l->proto != MX_APP_IMAP && l->literal_minus)
            return 0;
        /* issue 16: an unusable certificate is refused in the plaintext protocol (RFC 3207 4:
         * SMTP 454), which only a STARTTLS-capable listener speaks before TLS */
        if (l->mode != MX_LISTEN_STARTTLS && l->tls_unavailable)
            return 0;
        if (l->mode != MX_LISTEN_IMPLICIT)
            continue;
        if (l->acls >= 0)
            ok = m_lookup(m, l->acls, l->port_i) != NULL;
        else
            for (int j = 0; j < m->nc; j++)
                if (m->c[j].any_addr && (m->c[j].any_port || m->c[j].port_i == l->port_i))
                    ok = 1;
        if (!ok)
            return 0;
    }
    return 1;
}

void listen_check_ops(struct in *in)
{
    static struct mx_listen_table t;
    static struct model m;
    struct mx_ipaddr pool[8];
    mx_listen_init(&t);
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 8; i++)
        if (mx_ipaddr_parse(addr_text[i], strlen(addr_text[i]), &pool[i]) != 0)
            FAIL("pool address %s does not parse", addr_text[i]);
    if (!mx_ipaddr_equal(&pool[0], &pool[1]))
        FAIL("::ffff:10.0.0.1 and 10.0.0.1 are different addresses");

    for (int opi = 0; in->n > 0; opi++) {
        unsigned op = in_u8(in) % 5;
        switch (op) {
        case 0: {
            unsigned a = in_u8(in) % 8, p = in_u8(in) % 8, mo = in_u8(in) % 3, qo = in_u8(in);
            /* proto, the tls-required, literal-minus and tls-unavailable options */
            unsigned q = qo % 3, treq = (qo / 3) & 1, lminus = (qo / 6) & 1, tunav = (qo / 12) & 1;
            struct mx_listener l;
            int rc, want = MX_LISTEN_OK;
            memset(&l, 0, sizeof l);
            l.addr = pool[a];
            l.port = ports[p];
            l.mode = (enum mx_listen_mode)mo;
            l.proto = (enum mx_app_proto)q;
            l.options = (treq ? MX_LISTEN_OPT_TLS_REQUIRED : 0) | (lminus ? MX_LISTEN_OPT_LITERAL_MINUS : 0) |
                        (tunav ? MX_LISTEN_OPT_TLS_UNAVAILABLE : 0);
            for (int i = 0; i < m.nl; i++)
                if (m.l[i].acls == addr_class[a] && m.l[i].port_i == (int)p)
                    want = MX_LISTEN_EDUP;
            if (want == MX_LISTEN_OK && m.nl >= MX_LISTEN_MAX)
                want = MX_LISTEN_EFULL;
            rc = mx_listen_add(&t, &l);
            if (rc != want)
                FAIL("op %d listen %s:%u: got %d, model %d", opi, addr_text[a], ports[p], rc, want);
            if (want == MX_LISTEN_OK)
                m.l[m.nl++] = (struct m_listener){addr_class[a], (int)p, (int)mo, (int)q, 1, (int)treq,
                                                  (int)lminus, (int)tunav};
            break;
        }
        case 1: {
            unsigned a = in_u8(in) % 9, p = in_u8(in) % 9, nm = in_u8(in);
            struct mx_certbind c;
            struct m_bind mb;
            int rc, want = MX_LISTEN_OK;
            memset(&c, 0, sizeof c);
            memset(&mb, 0, sizeof mb);
            /* pool entry 7 ("*") is also "any address" */
            mb.any_addr = a >= 7;
            mb.acls = mb.any_addr ? -1 : addr_class[a];
            mb.any_port = p == 8;
            mb.port_i = mb.any_port ? -1 : (int)p;
            snprintf(mb.name, sizeof mb.name, "c%u", nm);
            c.any_addr = mb.any_addr;
            if (!c.any_addr)
                c.addr = pool[a];
            c.any_port = mb.any_port;
            c.port = mb.any_port ? 0 : ports[p];
            memcpy(c.name, mb.name, sizeof mb.name);
            for (int i = 0; i < m.nc; i++)
                if (m.c[i].any_addr == mb.any_addr && m.c[i].any_port == mb.any_port &&
                    (mb.any_addr || m.c[i].acls == mb.acls) &&
                    (mb.any_port || m.c[i].port_i == mb.port_i))
                    want = MX_LISTEN_EDUP;
            if (want == MX_LISTEN_OK && m.nc >= MX_CERTBIND_MAX)
                want = MX_LISTEN_EFULL;
            rc = mx_listen_bind_cert(&t, &c);
            if (rc != want)
                FAIL("op %d cert %s on %u/%u: got %d, model %d", opi, mb.name, a, p, rc, want);
            if (want == MX_LISTEN_OK)
                m.c[m.nc++] = mb;
            break;
        }
        case 2: {
            unsigned a = in_u8(in) % 7, p = in_u8(in) % 8; /* concrete addresses only */
            const struct mx_certbind *got = mx_listen_cert_for(&t, &pool[a], ports[p]);
            const struct m_bind *want = m_lookup(&m, addr_class[a], (int)p);
            if (!got != !want || (got && strcmp(got->name, want->name) != 0))
                FAIL("op %d lookup %s:%u: got %s, model %s", opi, addr_text[a], ports[p],
                     got ? got->name : "none", want ? want->name : "none");
            break;
        }
        case 3: {
            unsigned a = in_u8(in) % 7, p = in_u8(in) % 8;
            const struct mx_listener *got = mx_listen_find(&t, &pool[a], ports[p]);
            const struct m_listener *want = NULL;
            for (int i = 0; i < m.nl; i++)
                if (m.l[i].port_i == (int)p && m.l[i].acls == addr_class[a])
                    want = &m.l[i];
            if (!want)
                for (int i = 0; i < m.nl; i++)
                    if (m.l[i].port_i == (int)p && m.l[i].acls == -1)
                        want = &m.l[i];
            if (!got != !want ||
                (got && ((int)got->mode != want->mode || (int)got->proto != want->proto ||
                         (got->addr.family == 0) != (want->acls == -1) ||
                         !(got->options & MX_LISTEN_OPT_TLS_UNAVAILABLE) != !want->tls_unavailable)))
                FAIL("op %d find %s:%u: got %s, model %s", opi, addr_text[a], ports[p],
                     got ? "a listener" : "none", want ? "a listener" : "none");
            {
                /* what a connection there runs with: the listener's mode, and a certificate
                 * iff one serves this address and port (Q237327) */
                struct mx_conn_cfg cfg;
                const struct m_bind *mb = m_lookup(&m, addr_class[a], (int)p);
                memset(&cfg, 0, sizeof cfg);
                cfg.mode = -1;
                cfg.tls_required = -1; /* mx_listen_conn_cfg must fill it in */
                cfg.literal_minus = -1;
                int rc = mx_listen_conn_cfg(&t, &pool[a], ports[p], &cfg, NULL, NULL);
                if ((rc == 0) != (want != NULL))
                    FAIL("op %d conn_cfg %s:%u: rc %d with%s a listener", opi, addr_text[a],
                         ports[p], rc, want ? "" : "out");
                /* issue 12 rule 6: TLS required is the listener's own property, so a connection
                 * runs with its listener's option and no other listener's */
                /* issue 12 rule 5: so is the literal mode (RFC 7888 4: LITERAL- on this listener
                 * only) */
                {
                    /* the out-parameters: the listener mx_listen_find gave, and the binding that
                     * serves there (the model's name) only when a listener accepts */
                    struct mx_conn_cfg cfg2;
                    const struct mx_listener *gl = (const struct mx_listener *)&cfg2;
                    const struct mx_certbind *gc = (const struct mx_certbind *)&cfg2;
                    if (mx_listen_conn_cfg(&t, &pool[a], ports[p], &cfg2, &gl, &gc) != rc || gl != got ||
                        (want && mb ? !gc || strcmp(gc->name, mb->name) != 0 : gc != NULL))
                        FAIL("op %d conn_cfg %s:%u: listener %p (find: %p), binding %s, model %s", opi, addr_text[a],
                             ports[p], (const void *)gl, (const void *)got, gc ? gc->name : "none",
                             want && mb ? mb->name : "none");
                }
                if (want && (cfg.mode != want->mode || cfg.cert != (mb != NULL) ||
                             cfg.tls_required != want->tls_required ||
                             cfg.literal_minus != want->literal_minus))
                    FAIL("op %d conn_cfg %s:%u: mode %d cert %d tls-required %d literal-minus %d, "
                         "model mode %d cert %d tls-required %d literal-minus %d", opi, addr_text[a],
                         ports[p], cfg.mode, cfg.cert, cfg.tls_required, cfg.literal_minus, want->mode,
                         mb != NULL, want->tls_required, want->literal_minus);
            }
            break;
        }
        case 4: {
            char err[512];
            int rc = mx_listen_check(&t, "api", err, sizeof err);
            int want = m_check(&m);
            if ((rc == 0) != want)
                FAIL("op %d check: got %d (%s), model says %s", opi, rc, rc ? err : "",
                     want ? "every implicit listener is served, no plain one requires TLS, no "
                            "non-IMAP one has literal-minus, only STARTTLS ones have tls-unavailable"
                          : "an implicit listener has no certificate, a plain one requires TLS, a "
                            "non-IMAP one has literal-minus or a non-STARTTLS one tls-unavailable");
            if (rc != 0 && strncmp(err, "api:", 4) != 0)
                FAIL("op %d check: error does not name the source: %s", opi, err);
            break;
        }
        }
    }
}

/* Prints a table as configuration text. */
static size_t print_table(const struct mx_listen_table *t, char *buf, size_t cap)
{
    size_t n = 0;
    char a[64];
    for (size_t i = 0; i < t->nl; i++)
        n += (size_t)snprintf(buf + n, cap - n, "listen %s %u %s %s%s%s%s\n",
                              mx_ipaddr_format(&t->l[i].addr, a, sizeof a), t->l[i].port,
                              mx_listen_mode_name(t->l[i].mode), mx_app_proto_name(t->l[i].proto),
                              t->l[i].options & MX_LISTEN_OPT_TLS_REQUIRED ? " tls-required" : "",
                              t->l[i].options & MX_LISTEN_OPT_LITERAL_MINUS ? " literal-minus" : "",
                              t->l[i].options & MX_LISTEN_OPT_TLS_UNAVAILABLE ? " tls-unavailable" : "");
    for (size_t i = 0; i < t->nc; i++) {
        char port[8];
        snprintf(port, sizeof port, "%u", t->c[i].port);
        n += (size_t)snprintf(buf + n, cap - n, "cert %s %s %s\n", t->c[i].name,
                              t->c[i].any_addr ? "*" : mx_ipaddr_format(&t->c[i].addr, a, sizeof a),
                              t->c[i].any_port ? "*" : port);
    }
    return n;
}

static int same_table(const struct mx_listen_table *x, const struct mx_listen_table *y)
{
    if (x->nl != y->nl || x->nc != y->nc)
        return 0;
    for (size_t i = 0; i < x->nl; i++)
        if (!mx_ipaddr_equal(&x->l[i].addr, &y->l[i].addr) || x->l[i].port != y->l[i].port ||
            x->l[i].mode != y->l[i].mode || x->l[i].proto != y->l[i].proto ||
            x->l[i].options != y->l[i].options)
            return 0;
    for (size_t i = 0; i < x->nc; i++)
        if (x->c[i].any_addr != y->c[i].any_addr || x->c[i].any_port != y->c[i].any_port ||
            (!x->c[i].any_addr && !mx_ipaddr_equal(&x->c[i].addr, &y->c[i].addr)) ||
            x->c[i].port != y->c[i].port || strcmp(x->c[i].name, y->c[i].name) != 0)
            return 0;
    return 1;
}

#define PARSE_ERR_LEN 512

/* mx_listen_load on the text through a file (a memfd, written for every input), presented as
 * `how` says (listen_check.h); compared with what mx_listen_parse made of the same text. */
static void check_load(const uint8_t *p, size_t n, unsigned how, int parse_rc, const char *parse_err,
                       const struct mx_listen_table *parsed)
{
    static int fd = -1;
    static char fd_path[64];
    static struct mx_listen_table t;
    char path[80], err[600], want[700];
    size_t errlen = how & LISTEN_LOAD_NO_ERRBUF ? 0 : sizeof err;
    int rc;
    if (fd < 0) {
        fd = memfd_create("listen-conf", 0);
        if (fd < 0)
            FAIL("memfd_create: %s", strerror(errno));
        snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
    }
    /* the file's bytes: the text, or the text and zeros up to one byte over the limit */
    if (ftruncate(fd, 0) != 0 || (n && pwrite(fd, p, n, 0) != (ssize_t)n) ||
        ((how & 3) == LISTEN_LOAD_TOO_BIG && ftruncate(fd, MX_LISTEN_FILE_MAX + 1) != 0))
        FAIL("writing the memfd: %s", strerror(errno));
    switch (how & 3) {
    case LISTEN_LOAD_ABSENT: snprintf(path, sizeof path, "%s/absent", fd_path); break; /* ENOTDIR */
    case LISTEN_LOAD_DIRECTORY: snprintf(path, sizeof path, "/"); break; /* opens, read fails: EISDIR */
    default: snprintf(path, sizeof path, "%s", fd_path); break;
    }
    memset(err, 'x', sizeof err);
    rc = mx_listen_load(&t, path, err, errlen);
    if (errlen == 0) {
        /* mx/listen.h: err is written only within errlen */
        if (err[0] != 'x')
            FAIL("mx_listen_load wrote err with errlen 0");
    }
    if ((how & 3) != LISTEN_LOAD_FILE) {
        static const char *const what[] = {"", ": cannot open: ", ": read error", ": larger than the 256 KiB limit"};
        snprintf(want, sizeof want, "%s%s", path, what[how & 3]);
        if (rc != MX_LISTEN_EIO)
            FAIL("mx_listen_load of %s (%s) returned %d, not MX_LISTEN_EIO", path, what[how & 3], rc);
        if (errlen && ((how & 3) == LISTEN_LOAD_ABSENT ? strncmp(err, want, strlen(want)) : strcmp(err, want)))
            FAIL("mx_listen_load of %s: error '%s', want '%s'", path, err, want);
        return;
    }
    /* the same text from a file: the same verdict, message and table as mx_listen_parse */
    if (rc != parse_rc)
        FAIL("mx_listen_load returned %d, mx_listen_parse %d on the same text", rc, parse_rc);
    if (rc != 0 && errlen) {
        /* parse_err may have been cut at its 511 bytes: then only that much must agree */
        size_t cut = strlen(parse_err) + 1 >= PARSE_ERR_LEN;
        snprintf(want, sizeof want, "%s%s", path, parse_err + strlen("<fuzz>"));
        if (strncmp(err, want, strlen(want) + !cut) != 0)
            FAIL("mx_listen_load: error '%s', mx_listen_parse's with this file name '%s'", err, want);
    }
    if (rc == 0 && !same_table(&t, parsed))
        FAIL("mx_listen_load and mx_listen_parse give different tables for the same text");
}

void listen_check_text(const uint8_t *p, size_t n, unsigned load_how)
{
    static struct mx_listen_table t, t2;
    static char out[MX_LISTEN_MAX * 128 + MX_CERTBIND_MAX * 160];
    char err[PARSE_ERR_LEN];
    size_t lines = 0, stmts = 0;
    int rc = mx_listen_parse(&t, "<fuzz>", (const char *)p, n, err, sizeof err);
    /* mx_listen_load allocates its 256 KiB read buffer on every call, and the over-the-limit
     * file is read whole: on a sampled input only (harness/sampled.h; the replay driver, so
     * the corpus test and the coverage measure, runs it on every input) */
    int load = fz_sampled(p, n);
    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    if (n && p[n - 1] != '\n')
        lines++;
    if (rc != 0) {
        long line;
        char *end;
        if (strncmp(err, "<fuzz>:", 7) != 0)
            FAIL("error without the file name: '%s'", err);
        line = strtol(err + 7, &end, 10);
        if (end == err + 7 || *end != ':' || end[1] != ' ' || end[2] == 0)
            FAIL("error not in FILE:LINE: form: '%s'", err);
        if (line < 1 || (size_t)line > lines)
            FAIL("error names line %ld of a %zu-line text: '%s'", line, lines, err);
        if (load)
            check_load(p, n, load_how, rc, err, &t);
        return;
    }
    if (load)
        check_load(p, n, load_how, rc, err, &t);
    /* every statement that starts a line after optional blanks is listen or cert */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        if (j < n && p[j] != '\n' && p[j] != '#' && p[j] != '\r')
            stmts++;
        while (i < n && p[i] != '\n')
            i++;
        i++;
    }
    if (t.nl + t.nc != stmts)
        FAIL("%zu statements in the text, table holds %zu listeners + %zu bindings", stmts, t.nl, t.nc);
    for (size_t i = 0; i < t.nl; i++) {
        int ok = 0;
        if (t.l[i].mode == MX_LISTEN_PLAIN && (t.l[i].options & MX_LISTEN_OPT_TLS_REQUIRED))
            FAIL("accepted a plain listener (line %d) that requires TLS", t.l[i].line);
        if (t.l[i].proto != MX_APP_IMAP && (t.l[i].options & MX_LISTEN_OPT_LITERAL_MINUS))
            FAIL("accepted literal-minus on a %s listener (line %d): LITERAL- is IMAP's (RFC 7888 4)",
                 mx_app_proto_name(t.l[i].proto), t.l[i].line);
        if (t.l[i].mode != MX_LISTEN_STARTTLS && (t.l[i].options & MX_LISTEN_OPT_TLS_UNAVAILABLE))
            FAIL("accepted tls-unavailable on a %s listener (line %d): only STARTTLS listeners refuse "
                 "TLS in plaintext (RFC 3207 4)", mx_listen_mode_name(t.l[i].mode), t.l[i].line);
        if (t.l[i].mode != MX_LISTEN_IMPLICIT)
            continue;
        for (size_t j = 0; j < t.nc; j++) {
            const struct mx_certbind *c = &t.c[j];
            if (t.l[i].addr.family == 0)
                ok |= c->any_addr && (c->any_port || c->port == t.l[i].port);
            else
                ok |= (c->any_addr || mx_ipaddr_equal(&c->addr, &t.l[i].addr)) &&
                      (c->any_port || c->port == t.l[i].port);
        }
        if (!ok)
            FAIL("accepted an implicit-TLS listener (line %d) that no certificate serves", t.l[i].line);
    }
    {
        size_t k = print_table(&t, out, sizeof out);
        if (mx_listen_parse(&t2, "<printed>", out, k, err, sizeof err) != 0)
            FAIL("printed table does not parse again: %s\n%s", err, out);
        if (!same_table(&t, &t2))
            FAIL("table changed in a print/parse round trip:\n%s", out);
    }
}
