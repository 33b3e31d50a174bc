/* proto_pop3.c - POP3: libmx's machine (mx/machine.h, MX_APP_POP3) runs the AUTHORIZATION state (CAPA, STLS,
 * USER, PASS, QUIT, the STLS purge, the ClientHello-on-a-plaintext-port diagnostic). It tracks
 * USER/PASS and AUTH PLAIN asking mx-serve about the credentials (mx_conn_cfg.check, auth.c: a
 * refusal is the machine's -ERR [AUTH], the client may try again up to --auth-failures times).
 * The machine has no maildrop, so mx-serve:
 *   - in TRANSACTION state frames lines with libmx's line framer (mx_liner) and matches verbs
 *     with mx_word_is, and executes the maildrop commands the machine does not have: STAT,
 *     LIST, UIDL, RETR, TOP, DELE, NOOP, RSET, QUIT (UPDATE: deletes what DELE marked), CAPA.
 * The maildrop is the Maildir's new/ + cur/, listed once at login (POP3's snapshot),
 * at most POP3_MAX_MSGS messages. RETR byte-stuffs lines that start with "." (RFC 1939).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mx/machine.h"

#include "serve.h"

#define POP3_MAX_MSGS 1024

struct pop3_sess {
    struct mx_machine m;
    uint8_t line[SERVE_LINE_MAX];
    int trans;
    struct mx_liner liner;
    uint8_t tline[SERVE_LINE_MAX];
    struct md_entry *e;
    int ne;
};

static int pop3_open(struct conn *c, const struct mx_conn_cfg *cfg)
{
    struct pop3_sess *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    if (conn_machine_init(c, &s->m, MX_APP_POP3, cfg, s->line, sizeof s->line) != 0) {
        free(s);
        return -1;
    }
    c->proto_state = s;
    return 0;
}

/* a message number argument: 1..ne, not deleted; else 0 */
static int msgno(struct pop3_sess *s, const uint8_t *line, size_t n, size_t verb, int *present)
{
    size_t i = verb;
    long v = 0;
    while (i < n && line[i] == ' ')
        i++;
    *present = i < n;
    if (i == n || line[i] < '0' || line[i] > '9')
        return 0;
    for (; i < n && line[i] >= '0' && line[i] <= '9'; i++) {
        v = v * 10 + (line[i] - '0');
        if (v > POP3_MAX_MSGS)
            return 0;
    }
    while (i < n && line[i] == ' ')
        i++;
    if (i != n || v < 1 || v > s->ne || s->e[v - 1].deleted)
        return 0;
    return (int)v;
}

static const char *uidl_of(const struct md_entry *e, char *buf, size_t n)
{
    const char *name = e->path + 4; /* after "new/" or "cur/" */
    size_t k = strcspn(name, ",:");
    snprintf(buf, n, "%.*s", (int)(k > 70 ? 70 : k), name);
    return buf;
}

/* RETR (top < 0), or TOP k top (RFC 1939 7: the header, the blank line, then top lines of the
 * body); lines starting with "." are byte-stuffed */
static void retr(struct conn *c, struct pop3_sess *s, int k, long top)
{
    char path[4400], l[64];
    uint8_t buf[16384], out[2 * 16384 + 8];
    int fd, bol = 1, in_body = 0, stop = 0;
    long body_lines = 0;
    uint32_t last = 0;
    ssize_t r;
    snprintf(path, sizeof path, "%s/%s", c->srv->md.root, s->e[k - 1].path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        conn_sends(c, "-ERR message vanished from the Maildir\r\n");
        return;
    }
    if (top < 0)
        snprintf(l, sizeof l, "+OK %llu octets\r\n", (unsigned long long)s->e[k - 1].size);
    else
        snprintf(l, sizeof l, "+OK top of message follows\r\n");
    conn_sends(c, l);
    while (!stop && ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))) {
        size_t o = 0;
        for (ssize_t i = 0; i < r; i++) {
            if (top >= 0 && bol && last == 0x0d0a0d0aU)
                in_body = 2; /* the blank line after the header has been sent */
            if (top >= 0 && bol && in_body == 2 && body_lines++ >= top) {
                stop = 1;
                break;
            }
            if (bol && buf[i] == '.')
                out[o++] = '.';
            out[o++] = buf[i];
            last = (last << 8) | buf[i];
            bol = buf[i] == '\n';
        }
        conn_send(c, out, o);
    }
    close(fd);
    conn_sends(c, bol ? ".\r\n" : "\r\n.\r\n");
    clog_(c, "POP3 RETR %d: %s (%llu bytes)", k, s->e[k - 1].path, (unsigned long long)s->e[k - 1].size);
}

