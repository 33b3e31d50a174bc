/* mutator_records.c - the record-list mutation of FZ_LAYOUT_RECORDS (mutator.h): the input of
 * targets/record_diff.c read as its parts (suite, sequence number, key material, read pattern,
 * records) and changed at the level of those parts, so that a mutation keeps every later
 * record where the target reads it: a suite change re-fits the key material and every
 * record's explicit IV to the new suite's lengths, a plaintext length change resizes the
 * plaintext the record carries, records are inserted, copied, dropped and swapped whole.
 *
 * The field layout is record_diff's (its header comment; targets/oracles/record_seal.c reads
 * it). The lengths per suite index are fz_record_layout_suite's table below, which
 * record_seal.c checks against the oracle's on every input it seals, so the two cannot drift
 * apart unnoticed. */
#include "mutator.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"

/* Per suite index (input byte % 27, targets/oracles/record_model.c record_suites): the key
 * material the input carries (TLS 1.0-1.2: the key block, 2 * (MAC + key + fixed IV), RFC 5246
 * 6.3; TLS 1.3: the traffic secret, RFC 8446 7.1) and the explicit IV each record carries
 * (TLS 1.1/1.2 CBC: one cipher block, RFC 4346 6.2.3.2; else none). */
static const struct {
    uint8_t keys, iv;
} suites[] = {
    {104, 0}, {104, 0}, {136, 0}, {88, 8},  {72, 16},  {104, 16}, {88, 8},   {72, 16},  {104, 16},
    {40, 0},  {72, 0},  {88, 0},  {32, 0},  {48, 0},   {32, 0},   {136, 0},  {40, 0},   {72, 0},
    {104, 0}, {88, 8},  {104, 16}, {96, 16}, {128, 16}, {160, 16}, {160, 16}, {96, 16}, {104, 0},
};
#define NSUITES (sizeof suites / sizeof suites[0])

size_t fz_record_layout_nsuites(void)
{
    return NSUITES;
}

int fz_record_layout_suite(unsigned byte, size_t *keys, size_t *iv)
{
    *keys = suites[byte % NSUITES].keys;
    *iv = suites[byte % NSUITES].iv;
    return 0;
}

#define MAX_RECORDS 48                  /* RECORD_SEAL_MAX_RECORDS */
#define PLAINTEXT_BUDGET (4u * 16384)   /* RECORD_SEAL_PLAINTEXT_BUDGET */
#define MAX_KEYS 160

struct rrec {
    uint8_t op, fill, pad, val;
    size_t len, pos;
    size_t pt_off, pt_n; /* fill 0: the plaintext bytes the input carries (in the arena) */
    uint8_t iv[16];
};

struct rlist {
    uint8_t suite, seq, ncuts, cuts[IN_MAX_CUTS];
    uint8_t keys[MAX_KEYS];
    struct rrec r[MAX_RECORDS];
    size_t n;
};

static uint64_t rnd(struct fz_mutator *m)
{
    return fz_splitmix64(&m->rng);
}
static size_t below(struct fz_mutator *m, size_t n)
{
    return n ? (size_t)(rnd(m) % n) : 0;
}

static size_t keys_of(unsigned suite)
{
    return suites[suite % NSUITES].keys;
}
static size_t iv_of(unsigned suite)
{
    return suites[suite % NSUITES].iv;
}

