/* machine_proto.h - inside libmx only: what a protocol hands the engine (src/machine.c), in
 * the manner of postfix's smtpd_cmd_table ({name, action, flags}), and the engine services a
 * protocol's command actions call. */
#ifndef MX_MACHINE_PROTO_H
#define MX_MACHINE_PROTO_H

#include "mx/machine.h"

/* One command line as the engine hands it to an action. */
struct mx_cmdline {
    struct mx_chain *chain; /* the chain it came from (what STARTTLS purges) */
    const uint8_t *line; /* the whole line, without its LF and an optional CR */
    size_t n;
    const uint8_t *verb; /* where the command word starts (after IMAP's tag), to the end */
    size_t vn;
    size_t tag_n;        /* IMAP: the tag is line[0 .. tag_n); else 0 */
    const uint8_t *arg;  /* after the verb and the spaces behind it, to the end (an bytes; */
    size_t an;           /* none for the table's fallback) */
};

typedef int (*mx_action)(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl);

/* flags of a command table entry */
#define MX_CMD_PRE_TLS 0x1 /* allowed before TLS under the tls_required policy */
#define MX_CMD_AUTHED 0x2  /* only once authenticated (MX_AUTH_DONE); before, the table's
                            * fallback answers it as an unknown command */
#define MX_CMD_CLOSE 0x4   /* a fixed reply that ends the session (SMTP QUIT) */

struct mx_cmd {
    const char *name; /* the verb, upper case; NULL ends the table: the fallback for any
                       * other verb (its flags count too) */
    mx_action action; /* NULL: the command always gets reply (after the tag, if any) */
    unsigned flags;
    const char *reply;
};

/* flags of a protocol */
#define MX_PROTO_TLS_BEFORE_AUTH 0x1 /* STARTTLS is offered only before authentication */

struct mx_proto {
    const char *name;
    unsigned flags;
    const struct mx_cmd *commands;
    /* the greeting (st->reply; the engine sets MX_ACT_REPLY) */
    void (*greeting)(const struct mx_machine *m, struct mx_step *st);
    /* NULL, or called on every complete line before the table is consulted: it may set
     * cl->verb/vn/tag_n (IMAP: after the tag), or answer the line itself (it returns the
     * action then; MX_ACT_NEED_INPUT: go on to the table) */
    int (*frame)(struct mx_machine *m, struct mx_step *st, struct mx_cmdline *cl);
    /* MX_PHASE_BODY steps (NULL if the protocol never enters it) */
    int (*body)(struct mx_machine *m, struct mx_chain *c, struct mx_step *st);
    /* after STARTTLS's handshake: forget what the client said before (RFC 3207 4.2); also
     * called by mx_machine_init, so the protocol's state starts as after a reset */
    void (*reset)(struct mx_machine *m);
    /* NULL, or the line framer's watch (struct mx_liner.watch; ctx is the machine) */
    void (*watch)(void *ctx, const uint8_t *p, size_t n);
    /* NULL: a line longer than the line buffer gets too_long; else the protocol answers it
     * (st->reply empty; returns the action) */
    int (*too_long_line)(struct mx_machine *m, struct mx_step *st);
    const char *too_long;       /* reply to a line longer than the line buffer */
    const char *clienthello;    /* closing line for a TLS record on a plaintext command line */
    const char *too_many_errors; /* the final line after cfg.max_errors consecutive errors */
    /* 1 if a reply to a command line (st->reply) is a protocol error */
    int (*is_error)(const struct mx_step *st);
    const char *auth_refused;   /* reply to a login cfg.check refused (after the tag, if any) */
    const char *too_many_auth;  /* the final line after cfg.max_auth_failures refused logins */
    /* SASL PLAIN without an initial response (mx_machine_sasl_begin) */
    const char *sasl_challenge; /* the empty challenge: SMTP "334 ", IMAP and POP3 "+ " */
    const char *sasl_cancelled; /* reply to "*" (after the tag, if any) */
    const char *sasl_invalid;   /* reply to a response that is not base64 */
    const char *sasl_too_long;  /* reply to a response longer than the line buffer */
    const char *sasl_accepted;  /* reply when cfg.check accepts the response */
    const char *sasl_login_user; /* AUTH LOGIN's challenges (NULL: no LOGIN mechanism) */
    const char *sasl_login_pass;
    const char *policy_refusal; /* reply to a command without MX_CMD_PRE_TLS while the
                                 * tls_required policy is in force; NULL: the protocol's
                                 * actions apply the policy themselves */
};

extern const struct mx_proto mx_proto_smtp, mx_proto_imap, mx_proto_pop3;

/* A STARTTLS command that passed the protocol's own checks: refused while TLS is active
 * (active) or when TLS is not offered (unavailable), else accepted: the accepted reply,
 * everything queued behind the command purged and counted (st->discarded), MX_ACT_STARTTLS,
 * and the machine waits for the handshake. Replies as mx_cmd_reply(). */
int mx_cmd_starttls(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl,
                    const char *active, const char *unavailable, const char *accepted);
/* Appends text as the answer to cl (IMAP: "tag SP text"); sets MX_ACT_REPLY, returns it. */
int mx_cmd_reply(struct mx_step *st, const struct mx_cmdline *cl, const char *text);
/* Asks cfg.check (MX_ACCEPT when there is none). */
enum mx_verdict mx_machine_check(const struct mx_machine *m, enum mx_check_kind kind, const uint8_t *arg,
                                 size_t n);
/* A login cfg.check refused: the protocol's auth_refused reply; at the limit of refused logins
 * also the final line and MX_ACT_CLOSE. The caller keeps the state unauthenticated. */
int mx_machine_auth_refused(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl);
/* AUTH/AUTHENTICATE with a SASL mechanism (MX_SASL_PLAIN or MX_SASL_LOGIN_USER): with an
 * initial response (ir, irn; NULL: none) it is answered as the first response would be, else
 * the mechanism's first challenge; the next line is the response (the engine's, never a
 * command; cl's tag is kept for the completion). */
int mx_machine_sasl_begin(struct mx_machine *m, struct mx_step *st, const struct mx_cmdline *cl,
                          enum mx_sasl kind, const uint8_t *ir, size_t irn);
/* Closes the connection after text (may be NULL); diag as mx_step_close(). */
int mx_machine_close(struct mx_machine *m, struct mx_step *st, const char *text, const char *diag);

#endif