static void transaction(struct conn *c, struct pop3_sess *s, const uint8_t *line, size_t n)
{
    char l[200], u[80];
    int present, k;
    if (mx_word_is(line, n, "STAT")) {
        unsigned long long total = 0;
        int count = 0;
        for (int i = 0; i < s->ne; i++)
            if (!s->e[i].deleted)
                count++, total += s->e[i].size;
        snprintf(l, sizeof l, "+OK %d %llu\r\n", count, total);
        conn_sends(c, l);
    } else if (mx_word_is(line, n, "LIST") || mx_word_is(line, n, "UIDL")) {
        int uidl = mx_word_is(line, n, "UIDL");
        k = msgno(s, line, n, 4, &present);
        if (present && !k) {
            conn_sends(c, "-ERR no such message\r\n");
        } else if (present) {
            if (uidl)
                snprintf(l, sizeof l, "+OK %d %s\r\n", k, uidl_of(&s->e[k - 1], u, sizeof u));
            else
                snprintf(l, sizeof l, "+OK %d %llu\r\n", k, (unsigned long long)s->e[k - 1].size);
            conn_sends(c, l);
        } else {
            conn_sends(c, "+OK listing follows\r\n");
            for (int i = 0; i < s->ne; i++) {
                if (s->e[i].deleted)
                    continue;
                if (uidl)
                    snprintf(l, sizeof l, "%d %s\r\n", i + 1, uidl_of(&s->e[i], u, sizeof u));
                else
                    snprintf(l, sizeof l, "%d %llu\r\n", i + 1, (unsigned long long)s->e[i].size);
                conn_sends(c, l);
            }
            conn_sends(c, ".\r\n");
        }
    } else if (mx_word_is(line, n, "RETR")) {
        k = msgno(s, line, n, 4, &present);
        if (!k)
            conn_sends(c, "-ERR no such message\r\n");
        else
            retr(c, s, k, -1);
    } else if (mx_word_is(line, n, "TOP")) {
        /* TOP msg n: "TOP" SP msg SP n, both numbers required (RFC 1939 7) */
        size_t i = 3, j;
        long lines = 0;
        while (i < n && line[i] == ' ')
            i++;
        j = i;
        while (j < n && line[j] >= '0' && line[j] <= '9')
            j++;
        k = j > i ? msgno(s, line, j, 3, &present) : 0;
        while (j < n && line[j] == ' ')
            j++;
        if (!k || j == n) {
            conn_sends(c, k ? "-ERR TOP needs a message number and a line count\r\n" : "-ERR no such message\r\n");
        } else {
            for (; j < n && line[j] >= '0' && line[j] <= '9' && lines < 1000000000L; j++)
                lines = lines * 10 + (line[j] - '0');
            if (j != n)
                conn_sends(c, "-ERR TOP needs a message number and a line count\r\n");
            else
                retr(c, s, k, lines);
        }
    } else if (mx_word_is(line, n, "DELE")) {
        k = msgno(s, line, n, 4, &present);
        if (!k) {
            conn_sends(c, "-ERR no such message\r\n");
        } else {
            s->e[k - 1].deleted = 1;
            conn_sends(c, "+OK marked for deletion\r\n");
        }
    } else if (mx_word_is(line, n, "RSET")) {
        for (int i = 0; i < s->ne; i++)
            s->e[i].deleted = 0;
        conn_sends(c, "+OK\r\n");
    } else if (mx_word_is(line, n, "NOOP")) {
        conn_sends(c, "+OK\r\n");
    } else if (mx_word_is(line, n, "CAPA")) {
        conn_sends(c, "+OK Capability list follows\r\nPIPELINING\r\nUIDL\r\nTOP\r\n.\r\n");
    } else if (mx_word_is(line, n, "QUIT")) {
        int gone = 0;
        for (int i = 0; i < s->ne; i++) {
            char path[4400];
            if (!s->e[i].deleted)
                continue;
            snprintf(path, sizeof path, "%s/%s", c->srv->md.root, s->e[i].path);
            gone += unlink(path) == 0;
        }
        if (gone)
            clog_(c, "POP3 UPDATE: %d messages deleted", gone);
        conn_sends(c, "+OK mx-serve POP3 signing off\r\n");
        conn_close_after_flush(c, "client quit");
    } else {
        conn_sends(c, "-ERR unknown command\r\n");
    }
}

