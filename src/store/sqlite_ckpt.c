/* sqlite_ckpt.c — the SQLite backend's checkpointer: a thread with its own
 * connection that copies the WAL back into the database when it has grown,
 * so the writer never does.
 */
#include "store/sqlite_int.h"
#include "util/clock.h"

#define CHECKPOINT_FRAMES 2000  /* wake the checkpointer when the WAL grew this much */
#define RESTART_FRAMES    16384 /* 64 MiB: insist on starting the WAL over */

/* Called by SQLite on the writer's connection after each commit. */
static int wal_hook(void *arg, sqlite3 *h, const char *dbname, int frames)
{
    (void)h;
    (void)dbname;
    struct sqlite_store *s = arg;
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
        pthread_cond_signal(&s->ckpt_cv); /* no lock needed: a missed wake-up waits 200 ms */
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    pthread_setname_np(pthread_self(), "db-checkpoint");
    struct sqlite_store *s = arg;
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stop) {
        struct timespec ts = clock_deadline(200);
        pthread_cond_timedwait(&s->ckpt_cv, &s->ckpt_mu, &ts);
        if (s->ckpt_stop)
            break;
        int frames = s->wal_frames;
        if (frames == atomic_load_explicit(&s->ckpt_frames, memory_order_relaxed))
            continue; /* nothing new since the last one */
        pthread_mutex_unlock(&s->ckpt_mu);
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
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

void sqlite_ckpt_start(struct store *base)
{
    struct sqlite_store *s = SQ_STORE(base);
    if (sqlite3_open_v2(base->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        sqlite_vfs_for(s)) != SQLITE_OK) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return; /* SQLite's own auto-checkpoint stays on */
    }
    sqlite3_busy_timeout(s->ckpt_db, 100);
    sqlite_exec_simple(s->ckpt_db, "PRAGMA synchronous=FULL;");
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    if (pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) != 0) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        pthread_mutex_destroy(&s->ckpt_mu);
        pthread_cond_destroy(&s->ckpt_cv);
        return;
    }
    s->ckpt_started = true;
    sqlite3 *wh = SQ_DB(base->wdb[0])->h;
    sqlite_exec_simple(wh, "PRAGMA wal_autocheckpoint=0;");
    sqlite3_wal_hook(wh, wal_hook, s);
}

void sqlite_ckpt_stop(struct store *base)
{
    struct sqlite_store *s = SQ_STORE(base);
    if (!s->ckpt_started)
        return;
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = true;
    pthread_cond_broadcast(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt_thread, NULL);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cv);
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
    s->ckpt_started = false;
}
