/* starttls_model.c - the rules the three STARTTLS protocols share (see starttls_model.h). */
#include "starttls_model.h"

#include <string.h>

#include "fail.h"
#include "mx/listen.h"

struct starttls_expect starttls_reply(int code)
{
    struct starttls_expect e;
    memset(&e, 0, sizeof e);
    e.act = MX_ACT_REPLY;
    e.code = code;
    e.offers = -1;
    e.logindis = -1;
    return e;
}

void starttls_upper_word(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        uint8_t c = p[i];
        out[k++] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    out[k] = 0;
    if (n >= cap || memchr(p, 0, n))
        out[0] = 0x7f; /* too long, or a NUL inside: not any command */
}

size_t starttls_verb(const uint8_t *l, size_t n, char *verb, size_t cap)
{
    size_t sp = 0, a;
    while (sp < n && l[sp] != ' ')
        sp++;
    starttls_upper_word(l, sp, verb, cap);
    a = sp;
    while (a < n && l[a] == ' ')
        a++;
    return a;
}

int starttls_offerable(const struct starttls_model *m)
{
    /* RFC 3207 4 / RFC 3501 6.2.1 / RFC 2595 4: a server advertises STARTTLS/STLS only when it
     * can start TLS; a bound certificate it cannot use does not count */
    return m->mode == MX_LISTEN_STARTTLS && m->cert && !m->tls_unavailable && !m->tls;
}

void starttls_model_reset(struct starttls_model *m)
{
    m->tls = 1;
    m->swallow = 0;
    m->sasl = 0;
    m->helo = m->mail = m->auth = 0;
    m->nrcpt = 0;
    m->user = m->trans = 0;
    m->authd = 0;
}

void starttls_model_free(struct starttls_model *m)
{
    fz_buf_free(&m->buf);
    fz_buf_free(&m->msg);
    fz_buf_free(&m->msglog);
}

/* RFC 8314 3.3: on an implicit-TLS port "the TLS session is negotiated immediately upon
 * connection", so the server has no plaintext protocol in which to answer a client that sends
 * anything but a ClientHello, and RFC 8314 7 wants such a failure diagnosed at the server, not
 * explained to the client. It may close silently, or (RFC 8446 6, RFC 5246 7.2) say so in TLS:
 * one alert record, content type 21, version 3.x, length 2, level fatal (2), with a
 * description that fits a peer that is not speaking TLS: unexpected_message (10),
 * decode_error (50) or protocol_version (70). Anything else (a 421, "* BYE", "-ERR" in clear
 * text, or several records) is not allowed. */
const char *starttls_model_no_plain(const uint8_t *p, size_t n)
{
    if (n == 0)
        return NULL;
    if (n != 7 || p[0] != 21 || p[1] != 3 || p[3] != 0 || p[4] != 2)
        return "a plaintext reply (RFC 8314 3.3 allows only the close or one TLS alert record)";
    if (p[5] != 2)
        return "a TLS alert that is not fatal (RFC 8446 6: the connection ends)";
    if (p[6] != 10 && p[6] != 50 && p[6] != 70)
        return "a TLS alert whose description is not unexpected_message, decode_error or protocol_version";
    return NULL;
}

/* The record header of a TLS handshake message: content type 22, major version 3. */
static int tls_record_start(const struct starttls_model *m)
{
    return m->buf.n >= 2 && m->buf.p[0] == 0x16 && m->buf.p[1] == 0x03;
}

/* What followed an accepted STARTTLS line in the same read (b[0..n)).
 *
 * RFC 3207 4.2 / RFC 2595 3.1 / RFC 3501 6.2.1: after the positive reply the client starts the
 * TLS negotiation, so its ClientHello may already be queued behind the command (a pipelining or
 * fast client): those bytes belong to the handshake and must reach the TLS layer, not be
 * dropped (dropping them hangs the handshake). RFC 8446 5.1 (and RFC 5246 6.2.1): the stream
 * is records of a 5-byte header (content type, version 3.x, 16-bit length, at most 2^14 + 2048
 * for any version) and the body; the client's first record is a handshake record (type 22).
 * So the pipelined bytes are TLS when they start 0x16 0x03 and continue as well-formed records
 * (types 20..23; the last may be cut short: the rest is the TLS layer's).
 * CVE-2011-0411: plaintext behind STARTTLS is never executed: it is discarded (and counted).
 * Plaintext that carries a record header at a line start, or records followed by non-records,
 * is a mixture: neither a command nor a handshake can follow, so the connection is closed
 * (after the STARTTLS reply). */
