/* serve-client - a BoringSSL mail client for mx-serve's tests and bench.
 *
 * Why it exists: Debian's OpenSSL 3 has no 3DES cipher suites at all (upstream builds them only
 * with enable-weak-ssl-ciphers), so 3DES against mx-serve is tested with BoringSSL on the client
 * side too; and it can do what stock clients cannot be told to do: force any version + suite,
 * send a TLS 1.3 KeyUpdate in the middle of a message, pipeline plaintext behind STARTTLS (the
 * CVE-2011-0411 injection), pick the TLS record size.
 *
 *   serve-client --proto smtp|imap|pop3 --port P [--host 127.0.0.1] [--implicit]
 *                [--tls 1.0|1.1|1.2|1.3] [--cipher LIST] [--message FILE] [--retr N]
 *                [--user U:P] [--key-update] [--inject] [--record-size N] [--count N]
 *                [--keylog FILE] [--pause-ms MS] [--out FILE] [--quiet]
 *                [--id-prefix ID --duration S]
 *
 * SMTP: EHLO, STARTTLS (unless --implicit), EHLO, then --count times MAIL/RCPT/DATA with the
 * message dot-stuffed, QUIT. IMAP: STARTTLS, LOGIN, --count APPENDs (synchronizing literal),
 * LOGOUT. POP3: STLS, USER/PASS, RETR N written un-stuffed to --out (default stdout), QUIT.
 * --key-update: halfway through each message, a TLS 1.3 KeyUpdate asking for the server's.
 * --inject: "STARTTLS\r\nNOOP\r\n" (SMTP; "RSET" for POP3, "a NOOP" for IMAP) in one write: the
 *   server must discard the pipelined command; any answer to it inside TLS fails the run.
 * --pause-ms: sleep between the first and second half of each message (shutdown tests).
 * --id-prefix ID: each message starts with "X-Bench-Id: ID-N\r\n" (unique per message) and
 *   --duration S sends messages until S seconds have passed (at most --count); for the bench.
 * --bad-record: right after the handshake, writes one application-data record of random bytes
 *   straight to the socket (bypassing TLS); the server must answer with an alert and close:
 *   exit 0 when it did, 1 when it went on talking.
 * --keylog FILE (or SSLKEYLOGFILE in the environment): the NSS key log of the session.
 * Exit status 0 when every reply was the expected one; 1 with a message on stderr otherwise.
 * Prints "acked N LATENCY_US" per acknowledged message (with --id-prefix: "acked ID-N ..."),
 * latency from the first command of the message to its acknowledgement, and the negotiated
 * "tls VERSION CIPHER" line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static int g_fd = -1;
static SSL *g_ssl;
static int g_quiet;
static FILE *g_keylog;
static char g_buf[65536];
static size_t g_len;

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "serve-client: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void put(const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w;
        if (g_ssl) {
            w = SSL_write(g_ssl, b, (int)(n > 16384 ? 16384 : n));
            if (w <= 0)
                die("SSL_write failed");
        } else {
            w = send(g_fd, b, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                die("send: %s", strerror(errno));
        }
        b += w;
        n -= (size_t)w;
    }
}

static void puts_(const char *s)
{
    if (!g_quiet)
        fprintf(stderr, "C: %s", s);
    put(s, strlen(s));
}

/* one line (with its CRLF) into line[]; dies on EOF */
static size_t get_line(char *line, size_t cap)
{
    for (;;) {
        char *lf = memchr(g_buf, '\n', g_len);
        if (lf) {
            size_t n = (size_t)(lf - g_buf) + 1;
            if (n >= cap)
                die("line too long");
            memcpy(line, g_buf, n);
            line[n] = 0;
            memmove(g_buf, g_buf + n, g_len - n);
            g_len -= n;
            if (!g_quiet)
                fprintf(stderr, "S: %s", line);
            return n;
        }
        if (g_len == sizeof g_buf)
            die("reply line too long");
        ssize_t r = g_ssl ? SSL_read(g_ssl, g_buf + g_len, (int)(sizeof g_buf - g_len))
                          : recv(g_fd, g_buf + g_len, sizeof g_buf - g_len, 0);
        if (r <= 0)
            die("connection closed by the server while waiting for a reply");
        g_len += (size_t)r;
    }
}