/* Reads the input as record_seal.c does (fields past the end read as zero). */
static void rl_load(struct fz_mutator *m, struct rlist *l, const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    size_t budget = PLAINTEXT_BUDGET;
    l->suite = (uint8_t)in_u8(&in);
    l->seq = (uint8_t)in_u8(&in);
    in_copy(&in, l->keys, keys_of(l->suite));
    l->ncuts = (uint8_t)in_u8(&in);
    for (size_t i = 0; i < (size_t)l->ncuts % IN_MAX_CUTS; i++)
        l->cuts[i] = (uint8_t)in_u8(&in);
    l->n = 0;
    while (in.n > 0 && l->n < MAX_RECORDS) {
        struct rrec *r = &l->r[l->n++];
        r->op = (uint8_t)in_u8(&in);
        r->len = in_u16(&in) % 16385;
        r->len = r->len < budget ? r->len : budget;
        budget -= r->len;
        r->fill = (uint8_t)in_u8(&in);
        r->pt_n = 0;
        r->pt_off = m->arena.n;
        if (r->fill == 0) {
            size_t k = r->len;
            const uint8_t *p = in_take(&in, &k);
            r->pt_n = k;
            fz_buf_put(&m->arena, p, k);
        }
        memset(r->iv, 0, sizeof r->iv);
        in_copy(&in, r->iv, iv_of(l->suite));
        r->pad = (uint8_t)in_u8(&in);
        r->pos = in_u16(&in);
        r->val = (uint8_t)in_u8(&in);
    }
}

/* Writes the list; drops trailing records until it fits max. A record whose plaintext the
 * input carries gets all of it (its length field says so, cut to the input's plaintext budget
 * as the target cuts it), so every later field stays where the target reads it. */
static size_t rl_store(struct fz_mutator *m, const struct rlist *l, uint8_t *out, size_t max)
{
    size_t kl = keys_of(l->suite), ivl = iv_of(l->suite), nc = (size_t)l->ncuts % IN_MAX_CUTS, o = 0;
    uint8_t head[2 + MAX_KEYS + 1 + IN_MAX_CUTS];
    head[o++] = l->suite;
    head[o++] = l->seq;
    memcpy(head + o, l->keys, kl);
    o += kl;
    head[o++] = l->ncuts;
    memcpy(head + o, l->cuts, nc);
    o += nc;
    if (o > max) { /* no room for the parameters: what fits of them, a byte string */
        memcpy(out, head, max);
        m->last = "bytes";
        return max;
    }
    memcpy(out, head, o);
    size_t budget = PLAINTEXT_BUDGET; /* the target cuts lengths to it: write them cut */
    for (size_t i = 0; i < l->n; i++) {
        const struct rrec *r = &l->r[i];
        size_t len = r->fill == 0 ? r->pt_n : r->len, need;
        len = len < budget ? len : budget;
        budget -= len;
        need = 4 + (r->fill == 0 ? len : 0) + ivl + 4;
        if (o + need > max)
            break;
        out[o++] = r->op;
        out[o++] = (uint8_t)len;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = r->fill;
        if (r->fill == 0) {
            memcpy(out + o, m->arena.p + r->pt_off, len);
            o += len;
        }
        memcpy(out + o, r->iv, ivl);
        o += ivl;
        out[o++] = r->pad;
        out[o++] = (uint8_t)r->pos;
        out[o++] = (uint8_t)(r->pos >> 8);
        out[o++] = r->val;
    }
    return o;
}

/* A plaintext length at a boundary of the record layer: empty, one block and one off it, the
 * MAC lengths, the 2^14 limit (RFC 5246 6.2.1) and one below, or small. */
static size_t boundary_len(struct fz_mutator *m)
{
    static const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 19, 20, 21, 31, 32, 33, 47, 48, 49, 255, 256, 16383, 16384};
    if (below(m, 3) == 0)
        return below(m, 64);
    return lens[below(m, sizeof lens / sizeof lens[0])];
}

static void rec_plaintext(struct fz_mutator *m, struct rrec *r, size_t len)
{
    r->len = len;
    if (r->fill != 0 || len > 4096) { /* a generated pattern: the input stays short */
        r->fill = (uint8_t)(1 + below(m, 255));
        r->pt_n = 0;
        return;
    }
    size_t off = m->arena.n;
    size_t keep = r->pt_n < len ? r->pt_n : len;
    if (fz_buf_reserve(&m->arena, len) != 0)
        abort(); /* the harness out of memory is no finding */
    memmove(m->arena.p + off, m->arena.p + r->pt_off, keep);
    for (size_t i = keep; i < len; i++)
        m->arena.p[off + i] = (uint8_t)rnd(m);
    m->arena.n += len;
    r->pt_off = off;
    r->pt_n = len;
}

