/* test_pcap_parts.c - the capture importer's parts on their own:
 *  - the TLS PRF / key block (tls_prf.c) against BoringSSL's own SSL_generate_key_block after
 *    real in-memory handshakes (TLS 1.0 and 1.1: MD5/SHA-1 PRF; TLS 1.2: SHA-256 and SHA-384);
 *  - TCP reassembly (tcp_reasm.c): sequence numbers wrapping past 2^32, retransmission,
 *    overlap, out-of-order, and the three kinds of gap (hole before later data, data the peer
 *    acknowledged, FIN beyond the data);
 *  - key log parsing (keylog.c): CRLF, comments, every label, bad lines counted with numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "keylog.h"
#include "tcp_reasm.h"
#include "tls_pair.h"
#include "tls_prf.h"

/* ---- PRF against BoringSSL ---- */

static void prf_case(uint16_t version, uint16_t suite)
{
    struct tls_pair tp;
    memset(&tp, 0, sizeof tp);
    int rc = tls_pair_handshake(&tp, version, suite);
    if (rc)
        fail_msg("handshake %04x/%04x: %s", version, suite, tp.err);
    assert_int_equal(tp.version, version);
    uint8_t cr[32], sr[32], ms[48], kb[sizeof tp.key_block];
    assert_int_equal(SSL_get_client_random(tp.client, cr, 32), 32);
    assert_int_equal(SSL_get_server_random(tp.client, sr, 32), 32);
    assert_int_equal(SSL_SESSION_get_master_key(SSL_get_session(tp.client), ms, 48), 48);
    assert_true(tp.key_block_len > 0 && tp.key_block_len <= sizeof kb);
    assert_int_equal(cap_tls_key_block(version, suite, ms, cr, sr, kb, tp.key_block_len), 0);
    assert_memory_equal(kb, tp.key_block, tp.key_block_len);
    /* and it is not the same under the other PRF (the test can fail) */
    uint16_t other = version == 0x0303 ? 0x0301 : 0x0303;
    assert_int_equal(cap_tls_key_block(other, suite, ms, cr, sr, kb, tp.key_block_len), 0);
    assert_memory_not_equal(kb, tp.key_block, tp.key_block_len);
    tls_pair_free(&tp);
}

static void test_prf_tls10(void **st) { (void)st; prf_case(0x0301, 0x002F); }
static void test_prf_tls11(void **st) { (void)st; prf_case(0x0302, 0x0035); }
static void test_prf_tls12_sha256(void **st) { (void)st; prf_case(0x0303, 0xC02F); }
static void test_prf_tls12_sha384(void **st)
{
    (void)st;
    assert_true(cap_tls12_prf_is_sha384(0xC030));
    prf_case(0x0303, 0xC030);
}

/* ---- reassembly ---- */

struct sink {
    uint8_t buf[4096];
    size_t n;
    size_t lens[64];
    uint32_t pkts[64];
    size_t nchunks;
};

static void sink_fn(void *ctx, int dir, uint32_t pkt, uint64_t off, const uint8_t *p, size_t n)
{
    struct sink *s = ctx;
    (void)dir;
    assert_int_equal(off, s->n);
    assert_true(s->n + n <= sizeof s->buf);
    memcpy(s->buf + s->n, p, n);
    s->n += n;
    s->lens[s->nchunks] = n;
    s->pkts[s->nchunks++] = pkt;
}

static void test_reasm_wrap_retrans_overlap_ooo(void **st)
{
    (void)st;
    struct sink s = {0};
    struct cap_reasm r;
    cap_reasm_init(&r, 0, sink_fn, &s, 0);
    uint32_t isn = 0xFFFFFFF0u; /* data starts 15 bytes before the wrap */
    cap_reasm_syn(&r, isn);
    const uint8_t *txt = (const uint8_t *)"0123456789abcdefghijklmnopqrstuvwxyz";
    uint32_t b = isn + 1;
    cap_reasm_segment(&r, 1, b, txt, 10, 0);            /* 0..10 */
    cap_reasm_segment(&r, 2, b + 20, txt + 20, 10, 0);  /* 20..30 waits (crosses nothing) */
    cap_reasm_segment(&r, 3, b, txt, 10, 0);            /* full retransmission */
    cap_reasm_segment(&r, 4, b + 5, txt + 5, 10, 0);    /* overlap: 10..15 new, crosses 2^32 */
    assert_int_equal(s.nchunks, 2);
    cap_reasm_segment(&r, 5, b + 15, txt + 15, 8, 0);   /* 15..23 fills the hole -> drains 23..30 */
    cap_reasm_segment(&r, 6, b + 30, txt + 30, 6, 1);   /* 30..36 + FIN */
    assert_int_equal(s.n, 36);
    assert_memory_equal(s.buf, txt, 36);
    size_t want[] = {10, 5, 8, 7, 6};
    uint32_t wpk[] = {1, 4, 5, 5, 6};
    assert_int_equal(s.nchunks, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(s.lens[i], want[i]);
        assert_int_equal(s.pkts[i], wpk[i]);
    }
    assert_int_equal(r.retrans_segments, 1);
    struct cap_reasm_gap g;
    cap_reasm_ack(&r, 7, b + 37); /* the FIN acknowledged: no gap */
    cap_reasm_finish(&r, &g);
    assert_false(g.present);
    cap_reasm_free(&r);
}

