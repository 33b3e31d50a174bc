/* replay_main.c - the plain replay driver: a fuzz target built without an engine.
 *
 *   <target> [-max_len=N] FILE|DIR...
 *                          runs every file (directories: every regular file in them, sorted),
 *                          printing each path before running it. With -max_len=N (libFuzzer's
 *                          spelling; the corpus tests pass the manifest's max_len) a file longer
 *                          than N bytes is an error: a fuzzer given it as a seed would cut it to
 *                          N bytes, and what its end holds (a literal's last octets, the CRLF)
 *                          would never be run. Other arguments starting with '-' are ignored,
 *                          so a libFuzzer command line replays unchanged.
 * Every input runs every sampled check (sampled.h): a replay is a test, and a test checks all.
 * Exit status: 0 when every input ran; 1 if an input could not be read or was too long; a crash aborts
 * through the sanitizer (non-zero), naming the input on the line before its report.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "sampled.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* -max_len=N, or 0: no limit */
static size_t max_len;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct fz_buf b = {0};
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (;;) {
        /* when full: 64 KiB, then double */
        if (b.n == b.cap && fz_buf_reserve(&b, b.cap ? b.cap : 65536) != 0) {
            fprintf(stderr, "replay: out of memory reading %s\n", path);
            fz_buf_free(&b);
            fclose(f);
            return 1;
        }
        size_t k = fread(b.p + b.n, 1, b.cap - b.n, f);
        b.n += k;
        if (k == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: read error on %s\n", path);
        fz_buf_free(&b);
        fclose(f);
        return 1;
    }
    fclose(f);
    printf("Running: %s (%zu bytes)\n", path, b.n);
    fflush(stdout);
    int too_long = max_len && b.n > max_len;
    if (too_long)
        fprintf(stderr, "replay: %s: %zu bytes, longer than max_len %zu: a fuzzer would cut it "
                "to %zu bytes (split the seed, or raise max_len in targets/manifest)\n", path,
                b.n, max_len, max_len);
    /* copy into an exact-size buffer so ASan sees reads past the end */
    uint8_t *exact = malloc(b.n ? b.n : 1);
    if (!exact) {
        fz_buf_free(&b);
        return 1;
    }
    if (b.n)
        memcpy(exact, b.p, b.n);
    size_t n = b.n;
    fz_buf_free(&b);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return too_long;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *path, int *count)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;
    if (!d) {
        fprintf(stderr, "replay: cannot open directory %s: %s\n", path, strerror(errno));
        return 1;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **q = realloc(names, cap * sizeof *names);
            if (!q) {
                bad = 1;
                break;
            }
            names = q;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            bad = 1;
            break;
        }
        snprintf(names[n], len, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            bad |= run_file(names[i]);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, count = 0, args = 0;
    fz_sample_all();
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (strncmp(argv[i], "-max_len=", 9) == 0) {
            char *end;
            unsigned long long v = strtoull(argv[i] + 9, &end, 10);
            if (end == argv[i] + 9 || *end || v == 0 || v > SIZE_MAX) {
                fprintf(stderr, "replay: %s: want -max_len=N with N a positive number\n", argv[i]);
                return 2;
            }
            max_len = (size_t)v;
            continue;
        }
        if (argv[i][0] == '-')
            continue;
        args++;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            bad = 1;
        } else if (S_ISDIR(st.st_mode)) {
            bad |= run_dir(argv[i], &count);
        } else {
            bad |= run_file(argv[i]);
            count++;
        }
    }
    if (args == 0) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    printf("replay: %d input(s) ran%s\n", count, bad ? ", some could not be read or were too long" : "");
    return bad;
}
