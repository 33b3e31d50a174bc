/* session.h - the session file format shared by every multi-step target,
 * the capture importer and the reproducers. Specification: corpus/FORMAT.md.
 * Parsing never fails: every byte string is a session. */
#ifndef MXFUZZ_SESSION_H
#define MXFUZZ_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum mx_proto { MX_PROTO_SMTP = 0, MX_PROTO_IMAP = 1, MX_PROTO_POP3 = 2 };
enum mx_mode { MX_MODE_PLAIN = 0, MX_MODE_STARTTLS = 1, MX_MODE_IMPLICIT = 2 };
#define MX_SFLAG_CERT 0x01u
#define MX_SFLAG_TLS_REQUIRED 0x02u

enum mx_ev_type { MX_EV_CLIENT = 0, MX_EV_SERVER = 1, MX_EV_READS = 2, MX_EV_TLS = 3 };

struct mx_session {
    enum mx_proto proto;
    enum mx_mode mode;
    uint8_t flags;
    uint8_t limits;      /* raw byte: nibbles as in FORMAT.md */
    size_t max_line;     /* 64 << (L % 10) */
    size_t max_literal;  /* 256 << M */
    const uint8_t *ev;   /* event area */
    size_t ev_size;
};

struct mx_event {
    enum mx_ev_type type;
    const uint8_t *p;
    size_t n;
};

#define MX_SESSION_HEADER 4

void mx_session_parse(struct mx_session *s, const uint8_t *data, size_t size);
/* Next event at *cursor (start at 0); returns 0 at the end. */
int mx_session_next(const struct mx_session *s, size_t *cursor, struct mx_event *ev);

/* Reads as the server sees them (FORMAT.md, "Reads"). */
enum mx_read_kind { MX_READ_DATA = 0, MX_READ_TLS = 1, MX_READ_SERVER = 2 };
struct mx_read {
    enum mx_read_kind kind;
    const uint8_t *p; /* DATA: the read's bytes; SERVER: the server write */
    size_t n;
};
struct mx_reader {
    const struct mx_session *s;
    size_t cursor;          /* next event */
    const uint8_t *cur;     /* current client write: unread part */
    size_t cur_n;
    uint8_t pattern[256];   /* read sizes; npattern 0 = one read per write */
    size_t npattern, ipattern;
    int pending;            /* pend waits behind a partial read */
    struct mx_read pend;
    uint8_t buf[256];       /* a pattern read assembled across writes */
};
void mx_reader_init(struct mx_reader *r, const struct mx_session *s);
/* Returns 0 at the end of the session. */
int mx_reader_next(struct mx_reader *r, struct mx_read *out);

/* Text form. decode: binary -> text on f. encode: text -> binary in a
 * malloc'd buffer; on error returns -1 and writes "line N: what" to err. */
void mx_session_decode(FILE *f, const uint8_t *data, size_t size);
int mx_session_encode(const char *text, size_t len, uint8_t **out, size_t *out_len,
                      char *err, size_t errlen);

/* Writer helpers (for tools that build sessions, e.g. the capture importer). */
struct mx_sbuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
};
void mx_sbuf_header(struct mx_sbuf *b, enum mx_proto proto, enum mx_mode mode,
                    uint8_t flags, uint8_t limits);
/* Appends an event; payloads over 65535 bytes are split into several events
 * of the same type (for C this adds write boundaries: callers that care split
 * themselves). */
void mx_sbuf_event(struct mx_sbuf *b, enum mx_ev_type t, const void *p, size_t n);
void mx_sbuf_free(struct mx_sbuf *b);

/* Limits byte from sizes (rounded up to the next representable value). */
uint8_t mx_session_limits(size_t max_line, size_t max_literal);

#endif
