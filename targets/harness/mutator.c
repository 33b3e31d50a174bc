/* mutator.c - session-aware mutation (mutator.h). Parsing and writing are session.c's
 * (fz_session_parse / fz_session_next / fz_sbuf_*): this file edits the event list (and reads
 * the dictionary files its tokens come from). */
#include "mutator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "hex.h"

/* ---- layouts */

/* targets/imap_tls.c reads u8 suite, u8 seq, 144 key bytes, u8 iv_seed, u8 pad, then a read
 * pattern (fuzz_input.h in_cuts: u8 count, count % IN_MAX_CUTS sizes), then the session. */
#define TLS_KEY_BYTES 144
#define TLS_FIXED (1 + 1 + TLS_KEY_BYTES + 1 + 1)

size_t fz_layout_prefix(enum fz_layout l, const uint8_t *data, size_t size)
{
    if (l != FZ_LAYOUT_TLS_SESSION)
        return 0;
    size_t want = TLS_FIXED + 1 + (size > TLS_FIXED ? data[TLS_FIXED] % IN_MAX_CUTS : 0);
    return want;
}

/* ---- state */

void fz_mutator_init(struct fz_mutator *m, enum fz_layout layout, fz_byte_mutator bytes, void *ctx)
{
    memset(m, 0, sizeof *m);
    m->layout = layout;
    m->bytes = bytes;
    m->bytes_ctx = ctx;
    /* payload offsets are taken against arena.p: never a NULL base */
    if (fz_buf_reserve(&m->arena, 4096) != 0)
        abort();
}

void fz_mutator_free(struct fz_mutator *m)
{
    fz_buf_free(&m->tok);
    fz_buf_free(&m->arena);
    fz_buf_free(&m->out);
    free(m->tok_off);
    free(m->tok_len);
    free(m->ev);
    free(m->ev2);
    memset(m, 0, sizeof *m);
}

void fz_mutator_add_token(struct fz_mutator *m, const uint8_t *p, size_t n)
{
    if (n == 0 || n > 256)
        return;
    if (m->ntok == m->tok_cap) {
        m->tok_cap = m->tok_cap ? 2 * m->tok_cap : 64;
        m->tok_off = fz_xrealloc(m->tok_off, m->tok_cap * sizeof *m->tok_off);
        m->tok_len = fz_xrealloc(m->tok_len, m->tok_cap * sizeof *m->tok_len);
    }
    m->tok_off[m->ntok] = m->tok.n;
    m->tok_len[m->ntok] = n;
    m->ntok++;
    fz_buf_put(&m->tok, p, n);
}

/* ---- a dictionary file (libFuzzer / AFL format: one "token" per line, name= optional, C-like
 * escapes \\ \" \xHH; # comments) */

int fz_mutator_load_dict(struct fz_mutator *m, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    if (!f) {
        fprintf(stderr, "mxfuzz mutator: cannot read the dictionary %s: no tokens\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *a = strchr(line, '"'), *b = strrchr(line, '"');
        const char *s = line + strspn(line, " \t");
        uint8_t tok[256];
        size_t n = 0;
        if (*s == '#' || !a || b <= a)
            continue;
        for (char *p = a + 1; p < b && n < sizeof tok; p++) {
            if (*p == '\\' && p + 1 < b) {
                if (p[1] == 'x' && p + 3 < b && fz_hex_digit(p[2]) >= 0 && fz_hex_digit(p[3]) >= 0) {
                    tok[n++] = (uint8_t)(fz_hex_digit(p[2]) << 4 | fz_hex_digit(p[3]));
                    p += 3;
                } else {
                    tok[n++] = (uint8_t)p[1];
                    p++;
                }
            } else {
                tok[n++] = (uint8_t)*p;
            }
        }
        fz_mutator_add_token(m, tok, n);
    }
    fclose(f);
    return 0;
}

/* splitmix64: a fixed, portable sequence for a seed, so that runs repeat. Its arithmetic wraps
 * on purpose (well defined for uint64_t); the attribute tells OSS-Fuzz's UBSan build, which
 * checks unsigned-integer-overflow, that this is no finding. */
#if defined(__clang__)
#define FZ_WRAPS __attribute__((no_sanitize("unsigned-integer-overflow")))
#else
#define FZ_WRAPS
#endif
FZ_WRAPS uint64_t fz_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rnd(struct fz_mutator *m)
{
    return fz_splitmix64(&m->rng);
}
/* 0 .. n-1 (n > 0) */
static size_t below(struct fz_mutator *m, size_t n)
{
    return n ? (size_t)(rnd(m) % n) : 0;
}

/* ---- the event list */

#define PAYLOAD_MAX 65535 /* one event's len field; longer payloads are split by the writer */

static uint8_t *pl(struct fz_mutator *m, const struct fz_mev *e)
{
    return m->arena.p + e->off;
}

/* A payload copied into the arena; returns its offset. */
static size_t stash(struct fz_mutator *m, const void *p, size_t n)
{
    size_t off = m->arena.n;
    if (n)
        fz_buf_put(&m->arena, p, n);
    return off;
}

static void ev_reserve(struct fz_mev **ev, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    while (*cap < need)
        *cap = *cap ? 2 * *cap : 64;
    *ev = fz_xrealloc(*ev, *cap * sizeof **ev);
}

/* Inserts an event at position i (0 .. nev). */
static void ev_insert(struct fz_mutator *m, size_t i, enum fz_ev_type t, size_t off, size_t n)
{
    ev_reserve(&m->ev, &m->ev_cap, m->nev + 1);
    memmove(m->ev + i + 1, m->ev + i, (m->nev - i) * sizeof *m->ev);
    m->ev[i] = (struct fz_mev){t, off, n};
    m->nev++;
}

static void ev_delete(struct fz_mutator *m, size_t i)
{
    memmove(m->ev + i, m->ev + i + 1, (m->nev - i - 1) * sizeof *m->ev);
    m->nev--;
}

/* Parses the session data[0..size) into header + events (payloads into the arena). */
static void load(struct fz_mutator *m, const uint8_t *data, size_t size, struct fz_mev **ev, size_t *nev,
                 size_t *cap, uint8_t *hdr, unsigned *version)
{
    struct fz_session s;
    struct fz_event e;
    size_t cur = 0;
    fz_session_parse(&s, data, size);
    if (hdr) {
        /* the header as the parser reads it, so that it serializes canonically */
        hdr[0] = (uint8_t)s.proto;
        hdr[1] = (uint8_t)s.mode;
        hdr[2] = s.flags;
        hdr[3] = s.limits;
        *version = s.version;
    }
    *nev = 0;
    while (fz_session_next(&s, &cur, &e)) {
        ev_reserve(ev, cap, *nev + 1);
        (*ev)[*nev] = (struct fz_mev){e.type, stash(m, e.p, e.n), e.n};
        (*nev)++;
    }
}

/* Indexes of the events of type t; returns how many (at most max). */
static size_t find_type(const struct fz_mutator *m, enum fz_ev_type t, size_t *idx, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nev && k < max; i++)
        if (m->ev[i].type == t)
            idx[k++] = i;
    return k;
}

