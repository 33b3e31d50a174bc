/* pcap-import - turn captured mail sessions into mxfuzz session files.
 *
 *   pcap-import [--keylog FILE]... [--port N:PROTO[:implicit]]... [--out DIR] [--dump]
 *               CAPTURE...
 *
 * Reads each capture (pcap or pcapng; Ethernet, Linux SLL/SLL2, loopback, raw
 * IP; IPv4/IPv6), reassembles every TCP connection keeping the captured
 * segment boundaries, recognises SMTP/IMAP/POP3 (ports 25 587 465, 143 993,
 * 110 995, the --port map, or the server greeting), follows STARTTLS and
 * implicit TLS and, with an NSS key log (SSLKEYLOGFILE), decrypts the TLS
 * part. The rules are in capture/pcap_import.h; the file format in
 * corpus/FORMAT.md.
 *
 * --out DIR   writes each session to DIR/<target>/<id> for every target it
 *             seeds (IMAP: imap and starttls; SMTP, POP3: starttls); id = the
 *             first 16 hex digits of the file's sha256. Files are written
 *             aside and linked into place, never overwriting: a file that is
 *             already there (same content) is counted as present.
 * --dump      prints every session in the text form (mxsession decode).
 * --port N:PROTO[:implicit]   PROTO smtp|imap|pop3, checked before the default
 *             ports. Implicit TLS is recognised from the server's ServerHello answering a
 *             ClientHello at the start of the client stream; :implicit only matters when
 *             the server answered nothing.
 * Exit status: 0 only when every capture was read and every session found was
 * written (or already present, or dumped); 1 otherwise (each cause printed, naming
 * the file); 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap_import.h"
#include "seed_split.h"
#include "tls_follow.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pcap-import [--keylog FILE]... [--port N:PROTO[:implicit]]... [--out DIR] "
            "[--whole] [--dump] CAPTURE...\n"
            "  --keylog FILE  NSS key log (SSLKEYLOGFILE) used to decrypt TLS\n"
            "  --port N:PROTO[:implicit]  treat server port N as smtp|imap|pop3\n"
            "  --out DIR      write session files to DIR/imap/ and DIR/starttls/\n"
            "  --whole        write a session over a target's max_len whole (a warning), not as\n"
            "                 seeds that fit it: to compare the files with the capture\n"
            "  --dump         print the sessions as text\n");
}

/* input bounds: more is no capture / key log (/dev/zero, a wrong file) and would be read until
 * memory ran out; read_all fails with EFBIG past max */
#define MAX_CAPTURE_BYTES ((size_t)256 << 20)
#define MAX_KEYLOG_BYTES ((size_t)256 << 20)

static int read_all(const char *path, uint8_t **out, size_t *len, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        errno = EISDIR;
        return -1;
    }
    uint8_t *b = NULL;
    size_t n = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (n > max) {
            free(b);
            fclose(f);
            errno = EFBIG;
            return -1;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 65536;
            uint8_t *q = realloc(b, nc);
            if (!q) {
                free(b);
                fclose(f);
                errno = ENOMEM;
                return -1;
            }
            b = q;
            cap = nc;
        }
        errno = 0;
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            err = errno;
            break;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        errno = err ? err : EIO; /* the real cause (EISDIR, EIO, ...) when stdio kept it */
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

/* Creates path and its parents. On error returns -1 with errno set and bad = the
 * component that could not be made (a plain file in the way: ENOTDIR). */
static int mkdirs(const char *path, char *bad, size_t badcap)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        snprintf(bad, badcap, "%s", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    size_t n = strlen(tmp);
    for (char *p = tmp + 1;; p++) {
        if (*p && *p != '/')
            continue;
        int end = !*p || (size_t)(p - tmp) + 1 == n;
        char c = *p;
        *p = 0;
        struct stat st;
        if (mkdir(tmp, 0777) && errno != EEXIST) {
            snprintf(bad, badcap, "%s", tmp);
            return -1;
        }
        if (stat(tmp, &st) || !S_ISDIR(st.st_mode)) {
            snprintf(bad, badcap, "%s", tmp);
            errno = ENOTDIR;
            return -1;
        }
        *p = c;
        if (end)
            break;
    }
    return 0;
}

