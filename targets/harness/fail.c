/* fail.c - see fail.h. */
#include "fail.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *g_label;
static long g_n;

void fz_at(const char *label, long n)
{
    g_label = label;
    g_n = n;
}

void fz_fail(const char *who, const char *fmt, ...)
{
    va_list ap;
    if (g_label)
        fprintf(stderr, "%s: divergence at %s %ld: ", who, g_label, g_n);
    else
        fprintf(stderr, "%s: divergence: ", who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
