/* targets/imap_dovecot.c - libmx's IMAP command reader against a real IMAP parser: dovecot's
 * lib-imap (libdovecot.so from Debian's dovecot-core), as a differential peer.
 *
 * Input: a session file (corpus/FORMAT.md); the client stream is the concatenation of every `C`
 * payload, delivered to both parsers with the file's reads. Both run with LITERAL+ and with
 * LITERAL- (RFC 7888). libmx's limits are set so that neither fires (max_line over the stream,
 * max_literal unbounded): dovecot's imap process has no per-literal limit under
 * IMAP_PARSE_FLAG_LITERAL_SIZE, so limits are the imap target's business, not this one's.
 * Oracle: targets/oracles/imap_dovecot_check.h (the known-difference table is there).
 * MXFUZZ_IMAP_DOVECOT_TRACE=1 prints both sides' commands. */
#include <stdint.h>

#include "imap_dovecot_check.h"
#include "session.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    imap_dovecot_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_session s;
    fz_session_parse(&s, data, size);
    imap_dovecot_check_session(&s);
    return 0;
}
