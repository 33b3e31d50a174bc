/* tcp_reasm.h - reassembly of one direction of a TCP connection, keeping the
 * boundaries of the captured segments.
 *
 * Segments are given in capture order with their raw sequence numbers. Each
 * one that brings new bytes at the current end of the stream is delivered as
 * one chunk, holding exactly its new bytes (a retransmission or an overlap
 * delivers only what had not been delivered before; the bytes delivered first
 * win). A segment that starts beyond the end of the stream waits in a pending
 * list until the hole before it is filled; then it is delivered, at the packet
 * that filled the hole. So the chunks, concatenated, are the stream, and each
 * chunk is (the new part of) one captured segment.
 *
 * Whatever still waits at the end, and data the peer acknowledged or a FIN
 * that lies beyond the delivered stream, is a gap: cap_reasm_finish() reports
 * where it is, how many bytes are missing and from which packet on the
 * stream is unusable. Nothing is ever glued across a gap.
 *
 * Offsets are 64-bit stream offsets from the first data byte (SYN + 1, or the
 * first sequence number seen when the SYN was not captured); 32-bit sequence
 * numbers are unwrapped relative to the delivered end, so streams past 4 GiB
 * are fine.
 *
 * Memory bound: every delivered or pending byte is a copy of a captured byte,
 * so a direction holds at most the payload bytes captured for it, plus
 * CAP_REASM_PENDING_MAX pending entries; a segment that would exceed that
 * count, or a direction whose delivered bytes would exceed `limit`, marks the
 * direction as overflowed (reported as a gap at that point).
 */
#ifndef CAP_TCP_REASM_H
#define CAP_TCP_REASM_H

#include <stddef.h>
#include <stdint.h>

#define CAP_REASM_PENDING_MAX 4096u

struct cap_reasm_seg {
    uint64_t off;
    uint32_t pkt;
    uint32_t len;
    uint8_t *data;
};

/* Called for every delivered chunk, in delivery order. */
typedef void (*cap_reasm_deliver_fn)(void *ctx, int dir, uint32_t pkt, uint64_t off,
                                    const uint8_t *p, size_t n);

struct cap_reasm {
    int dir;                /* passed to deliver */
    cap_reasm_deliver_fn deliver;
    void *ctx;
    int have_base;
    uint32_t base;          /* sequence number of stream offset 0 */
    uint64_t next;          /* delivered stream length */
    struct cap_reasm_seg *pend; /* waiting segments, sorted by off */
    size_t npend, cappend;
    int fin;                /* a FIN was seen */
    uint64_t fin_off;
    uint32_t fin_pkt;
    uint64_t ack_max;       /* highest offset the peer acknowledged (0: none) */
    uint64_t limit;         /* delivered-byte limit (0: none) */
    int overflow;
    uint32_t overflow_pkt;
    /* per-ack history for locating a tail gap: (pkt, acked offset), increasing */
    struct { uint32_t pkt; uint64_t off; } *acks;
    size_t nacks, capacks;
    /* statistics */
    uint64_t segments, retrans_bytes, retrans_segments, ooo_segments, overlap_segments;
};

struct cap_reasm_gap {
    int present;
    uint64_t off;        /* stream offset where data is missing */
    uint64_t missing;    /* bytes known to be missing (at least 1) */
    uint32_t pkt;        /* first packet from which the connection is unusable */
    const char *why;     /* "segments after a hole", "acknowledged but not captured",
                            "FIN beyond the data", "too many pending segments", ... */
};

/* 32-bit sequence arithmetic without unsigned wraparound (OSS-Fuzz's UBSan flags it). */
static inline uint32_t cap_seq_add(uint32_t a, uint32_t b)
{
    return (uint32_t)(((uint64_t)a + b) & 0xffffffffu);
}
static inline uint32_t cap_seq_sub(uint32_t a, uint32_t b)
{
    return (uint32_t)(((uint64_t)a + 0x100000000ull - b) & 0xffffffffu);
}
/* a - b as a signed 32-bit distance */
static inline int64_t cap_seq_diff(uint32_t a, uint32_t b)
{
    uint32_t d = cap_seq_sub(a, b);
    return d < 0x80000000u ? (int64_t)d : (int64_t)d - 0x100000000ll;
}

void cap_reasm_init(struct cap_reasm *r, int dir, cap_reasm_deliver_fn fn, void *ctx,
                   uint64_t limit);
/* Sets the stream's base from a SYN's sequence number (data starts at isn+1). */
void cap_reasm_syn(struct cap_reasm *r, uint32_t isn);
/* One captured segment of this direction (len may be 0; fin: the FIN flag).
 * Returns -1 only when memory ran out (then the direction is marked overflowed). */
int cap_reasm_segment(struct cap_reasm *r, uint32_t pkt, uint32_t seq, const uint8_t *p,
                     size_t len, int fin);
/* The peer acknowledged up to `ack` (its raw ACK number) in packet pkt. */
void cap_reasm_ack(struct cap_reasm *r, uint32_t pkt, uint32_t ack);
/* After the last packet: the gap, if any. */
void cap_reasm_finish(struct cap_reasm *r, struct cap_reasm_gap *gap);
void cap_reasm_free(struct cap_reasm *r);

#endif
