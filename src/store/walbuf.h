/* walbuf.h — a SQLite VFS that writes a transaction's WAL frames in one go.
 *
 * SQLite appends each WAL frame with two pwrite calls (a 24-byte header,
 * then the page), so a commit of 50 pages costs 100 system calls on the
 * writer thread, the one thread every order waits for. This VFS wraps the
 * default one and gathers consecutive WAL writes in a buffer that it writes
 * before anything could depend on them: before a sync, a read, a size or
 * truncate of that file, and before the wal-index header is published.
 *
 * Use it only for connections with synchronous=FULL: there every commit
 * syncs the WAL (and so reaches the file, with any error reported) before
 * the commit becomes visible to other connections.
 */
#ifndef SHOPD_STORE_WALBUF_H
#define SHOPD_STORE_WALBUF_H

#define WALBUF_VFS "shopd-walbuf"

/* Registers the VFS under WALBUF_VFS (not as the default). Once per process,
 * after sqlite3_initialize. Returns a SQLite result code. */
int walbuf_register(void);

#endif
