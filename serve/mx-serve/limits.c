/* limits.c - what one client may cost mx-serve, in time and in work: the per-phase deadlines,
 * the minimum rate of a message, the per-address connection limit and the per-round work
 * budget. Protocol-independent: it sees only the plaintext byte stream (where lines end), the
 * TLS state and whether a message is being received (proto_ops.busy), so SMTP, IMAP and POP3
 * share one set of rules.
 *
 * Why phases: the idle timer alone restarts on every byte, so a client sending one byte a
 * second keeps its slot forever (slow loris). Each phase has a clock that a trickle does not
 * restart:
 *   greeting   from the greeting (or the end of a TLS handshake) to the first complete
 *              command line: --greeting-timeout
 *   handshake  from the first TLS byte to the end of the handshake: --handshake-timeout
 *   line       from the first byte of a command line to its LF: --line-timeout
 *   message    SMTP DATA / IMAP APPEND literal: at least --min-rate bytes/s on average over
 *              every --rate-window seconds (the model of Apache's mod_reqtimeout MinRate: a
 *              message may be long, but must keep moving)
 * The line and message clocks run only while mx-serve reads the connection: while it holds
 * input back (output above SERVE_OUT_HIGH, a commit, full input chains) a slow client is
 * mx-serve's doing, not the client's. The greeting and handshake clocks never stop: both
 * phases are short and the client holds the initiative.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "serve.h"

void limits_start(struct conn *c, time_t now)
{
    memset(&c->clk, 0, sizeof c->clk);
    c->clk.phase_start = now;
    c->budget = SERVE_ROUND_STEPS;
}

void limits_tls_begin(struct conn *c, time_t now)
{
    c->clk.hs_start = now;
    c->clk.line_start = 0; /* a sniffed ClientHello is no command line */
}

void limits_tls_done(struct conn *c, time_t now)
{
    /* the greeting phase again: a client says something right after the handshake (the
     * implicit-TLS greeting, or EHLO / CAPABILITY after STARTTLS) */
    c->clk.phase_start = now;
    c->clk.commanded = 0;
    c->clk.line_start = 0;
}

void limits_input(struct conn *c, size_t from, time_t now)
{
    size_t n = c->plain.bytes > from ? c->plain.bytes - from : 0, pos;
    int lf;
    if (n == 0 || c->tls == CONN_TLS_HANDSHAKE)
        return;
    c->clk.win_bytes += n;
    lf = mx_chain_find(&c->plain, from, "\n", 1, &pos);
    if (lf)
        c->clk.commanded = 1;
    if (mx_chain_byte(&c->plain, c->plain.bytes - 1) == '\n')
        c->clk.line_start = 0;      /* every line that arrived is complete */
    else if (lf || !c->clk.line_start)
        c->clk.line_start = now;    /* a new line began in these bytes */
}

int conn_reading(const struct conn *c)
{
    return !c->closing && !c->peer_eof && !conn_blocked(c) && c->raw.bytes < SERVE_IN_LIMIT &&
           c->plain.bytes < SERVE_IN_LIMIT;
}

