/* bench/empty.c - the speed floor: a fuzz target that does nothing. `./build.sh bench speed`
 * builds it exactly like the shipped fuzzers (same compiler, flags, sanitizers, engine and
 * libraries) and divides every target's exec/s by its exec/s. Not a shipped target: it lives
 * here, not in targets/, and is not in targets/manifest. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
