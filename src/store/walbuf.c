/* walbuf.c — the write-gathering VFS of walbuf.h.
 *
 * Invariants
 *  1. Only files opened as WAL files (SQLITE_OPEN_WAL) buffer; every other
 *     file, and every other method, goes straight to the wrapped VFS.
 *  2. A WAL file's buffer holds bytes [off, off + len) not yet written. A
 *     write that continues the buffer, or lands wholly inside it, is copied
 *     there; any other write first writes the buffer out.
 *  3. A file with buffered bytes is its thread's `tl_pending` (at most one
 *     per thread). SQLite publishes a commit to other connections by writing
 *     the wal-index header around an xShmBarrier on the same thread, so the
 *     barrier writes `tl_pending` out first: no connection is ever told of a
 *     frame that is not in the file.
 *  4. xSync, xRead, xTruncate, xFileSize, xFileControl and xClose write the
 *     buffer out before they act, so SQLite never sees the difference.
 *
 * Errors: a buffered write cannot fail; its error surfaces at the next call
 * that writes the buffer out. With synchronous=FULL that is the commit's
 * xSync, so a failed write still fails the commit. xShmBarrier returns
 * nothing, which is why walbuf.h asks for synchronous=FULL.
 */
#include "store/walbuf.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define BUF_CAP (1 << 20) /* 250 frames of 4 KiB: more than most commits */
/* The unix VFS takes writes below 128 KiB only (it masks the length). */
#define WRITE_MAX (64 << 10)

struct wfile {
    sqlite3_file base;  /* methods: `methods` below */
    sqlite3_file *real; /* the wrapped VFS's file, allocated right after us */
    unsigned char *buf; /* WAL files only, allocated on first write */
    sqlite3_int64 off;  /* file offset of buf[0] */
    size_t len;
};

static _Thread_local struct wfile *tl_pending;

#define REAL(f) (((struct wfile *)(f))->real)
#define RM(f)   (REAL(f)->pMethods)

static int flush(struct wfile *w)
{
    if (w->len == 0)
        return SQLITE_OK;
    int rc = SQLITE_OK;
    for (size_t done = 0; done < w->len && rc == SQLITE_OK; done += WRITE_MAX) {
        size_t n = w->len - done < WRITE_MAX ? w->len - done : WRITE_MAX;
        rc =
            w->real->pMethods->xWrite(w->real, w->buf + done, (int)n, w->off + (sqlite3_int64)done);
    }
    w->len = 0;
    if (tl_pending == w)
        tl_pending = NULL;
    return rc;
}

static int flush_file(sqlite3_file *f)
{
    struct wfile *w = (struct wfile *)f;
    return w->buf ? flush(w) : SQLITE_OK;
}

/* ---- file methods -------------------------------------------------------- */

