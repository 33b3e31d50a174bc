/* targets/chain.c - the receive chain against a flat-array reference model.
 *
 * Input format (every byte string is valid; short fields read as zero):
 *   u16le limit          queued-byte limit in units of 16 bytes (0: no limit)
 *   then operations until the end, each an opcode byte (value % 10) and its arguments:
 *     0 append      u16le len, len bytes      (copied)
 *     1 append_own  u16le len, len bytes      (a buffer from the chain's allocator, handed over)
 *     2 peek        u16le off, u16le n
 *     3 consume     u16le n
 *     4 take_into   u16le n
 *     5 take        u16le n
 *     6 find        u16le from, u8 nlen (1 + value % 4), nlen needle bytes
 *     7 discard
 *     8 fail_alloc  u8 k: the allocation after the next k succeeds fails (once)
 *     9 byte        u16le off
 *   Lengths that run past the end of the input are clamped. max_len (targets/manifest) is
 *   12288, not 4096: an append that needs three segments (over 8192 bytes) is how an injected
 *   failure of a later segment's allocation, after the first was taken, is reached.
 *
 * Oracle: targets/oracles/chain_model.c, a flat byte array with plain counters written without
 * looking at chain.c. After every operation: return code, returned bytes, queued content and
 * counters equal the model's, mx_chain_check() agrees, and the segment counter equals what
 * mx_chain_iter walks. An allocation failure must leave everything unchanged and be reported as
 * MX_CHAIN_ENOMEM (and only an injected failure may give MX_CHAIN_ENOMEM). A divergence aborts
 * naming the operation index and both values.
 */
#include <stdint.h>

#include "chain_model.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    size_t limit = in_u16(&in) * 16;
    chain_model_check(&in, limit, size);
    return 0;
}
