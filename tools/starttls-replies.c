/* starttls-replies - a session as the starttls target's machine answers it.
 *
 *   starttls-replies SESSION > ANSWERED
 *
 * Runs SESSION through the starttls target's run engine once, in its own reads, checked against
 * the RFC model (a divergence aborts with the target's message), and writes to stdout a session
 * of the same header: per read a C event, an S event per reply libmx's machine gave, a T event
 * where TLS came up (starttls_run.h, starttls_replies). The target itself ignores a seed's S
 * events; this is how they are set against its replies (capture/tests/target_replies.py).
 * Exit status: 0, 2 on a usage or I/O error (nothing written then), abort on a divergence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "session.h"
#include "starttls_run.h"

/* a session file is at most a few hundred KiB (max_len 64 KiB) */
#define MAX_SESSION (16u << 20)

int main(int argc, char **argv)
{
    static uint8_t in[MAX_SESSION + 1];
    struct fz_buf out = {0};
    struct fz_session s;
    FILE *f;
    size_t n;
    if (argc != 2) {
        fprintf(stderr, "usage: starttls-replies SESSION > ANSWERED\n");
        return 2;
    }
    if (!(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "starttls-replies: cannot open %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    n = fread(in, 1, sizeof in, f);
    if (ferror(f) || n > MAX_SESSION) {
        fprintf(stderr, "starttls-replies: %s: %s\n", argv[1],
                ferror(f) ? strerror(errno) : "larger than 16 MiB: not a session file");
        fclose(f);
        return 2;
    }
    fclose(f);
    fz_session_parse(&s, in, n);
    starttls_replies(&s, &out);
    if (fwrite(out.p, 1, out.n, stdout) != out.n || fflush(stdout) != 0) {
        fprintf(stderr, "starttls-replies: writing stdout: %s\n", strerror(errno));
        fz_buf_free(&out);
        return 2;
    }
    fz_buf_free(&out);
    return 0;
}
