/* protocol.c - line framing, TLS sniff and reply helpers shared by the mail protocol state
 * machines (see include/mx/protocol.h). */
#include "mx/protocol.h"

#include <string.h>

void mx_liner_init(struct mx_liner *l, uint8_t *buf, size_t cap)
{
    l->buf = buf;
    l->cap = cap;
    l->scanned = 0;
    l->skipping = 0;
    l->watch = NULL;
    l->watch_ctx = NULL;
}

void mx_liner_reset(struct mx_liner *l)
{
    l->scanned = 0;
    l->skipping = 0;
}

/* Shows the watch the first n queued bytes, then consumes them. */
static void watched_consume(struct mx_liner *l, struct mx_chain *c, size_t n)
{
    const struct mx_chain_seg *it = NULL;
    const unsigned char *p;
    size_t k, left = n;
    while (l->watch && left && mx_chain_iter(c, &it, &p, &k)) {
        if (k > left)
            k = left;
        l->watch(l->watch_ctx, p, k);
        left -= k;
    }
    mx_chain_consume(c, n);
}

int mx_liner_next(struct mx_liner *l, struct mx_chain *c, size_t *len, size_t *consumed)
{
    size_t pos;
    *len = 0;
    *consumed = 0;
    if (l->scanned > c->bytes) /* the chain was purged under us */
        l->scanned = 0;
    if (mx_chain_find(c, l->scanned, "\n", 1, &pos)) {
        size_t n = pos + 1;
        l->scanned = 0;
        if (l->skipping || n > l->cap) {
            l->skipping = 0;
            watched_consume(l, c, n);
            *consumed = n;
            return MX_LINE_TOOLONG;
        }
        mx_chain_take_into(c, l->buf, n);
        if (l->watch)
            l->watch(l->watch_ctx, l->buf, n);
        *consumed = n;
        n--; /* LF */
        if (n > 0 && l->buf[n - 1] == '\r')
            n--;
        *len = n;
        return MX_LINE_OK;
    }
    if (l->skipping || c->bytes >= l->cap) {
        /* no LF within cap bytes: the line is too long; drop what is queued */
        *consumed = c->bytes;
        watched_consume(l, c, c->bytes);
        l->skipping = 1;
        l->scanned = 0;
        return MX_LINE_NEED;
    }
    l->scanned = c->bytes;
    return MX_LINE_NEED;
}

int mx_sniff_tls(const struct mx_chain *c)
{
    int b0 = mx_chain_byte(c, 0), b1;
    if (b0 < 0)
        return MX_SNIFF_NEED;
    if (b0 != 0x16)
        return MX_SNIFF_NOT_TLS;
    b1 = mx_chain_byte(c, 1);
    if (b1 < 0)
        return MX_SNIFF_NEED;
    return b1 == 0x03 ? MX_SNIFF_TLS : MX_SNIFF_NOT_TLS;
}

void mx_step_clear(struct mx_step *st)
{
    st->act = MX_ACT_NEED_INPUT;
    st->reply_n = 0;
    st->data = NULL;
    st->data_n = 0;
    st->diag = NULL;
    st->discarded = 0;
    st->tls_kept = 0;
    st->line_n = 0;
}

void mx_step_putn(struct mx_step *st, const void *p, size_t n)
{
    size_t room = MX_REPLY_MAX - st->reply_n;
    if (n > room)
        n = room;
    memcpy(st->reply + st->reply_n, p, n);
    st->reply_n += n;
}

void mx_step_puts(struct mx_step *st, const char *s)
{
    mx_step_putn(st, s, strlen(s));
}

int mx_prefix_is(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        uint8_t c = p[i];
        if (c >= 'a' && c <= 'z')
            c = (uint8_t)(c - 32);
        if (c != (uint8_t)w[i])
            return 0;
    }
    return 1;
}

int mx_word_is(const uint8_t *line, size_t n, const char *w)
{
    size_t k = strlen(w);
    return mx_prefix_is(line, n, w) && (n == k || line[k] == ' ');
}

int mx_step_reply(struct mx_step *st, const char *text)
{
    mx_step_puts(st, text);
    st->act = MX_ACT_REPLY;
    return st->act;
}

int mx_step_close(struct mx_step *st, const char *text, const char *diag)
{
    if (text)
        mx_step_puts(st, text);
    st->diag = diag;
    st->act = MX_ACT_CLOSE;
    return st->act;
}

int mx_step_implicit_gate(const struct mx_chain *c, struct mx_step *st)
{
    switch (mx_sniff_tls(c)) {
    case MX_SNIFF_NEED:
        return MX_ACT_NEED_INPUT;
    case MX_SNIFF_TLS:
        st->act = MX_ACT_HANDSHAKE;
        return st->act;
    default:
        return mx_step_close(st, NULL, "plaintext client on an implicit-TLS listener: closed "
                                       "without a reply (RFC 8314 3.3)");
    }
}
