/* tls_oracle.c - BoringSSL's record AEADs as a reference record layer (see tls_oracle.h). */
#include "tls_oracle.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>

int tls_oracle_suite_info(uint16_t version, uint16_t suite, int *cipher, size_t *mac_len,
                          size_t *key_len, size_t *iv_len)
{
    int c = 0;
    size_t mac = 0, key = 0, iv = 0, cbc_block = 0;

    if (version == 0x0304) {
        switch (suite) {
        case 0x1301: c = TLS_ORACLE_GCM; key = 16; break;
        case 0x1302: c = TLS_ORACLE_GCM; key = 32; break;
        case 0x1303: c = TLS_ORACLE_CHACHA; key = 32; break;
        default: return -1;
        }
        *cipher = c;
        *mac_len = 0;
        *key_len = key;
        *iv_len = 12;
        return 0;
    }
    if (version < 0x0301 || version > 0x0303)
        return -1;
    switch (suite) {
    case 0x000A: case 0x0016: case 0xC008: case 0xC012:
        c = TLS_ORACLE_CBC; key = 24; cbc_block = 8; break;
    case 0x002F: case 0x0033: case 0x008C: case 0xC009: case 0xC013: case 0xC035:
        c = TLS_ORACLE_CBC; key = 16; cbc_block = 16; break;
    case 0x0035: case 0x0039: case 0x008D: case 0xC00A: case 0xC014: case 0xC036:
        c = TLS_ORACLE_CBC; key = 32; cbc_block = 16; break;
    /* RFC 5246 A.5 and RFC 5289 3.1: HMAC-SHA256 / SHA384, TLS 1.2 only */
    case 0x003C: case 0x0067: case 0xC023: case 0xC027:
        c = TLS_ORACLE_CBC; key = 16; cbc_block = 16; mac = 32; break;
    case 0x003D: case 0x006B:
        c = TLS_ORACLE_CBC; key = 32; cbc_block = 16; mac = 32; break;
    case 0xC024: case 0xC028:
        c = TLS_ORACLE_CBC; key = 32; cbc_block = 16; mac = 48; break;
    case 0x009C: case 0x009E: case 0xC02B: case 0xC02F:
        c = TLS_ORACLE_GCM; key = 16; iv = 4; break;
    case 0x009D: case 0x009F: case 0xC02C: case 0xC030:
        c = TLS_ORACLE_GCM; key = 32; iv = 4; break;
    case 0xCCA8: case 0xCCA9: case 0xCCAA: case 0xCCAC:
        c = TLS_ORACLE_CHACHA; key = 32; iv = 12; break;
    default:
        return -1;
    }
    if (c == TLS_ORACLE_CBC) {
        if (mac != 0 && version != 0x0303)
            return -1;
        if (mac == 0)
            mac = 20;
        iv = version == 0x0301 ? cbc_block : 0; /* TLS 1.1+ CBC: no IV in the key block */
    } else if (version != 0x0303) {
        return -1; /* AEAD suites are TLS 1.2 only */
    }
    *cipher = c;
    *mac_len = mac;
    *key_len = key;
    *iv_len = iv;
    return 0;
}

size_t tls_oracle_key_block_len(uint16_t version, uint16_t suite)
{
    int c;
    size_t mac, key, iv;
    if (version == 0x0304 || tls_oracle_suite_info(version, suite, &c, &mac, &key, &iv) != 0)
        return 0;
    return 2 * (mac + key + iv);
}

static const EVP_AEAD *record_aead(int cipher, size_t key, int version, int tls13)
{
    if (cipher == TLS_ORACLE_CHACHA)
        return EVP_aead_chacha20_poly1305();
    if (cipher == TLS_ORACLE_GCM) {
        if (tls13)
            return key == 16 ? EVP_aead_aes_128_gcm_tls13() : EVP_aead_aes_256_gcm_tls13();
        return key == 16 ? EVP_aead_aes_128_gcm_tls12() : EVP_aead_aes_256_gcm_tls12();
    }
    if (version == 0x0301) {
        switch (key) {
        case 24: return EVP_aead_des_ede3_cbc_sha1_tls_implicit_iv();
        case 16: return EVP_aead_aes_128_cbc_sha1_tls_implicit_iv();
        default: return EVP_aead_aes_256_cbc_sha1_tls_implicit_iv();
        }
    }
    switch (key) {
    case 24: return EVP_aead_des_ede3_cbc_sha1_tls();
    case 16: return EVP_aead_aes_128_cbc_sha1_tls();
    default: return EVP_aead_aes_256_cbc_sha1_tls();
    }
}

