/* mx/listen.h - listeners and certificate bindings.
 *
 * A listener is (address, port, mode, protocol). mode is plaintext (never any TLS),
 * STARTTLS-capable (plaintext first; STARTTLS/STLS offered when a certificate is bound to the
 * connection's address and port) or implicit TLS (TLS from the first byte; 465/993/995 by
 * convention, any port by configuration).
 *
 * Certificates bind to (address or "all unassigned addresses", port or "all unassigned
 * ports"), the IIS/MCIS model (KB Q237327, Q251097). The most specific binding wins, the
 * address first:
 *     (address, port)  >  (address, *)  >  (*, port)  >  (*, *)
 * mx_listen_cert_for() answers "which certificate, if any, serves (address, port)".
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are the IPv4 address a.b.c.d everywhere, so a
 * dual-stack socket's peer view and an IPv4 binding agree.
 *
 * Configuration text (mx_listen_parse / mx_listen_load), one statement per line, fields
 * separated by spaces or tabs, '#' starts a comment, blank lines ignored, lines at most
 * MX_LISTEN_LINE_MAX bytes:
 *
 *     listen ADDRESS PORT [MODE] [PROTO] [OPTION...]
 *     cert   NAME ADDRESS|* PORT|*
 *
 *   ADDRESS  IPv4 dotted quad, IPv6 (bare or in [brackets]); for `listen`, `*`, 0.0.0.0 and ::
 *            mean every local address (the connection's own address is used for lookups).
 *   PORT     1..65535 (`cert` also takes `*`: all unassigned ports)
 *   MODE     plain | starttls | implicit. Default: implicit on 465, 993, 995; else starttls.
 *   PROTO    smtp | imap | pop3. Default from the port: 25 587 465 smtp; 143 993 imap;
 *            110 995 pop3; any other port must name it.
 *   OPTION   tls-required: no mail or login on this listener before TLS (SMTP 530 5.7.0 to all
 *            but EHLO/NOOP/STARTTLS/QUIT, RFC 3207 4; IMAP LOGINDISABLED and
 *            NO [PRIVACYREQUIRED] for LOGIN, RFC 3501 6.2.3; POP3 -ERR for USER/PASS, RFC
 *            2595 2.3). Other listeners are not affected: a submission port may require TLS
 *            next to a port 25 that does not. mx_listener.options MX_LISTEN_OPT_TLS_REQUIRED.
 *            literal-minus (IMAP listeners only): CAPABILITY lists LITERAL- instead of
 *            LITERAL+, and a non-synchronizing literal over MX_IMAP_LITERAL_MINUS_MAX (4096)
 *            octets is refused with a tagged BAD [TOOBIG] and its octets are swallowed, never
 *            parsed (RFC 7888 4). MX_LISTEN_OPT_LITERAL_MINUS.
 *            tls-unavailable (STARTTLS listeners only): the certificate bound here cannot be
 *            used (a server whose TLS set-up failed; postfix's "TLS not available due to local
 *            problem"): the server calls mx_machine_tls_unavailable() on every connection, so
 *            STARTTLS/STLS is not listed and is refused: SMTP 454 (RFC 3207 4), IMAP BAD (RFC
 *            3501 6.2.1), POP3 -ERR (RFC 2595 4). MX_LISTEN_OPT_TLS_UNAVAILABLE; libmx itself
 *            only stores it (mx_listen_conn_cfg does not read it). Each option at most once.
 *   NAME     the certificate's name (what the server loads), 1..MX_CERT_NAME_MAX bytes of
 *            [A-Za-z0-9._/-].
 *
 * Load-time checks (errors, "FILE:LINE: what"):
 *   - anything malformed: unknown keyword, missing or extra field, bad address, port or name;
 *   - two listeners on the same (address, port); two bindings on the same (address|*, port|*);
 *   - tls-required on a plain listener (TLS can never come up there: every login refused);
 *   - literal-minus on a listener that is not IMAP;
 *   - tls-unavailable on a listener that is not STARTTLS-capable (a plain one never offers TLS;
 *     an implicit-TLS one has no plaintext in which to refuse it);
 *   - more than MX_LISTEN_MAX listeners or MX_CERTBIND_MAX bindings;
 *   - an implicit-TLS listener that no certificate serves (KB Q251097): for a listener on one
 *     address, mx_listen_cert_for(address, port) is NULL; for a listener on every address, no
 *     (*, port) or (*, *) binding exists (a per-address binding does not cover the others).
 *     The error names the listener and its line.
 *
 * Bounds: the table is a fixed-size struct (no allocation): MX_LISTEN_MAX listeners and
 * MX_CERTBIND_MAX bindings; sizeof(struct mx_listen_table) is about 4 KiB (4240 bytes on x86-64).
 * mx_listen_load reads at most MX_LISTEN_FILE_MAX bytes (one allocation, at load time).
 */
#ifndef MX_LISTEN_H
#define MX_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MX_LISTEN_MAX 32
#define MX_CERTBIND_MAX 32
#define MX_CERT_NAME_MAX 63
#define MX_LISTEN_LINE_MAX 512
#define MX_LISTEN_FILE_MAX (256u * 1024u)

