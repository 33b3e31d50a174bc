/* chain_model.h - the oracle of the chain target (its input format is in targets/chain.c):
 * a flat byte array with plain counters, and an allocator that fails on request. After every
 * operation the chain's return code, returned bytes, queued content and counters must equal
 * the model's, mx_chain_check() must agree and the segment counter must equal what
 * mx_chain_iter walks. A divergence aborts naming the operation and both values. */
#ifndef FZ_CHAIN_MODEL_H
#define FZ_CHAIN_MODEL_H

#include <stddef.h>

#include "fuzz_input.h"

/* Runs the operations of `in` to its end; limit: queued-byte limit (0 none); size: the whole
 * input's size (bounds the scratch buffers). */
void chain_model_check(struct in *in, size_t limit, size_t size);

#endif
