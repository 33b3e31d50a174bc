/* keylog.h - NSS key log files (SSLKEYLOGFILE format).
 *
 * Lines: `LABEL <client_random hex 64> <secret hex>`; `#` comments and empty
 * lines are skipped. Labels used: CLIENT_RANDOM (TLS <= 1.2 master secret, 48
 * bytes), CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET,
 * CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 (TLS 1.3, 32 or 48 bytes).
 * Other known labels (RSA, EXPORTER_SECRET, EARLY_EXPORTER_SECRET,
 * CLIENT_EARLY_TRAFFIC_SECRET) are accepted and not used; anything else, bad
 * hex or a wrong length is counted as a bad line, with the first few bad line
 * numbers kept for the message. Lines may end in CRLF.
 *
 * Entries: one per distinct client random, no fixed cap (the newest lines are the wanted
 * ones), indexed by a hash table on the client random: parsing is linear in the lines. Memory
 * is bounded by the input, which callers bound (pcap-import: 256 MiB).
 */
#ifndef CAP_KEYLOG_H
#define CAP_KEYLOG_H

#include <stddef.h>
#include <stdint.h>

#define CAP_KEYLOG_SECRET_MAX 48u

enum cap_keylog_kind {
    CAP_KL_MASTER = 0,       /* CLIENT_RANDOM */
    CAP_KL_CLIENT_HS,        /* CLIENT_HANDSHAKE_TRAFFIC_SECRET */
    CAP_KL_SERVER_HS,        /* SERVER_HANDSHAKE_TRAFFIC_SECRET */
    CAP_KL_CLIENT_APP,       /* CLIENT_TRAFFIC_SECRET_0 */
    CAP_KL_SERVER_APP,       /* SERVER_TRAFFIC_SECRET_0 */
    CAP_KL_KINDS
};

struct cap_keylog_entry {
    uint8_t client_random[32];
    uint8_t have;           /* bit per kind */
    uint8_t used;           /* set by the importer when a session matched */
    uint8_t len[CAP_KL_KINDS];
    uint8_t secret[CAP_KL_KINDS][CAP_KEYLOG_SECRET_MAX];
};

struct cap_keylog {
    struct cap_keylog_entry *e;
    size_t n, cap;
    uint32_t *slot;          /* open addressing: index + 1 into e, 0 = empty */
    size_t nslots;           /* a power of two, at least twice n */
    size_t lines, bad_lines, unused_lines;
    unsigned bad_line_no[4]; /* first bad line numbers */
    char first_bad[96];      /* what was wrong with the first bad line */
};

/* Parses a whole key log held in memory. Returns 0, or -1 if memory ran out. */
int cap_keylog_parse(struct cap_keylog *k, const uint8_t *buf, size_t len);
/* The entry for a client random, or NULL. */
struct cap_keylog_entry *cap_keylog_find(const struct cap_keylog *k, const uint8_t cr[32]);
void cap_keylog_free(struct cap_keylog *k);

#endif
