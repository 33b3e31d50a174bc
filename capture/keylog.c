/* keylog.c - NSS key log parsing (see keylog.h). */
#include "keylog.h"
#include "hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *label;
    int kind; /* -1: known, not used */
} labels[] = {
    {"CLIENT_RANDOM", CAP_KL_MASTER},
    {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", CAP_KL_CLIENT_HS},
    {"SERVER_HANDSHAKE_TRAFFIC_SECRET", CAP_KL_SERVER_HS},
    {"CLIENT_TRAFFIC_SECRET_0", CAP_KL_CLIENT_APP},
    {"SERVER_TRAFFIC_SECRET_0", CAP_KL_SERVER_APP},
    {"EXPORTER_SECRET", -1},
    {"EARLY_EXPORTER_SECRET", -1},
    {"CLIENT_EARLY_TRAFFIC_SECRET", -1},
    {"RSA", -1},
};

/* Decodes a hex word of exactly 2*max or fewer digits; returns bytes or -1. */
static int unhex(const char *p, size_t n, uint8_t *out, size_t max)
{
    if (n == 0 || n % 2 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int a = fz_hex_digit((unsigned char)p[2 * i]), b = fz_hex_digit((unsigned char)p[2 * i + 1]);
        if (a < 0 || b < 0)
            return -1;
        out[i] = (uint8_t)(a << 4 | b);
    }
    return (int)(n / 2);
}

static void bad(struct cap_keylog *k, unsigned line, const char *what)
{
    if (k->bad_lines < 4)
        k->bad_line_no[k->bad_lines] = line;
    if (k->bad_lines == 0)
        snprintf(k->first_bad, sizeof k->first_bad, "line %u: %s", line, what);
    k->bad_lines++;
}

/* the four 64-bit words of a client random (random by construction) XORed: no arithmetic, so
 * nothing wraps (OSS-Fuzz's UBSan flags unsigned overflow too) */
static size_t cr_hash(const uint8_t cr[32])
{
    uint64_t w[4];
    memcpy(w, cr, 32);
    uint64_t h = w[0] ^ w[1] ^ w[2] ^ w[3];
    return (size_t)(h ^ (h >> 29) ^ (h >> 47));
}

static void slot_insert(uint32_t *slot, size_t nslots, const struct cap_keylog_entry *e,
                        uint32_t idx)
{
    size_t i = cr_hash(e[idx].client_random) & (nslots - 1);
    while (slot[i])
        i = (i + 1) & (nslots - 1);
    slot[i] = idx + 1;
}

static struct cap_keylog_entry *entry_for(struct cap_keylog *k, const uint8_t cr[32], int *oom)
{
    struct cap_keylog_entry *e = cap_keylog_find(k, cr);
    if (e)
        return e;
    if (k->n >= UINT32_MAX - 1) {
        *oom = 1;
        return NULL;
    }
    if ((k->n + 1) * 2 > k->nslots) {
        size_t ns = k->nslots ? k->nslots * 2 : 64;
        uint32_t *t = calloc(ns, sizeof *t);
        if (!t) {
            *oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < k->n; i++)
            slot_insert(t, ns, k->e, (uint32_t)i);
        free(k->slot);
        k->slot = t;
        k->nslots = ns;
    }
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 8;
        struct cap_keylog_entry *q = realloc(k->e, nc * sizeof *q);
        if (!q) {
            *oom = 1;
            return NULL;
        }
        k->e = q;
        k->cap = nc;
    }
    e = &k->e[k->n];
    memset(e, 0, sizeof *e);
    memcpy(e->client_random, cr, 32);
    slot_insert(k->slot, k->nslots, k->e, (uint32_t)k->n);
    k->n++;
    return e;
}

int cap_keylog_parse(struct cap_keylog *k, const uint8_t *buf, size_t len)
{
    const char *p = (const char *)buf, *end = p + len;
    unsigned line = 0;
    int oom = 0;
    memset(k, 0, sizeof *k);
    while (p < end && !oom) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *e = eol;
        line++;
        if (e > p && e[-1] == '\r')
            e--;
        const char *q = p;
        p = eol < end ? eol + 1 : end;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q == e || *q == '#')
            continue;
        k->lines++;
        /* three words */
        const char *w[3];
        size_t wn[3];
        int nw = 0;
        while (q < e && nw < 4) {
            const char *s = q;
            while (q < e && *q != ' ' && *q != '\t')
                q++;
            if (nw < 3) {
                w[nw] = s;
                wn[nw] = (size_t)(q - s);
            }
            nw++;
            while (q < e && (*q == ' ' || *q == '\t'))
                q++;
        }
        if (nw != 3) {
            bad(k, line, "expected LABEL CLIENT_RANDOM SECRET");
            continue;
        }
        int kind = -2;
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
            if (strlen(labels[i].label) == wn[0] && memcmp(labels[i].label, w[0], wn[0]) == 0)
                kind = labels[i].kind;
        if (kind == -2) {
            bad(k, line, "unknown label");
            continue;
        }
        if (kind == -1) {
            k->unused_lines++;
            continue;
        }
        uint8_t cr[32], sec[CAP_KEYLOG_SECRET_MAX];
        if (wn[1] != 64 || unhex(w[1], wn[1], cr, 32) != 32) {
            bad(k, line, "client random is not 64 hex digits");
            continue;
        }
        int sn = unhex(w[2], wn[2], sec, sizeof sec);
        if (sn < 0 || (kind == CAP_KL_MASTER ? sn != 48 : (sn != 32 && sn != 48))) {
            bad(k, line, kind == CAP_KL_MASTER ? "master secret is not 48 bytes of hex"
                                              : "traffic secret is not 32 or 48 bytes of hex");
            continue;
        }
        struct cap_keylog_entry *en = entry_for(k, cr, &oom);
        if (!en)
            continue;
        en->have |= (uint8_t)(1u << kind);
        en->len[kind] = (uint8_t)sn;
        memcpy(en->secret[kind], sec, (size_t)sn);
    }
    return oom ? -1 : 0;
}

struct cap_keylog_entry *cap_keylog_find(const struct cap_keylog *k, const uint8_t cr[32])
{
    if (!k->nslots)
        return NULL;
    for (size_t i = cr_hash(cr) & (k->nslots - 1); k->slot[i]; i = (i + 1) & (k->nslots - 1)) {
        struct cap_keylog_entry *e = &k->e[k->slot[i] - 1];
        if (memcmp(e->client_random, cr, 32) == 0)
            return e;
    }
    return NULL;
}

void cap_keylog_free(struct cap_keylog *k)
{
    free(k->e);
    free(k->slot);
    memset(k, 0, sizeof *k);
}
