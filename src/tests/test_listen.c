/* Listener and certificate-binding tables: configuration parsing (src/tests/listen/NAME.conf and
 * inline texts), precedence of bindings (IIS/MCIS model, seed 004), the implicit-TLS load-time
 * check (seed 003), error messages (FILE:LINE: what), limits, IPv4/IPv6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx/listen.h"
#include "mx/machine.h"

static struct mx_listen_table t;
static char err[512];

static const char *root(void)
{
    const char *r = getenv("MXFUZZ_ROOT");
    return r ? r : ".";
}

static int load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/src/tests/listen/%s", root(), name);
    return mx_listen_load(&t, path, err, sizeof err);
}

static int parse(const char *text)
{
    return mx_listen_parse(&t, "t.conf", text, strlen(text), err, sizeof err);
}

static struct mx_ipaddr ip(const char *s)
{
    struct mx_ipaddr a;
    if (mx_ipaddr_parse(s, strlen(s), &a) != 0)
        fail_msg("address %s does not parse", s);
    return a;
}

static const char *cert_at(const char *addr, uint16_t port)
{
    struct mx_ipaddr a = ip(addr);
    const struct mx_certbind *c = mx_listen_cert_for(&t, &a, port);
    return c ? c->name : "(none)";
}

static void test_mcis_precedence(void **state)
{
    (void)state;
    if (load("mcis.conf") != 0)
        fail_msg("%s", err);
    assert_int_equal(t.nl, 7);
    assert_int_equal(t.nc, 5);
    /* (address, port) > (address, *) > (*, port) > (*, *) */
    assert_string_equal(cert_at("192.0.2.10", 465), "mx-10-smtps");
    assert_string_equal(cert_at("192.0.2.10", 587), "mx-10");   /* address beats port */
    assert_string_equal(cert_at("192.0.2.10", 25), "mx-10");
    assert_string_equal(cert_at("192.0.2.99", 587), "mail-submit");
    assert_string_equal(cert_at("192.0.2.99", 25), "mail-default");
    assert_string_equal(cert_at("2001:db8::5", 143), "v6-imap");
    assert_string_equal(cert_at("2001:db8::5", 993), "mail-default");
    assert_string_equal(cert_at("::ffff:192.0.2.10", 465), "mx-10-smtps"); /* mapped = IPv4 */
    /* modes and protocols by convention */
    {
        struct mx_ipaddr a = ip("192.0.2.10");
        const struct mx_listener *l = mx_listen_find(&t, &a, 465);
        assert_non_null(l);
        assert_int_equal(l->mode, MX_LISTEN_IMPLICIT);
        assert_int_equal(l->proto, MX_APP_SMTP);
        l = mx_listen_find(&t, &a, 25); /* the 0.0.0.0 listener */
        assert_non_null(l);
        assert_int_equal(l->addr.family, 0);
        assert_int_equal(l->mode, MX_LISTEN_STARTTLS);
        l = mx_listen_find(&t, &a, 2525);
        assert_null(l); /* only on 127.0.0.1 */
        a = ip("127.0.0.1");
        l = mx_listen_find(&t, &a, 2525);
        assert_non_null(l);
        assert_int_equal(l->mode, MX_LISTEN_PLAIN);
    }
}

/* Seed 004: without an (*, *) binding, a STARTTLS listener's address/port has no
 * certificate and so must not advertise STARTTLS. */
static void test_no_cert_for_address(void **state)
{
    (void)state;
    assert_int_equal(parse("listen 0.0.0.0 25\ncert a 10.0.0.1 25\n"), 0);
    assert_string_equal(cert_at("10.0.0.1", 25), "a");
    assert_string_equal(cert_at("10.0.0.2", 25), "(none)");
    assert_string_equal(cert_at("10.0.0.1", 587), "(none)");
}

/* Issue 12 rule 6: tls-required is one listener's property: the submission port requires TLS,
 * port 25 next to it does not; a plain listener cannot require TLS (load-time error). */
