/* targets/starttls.c - the SMTP, IMAP (pre-auth) and POP3 STARTTLS state machines against an
 * independent model of the RFC rules, in the reads the session describes.
 *
 * Input: one session file (corpus/FORMAT.md). The header picks the protocol (proto), the
 * listener mode (mode), whether a certificate is bound to the listener's address and port
 * (cert), the TLS-required policy, whether that certificate is unusable (tls-unavailable,
 * version 3: the target calls mx_machine_tls_unavailable() before the greeting), the line buffer
 * size (max-line) and, for SMTP, the largest message (max-literal). Client bytes are fed as the server would read them (fz_reader);
 * a `tls` event is the end of the handshake: the target calls mx_machine_tls_started() when the
 * connection was waiting for one (after STARTTLS/STLS was accepted, or on an implicit-TLS
 * listener); otherwise TLS did not come up from the server's point of view and the event is
 * ignored. Bytes the client sends while the server waits for the handshake belong to the
 * handshake and never reach the machine. `server` events are ignored. Bytes still queued when
 * TLS comes up (e.g. a lone 0x16 the implicit-TLS sniff was waiting on) were read before TLS:
 * mx_machine_tls_started() must discard them, the model drops them too.
 *
 * Oracle: a model written from the RFC rules (targets/oracles/starttls_model.h, one file per
 * protocol: starttls_smtp.c, starttls_pop3.c, starttls_imap.c) runs on the same reads. After every read the machine is stepped until it needs
 * input; its replies must equal the model's, one for one: the reply code (SMTP) / status
 * (+OK/-ERR) / tagged status and tag (IMAP), well-formed multi-line replies, and the
 * capability lists: STARTTLS/STLS advertised iff the listener is STARTTLS-capable, a
 * usable certificate is bound and TLS is off (and, IMAP, LOGINDISABLED by the same rule); with
 * an unusable one STARTTLS is refused as unavailable: SMTP 454 (RFC 3207 4), IMAP BAD (RFC 3501
 * 6.2.1), POP3 -ERR (RFC 2595 4). Also:
 *   - no command is answered before its line is complete (the model only answers whole lines);
 *   - STARTTLS: the discarded byte count equals the bytes that followed the STARTTLS line in
 *     the receive chain (the rest of that read), and nothing pipelined after it is executed;
 *   - after TLS the state is reset (EHLO, transaction and authentication forgotten: the model
 *     resets and the codes must keep agreeing);
 *   - a TLS ClientHello on a plaintext/STARTTLS listener gives one reply and a close;
 *   - DATA: the message bytes delivered equal the model's (dot-unstuffed, ending only at
 *     CRLF.CRLF) whenever the message is accepted;
 *   - chain counters: appended = consumed + discarded + queued after every step,
 *     mx_chain_check() passes, and the chain is empty after a STARTTLS purge;
 *   - after a close every further step answers MX_ACT_CLOSE.
 * A sampled input (harness/sampled.h) is replayed with 1-byte and 7-byte reads; each transcript
 * (actions, replies, message bytes) must be identical to the first run's.
 * A divergence aborts with a message naming the read, the command and both values.
 */
#include <stdint.h>

#include "session.h"
#include "starttls_run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_session s;
    fz_session_parse(&s, data, size);
    starttls_check(&s);
    return 0;
}