static void new_record(struct fz_mutator *m, struct rrec *r)
{
    memset(r, 0, sizeof *r);
    /* mostly application data (23: op & 3 == 3), uncorrupted (op >> 2 in 0..2) */
    r->op = (uint8_t)((below(m, 4) ? 3 : below(m, 4)) | below(m, 3) << 2);
    r->fill = (uint8_t)(below(m, 4) ? 1 + below(m, 255) : 0);
    r->pt_off = m->arena.n;
    rec_plaintext(m, r, boundary_len(m));
    for (size_t i = 0; i < sizeof r->iv; i++)
        r->iv[i] = (uint8_t)rnd(m);
}

/* A read pattern (fuzz_input.h in_cuts) of mostly small sizes, which split headers, IVs and
 * MACs; returns its count byte. */
static uint8_t new_cuts(struct fz_mutator *m, uint8_t cuts[IN_MAX_CUTS])
{
    uint8_t n = (uint8_t)below(m, IN_MAX_CUTS);
    for (size_t k = 0; k < n; k++)
        cuts[k] = (uint8_t)(below(m, 4) ? 1 + below(m, 24) : rnd(m));
    return n;
}

/* The whole-record edits both layouts share, over base[0..*n) of elements of `size` bytes
 * (room for cap): EDIT_INSERT opens a gap at a random *at for the caller to fill, EDIT_COPY
 * copies an element right after it, EDIT_DROP drops one, EDIT_SWAP swaps two. An insert or
 * copy into a full list falls through to the next edit; returns the edit applied, or -1. */
enum { EDIT_INSERT, EDIT_COPY, EDIT_DROP, EDIT_SWAP };

static int list_edit(struct fz_mutator *m, void *base, size_t *n, size_t cap, size_t size, int edit, size_t *at)
{
    uint8_t *b = base;
    size_t i = below(m, *n ? *n : 1);
    switch (edit) {
    case EDIT_INSERT:
        if (*n < cap) {
            *at = below(m, *n + 1);
            memmove(b + (*at + 1) * size, b + *at * size, (*n - *at) * size);
            (*n)++;
            return EDIT_INSERT;
        }
        /* fall through */
    case EDIT_COPY:
        if (*n && *n < cap) {
            memmove(b + (i + 1) * size, b + i * size, (*n - i) * size);
            (*n)++;
            return EDIT_COPY;
        }
        /* fall through */
    case EDIT_DROP:
        if (*n) {
            memmove(b + i * size, b + (i + 1) * size, (*n - i - 1) * size);
            (*n)--;
            return EDIT_DROP;
        }
        return -1;
    default:
        if (*n >= 2) {
            uint8_t *x = b + i * size, *y = b + below(m, *n) * size;
            for (size_t k = 0; k < size; k++) {
                uint8_t t = x[k];
                x[k] = y[k];
                y[k] = t;
            }
            return EDIT_SWAP;
        }
        return -1;
    }
}

/* Crossover: src's elements from some point on, behind some of dst's (at most cap in all). */
static void list_splice(struct fz_mutator *m, void *dst, size_t *dn, size_t cap, const void *src, size_t sn, size_t size)
{
    size_t from = below(m, sn + 1), at = below(m, *dn + 1), k = sn - from;
    if (at + k > cap)
        k = cap - at;
    memcpy((uint8_t *)dst + at * size, (const uint8_t *)src + from * size, k * size);
    *dn = at + k;
}

/* Stacked mutations, as both layouts take them: 1 to m->stack (default 3) that apply, by ONE
 * on LIST (a struct rlist or raw_list), at most 16 tries; m->last names the last that applied,
 * "none" when none did. */
static void mutate_stacked(struct fz_mutator *m, const char *(*one)(struct fz_mutator *, void *), void *list)
{
    const char *name = NULL;
    for (size_t r = 1 + below(m, m->stack ? m->stack : 3), tries = 0; r > 0 && tries < 16; tries++) {
        const char *got = one(m, list);
        if (got) {
            name = got;
            r--;
        }
    }
    m->last = name ? name : "none";
}

