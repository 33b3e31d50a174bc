/* maildir.c - write-tmp, fsync, rename-into-new message store (see maildir.h). */
#define _GNU_SOURCE
#include "maildir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* The one walk over delivered mail: DIR/new then DIR/cur. visit gets the subfolder's path, an
 * entry's name (dot files are never mail) and whether it is in cur/; any non-zero return stops
 * the walk and is its result. A missing subfolder is skipped, or with strict is -1: readers of
 * a mailbox that must exist fail, while UID recovery tolerates a half-created one. */
typedef int (*walk_visit)(void *ctx, const char *sub, const char *name, int cur);

static int walk_mail(const char *dir, int strict, walk_visit visit, void *ctx)
{
    char p[4500];
    for (int cur = 0; cur < 2; cur++) {
        DIR *d;
        struct dirent *de;
        int r = 0;
        snprintf(p, sizeof p, "%s/%s", dir, cur ? "cur" : "new");
        if (!(d = opendir(p))) {
            if (strict)
                return -1;
            continue;
        }
        while (!r && (de = readdir(d)))
            if (de->d_name[0] != '.')
                r = visit(ctx, p, de->d_name, cur);
        closedir(d);
        if (r)
            return r;
    }
    return 0;
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

/* ---- mailbox names ---- */

const char *md_box_check(const char *name, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return "empty mailbox name";
    if (n > MD_BOX_MAX)
        return "mailbox name too long";
    if (name[0] == '.' || name[n - 1] == '.')
        return "mailbox name starts or ends with the hierarchy delimiter '.'";
    while (i < n) {
        unsigned char ch = (unsigned char)name[i];
        /* RFC 3501 5.1.3: names are 7-bit; other characters travel as modified UTF-7 */
        if (ch == 0)
            return "NUL in mailbox name";
        if (ch < 0x20 || ch > 0x7e)
            return "8-bit or control character in mailbox name (use modified UTF-7)";
        /* '/' and '\\' would be path separators on disk; '%' and '*' are LIST wildcards */
        if (ch == '/' || ch == '\\' || ch == '%' || ch == '*')
            return "'/', '\\', '%' and '*' are not allowed in mailbox names";
        if (ch == '.' && name[i + 1] == '.')
            return "empty hierarchy level ('..') in mailbox name";
        if (ch == '&') {
            /* RFC 3501 5.1.3: "&-" is "&"; else "&" modified-BASE64 "-", the base64 of whole
             * UTF-16 code units (3, 6 or 8 characters per 1, 2 or 3 units, and so on) */
            size_t k = i + 1, b = 0;
            while (k < n && (isalnum((unsigned char)name[k]) || name[k] == '+' || name[k] == ','))
                k++, b++;
            if (k >= n || name[k] != '-')
                return "unterminated modified UTF-7 sequence in mailbox name";
            if (b % 8 != 0 && b % 8 != 3 && b % 8 != 6)
                return "malformed modified UTF-7 sequence in mailbox name";
            i = k + 1;
            continue;
        }
        i++;
    }
    return NULL;
}

int md_box_is_inbox(const char *name)
{
    return !name || !*name || strcasecmp(name, "INBOX") == 0;
}

int md_box_dir(const struct maildir *md, const char *name, char *out, size_t n)
{
    int k;
    if (md_box_is_inbox(name))
        k = snprintf(out, n, "%s", md->root);
    else if (md_box_check(name, strlen(name)))
        return -1; /* never a path from an unchecked name */
    else
        k = snprintf(out, n, "%s/.%s", md->root, name);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int md_box_exists(const struct maildir *md, const char *name)
{
    char p[4400];
    struct stat st;
    if (md_box_is_inbox(name))
        return 1;
    if (md_box_dir(md, name, p, sizeof p) != 0)
        return 0;
    strcat(p, "/cur");
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* the UID state of a mailbox (md->lock held): loaded on first use from mx-uids and the names */
static uint32_t name_uid(const char *n)
{
    const char *u = strstr(n, ",U=");
    unsigned long v;
    char *end;
    if (!u)
        return 0;
    v = strtoul(u + 3, &end, 10);
    return (*end == 0 || *end == ':' || *end == ',') && v > 0 && v < UINT32_MAX ? (uint32_t)v : 0;
}

static void write_uids(const struct maildir *md, const struct md_box *b)
{
    char dir[4400], p[4500], t[4500];
    FILE *f;
    if (md_box_dir(md, b->name, dir, sizeof dir) != 0)
        return;
    snprintf(p, sizeof p, "%s/mx-uids", dir);
    snprintf(t, sizeof t, "%s/tmp/mx-uids.%d", dir, (int)getpid());
    if (!(f = fopen(t, "w")))
        return;
    fprintf(f, "%u %u\n", b->validity, b->next);
    if (fflush(f) == 0 && fsync(fileno(f)) == 0 && fclose(f) == 0)
        rename(t, p);
    else
        unlink(t);
}

/* UIDs already in file names are never handed out again (RFC 3501 2.3.1.1) */
static int raise_next_uid(void *ctx, const char *sub, const char *name, int cur)
{
    struct md_box *b = ctx;
    uint32_t u = name_uid(name);
    (void)sub, (void)cur;
    if (u >= b->next)
        b->next = u + 1;
    return 0;
}

static struct md_box *box_state(struct maildir *md, const char *name)
{
    struct md_box *b = NULL, *free_slot = NULL;
    char dir[4400], p[4500];
    FILE *f;
    if (md_box_is_inbox(name)) {
        b = &md->boxes[0];
    } else {
        for (int i = 1; i <= MD_MAX_BOXES; i++) {
            if (md->boxes[i].loaded && strcmp(md->boxes[i].name, name) == 0)
                return &md->boxes[i];
            if (!md->boxes[i].loaded && !free_slot)
                free_slot = &md->boxes[i];
        }
        if (!(b = free_slot))
            return NULL;
        snprintf(b->name, sizeof b->name, "%s", name);
    }
    if (b->loaded)
        return b;
    if (md_box_dir(md, b->name, dir, sizeof dir) != 0)
        return NULL;
    b->validity = 0;
    b->next = 1;
    snprintf(p, sizeof p, "%s/mx-uids", dir);
    if ((f = fopen(p, "r"))) {
        unsigned v = 0, nx = 0;
        if (fscanf(f, "%u %u", &v, &nx) == 2 && v > 0) {
            b->validity = v;
            b->next = nx > 0 ? nx : 1;
        }
        fclose(f);
    }
    walk_mail(dir, 0, raise_next_uid, b);
    if (!b->validity) {
        /* a new UIDVALIDITY: never one this process handed out before */
        uint32_t now = (uint32_t)time(NULL);
        b->validity = now > md->last_validity ? now : md->last_validity + 1;
        b->loaded = 1;
        write_uids(md, b);
    }
    if (b->validity > md->last_validity)
        md->last_validity = b->validity;
    b->committed = b->next - 1;
    b->loaded = 1;
    return b;
}

int md_box_uids(struct maildir *md, const char *name, uint32_t *validity, uint32_t *next)
{
    struct md_box *b;
    pthread_mutex_lock(&md->lock);
    b = box_state(md, name);
    if (b) {
        *validity = b->validity;
        *next = b->next;
    }
    pthread_mutex_unlock(&md->lock);
    return b ? 0 : -1;
}

static int make_folder(const char *dir)
{
    char p[4500];
    static const char *const sub[] = {"tmp", "new", "cur"};
    if (mkdir_p(dir) != 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
        if (mkdir_p(p) != 0)
            return -1;
    }
    return 0;
}

int md_box_create(struct maildir *md, const char *name)
{
    char dir[4400];
    if (md_box_is_inbox(name) || md_box_exists(md, name)) {
        errno = EEXIST;
        return -1;
    }
    if (md_box_dir(md, name, dir, sizeof dir) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (md_box_list(md, NULL, NULL) > MD_MAX_BOXES) {
        errno = ENOSPC;
        return -1;
    }
    if (mkdir(dir, 0700) != 0 || make_folder(dir) != 0)
        return -1;
    pthread_mutex_lock(&md->lock);
    {
        struct md_box *b = box_state(md, name);
        if (!b)
            errno = ENOSPC;
        pthread_mutex_unlock(&md->lock);
        return b ? 0 : -1;
    }
}

int md_box_delete(struct maildir *md, const char *name)
{
    char dir[4400], p[4500], f[4800];
    static const char *const sub[] = {"tmp", "new", "cur"};
    if (md_box_is_inbox(name)) {
        errno = EPERM;
        return -1;
    }
    if (!md_box_exists(md, name) || md_box_dir(md, name, dir, sizeof dir) != 0) {
        errno = ENOENT;
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        DIR *d;
        struct dirent *e;
        snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
        if ((d = opendir(p))) {
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                    snprintf(f, sizeof f, "%s/%s", p, e->d_name);
                    unlink(f);
                }
            closedir(d);
        }
        rmdir(p);
    }
    snprintf(p, sizeof p, "%s/mx-uids", dir);
    unlink(p);
    pthread_mutex_lock(&md->lock);
    for (int i = 1; i <= MD_MAX_BOXES; i++)
        if (md->boxes[i].loaded && strcmp(md->boxes[i].name, name) == 0)
            memset(&md->boxes[i], 0, sizeof md->boxes[i]);
    pthread_mutex_unlock(&md->lock);
    return rmdir(dir);
}

int md_box_list(const struct maildir *md, void (*fn)(void *ctx, const char *name), void *ctx)
{
    DIR *d;
    struct dirent *e;
    int n = 1;
    if (fn)
        fn(ctx, "INBOX");
    if (!(d = opendir(md->root)))
        return n;
    while ((e = readdir(d))) {
        const char *name = e->d_name + 1;
        if (e->d_name[0] != '.' || md_box_check(name, strlen(name)) || !md_box_exists(md, name))
            continue;
        n++;
        if (fn)
            fn(ctx, name);
    }
    closedir(d);
    return n;
}

int md_open(struct maildir *md, const char *root)
{
    char p[4200];
    memset(md, 0, sizeof *md);
    md->newfd = -1;
    pthread_mutex_init(&md->lock, NULL);
    if (strlen(root) >= sizeof md->root) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(md->root, root);
    if (make_folder(root) != 0)
        return -1;
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
    pthread_mutex_destroy(&md->lock);
}

void md_msg_init(struct md_msg *m)
{
    memset(m, 0, sizeof *m);
    m->fd = -1;
}

int md_begin(struct maildir *md, const char *box, struct md_msg *m)
{
    char dir[4400], p[4600];
    struct timeval tv;
    md_msg_init(m);
    if (!md_box_is_inbox(box))
        snprintf(m->box, sizeof m->box, "%s", box);
    if (md_box_dir(md, m->box, dir, sizeof dir) != 0)
        return -1;
    gettimeofday(&tv, NULL);
    m->seq = ++md->seq;
    snprintf(m->tmpname, sizeof m->tmpname, "%lld.M%06ldP%dQ%06lu.mx-serve", (long long)tv.tv_sec,
             (long)tv.tv_usec, (int)getpid(), m->seq);
    snprintf(p, sizeof p, "%s/tmp/%s", dir, m->tmpname);
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
    char dir[4400], p[4600];
    if (md_box_dir(md, m->box, dir, sizeof dir) != 0)
        return;
    snprintf(p, sizeof p, "%s/tmp/%s", dir, m->tmpname);
    unlink(p);
}

int md_commit(struct maildir *md, struct md_msg *m)
{
    char dir[4400], from[4600], to[4600];
    struct md_box *b;
    int r, dfd;
    if (m->fd < 0)
        return -1;
    SHA256_Final(m->digest, &m->sha);
    if (m->failed || fsync(m->fd) != 0 || md_box_dir(md, m->box, dir, sizeof dir) != 0) {
        close(m->fd);
        m->fd = -1;
        unlink_tmp(md, m);
        return -1;
    }
    close(m->fd);
    m->fd = -1;
    snprintf(from, sizeof from, "%s/tmp/%s", dir, m->tmpname);
    /* the UID and the rename under one lock: UIDs appear in new/ in ascending order */
    pthread_mutex_lock(&md->lock);
    b = box_state(md, m->box);
    if (!b) {
        pthread_mutex_unlock(&md->lock);
        unlink(from);
        return -1;
    }
    m->uid = b->next;
    m->validity = b->validity;
    snprintf(m->name, sizeof m->name, "%s,S=%llu,U=%u", m->tmpname, (unsigned long long)m->size, m->uid);
    snprintf(to, sizeof to, "%s/new/%s", dir, m->name);
    r = rename(from, to);
    if (r == 0)
        b->committed = b->next++;
    pthread_mutex_unlock(&md->lock);
    if (r != 0) {
        unlink(from);
        return -1;
    }
    if (md_box_is_inbox(m->box))
        return fsync(md->newfd) == 0 ? 0 : -1; /* else the entry may not be durable */
    snprintf(to, sizeof to, "%s/new", dir);
    dfd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
    if (dfd >= 0)
        close(dfd);
    return r;
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

/* ---- reading ---- */

static unsigned parse_flags(const char *name)
{
    const char *i = strstr(name, ":2,");
    unsigned f = 0;
    if (!i)
        return 0;
    for (i += 3; *i; i++)
        switch (*i) {
        case 'D': f |= MDF_DRAFT; break;
        case 'F': f |= MDF_FLAGGED; break;
        case 'R': f |= MDF_ANSWERED; break;
        case 'S': f |= MDF_SEEN; break;
        case 'T': f |= MDF_DELETED; break;
        default: break;
        }
    return f;
}

static int cmp_mail(const void *a, const void *b)
{
    const struct md_mail *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Files without U= (another writer's) get the mailbox's next UID in their names, each rename
 * under the lock as a commit's, before the scan takes its visibility mark. */
struct legacy_walk {
    struct maildir *md;
    struct md_box *b;
};

static int assign_legacy_one(void *ctx, const char *sub, const char *name, int cur)
{
    struct legacy_walk *w = ctx;
    char from[4700], to[4700], nn[MD_NAME_MAX + 32];
    const char *info = strstr(name, ":2,");
    size_t bl = info ? (size_t)(info - name) : strlen(name);
    (void)cur;
    if (name_uid(name) || bl + 16 + (info ? strlen(info) : 0) >= sizeof nn)
        return 0;
    pthread_mutex_lock(&w->md->lock);
    snprintf(nn, sizeof nn, "%.*s,U=%u%s", (int)bl, name, w->b->next, info ? info : "");
    snprintf(from, sizeof from, "%s/%s", sub, name);
    snprintf(to, sizeof to, "%s/%s", sub, nn);
    if (rename(from, to) == 0)
        w->b->committed = w->b->next++;
    pthread_mutex_unlock(&w->md->lock);
    return 0;
}

static void assign_legacy(struct maildir *md, struct md_box *b, const char *dir)
{
    struct legacy_walk w = {md, b};
    walk_mail(dir, 0, assign_legacy_one, &w);
}

struct scan_walk {
    uint32_t visible;
    size_t cap, n, vcap;
    struct md_mail *v;
};

static int scan_one(void *ctx, const char *sub, const char *name, int cur)
{
    struct scan_walk *w = ctx;
    uint32_t uid = name_uid(name);
    struct md_mail *m;
    const char *sz;
    if (strlen(name) >= sizeof w->v->name || !uid || uid > w->visible)
        return 0;
    if (w->n == w->vcap) {
        size_t nc = w->vcap ? w->vcap * 2 : 64;
        struct md_mail *nv;
        if (w->n >= w->cap) {
            errno = EOVERFLOW;
            return -1;
        }
        if (nc > w->cap)
            nc = w->cap;
        if (!(nv = realloc(w->v, nc * sizeof *nv)))
            return -1;
        w->v = nv;
        w->vcap = nc;
    }
    m = &w->v[w->n++];
    memset(m, 0, sizeof *m);
    m->uid = uid;
    m->cur = cur;
    m->flags = cur ? parse_flags(name) : 0;
    snprintf(m->name, sizeof m->name, "%s", name);
    /* the size our own writer put in the name (,S=), else the file's */
    if ((sz = strstr(name, ",S=")))
        m->size = strtoull(sz + 3, NULL, 10);
    else {
        char p[4800];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", sub, name);
        m->size = stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    return 0;
}

int md_scan(struct maildir *md, const char *box, struct md_mail **out, size_t cap)
{
    char dir[4400];
    struct md_box *b;
    struct scan_walk w = {0, cap, 0, 0, NULL};
    *out = NULL;
    if (md_box_dir(md, box, dir, sizeof dir) != 0)
        return -1;
    /* only UIDs whose rename finished before the directories are read (see maildir.h) */
    pthread_mutex_lock(&md->lock);
    b = box_state(md, box);
    pthread_mutex_unlock(&md->lock);
    if (!b)
        return -1;
    assign_legacy(md, b, dir);
    pthread_mutex_lock(&md->lock);
    w.visible = b->committed;
    pthread_mutex_unlock(&md->lock);
    if (walk_mail(dir, 1, scan_one, &w) != 0) {
        free(w.v);
        return -1;
    }
    if (w.n)
        qsort(w.v, w.n, sizeof *w.v, cmp_mail);
    *out = w.v;
    return (int)w.n;
}

static int mail_path(const struct maildir *md, const char *box, const struct md_mail *m, char *out, size_t n)
{
    char dir[4400];
    if (md_box_dir(md, box, dir, sizeof dir) != 0)
        return -1;
    snprintf(out, n, "%s/%s/%s", dir, m->cur ? "cur" : "new", m->name);
    return 0;
}

static int refind_one(void *ctx, const char *sub, const char *name, int cur)
{
    struct md_mail *m = ctx;
    (void)sub;
    if (name_uid(name) != m->uid || strlen(name) >= sizeof m->name)
        return 0;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->cur = cur;
    m->flags = cur ? parse_flags(name) : 0;
    return 1;
}

/* another session renamed it: look for its UID in new/ and cur/ */
static int refind(const struct maildir *md, const char *box, struct md_mail *m)
{
    char dir[4400];
    if (md_box_dir(md, box, dir, sizeof dir) != 0)
        return -1;
    return walk_mail(dir, 0, refind_one, m) == 1 ? 0 : -1;
}

int md_open_mail(const struct maildir *md, const char *box, struct md_mail *m)
{
    char p[4700];
    int fd;
    if (mail_path(md, box, m, p, sizeof p) != 0)
        return -1;
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && refind(md, box, m) == 0 && mail_path(md, box, m, p, sizeof p) == 0)
        fd = open(p, O_RDONLY | O_CLOEXEC);
    return fd;
}

time_t md_mail_time(const struct maildir *md, const char *box, struct md_mail *m)
{
    char p[4700];
    struct stat st;
    if (mail_path(md, box, m, p, sizeof p) != 0)
        return 0;
    if (stat(p, &st) != 0 && (refind(md, box, m) != 0 || mail_path(md, box, m, p, sizeof p) != 0 || stat(p, &st) != 0))
        return 0;
    return st.st_mtime;
}

int md_set_flags(const struct maildir *md, const char *box, struct md_mail *m, unsigned flags)
{
    char from[4700], to[4700], dir[4400], nn[MD_NAME_MAX + 32];
    const char *info = strstr(m->name, ":2,");
    size_t bl = info ? (size_t)(info - m->name) : strlen(m->name);
    int k;
    if (md_box_dir(md, box, dir, sizeof dir) != 0)
        return -1;
    /* Maildir: flag letters in ASCII order */
    k = snprintf(nn, sizeof nn, "%.*s:2,%s%s%s%s%s", (int)bl, m->name, flags & MDF_DRAFT ? "D" : "",
                 flags & MDF_FLAGGED ? "F" : "", flags & MDF_ANSWERED ? "R" : "", flags & MDF_SEEN ? "S" : "",
                 flags & MDF_DELETED ? "T" : "");
    if (k < 0 || (size_t)k >= sizeof nn)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        mail_path(md, box, m, from, sizeof from);
        snprintf(to, sizeof to, "%s/cur/%s", dir, nn);
        if (rename(from, to) == 0) {
            snprintf(m->name, sizeof m->name, "%s", nn);
            m->cur = 1;
            m->flags = flags;
            return 0;
        }
        if (errno != ENOENT || refind(md, box, m) != 0)
            return -1;
    }
    return -1;
}

int md_expunge(const struct maildir *md, const char *box, struct md_mail *m)
{
    char p[4700];
    if (mail_path(md, box, m, p, sizeof p) != 0)
        return -1;
    if (unlink(p) == 0)
        return 0;
    return errno == ENOENT && refind(md, box, m) == 0 && mail_path(md, box, m, p, sizeof p) == 0 ? unlink(p) : -1;
}

void md_expunge_done(struct maildir *md, const char *box)
{
    struct md_box *b;
    pthread_mutex_lock(&md->lock);
    b = box_state(md, box);
    if (b)
        write_uids(md, b);
    pthread_mutex_unlock(&md->lock);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct md_entry *x = a, *y = b;
    /* by the name after "new/" or "cur/" */
    return strcmp(x->path + 4, y->path + 4);
}

struct list_walk {
    struct md_entry *e;
    int n, cap;
};

static int list_one(void *ctx, const char *sub, const char *name, int cur)
{
    struct list_walk *w = ctx;
    struct stat sb;
    char f[4800];
    if (w->n >= w->cap)
        return 1;
    if (strlen(name) >= MD_NAME_MAX)
        return 0;
    snprintf(f, sizeof f, "%s/%s", sub, name);
    if (stat(f, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    snprintf(w->e[w->n].path, sizeof w->e[w->n].path, "%s/%s", cur ? "cur" : "new", name);
    w->e[w->n].size = (uint64_t)sb.st_size;
    w->e[w->n].deleted = 0;
    w->n++;
    return 0;
}

int md_list(struct maildir *md, struct md_entry *e, int cap)
{
    struct list_walk w = {e, 0, cap};
    if (walk_mail(md->root, 1, list_one, &w) < 0)
        return -1;
    qsort(e, (size_t)w.n, sizeof *e, cmp_entry);
    return w.n;
}
