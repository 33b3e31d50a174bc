/* mxsession - session files (corpus/FORMAT.md) as readable text and back.
 *
 *   mxsession decode FILE...        binary session -> text on stdout (several files: each
 *                                   after a line "==> FILE <==")
 *   mxsession encode TEXT OUT       text -> binary OUT (written aside, then renamed)
 *   mxsession reads FILE            the reads the server sees, one per line (for reviews)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"

/* the largest input read: session files are at most a few hundred KiB (max_len 64 KiB), their
 * text forms a few times that; more is not a session (/dev/zero, a wrong file) */
#define MXS_MAX_INPUT (64u << 20)

static int slurp(const char *path, uint8_t **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    if (!f) {
        fprintf(stderr, "mxsession: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= MXS_MAX_INPUT) {
                fprintf(stderr, "mxsession: %s: larger than %u MiB: not a session file\n", path,
                        MXS_MAX_INPUT >> 20);
                free(buf);
                fclose(f);
                return -1;
            }
            cap = cap ? cap * 2 : 65536;
            uint8_t *q = realloc(buf, cap);
            if (!q) {
                fprintf(stderr, "mxsession: out of memory reading %s\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = q;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        if (k == 0)
            break;
        len += k;
    }
    if (ferror(f)) {
        fprintf(stderr, "mxsession: read error on %s\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *out = buf;
    *n = len;
    return 0;
}

static int write_atomic(const char *path, const uint8_t *p, size_t n)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    FILE *f;
    if (!tmp)
        return -1;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "mxsession: cannot write %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    if (fwrite(p, 1, n, f) != n || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fprintf(stderr, "mxsession: write error on %s: %s\n", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "mxsession: write error on %s: %s\n", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "mxsession: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* stdout written whole: every buffered byte flushed and the descriptor closed without error
 * (a full disk or /dev/full shows here, not at exit where nobody checks) */
static int finish_stdout(void)
{
    int bad = ferror(stdout);
    if (fflush(stdout) != 0)
        bad = 1;
    int saved = errno;
    if (fclose(stdout) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        fprintf(stderr, "mxsession: write error on standard output: %s\n",
                saved ? strerror(saved) : "error");
        return 1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: mxsession decode FILE...\n"
                    "       mxsession encode TEXT OUT\n"
                    "       mxsession reads FILE\n"
                    "The format is documented in corpus/FORMAT.md.\n");
    return 2;
}

int main(int argc, char **argv)
{
    uint8_t *in;
    size_t n;
    if (argc < 3)
        return usage();
    if (strcmp(argv[1], "decode") == 0) {
        /* several files: each text after a line "==> FILE <==" (one process for the tests) */
        for (int i = 2; i < argc; i++) {
            if (slurp(argv[i], &in, &n) < 0)
                return 1;
            if (argc > 3)
                printf("==> %s <==\n", argv[i]);
            fz_session_decode(stdout, in, n);
            free(in);
            if (ferror(stdout))
                break;
        }
        return finish_stdout();
    }
    if (strcmp(argv[1], "reads") == 0 && argc == 3) {
        struct fz_session s;
        struct fz_reader r;
        struct fz_read rd;
        if (slurp(argv[2], &in, &n) < 0)
            return 1;
        fz_session_parse(&s, in, n);
        fz_reader_init(&r, &s);
        while (fz_reader_next(&r, &rd)) {
            if (rd.kind == FZ_READ_TLS) {
                puts("-- TLS up");
                continue;
            }
            printf("%s %4zu ", rd.kind == FZ_READ_DATA ? "read  " : "server", rd.n);
            for (size_t i = 0; i < rd.n; i++) {
                unsigned c = rd.p[i];
                if (c == '\r')
                    fputs("\\r", stdout);
                else if (c == '\n')
                    fputs("\\n", stdout);
                else if (c >= 0x20 && c < 0x7f && c != '\\')
                    putchar((int)c);
                else
                    printf("\\x%02x", c);
            }
            putchar('\n');
            if (ferror(stdout))
                break;
        }
        free(in);
        return finish_stdout();
    }
    if (strcmp(argv[1], "encode") == 0 && argc == 4) {
        uint8_t *out;
        size_t out_n;
        char err[256];
        if (slurp(argv[2], &in, &n) < 0)
            return 1;
        if (fz_session_encode((const char *)in, n, &out, &out_n, err, sizeof err) < 0) {
            fprintf(stderr, "mxsession: %s: %s\n", argv[2], err);
            free(in);
            return 1;
        }
        free(in);
        int rc = write_atomic(argv[3], out, out_n);
        free(out);
        return rc < 0 ? 1 : 0;
    }
    return usage();
}
