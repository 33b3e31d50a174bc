/* seed_split.h - an imported session longer than a fuzz target's max_len, written as seeds that
 * fit it and keep what the long part is about (issue 16 / issue 14 item 3).
 *
 * A fuzzer given a longer seed cuts it to max_len bytes, and the cut falls where a long
 * literal's last octets and its CRLF sit, or an SMTP message's end: exactly the boundaries the
 * seed bugs are about. So the middle of the long parts is left out instead:
 *   - an IMAP literal {N} / {N+} / ~{N} of the client keeps its first CAP_SPLIT_KEEP and last
 *     CAP_SPLIT_KEEP octets and its marker says the new size (RFC 3501 4.3: the count is the
 *     number of octets that follow the CRLF): the marker, the continuation, the literal's end
 *     and the CRLF after it, and every client write boundary around them, are as captured;
 *   - an SMTP message (after DATA) loses whole lines from its middle (RFC 5321 4.5.2: dot
 *     stuffing is per line, so whole lines keep it valid); the end "CRLF . CRLF" stays;
 *   - a literal or message larger than the session's max-literal is kept whole: shortened, it
 *     would be accepted where the server refused it.
 * Everything else (the greeting, the STARTTLS transition, server events) is copied unchanged.
 * When that is not enough (many short commands), the session is cut into windows of whole
 * events, each a session with the same header and at most max_len bytes: the first starts as
 * the capture did (greeting, STARTTLS), each later one where the one before ended, at a
 * command boundary (a line start outside every literal's octets and the rest of its command
 * line, outside every SMTP message), and one that starts after the TLS handshake begins with
 * the events up to and with the session's T event (greeting, STARTTLS, its reply): its client
 * bytes are TLS plaintext and the server is in its post-TLS state, as they were captured. */
#ifndef CAP_SEED_SPLIT_H
#define CAP_SEED_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define CAP_SPLIT_KEEP 64u  /* octets kept at each end of a shortened literal or message */
#define CAP_SPLIT_MAX 16    /* seeds per session at most; the rest of a longer one is dropped */

struct cap_split {
    struct fz_buf seed[CAP_SPLIT_MAX];
    size_t n;
    int shortened;  /* 1: long parts were shortened */
    int windows;    /* 1: the session was cut into windows */
    int dropped;    /* 1: windows past CAP_SPLIT_MAX, or an event too long for any window, lost */
};

/* Splits the session file[0..len) for a target with max_len. 0 with out->n seeds (one equal to
 * the input when it fits); -1 when memory ran out (out is freed). */
int cap_split_session(const uint8_t *file, size_t len, size_t max_len, struct cap_split *out);
void cap_split_free(struct cap_split *out);

#endif