/* 1 written, 0 already present, -1 error (errno set; nothing left behind). The data is
 * written to a temporary name and linked into place, so a file under the final name is
 * always complete; the caller fsyncs the directories once at the end. */
static int put_file(const char *dir, const char *id, const uint8_t *p, size_t n, int do_fsync)
{
    char final[4352], tmp[4352];
    snprintf(final, sizeof final, "%s/%s", dir, id);
    struct stat st;
    if (lstat(final, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == n)
        return 0; /* same name = same content (the name is its hash): nothing to write */
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s-%ld", dir, id, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    int err = 0;
    if (fwrite(p, 1, n, f) != n)
        err = errno ? errno : EIO;
    if (fflush(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (do_fsync && !err && fsync(fileno(f)) != 0)
        err = errno;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (err) {
        unlink(tmp);
        errno = err;
        return -1;
    }
    int rc = link(tmp, final);
    int e = errno;
    unlink(tmp);
    if (rc == 0)
        return 1;
    if (e == EEXIST)
        return 0;
    errno = e;
    return -1;
}

struct totals {
    size_t captures, captures_failed, sessions, empty;
    size_t by[3][3];       /* proto x mode */
    size_t tls[CAP_TLS_NSTATUS];        /* by cap_tls_status */
    size_t cut;
    size_t written[2], present[2]; /* imap, starttls */
    size_t imported;
    size_t over_max_len[2];  /* seeds longer than the target's max_len: imap, starttls */
    size_t write_failed;   /* files that could not be written */
    size_t not_written;    /* sessions found but with nothing to write */
    int keylog_used, keylog_tried;
};

static int parse_port(const char *a, struct cap_import_opts *o)
{
    char proto[16] = "", extra[16] = "";
    unsigned port = 0;
    char tail;
    int k = sscanf(a, "%u:%15[a-z0-9]:%15[a-z]%c", &port, proto, extra, &tail);
    if (k < 2 || k > 3 || port == 0 || port > 65535 || o->nports >= CAP_IMPORT_PORTS_MAX)
        return -1;
    struct cap_import_port *p = &o->ports[o->nports];
    if (!strcmp(proto, "smtp") || !strcmp(proto, "smtps") || !strcmp(proto, "submission"))
        p->proto = FZ_PROTO_SMTP;
    else if (!strcmp(proto, "imap") || !strcmp(proto, "imaps"))
        p->proto = FZ_PROTO_IMAP;
    else if (!strcmp(proto, "pop3") || !strcmp(proto, "pop3s"))
        p->proto = FZ_PROTO_POP3;
    else
        return -1;
    if (k == 3 && strcmp(extra, "implicit"))
        return -1;
    p->implicit = k == 3;
    p->port = (uint16_t)port;
    o->nports++;
    return 0;
}

int main(int argc, char **argv)
{
    struct cap_import_opts opts;
    memset(&opts, 0, sizeof opts);
    const char *outdir = NULL;
    int dump = 0, whole = 0;
    uint8_t *kl = NULL;
    size_t kllen = 0;
    const char **caps = calloc((size_t)argc, sizeof *caps);
    size_t ncaps = 0;
    if (!caps)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(caps);
            return 0;
        } else if (!strcmp(a, "--keylog") && i + 1 < argc) {
            uint8_t *b;
            size_t n;
            if (read_all(argv[++i], &b, &n, MAX_KEYLOG_BYTES)) {
                if (errno == EFBIG)
                    fprintf(stderr, "pcap-import: key log %s: larger than %zu MiB, not a key log\n",
                            argv[i], MAX_KEYLOG_BYTES >> 20);
                else
                    fprintf(stderr, "pcap-import: cannot read key log %s: %s\n", argv[i], strerror(errno));
                free(caps);
                free(kl);
                return 2;
            }
            uint8_t *q = realloc(kl, kllen + n + 1);
            if (!q) {
                free(b);
                free(caps);
                free(kl);
                return 2;
            }
            kl = q;
            memcpy(kl + kllen, b, n);
            kllen += n;
            kl[kllen++] = '\n';
            free(b);
        } else if (!strcmp(a, "--port") && i + 1 < argc) {
            if (parse_port(argv[++i], &opts)) {
                fprintf(stderr, "pcap-import: bad --port '%s' (want N:smtp|imap|pop3[:implicit])\n",
                        argv[i]);
                free(caps);
                free(kl);
                return 2;
            }
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            outdir = argv[++i];
        } else if (!strcmp(a, "--dump")) {
            dump = 1;
        } else if (!strcmp(a, "--whole")) {
            whole = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "pcap-import: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            free(caps);
            free(kl);
            return 2;
        } else {
            caps[ncaps++] = a;
        }
    }
    if (ncaps == 0 || (!outdir && !dump)) {
        fprintf(stderr, "pcap-import: %s\n",
                ncaps == 0 ? "no capture given" : "nothing to do: give --out DIR and/or --dump");
        usage(stderr);
        free(caps);
        free(kl);
        return 2;
    }
    const char *tdirs[2] = {"imap", "starttls"};
    const size_t max_len[2] = {MX_MAX_LEN_IMAP, MX_MAX_LEN_STARTTLS}; /* targets/manifest */
    char tpath[2][4096];
    if (outdir) {
        for (int t = 0; t < 2; t++) {
            snprintf(tpath[t], sizeof tpath[t], "%s/%s", outdir, tdirs[t]);
            char bad[4096];
            if (mkdirs(tpath[t], bad, sizeof bad)) {
                if (errno == ENOTDIR)
                    fprintf(stderr, "pcap-import: cannot create %s: %s exists and is not a directory\n",
                            tpath[t], bad);
                else
                    fprintf(stderr, "pcap-import: cannot create %s: %s: %s\n", tpath[t], bad,
                            strerror(errno));
                free(caps);
                free(kl);
                return 1;
            }
        }
    }

    struct totals T;
    memset(&T, 0, sizeof T);
    int keylog_any_bad_reported = 0;
    for (size_t c = 0; c < ncaps; c++) {
        const char *path = caps[c];
        uint8_t *buf;
        size_t len;
        T.captures++;
        if (read_all(path, &buf, &len, MAX_CAPTURE_BYTES)) {
            if (errno == EFBIG)
                fprintf(stderr, "pcap-import: %s: larger than %zu MiB, not read\n", path,
                        MAX_CAPTURE_BYTES >> 20);
            else
                fprintf(stderr, "pcap-import: %s: cannot read: %s\n", path, strerror(errno));
            T.captures_failed++;
            continue;
        }
        struct cap_import *im = calloc(1, sizeof *im);
        if (!im) {
            free(buf);
            T.captures_failed++;
            continue;
        }
        int rc = cap_import_run(im, buf, len, kl, kllen, &opts);
        free(buf);
        if (kl && !keylog_any_bad_reported && im->kl.bad_lines) {
            fprintf(stderr,
                    "pcap-import: key log: %zu line(s) not understood and skipped (first: %s)\n",
                    im->kl.bad_lines, im->kl.first_bad);
            keylog_any_bad_reported = 1;
        }
        if (rc) {
            fprintf(stderr, "pcap-import: %s: %s\n", path, im->err);
            T.captures_failed++;
            cap_import_free(im);
            free(im);
            continue;
        }
        struct cap_capture *cp = &im->cap;
        printf("%s: %u packet(s), link type %s, %zu TCP connection(s), %zu mail session(s)\n", path,
               cp->packets, cp->linktype_name, cp->nflows, im->ns);
        if (cp->truncated_file)
            printf("  warning: the capture breaks off after packet %u (libpcap: %s); what came "
                   "before is used\n",
                   cp->packets, cp->warn);
        if (cp->fragments || cp->short_frames || cp->bad_headers || cp->flows_dropped)
            printf("  skipped: %u IP fragment(s), %u frame(s) cut by the snap length, %u bad "
                   "header(s), %u connection(s) over the limit\n",
                   cp->fragments, cp->short_frames, cp->bad_headers, cp->flows_dropped);
        if (im->flows_unknown)
            printf("  %zu connection(s) not imported: %s\n", im->flows_unknown, im->unknown_note);
        if (im->flows_midtls)
            printf("  %zu connection(s) not imported: %s\n", im->flows_midtls, im->midtls_note);
        for (size_t i = 0; i < im->ns; i++) {
            struct cap_imp_session *s = &im->s[i];
            T.sessions++;
            T.by[s->proto][s->mode]++;
            T.tls[s->tls]++;
            printf("  session %zu: %s -> %s %s %s", i + 1, s->client_ep, s->server_ep,
                   cap_proto_name(s->proto), cap_mode_name(s->mode));
            if (s->tls_seen && s->tls_version)
                printf(" %s %s%s", cap_tls_version_name(s->tls_version), cap_tls_suite_name(s->tls_suite),
                       s->tls_etm ? " encrypt-then-MAC" : "");
            printf(", %s; %zu event(s), %llu client / %llu server bytes\n",
                   cap_tls_status_name(s->tls), s->nev, (unsigned long long)s->bytes[0],
                   (unsigned long long)s->bytes[1]);
            printf("    listener: greeting %s, %s %s, ", s->greeted ? "yes" : "no",
                   s->proto == FZ_PROTO_POP3 ? "STLS" : "STARTTLS",
                   s->offered ? "offered" : "not offered");
            if (!s->starttls_cmd)
                printf("not asked");
            else if (s->starttls_reply == 0)
                printf("asked, no reply seen");
            else if (s->proto == FZ_PROTO_SMTP && s->reply_code)
                printf("asked, reply %d", s->reply_code);
            else
                printf("asked, %s", s->starttls_reply > 0 ? "accepted" : "refused");
            printf(", server TLS %s -> header: mode %s, cert %s, tls-required %s%s\n",
                   s->server_tls ? "yes" : "no", cap_mode_name(s->mode),
                   s->flags & FZ_SFLAG_CERT ? "yes" : "no",
                   s->flags & FZ_SFLAG_TLS_REQUIRED ? "yes" : "no",
                   s->proto != FZ_PROTO_IMAP ? ""
                   : s->flags & FZ_SFLAG_LITERAL_MINUS ? ", literal minus (version 3)" : ", literal plus");
            if (s->replay_note[0])
                printf("    replay: %s\n", s->replay_note);
            if (s->no_syn)
                printf("    note: the connection's SYN was not captured; it may start mid-stream\n");
            if (s->tls_note[0])
                printf("    TLS: %s\n", s->tls_note);
            if (s->cut) {
                T.cut++;
                printf("    cut: %s\n", s->cut_note);
            }
            if (s->tls_key_lookup)
                T.keylog_tried = 1;
            if (s->nev == 0) {
                T.empty++;
                printf("    nothing to write (no event before the cut)\n");
                continue;
            }
            T.imported++;
            if (dump) {
                printf("== session %zu of %s (id %s)\n", i + 1, path, s->id);
                fflush(stdout);
                fz_session_decode(stdout, s->file, s->file_len);
                fflush(stdout);
            }
            if (outdir) {
                const char *names[2];
                size_t nt = cap_import_targets(s, names);
                for (size_t t = 0; t < nt; t++) {
                    int ti = !strcmp(names[t], "imap") ? 0 : 1;
                    /* a session longer than the target's max_len goes in as seeds that fit it
                     * (capture/seed_split.h): a fuzzer would cut it where its literal ends */
                    struct cap_split sp;
                    if (cap_split_session(s->file, s->file_len, whole ? SIZE_MAX : max_len[ti],
                                          &sp) != 0) {
                        fprintf(stderr, "pcap-import: out of memory splitting session %zu for "
                                "%s\n", i + 1, tpath[ti]);
                        T.write_failed++;
                        continue;
                    }
                    if (whole && s->file_len > max_len[ti])
                        printf("    warning: %zu bytes, over the %s target's max_len %zu, "
                               "written whole (--whole)\n", s->file_len, tdirs[ti], max_len[ti]);
                    if (sp.n != 1 || sp.seed[0].n != s->file_len) {
                        T.over_max_len[ti]++;
                        printf("    %zu bytes, over the %s target's max_len %zu: written as %zu "
                               "seed(s) (%s)%s\n", s->file_len, tdirs[ti], max_len[ti], sp.n,
                               sp.windows ? "cut into windows of whole events"
                                          : "long literals/messages shortened in the middle",
                               sp.dropped ? "; warning: part of it fits no seed and is left out"
                                          : "");
                    }
                    for (size_t k = 0; k < sp.n; k++) {
                        char id[17];
                        cap_seed_id(sp.seed[k].p, sp.seed[k].n, id);
                        int w = put_file(tpath[ti], id, sp.seed[k].p, sp.seed[k].n, 1);
                        if (w < 0) {
                            fprintf(stderr, "pcap-import: cannot write %s/%s: %s\n", tpath[ti],
                                    id, strerror(errno));
                            T.write_failed++;
                            continue;
                        }
                        if (w)
                            T.written[ti]++;
                        else
                            T.present[ti]++;
                        printf("    %s %s/%s\n", w ? "wrote" : "already present:", tpath[ti], id);
                    }
                    cap_split_free(&sp);
                }
            }
        }
        for (size_t k = 0; k < im->kl.n; k++)
            if (im->kl.e[k].used)
                T.keylog_used = 1;
        cap_import_free(im);
        free(im);
    }

    printf("summary: %zu capture(s) (%zu unreadable), %zu session(s)", T.captures,
           T.captures_failed, T.sessions);
    for (int p = 0; p < 3; p++) {
        size_t n = T.by[p][0] + T.by[p][1] + T.by[p][2];
        if (n)
            printf("; %s %zu (plaintext %zu, starttls %zu, implicit %zu)",
                   cap_proto_name((enum fz_proto)p), n, T.by[p][0], T.by[p][1], T.by[p][2]);
    }
    printf("\n  TLS:");
    int any = 0;
    for (int t = 0; t < CAP_TLS_NSTATUS; t++)
        if (T.tls[t]) {
            printf("%s %s %zu", any ? "," : "", cap_tls_status_name((enum cap_tls_status)t), T.tls[t]);
            any = 1;
        }
    printf("%s\n", any ? "" : " none");
    printf("  cut early: %zu; nothing to write: %zu\n", T.cut, T.empty);
    if (outdir)
        printf("  files: imap %zu written, %zu already present; starttls %zu written, %zu already "
               "present (in %s)\n",
               T.written[0], T.present[0], T.written[1], T.present[1], outdir);
    if (T.over_max_len[0] || T.over_max_len[1])
        printf("  over max_len, split: imap %zu (max_len %zu), starttls %zu (max_len %zu)\n",
               T.over_max_len[0], max_len[0], T.over_max_len[1], max_len[1]);
    if (kl && !T.keylog_used && T.keylog_tried)
        fprintf(stderr, "pcap-import: the key log matched no TLS session in the capture(s)\n");
    int rc = 0;
    if (outdir) {
        /* the new names are durable once their directories are: one fsync per folder */
        for (int t = 0; t < 2; t++) {
            if (!T.written[t])
                continue;
            int fd = open(tpath[t], O_RDONLY | O_DIRECTORY);
            if (fd < 0 || fsync(fd) != 0) {
                fprintf(stderr, "pcap-import: cannot fsync the directory %s: %s\n", tpath[t],
                        strerror(errno));
                rc = 1;
            }
            if (fd >= 0)
                close(fd);
        }
    }
    free(caps);
    free(kl);
    if (T.imported == 0) {
        fprintf(stderr, "pcap-import: nothing could be imported\n");
        return 1;
    }
    if (T.write_failed) {
        fprintf(stderr, "pcap-import: %zu file(s) could not be written (see above)\n", T.write_failed);
        rc = 1;
    }
    if (T.captures_failed) {
        fprintf(stderr, "pcap-import: %zu capture(s) could not be read (see above)\n", T.captures_failed);
        rc = 1;
    }
    if (T.empty) {
        fprintf(stderr, "pcap-import: %zu session(s) found had nothing to write (see the cuts above)\n",
                T.empty);
        rc = 1;
    }
    return rc;
}
