/* test_imap.c - the IMAP command reader: exact events and responses for every malformed
 * literal and the APPEND cases, each input fed whole, and in reads of 1, 2, 3 and 7 bytes
 * (the trace must not depend on the cut). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx/chain.h"
#include "mx/imap.h"

/* A trace: one word per event, literal octets as D(...) (consecutive sink calls merged). */
struct tr {
    char s[16384];
    size_t n;
    int in_data;
    int announced; /* a literal is announced and not ended */
};

static void put(struct tr *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && (size_t)k < sizeof t->s - t->n);
    t->n += (size_t)k;
}

static void put_bytes(struct tr *t, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f)
            put(t, "%c", p[i]);
        else
            put(t, "\\x%02x", p[i]);
    }
}

static void sink(void *ctx, const uint8_t *p, size_t n)
{
    struct tr *t = ctx;
    assert_true(t->announced); /* never before NEED_CONTINUATION / LITERAL_START */
    if (!t->in_data) {
        put(t, "D(");
        t->in_data = 1;
    } else {
        t->n--; /* reopen the D(...) */
    }
    put_bytes(t, p, n);
    put(t, ")");
}

static void event(struct tr *t, const struct mx_imap_event *ev)
{
    char line[256];
    t->in_data = 0;
    switch (ev->type) {
    case MX_IMAP_COMMAND_START:
        put(t, "START(");
        put_bytes(t, ev->tag, ev->tag_len);
        put(t, " ");
        put_bytes(t, ev->name, ev->name_len);
        put(t, ") ");
        break;
    case MX_IMAP_ARG:
        put(t, ev->arg_kind == MX_IMAP_QUOTED ? "Q(" : "A(");
        put_bytes(t, ev->data, ev->len);
        put(t, ") ");
        break;
    case MX_IMAP_LIST_OPEN: put(t, "( "); break;
    case MX_IMAP_LIST_CLOSE: put(t, ") "); break;
    case MX_IMAP_NEED_CONTINUATION:
    case MX_IMAP_LITERAL_START:
        put(t, "%s%llu%s%s ", ev->type == MX_IMAP_NEED_CONTINUATION ? "+" : "LIT",
            (unsigned long long)ev->literal.size, ev->literal.binary ? "b" : "",
            ev->literal.role == MX_IMAP_LIT_MESSAGE ? "m" : "");
        assert_int_equal(ev->literal.sync, ev->type == MX_IMAP_NEED_CONTINUATION);
        t->announced = 1;
        break;
    case MX_IMAP_LITERAL_END:
        put(t, " END ");
        t->announced = 0;
        break;
    case MX_IMAP_COMMAND_END: put(t, "OK\n"); break;
    case MX_IMAP_RESPONSE:
        mx_imap_format_response(ev, line, sizeof line);
        assert_true(strlen(line) >= 2 && strcmp(line + strlen(line) - 2, "\r\n") == 0);
        line[strlen(line) - 2] = 0;
        put(t, "[%s|%s]\n", line, mx_imap_reason_name(ev->response.reason));
        break;
    default: break;
    }
}

struct opts {
    size_t max_line;
    uint64_t max_literal;
    unsigned flags;
};
static const struct opts DEF = {1024, 65536, 0};

/* Feeds input in reads of `chunk` bytes (0: whole) and returns the trace. */
static void run(const struct opts *o, const char *in, size_t len, size_t chunk, struct tr *t)
{
    struct mx_imap r;
    struct mx_chain c;
    struct mx_imap_event ev;
    struct mx_imap_config cfg = {o->max_line, o->max_literal, o->flags, sink, t, NULL, 0};

    memset(t, 0, sizeof *t);
    assert_int_equal(mx_imap_init(&r, &cfg), 0);
    mx_chain_init(&c, 0, NULL);
    for (size_t off = 0; off < len || off == 0;) {
        size_t k = chunk == 0 || chunk > len - off ? len - off : chunk;
        assert_int_equal(mx_chain_append(&c, in + off, k), MX_CHAIN_OK);
        off += k;
        while (mx_imap_next(&r, &c, &ev) != MX_IMAP_NEED_MORE)
            event(t, &ev);
        assert_int_equal(c.bytes, 0); /* NEED_MORE: everything consumed */
        if (len == 0)
            break;
    }
    assert_int_equal(c.consumed, len);
    assert_int_equal(mx_chain_check(&c), 0);
    mx_imap_release(&r);
    mx_chain_release(&c);
}

