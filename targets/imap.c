/* targets/imap.c - the IMAP command reader against a whole-stream reference parser, for every
 * way the client's bytes can be cut into reads.
 *
 * Input: a session file (corpus/FORMAT.md). The client stream is the concatenation of every
 * `C` payload; all of it is IMAP (the proto and mode bytes are ignored, and a `T` event only
 * ends a read, like an `S` event). Limits come from the header's limits byte: max_line is the
 * longest line piece, max_literal the largest literal. Every input runs twice, once with
 * LITERAL+ advertised and once with LITERAL- (RFC 7888: non-synchronizing literals <= 4096).
 *
 * Oracle: a second reader, deliberately simple (targets/oracles/imap_model.c, shared with
 * imap_tls; it shares no code with src/imap.c): a recursive-descent parser over
 * the whole client stream at once (no streaming, no chain), producing the list of events the
 * reader must produce -- command starts (tag, name), arguments (kind, bytes), list brackets,
 * continuations, literal starts/ends (size, sync, binary, role, and the octets, which are the
 * stream bytes after the marker), command ends, and responses (BAD/NO, reason, tag) -- each
 * with the stream offset of the byte that completes it. The real reader (mx/imap.h) runs on a
 * receive chain three times, fed
 *   1. the file's own reads (fz_reader: write boundaries or the `R` read pattern),
 *   2. one byte per read,
 *   3. the whole stream in one read,
 * and each run must give exactly the model's events. Besides equality, at every event with D
 * bytes delivered so far, the event's completing byte must be among them (nothing completes
 * before its CRLF has arrived), and when the reader returns NEED_MORE every model event whose
 * completing byte is below D must already have been returned (no command waits for bytes that
 * are already there -- the Q239082 hang), and the literal being received must have had every
 * delivered octet passed to the sink. After the stream: the chain is empty and its counters are
 * exact (consumed == stream length, bytes == 0, mx_chain_check agrees), it never held more than
 * one read (the reader drains it), and the reader allocated exactly once.
 *
 * The continuation rule. The client waits for "+" before it sends a synchronizing literal's
 * octets; in a replayed session they may already be in the same read as the marker. Rule (both
 * readers): the octets of a synchronizing literal {N} within the limit are the N bytes after
 * the marker's CRLF, whenever they arrived; the reader must return NEED_CONTINUATION before any
 * of them reaches the sink (the sink aborts if called with no literal announced). For a
 * synchronizing literal over max_literal the reader answers NO [TOOBIG] and sends no "+": the
 * bytes after the marker are parsed as the next command (a real client sends no octets; a
 * malicious client's octets are thereby parsed as commands, exactly as a server would, never
 * stored as a message). Non-synchronizing literals over the limit: BAD [TOOBIG], the octets
 * are swallowed.
 *
 * A divergence aborts with a message naming the run (chunking, LITERAL+/-), the event index,
 * and what differs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_model.h"
#include "mx/chain.h"
#include "mx/imap.h"
#include "session.h"

enum chunking { CH_FILE, CH_ONE, CH_WHOLE };

static void run_real(const struct imap_model *m, const struct fz_session *s, unsigned flags,
                     enum chunking ch, const char *label)
{
    static const char *const names[] = {"file's reads", "one-byte reads", "whole stream"};
    struct imap_check r;
    struct mx_alloc a;
    struct mx_imap rd;
    struct mx_chain c;
    size_t biggest = 0;

    imap_check_init(&r, m, names[ch], label);
    a = imap_check_alloc(&r);
    struct mx_imap_config cfg = {m->max_line, m->max_literal, flags, imap_check_sink, &r, &a};
    if (mx_imap_init(&rd, &cfg) != 0)
        imap_check_fail(&r, "mx_imap_init failed");
    mx_chain_init(&c, ch == CH_WHOLE ? 0 : 65536, NULL);
    if (ch == CH_FILE) {
        struct fz_reader rdr;
        struct fz_read rd1;
        fz_reader_init(&rdr, s);
        while (fz_reader_next(&rdr, &rd1)) {
            if (rd1.kind != FZ_READ_DATA || rd1.n == 0)
                continue;
            if (mx_chain_append(&c, rd1.p, rd1.n) != MX_CHAIN_OK)
                imap_check_fail(&r, "chain append of %zu bytes failed", rd1.n);
            r.delivered += rd1.n;
            biggest = rd1.n > biggest ? rd1.n : biggest;
            imap_check_pump(&r, &rd, &c);
        }
        if (r.delivered != m->n)
            imap_check_fail(&r, "file reads delivered %zu bytes, stream has %zu", r.delivered,
                            m->n);
    } else {
        size_t step = ch == CH_ONE ? 1 : (m->n ? m->n : 1);
        for (size_t off = 0; off < m->n; off += step) {
            size_t k = m->n - off < step ? m->n - off : step;
            if (mx_chain_append(&c, m->s + off, k) != MX_CHAIN_OK)
                imap_check_fail(&r, "chain append of %zu bytes failed", k);
            r.delivered += k;
            biggest = k > biggest ? k : biggest;
            imap_check_pump(&r, &rd, &c);
        }
    }
    imap_check_pump(&r, &rd, &c);
    imap_check_end(&r, &rd);
    if (c.bytes != 0 || c.consumed != m->n || c.discarded != 0 || mx_chain_check(&c) != 0)
        imap_check_fail(&r, "chain counters: bytes %zu consumed %llu discarded %llu (stream %zu)",
                        c.bytes, (unsigned long long)c.consumed,
                        (unsigned long long)c.discarded, m->n);
    if (c.high_water > biggest)
        imap_check_fail(&r, "chain held %zu bytes, more than one read (%zu)", c.high_water,
                        biggest);
    mx_imap_release(&rd);
    if (r.live != 0)
        imap_check_fail(&r, "%ld reader allocations outstanding after release", r.live);
    mx_chain_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_session s;
    struct fz_reader rdr;
    struct fz_read rd;
    uint8_t *stream = malloc(size + 1);
    size_t n = 0;
    static int trace = -1;

    if (trace < 0) {
        const char *t = getenv("MXFUZZ_IMAP_TRACE");
        trace = t && *t && *t != '0';
    }
    if (!stream)
        return 0;
    fz_session_parse(&s, data, size);
    fz_reader_init(&rdr, &s);
    while (fz_reader_next(&rdr, &rd))
        if (rd.kind == FZ_READ_DATA) {
            memcpy(stream + n, rd.p, rd.n);
            n += rd.n;
        }

    for (int plus = 0; plus <= 1; plus++) {
        struct imap_model m;
        const char *label = plus ? "LITERAL+" : "LITERAL-";
        unsigned flags = plus ? MX_IMAP_LITERAL_PLUS : 0;
        imap_model_run(&m, stream, n, s.max_line, s.max_literal, flags);
        if (trace)
            imap_model_print(&m, label);
        for (int ch = CH_FILE; ch <= CH_WHOLE; ch++)
            run_real(&m, &s, flags, (enum chunking)ch, label);
        imap_model_free(&m);
    }
    free(stream);
    return 0;
}
