/* Unit tests for the session format: parse tolerance, read splitting, text round trip, and the
 * version rules (FORMAT.md, "Versions": v1 closed and frozen, v2 behind "MX" + version byte,
 * unknown v2 event types skipped). */
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

/* The text form of b[0..n) (malloc'd, freed by the caller). */
static char *decoded(const uint8_t *b, size_t n)
{
    char *text = NULL;
    size_t tn = 0;
    FILE *f = open_memstream(&text, &tn);
    fz_session_decode(f, b, n);
    fclose(f);
    return text;
}

/* text encodes back to exactly b[0..n). */
static void encodes_back(const char *text, const uint8_t *b, size_t n)
{
    uint8_t *again;
    size_t again_n;
    char err[200];
    assert_int_equal(fz_session_encode(text, strlen(text), &again, &again_n, err, sizeof err), 0);
    assert_int_equal(again_n, n);
    assert_memory_equal(again, b, n);
    free(again);
}

/* A version 3 header bit (b[0..n): a version 3 file with it set, freed here) read through its
 * accessor: set in version 3, its text line v3_line there and no `flags` line, the text encodes
 * back; the same bytes as version 2 (v2: no such line, the bit shown as flags_line) and as
 * version 1 mean nothing by it. */
static void v3_bit_reserved_before(uint8_t *b, size_t n, int (*bit)(const struct fz_session *),
                                   const char *v3_line, const char *v2_absent, const char *flags_line)
{
    struct fz_session s;
    char *text;
    fz_session_parse(&s, b, n);
    assert_int_equal(s.version, 3);
    assert_int_equal(bit(&s), 1);
    text = decoded(b, n);
    assert_non_null(strstr(text, v3_line));
    assert_null(strstr(text, "flags"));
    encodes_back(text, b, n);
    free(text);
    b[2] = 2;
    fz_session_parse(&s, b, n);
    assert_int_equal(bit(&s), 0);
    text = decoded(b, n);
    assert_null(strstr(text, v2_absent));
    assert_non_null(strstr(text, flags_line));
    free(text);
    fz_session_parse(&s, b + 3, n - 3);
    assert_int_equal(s.version, 1);
    assert_int_equal(bit(&s), 0);
    free(b);
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
        if (iter % 2 && n >= 3) /* v2: unknown event types are skipped, the rest is the same */
            memcpy(raw, "MX\x02", 3);
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

/* The events of a binary session as "T:n|" (type letter, payload length). */
static void events_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
    struct fz_session s;
    struct fz_event ev;
    size_t cur = 0, k = 0;
    fz_session_parse(&s, p, n);
    out[0] = 0;
    while (fz_session_next(&s, &cur, &ev)) {
        assert_true(ev.p >= p && ev.p + ev.n <= p + n);
        k += (size_t)snprintf(out + k, cap - k, "%c:%zu|", "CSRT"[ev.type], ev.n);
        assert_true(k < cap);
    }
}

static void test_v1_type_bytes_alias_forever(void **state)
{
    /* v1 is closed: a byte other than C S R T is type % 4, as it always was */
    const uint8_t raw[] = {1, 1, 0, 0, 0x00, 1, 0, 'a', 0x05, 2, 0, 'b', 'c', 0x0e, 0, 0,
                           0xff, 0, 0, 'C', 0, 0};
    struct fz_session s;
    char got[128];
    (void)state;
    fz_session_parse(&s, raw, sizeof raw);
    assert_int_equal(s.version, 1);
    events_of(raw, sizeof raw, got, sizeof got);
    assert_string_equal(got, "C:1|S:2|R:0|T:0|C:0|");
}

static void test_v2_skips_unknown_types(void **state)
{
    const uint8_t raw[] = {'M', 'X', 2, 1, 2, FZ_SFLAG_CERT, 0x21, 'C', 1, 0, 'a', 0x00, 2, 0, 'x', 'y',
                           0x99, 0, 0, 'S', 1, 0, 'b', 0x05, 3, 0, 'z', 'z', 'z', 'T', 0, 0};
    struct fz_session s;
    char got[128];
    (void)state;
    fz_session_parse(&s, raw, sizeof raw);
    assert_int_equal(s.version, 2);
    assert_int_equal(s.proto, FZ_PROTO_IMAP);
    assert_int_equal(s.mode, FZ_MODE_IMPLICIT);
    assert_int_equal(s.flags, FZ_SFLAG_CERT);
    assert_int_equal(s.max_line, 128);
    assert_int_equal(s.max_literal, 1024);
    events_of(raw, sizeof raw, got, sizeof got);
    assert_string_equal(got, "C:1|S:1|T:0|");
    /* an unknown type at the end, its length running past the end: skipped, clamped */
    {
        const uint8_t tail[] = {'M', 'X', 2, 0, 0, 0, 0, 'C', 1, 0, 'a', 0x07, 0xff, 0xff, 'C', 1, 0};
        events_of(tail, sizeof tail, got, sizeof got);
        assert_string_equal(got, "C:1|");
    }
}

