/* fuzz_input.h - reading a fuzz input field by field. Every read succeeds: past the end of the
 * input, numbers read as zero and byte strings are clamped (in_take) or zero-filled (in_copy),
 * so that every byte string is a valid input. Every target reads its input through it. */
#ifndef FZ_FUZZ_INPUT_H
#define FZ_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct in {
    const uint8_t *p;
    size_t n;
};

static inline unsigned in_u8(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline size_t in_u16(struct in *in) /* little-endian */
{
    size_t lo = in_u8(in);
    return lo | (size_t)in_u8(in) << 8;
}

/* Up to *n bytes in place; *n is clamped to what remains. */
static inline const uint8_t *in_take(struct in *in, size_t *n)
{
    const uint8_t *p = in->p;
    if (*n > in->n)
        *n = in->n;
    in->p += *n;
    in->n -= *n;
    return p;
}

/* Exactly n bytes into dst, zero-filled past the end of the input. */
static inline void in_copy(struct in *in, uint8_t *dst, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    if (k)
        memcpy(dst, in->p, k);
    memset(dst + k, 0, n - k);
    in->p += k;
    in->n -= k;
}

/* A read pattern: u8 count (value % 8), then that many sizes, one byte each: c & 0x80 ?
 * (c & 0x7f) * 128 + 1 : c, 0 meaning "everything left". Returns the count (0: no pattern). */
#define IN_MAX_CUTS 8
static inline size_t in_cuts(struct in *in, size_t cuts[IN_MAX_CUTS])
{
    size_t n = in_u8(in) % IN_MAX_CUTS;
    for (size_t i = 0; i < n; i++) {
        unsigned c = in_u8(in);
        cuts[i] = c & 0x80 ? (size_t)(c & 0x7f) * 128 + 1 : c;
    }
    return n;
}

/* The size of the next read of a stream with `left` bytes to go, cutting with cuts[] in a
 * cycle (*next counts the reads); no cuts, or a 0 size: everything left. */
static inline size_t in_cut_next(const size_t *cuts, size_t ncuts, size_t *next, size_t left)
{
    size_t want = ncuts ? cuts[(*next)++ % ncuts] : 0;
    return want && want < left ? want : left;
}

#endif
