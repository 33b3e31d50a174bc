#define _GNU_SOURCE /* memmem */
/* Hand-written STARTTLS sessions (corpus/sessions/starttls/NAME.txt) replayed through the SMTP,
 * IMAP and POP3 machines: at every `server` event the machine's replies so far must equal the
 * replies the file spells out, byte for byte, and at the end nothing more may have been sent.
 * Plus direct tests of the rules the session format cannot express: discard counts, message
 * bytes, counters, the per-connection bound.
 */
#include <dirent.h>
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
#include "session.h"

struct drive {
    struct mx_machine m;
    struct mx_chain chain;
    uint8_t *linebuf;
    char got[65536];
    size_t got_n;
    char msg[65536]; /* message bytes (SMTP DATA) */
    size_t msg_n;
    size_t discarded; /* total reported by STARTTLS actions (and a mixed pipeline's close) */
    size_t kept;      /* total left queued for the handshake by STARTTLS actions */
    int awaiting, closed, starttls_count, in_hs, wait_tls;
};

static void pump(struct drive *d)
{
    static struct mx_step st;
    while (!d->closed) {
        int act = mx_machine_step(&d->m, &d->chain, &st);
        if (act == MX_ACT_NEED_INPUT)
            return;
        assert_true(d->got_n + st.reply_n <= sizeof d->got);
        memcpy(d->got + d->got_n, st.reply, st.reply_n);
        d->got_n += st.reply_n;
        if (act == MX_ACT_DATA) {
            assert_true(d->msg_n + st.data_n <= sizeof d->msg);
            memcpy(d->msg + d->msg_n, st.data, st.data_n);
            d->msg_n += st.data_n;
        }
        if (act == MX_ACT_CLOSE)
            d->discarded += st.discarded;
        if (act == MX_ACT_STARTTLS) {
            assert_int_equal(d->chain.bytes, st.tls_kept);
            d->kept += st.tls_kept;
            mx_chain_consume(&d->chain, d->chain.bytes); /* the TLS layer's */
            d->discarded += st.discarded;
            d->starttls_count++;
            d->awaiting = 1;
            d->wait_tls = 1;
        }
        if (act == MX_ACT_HANDSHAKE) {
            mx_chain_consume(&d->chain, d->chain.bytes);
            d->awaiting = 1;
            d->in_hs = 1;
        }
        if (act == MX_ACT_CLOSE)
            d->closed = 1;
    }
}

