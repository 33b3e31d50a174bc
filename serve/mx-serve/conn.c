/* conn.c - one client connection: socket I/O, the plaintext/TLS switch, and the common part of
 * acting on a libmx machine step (the protocol modules do the rest). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mx/machine.h"
#include "serve.h"

static void fmt_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t n,
                         struct mx_ipaddr *ip, uint16_t *port)
{
    char a[INET6_ADDRSTRLEN] = "?";
    memset(ip, 0, sizeof *ip);
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const void *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
        ip->family = 4;
        memcpy(ip->b, &s4->sin_addr, 4);
        *port = ntohs(s4->sin_port);
        snprintf(buf, n, "%s:%u", a, *port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)ss;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
        if (memcmp(&s6->sin6_addr, mapped, 12) == 0) {
            ip->family = 4;
            memcpy(ip->b, (const uint8_t *)&s6->sin6_addr + 12, 4);
        } else {
            ip->family = 6;
            memcpy(ip->b, &s6->sin6_addr, 16);
        }
        *port = ntohs(s6->sin6_port);
        snprintf(buf, n, "[%s]:%u", a, *port);
    } else {
        snprintf(buf, n, "?");
    }
}

int conn_peer_ip(int fd, struct mx_ipaddr *ip)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char buf[64];
    uint16_t port;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    fmt_sockaddr(&ss, buf, sizeof buf, ip, &port);
    return 0;
}

struct conn *conn_new(struct server *s, int fd, const struct mx_listener *l)
{
    struct conn *c = calloc(1, sizeof *c);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    struct mx_ipaddr ip;
    uint16_t port, pport;
    struct mx_conn_cfg cfg;
    const struct mx_certbind *cb = NULL;
    const struct mx_listener *found = NULL;
    int one = 1;
    if (!c)
        return NULL;
    c->srv = s;
    c->fd = fd;
    c->id = ++s->next_id;
    c->l = l;
    c->last_active = time(NULL);
    limits_start(c, c->last_active);
    mx_chain_init(&c->raw, SERVE_IN_LIMIT + SERVE_READ_CHUNK, NULL);
    mx_chain_init(&c->plain, SERVE_IN_LIMIT + 2 * MX_RECORD_MAX_PLAINTEXT + SERVE_READ_CHUNK, NULL);
    mx_chain_init(&c->out, 2 * s->o.max_message + SERVE_OUT_SLACK, NULL);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        fmt_sockaddr(&ss, c->local, sizeof c->local, &ip, &port);
    else
        memset(&ip, 0, sizeof ip), port = l->port;
    sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        fmt_sockaddr(&ss, c->peer, sizeof c->peer, &c->peer_ip, &pport);
    snprintf(c->lname, sizeof c->lname, "%s/%s@%s", mx_app_proto_name(l->proto),
             mx_listen_mode_name(l->mode), c->local);
    /* what libmx says this connection runs with: its listener's mode and the certificate
     * bound to the connection's own (address, port) */
    memset(&cfg, 0, sizeof cfg);
    if (mx_listen_conn_cfg(&s->table, &ip, port, &cfg, &found, &cb) != MX_LISTEN_OK || found != l) {
        clog_(c, "libmx finds no listener for %s (accepted on config line %d): using that listener", c->local,
              l->line);
        cfg.mode = l->mode;
        cfg.tls_required = !!(l->options & MX_LISTEN_OPT_TLS_REQUIRED);
        cfg.literal_minus = !!(l->options & MX_LISTEN_OPT_LITERAL_MINUS);
        cb = mx_listen_cert_for(&s->table, &ip, port);
    }
    c->tls_ctx = cb && l->mode != MX_LISTEN_PLAIN ? tls_ctx_for(s, cb->name) : NULL;
    cfg.cert = c->tls_ctx != NULL; /* every bound certificate was loaded at start */
    /* TLS required: the listener's own option, or --tls-required for every listener */
    cfg.tls_required |= s->o.tls_required;
    cfg.max_message = s->o.max_message;
    cfg.max_errors = s->o.max_errors;
    cfg.host = s->o.hostname;
    /* the software name libmx's greetings announce: "mxfuzz", as mx-serve always said */
    cfg.product = "mxfuzz";
    /* logins and recipients are mx-serve's to check (auth.c) */
    cfg.check = serve_check;
    cfg.check_ctx = c;
    cfg.max_auth_failures = s->o.auth_failures;
    c->ops = l->proto == MX_APP_SMTP ? &smtp_ops : l->proto == MX_APP_IMAP ? &imap_ops : &pop3_ops;
    if (c->ops->open(c, &cfg) != 0) {
        mx_chain_release(&c->raw);
        mx_chain_release(&c->plain);
        mx_chain_release(&c->out);
        free(c);
        return NULL;
    }
    clog_(c, "accepted; certificate %s", cb && c->tls_ctx ? cb->name : "(none)");
    return c;
}

