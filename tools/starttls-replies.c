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
    struct fz_buf in = {0}, out = {0};
    struct fz_session s;
    int rc;
    if (argc != 2) {
        fprintf(stderr, "usage: starttls-replies SESSION > ANSWERED\n");
        return 2;
    }
    if ((rc = fz_buf_read_file(&in, argv[1], MAX_SESSION)) != 0) {
        fprintf(stderr, "starttls-replies: %s: %s\n", argv[1],
                rc == -2 ? "larger than 16 MiB: not a session file" : strerror(errno));
        fz_buf_free(&in);
        return 2;
    }
    fz_session_parse(&s, in.p, in.n);
    starttls_replies(&s, &out);
    rc = fwrite(out.p, 1, out.n, stdout) != out.n || fflush(stdout) != 0;
    if (rc)
        fprintf(stderr, "starttls-replies: writing stdout: %s\n", strerror(errno));
    fz_buf_free(&out);
    fz_buf_free(&in);
    return rc ? 2 : 0;
}
