/* sampled.h - which inputs run the checks that repeat a run under other conditions (the
 * chunking-invariance replays of the imap, imap_tls and starttls targets, the other LITERAL
 * mode). The run the input asks for is checked against its oracle on every input; those
 * repetitions cost a whole run each, so a fuzzer does them on one input in FZ_SAMPLE_ONE_IN,
 * and the replay driver (corpus and reproducer tests, ./build.sh repro) on every input.
 * The choice is a hash of the input's bytes: the same input always gets the same answer, so the
 * engine's coverage feedback is deterministic and a crash found on a sampled input reproduces. */
#ifndef FZ_SAMPLED_H
#define FZ_SAMPLED_H

#include <stddef.h>
#include <stdint.h>

#define FZ_SAMPLE_ONE_IN 16u

/* Every input from now on (the replay driver; a fuzzer with MXFUZZ_CHECK_ALL=1 in the
 * environment behaves the same). */
void fz_sample_all(void);
/* 1 when every input runs every repetition. */
int fz_sampling_all(void);
/* 1 when the input p[0..n) runs the repetitions. */
int fz_sampled(const uint8_t *p, size_t n);

#endif
