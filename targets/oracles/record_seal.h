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
/* The plaintext bytes of all records of one input together: a record's length is cut to what
 * is left (0 once it is spent). Without it 48 records of up to 2^14 bytes each, sealed by
 * BoringSSL, opened by BoringSSL and decrypted by libmx, made every input up to 800 KB of
 * cipher work, and half of record_diff's time was in libcrypto (issue 14). Four full-size
 * records still fit, so every length up to the 2^14 limit and past it stays reachable. */
#define RECORD_SEAL_PLAINTEXT_BUDGET (4u * 16384)

/* Reads u8 suite, u8 seq and the key material; sets up c. */
void record_seal_conn(struct in *in, struct record_conn *c);
/* Reads records until the input ends (at most RECORD_SEAL_MAX_RECORDS, at most
 * RECORD_SEAL_PLAINTEXT_BUDGET plaintext bytes in all), seals and corrupts
 * them; returns the stream in wire order (a static buffer, valid until the next call). */
const uint8_t *record_seal_stream(struct in *in, const struct record_conn *c, size_t *out_len);

#endif