static int f_close(sqlite3_file *f)
{
    struct wfile *w = (struct wfile *)f;
    int rc = flush_file(f);
    int rc2 = RM(f)->xClose(REAL(f));
    free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    int rc = flush_file(f);
    return rc != SQLITE_OK ? rc : RM(f)->xRead(REAL(f), p, n, off);
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct wfile *w = (struct wfile *)f;
    if (!w->buf)
        return RM(f)->xWrite(REAL(f), p, n, off);
    sqlite3_int64 end = w->off + (sqlite3_int64)w->len;
    if (w->len > 0 && off >= w->off && off + n <= end) { /* rewrites a buffered frame */
        memcpy(w->buf + (off - w->off), p, (size_t)n);
        return SQLITE_OK;
    }
    if (w->len > 0 && off == end && w->len + (size_t)n <= BUF_CAP) {
        memcpy(w->buf + w->len, p, (size_t)n);
        w->len += (size_t)n;
        return SQLITE_OK;
    }
    int rc = flush(w);
    if (rc == SQLITE_OK && tl_pending)
        rc = flush(tl_pending); /* another WAL file on this thread */
    if (rc != SQLITE_OK)
        return rc;
    if ((size_t)n > WRITE_MAX)
        return RM(f)->xWrite(REAL(f), p, n, off);
    memcpy(w->buf, p, (size_t)n);
    w->off = off;
    w->len = (size_t)n;
    tl_pending = w;
    return SQLITE_OK;
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush_file(f);
    return rc != SQLITE_OK ? rc : RM(f)->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    int rc = flush_file(f);
    return rc != SQLITE_OK ? rc : RM(f)->xSync(REAL(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush_file(f);
    return rc != SQLITE_OK ? rc : RM(f)->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
    return RM(f)->xLock(REAL(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
    return RM(f)->xUnlock(REAL(f), level);
}

static int f_check_lock(sqlite3_file *f, int *out)
{
    return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush_file(f);
    return rc != SQLITE_OK ? rc : RM(f)->xFileControl(REAL(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
    return RM(f)->xSectorSize(REAL(f));
}

static int f_device(sqlite3_file *f)
{
    return RM(f)->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **p)
{
    return RM(f)->xShmMap(REAL(f), page, size, extend, p);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return RM(f)->xShmLock(REAL(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    if (tl_pending)
        flush(tl_pending); /* invariant 3; an error here resurfaces nowhere */
    RM(f)->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return RM(f)->xShmUnmap(REAL(f), delete_flag);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    int rc = flush_file(f);
    return rc != SQLITE_OK ? rc : RM(f)->xFetch(REAL(f), off, n, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return RM(f)->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods methods = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_check_lock,
    .xFileControl = f_control,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_device,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

/* ---- the VFS ------------------------------------------------------------- */

#define ROOT(v) ((sqlite3_vfs *)(v)->pAppData)

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    struct wfile *w = (struct wfile *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    int rc = ROOT(v)->xOpen(ROOT(v), name, w->real, flags, out);
    /* SQLite closes a file whose open failed only if it has methods. */
    if (!w->real->pMethods)
        return rc;
    if (w->real->pMethods->iVersion < 3) {
        w->real->pMethods->xClose(w->real);
        return SQLITE_CANTOPEN;
    }
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL)) {
        w->buf = malloc(BUF_CAP);
        if (!w->buf) {
            w->real->pMethods->xClose(w->real);
            return SQLITE_NOMEM;
        }
    }
    f->pMethods = &methods;
    return rc;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    return ROOT(v)->xDelete(ROOT(v), name, sync_dir);
}

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return ROOT(v)->xAccess(ROOT(v), name, flags, out);
}

static int v_full_path(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return ROOT(v)->xFullPathname(ROOT(v), name, n, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
    return ROOT(v)->xDlOpen(ROOT(v), name);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    ROOT(v)->xDlError(ROOT(v), n, out);
}

static void (*v_dlsym(sqlite3_vfs *v, void *lib, const char *sym))(void)
{
    return ROOT(v)->xDlSym(ROOT(v), lib, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *lib)
{
    ROOT(v)->xDlClose(ROOT(v), lib);
}

static int v_random(sqlite3_vfs *v, int n, char *out)
{
    return ROOT(v)->xRandomness(ROOT(v), n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
    return ROOT(v)->xSleep(ROOT(v), us);
}

static int v_time(sqlite3_vfs *v, double *out)
{
    return ROOT(v)->xCurrentTime(ROOT(v), out);
}

static int v_last_error(sqlite3_vfs *v, int n, char *out)
{
    return ROOT(v)->xGetLastError(ROOT(v), n, out);
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    return ROOT(v)->xCurrentTimeInt64(ROOT(v), out);
}

int walbuf_register(void)
{
    static sqlite3_vfs vfs;
    sqlite3_vfs *root = sqlite3_vfs_find(NULL);
    if (!root || root->iVersion < 2)
        return SQLITE_ERROR;
    vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wfile) + root->szOsFile,
        .mxPathname = root->mxPathname,
        .zName = WALBUF_VFS,
        .pAppData = root,
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full_path,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_random,
        .xSleep = v_sleep,
        .xCurrentTime = v_time,
        .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = v_time64,
    };
    return sqlite3_vfs_register(&vfs, 0);
}
