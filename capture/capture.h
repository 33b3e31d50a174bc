/* capture.h - a capture file (pcap or pcapng, read by libpcap from memory)
 * turned into TCP connections, each direction reassembled by tcp_reasm.
 *
 * Link types: Ethernet (with up to two 802.1Q/802.1ad tags), Linux cooked
 * SLL and SLL2, BSD loopback NULL and LOOP, raw IP (DLT_RAW, IPV4, IPV6).
 * Network: IPv4 (options skipped, fragments counted and skipped) and IPv6
 * (extension headers walked, fragments counted and skipped). Checksums are
 * not checked (captures on loopback carry offloaded, unfilled checksums).
 * A frame cut short by the snap length contributes nothing (its data is then
 * missing, and reassembly reports the gap).
 *
 * A connection is a 4-tuple; a new SYN on a tuple whose connection was closed
 * (FIN both ways or RST) or that carries a different initial sequence number
 * starts a new connection. Endpoint 0 is the one that sent the first packet;
 * cap_capture_read() does not decide who is the client (see pcap_import.h).
 *
 * Memory bound: at most CAP_CAPTURE_FLOWS_MAX connections (further ones are
 * counted and ignored); per connection the copies of its captured payload
 * (chunks, pending segments, and the raw segment log when asked for), so in
 * total at most about twice the capture's size plus per-packet bookkeeping.
 */
#ifndef CAP_CAPTURE_H
#define CAP_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "tcp_reasm.h"

#define CAP_CAPTURE_FLOWS_MAX 4096u

/* One delivered chunk: the new bytes of one captured segment. */
struct cap_chunk {
    uint32_t pkt; /* packet (1-based, in capture order) that made it deliverable */
    uint8_t dir;  /* sending endpoint: 0 or 1 */
    uint64_t off; /* stream offset in that direction */
    size_t len;
    uint8_t *data;
};

/* One captured TCP segment as it was on the wire (only with keep_raw). */
struct cap_rawseg {
    uint32_t pkt;
    uint8_t dir;
    uint8_t flags; /* TCP flags byte */
    uint32_t seq, ack;
    size_t len;
    uint8_t *data;
};

struct cap_flow {
    int af;                 /* 4 or 6 */
    uint8_t addr[2][16];
    uint16_t port[2];
    int syn[2];             /* endpoint i sent a SYN without ACK */
    int synack[2];          /* endpoint i sent a SYN+ACK */
    uint32_t isn[2];
    int fin[2], rst;
    uint32_t first_pkt, last_pkt;
    struct cap_reasm r[2];   /* r[i]: the bytes endpoint i sent */
    struct cap_chunk *chunks; /* both directions, in delivery order */
    size_t nchunks, capchunks;
    struct cap_rawseg *raw;  /* with keep_raw */
    size_t nraw, capraw;
    int oom;
    struct cap_reasm_gap gap[2]; /* after cap_capture_read */
    struct cap_flow *hnext;  /* hash chain (internal) */
};

struct cap_capture_opts {
    uint64_t max_stream;    /* per direction delivered-byte limit (0: none) */
    int keep_raw;           /* keep the raw segment log (for oracles) */
};

struct cap_capture {
    int linktype;
    const char *linktype_name;
    struct cap_flow **flows;
    size_t nflows, capflows;
    struct cap_flow *hash[1024];
    /* statistics */
    uint32_t packets;
    uint32_t tcp_packets;
    uint32_t not_ip, not_tcp, fragments, short_frames, bad_headers, flows_dropped;
    int truncated_file;     /* libpcap stopped with an error after some packets */
    char warn[256];         /* libpcap's message when it stopped early */
};

/* Reads a whole capture held in memory. Returns 0, or -1 with a message in
 * err when nothing could be read (not a capture, unsupported link type, out
 * of memory); a file that breaks off after some packets is not an error
 * (truncated_file and warn tell). Call cap_capture_free() in both cases. */
int cap_capture_read(struct cap_capture *c, const uint8_t *buf, size_t len,
                    const struct cap_capture_opts *o, char *err, size_t errlen);
void cap_capture_free(struct cap_capture *c);

/* "a.b.c.d:port" or "[v6]:port" of endpoint i. */
void cap_flow_endpoint(const struct cap_flow *f, int i, char *out, size_t outlen);

#endif
