/* imap_dovecot_peer.h - dovecot's lib-imap parser (libdovecot, Debian dovecot-core) driven over a
 * session's client stream, read by read, the way dovecot's imap process drives it: tag
 * (imap_parser_read_tag), command name (imap_parser_read_command_name), then the arguments with
 * IMAP_PARSE_FLAG_LITERAL_SIZE | IMAP_PARSE_FLAG_LITERAL8 (cmd-append.c's flags: a literal's size
 * is returned first, then imap_parser_read_last_literal reads its octets), LITERAL- when asked
 * (imap_parser_enable_literal_minus), no list limit (imap-client.c passes NULL params), and after
 * a rejected command the rest of the line skipped (imap-client.c client_skip_line); a fatal
 * error (LITERAL_TOO_BIG) ends the session, as the server disconnects.
 * This file is the only one that includes dovecot's headers; what it returns is plain C. */
#ifndef FZ_IMAP_DOVECOT_PEER_H
#define FZ_IMAP_DOVECOT_PEER_H

#include <stddef.h>
#include <stdint.h>

enum dv_tok_kind { DV_ATOM = 0, DV_QUOTED, DV_LITERAL, DV_OPEN, DV_CLOSE };

struct dv_tok {
    enum dv_tok_kind kind;
    uint8_t *p; /* ATOM, QUOTED, LITERAL: the bytes (malloc'd) */
    size_t n;
    uint64_t size; /* LITERAL */
    int sync, binary;
};

enum dv_verdict { DV_ACCEPT = 0, DV_REJECT, DV_FATAL, DV_INCOMPLETE };

struct dv_cmd {
    enum dv_verdict verdict;
    char *tag, *name; /* NULL when not read */
    struct dv_tok *tok;
    size_t ntok;
    size_t start, end;   /* stream offsets: first byte; one past the last consumed byte */
    size_t read_done;    /* index of the read during which the verdict was reached */
    const char *error;   /* dovecot's error text (static) */
};

struct dv_result {
    struct dv_cmd *cmd;
    size_t ncmd;
};

/* dovecot's process-global initialisation (lib_init), once; dv_run calls it too. */
void dv_init(void);
/* reads: cumulative end offsets of the session's reads (ends[nreads-1] == n). */
void dv_run(const uint8_t *s, size_t n, const size_t *ends, size_t nreads, int literal_minus,
            struct dv_result *out);
void dv_free(struct dv_result *r);

#endif
