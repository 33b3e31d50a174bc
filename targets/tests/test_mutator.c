/* Unit tests for the session-aware mutator (targets/harness/mutator.h). The oracle is the
 * session format itself (session.c, corpus/FORMAT.md): every output must be a canonical session
 * (parse then serialize gives the same bytes), fit the engine's size limit and be the same for
 * the same seed; over every shipped seed of every target the manifest gives a mutator
 * (MXFUZZ_MUTATOR_TARGETS, set by CMakeLists.txt from `./build.sh targets`). The record layout
 * (record_diff) has its own canonical form: every field where the target reads it. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mutator.h"
#include "session.h"

/* A stand-in for the engine's byte mutator: one byte changed, one appended (seeded). */
static unsigned byte_calls;
static size_t test_bytes(uint8_t *d, size_t n, size_t max, void *ctx, uint64_t seed)
{
    (void)ctx;
    byte_calls++;
    if (n)
        d[seed % n] ^= (uint8_t)(1 + (seed >> 8) % 255);
    if (n < max)
        d[n++] = (uint8_t)(seed >> 16);
    return n;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    size_t cap = 0, len = 0, k;
    if (!f)
        fail_msg("cannot read %s", path);
    do {
        if (len == cap)
            p = realloc(p, cap = cap ? 2 * cap : 4096);
        k = fread(p + len, 1, cap - len, f);
        len += k;
    } while (k > 0);
    fclose(f);
    *n = len;
    return p;
}

static enum fz_layout layout_named(const char *name)
{
    if (strcmp(name, "session") == 0)
        return FZ_LAYOUT_SESSION;
    if (strcmp(name, "tls_session") == 0)
        return FZ_LAYOUT_TLS_SESSION;
    if (strcmp(name, "imap_session") == 0)
        return FZ_LAYOUT_IMAP_SESSION;
    if (strcmp(name, "records") == 0)
        return FZ_LAYOUT_RECORDS;
    if (strcmp(name, "raw_records") == 0)
        return FZ_LAYOUT_RAW_RECORDS;
    fail_msg("unknown mutator layout '%s' (targets/mutator/layout_*.c)", name);
    return FZ_LAYOUT_SESSION;
}

static unsigned raw_framed_seeds; /* raw-record inputs seen that are whole records */

/* The checks every output must pass; returns the mutation's name. */
static const char *check_one(struct fz_mutator *m, const uint8_t *in, size_t n, const uint8_t *other, size_t on,
                             size_t max, uint64_t seed, const char *what)
{
    static uint8_t out[70000], again[70000];
    struct fz_mutator m2;
    size_t k = fz_mutate(m, in, n, other, on, out, max, seed), k2, pre;
    const char *name = m->last;
    if (k > max)
        fail_msg("%s seed %llu: %zu bytes out, max %zu", what, (unsigned long long)seed, k, max);
    pre = fz_layout_prefix(m->layout, out, k);
    if (m->layout == FZ_LAYOUT_RAW_RECORDS) {
        /* every input round-trips; a record-level mutation of whole records (most shipped
         * seeds; some end in a truncated or oversized record) keeps every record whole, except
         * the header length put one off on purpose */
        size_t nrec, onrec;
        int framed, iframed, oframed = 1;
        if (!fz_raw_records_canonical(in, n, &nrec, &iframed))
            fail_msg("%s: does not round-trip as TLS records", what);
        raw_framed_seeds += iframed && nrec > 0;
        if (other && !fz_raw_records_canonical(other, on, &onrec, &oframed))
            fail_msg("%s: the crossover partner does not round-trip", what);
        if (strcmp(name, "bytes") != 0) {
            if (!fz_raw_records_canonical(out, k, &nrec, &framed))
                fail_msg("%s seed %llu: %s does not round-trip", what, (unsigned long long)seed, name);
            if (!framed && iframed && oframed && strcmp(name, "raw-length") != 0)
                fail_msg("%s seed %llu: %s left a record whose header length is not its body's", what,
                         (unsigned long long)seed, name);
        }
    } else if (m->layout == FZ_LAYOUT_RECORDS) {
        if (strcmp(name, "bytes") != 0 && !fz_records_canonical(out, k))
            fail_msg("%s seed %llu: %s gave a non-canonical record list (%zu bytes)", what, (unsigned long long)seed,
                     name, k);
    } else if (strcmp(name, "bytes") != 0) {
        /* structural mutations write the whole prefix and a canonical session after it */
        if (k < pre || !fz_session_canonical(out + pre, k - pre))
            fail_msg("%s seed %llu: %s gave a non-canonical session (%zu bytes)", what, (unsigned long long)seed,
                     name, k);
    }
    /* the same seed on a fresh mutator: the same bytes */
    fz_mutator_init(&m2, m->layout, test_bytes, NULL);
    m2.stack = m->stack;
    for (size_t t = 0; t < m->ntok; t++)
        fz_mutator_add_token(&m2, m->tok.p + m->tok_off[t], m->tok_len[t]);
    k2 = fz_mutate(&m2, in, n, other, on, again, max, seed);
    if (k2 != k || memcmp(out, again, k) != 0 || strcmp(m2.last, name) != 0)
        fail_msg("%s seed %llu: %s is not deterministic", what, (unsigned long long)seed, name);
    fz_mutator_free(&m2);
    return name;
}

