/* proto_imap.c - IMAP: before authentication libmx's pre-auth machine (mx/machine.h, MX_APP_IMAP)
 * answers CAPABILITY, STARTTLS, LOGIN, LOGOUT, NOOP; after LOGIN libmx's command reader
 * (mx/imap.h) parses every command -- literals, APPEND, continuation requests -- and this
 * module executes the few an APPEND client needs: APPEND (literal octets streamed from the
 * reader's sink into a Maildir tmp/ file, committed before the tagged OK), CAPABILITY, NOOP,
 * CHECK, SELECT/EXAMINE, LIST, LOGOUT. Everything else gets a tagged BAD.
 *
 * The login check: the machine tracks authentication but checks no credentials, so when a
 * LOGIN step authenticates, mx-serve re-reads that command line (still in the machine's line
 * buffer) with libmx's command reader, compares the two arguments with the configured test
 * login, and on a mismatch answers NO and closes (the machine has no way back to the
 * not-authenticated state).
 *
 * MULTIAPPEND: up to IMAP_MULTI messages per APPEND; each literal is written and kept open
 * until the command's CRLF, then all are committed as one job on the commit threads
 * (commit.h), then the tagged OK is sent (or NO, and none is kept).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mx/imap.h"
#include "mx/machine.h"

#include "serve.h"

#define IMAP_MULTI COMMIT_MAX
#define IMAP_TAG_MAX 128

struct imap_sess {
    struct mx_machine m;
    uint8_t line[SERVE_LINE_MAX];
    struct mx_imap r;
    int authed;
    struct conn *c;
    /* the command being read */
    char tag[IMAP_TAG_MAX + 1];
    char name[32];
    char mailbox[256];
    int nargs;
    int refused;      /* APPEND refused: the rest of its literals is dropped */
    int in_message;   /* msg receives the sink's octets */
    struct md_msg msg;
    struct md_msg done[IMAP_MULTI];
    int ndone;
};

static void imap_sink(void *ctx, const uint8_t *p, size_t n)
{
    struct imap_sess *s = ctx;
    if (s->in_message && !s->refused)
        md_write(&s->msg, p, n);
}

static int imap_open(struct conn *c, const struct mx_conn_cfg *cfg)
{
    struct imap_sess *s = calloc(1, sizeof *s);
    struct mx_imap_config rc;
    if (!s)
        return -1;
    s->c = c;
    md_msg_init(&s->msg);
    for (int i = 0; i < IMAP_MULTI; i++)
        md_msg_init(&s->done[i]);
    memset(&rc, 0, sizeof rc);
    rc.max_line = SERVE_IMAP_LINE;
    rc.max_literal = cfg->max_message;
    rc.flags = MX_IMAP_LITERAL_PLUS;
    rc.sink = imap_sink;
    rc.sink_ctx = s;
    if (mx_machine_init(&s->m, MX_APP_IMAP, cfg, s->line, sizeof s->line) != 0 || mx_imap_init(&s->r, &rc) != 0) {
        free(s);
        return -1;
    }
    c->proto_state = s;
    return 0;
}

static void drop_messages(struct conn *c, struct imap_sess *s)
{
    md_abort(&c->srv->md, &s->msg);
    for (int i = 0; i < s->ndone; i++)
        md_abort(&c->srv->md, &s->done[i]);
    s->ndone = 0;
    s->in_message = 0;
}

static void tagged(struct conn *c, struct imap_sess *s, const char *rest)
{
    char l[512];
    snprintf(l, sizeof l, "%s %s\r\n", s->tag, rest);
    conn_sends(c, l);
}

/* The LOGIN line that the machine just accepted: its two arguments against the test login. */
static int check_login(struct conn *c, struct imap_sess *s, size_t line_n)
{
    struct mx_chain ch;
    struct mx_imap_event ev;
    size_t n = line_n ? line_n - 1 : 0;
    int nargs = 0, ok = 0, done = 0;
    uint8_t user[256], pass[256];
    size_t ul = 0, pl = 0;
    if (n > 0 && s->line[n - 1] == '\r')
        n--;
    mx_chain_init(&ch, 0, NULL);
    mx_imap_reset(&s->r);
    s->tag[0] = 0;
    if (mx_chain_append(&ch, s->line, n) == MX_CHAIN_OK && mx_chain_append(&ch, "\r\n", 2) == MX_CHAIN_OK) {
        for (int guard = 0; guard < 16 && !done; guard++) {
            switch (mx_imap_next(&s->r, &ch, &ev)) {
            case MX_IMAP_COMMAND_START:
                snprintf(s->tag, sizeof s->tag, "%.*s", (int)ev.tag_len, (const char *)ev.tag);
                break;
            case MX_IMAP_ARG:
                if (nargs == 0 && ev.len < sizeof user)
                    memcpy(user, ev.data, ul = ev.len);
                if (nargs == 1 && ev.len < sizeof pass)
                    memcpy(pass, ev.data, pl = ev.len);
                nargs++;
                break;
            case MX_IMAP_COMMAND_END:
                ok = nargs == 2 && serve_check_login(c->srv, user, ul, pass, pl);
                done = 1;
                break;
            default:
                done = 1;
                break;
            }
        }
    }
    mx_chain_release(&ch);
    mx_imap_reset(&s->r);
    clog_(c, "IMAP LOGIN %.*s: %s", (int)ul, (const char *)user, ok ? "ok" : "invalid credentials");
    return ok;
}

