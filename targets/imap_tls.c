/* targets/imap_tls.c - the Q239082 path end to end: an IMAP client's bytes sealed into TLS
 * records by BoringSSL, cut into reads, decrypted by libmx's record layer into the receive
 * chain, parsed by libmx's IMAP command reader.
 *
 * Input (every byte string is valid; fields past the end read as zero):
 *   u8   suite     index into SUITES (targets/oracles/imap_tls_check.c), value % 14:
 *                  3DES-CBC-SHA and AES-CBC-SHA in TLS 1.0/1.1/1.2, AES-GCM and
 *                  ChaCha20-Poly1305 in TLS 1.2, the TLS 1.3 suites
 *   u8   seq       the first record sequence number (0 ... 255; TLS 1.3: always 0, because
 *                  BoringSSL's TLS 1.3 GCM AEAD derives its nonce mask from the first record's
 *                  sequence number and then refuses the third record of a run that starts
 *                  elsewhere)
 *   144  keys      key material: the first key_block_len bytes (TLS 1.0-1.2) or the hash length
 *                  (TLS 1.3 traffic secret) are used
 *   u8   iv_seed   CBC explicit IVs (TLS 1.1/1.2): record i gets bytes iv_seed + 37 i + 11 j
 *   u8   pad       TLS 1.3: pad % 32 zero bytes of record padding in every record
 *   u8   ncuts     ciphertext read pattern: ncuts % 8 sizes follow, one byte each, c & 0x80 ?
 *                  (c & 0x7f) * 128 + 1 : c, 0 meaning "everything left", used in a cycle; no
 *                  sizes: one read per record
 *   then a session file (corpus/FORMAT.md) whose client stream is the IMAP plaintext: each of
 *   its reads (fz_reader: one per client write, or the `R` pattern) is sealed as one TLS
 *   application-data record (split at 2^14), so the session chooses the record boundaries
 *   and `ncuts` how the ciphertext is cut into the server's reads. Limits come from the
 *   session's limits byte, as in the imap target.
 *
 * Oracle (targets/oracles/imap_tls_check.h): every record decrypts, as application data, to
 * exactly the bytes sealed; the plaintext goes through the imap target's checks (imap_check.h,
 * in the session's LITERAL mode), including the seed's hang (the message's end and its CRLF in
 * one record); both chains end empty, every record read; sampled inputs again in 1-byte reads.
 */
#include <stdint.h>

#include "imap_tls_check.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct imap_tls_params p;
    struct fz_session s;

    imap_tls_input(data, size, &p, &s);
    imap_tls_check(&p, &s);
    return 0;
}
