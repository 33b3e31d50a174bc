/* imap_tls_check.h - the imap_tls target's driver and oracle (input format: targets/imap_tls.c).
 *
 * Each client read of the session is sealed by BoringSSL (tls_oracle) as one application-data
 * record (split at 2^14); the ciphertext, cut into reads, goes through libmx's decrypter
 * (mx/record.h) into a receive chain, and each record's plaintext into a second chain on which
 * the IMAP reader runs in the session's LITERAL mode (the replay driver: both modes). Every record must decrypt to exactly
 * the bytes sealed; the plaintext side is checked as in the imap target (imap_check.h); after
 * the ciphertext both chains are empty with exact counters and every record was read. A
 * divergence aborts with "imap_tls: divergence: ..." or "imap: divergence ...". */
#ifndef FZ_IMAP_TLS_CHECK_H
#define FZ_IMAP_TLS_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_input.h"
#include "session.h"

#define IMAP_TLS_KEYS_LEN 144
/* the input's fixed prefix: suite, seq, keys, iv_seed, pad, ncuts (the cut sizes follow) */
#define IMAP_TLS_PREFIX_FIXED (2 + IMAP_TLS_KEYS_LEN + 3)

struct imap_tls_params {
    unsigned suite;        /* index into the suite table, reduced modulo its size */
    unsigned seq;          /* first record sequence number (TLS 1.3: ignored, always 0) */
    uint8_t keys[IMAP_TLS_KEYS_LEN];
    unsigned iv_seed, pad; /* CBC explicit IVs; TLS 1.3 padding (pad % 32 bytes) */
    size_t cuts[IN_MAX_CUTS], ncuts; /* ciphertext read pattern; none: one read per record */
};

/* The input (targets/imap_tls.c): its record parameters, then the session after them. */
void imap_tls_input(const uint8_t *data, size_t size, struct imap_tls_params *p,
                    struct fz_session *s);

struct imap_tls_rec {
    size_t off, len; /* in the plaintext stream */
};

/* One input's records, sealed: what both the target and its component floor
 * (bench/floor/imap_tls.c) read. Pointers into static buffers, valid until the next call. */
struct imap_tls_sealed {
    unsigned si;                    /* the suite's index */
    uint64_t seq;                   /* first record sequence number */
    const uint8_t *keys;            /* IMAP_TLS_KEYS_LEN bytes (the params' own) */
    size_t secret_len, kb_len;      /* TLS 1.3 secret / TLS 1.0-1.2 key block length */
    const uint8_t *plain;           /* the session's client stream */
    size_t plain_len;
    const struct imap_tls_rec *recs; /* record i: plain[recs[i].off ..][0 .. recs[i].len) */
    size_t nrecs;
    const uint8_t *cipher;          /* the records on the wire, in order */
    size_t cipher_len;
    const size_t *cuts;             /* the ciphertext read pattern (in_cut_next) */
    size_t ncuts;
};

/* Seals the session's client reads with BoringSSL as the input says; aborts as imap_tls when
 * the oracle and libmx disagree on the suite's key block or the oracle refuses to seal. */
void imap_tls_seal(const struct imap_tls_params *p, const struct fz_session *s,
                   struct imap_tls_sealed *out);
/* mx_record_init and the sealed input's keys on rec, as MAC-then-encrypt: an MX_REC_ status. */
struct mx_record;
int imap_tls_set_keys(const struct imap_tls_sealed *st, struct mx_record *rec);
void imap_tls_check(const struct imap_tls_params *p, const struct fz_session *s);

#endif
