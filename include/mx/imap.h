/* mx/imap.h - the streaming IMAP command reader.
 *
 * One job: turn the client byte stream queued in a receive chain (mx/chain.h) into IMAP
 * command events. It parses; it does not execute, answer or authenticate.
 *
 * Pull style. The caller appends every read to the chain, then calls mx_imap_next() until it
 * returns MX_IMAP_NEED_MORE. Each call consumes what it parsed from the chain's head and
 * returns one event:
 *
 *   COMMAND_START      tag and command name parsed (ev.tag, ev.name)
 *   ARG                an atom or a quoted string (ev.data, ev.len, ev.arg_kind; quoted
 *                      strings arrive unescaped)
 *   LIST_OPEN/CLOSE    "(" and ")"
 *   NEED_CONTINUATION  a synchronizing literal {N} / ~{N} within the limit: the caller must
 *                      send "+ ..." now. Only after this event does the reader accept the
 *                      literal's octets (ev.literal)
 *   LITERAL_START      a non-synchronizing literal {N+} / ~{N+} (LITERAL+ or LITERAL-)
 *   LITERAL_END        the literal's N octets have all gone to the sink
 *   COMMAND_END        the command's final CRLF has been consumed
 *   RESPONSE           the reader rejects the command: send ev.response (tagged when ev.tag_len
 *                      > 0, else "*"); the command ends here (no COMMAND_END follows)
 *   TOO_MANY_ERRORS    cfg.max_errors consecutive protocol errors: send one final line ("* BYE")
 *                      and close. Returned from then on, consuming nothing (see Errors below)
 *   NEED_MORE          every queued byte has been consumed; append more
 *
 * Literal octets never pass through an event: they are handed to the sink callback in pieces
 * (one call per chain segment run), so a message need not fit in memory.
 *
 * Completion: COMMAND_END is returned as soon as the command's final LF has been appended
 * to the chain, and never earlier: NEED_MORE is returned only once every queued byte has been
 * consumed, so no event whose bytes are all queued is left waiting for another read. After
 * NEED_MORE the chain is empty.
 *
 * Grammar (strict; bytes are examined one at a time, every error is detected at one byte,
 * "the offending byte"):
 *   command  = tag SP name *(SP token) CRLF          (inside parens no SP after "(" / before ")")
 *   tag      = 1*(0x21-0x7E except ( ) { % * " \ +)
 *   name     = 1*(ALPHA / DIGIT / "-" / "_" / ".")
 *   token    = atom / quoted / literal / "(" [token *(SP token)] ")"     depth <= MX_IMAP_MAX_DEPTH
 *   atom     = 1*(0x21-0xFF except ( ) { " DEL); "[" is an atom byte like the others, except
 *              that "[HEADER.FIELDS" / ".HEADER.FIELDS[.NOT]" followed by SP opens a header
 *              list, part of the atom: "(" name *(SP name) ")" "]", a name being atom bytes
 *              ("]" among them: "TO]" is a name) or a quoted string; a literal name is refused
 *              (BODY[HEADER.FIELDS (FROM)]; RFC 3501 §6.4.5, §9). "a[b" is an atom.
 *   quoted   = DQUOTE *(any byte but NUL CR LF " \ / "\\" / "\"") DQUOTE   (NUL: E_QUOTED_NUL)
 *   literal  = ["~"] "{" 1*DIGIT ["+"] "}" CRLF octets     ("~": literal8, RFC 3516)
 *   APPEND   = tag SP "APPEND" SP mailbox 1*(SP ["(" flags ")" SP] [date-time SP] literal) CRLF
 *              (RFC 3501 + MULTIAPPEND RFC 3502; date-time "dd-Mon-yyyy hh:mm:ss +zzzz")
 *
 * Limits and what a breach does (cfg):
 *   max_line     a line piece (from a command's start, or from the end of a literal's
 *                octets, up to and including its CRLF) holds at most max_line bytes; the byte
 *                at offset max_line is offending: BAD, E_LINE_TOO_LONG.
 *   max_literal  synchronizing literal over it: tagged "NO [TOOBIG]" at the marker's LF, NO
 *                continuation; the client will not send the octets, so the next byte starts
 *                the next command. Non-synchronizing literal over the limit (max_literal with
 *                MX_IMAP_LITERAL_PLUS, else min(4096, max_literal): LITERAL-, RFC 7888):
 *                tagged "BAD [TOOBIG]"; the client sends the octets anyway, so they are
 *                swallowed (counted, never parsed or stored) and the rest of the line skipped.
 *   sizes        parsed without overflow (UINT64_MAX at most); {}, {+5}, {5+x}, {5}x and a
 *                size over UINT64_MAX are BAD E_LITERAL_SYNTAX at the offending byte.
 *
 * After an error (RESPONSE): the reader skips from the offending byte (inclusive) to the end of
 * the line (the next LF). If the skipped line ends with a non-synchronizing literal marker
 * ("{" 1*DIGIT "+}" CRLF, value <= UINT64_MAX) the client sends those octets without waiting:
 * they are swallowed and skipping goes on with the line after them. A skipped line ending in a
 * synchronizing marker ends the skip: the client got BAD instead of "+" and sends no octets.
 * The next byte then starts a new command. So the reader always stays in step with a client
 * that follows the protocol, and a malicious client can never make it execute literal octets.
 *
 * Errors (issue 12 rule 4: a flood of bad lines must not get a reply each, for ever, on an
 * authenticated connection either): a protocol error is a BAD RESPONSE event (NO [TOOBIG] is
 * not one: the command was well formed) or a command the caller answered with BAD and reported
 * with mx_imap_answered(r, 1); mx_imap_answered(r, 0), a command answered otherwise, ends the
 * run. After cfg.max_errors errors in a row, the next mx_imap_next returns TOO_MANY_ERRORS:
 * the limit'th error is answered, then the caller sends its final line and closes (the
 * engine's rule, mx/machine.h MX_MAX_ERRORS). A caller that reports nothing counts only the
 * reader's own BAD responses, and none of them is ever forgiven.
 *
 * Octets that arrive before the continuation: a synchronizing literal's octets are whatever
 * bytes follow its "{N}" CRLF, whenever they arrive (in the same read or later); none of them
 * reaches the sink before NEED_CONTINUATION has been returned.
 *
 * Memory: per connection, sizeof(struct mx_imap) + 2 * max_line bytes, allocated once by
 * mx_imap_init (tag buffer and token buffer); nothing is allocated afterwards. The receive
 * chain the caller owns is bounded by its own limit; the reader drains it on every call.
 * Buffered input: the reader keeps nothing of the stream but what its two buffers hold (the
 * current tag and token), and NEED_MORE means the chain is empty, so while the caller keeps
 * calling mx_imap_next the chain holds at most one read. A caller that pauses parsing (e.g.
 * while a command executes) bounds what queues meanwhile with the chain's limit: the append
 * that would pass it fails with MX_CHAIN_ELIMIT and changes nothing, and the caller stops
 * reading the socket (backpressure) until the reader has drained the chain.
 */
