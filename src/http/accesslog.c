#include "http/accesslog.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/req.h"
#include "http/router.h"
#include "util/clock.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define FLUSH_AT 32768
#define LINE_MAX 2048

struct tbuf {
    pthread_mutex_t mu;
    char data[FLUSH_AT + LINE_MAX];
    size_t len;
    struct tbuf *next;
};

static int log_fd = -1;
static bool log_owned;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tbuf *reg;
static _Thread_local struct tbuf *mine;
static pthread_t flusher;
static atomic_bool flusher_stop;
static bool flusher_running;

static void flush_locked(struct tbuf *t)
{
    size_t off = 0;
    while (off < t->len) {
        ssize_t w = write(log_fd, t->data + off, t->len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    t->len = 0;
}

static void flush_all(void)
{
    pthread_mutex_lock(&reg_mu);
    for (struct tbuf *t = reg; t; t = t->next) {
        pthread_mutex_lock(&t->mu);
        flush_locked(t);
        pthread_mutex_unlock(&t->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

static void *flusher_main(void *arg)
{
    pthread_setname_np(pthread_self(), "access-log");
    (void)arg;
    while (!atomic_load(&flusher_stop)) {
        clock_sleep_ms(200);
        flush_all();
    }
    return NULL;
}

bool accesslog_open(const char *dest)
{
    if (!dest || !strcmp(dest, "-")) {
        log_fd = STDOUT_FILENO;
    } else if (!strcmp(dest, "off")) {
        log_fd = -1;
        return true;
    } else {
        log_fd = open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0)
            return false;
        log_owned = true;
    }
    atomic_store(&flusher_stop, false);
    flusher_running = pthread_create(&flusher, NULL, flusher_main, NULL) == 0;
    return true;
}

/* Appends `s` JSON-escaped (quotes, backslashes, control characters). A
 * byte that is not part of valid UTF-8 is written as the text \xNN (JSON
 * "\\xNN"), so the line stays valid JSON and the raw bytes stay readable. */
static size_t put_escaped(char *out, size_t room, const char *s)
{
    size_t n = 0, left = strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    while (left && n + 7 < room) {
        unsigned char c = *p;
        size_t k = utf8_seq_len(p, left);
        if (k > 1) {
            if (n + k + 7 >= room)
                break;
            memcpy(out + n, p, k);
            n += k;
            p += k;
            left -= k;
            continue;
        }
        if (k == 0)
            n += (size_t)snprintf(out + n, room - n, "\\\\x%02x", c);
        else if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, room - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
        p++;
        left--;
    }
    return n;
}

void accesslog_write(const struct req *r, const char *method, const char *path, int status,
                     size_t bytes, int64_t dur_ns)
{
    if (log_fd < 0)
        return;
    if (!mine) {
        mine = xcalloc(1, sizeof *mine);
        pthread_mutex_init(&mine->mu, NULL);
        pthread_mutex_lock(&reg_mu);
        mine->next = reg;
        reg = mine;
        pthread_mutex_unlock(&reg_mu);
    }
    char line[LINE_MAX];
    char ts[RFC3339_LEN];
    char route[160] = "";
    if (r->route)
        snprintf(route, sizeof route, "%s", r->route->pattern);
    size_t n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"request_id\":\"%s\",\"method\":\"",
                                clock_fmt(clock_now_ms(), ts), r->id);
    n += put_escaped(line + n, sizeof line - n, method);
    n += (size_t)snprintf(line + n, sizeof line - n, "\",\"path\":\"");
    /* Leaves room for the rest of the line: a long path is cut, the line is not. */
    n += put_escaped(line + n, sizeof line - n - 512, path);
    n += (size_t)snprintf(line + n, sizeof line - n,
                          "\",\"route\":\"%s\",\"status\":%d,\"bytes\":%zu,\"duration_us\":%lld,"
                          "\"user_id\":%lld,\"ip\":\"%s\"}\n",
                          route, status, bytes, (long long)(dur_ns / 1000),
                          (long long)r->who.user_id, r->ip);
    if (n >= sizeof line)
        n = sizeof line - 1;
    pthread_mutex_lock(&mine->mu);
    memcpy(mine->data + mine->len, line, n);
    mine->len += n;
    if (mine->len >= FLUSH_AT)
        flush_locked(mine);
    pthread_mutex_unlock(&mine->mu);
}

void accesslog_close(void)
{
    if (flusher_running) {
        atomic_store(&flusher_stop, true);
        pthread_join(flusher, NULL);
        flusher_running = false;
    }
    flush_all();
    pthread_mutex_lock(&reg_mu);
    struct tbuf *t = reg;
    reg = NULL;
    pthread_mutex_unlock(&reg_mu);
    while (t) {
        struct tbuf *next = t->next;
        pthread_mutex_destroy(&t->mu);
        free(t);
        t = next;
    }
    mine = NULL;
    if (log_owned)
        close(log_fd);
    log_fd = -1;
    log_owned = false;
}
