/* pcap_import.h - the capture importer's core: capture bytes (+ an optional
 * NSS key log) in memory -> one session (corpus/FORMAT.md) per mail
 * connection. Used by capture/cli/pcap-import.c (the command line) and by the
 * pcap_import fuzz target, so everything the tool does to a capture happens
 * here; the tool only reads files, writes files and prints.
 *
 * Per TCP connection (capture.h, tcp_reasm.h):
 *  - client = the SYN's sender (else the SYN+ACK's receiver, else the side
 *    that is not on a known server port, else the side with the higher port);
 *  - protocol from the server port (user map first, then 25/587/465 smtp,
 *    143/993 imap, 110/995 pop3), else from the server's greeting
 *    ("220" smtp, "* OK"/"* PREAUTH" imap, "+OK" pop3);
 *  - mode and flags: from what the server did ("Header" below);
 *  - TLS starts in the client stream at the first TLS handshake record header
 *    after the STARTTLS command line (offset 0 for implicit TLS), in the
 *    server stream at the first byte it sent after that ClientHello arrived, or at the
 *    ServerHello behind plaintext reply lines it sent after it (a client that sent the
 *    ClientHello without waiting for the STARTTLS reply).
 *
 * Events (how captured bytes become session events):
 *  - before TLS: one C event per client TCP segment (its new bytes, as
 *    reassembled), one S event per server segment, in capture order; a segment
 *    that carries both plaintext and the first TLS bytes is split there;
 *  - a T event where TLS starts (only when it is decrypted);
 *  - after TLS: one C event per client application_data record (its
 *    plaintext; records with empty plaintext give no event), one S event per
 *    server record, in the order the records were completed on the wire.
 *    Handshake, alert and ChangeCipherSpec records give no event. So C events
 *    after T are the client's TLS writes (SSL_write calls), the unit a TLS
 *    server's SSL_read returns; the TCP segmentation under TLS is not kept.
 *  - without keys for the TLS part the session ends before the ClientHello
 *    (no T event), and the reason is reported;
 *  - a gap in either direction (tcp_reasm.h) ends the session before the
 *    first packet from which data is missing; the reason is reported.
 *
 * Header, from what the server did (listener facts):
 *  - implicit (certificate bound) when the client starts with a ClientHello and the server
 *    answers it with a ServerHello, without a plaintext greeting first;
 *  - starttls, certificate bound, when the server accepted STARTTLS/STLS (220, OK, +OK, or it
 *    answered the ClientHello after the command with TLS), or listed it (EHLO 250-STARTTLS,
 *    IMAP CAPABILITY / greeting [CAPABILITY ..] STARTTLS, POP3 CAPA STLS) and the client never
 *    asked for it;
 *  - starttls, certificate bound but unusable (session version 3, flags bit 3) when an SMTP
 *    server answered STARTTLS with 454 (RFC 3207 4: TLS temporarily unavailable), listed or
 *    not; replay_note says that a replay does not list STARTTLS where the server did;
 *  - starttls without a certificate when it was listed but the server refused it (the
 *    listener can do STARTTLS, it had no certificate to offer);
 *  - plaintext otherwise: never listed, refused (502/BAD/-ERR) or never asked;
 *  - TLS required when, before TLS, an SMTP server answered 530 ... STARTTLS, an IMAP server
 *    listed LOGINDISABLED or refused a login with [PRIVACYREQUIRED], or a POP3 server answered
 *    USER with -ERR; where STARTTLS was never offered that makes the listener starttls
 *    without a certificate (a plain listener cannot require TLS);
 *  - LITERAL- (session version 3) when an IMAP server's CAPABILITY, before or after TLS,
 *    listed LITERAL- and never LITERAL+; else LITERAL+ (version 1);
 *  A ClientHello the server did not take up (sent to a plaintext port after its greeting,
 *  after a refused STARTTLS, or answered in plaintext) is kept as client writes on the
 *  plaintext side, followed by whatever the server answered: a replay then takes the
 *  target's path for a TLS client on a plaintext listener.
 * Limits: max-line = the longest client line (at least 2048),
 * max-literal = the client's plaintext byte count (at least 65536), rounded
 * up to what the format can express.
 *
 * Memory bound: the capture's (capture.h) plus, per session, its events and
 * its file (each at most the connection's payload plus 3 bytes per event).
 */
#ifndef CAP_PCAP_IMPORT_H
#define CAP_PCAP_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "keylog.h"
#include "session.h"

#define CAP_IMPORT_PORTS_MAX 64

struct cap_import_port {
    uint16_t port;
    enum fz_proto proto;
    int implicit; /* implicit TLS is recognised from the server's answer to a ClientHello at
                     the start of the client stream; this only decides when the server sent
                     nothing at all (then: TLS on an implicit port, plaintext elsewhere) */
};

struct cap_import_opts {
    struct cap_import_port ports[CAP_IMPORT_PORTS_MAX]; /* checked before the defaults */
    size_t nports;
    uint64_t max_stream; /* per direction byte limit (0: none) */
    int keep_raw;        /* keep raw segments in the capture (oracles) */
};

