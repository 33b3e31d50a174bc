/* maildir.h - mx-serve's message store: Maildir++ (INBOX is the root's tmp/, new/, cur/; every
 * other mailbox NAME is the folder root/.NAME/ with its own tmp/, new/, cur/).
 *
 * A message is written to tmp/ while it arrives, then md_commit() fsyncs the file, renames it
 * into new/ and fsyncs new/: only after md_commit() returned 0 may the server acknowledge the
 * message (SMTP 250, IMAP tagged OK). A crash before that leaves at most a file in tmp/; a
 * crash after it leaves the message in new/, whole. The message's SHA-256 is computed while it
 * is written (for the log, and for tests to compare with what the client sent).
 *
 * Names: <seconds>.M<microseconds>P<pid>Q<sequence>.mx-serve,S=<size>,U=<uid>[:2,<flags>];
 * the sequence makes them unique within a process. Flags (cur/ only) are Maildir's letters in
 * ASCII order: D draft, F flagged, R answered, S seen, T deleted.
 *
 * UIDs (RFC 3501 2.3.1.1): assigned by md_commit under the store's lock at the rename into
 * new/, so within a mailbox UID order is commit order; md_scan lists only UIDs whose rename
 * had completed when the scan began, so a session never sees UID n+1 before UID n. The next
 * UID is not stored per message: it is the highest U= present + 1, or the value in the
 * mailbox's mx-uids file ("VALIDITY NEXT"), whichever is higher; md_expunge_done and
 * md_box_delete write that file, so an expunged UID is never handed out again.
 * UIDVALIDITY is chosen when a mailbox is first used and never below one used before by this
 * process (a deleted and re-created mailbox gets a new one). Files without U= (another
 * writer's, or an older mx-serve's) get a UID when a scan first sees them (renamed in place).
 *
 * Mailbox names (md_box_check): the IMAP name as the client sends it, modified UTF-7 (RFC
 * 3501 5.1.3), "." the hierarchy delimiter. The folder is always one directory entry below
 * the root ("." + the name), so no name can reach outside it.
 *
 * Threads: md_commit runs on the commit threads (commit.h); every other function on the loop
 * thread. The lock (md->lock) guards the per-mailbox UID state.
 */
#ifndef MX_SERVE_MAILDIR_H
#define MX_SERVE_MAILDIR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/sha.h>

#define MD_NAME_MAX 128
/* longest mailbox name, in bytes of its modified UTF-7 form */
#define MD_BOX_MAX 200
/* mailboxes besides INBOX the store keeps UID state for (CREATE refuses beyond) */
#define MD_MAX_BOXES 256

enum md_flag {
    MDF_ANSWERED = 0x1, /* R */
    MDF_FLAGGED = 0x2,  /* F */
    MDF_DELETED = 0x4,  /* T */
    MDF_SEEN = 0x8,     /* S */
    MDF_DRAFT = 0x10    /* D */
};

struct md_box {
    char name[MD_BOX_MAX + 1]; /* "" for INBOX */
    uint32_t validity;
    uint32_t next;      /* the UID the next commit gets */
    uint32_t committed; /* every UID up to this one has finished its rename */
    int loaded;
};

struct maildir {
    char root[4096];
    int newfd; /* INBOX's new/, open for fsync */
    unsigned long seq;
    pthread_mutex_t lock;
    struct md_box boxes[MD_MAX_BOXES + 1]; /* [0] is INBOX */
    uint32_t last_validity;
};

struct md_msg {
    int fd; /* -1 when no message is open */
    int failed; /* a write failed: md_commit refuses */
    char box[MD_BOX_MAX + 1]; /* the mailbox it goes to ("" = INBOX) */
    char tmpname[MD_NAME_MAX];
    uint64_t size;
    unsigned long seq; /* the Q number in its name */
    uint32_t uid, validity; /* after md_commit */
    SHA256_CTX sha;
    uint8_t digest[32];
    char name[MD_NAME_MAX + 32]; /* after md_commit: the name in new/ */
};