/* The trace must be `want` whatever the read size. */
static void expect_o(const struct opts *o, const char *in, size_t len, const char *want)
{
    static const size_t chunks[] = {0, 1, 2, 3, 7};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        struct tr t;
        run(o, in, len, chunks[i], &t);
        if (strcmp(t.s, want) != 0) {
            fprintf(stderr, "reads of %zu bytes:\n got: %s\nwant: %s\n", chunks[i], t.s, want);
            fail();
        }
    }
}
#define EXPECT(in, want) expect_o(&DEF, in, sizeof(in) - 1, want)
#define EXPECT_O(o, in, want) expect_o(o, in, sizeof(in) - 1, want)

static void append_basic(void **state)
{
    (void)state;
    EXPECT("a1 APPEND INBOX {5}\r\nhello\r\n",
           "START(a1 APPEND) A(INBOX) +5m D(hello) END OK\n");
    EXPECT("a1 append INBOX (\\Seen \\Draft) \"17-Jul-1996 02:44:25 -0700\" {3}\r\nabc\r\n",
           "START(a1 append) A(INBOX) ( A(\\Seen) A(\\Draft) ) Q(17-Jul-1996 02:44:25 -0700) "
           "+3m D(abc) END OK\n");
    EXPECT("a1 APPEND INBOX () \" 1-Jan-2000 00:00:00 +0000\" {0}\r\n\r\n",
           "START(a1 APPEND) A(INBOX) ( ) Q( 1-Jan-2000 00:00:00 +0000) +0m  END OK\n");
}

static void append_multi(void **state)
{
    (void)state;
    /* MULTIAPPEND with a literal mailbox name, LITERAL+ and literal8 */
    EXPECT("a1 APPEND {6}\r\nDrafts {2}\r\nab (\\Seen) {2+}\r\ncd ~{3}\r\n\x00\x01\x02 "
           "\"05-Nov-2026 12:00:00 +0100\" ~{1+}\r\nz\r\n",
           "START(a1 APPEND) +6 D(Drafts) END +2m D(ab) END ( A(\\Seen) ) LIT2m D(cd) END "
           "+3bm D(\\x00\\x01\\x02) END Q(05-Nov-2026 12:00:00 +0100) LIT1bm D(z) END OK\n");
}

/* Q239082: the literal's end and the CRLF in one read complete the command at once. */
static void q239082_crlf_same_read(void **state)
{
    struct mx_imap r;
    struct mx_chain c;
    struct mx_imap_event ev;
    struct tr t;
    struct mx_imap_config cfg = {1024, 65536, 0, sink, &t, NULL, 0};
    (void)state;
    memset(&t, 0, sizeof t);
    assert_int_equal(mx_imap_init(&r, &cfg), 0);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, "a1 APPEND INBOX {5}\r\n", 21), 0);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_START);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_ARG);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_NEED_CONTINUATION);
    t.announced = 1;
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_NEED_MORE);
    assert_int_equal(mx_chain_append(&c, "hel", 3), 0);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_NEED_MORE);
    assert_int_equal(mx_chain_append(&c, "lo\r\n", 4), 0); /* last octets + CRLF: one read */
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_LITERAL_END);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_END);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_NEED_MORE);
    assert_string_equal(t.s, "D(hello)");
    assert_int_equal(c.bytes, 0);
    assert_int_equal(c.consumed, 28);
    assert_int_equal(r.commands, 1);
    /* and never before the LF: CR alone is not the end */
    assert_int_equal(mx_chain_append(&c, "a2 NOOP\r", 8), 0);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_START);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_NEED_MORE);
    assert_int_equal(mx_chain_append(&c, "\n", 1), 0);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_END);
    mx_imap_release(&r);
    mx_chain_release(&c);
}

