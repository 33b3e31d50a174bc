/* serve.h - mx-serve: a loopback mail server that embeds libmx the way a real server would.
 *
 * One process, one poll() loop, many connections. Per connection:
 *
 *   socket bytes --> [plain]  (before TLS)                 the protocol state machine of
 *                --> [raw] --> BoringSSL (handshake only)   libmx (mx/machine.h,
 *                --> [raw] --> mx_record_read --> [plain]   mx/imap.h)
 *                                                           reads [plain] and says what to do
 *   replies --> SSL_write (after TLS) --> [out] --> socket
 *
 * The TLS handshake is BoringSSL's, fed byte-exactly through a BIO that never hands it a byte
 * past the end of a TLS record; once it completes, the read direction is decrypted by libmx's
 * record decrypter with keys taken from BoringSSL (the kernel-TLS-offload split), and
 * BoringSSL only ever writes. Finished messages are committed to the Maildir (fsync, rename,
 * fsync) on the commit threads of commit.h; the connection reads no further input and is not
 * acknowledged until its commit is done. Everything else runs on the loop thread.
 *
 * Per-connection memory bound: sizeof(struct conn) (about 40 KiB: the record decrypter's
 * 18.5 KiB, a 16 KiB plaintext buffer, line buffers) + the protocol's state (IMAP: 2 x
 * SERVE_IMAP_LINE for the command reader, and while a mailbox is selected its message list: at
 * most IMAP_MAX_MSGS (10000) x sizeof(struct md_mail) (about 176 bytes), so 1.7 MiB) + the
 * chains: raw and plain at most SERVE_IN_LIMIT queued bytes each (reading stops while they are
 * full), out at most SERVE_OUT_HIGH + the output of one protocol step (no step is taken while
 * out is above SERVE_OUT_HIGH: conn_may_step; the largest step is a POP3 RETR of one
 * dot-stuffed message, hence the hard cap 2 * max_message + SERVE_OUT_SLACK), each plus its segment
 * overhead (mx/chain.h). A BoringSSL SSL object for TLS connections. While a message is being
 * committed, one struct commit_job (about 3.5 KiB). Measured (serve/bench/run.sh, phase 2):
 * 52 KiB of server RSS per idle SMTP connection after STARTTLS + TLS 1.3, 63 KiB per logged-in
 * IMAP connection.
 */
#ifndef MX_SERVE_H
#define MX_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "mx/chain.h"
#include "mx/listen.h"
#include "mx/protocol.h"
#include "mx/record.h"

#include "commit.h"
#include "maildir.h"

#define SERVE_READ_CHUNK 16384u
#define SERVE_IN_LIMIT (256u * 1024u)
#define SERVE_OUT_SLACK (1024u * 1024u)
/* no input is processed while more than this is waiting to be written (a client that does not
 * read its replies stops being read) */
#define SERVE_OUT_HIGH (256u * 1024u)
/* the work one connection may do per poll round before the others get their turn: at most
 * SERVE_ROUND_STEPS protocol steps (commands, message lines) and, past the first step, at most
 * SERVE_ROUND_NS of the loop's time. Steps alone do not bound it: a SELECT lists and stats the
 * whole Maildir (~2 ms at 300 messages on a loaded machine), so 256 of them held every other
 * client for half a second. A round reads at most SERVE_READ_CHUNK per connection anyway. */
#define SERVE_ROUND_STEPS 256u
#define SERVE_ROUND_NS 2000000u
#define SERVE_LINE_MAX 1024u
#define SERVE_IMAP_LINE 8192u
#define SERVE_MAX_CERTS MX_CERTBIND_MAX
#define SERVE_MAX_USERS 64
#define SERVE_MAX_DOMAINS 16

struct server;
struct conn;

/* A protocol glue module: drives one libmx machine and executes what it asks for. */
struct proto_ops {
    const char *name;
    /* allocates c->proto_state; 0 or -1 */
    int (*open)(struct conn *c, const struct mx_conn_cfg *cfg);
    /* steps the machine over c->plain until it needs input or the connection closes */
    void (*drive)(struct conn *c);
    /* the TLS handshake has completed */
    void (*tls_started)(struct conn *c);
    /* 1 while a message is being received (shutdown waits for it) */
    int (*busy)(const struct conn *c);
    /* the line sent when the server closes the connection itself (timeout, shutdown) */
    void (*farewell)(struct conn *c, const char *why);
    /* the peer went away: drop any message in progress */
    void (*abort)(struct conn *c);
    /* a commit job this connection submitted is done: acknowledge (or refuse) now */
    void (*committed)(struct conn *c, const struct commit_job *j);
    void (*close)(struct conn *c);
};

enum conn_tls { CONN_TLS_OFF = 0, CONN_TLS_HANDSHAKE, CONN_TLS_ON };