/* Creates root, root/tmp, root/new, root/cur as needed. 0 or -1 (errno set). */
int md_open(struct maildir *md, const char *root);
void md_close(struct maildir *md);

/* ---- mailboxes ---- */
/* NULL if the IMAP mailbox name (n bytes, NUL included in the count if any) is acceptable;
 * else why not (for the NO reply). "INBOX" in any case is INBOX. */
const char *md_box_check(const char *name, size_t n);
/* 1 if name (checked) is INBOX */
int md_box_is_inbox(const char *name);
/* the folder of a checked name: the root, or root/.NAME; 0 or -1 (too long) */
int md_box_dir(const struct maildir *md, const char *name, char *out, size_t n);
/* 1 if the mailbox exists (INBOX always) */
int md_box_exists(const struct maildir *md, const char *name);
/* 0, or -1 with errno (EEXIST, ENOSPC when MD_MAX_BOXES are in use, ...) */
int md_box_create(struct maildir *md, const char *name);
/* removes the folder and its messages; INBOX cannot be deleted (EPERM). 0 or -1 */
int md_box_delete(struct maildir *md, const char *name);
/* every mailbox name (INBOX first); returns how many were passed to fn */
int md_box_list(const struct maildir *md, void (*fn)(void *ctx, const char *name), void *ctx);
/* UIDVALIDITY and UIDNEXT of a mailbox; 0 or -1 */
int md_box_uids(struct maildir *md, const char *name, uint32_t *validity, uint32_t *next);

/* ---- writing ---- */
void md_msg_init(struct md_msg *m);
/* opens a tmp/ file of mailbox box (NULL or "" = INBOX; checked by the caller) */
int md_begin(struct maildir *md, const char *box, struct md_msg *m);
/* Appends; a failure is remembered (m->failed) and reported by md_commit. */
void md_write(struct md_msg *m, const void *p, size_t n);
/* fsync, UID, rename into new/, fsync new/. 0, or -1 (the tmp file is removed). */
int md_commit(struct maildir *md, struct md_msg *m);
/* Drops a message in progress (removes its tmp file). Safe on a closed message. */
void md_abort(struct maildir *md, struct md_msg *m);
/* hex of m->digest into out[65] */
void md_hex(const struct md_msg *m, char out[65]);

/* ---- reading (IMAP) ---- */
struct md_mail {
    uint32_t uid;
    unsigned flags; /* enum md_flag */
    int cur;        /* in cur/ (else new/) */
    uint64_t size;
    char name[MD_NAME_MAX + 32];
};
/* The messages of a mailbox in UID order, at most cap (more: -1 with errno EOVERFLOW). *out is
 * malloc'ed (the caller frees it). Returns the count, or -1. */
int md_scan(struct maildir *md, const char *box, struct md_mail **out, size_t cap);
/* opens a listed message for reading; if another session renamed it (flags changed), finds it
 * by its UID and updates m. fd, or -1 (expunged) */
int md_open_mail(const struct maildir *md, const char *box, struct md_mail *m);
/* renames the message to carry flags (into cur/). 0 or -1 (it is gone) */
int md_set_flags(const struct maildir *md, const char *box, struct md_mail *m, unsigned flags);
/* removes a message; 0 or -1 */
int md_expunge(const struct maildir *md, const char *box, struct md_mail *m);
/* after expunging: records the mailbox's next UID so that it is never reused */
void md_expunge_done(struct maildir *md, const char *box);
/* the file's modification time (IMAP INTERNALDATE); 0 if it cannot be read */
time_t md_mail_time(const struct maildir *md, const char *box, struct md_mail *m);

/* ---- POP3 ---- */
/* The messages in INBOX's new/ and cur/, sorted by name (delivery order). */
struct md_entry {
    char path[MD_NAME_MAX + 40]; /* "new/NAME" or "cur/NAME" */
    uint64_t size;
    int deleted;
};
/* Fills up to cap entries; returns how many (or -1). */
int md_list(struct maildir *md, struct md_entry *e, int cap);

#endif