/* Issue 12 rule 4: max_errors BAD responses and BAD-answered commands in a row, then
 * TOO_MANY_ERRORS and nothing more parsed; a command answered otherwise ends the run, and NO
 * [TOOBIG] is not a protocol error. */
static void error_run_bounded(void **state)
{
    struct mx_imap r;
    struct mx_chain c;
    struct mx_imap_event ev;
    struct mx_imap_config cfg = {1024, 16, 0, NULL, NULL, NULL, 3};
    (void)state;
    assert_int_equal(mx_imap_init(&r, &cfg), 0);
    mx_chain_init(&c, 0, NULL);
    /* two BADs, a command answered OK, two BADs, a NO [TOOBIG], a command answered BAD */
    assert_int_equal(mx_chain_append(&c, "\r\n\r\na NOOP\r\n\r\n\r\nb LOGIN {99}\r\nc FOO\r\nd NOOP\r\n", 45), 0);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_RESPONSE);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_RESPONSE);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_START);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_END);
    mx_imap_answered(&r, 0);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_RESPONSE);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_RESPONSE);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_START);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_RESPONSE);
    assert_int_equal(ev.response.status, MX_IMAP_NO);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_START);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_END);
    mx_imap_answered(&r, 1); /* the third error in a row */
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_TOO_MANY_ERRORS);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_TOO_MANY_ERRORS);
    assert_int_equal(c.bytes, 8); /* "d NOOP" is never parsed */
    mx_imap_release(&r);
    mx_chain_release(&c);
}

/* The octets of a synchronizing literal never reach the sink before the continuation. */
static void continuation_before_octets(void **state)
{
    struct mx_imap r;
    struct mx_chain c;
    struct mx_imap_event ev;
    struct tr t;
    struct mx_imap_config cfg = {1024, 65536, 0, sink, &t, NULL, 0};
    (void)state;
    memset(&t, 0, sizeof t);
    assert_int_equal(mx_imap_init(&r, &cfg), 0);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, "a LOGIN {4}\r\nuser {4}\r\npass\r\n", 29), 0);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_START);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_NEED_CONTINUATION);
    assert_int_equal(ev.literal.size, 4);
    assert_int_equal(c.bytes, 16); /* "user {4}\r\npass\r\n" still queued, sink untouched */
    assert_int_equal(t.n, 0);
    t.announced = 1;
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_LITERAL_END);
    t.announced = 0;
    assert_string_equal(t.s, "D(user)");
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_NEED_CONTINUATION);
    assert_int_equal(c.bytes, 6);
    mx_imap_release(&r);
    mx_chain_release(&c);
}

static void oversized_sync(void **state)
{
    struct opts o = {1024, 256, 0};
    (void)state;
    /* NO [TOOBIG], no continuation; the next bytes are the next command */
    EXPECT_O(&o, "a1 APPEND INBOX {257}\r\na2 NOOP\r\n",
             "START(a1 APPEND) A(INBOX) [a1 NO [TOOBIG] literal too big|E_LITERAL_TOO_BIG]\n"
             "START(a2 NOOP) OK\n");
    /* at the limit: accepted */
    EXPECT_O(&o, "a1 LOGIN {256}\r\n", "START(a1 LOGIN) +256 ");
    /* a malicious client sends the refused octets anyway: parsed as commands, never stored */
    EXPECT_O(&o, "a1 APPEND INBOX {300}\r\nx1 DELETE INBOX\r\n",
             "START(a1 APPEND) A(INBOX) [a1 NO [TOOBIG] literal too big|E_LITERAL_TOO_BIG]\n"
             "START(x1 DELETE) A(INBOX) OK\n");
    /* UINT64_MAX itself parses, and is too big */
    EXPECT("a1 APPEND INBOX {18446744073709551615}\r\n",
           "START(a1 APPEND) A(INBOX) [a1 NO [TOOBIG] literal too big|E_LITERAL_TOO_BIG]\n");
}

