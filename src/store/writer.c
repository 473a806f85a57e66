/* writer.c — the write side of the SQLite store (store.h has the essay):
 * the writer thread (group commit) and the checkpointer.
 */
#include <errno.h>
#include <stdlib.h>

#include "store/sqlite_int.h"
#include "util/clock.h"
#include "util/log.h"

#define MAX_BATCH 256

/* After a write fails, this many batches run with a savepoint per job: a
 * steady trickle of failures must not make every batch run twice. */
#define CAREFUL_BATCHES 64

#define CHECKPOINT_FRAMES 2000  /* wake the checkpointer when the WAL grew this much */
#define RESTART_FRAMES    16384 /* 64 MiB: insist on starting the WAL over */

_Thread_local struct store *tl_writer_of;

void writer_init(struct store *s)
{
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
}

/* ---- the checkpointer ---------------------------------------------------- */

/* Called by SQLite on the writer's connection after each commit. */
static int wal_hook(void *arg, sqlite3 *h, const char *dbname, int frames)
{
    (void)h;
    (void)dbname;
    struct store *s = arg;
    /* The WAL restarts from zero after a checkpoint: then all are new. */
    uint64_t added =
        frames >= s->wal_frames ? (uint64_t)(frames - s->wal_frames) : (uint64_t)frames;
    atomic_fetch_add_explicit(&s->frames_written, added, memory_order_relaxed);
    s->wal_frames = frames;
    /* Each checkpoint syncs twice, and a disk serves one sync at a time:
     * checkpointing after every commit (while readers keep the WAL from
     * starting over) would make the commits' own syncs wait behind them. */
    int last = atomic_load_explicit(&s->ckpt_frames, memory_order_relaxed);
    if (frames - (frames >= last ? last : 0) >= CHECKPOINT_FRAMES)
        pthread_cond_signal(&s->ckpt_cv); /* wmu is not needed: a missed wake-up waits 200 ms */
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    pthread_setname_np(pthread_self(), "db-checkpoint");
    struct store *s = arg;
    pthread_mutex_lock(&s->wmu);
    while (!s->stopping) {
        struct timespec ts = clock_deadline(200);
        pthread_cond_timedwait(&s->ckpt_cv, &s->wmu, &ts);
        if (s->stopping)
            break;
        int frames = s->wal_frames;
        if (frames == atomic_load_explicit(&s->ckpt_frames, memory_order_relaxed))
            continue; /* nothing new since the last one */
        pthread_mutex_unlock(&s->wmu);
        int log = 0, done = 0;
        /* Passive: runs beside readers and the writer, blocks nobody. When
         * the WAL keeps growing because readers never all leave it, restart
         * it (a short wait for the writer lock and for readers to move on). */
        int mode = frames >= RESTART_FRAMES ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE;
        if (frames > 0 &&
            sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, mode, &log, &done) == SQLITE_OK) {
            atomic_fetch_add_explicit(&s->checkpoints, 1, memory_order_relaxed);
            if (mode == SQLITE_CHECKPOINT_RESTART)
                atomic_fetch_add_explicit(&s->restarts, 1, memory_order_relaxed);
            atomic_store_explicit(&s->ckpt_frames, frames, memory_order_relaxed);
        }
        pthread_mutex_lock(&s->wmu);
    }
    pthread_mutex_unlock(&s->wmu);
    return NULL;
}

static void ckpt_start(struct store *s)
{
    if (sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        sqlite_vfs_for(s)) != SQLITE_OK) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return; /* SQLite's own auto-checkpoint stays on */
    }
    sqlite3_busy_timeout(s->ckpt_db, 100);
    sqlite_exec_simple(s->ckpt_db, "PRAGMA synchronous=FULL;");
    pthread_cond_init(&s->ckpt_cv, NULL);
    if (pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) != 0) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    s->ckpt_started = true;
    sqlite_exec_simple(s->wdb->h, "PRAGMA wal_autocheckpoint=0;");
    sqlite3_wal_hook(s->wdb->h, wal_hook, s);
}

/* ---- the writer --------------------------------------------------------- */

static bool wexec(struct db *db, const char *sql)
{
    struct stmt *st = db_prepare(db, sql);
    bool ok = st && stmt_step(st) == STMT_DONE;
    sqlite3_reset((sqlite3_stmt *)st);
    return ok;
}

bool writer_begin_immediate(struct store *s)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        if (wexec(s->wdb, "BEGIN IMMEDIATE"))
            return true;
        if (sqlite3_errcode(s->wdb->h) != SQLITE_BUSY)
            return false;
        atomic_fetch_add_explicit(&s->busy_retries, 1, memory_order_relaxed);
        clock_sleep_ms(1 + (int64_t)(attempt * attempt));
    }
    return false;
}

