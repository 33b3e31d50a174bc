/* targets/pcap_import.c - the whole capture importer (capture/pcap_import.h) on
 * arbitrary capture bytes and key logs.
 *
 * Input format (every byte string is valid):
 *   u16le K              length of the key log (clamped to what follows); K = 0: no key log
 *   K bytes              the key log (NSS SSLKEYLOGFILE text)
 *   the rest             the capture (pcap or pcapng), opened by libpcap from memory
 * Seeds: the shipped captures with their key logs, and small crafted captures.
 *
 * Oracles (targets/oracles/pcap_check.h): reassembly against a flat reference model built
 * from the raw segments; each session's plaintext a prefix of the reassembled streams; each
 * session file parses back to the events the importer built; no crash, no leak, bounded
 * memory (streams limited to 1 MiB per direction). Deterministic: no clock, no randomness.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "pcap_check.h"
#include "pcap_import.h"

#define STREAM_LIMIT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    size_t k = in_u16(&in); /* a 1-byte input: k clamps to 0, the capture is empty */
    const uint8_t *kl = in_take(&in, &k);
    struct cap_import_opts o;
    struct cap_import *im = calloc(1, sizeof *im);

    if (!im)
        return 0;
    memset(&o, 0, sizeof o);
    o.max_stream = STREAM_LIMIT;
    o.keep_raw = 1;
    if (cap_import_run(im, in.p, in.n, k ? kl : NULL, k, &o) == 0)
        pcap_check_import(im, in.n);
    cap_import_free(im);
    free(im);
    return 0;
}