static void malformed_sizes(void **state)
{
    (void)state;
    EXPECT("a1 APPEND INBOX {18446744073709551616}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {99999999999999999999999+}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {+5}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {5+x}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {5}x\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {-1}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX ~{5\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {5}\rx\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad line end|E_LINE_END]\n"
           "START(a2 NOOP) OK\n");
    /* a bad line that ends in a non-synchronizing literal: its octets are swallowed */
    EXPECT("a1 APPEND INBOX {5x {7+}\r\nx2 NOOP\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
    /* ... and one that ends in a synchronizing literal: no octets follow */
    EXPECT("a1 APPEND INBOX {5x {7}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad literal size|E_LITERAL_SYNTAX]\n"
           "START(a2 NOOP) OK\n");
}

static void nonsync_limits(void **state)
{
    struct opts minus = {1024, 65536, 0}, plus = {1024, 65536, MX_IMAP_LITERAL_PLUS};
    static char in[64 + 5000];
    size_t n;
    (void)state;
    /* LITERAL-: 4096 accepted, 4097 refused with BAD [TOOBIG] and swallowed */
    n = (size_t)snprintf(in, sizeof in, "a1 X {4097+}\r\n");
    memset(in + n, 'y', 4097);
    n += 4097;
    memcpy(in + n, " junk\r\na2 NOOP\r\n", 16);
    n += 16;
    expect_o(&minus, in, n,
             "START(a1 X) [a1 BAD [TOOBIG] non-synchronizing literal too big|E_NONSYNC_TOO_BIG]\n"
             "START(a2 NOOP) OK\n");
    /* LITERAL+: the same literal is fine */
    {
        struct tr t;
        run(&plus, in, n, 0, &t);
        assert_non_null(strstr(t.s, "START(a1 X) LIT4097 D(yyyy"));
        assert_non_null(strstr(t.s, "yyy) END A(junk) OK\nSTART(a2 NOOP) OK\n"));
    }
    /* swallowed octets that look like commands are never parsed */
    EXPECT_O(&minus, "a1 X {5000+}\r\n",
             "START(a1 X) [a1 BAD [TOOBIG] non-synchronizing literal too big|E_NONSYNC_TOO_BIG]\n");
    {
        struct opts small = {64, 256, MX_IMAP_LITERAL_PLUS};
        EXPECT_O(&small,
                 "a1 APPEND INBOX {20+}\r\nx1 DELETE INBOX\r\nabcde\r\na2 NOOP\r\n"
                 "a3 APPEND INBOX {257+}\r\n",
                 "START(a1 APPEND) A(INBOX) LIT20m D(x1 DELETE INBOX\\x0d\\x0aabc) END "
                 "[a1 BAD syntax error|E_SYNTAX]\nSTART(a2 NOOP) OK\n"
                 "START(a3 APPEND) A(INBOX) [a3 BAD [TOOBIG] non-synchronizing literal too "
                 "big|E_NONSYNC_TOO_BIG]\n");
    }
}

static void quoted_strings(void **state)
{
    (void)state;
    EXPECT("a1 LOGIN \"us\\\"er\" \"p\\\\w\"\r\n", "START(a1 LOGIN) Q(us\"er) Q(p\\w) OK\n");
    EXPECT("a1 LOGIN \"u\0s\" x\r\na2 NOOP\r\n",
           "START(a1 LOGIN) [a1 BAD NUL in a quoted string|E_QUOTED_NUL]\nSTART(a2 NOOP) OK\n");
    EXPECT("a1 LOGIN \"u\\n\" x\r\na2 NOOP\r\n",
           "START(a1 LOGIN) [a1 BAD bad quoted string|E_QUOTED]\nSTART(a2 NOOP) OK\n");
    EXPECT("a1 LOGIN \"u\r\na2 NOOP\r\n",
           "START(a1 LOGIN) [a1 BAD bad quoted string|E_QUOTED]\nSTART(a2 NOOP) OK\n");
    /* NUL with a non-synchronizing literal later on the line: swallowed */
    EXPECT("a1 LOGIN \"\0\" {3+}\r\nx\r\n\r\na2 NOOP\r\n",
           "START(a1 LOGIN) [a1 BAD NUL in a quoted string|E_QUOTED_NUL]\nSTART(a2 NOOP) OK\n");
}

static void line_limits(void **state)
{
    struct opts o = {16, 256, 0};
    (void)state;
    /* 16 bytes including CRLF fit; 17 do not */
    EXPECT_O(&o, "a1 X 123456789\r\na2 X 1234567890\r\na3 NOOP\r\n",
             "START(a1 X) A(123456789) OK\n"
             "START(a2 X) A(1234567890) [a2 BAD [LIMIT] line too long|E_LINE_TOO_LONG]\n"
             "START(a3 NOOP) OK\n");
    /* the allowance starts again after a literal's octets */
    EXPECT_O(&o, "a1 X {3}\r\nabc 1234567890123\r\n",
             "START(a1 X) +3 D(abc) END A(1234567890123) OK\n");
    /* a line too long before the tag ends is untagged */
    EXPECT_O(&o, "aaaaaaaaaaaaaaaaaaaaaa NOOP\r\na2 NOOP\r\n",
             "[* BAD [LIMIT] line too long|E_LINE_TOO_LONG]\nSTART(a2 NOOP) OK\n");
}

static void syntax(void **state)
{
    (void)state;
    EXPECT("\r\na1 NOOP\r\n", "[* BAD missing or bad tag|E_TAG]\nSTART(a1 NOOP) OK\n");
    EXPECT("a1\r\n", "[* BAD missing or bad tag|E_TAG]\n");
    EXPECT("a1 \r\n", "[a1 BAD missing or bad command name|E_NAME]\n");
    EXPECT("a1 NOOP \r\n", "START(a1 NOOP) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 NOOP\r\r\n", "START(a1 NOOP) [a1 BAD bad line end|E_LINE_END]\n");
    EXPECT("a1 FETCH 1 (FLAGS\r\n", "START(a1 FETCH) A(1) ( A(FLAGS) [a1 BAD unbalanced "
                                    "parentheses|E_PARENS]\n");
    EXPECT("a1 FETCH 1 FLAGS)\r\n", "START(a1 FETCH) A(1) A(FLAGS) [a1 BAD unbalanced "
                                    "parentheses|E_PARENS]\n");
    EXPECT("a1 FETCH 1 (BODY[HEADER.FIELDS (FROM)]<0.10> FLAGS)\r\n",
           "START(a1 FETCH) A(1) ( A(BODY[HEADER.FIELDS (FROM)]<0.10>) A(FLAGS) ) OK\n");
    /* "[" is an ATOM-CHAR (RFC 3501 §9): without "HEADER.FIELDS SP" it opens no section, so
     * the atom ends where any atom ends (found by dovecot's parser: repro/imap_dovecot) */
    EXPECT("a SELECT a[b\r\n", "START(a SELECT) A(a[b) OK\n");
    EXPECT("a X (a[b) c[d e]\r\n", "START(a X) ( A(a[b) ) A(c[d) A(e]) OK\n");
    EXPECT("a1 FETCH 1 BODY.PEEK[1.HEADER.FIELDS.NOT (A B)]\r\n",
           "START(a1 FETCH) A(1) A(BODY.PEEK[1.HEADER.FIELDS.NOT (A B)]) OK\n");
    EXPECT("a1 FETCH 1 body[header.fields (A\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    /* a header list follows RFC 3501 §9: "(" header-fld-name *(SP header-fld-name) ")" and
     * then the section's "]". A name is an astring, whose ASTRING-CHARs include "]", so "TO]" is
     * a name and only ")]" closes the section; the old reading ended the section at any "]" and
     * accepted anything between ")" and "]" (bench/bugs/header-list-*.patch) */
    EXPECT("a1 FETCH 1 (FLAGS BODY[HEADER.FIELDS (TO])])\r\n",
           "START(a1 FETCH) A(1) ( A(FLAGS) A(BODY[HEADER.FIELDS (TO])]) ) OK\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (TO) X]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (TO]))\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (\"X-A\" B \"a\\\"]\")]\r\n",
           "START(a1 FETCH) A(1) A(BODY[HEADER.FIELDS (\"X-A\" B \"a\\\"]\")]) OK\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (A )]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (A  B)]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS A]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (\"A\"B)]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n");
    /* a literal header-fld-name would put a literal inside an atom: refused at its "{"; the
     * synchronizing literal was never accepted, so what follows is read as the next command */
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS ({2}\r\nTO)]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD syntax error|E_SYNTAX]\n[* BAD missing or bad tag|E_TAG]\n");
    /* a quoted name has the quoted string's rules: NUL, a line end, a bad escape */
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (\"A\0\")]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD NUL in a quoted string|E_QUOTED_NUL]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (\"A\\x\")]\r\n",
           "START(a1 FETCH) A(1) [a1 BAD bad quoted string|E_QUOTED]\n");
    EXPECT("a1 FETCH 1 BODY[HEADER.FIELDS (\"A\r\n",
           "START(a1 FETCH) A(1) [a1 BAD bad quoted string|E_QUOTED]\n");
    EXPECT("a1 FETCH 1 BODY[XHEADER.FIELDS (A)]\r\n",
           "START(a1 FETCH) A(1) A(BODY[XHEADER.FIELDS) ( A(A) ) [a1 BAD syntax error|E_SYNTAX]\n");
    EXPECT("a1 X ((((((((a))))))))\r\n", "START(a1 X) ( ( ( ( ( ( ( ( A(a) ) ) ) ) ) ) ) ) OK\n");
    EXPECT("a1 X (((((((((a)))))))))\r\n",
           "START(a1 X) ( ( ( ( ( ( ( ( [a1 BAD [LIMIT] lists nested too deep|E_DEPTH]\n");
    EXPECT("a1 X ~abc ~\r\n", "START(a1 X) A(~abc) A(~) OK\n");
}

