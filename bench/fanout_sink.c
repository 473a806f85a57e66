/* fanout_sink.c — a minimal HTTP/1.1 webhook receiver for bench/fanout.sh.
 *
 *   fanout_sink PORT COUNTFILE
 *
 * Accepts keep-alive POSTs on 127.0.0.1:PORT with one epoll thread, answers
 * every request "200 OK" at once, and counts notifications (occurrences of
 * {"id": in the bodies). The count is written to COUNTFILE every 50 ms and
 * on SIGTERM. No parsing beyond what framing needs: the point is to measure
 * shopd's sending side, not a receiver.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 1024
#define BUFMAX  (64 * 1024 * 1024)

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
};

static volatile sig_atomic_t stop;
static long long total, requests;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void write_count(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%lld %lld\n", total, requests);
    fclose(f);
    rename(tmp, path);
}

static long long count_ids(const char *p, size_t n)
{
    long long c = 0;
    const char *end = p + n;
    while ((p = memmem(p, (size_t)(end - p), "{\"id\":", 6))) {
        c++;
        p += 6;
    }
    return c;
}

/* Answers every complete request in the buffer; false to close. */
static int serve(struct conn *c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (;;) {
        char *hdr_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!hdr_end)
            return 1;
        size_t hlen = (size_t)(hdr_end - c->buf) + 4;
        size_t body = 0;
        for (char *p = c->buf; p < hdr_end; p++)
            if ((p == c->buf || p[-1] == '\n') && !strncasecmp(p, "content-length:", 15)) {
                body = strtoul(p + 15, NULL, 10);
                break;
            }
        if (c->len < hlen + body)
            return 1;
        total += count_ids(c->buf + hlen, body);
        requests++;
        if (write(c->fd, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1))
            return 0;
        memmove(c->buf, c->buf + hlen + body, c->len - hlen - body);
        c->len -= hlen + body;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fanout_sink PORT COUNTFILE\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 512)) {
        perror("fanout_sink: bind");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[64];
    struct timespec last = {0}, now;
    while (!stop) {
        int n = epoll_wait(ep, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                }
                continue;
            }
            int keep = 1;
            for (;;) {
                if (c->cap - c->len < 65536) {
                    c->cap = c->cap ? c->cap * 2 : 262144;
                    if (c->cap > BUFMAX) {
                        keep = 0;
                        break;
                    }
                    c->buf = realloc(c->buf, c->cap);
                }
                ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (r > 0) {
                    c->len += (size_t)r;
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                keep = 0; /* closed or failed */
                break;
            }
            keep = serve(c) && keep;
            if (!keep) {
                close(c->fd);
                free(c->buf);
                free(c);
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >= 50) {
            write_count(argv[2]);
            last = now;
        }
    }
    write_count(argv[2]);
    return 0;
}
