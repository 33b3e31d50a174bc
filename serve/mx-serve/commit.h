/* commit.h - Maildir commits (fsync, rename into new/, fsync new/) off the event loop.
 *
 * fsync is the slowest step of receiving a message (here: ~7 ms for the file, ~5 ms for the
 * directory, measured on this machine's ext4), and done inline it stalls every connection.
 * mx-serve hands a finished message to COMMIT_THREADS worker threads and stops reading that
 * connection's commands until the job comes back; only then is the acknowledgement (SMTP 250,
 * IMAP tagged OK) sent, so "acknowledged" still means "in new/ and fsynced". Parallel fsyncs
 * let the filesystem share journal commits.
 *
 * A job carries up to COMMIT_MAX messages (an IMAP MULTIAPPEND is one job: all or nothing is
 * reported, each message's outcome is in ok[]). Completed jobs are picked up by the loop when
 * commit_fd() is readable. A job whose connection has gone is still completed (the message is
 * stored, never acknowledged) and logged.
 */
#ifndef MX_SERVE_COMMIT_H
#define MX_SERVE_COMMIT_H

#include "maildir.h"

#define COMMIT_THREADS 4
#define COMMIT_MAX 8

struct commit_job {
    unsigned long conn_id;
    int n;
    struct md_msg msgs[COMMIT_MAX];
    int ok[COMMIT_MAX];
    unsigned flags[COMMIT_MAX]; /* IMAP APPEND: the flags each message gets once stored */
    struct commit_job *next;
};

struct commit_pool; /* opaque */

/* Starts the workers; NULL on failure. md must outlive the pool. */
struct commit_pool *commit_start(struct maildir *md);
/* Queues a job (the pool owns it until commit_done returns it). */
void commit_submit(struct commit_pool *p, struct commit_job *j);
/* The read end of the completion pipe (poll it for POLLIN). */
int commit_fd(const struct commit_pool *p);
/* A completed job, or NULL; drains the pipe. The caller frees the job. */
struct commit_job *commit_done(struct commit_pool *p);
/* Jobs queued or running. */
int commit_pending(struct commit_pool *p);
/* Finishes every queued job, stops the workers, frees the pool (completed jobs not yet
 * collected are freed). */
void commit_stop(struct commit_pool *p);

#endif