static void test_version_marker(void **state)
{
    struct fz_session s;
    char got[128];
    (void)state;
    /* "MX" + 0 or 1 is no marker: a v1 file whose proto byte is 'M' and mode byte 'X' */
    {
        const uint8_t raw[] = {'M', 'X', 1, 0x30, 0x00, 1, 0, 'a'};
        fz_session_parse(&s, raw, sizeof raw);
        assert_int_equal(s.version, 1);
        assert_int_equal(s.proto, 'M' % 3);
        assert_int_equal(s.mode, 'X' % 3);
        assert_int_equal(s.flags, 1);
        events_of(raw, sizeof raw, got, sizeof got);
        assert_string_equal(got, "C:1|");
    }
    /* a version newer than this reader knows is read as the newest it knows */
    {
        const uint8_t raw[] = {'M', 'X', 7, 2, 0, 0, 0, 0x42, 1, 0, 'q', 'C', 1, 0, 'a'};
        fz_session_parse(&s, raw, sizeof raw);
        assert_int_equal(s.version, FZ_SESSION_VERSION_MAX);
        assert_int_equal(s.proto, FZ_PROTO_POP3);
        events_of(raw, sizeof raw, got, sizeof got);
        assert_string_equal(got, "C:1|");
    }
    /* every prefix of a v2 file is a session; the marker needs its version byte */
    {
        const uint8_t raw[] = {'M', 'X', 2, 1, 1, 3, 0xff, 'C', 200, 0, 'a', 'b'};
        for (size_t len = 0; len <= sizeof raw; len++) {
            fz_session_parse(&s, raw, len);
            assert_int_equal(s.version, len >= 3 ? 2u : 1u);
            events_of(raw, len, got, sizeof got);
        }
        fz_session_parse(&s, raw, 3);
        assert_int_equal(s.proto, FZ_PROTO_SMTP);
        assert_int_equal(s.ev_size, 0);
    }
}

