/* test_seed_split.c - capture/seed_split.c on sessions built here: a session that fits is
 * written unchanged; a long IMAP literal and a long SMTP message lose their middle and keep
 * their marker (with the new count), their start, their end and the writes around it, and the
 * STARTTLS transition; many short commands become windows that each fit and together hold
 * every command, each later one with the TLS prelude and none starting inside a literal. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seed_split.h"
#include "session.h"

struct sess {
    struct fz_buf b;
};

static void start(struct sess *t, enum fz_proto proto, enum fz_mode mode)
{
    memset(t, 0, sizeof *t);
    fz_sbuf_header(&t->b, 1, proto, mode, FZ_SFLAG_CERT, fz_session_limits(2048, 65536));
}

static void ev(struct sess *t, enum fz_ev_type type, const void *p, size_t n)
{
    fz_sbuf_event(&t->b, type, p, n);
}

static void evs(struct sess *t, enum fz_ev_type type, const char *p)
{
    ev(t, type, p, strlen(p));
}

/* The events of a seed, as the targets read them. */
struct evlist {
    struct fz_event e[512];
    size_t n;
    struct fz_buf stream; /* client bytes */
};

static void events_of(const struct fz_buf *seed, struct fz_session *s, struct evlist *l)
{
    size_t cur = 0;
    memset(l, 0, sizeof *l);
    fz_session_parse(s, seed->p, seed->n);
    while (l->n < 512 && fz_session_next(s, &cur, &l->e[l->n])) {
        if (l->e[l->n].type == FZ_EV_CLIENT)
            fz_buf_put(&l->stream, l->e[l->n].p, l->e[l->n].n);
        l->n++;
    }
}

static uint8_t octet(size_t i) { return (uint8_t)(33 + (i * 7) % 90); }

static void test_fits_unchanged(void **st)
{
    (void)st;
    struct sess t;
    struct cap_split sp;
    start(&t, FZ_PROTO_IMAP, FZ_MODE_PLAIN);
    evs(&t, FZ_EV_SERVER, "* OK ready\r\n");
    evs(&t, FZ_EV_CLIENT, "a1 NOOP\r\n");
    assert_int_equal(cap_split_session(t.b.p, t.b.n, t.b.n, &sp), 0);
    assert_int_equal(sp.n, 1);
    assert_false(sp.shortened);
    assert_int_equal(sp.seed[0].n, t.b.n);
    assert_memory_equal(sp.seed[0].p, t.b.p, t.b.n);
    cap_split_free(&sp);
    fz_buf_free(&t.b);
}

static void test_imap_literal_shortened(void **st)
{
    (void)st;
    enum { N = 20000, W = 4000 };
    struct sess t;
    struct cap_split sp;
    struct fz_session s;
    struct evlist l;
    uint8_t *lit = malloc(N + 2);
    assert_non_null(lit);
    for (size_t i = 0; i < N; i++)
        lit[i] = octet(i);
    memcpy(lit + N, "\r\n", 2);

    start(&t, FZ_PROTO_IMAP, FZ_MODE_STARTTLS);
    evs(&t, FZ_EV_SERVER, "* OK ready\r\n");
    evs(&t, FZ_EV_CLIENT, "a0 STARTTLS\r\n");
    evs(&t, FZ_EV_SERVER, "a0 OK begin\r\n");
    ev(&t, FZ_EV_TLS, NULL, 0);
    evs(&t, FZ_EV_CLIENT, "a1 APPEND INBOX {20000}\r\n");
    evs(&t, FZ_EV_SERVER, "+ OK\r\n");
    for (size_t k = 0; k + W < N; k += W)
        ev(&t, FZ_EV_CLIENT, lit + k, W);
    ev(&t, FZ_EV_CLIENT, lit + (N - W), W + 2); /* the last octets and the CRLF: one write */
    evs(&t, FZ_EV_SERVER, "a1 OK\r\n");
    evs(&t, FZ_EV_CLIENT, "a2 LOGOUT\r\n");
    assert_true(t.b.n > 4096);

    assert_int_equal(cap_split_session(t.b.p, t.b.n, 4096, &sp), 0);
    assert_int_equal(sp.n, 1);
    assert_true(sp.shortened);
    assert_false(sp.windows);
    assert_true(sp.seed[0].n <= 4096);
    events_of(&sp.seed[0], &s, &l);
    assert_int_equal(s.proto, FZ_PROTO_IMAP);
    assert_int_equal(s.mode, FZ_MODE_STARTTLS);
    /* the transition as captured: STARTTLS, its reply, then TLS */
    assert_true(l.n >= 7);
    assert_int_equal(l.e[1].type, FZ_EV_CLIENT);
    assert_int_equal(l.e[3].type, FZ_EV_TLS);
    /* the marker counts what is left: the stream after it is exactly that many octets, CRLF */
    const char *m = memmem(l.stream.p, l.stream.n, "a1 APPEND INBOX {", 17);
    assert_non_null(m);
    unsigned long k = strtoul(m + 17, NULL, 10);
    const uint8_t *data = (const uint8_t *)strstr(m, "}\r\n") + 3;
    size_t after = l.stream.n - (size_t)(data - l.stream.p);
    assert_true(k > 2 * CAP_SPLIT_KEEP && k < N);
    assert_int_equal(after, k + 2 + strlen("a2 LOGOUT\r\n"));
    assert_memory_equal(data, lit, CAP_SPLIT_KEEP);                        /* its start */
    assert_memory_equal(data + k - CAP_SPLIT_KEEP, lit + N - CAP_SPLIT_KEEP, CAP_SPLIT_KEEP + 2);
    /* the literal's end and its CRLF close one client write, followed by the server's OK */
    for (size_t i = 0; i < l.n; i++)
        if (l.e[i].type == FZ_EV_CLIENT && l.e[i].n >= 2 + CAP_SPLIT_KEEP &&
            !memcmp(l.e[i].p + l.e[i].n - 2 - CAP_SPLIT_KEEP, lit + N - CAP_SPLIT_KEEP,
                    CAP_SPLIT_KEEP + 2)) {
            assert_true(i + 1 < l.n);
            assert_int_equal(l.e[i + 1].type, FZ_EV_SERVER);
            goto found;
        }
    fail_msg("no client write ends with the literal's last octets and the CRLF");
found:
    fz_buf_free(&l.stream);
    cap_split_free(&sp);
    fz_buf_free(&t.b);
    free(lit);
}

