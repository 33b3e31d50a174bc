/* record_peer.c - libmx's decrypter over a real BoringSSL client's stream (see record_peer.h). */
#include "record_peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx/chain.h"
#include "mx/record.h"

enum phase { P_CLEAR, P_HANDSHAKE_KEYS, P_APP_KEYS };

int record_peer_run(const struct tls_pair *tp, const size_t *cuts, size_t ncuts,
                    struct record_peer_result *res)
{
    struct mx_record *r = malloc(sizeof *r);
    uint8_t *pt = malloc(MX_RECORD_MAX_PLAINTEXT);
    struct mx_chain c;
    size_t off = 0, ci = 0, nrecords = 0;
    enum phase ph = P_CLEAR;
    int tls13 = tp->version == 0x0304, rc = -1;

    res->app_len = 0;
    res->nrec = 0;
    res->finished_len = 0;
    res->finished_type = 0;
    res->key_updates = 0;
    res->err[0] = 0;
    if (!r || !pt) {
        snprintf(res->err, sizeof res->err, "out of memory");
        goto out;
    }
    mx_record_init(r);
    mx_chain_init(&c, 0, NULL);
    for (;;) {
        uint8_t type;
        size_t len;
        int st = mx_record_read(r, &c, &type, pt, MX_RECORD_MAX_PLAINTEXT, &len);
        res->status = st;
        if (st == MX_REC_NEED_MORE) {
            size_t n = tp->stream_len - off;
            if (n == 0)
                break;
            if (cuts && ncuts && cuts[ci % ncuts] && cuts[ci % ncuts] < n)
                n = cuts[ci % ncuts];
            ci++;
            if (mx_chain_append(&c, tp->stream + off, n) != MX_CHAIN_OK) {
                snprintf(res->err, sizeof res->err, "chain append failed");
                goto done;
            }
            off += n;
            continue;
        }
        if (st != MX_REC_OK) {
            snprintf(res->err, sizeof res->err, "record %zu: %s (%d)", nrecords, mx_record_strerror(st), st);
            goto done;
        }
        nrecords++;
        if (ph == P_CLEAR) {
            if (!tls13 && type == MX_TLS_CHANGE_CIPHER_SPEC) {
                int k = mx_record_set_tls12_keys(r, tp->version, tp->suite, MX_REC_MAC_THEN_ENCRYPT, 1, tp->key_block,
                                                 tp->key_block_len, 0);
                if (k != MX_REC_OK) {
                    snprintf(res->err, sizeof res->err, "set_tls12_keys: %s", mx_record_strerror(k));
                    goto done;
                }
                ph = P_HANDSHAKE_KEYS;
            } else if (tls13 && type == MX_TLS_HANDSHAKE) {
                /* the ClientHello: what follows is under the handshake traffic secret */
                int k = mx_record_set_tls13_secret(r, tp->suite, tp->c_hs_secret, tp->secret_len, 0);
                if (k != MX_REC_OK) {
                    snprintf(res->err, sizeof res->err, "set_tls13_secret: %s", mx_record_strerror(k));
                    goto done;
                }
                ph = P_HANDSHAKE_KEYS;
            }
            continue;
        }
        if (ph == P_HANDSHAKE_KEYS) {
            if (type == MX_TLS_CHANGE_CIPHER_SPEC)
                continue; /* TLS 1.3 compatibility CCS */
            if (type != MX_TLS_HANDSHAKE) {
                snprintf(res->err, sizeof res->err, "record %zu: type %u before the client Finished", nrecords, type);
                goto done;
            }
            res->finished_len = len;
            res->finished_type = len ? pt[0] : 0;
            if (tls13) {
                int k = mx_record_set_tls13_secret(r, tp->suite, tp->c_app_secret, tp->secret_len, 0);
                if (k != MX_REC_OK) {
                    snprintf(res->err, sizeof res->err, "set_tls13_secret (app): %s", mx_record_strerror(k));
                    goto done;
                }
            }
            ph = P_APP_KEYS;
            continue;
        }
        if (tls13 && type == MX_TLS_HANDSHAKE && len >= 4 && pt[0] == 24) {
            int k = mx_record_tls13_key_update(r);
            if (k != MX_REC_OK) {
                snprintf(res->err, sizeof res->err, "key update: %s", mx_record_strerror(k));
                goto done;
            }
            res->key_updates++;
            continue;
        }
        if (type != MX_TLS_APPLICATION_DATA) {
            snprintf(res->err, sizeof res->err, "record %zu: unexpected type %u after the handshake", nrecords, type);
            goto done;
        }
        if (res->app_len + len > res->app_cap || res->nrec == sizeof res->rec_lens / sizeof res->rec_lens[0]) {
            snprintf(res->err, sizeof res->err, "more application data than expected");
            goto done;
        }
        memcpy(res->app + res->app_len, pt, len);
        res->app_len += len;
        res->rec_lens[res->nrec++] = len;
    }
    rc = 0;
done:
    res->final_seq = mx_record_read_seq(r);
    res->left = c.bytes;
    mx_chain_release(&c);
out:
    free(r);
    free(pt);
    return rc;
}