static void test_reasm_gaps(void **st)
{
    (void)st;
    const uint8_t *txt = (const uint8_t *)"0123456789abcdefghijklmnopqrstuvwxyz";
    struct cap_reasm_gap g;
    {   /* hole before later data */
        struct sink s = {0};
        struct cap_reasm r;
        cap_reasm_init(&r, 0, sink_fn, &s, 0);
        cap_reasm_syn(&r, 1000);
        cap_reasm_segment(&r, 1, 1001, txt, 5, 0);
        cap_reasm_segment(&r, 2, 1011, txt + 10, 5, 0);
        cap_reasm_finish(&r, &g);
        assert_true(g.present);
        assert_int_equal(g.off, 5);
        assert_int_equal(g.missing, 5);
        assert_int_equal(g.pkt, 2);
        assert_int_equal(s.n, 5); /* nothing glued */
        cap_reasm_free(&r);
    }
    {   /* data acknowledged but never captured */
        struct sink s = {0};
        struct cap_reasm r;
        cap_reasm_init(&r, 0, sink_fn, &s, 0);
        cap_reasm_syn(&r, 1000);
        cap_reasm_segment(&r, 1, 1001, txt, 5, 0);
        cap_reasm_ack(&r, 2, 1006);
        cap_reasm_ack(&r, 3, 1007); /* one past: taken as an uncaptured FIN */
        cap_reasm_finish(&r, &g);
        assert_false(g.present);
        cap_reasm_ack(&r, 4, 1020);
        cap_reasm_finish(&r, &g);
        assert_true(g.present);
        assert_int_equal(g.pkt, 4);
        assert_int_equal(g.missing, 14);
        cap_reasm_free(&r);
    }
    {   /* FIN beyond the data */
        struct sink s = {0};
        struct cap_reasm r;
        cap_reasm_init(&r, 0, sink_fn, &s, 0);
        cap_reasm_syn(&r, 1000);
        cap_reasm_segment(&r, 1, 1001, txt, 5, 0);
        cap_reasm_segment(&r, 2, 1009, NULL, 0, 1);
        cap_reasm_finish(&r, &g);
        assert_true(g.present);
        assert_int_equal(g.pkt, 2);
        assert_int_equal(g.missing, 3);
        cap_reasm_free(&r);
    }
    {   /* limit */
        struct sink s = {0};
        struct cap_reasm r;
        cap_reasm_init(&r, 0, sink_fn, &s, 8);
        cap_reasm_syn(&r, 1000);
        cap_reasm_segment(&r, 1, 1001, txt, 5, 0);
        cap_reasm_segment(&r, 2, 1006, txt + 5, 5, 0);
        cap_reasm_finish(&r, &g);
        assert_true(g.present);
        assert_int_equal(g.pkt, 2);
        assert_int_equal(s.n, 5);
        cap_reasm_free(&r);
    }
}

/* ---- key log ---- */

static void test_keylog(void **st)
{
    (void)st;
    char cr[65], ms[97], ts[65];
    for (int i = 0; i < 64; i++)
        cr[i] = "0123456789abcdef"[i % 16];
    cr[64] = 0;
    for (int i = 0; i < 96; i++)
        ms[i] = "fedcba9876543210"[i % 16];
    ms[96] = 0;
    memcpy(ts, ms, 64);
    ts[64] = 0;
    char text[2048];
    snprintf(text, sizeof text,
             "# comment\r\n"
             "\r\n"
             "CLIENT_RANDOM %s %s\r\n"
             "CLIENT_HANDSHAKE_TRAFFIC_SECRET %s %s\n"
             "SERVER_TRAFFIC_SECRET_0 %s %s\n"
             "EXPORTER_SECRET %s %s\n"
             "CLIENT_RANDOM %s 00\n"            /* bad: short secret (line 7) */
             "BOGUS %s %s\n"                    /* bad: label (line 8) */
             "CLIENT_RANDOM xyz %s\n"           /* bad: random (line 9) */
             "CLIENT_RANDOM %s\n",              /* bad: two words (line 10) */
             cr, ms, cr, ts, cr, ms, cr, ms, cr, cr, ms, ms, cr);
    struct cap_keylog k;
    assert_int_equal(cap_keylog_parse(&k, (const uint8_t *)text, strlen(text)), 0);
    assert_int_equal(k.n, 1);
    assert_int_equal(k.bad_lines, 4);
    assert_int_equal(k.bad_line_no[0], 7);
    assert_int_equal(k.bad_line_no[3], 10);
    assert_int_equal(k.unused_lines, 1);
    uint8_t r[32];
    for (int i = 0; i < 32; i++)
        r[i] = (uint8_t)(((i * 2) % 16) << 4 | ((i * 2 + 1) % 16));
    struct cap_keylog_entry *e = cap_keylog_find(&k, r);
    assert_non_null(e);
    assert_int_equal(e->have, (1u << CAP_KL_MASTER) | (1u << CAP_KL_CLIENT_HS) | (1u << CAP_KL_SERVER_APP));
    assert_int_equal(e->len[CAP_KL_MASTER], 48);
    assert_int_equal(e->len[CAP_KL_CLIENT_HS], 32);
    assert_int_equal(e->secret[CAP_KL_MASTER][0], 0xfe);
    r[0] ^= 1;
    assert_null(cap_keylog_find(&k, r));
    cap_keylog_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prf_tls10),
        cmocka_unit_test(test_prf_tls11),
        cmocka_unit_test(test_prf_tls12_sha256),
        cmocka_unit_test(test_prf_tls12_sha384),
        cmocka_unit_test(test_reasm_wrap_retrans_overlap_ooo),
        cmocka_unit_test(test_reasm_gaps),
        cmocka_unit_test(test_keylog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