enum cap_tls_status {
    CAP_TLS_NONE = 0,     /* no TLS in this connection */
    CAP_TLS_DECRYPTED,    /* all TLS records up to the end (or a gap) decrypted */
    CAP_TLS_NO_KEYLOG,    /* TLS, no key log given */
    CAP_TLS_NO_KEY,       /* the key log has no (complete) entry for this client random */
    CAP_TLS_UNSUPPORTED,  /* version or cipher suite the decrypter does not do */
    CAP_TLS_FAILED,       /* a record did not decrypt / the handshake could not be parsed */
    CAP_TLS_NO_SERVER_TLS, /* the client sent a ClientHello, the server answered in plaintext
                              (kept as client writes on the plaintext side) */
    CAP_TLS_CUT           /* a gap cuts the session before the handshake could be followed */
};
#define CAP_TLS_NSTATUS 8

struct cap_imp_event {
    enum fz_ev_type type;
    uint32_t pkt;
    size_t n;
    uint8_t *p;
};

struct cap_imp_session {
    size_t flow;             /* index in cap.flows */
    int client;              /* endpoint index of the client in that flow */
    char client_ep[64], server_ep[64];
    enum fz_proto proto;
    enum fz_mode mode;
    int no_syn;              /* the connection's start was not captured (may begin mid-stream) */
    int starttls_cmd;        /* the client sent the STARTTLS/STLS command */
    /* listener facts, from what the server did (see "Header" above) */
    int greeted;             /* the server's first bytes are a plaintext greeting */
    int offered;             /* EHLO / CAPABILITY / CAPA (or the IMAP greeting) listed STARTTLS/STLS */
    int starttls_reply;      /* reply to STARTTLS: 1 accepted (220 / OK / +OK), -1 refused, 0 none seen */
    int reply_code;          /* SMTP: that reply's code */
    int server_tls;          /* the server answered the ClientHello with a ServerHello */
    int tls_required;        /* SMTP 530 asking for STARTTLS, IMAP LOGINDISABLED or
                              * [PRIVACYREQUIRED], POP3 -ERR to USER: before TLS */
    int client_hello_plain;  /* a ClientHello the server did not take up: kept as client writes */
    uint64_t client_hello_off; /* its offset in the client stream */
    uint8_t flags;           /* header flags written (FZ_SFLAG_*) */
    int tls_key_lookup;      /* the key log was consulted (ClientHello and ServerHello seen) */
    int tls_seen;            /* a TLS handshake started */
    uint64_t tls_off[2];     /* [0] client, [1] server stream offset where TLS starts */
    enum cap_tls_status tls;
    uint16_t tls_version, tls_suite;
    int tls_etm;             /* CBC with encrypt_then_mac (RFC 7366) */
    char tls_note[200];
    int cut;                 /* ended early: a gap or a decryption stop */
    char cut_note[200];
    char replay_note[240];   /* why a replay cannot answer as the server did (empty: it can) */
    struct cap_imp_event *ev; /* the events written to the file, in order */
    size_t nev, capev;
    uint64_t bytes[2];       /* plaintext bytes in C / S events */
    uint8_t *file;           /* the session file */
    size_t file_len;
    char id[17];             /* sha256(file) first 16 hex: the file name */
};

struct cap_import {
    struct cap_capture cap;
    struct cap_keylog kl;
    int have_keylog;
    struct cap_imp_session *s;
    size_t ns, caps;
    size_t flows_empty;      /* connections without payload */
    size_t flows_unknown;    /* payload, but no mail protocol recognised */
    char unknown_note[160];  /* the first such connection, for the message */
    size_t flows_midtls;     /* the client's first bytes are a TLS record other than a ClientHello */
    char midtls_note[160];
    char err[256];
};

/* Runs the whole import on memory buffers (keylog may be NULL). Returns 0,
 * or -1 with im->err set when the capture could not be read at all or memory
 * ran out. Always call cap_import_free(). */
int cap_import_run(struct cap_import *im, const uint8_t *cap, size_t caplen,
                  const uint8_t *keylog, size_t keylog_len, const struct cap_import_opts *o);
void cap_import_free(struct cap_import *im);

/* Corpus directories a session belongs in: fills names (at most 2), returns
 * the count. IMAP -> "imap" and "starttls"; SMTP and POP3 -> "starttls". */
size_t cap_import_targets(const struct cap_imp_session *s, const char *names[2]);
/* A seed's file name: the first 16 hex digits of the SHA-256 of its bytes. */
void cap_seed_id(const uint8_t *p, size_t n, char id[17]);

const char *cap_tls_status_name(enum cap_tls_status t);
const char *cap_proto_name(enum fz_proto p);
const char *cap_mode_name(enum fz_mode m);
/* "TLSv1.2" etc. / IANA-ish suite name, "?" when unknown. */
const char *cap_tls_version_name(uint16_t v);

#endif