/* Runs one job in a savepoint. Returns false when the job left the whole
 * transaction aborted (SQLite rolled it back under us). */
static bool run_job(struct store *s, struct wjob *j)
{
    struct db *db = s->wdb;
    if (!wexec(db, "SAVEPOINT w")) {
        j->result = db_fail(db, j->pb, "opening a savepoint");
        return !sqlite3_get_autocommit(db->h);
    }
    problem_clear(j->pb);
    j->result = j->fn(db, j->arg, j->pb);
    db_release(db);
    if (sqlite3_get_autocommit(db->h)) {
        if (j->result == SHOP_OK)
            j->result = problem_set(j->pb, SHOP_INTERNAL, "the transaction was aborted");
        return false;
    }
    if (j->result == SHOP_OK) {
        if (!wexec(db, "RELEASE w"))
            j->result = db_fail(db, j->pb, "releasing a savepoint");
    } else {
        wexec(db, "ROLLBACK TO w");
        wexec(db, "RELEASE w");
    }
    return !sqlite3_get_autocommit(db->h);
}

/* Runs every job of a batch straight in the transaction, without a
 * savepoint each: a savepoint makes each job copy every page it changes that
 * an earlier job of the batch already changed (SQLite's sub-journal), ~10%
 * of the writer's time at checkout. Returns false when a job failed: the
 * whole transaction is then rolled back and the caller runs the batch again
 * with savepoints. */
static bool run_bare(struct store *s, struct wjob **jobs, int n)
{
    struct db *db = s->wdb;
    for (int i = 0; i < n; i++) {
        problem_clear(jobs[i]->pb);
        jobs[i]->result = jobs[i]->fn(db, jobs[i]->arg, jobs[i]->pb);
        db_release(db);
        if (jobs[i]->result != SHOP_OK || sqlite3_get_autocommit(db->h)) {
            if (!sqlite3_get_autocommit(db->h))
                wexec(db, "ROLLBACK");
            return false;
        }
    }
    return true;
}

/* Runs a batch in one transaction. While no write has failed lately the
 * jobs run bare; a failure sends the batch (and the next CAREFUL_BATCHES)
 * through savepoints, one per job, so a failing job is undone alone. A job
 * that aborts the whole transaction is failed on its own and the rest of the
 * batch is run again without it. */
static void run_batch(struct store *s, struct wjob **jobs, int n)
{
    bool finished[MAX_BATCH] = {false};
    bool bare = s->careful_batches == 0;
    int remaining = n;
    if (!bare)
        s->careful_batches--;
    while (remaining > 0) {
        if (!writer_begin_immediate(s)) {
            for (int i = 0; i < n; i++)
                if (!finished[i]) {
                    jobs[i]->result = problem_set(jobs[i]->pb, SHOP_UNAVAILABLE,
                                                  "the database is busy; try again");
                    finished[i] = true;
                }
            return;
        }
        if (bare && !run_bare(s, jobs, n)) {
            bare = false;
            s->careful_batches = CAREFUL_BATCHES;
            atomic_fetch_add_explicit(&s->reruns, 1, memory_order_relaxed);
            continue;
        }
        int aborted = -1;
        for (int i = 0; i < n && aborted < 0 && !bare; i++)
            if (!finished[i] && !run_job(s, jobs[i]))
                aborted = i;
        if (aborted >= 0) {
            finished[aborted] = true;
            remaining--;
            if (!sqlite3_get_autocommit(s->wdb->h))
                wexec(s->wdb, "ROLLBACK");
            continue;
        }
        if (!bare)
            for (int i = 0; i < n; i++)
                if (jobs[i]->result != SHOP_OK)
                    s->careful_batches = CAREFUL_BATCHES;
        if (!wexec(s->wdb, "COMMIT")) {
            log_event(LOG_ERROR, "db.commit", "{s:s}", "error", sqlite3_errmsg(s->wdb->h));
            if (!sqlite3_get_autocommit(s->wdb->h))
                wexec(s->wdb, "ROLLBACK");
            for (int i = 0; i < n; i++)
                if (!finished[i] && jobs[i]->result == SHOP_OK)
                    jobs[i]->result = problem_set(jobs[i]->pb, SHOP_UNAVAILABLE,
                                                  "the database could not commit; try again");
        } else {
            atomic_fetch_add_explicit(&s->commits, 1, memory_order_relaxed);
            if (s->on_commit)
                s->on_commit(s->on_commit_cls);
        }
        return;
    }
}

