/* bench/floor/imap.c - the imap target's component floor for `./build.sh bench speed`: the same
 * input read the same way (targets/imap.c: the session's client stream in its own reads, the
 * LITERAL mode the session asks for), through libmx's IMAP reader alone, once, without the
 * reference parser or any check. Built like the shipped imap fuzzer (bench/variant.py floor
 * --like imap); imap's exec/s over this one's is what the harness and the oracle cost. Not a
 * shipped target. */
#include <stdint.h>

#include "alloc.h"
#include "imap_check.h"
#include "mx/chain.h"
#include "mx/imap.h"
#include "session.h"

static void sink(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_session s;
    struct fz_reader rdr;
    struct fz_read rd;
    struct mx_alloc pooled = fz_alloc_pooled();
    struct mx_imap r;
    struct mx_imap_event ev;
    struct mx_chain c;

    fz_session_parse(&s, data, size);
    struct mx_imap_config cfg = {s.max_line, s.max_literal, imap_literal_flags(&s), sink, NULL,
                                 &pooled, 0};
    if (mx_imap_init(&r, &cfg) != 0)
        return 0;
    mx_chain_init(&c, 65536, &pooled);
    fz_reader_init(&rdr, &s);
    while (fz_reader_next(&rdr, &rd)) {
        if (rd.kind != FZ_READ_DATA || rd.n == 0 || mx_chain_append(&c, rd.p, rd.n) != MX_CHAIN_OK)
            continue;
        while (mx_imap_next(&r, &c, &ev) != MX_IMAP_NEED_MORE)
            ;
    }
    mx_imap_release(&r);
    mx_chain_release(&c);
    return 0;
}
