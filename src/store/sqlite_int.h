/* sqlite_int.h — what the two halves of the SQLite backend share: sqlite.c
 * (connections, statements) and sqlite_ckpt.c (the checkpointer). Nothing
 * outside src/store includes it.
 */
#ifndef SHOPD_STORE_SQLITE_INT_H
#define SHOPD_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/backend.h"
#include "store/stmt_cache.h"

#define MAX_ACTIVE 64

struct sqlite_stmt {
    struct stmt base;
    sqlite3_stmt *h;
};

struct sqlite_db {
    struct db base;
    sqlite3 *h;
    struct stmt_cache cache;
    struct sqlite_stmt *active[MAX_ACTIVE];
    int nactive;
    struct sqlite_db *next;
};

struct sqlite_store {
    struct store base;
    pthread_key_t key; /* this thread's read connection */
    pthread_mutex_t conns_mu;
    struct sqlite_db *conns;

    /* The checkpointer (sqlite_ckpt.c): copies the WAL back into the
     * database on its own connection and thread, so the writer never does.
     * ckpt_mu guards `ckpt_stop` and the condition. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_started, ckpt_stop;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    int wal_frames;                  /* as of the last commit (wal hook) */
    _Atomic int ckpt_frames;         /* WAL size at the last checkpoint */
    _Atomic uint64_t frames_written; /* pages appended to the WAL, ever */
    _Atomic uint64_t checkpoints, restarts;
};

#define SQ_STORE(s) ((struct sqlite_store *)(s))
#define SQ_DB(d)    ((struct sqlite_db *)(d))

/* sqlite.c */
bool sqlite_exec_simple(sqlite3 *h, const char *sql);
const char *sqlite_vfs_for(const struct sqlite_store *s);

/* sqlite_ckpt.c: started with the writer, stopped after it. */
void sqlite_ckpt_start(struct store *s);
void sqlite_ckpt_stop(struct store *s);

#endif