static void test_tls_required_per_listener(void **state)
{
    struct mx_conn_cfg cfg;
    struct mx_ipaddr a = ip("192.0.2.1");
    (void)state;
    if (parse("listen * 25 starttls smtp\nlisten * 587 tls-required\n"
              "listen * 143 imap tls-required starttls\ncert c * *\n") != 0)
        fail_msg("%s", err);
    assert_int_equal(t.l[0].options, 0);
    assert_int_equal(t.l[1].options, MX_LISTEN_OPT_TLS_REQUIRED);
    assert_int_equal(t.l[1].mode, MX_LISTEN_STARTTLS); /* the option leaves the defaults alone */
    assert_int_equal(t.l[1].proto, MX_APP_SMTP);
    assert_int_equal(t.l[2].options, MX_LISTEN_OPT_TLS_REQUIRED);
    memset(&cfg, 0, sizeof cfg);
    cfg.tls_required = 1; /* filled in, not left over */
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 25, &cfg, NULL, NULL), 0);
    assert_int_equal(cfg.tls_required, 0);
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 587, &cfg, NULL, NULL), 0);
    assert_int_equal(cfg.tls_required, 1);
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 25, &cfg, NULL, NULL), 0);
    assert_int_equal(cfg.tls_required, 0);

    assert_int_equal(parse("listen * 25\nlisten 127.0.0.1 2525 plain smtp tls-required\n"),
                     MX_LISTEN_ECONFLICT);
    assert_non_null(strstr(err, "t.conf:2: "));
    assert_non_null(strstr(err, "plain"));
    assert_int_equal(parse("listen * 587 tls-required tls-required\n"), MX_LISTEN_ESYNTAX);
    assert_non_null(strstr(err, "t.conf:1: "));
    assert_int_equal(parse("listen * 587 tls-optional\n"), MX_LISTEN_ESYNTAX);
    {
        struct mx_listener l;
        mx_listen_init(&t);
        memset(&l, 0, sizeof l);
        l.port = 25;
        l.options = 0x80; /* no such option */
        assert_int_equal(mx_listen_add(&t, &l), MX_LISTEN_EINVAL);
    }
}

/* Seed 003: implicit-TLS listener without a certificate: load error naming it. */
static void test_implicit_without_cert(void **state)
{
    (void)state;
    assert_int_equal(load("implicit-nocert.conf"), MX_LISTEN_ENOCERT);
    assert_non_null(strstr(err, "implicit-nocert.conf:4: "));
    assert_non_null(strstr(err, "192.0.2.20:995 (pop3)"));
    /* a per-address binding does not cover a listener on every address */
    assert_int_equal(parse("cert x 10.0.0.1 993\nlisten * 993\n"), MX_LISTEN_ENOCERT);
    assert_string_equal(strstr(err, "t.conf:2: ") == err ? "ok" : err, "ok");
    assert_int_equal(parse("cert x * 993\nlisten * 993\n"), 0);
    assert_int_equal(parse("cert x * *\nlisten * 993\nlisten 10.1.1.1 995\n"), 0);
    /* a certificate for another port does not serve it */
    assert_int_equal(parse("cert x 10.0.0.1 465\nlisten 10.0.0.1 995\n"), MX_LISTEN_ENOCERT);
    /* STARTTLS and plaintext listeners without a certificate are fine */
    assert_int_equal(parse("listen 10.0.0.1 25\nlisten 10.0.0.1 26 plain smtp\n"), 0);
}

static void expect_error(const char *text, const char *where, const char *what)
{
    int rc = parse(text);
    if (rc == 0)
        fail_msg("accepted: %s", text);
    if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, what))
        fail_msg("for %s\nwant '%s...%s', got '%s'", text, where, what, err);
}

