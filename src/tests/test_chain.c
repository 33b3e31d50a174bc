/* Unit tests for the receive chain: boundaries, counters, limits, allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx/chain.h"

/* An allocator that fails the allocation number `fail_at` (1-based), counting live blocks. */
struct counting_alloc {
    unsigned calls, fail_at;
    long live;
};
static void *ca_alloc(void *ctx, size_t n)
{
    struct counting_alloc *a = ctx;
    if (++a->calls == a->fail_at)
        return NULL;
    a->live++;
    return malloc(n);
}
static void ca_release(void *ctx, void *p)
{
    struct counting_alloc *a = ctx;
    a->live--;
    free(p);
}

static void assert_consistent(const struct mx_chain *c) { assert_int_equal(mx_chain_check(c), 0); }

static void test_append_consume_counters(void **state)
{
    struct mx_chain c;
    uint8_t big[3 * MX_CHAIN_SEG_CAP + 17];
    (void)state;
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, big, sizeof big), MX_CHAIN_OK);
    assert_int_equal(c.bytes, sizeof big);
    assert_int_equal(c.segments, 4);
    assert_int_equal(c.high_water, sizeof big);
    assert_consistent(&c);
    /* consume exactly the first segment: the segment count must drop */
    assert_int_equal(mx_chain_consume(&c, MX_CHAIN_SEG_CAP), MX_CHAIN_OK);
    assert_int_equal(c.segments, 3);
    assert_int_equal(c.consumed, MX_CHAIN_SEG_CAP);
    assert_int_equal(mx_chain_byte(&c, 0), big[MX_CHAIN_SEG_CAP]);
    assert_consistent(&c);
    assert_int_equal(mx_chain_consume(&c, sizeof big), MX_CHAIN_ESHORT);
    assert_int_equal(c.consumed, MX_CHAIN_SEG_CAP); /* nothing changed */
    assert_int_equal(mx_chain_discard(&c), sizeof big - MX_CHAIN_SEG_CAP);
    assert_int_equal(c.bytes, 0);
    assert_int_equal(c.segments, 0);
    assert_int_equal(c.discarded, sizeof big - MX_CHAIN_SEG_CAP);
    assert_int_equal(c.high_water, sizeof big);
    assert_consistent(&c);
    mx_chain_release(&c);
}

static void test_small_appends_pack(void **state)
{
    struct mx_chain c;
    (void)state;
    mx_chain_init(&c, 0, NULL);
    for (int i = 0; i < 100; i++)
        assert_int_equal(mx_chain_append(&c, "ab", 2), MX_CHAIN_OK);
    assert_int_equal(c.bytes, 200);
    assert_int_equal(c.segments, 1);
    assert_consistent(&c);
    mx_chain_release(&c);
}

static void test_find_straddles_segments(void **state)
{
    struct mx_chain c;
    size_t pos = 0;
    char *owned = malloc(3);
    (void)state;
    memcpy(owned, "\nxy", 3);
    mx_chain_init(&c, 0, NULL);
    assert_int_equal(mx_chain_append(&c, "a1 NOOP\r", 8), MX_CHAIN_OK);
    assert_int_equal(mx_chain_append_owned(&c, owned, 3), MX_CHAIN_OK);
    assert_int_equal(c.segments, 2);
    assert_int_equal(mx_chain_find(&c, 0, "\r\n", 2, &pos), 1);
    assert_int_equal(pos, 7);
    assert_int_equal(mx_chain_find(&c, 8, "\r\n", 2, &pos), 0);
    assert_int_equal(mx_chain_find(&c, 0, "xyz", 3, &pos), 0);
    assert_int_equal(mx_chain_find(&c, 0, "y", 1, &pos), 1);
    assert_int_equal(pos, 10);
    {
        char line[16] = {0};
        assert_int_equal(mx_chain_take_into(&c, line, 9), MX_CHAIN_OK);
        assert_string_equal(line, "a1 NOOP\r\n");
    }
    assert_int_equal(c.bytes, 2);
    assert_int_equal(c.segments, 1);
    assert_consistent(&c);
    mx_chain_release(&c);
}