static void pop3_drive(struct conn *c)
{
    struct pop3_sess *s = c->proto_state;
    struct mx_step st;
    while (!s->trans && !c->dead && !c->closing && c->tls != CONN_TLS_HANDSHAKE && conn_may_step(c)) {
        enum mx_auth was = mx_machine_auth(&s->m);
        int act = mx_machine_step(&s->m, &c->plain, &st);
        if (act == MX_ACT_NEED_INPUT)
            return;
        /* USER+PASS or AUTH PLAIN accepted: cfg.check (auth.c) already said yes */
        if (was != MX_AUTH_DONE && mx_machine_auth(&s->m) == MX_AUTH_DONE) {
            s->e = calloc(POP3_MAX_MSGS, sizeof *s->e);
            s->ne = s->e ? md_list(&c->srv->md, s->e, POP3_MAX_MSGS) : -1;
            if (s->ne < 0) {
                conn_sends(c, "-ERR [SYS/TEMP] cannot open the maildrop\r\n");
                conn_close_after_flush(c, "maildrop unavailable");
                return;
            }
            s->trans = 1;
            mx_liner_init(&s->liner, s->tline, sizeof s->tline);
        }
        conn_act(c, &st);
    }
    while (s->trans && !c->dead && !c->closing && conn_may_step(c)) {
        size_t n, used;
        int r = mx_liner_next(&s->liner, &c->plain, &n, &used);
        if (r == MX_LINE_NEED)
            return;
        if (r == MX_LINE_TOOLONG)
            conn_sends(c, "-ERR line too long\r\n");
        else
            transaction(c, s, s->tline, n);
    }
}

static void pop3_tls_started(struct conn *c)
{
    struct pop3_sess *s = c->proto_state;
    mx_machine_tls_started(&s->m, &c->plain);
}

static int pop3_busy(const struct conn *c)
{
    (void)c;
    return 0;
}

static void pop3_farewell(struct conn *c, const char *why)
{
    char l[160];
    if (c->tls == CONN_TLS_HANDSHAKE || (c->l->mode == MX_LISTEN_IMPLICIT && c->tls != CONN_TLS_ON))
        return;
    snprintf(l, sizeof l, "-ERR mx-serve: %s\r\n", why);
    conn_sends(c, l);
}

static void pop3_abort(struct conn *c)
{
    (void)c;
}

static void pop3_close(struct conn *c)
{
    struct pop3_sess *s = c->proto_state;
    free(s->e);
    free(s);
    c->proto_state = NULL;
}

static void pop3_committed(struct conn *c, const struct commit_job *j)
{
    (void)c, (void)j; /* POP3 stores nothing */
}

const struct proto_ops pop3_ops = {"pop3", pop3_open, pop3_drive, pop3_tls_started, pop3_busy,
                                   pop3_farewell, pop3_abort, pop3_committed, pop3_close};