static const char *const all_mutations[] = {
    "insert-write", "insert-copy", "delete", "duplicate", "swap", "splice", "reads-insert", "reads-tweak",
    "reads-reset", "merge", "split", "starttls+tls", "starttls-pipelined", "starttls-clienthello", "tls", "clienthello",
    "literal-insert", "literal-size", "literal-long-line", "header", "payload-bytes", "bytes", "command", "command-pipelined",
    "generate", "delimiter", "record-insert", "record-duplicate", "record-delete", "record-swap", "record-suite", "record-seq",
    "record-length", "record-corrupt", "record-padding", "record-type", "record-cuts", "record-splice",
    "raw-insert", "raw-duplicate", "raw-delete", "raw-swap", "raw-suite", "raw-version", "raw-type", "raw-length",
    "raw-body-length", "raw-padding", "raw-cuts", "raw-splice", "prefix-fields",
};
#define NALL (sizeof all_mutations / sizeof all_mutations[0])

static void test_every_shipped_seed_round_trips(void **state)
{
    const char *env = getenv("MXFUZZ_MUTATOR_TARGETS"), *root = getenv("MXFUZZ_ROOT");
    unsigned seen[NALL] = {0}, ntargets = 0, nfiles = 0;
    char list[1024], path[4096];
    (void)state;
    if (!env || !*env)
        fail_msg("MXFUZZ_MUTATOR_TARGETS is not set (CMakeLists.txt sets it from ./build.sh targets)");
    snprintf(list, sizeof list, "%s", env);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        char *colon = strchr(tok, ':');
        struct fz_mutator m;
        DIR *d;
        struct dirent *de;
        uint8_t *prev = NULL;
        size_t prev_n = 0;
        unsigned files = 0;
        if (!colon)
            fail_msg("bad MXFUZZ_MUTATOR_TARGETS entry %s", tok);
        *colon = 0;
        fz_mutator_init(&m, layout_named(colon + 1), test_bytes, NULL);
        fz_mutator_add_token(&m, (const uint8_t *)"NOOP", 4);
        /* raw records: one mutation per call, so that the name says whether a header length was
         * put off on purpose (check_one) */
        m.stack = m.layout == FZ_LAYOUT_RAW_RECORDS ? 1 : 0;
        snprintf(path, sizeof path, "%s/corpus/%s", root ? root : ".", tok);
        d = opendir(path);
        if (!d)
            fail_msg("no corpus directory %s", path);
        while ((de = readdir(d))) {
            uint8_t *in;
            size_t n;
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/corpus/%s/%s", root ? root : ".", tok, de->d_name);
            in = read_file(path, &n);
            for (uint64_t s = 0; s < 12; s++) {
                /* a generous limit, and one below the seed's size (events must be dropped) */
                size_t max = s % 3 == 2 && n > 8 ? n / 2 + 4 : 65536;
                const char *name = check_one(&m, in, n, s % 2 ? prev : NULL, s % 2 ? prev_n : 0, max,
                                             s * 1000003u + files, path);
                for (size_t i = 0; i < NALL; i++)
                    seen[i] += strcmp(name, all_mutations[i]) == 0;
            }
            free(prev);
            prev = in;
            prev_n = n;
            files++;
        }
        closedir(d);
        free(prev);
        fz_mutator_free(&m);
        if (!files)
            fail_msg("corpus/%s has no seed", tok);
        nfiles += files;
        ntargets++;
    }
    assert_true(ntargets >= 2);
    assert_true(raw_framed_seeds > 100); /* corpus/record: mostly whole records (12 calls a seed) */
    for (size_t i = 0; i < NALL; i++)
        if (!seen[i])
            fail_msg("mutation %s never ran over %u seeds", all_mutations[i], nfiles);
}

