/* mutator.h - session-aware mutation: a session file (corpus/FORMAT.md) in, a session file out,
 * changed at the level of its events (client writes, read patterns, TLS-up, the header) rather
 * than its bytes, so that a mutation keeps the framing and makes a change a server would see:
 * a command pipelined behind STARTTLS, a literal whose size is one off its octets, a read
 * boundary between a literal's last byte and its CRLF. It knows each protocol's commands (verb
 * tables from the RFCs), so that an empty or short input grows into a session (a header, an
 * opening command, STARTTLS and TLS up) without a dictionary. The record layout
 * (FZ_LAYOUT_RECORDS, mutator_records.c) does the same for record_diff's record list.
 *
 * Pure and deterministic: the same input, other input, seed and tokens give the same output.
 * No engine here: targets/mutator/engine.c connects it to libFuzzer (LLVMFuzzerCustomMutator,
 * LLVMFuzzerCustomCrossOver) and AFL++ (afl_custom_fuzz), and supplies the byte mutator that a
 * fraction of mutations fall through to.
 *
 * Every output is canonical: serialize(parse(output)) == output, and the framing of every event
 * ends exactly where the next one starts (no clamped length, no v1 alias type byte), so what the
 * mutator meant is what the target reads. targets/tests/test_mutator.c checks that, and
 * determinism, over every shipped seed. */
#ifndef FZ_MUTATOR_H
#define FZ_MUTATOR_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "session.h"

/* Where the session sits in a target's input. */
enum fz_layout {
    FZ_LAYOUT_SESSION = 0,     /* the whole input is a session file (imap, starttls, ...) */
    FZ_LAYOUT_TLS_SESSION = 1, /* targets/imap_tls.c: suite, seq, 144 key bytes, iv_seed, pad,
                                * ncuts and ncuts % 8 cut sizes, then a session file whose
                                * client stream is IMAP */
    FZ_LAYOUT_IMAP_SESSION = 2, /* a session file whose client stream is IMAP whatever its
                                 * proto byte says (targets/imap.c, imap_dovecot.c) */
    FZ_LAYOUT_RECORDS = 3,      /* targets/record_diff.c: suite, seq, key material, read
                                 * pattern, then records (mutator_records.c); no session */
    FZ_LAYOUT_RAW_RECORDS = 4,  /* targets/record.c: config, read pattern, then the byte stream
                                 * read as TLS records (mutator_records.c); no session */
};

/* The layout of the target an engine mutator serves: defined by the one targets/mutator/layout_*.c
 * the target's manifest line names (mutator column), linked with targets/mutator/engine.c. */
extern const enum fz_layout fz_mutator_layout;

/* The bytes before the session in an input of this layout, as the target reads them (an input
 * shorter than that has an empty session: the target reads the missing bytes as zero). */
size_t fz_layout_prefix(enum fz_layout l, const uint8_t *data, size_t size);

/* A byte mutator over data[0..size) with room for max bytes; returns the new size (<= max).
 * libFuzzer's LLVMFuzzerMutate has this shape. */
typedef size_t (*fz_byte_mutator)(uint8_t *data, size_t size, size_t max, void *ctx, uint64_t seed);

struct fz_mev {         /* one event while mutating: its payload lives in the arena */
    enum fz_ev_type type;
    size_t off, n;
};

/* Mutator state, reused across inputs (no allocation per input once the buffers have grown). */
struct fz_mutator {
    enum fz_layout layout;
    fz_byte_mutator bytes; /* NULL: no byte-level fall-through */
    void *bytes_ctx;
    unsigned stack; /* mutations stacked per call: 1 .. stack (0: 4); tests set 1 */
    /* protocol tokens (the engine's dictionary), each a piece of tok */
    struct fz_buf tok;
    size_t *tok_off, *tok_len, ntok, tok_cap;
    /* working state */
    struct fz_buf arena, out;
    struct fz_mev *ev, *ev2;
    size_t nev, nev2, ev_cap, ev2_cap;
    uint8_t hdr[FZ_SESSION_HEADER];
    unsigned version; /* the input's session format version, written back (flags keep their meaning) */
    uint64_t rng;
    const char *last; /* name of the last mutation applied (tests, debugging) */
};

void fz_mutator_init(struct fz_mutator *m, enum fz_layout layout, fz_byte_mutator bytes, void *ctx);
void fz_mutator_free(struct fz_mutator *m);
/* Adds one token (a dictionary entry). Tokens longer than 256 bytes are ignored. */
void fz_mutator_add_token(struct fz_mutator *m, const uint8_t *p, size_t n);
/* Adds the tokens of a dictionary file (libFuzzer / AFL format); -1 (and a message on stderr)
 * when it cannot be read. The engines (targets/mutator/engine.c) and tools/session-mutate. */
int fz_mutator_load_dict(struct fz_mutator *m, const char *path);

/* Mutates in[0..n) (with other[0..other_n) as the partner of a splice; NULL/0 for none) into
 * out[0..max); returns the output size, which is at most max. The output's session part is
 * canonical (above); the prefix of FZ_LAYOUT_TLS_SESSION is carried over, or byte-mutated. */
size_t fz_mutate(struct fz_mutator *m, const uint8_t *in, size_t n, const uint8_t *other, size_t other_n,
                 uint8_t *out, size_t max, uint64_t seed);

/* The next number of a splitmix64 sequence (state advanced): the mutator's generator, also the
 * engine glue's, so that a seed gives the same run everywhere. */
uint64_t fz_splitmix64(uint64_t *state);

/* 1 when data[0..size) is a canonical session file (see above), else 0. */
int fz_session_canonical(const uint8_t *data, size_t size);

/* FZ_LAYOUT_RECORDS (mutator_records.c): one record-list mutation of in[0..n) (other: a
 * crossover partner) into out[0..max); fz_mutate calls it. Every output is canonical:
 * fz_records_canonical(output) == 1 (every field where the target reads it). */
size_t fz_mutate_records(struct fz_mutator *m, const uint8_t *in, size_t n, const uint8_t *other, size_t other_n,
                         uint8_t *out, size_t max);
int fz_records_canonical(const uint8_t *data, size_t size);
/* FZ_LAYOUT_RAW_RECORDS (mutator_records.c): the same for targets/record.c's raw stream. Every
 * byte of the input is kept (what does not parse as a record is carried as it is), so
 * fz_raw_records_canonical is 1 for every input that carries its whole read pattern; it says
 * how many records the stream parsed into and whether every one of them is complete (framed:
 * each header's length is its body's, no tail). */
size_t fz_mutate_raw_records(struct fz_mutator *m, const uint8_t *in, size_t n, const uint8_t *other,
                             size_t other_n, uint8_t *out, size_t max);
int fz_raw_records_canonical(const uint8_t *data, size_t size, size_t *records, int *framed);
/* The lengths the record_diff input carries for suite byte `byte`: key material and explicit
 * IV per record (record_seal.c checks them against the oracle's). */
int fz_record_layout_suite(unsigned byte, size_t *keys, size_t *iv);
size_t fz_record_layout_nsuites(void);

#endif
