/* judge.h - live-judge's pieces shared by its two judges: judge.c (the starttls target's RFC
 * model, every listener before login) and judge_imap.c (--imap-auth: the IMAP reader's sessions
 * after a LOGIN, judged by the IMAP model). */
#ifndef LIVE_JUDGE_H
#define LIVE_JUDGE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "session.h"

/* The session's header gives its listener's literal mode (format v3 flags bit 2); a server that
 * advertises the other one is not the listener the session was written for: n.a. under this rule
 * in both judges, never findings of rules the listener does not follow. */
#define LITERAL_MODE_RULE "RFC 7888 4: a listener advertises LITERAL+ or LITERAL-, and follows that one"

/* p[0..n) as printable text (\r \n \xNN) into out (cap bytes, NUL-terminated) */
void shown(char *out, size_t cap, const uint8_t *p, size_t n);
/* one verdict line on stdout: verdict, rule, expected, received, detail (tab-separated; live/run.py
 * reads it) */
void verdict_line(const char *v, const char *rule, const char *want, const char *got, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
/* one more class in a replay's class sequence (space-separated) */
void classes_put(struct fz_buf *classes, const char *c, size_t n);
/* a reply class (A R C B X I T ...) as the verdicts name it */
const char *class_name(char c);
/* a transcript's hex payload ("-": empty) into out; returns the byte count */
size_t unhex(const char *h, uint8_t *out);

/* --imap-auth --expect: the reply units per client write (the login prefix's first) */
int imap_auth_expect(const struct fz_session *s, size_t max_line, uint64_t max_literal);
/* --imap-auth: the verdicts on one replay (transcript: modified in place); limits_exact: the limits
 * are the server's own (a literal over them is judged, not left to the server) */
int imap_auth_judge(const struct fz_session *s, char *transcript, size_t max_line, uint64_t max_literal,
                    int limits_exact);

#endif
