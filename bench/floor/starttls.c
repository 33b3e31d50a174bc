/* bench/floor/starttls.c - the starttls target's component floor for `./build.sh bench speed`:
 * the same input read the same way (targets/starttls.c: the session's own reads, a `tls` event
 * ends the handshake the machine asked for), through libmx's STARTTLS machine alone, once,
 * without the RFC model, the transcript or any check. Built like the shipped starttls fuzzer
 * (bench/variant.py floor --like starttls). Not a shipped target. */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "mx/chain.h"
#include "mx/machine.h"
#include "session.h"

/* Steps until the machine needs input; 1 when it closed. Bytes it hands to TLS are taken. */
static int pump(struct mx_machine *mc, struct mx_chain *c, int *awaiting_tls)
{
    static struct mx_step st;
    for (;;) {
        int act = mx_machine_step(mc, c, &st);
        if (act == MX_ACT_NEED_INPUT)
            return 0;
        if (act == MX_ACT_CLOSE)
            return 1;
        if (act == MX_ACT_STARTTLS || act == MX_ACT_HANDSHAKE) {
            mx_chain_consume(c, c->bytes);
            *awaiting_tls = 1;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_session s;
    struct fz_reader rdr;
    struct fz_read rd;
    struct mx_alloc pooled = fz_alloc_pooled();
    struct mx_conn_cfg cfg;
    struct mx_machine mc;
    struct mx_chain c;
    uint8_t *linebuf;
    int implicit, awaiting_tls, closed;

    fz_session_parse(&s, data, size);
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = (int)s.mode;
    cfg.cert = !!(s.flags & FZ_SFLAG_CERT);
    cfg.tls_required = !!(s.flags & FZ_SFLAG_TLS_REQUIRED);
    cfg.max_message = s.max_literal;
    cfg.host = cfg.product = "mxfuzz";
    linebuf = pooled.alloc(pooled.ctx, s.max_line);
    if (!linebuf)
        return 0;
    if (mx_machine_init(&mc, (enum mx_app_proto)s.proto, &cfg, linebuf, s.max_line) != 0) {
        pooled.release(pooled.ctx, linebuf);
        return 0;
    }
    mx_chain_init(&c, 0, &pooled);
    implicit = awaiting_tls = s.mode == FZ_MODE_IMPLICIT;
    closed = pump(&mc, &c, &awaiting_tls);
    fz_reader_init(&rdr, &s);
    while (!closed && fz_reader_next(&rdr, &rd)) {
        if (rd.kind == FZ_READ_TLS) {
            if (awaiting_tls) {
                awaiting_tls = implicit = 0;
                mx_machine_tls_started(&mc, &c);
                closed = pump(&mc, &c, &awaiting_tls);
            }
            continue;
        }
        /* while a handshake is under way the bytes are the TLS layer's; an implicit-TLS
         * listener's machine sniffs them before the first handshake */
        if (rd.kind != FZ_READ_DATA || rd.n == 0 || (awaiting_tls && !implicit))
            continue;
        if (mx_chain_append(&c, rd.p, rd.n) != MX_CHAIN_OK)
            break;
        closed = pump(&mc, &c, &awaiting_tls);
    }
    mx_chain_release(&c);
    pooled.release(pooled.ctx, linebuf);
    return 0;
}
