/* hex.h - one hex digit's value, for the key-log readers (capture/keylog.c, and the key logs
 * BoringSSL writes in targets/oracles/tls_pair.c). */
#ifndef FZ_HEX_H
#define FZ_HEX_H

/* 0..15, or -1 when c is not a hex digit (either case). */
static inline int fz_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
