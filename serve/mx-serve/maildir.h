/* maildir.h - mx-serve's message store: one Maildir (tmp/, new/, cur/).
 *
 * A message is written to tmp/ while it arrives, then md_commit() fsyncs the file, renames it
 * into new/ and fsyncs new/: only after md_commit() returned 0 may the server acknowledge the
 * message (SMTP 250, IMAP tagged OK). A crash before that leaves at most a file in tmp/; a
 * crash after it leaves the message in new/, whole. The message's SHA-256 is computed while it
 * is written (for the log, and for tests to compare with what the client sent).
 *
 * Names: <seconds>.M<microseconds>P<pid>Q<sequence>.mx-serve,S=<size>; the sequence makes
 * them unique within a process and, with the time, sortable in delivery order.
 */
#ifndef MX_SERVE_MAILDIR_H
#define MX_SERVE_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/sha.h>

#define MD_NAME_MAX 128

struct maildir {
    char root[4096];
    int newfd; /* new/, open for fsync */
    unsigned long seq;
};

struct md_msg {
    int fd; /* -1 when no message is open */
    int failed; /* a write failed: md_commit refuses */
    char tmpname[MD_NAME_MAX];
    uint64_t size;
    unsigned long seq; /* the Q number in its name (IMAP: its UID) */
    SHA256_CTX sha;
    uint8_t digest[32];
    char name[MD_NAME_MAX + 16]; /* after md_commit: the name in new/ */
};

/* Creates root, root/tmp, root/new, root/cur as needed. 0 or -1 (errno set). */
int md_open(struct maildir *md, const char *root);
void md_close(struct maildir *md);

void md_msg_init(struct md_msg *m);
int md_begin(struct maildir *md, struct md_msg *m);
/* Appends; a failure is remembered (m->failed) and reported by md_commit. */
void md_write(struct md_msg *m, const void *p, size_t n);
/* fsync, rename into new/, fsync new/. 0, or -1 (the tmp file is removed). */
int md_commit(struct maildir *md, struct md_msg *m);
/* Drops a message in progress (removes its tmp file). Safe on a closed message. */
void md_abort(struct maildir *md, struct md_msg *m);
/* hex of m->digest into out[65] */
void md_hex(const struct md_msg *m, char out[65]);

/* The messages in new/ and cur/, sorted by name (delivery order). */
struct md_entry {
    char path[MD_NAME_MAX + 8]; /* "new/NAME" or "cur/NAME" */
    uint64_t size;
    int deleted;
};
/* Fills up to cap entries; returns how many (or -1). */
int md_list(struct maildir *md, struct md_entry *e, int cap);

#endif
