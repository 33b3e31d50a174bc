/* listen_check.h - the oracles of the listen target (input format: targets/listen.c).
 *
 * listen_check_ops: operations on a table built with the API, against a model that answers
 * every operation by brute force over the four precedence classes ((addr, port), (addr, *),
 * (*, port), (*, *)). listen_check_text: mx_listen_parse on arbitrary text, which must fail
 * with "<fuzz>:N: message" naming a line of the text, or give a table in which every
 * implicit-TLS listener is served, whose size matches the statement count, and which survives
 * a print/parse round trip. A divergence aborts with "listen: divergence: ...". */
#ifndef FZ_LISTEN_CHECK_H
#define FZ_LISTEN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_input.h"

void listen_check_ops(struct in *in);
void listen_check_text(const uint8_t *p, size_t n);

#endif
