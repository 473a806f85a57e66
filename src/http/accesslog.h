/* accesslog.h — the JSON-lines access log, one line per request.
 *
 * Lines are buffered per thread and written in blocks (at 32 KiB, and by a
 * flusher every 200 ms), so logging costs no lock on the hot path beyond the
 * thread's own. Destination: a path, "-" (stdout, the default) or "off".
 */
#ifndef SHOP_HTTP_ACCESSLOG_H
#define SHOP_HTTP_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct req;

/** Opens the destination and starts the flusher. False when the path
 *  cannot be opened. */
bool accesslog_open(const char *dest);

/** Appends the line for a finished request. */
void accesslog_write(const struct req *r, const char *method, const char *path, int status,
                     size_t bytes, int64_t dur_ns);

/** Flushes every thread's buffer and stops the flusher. */
void accesslog_close(void);

#endif
