/* starttls_run.c - the starttls target's run engine (see starttls_run.h): drives the machine
 * under test read by read, runs the model (starttls_model.h) on the same reads, and compares. */
#include "starttls_run.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "fail.h"
#include "mx/chain.h"
#include "mx/machine.h"
#include "mx/protocol.h"
#include "sampled.h"
#include "starttls_model.h"

/* the model of each protocol, by enum fz_proto */
static const struct starttls_proto *const protos[3] = {&starttls_smtp, &starttls_imap, &starttls_pop3};

/* ---------------------------------------------------------------- the machine under test
 * libmx's engine (mx/machine.h), whichever the protocol: the only code that drives it. */
struct run {
    int proto;
    struct mx_machine mc; /* libmx's engine, whichever the protocol */
    struct mx_chain chain;
    uint64_t appended;
    struct fz_buf transcript;
    struct fz_buf msg; /* message bytes delivered since DATA */
    int awaiting_tls; /* the machine asked for a handshake */
    int closed;
    struct starttls_model m;
    int check; /* run the model */
    size_t cut; /* 0, or 1 + the transcript length before a close that depends on how the
                 * reads were cut (STARTTLS with plaintext and TLS records behind it) */
    struct fz_buf *echo; /* starttls_replies: the session as answered (NULL: not asked for) */
};

static void mc_init(struct run *r, const struct fz_session *s, struct mx_conn_cfg *cfg,
                    uint8_t *linebuf)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = (int)s->mode; /* same numbering as enum mx_listen_mode */
    cfg->cert = !!(s->flags & FZ_SFLAG_CERT);
    cfg->tls_required = !!(s->flags & FZ_SFLAG_TLS_REQUIRED);
    cfg->literal_minus = fz_session_literal_minus(s);
    cfg->max_message = s->max_literal;
    cfg->host = cfg->product = "mxfuzz"; /* the names in the corpus's recorded replies */
    r->proto = (int)s->proto;
    /* the session's proto byte is numbered as enum mx_app_proto */
    if (mx_machine_init(&r->mc, (enum mx_app_proto)r->proto, cfg, linebuf, s->max_line) != 0)
        abort(); /* max-line is clamped to >= MX_LINE_MIN by the session format */
    /* the header's "certificate bound but unusable" (FORMAT.md flags bit 3): what a server
     * whose TLS set-up failed tells libmx (mx/machine.h) */
    if (fz_session_tls_unavailable(s))
        mx_machine_tls_unavailable(&r->mc);
}

static int mc_step(struct run *r, struct mx_step *st)
{
    return mx_machine_step(&r->mc, &r->chain, st);
}

static void mc_tls(struct run *r)
{
    mx_machine_tls_started(&r->mc, &r->chain);
}

/* ---------------------------------------------------------------- end of the machine block */

static const char *act_name(int a)
{
    static const char *n[] = {"NEED_INPUT", "REPLY", "DATA", "STARTTLS", "HANDSHAKE", "CLOSE"};
    return a >= 0 && a <= 5 ? n[a] : "?";
}

static void check_chain(const struct run *r)
{
    const struct mx_chain *c = &r->chain;
    if (mx_chain_check(c) != 0)
        fz_fail("starttls", "mx_chain_check failed");
    if (r->appended != c->consumed + c->discarded + c->bytes)
        fz_fail("starttls", "chain counters: appended %llu != consumed %llu + discarded %llu + queued %zu",
                (unsigned long long)r->appended, (unsigned long long)c->consumed,
                (unsigned long long)c->discarded, c->bytes);
}