/* A random client write's index, or -1 when there is none. */
static long pick_client(struct fz_mutator *m)
{
    size_t nc = 0, i;
    for (i = 0; i < m->nev; i++)
        nc += m->ev[i].type == FZ_EV_CLIENT;
    if (!nc)
        return -1;
    size_t k = below(m, nc);
    for (i = 0; i < m->nev; i++)
        if (m->ev[i].type == FZ_EV_CLIENT) {
            if (k == 0)
                return (long)i;
            k--;
        }
    return -1;
}

/* Replaces event i's payload by a[0..na) + b[0..nb) + c[0..nc) (pieces may point into the
 * arena: they are copied before the arena can move). */
static void set_payload3(struct fz_mutator *m, size_t i, size_t a_off, size_t na, const uint8_t *mid, size_t nm,
                         size_t c_off, size_t nc)
{
    size_t total = na + nm + nc;
    if (total > PAYLOAD_MAX)
        return;
    if (fz_buf_reserve(&m->arena, total) != 0)
        abort(); /* the harness out of memory is no finding */
    size_t off = m->arena.n;
    memcpy(m->arena.p + off, m->arena.p + a_off, na);
    if (nm)
        memcpy(m->arena.p + off + na, mid, nm);
    memcpy(m->arena.p + off + na + nm, m->arena.p + c_off, nc);
    m->arena.n += total;
    m->ev[i].off = off;
    m->ev[i].n = total;
}

/* ---- protocol knowledge: the shape of a session (the commands a client of each protocol
 * opens with, the verb that starts TLS, a literal, a TLS record), so that a session can be
 * built from nothing: an empty input has no events to mutate, and without a dictionary the
 * byte mutator has to guess a verb a byte at a time through case-folding loops. Protocol words
 * beyond these come from the engine's dictionary. */

/* The protocol the target reads the client stream as. */
static unsigned client_proto(const struct fz_mutator *m)
{
    return m->layout == FZ_LAYOUT_SESSION ? m->hdr[0] % 3u : (unsigned)FZ_PROTO_IMAP;
}

static const char *starttls_verb(unsigned proto)
{
    switch (proto) {
    case FZ_PROTO_SMTP: return "STARTTLS\r\n";     /* RFC 3207 4 */
    case FZ_PROTO_IMAP: return "a STARTTLS\r\n";   /* RFC 9051 6.2.1 (tagged) */
    default: return "STLS\r\n";                    /* RFC 2595 4 */
    }
}

/* Client commands without their line end, one plausible argument each. The first of each
 * table opens a session (SMTP: EHLO, RFC 5321 4.1.1.1; IMAP: CAPABILITY, RFC 9051 6.1.1;
 * POP3: CAPA, RFC 2449 5), which gen_session puts first half the time. */
static const char *const smtp_cmds[] = { /* RFC 5321 4.1.1, RFC 3207 4, RFC 4954 4, RFC 3030 2 */
    "EHLO client.example", "HELO client.example", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>",
    "DATA", "RSET", "NOOP", "QUIT", "VRFY postmaster", "EXPN list", "HELP", "STARTTLS",
    "AUTH PLAIN AGEAYg==", "AUTH LOGIN", "AUTH PLAIN", "BDAT 3 LAST", "MAIL FROM:<> SIZE=10",
};
static const char *const imap_cmds[] = { /* RFC 9051 6.1-6.4, RFC 2971 3.1, RFC 5161 3.1 */
    "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "LOGIN alice secret", "LOGIN \"alice\" \"se\\\"cret\"",
    "AUTHENTICATE PLAIN", "AUTHENTICATE PLAIN AGEAYg==", "ENABLE IMAP4rev2", "ID NIL",
    "ID (\"name\" \"x\")", "SELECT INBOX", "EXAMINE INBOX", "CREATE a/b", "LIST \"\" *", "STATUS INBOX (MESSAGES)",
    "APPEND INBOX (\\Seen) \"1-Jan-2020 00:00:00 +0000\"", "APPEND INBOX", "FETCH 1:* (FLAGS BODY[HEADER.FIELDS (TO)])",
    "UID FETCH 1 BODY.PEEK[]<0.10>",
    /* RFC 3501 §9 header-list: quoted and atom names, "]" an ASTRING-CHAR inside a name */
    "FETCH 2 BODY.PEEK[1.HEADER.FIELDS.NOT (\"Subject\" X-A])]<0.100>",
    "STORE 1 +FLAGS (\\Deleted)", "SEARCH CHARSET UTF-8 TEXT ~{3}", "IDLE",
};
static const char *const pop3_cmds[] = { /* RFC 1939 5-7, RFC 2449 5, RFC 2595 4, RFC 5034 4 */
    "CAPA", "USER alice", "PASS secret", "STLS", "QUIT", "STAT", "LIST", "RETR 1", "DELE 1", "NOOP",
    "RSET", "TOP 1 0", "UIDL", "APOP alice c4c9334bac560ecc979e58001b3e22fb", "AUTH PLAIN", "AUTH PLAIN AGEAYg==",
};
#define NCMDS(t) (sizeof(t) / sizeof(t)[0])