/* One record-level mutation of L (a struct rlist); returns its name. */
static const char *rl_mutate(struct fz_mutator *m, void *list)
{
    struct rlist *l = list;
    static const char *const edits[] = {"record-insert", "record-duplicate", "record-delete", "record-swap"};
    size_t op = below(m, 11), at = 0, i;
    if (op < 4) { /* a new record, a copy right after it, one dropped, two swapped */
        int e = list_edit(m, l->r, &l->n, MAX_RECORDS, sizeof *l->r, (int)op, &at);
        if (e == EDIT_INSERT)
            new_record(m, &l->r[at]);
        return e < 0 ? NULL : edits[e];
    }
    i = below(m, l->n ? l->n : 1);
    switch (op) {
    case 4: { /* another suite: the key material and the IVs follow its lengths */
        size_t old = keys_of(l->suite);
        l->suite = (uint8_t)below(m, NSUITES);
        for (size_t k = old; k < keys_of(l->suite); k++)
            l->keys[k] = (uint8_t)rnd(m);
        return "record-suite";
    }
    case 5: { /* the first sequence number near its ends (record_diff: v >= 0xf0 is 2^64-16+v) */
        static const uint8_t seqs[] = {0, 1, 2, 0xef, 0xf0, 0xfd, 0xfe, 0xff};
        l->seq = below(m, 2) ? seqs[below(m, sizeof seqs)] : (uint8_t)rnd(m);
        return "record-seq";
    }
    case 6: /* a plaintext length at a boundary */
        if (!l->n)
            return NULL;
        rec_plaintext(m, &l->r[i], boundary_len(m));
        return "record-length";
    case 7: /* a corruption (record_diff op >> 2): none, bit flip, truncation, an extra byte,
             * a swap, CBC padding rewritten or AEAD header byte */
        if (!l->n)
            return NULL;
        l->r[i].op = (uint8_t)((l->r[i].op & 3) | below(m, 8) << 2);
        l->r[i].pos = below(m, 2) ? below(m, 64) : (size_t)(rnd(m) & 0xffff);
        l->r[i].val = (uint8_t)rnd(m);
        return "record-corrupt";
    case 8: /* padding: CBC (corruption 7: val & 0x80 a bad byte at pos, else val % 16 more
             * valid blocks, RFC 5246 6.2.3.2) or TLS 1.3 zero padding (RFC 8446 5.4) */
        if (!l->n)
            return NULL;
        if (below(m, 2)) {
            l->r[i].op = (uint8_t)((l->r[i].op & 3) | 7 << 2);
            l->r[i].val = (uint8_t)(below(m, 2) ? 0x80 | below(m, 128) : below(m, 16));
            l->r[i].pos = below(m, 16);
        } else {
            static const uint8_t pads[] = {0, 1, 15, 16, 31, 255};
            l->r[i].pad = pads[below(m, sizeof pads)];
        }
        return "record-padding";
    case 9: /* the content type (op & 3: 20 + it) */
        if (!l->n)
            return NULL;
        l->r[i].op = (uint8_t)((l->r[i].op & ~3u) | below(m, 4));
        return "record-type";
    default: { /* the ciphertext read pattern: small cuts split headers, IVs, MACs */
        l->ncuts = new_cuts(m, l->cuts);
        return "record-cuts";
    }
    }
}

size_t fz_mutate_records(struct fz_mutator *m, const uint8_t *in, size_t n, const uint8_t *other, size_t other_n,
                         uint8_t *out, size_t max)
{
    static struct rlist l, l2;
    m->arena.n = 0;
    rl_load(m, &l, in, n);
    if (other && other_n && below(m, 2)) {
        /* crossover: the other input's records from some point on, behind ours */
        rl_load(m, &l2, other, other_n);
        list_splice(m, l.r, &l.n, MAX_RECORDS, l2.r, l2.n, sizeof *l.r);
        m->last = "record-splice";
    } else if (l.n == 0 && below(m, 4)) {
        /* nothing to mutate: a suite and one to three records */
        l.suite = (uint8_t)below(m, NSUITES);
        for (size_t k = 0; k < keys_of(l.suite); k++)
            l.keys[k] = (uint8_t)rnd(m);
        for (size_t k = 1 + below(m, 3); k > 0; k--)
            new_record(m, &l.r[l.n++]);
        m->last = "record-generate";
    } else {
        mutate_stacked(m, rl_mutate, &l);
    }
    return rl_store(m, &l, out, max);
}