void conn_free(struct conn *c)
{
    if (c->ops && c->proto_state)
        c->ops->close(c);
    clog_(c, "closed (%s); %llu bytes in, %llu out, %llu messages stored%s",
          c->close_reason ? c->close_reason : "?", (unsigned long long)c->bytes_in,
          (unsigned long long)c->bytes_out, (unsigned long long)c->messages,
          c->key_updates ? ", TLS 1.3 KeyUpdates seen" : "");
    if (c->ssl)
        SSL_free(c->ssl);
    ERR_clear_error();
    mx_record_cleanup(&c->rec);
    mx_chain_release(&c->raw);
    mx_chain_release(&c->plain);
    mx_chain_release(&c->out);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

void conn_send(struct conn *c, const void *p, size_t n)
{
    if (c->dead || n == 0)
        return;
    if (c->tls == CONN_TLS_ON) {
        if (tls_write(c, p, n) != 0) {
            c->dead = 1;
            c->close_reason = "TLS write failed";
        }
    } else if (mx_chain_append(&c->out, p, n) != MX_CHAIN_OK) {
        c->dead = 1;
        c->close_reason = "output queue full";
    }
}

void conn_sends(struct conn *c, const char *s)
{
    conn_send(c, s, strlen(s));
}

void conn_close_after_flush(struct conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_reason = reason;
    tls_close_notify(c);
}

int conn_machine_init(struct conn *c, struct mx_machine *m, enum mx_app_proto proto,
                      const struct mx_conn_cfg *cfg, uint8_t *line, size_t line_n)
{
    if (mx_machine_init(m, proto, cfg, line, line_n) != 0)
        return -1;
    /* a certificate that is bound but must not be used (a replayed capture of a server whose TLS
     * set-up failed): STARTTLS no longer listed, SMTP 454 (RFC 3207 4), IMAP BAD, POP3 -ERR */
    if (c->l->options & MX_LISTEN_OPT_TLS_UNAVAILABLE) {
        mx_machine_tls_unavailable(m);
        clog_(c, "TLS unavailable on this listener (tls-unavailable): STARTTLS refused");
    }
    return 0;
}

void conn_start_tls(struct conn *c, int implicit)
{
    if (!c->tls_ctx || tls_begin(c) != 0) {
        clog_(c, "cannot start TLS: %s", c->tls_ctx ? "BoringSSL setup failed" : "no certificate");
        c->dead = 1;
        c->close_reason = "TLS unavailable";
        return;
    }
    limits_tls_begin(c, time(NULL));
    if (implicit || c->plain.bytes) {
        /* the bytes the machine sniffed (implicit TLS), or left queued behind STARTTLS
         * (st->tls_kept: a pipelined ClientHello), are the start of the handshake */
        const struct mx_chain_seg *it = NULL;
        const unsigned char *p;
        size_t n;
        while (mx_chain_iter(&c->plain, &it, &p, &n))
            if (mx_chain_append(&c->raw, p, n) != MX_CHAIN_OK) {
                c->dead = 1;
                c->close_reason = "out of memory";
                return;
            }
        mx_chain_discard(&c->plain);
        clog_(c, "%s", implicit ? "implicit TLS: handshake starts"
                          : "STARTTLS: pipelined handshake bytes handed to TLS");
    }
}

void conn_act(struct conn *c, const struct mx_step *st)
{
    if (st->reply_n)
        conn_send(c, st->reply, st->reply_n);
    switch (st->act) {
    case MX_ACT_STARTTLS:
        clog_(c, "STARTTLS accepted; %zu pipelined plaintext bytes discarded%s; %zu pipelined "
              "handshake bytes kept", st->discarded,
              st->discarded ? " (command injection attempt, CVE-2011-0411 class)" : "", st->tls_kept);
        conn_start_tls(c, 0);
        break;
    case MX_ACT_HANDSHAKE:
        conn_start_tls(c, 1);
        break;
    case MX_ACT_CLOSE:
        /* the client gets no explanation for some closes (plaintext on an implicit-TLS port,
         * RFC 8314 3.3): the log is where the reason and what it sent are */
        if (st->diag)
            clog_(c, "diagnostic: %s; %zu unread bytes dropped", st->diag, c->plain.bytes);
        conn_close_after_flush(c, st->diag ? st->diag : "client quit");
        break;
    default:
        break;
    }
}

int conn_held(const struct conn *c)
{
    return c->hold_until && serve_now_ms() < c->hold_until;
}

int conn_blocked(const struct conn *c)
{
    return c->out.bytes > SERVE_OUT_HIGH || c->commit_wait || conn_held(c);
}

int conn_busy(const struct conn *c)
{
    return c->commit_wait || c->ops->busy(c);
}

void conn_commit(struct conn *c, struct commit_job *j)
{
    j->conn_id = c->id;
    c->commit_wait = 1;
    commit_submit(c->srv->commits, j);
}

void conn_process(struct conn *c)
{
    for (int guard = 0; guard < 100000; guard++) {
        size_t before = c->raw.bytes + c->plain.bytes;
        enum conn_tls t = c->tls;
        if (c->dead || c->closing || conn_blocked(c))
            return;
        if (c->tls == CONN_TLS_HANDSHAKE) {
            int r = tls_handshake(c);
            if (r < 0) {
                /* BoringSSL may have queued an alert: flush it, then close */
                c->closing = 1;
                c->close_reason = "TLS handshake failed";
                return;
            }
            if (r == 0)
                break;
            limits_tls_done(c, time(NULL));
            c->ops->tls_started(c);
        }
        if (c->tls == CONN_TLS_ON) {
            size_t from = c->plain.bytes;
            if (tls_decrypt(c) != 0)
                return;
            limits_input(c, from, c->last_active);
        }
        c->held = 0;
        c->ops->drive(c);
        /* stop when a round changed nothing: no bytes consumed, no TLS state change */
        if (c->tls == t && c->raw.bytes + c->plain.bytes == before)
            break;
    }
    if (c->dead || c->closing || conn_blocked(c))
        return;
    if (c->held)
        return; /* pipelined input left for the next round: an end of input waits behind it */
    if (c->peer_eof) {
        if (conn_busy(c))
            clog_(c, "the client went away in the middle of a message: not stored");
        c->ops->abort(c);
        conn_close_after_flush(c, c->tls == CONN_TLS_HANDSHAKE ? "client closed during the TLS handshake"
                                                                : "client closed the connection");
        return;
    }
    if (c->draining && !conn_busy(c)) {
        c->ops->farewell(c, "server shutting down");
        conn_close_after_flush(c, "server shutdown");
    }
}

void conn_on_readable(struct conn *c)
{
    uint8_t buf[SERVE_READ_CHUNK];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        if (c->ops->busy(c))
            clog_(c, "the client went away in the middle of a message: not stored");
        else if (c->commit_wait)
            clog_(c, "the client went away while its message was being committed: stored, not acknowledged");
        c->dead = 1;
        c->close_reason = errno == ECONNRESET ? "connection reset by the client" : "read error";
        c->ops->abort(c);
        return;
    }
    c->last_active = time(NULL);
    if (n == 0) {
        c->peer_eof = 1;
    } else {
        struct mx_chain *dst = c->tls == CONN_TLS_OFF ? &c->plain : &c->raw;
        size_t from = dst->bytes;
        c->bytes_in += (uint64_t)n;
        if (mx_chain_append(dst, buf, (size_t)n) != MX_CHAIN_OK) {
            c->dead = 1;
            c->close_reason = "input queue full";
            c->ops->abort(c);
            return;
        }
        if (dst == &c->plain)
            limits_input(c, from, c->last_active);
    }
    conn_process(c);
}

int conn_on_writable(struct conn *c)
{
    while (c->out.bytes > 0) {
        const struct mx_chain_seg *it = NULL;
        const unsigned char *p;
        size_t n;
        ssize_t w;
        if (!mx_chain_iter(&c->out, &it, &p, &n))
            break;
        w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            c->dead = 1;
            c->close_reason = "write error";
            return -1;
        }
        mx_chain_consume(&c->out, (size_t)w);
        c->bytes_out += (uint64_t)w;
        c->last_active = time(NULL);
    }
    return 0;
}
