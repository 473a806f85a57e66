/* writer.c — the write side of the store (store.h has the essay): writer
 * threads that run queued write functions in shared transactions (group
 * commit), over the transaction calls of either backend (backend.h).
 *
 * SQLite runs one writer thread; PostgreSQL `nwriters`, each with its own
 * connection, all taking batches from the one queue.
 */
#include <errno.h>
#include <stdlib.h>

#include "store/backend.h"
#include "util/clock.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/token.h"

#define MAX_BATCH 256

/* After a write fails, this many batches run with a savepoint per job: a
 * steady trickle of failures must not make every batch run twice. */
#define CAREFUL_BATCHES 64

/* A batch that keeps losing deadlocks or serialization conflicts is run at
 * most this many times before its writes fail with SHOP_UNAVAILABLE. */
#define CONFLICT_ATTEMPTS 12

_Thread_local struct store *tl_writer_of;
_Thread_local struct db *tl_writer_db;
_Thread_local uint64_t tl_writer_stmts;
static _Thread_local uint64_t tl_writes_committed; /* store_write calls answered SHOP_OK */

void writer_init(struct store *s)
{
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
}

/* Runs a statement without parameters or results on the writer connection,
 * leaving every other statement as it was (a nested write may run while its
 * caller iterates one). The writer's own statements are not write functions'
 * (injected store.stmt faults do not count them). */
static bool wexec(struct db *db, const char *sql)
{
    struct stmt *st = db_prepare(db, sql);
    bool ok = st && st->ops->step(st) == STMT_DONE;
    if (st)
        db->ops->reset(st);
    return ok;
}

static void rollback(struct db *db)
{
    if (db->ops->tx_state(db) != TX_NONE)
        wexec(db, "ROLLBACK");
}

/* A write function's result once it has returned: a failure when one of
 * its statements failed, whatever it made of that (a loop that took the
 * error for its last row, a "not found" that was a failed read). What it
 * decided on a failed read cannot be trusted, so only a 5xx it chose itself
 * stands; a database that was only busy is a 503 to retry. */
static enum shop_err write_result(struct db *db, enum shop_err r, struct problem *pb)
{
    if (!db->stmt_failed || r == SHOP_INTERNAL || r == SHOP_UNAVAILABLE)
        return r;
    problem_clear(pb);
    if (db->stmt_busy_only) {
        pb->retry_after = 1;
        return problem_set(pb, SHOP_UNAVAILABLE, "the database is busy; try again");
    }
    return db_fail(db, pb, "writing (a statement failed)");
}

static void stmt_failures_clear(struct db *db)
{
    db->stmt_failed = db->stmt_busy_only = false;
}

/* How a batch's run ended. */
enum run_end {
    RUN_OK,       /* every job ran; the transaction is open */
    RUN_FAILED,   /* a job failed (bare run): rolled back, run again with savepoints */
    RUN_ABORTED,  /* a job left no transaction: rolled back; `aborted` says which */
    RUN_CONFLICT, /* a statement lost a deadlock or serialization conflict: rolled back */
};

/* Runs one job in a savepoint. Returns RUN_OK when the transaction is still
 * usable afterwards (whatever the job's result). */
