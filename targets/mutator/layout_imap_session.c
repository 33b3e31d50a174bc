/* layout_imap_session.c - the input is one session file read as IMAP whatever its proto byte
 * (targets/imap.c, imap_dovecot.c): commands the mutator builds are IMAP commands.
 * targets/manifest's mutator column `imap_session` links this with engine.c. */
#include "mutator.h"

const enum fz_layout fz_mutator_layout = FZ_LAYOUT_IMAP_SESSION;