/* Checks one reply against the model's expectation. */
static void check_reply(const struct run *r, const struct mx_step *st, const struct starttls_expect *e)
{
    const uint8_t *p = st->reply;
    size_t n = st->reply_n;
    char shown[80];
    snprintf(shown, sizeof shown, "%.*s", (int)(n > 60 ? 60 : n), (const char *)p);
    for (char *q = shown; *q; q++)
        if (*q == '\r' || *q == '\n')
            *q = '|';
    if ((int)st->act != e->act && !(e->may_close && st->act == MX_ACT_CLOSE))
        fz_fail("starttls", "action %s, model expects %s (reply '%s', model code %d) [rule: %s]",
                act_name(st->act), act_name(e->act), shown, e->code, e->rule ? e->rule : "-");
    if (e->act == MX_ACT_HANDSHAKE) {
        if (n)
            fz_fail("starttls", "handshake action with a reply '%s'", shown);
        return;
    }
    if (e->no_plain) {
        const char *why = starttls_model_no_plain(p, n);
        if (why)
            fz_fail("starttls", "%s: '%s' [rule: %s]", why, shown, e->rule ? e->rule : "-");
        return;
    }
    if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n')
        fz_fail("starttls", "reply not CRLF-terminated: '%s'", shown);
    for (size_t i = 0; i < n; i++)
        if ((p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) || (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')))
            fz_fail("starttls", "bare CR or LF inside the reply '%s'", shown);
    r->m.p->check_reply(&r->m, p, n, shown, e);
}

static void record(struct run *r, const struct mx_step *st)
{
    uint8_t h[5] = {(uint8_t)st->act, (uint8_t)st->reply_n, (uint8_t)(st->reply_n >> 8),
                    (uint8_t)st->data_n, (uint8_t)(st->data_n >> 8)};
    fz_buf_put(&r->transcript, h, sizeof h);
    fz_buf_put(&r->transcript, st->reply, st->reply_n);
    if (r->echo && st->reply_n)
        fz_sbuf_event(r->echo, FZ_EV_SERVER, st->reply, st->reply_n);
    if (st->act == MX_ACT_DATA)
        fz_buf_put(&r->transcript, st->data, st->data_n);
}

#define MAX_EX 4096

/* Steps the machine until it needs input; compares with the model's expectations. */
static void pump(struct run *r, struct starttls_expect *ex, size_t nex)
{
    static struct mx_step st;
    size_t k = 0;
    for (;;) {
        int act = mc_step(r, &st);
        check_chain(r);
        if (act == MX_ACT_NEED_INPUT) {
            if (st.reply_n)
                fz_fail("starttls", "NEED_INPUT with a reply");
            break;
        }
        if (r->closed) {
            if (act != MX_ACT_CLOSE || st.reply_n)
                fz_fail("starttls", "step after close gave %s", act_name(act));
            break;
        }
        if (r->check && k < nex && ex[k].mixed && !r->cut)
            r->cut = 1 + r->transcript.n;
        record(r, &st);
        if (act == MX_ACT_DATA) {
            if (r->check && !r->m.p->data_line)
                fz_fail("starttls", "message data from a non-SMTP machine");
            if (st.data_n == 0 || st.reply_n)
                fz_fail("starttls", "empty DATA piece or DATA with a reply");
            fz_buf_put(&r->msg, st.data, st.data_n);
            continue;
        }
        if (r->check) {
            if (k >= nex)
                fz_fail("starttls", "machine answered (%s '%.*s') where the model expects nothing more "
                        "(model phase %d, tls %d)", act_name(act),
                        (int)(st.reply_n > 40 ? 40 : st.reply_n), (const char *)st.reply,
                        r->m.phase, r->m.tls);
            check_reply(r, &st, &ex[k]);
            if (act == MX_ACT_CLOSE && ex[k].act != MX_ACT_CLOSE) {
                /* an allowed close (ex[k].may_close): what the model said after it is moot */
                nex = k + 1;
                r->m.phase = M_CLOSED;
            }
            if ((act == MX_ACT_STARTTLS || ex[k].mixed) && st.discarded != ex[k].discarded)
                fz_fail("starttls", "STARTTLS discarded %zu bytes; model: %zu discarded [rule: %s]",
                        st.discarded, ex[k].discarded, ex[k].rule ? ex[k].rule : "-");
            if (act == MX_ACT_STARTTLS && (st.tls_kept != ex[k].kept || r->chain.bytes != ex[k].kept))
                fz_fail("starttls", "STARTTLS kept %zu bytes for TLS (%zu queued); model: %zu [rule: %s]",
                        st.tls_kept, r->chain.bytes, ex[k].kept, ex[k].rule ? ex[k].rule : "-");
            if (ex[k].data_end && ex[k].code == 250 &&
                (r->msg.n != ex[k].msg_len ||
                 (r->msg.n && memcmp(r->msg.p, r->m.msglog.p + ex[k].msg_off, r->msg.n))))
                fz_fail("starttls", "message delivered (%zu bytes) differs from the model's (%zu bytes)",
                        r->msg.n, ex[k].msg_len);
            k++;
        }
        if (st.reply_n == 0 && act != MX_ACT_HANDSHAKE && !(r->check && k && ex[k - 1].no_plain))
            fz_fail("starttls", "%s without a reply", act_name(act));
        if (act == MX_ACT_REPLY && st.reply_n >= 3 &&
            r->m.p->data_line && !memcmp(st.reply, "354", 3))
            r->msg.n = 0;
        if (act == MX_ACT_STARTTLS) {
            if (r->chain.bytes != st.tls_kept)
                fz_fail("starttls", "%zu bytes queued after the STARTTLS purge, %zu kept for TLS",
                        r->chain.bytes, st.tls_kept);
            /* the TLS layer takes what was kept for the handshake */
            mx_chain_consume(&r->chain, r->chain.bytes);
            check_chain(r);
            r->awaiting_tls = 1;
        }
        if (act == MX_ACT_CLOSE && r->chain.bytes && st.discarded)
            fz_fail("starttls", "%zu bytes still queued after a close that discarded %zu",
                    r->chain.bytes, st.discarded);
        if (act == MX_ACT_HANDSHAKE) {
            /* the TLS layer takes the queued bytes */
            mx_chain_consume(&r->chain, r->chain.bytes);
            r->awaiting_tls = 1;
        }
        if (act == MX_ACT_CLOSE)
            r->closed = 1;
    }
    if (r->check && k != nex)
        fz_fail("starttls", "machine gave %zu replies, model expects %zu (next: code %d) [rule: %s]", k, nex,
                ex[k].code, ex[k].rule ? ex[k].rule : "-");
    if (r->check && !r->closed) {
        /* what mx/machine.h tells the caller between reads: reading a message body (SMTP
         * DATA after 354, RFC 5321 4.1.1.4) and how far the login got (SMTP AUTH, IMAP
         * LOGIN/AUTHENTICATE, POP3 USER then PASS or AUTH), as the model has it */
        const struct starttls_model *m = &r->m;
        enum mx_auth want = r->proto == MX_APP_SMTP   ? (m->auth ? MX_AUTH_DONE : MX_AUTH_NONE)
                            : r->proto == MX_APP_IMAP ? (m->authd ? MX_AUTH_DONE : MX_AUTH_NONE)
                            : m->trans                ? MX_AUTH_DONE
                            : m->user                 ? MX_AUTH_USER
                                                      : MX_AUTH_NONE;
        if (mx_machine_in_body(&r->mc) != (m->phase == M_DATA))
            fz_fail("starttls", "mx_machine_in_body says %d, model phase %d", mx_machine_in_body(&r->mc), m->phase);
        if (mx_machine_auth(&r->mc) != want)
            fz_fail("starttls", "mx_machine_auth says %d, the model's login state %d", (int)mx_machine_auth(&r->mc),
                    (int)want);
    }
}

/* Runs a session; the transcript goes to r->transcript. */
static void run_session(struct run *r, const struct fz_session *s, int check)
{
    static struct starttls_expect ex[MAX_EX];
    struct mx_conn_cfg cfg;
    struct fz_reader rd;
    struct fz_read rr;
    /* the pooled allocator: the line buffer comes back at exactly max_line bytes (an overflow
     * still hits its redzone) without fresh pages for every input */
    struct mx_alloc pooled = fz_alloc_pooled();
    uint8_t *linebuf = pooled.alloc(pooled.ctx, s->max_line);
    int implicit = s->mode == FZ_MODE_IMPLICIT;
    size_t nex = 0;
    long read_i;

    if (!linebuf)
        abort();
    mc_init(r, s, &cfg, linebuf);
    r->check = check;
    r->awaiting_tls = implicit;
    mx_chain_init(&r->chain, 0, &pooled);

    r->m.p = protos[s->proto];
    r->m.mode = cfg.mode;
    r->m.cert = cfg.cert;
    r->m.tls_required = cfg.tls_required;
    r->m.literal_minus = fz_session_literal_minus(s); /* the header's, not the machine's */
    r->m.tls_unavailable = fz_session_tls_unavailable(s);
    r->m.max_line = s->max_line;
    r->m.max_message = s->max_literal;
    r->m.phase = implicit ? M_PRE_TLS : M_CMD;

    fz_at("read", -1);
    if (!implicit)
        ex[nex++] = starttls_reply(r->m.p->greeting);
    pump(r, ex, nex);

    fz_reader_init(&rd, s);
    for (read_i = 0; !r->closed && fz_reader_next(&rd, &rr); read_i++) {
        fz_at("read", read_i);
        nex = 0;
        if (rr.kind == FZ_READ_SERVER)
            continue;
        if (rr.kind == FZ_READ_TLS) {
            if (!r->awaiting_tls) {
                /* the server did not start TLS: nothing happened. A caller that reports TLS
                 * anyway must not reset the machine (mx/machine.h: ignored outside the TLS
                 * wait): nothing dropped here, and the model, not reset, keeps agreeing */
                size_t queued = r->chain.bytes;
                mc_tls(r);
                if (r->chain.bytes != queued)
                    fz_fail("starttls", "*_tls_started() outside a TLS wait dropped %zu queued bytes",
                            queued - r->chain.bytes);
                continue;
            }
            r->awaiting_tls = 0;
            fz_buf_put(&r->transcript, "T", 1);
            if (r->echo)
                fz_sbuf_event(r->echo, FZ_EV_TLS, NULL, 0);
            if (r->m.phase != M_WAIT_TLS && r->m.phase != M_PRE_TLS && r->m.phase != M_HS)
                fz_fail("starttls", "machine waited for TLS, model in phase %d", r->m.phase);
            if (r->m.phase == M_WAIT_TLS) {
                starttls_model_reset(&r->m);
                r->m.phase = M_CMD;
            } else {
                r->m.tls = 1;
                r->m.phase = M_CMD;
                ex[nex++] = starttls_reply(r->m.p->greeting);
            }
            r->m.buf.n = 0;
            r->m.scan = 0;
            mc_tls(r);
            if (r->chain.bytes != 0) /* plaintext read before TLS must not reach a command */
                fz_fail("starttls", "%zu pre-TLS bytes still queued after *_tls_started()", r->chain.bytes);
            pump(r, ex, nex);
            continue;
        }
        if (r->echo && rr.n) /* every client read, the handshake's too: the echo keeps the
                              * session's write boundaries */
            fz_sbuf_event(r->echo, FZ_EV_CLIENT, rr.p, rr.n);
        if (r->awaiting_tls && !(implicit && r->m.phase == M_PRE_TLS)) {
            /* the handshake is under way: these bytes are the TLS layer's */
            if (r->m.phase == M_HS)
                continue;
            continue;
        }
        if (rr.n == 0)
            continue;
        if (mx_chain_append(&r->chain, rr.p, rr.n) != MX_CHAIN_OK)
            abort(); /* no limit, so only the allocator can fail */
        r->appended += rr.n;
        fz_buf_put(&r->m.buf, rr.p, rr.n);
        nex = starttls_model_run(&r->m, ex, MAX_EX);
        pump(r, ex, nex);
    }
    fz_at("read", read_i);
    if (r->closed) {
        static struct mx_step st;
        if (mc_step(r, &st) != MX_ACT_CLOSE)
            fz_fail("starttls", "a closed machine stepped to %s", act_name(st.act));
    }
    mx_chain_release(&r->chain);
    pooled.release(pooled.ctx, linebuf);
}

/* A fresh run that keeps the buffers of the last one (emptied): the transcript, the message
 * and the model's buffers are allocated once, not per input. */
static void run_reset(struct run *r)
{
    struct fz_buf transcript = r->transcript, msg = r->msg;
    struct fz_buf mbuf = r->m.buf, mmsg = r->m.msg, mlog = r->m.msglog;
    memset(r, 0, sizeof *r);
    r->transcript = transcript;
    r->transcript.n = 0;
    r->msg = msg;
    r->msg.n = 0;
    r->m.buf = mbuf;
    r->m.buf.n = 0;
    r->m.msg = mmsg;
    r->m.msg.n = 0;
    r->m.msglog = mlog;
    r->m.msglog.n = 0;
}

/* The same session with a fixed read size: R events dropped, one R{size} in front; written
 * into b (emptied first). */
static void rechunk(const struct fz_session *s, uint8_t readsz, struct fz_buf *b)
{
    struct fz_event ev;
    size_t cur = 0;
    b->n = 0;
    fz_sbuf_header(b, s->version, s->proto, s->mode, s->flags, s->limits);
    fz_sbuf_event(b, FZ_EV_READS, &readsz, 1);
    while (fz_session_next(s, &cur, &ev))
        if (ev.type != FZ_EV_READS)
            fz_sbuf_event(b, ev.type, ev.p, ev.n);
    if (b->oom)
        abort();
}

void starttls_replies(const struct fz_session *s, struct fz_buf *out)
{
    static struct run a;
    run_reset(&a);
    out->n = 0;
    fz_sbuf_header(out, s->version, s->proto, s->mode, s->flags, s->limits);
    a.echo = out;
    run_session(&a, s, 1);
    if (out->oom)
        abort();
}

void starttls_check(const struct fz_session *s)
{
    static struct run a, b;
    static struct fz_buf d2;
    struct fz_session s2;
    static const uint8_t sizes[2] = {1, 7};

    /* One run: the session's own reads, checked against the model. A sampled input
     * (sampled.h; every input under the replay driver) is replayed with 1-byte and 7-byte
     * reads, each checked against the model again and its transcript against the first. */
    run_reset(&a);
    run_session(&a, s, 1);
    if (!fz_sampled(s->ev, s->ev_size))
        return;
    for (int i = 0; i < 2; i++) {
        rechunk(s, sizes[i], &d2);
        fz_session_parse(&s2, d2.p, d2.n);
        run_reset(&b);
        run_session(&b, &s2, 1);
        /* how the reads are cut decides what is pipelined behind STARTTLS, so a mixed
         * pipeline's close is compared only up to where it happened (in either run) */
        size_t cut = a.cut && b.cut ? (a.cut < b.cut ? a.cut : b.cut) : a.cut ? a.cut : b.cut;
        size_t an = a.transcript.n, bn = b.transcript.n;
        if (cut) {
            an = an < cut - 1 ? an : cut - 1;
            bn = bn < cut - 1 ? bn : cut - 1;
        }
        if (bn != an || (an && memcmp(b.transcript.p, a.transcript.p, an))) {
            size_t j = 0;
            while (j < an && j < bn && a.transcript.p[j] == b.transcript.p[j])
                j++;
            fz_at(NULL, 0);
            fz_fail("starttls", "transcripts differ with %u-byte reads at byte %zu (lengths %zu vs %zu)",
                    sizes[i], j, an, bn);
        }
    }
}
