/* text.h — turning text into search terms: a UTF-8 tokenizer with case and
 * accent folding, English stop words, and a pool of Snowball stemmers.
 *
 * The same functions cut documents and queries, so whatever a product's text
 * becomes, a query typed the same way becomes too.
 *
 *   "Sony WH-1000XM5 Wireless Headphones, Noise-Cancelling (Black)"
 *     → sony wh 1000xm5 wireless headphones noise cancelling black
 *   "Crème Brûlée Torch — Men's" → creme brulee torch mens
 *
 * Folding: ASCII lower-cased; Latin-1 and Latin Extended-A letters lose
 * their accents (é → e, ß → ss, Æ → ae); Greek and Cyrillic capitals are
 * lower-cased; fullwidth ASCII becomes ASCII; combining marks are dropped.
 * Everything else that is a letter or digit in any script is kept as is;
 * ASCII punctuation, Latin-1 symbols, general punctuation, symbols, arrows,
 * CJK punctuation and emoji separate words. An apostrophe between two letters
 * joins them (men's → mens). Invalid UTF-8 separates words.
 */
#ifndef SHOP_SEARCH_TEXT_H
#define SHOP_SEARCH_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest folded token in bytes; longer ones are cut at a code point. */
#define TEXT_TOKEN_MAX 32

struct text_iter {
    const unsigned char *p, *end;
};

void text_iter_init(struct text_iter *it, const char *s, size_t len);

/** The next folded token, NUL-terminated, into `out`; returns its length in
 *  bytes, or 0 when the text is exhausted. `*partial` (may be NULL) is set
 *  when the token ends the text with no separator after it — the word a
 *  user is still typing. */
size_t text_next(struct text_iter *it, char out[TEXT_TOKEN_MAX + 1], bool *partial);

/** Whether a folded token is an English stop word (not indexed). */
bool text_is_stopword(const char *tok, size_t len);

/** Whether a token contains an ASCII digit (model numbers: never stemmed
 *  nor typo-corrected). */
bool text_has_digit(const char *tok, size_t len);

/** Number of code points in a folded token. */
size_t text_codepoints(const char *tok, size_t len);

/** Folds a whole string into `out` (at most `cap` bytes with the NUL):
 *  tokens joined by one space. Returns the length. Used for brand keys and
 *  cache keys. */
size_t text_fold(const char *s, size_t len, char *out, size_t cap);

/* ---- stemming ------------------------------------------------------------ */

struct text_stemmers;

/** A pool of English Snowball stemmers (a stemmer is not thread-safe; the
 *  pool lets several threads stem at once). Aborts when libstemmer fails. */
struct text_stemmers *text_stemmers_new(void);
void text_stemmers_free(struct text_stemmers *sp);

/** The stem of a folded token into `out`; returns its length. Tokens with
 *  digits or shorter than 3 bytes are their own stem. */
size_t text_stem(struct text_stemmers *sp, const char *tok, size_t len,
                 char out[TEXT_TOKEN_MAX + 1]);

#endif
