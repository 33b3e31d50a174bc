/* ossl_pair.h - OpenSSL 3's SSL_read as a second reference in the record bench.
 *
 * OpenSSL 3 (Debian's libssl3) and BoringSSL export the same symbol names, so OpenSSL runs in a
 * helper process of its own (bench/record/ossl_read.c, which links neither BoringSSL nor libmx)
 * that loads libssl.so.3 with dlopen and calls it through function pointers (no OpenSSL header
 * is included: the build's include path has BoringSSL's). dlmopen(LM_ID_NEWLM) in the bench
 * process itself was tried and fails: the namespace's second libc hands out the same pthread
 * keys as the first, so OpenSSL's and BoringSSL's thread-local error queues share a slot and
 * BoringSSL's ERR_clear_error frees OpenSSL's pointer ("free(): invalid pointer"). A client and a server handshake in memory with a PSK suite of the same record
 * layer as the suite being measured (PSK-AES128-CBC-SHA256 for AES128-CBC-SHA256, ...: the key
 * exchange does not touch the records, and a PSK needs no certificate), with or without
 * encrypt-then-MAC; the client writes the records, the server's SSL_read is timed.
 * Bench code only (the release build).
 */
#ifndef BENCH_OSSL_PAIR_H
#define BENCH_OSSL_PAIR_H

#include <stddef.h>

/* Loads libssl.so.3. Returns 0, or -1 with a message in err. */
int ossl_load(char *err, size_t errlen);

/* The client and server configuration of one bench cell: cipher (an OpenSSL name), TLS version
 * 0x0301..0x0303, etm 0/1. NULL with err set on failure. */
struct ossl_cell;
struct ossl_cell *ossl_cell_open(const char *cipher, unsigned version, int etm, char *err, size_t errlen);

/* One round: a fresh handshake, the client writes nrec records of rec bytes (not timed), then
 * the server's SSL_read of them is timed on clock (CLOCK_THREAD_CPUTIME_ID or CLOCK_MONOTONIC):
 * owned 1, from a read-only memory BIO over the records; 0, fed to its memory BIO in 16 KB
 * writes while timed. Returns the seconds, or a negative number with err set. */
double ossl_cell_round(struct ossl_cell *cell, size_t nrec, size_t rec, int clock, int owned, char *err,
                       size_t errlen);

void ossl_cell_close(struct ossl_cell *cell);

#endif
