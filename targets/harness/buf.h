/* buf.h - the one growable byte buffer of the harness and the oracles.
 *
 * fz_buf_put aborts when memory runs out: inside a fuzz target that is the harness failing,
 * not a finding, and no check may continue on a half-written buffer. fz_buf_append reports
 * it instead (b->oom stays set and later appends do nothing), for the session writer that the
 * capture importer uses outside any target. A zeroed struct is an empty buffer. */
#ifndef FZ_BUF_H
#define FZ_BUF_H

#include <stddef.h>
#include <stdint.h>

struct fz_buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
};

/* Room for n more bytes; 0, or -1 (b->oom set) when memory runs out. */
int fz_buf_reserve(struct fz_buf *b, size_t n);
/* Appends n bytes; 0, or -1 (b->oom set, nothing appended). */
int fz_buf_append(struct fz_buf *b, const void *p, size_t n);
/* Appends n bytes or aborts. */
void fz_buf_put(struct fz_buf *b, const void *p, size_t n);
/* Empties b and makes room for n bytes, or aborts; returns b->p. A static fz_buf used so is a
 * scratch buffer reused from input to input: it is allocated again only when an input needs
 * more than every input before it. */
void *fz_buf_scratch(struct fz_buf *b, size_t n);
/* Removes the first n bytes (n <= b->n). */
void fz_buf_drop_front(struct fz_buf *b, size_t n);
void fz_buf_free(struct fz_buf *b);

/* Appends the whole file at path, at most limit bytes of it, followed by a NUL that b->n does
 * not count (a file read as text ends there); 0, -1 when it cannot be opened or read (errno
 * tells why), -2 when it holds more than limit bytes (b then holds the first limit + 1). The
 * command-line tools' one file reader (live-judge, session-mutate, starttls-replies). Aborts when memory runs out. */
int fz_buf_read_file(struct fz_buf *b, const char *path, size_t limit);

/* realloc that aborts when memory runs out (never returns NULL; n == 0 is 1 byte). */
void *fz_xrealloc(void *p, size_t n);
/* A copy of n bytes with a NUL after them, or abort. */
uint8_t *fz_memdup(const void *p, size_t n);

#endif
