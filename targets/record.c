/* targets/record.c - raw TLS records into libmx's decrypter, fixed keys, fast.
 *
 * Input format (every byte string is valid):
 *   u8  config    value % 28: 0..26 pick a (version, suite, MAC order) from record_suites
 *                 (targets/oracles/record_model.c) with the fixed keys below; 27: no keys yet
 *                 (records pass in the clear, as during the handshake)
 *   u8  ncuts     read pattern: ncuts % 8 sizes follow, one byte each (c & 0x80 ? (c & 0x7f)
 *                 * 128 + 1 : c; 0 = everything left); no sizes: one read for all
 *   the rest      the byte stream the server receives, as is (headers included)
 * Fixed keys: key block byte i = i * 7 + 1 (TLS 1.0-1.2, client write keys), TLS 1.3 traffic
 * secret byte i = i * 3 + 2; first sequence number 0. tools/record-seeds writes valid records
 * for these keys into corpus/record/. A TLS 1.3 KeyUpdate record (record_is_key_update,
 * record_model.h) switches model and libmx to the next traffic secret, as in record_diff.
 *
 * Oracle: record_check_stream (targets/oracles/record_model.c): the RFC header rules, then
 * BoringSSL's record AEAD open with the same keys (tls_oracle), then the 2^14 plaintext limit;
 * libmx must agree record by record (plaintext, type, length, error class; MX_REC_NEED_MORE
 * without consuming on incomplete records; MX_REC_FAILED after an error). Unlike record_diff
 * nothing is sealed per input, so it runs fast and mutates record bytes directly.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_input.h"
#include "record_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    struct record_conn c;
    size_t cuts[IN_MAX_CUTS], ncuts;
    unsigned cfg = in_u8(&in) % (unsigned)(record_nsuites + 1);

    ncuts = in_cuts(&in, cuts);
    if (record_fixed_conn(&c, cfg) != 0)
        abort();
    record_check_stream("record", &c, in.p, in.n, cuts, ncuts);
    return 0;
}
