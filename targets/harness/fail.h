/* fail.h - the one failure primitive of every fuzz target and oracle.
 *
 * A finding is one line on stderr, then abort(), so that libFuzzer and AFL++ keep the input as a
 * crash and every recogniser in bench/bugs/manifest matches one format:
 *
 *     <who>: divergence at <label> <n>: <what>      (after fz_at(label, n))
 *     <who>: divergence: <what>                     (no position set, or after fz_at(NULL, 0))
 *
 * <who> is the target's name; the position is where in the input the target was (a read, an
 * operation, a record). fz_at only stores a pointer and a number: it is cheap enough to call on
 * every step of a hot loop. */
#ifndef FZ_FAIL_H
#define FZ_FAIL_H

void fz_at(const char *label, long n);
__attribute__((noreturn, format(printf, 2, 3))) void fz_fail(const char *who, const char *fmt, ...);

/* FZ_CHECK(cond, who, fmt, ...): fz_fail unless cond holds. */
#define FZ_CHECK(cond, who, ...)                                                               \
    do {                                                                                       \
        if (!(cond))                                                                           \
            fz_fail(who, __VA_ARGS__);                                                         \
    } while (0)

#endif