/* One command line of the target's protocol into tmp (room: 300): a table entry, or with
 * first set the table's opening command; IMAP gets a tag; ended by CRLF, or one time in eight
 * by a bare LF (which the readers accept too: RFC 5321 2.3.8's tolerance). Returns its length. */
static size_t command_line(struct fz_mutator *m, uint8_t *tmp, int first)
{
    const char *const *t;
    size_t nt, n = 0;
    unsigned proto = client_proto(m);
    switch (proto) {
    case FZ_PROTO_SMTP: t = smtp_cmds; nt = NCMDS(smtp_cmds); break;
    case FZ_PROTO_IMAP: t = imap_cmds; nt = NCMDS(imap_cmds); break;
    default: t = pop3_cmds; nt = NCMDS(pop3_cmds); break;
    }
    const char *c = t[first ? 0 : below(m, nt)];
    if (proto == FZ_PROTO_IMAP) { /* RFC 9051 2.2.1: a tag per command */
        static const char *const tags[] = {"a ", "A001 ", "t.1 "};
        const char *tag = tags[below(m, 3)];
        memcpy(tmp, tag, strlen(tag));
        n = strlen(tag);
    }
    memcpy(tmp + n, c, strlen(c));
    n += strlen(c);
    if (below(m, 8) == 0) {
        tmp[n++] = '\n';
    } else {
        tmp[n++] = '\r';
        tmp[n++] = '\n';
    }
    return n;
}

/* The start of a TLS ClientHello record (RFC 8446 5.1: type 22, legacy version 3.1, length;
 * 4.1.2: handshake type 1): what a client sends when it speaks TLS at a plaintext listener. */
static const uint8_t client_hello[] = {0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03};

/* ---- mutations; each returns 1 when it changed something */

static int mut_insert_write(struct fz_mutator *m)
{
    uint8_t tmp[300];
    size_t n = 0;
    long c = pick_client(m);
    switch (below(m, 3)) {
    case 0: /* a dictionary token as a line */
        if (m->ntok) {
            size_t t = below(m, m->ntok);
            memcpy(tmp, m->tok.p + m->tok_off[t], m->tok_len[t]);
            n = m->tok_len[t];
            memcpy(tmp + n, "\r\n", 2);
            n += 2;
            break;
        }
        /* fall through */
    case 1: /* a copy of another write */
        if (c >= 0) {
            ev_insert(m, below(m, m->nev + 1), FZ_EV_CLIENT, m->ev[c].off, m->ev[c].n);
            m->last = "insert-copy";
            return 1;
        }
        /* fall through */
    default: /* a line of random bytes */
        n = below(m, 16);
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint8_t)rnd(m);
        memcpy(tmp + n, "\r\n", 2);
        n += 2;
    }
    ev_insert(m, below(m, m->nev + 1), FZ_EV_CLIENT, stash(m, tmp, n), n);
    m->last = "insert-write";
    return 1;
}

static int mut_delete(struct fz_mutator *m)
{
    if (!m->nev)
        return 0;
    ev_delete(m, below(m, m->nev));
    m->last = "delete";
    return 1;
}

static int mut_duplicate(struct fz_mutator *m)
{
    if (!m->nev)
        return 0;
    size_t i = below(m, m->nev);
    struct fz_mev e = m->ev[i];
    ev_insert(m, i + 1, e.type, e.off, e.n);
    m->last = "duplicate";
    return 1;
}

static int mut_swap(struct fz_mutator *m)
{
    if (m->nev < 2)
        return 0;
    size_t i = below(m, m->nev), j = below(m, m->nev);
    if (i == j)
        j = (i + 1) % m->nev;
    struct fz_mev t = m->ev[i];
    m->ev[i] = m->ev[j];
    m->ev[j] = t;
    m->last = "swap";
    return 1;
}

/* Crossover: events [a, b) of the other session replace events [c, d) of this one. */
static int mut_splice(struct fz_mutator *m)
{
    if (!m->nev2)
        return 0;
    size_t a = below(m, m->nev2), b = a + 1 + below(m, m->nev2 - a);
    size_t c = below(m, m->nev + 1), d = c + below(m, m->nev - c + 1);
    size_t k = b - a;
    ev_reserve(&m->ev, &m->ev_cap, m->nev - (d - c) + k);
    memmove(m->ev + c + k, m->ev + d, (m->nev - d) * sizeof *m->ev);
    memcpy(m->ev + c, m->ev2 + a, k * sizeof *m->ev);
    m->nev = m->nev - (d - c) + k;
    m->last = "splice";
    return 1;
}

/* A read pattern: where the server's read boundaries fall (FORMAT.md, "Reads"). */
static int mut_reads(struct fz_mutator *m)
{
    size_t idx[64], k = find_type(m, FZ_EV_READS, idx, 64);
    uint8_t sizes[4];
    if (k && below(m, 2)) { /* change one size of an existing pattern, or reset it */
        size_t i = idx[below(m, k)];
        if (m->ev[i].n == 0 || below(m, 4) == 0) {
            m->ev[i].n = 0;
            m->last = "reads-reset";
            return 1;
        }
        uint8_t *p = pl(m, &m->ev[i]);
        size_t j = below(m, m->ev[i].n);
        p[j] = below(m, 2) ? (uint8_t)(p[j] + (below(m, 2) ? 1 : -1)) : (uint8_t)(1 + below(m, 16));
        m->last = "reads-tweak";
        return 1;
    }
    /* a new pattern before a random event: small sizes split lines and literals; a size equal to
     * the following write's length minus 1 or 2 puts a boundary just before its CRLF */
    size_t at = below(m, m->nev + 1), n = 1 + below(m, 3);
    for (size_t i = 0; i < n; i++) {
        if (at < m->nev && m->ev[at].type == FZ_EV_CLIENT && m->ev[at].n > 2 && m->ev[at].n <= 257 && below(m, 2))
            sizes[i] = (uint8_t)(m->ev[at].n - 1 - below(m, 2));
        else
            sizes[i] = (uint8_t)(1 + below(m, below(m, 2) ? 8 : 255));
    }
    ev_insert(m, at, FZ_EV_READS, stash(m, sizes, n), n);
    m->last = "reads-insert";
    return 1;
}