int fz_records_canonical(const uint8_t *data, size_t size)
{
    static struct rlist l;
    static uint8_t again[2 * 65536 + 4096];
    struct fz_mutator m;
    int ok;
    fz_mutator_init(&m, FZ_LAYOUT_RECORDS, NULL, NULL);
    rl_load(&m, &l, data, size);
    ok = size <= sizeof again && rl_store(&m, &l, again, sizeof again) == size && memcmp(again, data, size) == 0;
    fz_mutator_free(&m);
    return ok;
}

/* ---- FZ_LAYOUT_RAW_RECORDS: targets/record.c's input, u8 config, the read pattern (u8 ncuts,
 * ncuts % 8 sizes), then the server's byte stream as is, read here as TLS records (RFC 5246
 * 6.2.1 / RFC 8446 5.1: u8 type, u16 version, u16 length, length bytes). The records are
 * sealed under the target's fixed keys (tools/record-seeds), so the mutator does not see
 * plaintext: it moves whole records (insert, copy, drop, swap, splice from another input),
 * changes the header (type, version, a length fitted to the body, or one off it: the stream
 * desynchronises there), resizes a body to the block and tag sizes a suite's ciphertext has,
 * changes the last body byte (the CBC padding length once decrypted), and changes the
 * config (the suite the target decrypts with). Every byte of the input is kept: what does not
 * parse as a record (a short tail, records past RAW_MAX) is carried over as is. */

#define RAW_MAX 64

struct raw_rec {
    uint8_t type;
    uint16_t version, len; /* as the header says */
    size_t off, n;         /* the body's bytes in the arena (n < len: the stream ended) */
};

struct raw_list {
    uint8_t cfg, ncuts, cuts[IN_MAX_CUTS];
    size_t nhead; /* 1 + 1 + sizes the input carried of the parameters (short inputs) */
    struct raw_rec r[RAW_MAX];
    size_t n, tail_off, tail_n;
};

static void raw_load(struct fz_mutator *m, struct raw_list *l, const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    memset(l, 0, sizeof *l);
    l->cfg = (uint8_t)in_u8(&in);
    l->ncuts = (uint8_t)in_u8(&in);
    for (size_t i = 0; i < (size_t)l->ncuts % IN_MAX_CUTS; i++)
        l->cuts[i] = (uint8_t)in_u8(&in);
    l->nhead = size - in.n;
    while (in.n >= 5 && l->n < RAW_MAX) {
        struct raw_rec *r = &l->r[l->n++];
        r->type = in.p[0];
        r->version = (uint16_t)(in.p[1] << 8 | in.p[2]);
        r->len = (uint16_t)(in.p[3] << 8 | in.p[4]);
        in.p += 5;
        in.n -= 5;
        size_t k = r->len;
        const uint8_t *p = in_take(&in, &k);
        r->off = m->arena.n;
        r->n = k;
        fz_buf_put(&m->arena, p, k);
    }
    l->tail_off = m->arena.n;
    l->tail_n = in.n;
    fz_buf_put(&m->arena, in.p, in.n);
    if (m->arena.oom)
        abort(); /* the harness out of memory is no finding */
}

