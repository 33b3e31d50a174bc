/* Real BoringSSL handshakes in memory, every supported version x suite: the client's records
 * (SSL_write) are decrypted by libmx from the raw byte stream, cut into reads three ways (one
 * read, 1-byte reads, pseudo-random reads), and must equal what the client wrote and what
 * BoringSSL's server (SSL_read) read; libmx's final read sequence number must equal the
 * server's SSL_get_read_sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx/record.h"
#include "record_peer.h"
#include "tls_pair.h"

/* Plaintext sizes written, one SSL_write each: block and MAC boundaries, and the maximum. */
static const size_t sizes[] = {1, 2, 15, 16, 17, 19, 20, 21, 31, 32, 33, 255, 256, 257, 1000, 4095, 4096, 16383, 16384};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void run_pair(uint16_t version, uint16_t suite)
{
    struct tls_pair tp;
    size_t total = 0, i, k;
    uint8_t *want, *got;
    static const size_t one[] = {0};
    static const size_t bytewise[] = {1};
    size_t randomish[97];
    uint32_t x = 0x9e3779b9u ^ suite ^ ((uint32_t)version << 16);

    if (tls_pair_handshake(&tp, version, suite) != 0) {
        print_error("handshake 0x%04x/0x%04x: %s\n", version, suite, tp.err);
        fail();
    }
    for (i = 0; i < NSIZES; i++)
        total += sizes[i];
    want = malloc(total);
    got = malloc(total + 1);
    assert_non_null(want);
    assert_non_null(got);
    for (i = 0, k = 0; i < NSIZES; i++) {
        size_t j;
        for (j = 0; j < sizes[i]; j++, k++)
            want[k] = (uint8_t)(k * 131 + i);
        assert_int_equal(tls_pair_client_write(&tp, want + k - sizes[i], sizes[i]), 0);
    }
    /* the reference: BoringSSL's server reads the same bytes */
    assert_int_equal(tls_pair_server_read(&tp, got, total + 1), (long)total);
    assert_memory_equal(got, want, total);

    for (i = 0; i < 97; i++) {
        x = x * 1103515245u + 12345u;
        randomish[i] = 1 + (x >> 8) % 700;
    }
    const size_t *schedules[] = {one, bytewise, randomish};
    const size_t nsched[] = {1, 1, 97};
    for (int s = 0; s < 3; s++) {
        struct record_peer_result res;
        memset(&res, 0, sizeof res);
        res.app = got;
        res.app_cap = total;
        if (record_peer_run(&tp, schedules[s], nsched[s], &res) != 0) {
            print_error("0x%04x/0x%04x schedule %d: %s\n", version, suite, s, res.err);
            fail();
        }
        assert_int_equal(res.status, MX_REC_NEED_MORE);
        assert_int_equal(res.left, 0);
        assert_int_equal(res.finished_type, 20); /* handshake message type finished */
        assert_int_equal(res.finished_len, version == 0x0304 ? 4 + tp.secret_len : 16);
        assert_int_equal(res.app_len, total);
        assert_memory_equal(res.app, want, total);
        /* one record per SSL_write (<= 16384 bytes each) */
        assert_int_equal(res.nrec, NSIZES);
        for (i = 0; i < NSIZES; i++)
            assert_int_equal(res.rec_lens[i], sizes[i]);
        assert_int_equal(res.final_seq, tls_pair_server_read_seq(&tp));
    }
    free(want);
    free(got);
    tls_pair_free(&tp);
}

#define PAIR(name, v, s) static void name(void **state) { (void)state; run_pair(v, s); }
PAIR(tls10_3des, 0x0301, 0x000A)
PAIR(tls10_aes128, 0x0301, 0x002F)
PAIR(tls10_aes256, 0x0301, 0x0035)
PAIR(tls10_ecdhe_aes128, 0x0301, 0xC013)
PAIR(tls11_3des, 0x0302, 0x000A)
PAIR(tls11_aes128, 0x0302, 0x002F)
PAIR(tls11_aes256, 0x0302, 0x0035)
PAIR(tls12_3des, 0x0303, 0x000A)
PAIR(tls12_aes128, 0x0303, 0x002F)
PAIR(tls12_aes256, 0x0303, 0xC014)
PAIR(tls12_aes128_gcm, 0x0303, 0x009C)
PAIR(tls12_ecdhe_aes128_gcm, 0x0303, 0xC02F)
PAIR(tls12_aes256_gcm, 0x0303, 0xC030)
PAIR(tls12_chacha, 0x0303, 0xCCA8)
PAIR(tls13_default, 0x0304, 0)

/* TLS 1.3 KeyUpdate from a real client: libmx follows it (mx_record_tls13_key_update) */
static void tls13_key_update(void **state)
{
    struct tls_pair tp;
    struct record_peer_result res;
    static const size_t cuts[] = {5, 1, 300};
    uint8_t msg[3000], got[3001];
    size_t i;
    (void)state;
    if (tls_pair_handshake(&tp, 0x0304, 0) != 0) {
        print_error("%s\n", tp.err);
        fail();
    }
    for (i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 11 + 5);
    assert_int_equal(tls_pair_client_write(&tp, msg, 1000), 0);
    assert_int_equal(tls_pair_client_key_update(&tp), 0);
    assert_int_equal(tls_pair_client_write(&tp, msg + 1000, 1000), 0);
    assert_int_equal(tls_pair_client_key_update(&tp), 0);
    assert_int_equal(tls_pair_client_write(&tp, msg + 2000, 1000), 0);
    assert_int_equal(tls_pair_server_read(&tp, got, sizeof got), (long)sizeof msg);
    assert_memory_equal(got, msg, sizeof msg);
    memset(&res, 0, sizeof res);
    res.app = got;
    res.app_cap = sizeof got;
    if (record_peer_run(&tp, cuts, 3, &res) != 0) {
        print_error("%s\n", res.err);
        fail();
    }
    assert_int_equal(res.key_updates, 2);
    assert_int_equal(res.left, 0);
    assert_int_equal(res.app_len, sizeof msg);
    assert_memory_equal(res.app, msg, sizeof msg);
    assert_int_equal(res.final_seq, tls_pair_server_read_seq(&tp));
    tls_pair_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls10_3des),       cmocka_unit_test(tls10_aes128),
        cmocka_unit_test(tls10_aes256),     cmocka_unit_test(tls10_ecdhe_aes128),
        cmocka_unit_test(tls11_3des),       cmocka_unit_test(tls11_aes128),
        cmocka_unit_test(tls11_aes256),     cmocka_unit_test(tls12_3des),
        cmocka_unit_test(tls12_aes128),     cmocka_unit_test(tls12_aes256),
        cmocka_unit_test(tls12_aes128_gcm), cmocka_unit_test(tls12_ecdhe_aes128_gcm),
        cmocka_unit_test(tls12_aes256_gcm), cmocka_unit_test(tls12_chacha),
        cmocka_unit_test(tls13_default),    cmocka_unit_test(tls13_key_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
