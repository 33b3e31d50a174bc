/* record_peer.h - drive libmx's record decrypter over what a real BoringSSL client sent.
 *
 * record_peer_run() takes a tls_pair after the handshake and some application writes, and
 * decrypts the client's whole byte stream with libmx the way a server would: records pass
 * through in the clear until the keys change (TLS 1.0-1.2: after the client's
 * ChangeCipherSpec, with the key block; TLS 1.3: after the ClientHello with the client
 * handshake traffic secret, then after the client's Finished with the application traffic
 * secret). The stream is appended to the receive chain in reads cut by `cuts` (sizes cycled;
 * NULL or a 0 entry: everything in one read). Application-data plaintexts are concatenated
 * into app[0..*app_len) and their record lengths listed in rec_lens. A TLS 1.3 KeyUpdate
 * handshake message after the handshake switches keys with mx_record_tls13_key_update.
 */
#ifndef MX_RECORD_PEER_H
#define MX_RECORD_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "tls_pair.h"

struct record_peer_result {
    uint8_t *app;           /* caller-provided */
    size_t app_cap, app_len;
    size_t rec_lens[256];   /* application data record lengths */
    size_t nrec;
    size_t finished_len;    /* plaintext length of the client's Finished record */
    uint8_t finished_type;  /* its first byte (handshake type 20) */
    uint64_t final_seq;     /* mx_record_read_seq at the end */
    int status;             /* last mx_record_read status (MX_REC_NEED_MORE when all consumed) */
    size_t left;            /* bytes left in the chain */
    size_t key_updates;     /* TLS 1.3 KeyUpdate messages followed */
    char err[200];
};

/* Returns 0 when the stream decrypted to the end, else -1 with res->err. */
int record_peer_run(const struct tls_pair *tp, const size_t *cuts, size_t ncuts,
                    struct record_peer_result *res);

#endif
