/* layout_raw_records.c - a config byte, a read pattern, then the byte stream as TLS records
 * (targets/record.c), mutated by targets/harness/mutator_records.c. targets/manifest's mutator
 * column `raw_records` links this with engine.c. */
#include "mutator.h"

const enum fz_layout fz_mutator_layout = FZ_LAYOUT_RAW_RECORDS;
