/* score.c — see score.h. */
#include "recs/score.h"

#include <math.h>

double recs_decay(int64_t t_ms, int64_t base_ms, int64_t half_life_ms)
{
    if (half_life_ms <= 0)
        return 1.0;
    return exp2((double)(t_ms - base_ms) / (double)half_life_ms);
}

double recs_confidence(double n_ab, double n_a)
{
    return n_a > 0 ? n_ab / n_a : 0.0;
}

double recs_lift(double n_ab, double n_a, double n_b, double n)
{
    return n_a > 0 && n_b > 0 ? n_ab * n / (n_a * n_b) : 0.0;
}

double recs_cosine(double n_ab, double n_a, double n_b)
{
    return n_a > 0 && n_b > 0 ? n_ab / sqrt(n_a * n_b) : 0.0;
}

double recs_kind_weight(int kind)
{
    switch (kind) {
    case 3: return 10.0; /* purchase */
    case 2: return 3.0;  /* add to cart */
    default: return 1.0; /* view */
    }
}

double recs_diversity_factor(int same)
{
    double f = 1.0;
    for (int i = 0; i < same; i++)
        f *= 0.7;
    return f;
}

double recs_content_score(bool same_category, bool same_brand, int64_t price_a, int64_t price_b,
                          const uint32_t *terms_a, int na, const uint32_t *terms_b, int nb)
{
    double s = (same_category ? 1.0 : 0.0) + (same_brand ? 1.0 : 0.0);
    if (price_a > 0 && price_b > 0) {
        double d = fabs(log((double)price_a / (double)price_b)) / log(4.0);
        s += d < 1.0 ? 1.0 - d : 0.0;
    }
    int i = 0, j = 0, common = 0;
    while (i < na && j < nb) {
        if (terms_a[i] == terms_b[j]) {
            common++;
            i++;
            j++;
        } else if (terms_a[i] < terms_b[j]) {
            i++;
        } else {
            j++;
        }
    }
    int uni = na + nb - common;
    if (uni > 0)
        s += (double)common / uni;
    return s;
}
