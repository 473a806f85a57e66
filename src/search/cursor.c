/* cursor.c — a page's cursor (query.h: cursor_encode, cursor_decode).
 *
 * A cursor is the sort key of the last hit of a page, so the next page is
 * "keys after this one" (query.c): "<sort>:<k1>:<k2>" in URL-safe base64
 * without padding, where <sort> is one letter per sort order, so that a
 * cursor of one sort given with another is refused (400), not misread.
 * Decoding is bounded (64 characters) and checks every character and both
 * integers' ranges.
 */
#include <stdio.h>
#include <string.h>

#include "search/query.h"
#include "util/arena.h"

static const char sort_code[] = {
    [SEARCH_SORT_RELEVANCE] = 'r',  [SEARCH_SORT_POPULARITY] = 'p', [SEARCH_SORT_PRICE_ASC] = 'a',
    [SEARCH_SORT_PRICE_DESC] = 'd', [SEARCH_SORT_RATING] = 'g',     [SEARCH_SORT_NEWEST] = 'n',
};
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *cursor_encode(struct arena *a, enum search_sort sort, int64_t k1, int64_t k2)
{
    char raw[64];
    int n =
        snprintf(raw, sizeof raw, "%c:%lld:%lld", sort_code[sort], (long long)k1, (long long)k2);
    char *out = arena_alloc(a, (size_t)n * 4 / 3 + 4);
    size_t o = 0;
    for (int i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)raw[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    return out;
}

static bool parse_i64(const char *s, const char *end, int64_t *out)
{
    bool neg = *s == '-';
    if (neg)
        s++;
    if (s == end || end - s > 19)
        return false;
    uint64_t v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

bool cursor_decode(const char *c, enum search_sort sort, int64_t *k1, int64_t *k2)
{
    size_t n = strlen(c);
    if (n < 2 || n > 64 || n % 4 == 1)
        return false;
    char raw[64];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(b64, c[i], 64);
        if (!p || !c[i])
            return false;
        acc = (acc << 6) | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    raw[o] = '\0';
    if (o < 5 || raw[0] != sort_code[sort] || raw[1] != ':')
        return false;
    char *colon = memchr(raw + 2, ':', o - 2);
    return colon && parse_i64(raw + 2, colon, k1) && parse_i64(colon + 1, raw + o, k2);
}