static void test_limit_is_an_error_not_an_abort(void **state)
{
    struct mx_chain c;
    uint8_t buf[100] = {0};
    (void)state;
    mx_chain_init(&c, 150, NULL);
    assert_int_equal(mx_chain_append(&c, buf, 100), MX_CHAIN_OK);
    assert_int_equal(mx_chain_append(&c, buf, 51), MX_CHAIN_ELIMIT);
    assert_int_equal(c.bytes, 100);
    assert_int_equal(mx_chain_append(&c, buf, 50), MX_CHAIN_OK);
    assert_int_equal(c.bytes, 150);
    assert_int_equal(mx_chain_append(&c, buf, 1), MX_CHAIN_ELIMIT);
    assert_consistent(&c);
    mx_chain_release(&c);
}

/* Every allocation of a multi-segment append, failed in turn, leaves the chain unchanged. */
static void test_every_allocation_failure_is_clean(void **state)
{
    uint8_t big[2 * MX_CHAIN_SEG_CAP + 5];
    (void)state;
    memset(big, 'x', sizeof big);
    for (unsigned k = 1; k <= 6; k++) {
        struct counting_alloc ca = {0, k, 0};
        struct mx_alloc a = {ca_alloc, ca_release, &ca};
        struct mx_chain c;
        unsigned char *taken = NULL;
        int rc1, rc2, rc3;
        mx_chain_init(&c, 0, &a);
        rc1 = mx_chain_append(&c, "hello", 5);            /* allocation 1 */
        rc2 = mx_chain_append(&c, big, sizeof big);       /* allocations 2..3 */
        assert_true(rc1 == MX_CHAIN_OK || (k == 1 && rc1 == MX_CHAIN_ENOMEM));
        if (k == 1)
            assert_int_equal(rc1, MX_CHAIN_ENOMEM);
        if (k == 2 || k == 3) {
            assert_int_equal(rc2, MX_CHAIN_ENOMEM);
            assert_int_equal(c.bytes, 5);
            assert_int_equal(c.high_water, 5);
        }
        assert_consistent(&c);
        rc3 = mx_chain_take(&c, 3, &taken);               /* allocation 4 */
        if (k == 4)
            assert_int_equal(rc3, MX_CHAIN_ENOMEM);
        if (rc3 == MX_CHAIN_ENOMEM)
            assert_null(taken);
        assert_consistent(&c);
        mx_chain_free(&c, taken);
        mx_chain_release(&c);
        assert_int_equal(ca.live, 0);
    }
}

static void test_steady_state_does_not_allocate(void **state)
{
    struct counting_alloc ca = {0, 0, 0};
    struct mx_alloc a = {ca_alloc, ca_release, &ca};
    struct mx_chain c;
    uint8_t rec[1500], out[1500];
    (void)state;
    memset(rec, 'r', sizeof rec);
    mx_chain_init(&c, 0, &a);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(mx_chain_append(&c, rec, sizeof rec), MX_CHAIN_OK);
        assert_int_equal(mx_chain_take_into(&c, out, sizeof out), MX_CHAIN_OK);
    }
    unsigned warm = ca.calls;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(mx_chain_append(&c, rec, sizeof rec), MX_CHAIN_OK);
        assert_int_equal(mx_chain_take_into(&c, out, sizeof out), MX_CHAIN_OK);
    }
    assert_int_equal(ca.calls, warm);
    assert_true(c.nspare <= MX_CHAIN_SPARE_MAX);
    mx_chain_release(&c);
    assert_int_equal(ca.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_consume_counters),
        cmocka_unit_test(test_small_appends_pack),
        cmocka_unit_test(test_find_straddles_segments),
        cmocka_unit_test(test_limit_is_an_error_not_an_abort),
        cmocka_unit_test(test_every_allocation_failure_is_clean),
        cmocka_unit_test(test_steady_state_does_not_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
