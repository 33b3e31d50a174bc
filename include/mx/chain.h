/* mx/chain.h - the receive chain.
 *
 * An ordered chain of byte segments between socket reads, TLS decryption and
 * protocol parsing. Bytes are appended at the tail (copied, or a caller's
 * buffer taken over) and consumed from the head. Searches and peeks work
 * across segment boundaries.
 *
 * Counters (all exact after every call, whatever it returned):
 *   bytes       bytes queued now (appended - consumed - discarded)
 *   segments    segments holding at least one queued byte
 *   consumed    bytes consumed in total (consume, take)
 *   discarded   bytes dropped by mx_chain_discard in total
 *   high_water  the largest value `bytes` ever had
 * mx_chain_check() re-derives bytes and segments by walking the chain.
 *
 * Memory bound: queued bytes never exceed `limit` (an append that would go
 * over it fails with MX_CHAIN_ELIMIT and changes nothing). Segments hold
 * MX_CHAIN_SEG_CAP bytes inline; emptied segments go to a free list of at
 * most MX_CHAIN_SPARE_MAX entries, so a connection in steady state appends and
 * consumes without calling the allocator. Per connection the chain holds at
 * most limit + (segments + spares) * (MX_CHAIN_SEG_CAP + header) bytes.
 *
 * Allocation failure is never fatal: the call returns MX_CHAIN_ENOMEM and the
 * chain is exactly as it was before the call.
 */
#ifndef MX_CHAIN_H
#define MX_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MX_CHAIN_SEG_CAP 4096u
#define MX_CHAIN_SPARE_MAX 4u

enum mx_chain_status {
    MX_CHAIN_OK = 0,
    MX_CHAIN_ENOMEM = -1, /* the allocator failed; nothing changed */
    MX_CHAIN_ELIMIT = -2, /* the append would exceed the limit; nothing changed */
    MX_CHAIN_ESHORT = -3, /* fewer bytes queued than asked for; nothing changed */
    MX_CHAIN_EINVAL = -4  /* bad argument (NULL with a non-zero length) */
};

/* Allocator hooks; NULL means malloc/free. */
struct mx_alloc {
    void *(*alloc)(void *ctx, size_t n);
    void (*release)(void *ctx, void *p);
    void *ctx;
};

struct mx_chain_seg; /* opaque */

struct mx_chain {
    struct mx_chain_seg *head, *tail;
    struct mx_chain_seg *spare; /* free list */
    size_t nspare;
    size_t limit;
    struct mx_alloc a;
    /* counters: read them, never write them */
    size_t bytes;
    size_t segments;
    uint64_t consumed;
    uint64_t discarded;
    size_t high_water;
};

/* limit 0 means SIZE_MAX. */
void mx_chain_init(struct mx_chain *c, size_t limit, const struct mx_alloc *a);
/* Frees every segment, spare and owned buffer. The chain can be re-initialised. */
void mx_chain_release(struct mx_chain *c);

/* Copies len bytes to the tail. */
int mx_chain_append(struct mx_chain *c, const void *data, size_t len);
/* Takes ownership of buf (allocated with the chain's allocator) on success
 * only; on failure the caller still owns buf. buf may be NULL when len is 0. */
int mx_chain_append_owned(struct mx_chain *c, void *buf, size_t len);

/* Copies up to n bytes starting at offset off from the head into dst; returns
 * how many were copied (0 when off >= bytes). */
size_t mx_chain_peek(const struct mx_chain *c, size_t off, void *dst, size_t n);
/* The byte at offset off, or -1 past the end. */
int mx_chain_byte(const struct mx_chain *c, size_t off);

/* Drops n bytes from the head; MX_CHAIN_ESHORT if fewer are queued. */
int mx_chain_consume(struct mx_chain *c, size_t n);
/* Copies n bytes from the head into dst and consumes them (no allocation). */
int mx_chain_take_into(struct mx_chain *c, void *dst, size_t n);
/* Takes n bytes from the head as one buffer allocated with the chain's
 * allocator (release it with mx_chain_free). On error *out is NULL. */
int mx_chain_take(struct mx_chain *c, size_t n, unsigned char **out);
void mx_chain_free(struct mx_chain *c, void *p);

/* Finds needle (nlen >= 1) at or after offset from; the match may straddle
 * segments. Returns 1 and sets *pos (offset from head) when found, else 0. */
int mx_chain_find(const struct mx_chain *c, size_t from, const void *needle,
                  size_t nlen, size_t *pos);

/* Drops every queued byte (the STARTTLS purge); returns how many. */
size_t mx_chain_discard(struct mx_chain *c);

/* Segment iteration for zero-copy readers: *it = NULL to start. Returns 0 at
 * the end, else 1 with *p and *n set to one segment's queued bytes. */
int mx_chain_iter(const struct mx_chain *c, const struct mx_chain_seg **it,
                  const unsigned char **p, size_t *n);

/* Walks the chain and compares with the counters: 0 if they agree. */
int mx_chain_check(const struct mx_chain *c);

#ifdef __cplusplus
}
#endif
#endif
