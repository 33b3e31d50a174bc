/* layout_tls_session.c - record parameters, then a session file (targets/imap_tls.c).
 * targets/manifest's mutator column `tls_session` links this with engine.c. */
#include "mutator.h"

const enum fz_layout fz_mutator_layout = FZ_LAYOUT_TLS_SESSION;