/* Mutates `in` with seeds 0, 1, ... until the named mutation ran; returns the output size. */
static size_t until(struct fz_mutator *m, const uint8_t *in, size_t n, const char *name, uint8_t *out, size_t max)
{
    for (uint64_t s = 0; s < 20000; s++) {
        size_t k = fz_mutate(m, in, n, NULL, 0, out, max, s);
        if (strcmp(m->last, name) == 0)
            return k;
    }
    fail_msg("mutation %s never chosen", name);
    return 0;
}

static void encode_ok(const char *text, uint8_t **out, size_t *n)
{
    char err[200];
    if (fz_session_encode(text, strlen(text), out, n, err, sizeof err) != 0)
        fail_msg("encode failed: %s", err);
}

/* {N} rewritten: N is the octets to the next CRLF (5), one off (4, 6), 0, the limit's
 * boundary (max-literal 256: 256, 257) or LITERAL-'s (4096, 4097); never anything else. At
 * LITERAL-'s bound, some rewrites also make it the bound that binds (RFC 7888 4: {N+} under
 * LITERAL-, max-literal above 4096); no other rewrite touches the header. */
static void test_literal_sizes_follow_the_octets(void **state)
{
    uint8_t *in, out[512];
    size_t n;
    struct fz_mutator m;
    unsigned hit[10] = {0};
    (void)state;
    encode_ok("proto imap\nmax-literal 256\nclient \"a APPEND INBOX {3}\\r\\nhello\\r\\n\"\n", &in, &n);
    fz_mutator_init(&m, FZ_LAYOUT_SESSION, NULL, NULL);
    m.stack = 1;
    for (uint64_t seed = 0; seed < 50000; seed++) {
        struct fz_session s;
        struct fz_event e;
        size_t cur = 0, k = fz_mutate(&m, in, n, NULL, 0, out, sizeof out, seed);
        unsigned long v;
        char plus = 0;
        if (strcmp(m.last, "literal-size") != 0)
            continue;
        fz_session_parse(&s, out, k);
        assert_true(fz_session_next(&s, &cur, &e));
        assert_int_equal(e.type, FZ_EV_CLIENT);
        assert_true(sscanf((const char *)e.p, "a APPEND INBOX {%lu%c", &v, &plus) == 2);
        switch (v) {
        case 5: hit[plus == '+' ? 1 : 0]++; break;
        case 4: hit[2]++; break;
        case 6: hit[3]++; break;
        case 0: hit[4]++; break;
        case 256: hit[5]++; break;
        case 257: hit[6]++; break;
        case 4096: hit[7]++; break;
        case 4097: hit[8]++; break;
        default: fail_msg("literal size %lu: not 5, 5 +/- 1, 0, the limit or LITERAL-'s 4096 (+1)", v);
        }
        if (fz_session_literal_minus(&s) || s.max_literal != 256) {
            assert_true(v == 4096 || v == 4097);
            assert_int_equal(plus, '+');
            assert_true(fz_session_literal_minus(&s));
            assert_true(s.max_literal > 4096);
            hit[9]++;
        }
    }
    for (int i = 0; i < 10; i++)
        assert_true(hit[i] > 0);
    fz_mutator_free(&m);
    free(in);
}

