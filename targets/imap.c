/* targets/imap.c - the IMAP command reader against a whole-stream reference parser, for the
 * way the session cuts the client's bytes into reads.
 *
 * Input: a session file (corpus/FORMAT.md). The client stream is the concatenation of every
 * `C` payload; all of it is IMAP (the proto and mode bytes are ignored, and a `T` event only
 * ends a read, like an `S` event). Limits come from the header's limits byte: max_line is the
 * longest line piece, max_literal the largest literal; the header's literal mode (version 3's
 * LITERAL- bit, corpus/FORMAT.md; versions 1 and 2 are LITERAL+) picks LITERAL- (RFC 7888 4:
 * non-synchronizing literals <= 4096) or LITERAL+ (imap_literal_flags). One run
 * per input, in the file's own reads (fz_reader); a sampled input (harness/sampled.h) also in
 * one-byte reads and in one read, and the replay driver runs both LITERAL modes.
 *
 * Oracle: the reference parser of targets/oracles/imap_model.h (no code shared with
 * src/imap.c) lists the events the reader must return, each with the offset of its completing
 * byte; imap_check.h compares every run with it, event by event, and checks that nothing
 * completes early, nothing waits at NEED_MORE for bytes already delivered (the Q239082 hang),
 * the chain ends empty with exact counters and held at most one read, and the reader allocated
 * exactly once.
 *
 * The continuation rule. The client waits for "+" before it sends a synchronizing literal's
 * octets; in a replayed session they may already be in the same read as the marker. Rule (both
 * readers): the octets of a synchronizing literal {N} within the limit are the N bytes after
 * the marker's CRLF, whenever they arrived; the reader must return NEED_CONTINUATION before any
 * of them reaches the sink. For a synchronizing literal over max_literal the reader answers
 * NO [TOOBIG] and sends no "+": the bytes after the marker are parsed as the next command (as a
 * server would; never stored as a message). Non-synchronizing literals over the limit: BAD
 * [TOOBIG], the octets are swallowed.
 *
 * MXFUZZ_IMAP_TRACE=1 prints the model's events.
 */
#include <stdint.h>

#include "imap_check.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_session s;
    fz_session_parse(&s, data, size);
    imap_check_session(&s);
    return 0;
}
