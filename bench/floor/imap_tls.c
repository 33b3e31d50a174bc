/* bench/floor/imap_tls.c - the imap_tls target's component floor for `./build.sh bench speed`:
 * the same input turned into the same ciphertext and read pattern (targets/imap_tls.c: the
 * session's reads sealed by BoringSSL as TLS records, imap_tls_seal, which is how the input
 * describes the stream), through libmx's record decrypter and IMAP reader alone, once, in the
 * session's LITERAL mode, without the reference parser or any check. Built like the shipped
 * imap_tls fuzzer (bench/variant.py floor --like imap_tls). Not a shipped target. */
#include <stdint.h>

#include "alloc.h"
#include "fuzz_input.h"
#include "imap_check.h"
#include "imap_tls_check.h"
#include "mx/chain.h"
#include "mx/imap.h"
#include "mx/record.h"
#include "session.h"

static void sink(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mx_record rec;
    static uint8_t out[MX_RECORD_MAX_PLAINTEXT];
    struct imap_tls_params p;
    struct imap_tls_sealed st;
    struct fz_session s;
    struct mx_alloc pooled = fz_alloc_pooled();
    struct mx_imap r;
    struct mx_imap_event ev;
    struct mx_chain net, plain;
    size_t off = 0, icut = 0;

    imap_tls_input(data, size, &p, &s);
    imap_tls_seal(&p, &s, &st);

    struct mx_imap_config cfg = {s.max_line, s.max_literal, imap_literal_flags(&s), sink, NULL,
                                 &pooled, 0};
    if (imap_tls_set_keys(&st, &rec) != MX_REC_OK)
        return 0;
    if (mx_imap_init(&r, &cfg) != 0) {
        mx_record_cleanup(&rec);
        return 0;
    }
    mx_chain_init(&net, 0, &pooled);
    mx_chain_init(&plain, 0, &pooled);
    while (off < st.cipher_len) {
        size_t k = in_cut_next(st.cuts, st.ncuts, &icut, st.cipher_len - off);
        int rc = MX_REC_OK;
        if (mx_chain_append(&net, st.cipher + off, k) != MX_CHAIN_OK)
            break;
        off += k;
        while (rc == MX_REC_OK) {
            uint8_t type;
            size_t olen = 0;
            rc = mx_record_read(&rec, &net, &type, out, sizeof out, &olen);
            if (rc == MX_REC_OK && olen && mx_chain_append(&plain, out, olen) == MX_CHAIN_OK)
                while (mx_imap_next(&r, &plain, &ev) != MX_IMAP_NEED_MORE)
                    ;
        }
        if (rc != MX_REC_NEED_MORE)
            break;
    }
    mx_imap_release(&r);
    mx_chain_release(&net);
    mx_chain_release(&plain);
    mx_record_cleanup(&rec);
    return 0;
}