int tls_oracle_init12(struct tls_oracle *o, enum tls_oracle_dir dir, uint16_t version,
                      uint16_t suite, int from_client, const uint8_t *key_block,
                      size_t key_block_len, uint64_t seq)
{
    return tls_oracle_init12_mac_order(o, dir, version, suite, 0, from_client, key_block, key_block_len, seq);
}

int tls_oracle_is_model(const struct tls_oracle *o) { return o->model; }

int tls_oracle_init12_mac_order(struct tls_oracle *o, enum tls_oracle_dir dir, uint16_t version,
                                uint16_t suite, int etm, int from_client, const uint8_t *key_block,
                                size_t key_block_len, uint64_t seq)
{
    int c;
    size_t mac, key, iv, n = 0;
    uint8_t aead_key[20 + 32 + 16];
    const uint8_t *p_mac, *p_key, *p_iv;

    memset(o, 0, sizeof *o);
    if (version == 0x0304 || tls_oracle_suite_info(version, suite, &c, &mac, &key, &iv) != 0)
        return -1;
    if (!key_block || key_block_len < 2 * (mac + key + iv))
        return -1;
    p_mac = key_block + (from_client ? 0 : mac);
    p_key = key_block + 2 * mac + (from_client ? 0 : key);
    p_iv = key_block + 2 * (mac + key) + (from_client ? 0 : iv);
    o->dir = dir;
    o->cipher = c;
    o->version = version;
    o->suite = suite;
    o->seq = seq;
    if (c == TLS_ORACLE_CBC && (etm || mac != 20)) {
        /* no BoringSSL record AEAD for these: the RFC model */
        o->etm = etm;
        o->model = 1;
        o->block = key == 24 ? 8 : 16;
        o->explicit_iv = version == 0x0301 ? 0 : o->block;
        o->m.md = mac == 48 ? EVP_sha384() : mac == 32 ? EVP_sha256() : EVP_sha1();
        o->m.cipher = key == 24 ? EVP_des_ede3_cbc() : key == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
        o->m.mac_len = mac;
        o->m.key_len = key;
        memcpy(o->m.mac_key, p_mac, mac);
        memcpy(o->m.key, p_key, key);
        if (iv)
            memcpy(o->m.chain_iv, p_iv, iv);
        o->ready = 1;
        return 0;
    }
    if (c == TLS_ORACLE_CBC) {
        /* BoringSSL's CBC record AEAD key: MAC key || cipher key (|| IV for implicit IV) */
        memcpy(aead_key, p_mac, mac);
        memcpy(aead_key + mac, p_key, key);
        n = mac + key;
        if (iv) {
            memcpy(aead_key + n, p_iv, iv);
            n += iv;
        }
        o->block = key == 24 ? 8 : 16;
        o->explicit_iv = version == 0x0301 ? 0 : o->block;
    } else {
        memcpy(aead_key, p_key, key);
        n = key;
        memcpy(o->fixed_iv, p_iv, iv);
        o->explicit_iv = c == TLS_ORACLE_GCM ? 8 : 0;
    }
    if (!EVP_AEAD_CTX_init_with_direction(&o->ctx, record_aead(c, key, version, 0), aead_key, n,
                                          EVP_AEAD_DEFAULT_TAG_LENGTH,
                                          dir == TLS_ORACLE_SEAL ? evp_aead_seal : evp_aead_open))
        return -1;
    o->ready = 1;
    return 0;
}

static int hkdf_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len, const char *label,
                      uint8_t *out, size_t out_len)
{
    /* struct { uint16 length; opaque label<7..255> = "tls13 " + label; opaque context<0..255>; } */
    uint8_t info[64];
    size_t ll = strlen(label);
    info[0] = (uint8_t)(out_len >> 8);
    info[1] = (uint8_t)out_len;
    info[2] = (uint8_t)(6 + ll);
    memcpy(info + 3, "tls13 ", 6);
    memcpy(info + 9, label, ll);
    info[9 + ll] = 0;
    return HKDF_expand(out, out_len, md, secret, secret_len, info, 10 + ll);
}

