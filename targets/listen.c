/* targets/listen.c - listener/certificate binding tables against a brute-force model, and the
 * configuration parser on arbitrary text.
 *
 * Input format (every byte string is valid; short fields read as zero):
 *   u8 kind: odd  -> the rest is configuration text for mx_listen_parse (include/mx/listen.h),
 *                    and, on a sampled input (harness/sampled.h: a fuzzer 1 in 16, the
 *                    replay driver every one), for mx_listen_load from a file presented as
 *                    (kind >> 1) & 7 says (listen_check.h: the text; a path that cannot be
 *                    opened; a directory; the text padded one byte over MX_LISTEN_FILE_MAX;
 *                    | 4: no error buffer)
 *            even -> the rest is a list of operations on a table built with the API:
 *     op byte (value % 5), then its argument bytes:
 *       0 listen   a p m q   listener on ADDR[a % 8], PORT[p % 8], mode m % 3, proto q % 3,
 *                            option tls-required iff (q / 3) & 1, literal-minus iff (q / 6) & 1,
 *                            tls-unavailable iff (q / 12) & 1
 *       1 cert     a p n     binding on (a % 9: ADDR[a] or 8 = *, p % 9: PORT[p] or 8 = *), name n
 *       2 lookup   a p       which certificate serves (ADDR[a % 8] (concrete ones only), PORT[p % 8])
 *       3 find     a p       which listener accepts there, and the connection settings
 *                            (mode, certificate yes/no, tls-required, literal-minus)
 *                            mx_listen_conn_cfg gives for it
 *       4 check              the load-time checks (implicit TLS served; no plain tls-required;
 *                            literal-minus on IMAP only; tls-unavailable on STARTTLS only)
 *   ADDR and PORT are small fixed pools (targets/oracles/listen_check.c) so that keys collide
 *   often; the address pool holds one IPv4 address written plainly and as IPv4-mapped IPv6.
 *
 * Oracles (targets/oracles/listen_check.c): API mode, a model that knows which pool entries
 * are the same address answers every operation by brute force over the four precedence classes;
 * every result must equal the model's. Text mode: parsing fails with "<fuzz>:N: message" (N a
 * line of the text), or succeeds with every implicit-TLS listener served by a certificate (and no
 * plain listener requiring TLS), one table entry per statement, and a table that survives
 * printing and parsing again (options included).
 */
#include <stdint.h>

#include "fuzz_input.h"
#include "listen_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    unsigned kind = in_u8(&in);
    if (kind & 1)
        listen_check_text(in.p, in.n, (kind >> 1) & 7);
    else
        listen_check_ops(&in);
    return 0;
}