/* Two adjacent client writes become one (a pipelined client), or one is cut in two. */
static int mut_merge_split(struct fz_mutator *m)
{
    long c = pick_client(m);
    if (c < 0)
        return 0;
    size_t i = (size_t)c;
    if (below(m, 2) && i + 1 < m->nev && m->ev[i + 1].type == FZ_EV_CLIENT) {
        struct fz_mev a = m->ev[i], b = m->ev[i + 1];
        set_payload3(m, i, a.off, a.n, NULL, 0, b.off, b.n);
        if (m->ev[i].n == a.n + b.n) {
            ev_delete(m, i + 1);
            m->last = "merge";
            return 1;
        }
        return 0;
    }
    struct fz_mev a = m->ev[i];
    if (a.n < 2)
        return 0;
    size_t cut = 1 + below(m, a.n - 1);
    /* half the time at a line end: the next command in its own write */
    const uint8_t *p = pl(m, &a);
    if (below(m, 2))
        for (size_t j = cut; j + 1 < a.n; j++)
            if (p[j - 1] == '\n') {
                cut = j;
                break;
            }
    m->ev[i].n = cut;
    ev_insert(m, i + 1, FZ_EV_CLIENT, a.off + cut, a.n - cut);
    m->last = "split";
    return 1;
}

/* A STARTTLS command (alone, with TLS up after it, or with a command or a ClientHello
 * pipelined behind it), or TLS coming up (a `T` event), or a ClientHello record. */
static int mut_tls(struct fz_mutator *m)
{
    size_t at = below(m, m->nev + 1);
    switch (below(m, 4)) {
    case 0: { /* STARTTLS then TLS up */
        const char *v = starttls_verb(client_proto(m));
        ev_insert(m, at, FZ_EV_TLS, 0, 0);
        ev_insert(m, at, FZ_EV_CLIENT, stash(m, v, strlen(v)), strlen(v));
        m->last = "starttls+tls";
        return 1;
    }
    case 1: { /* STARTTLS with the next command pipelined behind it in the same write
               * (CVE-2011-0411: plaintext that must not survive the handshake) */
        const char *v = starttls_verb(client_proto(m));
        long c = pick_client(m);
        size_t off = stash(m, v, strlen(v)), n = strlen(v);
        if (below(m, 3) == 0) {
            /* a client that starts its handshake without waiting for the go-ahead: the bytes
             * behind the verb are a TLS record (RFC 8446 5.1) for the handshake, not plaintext
             * to purge (RFC 3207 4.2). One mutation instead of two (a ClientHello inserted, then
             * that write pipelined): AFL++ from a corpus without one took a median 15 CPU s to
             * reach it (bench/README.md, starttls-pipelined-hello) */
            stash(m, client_hello, sizeof client_hello);
            ev_insert(m, at, FZ_EV_CLIENT, off, n + sizeof client_hello);
            m->last = "starttls-clienthello";
            return 1;
        }
        if (c >= 0) { /* the source is in the arena: room first, then copy by offset */
            size_t k = m->ev[c].n > 200 ? 200 : m->ev[c].n;
            if (fz_buf_reserve(&m->arena, k) != 0)
                abort();
            memcpy(m->arena.p + m->arena.n, m->arena.p + m->ev[c].off, k);
            m->arena.n += k;
            n += k;
        }
        ev_insert(m, at, FZ_EV_CLIENT, off, n);
        m->last = "starttls-pipelined";
        return 1;
    }
    case 2: /* TLS up */
        ev_insert(m, at, FZ_EV_TLS, 0, 0);
        m->last = "tls";
        return 1;
    default: /* a ClientHello (a TLS client at a plaintext listener, or early) */
        ev_insert(m, at, FZ_EV_CLIENT, stash(m, client_hello, sizeof client_hello), sizeof client_hello);
        m->last = "clienthello";
        return 1;
    }
}

/* The marker at ev[i][open, close] made the end of a line longer than the session's max_line,
 * with {octets+}: a server still owes such a line's literal its octets (issue 12 rule 3;
 * RFC 7888 4: the client sends them without waiting), so they must be swallowed, never run as
 * commands. Its pieces (a long line, a {N+} marker at its end, N the octets that follow) are
 * each one mutation, and a fuzzer keeps the steps in between only by luck: AFL++ found
 * imap-preauth-long-literal-smuggling from the pruned corpus with a median of 10.6 CPU s. The
 * limit is lowered first when reaching it would take more than 512 bytes of padding. */
static int literal_long_line(struct fz_mutator *m, size_t i, size_t open, size_t close, size_t octets)
{
    const uint8_t *p = pl(m, &m->ev[i]);
    size_t start = open, at = open;
    while (start > 0 && p[start - 1] != '\n')
        start--;
    if (at > start && p[at - 1] == ' ') /* the padding joins the word before the marker */
        at--;
    char num[32];
    int nn = snprintf(num, sizeof num, "{%zu+}", octets);
    size_t len = open - start + (size_t)nn, lnib = m->hdr[3] & 0x0f;
    size_t max_line = (size_t)64 << (lnib % 10);
    if (max_line >= len + 512) { /* the largest limit the line already exceeds, or 64 */
        lnib = 0;
        while (lnib < 9 && ((size_t)64 << (lnib + 1)) < len)
            lnib++;
        m->hdr[3] = (uint8_t)((m->hdr[3] & 0xf0) | lnib);
        max_line = (size_t)64 << lnib;
    }
    uint8_t mid[600]; /* padding (at most 519: see above), a space, the marker */
    size_t pad = len > max_line ? below(m, 8) : max_line - len + 1 + below(m, 8);
    memset(mid, 'x', pad);
    size_t nm = pad;
    memcpy(mid + nm, p + at, open - at);
    nm += open - at;
    memcpy(mid + nm, num, (size_t)nn);
    nm += (size_t)nn;
    set_payload3(m, i, m->ev[i].off, at, mid, nm, m->ev[i].off + close + 1, m->ev[i].n - close - 1);
    m->last = "literal-long-line";
    return 1;
}

