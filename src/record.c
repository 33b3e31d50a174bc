/* record.c - the TLS record decrypter (see include/mx/record.h).
 *
 * Primitives come from BoringSSL: AES/3DES block ciphers in CBC mode, the SHA-1, SHA-256 and
 * SHA-384 compression functions (HMAC is built on SHA*_Transform so that it can run over every
 * possible length of a MAC-then-encrypt CBC record in constant time), plain EVP_AEAD AES-GCM /
 * ChaCha20-Poly1305 with the TLS nonce and additional data built here, and HKDF-Expand for
 * TLS 1.3 keys. BoringSSL's record-level
 * AEADs (EVP_aead_*_tls*) are deliberately not used: the fuzz targets use them as the oracle.
 */
#include "mx/record.h"

#include <string.h>

#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/des.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/sha.h>

/* Test builds for the valgrind constant-time check (src/tests/cbc_constant_time.sh) define MX_CT_VALGRIND:
 * the decrypted CBC record (data, MAC and padding) is marked secret (undefined to memcheck),
 * and the accept/reject decision and the plaintext length are declassified (marked defined)
 * right before the one branch that acts on them, like BoringSSL's CONSTTIME_SECRET /
 * CONSTTIME_DECLASSIFY. Any other branch or memory index on the secret bytes is then a
 * memcheck error. In every other build both are no-ops. */
#ifdef MX_CT_VALGRIND
#include <valgrind/memcheck.h>
#define CT_SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define CT_DECLASSIFY(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define CT_SECRET(p, n) ((void)(p), (void)(n))
#define CT_DECLASSIFY(p, n) ((void)(p), (void)(n))
#endif

enum kind { K_NULL = 0, K_CBC_3DES, K_CBC_AES128, K_CBC_AES256, K_GCM128, K_GCM256, K_CHACHA };
/* The HMAC hash of a CBC suite (RFC 5246 6.2.3.2 and appendix A.5; RFC 5289 3.1). */
enum mac_hash { H_NONE = 0, H_SHA1, H_SHA256, H_SHA384 };

/* One hash state of any of the three HMAC hashes. SHA-384 runs on SHA-512's state. */
union hash_ctx {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512;
};

struct rec_state {
    int kind;
    int tls13;
    int error;        /* the error that killed the decrypter, 0 while alive */
    uint16_t version; /* negotiated version (0x0304 for TLS 1.3), 0 for the null cipher */
    uint64_t seq;
    unsigned bs;            /* CBC block size */
    unsigned explicit_iv;   /* CBC explicit IV length (TLS 1.1+), 0 for TLS 1.0 */
    uint8_t chained_iv[16]; /* TLS 1.0: IV of the next record */
    uint8_t fixed_iv[12];   /* AEAD: GCM salt (4 bytes) or the 12-byte IV */
    uint8_t secret13[48];   /* TLS 1.3: the current traffic secret (for KeyUpdate) */
    uint16_t suite13;
    int etm;                /* RFC 7366 encrypt-then-MAC negotiated (CBC only) */
    int hash;               /* enum mac_hash of a CBC suite */
    unsigned mac_len;       /* HMAC output: 20, 32 or 48 bytes */
    unsigned hash_block;    /* the hash's block: 64 bytes (SHA-1, SHA-256), 128 (SHA-384) */
    union hash_ctx mac_inner; /* hash state after (key ^ ipad) */
    union hash_ctx mac_outer; /* hash state after (key ^ opad) */
    union {
        AES_KEY aes;
        DES_key_schedule des[3];
        EVP_AEAD_CTX aead;
    } c;
};

_Static_assert(sizeof(struct rec_state) <= MX_RECORD_STATE_SIZE, "MX_RECORD_STATE_SIZE too small");
_Static_assert(sizeof(struct mx_record) <= 20u * 1024u, "struct mx_record exceeds its documented bound");

#define MAX_MAC_LEN 48u
#define MAX_HASH_BLOCK 128u

static struct rec_state *st(struct mx_record *r) { return (struct rec_state *)(void *)r->state_; }
static const struct rec_state *cst(const struct mx_record *r)
{
    return (const struct rec_state *)(const void *)r->state_;
}

/* ---------------------------------------------------------------- constant-time helpers */
/* All masks are all-ones (true) or zero (false). value_barrier keeps the compiler from
 * turning mask arithmetic back into branches. The mask arithmetic wraps around on purpose
 * (well defined for unsigned types); CT_WRAPS tells -fsanitize=unsigned-integer-overflow. */
#if defined(__clang__)
#define CT_WRAPS __attribute__((no_sanitize("unsigned-integer-overflow")))
#else
#define CT_WRAPS
#endif
/* CT_OUT_OF_LINE: the three constant-time CBC functions stay functions of their own. Inlined
 * into mx_record_read, their mask arithmetic would be optimised together with the caller's
 * branches (the transformation value_barrier guards against, with more room to happen), and the
 * tools that treat them as one unit by name would lose them: valgrind's report of a secret
 * branch (src/tests/cbc_constant_time.sh) and the fuzzers' list of functions left out of their
 * coverage instrumentation (targets/untraced.txt, which applies to a function body, not to its
 * inlined copies). */
#define CT_OUT_OF_LINE __attribute__((noinline))
static inline size_t value_barrier(size_t a)
{
    __asm__("" : "+r"(a) : /* no inputs */);
    return a;
}
CT_WRAPS static inline size_t ct_msb(size_t a) { return 0u - (a >> (sizeof(a) * 8 - 1)); }
CT_WRAPS static inline size_t ct_lt(size_t a, size_t b) { return value_barrier(ct_msb(a ^ ((a ^ b) | ((a - b) ^ a)))); }
static inline size_t ct_ge(size_t a, size_t b) { return ~ct_lt(a, b); }
CT_WRAPS static inline size_t ct_is_zero(size_t a) { return value_barrier(ct_msb(~a & (a - 1))); }
static inline size_t ct_eq(size_t a, size_t b) { return ct_is_zero(a ^ b); }
/* The same on 32-bit lanes, for the loops over a record's last few hundred bytes: both
 * operands below 2^31 (positions and lengths in a record are below 2^16). No barrier inside:
 * such a loop puts one on its secret operand before it starts (value_barrier32), so the compiler
 * knows nothing of the value to branch on, and the loop stays plain lane arithmetic that it can
 * vectorise. */
