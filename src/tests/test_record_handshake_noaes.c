/* TLS 1.3 with ChaCha20-Poly1305 (0x1303) from a real BoringSSL handshake. BoringSSL picks the
 * TLS 1.3 suite itself (AES-GCM when the CPU has AES instructions), so this executable hides
 * AES-NI from BoringSSL (OPENSSL_ia32cap, read at its first use) before anything else; then the
 * same round trip as test_record_handshake runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mx/record.h"
#include "record_peer.h"
#include "tls_pair.h"

static void tls13_chacha(void **state)
{
    struct tls_pair tp;
    struct record_peer_result res;
    static const size_t cuts[] = {3, 7, 100, 1};
    uint8_t msg[5000], got[5001];
    size_t i;
    (void)state;

    if (tls_pair_handshake(&tp, 0x0304, 0x1303) != 0) {
        print_error("%s\n", tp.err);
        fail();
    }
    for (i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(tls_pair_client_write(&tp, msg, 1), 0);
    assert_int_equal(tls_pair_client_write(&tp, msg + 1, sizeof msg - 1), 0);
    assert_int_equal(tls_pair_server_read(&tp, got, sizeof got), (long)sizeof msg);
    assert_memory_equal(got, msg, sizeof msg);
    memset(&res, 0, sizeof res);
    res.app = got;
    res.app_cap = sizeof got;
    if (record_peer_run(&tp, cuts, 4, &res) != 0) {
        print_error("%s\n", res.err);
        fail();
    }
    assert_int_equal(res.left, 0);
    assert_int_equal(res.finished_len, 4 + 32);
    assert_int_equal(res.nrec, 2);
    assert_int_equal(res.rec_lens[0], 1);
    assert_int_equal(res.app_len, sizeof msg);
    assert_memory_equal(res.app, msg, sizeof msg);
    assert_int_equal(res.final_seq, tls_pair_server_read_seq(&tp));
    tls_pair_free(&tp);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(tls13_chacha)};
    (void)argc;
    /* BoringSSL reads its CPU capabilities in a load-time constructor, so the variable must be
     * set before the process starts: re-execute once with it. CPUID leaf 1 ECX bit 25 (AES-NI)
     * is bit 57 of the 64-bit value BoringSSL parses. */
    if (!getenv("OPENSSL_ia32cap")) {
        setenv("OPENSSL_ia32cap", "~0x200000000000000", 1);
        execv("/proc/self/exe", argv);
        perror("execv /proc/self/exe");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
