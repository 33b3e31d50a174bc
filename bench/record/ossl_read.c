/* ossl_read.c - the OpenSSL 3 helper of record_bench (see ossl_pair.h): one measurement.
 *
 *   ossl_read CIPHER VERSION ETM NREC REC REPS
 *
 * CIPHER an OpenSSL PSK cipher name, VERSION 769..771 (0x0301..0x0303), ETM 0/1, NREC records
 * of REC bytes, best of REPS. Prints the SSL_read seconds, or an error on stderr and exit 1.
 * Links neither BoringSSL nor libmx: OpenSSL's symbols are the only ones of their names here.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ossl_pair.h"

int main(int argc, char **argv)
{
    char err[256];
    double t;
    if (argc != 7) {
        fprintf(stderr, "usage: ossl_read CIPHER VERSION ETM NREC REC REPS\n");
        return 2;
    }
    if (ossl_load(err, sizeof err) != 0) {
        fprintf(stderr, "ossl_read: %s\n", err);
        return 1;
    }
    t = ossl_read_seconds(argv[1], (unsigned)strtoul(argv[2], NULL, 0), atoi(argv[3]), strtoul(argv[4], NULL, 0),
                          strtoul(argv[5], NULL, 0), atoi(argv[6]), err, sizeof err);
    if (t < 0) {
        fprintf(stderr, "ossl_read: %s\n", err);
        return 1;
    }
    printf("%.9f\n", t);
    return 0;
}
