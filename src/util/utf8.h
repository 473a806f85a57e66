/* utf8.h — checking and scrubbing UTF-8 text that came from outside.
 *
 * A client can put any bytes in a path or a query. Whatever quotes them back
 * (a problem's detail, a log line) must stay valid UTF-8, or the JSON encoder
 * refuses the whole document and the client gets no answer at all. The
 * decoder is strict (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF.
 */
#ifndef SHOP_UTIL_UTF8_H
#define SHOP_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/** The length of the valid UTF-8 sequence at s[0..n), or 0 when s[0]
 *  starts no valid sequence (n > 0). */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/** Whether s[0..n) is entirely valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

/** Copies the C string `src` into dst (`cap` > 0 bytes, always terminated),
 *  replacing each byte that starts no valid sequence with U+FFFD and never
 *  cutting a character in two. dst may equal src only if cap is at least
 *  three times strlen(src) + 1. Returns the length written. */
size_t utf8_scrub(char *dst, size_t cap, const char *src);

#endif
