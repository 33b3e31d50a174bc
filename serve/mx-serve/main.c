/* main.c - mx-serve: options, the listener configuration (libmx's format, mx/listen.h),
 * certificates, the poll() loop, the timers (limits.c decides) and the SIGTERM shutdown.
 *
 * Shutdown (SIGTERM or SIGINT): the listeners close at once; a connection in the middle of a
 * message (SMTP DATA, IMAP APPEND literal) may finish it -- it is stored and acknowledged --
 * for up to --grace seconds, then gets the protocol's goodbye (421 / * BYE / -ERR) and is
 * closed; idle connections get the goodbye at once. A message whose acknowledgement was not
 * sent is never in new/ half-written: at worst its file stays in tmp/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/mem.h>

#include "serve.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mx-serve -c CONFIG --maildir DIR [options]\n"
            "\n"
            "  -c, --config FILE      listeners and certificate bindings (libmx's format, see\n"
            "                         include/mx/listen.h):\n"
            "                           listen ADDRESS PORT [plain|starttls|implicit] [smtp|imap|pop3]\n"
            "                                  [tls-required] [literal-minus] [tls-unavailable]\n"
            "                           cert NAME ADDRESS|* PORT|*\n"
            "  -l, --listen LINE      one more configuration line (repeatable; after the file)\n"
            "      --cert-dir DIR     certificate NAME is loaded from DIR/NAME.pem (key + chain);\n"
            "                         default: the configuration file's directory, else .\n"
            "  -m, --maildir DIR      where messages are stored (tmp/ new/ cur/ created)\n"
            "  -u, --user USER:PASS   a login for SMTP AUTH, IMAP and POP3, and a local recipient\n"
            "                         USER@DOMAIN (repeatable; default: no login accepted)\n"
            "      --domain NAME      an SMTP local domain (repeatable; default: --hostname)\n"
            "      --any-rcpt         SMTP accepts every recipient (a sink for replayed sessions)\n"
            "      --auth-delay MS    hold a connection after a refused login (default 500)\n"
            "      --auth-failures N  refused logins before the connection closes (default 3)\n"
            "      --log FILE         log here instead of stderr\n"
            "      --keylog FILE      append BoringSSL's NSS key log (server side) to FILE\n"
            "      --ready FILE       create FILE once every listener is bound\n"
            "      --ciphers LIST     BoringSSL cipher list (default ALL)\n"
            "      --hostname NAME    name in greetings (default mx-serve.test)\n"
            "      --idle-timeout S   close connections idle for S seconds (default 300)\n"
            "      --greeting-timeout S  a first complete command line within S seconds of the\n"
            "                         greeting or of a TLS handshake's end (default 60)\n"
            "      --handshake-timeout S  a TLS handshake within S seconds (default 30)\n"
            "      --line-timeout S   a command line within S seconds of its first byte (default 60)\n"
            "      --min-rate B       a message (DATA, APPEND literal) at B bytes/s or faster ...\n"
            "      --rate-window S    ... averaged over every S seconds (defaults 256, 30)\n"
            "      --grace S          at SIGTERM, time to finish in-flight messages (default 10)\n"
            "      --max-conns N      simultaneous connections (default 512)\n"
            "      --max-per-addr N   simultaneous connections from one address (default 50); a\n"
            "                         connection over a limit gets 421 / * BYE / -ERR and is closed\n"
            "      --max-message N    largest message in bytes (default 33554432)\n"
            "      --max-errors N     consecutive protocol errors before the final reply and the\n"
            "                         close, 1..1000 (default 20, libmx's MX_MAX_ERRORS)\n"
            "      --tls-required     no mail or login before TLS on every listener (the default for\n"
            "                         all; one listener alone: its `tls-required` option)\n"
            "      --bind-any         `listen * PORT` binds every address (default: 127.0.0.1 only;\n"
            "                         mx-serve is a test server with a test login)\n"
            "  -h, --help\n");
}

const char *serve_where(const struct server *s, int line, char *buf, size_t n)
{
    if (s->config_name && line <= s->config_lines)
        snprintf(buf, n, "%s:%d", s->config_name, line);
    else
        snprintf(buf, n, "-l #%d", line - s->config_lines);
    return buf;
}

/* libmx's "NAME:LINE: what" for a line that came from -l: "-l #K: what" */
static void where_in_error(const struct server *s, const char *name, char *err, size_t errlen)
{
    size_t nl = strlen(name);
    char *end, rest[700], w[64];
    long line;
    if (strncmp(err, name, nl) != 0 || err[nl] != ':')
        return;
    line = strtol(err + nl + 1, &end, 10);
    if (end == err + nl + 1 || *end != ':' || line <= s->config_lines)
        return;
    snprintf(rest, sizeof rest, "%s", end);
    snprintf(err, errlen, "%s%s", serve_where(s, (int)line, w, sizeof w), rest);
}

