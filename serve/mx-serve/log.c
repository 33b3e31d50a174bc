/* log.c - one line per event: time, process, connection, listener, peer, what happened. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

static void stamp(FILE *f)
{
    struct timeval tv;
    struct tm tm;
    char b[32];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "%s.%03ldZ mx-serve[%d] ", b, (long)tv.tv_usec / 1000, (int)getpid());
}

void slog(struct server *s, const char *fmt, ...)
{
    FILE *f = s->log ? s->log : stderr;
    va_list ap;
    stamp(f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

void clog_(struct conn *c, const char *fmt, ...)
{
    FILE *f = c->srv->log ? c->srv->log : stderr;
    va_list ap;
    stamp(f);
    fprintf(f, "conn=%lu %s %s: ", c->id, c->lname, c->peer);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}
