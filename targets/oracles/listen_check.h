/* listen_check.h - the oracles of the listen target (input format: targets/listen.c).
 *
 * listen_check_ops: operations on a table built with the API, against a model that answers
 * every operation by brute force over the four precedence classes ((addr, port), (addr, *),
 * (*, port), (*, *)). listen_check_text: mx_listen_parse on arbitrary text, which must fail
 * with "<fuzz>:N: message" naming a line of the text, or give a table in which every
 * implicit-TLS listener is served, whose size matches the statement count, and which survives
 * a print/parse round trip; mx_listen_load on the same text from a file (or a path that
 * fails, see below) agrees with it. A divergence aborts with "listen: divergence: ...". */
#ifndef FZ_LISTEN_CHECK_H
#define FZ_LISTEN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_input.h"

void listen_check_ops(struct in *in);
/* How listen_check_text also hands the text to mx_listen_load, on a sampled input
 * (harness/sampled.h) (bits 0-1; bit 2: errlen 0,
 * nothing may be written to err): as a file, which must give mx_listen_parse's verdict, error
 * (with the path as file name) and table; as a path that cannot be opened; as a directory
 * (opens, the read fails); as a file one byte over MX_LISTEN_FILE_MAX. The last three must
 * give MX_LISTEN_EIO with "PATH: cannot open: ...", "PATH: read error", "PATH: larger than
 * the 256 KiB limit". */
enum { LISTEN_LOAD_FILE, LISTEN_LOAD_ABSENT, LISTEN_LOAD_DIRECTORY, LISTEN_LOAD_TOO_BIG, LISTEN_LOAD_NO_ERRBUF = 4 };
void listen_check_text(const uint8_t *p, size_t n, unsigned load_how);

#endif