/* Writes the list; drops trailing records (and the tail) that do not fit max. */
static size_t raw_store(struct fz_mutator *m, const struct raw_list *l, uint8_t *out, size_t max)
{
    uint8_t head[2 + IN_MAX_CUTS];
    size_t o = 0, nh = l->nhead;
    head[0] = l->cfg;
    head[1] = l->ncuts;
    memcpy(head + 2, l->cuts, (size_t)l->ncuts % IN_MAX_CUTS);
    if (l->n || l->tail_n) /* records follow: the whole read pattern, as the target reads it */
        nh = 2 + (size_t)l->ncuts % IN_MAX_CUTS;
    nh = nh < max ? nh : max;
    memcpy(out, head, nh);
    o = nh;
    for (size_t i = 0; i < l->n; i++) {
        const struct raw_rec *r = &l->r[i];
        if (o + 5 + r->n > max)
            return o;
        out[o++] = r->type;
        out[o++] = (uint8_t)(r->version >> 8);
        out[o++] = (uint8_t)r->version;
        out[o++] = (uint8_t)(r->len >> 8);
        out[o++] = (uint8_t)r->len;
        memcpy(out + o, m->arena.p + r->off, r->n);
        o += r->n;
    }
    if (o + l->tail_n <= max) {
        memcpy(out + o, m->arena.p + l->tail_off, l->tail_n);
        o += l->tail_n;
    }
    return o;
}

/* A ciphertext body length a suite can have: k blocks of 8 or 16 (CBC, IV and MAC and padding
 * inside), an AEAD's 8-byte explicit nonce + 16-byte tag + k, the 2^14 + 2048 limit of TLS
 * 1.0-1.2 ciphertext and the 2^14 + 256 of TLS 1.3 (RFC 5246 6.2.3, RFC 8446 5.2), each one
 * off or exact. */
static size_t raw_body_len(struct fz_mutator *m)
{
    static const size_t limits[] = {0, 16384, 16384 + 256, 16384 + 2048};
    size_t base;
    switch (below(m, 4)) {
    case 0:
        base = 8 * (1 + below(m, 12));
        break;
    case 1:
        base = 16 * (1 + below(m, 8));
        break;
    case 2:
        base = 8 + 16 + below(m, 48);
        break;
    default:
        base = limits[below(m, sizeof limits / sizeof limits[0])];
        break;
    }
    size_t d = below(m, 4); /* mostly exact, else one off either way */
    return d == 1 ? base + 1 : d == 2 && base ? base - 1 : base;
}

/* Resizes record r's body to len bytes (its own bytes kept, the rest random or a copy of its
 * last byte: a run of padding-length bytes) and fits the header's length to it. */
static void raw_resize(struct fz_mutator *m, struct raw_rec *r, size_t len)
{
    size_t off = m->arena.n, keep = r->n < len ? r->n : len;
    int pad = below(m, 2) != 0;
    if (fz_buf_reserve(&m->arena, len) != 0)
        abort();
    memmove(m->arena.p + off, m->arena.p + r->off, keep);
    for (size_t i = keep; i < len; i++)
        m->arena.p[off + i] = pad && keep ? m->arena.p[off + keep - 1] : (uint8_t)rnd(m);
    m->arena.n += len;
    r->off = off;
    r->n = len;
    r->len = (uint16_t)len;
}

static void raw_new(struct fz_mutator *m, struct raw_rec *r)
{
    static const uint16_t versions[] = {0x0301, 0x0302, 0x0303};
    memset(r, 0, sizeof *r);
    r->type = (uint8_t)(below(m, 4) ? 23 : 20 + below(m, 4));
    r->version = versions[below(m, 3)];
    r->off = m->arena.n;
    raw_resize(m, r, raw_body_len(m) % 4096);
}

/* One record-level mutation of the raw stream (a struct raw_list); returns its name (NULL:
 * nothing to do). */