/* Issue 12 rule 4: a bounded run of consecutive protocol errors. No RFC sets a number; RFC
 * 5321 7.8 lets a server protect itself from abusive clients, and postfix closes after
 * smtpd_hard_error_limit (20) errors. A protocol error is an error reply to a command line
 * (a too-long line included): SMTP 5xx (RFC 5321 4.2.1), IMAP BAD, tagged or untagged (RFC
 * 3501 7.1.3), POP3 -ERR (RFC 1939 3); any other answer to a command line ends the run. After
 * the limit'th error's reply comes one final line and the close: SMTP 421 (RFC 5321 3.8),
 * IMAP "* BYE" (RFC 3501 7.1.5), POP3 -ERR. The limit is MX_MAX_ERRORS (the target leaves
 * mx_conn_cfg.max_errors at 0). */
static int error_reply(const struct starttls_model *m, const struct starttls_expect *e)
{
    if (m->p == &starttls_smtp)
        return e->code >= 500 && e->code <= 599;
    if (m->p == &starttls_pop3)
        return e->code == 0;
    return e->code == I_BAD || e->code == I_STAR_BAD;
}

/* RFC 4648 4: base64 is groups of four alphabet characters, "=" padding (at most two) only at
 * the end; an empty response is allowed (RFC 4954 4, RFC 3501 6.2.2, RFC 5034 4). */
static int is_base64(const uint8_t *p, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t body = n;
    if (n % 4 != 0)
        return 0;
    while (body > 0 && n - body < 2 && p[body - 1] == '=')
        body--;
    for (size_t i = 0; i < body; i++)
        if (!p[i] || !strchr(alphabet, p[i]))
            return 0;
    return 1;
}

/* Issue 13: the line after a SASL challenge (SMTP 334, IMAP and POP3 "+ ") is the client's
 * response, never a command (RFC 4954 4, RFC 3501 6.2.2, RFC 5034 4): "*" cancels (SMTP 501,
 * IMAP tagged BAD, POP3 -ERR), a response that is not base64 is refused alike (RFC 4954 4:
 * 501), one longer than the server reads ends the exchange (RFC 4954 4: 500 5.5.6; IMAP BAD,
 * POP3 -ERR). LOGIN (draft-murchison-sasl-login 2, SMTP only): the user name is answered with
 * the "Password:" challenge (334); any other response authenticates (the target checks no
 * credentials). */
struct starttls_expect starttls_sasl_response(struct starttls_model *m, const uint8_t *l, size_t n,
                                              int too_long)
{
    int smtp = m->p == &starttls_smtp, pop3 = m->p == &starttls_pop3;
    int refused = too_long || (n == 1 && l[0] == '*') || !is_base64(l, n);
    int was = m->sasl;
    struct starttls_expect e;
    m->sasl = S_NONE;
    if (!refused && was == S_LOGIN_USER) {
        m->sasl = S_LOGIN_PASS;
        e = starttls_reply(334);
    } else if (refused) {
        e = starttls_reply(smtp ? (too_long ? 500 : 501) : pop3 ? P_ERR : I_BAD);
    } else {
        e = starttls_reply(smtp ? 235 : pop3 ? P_OK : I_OK);
        if (smtp)
            m->auth = 1;
        else if (pop3)
            m->trans = 1;
        else
            m->authd = 1;
    }
    memcpy(e.tag, m->sasl_tag, sizeof e.tag);
    e.rule = "RFC 4954 4 / RFC 3501 6.2.2 / RFC 5034 4: the line after a SASL challenge is the response, never a command";
    return e;
}

enum pipelined { P_NONE, P_PLAIN, P_TLS, P_MIXED };

static enum pipelined pipelined_kind(const uint8_t *b, size_t n)
{
    size_t at = 0;
    if (n == 0)
        return P_NONE;
    if (!(b[0] == 0x16 && (n == 1 || b[1] == 0x03))) {
        for (size_t i = 1; i < n; i++)
            if (b[i - 1] == '\n' && b[i] == 0x16 && (i + 1 == n || b[i + 1] == 0x03))
                return P_MIXED;
        return P_PLAIN;
    }
    while (at < n) {
        size_t have = n - at, len;
        if (b[at] < 20 || b[at] > 23 || (at == 0 && b[at] != 22))
            return P_MIXED;
        if (have >= 2 && b[at + 1] != 3)
            return P_MIXED;
        if (have < 5)
            return P_TLS;
        len = (size_t)b[at + 3] << 8 | b[at + 4];
        if (len > 16384 + 2048)
            return P_MIXED;
        at += 5 + len;
    }
    return P_TLS;
}

