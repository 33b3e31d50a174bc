/* pcap_check.h - the oracles of the pcap_import target (input format: targets/pcap_import.c).
 * After cap_import_run (with keep_raw):
 *  1. per flow and direction, reassembly against a flat array filled from the raw segments
 *     (bytes written twice with different values remembered): the delivered stream has the
 *     model's contiguous-prefix length, equals its bytes wherever no conflicting overlap was
 *     captured, and comes as contiguous, non-empty chunks;
 *  2. per session, the C (S) payloads before T are a prefix of the client (server) stream, the
 *     whole stream when there is no TLS and no cut;
 *  3. per session, the file parses back (fz_session_parse/next) to the header and the events
 *     the importer built, byte for byte.
 * A divergence aborts with "pcap_import: divergence: WHAT (A vs B)". */
#ifndef FZ_PCAP_CHECK_H
#define FZ_PCAP_CHECK_H

#include <stddef.h>

#include "pcap_import.h"

/* caplen: the capture's size (no stream holds more bytes). */
void pcap_check_import(const struct cap_import *im, size_t caplen);

#endif