/* Literal markers {N} / {N+} at the end of a line (RFC 9051 4.3, RFC 7888 3): N set to the
 * octets that follow up to the next CRLF (consistent), one off either way, zero, the
 * session's literal limit +/- 1 (the TOOBIG boundary), LITERAL-'s 4096 (+1; half the time with
 * the header that makes it the binding bound), or the + toggled. A new literal is inserted
 * when there is none. */
static int mut_literal(struct fz_mutator *m)
{
    size_t cand_ev[32], cand_open[32], cand_close[32], k = 0;
    for (size_t i = 0; i < m->nev && k < 32; i++) {
        if (m->ev[i].type != FZ_EV_CLIENT)
            continue;
        const uint8_t *p = pl(m, &m->ev[i]);
        size_t n = m->ev[i].n;
        for (size_t j = 0; j < n && k < 32; j++) {
            if (p[j] != '{')
                continue;
            size_t e = j + 1;
            while (e < n && p[e] >= '0' && p[e] <= '9')
                e++;
            if (e < n && p[e] == '+')
                e++;
            if (e < n && p[e] == '}' && e > j + 1) {
                cand_ev[k] = i;
                cand_open[k] = j;
                cand_close[k] = e;
                k++;
            }
        }
    }
    if (!k) { /* insert one: "{N}\r\n" + N octets + "\r\n" into a client write */
        long c = pick_client(m);
        if (c < 0 || below(m, 4) == 0) { /* a command of its own to carry it */
            uint8_t line[300];
            size_t ln = command_line(m, line, 0);
            c = (long)below(m, m->nev + 1);
            ev_insert(m, (size_t)c, FZ_EV_CLIENT, stash(m, line, ln), ln);
        }
        char lit[300];
        size_t octets = below(m, 2) ? below(m, 8) : below(m, 200);
        int plus = (int)below(m, 2);
        int hn = snprintf(lit, sizeof lit, " {%zu%s}\r\n", octets, plus ? "+" : "");
        for (size_t j = 0; j < octets; j++)
            lit[hn + j] = (char)('a' + j % 26);
        memcpy(lit + hn + octets, "\r\n", 2);
        size_t total = (size_t)hn + octets + 2;
        if (c < 0) {
            ev_insert(m, m->nev, FZ_EV_CLIENT, stash(m, lit, total), total);
        } else {
            /* before the write's final CRLF, where a command takes its literal: that CRLF then
             * ends the octets' line */
            size_t n = m->ev[c].n, pos = n;
            const uint8_t *p = pl(m, &m->ev[c]);
            if (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n') {
                pos = n - 2;
                total -= 2;
            }
            set_payload3(m, (size_t)c, m->ev[c].off, pos, (const uint8_t *)lit, total, m->ev[c].off + pos, n - pos);
        }
        m->last = "literal-insert";
        return 1;
    }
    size_t w = below(m, k), i = cand_ev[w], open = cand_open[w], close = cand_close[w];
    const uint8_t *p = pl(m, &m->ev[i]);
    int plus = p[close - 1] == '+';
    /* the octets: after the marker's CRLF up to the next CRLF, across later client writes */
    size_t octets = 0;
    int in_octets = 0, done = 0;
    for (size_t ei = i; ei < m->nev && !done; ei++) {
        if (m->ev[ei].type != FZ_EV_CLIENT)
            continue;
        const uint8_t *q = pl(m, &m->ev[ei]);
        size_t j = ei == i ? close + 1 : 0;
        if (ei == i) {
            if (j + 1 < m->ev[i].n && q[j] == '\r' && q[j + 1] == '\n')
                j += 2;
            in_octets = 1;
        }
        for (; j < m->ev[ei].n; j++) {
            if (in_octets && q[j] == '\r' && j + 1 < m->ev[ei].n && q[j + 1] == '\n') {
                done = 1;
                break;
            }
            octets++;
        }
    }
    size_t nval;
    int binds = 0; /* the marker is at LITERAL-'s bound */
    if (below(m, 10) == 0)
        return literal_long_line(m, i, open, close, octets);
    switch (below(m, 9)) {
    case 0: nval = octets; break;
    case 1: nval = octets + 1; break;
    case 2: nval = octets ? octets - 1 : 0; break;
    case 3: nval = 0; break;
    case 4: nval = ((size_t)256 << (m->hdr[3] >> 4)) + 1; break; /* max_literal, FORMAT.md */
    case 5: nval = (size_t)256 << (m->hdr[3] >> 4); break;
    /* RFC 7888 4: under LITERAL- a non-synchronizing literal is at most 4096 octets */
    case 6: nval = 4096; binds = 1; break;
    case 7: nval = 4097; binds = 1; break;
    default: plus = !plus; nval = octets; break;
    }
    if (binds && below(m, 2)) {
        /* half the time in the one configuration where that bound is the one that binds: a
         * {N+} marker, the listener LITERAL- (version 3's flag), and a max_literal above 4096
         * (256 << M, M >= 5). Each alone gains no new coverage (the flag changes nothing
         * before such a marker arrives), so a fuzzer left to combine them by three separate
         * mutations rarely keeps the steps in between: AFL++ did not in 5 trials of 60 s */
        plus = 1;
        m->hdr[2] |= FZ_SFLAG_LITERAL_MINUS;
        if (m->version < FZ_SESSION_VERSION_LITERAL)
            m->version = FZ_SESSION_VERSION_LITERAL;
        if ((m->hdr[3] >> 4) < 5)
            m->hdr[3] = (uint8_t)((m->hdr[3] & 0x0f) | (5 + below(m, 3)) << 4);
    }
    char num[32];
    int nn = snprintf(num, sizeof num, "{%zu%s}", nval, plus ? "+" : "");
    set_payload3(m, i, m->ev[i].off, open, (const uint8_t *)num, (size_t)nn, m->ev[i].off + close + 1,
                 m->ev[i].n - close - 1);
    m->last = "literal-size";
    return 1;
}

