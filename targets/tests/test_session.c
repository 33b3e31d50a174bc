/* Unit tests for the session format: parse tolerance, read splitting, text round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

static void encode_ok(const char *text, uint8_t **out, size_t *n)
{
    char err[200];
    int rc = fz_session_encode(text, strlen(text), out, n, err, sizeof err);
    if (rc != 0)
        fail_msg("encode failed: %s", err);
}

static void test_header_and_events(void **state)
{
    uint8_t *b;
    size_t n;
    struct fz_session s;
    struct fz_event ev;
    size_t cur = 0;
    (void)state;
    encode_ok("proto imap\nmode starttls\ncert yes\nmax-line 1024\nmax-literal 65536\n"
              "client \"a1 NOOP\\r\\n\"\nserver \"a1 OK\\r\\n\"\nreads 1 2\ntls\n",
              &b, &n);
    fz_session_parse(&s, b, n);
    assert_int_equal(s.proto, FZ_PROTO_IMAP);
    assert_int_equal(s.mode, FZ_MODE_STARTTLS);
    assert_int_equal(s.flags, FZ_SFLAG_CERT);
    assert_int_equal(s.max_line, 1024);
    assert_int_equal(s.max_literal, 65536);
    assert_true(fz_session_next(&s, &cur, &ev));
    assert_int_equal(ev.type, FZ_EV_CLIENT);
    assert_int_equal(ev.n, 9);
    assert_memory_equal(ev.p, "a1 NOOP\r\n", 9);
    assert_true(fz_session_next(&s, &cur, &ev));
    assert_int_equal(ev.type, FZ_EV_SERVER);
    assert_true(fz_session_next(&s, &cur, &ev));
    assert_int_equal(ev.type, FZ_EV_READS);
    assert_int_equal(ev.n, 2);
    assert_true(fz_session_next(&s, &cur, &ev));
    assert_int_equal(ev.type, FZ_EV_TLS);
    assert_false(fz_session_next(&s, &cur, &ev));
    free(b);
}

static void test_truncated_input_is_a_session(void **state)
{
    const uint8_t raw[] = {7, 8, 3, 0xff, 'C', 200, 0, 'a', 'b'};
    struct fz_session s;
    struct fz_event ev;
    size_t cur = 0;
    (void)state;
    for (size_t len = 0; len <= sizeof raw; len++) {
        fz_session_parse(&s, raw, len);
        cur = 0;
        while (fz_session_next(&s, &cur, &ev))
            assert_true(ev.p + ev.n <= raw + len);
    }
    fz_session_parse(&s, raw, sizeof raw);
    assert_int_equal(s.proto, 7 % 3);
    assert_int_equal(s.mode, 8 % 3);
    assert_int_equal(s.max_line, (size_t)64 << (15 % 10));
    assert_int_equal(s.max_literal, (size_t)256 << 15);
    cur = 0;
    assert_true(fz_session_next(&s, &cur, &ev));
    assert_int_equal(ev.n, 2); /* clamped from 200 */
}

/* Collect the reads of a session as "n:bytes|" and TLS/SERVER markers. */
static void reads_of(const char *text, char *out, size_t cap)
{
    uint8_t *b;
    size_t n;
    struct fz_session s;
    struct fz_reader r;
    struct fz_read rd;
    encode_ok(text, &b, &n);
    fz_session_parse(&s, b, n);
    fz_reader_init(&r, &s);
    out[0] = 0;
    while (fz_reader_next(&r, &rd)) {
        size_t l = strlen(out);
        if (rd.kind == FZ_READ_TLS)
            snprintf(out + l, cap - l, "T|");
        else if (rd.kind == FZ_READ_SERVER)
            snprintf(out + l, cap - l, "S|");
        else
            snprintf(out + l, cap - l, "%.*s|", (int)rd.n, (const char *)rd.p);
    }
    free(b);
}

static void test_reads_default_one_per_write(void **state)
{
    char got[256];
    (void)state;
    reads_of("client \"ab\"\nclient \"cde\"\ntls\nclient \"f\"\n", got, sizeof got);
    assert_string_equal(got, "ab|cde|T|f|");
}

static void test_reads_pattern_joins_and_splits(void **state)
{
    char got[256];
    (void)state;
    reads_of("reads 3 1\nclient \"ab\"\nclient \"cdefg\"\n", got, sizeof got);
    assert_string_equal(got, "abc|d|efg|");
    /* a TLS event ends a partial read; the pattern goes on with its next size */
    reads_of("reads 4\nclient \"STARTTLS\\r\\nXY\"\ntls\nclient \"abcdef\"\n", got, sizeof got);
    assert_string_equal(got, "STAR|TTLS|\r\nXY|T|abcd|ef|");
    /* a server write ends a partial read too */
    reads_of("reads 5\nclient \"abc\"\nserver \"x\"\nclient \"de\"\n", got, sizeof got);
    assert_string_equal(got, "abc|S|de|");
    /* an empty pattern goes back to one read per write */
    reads_of("reads 1\nclient \"ab\"\nreads\nclient \"cd\"\n", got, sizeof got);
    assert_string_equal(got, "a|b|cd|");
}

static void test_text_round_trip(void **state)
{
    uint8_t raw[600];
    (void)state;
    srand(1);
    for (int iter = 0; iter < 200; iter++) {
        size_t n = (size_t)rand() % sizeof raw, tn = 0;
        uint8_t *back;
        size_t back_n;
        char *text = NULL, err[200];
        FILE *f;
        for (size_t i = 0; i < n; i++)
            raw[i] = (uint8_t)rand();
        /* canonicalise: decode then encode once, then the round trip must be exact */
        f = open_memstream(&text, &tn);
        fz_session_decode(f, raw, n);
        fclose(f);
        assert_int_equal(fz_session_encode(text, tn, &back, &back_n, err, sizeof err), 0);
        free(text);
        f = open_memstream(&text, &tn);
        fz_session_decode(f, back, back_n);
        fclose(f);
        uint8_t *again;
        size_t again_n;
        assert_int_equal(fz_session_encode(text, tn, &again, &again_n, err, sizeof err), 0);
        assert_int_equal(again_n, back_n);
        assert_memory_equal(again, back, back_n);
        free(text);
        free(back);
        free(again);
    }
}

static void test_encode_errors_name_the_line(void **state)
{
    uint8_t *b;
    size_t n;
    char err[200];
    (void)state;
    assert_int_equal(fz_session_encode("proto smtp\nclient \"ok\"\nclient \"bad\n", 34, &b, &n,
                                       err, sizeof err), -1);
    assert_string_equal(err, "line 3: unterminated string");
    assert_int_equal(fz_session_encode("max-line 100\n", 13, &b, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1: max-line must be a power of two"));
    assert_int_equal(fz_session_encode("client \"a\"\nproto smtp\n", 22, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 2: header line after the first event");
    assert_int_equal(fz_session_encode("frobnicate\n", 11, &b, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1: unknown keyword"));
    assert_int_equal(fz_session_encode("client \"\\x4\"\n", 13, &b, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad \\x escape"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_events),
        cmocka_unit_test(test_truncated_input_is_a_session),
        cmocka_unit_test(test_reads_default_one_per_write),
        cmocka_unit_test(test_reads_pattern_joins_and_splits),
        cmocka_unit_test(test_text_round_trip),
        cmocka_unit_test(test_encode_errors_name_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
