/* buf.h — a growable byte buffer with a maximum size (curl's dynbuf).
 *
 * Appends fail (return false, buffer unchanged) once `max` would be
 * exceeded, so nothing that comes from outside can grow without bound.
 * The content is always NUL-terminated.
 */
#ifndef SHOP_UTIL_BUF_H
#define SHOP_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len, cap, max;
};

/** An empty buffer that will refuse to grow past `max` bytes. */
void buf_init(struct buf *b, size_t max);

/** Appends `n` bytes; false (and no change) when over the maximum. */
bool buf_append(struct buf *b, const void *p, size_t n);
bool buf_puts(struct buf *b, const char *s);
bool buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Appends `s` as a JSON string literal (RFC 8259): quoted, with quotes,
 *  backslashes and control characters escaped and every other byte as it
 *  is (the shop checks UTF-8 where text comes in). False when over the
 *  maximum (the buffer may then hold part of the string). */
bool buf_json_string(struct buf *b, const char *s);

/** Appends `v` in decimal (a JSON number). */
bool buf_json_int(struct buf *b, int64_t v);

/** Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

/** Hands the bytes to the caller (free() them); the buffer is empty after. */
char *buf_steal(struct buf *b, size_t *len);

void buf_free(struct buf *b);

#endif
