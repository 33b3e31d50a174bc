/* mx/protocol.h - what the SMTP, IMAP (pre-auth) and POP3 state machines share: the step
 * result handed to the caller, the line framer over the receive chain, and the TLS sniff. The
 * machines themselves are one engine, mx/machine.h.
 *
 * Driving a machine (a poll-loop server, a fuzz target or a test do the same):
 *
 *     mx_machine_init(machine, proto, cfg, linebuf, max_line)  linebuf: caller memory
 *     loop:
 *       read bytes (socket, or TLS plaintext) -> mx_chain_append(chain, ...)
 *       while ((act = step(machine, chain, &st)) != MX_ACT_NEED_INPUT):
 *         send st.reply[0 .. st.reply_n)                (always, before acting)
 *         MX_ACT_REPLY      nothing else; call step again
 *         MX_ACT_DATA       message bytes st.data[0 .. st.data_n) (valid until the next step)
 *         MX_ACT_STARTTLS   flush the reply, then run the TLS handshake on the socket. The
 *                           machine already purged the chain (st.discarded bytes: plaintext
 *                           pipelined after the command, CVE-2011-0411). When the handshake
 *                           is done call mx_machine_tls_started(); TLS plaintext then goes into the
 *                           chain. Until then step returns MX_ACT_NEED_INPUT and ignores
 *                           the chain (bytes there belong to the handshake).
 *         MX_ACT_HANDSHAKE  implicit-TLS listener: the queued bytes start a TLS handshake;
 *                           hand them (and what follows) to the TLS layer, call
 *                           mx_machine_tls_started() when done.
 *         MX_ACT_CLOSE      flush the reply (it may be empty: plaintext on an implicit-TLS
 *                           listener gets none) and close; st.diag says why when it is not a
 *                           normal QUIT/LOGOUT. Every later step returns MX_ACT_CLOSE.
 *
 * One step answers at most one command (or delivers one piece of message data), and a
 * command is answered only when its whole line is in the chain. The machines never touch
 * sockets and never allocate; per connection they hold their struct plus the caller's line
 * buffer (max_line bytes).
 */
#ifndef MX_PROTOCOL_H
#define MX_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "mx/chain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest single reply a step writes (EHLO's list, IMAP's CAPABILITY + tagged OK). */
#define MX_REPLY_MAX 512
/* Smallest line buffer a machine accepts (an SMTP command line is at most 512 octets). */
#define MX_LINE_MIN 64

enum mx_act {
    MX_ACT_NEED_INPUT = 0,
    MX_ACT_REPLY,
    MX_ACT_DATA,
    MX_ACT_STARTTLS,
    MX_ACT_HANDSHAKE,
    MX_ACT_CLOSE
};

struct mx_step {
    enum mx_act act;
    uint8_t reply[MX_REPLY_MAX];
    size_t reply_n;
    const uint8_t *data; /* MX_ACT_DATA */
    size_t data_n;
    const char *diag;    /* static text for the log, or NULL */
    size_t discarded;    /* MX_ACT_STARTTLS (and its MX_ACT_CLOSE): bytes purged from the chain */
    size_t tls_kept;     /* MX_ACT_STARTTLS: bytes left queued in the chain because they start
                          * the TLS handshake (a pipelined ClientHello): the TLS layer's */
    size_t line_n;       /* bytes of client input this step consumed (line incl. its end) */
};

/* What a machine leaves to its caller to decide (cfg.check): credentials and SMTP recipients.
 * libmx parses neither; arg is the command's argument as the client sent it. */
enum mx_check_kind {
    MX_CHECK_LOGIN = 1, /* IMAP LOGIN: everything after the verb (userid SP password, each an
                         * atom or a quoted string, RFC 3501 6.2.3) */
    MX_CHECK_PLAIN,     /* SMTP AUTH PLAIN (RFC 4954), IMAP AUTHENTICATE PLAIN (RFC 4959
                         * SASL-IR), POP3 AUTH PLAIN (RFC 5034): the initial response, base64
                         * of RFC 4616's authzid NUL authcid NUL passwd */
    MX_CHECK_USER,      /* POP3 USER: the name; the caller keeps it for the PASS that follows */
    MX_CHECK_PASS,      /* POP3 PASS: the password of the last USER */
    MX_CHECK_RCPT,      /* SMTP RCPT: the argument after "TO:" */
    MX_CHECK_SASL_USER, /* SMTP AUTH LOGIN (draft-murchison-sasl-login): the user name, base64,
                         * as sent; the caller keeps it for the MX_CHECK_SASL_PASS that follows
                         * (a refusal is answered as a refused login) */
    MX_CHECK_SASL_PASS  /* SMTP AUTH LOGIN: the password (base64) of the last SASL user */
};
enum mx_verdict {
    MX_ACCEPT = 0,
    MX_REFUSE_AUTH,         /* bad credentials: SMTP 535 5.7.8, IMAP NO [AUTHENTICATIONFAILED],
                             * POP3 -ERR [AUTH]; the session stays unauthenticated */
    MX_REFUSE_UNKNOWN_USER, /* RCPT: 550 5.1.1 (RFC 3463 X.1.1) */
    MX_REFUSE_RELAY         /* RCPT outside the local domains: 554 5.7.1 (RFC 5321 3.6.2) */
};
typedef enum mx_verdict (*mx_check_fn)(void *ctx, enum mx_check_kind kind, const uint8_t *arg, size_t n);

