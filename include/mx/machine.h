/* mx/machine.h - one protocol engine for the SMTP, IMAP (pre-auth) and POP3 servers with
 * STARTTLS (RFC 3207, RFC 2595). Driven as described in mx/protocol.h:
 *
 *     struct mx_machine m;
 *     mx_machine_init(&m, MX_APP_SMTP, &cfg, linebuf, max_line);
 *     ... mx_machine_step(&m, chain, &st) until MX_ACT_NEED_INPUT ...
 *     after MX_ACT_STARTTLS / MX_ACT_HANDSHAKE and the handshake: mx_machine_tls_started()
 *
 * What the engine does for every protocol (src/machine.c): the phases (implicit-TLS gate,
 * handshake, greeting, commands, a protocol's own input such as SMTP DATA, TLS wait, closed);
 * the implicit-TLS gate (a TLS record from the first byte, else the close with no reply: RFC
 * 8314 3.3 -- the client is not speaking the port's protocol, so nothing in clear text is said;
 * st.diag and m->implicit_refused are the server's diagnostic);
 * the ClientHello sniff on a plaintext/STARTTLS listener (KB Q218430: one line, st.diag, close);
 * the line framer with its too-long reply; the command table dispatch with the TLS-required
 * policy; the STARTTLS purge (CVE-2011-0411: plaintext queued behind an accepted STARTTLS is
 * discarded and counted; TLS records from the first byte, a pipelined ClientHello, are left
 * queued for the handshake and counted; plaintext mixed with records closes the connection);
 * the post-handshake discard; a refused command's literal octets swallowed (m->swallow); the
 * bound on consecutive protocol errors (cfg.max_errors, MX_MAX_ERRORS: the limit'th error is
 * answered, then one final line and the close); the counters.
 *
 * What each protocol adds (a descriptor: greeting, command table, texts, reset hook), and the
 * rules it implements, is described at the top of src/smtp.c, src/pop3.c and
 * src/imap_starttls.c.
 *
 * The SASL exchanges (RFC 4954 4, RFC 3501 6.2.2, RFC 5034 4): PLAIN without an initial
 * response, and SMTP's AUTH LOGIN (draft-murchison-sasl-login: "Username:", "Password:"
 * challenges): the protocol's challenge, then the next line is the response, not a command:
 * "*" cancels (SMTP 501, IMAP BAD, POP3 -ERR), text that is not base64 is refused alike, a
 * line longer than the line buffer ends the exchange with an error, and the response goes to
 * cfg.check (MX_CHECK_PLAIN, MX_CHECK_SASL_USER / _PASS; refusals counted as for any login).
 *
 * Per connection: sizeof(struct mx_machine) (at most 320 bytes) + the caller's line buffer; nothing
 * is allocated.
 */
#ifndef MX_MACHINE_H
#define MX_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "mx/chain.h"
#include "mx/imap.h"
#include "mx/listen.h"
#include "mx/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SMTP: RCPT past this many recipients in one transaction gets 452 */
#define MX_SMTP_MAX_RCPT 100
/* Consecutive protocol errors (error replies to command lines: SMTP 5xx, IMAP BAD, POP3
 * -ERR; too-long lines included) a connection gets before one final reply (SMTP 421, IMAP
 * "* BYE", POP3 -ERR) and the close, when cfg.max_errors is 0 (postfix's
 * smtpd_hard_error_limit default). Any other reply to a command line resets the run. */
#define MX_MAX_ERRORS 20
/* Refused logins (cfg.check said MX_REFUSE_AUTH) a connection gets when cfg.max_auth_failures
 * is 0: the last refusal is followed by the final line (SMTP 421, IMAP "* BYE", POP3 -ERR) and
 * the close in the same step: a client cannot try passwords without end on one connection
 * (the caller bounds connections and may delay after each refusal) */
#define MX_MAX_AUTH_FAILURES 3
/* IMAP: longest tag accepted */
#define MX_IMAP_TAG_MAX 64

enum mx_phase {
    MX_PHASE_PRE_TLS = 0, /* implicit TLS: waiting for the ClientHello */
    MX_PHASE_HANDSHAKE,   /* implicit TLS: handshake bytes go to the TLS layer */
    MX_PHASE_GREET,       /* greeting not sent yet */
    MX_PHASE_CMD,         /* reading command lines */
    MX_PHASE_BODY,        /* the protocol reads its own input (SMTP: message lines after DATA) */
    MX_PHASE_WAIT_TLS,    /* STARTTLS accepted; waiting for mx_machine_tls_started() */
    MX_PHASE_CLOSED
};

/* How far the client got with authentication (libmx checks no credential: cfg.check, when
 * set, decides, see mx-serve). */
enum mx_auth {
    MX_AUTH_NONE = 0,
    MX_AUTH_USER, /* POP3: USER accepted, PASS not yet */
    MX_AUTH_DONE  /* SMTP AUTH, IMAP LOGIN, POP3 USER+PASS (TRANSACTION state) accepted */
};

