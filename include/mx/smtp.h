/* mx/smtp.h - the SMTP server state machine with STARTTLS (RFC 5321, RFC 3207).
 *
 * Driven as described in mx/protocol.h. Rules it implements:
 *   - greeting 220 (on an implicit-TLS listener, after the handshake);
 *   - EHLO/HELO (argument required, else 501) reset the transaction; EHLO lists PIPELINING,
 *     SIZE, 8BITMIME, STARTTLS, AUTH PLAIN, ENHANCEDSTATUSCODES. STARTTLS is listed iff the
 *     listener is STARTTLS-capable, a certificate is bound to the connection's (address,
 *     port) and TLS is not active (KB Q237327);
 *   - MAIL (503 before EHLO/HELO or inside a transaction; 501 without FROM:), RCPT (503
 *     before MAIL; 501 without TO:; 452 past MX_SMTP_MAX_RCPT), DATA (501 with arguments; 503
 *     before MAIL or RCPT; 354, then message lines until CRLF "." CRLF; bare LF never ends a
 *     line of the message (SMTP smuggling); dot-unstuffed bytes come out as MX_ACT_DATA; 250,
 *     or 552 when the message is over cfg.max_message), RSET, NOOP, QUIT (221, close), AUTH
 *     PLAIN (503 before EHLO, when authenticated or inside a transaction; 504 other
 *     mechanisms; 501 without the initial response; 235 -- no credential check: the machine
 *     only tracks that authentication happened);
 *   - STARTTLS: with parameters 501; TLS already active 503; not available (plaintext
 *     listener or no certificate) 502; advertised but failing (the caller said so with
 *     mx_smtp_tls_unavailable(), e.g. the certificate no longer loads) 454; else 220 and MX_ACT_STARTTLS with every byte still
 *     queued in the chain discarded (CVE-2011-0411) and counted. After mx_smtp_tls_started()
 *     the session is back in the post-greeting state: no EHLO, no transaction, not
 *     authenticated; MAIL before the new EHLO gets 503;
 *   - policy tls_required: until TLS is active every command but EHLO, NOOP, STARTTLS and QUIT
 *     gets 530;
 *   - a TLS record header (0x16 0x03) at the start of a command line while TLS is off: a
 *     client that expected implicit TLS (KB Q218430): one 421 line, st.diag, MX_ACT_CLOSE;
 *   - implicit-TLS listener: before the handshake the first bytes must be a TLS record
 *     (MX_ACT_HANDSHAKE); plaintext gets one 421 line and MX_ACT_CLOSE;
 *   - a command line longer than the line buffer (LF included) gets 500 once its LF arrives.
 * Unknown verbs get 500. Verbs are case-insensitive; lines end at LF (a CR before it is
 * dropped).
 *
 * Per connection: sizeof(struct mx_smtp) (< 200 bytes) + the caller's line buffer.
 */
#ifndef MX_SMTP_H
#define MX_SMTP_H

#include "mx/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MX_SMTP_MAX_RCPT 100

enum mx_smtp_phase {
    MX_SMTP_PRE_TLS = 0, /* implicit TLS: waiting for the ClientHello */
    MX_SMTP_HANDSHAKE,   /* implicit TLS: handshake bytes go to the TLS layer */
    MX_SMTP_GREET,       /* greeting not sent yet */
    MX_SMTP_CMD,         /* reading commands */
    MX_SMTP_DATA,        /* reading message lines */
    MX_SMTP_WAIT_TLS,    /* 220 to STARTTLS sent; waiting for mx_smtp_tls_started */
    MX_SMTP_CLOSED
};

struct mx_smtp {
    struct mx_conn_cfg cfg;
    struct mx_liner liner;
    enum mx_smtp_phase phase;
    int tls;      /* TLS active */
    int helo;     /* 0 none, 1 HELO, 2 EHLO */
    int mail;     /* MAIL accepted */
    unsigned nrcpt;
    int auth;
    int tls_broken; /* mx_smtp_tls_unavailable() was called */
    /* DATA */
    int midline;  /* the next data byte is not at a line start */
    size_t dscan; /* bytes already searched for CRLF */
    size_t msg_size;
    int msg_over;
    /* counters */
    uint64_t commands;         /* command lines answered */
    uint64_t starttls_discarded; /* bytes purged by STARTTLS, in total */
};

/* linebuf: max_line >= MX_LINE_MIN bytes owned by the caller for the connection's life.
 * Returns 0, or -1 if max_line is too small. */
int mx_smtp_init(struct mx_smtp *s, const struct mx_conn_cfg *cfg, uint8_t *linebuf,
                 size_t max_line);
int mx_smtp_step(struct mx_smtp *s, struct mx_chain *c, struct mx_step *st);
/* The TLS handshake finished (after MX_ACT_STARTTLS or MX_ACT_HANDSHAKE). c is the chain the
 * machine reads: whatever is still queued there arrived before TLS and is discarded (counted in
 * c->discarded), never run as a command over TLS. Append TLS plaintext only after this call. */
void mx_smtp_tls_started(struct mx_smtp *s, struct mx_chain *c);
/* TLS cannot be started on this connection any more although a certificate is bound (the
 * server failed to load it, or to create the TLS session): STARTTLS gets 454 from now on and
 * EHLO no longer lists it. */
void mx_smtp_tls_unavailable(struct mx_smtp *s);
/* 1 if STARTTLS would be listed in an EHLO reply now. */
int mx_smtp_offers_starttls(const struct mx_smtp *s);

#ifdef __cplusplus
}
#endif
#endif