static int parse_num(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    long x;
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || *v == 0 || *end || x < lo || x > hi) {
        fprintf(stderr, "mx-serve: %s: '%s' is not a number in %ld..%ld\n", opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* The numeric options, one row each: the getopt entry, the range check and its message all come
 * from the row, so that an option cannot be listed without its range or stored in the wrong
 * field (serve/tests/numeric_options_ranges.sh checks every range against --help). */
struct num_option {
    const char *name;
    long lo, hi; /* never negative: one bit pattern fits int and unsigned fields alike */
    size_t field, size; /* offsetof and sizeof the struct server_opts member */
};
#define NUM_OPTION(name, lo, hi, member)                                                            \
    {name, lo, hi, offsetof(struct server_opts, member), sizeof(((struct server_opts *)0)->member)}
static const struct num_option num_options[] = {
    NUM_OPTION("idle-timeout", 1, 86400, idle_timeout),
    NUM_OPTION("grace", 0, 3600, grace),
    NUM_OPTION("max-conns", 1, 100000, max_conns),
    NUM_OPTION("max-message", 1, 1L << 30, max_message),
    NUM_OPTION("max-per-addr", 1, 100000, max_per_addr),
    NUM_OPTION("greeting-timeout", 1, 86400, greeting_timeout),
    NUM_OPTION("handshake-timeout", 1, 86400, handshake_timeout),
    NUM_OPTION("line-timeout", 1, 86400, line_timeout),
    NUM_OPTION("min-rate", 0, 1L << 30, min_rate),
    NUM_OPTION("rate-window", 1, 86400, rate_window),
    NUM_OPTION("max-errors", 1, 1000, max_errors),
    NUM_OPTION("auth-delay", 0, 60000, auth_delay_ms),
    NUM_OPTION("auth-failures", 1, 1000, auth_failures),
};

static int set_num(struct server_opts *o, const struct num_option *row, const char *arg)
{
    char flag[40];
    long v;
    snprintf(flag, sizeof flag, "--%s", row->name);
    if (parse_num(flag, arg, row->lo, row->hi, &v))
        return -1;
    if (row->size == sizeof(int)) {
        int x = (int)v;
        memcpy((char *)o + row->field, &x, sizeof x);
    } else {
        size_t x = (size_t)v;
        _Static_assert(sizeof(size_t) != sizeof(int), "the two field sizes are told apart by size");
        memcpy((char *)o + row->field, &x, sizeof x);
    }
    return 0;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    /* O_NONBLOCK: a named pipe must not block start-up; then only a regular file is read */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    FILE *f;
    char *buf;
    size_t n;
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (!(f = fdopen(fd, "rb"))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    buf = malloc(MX_LISTEN_FILE_MAX + 1);
    n = buf ? fread(buf, 1, MX_LISTEN_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n > MX_LISTEN_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, MX_LISTEN_FILE_MAX);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int open_listener(struct server *s, const struct mx_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;
    char a[64];
    memset(&ss, 0, sizeof ss);
    if (l->addr.family == 6) {
        struct sockaddr_in6 *s6 = (void *)&ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, l->addr.b, 16);
        s6->sin6_port = htons(l->port);
        sl = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (void *)&ss;
        s4->sin_family = AF_INET;
        if (l->addr.family == 4)
            memcpy(&s4->sin_addr, l->addr.b, 4);
        else /* "*": a test server stays on loopback unless told otherwise */
            s4->sin_addr.s_addr = htonl(s->o.bind_any ? INADDR_ANY : INADDR_LOOPBACK);
        s4->sin_port = htons(l->port);
        sl = sizeof *s4;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    {
        /* every listener with what serves it: mode, protocol, TLS policy, certificate */
        const struct mx_certbind *cb = l->mode == MX_LISTEN_PLAIN ? NULL : mx_listen_cert_for(&s->table, &l->addr, l->port);
        char w[300];
        slog(s, "listening on %s port %u: %s, %s, %s, certificate %s (%s)",
             l->addr.family ? mx_ipaddr_format(&l->addr, a, sizeof a) : s->o.bind_any ? "* (every address)"
                                                                      : "* (bound to 127.0.0.1 only: --bind-any for every address)",
             l->port, mx_app_proto_name(l->proto), mx_listen_mode_name(l->mode),
             l->mode == MX_LISTEN_PLAIN ? "no TLS" : l->mode == MX_LISTEN_IMPLICIT ? "TLS from the first byte"
                                         : s->o.tls_required ? "TLS required before login/mail" : "TLS optional",
             cb ? cb->name : "(none)", serve_where(s, l->line, w, sizeof w));
    }
    return fd;
}

static void accept_all(struct server *s, size_t i)
{
    for (;;) {
        int fd = accept4(s->lfd[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct mx_ipaddr peer;
        const char *refused;
        struct conn *c;
        if (fd < 0)
            return;
        if (conn_peer_ip(fd, &peer) != 0) {
            close(fd); /* gone already (reset before accept) */
            continue;
        }
        if ((refused = limits_admit(s, &peer)) != NULL) {
            limits_refuse(s, fd, &s->table.l[i], &peer, refused);
            close(fd);
            continue;
        }
        c = conn_new(s, fd, &s->table.l[i]);
        if (!c) {
            close(fd);
            continue;
        }
        c->next = s->conns;
        s->conns = c;
        s->nconns++;
        conn_process(c); /* greeting */
        if (s->stopping)
            c->draining = 1;
    }
}

/* acknowledges the messages whose commit finished */
static void collect_commits(struct server *s)
{
    struct commit_job *j;
    while ((j = commit_done(s->commits)) != NULL) {
        struct conn *c = s->conns;
        while (c && c->id != j->conn_id)
            c = c->next;
        if (c && c->commit_wait && !c->dead) {
            c->commit_wait = 0;
            c->ops->committed(c, j);
            conn_process(c);
        } else {
            for (int i = 0; i < j->n; i++)
                if (j->ok[i])
                    slog(s, "conn=%lu: message stored after its connection was gone (never acknowledged): new/%s",
                         j->conn_id, j->msgs[i].name);
        }
        free(j);
    }
}

static void begin_shutdown(struct server *s)
{
    s->stopping = 1;
    s->stop_deadline = time(NULL) + s->o.grace;
    for (size_t i = 0; i < s->nlfd; i++)
        close(s->lfd[i]);
    s->nlfd = 0;
    slog(s, "shutdown requested: listeners closed, %zu connections finishing (grace %d s)", s->nconns, s->o.grace);
    for (struct conn *c = s->conns; c; c = c->next) {
        c->draining = 1;
        if (!c->closing && !c->dead && !conn_busy(c)) {
            c->ops->farewell(c, "server shutting down");
            conn_close_after_flush(c, "server shutdown");
        }
    }
}

static int run(struct server *s)
{
    struct pollfd *pfd = NULL;
    struct conn **who = NULL;
    size_t cap = 0;
    for (;;) {
        size_t n = 0, i;
        int wait_ms = 1000;
        time_t now = time(NULL);
        struct conn **pp;
        if (g_stop && !s->stopping)
            begin_shutdown(s);
        if (s->stopping && s->nconns == 0)
            break;
        /* timeouts, closes */
        for (pp = &s->conns; *pp;) {
            struct conn *c = *pp;
            if (!c->dead && s->stopping && now >= s->stop_deadline && !c->closing) {
                if (conn_busy(c))
                    clog_(c, "grace period over: message in progress dropped (never acknowledged)");
                c->ops->abort(c);
                c->ops->farewell(c, "server shutting down");
                conn_close_after_flush(c, "server shutdown (grace period over)");
            }
            if (!c->dead && c->closing && now - c->last_active >= s->o.idle_timeout) {
                c->dead = 1; /* the client does not read its goodbye */
            } else if (!c->dead && !c->closing) {
                const char *expired = limits_expired(c, now);
                if (expired) {
                    c->ops->abort(c);
                    c->ops->farewell(c, expired);
                    conn_close_after_flush(c, expired);
                    c->last_active = now; /* the goodbye gets one more idle period to go out */
                }
            }
            if (s->stopping && now >= s->stop_deadline + 5)
                c->dead = 1;
            if (c->out.bytes && !conn_held(c))
                conn_on_writable(c);
            if (c->dead || (c->closing && c->out.bytes == 0)) {
                *pp = c->next;
                s->nconns--;
                conn_free(c);
                continue;
            }
            pp = &c->next;
        }
        if (s->stopping && s->nconns == 0)
            break;
        if (cap < s->nlfd + s->nconns + 1) {
            cap = (s->nlfd + s->nconns) * 2 + 16;
            pfd = realloc(pfd, cap * sizeof *pfd);
            who = realloc(who, cap * sizeof *who);
            if (!pfd || !who) {
                slog(s, "out of memory");
                return 1;
            }
        }
        pfd[n].fd = commit_fd(s->commits);
        pfd[n].events = POLLIN;
        who[n++] = NULL;
        for (i = 0; i < s->nlfd; i++) {
            pfd[n].fd = s->lfd[i];
            pfd[n].events = (int)s->nconns < s->o.max_conns ? POLLIN : 0;
            who[n++] = NULL;
        }
        for (struct conn *c = s->conns; c; c = c->next) {
            pfd[n].fd = c->fd;
            pfd[n].events = 0;
            if (conn_reading(c))
                pfd[n].events |= POLLIN;
            if (c->out.bytes && !conn_held(c))
                pfd[n].events |= POLLOUT;
            if (conn_held(c)) {
                int64_t left = c->hold_until - serve_now_ms();
                if (left < wait_ms)
                    wait_ms = left < 1 ? 1 : (int)left;
            }
            who[n++] = c;
        }
        /* a connection stopped by its budget goes on at once, after the others had their turn */
        if (poll(pfd, n, limits_more_work(s) ? 0 : wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            slog(s, "poll: %s", strerror(errno));
            return 1;
        }
        limits_new_round(s);
        for (i = 0; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            if (!who[i] && pfd[i].fd == commit_fd(s->commits)) {
                collect_commits(s);
                continue;
            }
            if (!who[i]) {
                for (size_t k = 0; k < s->nlfd; k++)
                    if (s->lfd[k] == pfd[i].fd)
                        accept_all(s, k);
                continue;
            }
            if (pfd[i].revents & POLLOUT)
                conn_on_writable(who[i]);
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (!who[i]->dead && !who[i]->closing)
                    conn_on_readable(who[i]);
                else if (pfd[i].revents & (POLLHUP | POLLERR))
                    who[i]->dead = 1;
            }
        }
        /* input (or an end of input) that waited for room: full chains, output above the mark */
        for (struct conn *c = s->conns; c; c = c->next)
            if (!c->dead && !c->closing && !conn_blocked(c) &&
                (c->held || c->plain.bytes || c->raw.bytes || c->peer_eof || c->want_drive))
                conn_process(c);
    }
    free(pfd);
    free(who);
    return 0;
}

int main(int argc, char **argv)
{
    static struct server srv;
    struct server *s = &srv;
    const char *config = NULL;
    char *extra = NULL, *text = NULL, err[600], *dirbuf = NULL;
    size_t extra_len = 0, tlen = 0;
    int opt, rc;
    enum { O_CERTDIR = 1000, O_LOG, O_KEYLOG, O_READY, O_CIPHERS, O_HOST, O_TLSREQ, O_ANY, O_DOMAIN,
           O_ANYRCPT, O_NUM = 2000 /* + the row of num_options */ };
    static const struct option named[] = {
        {"config", required_argument, NULL, 'c'},    {"listen", required_argument, NULL, 'l'},
        {"maildir", required_argument, NULL, 'm'},   {"user", required_argument, NULL, 'u'},
        {"cert-dir", required_argument, NULL, O_CERTDIR}, {"log", required_argument, NULL, O_LOG},
        {"keylog", required_argument, NULL, O_KEYLOG}, {"ready", required_argument, NULL, O_READY},
        {"ciphers", required_argument, NULL, O_CIPHERS}, {"hostname", required_argument, NULL, O_HOST},
        {"tls-required", no_argument, NULL, O_TLSREQ}, {"bind-any", no_argument, NULL, O_ANY},
        {"domain", required_argument, NULL, O_DOMAIN}, {"any-rcpt", no_argument, NULL, O_ANYRCPT},
        {"help", no_argument, NULL, 'h'}};
    enum { NNAMED = sizeof named / sizeof named[0], NNUM = sizeof num_options / sizeof num_options[0] };
    struct option longopts[NNAMED + NNUM + 1];

    memcpy(longopts, named, sizeof named);
    for (int i = 0; i < NNUM; i++)
        longopts[NNAMED + i] = (struct option){num_options[i].name, required_argument, NULL, O_NUM + i};
    longopts[NNAMED + NNUM] = (struct option){NULL, 0, NULL, 0};

    s->o.idle_timeout = 300;
    s->o.grace = 10;
    s->o.max_conns = 512;
    /* defaults after postfix (smtpd_client_connection_count_limit 50) and Apache's
     * mod_reqtimeout (a header within 20-40 s, bodies at MinRate 500 bytes/s), looser: a test
     * server's clients include people typing at a prompt */
    s->o.max_per_addr = 50;
    s->o.greeting_timeout = 60;
    s->o.handshake_timeout = 30;
    s->o.line_timeout = 60;
    s->o.min_rate = 256;
    s->o.rate_window = 30;
    s->o.max_message = 32u << 20;
    s->o.hostname = "mx-serve.test";
    s->o.auth_delay_ms = 500;
    s->o.auth_failures = 3;
    while ((opt = getopt_long(argc, argv, "c:l:m:u:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'l': {
            size_t k = strlen(optarg);
            char *nx = realloc(extra, extra_len + k + 2);
            if (!nx)
                return 2;
            extra = nx;
            memcpy(extra + extra_len, optarg, k);
            extra_len += k;
            extra[extra_len++] = '\n';
            break;
        }
        case 'm':
            s->o.maildir = optarg;
            break;
        case 'u': {
            char *colon = strchr(optarg, ':');
            if (!colon || colon == optarg || !colon[1]) {
                fprintf(stderr, "mx-serve: --user wants USER:PASSWORD\n");
                return 2;
            }
            if (s->o.nusers >= SERVE_MAX_USERS) {
                fprintf(stderr, "mx-serve: --user: at most %d users\n", SERVE_MAX_USERS);
                return 2;
            }
            *colon = 0;
            s->o.users[s->o.nusers].user = optarg;
            s->o.users[s->o.nusers++].pass = colon + 1;
            break;
        }
        case O_CERTDIR: s->o.cert_dir = optarg; break;
        case O_LOG: s->o.log_path = optarg; break;
        case O_KEYLOG: s->o.keylog_path = optarg; break;
        case O_READY: s->o.ready_path = optarg; break;
        case O_CIPHERS: s->o.ciphers = optarg; break;
        case O_HOST: s->o.hostname = optarg; break;
        case O_TLSREQ: s->o.tls_required = 1; break;
        case O_ANY: s->o.bind_any = 1; break;
        case O_ANYRCPT: s->o.any_rcpt = 1; break;
        case O_DOMAIN:
            if (s->o.ndomains >= SERVE_MAX_DOMAINS || !*optarg) {
                fprintf(stderr, "mx-serve: --domain: a name, at most %d of them\n", SERVE_MAX_DOMAINS);
                return 2;
            }
            s->o.domains[s->o.ndomains++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (opt >= O_NUM && opt < O_NUM + NNUM) {
                if (set_num(&s->o, &num_options[opt - O_NUM], optarg)) return 2;
                break;
            }
            usage(stderr);
            return 2;
        }
    }
    if (s->o.ndomains == 0)
        s->o.domains[s->o.ndomains++] = s->o.hostname;
    if (optind != argc || (!config && !extra) || !s->o.maildir) {
        if (optind != argc)
            fprintf(stderr, "mx-serve: unexpected argument '%s'\n", argv[optind]);
        else
            fprintf(stderr, "mx-serve: %s\n", !s->o.maildir ? "--maildir is required"
                                                             : "a configuration (-c FILE or -l LINE) is required");
        usage(stderr);
        return 2;
    }
    if (s->o.log_path && !(s->log = fopen(s->o.log_path, "a"))) {
        fprintf(stderr, "mx-serve: --log %s: %s\n", s->o.log_path, strerror(errno));
        return 2;
    }
    if (s->o.keylog_path && !(s->keylog = fopen(s->o.keylog_path, "a"))) {
        fprintf(stderr, "mx-serve: --keylog %s: %s\n", s->o.keylog_path, strerror(errno));
        return 2;
    }

    /* the configuration: the file, then the -l lines, parsed by libmx as one text */
    if (config) {
        text = read_file(config, &tlen, err, sizeof err);
        if (!text) {
            fprintf(stderr, "mx-serve: %s\n", err);
            return 2;
        }
        if (!s->o.cert_dir) {
            const char *slash = strrchr(config, '/');
            dirbuf = slash ? strndup(config, (size_t)(slash - config)) : strdup(".");
            s->o.cert_dir = dirbuf;
        }
    } else {
        text = malloc(1);
    }
    if (extra) {
        char *nx = realloc(text, tlen + extra_len + 1);
        if (!nx)
            return 2;
        text = nx;
        if (tlen && text[tlen - 1] != '\n')
            text[tlen++] = '\n';
        memcpy(text + tlen, extra, extra_len);
        tlen += extra_len;
    }
    s->config_name = config;
    if (config) {
        for (size_t i = 0; i < tlen - extra_len; i++)
            s->config_lines += text[i] == '\n';
        if (tlen > extra_len && text[tlen - extra_len - 1] != '\n')
            s->config_lines++;
    }
    rc = mx_listen_parse(&s->table, config ? config : "(command line)", text, tlen, err, sizeof err);
    free(text);
    free(extra);
    if (rc != MX_LISTEN_OK)
        where_in_error(s, config ? config : "(command line)", err, sizeof err);
    if (rc != MX_LISTEN_OK) {
        fprintf(stderr, "mx-serve: %s\n", err);
        if (s->log)
            slog(s, "configuration error: %s", err);
        return 2;
    }
    if (s->table.nl == 0) {
        fprintf(stderr, "mx-serve: %s: no listener\n", config ? config : "(command line)");
        return 2;
    }
    {
        /* every certificate is tried: each one that fails is reported, then the exit */
        int bad = 0;
        for (size_t i = 0; i < s->table.nc; i++) {
            if (tls_load_cert(s, s->table.c[i].name, s->table.c[i].line, err, sizeof err) != 0) {
                fprintf(stderr, "mx-serve: %s\n", err);
                if (s->log)
                    slog(s, "configuration error: %s", err);
                bad++;
            }
        }
        if (bad)
            return 2;
    }
    if (md_open(&s->md, s->o.maildir) != 0) {
        fprintf(stderr, "mx-serve: --maildir %s: %s\n", s->o.maildir, strerror(errno));
        return 2;
    }
    s->commits = commit_start(&s->md);
    if (!s->commits) {
        fprintf(stderr, "mx-serve: cannot start the commit threads\n");
        return 1;
    }
    for (size_t i = 0; i < s->table.nl; i++) {
        int fd = open_listener(s, &s->table.l[i]);
        if (fd < 0) {
            char a[64];
            fprintf(stderr, "mx-serve: %s:%d: cannot listen on %s port %u: %s\n", config ? config : "(command line)",
                    s->table.l[i].line, s->table.l[i].addr.family ? mx_ipaddr_format(&s->table.l[i].addr, a, sizeof a) : "*",
                    s->table.l[i].port, strerror(errno));
            return 1;
        }
        s->lfd[s->nlfd++] = fd;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (s->o.ready_path) {
        int fd = open(s->o.ready_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dprintf(fd, "%d\n", (int)getpid());
            close(fd);
        }
    }
    slog(s, "ready: %zu listeners, %zu certificates, Maildir %s", s->nlfd, s->ncerts, s->o.maildir);
    rc = run(s);
    /* commits of connections that are gone: finish and log them */
    while (commit_pending(s->commits) > 0) {
        struct pollfd p = {commit_fd(s->commits), POLLIN, 0};
        poll(&p, 1, 100);
        collect_commits(s);
    }
    collect_commits(s);
    commit_stop(s->commits);
    slog(s, "stopped");
    md_close(&s->md);
    tls_free_all(s);
    if (s->log)
        fclose(s->log);
    if (s->keylog)
        fclose(s->keylog);
    free(dirbuf);
    return rc;
}