static inline uint32_t value_barrier32(uint32_t a)
{
    __asm__("" : "+r"(a) : /* no inputs */);
    return a;
}
CT_WRAPS static inline uint32_t ct32_lt(uint32_t a, uint32_t b) { return 0u - ((a - b) >> 31); }
CT_WRAPS static inline uint32_t ct32_eq(uint32_t a, uint32_t b)
{
    uint32_t x = a ^ b;
    return 0u - ((~x & (x - 1)) >> 31);
}

/* ---------------------------------------------------------------- suites */
static int suite_kind(uint16_t suite)
{
    switch (suite) {
    case 0x000A: case 0x0016: case 0xC008: case 0xC012:
        return K_CBC_3DES;
    case 0x002F: case 0x0033: case 0x008C: case 0xC009: case 0xC013: case 0xC035:
        return K_CBC_AES128;
    case 0x0035: case 0x0039: case 0x008D: case 0xC00A: case 0xC014: case 0xC036:
        return K_CBC_AES256;
    case 0x003C: case 0x0067: case 0xC023: case 0xC027:
        return K_CBC_AES128;
    case 0x003D: case 0x006B: case 0xC024: case 0xC028:
        return K_CBC_AES256;
    case 0x009C: case 0x009E: case 0xC02B: case 0xC02F:
        return K_GCM128;
    case 0x009D: case 0x009F: case 0xC02C: case 0xC030:
        return K_GCM256;
    case 0xCCA8: case 0xCCA9: case 0xCCAA: case 0xCCAC:
        return K_CHACHA;
    default:
        return -1;
    }
}

/* The MAC of a CBC suite; H_NONE for AEAD suites. */
static int suite_hash(uint16_t suite)
{
    switch (suite) {
    case 0x003C: case 0x003D: case 0x0067: case 0x006B: case 0xC023: case 0xC027:
        return H_SHA256;
    case 0xC024: case 0xC028:
        return H_SHA384;
    default:
        return suite_kind(suite) >= K_CBC_3DES && suite_kind(suite) <= K_CBC_AES256 ? H_SHA1 : H_NONE;
    }
}

static unsigned hash_mac_len(int hash) { return hash == H_SHA384 ? 48 : hash == H_SHA256 ? 32 : 20; }

struct layout {
    size_t mac, key, iv;
};

static int tls12_layout(uint16_t version, uint16_t suite, struct layout *l)
{
    int kind = suite_kind(suite), hash = suite_hash(suite);
    size_t mac = hash_mac_len(hash);
    if (version < 0x0301 || version > 0x0303)
        return -1;
    /* The SHA-256/384 CBC suites are TLS 1.2 suites (RFC 5246 A.5, RFC 5289 3.1: "MUST NOT be
     * negotiated in older versions"); OpenSSL and BoringSSL refuse them below 1.2 too. */
    if ((hash == H_SHA256 || hash == H_SHA384) && version != 0x0303)
        return -1;
    switch (kind) {
    case K_CBC_3DES:
        *l = (struct layout){mac, 24, version == 0x0301 ? 8 : 0};
        return 0;
    case K_CBC_AES128:
        *l = (struct layout){mac, 16, version == 0x0301 ? 16 : 0};
        return 0;
    case K_CBC_AES256:
        *l = (struct layout){mac, 32, version == 0x0301 ? 16 : 0};
        return 0;
    case K_GCM128:
    case K_GCM256:
        if (version != 0x0303)
            return -1;
        *l = (struct layout){0, kind == K_GCM128 ? 16 : 32, 4};
        return 0;
    case K_CHACHA:
        if (version != 0x0303)
            return -1;
        *l = (struct layout){0, 32, 12};
        return 0;
    default:
        return -1;
    }
}

size_t mx_record_key_block_len(uint16_t version, uint16_t cipher_suite)
{
    struct layout l;
    if (tls12_layout(version, cipher_suite, &l) != 0)
        return 0;
    return 2 * (l.mac + l.key + l.iv);
}

/* ---------------------------------------------------------------- setup */
void mx_record_init(struct mx_record *r)
{
    memset(r->state_, 0, sizeof r->state_);
    st(r)->kind = K_NULL;
}

static void wipe_keys(struct rec_state *s)
{
    if (s->kind == K_GCM128 || s->kind == K_GCM256 || s->kind == K_CHACHA)
        EVP_AEAD_CTX_cleanup(&s->c.aead);
    memset(&s->c, 0, sizeof s->c);
    memset(&s->mac_inner, 0, sizeof s->mac_inner);
    memset(&s->mac_outer, 0, sizeof s->mac_outer);
    memset(s->chained_iv, 0, sizeof s->chained_iv);
    memset(s->fixed_iv, 0, sizeof s->fixed_iv);
    memset(s->secret13, 0, sizeof s->secret13);
}

void mx_record_cleanup(struct mx_record *r)
{
    struct rec_state *s = st(r);
    int err = s->error;
    wipe_keys(s);
    mx_record_init(r);
    st(r)->error = err;
}

static const EVP_AEAD *kind_aead(int kind)
{
    switch (kind) {
    case K_GCM128: return EVP_aead_aes_128_gcm();
    case K_GCM256: return EVP_aead_aes_256_gcm();
    case K_CHACHA: return EVP_aead_chacha20_poly1305();
    default: return NULL;
    }
}

/* ---------------------------------------------------------------- the HMAC hashes */
static void hash_init(int hash, union hash_ctx *c)
{
    switch (hash) {
    case H_SHA1: SHA1_Init(&c->sha1); break;
    case H_SHA256: SHA256_Init(&c->sha256); break;
    default: SHA384_Init(&c->sha512); break;
    }
}

