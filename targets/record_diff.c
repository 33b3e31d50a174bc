/* targets/record_diff.c - libmx's record decrypter against BoringSSL's record AEADs (and, for
 * encrypt-then-MAC and HMAC-SHA256/384 CBC, which BoringSSL's record AEADs do not do, the RFC
 * model of targets/oracles/tls_oracle.h).
 *
 * Input format (every byte string is valid; fields past the end read as zero):
 *   u8  suite      index into record_suites (targets/oracles/record_model.c), value % 27: a
 *                  (version, cipher suite, MAC order) triple; value / 27 picks among the IANA
 *                  numbers of the same record protection (record_suite_alias: 0x002F, 0x0033,
 *                  0x008C, 0xC009, 0xC013, 0xC035 for AES_128_CBC_SHA, ...), 0 the table's own
 *   u8  seq        first sequence number: v < 0xf0 gives v, else 2^64-1 - (0xff - v)
 *   key material   mx_record_key_block_len bytes (TLS 1.0-1.2) or the hash length (TLS 1.3)
 *   u8  ncuts      read pattern: ncuts % 8 sizes follow, one byte each: c & 0x80 ? (c & 0x7f)
 *                  * 128 + 1 : c, 0 meaning "everything left"; no sizes: one read for all
 *   then records until the input ends (at most 48), each:
 *     u8    op       low 2 bits: content type 20 + (op & 3); op >> 2 (% 8): the corruption
 *     u16le len      plaintext length, % 16385 (0 … 16384), cut to what is left of the
 *                    input's budget of 65536 plaintext bytes (RECORD_SEAL_PLAINTEXT_BUDGET)
 *     u8    fill     plaintext: fill 0: len bytes taken from the input (short: zero-filled),
 *                    else a pattern generated from fill
 *     iv             the CBC explicit IV, block-size bytes (TLS 1.1/1.2 CBC suites only)
 *     u8    pad      TLS 1.3 zero padding length (0 … 255)
 *     u16le pos, u8 val   corruption parameters
 *   corruptions (op >> 2): 0-2 none; 3 flip bit val & 7 of byte pos % record length (header
 *   included); 4 truncate the body by val % 32 + 1 bytes (val & 0x80: header length fixed up
 *   too, else the stream desynchronises); 5 append byte val to the body (header length +1);
 *   6 swap this record with the next one; 7 CBC: rewrite the padding (decrypt, re-pad, encrypt
 *   again: val & 0x80 corrupts padding byte pos, else adds (val % 16) blocks of valid padding;
 *   suites of the RFC model seal with that padding instead, so encrypt-then-MAC records keep a
 *   right MAC: val & 0x80 one bad padding byte after pos % 16 extra blocks);
 *   AEAD: set header byte pos % 5 to val.
 *   TLS 1.3: a record of type 22 whose plaintext is a KeyUpdate message (18 00 00 01 00|01, as
 *   fill 0 takes it from the input) is a key change: the records after it are sealed under the
 *   next traffic secret from sequence number 0 (RFC 8446 4.6.3, 7.2), and the driver calls
 *   mx_record_tls13_key_update after libmx returned it (on other versions it must refuse).
 *
 * What runs: targets/oracles/record_seal.c seals the records with BoringSSL's record AEADs
 * and applies the corruptions; the stream, cut into reads, goes to libmx's decrypter.
 * Oracle: record_check_stream (targets/oracles/record_model.h, shared with targets/record.c):
 * the RFC 5246/8446 header rules, then BoringSSL's open with the same keys, then the 2^14
 * plaintext limit; libmx must agree record by record. A divergence names the record and both
 * results.
 */
#include <stdint.h>

#include "fuzz_input.h"
#include "record_model.h"
#include "record_seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    struct record_conn c;
    size_t cuts[IN_MAX_CUTS], ncuts, len;
    const uint8_t *stream;

    record_seal_conn(&in, &c);
    ncuts = in_cuts(&in, cuts);
    stream = record_seal_stream(&in, &c, &len);
    record_check_stream("record_diff", &c, stream, len, cuts, ncuts);
    return 0;
}
