/* imap_model.h - the reference IMAP command parser of the imap and imap_tls targets (the
 * checker that compares libmx's reader with it is imap_check.h).
 *
 * Deliberately simple and independent of src/imap.c: a recursive-descent parser over the whole
 * client stream at once that lists the events the streaming reader must return, each with the
 * stream offset of the byte that completes it. Rules: RFC 3501 (commands, quoted strings,
 * literals, date-time), RFC 3502 (MULTIAPPEND), RFC 7888 (LITERAL+/LITERAL-), RFC 3516
 * (binary literals ~{N}); the continuation rule is in targets/imap.c.
 */
#ifndef FZ_IMAP_MODEL_H
#define FZ_IMAP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
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
    struct imap_mev *ev; /* nev events, stored in evs */
    size_t nev;
    struct fz_buf evs;
    struct fz_buf text;  /* tags, names and argument bytes the events point into */
    size_t limit; /* first offset past the current line piece's allowance */
    size_t err_pos;
    int err_reason;
    /* current command */
    size_t tag_off, tag_len;
    int tagged, append, ast, depth, is_date;
};

/* Runs the model over s[0..n) with the reader's limits (flags: MX_IMAP_LITERAL_PLUS;
 * max_errors: the bound on consecutive protocol errors, 0 none; every command that ends is
 * taken as answered without an error: the checker reports it so). m is zeroed before its first
 * run; a later run reuses its buffers (imap_model_free frees them). */
void imap_model_run(struct imap_model *m, const uint8_t *s, size_t n, size_t max_line,
                    uint64_t max_literal, unsigned flags, unsigned max_errors);
void imap_model_free(struct imap_model *m);
/* Prints the model's events on stderr (for MXFUZZ_IMAP_TRACE). */
void imap_model_print(const struct imap_model *m, const char *label);

#endif