static enum run_end run_job(struct db *db, struct wjob *j)
{
    if (!wexec(db, "SAVEPOINT w")) {
        j->result = db_fail(db, j->pb, "opening a savepoint");
        if (db->ops->retryable(db))
            return RUN_CONFLICT;
        return db->ops->tx_state(db) == TX_OPEN ? RUN_OK : RUN_ABORTED;
    }
    problem_clear(j->pb);
    stmt_failures_clear(db);
    j->result = write_result(db, j->fn(db, j->arg, j->pb), j->pb);
    db_release(db);
    /* The job's appended rows go in now, inside its savepoint: a failure
     * there is its own. */
    if (j->result == SHOP_OK && !appends_flush(db))
        j->result = db_fail(db, j->pb, "writing the appended rows");
    appends_drop(db, 0);
    enum tx_state ts = db->ops->tx_state(db);
    if (ts == TX_NONE) {
        if (j->result == SHOP_OK)
            j->result = problem_set(j->pb, SHOP_INTERNAL, "the transaction was aborted");
        return RUN_ABORTED;
    }
    if (db->ops->retryable(db))
        return RUN_CONFLICT;
    if (ts == TX_FAILED && j->result == SHOP_OK)
        j->result = db_fail(db, j->pb, "writing (a statement failed)");
    if (j->result == SHOP_OK) {
        if (!wexec(db, "RELEASE w"))
            j->result = db_fail(db, j->pb, "releasing a savepoint");
    } else {
        wexec(db, "ROLLBACK TO w");
        wexec(db, "RELEASE w");
    }
    stmt_failures_clear(db);
    return db->ops->tx_state(db) == TX_OPEN ? RUN_OK : RUN_ABORTED;
}

/* Runs every job of a batch straight in the transaction, without a
 * savepoint each: on SQLite a savepoint makes each job copy every page it
 * changes that an earlier job of the batch already changed (the
 * sub-journal), ~10% of the writer's time at checkout; on PostgreSQL it is
 * two more round trips per job. Any failure rolls the whole transaction
 * back.
 *
 * Where the backend pipelines (PostgreSQL, pg.c), writes may be answered
 * only later, so the transaction's state is asked once, after the last job:
 * a statement that failed in the meantime has failed every one after it,
 * and the batch runs again with savepoints and no pipelining. SQLite's state
 * is asked after every job: a transaction it rolled back by itself must not
 * let the next job run outside it. */
static enum run_end run_bare(struct db *db, struct wjob **jobs, int n)
{
    bool pipelined = db->ops->pipeline != NULL;
    if (pipelined)
        db->ops->pipeline(db, true);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        problem_clear(jobs[i]->pb);
        stmt_failures_clear(db);
        jobs[i]->result = write_result(db, jobs[i]->fn(db, jobs[i]->arg, jobs[i]->pb), jobs[i]->pb);
        db_release(db);
        ok = jobs[i]->result == SHOP_OK && (pipelined || db->ops->tx_state(db) == TX_OPEN);
    }
    /* Every job's appended rows, a few statements for the whole batch. */
    if (ok && !appends_flush(db))
        ok = false;
    appends_drop(db, 0);
    if (pipelined)
        db->ops->pipeline(db, false);
    if (!ok || db->ops->tx_state(db) != TX_OPEN) {
        bool conflict = db->ops->retryable(db);
        rollback(db);
        return conflict ? RUN_CONFLICT : RUN_FAILED;
    }
    return RUN_OK;
}

/* A batch the database would not take (busy, unreachable, contended): 503,
 * and a moment later it may. */
static void fail_unfinished(struct wjob **jobs, const bool *finished, int n, const char *why)
{
    for (int i = 0; i < n; i++)
        if (!finished[i]) {
            jobs[i]->pb->retry_after = 1;
            jobs[i]->result = problem_set(jobs[i]->pb, SHOP_UNAVAILABLE, "%s", why);
        }
}

/* A pause before running a batch again after it lost a conflict: random, and
 * longer each time, so the two sides of a deadlock do not meet again. */
static void conflict_pause(int attempt)
{
    int64_t cap = 1 << (attempt < 6 ? attempt : 6); /* 2 … 64 ms */
    clock_sleep_ms(1 + (int64_t)(token_rand64() % (uint64_t)cap));
}

/* Runs a batch in one transaction. While no write has failed lately the
 * jobs run bare; a failure sends the batch (and the next CAREFUL_BATCHES)
 * through savepoints, one per job, so a failing job is undone alone. A job
 * that aborts the whole transaction is failed on its own and the rest of the
 * batch is run again without it. A lost deadlock or serialization conflict
 * runs the whole batch again. */
