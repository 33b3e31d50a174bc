/* starttls_run.h - the starttls target's driver (input format and checks: targets/starttls.c).
 * Runs the session three times (its own reads, 1-byte reads, 7-byte reads): the first run and
 * each replay are checked against the RFC model (starttls_model.h) reply by reply, and the
 * replays' transcripts must equal the first run's. A divergence aborts with
 * "starttls: divergence at read N: ..." (read -1: the greeting). */
#ifndef FZ_STARTTLS_RUN_H
#define FZ_STARTTLS_RUN_H

#include "session.h"

void starttls_check(const struct fz_session *s);

#endif