int tls_oracle_init13(struct tls_oracle *o, enum tls_oracle_dir dir, uint16_t suite,
                      const uint8_t *secret, size_t secret_len, uint64_t seq)
{
    int c;
    size_t mac, key, iv;
    const EVP_MD *md;
    uint8_t k[32];

    memset(o, 0, sizeof *o);
    if (tls_oracle_suite_info(0x0304, suite, &c, &mac, &key, &iv) != 0)
        return -1;
    md = suite == 0x1302 ? EVP_sha384() : EVP_sha256();
    if (!secret || secret_len != EVP_MD_size(md))
        return -1;
    if (!hkdf_label(md, secret, secret_len, "key", k, key) ||
        !hkdf_label(md, secret, secret_len, "iv", o->fixed_iv, 12))
        return -1;
    o->dir = dir;
    o->cipher = c;
    o->tls13 = 1;
    o->version = 0x0303;
    o->suite = suite;
    o->seq = seq;
    if (!EVP_AEAD_CTX_init_with_direction(&o->ctx, record_aead(c, key, 0x0303, 1), k, key,
                                          EVP_AEAD_DEFAULT_TAG_LENGTH,
                                          dir == TLS_ORACLE_SEAL ? evp_aead_seal : evp_aead_open))
        return -1;
    o->ready = 1;
    return 0;
}

int tls_oracle_next_secret13(uint16_t suite, const uint8_t *secret, size_t secret_len, uint8_t *next)
{
    const EVP_MD *md = suite == 0x1302 ? EVP_sha384() : EVP_sha256();
    uint8_t tmp[48];
    if (!secret || secret_len != EVP_MD_size(md))
        return -1;
    /* RFC 8446 7.2: application_traffic_secret_N+1 =
     *   HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length) */
    if (!hkdf_label(md, secret, secret_len, "traffic upd", tmp, secret_len))
        return -1;
    memcpy(next, tmp, secret_len);
    memset(tmp, 0, sizeof tmp);
    return 0;
}

void tls_oracle_cleanup(struct tls_oracle *o)
{
    if (o->ready && !o->model)
        EVP_AEAD_CTX_cleanup(&o->ctx);
    memset(o, 0, sizeof *o);
}

size_t tls_oracle_iv_len(const struct tls_oracle *o)
{
    return o->cipher == TLS_ORACLE_CBC ? o->explicit_iv : 0;
}

size_t tls_oracle_sealed_max(const struct tls_oracle *o, size_t pt_len, size_t tls13_pad)
{
    if (o->model)
        return 5 + o->explicit_iv + pt_len + o->m.mac_len + 256;
    return 5 + o->explicit_iv + pt_len + (o->tls13 ? 1 + tls13_pad : 0) + EVP_AEAD_max_overhead(EVP_AEAD_CTX_aead(&o->ctx));
}

static void put_seq(uint8_t *p, uint64_t seq)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* The nonce for AEAD suites; for GCM TLS 1.2 the explicit part is *explicit8. */
static size_t make_nonce(const struct tls_oracle *o, const uint8_t *explicit8, uint8_t nonce[12])
{
    int i;
    if (o->cipher == TLS_ORACLE_GCM && !o->tls13) {
        memcpy(nonce, o->fixed_iv, 4);
        memcpy(nonce + 4, explicit8, 8);
        return 12;
    }
    memcpy(nonce, o->fixed_iv, 12);
    for (i = 0; i < 8; i++)
        nonce[4 + i] ^= (uint8_t)(o->seq >> (56 - 8 * i));
    return 12;
}

/* ---------------------------------------------------------------- the RFC CBC model */

/* HMAC(mac_key, seq_num + type + version + length + data): the MAC of RFC 5246 6.2.3.1
 * (data = the plaintext, length its length) and of RFC 7366 3 (data = IV + ciphertext,
 * length theirs). */
