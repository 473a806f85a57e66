/* score.h — the arithmetic of recommendations (recs.c, answers.c), pure
 * functions so that unit tests can check them by hand.
 *
 * Time decay is "forward": an event at time t adds w·2^((t − base)/h) where
 * h is the half-life, so weights never need to be decayed in place — the
 * ratio of two products' sums is the ratio of their decayed weights at any
 * moment. When the exponent grows large the engine rebases (multiplies
 * everything by 2^−k and moves base by k half-lives).
 */
#ifndef SHOP_RECS_SCORE_H
#define SHOP_RECS_SCORE_H

#include <stdbool.h>
#include <stdint.h>

/** 2^((t − base)/half_life): an event's weight in forward-decay units. */
double recs_decay(int64_t t_ms, int64_t base_ms, int64_t half_life_ms);

/** P(B|A) = n_ab / n_a over orders containing A (0 when n_a is 0). */
double recs_confidence(double n_ab, double n_a);

/** lift = P(B|A) / P(B) = n_ab · n / (n_a · n_b); 0 when undefined. */
double recs_lift(double n_ab, double n_a, double n_b, double n);

/** Cosine of two co-occurrence counts: n_ab / sqrt(n_a · n_b); 0 when
 *  undefined. */
double recs_cosine(double n_ab, double n_a, double n_b);

/** Event weights for popularity (purchase > add to cart > view). */
double recs_kind_weight(int kind);

/** Diversification: how much a candidate's score is kept when `same`
 *  already-chosen items share its category (0.7^same). */
double recs_diversity_factor(int same);

/** Content similarity of two products in [0, 4]: same category 1, same
 *  brand 1, price closeness (1 at equal prices, 0 at a factor of 4 apart or
 *  more, log scale), and the Jaccard overlap of title terms (sorted, unique
 *  ids). */
double recs_content_score(bool same_category, bool same_brand, int64_t price_a, int64_t price_b,
                          const uint32_t *terms_a, int na, const uint32_t *terms_b, int nb);

#endif