/* Runs a session; returns 0 or fails the test naming the file. */
static void run_text(const char *name, const char *text, size_t len, struct drive *d)
{
    uint8_t *bin;
    size_t n;
    char err[256];
    struct fz_session s;
    struct fz_reader rd;
    struct fz_read rr;
    struct mx_conn_cfg cfg;
    static char want[65536];
    size_t want_n = 0;

    if (fz_session_encode(text, len, &bin, &n, err, sizeof err) != 0)
        fail_msg("%s: %s", name, err);
    fz_session_parse(&s, bin, n);
    memset(d, 0, sizeof *d);
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = (int)s.mode;
    cfg.cert = !!(s.flags & FZ_SFLAG_CERT);
    cfg.tls_required = !!(s.flags & FZ_SFLAG_TLS_REQUIRED);
    cfg.literal_minus = fz_session_literal_minus(&s); /* the listener's literal mode */
    cfg.max_message = s.max_literal;
    cfg.host = "mxfuzz"; /* the names the recorded sessions were written with */
    cfg.product = "mxfuzz";
    d->linebuf = malloc(s.max_line);
    assert_non_null(d->linebuf);
    /* the session's proto byte is numbered as enum mx_app_proto */
    assert_int_equal(mx_machine_init(&d->m, (enum mx_app_proto)s.proto, &cfg, d->linebuf, s.max_line), 0);
    if (fz_session_tls_unavailable(&s)) /* a certificate bound but unusable (FORMAT.md bit 3) */
        mx_machine_tls_unavailable(&d->m);
    mx_chain_init(&d->chain, 0, NULL);
    d->awaiting = s.mode == FZ_MODE_IMPLICIT;
    pump(d);
    fz_reader_init(&rd, &s);
    while (fz_reader_next(&rd, &rr)) {
        if (rr.kind == FZ_READ_SERVER) {
            memcpy(want + want_n, rr.p, rr.n);
            want_n += rr.n;
            if (d->got_n != want_n || memcmp(d->got, want, want_n) != 0)
                fail_msg("%s: replies differ:\n--- want ---\n%.*s--- got ---\n%.*s", name,
                         (int)want_n, want, (int)d->got_n, d->got);
            continue;
        }
        if (rr.kind == FZ_READ_TLS) {
            if (d->awaiting) {
                d->awaiting = d->in_hs = d->wait_tls = 0;
                mx_machine_tls_started(&d->m, &d->chain);
                pump(d);
            }
            continue;
        }
        if (d->closed || d->in_hs || d->wait_tls)
            continue; /* closed, or the bytes belong to the TLS handshake */
        assert_int_equal(mx_chain_append(&d->chain, rr.p, rr.n), MX_CHAIN_OK);
        pump(d);
    }
    if (d->got_n != want_n || memcmp(d->got, want, want_n) != 0)
        fail_msg("%s: replies at the end differ:\n--- want ---\n%.*s--- got ---\n%.*s", name,
                 (int)want_n, want, (int)d->got_n, d->got);
    assert_int_equal(mx_chain_check(&d->chain), 0);
    free(bin);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *b;
    long sz;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)sz + 1);
    if (!b || fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static const char *root(void)
{
    const char *r = getenv("MXFUZZ_ROOT");
    return r ? r : ".";
}

static void drive_free(struct drive *d)
{
    mx_chain_release(&d->chain);
    free(d->linebuf);
}

static void run_file(const char *name, struct drive *d)
{
    char path[1024];
    size_t n;
    char *text;
    snprintf(path, sizeof path, "%s/corpus/sessions/starttls/%s.txt", root(), name);
    text = slurp(path, &n);
    if (!text)
        fail_msg("cannot read %s", path);
    run_text(name, text, n, d);
    free(text);
}

/* Every session file in the directory replays with exactly its replies. */
static void test_all_sessions(void **state)
{
    char dir[1024];
    DIR *dp;
    struct dirent *e;
    int count = 0;
    static struct drive d;
    (void)state;
    snprintf(dir, sizeof dir, "%s/corpus/sessions/starttls", root());
    dp = opendir(dir);
    assert_non_null(dp);
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        char name[256];
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") || l - 4 >= sizeof name)
            continue;
        memcpy(name, e->d_name, l - 4);
        name[l - 4] = 0;
        run_file(name, &d);
        drive_free(&d);
        count++;
    }
    closedir(dp);
    assert_true(count >= 25);
}

/* CVE-2011-0411: the discarded count is exactly what followed the STARTTLS line. */
static void test_injection_discard_count(void **state)
{
    static struct drive d;
    (void)state;
    run_file("smtp-injection", &d);
    assert_int_equal(d.starttls_count, 1);
    assert_int_equal(d.discarded, strlen("RSET\r\nMAIL FROM:<evil@x>\r\n"));
    assert_int_equal(d.chain.discarded, d.discarded);
    assert_int_equal(d.m.starttls_discarded, d.discarded);
    drive_free(&d);
    run_file("imap-injection", &d);
    assert_int_equal(d.discarded, strlen("b LOGIN evil x\r\n"));
    assert_int_equal(d.m.auth, MX_AUTH_DONE); /* by the post-TLS LOGIN, not the injected one */
    drive_free(&d);
    run_file("pop3-injection", &d);
    assert_int_equal(d.discarded, strlen("PASS x\r\n"));
    assert_int_equal(d.m.auth, MX_AUTH_NONE);
    drive_free(&d);
    /* bytes that came after the 220 in a later read are not the machine's: nothing discarded */
    run_file("smtp-injection-late", &d);
    assert_int_equal(d.discarded, 0);
    drive_free(&d);
}

/* Issue 12 rule 5: under LITERAL- and LITERAL+ alike the refused {4097+} and {10+} octets are
 * dropped, every one counted, none framed as a command (the smuggled LOGOUTs never ran: the
 * session's NOOPs were answered and the connection is open). */
static void test_literal_mode_swallow(void **state)
{
    static struct drive d;
    (void)state;
    run_file("imap-literal-minus", &d);
    assert_true(d.m.cfg.literal_minus);
    assert_int_equal(d.m.swallowed, 4097 + 10);
    assert_false(d.closed);
    drive_free(&d);
    run_file("imap-literal-plus", &d);
    assert_false(d.m.cfg.literal_minus);
    assert_int_equal(d.m.swallowed, 4097 + 10);
    assert_false(d.closed);
    drive_free(&d);
}

