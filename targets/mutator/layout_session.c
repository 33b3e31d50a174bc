/* layout_session.c - the input is one session file (targets/imap.c, starttls.c, ...).
 * targets/manifest's mutator column `session` links this with engine.c. */
#include "mutator.h"

const enum fz_layout fz_mutator_layout = FZ_LAYOUT_SESSION;
