/* starttls_model.h - the RFC model of the starttls target (input format and the checks:
 * targets/starttls.c).
 *
 * The model is written from the RFC rules, not from src/: a flat buffer of the client's bytes,
 * whole-line parsing, reply codes only. starttls_model_run() turns what is buffered into the
 * replies the machine must give, one struct starttls_expect each. The rules common to the three
 * protocols (lines, too-long lines, the implicit-TLS gate, a ClientHello at a line start, the
 * STARTTLS purge) are in starttls_model.c; each protocol's commands and the shape of its replies
 * are one file: starttls_smtp.c, starttls_pop3.c, starttls_imap.c.
 */
#ifndef FZ_STARTTLS_MODEL_H
#define FZ_STARTTLS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mx/machine.h"
#include "mx/protocol.h"

enum starttls_phase { M_PRE_TLS, M_HS, M_CMD, M_DATA, M_WAIT_TLS, M_CLOSED };

/* IMAP reply kinds (struct starttls_expect.code) */
enum { I_GREET = 1, I_OK, I_NO, I_BAD, I_STAR_BAD, I_BYE_CLOSE, I_LOGOUT, I_CONT };
/* the SASL exchange the model is in (starttls_model.sasl) */
enum { S_NONE = 0, S_PLAIN, S_LOGIN_USER, S_LOGIN_PASS };
/* POP3 reply kinds: 1 +OK, 0 -ERR, and the SASL continuation "+ " (RFC 5034 4) */
enum { P_ERR = 0, P_OK = 1, P_CONT = 2 };

/* What the model expects a step to produce. */
struct starttls_expect {
    int act;         /* MX_ACT_REPLY, MX_ACT_STARTTLS, MX_ACT_HANDSHAKE, MX_ACT_CLOSE */
    int code;        /* SMTP: 3-digit code; POP3: 1 +OK / 0 -ERR; IMAP: an I_* kind */
    int offers;      /* capability reply: STARTTLS/STLS must be listed (1) or not (0); -1 n/a */
    int logindis;    /* IMAP CAPABILITY: LOGINDISABLED listed; -1 n/a */
    int toobig;      /* IMAP: the tagged BAD carries [TOOBIG] (a LITERAL- refusal) */
    size_t discarded;/* MX_ACT_STARTTLS, and the MX_ACT_CLOSE of a mixed pipeline */
    size_t kept;     /* MX_ACT_STARTTLS: pipelined handshake bytes left for the TLS layer */
    int mixed;       /* the close of STARTTLS with plaintext and TLS records behind it */
    int may_close;   /* the machine may close the connection instead (with this reply) */
    int no_plain;    /* MX_ACT_CLOSE with no plaintext at all: an empty reply, or one fatal TLS
                      * alert record (starttls_model_no_plain()) */
    char tag[MX_IMAP_TAG_MAX + 1];
    int data_end;    /* SMTP end-of-message reply: compare the message */
    size_t msg_off, msg_len; /* the expected message in model.msglog */
    const char *rule; /* the rule this reply checks, for divergence messages */
};

struct starttls_model;

/* One protocol: its command rules and the shape of its replies. */
struct starttls_proto {
    const char *name;
    int greeting, too_long, refusal; /* codes: greeting, line over max-line, the one reply
                                        before a close (a ClientHello on a plaintext
                                        listener, the end of an error run) */
    /* one complete command line (no CR LF) */
    struct starttls_expect (*command)(struct starttls_model *m, const uint8_t *l, size_t n);
    /* M_DATA (SMTP only, else NULL): one message line; -1 when it is incomplete, else the
     * number of expectations written to *e (0 or 1) */
    int (*data_line)(struct starttls_model *m, struct starttls_expect *e);
    /* the protocol part of a reply check (the action, CRLF endings and the bare CR/LF rule
     * are checked before); shown is the reply as printed in messages */
    void (*check_reply)(const struct starttls_model *m, const uint8_t *p, size_t n,
                        const char *shown, const struct starttls_expect *e);
    /* NULL: a line over max-line gets the too_long reply; else its expectation (the line
     * without CR LF: IMAP looks at how it ends) */
    struct starttls_expect (*too_long_line)(struct starttls_model *m, const uint8_t *l, size_t n);
};
extern const struct starttls_proto starttls_smtp, starttls_pop3, starttls_imap;

struct starttls_model {
    const struct starttls_proto *p;
    int mode, cert, tls_required; /* mode: enum mx_listen_mode */
    int literal_minus; /* IMAP: the listener advertises LITERAL- (RFC 7888 4), else LITERAL+ */
    int tls_unavailable; /* the bound certificate cannot be used: TLS is never offered, and SMTP
                          * refuses STARTTLS as a temporary failure (RFC 3207 4: 454) */
    size_t max_line, max_message;
    enum starttls_phase phase;
    int tls;
    /* SMTP */
    int helo, mail, auth;
    unsigned nrcpt;
    struct fz_buf msg;    /* expected message */
    struct fz_buf msglog; /* messages completed in this read (the model runs ahead) */
    int msg_over;
    /* POP3 */
    int user, trans;
    /* IMAP */
    int authd;
    unsigned err_run;  /* consecutive error replies to command lines */
    unsigned long long swallow; /* octets of a refused command's literal still to skip */
    int sasl;          /* a SASL challenge was sent (S_PLAIN, S_LOGIN_USER, S_LOGIN_PASS): the
                        * next line is the response */
    char sasl_tag[MX_IMAP_TAG_MAX + 1]; /* IMAP: the AUTHENTICATE command's tag */
    struct fz_buf buf; /* client bytes not yet acted on */
    size_t scan;       /* bytes of buf already searched for a line end */
};

/* Runs the model on everything buffered; writes up to cap expectations, returns the count. */
size_t starttls_model_run(struct starttls_model *m, struct starttls_expect *ex, size_t cap);
/* TLS came up after STARTTLS: RFC 3207 4.2, RFC 2595 4, RFC 3501 6.2.1 - the server forgets
 * what it knew about the client. */
void starttls_model_reset(struct starttls_model *m);
void starttls_model_free(struct starttls_model *m);

/* Helpers for the protocol files. */
struct starttls_expect starttls_reply(int code);
/* The verb of p[0..n) in upper case, or "\x7f" when too long or holding a NUL. */
void starttls_upper_word(const uint8_t *p, size_t n, char *out, size_t cap);
/* SMTP and POP3 lines: the verb (as starttls_upper_word) and where its argument starts (past
 * the spaces after the verb; n when there is none). */
size_t starttls_verb(const uint8_t *l, size_t n, char *verb, size_t cap);
/* Issue 12 rule 2: p[0..n) is what RFC 8314 3.3 allows an implicit-TLS listener to send a
 * client whose first byte is not TLS: nothing, or one fatal alert record. NULL, else why not. */
const char *starttls_model_no_plain(const uint8_t *p, size_t n);
/* The line after a SASL challenge (l[0..n) without CR LF; too_long: it was over max-line). */
struct starttls_expect starttls_sasl_response(struct starttls_model *m, const uint8_t *l, size_t n,
                                              int too_long);
/* TLS can be offered: a STARTTLS listener with a usable certificate, TLS not yet on (the
 * protocol adds its own state conditions). */
int starttls_offerable(const struct starttls_model *m);

#endif