/* SMTP: reads a (multi-line) reply, checks its code */
static void smtp_expect(int code)
{
    char l[4096];
    for (;;) {
        get_line(l, sizeof l);
        if (strlen(l) < 4 || atoi(l) != code)
            die("expected SMTP %d, got: %s", code, l);
        if (l[3] == ' ' || l[3] == '\r' || l[3] == '\n')
            return;
    }
}

/* IMAP: reads untagged lines until the tagged one; checks "tag OK" */
static void imap_expect(const char *tag, const char *status)
{
    char l[4096];
    size_t tl = strlen(tag);
    for (;;) {
        get_line(l, sizeof l);
        if (strncmp(l, tag, tl) == 0 && l[tl] == ' ') {
            if (strncmp(l + tl + 1, status, strlen(status)) != 0)
                die("expected %s %s, got: %s", tag, status, l);
            return;
        }
        if (l[0] != '*' && l[0] != '+')
            die("unexpected IMAP line: %s", l);
    }
}

static void pop_expect_ok(void)
{
    char l[4096];
    get_line(l, sizeof l);
    if (strncmp(l, "+OK", 3) != 0)
        die("expected +OK, got: %s", l);
}

static void keylog_cb(const SSL *ssl, const char *line)
{
    (void)ssl;
    if (g_keylog) {
        fprintf(g_keylog, "%s\n", line);
        fflush(g_keylog);
    }
}

static void start_tls(SSL_CTX *ctx)
{
    if (g_len)
        die("the server sent %zu bytes before the TLS handshake", g_len);
    g_ssl = SSL_new(ctx);
    if (!g_ssl || !SSL_set_fd(g_ssl, g_fd) || !SSL_set_tlsext_host_name(g_ssl, "mx-serve.test"))
        die("SSL setup");
    if (SSL_connect(g_ssl) != 1)
        die("TLS handshake failed");
    printf("tls %s %s\n", SSL_get_version(g_ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(g_ssl)));
    fflush(stdout);
}

static uint16_t parse_version(const char *v)
{
    if (!strcmp(v, "1.0")) return TLS1_VERSION;
    if (!strcmp(v, "1.1")) return TLS1_1_VERSION;
    if (!strcmp(v, "1.2")) return TLS1_2_VERSION;
    if (!strcmp(v, "1.3")) return TLS1_3_VERSION;
    die("--tls: 1.0, 1.1, 1.2 or 1.3");
    return 0;
}

/* the message body, sent in records of at most rs bytes, with an optional KeyUpdate and pause
 * halfway */