/* The marker made the end of a line longer than max-line, {N+} with N the octets that follow
 * (issue 12 rule 3): the line is over the limit by 1-8 bytes when the limit is within 512
 * bytes of it (max-line 64, 512), and a limit further off is lowered first (32768 -> 64); the
 * words before the marker and the octets after it are kept. */
static void test_literal_long_line(void **state)
{
    static const size_t limits[][2] = {{64, 64}, {512, 512}, {32768, 64}};
    (void)state;
    for (size_t c = 0; c < 3; c++) {
        char text[200];
        uint8_t *in, out[2048];
        size_t n, k, cur = 0;
        struct fz_mutator m;
        struct fz_session s;
        struct fz_event e;
        snprintf(text, sizeof text, "proto imap\nmax-line %zu\nclient \"a APPEND INBOX {3}\\r\\nabc\\r\\n\"\n",
                 limits[c][0]);
        encode_ok(text, &in, &n);
        fz_mutator_init(&m, FZ_LAYOUT_SESSION, NULL, NULL);
        m.stack = 1;
        k = until(&m, in, n, "literal-long-line", out, sizeof out);
        fz_session_parse(&s, out, k);
        assert_int_equal(s.max_line, limits[c][1]);
        assert_true(fz_session_next(&s, &cur, &e));
        assert_int_equal(e.type, FZ_EV_CLIENT);
        const char *p = (const char *)e.p;
        size_t line = 0;
        while (line + 1 < e.n && !(p[line] == '\r' && p[line + 1] == '\n'))
            line++;
        assert_true(line + 1 < e.n);
        const char *crlf = p + line;
        assert_true(line > s.max_line);
        assert_true(line <= s.max_line + 8);
        assert_memory_equal(p, "a APPEND INBOX", 14);
        assert_memory_equal(crlf - 5, " {3+}", 5);
        assert_int_equal(e.n - line, 7);
        assert_memory_equal(crlf, "\r\nabc\r\n", 7);
        fz_mutator_free(&m);
        free(in);
    }
}

static int is_delim(char c)
{
    return c && strchr("()[]{}<>\" ", c) != NULL;
}

/* o (on bytes) is c (cn bytes) with one byte inserted before or after a delimiter (grow 1),
 * put in a delimiter's place (grow 0) or a delimiter deleted (grow -1). */
static int delimiter_edit(const char *o, size_t on, const char *c, size_t cn, int grow)
{
    for (size_t d = 0; d < cn; d++) {
        if (!is_delim(c[d]))
            continue;
        for (size_t q = d; q <= d + 1 && grow == 1; q++)
            if (on == cn + 1 && memcmp(o, c, q) == 0 && memcmp(o + q + 1, c + q, cn - q) == 0)
                return 1;
        if (grow == 0 && on == cn && memcmp(o, c, d) == 0 && o[d] != c[d] &&
            memcmp(o + d + 1, c + d + 1, cn - d - 1) == 0)
            return 1;
        if (grow == -1 && on + 1 == cn && memcmp(o, c, d) == 0 && memcmp(o + d, c + d + 1, cn - d - 1) == 0)
            return 1;
    }
    return 0;
}

/* One byte inserted before or after a delimiter, put in its place, or the delimiter deleted;
 * nothing else of the write changes. Over many seeds all four edits happen, and one of them is
 * the §9 edge, a byte between the header list's ")" and the section's "]". */