/* limits.c: the clocks of the per-phase deadlines (0: not running) */
struct conn_clock {
    time_t phase_start; /* the greeting, or the end of the last TLS handshake */
    int commanded;      /* a complete command line arrived since phase_start */
    time_t hs_start;    /* the TLS handshake began */
    time_t line_start;  /* the first byte of the command line still without its LF */
    int in_message;     /* the last check saw a message being received */
    time_t win_start;   /* the rate window of a message began */
    uint64_t win_bytes; /* plaintext bytes that arrived since win_start */
};

struct conn {
    struct server *srv;
    struct conn *next;
    unsigned long id;
    int fd;
    char peer[64], local[64], lname[80];
    struct mx_ipaddr peer_ip; /* for --max-per-addr */
    const struct mx_listener *l;
    char pop_user[256];  /* POP3: the USER argument, for its PASS; SMTP AUTH LOGIN: the
                          * decoded user name, for its password */
    size_t pop_ulen;
    unsigned auth_failures;
    int64_t hold_until;  /* a refused login: neither read nor write before this (serve_now_ms) */
    SSL_CTX *tls_ctx; /* the certificate serving this (address, port), or NULL */

    /* TLS */
    enum conn_tls tls;
    SSL *ssl;
    uint64_t hs_bytes;   /* bytes BoringSSL read during the handshake */
    size_t hs_hdr_n;     /* bytes of the current record header handed over (0..5) */
    size_t hs_rec_left;  /* body bytes of the current record not handed over yet */
    uint8_t hs_hdr[5];
    uint8_t hs_tail[16]; /* the last 16 bytes handed over (TLS 1.0: the chained IV) */
    uint8_t c_secret[48];/* TLS 1.3 client application traffic secret (key log) */
    size_t c_secret_len;
    uint16_t version, suite;
    uint8_t post_hs[64]; /* TLS 1.3 post-handshake message being assembled */
    size_t post_hs_n;
    unsigned key_updates;
    struct mx_record rec;
    uint8_t recbuf[MX_RECORD_MAX_PLAINTEXT];

    /* chains */
    struct mx_chain raw, plain, out;

    /* lifecycle */
    time_t last_active;
    struct conn_clock clk;
    unsigned budget;  /* protocol steps left in this poll round (SERVE_ROUND_STEPS) */
    int held;         /* the protocol stopped with input left (budget, output): resume it */
    uint64_t work_start_ns; /* CLOCK_MONOTONIC of this round's first step */
    int peer_eof;     /* the peer closed its side (TCP FIN or TLS close_notify) */
    int tls_closed;   /* close_notify received: no more records are read */
    int closing;      /* flush out, then close */
    int draining;     /* shutdown: close after the message in progress */
    int dead;         /* close now */
    int commit_wait;  /* a message is being committed: no input is processed until it is done */
    int want_drive;   /* the protocol has output to produce once the queue drains (IMAP FETCH) */
    const char *close_reason;
    uint64_t bytes_in, bytes_out, messages;

    const struct proto_ops *ops;
    void *proto_state;
};

struct server_opts {
    const char *maildir;
    struct { const char *user, *pass; } users[SERVE_MAX_USERS]; /* -u: the logins of all three */
    int nusers;
    const char *domains[SERVE_MAX_DOMAINS]; /* SMTP: local domains (default: the hostname) */
    int ndomains;
    int any_rcpt;                /* every recipient accepted (a sink for recorded sessions) */
    int auth_delay_ms;           /* hold after a refused login */
    unsigned auth_failures;      /* refused logins per connection before the close */
    const char *log_path;
    const char *keylog_path;
    const char *ready_path;
    const char *cert_dir;
    const char *ciphers;
    const char *hostname;
    int idle_timeout;            /* seconds */
    int grace;                   /* seconds to finish in-flight messages at shutdown */
    int max_conns;
    int max_per_addr;            /* simultaneous connections from one client address */
    int greeting_timeout;        /* seconds: greeting (or handshake end) to a first command line */
    int handshake_timeout;       /* seconds: a whole TLS handshake */
    int line_timeout;            /* seconds: one command line, first byte to LF */
    int min_rate, rate_window;   /* a message: bytes/s, averaged over rate_window seconds */
    size_t max_message;
    unsigned max_errors;         /* 0: libmx's default (MX_MAX_ERRORS) */
    int tls_required;
    int bind_any;                /* `listen * PORT` binds every address, not only 127.0.0.1 */
};

struct server {
    struct server_opts o;
    struct mx_listen_table table;
    const char *config_name; /* the -c file, or NULL */
    int config_lines;        /* lines of the -c file: later lines are -l lines */
    struct { char name[MX_CERT_NAME_MAX + 1]; SSL_CTX *ctx; } certs[SERVE_MAX_CERTS];
    size_t ncerts;
    int lfd[MX_LISTEN_MAX];
    size_t nlfd;
    struct conn *conns;
    size_t nconns;
    unsigned long next_id;
    struct maildir md;
    struct commit_pool *commits;
    FILE *log, *keylog;
    int stopping;
    time_t stop_deadline;
};

/* main.c: where configuration line N came from: "FILE:N", or "-l #K" for the K'th -l line */
const char *serve_where(const struct server *s, int line, char *buf, size_t n);