const char *limits_expired(struct conn *c, time_t now)
{
    const struct server_opts *o = &c->srv->o;
    int in_message = c->ops->busy(c) && !c->commit_wait;
    if (c->tls == CONN_TLS_HANDSHAKE) {
        if (now - c->clk.hs_start >= o->handshake_timeout) {
            clog_(c, "TLS handshake not done %d s after it began (--handshake-timeout): closing",
                  o->handshake_timeout);
            return "TLS handshake timeout";
        }
    } else if (!c->clk.commanded && now - c->clk.phase_start >= o->greeting_timeout) {
        clog_(c, "no complete command line %d s after the greeting (--greeting-timeout): closing",
              o->greeting_timeout);
        return "no command after the greeting";
    }
    if (!conn_reading(c) || c->tls == CONN_TLS_HANDSHAKE) {
        /* not our client's time: restart the clocks that measure it */
        if (c->clk.line_start)
            c->clk.line_start = now;
        c->clk.win_start = 0;
    } else if (in_message) {
        time_t spent;
        if (!c->clk.in_message || !c->clk.win_start) {
            c->clk.in_message = 1;
            c->clk.win_start = now;
            c->clk.win_bytes = 0;
        }
        spent = now - c->clk.win_start;
        if (spent >= o->rate_window) {
            if (c->clk.win_bytes < (uint64_t)o->min_rate * (uint64_t)spent) {
                clog_(c, "message arriving at %llu bytes/s over %lld s, below --min-rate %d: closing",
                      (unsigned long long)(c->clk.win_bytes / (uint64_t)spent), (long long)spent, o->min_rate);
                return "message too slow";
            }
            c->clk.win_start = now;
            c->clk.win_bytes = 0;
        }
    } else {
        if (c->clk.in_message) {
            /* back from a message: what follows its last byte is a fresh line */
            c->clk.in_message = 0;
            if (c->clk.line_start)
                c->clk.line_start = now;
        }
        if (c->clk.line_start && now - c->clk.line_start >= o->line_timeout) {
            clog_(c, "command line not complete %d s after its first byte (--line-timeout): closing",
                  o->line_timeout);
            return "command line timeout";
        }
    }
    if (now - c->last_active >= o->idle_timeout) {
        clog_(c, "idle for %d s", o->idle_timeout);
        return "idle timeout";
    }
    return NULL;
}

const char *limits_admit(const struct server *s, const struct mx_ipaddr *peer)
{
    unsigned same = 0;
    if ((int)s->nconns >= s->o.max_conns)
        return "too many connections";
    /* a scan: at most --max-conns entries, once per accepted connection */
    for (const struct conn *c = s->conns; c; c = c->next)
        if (mx_ipaddr_equal(&c->peer_ip, peer) && ++same >= (unsigned)s->o.max_per_addr)
            return "too many connections from your address";
    return NULL;
}

void limits_refuse(struct server *s, int fd, const struct mx_listener *l, const struct mx_ipaddr *peer,
                   const char *why)
{
    char line[200], a[64];
    int n = 0;
    /* on an implicit-TLS port the client's first bytes are a ClientHello: a plaintext line
     * would be read as a broken record, so the refusal is the close alone */
    if (l->mode != MX_LISTEN_IMPLICIT) {
        if (l->proto == MX_APP_SMTP) /* RFC 5321 3.8 / 4.2.3: 421 at connection time; RFC 3463 X.7.0 */
            n = snprintf(line, sizeof line, "421 4.7.0 %s Error: %s\r\n", s->o.hostname, why);
        else if (l->proto == MX_APP_IMAP) /* RFC 3501 7.1.5: BYE as the greeting; RFC 5530 UNAVAILABLE */
            n = snprintf(line, sizeof line, "* BYE [UNAVAILABLE] %s\r\n", why);
        else /* RFC 1939 4: -ERR greeting; RFC 3206 SYS/TEMP */
            n = snprintf(line, sizeof line, "-ERR [SYS/TEMP] %s\r\n", why);
        /* a fresh socket's send buffer takes a line: never blocks, never waits */
        if (n > 0 && send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            n = 0;
    }
    slog(s, "connection from %s refused on %s port %u: %s (--max-conns %d, --max-per-addr %d)%s",
         mx_ipaddr_format(peer, a, sizeof a), mx_app_proto_name(l->proto), l->port, why, s->o.max_conns,
         s->o.max_per_addr, n > 0 ? "" : "; closed without a reply");
}

void limits_new_round(struct server *s)
{
    for (struct conn *c = s->conns; c; c = c->next)
        c->budget = SERVE_ROUND_STEPS;
}

int limits_more_work(const struct server *s)
{
    for (const struct conn *c = s->conns; c; c = c->next)
        if (!c->dead && !c->closing && c->held && !conn_blocked(c))
            return 1;
    return 0;
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int conn_may_step(struct conn *c)
{
    uint64_t now = monotonic_ns();
    if (c->budget == SERVE_ROUND_STEPS)
        c->work_start_ns = now; /* the first step of the round always runs: progress for everyone */
    else if (now - c->work_start_ns > SERVE_ROUND_NS)
        c->budget = 0;
    if (conn_blocked(c) || c->budget == 0) {
        c->held = 1;
        return 0;
    }
    c->budget--;
    return 1;
}