static void append_order(void **state)
{
    (void)state;
    EXPECT("a1 APPEND INBOX\r\n", "START(a1 APPEND) A(INBOX) [a1 BAD APPEND arguments out of "
                                  "order|E_APPEND]\n");
    EXPECT("a1 APPEND INBOX atom {1}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD APPEND arguments out of order|E_APPEND]\n"
           "START(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX (\\Seen (x)) {1}\r\n",
           "START(a1 APPEND) A(INBOX) ( A(\\Seen) [a1 BAD APPEND arguments out of "
           "order|E_APPEND]\n");
    EXPECT("a1 APPEND INBOX \"32-Jan-2000 00:00:00 +0000\" {1}\r\na2 NOOP\r\n",
           "START(a1 APPEND) A(INBOX) [a1 BAD bad date-time|E_DATE]\nSTART(a2 NOOP) OK\n");
    EXPECT("a1 APPEND INBOX {1}\r\nx atom\r\n",
           "START(a1 APPEND) A(INBOX) +1m D(x) END [a1 BAD APPEND arguments out of "
           "order|E_APPEND]\n");
}

static void bad_config_and_memory(void **state)
{
    struct mx_imap r;
    struct mx_imap_config cfg = {MX_IMAP_MIN_LINE - 1, 100, 0, NULL, NULL, NULL, 0};
    char buf[8];
    struct mx_imap_event ev;
    (void)state;
    assert_int_equal(mx_imap_init(&r, &cfg), -1);
    assert_int_equal(mx_imap_init(&r, NULL), -1);
    /* format_response truncates safely and reports the needed length */
    memset(&ev, 0, sizeof ev);
    ev.type = MX_IMAP_RESPONSE;
    ev.response.status = MX_IMAP_BAD;
    ev.response.text = "syntax error";
    assert_int_equal(mx_imap_format_response(&ev, buf, sizeof buf), strlen("* BAD syntax error\r\n"));
    assert_string_equal(buf, "* BAD s");
}