/* log.c */
void slog(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void clog_(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* conn.c */
struct conn *conn_new(struct server *s, int fd, const struct mx_listener *l);
void conn_free(struct conn *c);
/* sends bytes to the client: through SSL_write once TLS is on, else as they are */
void conn_send(struct conn *c, const void *p, size_t n);
void conn_sends(struct conn *c, const char *s);
/* the reply of one machine step, then what its action asks for */
void conn_act(struct conn *c, const struct mx_step *st);
/* MX_ACT_STARTTLS / MX_ACT_HANDSHAKE: begin the TLS handshake */
void conn_start_tls(struct conn *c, int implicit);
/* mx_machine_init for the connection's protocol state, then what the listener says about TLS
 * that mx_conn_cfg does not carry: the tls-unavailable option (mx/listen.h) makes the machine
 * refuse STARTTLS as unavailable (mx_machine_tls_unavailable). 0 or -1 as mx_machine_init. */
struct mx_machine;
int conn_machine_init(struct conn *c, struct mx_machine *m, enum mx_app_proto proto,
                      const struct mx_conn_cfg *cfg, uint8_t *line, size_t line_n);
void conn_close_after_flush(struct conn *c, const char *reason);
/* reads what the socket has; runs the handshake / decrypter / protocol */
void conn_on_readable(struct conn *c);
void conn_process(struct conn *c);
int conn_on_writable(struct conn *c);
/* 1 while a refused login holds the connection (auth.c: --auth-delay) */
int conn_held(const struct conn *c);
/* 1 while output above SERVE_OUT_HIGH, a commit or a hold keeps input processing back */
int conn_blocked(const struct conn *c);
/* the client's address as accept() gave it; 0 or -1 */
int conn_peer_ip(int fd, struct mx_ipaddr *ip);
/* a message is arriving or being committed (shutdown waits for it) */
int conn_busy(const struct conn *c);
/* hands finished messages to the commit pool; the connection waits for committed() */
void conn_commit(struct conn *c, struct commit_job *j);

/* limits.c: per-phase deadlines, minimum message rate, per-address limit, per-round budget */
void limits_start(struct conn *c, time_t now);
void limits_tls_begin(struct conn *c, time_t now);
void limits_tls_done(struct conn *c, time_t now);
/* plaintext bytes were appended to c->plain at offsets from.. */
void limits_input(struct conn *c, size_t from, time_t now);
/* 1 while mx-serve reads this connection (poll asks for POLLIN) */
int conn_reading(const struct conn *c);
/* NULL, or why the connection's time is up (logged here; static text for the farewell) */
const char *limits_expired(struct conn *c, time_t now);
/* NULL, or why a new connection from peer is refused */
const char *limits_admit(const struct server *s, const struct mx_ipaddr *peer);
/* the protocol's refusal line (not on implicit-TLS ports), and the log line; the caller closes */
void limits_refuse(struct server *s, int fd, const struct mx_listener *l, const struct mx_ipaddr *peer,
                   const char *why);
void limits_new_round(struct server *s);
/* 1 when a held connection may go on (budget renewed, output drained): poll must not sleep */
int limits_more_work(const struct server *s);
/* the protocol modules' loop condition: 1 = take one more step now (output below
 * SERVE_OUT_HIGH, budget left); 0 = stop, conn_process comes back when it may go on */
int conn_may_step(struct conn *c);

/* tls.c */
int tls_load_cert(struct server *s, const char *name, int line, char *err, size_t errlen);
SSL_CTX *tls_ctx_for(struct server *s, const char *name);
void tls_free_all(struct server *s);
/* creates the SSL object with the byte-exact BIO; 0 or -1 */
int tls_begin(struct conn *c);
/* runs the handshake over c->raw: 1 done (decrypter keyed), 0 needs more, -1 failed */
int tls_handshake(struct conn *c);
/* decrypts the complete records of c->raw into c->plain: 0, or -1 (connection is done) */
int tls_decrypt(struct conn *c);
int tls_write(struct conn *c, const void *p, size_t n);
void tls_close_notify(struct conn *c);

/* auth.c: credentials, recipients, throttling */
int serve_check_login(const struct server *s, const uint8_t *user, size_t ulen,
                      const uint8_t *pass, size_t plen);
/* mx_conn_cfg.check for every connection (ctx: the struct conn) */
enum mx_verdict serve_check(void *ctx, enum mx_check_kind kind, const uint8_t *arg, size_t n);
int64_t serve_now_ms(void);
/* proto_imap.c: IMAP LOGIN's arguments (libmx's command reader) against the user table */
int imap_login_check(struct conn *c, const uint8_t *arg, size_t n, char *who, size_t wn);

extern const struct proto_ops smtp_ops, imap_ops, pop3_ops;

/* proto_imap.c: a message was committed into mailbox box (NULL: INBOX): IMAP sessions idling on
 * it are told now (RFC 2177) */
void imap_mailbox_changed(struct server *srv, const char *box);

#endif
