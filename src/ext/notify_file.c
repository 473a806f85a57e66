/* notify_file.c — the file sink: every notification of a channel as one
 * JSON line in <dir>/<channel>.jsonl (notify_provider.h).
 *
 * It stands in for a real provider in development, tests and benchmarks,
 * and behaves like a good one: a batch is formatted outside the lock and
 * appended with one write(); ids already in the file are not written again.
 * The sender records a hand-over only after it returns, so a crash between
 * the two hands the same items over again after the restart; they are the
 * last lines of the file, and open() remembers the ids in its last
 * `dedup_bytes` (more than the engine ever has in flight) to skip them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext/notify_provider.h"
#include "util/cmp.h"
#include "util/xalloc.h"

#define FILE_BATCH_MAX (256u * 1024 * 1024)

struct file_sink {
    struct notify_provider p;
    pthread_mutex_t mu;
    int fd;
    int64_t *seen; /* sorted ids found in the tail at open */
    size_t nseen;
};

static bool seen_before(const struct file_sink *f, int64_t id)
{
    return f->nseen && bsearch(&id, f->seen, f->nseen, sizeof id, cmp_i64);
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void file_send(struct notify_provider *p, struct notify_item *items, int n)
{
    struct file_sink *f = (struct file_sink *)p;
    struct buf b;
    buf_init(&b, FILE_BATCH_MAX);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        items[i].result = NOTIFY_OK;
        if (seen_before(f, items[i].id))
            continue; /* written before a restart: the file has it */
        ok = notify_item_json(&b, &items[i]) && buf_append(&b, "\n", 1);
    }
    const char *why = "batch too large";
    if (ok) {
        pthread_mutex_lock(&f->mu);
        ok = write_all(f->fd, b.data, b.len);
        pthread_mutex_unlock(&f->mu);
        why = strerror(errno);
    }
    buf_free(&b);
    if (ok)
        return;
    for (int i = 0; i < n; i++) {
        items[i].result = NOTIFY_RETRY;
        snprintf(items[i].error, sizeof items[i].error, "file sink: %s", why);
    }
}

static void file_destroy(struct notify_provider *p)
{
    struct file_sink *f = (struct file_sink *)p;
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
    free(f->seen);
    free(f);
}

/* Reads the ids of the complete lines in the last `bytes` of the file and
 * cuts off a torn last line (a write cut short by a kill). */
static bool load_tail(struct file_sink *f, size_t bytes)
{
    struct stat sb;
    if (fstat(f->fd, &sb) != 0)
        return false;
    off_t size = sb.st_size, from = size > (off_t)bytes ? size - (off_t)bytes : 0;
    size_t len = (size_t)(size - from);
    if (len == 0)
        return true;
    char *text = xmalloc(len + 1);
    ssize_t got = pread(f->fd, text, len, from);
    if (got != (ssize_t)len) {
        free(text);
        return false;
    }
    text[len] = '\0';
    size_t end = len;
    while (end > 0 && text[end - 1] != '\n')
        end--;
    if (end < len && ftruncate(f->fd, from + (off_t)end) != 0) {
        free(text);
        return false;
    }
    size_t cap = 1024;
    f->seen = xmalloc(cap * sizeof *f->seen);
    /* The first line may be cut by the window: start after a newline. */
    size_t i = 0;
    if (from > 0)
        while (i < end && text[i++] != '\n')
            ;
    while (i < end) {
        char *nl = memchr(text + i, '\n', end - i);
        size_t next = (size_t)(nl - text) + 1;
        if (!strncmp(text + i, "{\"id\":", 6)) {
            long long id = strtoll(text + i + 6, NULL, 10);
            if (id > 0) {
                if (f->nseen == cap)
                    f->seen = xrealloc(f->seen, (cap *= 2) * sizeof *f->seen);
                f->seen[f->nseen++] = id;
            }
        }
        i = next;
    }
    free(text);
    qsort(f->seen, f->nseen, sizeof *f->seen, cmp_i64);
    return true;
}

/* Creates `dir` and each missing parent of it (mkdir -p): on PostgreSQL
 * the default is data/notifications, relative to a working directory that
 * may have no data/ yet. */
static bool make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[1024];
    if (!*dir) {
        snprintf(err, errlen, "no notification directory");
        return false;
    }
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "notification directory path too long");
        return false;
    }
    for (char *p = path + 1;; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end)
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return false;
        }
        if (end)
            return true;
        *p = '/';
    }
}

struct notify_provider *notify_file_new(const char *dir, enum notify_channel ch, size_t dedup_bytes,
                                        char *err, size_t errlen)
{
    if (!make_dirs(dir, err, errlen))
        return NULL;
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s.jsonl", dir, notify_channel_name(ch)) >=
        (int)sizeof path) {
        snprintf(err, errlen, "notification directory path too long");
        return NULL;
    }
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct file_sink *f = xcalloc(1, sizeof *f);
    f->p.name = "file";
    f->p.channel = ch;
    f->p.send_batch = file_send;
    f->p.destroy = file_destroy;
    f->fd = fd;
    pthread_mutex_init(&f->mu, NULL);
    if (!load_tail(f, dedup_bytes)) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        file_destroy(&f->p);
        return NULL;
    }
    return &f->p;
}