/* Issue 12 rule 5: the literal mode is one IMAP listener's property (RFC 7888 4, LITERAL-):
 * mx_listen_conn_cfg fills it in per connection; on SMTP or POP3 it is a load-time error. */
static void test_literal_minus_per_listener(void **state)
{
    struct mx_conn_cfg cfg;
    struct mx_ipaddr a = ip("192.0.2.1");
    (void)state;
    if (parse("listen * 143 imap literal-minus\nlisten * 1143 starttls imap\n"
              "listen * 993 literal-minus tls-required\ncert c * *\n") != 0)
        fail_msg("%s", err);
    assert_int_equal(t.l[0].options, MX_LISTEN_OPT_LITERAL_MINUS);
    assert_int_equal(t.l[0].mode, MX_LISTEN_STARTTLS);
    assert_int_equal(t.l[1].options, 0);
    assert_int_equal(t.l[2].options, MX_LISTEN_OPT_LITERAL_MINUS | MX_LISTEN_OPT_TLS_REQUIRED);
    assert_int_equal(t.l[2].mode, MX_LISTEN_IMPLICIT);
    memset(&cfg, 0, sizeof cfg);
    cfg.literal_minus = 7; /* filled in, not left over */
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 1143, &cfg, NULL, NULL), 0);
    assert_int_equal(cfg.literal_minus, 0);
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 143, &cfg, NULL, NULL), 0);
    assert_int_equal(cfg.literal_minus, 1);
    assert_int_equal(cfg.tls_required, 0);
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 993, &cfg, NULL, NULL), 0);
    assert_int_equal(cfg.literal_minus, 1);
    assert_int_equal(cfg.tls_required, 1);

    assert_int_equal(parse("listen * 143\nlisten * 25 literal-minus\n"), MX_LISTEN_ECONFLICT);
    assert_non_null(strstr(err, "t.conf:2: "));
    assert_non_null(strstr(err, "literal-minus, an IMAP option"));
    assert_int_equal(parse("listen * 110 pop3 literal-minus\n"), MX_LISTEN_ECONFLICT);
    assert_int_equal(parse("listen * 143 literal-minus literal-minus\n"), MX_LISTEN_ESYNTAX);
    assert_non_null(strstr(err, "each once"));
}

/* Issue 16: a certificate bound but unusable is one STARTTLS listener's property: stored in its
 * options, never in mx_conn_cfg (the server calls mx_machine_tls_unavailable()); on a plain or
 * implicit-TLS listener it is a load-time error (no plaintext STARTTLS to refuse, RFC 3207 4). */
