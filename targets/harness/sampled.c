/* sampled.c - see sampled.h. */
#include "sampled.h"

#include <stdlib.h>

static int all = -1; /* -1: the environment not read yet */

void fz_sample_all(void)
{
    all = 1;
}

int fz_sampling_all(void)
{
    if (all < 0) {
        const char *e = getenv("MXFUZZ_CHECK_ALL");
        all = e && *e && *e != '0';
    }
    return all;
}

int fz_sampled(const uint8_t *p, size_t n)
{
    /* FNV-1a: any mixing will do, it only has to spread inputs evenly over the residues */
    uint32_t h = 2166136261u;
    if (fz_sampling_all())
        return 1;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % FZ_SAMPLE_ONE_IN == 0;
}