#ifndef MX_IMAP_H
#define MX_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "mx/chain.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MX_IMAP_MAX_DEPTH 8u           /* nesting of parenthesized lists */
#define MX_IMAP_LITERAL_MINUS_MAX 4096u /* RFC 7888: LITERAL- non-synchronizing limit */
#define MX_IMAP_MIN_LINE 16u            /* smallest max_line accepted */

#define MX_IMAP_LITERAL_PLUS 0x1u /* cfg.flags: LITERAL+ advertised (else LITERAL-) */

enum mx_imap_ev {
    MX_IMAP_NEED_MORE = 0,
    MX_IMAP_COMMAND_START,
    MX_IMAP_ARG,
    MX_IMAP_LIST_OPEN,
    MX_IMAP_LIST_CLOSE,
    MX_IMAP_NEED_CONTINUATION,
    MX_IMAP_LITERAL_START,
    MX_IMAP_LITERAL_END,
    MX_IMAP_COMMAND_END,
    MX_IMAP_RESPONSE,
    MX_IMAP_TOO_MANY_ERRORS
};

enum mx_imap_arg_kind { MX_IMAP_ATOM = 0, MX_IMAP_QUOTED = 1 };

enum mx_imap_lit_role {
    MX_IMAP_LIT_ARG = 0,    /* an argument given as a literal (mailbox name, password, ...) */
    MX_IMAP_LIT_MESSAGE = 1 /* an APPEND message: the octets for the message store */
};