static void test_tls_unavailable_option(void **state)
{
    struct mx_conn_cfg cfg;
    struct mx_ipaddr a;
    (void)state;
    assert_int_equal(parse("cert x * *\nlisten 10.0.0.1 25 starttls smtp tls-unavailable\n"
                           "listen 10.0.0.1 587 starttls smtp\n"), 0);
    assert_int_equal(t.nl, 2);
    assert_int_equal(t.l[0].options, MX_LISTEN_OPT_TLS_UNAVAILABLE);
    assert_int_equal(t.l[1].options, 0);
    assert_int_equal(mx_ipaddr_parse("10.0.0.1", 8, &a), 0);
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 25, &cfg, NULL, NULL), MX_LISTEN_OK);
    assert_int_equal(cfg.mode, MX_LISTEN_STARTTLS);
    assert_int_equal(cfg.cert, 1); /* bound: the machine answers 454, not 502 */
    assert_int_equal(parse("listen * 110 pop3 tls-unavailable tls-required\n"), 0);
    assert_int_equal(t.l[0].options, MX_LISTEN_OPT_TLS_UNAVAILABLE | MX_LISTEN_OPT_TLS_REQUIRED);
    assert_int_equal(parse("listen * 26 plain smtp tls-unavailable\n"), MX_LISTEN_ECONFLICT);
    assert_non_null(strstr(err, "t.conf:1: "));
    assert_non_null(strstr(err, "is plain (never TLS) and tls-unavailable"));
    assert_int_equal(parse("cert x * *\nlisten * 993 tls-unavailable\n"), MX_LISTEN_ECONFLICT);
    assert_non_null(strstr(err, "t.conf:2: "));
    assert_non_null(strstr(err, "is implicit TLS and tls-unavailable"));
    assert_int_equal(parse("listen * 25 tls-unavailable tls-unavailable\n"), MX_LISTEN_ESYNTAX);
    assert_non_null(strstr(err, "each once"));
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("listen 1.2.3.4\n", "t.conf:1: ", "needs an address and a port");
    expect_error("\n\nlisten 1.2.3.4 70000\n", "t.conf:3: ", "bad port");
    expect_error("listen 1.2.3.4 0\n", "t.conf:1: ", "bad port");
    expect_error("listen 1.2.3 25\n", "t.conf:1: ", "bad address");
    expect_error("listen [1.2.3.4] 25\n", "t.conf:1: ", "bad address");
    expect_error("listen 1.2.3.4 25 tls\n", "t.conf:1: ", "unexpected 'tls'");
    expect_error("listen 1.2.3.4 25 plain plain\n", "t.conf:1: ", "unexpected 'plain'");
    expect_error("listen 1.2.3.4 2525\n", "t.conf:1: ", "name one");
    expect_error("listen 1.2.3.4 25\nlisten 1.2.3.4 25 plain\n", "t.conf:2: ", "already exists (line 1)");
    expect_error("listen 0.0.0.0 25\nlisten * 25\n", "t.conf:2: ", "already exists");
    expect_error("cert a * *\ncert b * *\n", "t.conf:2: ", "already bound");
    expect_error("cert a 1.2.3.4\n", "t.conf:1: ", "exactly 3 fields");
    expect_error("cert a$ * *\n", "t.conf:1: ", "bad certificate name");
    expect_error("cert a * 0\n", "t.conf:1: ", "bad port");
    expect_error("bind a * *\n", "t.conf:1: ", "unknown statement");
    expect_error("listen 1.2.3.4 25\x01\n", "t.conf:1: ", "control");
    expect_error("listen 1.2.3.4 143 starttls imap tls-required literal-minus tls-unavailable extra\n",
                 "t.conf:1: ", "extra field");
    expect_error("listen 1.2.3.4 143 starttls imap tls-required literal-minus extra\n", "t.conf:1: ",
                 "unexpected 'extra'");
    expect_error("listen 1.2.3.4 25 plain smtp extra\n", "t.conf:1: ", "unexpected 'extra'");
    {
        char big[600];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        expect_error(big, "t.conf:1: ", "longer than");
    }
    /* comments, blanks, CRLF line ends and tabs are fine */
    assert_int_equal(parse("# c\r\n\r\n\tlisten\t::1\t25 # x\r\n"), 0);
    assert_int_equal(t.nl, 1);
    /* unreadable file */
    assert_int_equal(mx_listen_load(&t, "/nonexistent/x.conf", err, sizeof err), MX_LISTEN_EIO);
    assert_non_null(strstr(err, "/nonexistent/x.conf"));
}

static void test_limits(void **state)
{
    char text[8192];
    size_t n = 0;
    (void)state;
    assert_true(sizeof(struct mx_listen_table) <= 4608); /* "about 4 KiB" in the header */
    for (int i = 0; i < MX_LISTEN_MAX; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "listen 10.0.0.%d 25\n", i + 1);
    assert_int_equal(parse(text), 0);
    assert_int_equal(t.nl, MX_LISTEN_MAX);
    snprintf(text + n, sizeof text - n, "listen 10.0.1.1 25\n");
    expect_error(text, "t.conf:33: ", "too many listeners");
    n = 0;
    for (int i = 0; i < MX_CERTBIND_MAX + 1; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "cert c%d 10.0.0.%d *\n", i, i + 1);
    expect_error(text, "t.conf:33: ", "too many certificate bindings");
}