static void test_smtp_message_lines(void **st)
{
    (void)st;
    struct sess t;
    struct cap_split sp;
    struct fz_session s;
    struct evlist l;
    struct fz_buf msg = {0};
    char line[64];
    start(&t, FZ_PROTO_SMTP, FZ_MODE_STARTTLS);
    evs(&t, FZ_EV_SERVER, "220 mx ESMTP\r\n");
    evs(&t, FZ_EV_CLIENT, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    evs(&t, FZ_EV_SERVER, "354 go\r\n");
    for (int i = 0; i < 1000; i++) {
        /* every tenth line starts with a dot, stuffed (RFC 5321 4.5.2) */
        snprintf(line, sizeof line, "%sline %04d of the message body\r\n", i % 10 ? "" : "..", i);
        fz_buf_put(&msg, line, strlen(line));
    }
    fz_buf_put(&msg, ".\r\nQUIT\r\n", 9);
    ev(&t, FZ_EV_CLIENT, msg.p, msg.n);
    assert_true(t.b.n > 16384);

    assert_int_equal(cap_split_session(t.b.p, t.b.n, 16384, &sp), 0);
    assert_int_equal(sp.n, 1);
    assert_true(sp.shortened);
    assert_true(sp.seed[0].n <= 16384);
    events_of(&sp.seed[0], &s, &l);
    const uint8_t *body = memmem(l.stream.p, l.stream.n, "DATA\r\n", 6);
    assert_non_null(body);
    body += 6;
    size_t n = l.stream.n - (size_t)(body - l.stream.p);
    /* the first line, the last line, the end of data and what follows it are all there */
    assert_memory_equal(body, "..line 0000", 11);
    assert_true(n > 9);
    assert_memory_equal(body + n - 9, ".\r\nQUIT\r\n", 9);
    assert_non_null(memmem(body, n, "line 0999 of the message body\r\n.\r\nQUIT\r\n", 40));
    /* whole lines only: every line left is one of the message's lines */
    for (size_t i = 0; i < n - 9;) {
        const uint8_t *eol = memmem(body + i, n - i, "\r\n", 2);
        assert_non_null(eol);
        size_t len = (size_t)(eol - (body + i));
        assert_true(len == 29 || (len == 31 && !memcmp(body + i, "..", 2)));
        i += len + 2;
    }
    fz_buf_free(&l.stream);
    cap_split_free(&sp);
    fz_buf_free(&t.b);
    fz_buf_free(&msg);
}

static void test_short_commands_windows(void **st)
{
    (void)st;
    struct sess t;
    struct cap_split sp;
    char cmd[600];
    start(&t, FZ_PROTO_IMAP, FZ_MODE_PLAIN);
    evs(&t, FZ_EV_SERVER, "* OK ready\r\n");
    for (int i = 0; i < 40; i++) {
        snprintf(cmd, sizeof cmd, "a%d NOOP %0500d\r\n", i, 0);
        evs(&t, FZ_EV_CLIENT, cmd);
        evs(&t, FZ_EV_SERVER, "a OK\r\n");
    }
    assert_int_equal(cap_split_session(t.b.p, t.b.n, 4096, &sp), 0);
    assert_true(sp.windows);
    assert_false(sp.dropped);
    assert_true(sp.n >= 5);
    struct fz_buf all = {0};
    for (size_t k = 0; k < sp.n; k++) {
        struct fz_session s;
        assert_true(sp.seed[k].n <= 4096);
        fz_session_parse(&s, sp.seed[k].p, sp.seed[k].n);
        assert_int_equal(s.proto, FZ_PROTO_IMAP); /* every window has the header */
        fz_buf_put(&all, sp.seed[k].p, sp.seed[k].n);
    }
    assert_non_null(memmem(sp.seed[0].p, sp.seed[0].n, "* OK ready\r\n", 12));
    for (int i = 0; i < 40; i++) {
        snprintf(cmd, sizeof cmd, "a%d NOOP 0", i);
        assert_non_null(memmem(all.p, all.n, cmd, strlen(cmd)));
    }
    fz_buf_free(&all);
    cap_split_free(&sp);
    fz_buf_free(&t.b);
}

/* The window fallback after STARTTLS, with a literal whose octets come in several writes: every
 * later window starts with the TLS prelude (the client's STARTTLS, the server's OK, the T event:
 * its client bytes are TLS plaintext, as captured), and none starts inside the literal (its
 * octets, or the CRLF that ends its command, read as commands) -- wherever the literal falls. */
static void test_windows_keep_tls_and_literals(void **st)
{
    (void)st;
    char cmd[600];
    for (int before = 0; before < 12; before++) {
        struct sess t;
        struct cap_split sp;
        start(&t, FZ_PROTO_IMAP, FZ_MODE_STARTTLS);
        evs(&t, FZ_EV_SERVER, "* OK ready\r\n");
        evs(&t, FZ_EV_CLIENT, "a STARTTLS\r\n");
        evs(&t, FZ_EV_SERVER, "a OK go\r\n");
        ev(&t, FZ_EV_TLS, "", 0);
        for (int i = 0; i < 24; i++) {
            if (i == before) {
                /* 120 octets: too short to be shortened (2 * CAP_SPLIT_KEEP), in three writes */
                evs(&t, FZ_EV_CLIENT, "b APPEND INBOX {120}\r\n");
                evs(&t, FZ_EV_SERVER, "+ go ahead\r\n");
                for (int w = 0; w < 3; w++)
                    evs(&t, FZ_EV_CLIENT, "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL");
                evs(&t, FZ_EV_CLIENT, "\r\n");
                evs(&t, FZ_EV_SERVER, "b OK\r\n");
            }
            snprintf(cmd, sizeof cmd, "a%d NOOP %0300d\r\n", i, 0);
            evs(&t, FZ_EV_CLIENT, cmd);
            evs(&t, FZ_EV_SERVER, "a OK\r\n");
        }
        assert_int_equal(cap_split_session(t.b.p, t.b.n, 1024, &sp), 0);
        assert_true(sp.windows);
        assert_false(sp.dropped);
        size_t literal_bytes = 0;
        for (size_t k = 0; k < sp.n; k++) {
            struct fz_session s;
            static struct evlist l;
            size_t tls_at = 0, c = 0;
            assert_true(sp.seed[k].n <= 1024);
            events_of(&sp.seed[k], &s, &l);
            while (tls_at < l.n && l.e[tls_at].type != FZ_EV_TLS)
                tls_at++;
            if (k > 0) {
                /* the prelude: STARTTLS and its OK before the T event */
                assert_true(tls_at < l.n);
                assert_true(l.stream.n >= 12 && memcmp(l.stream.p, "a STARTTLS\r\n", 12) == 0);
            }
            for (size_t i = tls_at + 1; i < l.n; i++) {
                if (l.e[i].type != FZ_EV_CLIENT)
                    continue;
                if (c++ == 0) /* the window's first command after TLS: a tag, no octets */
                    assert_true(l.e[i].p[0] == 'a' || l.e[i].p[0] == 'b');
                if (l.e[i].p[0] == 'L')
                    literal_bytes += l.e[i].n;
            }
            fz_buf_free(&l.stream);
        }
        assert_int_equal(literal_bytes, 120); /* the literal is in one window, whole */
        cap_split_free(&sp);
        fz_buf_free(&t.b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_unchanged),
        cmocka_unit_test(test_imap_literal_shortened),
        cmocka_unit_test(test_smtp_message_lines),
        cmocka_unit_test(test_short_commands_windows),
        cmocka_unit_test(test_windows_keep_tls_and_literals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