static void hash_update(int hash, union hash_ctx *c, const uint8_t *p, size_t n)
{
    switch (hash) {
    case H_SHA1: SHA1_Update(&c->sha1, p, n); break;
    case H_SHA256: SHA256_Update(&c->sha256, p, n); break;
    default: SHA384_Update(&c->sha512, p, n); break;
    }
}

static void hash_final(int hash, union hash_ctx *c, uint8_t *out)
{
    switch (hash) {
    case H_SHA1: SHA1_Final(out, &c->sha1); break;
    case H_SHA256: SHA256_Final(out, &c->sha256); break;
    default: SHA384_Final(out, &c->sha512); break;
    }
}

/* One compression of a whole block (hash_block bytes), no padding, no length counting. */
static void hash_transform(int hash, union hash_ctx *c, const uint8_t *block)
{
    switch (hash) {
    case H_SHA1: SHA1_Transform(&c->sha1, block); break;
    case H_SHA256: SHA256_Transform(&c->sha256, block); break;
    default: SHA512_Transform(&c->sha512, block); break;
    }
}

/* The chaining value as the digest bytes it would give (big-endian words; SHA-384 keeps the
 * first 6 of SHA-512's 8 words), mac_len bytes. */
static void hash_state_bytes(int hash, const union hash_ctx *c, uint8_t *out)
{
    size_t k;
    if (hash == H_SHA384) {
        for (k = 0; k < 48; k++)
            out[k] = (uint8_t)(c->sha512.h[k / 8] >> (56 - 8 * (k % 8)));
        return;
    }
    for (k = 0; k < (hash == H_SHA1 ? 20u : 32u); k++) {
        uint32_t w = hash == H_SHA1 ? c->sha1.h[k / 4] : c->sha256.h[k / 4];
        out[k] = (uint8_t)(w >> (24 - 8 * (k % 4)));
    }
}

int mx_record_set_tls12_keys(struct mx_record *r, uint16_t version, uint16_t cipher_suite,
                             enum mx_record_mac_order mac_order, int from_client, const uint8_t *key_block,
                             size_t key_block_len, uint64_t seq)
{
    struct rec_state *s = st(r);
    int kind = suite_kind(cipher_suite), hash = suite_hash(cipher_suite);
    struct layout l;
    const uint8_t *mac, *key, *iv;
    int err;

    if (tls12_layout(version, cipher_suite, &l) != 0)
        return MX_REC_UNSUPPORTED;
    /* RFC 7366 3: encrypt-then-MAC applies to block ciphers only; an AEAD suite with the
     * extension negotiated is unchanged ("MUST NOT send an encrypt_then_mac response extension
     * back to the client" for them), so the caller's choice is ignored there. */
    if (mac_order != MX_REC_MAC_THEN_ENCRYPT && mac_order != MX_REC_ENCRYPT_THEN_MAC)
        return MX_REC_UNSUPPORTED;
    if (!key_block || key_block_len < 2 * (l.mac + l.key + l.iv))
        return MX_REC_BAD_KEYS;
    mac = key_block + (from_client ? 0 : l.mac);
    key = key_block + 2 * l.mac + (from_client ? 0 : l.key);
    iv = key_block + 2 * (l.mac + l.key) + (from_client ? 0 : l.iv);

    err = s->error;
    wipe_keys(s);
    memset(s, 0, sizeof *s);
    s->error = err;
    s->version = version;
    s->seq = seq;
    s->kind = kind;
    if (l.mac) {
        /* HMAC (RFC 2104): the key, shorter than a block here, zero-padded to the hash's block
         * and XORed with ipad / opad; the two states after that first block are kept. */
        uint8_t pad[MAX_HASH_BLOCK];
        size_t i;
        s->hash = hash;
        s->mac_len = (unsigned)l.mac;
        s->hash_block = hash == H_SHA384 ? 128 : 64;
        s->etm = mac_order == MX_REC_ENCRYPT_THEN_MAC;
        for (i = 0; i < s->hash_block; i++)
            pad[i] = (uint8_t)((i < l.mac ? mac[i] : 0) ^ 0x36);
        hash_init(hash, &s->mac_inner);
        hash_update(hash, &s->mac_inner, pad, s->hash_block);
        for (i = 0; i < s->hash_block; i++)
            pad[i] = (uint8_t)((i < l.mac ? mac[i] : 0) ^ 0x5c);
        hash_init(hash, &s->mac_outer);
        hash_update(hash, &s->mac_outer, pad, s->hash_block);
        memset(pad, 0, sizeof pad);
    }
    switch (kind) {
    case K_CBC_3DES:
        s->bs = 8;
        DES_set_key_unchecked((const DES_cblock *)key, &s->c.des[0]);
        DES_set_key_unchecked((const DES_cblock *)(key + 8), &s->c.des[1]);
        DES_set_key_unchecked((const DES_cblock *)(key + 16), &s->c.des[2]);
        break;
    case K_CBC_AES128:
    case K_CBC_AES256:
        s->bs = 16;
        /* BoringSSL refuses only key sizes other than 128/192/256 bits, which tls12_layout
         * never gives: kept for a future suite, unreachable today */
        if (AES_set_decrypt_key(key, (unsigned)(l.key * 8), &s->c.aes) != 0) {
            s->kind = K_NULL;
            s->error = MX_REC_INTERNAL;
            return MX_REC_INTERNAL;
        }
        break;
    default:
        /* fails only on a key length the AEAD does not take (tls12_layout gives its own), so
         * unreachable today, like the TLS 1.3 one below and HKDF_expand's failure (an output
         * over 255 hash lengths) */
        if (!EVP_AEAD_CTX_init(&s->c.aead, kind_aead(kind), key, l.key, EVP_AEAD_DEFAULT_TAG_LENGTH, NULL)) {
            s->kind = K_NULL;
            s->error = MX_REC_INTERNAL;
            return MX_REC_INTERNAL;
        }
        memcpy(s->fixed_iv, iv, l.iv);
        break;
    }
    if (s->bs) {
        s->explicit_iv = version == 0x0301 ? 0 : s->bs;
        if (version == 0x0301)
            memcpy(s->chained_iv, iv, s->bs);
    }
    return MX_REC_OK;
}