static int model_mac(const struct tls_oracle *o, uint8_t type, const uint8_t *data, size_t len, uint8_t *mac)
{
    uint8_t hdr[13];
    unsigned mac_len = 0;
    HMAC_CTX h;
    int ok;
    put_seq(hdr, o->seq);
    hdr[8] = type;
    hdr[9] = (uint8_t)(o->version >> 8);
    hdr[10] = (uint8_t)o->version;
    hdr[11] = (uint8_t)(len >> 8);
    hdr[12] = (uint8_t)len;
    HMAC_CTX_init(&h);
    ok = HMAC_Init_ex(&h, o->m.mac_key, o->m.mac_len, o->m.md, NULL) && HMAC_Update(&h, hdr, 13) &&
         HMAC_Update(&h, data, len) && HMAC_Final(&h, mac, &mac_len) && mac_len == o->m.mac_len;
    HMAC_CTX_cleanup(&h);
    return ok;
}

static int model_cbc(const struct tls_oracle *o, int enc, const uint8_t *iv, const uint8_t *in, size_t n, uint8_t *out)
{
    EVP_CIPHER_CTX c;
    int outl = 0, ok;
    EVP_CIPHER_CTX_init(&c);
    ok = EVP_CipherInit_ex(&c, o->m.cipher, NULL, o->m.key, iv, enc) && EVP_CIPHER_CTX_set_padding(&c, 0) &&
         EVP_CipherUpdate(&c, out, &outl, in, (int)n) && (size_t)outl == n;
    EVP_CIPHER_CTX_cleanup(&c);
    return ok;
}

size_t tls_oracle_cbc_min_pad(const struct tls_oracle *o, size_t pt_len)
{
    /* RFC 5246 6.2.3.2: the encrypted part (content, the MAC in MAC-then-encrypt, the padding
     * and its length byte) is a whole number of blocks */
    size_t inner = pt_len + (o->etm ? 0 : o->m.mac_len) + 1;
    return o->block ? (o->block - inner % o->block) % o->block : 0;
}

size_t tls_oracle_seal_cbc_padding(struct tls_oracle *o, uint8_t type, const uint8_t *pt, size_t pt_len,
                                   const uint8_t *iv, size_t pad_len, int bad_pad, uint8_t *out, size_t cap)
{
    static uint8_t buf[16384 + 2048 + 64];
    size_t ivl = o->explicit_iv, inner = 0, body;
    const uint8_t *use_iv = ivl ? iv : o->m.chain_iv;
    uint8_t *ct;

    if (!o->model || o->dir != TLS_ORACLE_SEAL || o->seq == UINT64_MAX || pad_len > 255 || pt_len > 16384 + 1024)
        return 0;
    if ((pt_len + (o->etm ? 0 : o->m.mac_len) + 1 + pad_len) % o->block != 0)
        return 0;
    body = ivl + pt_len + (o->etm ? 0 : o->m.mac_len) + pad_len + 1 + (o->etm ? o->m.mac_len : 0);
    if (body > 0xffff || cap < 5 + body)
        return 0;
    memcpy(buf, pt, pt_len);
    inner = pt_len;
    if (!o->etm) {
        if (!model_mac(o, type, pt, pt_len, buf + inner))
            return 0;
        inner += o->m.mac_len;
    }
    /* padding_length + 1 bytes, all of value padding_length (RFC 5246 6.2.3.2) */
    memset(buf + inner, (int)pad_len, pad_len + 1);
    if (bad_pad)
        buf[inner + (pad_len ? pad_len / 2 : 0)] ^= pad_len ? 0x01 : 0x80;
    inner += pad_len + 1;
    out[0] = type;
    out[1] = 3;
    out[2] = (uint8_t)o->version;
    out[3] = (uint8_t)(body >> 8);
    out[4] = (uint8_t)body;
    memcpy(out + 5, iv, ivl);
    ct = out + 5 + ivl;
    if (!model_cbc(o, 1, use_iv, buf, inner, ct))
        return 0;
    if (!ivl)
        memcpy(o->m.chain_iv, ct + inner - o->block, o->block);
    /* RFC 7366 3: the MAC over IV + ciphertext, length = theirs */
    if (o->etm && !model_mac(o, type, out + 5, ivl + inner, ct + inner))
        return 0;
    o->seq++;
    return 5 + body;
}

