/* imap_model.h - the reference IMAP command parser and the event checker shared by the imap
 * and imap_tls targets (their file headers describe the oracle and the continuation rule).
 *
 * The model is deliberately simple and independent of src/imap.c: a recursive-descent parser
 * over the whole client stream at once that lists the events the streaming reader must return,
 * each with the stream offset of the byte that completes it.
 *
 * The checker follows one run of the real reader (mx/imap.h) against the model: every event
 * equal to the model's, none before its completing byte was delivered, none left waiting at
 * NEED_MORE, literal octets passed to the sink only after the literal was announced and equal
 * to the stream's bytes. Any divergence aborts with "imap: divergence (RUN, LABEL) ...".
 */
#ifndef FZ_IMAP_MODEL_H
#define FZ_IMAP_MODEL_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "mx/chain.h"
#include "mx/imap.h"

struct imap_mev {
    enum mx_imap_ev type;
    size_t pos;          /* stream offset of the byte that completes the event */
    size_t a_off, a_len; /* in model text: tag (COMMAND_START, RESPONSE) or arg bytes */
    size_t b_off, b_len; /* name (COMMAND_START) */
    int kind;            /* ARG: atom/quoted */
    uint64_t size;       /* literal */
    int sync, binary, role;
    size_t data_off;     /* literal octets in the stream */
    int status, reason, tagged;
};

struct imap_model {
    const uint8_t *s;
    size_t n;
    size_t max_line;
    uint64_t max_literal, max_nonsync;
    struct imap_mev *ev;
    size_t nev, cap;
    uint8_t *text;
    size_t ntext, textcap;
    jmp_buf jb;
    size_t limit; /* first offset past the current line piece's allowance */
    size_t err_pos;
    int err_reason;
    /* current command */
    size_t tag_off, tag_len;
    int tagged, append, ast, depth, is_date;
};

/* Runs the model over s[0..n) with the reader's limits (flags: MX_IMAP_LITERAL_PLUS). */
void imap_model_run(struct imap_model *m, const uint8_t *s, size_t n, size_t max_line,
                    uint64_t max_literal, unsigned flags);
void imap_model_free(struct imap_model *m);
/* Prints the model's events on stderr (for MXFUZZ_IMAP_TRACE). */
void imap_model_print(const struct imap_model *m, const char *label);

struct imap_check {
    const char *name, *label; /* named in divergence messages */
    const struct imap_model *m;
    size_t delivered;         /* stream bytes appended to the reader's chain so far: the
                                 caller adds to it before each imap_check_pump */
    size_t idx;               /* next model event */
    int lit_active;
    size_t lit_data_off;
    uint64_t lit_size, lit_got;
    long allocs, live;        /* allocations through imap_check_alloc */
};

void imap_check_init(struct imap_check *r, const struct imap_model *m, const char *name,
                     const char *label);
/* An allocator that counts (pass it in mx_imap_config.alloc), and the sink (sink_ctx = r). */
struct mx_alloc imap_check_alloc(struct imap_check *r);
void imap_check_sink(void *ctx, const uint8_t *p, size_t n);
/* Calls mx_imap_next until NEED_MORE, checking every event; the chain must then be empty. */
void imap_check_pump(struct imap_check *r, struct mx_imap *rd, struct mx_chain *c);
/* After the whole stream: every model event seen, the reader's counters agree, exactly one
 * allocation (mx_imap_init). */
void imap_check_end(struct imap_check *r, const struct mx_imap *rd);
/* Aborts with a divergence message. */
__attribute__((noreturn, format(printf, 2, 3))) void imap_check_fail(struct imap_check *r,
                                                                     const char *fmt, ...);

#endif