/* Issue 12 rule 1: a ClientHello pipelined behind STARTTLS is kept for the handshake (counted
 * in st->tls_kept, never in discarded); plaintext mixed with a record closes, all discarded. */
static void test_pipelined_hello(void **state)
{
    static struct drive d;
    (void)state;
    run_file("smtp-starttls-pipelined-hello", &d);
    assert_int_equal(d.kept, 9);
    assert_int_equal(d.discarded, 0);
    assert_int_equal(d.m.starttls_kept, 9);
    assert_int_equal(d.chain.discarded, 0);
    drive_free(&d);
    run_file("imap-starttls-pipelined-hello", &d);
    assert_int_equal(d.kept, 9);
    assert_int_equal(d.chain.discarded, 0);
    drive_free(&d);
    run_file("smtp-starttls-pipelined-mixed", &d);
    assert_true(d.closed);
    assert_int_equal(d.kept, 0);
    assert_int_equal(d.discarded, strlen("RSET\r\n") + 9);
    assert_int_equal(d.chain.discarded, d.discarded);
    drive_free(&d);
    run_file("pop3-stls-pipelined-mixed", &d);
    assert_true(d.closed);
    assert_int_equal(d.discarded, strlen("USER evil\r\n") + 5);
    drive_free(&d);
}

/* Issue 12 rule 3: a refused pre-auth {N+} literal's octets are swallowed, counted, and
 * never answered as commands. */
static void test_preauth_literal_swallowed(void **state)
{
    static struct drive d;
    (void)state;
    run_file("imap-preauth-literal", &d);
    assert_int_equal(d.m.swallowed, 28);
    assert_int_equal(d.m.swallow, 0);
    assert_int_equal(d.m.auth, MX_AUTH_NONE);
    drive_free(&d);
}

/* Issue 12 rule 4: a run of MX_MAX_ERRORS consecutive errors closes; a good reply ends a run;
 * cfg.max_errors sets the limit. */
static void test_error_flood(void **state)
{
    static struct drive d;
    (void)state;
    run_file("smtp-error-flood", &d);
    assert_true(d.closed);
    assert_int_equal(d.m.error_run, MX_MAX_ERRORS);
    drive_free(&d);
    run_file("imap-error-flood", &d);
    assert_true(d.closed);
    drive_free(&d);
    run_file("pop3-error-flood", &d);
    assert_true(d.closed);
    assert_int_equal(d.m.commands, MX_MAX_ERRORS);
    drive_free(&d);
    {
        struct mx_machine m;
        struct mx_chain c;
        struct mx_step st;
        struct mx_conn_cfg cfg;
        uint8_t lb[256];
        int replies = 0, act;
        memset(&cfg, 0, sizeof cfg);
        cfg.host = cfg.product = "mxfuzz";
        cfg.max_errors = 3;
        assert_int_equal(mx_machine_init(&m, MX_APP_SMTP, &cfg, lb, sizeof lb), 0);
        mx_chain_init(&c, 0, NULL);
        assert_int_equal(mx_chain_append(&c, "\r\n\r\n\r\n\r\n\r\n", 10), MX_CHAIN_OK);
        while ((act = mx_machine_step(&m, &c, &st)) == MX_ACT_REPLY)
            replies++;
        assert_int_equal(act, MX_ACT_CLOSE);
        assert_int_equal(replies, 1 + 3); /* greeting + 3 errors, then 421 */
        assert_memory_equal(st.reply, "421 ", 4);
        mx_chain_release(&c);
    }
}

/* Only CRLF.CRLF ends a message; bare-LF lookalikes stay in it; dots are unstuffed. */
static void test_data_smuggling_message(void **state)
{
    static struct drive d;
    const char *want = "one\n.\r\nMAIL FROM:<x@y>\r\ntwo\r\n\nRCPT TO:<e@f>\r\n.dot\r\n";
    (void)state;
    run_file("smtp-data-smuggling", &d);
    assert_int_equal(d.msg_n, strlen(want));
    assert_memory_equal(d.msg, want, d.msg_n);
    drive_free(&d);
}

