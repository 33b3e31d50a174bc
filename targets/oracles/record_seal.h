/* record_seal.h - the byte stream of the record_diff target: records sealed by BoringSSL's
 * record AEADs (tls_oracle) with the input's keys and IVs, then corrupted as the input says
 * (the format is in targets/record_diff.c). A divergence found while building it (libmx and
 * BoringSSL disagree on a key block length, a sealer refuses its keys) aborts as record_diff. */
#ifndef FZ_RECORD_SEAL_H
#define FZ_RECORD_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_input.h"
#include "record_model.h"

#define RECORD_SEAL_MAX_RECORDS 48

/* Reads u8 suite, u8 seq and the key material; sets up c. */
void record_seal_conn(struct in *in, struct record_conn *c);
/* Reads records until the input ends (at most RECORD_SEAL_MAX_RECORDS), seals and corrupts
 * them; returns the stream in wire order (a static buffer, valid until the next call). */
const uint8_t *record_seal_stream(struct in *in, const struct record_conn *c, size_t *out_len);

#endif