/* Wakes the callers of a finished batch as a binary tree: the writer wakes
 * the first, and each caller the two after it. A wake-up is a system call
 * that costs the waker ~8 us; made all by the writer they were a quarter of
 * its time, and the writer is what bounds the shop's writes. */
static void wake_batch(struct wjob **jobs, int n)
{
    for (int i = 0; i < n; i++) {
        jobs[i]->wake[0] = 2 * i + 1 < n ? jobs[2 * i + 1] : NULL;
        jobs[i]->wake[1] = 2 * i + 2 < n ? jobs[2 * i + 2] : NULL;
    }
    /* A posted job may be gone at once (it lives on its caller's stack):
     * everything it needs is set before. */
    sem_post(&jobs[0]->done);
}

static void *writer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "db-writer");
    struct store *s = arg;
    tl_writer_of = s;
    struct wjob *batch[MAX_BATCH];
    pthread_mutex_lock(&s->wmu);
    for (;;) {
        while (!s->qhead && !s->stopping)
            pthread_cond_wait(&s->work_cv, &s->wmu);
        if (!s->qhead)
            break;
        int n = 0;
        while (s->qhead && n < MAX_BATCH) {
            batch[n++] = s->qhead;
            s->qhead = s->qhead->next;
        }
        if (!s->qhead)
            s->qtail = NULL;
        pthread_mutex_unlock(&s->wmu);

        run_batch(s, batch, n);

        uint64_t failed = 0;
        for (int i = 0; i < n; i++)
            failed += batch[i]->result != SHOP_OK;
        atomic_fetch_add_explicit(&s->writes, (uint64_t)n, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->failed_writes, failed, memory_order_relaxed);
        if ((uint64_t)n > atomic_load_explicit(&s->max_batch, memory_order_relaxed))
            atomic_store_explicit(&s->max_batch, (uint64_t)n, memory_order_relaxed);

        wake_batch(batch, n);
        pthread_mutex_lock(&s->wmu);
    }
    pthread_mutex_unlock(&s->wmu);
    return NULL;
}

enum shop_err store_write(struct store *s, store_write_fn fn, void *arg, struct problem *pb)
{
    if (tl_writer_of == s) {
        /* Nested: already inside a write function on the writer thread. */
        if (!wexec(s->wdb, "SAVEPOINT nested"))
            return db_fail(s->wdb, pb, "opening a savepoint");
        enum shop_err r = fn(s->wdb, arg, pb);
        if (r != SHOP_OK)
            wexec(s->wdb, "ROLLBACK TO nested");
        wexec(s->wdb, "RELEASE nested");
        return r;
    }
    struct wjob job = {.fn = fn, .arg = arg, .pb = pb};
    sem_init(&job.done, 0, 0);
    pthread_mutex_lock(&s->wmu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->wmu);
        sem_destroy(&job.done);
        return problem_set(pb, SHOP_UNAVAILABLE, "shutting down");
    }
    if (!s->writer_started) {
        if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
            pthread_mutex_unlock(&s->wmu);
            sem_destroy(&job.done);
            return problem_set(pb, SHOP_INTERNAL, "cannot start the database writer");
        }
        s->writer_started = true;
        ckpt_start(s);
    }
    if (s->qtail)
        s->qtail->next = &job;
    else
        s->qhead = &job;
    s->qtail = &job;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->wmu);
    while (sem_wait(&job.done) != 0 && errno == EINTR)
        ;
    for (int i = 0; i < 2; i++)
        if (job.wake[i])
            sem_post(&job.wake[i]->done);
    sem_destroy(&job.done);
    return job.result;
}

bool store_in_write(struct store *s)
{
    return tl_writer_of == s;
}

void store_on_commit(struct store *s, void (*fn)(void *cls), void *cls)
{
    s->on_commit = fn;
    s->on_commit_cls = cls;
}


void writer_stop(struct store *s)
{
    pthread_mutex_lock(&s->wmu);
    s->stopping = true;
    pthread_cond_broadcast(&s->work_cv);
    bool started = s->writer_started;
    pthread_mutex_unlock(&s->wmu);
    if (started)
        pthread_join(s->writer, NULL);
    if (s->ckpt_started) {
        pthread_mutex_lock(&s->wmu);
        pthread_cond_broadcast(&s->ckpt_cv);
        pthread_mutex_unlock(&s->wmu);
        pthread_join(s->ckpt_thread, NULL);
        pthread_cond_destroy(&s->ckpt_cv);
        sqlite3_close(s->ckpt_db);
    }
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->work_cv);
}