/* Listener facts a machine needs (from mx/listen.h's table at accept time). */
struct mx_conn_cfg {
    int mode;          /* enum mx_listen_mode */
    int cert;          /* a certificate serves this connection's (address, port) */
    int tls_required;  /* policy: no mail/login without TLS */
    size_t max_message;/* SMTP: largest message accepted (bytes after unstuffing) */
    unsigned max_errors; /* consecutive protocol errors before the final reply and the close
                          * (mx/machine.h MX_MAX_ERRORS when 0) */
    const char *host;    /* the server's name: SMTP's 220 greeting, EHLO and HELO replies */
    const char *product; /* the software name the greetings and sign-offs announce (SMTP
                          * "220 host ESMTP product", POP3 "+OK product POP3 ready", IMAP
                          * "* OK product IMAP4rev1 ready"); libmx has none of its own */
    mx_check_fn check;   /* NULL: every login and recipient is accepted (the machine only
                          * tracks the state); else asked before one is accepted */
    void *check_ctx;
    unsigned max_auth_failures; /* refused logins per connection before the final reply and the
                                 * close (MX_MAX_AUTH_FAILURES when 0) */
};

/* ---- line framer ---- */
enum mx_line_status {
    MX_LINE_NEED = 0,   /* no complete line queued */
    MX_LINE_OK = 1,     /* buf[0..len) holds the line without its LF and an optional CR */
    MX_LINE_TOOLONG = 2 /* a line longer than cap (LF included) was skipped entirely */
};
struct mx_liner {
    uint8_t *buf;
    size_t cap;     /* longest line, LF included */
    size_t scanned; /* bytes already searched for LF */
    int skipping;   /* inside an over-long line: drop until LF */
    /* NULL, or shown every byte the framer takes from the chain, in order, the lines it
     * returns and the over-long ones it drops alike (IMAP watches line ends for a literal
     * marker: mx/imap.h struct mx_imap_litmark) */
    void (*watch)(void *ctx, const uint8_t *p, size_t n);
    void *watch_ctx;
};
void mx_liner_init(struct mx_liner *l, uint8_t *buf, size_t cap); /* no watch */
void mx_liner_reset(struct mx_liner *l);
/* Frames the next LF-terminated line; consumes it (or the over-long bytes) from c.
 * *consumed gets the bytes taken from the chain by this call. */
int mx_liner_next(struct mx_liner *l, struct mx_chain *c, size_t *len, size_t *consumed);

/* ---- TLS sniff ---- */
enum mx_sniff { MX_SNIFF_NEED = 0, MX_SNIFF_TLS = 1, MX_SNIFF_NOT_TLS = 2 };
/* Looks at the first two queued bytes: 0x16 0x03 is a TLS handshake record (a ClientHello
 * from an implicit-TLS client). */
int mx_sniff_tls(const struct mx_chain *c);

/* ---- reply helpers (used by the machines) ---- */
void mx_step_clear(struct mx_step *st);
/* Appends text to st->reply, truncating at MX_REPLY_MAX. */
void mx_step_puts(struct mx_step *st, const char *s);
void mx_step_putn(struct mx_step *st, const void *p, size_t n);
/* Appends text and sets MX_ACT_REPLY; returns it. */
int mx_step_reply(struct mx_step *st, const char *text);
/* Appends text (if any), records diag and sets MX_ACT_CLOSE; returns it. The machine marks
 * itself closed. */
int mx_step_close(struct mx_step *st, const char *text, const char *diag);
/* The implicit-TLS gate, before the handshake: MX_ACT_NEED_INPUT until two bytes are queued,
 * MX_ACT_HANDSHAKE (set in st) when they start a TLS record, else MX_ACT_CLOSE with no reply
 * and st.diag (the machine then marks itself closed). RFC 8314 3.3: the port speaks TLS from
 * the first byte, so a client that is not doing TLS gets nothing in clear text (a plaintext
 * reply would be read by no TLS client, and would tell a scanner what the port runs). */
int mx_step_implicit_gate(const struct mx_chain *c, struct mx_step *st);
/* Case-insensitive: do the n bytes at p start with w (upper case)? */
int mx_prefix_is(const uint8_t *p, size_t n, const char *w);
/* Case-insensitive: does the line start with word w followed by end of line or a space? */
int mx_word_is(const uint8_t *line, size_t n, const char *w);

#ifdef __cplusplus
}
#endif
#endif
