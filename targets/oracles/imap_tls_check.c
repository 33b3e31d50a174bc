/* imap_tls_check.c - the imap_tls target's driver (see imap_tls_check.h): seal the session's
 * client reads into TLS records with BoringSSL, feed the ciphertext to libmx's record layer and
 * the plaintext to its IMAP reader, and check both. */
#include "imap_tls_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "fail.h"
#include "imap_check.h"
#include "imap_model.h"
#include "mx/chain.h"
#include "mx/imap.h"
#include "mx/record.h"
#include "sampled.h"
#include "tls_oracle.h"

static const struct {
    uint16_t version, suite;
    const char *name;
} SUITES[] = {
    {0x0301, 0x000A, "TLS1.0 DES-CBC3-SHA"}, {0x0301, 0x002F, "TLS1.0 AES128-SHA"},
    {0x0301, 0x0035, "TLS1.0 AES256-SHA"},   {0x0302, 0x000A, "TLS1.1 DES-CBC3-SHA"},
    {0x0302, 0x002F, "TLS1.1 AES128-SHA"},   {0x0303, 0x000A, "TLS1.2 DES-CBC3-SHA"},
    {0x0303, 0x002F, "TLS1.2 AES128-SHA"},   {0x0303, 0x0035, "TLS1.2 AES256-SHA"},
    {0x0303, 0xC02F, "TLS1.2 ECDHE-RSA-AES128-GCM-SHA256"},
    {0x0303, 0xC030, "TLS1.2 ECDHE-RSA-AES256-GCM-SHA384"},
    {0x0303, 0xCCA8, "TLS1.2 ECDHE-RSA-CHACHA20-POLY1305"},
    {0x0304, 0x1301, "TLS1.3 AES_128_GCM_SHA256"}, {0x0304, 0x1302, "TLS1.3 AES_256_GCM_SHA384"},
    {0x0304, 0x1303, "TLS1.3 CHACHA20_POLY1305_SHA256"},
};
#define NSUITES (sizeof SUITES / sizeof SUITES[0])

#define FAIL(...) fz_fail("imap_tls", __VA_ARGS__)

void imap_tls_input(const uint8_t *data, size_t size, struct imap_tls_params *p,
                    struct fz_session *s)
{
    struct in in = {data, size};
    p->suite = in_u8(&in);
    p->seq = in_u8(&in);
    in_copy(&in, p->keys, sizeof p->keys);
    p->iv_seed = in_u8(&in);
    p->pad = in_u8(&in);
    p->ncuts = in_cuts(&in, p->cuts);
    fz_session_parse(s, in.p, in.n);
}

static int keys_for(struct tls_oracle *o, const struct imap_tls_sealed *st)
{
    if (SUITES[st->si].version == 0x0304)
        return tls_oracle_init13(o, TLS_ORACLE_SEAL, SUITES[st->si].suite, st->keys,
                                 st->secret_len, st->seq);
    return tls_oracle_init12(o, TLS_ORACLE_SEAL, SUITES[st->si].version, SUITES[st->si].suite, 1,
                             st->keys, st->kb_len, st->seq);
}

int imap_tls_set_keys(const struct imap_tls_sealed *st, struct mx_record *rec)
{
    mx_record_init(rec);
    return SUITES[st->si].version == 0x0304
               ? mx_record_set_tls13_secret(rec, SUITES[st->si].suite, st->keys, st->secret_len,
                                            st->seq)
               : mx_record_set_tls12_keys(rec, SUITES[st->si].version, SUITES[st->si].suite,
                                          MX_REC_MAC_THEN_ENCRYPT, 1, st->keys, st->kb_len,
                                          st->seq);
}