/* Per-protocol state: private to src/smtp.c, src/pop3.c, src/imap_starttls.c. It sits here
 * only so that struct mx_machine has a size callers can allocate. */
struct mx_smtp_state {
    int helo;         /* 0 none, 1 HELO, 2 EHLO */
    int mail;         /* MAIL accepted */
    unsigned nrcpt;
    int midline;      /* DATA: the next data byte is not at a line start */
    size_t dscan;     /* DATA: bytes already searched for CRLF */
    size_t msg_size;
    int msg_over;
};
struct mx_imap_state {
    size_t ntok;      /* arguments after the command word of the line being answered */
    struct mx_imap_litmark mark; /* the line framer's watch: does a line end in {N+}? */
    uint64_t ended_size;         /* ... the N of the last line the framer took */
    unsigned char ended;         /* ... and what it ended in (enum mx_imap_mark) */
};

/* The SASL exchange a machine is in (struct mx_machine.sasl) */
enum mx_sasl {
    MX_SASL_NONE = 0,
    MX_SASL_PLAIN,      /* PLAIN's empty challenge sent: the response is RFC 4616's message */
    MX_SASL_LOGIN_USER, /* SMTP AUTH LOGIN's "Username:" sent */
    MX_SASL_LOGIN_PASS  /* SMTP AUTH LOGIN's "Password:" sent */
};

struct mx_proto; /* a protocol descriptor (src/machine_proto.h) */

struct mx_machine {
    const struct mx_proto *proto;
    struct mx_conn_cfg cfg;
    struct mx_liner liner;
    enum mx_phase phase;
    int tls;        /* TLS active */
    int tls_broken; /* mx_machine_tls_unavailable() was called */
    enum mx_auth auth;
    union {
        struct mx_smtp_state smtp;
        struct mx_imap_state imap;
    } ps;
    unsigned error_run; /* consecutive error replies to command lines */
    unsigned auth_failures; /* logins cfg.check refused */
    uint64_t swallow; /* octets still to drop before the next line: a refused command's
                       * non-synchronizing literal (IMAP {N+} before authentication) */
    unsigned char sasl;   /* enum mx_sasl: the next line is the client's SASL response to
                           * that challenge (SMTP 334, IMAP and POP3 "+"), never a command */
    unsigned char sasl_tag_n;
    uint8_t sasl_tag[MX_IMAP_TAG_MAX]; /* IMAP: the AUTHENTICATE command's tag, for its
                                        * completion after the response */
    /* counters */
    uint64_t commands;           /* command lines answered (too-long ones included) */
    uint64_t errors;             /* lines the engine refused: too long, unknown verb, policy */
    uint64_t starttls_discarded; /* bytes purged by STARTTLS, in total */
    uint64_t starttls_kept;      /* bytes behind STARTTLS kept for the handshake, in total */
    uint64_t swallowed;          /* literal octets of refused commands dropped, in total */
    uint64_t implicit_refused;   /* implicit-TLS listener: plaintext bytes queued when the
                                  * non-TLS first byte closed the connection (0: none) */
};

/* proto: which protocol (numbered as the session format's proto byte). cfg is copied; its
 * host and product strings must outlive the machine. linebuf: max_line >= MX_LINE_MIN bytes
 * owned by the caller for the connection's life. Returns 0, or -1 if max_line is too small,
 * proto is unknown or cfg names no host or no product (libmx has no name of its own to put in
 * a greeting). */
int mx_machine_init(struct mx_machine *m, enum mx_app_proto proto, const struct mx_conn_cfg *cfg,
                    uint8_t *linebuf, size_t max_line);
int mx_machine_step(struct mx_machine *m, struct mx_chain *c, struct mx_step *st);
/* The TLS handshake finished (after MX_ACT_STARTTLS or MX_ACT_HANDSHAKE). c is the chain the
 * machine reads: whatever is still queued there arrived before TLS and is discarded (counted in
 * c->discarded), never run as a command over TLS. Append TLS plaintext only after this call.
 * After STARTTLS the session is back in its post-greeting state (RFC 3207 4.2, RFC 2595 3.1):
 * no EHLO, no transaction, not authenticated. Ignored unless the machine waited for TLS. */
void mx_machine_tls_started(struct mx_machine *m, struct mx_chain *c);
/* TLS cannot be started on this connection any more although a certificate is bound (the
 * server failed to load it, or to create the TLS session): STARTTLS is no longer offered, and
 * SMTP answers it 454. */
void mx_machine_tls_unavailable(struct mx_machine *m);
/* 1 if STARTTLS/STLS would be listed in a capability reply now: the listener is
 * STARTTLS-capable, a certificate is bound to the connection's (address, port) (KB Q237327),
 * TLS is off and still possible, and (IMAP, POP3) the client has not authenticated. */
int mx_machine_offers_tls(const struct mx_machine *m);
/* 1 while the protocol reads its own input instead of command lines (SMTP: the message after
 * DATA's 354, until the 250/552 reply). */
int mx_machine_in_body(const struct mx_machine *m);
enum mx_auth mx_machine_auth(const struct mx_machine *m);

#ifdef __cplusplus
}
#endif
#endif
