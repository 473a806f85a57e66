/* text.c — tokenizer, folding, stop words and the stemmer pool (text.h). */
#include "search/text.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Decodes one code point at *p (strictly: no overlongs, no surrogates, at
 * most U+10FFFF). Returns it and advances *p; returns -1 and advances one
 * byte on invalid input. */
static int32_t utf8_decode(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    unsigned c = p[0];
    if (c < 0x80) {
        *pp = p + 1;
        return (int32_t)c;
    }
    int n;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3, cp = c & 0x07, min = 0x10000;
    } else {
        *pp = p + 1;
        return -1;
    }
    if (end - p <= n) {
        *pp = p + 1;
        return -1;
    }
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *pp = p + 1;
            return -1;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *pp = p + 1;
        return -1;
    }
    *pp = p + n + 1;
    return (int32_t)cp;
}

static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- classification and folding ------------------------------------------- */

enum cls { CLS_SEP, CLS_SKIP, CLS_APOS, CLS_WORD };

/* Latin-1 Supplement and Latin Extended-A letters without their accents. */
static const struct {
    uint16_t lo, hi;
    const char *ascii;
} latin[] = {
    {0xC0, 0xC5, "a"},   {0xC6, 0xC6, "ae"},   {0xC7, 0xC7, "c"},   {0xC8, 0xCB, "e"},
    {0xCC, 0xCF, "i"},   {0xD0, 0xD0, "d"},    {0xD1, 0xD1, "n"},   {0xD2, 0xD6, "o"},
    {0xD8, 0xD8, "o"},   {0xD9, 0xDC, "u"},    {0xDD, 0xDD, "y"},   {0xDE, 0xDE, "th"},
    {0xDF, 0xDF, "ss"},  {0xE0, 0xE5, "a"},    {0xE6, 0xE6, "ae"},  {0xE7, 0xE7, "c"},
    {0xE8, 0xEB, "e"},   {0xEC, 0xEF, "i"},    {0xF0, 0xF0, "d"},   {0xF1, 0xF1, "n"},
    {0xF2, 0xF6, "o"},   {0xF8, 0xF8, "o"},    {0xF9, 0xFC, "u"},   {0xFD, 0xFD, "y"},
    {0xFE, 0xFE, "th"},  {0xFF, 0xFF, "y"},    {0x100, 0x105, "a"}, {0x106, 0x10D, "c"},
    {0x10E, 0x111, "d"}, {0x112, 0x11B, "e"},  {0x11C, 0x123, "g"}, {0x124, 0x127, "h"},
    {0x128, 0x131, "i"}, {0x132, 0x133, "ij"}, {0x134, 0x135, "j"}, {0x136, 0x138, "k"},
    {0x139, 0x142, "l"}, {0x143, 0x14B, "n"},  {0x14C, 0x151, "o"}, {0x152, 0x153, "oe"},
    {0x154, 0x159, "r"}, {0x15A, 0x161, "s"},  {0x162, 0x167, "t"}, {0x168, 0x173, "u"},
    {0x174, 0x175, "w"}, {0x176, 0x178, "y"},  {0x179, 0x17E, "z"}, {0x17F, 0x17F, "s"},
};

/* Classifies a code point; for CLS_WORD writes its folded bytes to `out`
 * (at most 4) and their count to `*n`. */