/* After the handshake: no EHLO, no transaction, not authenticated; counters kept. */
static void test_state_after_tls(void **state)
{
    static struct drive d;
    (void)state;
    run_file("smtp-state-reset", &d);
    assert_int_equal(d.m.tls, 1);
    assert_int_equal(d.m.ps.smtp.helo, 2); /* the new EHLO */
    assert_int_equal(d.m.ps.smtp.mail, 1); /* the MAIL after it */
    assert_int_equal(d.m.commands, 8);
    drive_free(&d);
}

/* The ClientHello is recognised at once: one reply, closed, nothing else answered. */
static void test_clienthello_closes(void **state)
{
    static struct drive d;
    (void)state;
    run_file("smtp-clienthello", &d);
    assert_true(d.closed);
    assert_int_equal(d.m.commands, 0);
    drive_free(&d);
    run_file("smtp-clienthello-split", &d);
    assert_true(d.closed);
    drive_free(&d);
}

/* Issue 12 rule 2 (RFC 8314 3.3): plaintext on an implicit-TLS listener, for each protocol:
 * no reply at all, the close, and the diagnostic (st.diag, m->implicit_refused). */
static void test_implicit_plaintext_silent(void **state)
{
    static const char *const names[] = {"smtp-implicit-plaintext", "imap-implicit-plaintext",
                                        "pop3-implicit-plaintext"};
    static const size_t sent[] = {sizeof "EHLO c\r\n" - 1, sizeof "a CAPABILITY\r\n" - 1,
                                  sizeof "USER a\r\n" - 1};
    static struct drive d;
    (void)state;
    for (int i = 0; i < 3; i++) {
        run_file(names[i], &d);
        assert_true(d.closed);
        assert_int_equal(d.got_n, 0);
        assert_int_equal(d.m.commands, 0);
        assert_int_equal(d.m.implicit_refused, sent[i]);
        drive_free(&d);
    }
    {
        struct mx_chain c;
        static struct mx_step st;
        mx_chain_init(&c, 0, NULL);
        assert_int_equal(mx_chain_append(&c, "Q", 1), MX_CHAIN_OK);
        assert_int_equal(mx_step_implicit_gate(&c, &st), MX_ACT_CLOSE);
        assert_int_equal(st.reply_n, 0);
        assert_non_null(st.diag);
        mx_chain_release(&c);
    }
}

/* A message over max_message is refused with 552 and not delivered past the limit. */
static void test_message_too_big(void **state)
{
    static struct drive d;
    char text[2048];
    (void)state;
    snprintf(text, sizeof text,
             "proto smtp\nmode plaintext\ncert no\nmax-line 64\nmax-literal 256\n"
             "client \"HELO c\\r\\nMAIL FROM:<a@b>\\r\\nRCPT TO:<c@d>\\r\\nDATA\\r\\n\"\n"
             "client \"%0200d\\r\\n%0200d\\r\\n.\\r\\nQUIT\\r\\n\"\n"
             "server \"220 mxfuzz ESMTP mxfuzz\\r\\n250 mxfuzz\\r\\n250 2.1.0 Ok\\r\\n"
             "250 2.1.5 Ok\\r\\n354 End data with <CR><LF>.<CR><LF>\\r\\n"
             "552 5.3.4 Error: message too big\\r\\n221 2.0.0 Bye\\r\\n\"\n", 0, 0);
    run_text("too-big", text, strlen(text), &d);
    assert_true(d.msg_n <= 256);
    assert_true(d.closed);
    drive_free(&d);
}

/* A STARTTLS listener with a certificate bound, for the direct tests below. */
static void starttls_cfg(struct mx_conn_cfg *cfg, const char *host, const char *product)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = MX_LISTEN_STARTTLS;
    cfg->cert = 1;
    cfg->max_message = 1000;
    cfg->host = host;
    cfg->product = product;
}