static void run(const struct imap_tls_sealed *st, const struct fz_session *s, const size_t *cuts,
                size_t ncuts, unsigned flags)
{
    const uint8_t *stream = st->plain, *cipher = st->cipher;
    const struct imap_tls_rec *recs = st->recs;
    size_t n = st->plain_len, nrecs = st->nrecs, clen = st->cipher_len;
    const char *label = flags & MX_IMAP_LITERAL_PLUS ? "LITERAL+" : "LITERAL-";
    /* kept from input to input (18 KiB of record state and 16 KiB of plaintext, and the
     * model's event lists): allocated once, not per input */
    static struct imap_model m;
    static struct mx_record rec_state;
    static uint8_t out[MX_RECORD_MAX_PLAINTEXT];
    struct mx_record *rec = &rec_state;
    struct imap_check chk;
    struct mx_alloc a, pooled = fz_alloc_pooled();
    struct mx_imap rd;
    struct mx_chain net, plain;
    size_t off = 0, icut = 0, got = 0;
    int rc;

    imap_model_run(&m, stream, n, s->max_line, s->max_literal, flags, 0);
    imap_check_init(&chk, &m, SUITES[st->si].name, label);
    a = imap_check_alloc(&chk);
    struct mx_imap_config cfg = {s->max_line, s->max_literal, flags, imap_check_sink, &chk, &a, 0};
    if (mx_imap_init(&rd, &cfg) != 0)
        FAIL("mx_imap_init failed");
    rc = imap_tls_set_keys(st, rec);
    if (rc != MX_REC_OK)
        FAIL("%s: libmx refused the keys: %s", SUITES[st->si].name, mx_record_strerror(rc));
    mx_chain_init(&net, 0, &pooled);
    mx_chain_init(&plain, 0, &pooled);

    while (off < clen) {
        size_t k = in_cut_next(cuts, ncuts, &icut, clen - off);
        if (mx_chain_append(&net, cipher + off, k) != MX_CHAIN_OK)
            FAIL("chain append failed");
        off += k;
        for (;;) {
            uint8_t type = 0;
            size_t olen = 0;
            rc = mx_record_read(rec, &net, &type, out, MX_RECORD_MAX_PLAINTEXT, &olen);
            if (rc == MX_REC_NEED_MORE)
                break;
            if (rc != MX_REC_OK)
                FAIL("%s: record %zu of %zu rejected by libmx: %s", SUITES[st->si].name, got,
                     nrecs, mx_record_strerror(rc));
            if (got >= nrecs)
                FAIL("%s: libmx returned more records than were sealed", SUITES[st->si].name);
            if (type != MX_TLS_APPLICATION_DATA || olen != recs[got].len ||
                memcmp(out, stream + recs[got].off, olen) != 0)
                FAIL("%s: record %zu decrypted to type %u, %zu bytes; sealed %zu bytes of "
                     "application data", SUITES[st->si].name, got, type, olen, recs[got].len);
            got++;
            if (olen == 0)
                continue;
            if (mx_chain_append(&plain, out, olen) != MX_CHAIN_OK)
                FAIL("plaintext chain append failed");
            chk.delivered += olen;
            imap_check_pump(&chk, &rd, &plain);
        }
    }
    if (got != nrecs || net.bytes != 0)
        FAIL("%s: %zu of %zu records read, %zu ciphertext bytes left", SUITES[st->si].name, got,
             nrecs, net.bytes);
    imap_check_pump(&chk, &rd, &plain);
    imap_check_end(&chk, &rd);
    if (plain.bytes != 0 || plain.consumed != n || mx_chain_check(&plain) != 0 ||
        net.consumed != clen || mx_chain_check(&net) != 0)
        FAIL("chain counters: plaintext bytes %zu consumed %llu (stream %zu); ciphertext "
             "consumed %llu of %zu",
             plain.bytes, (unsigned long long)plain.consumed, n,
             (unsigned long long)net.consumed, clen);
    mx_imap_release(&rd);
    mx_chain_release(&net);
    mx_chain_release(&plain);
    mx_record_cleanup(rec);
}

void imap_tls_seal(const struct imap_tls_params *prm, const struct fz_session *s,
                   struct imap_tls_sealed *out)
{
    struct imap_tls_sealed st;
    struct fz_reader rdr;
    struct fz_read rd;
    struct tls_oracle o;
    size_t n = 0, nrecs = 0, clen = 0, ccap, pad = prm->pad % 32, ncuts = prm->ncuts;
    const size_t *cuts = prm->cuts;
    /* scratch buffers kept from input to input (fz_buf_scratch) */
    static struct fz_buf stream_b, recs_b, cipher_b, rec_end_b, per_b;
    uint8_t *stream, *cipher;
    struct imap_tls_rec *recs;
    size_t *rec_end; /* ciphertext offset where record i ends */
    size_t *per;     /* record i's ciphertext length */
    unsigned iv_seed = prm->iv_seed;
    int cipher_kind;
    size_t mac_len, key_len, iv_len;