static enum cls classify(int32_t cp, char out[4], size_t *n)
{
    if (cp < 0)
        return CLS_SEP;
    if (cp < 0x80) {
        if (cp >= 'a' && cp <= 'z') {
            out[0] = (char)cp, *n = 1;
            return CLS_WORD;
        }
        if (cp >= 'A' && cp <= 'Z') {
            out[0] = (char)(cp + 32), *n = 1;
            return CLS_WORD;
        }
        if (cp >= '0' && cp <= '9') {
            out[0] = (char)cp, *n = 1;
            return CLS_WORD;
        }
        return cp == '\'' ? CLS_APOS : CLS_SEP;
    }
    if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7)
        return CLS_SEP;
    if (cp <= 0x17F) {
        for (size_t i = 0; i < sizeof latin / sizeof latin[0]; i++)
            if (cp >= latin[i].lo && cp <= latin[i].hi) {
                *n = strlen(latin[i].ascii);
                memcpy(out, latin[i].ascii, *n);
                return CLS_WORD;
            }
        return CLS_SEP;
    }
    if (cp >= 0x300 && cp <= 0x36F)
        return CLS_SKIP; /* combining diacritics */
    if (cp >= 0x391 && cp <= 0x3A9)
        cp += 0x20; /* Greek capitals */
    else if (cp >= 0x410 && cp <= 0x42F)
        cp += 0x20; /* Cyrillic capitals */
    else if (cp >= 0x400 && cp <= 0x40F)
        cp += 0x50;
    else if (cp == 0x2019 || cp == 0x2018)
        return CLS_APOS;
    else if (cp >= 0x2000 && cp <= 0x2BFF)
        return CLS_SEP; /* punctuation, symbols, arrows, shapes, dingbats */
    else if (cp >= 0x3000 && cp <= 0x303F)
        return CLS_SEP; /* CJK punctuation */
    else if (cp >= 0xFE00 && cp <= 0xFE0F)
        return CLS_SKIP; /* variation selectors */
    else if (cp >= 0xFF01 && cp <= 0xFF5E)
        return classify(cp - 0xFEE0, out, n); /* fullwidth ASCII */
    else if ((cp >= 0xFE10 && cp <= 0xFE6F) || (cp >= 0xFF00 && cp <= 0xFF0F) || cp == 0xFEFF)
        return CLS_SEP;
    else if (cp >= 0x1F000 && cp <= 0x1FAFF)
        return CLS_SEP; /* emoji and pictographs */
    else if (cp >= 0xE000 && cp <= 0xF8FF)
        return CLS_SEP; /* private use */
    *n = utf8_encode((uint32_t)cp, out);
    return CLS_WORD;
}

/* ASCII letters and digits folded; 0 for separators, 1 for the apostrophe. */
static const unsigned char ascii_fold[128] = {
    ['\''] = 1,  ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5',
    ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c',
    ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j',
    ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q',
    ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
    ['y'] = 'y', ['z'] = 'z', ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e',
    ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l',
    ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's',
    ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y', ['Z'] = 'z',
};

void text_iter_init(struct text_iter *it, const char *s, size_t len)
{
    it->p = (const unsigned char *)s;
    it->end = it->p + len;
}

size_t text_next(struct text_iter *it, char out[TEXT_TOKEN_MAX + 1], bool *partial)
{
    size_t len = 0;
    bool full = false;
    char buf[4];
    size_t n;
    if (partial)
        *partial = false;
    while (it->p < it->end) {
        unsigned char b = *it->p;
        if (b < 0x80 && ascii_fold[b] > 1) {
            /* The common case: an ASCII letter or digit. */
            it->p++;
            if (full || len == TEXT_TOKEN_MAX) {
                full = true;
                continue;
            }
            out[len++] = (char)ascii_fold[b];
            continue;
        }
        enum cls c = classify(utf8_decode(&it->p, it->end), buf, &n);
        if (c == CLS_SKIP)
            continue;
        if (c == CLS_APOS && len > 0 && it->p < it->end) {
            /* Joins two letters: men's → mens. Look at what follows. */
            const unsigned char *q = it->p;
            char tmp[4];
            size_t tn;
            if (classify(utf8_decode(&q, it->end), tmp, &tn) == CLS_WORD)
                continue;
        }
        if (c != CLS_WORD) {
            if (len > 0) {
                out[len] = '\0';
                return len;
            }
            continue;
        }
        if (full || len + n > TEXT_TOKEN_MAX) {
            full = true; /* the rest of an over-long word is dropped */
            continue;
        }
        memcpy(out + len, buf, n);
        len += n;
    }
    out[len] = '\0';
    if (partial && len > 0)
        *partial = true;
    return len;
}