static const char *raw_mutate(struct fz_mutator *m, void *list)
{
    struct raw_list *l = list;
    static const char *const edits[] = {"raw-insert", "raw-duplicate", "raw-delete", "raw-swap"};
    size_t op = below(m, 10), at = 0, i;
    if (op < 4) {
        int e = list_edit(m, l->r, &l->n, RAW_MAX, sizeof *l->r, (int)op, &at);
        if (e == EDIT_INSERT)
            raw_new(m, &l->r[at]);
        return e < 0 ? NULL : edits[e];
    }
    i = below(m, l->n ? l->n : 1);
    switch (op) {
    case 4: /* the suite the target decrypts with (config % 28; 27: no keys, records in the clear) */
        l->cfg = (uint8_t)below(m, NSUITES + 1);
        return "raw-suite";
    case 5: { /* the header's version: SSL 3.0, TLS 1.0-1.3's, a TLS 1.3 record's 0x0303, other */
        static const uint16_t versions[] = {0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x0203, 0x0403};
        if (!l->n)
            return NULL;
        l->r[i].version = below(m, 8) ? versions[below(m, sizeof versions / sizeof versions[0])] : (uint16_t)rnd(m);
        return "raw-version";
    }
    case 6: /* the header's type: the four of RFC 5246 6.2.1, or one outside them */
        if (!l->n)
            return NULL;
        l->r[i].type = (uint8_t)(below(m, 6) ? 20 + below(m, 4) : rnd(m));
        return "raw-type";
    case 7: /* the header's length: fitted to the body, or one off it (the stream desynchronises) */
        if (!l->n)
            return NULL;
        {
            size_t d = below(m, 3);
            l->r[i].len = (uint16_t)(d == 0 ? l->r[i].n : d == 1 ? l->r[i].n + 1 : l->r[i].n - (l->r[i].n > 0));
        }
        return "raw-length";
    case 8: /* a body a suite's ciphertext can have (or one off), header fitted */
        if (!l->n)
            return NULL;
        raw_resize(m, &l->r[i], raw_body_len(m));
        return "raw-body-length";
    default: { /* the last body byte: the CBC padding length once decrypted (RFC 5246 6.2.3.2),
                * a MAC byte; or the read pattern */
        if (l->n && below(m, 2)) {
            struct raw_rec *r = &l->r[i];
            static const uint8_t pads[] = {0, 1, 7, 8, 15, 16, 255};
            if (!r->n)
                return NULL;
            raw_resize(m, r, r->n); /* a private copy: the body may be shared with a duplicate */
            m->arena.p[r->off + r->n - 1 - (below(m, 4) == 0 ? below(m, r->n) : 0)] =
                below(m, 2) ? pads[below(m, sizeof pads)] : (uint8_t)rnd(m);
            return "raw-padding";
        }
        l->ncuts = new_cuts(m, l->cuts);
        l->nhead = 2 + l->ncuts;
        return "raw-cuts";
    }
    }
}

size_t fz_mutate_raw_records(struct fz_mutator *m, const uint8_t *in, size_t n, const uint8_t *other, size_t other_n,
                             uint8_t *out, size_t max)
{
    static struct raw_list l, l2;
    m->arena.n = 0;
    raw_load(m, &l, in, n);
    if (other && other_n && below(m, 2)) {
        /* crossover: the other input's records from some point on, behind some of ours */
        raw_load(m, &l2, other, other_n);
        list_splice(m, l.r, &l.n, RAW_MAX, l2.r, l2.n, sizeof *l.r);
        l.tail_n = 0;
        m->last = "raw-splice";
    } else if (l.n == 0 && l.tail_n == 0 && below(m, 4)) {
        l.cfg = (uint8_t)below(m, NSUITES + 1);
        l.ncuts = 0;
        for (size_t k = 1 + below(m, 3); k > 0; k--)
            raw_new(m, &l.r[l.n++]);
        m->last = "raw-generate";
    } else {
        mutate_stacked(m, raw_mutate, &l);
    }
    return raw_store(m, &l, out, max);
}

int fz_raw_records_canonical(const uint8_t *data, size_t size, size_t *records, int *framed)
{
    static struct raw_list l;
    static uint8_t again[65536 + 4096];
    struct fz_mutator m;
    int ok;
    fz_mutator_init(&m, FZ_LAYOUT_RAW_RECORDS, NULL, NULL);
    raw_load(&m, &l, data, size);
    ok = size <= sizeof again && raw_store(&m, &l, again, sizeof again) == size && memcmp(again, data, size) == 0;
    *records = l.n;
    *framed = l.tail_n == 0;
    for (size_t i = 0; i < l.n; i++)
        *framed &= l.r[i].n == l.r[i].len;
    fz_mutator_free(&m);
    return ok;
}
