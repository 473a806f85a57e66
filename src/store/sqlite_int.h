/* sqlite_int.h — what the two halves of the SQLite store share: sqlite.c
 * (connections, statements, migrations) and writer.c (the writer thread and
 * the checkpointer). Nothing outside src/store includes it.
 */
#ifndef SHOPD_STORE_SQLITE_INT_H
#define SHOPD_STORE_SQLITE_INT_H

#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define MAX_ACTIVE 64

struct cached {
    const char *sql;
    sqlite3_stmt *st;
};

struct db {
    sqlite3 *h;
    struct store *store;
    struct cached *cache;
    size_t cap, n;
    sqlite3_stmt *active[MAX_ACTIVE];
    int nactive;
    struct db *next;
    bool writer;
};

/* One store_write call, on its caller's stack. */
struct wjob {
    store_write_fn fn;
    void *arg;
    struct problem *pb;
    enum shop_err result;
    /* Its caller waits here. A semaphore, not a condition: it is posted
     * without holding the queue's lock, so a woken caller does not block
     * again on that lock (a context switch per write, seen in profiles). */
    sem_t done;
    struct wjob *next; /* in the writer's queue */
    /* Once woken, its caller wakes these (see wake_batch in writer.c). */
    struct wjob *wake[2];
};

struct store {
    char *path;
    struct store_opts opts;
    pthread_key_t key;

    pthread_mutex_t conns_mu;
    struct db *conns;

    /* The writer (writer.c). wmu guards the queue and `stopping`. */
    struct db *wdb;
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t wmu;
    pthread_cond_t work_cv;
    struct wjob *qhead, *qtail;
    bool stopping;
    int careful_batches; /* batches left to run with a savepoint per job */
    void (*on_commit)(void *cls);
    void *on_commit_cls;

    _Atomic uint64_t commits, writes, failed_writes, busy_retries, max_batch, reruns;

    /* The checkpointer: copies the WAL back into the database on its own
     * connection and thread, so the writer never does. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_started;
    pthread_cond_t ckpt_cv;
    int wal_frames;                  /* as of the last commit (wal hook) */
    _Atomic int ckpt_frames;         /* WAL size at the last checkpoint */
    _Atomic uint64_t frames_written; /* pages appended to the WAL, ever */
    _Atomic uint64_t checkpoints, restarts;
};

/* The store whose writer this thread is (NULL on every other thread). */
extern _Thread_local struct store *tl_writer_of;

/* sqlite.c */
bool sqlite_exec_simple(sqlite3 *h, const char *sql);
const char *sqlite_vfs_for(const struct store *s);

/* writer.c */
void writer_init(struct store *s);
/* BEGIN IMMEDIATE on the writer's connection, retried while another process
 * holds the write lock. */
bool writer_begin_immediate(struct store *s);
/* Finishes queued writes and stops the writer and the checkpointer. */
void writer_stop(struct store *s);

#endif
