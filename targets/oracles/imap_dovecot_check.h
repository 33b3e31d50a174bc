/* imap_dovecot_check.h - libmx's IMAP reader (mx/imap.h) against dovecot's lib-imap parser
 * (imap_dovecot_peer.h), fed the same client stream with the same read boundaries, command by
 * command: boundaries (the read in which each accepted command completes), tag, command name,
 * argument shape and bytes, literal sizes, sync/binary and octets, and the accept / reject
 * verdict. The known, deliberate differences are the table known[] in imap_dovecot_check.c;
 * anything else aborts with "imap_dovecot: divergence at command N: ..." and both views. */
#ifndef FZ_IMAP_DOVECOT_CHECK_H
#define FZ_IMAP_DOVECOT_CHECK_H

#include "session.h"

/* Once per process (LLVMFuzzerInitialize): dovecot's lib_init. */
void imap_dovecot_init(void);
/* The imap_dovecot target: LITERAL+ and LITERAL-, each with the file's reads. */
void imap_dovecot_check_session(const struct fz_session *s);

#endif