static void test_delimiter_edges(void **state)
{
    static const char cmd[] = "a1 FETCH 1 BODY[HEADER.FIELDS (TO)]\r\n";
    const size_t cn = sizeof cmd - 1;
    uint8_t *in, out[512];
    size_t n;
    struct fz_mutator m;
    unsigned seen[3] = {0}, edge = 0;
    (void)state;
    encode_ok("proto imap\nclient \"a1 FETCH 1 BODY[HEADER.FIELDS (TO)]\\r\\n\"\n", &in, &n);
    fz_mutator_init(&m, FZ_LAYOUT_SESSION, NULL, NULL);
    m.stack = 1;
    for (uint64_t seed = 0; seed < 40000; seed++) {
        struct fz_session s;
        struct fz_event e;
        size_t cur = 0, k = fz_mutate(&m, in, n, NULL, 0, out, sizeof out, seed);
        if (strcmp(m.last, "delimiter") != 0)
            continue;
        fz_session_parse(&s, out, k);
        assert_true(fz_session_next(&s, &cur, &e));
        int grow = (int)e.n - (int)cn;
        assert_true(grow >= -1 && grow <= 1);
        if (!delimiter_edit((const char *)e.p, e.n, cmd, cn, grow))
            fail_msg("seed %llu: '%.*s' is not one byte edited at a delimiter of '%s'", (unsigned long long)seed,
                     (int)e.n, (const char *)e.p, cmd);
        seen[grow + 1]++;
        edge += grow == 1 && memcmp(e.p, cmd, 34) == 0 && e.p[34] != ']';
    }
    assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0 && edge > 0);
    fz_mutator_free(&m);
    free(in);
}

/* The STARTTLS verb of each protocol (RFC 3207 4; RFC 9051 6.2.1, tagged; RFC 2595 4). */
static const struct {
    const char *proto, *verb;
} starttls_cases[] = {{"smtp", "STARTTLS\r\n"}, {"imap", "a STARTTLS\r\n"}, {"pop3", "STLS\r\n"}};

/* A one-write STARTTLS session of starttls_cases[c]'s protocol, mutated (one mutation a call)
 * until `name` ran; parsed into s, which points into out. */
static void starttls_mutated(size_t c, const char *name, uint8_t *out, size_t max, struct fz_session *s)
{
    char text[200];
    uint8_t *in;
    size_t n, k;
    struct fz_mutator m;
    snprintf(text, sizeof text, "proto %s\nmode starttls\ncert yes\nclient \"x\\r\\n\"\n", starttls_cases[c].proto);
    encode_ok(text, &in, &n);
    fz_mutator_init(&m, FZ_LAYOUT_SESSION, NULL, NULL);
    m.stack = 1;
    k = until(&m, in, n, name, out, max);
    fz_session_parse(s, out, k);
    fz_mutator_free(&m);
    free(in);
}

/* A STARTTLS transition: the protocol's verb in a write, then TLS up. */
static void test_starttls_transition(void **state)
{
    (void)state;
    for (size_t c = 0; c < 3; c++) {
        const char *verb = starttls_cases[c].verb;
        uint8_t out[512];
        size_t cur = 0, prev_n = 0;
        struct fz_session s;
        struct fz_event e;
        int found = 0;
        enum fz_ev_type prev = FZ_EV_SERVER;
        const uint8_t *prev_p = NULL;
        starttls_mutated(c, "starttls+tls", out, sizeof out, &s);
        while (fz_session_next(&s, &cur, &e)) {
            if (e.type == FZ_EV_TLS && prev == FZ_EV_CLIENT && prev_n == strlen(verb) && memcmp(prev_p, verb, prev_n) == 0)
                found = 1;
            prev = e.type;
            prev_p = e.p;
            prev_n = e.n;
        }
        if (!found)
            fail_msg("%s: no \"%s\" write followed by TLS up", starttls_cases[c].proto, verb);
    }
}

/* STARTTLS with a ClientHello behind it in one write: the protocol's verb, then the record
 * header of a handshake (RFC 8446 5.1: type 22, version 3.x) and a ClientHello (4.1.2: type 1). */
