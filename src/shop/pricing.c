#include "shop/pricing.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/config.h"
#include "util/xalloc.h"

#define MAX_RATES 128

struct rate {
    char where[12]; /* "US-WA", "GB", "DEFAULT" */
    int bp;
};

struct pricing {
    int64_t base[SHIP_METHOD_COUNT], per_kg[SHIP_METHOD_COUNT];
    int64_t free_from;
    struct rate rates[MAX_RATES];
    int nrates;
};

/* A sensible starting table; SHOPD_TAX_RATES replaces it. */
static const char default_rates[] =
    "US-CA=725,US-NY=400,US-WA=650,US-TX=625,US-FL=600,US-IL=625,US-MA=625,US-NJ=663,"
    "CA=500,CA-ON=1300,CA-QC=1498,CA-BC=1200,GB=2000,DE=1900,FR=2000,IT=2200,ES=2100,"
    "NL=2100,IE=2300,IN=1800,AU=1000,NZ=1500,JP=1000,DEFAULT=0";

static const char *const method_names[SHIP_METHOD_COUNT] = {"standard", "express"};

enum ship_method pricing_method_parse(const char *name)
{
    for (int m = 0; m < SHIP_METHOD_COUNT; m++)
        if (name && !strcmp(name, method_names[m]))
            return (enum ship_method)m;
    return SHIP_METHOD_COUNT;
}

const char *pricing_method_name(enum ship_method m)
{
    return (unsigned)m < SHIP_METHOD_COUNT ? method_names[m] : "standard";
}

static bool parse_rates(struct pricing *p, const char *spec, struct problem *pb)
{
    p->nrates = 0;
    for (const char *s = spec; *s;) {
        size_t n = strcspn(s, ",");
        char item[40];
        if (n >= sizeof item || p->nrates == MAX_RATES)
            goto bad;
        memcpy(item, s, n);
        item[n] = '\0';
        char *eq = strchr(item, '=');
        char *end;
        if (!eq || eq == item || eq - item >= 12)
            goto bad;
        *eq = '\0';
        long bp = strtol(eq + 1, &end, 10);
        if (*end || end == eq + 1 || bp < 0 || bp > 10000)
            goto bad;
        struct rate *r = &p->rates[p->nrates++];
        memcpy(r->where, item, (size_t)(eq - item) + 1); /* checked: fits */
        r->bp = (int)bp;
        s += n;
        if (*s == ',')
            s++;
    }
    return true;
bad:
    problem_set(pb, SHOP_INVALID, "SHOPD_TAX_RATES must look like US-WA=650,GB=2000,DEFAULT=0");
    return false;
}

static bool parse_shipping(struct pricing *p, const char *spec, struct problem *pb)
{
    /* standard=499+100,express=1499+200 */
    for (const char *s = spec; *s;) {
        size_t n = strcspn(s, ",");
        char item[48], name[16];
        long long base, per_kg;
        if (n >= sizeof item)
            goto bad;
        memcpy(item, s, n);
        item[n] = '\0';
        if (sscanf(item, "%15[a-z]=%lld+%lld", name, &base, &per_kg) != 3 || base < 0 ||
            per_kg < 0 || base > 10000000 || per_kg > 10000000)
            goto bad;
        enum ship_method m = pricing_method_parse(name);
        if (m == SHIP_METHOD_COUNT)
            goto bad;
        p->base[m] = base;
        p->per_kg[m] = per_kg;
        s += n;
        if (*s == ',')
            s++;
    }
    return true;
bad:
    problem_set(pb, SHOP_INVALID, "SHOPD_SHIPPING must look like standard=499+100,express=1499+200");
    return false;
}