    st.si = prm->suite % NSUITES;
    st.seq = SUITES[st.si].version == 0x0304 ? 0 : prm->seq;
    st.keys = prm->keys;
    if (tls_oracle_suite_info(SUITES[st.si].version, SUITES[st.si].suite, &cipher_kind, &mac_len,
                              &key_len, &iv_len) != 0)
        FAIL("%s: unknown to the oracle", SUITES[st.si].name);
    st.secret_len = SUITES[st.si].suite == 0x1302 ? 48 : 32;
    st.kb_len = tls_oracle_key_block_len(SUITES[st.si].version, SUITES[st.si].suite);
    if (SUITES[st.si].version != 0x0304 &&
        (st.kb_len == 0 || st.kb_len > IMAP_TLS_KEYS_LEN ||
         st.kb_len != mx_record_key_block_len(SUITES[st.si].version, SUITES[st.si].suite)))
        FAIL("%s: key block length %zu (oracle) vs %zu (libmx)", SUITES[st.si].name, st.kb_len,
             mx_record_key_block_len(SUITES[st.si].version, SUITES[st.si].suite));

    /* the client bytes are a part of the events, and every record holds one of them or more */
    stream = fz_buf_scratch(&stream_b, s->ev_size + 1);
    recs = fz_buf_scratch(&recs_b, (s->ev_size + 1) * sizeof *recs);
    fz_reader_init(&rdr, s);
    while (fz_reader_next(&rdr, &rd)) {
        if (rd.kind != FZ_READ_DATA || rd.n == 0)
            continue;
        for (size_t q = 0; q < rd.n; q += MX_RECORD_MAX_PLAINTEXT) {
            size_t k = rd.n - q < MX_RECORD_MAX_PLAINTEXT ? rd.n - q : MX_RECORD_MAX_PLAINTEXT;
            recs[nrecs].off = n;
            recs[nrecs].len = k;
            memcpy(stream + n, rd.p + q, k);
            n += k;
            nrecs++;
        }
    }

    /* seal */
    if (keys_for(&o, &st) != 0)
        FAIL("%s: the oracle refused the keys", SUITES[st.si].name);
    ccap = 0;
    for (size_t i = 0; i < nrecs; i++)
        ccap += tls_oracle_sealed_max(&o, recs[i].len, pad);
    cipher = fz_buf_scratch(&cipher_b, ccap + 1);
    rec_end = fz_buf_scratch(&rec_end_b, (nrecs + 1) * sizeof *rec_end);
    for (size_t i = 0; i < nrecs; i++) {
        uint8_t iv[16];
        size_t ivl = tls_oracle_iv_len(&o), k;
        for (size_t j = 0; j < ivl && j < sizeof iv; j++)
            iv[j] = (uint8_t)(iv_seed + 37 * i + 11 * j);
        k = tls_oracle_seal(&o, MX_TLS_APPLICATION_DATA, stream + recs[i].off, recs[i].len,
                            ivl ? iv : NULL, pad, cipher + clen, ccap - clen);
        if (k == 0)
            FAIL("%s: the oracle could not seal record %zu", SUITES[st.si].name, i);
        clen += k;
        rec_end[i] = clen;
    }
    tls_oracle_cleanup(&o);

    /* Without a cut pattern: one read per record (cuts = the records' lengths). */
    if (ncuts == 0 && nrecs) {
        per = fz_buf_scratch(&per_b, nrecs * sizeof *per);
        for (size_t i = 0; i < nrecs; i++)
            per[i] = rec_end[i] - (i ? rec_end[i - 1] : 0);
        cuts = per;
        ncuts = nrecs;
    }
    st.plain = stream;
    st.plain_len = n;
    st.recs = recs;
    st.nrecs = nrecs;
    st.cipher = cipher;
    st.cipher_len = clen;
    st.cuts = cuts;
    st.ncuts = ncuts;
    *out = st;
}

void imap_tls_check(const struct imap_tls_params *prm, const struct fz_session *s)
{
    static const size_t one_byte[1] = {1};
    struct imap_tls_sealed st;
    unsigned asked = imap_literal_flags(s);

    imap_tls_seal(prm, s, &st);
    /* One run: the LITERAL mode the session asks for, the ciphertext cut as the input says.
     * A sampled input (sampled.h) again with the ciphertext in one-byte reads: neither the
     * record layer's result nor the reader's may depend on how the ciphertext was cut. The
     * replay driver also runs the other LITERAL mode (the corpus and the reproducers check
     * both, as before). */
    run(&st, s, st.cuts, st.ncuts, asked);
    if (fz_sampled(s->ev, s->ev_size))
        run(&st, s, one_byte, 1, asked);
    if (fz_sampling_all())
        run(&st, s, st.cuts, st.ncuts, asked ^ MX_IMAP_LITERAL_PLUS);
}