struct counting {
    long allocs, live;
    int fail;
};
static void *c_alloc(void *ctx, size_t n)
{
    struct counting *k = ctx;
    if (k->fail)
        return NULL;
    k->allocs++;
    k->live++;
    return malloc(n);
}
static void c_release(void *ctx, void *p)
{
    struct counting *k = ctx;
    if (p)
        k->live--;
    free(p);
}

/* One allocation per connection (at init), none per command: 2000 pipelined commands with
 * literals of every kind parse without the reader or the chain calling the allocator after the
 * first round; a failing allocator makes init fail cleanly. */
static void no_allocation_per_command(void **state)
{
    struct counting rk = {0, 0, 0}, ck = {0, 0, 0};
    struct mx_alloc ra = {c_alloc, c_release, &rk}, ca = {c_alloc, c_release, &ck};
    struct mx_imap_config cfg = {1024, 65536, MX_IMAP_LITERAL_PLUS, NULL, NULL, &ra, 0};
    struct mx_imap r;
    struct mx_chain c;
    struct mx_imap_event ev;
    static const char cmd[] = "a1 APPEND INBOX (\\Seen) {5}\r\nhello ~{3+}\r\nxyz\r\n"
                              "a2 LOGIN \"user\" {4+}\r\npass\r\na3 FETCH 1 (BODY[] FLAGS)\r\n";
    long chain_allocs = 0;
    (void)state;
    rk.fail = 1;
    assert_int_equal(mx_imap_init(&r, &cfg), -1);
    assert_int_equal(rk.live, 0);
    rk.fail = 0;
    assert_int_equal(mx_imap_init(&r, &cfg), 0);
    mx_chain_init(&c, 0, &ca);
    for (int i = 0; i < 2000; i++) {
        size_t ends = 0;
        assert_int_equal(mx_chain_append(&c, cmd, sizeof cmd - 1), MX_CHAIN_OK);
        while (mx_imap_next(&r, &c, &ev) != MX_IMAP_NEED_MORE)
            ends += ev.type == MX_IMAP_COMMAND_END;
        assert_int_equal(ends, 3);
        if (i == 0)
            chain_allocs = ck.allocs;
    }
    assert_int_equal(rk.allocs, 1);
    assert_int_equal(ck.allocs, chain_allocs); /* steady state: the chain's spare list */
    assert_int_equal(r.commands, 6000);
    /* reset drops a half-parsed command */
    assert_int_equal(mx_chain_append(&c, "a9 APPEND INBOX {5}\r\nhel", 25), MX_CHAIN_OK);
    while (mx_imap_next(&r, &c, &ev) != MX_IMAP_NEED_MORE)
        ;
    mx_imap_reset(&r);
    assert_int_equal(mx_chain_append(&c, "b1 NOOP\r\n", 9), MX_CHAIN_OK);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_START);
    assert_int_equal(ev.tag_len, 2);
    assert_memory_equal(ev.tag, "b1", 2);
    assert_int_equal(mx_imap_next(&r, &c, &ev), MX_IMAP_COMMAND_END);
    mx_imap_release(&r);
    mx_chain_release(&c);
    assert_int_equal(rk.live, 0);
    assert_int_equal(ck.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_basic),
        cmocka_unit_test(append_multi),
        cmocka_unit_test(q239082_crlf_same_read),
        cmocka_unit_test(continuation_before_octets),
        cmocka_unit_test(oversized_sync),
        cmocka_unit_test(malformed_sizes),
        cmocka_unit_test(nonsync_limits),
        cmocka_unit_test(quoted_strings),
        cmocka_unit_test(line_limits),
        cmocka_unit_test(syntax),
        cmocka_unit_test(append_order),
        cmocka_unit_test(error_run_bounded),
        cmocka_unit_test(bad_config_and_memory),
        cmocka_unit_test(no_allocation_per_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