/* One byte inserted before or after a delimiter of a client write, put in its place, or the
 * delimiter deleted. The delimiters are where a reader's state changes (RFC 9051 9: the parens
 * of a list, a section's brackets, a literal's braces, a partial's angle brackets, a quoted
 * string's DQUOTE, SP between arguments), so the grammar's edges are one byte from them: a byte
 * between a header list's ")" and its section's "]", an unclosed quote, "[" left open. They are
 * a few bytes of a session, and the byte mutator picks its positions uniformly: from an empty
 * corpus without dictionary it reached header-list-unclosed-accepted on imap_dovecot in 6/10
 * (libFuzzer) and 2/10 (AFL++) trials of 60 CPU s before this mutation. */
static int mut_delimiter(struct fz_mutator *m)
{
    static const char delims[] = "()[]{}<>\" ";
    static const char bytes[] = " x)](\"\\{0\r"; /* delimiters, a word byte, an escape, a digit, CR */
    long c = pick_client(m);
    if (c < 0)
        return 0;
    const uint8_t *p = pl(m, &m->ev[c]);
    size_t n = m->ev[c].n, nd = 0, j;
    for (j = 0; j < n; j++)
        nd += p[j] && strchr(delims, p[j]) != NULL;
    if (!nd)
        return 0;
    size_t r = below(m, nd);
    for (j = 0; j < n; j++)
        if (p[j] && strchr(delims, p[j]) && r-- == 0)
            break;
    uint8_t b = (uint8_t)bytes[below(m, sizeof bytes - 1)];
    size_t off = m->ev[c].off;
    switch (below(m, 4)) {
    case 0: set_payload3(m, (size_t)c, off, j + 1, &b, 1, off + j + 1, n - j - 1); break; /* after */
    case 1: set_payload3(m, (size_t)c, off, j, &b, 1, off + j, n - j); break;             /* before */
    case 2: /* instead (another byte: the same one would leave the write as it was) */
        b = b == p[j] ? (uint8_t)'x' : b;
        set_payload3(m, (size_t)c, off, j, &b, 1, off + j + 1, n - j - 1);
        break;
    default: set_payload3(m, (size_t)c, off, j, NULL, 0, off + j + 1, n - j - 1); break;  /* deleted */
    }
    m->last = "delimiter";
    return 1;
}

/* A dictionary token into a client write: at a line start, at a random place, or replacing the
 * first word of a line. */
static int mut_token(struct fz_mutator *m)
{
    long c = pick_client(m);
    if (!m->ntok || c < 0)
        return 0;
    size_t t = below(m, m->ntok), i = (size_t)c, n = m->ev[i].n, pos = below(m, n + 1);
    const uint8_t *p = pl(m, &m->ev[i]);
    if (below(m, 2)) { /* back to the start of its line */
        while (pos > 0 && p[pos - 1] != '\n')
            pos--;
    }
    size_t end = pos;
    if (below(m, 3) == 0) /* replace the word there */
        while (end < n && p[end] != ' ' && p[end] != '\r' && p[end] != '\n')
            end++;
    uint8_t tk[256];
    memcpy(tk, m->tok.p + m->tok_off[t], m->tok_len[t]);
    set_payload3(m, i, m->ev[i].off, pos, tk, m->tok_len[t], m->ev[i].off + end, n - end);
    m->last = "token";
    return 1;
}

/* A command of the target's protocol: a write of its own, or pipelined into a client write at
 * one of its line starts (RFC 2920: a client may send several commands in one write). */
static int mut_command(struct fz_mutator *m)
{
    uint8_t tmp[300];
    size_t n = command_line(m, tmp, m->nev == 0);
    long c = pick_client(m);
    if (c >= 0 && below(m, 3) == 0) {
        size_t i = (size_t)c, len = m->ev[i].n, pos = below(m, len + 1);
        const uint8_t *p = pl(m, &m->ev[i]);
        while (pos < len && pos > 0 && p[pos - 1] != '\n')
            pos++;
        set_payload3(m, i, m->ev[i].off, pos, tmp, n, m->ev[i].off + pos, len - pos);
        m->last = "command-pipelined";
        return 1;
    }
    ev_insert(m, below(m, m->nev + 1), FZ_EV_CLIENT, stash(m, tmp, n), n);
    m->last = "command";
    return 1;
}

/* A session built from nothing, for an input with fewer than three events (an empty corpus
 * starts with one empty input, which has no events to mutate): a header (protocol, listener
 * mode, certificate, TLS-required and LITERAL+ flags, small limits), the protocol's opening
 * command half the time, up to four more commands, and half the time a STARTTLS with TLS
 * coming up after it somewhere among them (the client goes on inside TLS). */
