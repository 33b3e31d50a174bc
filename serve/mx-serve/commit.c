/* commit.c - Maildir commits on worker threads (see commit.h). */
#define _GNU_SOURCE
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct commit_pool {
    struct maildir *md;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct commit_job *queue, *queue_tail, *done;
    int pending; /* queued + running */
    int stopping;
    int pipe_r, pipe_w;
    pthread_t th[COMMIT_THREADS];
    int nth;
};

static void *worker(void *arg)
{
    struct commit_pool *p = arg;
    for (;;) {
        struct commit_job *j;
        pthread_mutex_lock(&p->mu);
        while (!p->queue && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->queue) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        j = p->queue;
        p->queue = j->next;
        if (!p->queue)
            p->queue_tail = NULL;
        pthread_mutex_unlock(&p->mu);

        for (int i = 0; i < j->n; i++)
            j->ok[i] = md_commit(p->md, &j->msgs[i]) == 0;

        pthread_mutex_lock(&p->mu);
        j->next = p->done;
        p->done = j;
        p->pending--;
        pthread_mutex_unlock(&p->mu);
        ssize_t w;
        do
            w = write(p->pipe_w, "x", 1);
        while (w < 0 && errno == EINTR);
        /* a full pipe already wakes the loop: EAGAIN is fine */
    }
}

struct commit_pool *commit_start(struct maildir *md)
{
    struct commit_pool *p = calloc(1, sizeof *p);
    int fds[2];
    if (!p)
        return NULL;
    p->md = md;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(p);
        return NULL;
    }
    p->pipe_r = fds[0];
    p->pipe_w = fds[1];
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (p->nth = 0; p->nth < COMMIT_THREADS; p->nth++)
        if (pthread_create(&p->th[p->nth], NULL, worker, p) != 0)
            break;
    if (p->nth == 0) {
        commit_stop(p);
        return NULL;
    }
    return p;
}

void commit_submit(struct commit_pool *p, struct commit_job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->queue_tail)
        p->queue_tail->next = j;
    else
        p->queue = j;
    p->queue_tail = j;
    p->pending++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int commit_fd(const struct commit_pool *p)
{
    return p->pipe_r;
}

struct commit_job *commit_done(struct commit_pool *p)
{
    char buf[64];
    struct commit_job *j;
    while (read(p->pipe_r, buf, sizeof buf) > 0)
        ;
    pthread_mutex_lock(&p->mu);
    j = p->done;
    if (j)
        p->done = j->next;
    pthread_mutex_unlock(&p->mu);
    return j;
}

int commit_pending(struct commit_pool *p)
{
    int n;
    pthread_mutex_lock(&p->mu);
    n = p->pending;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void commit_stop(struct commit_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nth; i++)
        pthread_join(p->th[i], NULL);
    while (p->done) {
        struct commit_job *j = p->done;
        p->done = j->next;
        free(j);
    }
    close(p->pipe_r);
    close(p->pipe_w);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
