/* mx/pop3.h - the POP3 server state machine with STLS (RFC 1939, RFC 2449, RFC 2595).
 *
 * Driven as described in mx/protocol.h. Rules it implements:
 *   - greeting "+OK" (on an implicit-TLS listener, after the handshake);
 *   - AUTHORIZATION state: CAPA, STLS, USER, PASS, QUIT; TRANSACTION state (after USER +
 *     PASS -- no credential check, the machine tracks the state only): CAPA, STAT, NOOP, RSET,
 *     QUIT; anything else -ERR;
 *   - CAPA lists USER, PIPELINING, and STLS iff the listener is STARTTLS-capable, a
 *     certificate is bound to the connection's (address, port), TLS is not active and the
 *     state is AUTHORIZATION;
 *   - STLS: with arguments -ERR; outside AUTHORIZATION -ERR; TLS active -ERR; not available
 *     -ERR; else "+OK" and MX_ACT_STARTTLS with every queued byte discarded (CVE-2011-0411)
 *     and counted. After mx_pop3_tls_started(): AUTHORIZATION, USER forgotten, no STLS;
 *   - policy tls_required: USER and PASS get -ERR until TLS is active;
 *   - TLS record header (0x16 0x03) at a command start while TLS is off: one -ERR line,
 *     st.diag, MX_ACT_CLOSE; plaintext on an implicit-TLS listener likewise;
 *   - a command line longer than the line buffer gets -ERR once its LF arrives.
 *
 * Per connection: sizeof(struct mx_pop3) (< 128 bytes) + the caller's line buffer.
 */
#ifndef MX_POP3_H
#define MX_POP3_H

#include "mx/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mx_pop3_phase {
    MX_POP3_PRE_TLS = 0,
    MX_POP3_HANDSHAKE,
    MX_POP3_GREET,
    MX_POP3_CMD,
    MX_POP3_WAIT_TLS,
    MX_POP3_CLOSED
};

struct mx_pop3 {
    struct mx_conn_cfg cfg;
    struct mx_liner liner;
    enum mx_pop3_phase phase;
    int tls;
    int user;        /* USER accepted */
    int transaction; /* TRANSACTION state */
    uint64_t commands;
    uint64_t starttls_discarded;
};

int mx_pop3_init(struct mx_pop3 *s, const struct mx_conn_cfg *cfg, uint8_t *linebuf,
                 size_t max_line);
int mx_pop3_step(struct mx_pop3 *s, struct mx_chain *c, struct mx_step *st);
/* The TLS handshake finished: as mx_smtp_tls_started() (queued pre-TLS bytes in c are
 * discarded). */
void mx_pop3_tls_started(struct mx_pop3 *s, struct mx_chain *c);
int mx_pop3_offers_stls(const struct mx_pop3 *s);

#ifdef __cplusplus
}
#endif
#endif