static int model_open(struct tls_oracle *o, const uint8_t *rec, size_t rec_len, uint8_t *type, uint8_t *out,
                      size_t out_cap, size_t *out_len)
{
    size_t n = rec_len - 5, ivl = o->explicit_iv, mac_len = o->m.mac_len, enc, ctn, pad, i, data;
    const uint8_t *body = rec + 5;
    uint8_t mac[64], next_iv[16];

    if (o->etm) {
        /* RFC 7366 3: IV + whole blocks + MAC; the MAC first, over IV + ciphertext */
        if (n < ivl + o->block + mac_len || (n - mac_len - ivl) % o->block)
            return 0;
        enc = n - mac_len;
        if (!model_mac(o, rec[0], body, enc, mac) || CRYPTO_memcmp(mac, body + enc, mac_len) != 0)
            return 0;
    } else {
        if (n < ivl + o->block || (n - ivl) % o->block)
            return 0;
        enc = n;
    }
    ctn = enc - ivl;
    if (ctn == 0 || ctn > out_cap)
        return 0;
    memcpy(next_iv, body + enc - o->block, o->block);
    if (!model_cbc(o, 0, ivl ? body : o->m.chain_iv, body + ivl, ctn, out))
        return 0;
    pad = out[ctn - 1];
    if (pad + 1 + (o->etm ? 0 : mac_len) > ctn)
        return 0;
    for (i = 0; i <= pad; i++)
        if (out[ctn - 1 - i] != pad)
            return 0;
    data = ctn - pad - 1;
    if (!o->etm) {
        data -= mac_len;
        if (!model_mac(o, rec[0], out, data, mac) || CRYPTO_memcmp(mac, out + data, mac_len) != 0)
            return 0;
    }
    if (!ivl)
        memcpy(o->m.chain_iv, next_iv, o->block);
    *type = rec[0];
    *out_len = data;
    o->seq++;
    return 1;
}

/* ---------------------------------------------------------------- BoringSSL's record AEADs */
static size_t aead_seal(struct tls_oracle *o, uint8_t type, const uint8_t *pt, size_t pt_len, const uint8_t *iv,
                        size_t tls13_pad, uint8_t *out, size_t cap)
{
    uint8_t ad[13], nonce[16], inner_buf[16384 + 1 + 256];
    const uint8_t *in = pt;
    size_t in_len = pt_len, body, out_len = 0, ad_len, nonce_len = 0, max_out;
    uint8_t *ct;

    if (!o->ready || o->dir != TLS_ORACLE_SEAL || o->seq == UINT64_MAX)
        return 0;
    if (cap < tls_oracle_sealed_max(o, pt_len, tls13_pad))
        return 0;
    if (o->tls13) {
        if (pt_len + 1 + tls13_pad > sizeof inner_buf)
            return 0;
        if (pt_len)
            memcpy(inner_buf, pt, pt_len);
        inner_buf[pt_len] = type;
        memset(inner_buf + pt_len + 1, 0, tls13_pad);
        in = inner_buf;
        in_len = pt_len + 1 + tls13_pad;
    } else if (pt_len > 16384 + 1024) {
        return 0;
    }
    ct = out + 5;
    if (o->cipher == TLS_ORACLE_CBC) {
        if (o->explicit_iv) {
            memcpy(ct, iv, o->explicit_iv);
            memcpy(nonce, iv, o->explicit_iv);
            nonce_len = o->explicit_iv;
            ct += o->explicit_iv;
        }
        put_seq(ad, o->seq);
        ad[8] = type;
        ad[9] = (uint8_t)(o->version >> 8);
        ad[10] = (uint8_t)o->version;
        ad_len = 11;
    } else if (o->tls13) {
        nonce_len = make_nonce(o, NULL, nonce);
        ad[0] = 23;
        ad[1] = 3;
        ad[2] = 3;
        body = in_len + EVP_AEAD_max_overhead(EVP_AEAD_CTX_aead(&o->ctx));
        ad[3] = (uint8_t)(body >> 8);
        ad[4] = (uint8_t)body;
        ad_len = 5;
    } else {
        uint8_t explicit8[8];
        put_seq(explicit8, o->seq); /* BoringSSL writes the sequence number as explicit nonce */
        if (o->cipher == TLS_ORACLE_GCM) {
            memcpy(ct, explicit8, 8);
            ct += 8;
        }
        nonce_len = make_nonce(o, explicit8, nonce);
        put_seq(ad, o->seq);
        ad[8] = type;
        ad[9] = (uint8_t)(o->version >> 8);
        ad[10] = (uint8_t)o->version;
        ad[11] = (uint8_t)(pt_len >> 8);
        ad[12] = (uint8_t)pt_len;
        ad_len = 13;
    }
    max_out = cap - (size_t)(ct - out);
    if (!EVP_AEAD_CTX_seal(&o->ctx, ct, &out_len, max_out, nonce, nonce_len, in, in_len, ad, ad_len))
        return 0;
    body = (size_t)(ct - out) - 5 + out_len;
    if (body > 0xffff)
        return 0;
    out[0] = o->tls13 ? 23 : type;
    out[1] = 3;
    out[2] = o->tls13 ? 3 : (uint8_t)o->version;
    out[3] = (uint8_t)(body >> 8);
    out[4] = (uint8_t)body;
    o->seq++;
    return 5 + body;
}