enum mx_imap_status { MX_IMAP_BAD = 0, MX_IMAP_NO = 1 };

enum mx_imap_reason {
    MX_IMAP_E_TAG = 1,          /* missing or bad tag (untagged BAD) */
    MX_IMAP_E_NAME,             /* missing or bad command name */
    MX_IMAP_E_SYNTAX,           /* unexpected byte between or inside tokens */
    MX_IMAP_E_QUOTED,           /* bad escape, CR or LF in a quoted string */
    MX_IMAP_E_QUOTED_NUL,       /* NUL in a quoted string */
    MX_IMAP_E_LINE_END,         /* CR not followed by LF, bare LF */
    MX_IMAP_E_PARENS,           /* unbalanced parentheses */
    MX_IMAP_E_DEPTH,            /* lists nested deeper than MX_IMAP_MAX_DEPTH */
    MX_IMAP_E_LITERAL_SYNTAX,   /* malformed literal marker or size over UINT64_MAX */
    MX_IMAP_E_LITERAL_TOO_BIG,  /* synchronizing literal over max_literal: NO [TOOBIG] */
    MX_IMAP_E_NONSYNC_TOO_BIG,  /* non-synchronizing literal over its limit: BAD [TOOBIG] */
    MX_IMAP_E_LINE_TOO_LONG,    /* line piece over max_line */
    MX_IMAP_E_APPEND,           /* APPEND arguments out of order or missing */
    MX_IMAP_E_DATE              /* APPEND date-time malformed */
};

struct mx_imap_event {
    enum mx_imap_ev type;
    /* COMMAND_START, RESPONSE (tag_len 0: untagged "*") */
    const uint8_t *tag;
    size_t tag_len;
    /* COMMAND_START */
    const uint8_t *name;
    size_t name_len;
    /* ARG */
    enum mx_imap_arg_kind arg_kind;
    const uint8_t *data;
    size_t len;
    /* NEED_CONTINUATION, LITERAL_START, LITERAL_END */
    struct {
        uint64_t size;
        int sync;   /* 1: {N} (continuation needed), 0: {N+} */
        int binary; /* 1: literal8 ~{N} */
        enum mx_imap_lit_role role;
    } literal;
    /* RESPONSE */
    struct {
        enum mx_imap_status status;
        enum mx_imap_reason reason;
        const char *code; /* "TOOBIG" or NULL */
        const char *text;
    } response;
};

/* Literal octets, in order; called only between NEED_CONTINUATION/LITERAL_START and
 * LITERAL_END of that literal. */
typedef void (*mx_imap_sink_fn)(void *ctx, const uint8_t *p, size_t n);

struct mx_imap_config {
    size_t max_line;      /* >= MX_IMAP_MIN_LINE */
    uint64_t max_literal; /* largest literal accepted */
    unsigned flags;       /* MX_IMAP_LITERAL_PLUS */
    mx_imap_sink_fn sink; /* NULL: literal octets are dropped */
    void *sink_ctx;
    const struct mx_alloc *alloc; /* NULL: malloc/free */
    unsigned max_errors;  /* consecutive protocol errors before TOO_MANY_ERRORS; 0: no limit */
};