/* HKDF-Expand-Label(secret, label, "", len), RFC 8446 7.1. */
static int expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len, const char *label,
                        uint8_t *out, size_t out_len)
{
    uint8_t info[2 + 1 + 6 + 16 + 1]; /* labels used here are at most 11 bytes */
    size_t ll = strlen(label), n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0;
    return HKDF_expand(out, out_len, md, secret, secret_len, info, n);
}

int mx_record_set_tls13_secret(struct mx_record *r, uint16_t cipher_suite, const uint8_t *secret,
                               size_t len, uint64_t seq)
{
    struct rec_state *s = st(r);
    const EVP_MD *md;
    int kind, err;
    size_t key_len;
    uint8_t key[32], iv[12];

    switch (cipher_suite) {
    case 0x1301: kind = K_GCM128; md = EVP_sha256(); key_len = 16; break;
    case 0x1302: kind = K_GCM256; md = EVP_sha384(); key_len = 32; break;
    case 0x1303: kind = K_CHACHA; md = EVP_sha256(); key_len = 32; break;
    default: return MX_REC_UNSUPPORTED;
    }
    if (!secret || len != EVP_MD_size(md))
        return MX_REC_BAD_KEYS;
    if (!expand_label(md, secret, len, "key", key, key_len) || !expand_label(md, secret, len, "iv", iv, 12))
        return MX_REC_INTERNAL;

    err = s->error;
    wipe_keys(s);
    memset(s, 0, sizeof *s);
    s->error = err;
    s->version = 0x0304;
    s->tls13 = 1;
    s->seq = seq;
    s->kind = kind;
    memcpy(s->fixed_iv, iv, 12);
    memcpy(s->secret13, secret, len);
    s->suite13 = cipher_suite;
    if (!EVP_AEAD_CTX_init(&s->c.aead, kind_aead(kind), key, key_len, EVP_AEAD_DEFAULT_TAG_LENGTH, NULL)) {
        s->kind = K_NULL;
        s->error = MX_REC_INTERNAL;
    }
    memset(key, 0, sizeof key);
    return s->error == MX_REC_INTERNAL ? MX_REC_INTERNAL : MX_REC_OK;
}

int mx_record_tls13_key_update(struct mx_record *r)
{
    struct rec_state *s = st(r);
    uint8_t next[48];
    size_t len;
    const EVP_MD *md;
    int rc;
    if (!s->tls13)
        return MX_REC_UNSUPPORTED;
    md = s->suite13 == 0x1302 ? EVP_sha384() : EVP_sha256();
    len = EVP_MD_size(md);
    /* RFC 8446 7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length) */
    if (!expand_label(md, s->secret13, len, "traffic upd", next, len))
        return MX_REC_INTERNAL;
    rc = mx_record_set_tls13_secret(r, s->suite13, next, len, 0);
    memset(next, 0, sizeof next);
    return rc;
}

uint64_t mx_record_read_seq(const struct mx_record *r) { return cst(r)->seq; }
int mx_record_error(const struct mx_record *r) { return cst(r)->error; }

/* ---------------------------------------------------------------- CBC, constant time */

/* HMAC over hdr[0..13) || data[0..L) where L is secret, lmin <= L <= lmax public, and
 * data[0..avail) is readable. hdr[11..12] hold L (secret as well). The prefix that every
 * possible L shares is hashed normally; the last blocks are computed for every possible end
 * and the right one is selected by mask. Works for the three hashes: B, the block, is 64 bytes
 * for SHA-1 and SHA-256 and 128 for SHA-384, whose length field is 16 bytes instead of 8
 * (FIPS 180-4 5.1): where the final block starts and how many blocks the longest record takes
 * both follow from B and that field, so a wrong B (bench/bugs/sha384-block-64.patch) hashes
 * the wrong blocks and no SHA-384 record is accepted. */
/* The bytes cbc_mac_ct builds its variable blocks from. With prefix >= 13 + lmin - (B - 1) and
 * lmax <= lmin + 256 they are at most 256 + len_field + 2B - 1, in whole blocks: 384 bytes
 * (SHA-1, SHA-256) or 512 (SHA-384); when lmin is 0, at most B + 13 + 256 + len_field. */
#define MAX_VAR_BYTES 512u