static void run_batch(struct store *s, struct db *db, struct wjob **jobs, int n)
{
    bool finished[MAX_BATCH] = {false};
    bool bare = atomic_load_explicit(&s->careful_batches, memory_order_relaxed) <= 0;
    int conflicts = 0;
    if (!bare)
        atomic_fetch_sub_explicit(&s->careful_batches, 1, memory_order_relaxed);
    for (;;) {
        if (!db->ops->begin(db, false)) {
            fail_unfinished(jobs, finished, n, "the database is busy or unreachable; try again");
            return;
        }
        enum run_end end = RUN_OK;
        int aborted = -1;
        if (bare) {
            end = run_bare(db, jobs, n);
            if (end == RUN_FAILED) {
                bare = false;
                atomic_store_explicit(&s->careful_batches, CAREFUL_BATCHES, memory_order_relaxed);
                atomic_fetch_add_explicit(&s->reruns, 1, memory_order_relaxed);
                continue;
            }
        } else {
            for (int i = 0; i < n && end == RUN_OK; i++)
                if (!finished[i]) {
                    end = run_job(db, jobs[i]);
                    if (end == RUN_ABORTED)
                        aborted = i;
                }
        }
        if (end == RUN_CONFLICT) {
            rollback(db);
            atomic_fetch_add_explicit(&s->conflicts, 1, memory_order_relaxed);
            if (++conflicts >= CONFLICT_ATTEMPTS) {
                fail_unfinished(jobs, finished, n, "the database stayed contended; try again");
                return;
            }
            conflict_pause(conflicts);
            continue;
        }
        if (end == RUN_ABORTED) {
            finished[aborted] = true;
            rollback(db);
            continue;
        }
        if (!bare)
            for (int i = 0; i < n; i++)
                if (jobs[i]->result != SHOP_OK)
                    atomic_store_explicit(&s->careful_batches, CAREFUL_BATCHES,
                                          memory_order_relaxed);
        enum fault_mode fm = s->opts.no_faults ? FM_NONE : faults_check(FP_STORE_COMMIT, NULL);
        bool injected = fm != FM_NONE && fm != FM_COUNT;
        if (injected || !wexec(db, "COMMIT")) {
            bool conflict = !injected && db->ops->retryable(db);
            log_event(LOG_ERROR, "db.commit", "{s:s}", "error",
                      injected ? "injected fault" : db->ops->errmsg(db));
            rollback(db);
            if (conflict && ++conflicts < CONFLICT_ATTEMPTS) {
                atomic_fetch_add_explicit(&s->conflicts, 1, memory_order_relaxed);
                conflict_pause(conflicts);
                continue;
            }
            for (int i = 0; i < n; i++)
                if (!finished[i] && jobs[i]->result == SHOP_OK) {
                    jobs[i]->pb->retry_after = 1;
                    jobs[i]->result = problem_set(jobs[i]->pb, SHOP_UNAVAILABLE,
                                                  "the database could not commit; try again");
                }
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

struct writer_arg {
    struct store *s;
    struct db *db;
};

static void *writer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "db-writer");
    struct store *s = ((struct writer_arg *)arg)->s;
    struct db *db = ((struct writer_arg *)arg)->db;
    free(arg);
    tl_writer_of = s;
    tl_writer_db = db;
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
        s->queued -= n;
        if (!s->qhead)
            s->qtail = NULL;
        pthread_mutex_unlock(&s->wmu);

        run_batch(s, db, batch, n);

        uint64_t failed = 0;
        for (int i = 0; i < n; i++)
            failed += batch[i]->result != SHOP_OK;
        atomic_fetch_add_explicit(&s->writes, (uint64_t)n, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->writer_stmts, tl_writer_stmts, memory_order_relaxed);
        tl_writer_stmts = 0;
        atomic_fetch_add_explicit(&s->failed_writes, failed, memory_order_relaxed);
        if ((uint64_t)n > atomic_load_explicit(&s->max_batch, memory_order_relaxed))
            atomic_store_explicit(&s->max_batch, (uint64_t)n, memory_order_relaxed);

        wake_batch(batch, n);
        pthread_mutex_lock(&s->wmu);
    }
    pthread_mutex_unlock(&s->wmu);
    return NULL;
}