static void test_starttls_clienthello_pipelined(void **state)
{
    (void)state;
    for (size_t c = 0; c < 3; c++) {
        const char *verb = starttls_cases[c].verb;
        uint8_t out[512];
        size_t cur = 0, vn = strlen(verb);
        struct fz_session s;
        struct fz_event e;
        int found = 0;
        starttls_mutated(c, "starttls-clienthello", out, sizeof out, &s);
        while (fz_session_next(&s, &cur, &e))
            if (e.type == FZ_EV_CLIENT && e.n > vn + 5 && memcmp(e.p, verb, vn) == 0 && e.p[vn] == 0x16 &&
                e.p[vn + 1] == 0x03 && e.p[vn + 5] == 0x01)
                found = 1;
        if (!found)
            fail_msg("%s: no write of \"%s\" with a ClientHello behind it", starttls_cases[c].proto, verb);
    }
}

/* Merge: two writes become one (the pipelined client), in order. */
static void test_merge_keeps_the_bytes(void **state)
{
    uint8_t *in, out[512];
    size_t n, k, cur = 0;
    struct fz_mutator m;
    struct fz_session s;
    struct fz_event e;
    (void)state;
    encode_ok("proto smtp\nclient \"STARTTLS\\r\\n\"\nclient \"NOOP\\r\\n\"\n", &in, &n);
    fz_mutator_init(&m, FZ_LAYOUT_SESSION, NULL, NULL);
    m.stack = 1;
    k = until(&m, in, n, "merge", out, sizeof out);
    fz_session_parse(&s, out, k);
    assert_true(fz_session_next(&s, &cur, &e));
    assert_int_equal(e.type, FZ_EV_CLIENT);
    assert_int_equal(e.n, 16);
    assert_memory_equal(e.p, "STARTTLS\r\nNOOP\r\n", 16);
    assert_false(fz_session_next(&s, &cur, &e));
    fz_mutator_free(&m);
    free(in);
}

/* The imap_tls layout: the record parameters are carried over whole (zero-filled as the target
 * reads them) or, in 1 of 8 calls, one field of them changed (prefix-fields); the session after
 * them is canonical. */
static void test_tls_prefix_is_kept(void **state)
{
    uint8_t in[10] = {3, 4, 5}, out[1024];
    struct fz_mutator m;
    unsigned fields = 0;
    (void)state;
    fz_mutator_init(&m, FZ_LAYOUT_TLS_SESSION, NULL, NULL);
    for (uint64_t s = 0; s < 200; s++) {
        size_t k = fz_mutate(&m, in, sizeof in, NULL, 0, out, sizeof out, s);
        size_t pre = fz_layout_prefix(FZ_LAYOUT_TLS_SESSION, out, k);
        size_t differ = 0;
        if (strcmp(m.last, "prefix-fields") == 0) { /* one field changed, the session kept */
            fields++;
            assert_true(pre >= 149 && pre <= 149 + 7); /* up to 7 cut sizes (fuzz_input.h IN_MAX_CUTS - 1) */
            assert_true(out[0] < 14 || out[0] == in[0]);
            for (size_t i = 0; i < 148; i++)
                differ += out[i] != (i < sizeof in ? in[i] : 0);
            assert_true(differ <= 1);
            assert_true(k >= pre + FZ_SESSION_HEADER);
            assert_true(fz_session_canonical(out + pre, k - pre));
            continue;
        }
        assert_int_equal(pre, 149); /* suite, seq, 144 keys, iv_seed, pad, ncuts 0 */
        assert_true(k >= pre + FZ_SESSION_HEADER);
        assert_memory_equal(out, in, 3);
        for (size_t i = 3; i < pre; i++)
            assert_int_equal(out[i], 0);
        assert_true(fz_session_canonical(out + pre, k - pre));
    }
    assert_true(fields > 5 && fields < 60); /* 1 in 8 of the calls */
    fz_mutator_free(&m);
}

/* The byte fall-through happens, for a fraction of the calls only. */
static void test_byte_fallthrough_is_a_fraction(void **state)
{
    uint8_t *in, out[512];
    size_t n;
    struct fz_mutator m;
    unsigned bytes = 0;
    (void)state;
    encode_ok("proto imap\nclient \"a NOOP\\r\\n\"\n", &in, &n);
    fz_mutator_init(&m, FZ_LAYOUT_SESSION, test_bytes, NULL);
    for (uint64_t s = 0; s < 1000; s++) {
        fz_mutate(&m, in, n, NULL, 0, out, sizeof out, s);
        bytes += strcmp(m.last, "bytes") == 0;
    }
    assert_true(bytes > 50 && bytes < 250); /* 1 in 8 by design */
    fz_mutator_free(&m);
    free(in);
}