static int mut_generate(struct fz_mutator *m)
{
    uint8_t tmp[300];
    if (m->nev >= 3)
        return 0;
    m->nev = 0;
    if (m->layout == FZ_LAYOUT_SESSION)
        m->hdr[0] = (uint8_t)below(m, 3);
    m->hdr[1] = (uint8_t)below(m, 3);
    m->hdr[2] = (uint8_t)below(m, 8);
    /* max-line 64 << L, max-literal 256 << M (FORMAT.md): the small end, where limits bite */
    m->hdr[3] = below(m, 2) ? 0 : (uint8_t)(below(m, 4) << 4 | below(m, 10));
    size_t ncmd = 1 + below(m, 5), tls_at = below(m, 2) ? below(m, ncmd + 1) : (size_t)-1;
    for (size_t k = 0; k <= ncmd; k++) {
        if (k == tls_at) {
            const char *v = starttls_verb(client_proto(m));
            ev_insert(m, m->nev, FZ_EV_CLIENT, stash(m, v, strlen(v)), strlen(v));
            ev_insert(m, m->nev, FZ_EV_TLS, 0, 0);
        }
        if (k < ncmd) {
            size_t n = command_line(m, tmp, k == 0 && below(m, 2));
            ev_insert(m, m->nev, FZ_EV_CLIENT, stash(m, tmp, n), n);
        }
    }
    m->last = "generate";
    return 1;
}

/* The header: protocol, listener mode, certificate and policy flags, limits. */
static int mut_header(struct fz_mutator *m)
{
    switch (below(m, 4)) {
    case 0: m->hdr[0] = (uint8_t)below(m, 3); break;
    case 1: m->hdr[1] = (uint8_t)below(m, 3); break;
    case 2: {
        /* certificate, TLS required or LITERAL- (r % 3: the flip one draw gave before the
         * TLS-unavailable bit had a meaning, so fixed-seed runs keep their course), and in one
         * case in four the certificate-unusable bit too (SMTP 454). LITERAL- and TLS
         * unavailable mean something from version 3 on (FORMAT.md): flipping one makes the file
         * version 3 */
        size_t r = below(m, 12);
        unsigned bit = (unsigned)(r % 3);
        m->hdr[2] ^= (uint8_t)(1u << bit);
        if (bit == 2 && m->version < FZ_SESSION_VERSION_LITERAL)
            m->version = FZ_SESSION_VERSION_LITERAL;
        if (r / 3 == 3) {
            m->hdr[2] ^= FZ_SFLAG_TLS_UNAVAILABLE;
            if (m->version < FZ_SESSION_VERSION_TLS_UNAVAILABLE)
                m->version = FZ_SESSION_VERSION_TLS_UNAVAILABLE;
        }
        break;
    }
    default: m->hdr[3] = (uint8_t)(below(m, 2) ? (m->hdr[3] & 0xf0) | below(m, 10) : (m->hdr[3] & 0x0f) | below(m, 16) << 4);
    }
    m->last = "header";
    return 1;
}

/* One payload through the byte mutator (framing kept). */
static int mut_payload_bytes(struct fz_mutator *m)
{
    if (!m->bytes || !m->nev)
        return 0;
    long c = pick_client(m);
    size_t i = c >= 0 && below(m, 4) ? (size_t)c : below(m, m->nev);
    if (m->ev[i].type == FZ_EV_TLS)
        return 0;
    size_t n = m->ev[i].n, room = n + 64 > PAYLOAD_MAX ? PAYLOAD_MAX : n + 64;
    if (fz_buf_reserve(&m->arena, room) != 0)
        abort();
    size_t off = m->arena.n;
    memcpy(m->arena.p + off, m->arena.p + m->ev[i].off, n);
    size_t got = m->bytes(m->arena.p + off, n, room, m->bytes_ctx, rnd(m));
    if (got > room)
        got = room;
    m->arena.n += got;
    m->ev[i].off = off;
    m->ev[i].n = got;
    m->last = "payload-bytes";
    return 1;
}

typedef int (*mutation)(struct fz_mutator *);
static const mutation mutations[] = {
    mut_insert_write, mut_delete, mut_duplicate, mut_swap, mut_splice, mut_reads,
    mut_merge_split, mut_tls, mut_literal, mut_token, mut_header, mut_payload_bytes,
    mut_command, mut_command, mut_generate, mut_delimiter,
};
#define NMUT (sizeof mutations / sizeof mutations[0])

/* One field of targets/imap_tls.c's record parameters (prefix: TLS_FIXED + 1 + IN_MAX_CUTS
 * bytes, zero-filled), set to a value the target tells apart. */
static void mut_tls_prefix(struct fz_mutator *m, uint8_t *prefix)
{
    static const uint8_t seqs[] = {0, 1, 2, 0xfe, 0xff}, pads[] = {0, 1, 15, 16, 31};
    switch (below(m, 6)) {
    case 0: /* the suite: imap_tls reads it % 14 (targets/oracles/imap_tls_check.c SUITES) */
        prefix[0] = (uint8_t)below(m, 14);
        break;
    case 1: /* the first sequence number, near its ends */
        prefix[1] = below(m, 2) ? seqs[below(m, sizeof seqs)] : (uint8_t)rnd(m);
        break;
    case 2: /* one key byte */
        prefix[2 + below(m, TLS_KEY_BYTES)] = (uint8_t)rnd(m);
        break;
    case 3: /* the CBC explicit IV seed */
        prefix[TLS_FIXED - 2] = (uint8_t)rnd(m);
        break;
    case 4: /* TLS 1.3 padding: pad % 32 zero bytes per record */
        prefix[TLS_FIXED - 1] = below(m, 2) ? pads[below(m, sizeof pads)] : (uint8_t)rnd(m);
        break;
    default: { /* the ciphertext cuts: 1 byte, a header's 5, a header and a byte, small, large
                * (0x80 | k: 128 k + 1), 0 (the rest) */
        static const uint8_t cuts[] = {1, 2, 5, 6, 16, 21, 0x81, 0};
        size_t n = below(m, IN_MAX_CUTS);
        prefix[TLS_FIXED] = (uint8_t)n;
        for (size_t i = 0; i < n; i++)
            prefix[TLS_FIXED + 1 + i] = below(m, 2) ? cuts[below(m, sizeof cuts)] : (uint8_t)rnd(m);
        break;
    }
    }
}