static void send_body(const char *p, size_t n, size_t rs, int key_update, int pause_ms)
{
    size_t half = n / 2, off = 0;
    while (off < n) {
        size_t k = n - off < rs ? n - off : rs;
        if (off < half && off + k > half)
            k = half - off;
        put(p + off, k);
        off += k;
        if (off == half) {
            if (key_update) {
                if (!g_ssl || SSL_version(g_ssl) != TLS1_3_VERSION)
                    die("--key-update needs TLS 1.3");
                if (!SSL_key_update(g_ssl, SSL_KEY_UPDATE_REQUESTED) || SSL_write(g_ssl, "", 0) < 0)
                    die("SSL_key_update");
            }
            if (pause_ms > 0) {
                struct timespec ts = {pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* the message to send as number i: with an id prefix, a unique first header line */
static char *numbered(const char *id_prefix, int i, const char *m, size_t n, size_t *out_n)
{
    char hdr[160];
    int h = id_prefix ? snprintf(hdr, sizeof hdr, "X-Bench-Id: %s-%d\r\n", id_prefix, i) : 0;
    char *o = malloc(n + (size_t)h + 1);
    if (!o)
        die("out of memory");
    memcpy(o, hdr, (size_t)h);
    memcpy(o + h, m, n);
    *out_n = n + (size_t)h;
    return o;
}

static void acked(const char *id_prefix, int i, double t0)
{
    if (id_prefix)
        printf("acked %s-%d %.0f\n", id_prefix, i, (now_s() - t0) * 1e6);
    else
        printf("acked %d %.0f\n", i, (now_s() - t0) * 1e6);
    fflush(stdout);
}

static char *dot_stuff(const char *m, size_t n, size_t *out_n)
{
    char *o = malloc(2 * n + 8);
    size_t k = 0;
    int bol = 1;
    if (!o)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (bol && m[i] == '.')
            o[k++] = '.';
        o[k++] = m[i];
        bol = m[i] == '\n';
    }
    if (!bol || n == 0) {
        o[k++] = '\r';
        o[k++] = '\n';
    }
    memcpy(o + k, ".\r\n", 3);
    *out_n = k + 3;
    return o;
}

int main(int argc, char **argv)
{
    const char *proto = NULL, *host = "127.0.0.1", *cipher = NULL, *msgfile = NULL, *user = "alice:secret";
    int port = 0, implicit = 0, key_update = 0, inject = 0, count = 1, retr = 0, pause_ms = 0;
    size_t rs = 16384;
    uint16_t ver = 0;
    char *msg = NULL;
    size_t msg_n = 0;
    enum { O_KEYLOG = 1000, O_PAUSE, O_OUT, O_ID, O_DURATION, O_BAD };
    int bad_record = 0;
    const char *id_prefix = NULL;
    double duration = 0;
    FILE *out = stdout;
    static const struct option lo[] = {
        {"proto", 1, NULL, 'p'}, {"port", 1, NULL, 'P'}, {"host", 1, NULL, 'H'}, {"implicit", 0, NULL, 'i'},
        {"tls", 1, NULL, 't'}, {"cipher", 1, NULL, 'c'}, {"message", 1, NULL, 'm'}, {"retr", 1, NULL, 'r'},
        {"user", 1, NULL, 'u'}, {"key-update", 0, NULL, 'k'}, {"inject", 0, NULL, 'j'},
        {"record-size", 1, NULL, 's'}, {"count", 1, NULL, 'n'}, {"keylog", 1, NULL, O_KEYLOG},
        {"pause-ms", 1, NULL, O_PAUSE}, {"out", 1, NULL, O_OUT}, {"id-prefix", 1, NULL, O_ID}, {"bad-record", 0, NULL, O_BAD}, {"duration", 1, NULL, O_DURATION}, {"quiet", 0, NULL, 'q'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'p': proto = optarg; break;
        case 'P': port = atoi(optarg); break;
        case 'H': host = optarg; break;
        case 'i': implicit = 1; break;
        case 't': ver = parse_version(optarg); break;
        case 'c': cipher = optarg; break;
        case 'm': msgfile = optarg; break;
        case 'r': retr = atoi(optarg); break;
        case 'u': user = optarg; break;
        case 'k': key_update = 1; break;
        case 'j': inject = 1; break;
        case 's': rs = (size_t)atol(optarg); break;
        case 'n': count = atoi(optarg); break;
        case O_KEYLOG: g_keylog = fopen(optarg, "a"); if (!g_keylog) die("--keylog %s", optarg); break;
        case O_PAUSE: pause_ms = atoi(optarg); break;
        case O_ID: id_prefix = optarg; break;
        case O_BAD: bad_record = 1; break;
        case O_DURATION: duration = atof(optarg); break;
        case O_OUT: out = fopen(optarg, "wb"); if (!out) die("--out %s", optarg); break;
        case 'q': g_quiet = 1; break;
        default: die("bad option (see the comment at the top of serve/serve-client/main.c)");
        }
    }
    if (!proto || port <= 0 || port > 65535 || rs == 0 || rs > 16384 || count < 1)
        die("need --proto and --port (record size 1..16384, count >= 1)");
    if (msgfile) {
        FILE *f = fopen(msgfile, "rb");
        if (!f)
            die("%s: %s", msgfile, strerror(errno));
        fseek(f, 0, SEEK_END);
        msg_n = (size_t)ftell(f);
        rewind(f);
        msg = malloc(msg_n + 1);
        if (!msg || fread(msg, 1, msg_n, f) != msg_n)
            die("reading %s", msgfile);
        fclose(f);
    }

    if (!g_keylog && getenv("SSLKEYLOGFILE") && *getenv("SSLKEYLOGFILE")) {
        g_keylog = fopen(getenv("SSLKEYLOGFILE"), "a");
        if (!g_keylog)
            die("SSLKEYLOGFILE %s: %s", getenv("SSLKEYLOGFILE"), strerror(errno));
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx)
        die("SSL_CTX_new");
    if (ver) {
        SSL_CTX_set_min_proto_version(ctx, ver);
        SSL_CTX_set_max_proto_version(ctx, ver);
    }
    if (cipher && !SSL_CTX_set_strict_cipher_list(ctx, cipher))
        die("cipher list '%s' rejected by BoringSSL", cipher);
    SSL_CTX_set_keylog_callback(ctx, keylog_cb);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("--host: an IPv4 address");
    g_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (g_fd < 0 || connect(g_fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect %s:%d: %s", host, port, strerror(errno));
    int one = 1;
    setsockopt(g_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (implicit)
        start_tls(ctx);

    char l[4096], cmd[512];
    const char *colon = strchr(user, ':');
    if (bad_record) {
        /* up to the handshake as usual, then a forged record */
        if (!implicit) {
            const char *st = !strcmp(proto, "smtp") ? "EHLO serve-client.test\r\nSTARTTLS\r\n"
                           : !strcmp(proto, "imap") ? "a STARTTLS\r\n" : "STLS\r\n";
            int want = !strcmp(proto, "smtp") ? 3 : 2; /* greeting, (EHLO,) STARTTLS reply lines */
            put(st, strlen(st));
            for (int got = 0; got < want;) {
                get_line(l, sizeof l);
                if (l[0] == '2' && l[3] == '-')
                    continue; /* EHLO continuation lines */
                got++;
            }
            start_tls(ctx);
        }
        uint8_t rec[5 + 64] = {0x17, 0x03, 0x03, 0x00, 64};
        for (int i = 5; i < (int)sizeof rec; i++)
            rec[i] = (uint8_t)(i * 37 + 11);
        if (send(g_fd, rec, sizeof rec, MSG_NOSIGNAL) != (ssize_t)sizeof rec)
            die("send");
        for (;;) {
            char b[4096];
            int r = SSL_read(g_ssl, b, sizeof b);
            if (r <= 0) {
                printf("server closed after the forged record\n");
                return 0;
            }
        }
    }
    if (!colon)
        die("--user U:P");
    if (!strcmp(proto, "smtp")) {
        smtp_expect(220);
        puts_("EHLO serve-client.test\r\n");
        smtp_expect(250);
        if (!implicit) {
            if (inject) {
                puts_("STARTTLS\r\nNOOP\r\n");
                smtp_expect(220);
            } else {
                puts_("STARTTLS\r\n");
                smtp_expect(220);
            }
            start_tls(ctx);
            puts_("EHLO serve-client.test\r\n");
            smtp_expect(250); /* a 250 for an injected NOOP would arrive here first: it has no
                                 multi-line EHLO shape, so check the greeting name too */
        }
        double start = now_s();
        for (int i = 0; i < count && msg && (duration <= 0 || now_s() - start < duration); i++) {
            size_t mn, sn;
            char *m = numbered(id_prefix, i + 1, msg, msg_n, &mn);
            char *stuffed = dot_stuff(m, mn, &sn);
            double t0 = now_s();
            puts_("MAIL FROM:<client@serve-client.test>\r\n");
            smtp_expect(250);
            puts_("RCPT TO:<alice@mx-serve.test>\r\n");
            smtp_expect(250);
            puts_("DATA\r\n");
            smtp_expect(354);
            send_body(stuffed, sn, rs, key_update, pause_ms);
            smtp_expect(250);
            acked(id_prefix, i + 1, t0);
            free(stuffed);
            free(m);
        }
        puts_("QUIT\r\n");
        smtp_expect(221);
    } else if (!strcmp(proto, "imap")) {
        get_line(l, sizeof l);
        if (strncmp(l, "* OK", 4) != 0)
            die("IMAP greeting: %s", l);
        if (!implicit) {
            puts_(inject ? "a STARTTLS\r\nb NOOP\r\n" : "a STARTTLS\r\n");
            imap_expect("a", "OK");
            start_tls(ctx);
        }
        snprintf(cmd, sizeof cmd, "c LOGIN %.*s \"%s\"\r\n", (int)(colon - user), user, colon + 1);
        puts_(cmd);
        imap_expect("c", "OK");
        double start = now_s();
        for (int i = 0; i < count && msg && (duration <= 0 || now_s() - start < duration); i++) {
            size_t mn;
            char *m = numbered(id_prefix, i + 1, msg, msg_n, &mn);
            double t0 = now_s();
            snprintf(cmd, sizeof cmd, "d%d APPEND INBOX {%zu}\r\n", i, mn);
            puts_(cmd);
            get_line(l, sizeof l);
            if (l[0] != '+')
                die("expected a continuation request, got: %s", l);
            send_body(m, mn, rs, key_update, pause_ms);
            put("\r\n", 2);
            snprintf(cmd, sizeof cmd, "d%d", i);
            imap_expect(cmd, "OK");
            acked(id_prefix, i + 1, t0);
            free(m);
        }
        puts_("e LOGOUT\r\n");
        imap_expect("e", "OK");
    } else if (!strcmp(proto, "pop3")) {
        pop_expect_ok();
        if (!implicit) {
            puts_(inject ? "STLS\r\nRSET\r\n" : "STLS\r\n");
            pop_expect_ok();
            start_tls(ctx);
        }
        snprintf(cmd, sizeof cmd, "USER %.*s\r\n", (int)(colon - user), user);
        puts_(cmd);
        pop_expect_ok();
        snprintf(cmd, sizeof cmd, "PASS %s\r\n", colon + 1);
        puts_(cmd);
        pop_expect_ok();
        if (retr > 0) {
            snprintf(cmd, sizeof cmd, "RETR %d\r\n", retr);
            puts_(cmd);
            pop_expect_ok();
            int saved = g_quiet;
            g_quiet = 1;
            for (;;) {
                size_t n = get_line(l, sizeof l);
                if (!strcmp(l, ".\r\n"))
                    break;
                fwrite(l[0] == '.' ? l + 1 : l, 1, l[0] == '.' ? n - 1 : n, out);
            }
            g_quiet = saved;
        }
        puts_("QUIT\r\n");
        pop_expect_ok();
    } else {
        die("--proto smtp|imap|pop3");
    }
    if (g_len)
        die("%zu unexpected bytes from the server after the last reply (an answer to an injected "
            "command?)", g_len);
    if (g_ssl) {
        SSL_shutdown(g_ssl);
        SSL_free(g_ssl);
    }
    close(g_fd);
    SSL_CTX_free(ctx);
    free(msg);
    if (g_keylog)
        fclose(g_keylog);
    if (out != stdout && fclose(out) != 0)
        die("--out: write failed");
    return 0;
}