static void capability(struct conn *c, struct imap_sess *s)
{
    conn_sends(c, "* CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND\r\n");
    tagged(c, s, "OK CAPABILITY completed");
}

static void execute(struct conn *c, struct imap_sess *s)
{
    const char *n = s->name;
    if (strcasecmp(n, "APPEND") == 0) {
        struct commit_job *j;
        if (s->refused || s->ndone == 0) {
            drop_messages(c, s);
            tagged(c, s, s->refused ? "NO [TRYCREATE] APPEND refused" : "BAD APPEND without a message");
            return;
        }
        j = calloc(1, sizeof *j);
        if (!j) {
            drop_messages(c, s);
            tagged(c, s, "NO [SERVERBUG] out of memory");
            return;
        }
        /* the tagged OK goes out when every message is in new/ (imap_committed) */
        j->n = s->ndone;
        for (int i = 0; i < s->ndone; i++) {
            j->msgs[i] = s->done[i];
            md_msg_init(&s->done[i]);
        }
        s->ndone = 0;
        conn_commit(c, j);
    } else if (strcasecmp(n, "CAPABILITY") == 0) {
        capability(c, s);
    } else if (strcasecmp(n, "NOOP") == 0 || strcasecmp(n, "CHECK") == 0) {
        tagged(c, s, "OK completed");
    } else if (strcasecmp(n, "LOGOUT") == 0) {
        conn_sends(c, "* BYE mx-serve logging out\r\n");
        tagged(c, s, "OK LOGOUT completed");
        conn_close_after_flush(c, "client logged out");
    } else if (strcasecmp(n, "SELECT") == 0 || strcasecmp(n, "EXAMINE") == 0) {
        static struct md_entry e[1024];
        char l[200];
        int k;
        if (strcasecmp(s->mailbox, "INBOX") != 0) {
            tagged(c, s, "NO mx-serve has only INBOX");
            return;
        }
        k = md_list(&c->srv->md, e, 1024);
        snprintf(l, sizeof l, "* %d EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n"
                              "* OK [UIDVALIDITY 1] UIDs valid\r\n", k < 0 ? 0 : k);
        conn_sends(c, l);
        tagged(c, s, strcasecmp(n, "SELECT") == 0 ? "OK [READ-WRITE] SELECT completed"
                                                  : "OK [READ-ONLY] EXAMINE completed");
    } else if (strcasecmp(n, "LIST") == 0) {
        conn_sends(c, "* LIST (\\HasNoChildren) \"/\" INBOX\r\n");
        tagged(c, s, "OK LIST completed");
    } else if (strcasecmp(n, "LOGIN") == 0 || strcasecmp(n, "AUTHENTICATE") == 0 ||
               strcasecmp(n, "STARTTLS") == 0) {
        tagged(c, s, "BAD already authenticated");
    } else {
        tagged(c, s, "BAD command not implemented by mx-serve");
    }
}

static void imap_committed(struct conn *c, const struct commit_job *j)
{
    struct imap_sess *s = c->proto_state;
    char l[200], hex[65];
    int failed = 0;
    for (int i = 0; i < j->n; i++)
        failed |= !j->ok[i];
    for (int i = 0; i < j->n; i++) {
        if (!j->ok[i])
            continue;
        if (failed) {
            /* MULTIAPPEND is all or nothing (RFC 3502): take back the ones that made it */
            char path[4400];
            snprintf(path, sizeof path, "%s/new/%s", c->srv->md.root, j->msgs[i].name);
            unlink(path);
            continue;
        }
        md_hex(&j->msgs[i], hex);
        c->messages++;
        clog_(c, "message stored: new/%s size=%llu sha256=%s", j->msgs[i].name,
              (unsigned long long)j->msgs[i].size, hex);
    }
    if (failed) {
        clog_(c, "APPEND: Maildir write failed");
        tagged(c, s, "NO [SERVERBUG] APPEND failed: could not store the message");
        return;
    }
    if (j->n > 1)
        snprintf(l, sizeof l, "OK [APPENDUID 1 %lu:%lu] APPEND completed", j->msgs[0].seq, j->msgs[j->n - 1].seq);
    else
        snprintf(l, sizeof l, "OK [APPENDUID 1 %lu] APPEND completed", j->msgs[0].seq);
    tagged(c, s, l);
}