/* ---- stop words ------------------------------------------------------------ */

static const char *const stopwords[] = {
    "a",     "an",    "and",  "are",  "as", "at",   "be",   "but",  "by",    "for",
    "from",  "has",   "have", "if",   "in", "into", "is",   "it",   "its",   "no",
    "not",   "of",    "on",   "or",   "so", "such", "that", "the",  "their", "then",
    "there", "these", "they", "this", "to", "was",  "were", "will", "with",
};

bool text_is_stopword(const char *tok, size_t len)
{
    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < sizeof stopwords / sizeof stopwords[0]; i++)
        if (stopwords[i][0] == tok[0] && !strncmp(stopwords[i], tok, len) && !stopwords[i][len])
            return true;
    return false;
}

bool text_has_digit(const char *tok, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (tok[i] >= '0' && tok[i] <= '9')
            return true;
    return false;
}

size_t text_codepoints(const char *tok, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)tok[i] & 0xC0) != 0x80)
            n++;
    return n;
}

size_t text_fold(const char *s, size_t len, char *out, size_t cap)
{
    struct text_iter it;
    char tok[TEXT_TOKEN_MAX + 1];
    size_t n, used = 0;
    if (cap == 0)
        return 0;
    text_iter_init(&it, s, len);
    while ((n = text_next(&it, tok, NULL)) > 0) {
        size_t need = n + (used ? 1 : 0);
        if (used + need + 1 > cap)
            break;
        if (used)
            out[used++] = ' ';
        memcpy(out + used, tok, n);
        used += n;
    }
    out[used] = '\0';
    return used;
}

/* ---- stemmers ------------------------------------------------------------- */

#define STEMMERS 4

struct text_stemmers {
    struct {
        pthread_mutex_t mu;
        struct sb_stemmer *st;
    } slot[STEMMERS];
    atomic_uint next;
};

struct text_stemmers *text_stemmers_new(void)
{
    struct text_stemmers *sp = xcalloc(1, sizeof *sp);
    for (int i = 0; i < STEMMERS; i++) {
        pthread_mutex_init(&sp->slot[i].mu, NULL);
        sp->slot[i].st = sb_stemmer_new("english", NULL);
        if (!sp->slot[i].st) {
            fprintf(stderr, "shopd: libstemmer has no English stemmer\n");
            abort();
        }
    }
    return sp;
}

void text_stemmers_free(struct text_stemmers *sp)
{
    if (!sp)
        return;
    for (int i = 0; i < STEMMERS; i++) {
        sb_stemmer_delete(sp->slot[i].st);
        pthread_mutex_destroy(&sp->slot[i].mu);
    }
    free(sp);
}

size_t text_stem(struct text_stemmers *sp, const char *tok, size_t len,
                 char out[TEXT_TOKEN_MAX + 1])
{
    if (len < 3 || text_has_digit(tok, len)) {
        memcpy(out, tok, len);
        out[len] = '\0';
        return len;
    }
    /* Any free stemmer, else wait for the one this call was dealt. */
    unsigned start = atomic_fetch_add_explicit(&sp->next, 1, memory_order_relaxed) % STEMMERS;
    int k = -1;
    for (int i = 0; i < STEMMERS && k < 0; i++)
        if (pthread_mutex_trylock(&sp->slot[(start + i) % STEMMERS].mu) == 0)
            k = (int)((start + i) % STEMMERS);
    if (k < 0) {
        k = (int)start;
        pthread_mutex_lock(&sp->slot[k].mu);
    }
    const sb_symbol *st = sb_stemmer_stem(sp->slot[k].st, (const sb_symbol *)tok, (int)len);
    size_t n = st ? (size_t)sb_stemmer_length(sp->slot[k].st) : len;
    if (n > TEXT_TOKEN_MAX)
        n = TEXT_TOKEN_MAX;
    memcpy(out, st ? (const char *)st : tok, n);
    out[n] = '\0';
    pthread_mutex_unlock(&sp->slot[k].mu);
    return n;
}
