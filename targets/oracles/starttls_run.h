/* starttls_run.h - the starttls target's driver (input format and checks: targets/starttls.c).
 * Runs the session in its own reads, checked against the RFC model (starttls_model.h) reply by
 * reply; a sampled input (sampled.h: one in FZ_SAMPLE_ONE_IN under a fuzzer, every input under
 * the replay driver) again with 1-byte and 7-byte reads, each checked against the model and its
 * transcript against the first run's. A divergence aborts with
 * "starttls: divergence at read N: ..." (read -1: the greeting). */
#ifndef FZ_STARTTLS_RUN_H
#define FZ_STARTTLS_RUN_H

#include "session.h"

void starttls_check(const struct fz_session *s);

/* The session as the machine answered it: one run in the session's own reads, checked against
 * the model as starttls_check's first run (a divergence aborts the same way), written into out
 * (emptied first) as a session of the same header: per read a C event with its bytes, an S event
 * per reply the machine gave, a T event where TLS came up. So the target's replies can be set
 * against a seed's recorded S events (tools/starttls-replies, capture/tests/target_replies.py). */
void starttls_replies(const struct fz_session *s, struct fz_buf *out);

#endif