static void test_ipv6(void **state)
{
    char buf[64];
    struct mx_ipaddr a;
    (void)state;
    if (load("ipv6.conf") != 0)
        fail_msg("%s", err);
    assert_string_equal(cert_at("::1", 25), "loop6");
    assert_string_equal(cert_at("127.0.0.1", 587), "loop4");
    assert_string_equal(cert_at("::ffff:127.0.0.1", 587), "loop4");
    assert_string_equal(cert_at("::1", 587), "(none)");
    a = ip("::ffff:127.0.0.1");
    assert_int_equal(a.family, 4);
    assert_string_equal(mx_ipaddr_format(&a, buf, sizeof buf), "127.0.0.1");
    a = ip("2001:DB8::1");
    assert_string_equal(mx_ipaddr_format(&a, buf, sizeof buf), "[2001:db8::1]");
    assert_int_equal(mx_ipaddr_parse("::1%lo", 6, &a), MX_LISTEN_EINVAL);
    assert_int_equal(mx_ipaddr_parse("", 0, &a), MX_LISTEN_EINVAL);
}

/* Seed 004 end to end: the table decides, per connection address and port, whether the SMTP
 * machine lists STARTTLS in its EHLO reply. */
static int ehlo_lists_starttls(const char *addr, uint16_t port)
{
    struct mx_conn_cfg cfg;
    struct mx_machine s;
    struct mx_chain c;
    static struct mx_step st;
    uint8_t line[256];
    struct mx_ipaddr a = ip(addr);
    int found = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_message = 1024;
    cfg.host = cfg.product = "mxfuzz";
    assert_int_equal(mx_listen_conn_cfg(&t, &a, port, &cfg, NULL, NULL), 0);
    assert_int_equal(mx_machine_init(&s, MX_APP_SMTP, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_machine_step(&s, &c, &st), MX_ACT_REPLY); /* greeting */
    assert_int_equal(mx_chain_append(&c, "EHLO x\r\n", 8), 0);
    assert_int_equal(mx_machine_step(&s, &c, &st), MX_ACT_REPLY);
    for (size_t i = 0; i + 14 <= st.reply_n; i++)
        if (!memcmp(st.reply + i, "250-STARTTLS\r\n", 14))
            found = 1;
    assert_int_equal(found, mx_machine_offers_tls(&s));
    mx_chain_release(&c);
    return found;
}

static void test_conn_cfg_decides_starttls(void **state)
{
    struct mx_conn_cfg cfg;
    const struct mx_listener *l;
    const struct mx_certbind *cb;
    struct mx_ipaddr a;
    (void)state;
    assert_int_equal(parse("listen 0.0.0.0 25\nlisten 10.0.0.9 26 plain smtp\n"
                           "cert a 10.0.0.1 25\ncert b 10.0.0.9 *\n"), 0);
    assert_int_equal(ehlo_lists_starttls("10.0.0.1", 25), 1);  /* bound */
    assert_int_equal(ehlo_lists_starttls("10.0.0.2", 25), 0);  /* same listener, no binding */
    assert_int_equal(ehlo_lists_starttls("10.0.0.9", 25), 1);  /* (addr, *) */
    assert_int_equal(ehlo_lists_starttls("10.0.0.9", 26), 0);  /* plaintext listener */
    a = ip("10.0.0.3");
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(mx_listen_conn_cfg(&t, &a, 587, &cfg, &l, &cb), MX_LISTEN_EINVAL);
    assert_null(l);
    assert_null(cb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mcis_precedence),
        cmocka_unit_test(test_no_cert_for_address),
        cmocka_unit_test(test_implicit_without_cert),
        cmocka_unit_test(test_tls_required_per_listener),
        cmocka_unit_test(test_literal_minus_per_listener),
        cmocka_unit_test(test_tls_unavailable_option),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_conn_cfg_decides_starttls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