/* Opens the other writers' connections and starts every writer thread
 * (wmu held). False when not even the first could start. */
static bool writers_start(struct store *s, struct problem *pb)
{
    for (int i = 1; i < s->nwriters && s->ops->connect_writer && !s->wdb[i]; i++) {
        struct problem cpb = {0};
        s->wdb[i] = s->ops->connect_writer(s, &cpb);
        if (!s->wdb[i]) {
            log_event(LOG_WARN, "db.writer", "{s:s}", "detail", cpb.detail);
            break;
        }
    }
    if (s->ops->writers_starting)
        s->ops->writers_starting(s);
    int started = 0;
    for (int i = 0; i < s->nwriters && s->wdb[i]; i++) {
        struct writer_arg *a = malloc(sizeof *a);
        if (!a)
            break;
        *a = (struct writer_arg){s, s->wdb[i]};
        if (pthread_create(&s->writers[i], NULL, writer_main, a) != 0) {
            free(a);
            break;
        }
        started++;
    }
    s->nwriters = started;
    if (!started)
        problem_set(pb, SHOP_INTERNAL, "cannot start the database writer");
    return started > 0;
}

enum shop_err store_write(struct store *s, store_write_fn fn, void *arg, struct problem *pb)
{
    if (tl_writer_of == s) {
        /* Nested: already inside a write function on a writer thread. */
        struct db *db = tl_writer_db;
        if (!wexec(db, "SAVEPOINT nested"))
            return db_fail(db, pb, "opening a savepoint");
        bool outer_failed = db->stmt_failed, outer_busy_only = db->stmt_busy_only;
        size_t appended = appends_mark(db);
        stmt_failures_clear(db);
        enum shop_err r = write_result(db, fn(db, arg, pb), pb);
        if (r == SHOP_OK && db->ops->tx_state(db) == TX_FAILED)
            r = db_fail(db, pb, "writing (a statement failed)");
        if (r != SHOP_OK)
            appends_drop(db, appended); /* rolled back with the rest */
        if (r != SHOP_OK && db->ops->tx_state(db) != TX_NONE)
            wexec(db, "ROLLBACK TO nested");
        if (db->ops->tx_state(db) != TX_NONE)
            wexec(db, "RELEASE nested");
        /* What failed inside is undone, and the caller has its error. */
        db->stmt_failed = outer_failed;
        db->stmt_busy_only = outer_busy_only;
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
    if (!s->writers_started) {
        if (!writers_start(s, pb)) {
            pthread_mutex_unlock(&s->wmu);
            sem_destroy(&job.done);
            return pb->err;
        }
        s->writers_started = true;
    }
    if (s->qtail)
        s->qtail->next = &job;
    else
        s->qhead = &job;
    s->qtail = &job;
    if (++s->queued > atomic_load_explicit(&s->queue_peak, memory_order_relaxed))
        atomic_store_explicit(&s->queue_peak, s->queued, memory_order_relaxed);
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->wmu);
    while (sem_wait(&job.done) != 0 && errno == EINTR)
        ;
    for (int i = 0; i < 2; i++)
        if (job.wake[i])
            sem_post(&job.wake[i]->done);
    sem_destroy(&job.done);
    if (job.result == SHOP_OK)
        tl_writes_committed++;
    return job.result;
}

uint64_t store_thread_writes(void)
{
    return tl_writes_committed;
}

int64_t store_queue_peak(struct store *s)
{
    pthread_mutex_lock(&s->wmu);
    int64_t peak = atomic_exchange(&s->queue_peak, s->queued);
    pthread_mutex_unlock(&s->wmu);
    return peak;
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
    bool started = s->writers_started;
    pthread_mutex_unlock(&s->wmu);
    if (started)
        for (int i = 0; i < s->nwriters; i++)
            pthread_join(s->writers[i], NULL);
    if (started && s->ops->writers_stopped)
        s->ops->writers_stopped(s);
}