/* Writes header + events into m->out; drops trailing events until the file fits max. */
static void serialize(struct fz_mutator *m, size_t max)
{
    if (m->version >= 2 && max < FZ_SESSION_HEADER + FZ_SESSION_MAGIC_LEN + 1) {
        /* no room for "MX" + the version byte (a long prefix, a small max_len): a version 1
         * header, without the flags that have a meaning only in a later version */
        m->version = 1;
        m->hdr[2] &= fz_session_known_flags(1);
    }
    size_t total = FZ_SESSION_HEADER + (m->version >= 2 ? FZ_SESSION_MAGIC_LEN + 1 : 0), keep = 0;
    while (keep < m->nev && total + 3 + m->ev[keep].n <= max) {
        total += 3 + m->ev[keep].n;
        keep++;
    }
    m->out.n = 0;
    fz_sbuf_header(&m->out, m->version, (enum fz_proto)m->hdr[0], (enum fz_mode)m->hdr[1], m->hdr[2],
                   m->hdr[3]);
    for (size_t i = 0; i < keep; i++)
        fz_sbuf_event(&m->out, m->ev[i].type, pl(m, &m->ev[i]), m->ev[i].n);
    if (m->out.oom)
        abort();
}

size_t fz_mutate(struct fz_mutator *m, const uint8_t *in, size_t n, const uint8_t *other, size_t other_n,
                 uint8_t *out, size_t max, uint64_t seed)
{
    m->rng = seed;
    m->last = "none";
    size_t pre = fz_layout_prefix(m->layout, in, n);
    if (max < pre + FZ_SESSION_HEADER) { /* no room for a session: bytes only */
        size_t k = n < max ? n : max;
        memmove(out, in, k);
        if (m->bytes)
            k = m->bytes(out, k, max, m->bytes_ctx, rnd(m));
        m->last = "bytes";
        return k;
    }
    /* the prefix as the target reads it: zero-filled to its full length */
    uint8_t prefix[TLS_FIXED + 1 + IN_MAX_CUTS];
    memset(prefix, 0, sizeof prefix);
    memcpy(prefix, in, n < pre ? n : pre);

    /* a fraction of mutations is the byte mutator's over the whole input: it reaches what the
     * event mutations do not (header aliases, framing, v2 files), guided by comparisons */
    if (m->bytes && below(m, 8) == 0) {
        size_t k = n < max ? n : max;
        memmove(out, in, k);
        m->last = "bytes";
        return m->bytes(out, k, max, m->bytes_ctx, rnd(m));
    }
    if (m->layout == FZ_LAYOUT_RECORDS) {
        /* out may be in (libFuzzer mutates in place): the record list is taken apart first */
        return fz_mutate_records(m, in, n, other, other_n, out, max);
    }
    if (m->layout == FZ_LAYOUT_RAW_RECORDS)
        return fz_mutate_raw_records(m, in, n, other, other_n, out, max);
    m->arena.n = 0;
    load(m, n > pre ? in + pre : in, n > pre ? n - pre : 0, &m->ev, &m->nev, &m->ev_cap, m->hdr, &m->version);
    m->nev2 = 0;
    if (other && other_n) {
        size_t opre = fz_layout_prefix(m->layout, other, other_n);
        if (other_n > opre)
            load(m, other + opre, other_n - opre, &m->ev2, &m->nev2, &m->ev2_cap, NULL, NULL);
    }
    if (m->layout == FZ_LAYOUT_TLS_SESSION && below(m, 8) == 0) {
        /* the record parameters: suite, sequence number, keys, IVs, padding, ciphertext cuts;
         * field by field, or the byte mutator over all of them */
        if (m->bytes && below(m, 2)) {
            m->bytes(prefix, pre, pre, m->bytes_ctx, rnd(m));
            m->last = "prefix-bytes";
        } else {
            mut_tls_prefix(m, prefix);
            m->last = "prefix-fields";
        }
        pre = fz_layout_prefix(m->layout, prefix, TLS_FIXED + 1);
    } else {
        /* one to four stacked mutations; a crossover partner makes a splice likely */
        size_t rounds = 1 + below(m, m->stack ? m->stack : 4);
        if (m->nev2 && below(m, 2))
            mut_splice(m);
        size_t done = 0;
        if (m->nev == 0 && below(m, 4)) /* nothing to mutate: mostly a session from nothing */
            done = (size_t)mut_generate(m);
        for (size_t r = done, tries = 0; r < rounds && tries < 32; tries++)
            r += (size_t)mutations[below(m, NMUT)](m);
        /* inserts, copies and splices grow a session: at most to twice its size (+ 512), and
         * past half the room it shrinks half the time, so that the corpus grows step by step
         * instead of drifting to max_len (every byte costs the target a step per chunking) */
        size_t soft = 2 * (n > pre ? n - pre : 0) + 512;
        const char *applied = m->last;
        for (int tries = 0; tries < 64 && m->nev; tries++) {
            size_t bytes = FZ_SESSION_HEADER;
            for (size_t i = 0; i < m->nev; i++)
                bytes += 3 + m->ev[i].n;
            if (bytes <= soft && (bytes <= (max - pre) / 2 || below(m, 2)))
                break;
            mut_delete(m);
        }
        m->last = applied;
    }
    serialize(m, max - pre);
    memcpy(out, prefix, pre);
    memcpy(out + pre, m->out.p, m->out.n);
    return pre + m->out.n;
}

int fz_session_canonical(const uint8_t *data, size_t size)
{
    struct fz_session s;
    struct fz_event e;
    struct fz_buf b = {0};
    size_t cur = 0;
    int ok;
    fz_session_parse(&s, data, size);
    fz_sbuf_header(&b, s.version, s.proto, s.mode, s.flags, s.limits);
    while (fz_session_next(&s, &cur, &e))
        fz_sbuf_event(&b, e.type, e.p, e.n);
    ok = !b.oom && b.n == size && memcmp(b.p, data, size) == 0;
    fz_buf_free(&b);
    return ok;
}
