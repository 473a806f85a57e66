#include "util/utf8.h"

#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    while (n) {
        size_t k = utf8_seq_len(p, n);
        if (!k)
            return false;
        p += k;
        n -= k;
    }
    return true;
}

size_t utf8_scrub(char *dst, size_t cap, const char *src)
{
    static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)src;
    size_t n = strlen(src), out = 0;
    if (cap == 0)
        return 0;
    while (n) {
        size_t k = utf8_seq_len(p, n);
        const char *from = k ? (const char *)p : repl;
        size_t w = k ? k : 3;
        if (out + w >= cap)
            break;
        memmove(dst + out, from, w);
        out += w;
        p += k ? k : 1;
        n -= k ? k : 1;
    }
    dst[out] = '\0';
    return out;
}