CT_OUT_OF_LINE static void cbc_mac_ct(const struct rec_state *s, const uint8_t hdr[13], const uint8_t *data,
                       size_t avail, size_t L, size_t lmin, size_t lmax, uint8_t mac[MAX_MAC_LEN])
{
    union hash_ctx c = s->mac_inner;
    const size_t B = s->hash_block, len_field = B == 128 ? 16 : 8;
    uint8_t acc[MAX_MAC_LEN], state[MAX_MAC_LEN], tail[MAX_VAR_BYTES], inner[MAX_MAC_LEN];
    /* B is 64 or 128: block numbers of the secret total by shift. A division by the variable
     * B is not constant time: clang's x86-64 code tests whether the operands fit 32 bits and
     * branches to a shorter divide (memcheck reports it at -O2), and divide latency depends on
     * the dividend on many CPUs. */
    const unsigned log2_B = B == 128 ? 7 : 6;
    size_t prefix = ((13 + lmin) / B) * B;    /* bytes of hdr||data hashed normally */
    size_t total = B + 13 + L;                /* inner hash input, with the ipad block */
    uint64_t bits = (uint64_t)total * 8;
    size_t final_block = (total + len_field) >> log2_B; /* the block holding the length field */
    size_t first_block = (B + prefix) / B;
    size_t last_block = (B + 13 + lmax + len_field) / B;
    /* Fewest compressions the construction allows: every block that some L in lmin..lmax
     * needs, and no other: first_block is the first one whose bytes depend on L (the message
     * may end in it), last_block the final block of the longest message. */
    size_t tail_len = (last_block + 1 - first_block) * B;
    /* where in tail the message ends: the 0x80 byte goes there, zeros after it (secret) */
    uint32_t end = value_barrier32((uint32_t)(13 + L - prefix));
    size_t b, j, k, from, got;

    memset(acc, 0, sizeof acc);
    if (prefix > 0) {
        hash_update(s->hash, &c, hdr, 13);
        hash_update(s->hash, &c, data, prefix - 13);
    }
    /* tail: hdr||data from prefix on, as far as the longest message reaches, zero past the
     * readable bytes; every position public, so plain copies */
    memset(tail, 0, tail_len);
    k = 0;
    if (prefix < 13) {
        memcpy(tail, hdr + prefix, 13 - prefix);
        k = 13 - prefix;
    }
    from = prefix + k - 13;
    got = from < avail ? avail - from : 0;
    if (got > tail_len - k)
        got = tail_len - k;
    memcpy(tail + k, data + from, got);
    /* the message's padding, by mask over all of tail (one pass the compiler can vectorise):
     * the bytes before end kept, 0x80 at end, zeros after */
    for (k = 0; k < tail_len; k++)
        tail[k] = (uint8_t)((tail[k] & ct32_lt((uint32_t)k, end)) | (0x80 & ct32_eq((uint32_t)k, end)));
    for (b = first_block; b <= last_block; b++) {
        uint8_t *block = tail + (b - first_block) * B;
        size_t is_final = ct_eq(b, final_block);
        /* the low 8 bytes of the length field, in the final block only; SHA-384's upper 8 are
         * zero already (past the end, so masked out above) */
        for (j = B - 8; j < B; j++) {
            size_t lb = (size_t)(bits >> (8 * (B - 1 - j))) & 0xff;
            block[j] = (uint8_t)((block[j] & ~is_final) | (lb & is_final));
        }
        hash_transform(s->hash, &c, block);
        hash_state_bytes(s->hash, &c, state);
        for (k = 0; k < s->mac_len; k++)
            acc[k] |= (uint8_t)(state[k] & is_final);
    }
    memcpy(inner, acc, s->mac_len);
    c = s->mac_outer;
    hash_update(s->hash, &c, inner, s->mac_len);
    hash_final(s->hash, &c, mac);
}

/* pt[0..n) is a decrypted CBC record (without explicit IV) that must leave room for `room`
 * bytes before its padding (the MAC in MAC-then-encrypt, nothing in encrypt-then-MAC). Returns
 * the padding length including its length byte (pad + 1) if the padding is good, else 0, and
 * in *good an all-ones mask if it is good. No branch or index depends on the bytes. */
CT_OUT_OF_LINE static size_t cbc_padding_ct(const uint8_t *pt, size_t n, size_t room, size_t *good_out)
{
    size_t pad = pt[n - 1];
    size_t good = ct_ge(n, pad + room + 1);
    size_t to_check = n < 256 ? n : 256;
    const uint8_t *last = pt + n - to_check; /* the bytes that could be padding */
    uint32_t pad32 = value_barrier32((uint32_t)pad), bad = 0;
    size_t i;

    /* The first test of good is CVE-2016-2107's: the padding must leave room for itself and
     * the MAC. OpenSSL's AES-NI CBC code, rewritten for Lucky 13, lacked it: a record of little
     * more than valid padding made the data length wrap (L below) and was answered otherwise
     * than one with bad padding, a padding oracle again. The header check in mx_record_read
     * (n >= MAC + 1) is the public half of the same rule; this half is on the secret
     * padding length byte, so it is a mask, not a branch.
     *
     * Check every byte that could be padding, not just pad + 1 of them: the largest padding is
     * 255 + its length byte = 256 bytes, and a loop of pad + 1 rounds would take longer for
     * longer padding and tell pad. Byte i is compared only if i <= pad (mask), but all
     * to_check bytes are read. Every padding byte is checked, not just the length byte: POODLE
     * works on SSLv3 padding, whose other bytes are arbitrary, and TLS stacks that did not
     * check them were open to the same attack (CVE-2014-8730). */
    for (i = 0; i < to_check; i++) {
        /* last[i] is (to_check - 1 - i) bytes before the length byte: padding if that is <= pad */
        uint32_t is_pad = ~ct32_lt(pad32, (uint32_t)(to_check - 1 - i));
        bad |= is_pad & (pad32 ^ last[i]);
    }
    /* a wrong padding byte set a bit of bad; fold it into the mask */
    good &= ct_is_zero(bad);
    *good_out = good;
    return good & (pad + 1);
}

/* MAC-then-encrypt. pt[0..n) is a decrypted CBC record (without explicit IV), n >= mac_len + 1
 * and a multiple of the block size. Returns an all-ones mask if padding and MAC are good, else
 * 0, and the data length in *data_len (meaningful only when good). No branch or index depends
 * on the padding or MAC bytes. */
/* This follows BoringSSL's EVP_tls_cbc_remove_padding, EVP_tls_cbc_copy_mac and
 * EVP_tls_cbc_digest_record (crypto/cipher/tls_cbc.cc, itself OpenSSL's s3_cbc.c after
 * Lucky 13). The record is data || MAC || padding, and the padding is padding_length + 1
 * bytes, all of value padding_length (RFC 5246 6.2.3.2). Everything about where the data
 * ends is secret: an attacker who can tell, by an alert or by time, whether the padding of a
 * record he forged was good decrypts the record a byte at a time (Vaudenay 2002;
 * CVE-2003-0078 by timing; Lucky 13, CVE-2013-0169, by the few microseconds a MAC over a
 * shorter record saves). Only n, the ciphertext length, is public. */
