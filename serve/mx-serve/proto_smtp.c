/* proto_smtp.c - SMTP: libmx's machine (mx/machine.h, MX_APP_SMTP) decides everything; this module stores
 * what it delivers. A message is opened when the machine enters its DATA phase (the 354
 * reply), receives every MX_ACT_DATA piece, and is committed to the Maildir when the machine
 * leaves DATA with a 250 -- on the commit threads (commit.h), and the 250 is sent only when
 * the commit is done, so an acknowledged message is on disk. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx/machine.h"

#include "serve.h"

struct smtp_sess {
    struct mx_machine m;
    struct md_msg msg;
    struct mx_step pend; /* the 250 that waits for the commit */
    uint8_t line[SERVE_LINE_MAX];
};

static int smtp_open(struct conn *c, const struct mx_conn_cfg *cfg)
{
    struct smtp_sess *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    md_msg_init(&s->msg);
    if (conn_machine_init(c, &s->m, MX_APP_SMTP, cfg, s->line, sizeof s->line) != 0) {
        free(s);
        return -1;
    }
    c->proto_state = s;
    return 0;
}

static void smtp_drive(struct conn *c)
{
    struct smtp_sess *s = c->proto_state;
    struct mx_step st;
    while (!c->dead && !c->closing && c->tls != CONN_TLS_HANDSHAKE && conn_may_step(c)) {
        int before = mx_machine_in_body(&s->m);
        int act = mx_machine_step(&s->m, &c->plain, &st);
        if (act == MX_ACT_NEED_INPUT)
            return;
        if (act == MX_ACT_DATA) {
            md_write(&s->msg, st.data, st.data_n);
            continue;
        }
        if (!before && mx_machine_in_body(&s->m)) {
            if (md_begin(&c->srv->md, NULL, &s->msg) != 0)
                clog_(c, "cannot create a file in the Maildir's tmp/: the message will be refused");
        } else if (before && !mx_machine_in_body(&s->m)) {
            if (st.reply_n >= 3 && memcmp(st.reply, "250", 3) == 0) {
                struct commit_job *j = s->msg.fd >= 0 ? calloc(1, sizeof *j) : NULL;
                if (j) {
                    /* the 250 goes out when the message is in new/ (smtp_committed) */
                    j->n = 1;
                    j->msgs[0] = s->msg;
                    md_msg_init(&s->msg);
                    s->pend = st;
                    conn_commit(c, j);
                    return;
                }
                md_abort(&c->srv->md, &s->msg);
                clog_(c, "message NOT stored (Maildir write failed): 451 sent");
                st.reply_n = 0;
                mx_step_puts(&st, "451 4.3.0 Error: could not store the message\r\n");
            } else {
                md_abort(&c->srv->md, &s->msg);
                clog_(c, "message refused by the machine: %.*s", (int)(st.reply_n > 2 ? st.reply_n - 2 : 0),
                      (const char *)st.reply);
            }
        }
        conn_act(c, &st);
    }
}

static void smtp_committed(struct conn *c, const struct commit_job *j)
{
    struct smtp_sess *s = c->proto_state;
    if (j->ok[0]) {
        char hex[65];
        md_hex(&j->msgs[0], hex);
        c->messages++;
        clog_(c, "message stored: new/%s size=%llu sha256=%s", j->msgs[0].name,
              (unsigned long long)j->msgs[0].size, hex);
        imap_mailbox_changed(c->srv, NULL);
    } else {
        clog_(c, "message NOT stored (Maildir write failed): 451 sent");
        s->pend.reply_n = 0;
        mx_step_puts(&s->pend, "451 4.3.0 Error: could not store the message\r\n");
    }
    conn_act(c, &s->pend);
}

static void smtp_tls_started(struct conn *c)
{
    struct smtp_sess *s = c->proto_state;
    mx_machine_tls_started(&s->m, &c->plain);
}

static int smtp_busy(const struct conn *c)
{
    const struct smtp_sess *s = c->proto_state;
    return mx_machine_in_body(&s->m);
}

static void smtp_farewell(struct conn *c, const char *why)
{
    char l[160];
    if (c->tls == CONN_TLS_HANDSHAKE || (c->l->mode == MX_LISTEN_IMPLICIT && c->tls != CONN_TLS_ON))
        return;
    snprintf(l, sizeof l, "421 4.3.2 %s: %s, closing connection\r\n", c->srv->o.hostname, why);
    conn_sends(c, l);
}

static void smtp_abort(struct conn *c)
{
    struct smtp_sess *s = c->proto_state;
    md_abort(&c->srv->md, &s->msg);
}

static void smtp_close(struct conn *c)
{
    smtp_abort(c);
    free(c->proto_state);
    c->proto_state = NULL;
}

const struct proto_ops smtp_ops = {"smtp", smtp_open, smtp_drive, smtp_tls_started, smtp_busy,
                                   smtp_farewell, smtp_abort, smtp_committed, smtp_close};
