/* maildir.c - write-tmp, fsync, rename-into-new message store (see maildir.h). */
#define _GNU_SOURCE
#include "maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* Start-up cleaning of tmp/: what a crashed server left. Removed: an mx-serve temp file
 * (<sec>.M<usec>P<pid>Q<n>.mx-serve) whose process no longer exists, and any regular file not
 * changed for 36 hours (what Maildir readers do). A fresh file of another writer stays. */
static void clean_tmp(const char *root)
{
    char p[4200];
    DIR *d;
    struct dirent *e;
    time_t now = time(NULL);
    snprintf(p, sizeof p, "%s/tmp", root);
    if (!(d = opendir(p)))
        return;
    while ((e = readdir(d))) {
        struct stat st;
        int pid = 0, dead = 0;
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/tmp/%s", root, e->d_name);
        if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (nl > 9 && strcmp(e->d_name + nl - 9, ".mx-serve") == 0) {
            const char *q = strchr(e->d_name, 'P');
            if (q && sscanf(q, "P%dQ", &pid) == 1 && pid > 0 && pid != getpid())
                dead = kill(pid, 0) != 0 && errno == ESRCH;
        }
        if (dead || now - st.st_mtime > 36 * 3600)
            unlink(p);
    }
    closedir(d);
}

int md_open(struct maildir *md, const char *root)
{
    char p[4200];
    memset(md, 0, sizeof *md);
    md->newfd = -1;
    if (strlen(root) >= sizeof md->root) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(md->root, root);
    if (mkdir_p(root) != 0)
        return -1;
    static const char *const sub[] = {"tmp", "new", "cur"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", root, sub[i]);
        if (mkdir_p(p) != 0)
            return -1;
    }
    clean_tmp(root);
    snprintf(p, sizeof p, "%s/new", root);
    md->newfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return md->newfd < 0 ? -1 : 0;
}

void md_close(struct maildir *md)
{
    if (md->newfd >= 0)
        close(md->newfd);
    md->newfd = -1;
}

void md_msg_init(struct md_msg *m)
{
    memset(m, 0, sizeof *m);
    m->fd = -1;
}

int md_begin(struct maildir *md, struct md_msg *m)
{
    char p[4400];
    struct timeval tv;
    md_msg_init(m);
    gettimeofday(&tv, NULL);
    m->seq = ++md->seq;
    snprintf(m->tmpname, sizeof m->tmpname, "%lld.M%06ldP%dQ%06lu.mx-serve", (long long)tv.tv_sec,
             (long)tv.tv_usec, (int)getpid(), m->seq);
    snprintf(p, sizeof p, "%s/tmp/%s", md->root, m->tmpname);
    m->fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (m->fd < 0)
        return -1;
    SHA256_Init(&m->sha);
    return 0;
}

void md_write(struct md_msg *m, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (m->fd < 0 || m->failed)
        return;
    SHA256_Update(&m->sha, p, n);
    m->size += n;
    while (n > 0) {
        ssize_t w = write(m->fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            m->failed = 1;
            return;
        }
        b += w;
        n -= (size_t)w;
    }
}

static void unlink_tmp(struct maildir *md, struct md_msg *m)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/tmp/%s", md->root, m->tmpname);
    unlink(p);
}

int md_commit(struct maildir *md, struct md_msg *m)
{
    char from[4400], to[4400];
    if (m->fd < 0)
        return -1;
    SHA256_Final(m->digest, &m->sha);
    if (m->failed || fsync(m->fd) != 0) {
        close(m->fd);
        m->fd = -1;
        unlink_tmp(md, m);
        return -1;
    }
    close(m->fd);
    m->fd = -1;
    snprintf(m->name, sizeof m->name, "%s,S=%llu", m->tmpname, (unsigned long long)m->size);
    snprintf(from, sizeof from, "%s/tmp/%s", md->root, m->tmpname);
    snprintf(to, sizeof to, "%s/new/%s", md->root, m->name);
    if (rename(from, to) != 0) {
        unlink(from);
        return -1;
    }
    if (fsync(md->newfd) != 0)
        return -1; /* the file is in new/ but its directory entry may not be durable */
    return 0;
}

void md_abort(struct maildir *md, struct md_msg *m)
{
    if (m->fd < 0)
        return;
    close(m->fd);
    m->fd = -1;
    unlink_tmp(md, m);
}

void md_hex(const struct md_msg *m, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", m->digest[i]);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct md_entry *x = a, *y = b;
    /* by the name after "new/" or "cur/" */
    return strcmp(x->path + 4, y->path + 4);
}

int md_list(struct maildir *md, struct md_entry *e, int cap)
{
    static const char *const sub[] = {"new", "cur"};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        char p[4200];
        DIR *d;
        struct dirent *de;
        snprintf(p, sizeof p, "%s/%s", md->root, sub[i]);
        d = opendir(p);
        if (!d)
            return -1;
        while ((de = readdir(d)) != NULL && n < cap) {
            struct stat sb;
            char f[4500];
            if (de->d_name[0] == '.' || strlen(de->d_name) >= MD_NAME_MAX)
                continue;
            snprintf(f, sizeof f, "%s/%s", p, de->d_name);
            if (stat(f, &sb) != 0 || !S_ISREG(sb.st_mode))
                continue;
            snprintf(e[n].path, sizeof e[n].path, "%s/%s", sub[i], de->d_name);
            e[n].size = (uint64_t)sb.st_size;
            e[n].deleted = 0;
            n++;
        }
        closedir(d);
    }
    qsort(e, (size_t)n, sizeof *e, cmp_entry);
    return n;
}