CT_OUT_OF_LINE static size_t cbc_check_ct(const struct rec_state *s, uint8_t type, const uint8_t *pt, size_t n,
                           size_t *data_len)
{
    const size_t mac_len = s->mac_len;
    size_t good, pad;
    size_t i, j, k, bit, L, lmin, lmax, scan_start;
    uint32_t rotate = 0, L32;
    uint8_t hdr[13], mac[MAX_MAC_LEN], rotated[MAX_MAC_LEN], received[MAX_MAC_LEN];
    size_t diff = 0;

    /* bad padding: treated as no padding (pad 0), the MAC check then fails. It does not return
     * early: the MAC is computed and compared all the same, over the longest possible data
     * (whose MAC matches only by a 2^-160 accident), and good stays 0. So bad padding and a
     * bad MAC take the same time and end in the same error, bad_record_mac (RFC 5246
     * 6.2.3.2): no padding oracle by alert (bench/bugs/padding-oracle.patch re-injects the
     * separate error, CVE-2003-0078's decryption_failed) nor by time. */
    pad = cbc_padding_ct(pt, n, mac_len, &good);
    /* L: the data length (secret). lmin and lmax: its public bounds, from n alone: the padding
     * is 0 (bad) to 256 bytes, so L is within n - mac_len - 256 .. n - mac_len. */
    L = n - mac_len - pad;
    lmax = n - mac_len;
    lmin = n > mac_len + 256 ? n - mac_len - 256 : 0;

    for (i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(s->seq >> (56 - 8 * i));
    hdr[8] = type;
    hdr[9] = (uint8_t)(s->version >> 8);
    hdr[10] = (uint8_t)s->version;
    hdr[11] = (uint8_t)(L >> 8);
    hdr[12] = (uint8_t)L;
    /* Lucky 13: a plain HMAC over L bytes runs one hash block more or less depending on L.
     * cbc_mac_ct hashes the lmin..lmax range in the same number of blocks whatever L is. */
    cbc_mac_ct(s, hdr, pt, n, L, lmin, lmax, mac);

    /* copy the received MAC out of pt[L..L+mac_len) by rotation. Reading pt[L + i] would make
     * the memory address depend on the secret L, which a cache-timing attacker can see.
     * Instead every byte from where the MAC could start at the earliest (scan_start, = lmin)
     * to the end is read, in the same order whatever L is; the MAC bytes land in rotated[] at
     * (i - scan_start) % mac_len, so rotated holds the MAC rotated by an amount that depends on
     * L (rotate). Then the rotation is undone in log2(mac_len) passes that each read every
     * byte and keep by mask: again no secret index (BoringSSL's EVP_tls_cbc_copy_mac does the
     * same). */
    memset(rotated, 0, sizeof rotated);
    scan_start = n > mac_len + 256 ? n - (mac_len + 256) : 0;
    L32 = value_barrier32((uint32_t)L);
    for (i = scan_start; i < n; i += mac_len) {
        size_t m = n - i < mac_len ? n - i : mac_len;
        /* rotated[j] collects byte i + j, (i + j - scan_start) % mac_len == j */
        for (j = 0; j < m; j++) {
            uint32_t pos = (uint32_t)(i + j);
            uint32_t in_mac = ~ct32_lt(pos, L32) & ct32_lt(pos, L32 + (uint32_t)mac_len);
            rotated[j] |= (uint8_t)(pt[pos] & in_mac);
            rotate |= (uint32_t)j & ct32_eq(pos, L32);
        }
    }
    /* undo the rotation in log time: rotate left by 1, 2, 4, ... where rotate has that bit
     * (rotate < mac_len <= 48 < 64), each step a pass over all bytes with masks */
    for (bit = 1, k = 0; bit < mac_len; bit <<= 1, k++) {
        size_t take = value_barrier(0u - ((size_t)(rotate >> k) & 1));
        for (i = 0; i < mac_len; i++) {
            size_t src = i + bit < mac_len ? i + bit : i + bit - mac_len;
            received[i] = (uint8_t)((rotated[src] & take) | (rotated[i] & ~take));
        }
        memcpy(rotated, received, mac_len);
    }
    memcpy(received, rotated, mac_len);
    /* Compare all mac_len bytes, OR-ing the differences: stopping at the first wrong byte
     * (memcmp) tells by time how many leading MAC bytes were right
     * (bench/bugs/ct-early-mac.patch). The padding verdict and the MAC verdict end in one mask,
     * good, so the caller has one branch to take and the reason for a rejection is not in it. */
    for (i = 0; i < mac_len; i++)
        diff |= (size_t)(mac[i] ^ received[i]);
    good &= ct_is_zero(diff);
    *data_len = L;
    return good;
}

/* Encrypt-then-MAC (RFC 7366 3): the MAC is over the record as sent, before decryption:
 *   MAC(MAC_write_key, seq_num + type + version + length + IV + ENCRYPTED_CONTENT)
 * where length is that of IV + ENCRYPTED_CONTENT (the record body without the MAC) and IV is
 * absent in TLS 1.0 (chained). body[0..enc) is IV + ciphertext, body[enc..enc+mac_len) the
 * received MAC. Everything hashed is public (it is on the wire), so a plain HMAC is fine; the
 * MAC we compute is the secret (whoever learns it forges the record), so it is compared over
 * all mac_len bytes whatever differs. Returns an all-ones mask if the MAC is right. */
static size_t etm_mac_ok(const struct rec_state *s, const uint8_t h[5], const uint8_t *body, size_t enc)
{
    union hash_ctx c = s->mac_inner;
    uint8_t hdr[13], mac[MAX_MAC_LEN];
    size_t i, diff = 0;

    for (i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(s->seq >> (56 - 8 * i));
    hdr[8] = h[0];
    hdr[9] = h[1];
    hdr[10] = h[2];
    hdr[11] = (uint8_t)(enc >> 8);
    hdr[12] = (uint8_t)enc;
    hash_update(s->hash, &c, hdr, 13);
    hash_update(s->hash, &c, body, enc);
    hash_final(s->hash, &c, mac);
    c = s->mac_outer;
    hash_update(s->hash, &c, mac, s->mac_len);
    hash_final(s->hash, &c, mac);
    /* For the valgrind check (MX_CT_VALGRIND) the expected MAC is secret: an early exit on the
     * first wrong byte (bench/bugs/etm-early-tag.patch) would let a forger find the tag a byte
     * at a time by time, and is a branch on it. */
    CT_SECRET(mac, s->mac_len);
    for (i = 0; i < s->mac_len; i++)
        diff |= (size_t)(mac[i] ^ body[enc + i]);
    return ct_is_zero(diff);
}

/* ---------------------------------------------------------------- reading */
static int fail(struct rec_state *s, int code)
{
    s->error = code;
    return code;
}

static int valid_type(uint8_t t) { return t >= 20 && t <= 23; }

int mx_record_read(struct mx_record *r, struct mx_chain *in, uint8_t *type, uint8_t *out,
                   size_t out_cap, size_t *out_len)
{
    struct rec_state *s = st(r);
    uint8_t h[MX_RECORD_HEADER_LEN];
    uint8_t *rec = r->buf_ + MX_RECORD_HEADER_LEN; /* where the record is decrypted */
    const uint8_t *body;                           /* the record body as received */
    const struct mx_chain_seg *seg = NULL;
    const unsigned char *seg_p;
    size_t seg_n;
    size_t len, max_pt, n;
    uint16_t ver;

    *out_len = 0;
    if (s->error)
        return MX_REC_FAILED;
    if (in->bytes < MX_RECORD_HEADER_LEN)
        return MX_REC_NEED_MORE;
    mx_chain_peek(in, 0, h, sizeof h);
    len = (size_t)h[3] << 8 | h[4];
    ver = (uint16_t)(h[1] << 8 | h[2]);

    /* ---- public checks on the header, before any cryptography */
    if (!valid_type(h[0]))
        return fail(s, MX_REC_BAD_TYPE);
    if (s->kind == K_NULL) {
        if (h[1] != 3)
            return fail(s, MX_REC_BAD_VERSION);
        if (len > MX_RECORD_MAX_PLAINTEXT)
            return fail(s, MX_REC_TOO_LONG);
        max_pt = len;
    } else if (s->tls13) {
        int ccs = h[0] == MX_TLS_CHANGE_CIPHER_SPEC;
        if (h[0] != MX_TLS_APPLICATION_DATA && !(ccs && len == 1))
            return fail(s, MX_REC_BAD_TYPE);
        if (ver != 0x0303)
            return fail(s, MX_REC_BAD_VERSION);
        if (len > MX_RECORD_MAX_CIPHERTEXT13)
            return fail(s, MX_REC_TOO_LONG);
        if (ccs) {
            max_pt = 1;
        } else {
            if (len < 16 + 1)
                return fail(s, MX_REC_TOO_SHORT);
            max_pt = len - 17;
        }
    } else {
        if (ver != s->version)
            return fail(s, MX_REC_BAD_VERSION);
        if (len > MX_RECORD_MAX_CIPHERTEXT)
            return fail(s, MX_REC_TOO_LONG);
        if (s->bs && s->etm) {
            /* RFC 7366 3: IV + at least one block of ciphertext (the padding needs a byte)
             * + the MAC, and what is encrypted is whole blocks */
            if (len < s->explicit_iv + s->bs + s->mac_len)
                return fail(s, MX_REC_TOO_SHORT);
            if ((len - s->mac_len) % s->bs != 0)
                return fail(s, MX_REC_NOT_BLOCK_MULTIPLE);
            max_pt = len - s->explicit_iv - s->mac_len - 1;
        } else if (s->bs) {
            if (len < s->explicit_iv + s->mac_len + 1)
                return fail(s, MX_REC_TOO_SHORT);
            if (len % s->bs != 0)
                return fail(s, MX_REC_NOT_BLOCK_MULTIPLE);
            max_pt = len - s->explicit_iv - s->mac_len - 1;
        } else if (s->kind == K_CHACHA) {
            if (len < 16)
                return fail(s, MX_REC_TOO_SHORT);
            max_pt = len - 16;
        } else {
            if (len < 8 + 16)
                return fail(s, MX_REC_TOO_SHORT);
            max_pt = len - 8 - 16;
        }
    }
    if (max_pt > MX_RECORD_MAX_PLAINTEXT)
        max_pt = MX_RECORD_MAX_PLAINTEXT;
    if (in->bytes < MX_RECORD_HEADER_LEN + len)
        return MX_REC_NEED_MORE;
    if (out_cap < max_pt || (max_pt > 0 && !out))
        return MX_REC_OUT_TOO_SMALL;

    /* The body is read where it lies when one chain segment holds the whole record (a
     * caller's own read buffer handed over with mx_chain_append_owned, say), else copied into
     * rec first. Nothing is written to the chain: decryption goes to rec or out. */
    if (mx_chain_iter(in, &seg, &seg_p, &seg_n) && seg_n >= MX_RECORD_HEADER_LEN + len) {
        body = seg_p + MX_RECORD_HEADER_LEN;
    } else {
        mx_chain_peek(in, MX_RECORD_HEADER_LEN, rec, len);
        body = rec;
    }

    if (s->kind == K_NULL || (s->tls13 && h[0] == MX_TLS_CHANGE_CIPHER_SPEC)) {
        if (len)
            memcpy(out, body, len);
        *type = h[0];
        *out_len = len;
        mx_chain_consume(in, MX_RECORD_HEADER_LEN + len);
        return MX_REC_OK;
    }
    if (s->seq == UINT64_MAX)
        return fail(s, MX_REC_SEQ_EXHAUSTED);

    if (s->bs) {
        /* ---- CBC + HMAC */
        uint8_t iv[16];
        size_t good, data_len;
        /* encrypt-then-MAC: the MAC follows the ciphertext and is checked before anything is
         * decrypted, so a forged record never reaches the padding check and the padding tells
         * nothing (RFC 7366 3; bench/bugs/etm-mac-after-decrypt.patch decrypts first) */
        size_t enc = s->etm ? len - s->mac_len : len;
        const uint8_t *ct = body + s->explicit_iv;
        n = enc - s->explicit_iv;
        if (s->etm) {
            good = etm_mac_ok(s, h, body, enc);
            CT_DECLASSIFY(&good, sizeof good);
            if (!good)
                return fail(s, MX_REC_BAD_RECORD_MAC);
        }
        if (s->explicit_iv)
            memcpy(iv, body, s->bs);
        else
            memcpy(iv, s->chained_iv, s->bs);
        /* TLS 1.0: the last ciphertext block is the next record's IV */
        if (!s->explicit_iv)
            memcpy(s->chained_iv, ct + n - s->bs, s->bs);
        if (s->kind == K_CBC_3DES)
            DES_ede3_cbc_encrypt(ct, rec, n, &s->c.des[0], &s->c.des[1], &s->c.des[2],
                                 (DES_cblock *)iv, DES_DECRYPT);
        else
            AES_cbc_encrypt(ct, rec, n, &s->c.aes, iv, AES_DECRYPT);
        /* The valgrind constant-time check (MX_CT_VALGRIND, src/tests/cbc_constant_time.sh):
         * the plaintext, MAC and padding are marked secret, and memcheck then reports any
         * branch or memory index in cbc_check_ct that depends on them; only its verdict and
         * the length it returns are marked public, here, right before the one branch on them.
         * BoringSSL does the same with CONSTTIME_SECRET / CONSTTIME_DECLASSIFY. */
        CT_SECRET(rec, n);
        if (s->etm) {
            /* the MAC was right, so only the key holder wrote this padding; checked with
             * masks all the same, one code for a bad one (RFC 7366 3: bad_record_mac) */
            data_len = n - cbc_padding_ct(rec, n, 0, &good);
        } else {
            good = cbc_check_ct(s, h[0], rec, n, &data_len);
        }
        CT_DECLASSIFY(&good, sizeof good);
        CT_DECLASSIFY(&data_len, sizeof data_len);
        if (!good)
            return fail(s, MX_REC_BAD_RECORD_MAC);
        if (data_len > MX_RECORD_MAX_PLAINTEXT)
            return fail(s, MX_REC_RECORD_OVERFLOW);
        memcpy(out, rec, data_len);
        *type = h[0];
        *out_len = data_len;
    } else {
        /* ---- AEAD */
        uint8_t nonce[12], ad[13];
        size_t nonce_len = 12, ad_len, ct_off = 0, pt_len, i;
        if (s->tls13 || s->kind == K_CHACHA) {
            memcpy(nonce, s->fixed_iv, 12);
            for (i = 0; i < 8; i++)
                nonce[4 + i] ^= (uint8_t)(s->seq >> (56 - 8 * i));
        } else {
            memcpy(nonce, s->fixed_iv, 4);
            memcpy(nonce + 4, body, 8);
            ct_off = 8;
        }
        if (s->tls13) {
            memcpy(ad, h, 5);
            ad_len = 5;
        } else {
            size_t plen = len - ct_off - 16;
            for (i = 0; i < 8; i++)
                ad[i] = (uint8_t)(s->seq >> (56 - 8 * i));
            ad[8] = h[0];
            ad[9] = h[1];
            ad[10] = h[2];
            ad[11] = (uint8_t)(plen >> 8);
            ad[12] = (uint8_t)plen;
            ad_len = 13;
        }
        /* Decrypt straight into out when it holds all that the AEAD writes (the plaintext,
         * in TLS 1.3 with its inner type and padding): at AES-GCM's speed a 16 KB copy out of
         * rec costs a fifth of the open. A TLS 1.3 out_cap of exactly max_pt is a byte short:
         * then in place, and copied. */
        uint8_t *dst = out_cap >= len - ct_off - 16 ? out : rec + ct_off;
        if (!EVP_AEAD_CTX_open(&s->c.aead, dst, &pt_len, dst == out ? out_cap : len - ct_off, nonce, nonce_len,
                               body + ct_off, len - ct_off, ad, ad_len))
            return fail(s, MX_REC_BAD_RECORD_MAC);
        if (s->tls13) {
            /* strip the zero padding; the last non-zero byte is the content type */
            while (pt_len > 0 && dst[pt_len - 1] == 0)
                pt_len--;
            if (pt_len == 0)
                return fail(s, MX_REC_BAD_INNER);
            pt_len--;
            *type = dst[pt_len];
        } else {
            *type = h[0];
        }
        if (pt_len > MX_RECORD_MAX_PLAINTEXT)
            return fail(s, MX_REC_RECORD_OVERFLOW);
        if (pt_len && dst != out)
            memcpy(out, dst, pt_len);
        *out_len = pt_len;
    }
    s->seq++;
    mx_chain_consume(in, MX_RECORD_HEADER_LEN + len);
    return MX_REC_OK;
}

const char *mx_record_strerror(int status)
{
    switch (status) {
    case MX_REC_OK: return "ok";
    case MX_REC_NEED_MORE: return "record incomplete, need more bytes";
    case MX_REC_BAD_TYPE: return "unknown or unexpected record content type";
    case MX_REC_BAD_VERSION: return "record version is not the negotiated one";
    case MX_REC_TOO_LONG: return "record length above the limit";
    case MX_REC_TOO_SHORT: return "record too short for its cipher";
    case MX_REC_NOT_BLOCK_MULTIPLE: return "CBC record length not a multiple of the block size";
    case MX_REC_BAD_RECORD_MAC: return "bad record MAC";
    case MX_REC_RECORD_OVERFLOW: return "decrypted record longer than 2^14 bytes";
    case MX_REC_BAD_INNER: return "TLS 1.3 record without inner content type";
    case MX_REC_SEQ_EXHAUSTED: return "record sequence number exhausted";
    case MX_REC_OUT_TOO_SMALL: return "output buffer too small for this record";
    case MX_REC_FAILED: return "the decrypter failed earlier and refuses further records";
    case MX_REC_UNSUPPORTED: return "unsupported version or cipher suite";
    case MX_REC_BAD_KEYS: return "key material of the wrong length";
    case MX_REC_INTERNAL: return "internal BoringSSL failure";
    default: return "unknown status";
    }
}