/* RFC 3207: advertised but failing -> 454, and no longer advertised; no certificate -> 502. */
static void test_tls_unavailable_454(void **state)
{
    struct mx_machine s;
    struct mx_conn_cfg cfg = {0};
    struct mx_chain c;
    static struct mx_step st;
    uint8_t line[128];
    (void)state;
    starttls_cfg(&cfg, "mxfuzz", "mxfuzz");
    assert_int_equal(mx_machine_init(&s, MX_APP_SMTP, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_machine_step(&s, &c, &st), MX_ACT_REPLY);
    assert_int_equal(mx_chain_append(&c, "EHLO a\r\n", 8), 0);
    assert_int_equal(mx_machine_step(&s, &c, &st), MX_ACT_REPLY);
    assert_non_null(memmem(st.reply, st.reply_n, "250-STARTTLS\r\n", 14));
    mx_machine_tls_unavailable(&s);
    assert_int_equal(mx_chain_append(&c, "STARTTLS\r\nEHLO a\r\n", 18), 0);
    assert_int_equal(mx_machine_step(&s, &c, &st), MX_ACT_REPLY);
    assert_int_equal(st.reply_n, strlen("454 4.7.0 TLS not available due to temporary reason\r\n"));
    assert_memory_equal(st.reply, "454 ", 4);
    assert_int_equal(c.discarded, 0); /* nothing purged: TLS did not start */
    assert_int_equal(mx_machine_step(&s, &c, &st), MX_ACT_REPLY);
    assert_null(memmem(st.reply, st.reply_n, "STARTTLS", 8));
    mx_chain_release(&c);
}

/* Feeds text to m and steps it once; returns the action, the reply in st. */
static int feed(struct mx_machine *m, struct mx_chain *c, struct mx_step *st, const char *text)
{
    assert_int_equal(mx_chain_append(c, text, strlen(text)), MX_CHAIN_OK);
    return mx_machine_step(m, c, st);
}

/* What the engine tells its caller besides replies: the body phase (mx-serve opens and commits a
 * message by it), how far authentication got, the error count, and TLS made unavailable for a
 * protocol without a 454 (POP3: STLS no longer offered, refused as not available). */
static void test_engine_queries(void **state)
{
    struct mx_machine m;
    struct mx_conn_cfg cfg = {0};
    struct mx_chain c;
    static struct mx_step st;
    uint8_t line[64];
    (void)state;
    starttls_cfg(&cfg, "h.example", "p");
    assert_int_equal(mx_machine_init(&m, MX_APP_SMTP, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_machine_step(&m, &c, &st), MX_ACT_REPLY);
    assert_int_equal(st.reply_n, strlen("220 h.example ESMTP p\r\n"));
    assert_memory_equal(st.reply, "220 h.example ESMTP p\r\n", st.reply_n);
    assert_int_equal(feed(&m, &c, &st, "EHLO a\r\n"), MX_ACT_REPLY);
    assert_int_equal(feed(&m, &c, &st, "AUTH PLAIN AGEAYg==\r\n"), MX_ACT_REPLY);
    assert_int_equal(mx_machine_auth(&m), MX_AUTH_DONE);
    assert_int_equal(feed(&m, &c, &st, "BOGUS\r\n"), MX_ACT_REPLY);
    assert_int_equal(m.errors, 1);
    assert_int_equal(feed(&m, &c, &st, "MAIL FROM:<a@b>\r\n"), MX_ACT_REPLY);
    assert_int_equal(feed(&m, &c, &st, "RCPT TO:<c@d>\r\n"), MX_ACT_REPLY);
    assert_int_equal(feed(&m, &c, &st, "DATA\r\n"), MX_ACT_REPLY);
    assert_true(mx_machine_in_body(&m));
    assert_int_equal(feed(&m, &c, &st, "x\r\n"), MX_ACT_DATA);
    assert_int_equal(feed(&m, &c, &st, ".\r\n"), MX_ACT_REPLY);
    assert_false(mx_machine_in_body(&m));
    {
        char longl[128];
        memset(longl, 'x', 100);
        memcpy(longl + 100, "\r\n", 3);
        assert_int_equal(feed(&m, &c, &st, longl), MX_ACT_REPLY); /* longer than line[] */
        assert_memory_equal(st.reply, "500 ", 4);
    }
    assert_int_equal(m.errors, 2);
    mx_chain_release(&c);

    assert_int_equal(mx_machine_init(&m, MX_APP_POP3, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_machine_step(&m, &c, &st), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "+OK p POP3 ready\r\n", st.reply_n);
    assert_true(mx_machine_offers_tls(&m));
    mx_machine_tls_unavailable(&m);
    assert_false(mx_machine_offers_tls(&m));
    assert_int_equal(feed(&m, &c, &st, "STLS\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "-ERR STLS not available\r\n", st.reply_n);
    assert_int_equal(feed(&m, &c, &st, "USER u\r\n"), MX_ACT_REPLY);
    assert_int_equal(mx_machine_auth(&m), MX_AUTH_USER);
    assert_int_equal(feed(&m, &c, &st, "PASS p\r\n"), MX_ACT_REPLY);
    assert_int_equal(mx_machine_auth(&m), MX_AUTH_DONE);
    assert_int_equal(feed(&m, &c, &st, "QUIT\r\n"), MX_ACT_CLOSE);
    assert_memory_equal(st.reply, "+OK p POP3 signing off\r\n", st.reply_n);
    mx_chain_release(&c);
}

/* cfg.check: what the machines ask (kind + the argument as sent), a refusal leaves the state
 * unauthenticated (RFC 4954 6, RFC 5530, RFC 3206), and the max_auth_failures'th refusal is
 * followed by the protocol's final line and the close. The check accepts only "good". */
struct check_log {
    enum mx_check_kind kind[16];
    char arg[16][64];
    int n;
};

static enum mx_verdict check_good(void *ctx, enum mx_check_kind kind, const uint8_t *arg, size_t n)
{
    struct check_log *l = ctx;
    if (l->n < 16) {
        l->kind[l->n] = kind;
        snprintf(l->arg[l->n++], 64, "%.*s", (int)n, (const char *)arg);
    }
    if (kind == MX_CHECK_RCPT)
        return memmem(arg, n, "@here>", 6) ? MX_ACCEPT : MX_REFUSE_RELAY;
    return kind == MX_CHECK_USER || memmem(arg, n, "good", 4) ? MX_ACCEPT : MX_REFUSE_AUTH;
}

static void test_check_hook(void **state)
{
    struct mx_machine m;
    struct mx_conn_cfg cfg = {0};
    struct mx_chain c;
    static struct mx_step st;
    struct check_log log;
    uint8_t line[128];
    (void)state;
    starttls_cfg(&cfg, "h", "p");
    cfg.mode = MX_LISTEN_PLAIN;
    cfg.cert = 0;
    cfg.check = check_good;
    cfg.check_ctx = &log;
    cfg.max_auth_failures = 2;

    memset(&log, 0, sizeof log);
    assert_int_equal(mx_machine_init(&m, MX_APP_SMTP, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    mx_machine_step(&m, &c, &st);
    feed(&m, &c, &st, "EHLO a\r\n");
    assert_int_equal(feed(&m, &c, &st, "AUTH PLAIN bad1\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "535 5.7.8 ", 10);
    assert_int_equal(mx_machine_auth(&m), MX_AUTH_NONE);
    assert_int_equal(feed(&m, &c, &st, "AUTH PLAIN good\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "235 ", 4);
    assert_int_equal(log.kind[1], MX_CHECK_PLAIN);
    assert_string_equal(log.arg[1], "good");
    feed(&m, &c, &st, "MAIL FROM:<a@b>\r\n");
    assert_int_equal(feed(&m, &c, &st, "RCPT TO:<x@there>\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "554 5.7.1 ", 10);
    assert_int_equal(feed(&m, &c, &st, "DATA\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "503 ", 4); /* the refused recipient was not counted */
    assert_int_equal(feed(&m, &c, &st, "RCPT TO:<x@here>\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "250 ", 4);
    assert_string_equal(log.arg[3], "<x@here>");
    mx_chain_release(&c);

    /* IMAP: LOGIN gets its arguments, AUTHENTICATE PLAIN its initial response; the second
     * refusal is the last: tagged NO, "* BYE", close */
    memset(&log, 0, sizeof log);
    assert_int_equal(mx_machine_init(&m, MX_APP_IMAP, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    mx_machine_step(&m, &c, &st);
    assert_int_equal(feed(&m, &c, &st, "a CAPABILITY\r\n"), MX_ACT_REPLY);
    assert_non_null(memmem(st.reply, st.reply_n, " AUTH=PLAIN SASL-IR\r\n", 21));
    assert_int_equal(feed(&m, &c, &st, "b LOGIN u \"bad\"\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "b NO [AUTHENTICATIONFAILED] ", 28);
    assert_string_equal(log.arg[0], "u \"bad\"");
    assert_int_equal(log.kind[0], MX_CHECK_LOGIN);
    /* no initial response: "+ ", and "*" cancels without asking; then a response line is
     * asked about as the initial response would be, and answered with the command's tag */
    assert_int_equal(feed(&m, &c, &st, "c AUTHENTICATE PLAIN\r\n"), MX_ACT_REPLY);
    assert_int_equal(st.reply_n, 4);
    assert_memory_equal(st.reply, "+ \r\n", 4);
    assert_int_equal(feed(&m, &c, &st, "*\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "c BAD ", 6);
    assert_int_equal(log.n, 1);
    assert_int_equal(feed(&m, &c, &st, "d AUTHENTICATE PLAIN\r\n"), MX_ACT_REPLY);
    assert_int_equal(feed(&m, &c, &st, "bad2\r\n"), MX_ACT_CLOSE);
    assert_memory_equal(st.reply, "d NO [AUTHENTICATIONFAILED] ", 28);
    assert_non_null(memmem(st.reply, st.reply_n, "\r\n* BYE ", 8));
    assert_int_equal(log.n, 2);
    assert_int_equal(log.kind[1], MX_CHECK_PLAIN);
    assert_string_equal(log.arg[1], "bad2");
    mx_chain_release(&c);
    assert_int_equal(mx_machine_init(&m, MX_APP_IMAP, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    mx_machine_step(&m, &c, &st);
    assert_int_equal(feed(&m, &c, &st, "e AUTHENTICATE PLAIN good\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "e OK ", 5);
    assert_int_equal(mx_machine_auth(&m), MX_AUTH_DONE);
    mx_chain_release(&c);

    /* POP3: USER is told, PASS asked; a refused PASS needs USER again */
    memset(&log, 0, sizeof log);
    assert_int_equal(mx_machine_init(&m, MX_APP_POP3, &cfg, line, sizeof line), 0);
    mx_chain_init(&c, 0, NULL);
    mx_machine_step(&m, &c, &st);
    feed(&m, &c, &st, "USER alice\r\n");
    assert_int_equal(feed(&m, &c, &st, "PASS bad\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "-ERR [AUTH] ", 12);
    assert_int_equal(mx_machine_auth(&m), MX_AUTH_NONE);
    assert_int_equal(log.kind[0], MX_CHECK_USER);
    assert_string_equal(log.arg[0], "alice");
    assert_int_equal(log.kind[1], MX_CHECK_PASS);
    assert_int_equal(feed(&m, &c, &st, "AUTH PLAIN good\r\n"), MX_ACT_REPLY);
    assert_memory_equal(st.reply, "+OK ", 4);
    assert_int_equal(mx_machine_auth(&m), MX_AUTH_DONE);
    mx_chain_release(&c);
}

/* The documented per-connection bounds hold. */
static void test_bounds(void **state)
{
    (void)state;
    assert_true(sizeof(struct mx_machine) <= 320);
    {
        struct mx_machine s;
        struct mx_conn_cfg cfg = {0};
        uint8_t b[MX_LINE_MIN];
        cfg.host = cfg.product = "mxfuzz";
        for (int p = MX_APP_SMTP; p <= MX_APP_POP3; p++) {
            assert_int_equal(mx_machine_init(&s, (enum mx_app_proto)p, &cfg, b, MX_LINE_MIN - 1), -1);
            assert_int_equal(mx_machine_init(&s, (enum mx_app_proto)p, &cfg, b, MX_LINE_MIN), 0);
        }
        assert_int_equal(mx_machine_init(&s, (enum mx_app_proto)3, &cfg, b, MX_LINE_MIN), -1);
        /* libmx has no name of its own for a greeting: the caller must give both */
        cfg.product = NULL;
        assert_int_equal(mx_machine_init(&s, MX_APP_IMAP, &cfg, b, MX_LINE_MIN), -1);
        cfg.product = "p";
        cfg.host = NULL;
        assert_int_equal(mx_machine_init(&s, MX_APP_SMTP, &cfg, b, MX_LINE_MIN), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_sessions),
        cmocka_unit_test(test_literal_mode_swallow),
        cmocka_unit_test(test_check_hook),
        cmocka_unit_test(test_injection_discard_count),
        cmocka_unit_test(test_pipelined_hello),
        cmocka_unit_test(test_preauth_literal_swallowed),
        cmocka_unit_test(test_error_flood),
        cmocka_unit_test(test_data_smuggling_message),
        cmocka_unit_test(test_state_after_tls),
        cmocka_unit_test(test_clienthello_closes),
        cmocka_unit_test(test_implicit_plaintext_silent),
        cmocka_unit_test(test_message_too_big),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_tls_unavailable_454),
        cmocka_unit_test(test_engine_queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
