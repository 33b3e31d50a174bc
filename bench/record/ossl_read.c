/* ossl_read.c - the OpenSSL 3 helper of record_bench (see ossl_pair.h), a co-process that
 * measures one round at a time so that its rounds interleave with libmx's, BoringSSL's and
 * the floor's in the bench process.
 *
 * Reads commands on stdin, one a line, answers each with one line on stdout:
 *   cell CIPHER VERSION ETM NREC REC CLOCK OWNED  -> "ok"  configure a cell (OpenSSL PSK
 *                                                         cipher name, 769..771, 0/1, records,
 *                                                         bytes each, clockid_t to time with,
 *                                                         1: read from a read-only memory BIO,
 *                                                         0: fed in 16 KB writes while timed)
 *   round                                   -> SECONDS   one fresh handshake, NREC records
 *                                                         written, their SSL_read timed
 * An error answers "error MESSAGE" (and the helper goes on reading); end of input ends it.
 * Links neither BoringSSL nor libmx: OpenSSL's symbols are the only ones of their names here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ossl_pair.h"

int main(void)
{
    char err[256], line[512], cipher[128];
    struct ossl_cell *cell = NULL;
    unsigned version = 0;
    int etm = 0, clock = 0, owned = 1;
    size_t nrec = 0, rec = 0;

    if (ossl_load(err, sizeof err) != 0) {
        fprintf(stderr, "ossl_read: %s\n", err);
        return 1;
    }
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "cell ", 5) == 0) {
            ossl_cell_close(cell);
            cell = NULL;
            if (sscanf(line + 5, "%127s %u %d %zu %zu %d %d", cipher, &version, &etm, &nrec, &rec, &clock, &owned) != 7)
                printf("error bad cell line\n");
            else if (!(cell = ossl_cell_open(cipher, version, etm, err, sizeof err)))
                printf("error %s\n", err);
            else
                printf("ok\n");
        } else if (strcmp(line, "round\n") == 0) {
            double t = cell ? ossl_cell_round(cell, nrec, rec, clock, owned, err, sizeof err) : -1;
            if (!cell)
                printf("error no cell\n");
            else if (t < 0)
                printf("error %s\n", err);
            else
                printf("%.9f\n", t);
        } else {
            printf("error unknown command\n");
        }
        fflush(stdout);
    }
    ossl_cell_close(cell);
    return 0;
}