static void test_canonical_rejects_clamped_and_alias(void **state)
{
    static const uint8_t ok[] = {1, 0, 0, 0, 'C', 2, 0, 'h', 'i'};
    static const uint8_t clamped[] = {1, 0, 0, 0, 'C', 9, 0, 'h', 'i'};
    static const uint8_t alias[] = {1, 0, 0, 0, 'G', 2, 0, 'h', 'i'};
    static const uint8_t proto_alias[] = {4, 0, 0, 0, 'C', 2, 0, 'h', 'i'};
    (void)state;
    assert_true(fz_session_canonical(ok, sizeof ok));
    assert_false(fz_session_canonical(clamped, sizeof clamped));
    assert_false(fz_session_canonical(alias, sizeof alias));
    assert_false(fz_session_canonical(proto_alias, sizeof proto_alias));
}

/* From an empty input (an empty corpus): sessions built from nothing, of the header's protocol
 * (imap_session: IMAP whatever the header), each client write a whole line, the protocol's
 * opening command first in some, and a STARTTLS verb followed by TLS up in some. */
static void test_empty_input_builds_sessions(void **state)
{
    static const char *const opening[3] = {"EHLO ", "CAPABILITY", "CAPA"};
    static const char *const verb[3] = {"STARTTLS\r\n", "a STARTTLS\r\n", "STLS\r\n"};
    static const uint8_t none[1];
    uint8_t out[4096];
    (void)state;
    for (int imap_only = 0; imap_only < 2; imap_only++) {
        struct fz_mutator m;
        unsigned generated = 0, opened[3] = {0}, tls[3] = {0};
        fz_mutator_init(&m, imap_only ? FZ_LAYOUT_IMAP_SESSION : FZ_LAYOUT_SESSION, NULL, NULL);
        m.stack = 1;
        for (uint64_t seed = 0; seed < 3000; seed++) {
            size_t k = fz_mutate(&m, none, 0, NULL, 0, out, sizeof out, seed), cur = 0, nclient = 0;
            struct fz_session s;
            struct fz_event e;
            const uint8_t *prev = NULL;
            size_t prev_n = 0;
            if (strcmp(m.last, "generate") != 0)
                continue;
            generated++;
            assert_true(fz_session_canonical(out, k));
            fz_session_parse(&s, out, k);
            unsigned p = imap_only ? FZ_PROTO_IMAP : s.proto;
            while (fz_session_next(&s, &cur, &e)) {
                if (e.type == FZ_EV_CLIENT) {
                    assert_true(e.n >= 2 && e.p[e.n - 1] == '\n');
                    if (p == FZ_PROTO_IMAP) /* tagged */
                        assert_true(memchr(e.p, ' ', e.n) != NULL && e.p[0] != ' ');
                    if (nclient++ == 0) {
                        const uint8_t *w = e.p;
                        size_t wn = e.n;
                        if (p == FZ_PROTO_IMAP) {
                            const uint8_t *sp = memchr(e.p, ' ', e.n);
                            wn -= (size_t)(sp + 1 - e.p);
                            w = sp + 1;
                        }
                        opened[p] += wn >= strlen(opening[p]) && memcmp(w, opening[p], strlen(opening[p])) == 0;
                    }
                }
                if (e.type == FZ_EV_TLS && prev && prev_n == strlen(verb[p]) && memcmp(prev, verb[p], prev_n) == 0)
                    tls[p]++;
                prev = e.type == FZ_EV_CLIENT ? e.p : NULL;
                prev_n = e.n;
            }
            assert_true(nclient >= 1);
        }
        assert_true(generated > 1000); /* 3 in 4 of the empty inputs */
        for (unsigned p = 0; p < 3; p++) {
            if (imap_only && p != FZ_PROTO_IMAP) {
                assert_int_equal(opened[p], 0);
                continue;
            }
            if (!opened[p] || !tls[p])
                fail_msg("protocol %u%s: %u sessions open with its first command, %u have STARTTLS then TLS", p,
                         imap_only ? " (imap_session)" : "", opened[p], tls[p]);
        }
        fz_mutator_free(&m);
    }
}