static void test_v2_text_round_trip(void **state)
{
    const char *v2 = "# a comment\nversion 2\nproto pop3\nmode starttls\ncert yes\n"
                     "client \"CAPA\\r\\n\"\nserver \"+OK\\r\\n\"\nreads 1 0\ntls\n";
    uint8_t *b, *b1, *again;
    size_t n, n1, again_n, tn = 0;
    char *text = NULL, e1[128], e2[128], err[200];
    FILE *f;
    (void)state;
    encode_ok(v2, &b, &n);
    assert_true(n > 7);
    assert_memory_equal(b, "MX\x02\x02\x01\x01", 6);
    f = open_memstream(&text, &tn);
    fz_session_decode(f, b, n);
    fclose(f);
    assert_non_null(strstr(text, "\nversion 2\nproto pop3\n"));
    assert_int_equal(fz_session_encode(text, tn, &again, &again_n, err, sizeof err), 0);
    assert_int_equal(again_n, n);
    assert_memory_equal(again, b, n);
    /* the same text without the version line (or with "version 1") is v1, same session */
    encode_ok(strstr(v2, "proto"), &b1, &n1);
    assert_int_equal(n1, n - 3);
    assert_memory_equal(b1, b + 3, n1);
    events_of(b, n, e2, sizeof e2);
    events_of(b1, n1, e1, sizeof e1);
    assert_string_equal(e1, e2);
    free(text);
    text = NULL;
    f = open_memstream(&text, &tn);
    fz_session_decode(f, b1, n1);
    fclose(f);
    assert_null(strstr(text, "version")); /* v1 text is what it was before v2 */
    free(text);
    free(again);
    encode_ok("version 1\nclient \"a\"\n", &again, &again_n);
    assert_int_equal(again_n, 4 + 3 + 1);
    free(again);
    free(b);
    free(b1);
    assert_int_equal(fz_session_encode("version 4\n", 10, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 1: version must be 1, 2 or 3");
    assert_int_equal(fz_session_encode("client \"a\"\nversion 2\n", 21, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 2: header line after the first event");
}

/* Version 3: flags bit 2 is the literal mode (LITERAL-, RFC 7888 4). In versions 1 and 2 the
 * same bit is reserved: those files mean LITERAL+, and their text shows the bit as `flags`. */
static void test_v3_literal_mode(void **state)
{
    const char *minus = "version 3\nproto imap\nmode starttls\ncert yes\nliteral minus\n"
                        "client \"a CAPABILITY\\r\\n\"\n";
    uint8_t *b;
    size_t n;
    char err[200];
    struct fz_session s;
    (void)state;
    encode_ok(minus, &b, &n);
    assert_memory_equal(b, "MX\x03\x01\x01\x05", 6);
    /* the same bytes as version 2 or 1: the bit is reserved, the session is LITERAL+ */
    v3_bit_reserved_before(b, n, fz_session_literal_minus,
                           "\ntls-required no\nliteral minus\ntls-unavailable no\nmax-line ", "\nliteral ",
                           "\nflags 0x05\n");
    /* version 3 with `literal plus` (or none): bit clear */
    encode_ok("version 3\nliteral plus\n", &b, &n);
    fz_session_parse(&s, b, n);
    assert_int_equal(s.version, 3);
    assert_int_equal(s.flags, 0);
    free(b);
    /* LITERAL- needs version 3, wherever the version line is; plus is fine in any version */
    assert_int_equal(fz_session_encode("literal minus\nproto imap\n", 25, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 1: literal minus needs version 3 (versions 1 and 2 have no literal "
                             "mode: LITERAL+)");
    assert_int_equal(fz_session_encode("version 2\nliteral minus\n", 24, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 2: literal minus needs version 3 (versions 1 and 2 have no literal "
                             "mode: LITERAL+)");
    encode_ok("literal minus\nversion 3\n", &b, &n);
    assert_int_equal(n, 7);
    free(b);
    encode_ok("literal plus\n", &b, &n);
    assert_int_equal(n, 4);
    free(b);
    assert_int_equal(fz_session_encode("version 3\nliteral maybe\n", 24, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 2: literal must be plus or minus (RFC 7888: LITERAL+ or LITERAL-)");
}

/* Version 3: flags bit 3 is "a certificate is bound but unusable" (FORMAT.md; SMTP 454). In
 * versions 1 and 2 the bit is reserved: their text shows it as `flags`, and they mean nothing by it. */
static void test_v3_tls_unavailable(void **state)
{
    const char *t = "version 3\nproto smtp\nmode starttls\ncert yes\ntls-unavailable yes\n"
                    "client \"STARTTLS\\r\\n\"\n";
    uint8_t *b;
    size_t n;
    char err[200];
    struct fz_session s;
    (void)state;
    encode_ok(t, &b, &n);
    assert_memory_equal(b, "MX\x03\x00\x01\x09", 6);
    fz_session_parse(&s, b, n);
    assert_int_equal(fz_session_literal_minus(&s), 0);
    /* the same bytes as version 2, and as version 1: reserved, no meaning, shown as flags */
    v3_bit_reserved_before(b, n, fz_session_tls_unavailable,
                           "\nliteral plus\ntls-unavailable yes\nmax-line ", "tls-unavailable", "\nflags 0x09\n");
    /* `tls-unavailable yes` needs version 3; `no` is fine anywhere */
    assert_int_equal(fz_session_encode("tls-unavailable yes\n", 20, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 1: tls-unavailable yes needs version 3 (versions 1 and 2 have no such fact)");
    assert_int_equal(fz_session_encode("version 2\ntls-unavailable yes\n", 30, &b, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 2: tls-unavailable yes needs version 3 (versions 1 and 2 have no such fact)");
    encode_ok("tls-unavailable no\n", &b, &n);
    assert_int_equal(n, 4);
    free(b);
    assert_int_equal(fz_session_encode("version 3\ntls-unavailable maybe\n", 32, &b, &n, err, sizeof err), -1);
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
        cmocka_unit_test(test_v1_type_bytes_alias_forever),
        cmocka_unit_test(test_v2_skips_unknown_types),
        cmocka_unit_test(test_version_marker),
        cmocka_unit_test(test_v2_text_round_trip),
        cmocka_unit_test(test_v3_literal_mode),
        cmocka_unit_test(test_v3_tls_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