enum mx_listen_mode { MX_LISTEN_PLAIN = 0, MX_LISTEN_STARTTLS = 1, MX_LISTEN_IMPLICIT = 2 };
/* mx_listener.options */
#define MX_LISTEN_OPT_TLS_REQUIRED 0x1u /* the `tls-required` option */
#define MX_LISTEN_OPT_LITERAL_MINUS 0x2u /* the `literal-minus` option (IMAP, RFC 7888 4) */
#define MX_LISTEN_OPT_TLS_UNAVAILABLE 0x4u /* the `tls-unavailable` option (STARTTLS listeners) */
/* mx_listen_add refuses other bits */
#define MX_LISTEN_OPT_KNOWN (MX_LISTEN_OPT_TLS_REQUIRED | MX_LISTEN_OPT_LITERAL_MINUS | MX_LISTEN_OPT_TLS_UNAVAILABLE)
/* same numbering as the session format's proto byte */
enum mx_app_proto { MX_APP_SMTP = 0, MX_APP_IMAP = 1, MX_APP_POP3 = 2 };

enum mx_listen_status {
    MX_LISTEN_OK = 0,
    MX_LISTEN_EFULL = -1,  /* table full */
    MX_LISTEN_EDUP = -2,   /* same key already present */
    MX_LISTEN_EINVAL = -3, /* bad argument (port 0, empty name, ...) */
    MX_LISTEN_ESYNTAX = -4,/* configuration text is malformed */
    MX_LISTEN_ENOCERT = -5,/* an implicit-TLS listener has no certificate */
    MX_LISTEN_EIO = -6,    /* the file could not be read */
    MX_LISTEN_ECONFLICT = -7 /* a listener's options contradict its mode or protocol
                              * (tls-required on plain, literal-minus on smtp or pop3,
                              * tls-unavailable on plain or implicit) */
};

/* family 0: any address (listeners only); 4: b[0..3]; 6: b[0..15] */
struct mx_ipaddr {
    uint8_t family;
    uint8_t b[16];
};

struct mx_listener {
    struct mx_ipaddr addr;
    uint16_t port;
    enum mx_listen_mode mode;
    enum mx_app_proto proto;
    unsigned options; /* MX_LISTEN_OPT_* */
    int line; /* configuration line, 0 if added by code */
};

struct mx_certbind {
    int any_addr; /* 1: all unassigned addresses (addr ignored) */
    struct mx_ipaddr addr;
    int any_port; /* 1: all unassigned ports (port ignored) */
    uint16_t port;
    char name[MX_CERT_NAME_MAX + 1];
    int line;
};

struct mx_listen_table {
    struct mx_listener l[MX_LISTEN_MAX];
    size_t nl;
    struct mx_certbind c[MX_CERTBIND_MAX];
    size_t nc;
};

void mx_listen_init(struct mx_listen_table *t);

/* Parses an address (not NUL-terminated: s, n). "*" gives family 0. IPv4-mapped IPv6 is
 * stored as IPv4. Returns 0 or MX_LISTEN_EINVAL. */
int mx_ipaddr_parse(const char *s, size_t n, struct mx_ipaddr *a);
/* Formats into buf (at least 48 bytes for any address); returns buf. */
char *mx_ipaddr_format(const struct mx_ipaddr *a, char *buf, size_t n);
int mx_ipaddr_equal(const struct mx_ipaddr *a, const struct mx_ipaddr *b);

int mx_listen_add(struct mx_listen_table *t, const struct mx_listener *l);
int mx_listen_bind_cert(struct mx_listen_table *t, const struct mx_certbind *c);

/* The binding that serves a connection on (addr, port), or NULL. addr must be concrete
 * (family 4 or 6); family 0 finds only (*, ...) bindings. */
const struct mx_certbind *mx_listen_cert_for(const struct mx_listen_table *t,
                                             const struct mx_ipaddr *addr, uint16_t port);
/* The listener that accepts on (addr, port): the one on that address, else the one on every
 * address; NULL if none. */
const struct mx_listener *mx_listen_find(const struct mx_listen_table *t,
                                         const struct mx_ipaddr *addr, uint16_t port);

/* What a connection accepted on (addr, port) runs with: its listener (NULL: no listener,
 * nothing filled in, returns MX_LISTEN_EINVAL), and the certificate that serves the
 * connection's own address and port (NULL: none, so STARTTLS/STLS is not offered there --
 * KB Q237327). Fills cfg->mode, cfg->cert, cfg->tls_required and cfg->literal_minus (the
 * listener's options); leaves the other cfg fields alone. */
struct mx_conn_cfg;
int mx_listen_conn_cfg(const struct mx_listen_table *t, const struct mx_ipaddr *addr,
                       uint16_t port, struct mx_conn_cfg *cfg, const struct mx_listener **l,
                       const struct mx_certbind **cert);

/* Load-time checks on a built table (the implicit-TLS, tls-required and literal-minus rules
 * above: the first listener that breaks one, MX_LISTEN_ENOCERT or MX_LISTEN_ECONFLICT). file names the source in
 * the message ("FILE:LINE: ..."); may be NULL. */
int mx_listen_check(const struct mx_listen_table *t, const char *file, char *err, size_t errlen);

/* Parses configuration text into t (initialised here) and runs mx_listen_check. On error t
 * is unspecified and err holds "FILE:LINE: what". */
int mx_listen_parse(struct mx_listen_table *t, const char *file, const char *text, size_t len,
                    char *err, size_t errlen);
int mx_listen_load(struct mx_listen_table *t, const char *path, char *err, size_t errlen);

const char *mx_listen_mode_name(enum mx_listen_mode m);
const char *mx_app_proto_name(enum mx_app_proto p);

#ifdef __cplusplus
}
#endif
#endif