/* The record layout from an empty input: a suite and records, canonical; and a suite change
 * re-fits the key material (the records after it stay readable: canonical). */
static void test_records_from_nothing(void **state)
{
    static const uint8_t none[1];
    uint8_t out[8192], again[8192];
    struct fz_mutator m;
    unsigned gen = 0, suite = 0;
    (void)state;
    fz_mutator_init(&m, FZ_LAYOUT_RECORDS, NULL, NULL);
    m.stack = 1;
    for (uint64_t seed = 0; seed < 400; seed++) {
        size_t k = fz_mutate(&m, none, 0, NULL, 0, out, sizeof out, seed), keys, iv;
        if (strcmp(m.last, "record-generate") != 0)
            continue;
        gen++;
        assert_true(fz_records_canonical(out, k));
        fz_record_layout_suite(out[0], &keys, &iv);
        assert_true(k >= 2 + keys + 1 + 8 + iv); /* parameters and at least one record */
        for (uint64_t s2 = 0; s2 < 40; s2++) {
            size_t k2 = fz_mutate(&m, out, k, NULL, 0, again, sizeof again, s2 * 7919 + seed);
            if (strcmp(m.last, "record-suite") == 0) {
                suite++;
                assert_true(fz_records_canonical(again, k2));
            }
        }
    }
    assert_true(gen > 100 && suite > 0);
    fz_mutator_free(&m);
}

/* The raw record layout (targets/record.c) from an empty input: a config and whole records;
 * a body resized to a ciphertext length keeps its header fitted. */
static void test_raw_records_from_nothing(void **state)
{
    static const uint8_t none[1];
    static uint8_t out[40000], again[40000];
    struct fz_mutator m;
    unsigned gen = 0, resized = 0;
    (void)state;
    fz_mutator_init(&m, FZ_LAYOUT_RAW_RECORDS, NULL, NULL);
    m.stack = 1;
    for (uint64_t seed = 0; seed < 400; seed++) {
        size_t k = fz_mutate(&m, none, 0, NULL, 0, out, sizeof out, seed), nrec;
        int framed;
        if (strcmp(m.last, "raw-generate") != 0)
            continue;
        gen++;
        assert_true(fz_raw_records_canonical(out, k, &nrec, &framed));
        assert_true(framed && nrec >= 1 && nrec <= 3);
        assert_int_equal(out[1] % 8, 0); /* no read pattern: the records follow at byte 2 */
        for (uint64_t s2 = 0; s2 < 40; s2++) {
            size_t k2 = fz_mutate(&m, out, k, NULL, 0, again, sizeof again, s2 * 7919 + seed), n2;
            if (strcmp(m.last, "raw-body-length") == 0) {
                resized++;
                assert_true(fz_raw_records_canonical(again, k2, &n2, &framed));
                assert_true(framed && n2 == nrec);
            }
        }
    }
    assert_true(gen > 100 && resized > 0);
    fz_mutator_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_rejects_clamped_and_alias),
        cmocka_unit_test(test_every_shipped_seed_round_trips),
        cmocka_unit_test(test_literal_sizes_follow_the_octets),
        cmocka_unit_test(test_literal_long_line),
        cmocka_unit_test(test_delimiter_edges),
        cmocka_unit_test(test_starttls_transition),
        cmocka_unit_test(test_starttls_clienthello_pipelined),
        cmocka_unit_test(test_merge_keeps_the_bytes),
        cmocka_unit_test(test_tls_prefix_is_kept),
        cmocka_unit_test(test_byte_fallthrough_is_a_fraction),
        cmocka_unit_test(test_empty_input_builds_sessions),
        cmocka_unit_test(test_records_from_nothing),
        cmocka_unit_test(test_raw_records_from_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