size_t starttls_model_run(struct starttls_model *m, struct starttls_expect *ex, size_t cap)
{
    size_t k = 0;
    m->msglog.n = 0;
    while (k < cap) {
        if (m->phase == M_CLOSED || m->phase == M_WAIT_TLS)
            return k;
        if (m->phase == M_HS) { /* handshake bytes: to the TLS layer */
            m->buf.n = 0;
            m->scan = 0;
            return k;
        }
        if (m->phase == M_PRE_TLS) {
            /* implicit TLS (RFC 8314 3.3): the connection starts with the handshake; the
             * machine may wait for a second byte to tell a record header from text */
            if (m->buf.n == 0)
                return k;
            if (m->buf.p[0] == 0x16 && m->buf.n < 2)
                return k;
            if (tls_record_start(m)) {
                ex[k] = starttls_reply(0);
                ex[k++].act = MX_ACT_HANDSHAKE;
                m->phase = M_HS;
                continue;
            }
            ex[k] = starttls_reply(0);
            ex[k].rule = "RFC 8314 3.3 / 7: plaintext on an implicit-TLS listener: no plaintext reply, close (or a TLS alert)";
            ex[k].no_plain = 1;
            ex[k++].act = MX_ACT_CLOSE;
            m->phase = M_CLOSED;
            return k;
        }
        if (m->phase == M_DATA) {
            int got = m->p->data_line(m, &ex[k]);
            if (got < 0)
                return k;
            k += (size_t)got;
            continue;
        }
        /* M_CMD: a refused command's literal octets are data (starttls_imap.c) */
        if (m->swallow) {
            size_t k2 = m->buf.n < m->swallow ? m->buf.n : (size_t)m->swallow;
            fz_buf_drop_front(&m->buf, k2);
            m->swallow -= k2;
            m->scan = 0;
            if (m->swallow)
                return k;
        }
        /* M_CMD: a TLS record at a line start while TLS is off */
        if (!m->tls && tls_record_start(m)) {
            ex[k] = starttls_reply(m->p->refusal);
            ex[k].rule = "Q218430: TLS ClientHello on a plaintext/STARTTLS listener: one reply and close";
            ex[k++].act = MX_ACT_CLOSE;
            m->phase = M_CLOSED;
            return k;
        }
        uint8_t *lf = m->scan < m->buf.n ? memchr(m->buf.p + m->scan, '\n', m->buf.n - m->scan) : NULL;
        if (!lf) {
            m->scan = m->buf.n;
            return k;
        }
        m->scan = 0;
        size_t ll = (size_t)(lf - m->buf.p) + 1, n = ll - 1;
        struct starttls_expect e;
        if (n && m->buf.p[n - 1] == '\r')
            n--;
        if (m->sasl)
            e = starttls_sasl_response(m, m->buf.p, n, ll > m->max_line);
        else if (ll > m->max_line)
            e = m->p->too_long_line ? m->p->too_long_line(m, m->buf.p, n) : starttls_reply(m->p->too_long);
        else
            e = m->p->command(m, m->buf.p, n);
        if (!e.rule)
            e.rule = e.offers >= 0 ? "Q237327: STARTTLS listed iff certificate bound and TLS off"
                   : e.act == MX_ACT_STARTTLS ? "CVE-2011-0411: STARTTLS accepted, pipelined input purged"
                   : m->tls && m->mode == MX_LISTEN_STARTTLS ? "RFC 3207 4.2: state reset after STARTTLS"
                   : "command rules";
        fz_buf_drop_front(&m->buf, ll);
        if (e.act == MX_ACT_STARTTLS) {
            /* RFC 3207 4.2, RFC 2595 4, RFC 3501 6.2.1: nothing the client sent after the
             * command line may be acted on once TLS is up (CVE-2011-0411) */
            enum pipelined pk = pipelined_kind(m->buf.p, m->buf.n);
            if (pk == P_TLS) {
                e.kept = m->buf.n; /* the handshake's: handed to TLS */
                e.rule = "RFC 3207 4.2 / RFC 8446 5.1: a ClientHello pipelined behind STARTTLS is kept for the handshake";
            } else {
                e.discarded = m->buf.n; /* everything that followed the line */
            }
            m->buf.n = 0;
            m->scan = 0;
            m->phase = M_WAIT_TLS;
            if (pk == P_MIXED) {
                e.act = MX_ACT_CLOSE;
                e.mixed = 1;
                e.rule = "RFC 3207 4.2 / CVE-2011-0411: plaintext mixed with TLS records behind STARTTLS: reply, close";
                m->phase = M_CLOSED;
                ex[k++] = e;
                return k;
            }
        }
        ex[k++] = e;
        if (e.act == MX_ACT_REPLY && error_reply(m, &e)) {
            if (++m->err_run >= MX_MAX_ERRORS && k < cap) {
                ex[k] = starttls_reply(m->p->refusal);
                ex[k].act = MX_ACT_CLOSE;
                ex[k++].rule = "RFC 5321 7.8 / issue 12: MX_MAX_ERRORS consecutive errors, then one final reply and close";
                m->phase = M_CLOSED;
                return k;
            }
        } else {
            m->err_run = 0;
        }
    }
    fz_fail("starttls", "model produced more than %zu replies for one read", cap);
}