size_t tls_oracle_seal(struct tls_oracle *o, uint8_t type, const uint8_t *pt, size_t pt_len,
                       const uint8_t *iv, size_t tls13_pad, uint8_t *out, size_t cap)
{
    if (o->model)
        return tls_oracle_seal_cbc_padding(o, type, pt, pt_len, iv, tls_oracle_cbc_min_pad(o, pt_len), 0, out, cap);
    return aead_seal(o, type, pt, pt_len, iv, tls13_pad, out, cap);
}

int tls_oracle_open(struct tls_oracle *o, const uint8_t *rec, size_t rec_len, uint8_t *type,
                    uint8_t *out, size_t out_cap, size_t *out_len)
{
    uint8_t ad[13], nonce[16];
    const uint8_t *body = rec + 5, *ct;
    size_t n, ct_len, nonce_len = 0, ad_len, pt_len = 0;

    *out_len = 0;
    if (!o->ready || o->dir != TLS_ORACLE_OPEN || rec_len < 5 || o->seq == UINT64_MAX)
        return 0;
    if (o->model)
        return model_open(o, rec, rec_len, type, out, out_cap, out_len);
    n = rec_len - 5;
    ct = body;
    ct_len = n;
    if (o->cipher == TLS_ORACLE_CBC) {
        if (o->explicit_iv) {
            if (n < o->explicit_iv)
                return 0;
            memcpy(nonce, body, o->explicit_iv);
            nonce_len = o->explicit_iv;
            ct += o->explicit_iv;
            ct_len -= o->explicit_iv;
        }
        put_seq(ad, o->seq);
        ad[8] = rec[0];
        ad[9] = rec[1];
        ad[10] = rec[2];
        ad_len = 11;
    } else if (o->tls13) {
        nonce_len = make_nonce(o, NULL, nonce);
        memcpy(ad, rec, 5);
        ad_len = 5;
    } else {
        size_t tag = 16, plen;
        if (o->cipher == TLS_ORACLE_GCM) {
            if (n < 8)
                return 0;
            ct += 8;
            ct_len -= 8;
        }
        if (ct_len < tag)
            return 0;
        plen = ct_len - tag;
        nonce_len = make_nonce(o, body, nonce);
        put_seq(ad, o->seq);
        ad[8] = rec[0];
        ad[9] = rec[1];
        ad[10] = rec[2];
        ad[11] = (uint8_t)(plen >> 8);
        ad[12] = (uint8_t)plen;
        ad_len = 13;
    }
    if (!EVP_AEAD_CTX_open(&o->ctx, out, &pt_len, out_cap, nonce, nonce_len, ct, ct_len, ad, ad_len))
        return 0;
    if (o->tls13) {
        while (pt_len > 0 && out[pt_len - 1] == 0)
            pt_len--;
        if (pt_len == 0)
            return 0;
        pt_len--;
        *type = out[pt_len];
    } else {
        *type = rec[0];
    }
    *out_len = pt_len;
    o->seq++;
    return 1;
}