/* The literal-marker watch: the one skipper of a refused line's non-synchronizing literal,
 * shared by this reader (after an error) and the pre-authentication machine (src/machine.c,
 * src/imap_starttls.c: every refused line, too-long ones included). It is fed every byte of a
 * line, in order, up to and including its LF, and holds a few counters, never the line (whose
 * length, like the marker's digits -- leading zeros are allowed --, is not bounded). RFC 7888 4: a client sends a {N+} literal's
 * octets without waiting, refused or not, so they follow the line and are not commands. */
enum mx_imap_mark {
    MX_IMAP_MARK_NONE = 0, /* not at a line end, or the line did not end in a {N+} marker */
    MX_IMAP_MARK_NONSYNC,  /* the line ended in "{" 1*DIGIT "+}" CRLF: N octets follow */
    MX_IMAP_MARK_TOO_BIG   /* the same, with N over UINT64_MAX: they cannot be skipped */
};
struct mx_imap_litmark {
    uint64_t size;
    unsigned char st, ovf;
    unsigned char bare_lf; /* a bare LF ends the line as CRLF does (the pre-authentication
                            * framer's rule) */
};
void mx_imap_litmark_init(struct mx_imap_litmark *w, int bare_lf);
/* b is the line's next byte. At its LF: what the line ended in (*size: N for
 * MX_IMAP_MARK_NONSYNC), and the watch starts over for the next line; MX_IMAP_MARK_NONE for
 * every other byte. */
enum mx_imap_mark mx_imap_litmark_byte(struct mx_imap_litmark *w, unsigned b, uint64_t *size);
/* How many of p[0..n) from the start leave w as it is (mx_imap_litmark_byte would change
 * nothing for each of them): a caller may skip them. 0 unless w is between markers. */
size_t mx_imap_litmark_idle(const struct mx_imap_litmark *w, const uint8_t *p, size_t n);

/* The reader. Fields are private; it may be embedded in a connection structure. */
struct mx_imap {
    size_t max_line;
    uint64_t max_literal, max_nonsync;
    mx_imap_sink_fn sink;
    void *sink_ctx;
    struct mx_alloc a;
    uint8_t *tag, *tok; /* max_line bytes each */
    int st;
    size_t tag_len, tok_len, piece_len;
    int tagged, bracket, after_open, is_append, ast, is_date;
    unsigned depth;
    uint64_t lit_size, remaining;
    int lit_plus, lit_binary, lit_digits, lit_role;
    struct mx_imap_litmark skip; /* S_SKIP: does the skipped line end in a {N+} marker? */
    uint64_t commands, responses; /* statistics: COMMAND_END and RESPONSE events so far */
    unsigned max_errors, error_run; /* the bound and the current run of protocol errors */
};

/* 0 on success; -1 on a bad config (max_line < MX_IMAP_MIN_LINE) or allocation failure. */
int mx_imap_init(struct mx_imap *r, const struct mx_imap_config *cfg);
void mx_imap_release(struct mx_imap *r);
/* Back to the start of a command, dropping any partial state (e.g. after STARTTLS), and the
 * run of errors (the caller answered the command it cut short). */
void mx_imap_reset(struct mx_imap *r);

/* Parses from c's head; fills *ev and returns its type. Pointers in *ev stay valid until the
 * next call. */
enum mx_imap_ev mx_imap_next(struct mx_imap *r, struct mx_chain *c, struct mx_imap_event *ev);

/* The caller's answer to the command that just ended (COMMAND_END): error 1 if it was BAD
 * (a protocol error, counted in the run), 0 otherwise (ends the run). See Errors above. */
void mx_imap_answered(struct mx_imap *r, int error);

/* Formats a RESPONSE event as the line to send ("a1 NO [TOOBIG] ...\r\n"); returns the
 * length it needs (like snprintf). */
size_t mx_imap_format_response(const struct mx_imap_event *ev, char *buf, size_t n);

/* Name of an event type / reason, for logs and tests. */
const char *mx_imap_ev_name(enum mx_imap_ev t);
const char *mx_imap_reason_name(enum mx_imap_reason r);

#ifdef __cplusplus
}
#endif
#endif
