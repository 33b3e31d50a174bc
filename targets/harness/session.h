/* session.h - the session file format shared by every multi-step target,
 * the capture importer and the reproducers. Specification: corpus/FORMAT.md.
 * Parsing never fails: every byte string is a session. */
#ifndef FZ_SESSION_H
#define FZ_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

enum fz_proto { FZ_PROTO_SMTP = 0, FZ_PROTO_IMAP = 1, FZ_PROTO_POP3 = 2 };
enum fz_mode { FZ_MODE_PLAIN = 0, FZ_MODE_STARTTLS = 1, FZ_MODE_IMPLICIT = 2 };
#define FZ_SFLAG_CERT 0x01u
#define FZ_SFLAG_TLS_REQUIRED 0x02u
/* Version 3 and later: the listener advertises LITERAL- (RFC 7888 4), not LITERAL+. In
 * versions 1 and 2 the bit is reserved and means nothing (those files were written when every
 * listener advertised LITERAL+): read it through fz_session_literal_minus(), never directly. */
#define FZ_SFLAG_LITERAL_MINUS 0x04u
/* the first version in which FZ_SFLAG_LITERAL_MINUS has its meaning */
#define FZ_SESSION_VERSION_LITERAL 3
/* Version 3 and later: a certificate is bound but cannot be used (the server failed to load it
 * or to set TLS up): STARTTLS/STLS is not listed, SMTP answers STARTTLS 454 (RFC 3207 4), IMAP
 * BAD (RFC 3501 6.2.1), POP3 -ERR (RFC 2595 4). Reserved in versions 1 and 2: read it through
 * fz_session_tls_unavailable(), never directly. */
#define FZ_SFLAG_TLS_UNAVAILABLE 0x08u
/* the first version in which FZ_SFLAG_TLS_UNAVAILABLE has its meaning */
#define FZ_SESSION_VERSION_TLS_UNAVAILABLE 3

/* Event types as the code sees them. On the wire each has a type byte (FZ_TAG_*). */
enum fz_ev_type { FZ_EV_CLIENT = 0, FZ_EV_SERVER = 1, FZ_EV_READS = 2, FZ_EV_TLS = 3 };

/* Event type bytes. Type numbers are forever (corpus/FORMAT.md, "Versions"): a number, once
 * given to an event, is never given to another, even after the event is retired, because
 * corpora and reproducers written with it stay in the repository and in fuzzing campaigns.
 * To add an event type: take a number neither in use below nor retired, add it here, to the
 * table in FORMAT.md, to fz_session_next (v2 only: v1 is closed), to the text form
 * (decode and encode) and to tools/mxsession.py; targets/tests/session_parsers_agree.sh then
 * checks that the C and Python parsers agree.
 * Retired numbers (never reuse): none yet. */
#define FZ_TAG_CLIENT 0x43 /* 'C' */
#define FZ_TAG_SERVER 0x53 /* 'S' */
#define FZ_TAG_READS 0x52  /* 'R' */
#define FZ_TAG_TLS 0x54    /* 'T' */

struct fz_session {
    unsigned version;    /* 1 (no magic), or 2..FZ_SESSION_VERSION_MAX ("MX" + version byte);
                          * FORMAT.md, "Versions" */
    enum fz_proto proto;
    enum fz_mode mode;
    uint8_t flags;
    uint8_t limits;      /* raw byte: nibbles as in FORMAT.md */
    size_t max_line;     /* 64 << (L % 10) */
    size_t max_literal;  /* 256 << M */
    const uint8_t *ev;   /* event area */
    size_t ev_size;
};

struct fz_event {
    enum fz_ev_type type;
    const uint8_t *p;
    size_t n;
};

#define FZ_SESSION_HEADER 4 /* proto, mode, flags, limits */
/* Version 2 and later: the file starts with FZ_SESSION_MAGIC and a version byte, then the
 * 4-byte header; every version byte >= 2 is read as the newest version known here. */
#define FZ_SESSION_MAGIC "MX"
#define FZ_SESSION_MAGIC_LEN 2
#define FZ_SESSION_VERSION_MAX 3

void fz_session_parse(struct fz_session *s, const uint8_t *data, size_t size);
/* 1 if the session's listener advertises LITERAL- (non-synchronizing literals of at most 4096
 * octets, RFC 7888 4), 0 for LITERAL+ (every version 1 and 2 file). The one reader of the bit. */
int fz_session_literal_minus(const struct fz_session *s);
/* 1 if the session's listener has a certificate it cannot use (FZ_SFLAG_TLS_UNAVAILABLE, version
 * 3 and later), else 0. The one reader of the bit. */
int fz_session_tls_unavailable(const struct fz_session *s);
/* The header flag bits that have a meaning in a file of this version (the rest are reserved). */
uint8_t fz_session_known_flags(unsigned version);
/* Next event at *cursor (start at 0); returns 0 at the end. */
int fz_session_next(const struct fz_session *s, size_t *cursor, struct fz_event *ev);

/* Reads as the server sees them (FORMAT.md, "Reads"). */
enum fz_read_kind { FZ_READ_DATA = 0, FZ_READ_TLS = 1, FZ_READ_SERVER = 2 };
struct fz_read {
    enum fz_read_kind kind;
    const uint8_t *p; /* DATA: the read's bytes; SERVER: the server write */
    size_t n;
};
struct fz_reader {
    const struct fz_session *s;
    size_t cursor;          /* next event */
    const uint8_t *cur;     /* current client write: unread part */
    size_t cur_n;
    uint8_t pattern[256];   /* read sizes; npattern 0 = one read per write */
    size_t npattern, ipattern;
    int pending;            /* pend waits behind a partial read */
    struct fz_read pend;
    uint8_t buf[256];       /* a pattern read assembled across writes */
};
void fz_reader_init(struct fz_reader *r, const struct fz_session *s);
/* Returns 0 at the end of the session. */
int fz_reader_next(struct fz_reader *r, struct fz_read *out);

/* Text form. decode: binary -> text on f. encode: text -> binary in a
 * malloc'd buffer; on error returns -1 and writes "line N: what" to err. */
void fz_session_decode(FILE *f, const uint8_t *data, size_t size);
int fz_session_encode(const char *text, size_t len, uint8_t **out, size_t *out_len,
                      char *err, size_t errlen);

/* Writer helpers (for tools that build sessions, e.g. the capture importer): they append to
 * b with fz_buf_append, so b->oom tells whether the file is complete; fz_buf_free frees it. */
/* version 1 writes the bare header; 2 and later "MX", the version byte, then the header. A
 * writer that copies a session passes its version on, so that the flags keep their meaning. */
void fz_sbuf_header(struct fz_buf *b, unsigned version, enum fz_proto proto, enum fz_mode mode,
                    uint8_t flags, uint8_t limits);
/* Appends an event; payloads over 65535 bytes are split into several events
 * of the same type (for C this adds write boundaries: callers that care split
 * themselves). */
void fz_sbuf_event(struct fz_buf *b, enum fz_ev_type t, const void *p, size_t n);

/* Limits byte from sizes (rounded up to the next representable value). */
uint8_t fz_session_limits(size_t max_line, size_t max_literal);

#endif
