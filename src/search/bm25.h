/* bm25.h — the text score's constants and the bound of a posting's score
 * from a document's packed bounds, shared by match.c (scoring, bounds) and
 * derived.c (block bounds). Internal to src/search.
 *
 * A word scores idf × (saturated BM25F tf + TITLE_BONUS if the word is in
 * the title), times the alternative's weight and the document's boost;
 * match.c has the whole rule.
 */
#ifndef SHOP_SEARCH_BM25_H
#define SHOP_SEARCH_BM25_H

#include <stdint.h>

#include "search/index.h"

/* BM25F: field weights, length normalisation, saturation. */
static const float FIELD_W[NFIELDS] = {4.0f, 2.5f, 1.5f, 1.0f};
static const float FIELD_B[NFIELDS] = {0.75f, 0.3f, 0.3f, 0.75f};
#define K1 1.2f
/* Added to a word's saturated score when it is in the title: however many
 * times a word occurs elsewhere, a title that has it is what people mean. */
#define TITLE_BONUS 0.5f

/* The length normalisation 1 / (1 − b + b × length × ia) of field `f` at
 * inverse average length `ia`. */
static inline float bm25_norm_of(int f, uint32_t len, float ia)
{
    return 1.0f / (1.0f - FIELD_B[f] + FIELD_B[f] * (float)len * ia);
}

/* The same at the averages scores use (index.score_ia): from the index's
 * table under NORM_LEN, which holds exactly what bm25_norm_of gives. */
static inline float bm25_norm(const struct index *ix, int f, uint32_t len)
{
    return len < NORM_LEN ? ix->norm[f][len] : bm25_norm_of(f, len, ix->score_ia[f]);
}

/* Saturated BM25F plus the title bonus of a word with frequencies `tf` in a
 * document whose fields have `flen` tokens. Times weight × idf × boost,
 * the word's score. */
static inline float bm25_sat(const struct index *ix, const uint16_t flen[NFIELDS],
                             const uint8_t tf[NFIELDS])
{
    float t = 0;
    for (int f = 0; f < NFIELDS; f++)
        if (tf[f])
            t += FIELD_W[f] * tf[f] * bm25_norm(ix, f, flen[f]);
    return t / (K1 + t) + (tf[F_TITLE] ? TITLE_BONUS : 0.0f);
}

/* An upper bound of bm25_sat × boost for a posting with frequencies `tf`
 * in a document whose packed bounds are `sb` (index.h: derived_sb): every
 * field's length is at least what the bounds say and at least its term
 * frequency (the normalisation only falls as the length grows), the boost
 * at most its class's top. Multiply by weight × idf for the score. */
static inline float bm25_sb_core(const struct index *ix, const uint8_t tf[NFIELDS], uint32_t sb)
{
    uint32_t lt = (sb >> 8) & 255, lc = (sb >> 16) & 255, ld = sb >> 24;
    float t = 0;
    if (tf[F_TITLE])
        t += FIELD_W[F_TITLE] * tf[F_TITLE] *
             bm25_norm(ix, F_TITLE, lt > tf[F_TITLE] ? lt : tf[F_TITLE]);
    if (tf[F_BRAND])
        t += FIELD_W[F_BRAND] * tf[F_BRAND] * bm25_norm(ix, F_BRAND, tf[F_BRAND]);
    if (tf[F_CATEGORY])
        t += FIELD_W[F_CATEGORY] * tf[F_CATEGORY] *
             bm25_norm(ix, F_CATEGORY, lc > tf[F_CATEGORY] ? lc : tf[F_CATEGORY]);
    if (tf[F_DESC])
        t +=
            FIELD_W[F_DESC] * tf[F_DESC] * bm25_norm(ix, F_DESC, ld > tf[F_DESC] ? ld : tf[F_DESC]);
    float boost = 1.0f + (float)(sb & 255) * ((DOC_BOOST_MAX - 1.0f) / 255.0f);
    return (t / (K1 + t) + (tf[F_TITLE] ? TITLE_BONUS : 0.0f)) * boost;
}

#endif