struct pricing *pricing_new(const struct shop_config *cfg, struct problem *pb)
{
    struct pricing *p = xcalloc(1, sizeof *p);
    p->base[SHIP_STANDARD] = 499;
    p->per_kg[SHIP_STANDARD] = 100;
    p->base[SHIP_EXPRESS] = 1499;
    p->per_kg[SHIP_EXPRESS] = 200;
    p->free_from = cfg->free_shipping_cents;
    if (!parse_shipping(p, cfg->shipping_rates ? cfg->shipping_rates : "", pb) ||
        !parse_rates(p, cfg->tax_rates ? cfg->tax_rates : default_rates, pb)) {
        free(p);
        return NULL;
    }
    return p;
}

void pricing_free(struct pricing *p)
{
    free(p);
}

int64_t pricing_shipping(const struct pricing *p, enum ship_method m, int64_t weight_grams,
                         int64_t subtotal_cents)
{
    if (m == SHIP_STANDARD && p->free_from > 0 && subtotal_cents >= p->free_from)
        return 0;
    int64_t extra_kg = weight_grams > 1000 ? (weight_grams - 1000 + 999) / 1000 : 0;
    return p->base[m] + p->per_kg[m] * extra_kg;
}

int pricing_tax_bp(const struct pricing *p, const char *country, const char *region)
{
    char key[12];
    int fallback = 0, by_country = -1;
    for (int i = 0; i < p->nrates; i++)
        if (!strcmp(p->rates[i].where, "DEFAULT"))
            fallback = p->rates[i].bp;
    if (!country)
        return fallback;
    if (region && *region) {
        snprintf(key, sizeof key, "%s-%s", country, region);
        for (char *k = key; *k; k++)
            *k = (char)toupper((unsigned char)*k);
        for (int i = 0; i < p->nrates; i++)
            if (!strcmp(p->rates[i].where, key))
                return p->rates[i].bp;
    }
    for (int i = 0; i < p->nrates; i++)
        if (!strcmp(p->rates[i].where, country))
            by_country = p->rates[i].bp;
    return by_country >= 0 ? by_country : fallback;
}

int64_t pricing_apply_bp(int64_t amount_cents, int bp)
{
    return (amount_cents * bp + 5000) / 10000;
}

void pricing_allocate(int64_t total, const int64_t *weights, int n, int64_t *parts)
{
    int64_t sum = 0, given = 0;
    for (int i = 0; i < n; i++)
        sum += weights[i];
    if (sum <= 0 || n == 0) {
        for (int i = 0; i < n; i++)
            parts[i] = i == 0 ? total : 0;
        return;
    }
    /* Floors first, then one cent each to the largest remainders. */
    int64_t rem[PRICING_ALLOCATE_MAX];
    if (n > PRICING_ALLOCATE_MAX)
        abort();
    for (int i = 0; i < n; i++) {
        parts[i] = total * weights[i] / sum;
        rem[i] = total * weights[i] % sum;
        given += parts[i];
    }
    while (given < total) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (rem[i] > rem[best])
                best = i;
        parts[best]++;
        rem[best] = -1;
        given++;
    }
}

void pricing_spread(int64_t total, const int64_t *weights, int n, int64_t *parts)
{
    __int128 sum = 0;
    int64_t given = 0;
    for (int i = 0; i < n; i++)
        sum += weights[i] > 0 ? weights[i] : 0;
    if (n <= 0)
        return;
    if (n > PRICING_ALLOCATE_MAX)
        abort();
    if (sum <= 0) {
        for (int i = 0; i < n; i++)
            parts[i] = i == 0 ? total : 0;
        return;
    }
    for (int i = 0; i < n; i++) {
        int64_t w = weights[i] > 0 ? weights[i] : 0;
        parts[i] = (int64_t)((__int128)total * w / sum);
        given += parts[i];
    }
    /* The remainder is below n: one cent each to the largest lines. */
    bool took[PRICING_ALLOCATE_MAX] = {false};
    while (given < total) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!took[i] && weights[i] > 0 && (best < 0 || weights[i] > weights[best]))
                best = i;
        if (best < 0) { /* cannot happen: fewer cents left than lines */
            parts[0] += total - given;
            break;
        }
        took[best] = true;
        parts[best]++;
        given++;
    }
}
