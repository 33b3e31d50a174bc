/* bench/floor/record_diff.c - the record_diff target's component floor for `./build.sh bench
 * speed`: the same input turned into the same ciphertext stream and read pattern
 * (targets/record_diff.c: records sealed by BoringSSL with the corruptions applied, which is
 * how the input describes the stream), through libmx's record decrypter alone, once, without
 * BoringSSL's opener or any comparison. Built like the shipped record_diff fuzzer
 * (bench/variant.py floor --like record_diff). Not a shipped target. */
#include <stdint.h>

#include "alloc.h"
#include "fuzz_input.h"
#include "mx/chain.h"
#include "mx/record.h"
#include "record_model.h"
#include "record_seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mx_record r;
    static uint8_t pt[MX_RECORD_MAX_PLAINTEXT];
    struct in in = {data, size};
    struct record_conn c;
    struct mx_alloc pooled = fz_alloc_pooled();
    struct mx_chain chain;
    size_t cuts[IN_MAX_CUTS], ncuts, len, fed = 0, ci = 0, out_len;
    const uint8_t *stream;
    uint8_t type;

    record_seal_conn(&in, &c);
    ncuts = in_cuts(&in, cuts);
    stream = record_seal_stream(&in, &c, &len);
    mx_record_init(&r);
    if (!c.null_cipher &&
        (c.tls13 ? mx_record_set_tls13_secret(&r, c.suite, c.secret, c.secret_len, c.seq0)
                 : mx_record_set_tls12_keys(&r, c.version, c.suite,
                                            c.etm ? MX_REC_ENCRYPT_THEN_MAC : MX_REC_MAC_THEN_ENCRYPT,
                                            1, c.key_block, c.key_block_len, c.seq0)) != MX_REC_OK)
        return 0;
    mx_chain_init(&chain, 0, &pooled);
    for (;;) {
        int st = mx_record_read(&r, &chain, &type, pt, sizeof pt, &out_len);
        if (st == MX_REC_OK)
            continue;
        if (st != MX_REC_NEED_MORE || fed == len)
            break;
        size_t n = in_cut_next(cuts, ncuts, &ci, len - fed);
        if (mx_chain_append(&chain, stream + fed, n) != MX_CHAIN_OK)
            break;
        fed += n;
    }
    mx_chain_release(&chain);
    return 0;
}
