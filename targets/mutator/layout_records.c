/* layout_records.c - record parameters, then a record list (targets/record_diff.c), mutated
 * by targets/harness/mutator_records.c. targets/manifest's mutator column `records` links
 * this with engine.c. */
#include "mutator.h"

const enum fz_layout fz_mutator_layout = FZ_LAYOUT_RECORDS;
