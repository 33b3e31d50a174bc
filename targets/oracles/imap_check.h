/* imap_check.h - follows a run of libmx's IMAP reader (mx/imap.h) against the reference parser
 * (imap_model.h): every event equal to the model's, none before its completing byte was
 * delivered, none left waiting at NEED_MORE (the Q239082 hang), literal octets passed to the
 * sink only after the literal was announced and equal to the stream's bytes. A divergence
 * aborts with "imap: divergence at event N: (RUN, LABEL, D bytes delivered) WHAT". */
#ifndef FZ_IMAP_CHECK_H
#define FZ_IMAP_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "imap_model.h"
#include "mx/chain.h"
#include "mx/imap.h"
#include "mx/machine.h"
#include "session.h"

/* The imap target's bound on consecutive protocol errors (mx_imap_config.max_errors): the
 * engine's default, as mx-serve runs the reader after login */
#define IMAP_CHECK_MAX_ERRORS MX_MAX_ERRORS

struct imap_check {
    const char *name, *label; /* named in divergence messages */
    const struct imap_model *m;
    size_t delivered;         /* stream bytes appended to the reader's chain so far: the
                                 caller adds to it before each imap_check_pump */
    size_t idx;               /* next model event */
    int lit_active;
    size_t lit_data_off;
    uint64_t lit_size, lit_got;
    struct fz_alloc alloc;    /* the reader's allocations (imap_check_alloc) */
    int closed;               /* the reader said TOO_MANY_ERRORS: the connection is over */
    size_t responses;         /* RESPONSE lines checked (check_response_line samples by it) */
};

void imap_check_init(struct imap_check *r, const struct imap_model *m, const char *name,
                     const char *label);
/* An allocator that counts (pass it in mx_imap_config.alloc), and the sink (sink_ctx = r). */
struct mx_alloc imap_check_alloc(struct imap_check *r);
void imap_check_sink(void *ctx, const uint8_t *p, size_t n);
/* Calls mx_imap_next until NEED_MORE, checking every event; the chain must then be empty.
 * Every COMMAND_END is reported answered without an error (mx_imap_answered: the targets
 * execute nothing). TOO_MANY_ERRORS sets r->closed and returns: deliver nothing more. */
void imap_check_pump(struct imap_check *r, struct mx_imap *rd, struct mx_chain *c);
/* After the whole stream: every model event seen, the reader's counters agree, exactly one
 * allocation (mx_imap_init). */
void imap_check_end(struct imap_check *r, const struct mx_imap *rd);

/* The LITERAL mode a session's header gives (fz_session_literal_minus): MX_IMAP_LITERAL_PLUS,
 * or 0 for LITERAL-. */
unsigned imap_literal_flags(const struct fz_session *s);
/* The imap target: the session's client stream in the LITERAL mode it asks for, fed in the
 * session's own reads; sampled inputs (sampled.h) again in one-byte reads and in one read, and
 * under the replay driver all of that in the other LITERAL mode too. */
void imap_check_session(const struct fz_session *s);

#endif
