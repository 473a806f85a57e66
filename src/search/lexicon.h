/* lexicon.h — the vocabulary of the index.
 *
 *  - A *term* is a stem ("headphon"). Each has a posting list: the slots of
 *    the documents containing it, ascending, with the term's frequency in
 *    each field. Its document frequency is the list's length.
 *  - A *word* is a folded surface form as written ("headphones"). Each
 *    maps to its term and counts the live documents that contain it. Words
 *    live in a trie, which answers prefix completion (most frequent first)
 *    and typo correction (fewest edits, then most frequent).
 *
 * Ids are dense and permanent (a word or term whose count falls to zero
 * stays, unused). The lexicon is not thread-safe: the index's lock guards it.
 */
#ifndef SHOP_SEARCH_LEXICON_H
#define SHOP_SEARCH_LEXICON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "search/maps.h"

struct text_stemmers;

enum { F_TITLE, F_BRAND, F_CATEGORY, F_DESC, NFIELDS };

struct posting {
    uint32_t slot;
    uint8_t tf[NFIELDS]; /* occurrences per field, capped at 255 */
};

struct term {
    struct posting *p;
    uint32_t n, cap;
};

struct word {
    uint32_t term;
    uint32_t freq : 31; /* live documents containing the word */
    uint32_t stop : 1;  /* a stop word: never posted */
};

/* Trie node: first-child / next-sibling links, byte-labelled. `maxf` is an
 * upper bound of the `freq` of every word below (raised on insert, never
 * lowered), which drives best-first prefix completion. */
struct tnode {
    uint32_t child, sibling;
    uint32_t word; /* id + 1; 0 when no word ends here */
    uint32_t maxf;
    unsigned char ch;
};

struct lexicon {
    struct intern term_ix;
    struct term *terms;
    uint32_t tcap;
    struct intern word_ix;
    struct word *words;
    uint32_t wcap;
    struct tnode *nodes;
    uint32_t nnodes, ncap;
};

void lex_init(struct lexicon *lx);
void lex_free(struct lexicon *lx);

/** The word of a folded token, adding it (and its stem's term) when new. */
uint32_t lex_word_add(struct lexicon *lx, struct text_stemmers *sp, const char *tok, size_t len);

uint32_t lex_word_find(const struct lexicon *lx, const char *tok, size_t len);
uint32_t lex_term_find(const struct lexicon *lx, const char *stem, size_t len);

/** Adds `delta` to a word's document count; with `trie`, raises the bound
 *  of every trie node on its path (skipped during a bulk build, which calls
 *  lex_trie_finish once at the end). */
void lex_word_count(struct lexicon *lx, uint32_t w, int delta, bool trie);

/** Gives back the unused tail of every posting list (after a bulk build:
 *  lists grow by half, so a quarter of their memory was slack). */
void lex_postings_trim(struct lexicon *lx);

/** Recomputes every trie node's bound from its subtree. */
void lex_trie_finish(struct lexicon *lx);

/** Adds a posting for `slot` (kept ascending; appending is O(1)). */
void lex_posting_add(struct term *t, uint32_t slot, const uint8_t tf[NFIELDS]);

/** Removes the posting of `slot`, if any. */
void lex_posting_del(struct term *t, uint32_t slot);

/** The index of the first posting at or after `from` whose slot is ≥
 *  `slot` (galloping search; t->n when none). */
uint32_t lex_posting_seek(const struct term *t, uint32_t from, uint32_t slot);

/** Up to `max` live words (freq > 0) starting with `prefix`, most frequent
 *  first; returns how many were written to `out`. */
int lex_prefix(const struct lexicon *lx, const char *prefix, size_t len, uint32_t *out, int max);

/** The best live word within `maxd` edits of `tok` (Damerau–Levenshtein,
 *  optimal string alignment, counted in bytes): fewest edits, then most
 *  frequent, then alphabetically first. MAP_NONE when there is none;
 *  `*dist` gets the edits. */
uint32_t lex_correct(const struct lexicon *lx, const char *tok, size_t len, int maxd, int *dist);

/** Bytes held (for the memory figure). */
size_t lex_bytes(const struct lexicon *lx);

#endif
