/* mx/imap_starttls.h - IMAP's line-level pre-authentication commands with STARTTLS
 * (RFC 3501 6.1, 6.2; RFC 2595). The IMAP command reader with literals is mx/imap.h; this
 * machine handles only CAPABILITY, STARTTLS, LOGIN, LOGOUT and NOOP, and refuses lines that
 * announce a literal ("{n}" at the end) before authentication.
 *
 * Driven as described in mx/protocol.h. Rules it implements:
 *   - greeting "* OK" (on an implicit-TLS listener, after the handshake);
 *   - a line is "tag SP command [SP arguments]"; a missing or invalid tag (empty, longer than
 *     MX_IMAP_TAG_MAX, or holding one of  * + ( ) { % " \ ]  or a control byte) gets
 *     "* BAD"; a missing command "tag BAD";
 *   - CAPABILITY lists IMAP4rev1, STARTTLS iff the listener is STARTTLS-capable, a
 *     certificate is bound to the connection's (address, port), TLS is not active and the
 *     state is not-authenticated; LOGINDISABLED iff TLS is not active and (STARTTLS is listed
 *     or the policy requires TLS);
 *   - STARTTLS: with arguments, authenticated, TLS active, or not available: "tag BAD";
 *     else "tag OK" and MX_ACT_STARTTLS with every queued byte discarded (CVE-2011-0411) and
 *     counted. After mx_imap_starttls_tls_started() the state stays not-authenticated and
 *     STARTTLS is no longer listed;
 *   - LOGIN user pass: authenticated "tag BAD"; LOGINDISABLED in force
 *     "tag NO [PRIVACYREQUIRED]"; fewer than two arguments "tag BAD"; else "tag OK" and the
 *     authenticated state (no credential check: the machine tracks the state only);
 *   - LOGOUT "* BYE" + "tag OK", MX_ACT_CLOSE; NOOP "tag OK"; anything else "tag BAD";
 *   - TLS record header (0x16 0x03) at a command start while TLS is off: one "* BYE" line,
 *     st.diag, MX_ACT_CLOSE; plaintext on an implicit-TLS listener likewise;
 *   - a command line longer than the line buffer gets "* BAD" once its LF arrives.
 *
 * Per connection: sizeof(struct mx_imap_starttls) (< 128 bytes) + the caller's line buffer.
 */
#ifndef MX_IMAP_STARTTLS_H
#define MX_IMAP_STARTTLS_H

#include "mx/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MX_IMAP_TAG_MAX 64

enum mx_imap_phase {
    MX_IMAP_PRE_TLS = 0,
    MX_IMAP_HANDSHAKE,
    MX_IMAP_GREET,
    MX_IMAP_CMD,
    MX_IMAP_WAIT_TLS,
    MX_IMAP_CLOSED
};

struct mx_imap_starttls {
    struct mx_conn_cfg cfg;
    struct mx_liner liner;
    enum mx_imap_phase phase;
    int tls;
    int authenticated;
    uint64_t commands;
    uint64_t starttls_discarded;
};

int mx_imap_starttls_init(struct mx_imap_starttls *s, const struct mx_conn_cfg *cfg,
                          uint8_t *linebuf, size_t max_line);
int mx_imap_starttls_step(struct mx_imap_starttls *s, struct mx_chain *c, struct mx_step *st);
/* The TLS handshake finished: as mx_smtp_tls_started() (queued pre-TLS bytes in c are
 * discarded). */
void mx_imap_starttls_tls_started(struct mx_imap_starttls *s, struct mx_chain *c);
int mx_imap_offers_starttls(const struct mx_imap_starttls *s);
int mx_imap_login_disabled(const struct mx_imap_starttls *s);

#ifdef __cplusplus
}
#endif
#endif