static void authed_drive(struct conn *c, struct imap_sess *s)
{
    struct mx_imap_event ev;
    while (!c->dead && !c->closing && !c->commit_wait && conn_may_step(c)) {
        enum mx_imap_ev t = mx_imap_next(&s->r, &c->plain, &ev);
        switch (t) {
        case MX_IMAP_NEED_MORE:
            return;
        case MX_IMAP_COMMAND_START:
            drop_messages(c, s);
            snprintf(s->tag, sizeof s->tag, "%.*s", (int)ev.tag_len, (const char *)ev.tag);
            snprintf(s->name, sizeof s->name, "%.*s", (int)ev.name_len, (const char *)ev.name);
            s->mailbox[0] = 0;
            s->nargs = 0;
            s->refused = 0;
            break;
        case MX_IMAP_ARG:
            if (s->nargs++ == 0)
                snprintf(s->mailbox, sizeof s->mailbox, "%.*s", (int)ev.len, (const char *)ev.data);
            break;
        case MX_IMAP_NEED_CONTINUATION:
        case MX_IMAP_LITERAL_START:
            if (ev.literal.role == MX_IMAP_LIT_MESSAGE) {
                const char *why = NULL;
                if (strcasecmp(s->mailbox, "INBOX") != 0)
                    why = "NO [TRYCREATE] mx-serve has only INBOX";
                else if (s->ndone >= IMAP_MULTI)
                    why = "NO [LIMIT] too many messages in one APPEND";
                else if (md_begin(&c->srv->md, &s->msg) != 0)
                    why = "NO [SERVERBUG] cannot create the message file";
                if (why) {
                    s->refused = 1;
                    if (t == MX_IMAP_NEED_CONTINUATION) {
                        /* no "+": the client sends no octets; the command ends here */
                        drop_messages(c, s);
                        tagged(c, s, why);
                        mx_imap_reset(&s->r);
                        break;
                    }
                } else {
                    s->in_message = 1;
                }
            }
            if (t == MX_IMAP_NEED_CONTINUATION)
                conn_sends(c, "+ Ready for literal data\r\n");
            break;
        case MX_IMAP_LITERAL_END:
            if (s->in_message) {
                s->done[s->ndone++] = s->msg;
                md_msg_init(&s->msg);
                s->in_message = 0;
            }
            break;
        case MX_IMAP_COMMAND_END:
            execute(c, s);
            break;
        case MX_IMAP_RESPONSE: {
            char l[512];
            size_t k = mx_imap_format_response(&ev, l, sizeof l);
            drop_messages(c, s);
            if (k >= sizeof l) {
                k = sizeof l - 1;
                l[k - 2] = '\r', l[k - 1] = '\n';
            }
            conn_send(c, l, k);
            break;
        }
        default:
            break;
        }
    }
}

static void imap_drive(struct conn *c)
{
    struct imap_sess *s = c->proto_state;
    struct mx_step st;
    while (!s->authed && !c->dead && !c->closing && c->tls != CONN_TLS_HANDSHAKE && conn_may_step(c)) {
        int was = mx_machine_auth(&s->m) == MX_AUTH_DONE;
        int act = mx_machine_step(&s->m, &c->plain, &st);
        if (act == MX_ACT_NEED_INPUT)
            return;
        if (!was && mx_machine_auth(&s->m) == MX_AUTH_DONE) {
            if (!check_login(c, s, st.line_n)) {
                tagged(c, s, "NO [AUTHENTICATIONFAILED] invalid user name or password");
                conn_sends(c, "* BYE mx-serve: one login attempt per connection\r\n");
                conn_close_after_flush(c, "login failed");
                return;
            }
            s->authed = 1;
        }
        conn_act(c, &st);
    }
    if (s->authed && c->tls != CONN_TLS_HANDSHAKE)
        authed_drive(c, s);
}

static void imap_tls_started(struct conn *c)
{
    struct imap_sess *s = c->proto_state;
    mx_machine_tls_started(&s->m, &c->plain);
}

static int imap_busy(const struct conn *c)
{
    const struct imap_sess *s = c->proto_state;
    return s->in_message || s->ndone > 0;
}

static void imap_farewell(struct conn *c, const char *why)
{
    char l[160];
    if (c->tls == CONN_TLS_HANDSHAKE || (c->l->mode == MX_LISTEN_IMPLICIT && c->tls != CONN_TLS_ON))
        return;
    snprintf(l, sizeof l, "* BYE mx-serve: %s\r\n", why);
    conn_sends(c, l);
}

static void imap_abort(struct conn *c)
{
    drop_messages(c, c->proto_state);
}

static void imap_close(struct conn *c)
{
    struct imap_sess *s = c->proto_state;
    drop_messages(c, s);
    mx_imap_release(&s->r);
    free(s);
    c->proto_state = NULL;
}

const struct proto_ops imap_ops = {"imap", imap_open, imap_drive, imap_tls_started, imap_busy,
                                   imap_farewell, imap_abort, imap_committed, imap_close};
