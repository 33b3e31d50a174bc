/* tls_follow.h - following one TLS connection from both sides of a capture,
 * with the keys from an NSS key log, and handing out the decrypted records.
 *
 * The two byte streams (client -> server, server -> client, from the first
 * TLS byte on) are fed in capture order. Plaintext handshake records are
 * parsed for ClientHello (client random) and ServerHello (server random,
 * version incl. supported_versions, cipher suite, encrypt_then_mac). Keys:
 *  - TLS 1.0-1.2: the CLIENT_RANDOM master secret -> key block (tls_prf.h);
 *    a direction switches to its keys at its ChangeCipherSpec.
 *  - TLS 1.3: the handshake traffic secrets right after the ServerHello,
 *    the application traffic secrets after each side's Finished. ChangeCipherSpec
 *    records (middlebox compatibility) are skipped.
 * Records are decrypted by libmx's mx/record.h only, encrypt_then_mac
 * (RFC 7366) included: the ServerHello's choice is a key-setup input. Every application_data record is handed to the callback with
 * its plaintext (empty ones included). Anything that stops decryption (no key,
 * unsupported suite, a record that does not decrypt, KeyUpdate) ends the
 * follower: status and note say why, and nothing more is delivered.
 *
 * Memory bound: two mx_record (about 20 KiB each), two receive chains holding
 * at most one incomplete record each plus what was fed and not yet parsed,
 * two handshake buffers of at most CAP_TLS_HS_MAX bytes. Fixed otherwise.
 */
#ifndef CAP_TLS_FOLLOW_H
#define CAP_TLS_FOLLOW_H

#include <stddef.h>
#include <stdint.h>

#include "keylog.h"
#include "mx/chain.h"
#include "mx/record.h"

#define CAP_TLS_HS_MAX 65536u

enum cap_follow_status {
    CAP_FOLLOW_OK = 0,        /* everything fed so far was handled */
    CAP_FOLLOW_NO_KEY,        /* no key log entry (or not the secrets needed) */
    CAP_FOLLOW_UNSUPPORTED,   /* version / suite / feature not handled */
    CAP_FOLLOW_FAILED         /* a record did not decrypt or did not parse */
};

typedef void (*cap_follow_out_fn)(void *ctx, int from_server, uint32_t pkt, const uint8_t *p,
                                 size_t n);

struct cap_follow_dir {
    struct mx_chain in;
    struct mx_record rec;
    int keys;               /* 0 plaintext, 1 keys installed in rec */
    int app;                /* TLS 1.3: application secret installed */
    uint8_t hs[CAP_TLS_HS_MAX];
    size_t hs_len;
    uint64_t records, app_records;
};

struct cap_follow {
    struct cap_follow_dir d[2]; /* [0] client -> server, [1] server -> client */
    struct cap_keylog *kl;
    struct cap_keylog_entry *key;
    cap_follow_out_fn out;
    void *ctx;
    uint8_t client_random[32], server_random[32];
    int have_ch, have_sh;
    uint16_t version, suite;
    int etm;                /* the ServerHello echoed encrypt_then_mac with a CBC suite */
    enum cap_follow_status status;
    char note[200];
    uint8_t kb[256];                                        /* TLS <= 1.2 key block */
    uint8_t raw[MX_RECORD_HEADER_LEN + MX_RECORD_MAX_CIPHERTEXT]; /* one whole record */
    uint8_t pt[MX_RECORD_MAX_CIPHERTEXT];                   /* its plaintext */
};

/* kl may be NULL (then the first key lookup fails with NO_KEY). Returns 0. */
void cap_follow_init(struct cap_follow *f, struct cap_keylog *kl, cap_follow_out_fn out, void *ctx);
/* Bytes of one direction (0 client, 1 server), in capture order. Returns the
 * status (CAP_FOLLOW_OK while decryption goes on). */
enum cap_follow_status cap_follow_feed(struct cap_follow *f, int from_server, uint32_t pkt,
                                     const uint8_t *p, size_t n);
void cap_follow_free(struct cap_follow *f);

const char *cap_tls_suite_name(uint16_t suite);

#endif
