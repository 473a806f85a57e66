/* promo_calc.c — the arithmetic of promotions (promo.h has the essay): what
 * each kind gives a cart, and how exclusive and stackable ones combine.
 * Pure: no database, no clock; tests/unit/test_promo.c drives it.
 */
#include <stdlib.h>
#include <string.h>

#include "shop/pricing.h"
#include "shop/promo.h"

static const char *const type_names[PROMO_TYPE_COUNT] = {"percentage", "fixed", "buy_x_get_y",
                                                         "free_shipping", "tiered"};

enum promo_type promo_type_parse(const char *s)
{
    for (int t = 0; t < PROMO_TYPE_COUNT; t++)
        if (s && !strcmp(s, type_names[t]))
            return (enum promo_type)t;
    return PROMO_TYPE_COUNT;
}

const char *promo_type_name(enum promo_type t)
{
    return (unsigned)t < PROMO_TYPE_COUNT ? type_names[t] : "unknown";
}

const char *promo_why_text(enum promo_why why)
{
    static const char *const text[PROMO_WHY_COUNT] = {
        [PROMO_APPLIED] = "applied",
        [PROMO_NO_TARGET] = "none of the items in your cart is part of this offer",
        [PROMO_BELOW_MINIMUM] = "the items this offer covers do not reach its minimum subtotal",
        [PROMO_NOT_ENOUGH_UNITS] = "add more of the items this offer covers to get it",
        [PROMO_NO_SHIPPING] = "your cart already ships free",
        [PROMO_NOTHING_LEFT] = "other offers already took the whole price of these items",
        [PROMO_OUTDONE] = "another offer that cannot be combined with it gives you more",
        [PROMO_NOT_STARTED] = "this offer has not started yet",
        [PROMO_ENDED] = "this offer has ended",
        [PROMO_LIMIT_REACHED] = "this offer has reached its usage limit",
        [PROMO_CUSTOMER_LIMIT] = "you have already used this offer as often as it allows",
        [PROMO_CODE_USED] = "this code has already been used",
        [PROMO_SIGN_IN] = "sign in to use this offer",
    };
    return (unsigned)why < PROMO_WHY_COUNT && text[why] ? text[why] : "does not apply";
}

static bool targets(const struct promo_cart *c, const struct promo_rule *r,
                    const struct promo_line *l)
{
    if (r->nproducts == 0 && r->ncategories == 0)
        return true;
    for (int i = 0; i < r->nproducts; i++)
        if (r->product_ids[i] == l->product_id)
            return true;
    for (int i = 0; i < r->ncategories; i++)
        if (c->within ? c->within(c->ctx, l->category_id, r->category_ids[i])
                      : l->category_id == r->category_ids[i])
            return true;
    return false;
}

/* Percentage of each targeted line's price left, rounded down. */
static void percent_off(const int64_t *left, const bool *hit, int n, int bps, int64_t *parts)
{
    for (int i = 0; i < n; i++)
        parts[i] = hit[i] ? (int64_t)((__int128)left[i] * bps / 10000) : 0;
}

/* A fixed amount over the targeted lines (never more than they cost). */
static void amount_off(const int64_t *left, const bool *hit, int n, int64_t amount,
                       int64_t *parts)
{
    int64_t w[PROMO_LINES_MAX], sum = 0;
    for (int i = 0; i < n; i++) {
        w[i] = hit[i] ? left[i] : 0;
        sum += w[i];
    }
    pricing_spread(amount < sum ? amount : sum, w, n, parts);
}

/* Buy X get Y: the cheapest units (by the price per unit left) of the
 * targeted lines are discounted, get of every buy + get. */
static bool bxgy(const struct promo_cart *c, const struct promo_rule *r, const int64_t *left,
                 const bool *hit, int64_t *parts)
{
    int order[PROMO_LINES_MAX], k = 0;
    int64_t units = 0;
    for (int i = 0; i < c->n; i++)
        if (hit[i] && c->lines[i].quantity > 0) {
            order[k++] = i;
            units += c->lines[i].quantity;
        }
    int64_t group = r->buy_quantity + r->get_quantity;
    int64_t free_units = group > 0 ? units / group * r->get_quantity : 0;
    if (free_units == 0)
        return false;
    /* Cheapest first (insertion sort: at most 100 lines); a tie keeps cart order. */
    for (int a = 1; a < k; a++) {
        int x = order[a], b = a;
        while (b > 0) {
            int y = order[b - 1];
            __int128 px = (__int128)left[x] * c->lines[y].quantity;
            __int128 py = (__int128)left[y] * c->lines[x].quantity;
            if (py <= px)
                break;
            order[b] = y;
            b--;
        }
        order[b] = x;
    }
    for (int a = 0; a < k && free_units > 0; a++) {
        int i = order[a];
        int64_t q = c->lines[i].quantity, take = free_units < q ? free_units : q;
        parts[i] = (int64_t)((__int128)left[i] * take * r->get_percent_bps / (q * (__int128)10000));
        free_units -= take;
    }
    return true;
}

/* What rule `r` gives on the prices `left` (and shipping `ship_left`):
 * per line into parts[], shipping into *ship; returns why. */
static enum promo_why evaluate(const struct promo_cart *c, const struct promo_rule *r,
                               const int64_t *left, int64_t ship_left, int64_t *parts,
                               int64_t *ship)
{
    bool hit[PROMO_LINES_MAX];
    int64_t base = 0, left_sum = 0;
    int nhit = 0;
    *ship = 0;
    for (int i = 0; i < c->n; i++) {
        parts[i] = 0;
        hit[i] = c->lines[i].quantity > 0 && targets(c, r, &c->lines[i]);
        if (hit[i]) {
            nhit++;
            base += c->lines[i].unit_price * c->lines[i].quantity;
            left_sum += left[i];
        }
    }
    if (nhit == 0)
        return PROMO_NO_TARGET;
    if (base < r->min_subtotal)
        return PROMO_BELOW_MINIMUM;
    switch (r->type) {
    case PROMO_PERCENTAGE:
        percent_off(left, hit, c->n, r->percent_bps, parts);
        break;
    case PROMO_FIXED:
        amount_off(left, hit, c->n, r->amount, parts);
        break;
    case PROMO_TIERED: {
        const struct promo_tier *t = NULL;
        for (int i = 0; i < r->ntiers; i++)
            if (base >= r->tiers[i].min_subtotal &&
                (!t || r->tiers[i].min_subtotal > t->min_subtotal))
                t = &r->tiers[i];
        if (!t)
            return PROMO_BELOW_MINIMUM;
        if (t->percent_bps > 0)
            percent_off(left, hit, c->n, t->percent_bps, parts);
        else
            amount_off(left, hit, c->n, t->amount, parts);
        break;
    }
    case PROMO_BXGY:
        if (!bxgy(c, r, left, hit, parts))
            return PROMO_NOT_ENOUGH_UNITS;
        break;
    case PROMO_FREE_SHIPPING:
        if (ship_left <= 0)
            return PROMO_NO_SHIPPING;
        *ship = ship_left;
        break;
    default:
        return PROMO_NO_TARGET;
    }
    int64_t goods = 0;
    for (int i = 0; i < c->n; i++)
        goods += parts[i];
    if (r->max_discount > 0 && goods + *ship > r->max_discount) {
        if (*ship > r->max_discount)
            *ship = r->max_discount;
        int64_t room = r->max_discount - *ship, capped[PROMO_LINES_MAX];
        if (goods > room) {
            pricing_spread(room, parts, c->n, capped);
            memcpy(parts, capped, sizeof(int64_t) * (size_t)c->n);
            goods = room;
        }
    }
    if (goods + *ship == 0)
        return left_sum == 0 ? PROMO_NOTHING_LEFT : PROMO_BELOW_MINIMUM;
    return PROMO_APPLIED;
}

/* Takes rule `k`'s parts off what is left, and records it. */
static void take(struct promo_outcome *out, int k, const int64_t *parts, int64_t ship,
                 int64_t *left, int64_t *ship_left, int n)
{
    int64_t goods = 0;
    for (int i = 0; i < n; i++) {
        left[i] -= parts[i];
        out->line_discount[i] += parts[i];
        goods += parts[i];
    }
    *ship_left -= ship;
    out->goods_discount += goods;
    out->shipping_discount += ship;
    out->applied[out->napplied++] = (struct promo_applied){k, goods + ship, ship};
    out->why[k] = PROMO_APPLIED;
}

/* Priority order: higher first, then the older (smaller id). */
static bool before(const struct promo_rule *a, const struct promo_rule *b)
{
    return a->priority != b->priority ? a->priority > b->priority : a->id < b->id;
}

void promo_apply(const struct promo_cart *c, const struct promo_rule *rules, int nrules,
                 struct promo_outcome *out)
{
    enum promo_why preset[PROMO_RULES_MAX];
    if (nrules > PROMO_RULES_MAX)
        nrules = PROMO_RULES_MAX;
    for (int k = 0; k < nrules; k++)
        preset[k] = out->why[k];
    memset(out, 0, sizeof *out);
    int64_t left[PROMO_LINES_MAX], ship_left = c->shipping, parts[PROMO_LINES_MAX], ship;
    for (int i = 0; i < c->n; i++)
        left[i] = c->lines[i].unit_price * c->lines[i].quantity;
    for (int k = 0; k < nrules; k++)
        out->why[k] = preset[k];

    /* 1. The best exclusive one. */
    int best = -1;
    int64_t best_total = 0, best_parts[PROMO_LINES_MAX], best_ship = 0;
    for (int k = 0; k < nrules; k++) {
        if (rules[k].stackable || preset[k] != PROMO_APPLIED)
            continue;
        out->why[k] = evaluate(c, &rules[k], left, ship_left, parts, &ship);
        if (out->why[k] != PROMO_APPLIED)
            continue;
        int64_t total = ship;
        for (int i = 0; i < c->n; i++)
            total += parts[i];
        if (best < 0 || total > best_total ||
            (total == best_total && before(&rules[k], &rules[best]))) {
            if (best >= 0)
                out->why[best] = PROMO_OUTDONE;
            best = k;
            best_total = total;
            best_ship = ship;
            memcpy(best_parts, parts, sizeof(int64_t) * (size_t)c->n);
        } else {
            out->why[k] = PROMO_OUTDONE;
        }
    }
    if (best >= 0)
        take(out, best, best_parts, best_ship, left, &ship_left, c->n);

    /* 2. The stackable ones, in priority order, each on what is left. */
    bool done[PROMO_RULES_MAX] = {false};
    for (;;) {
        int k = -1;
        for (int x = 0; x < nrules; x++)
            if (rules[x].stackable && !done[x] && preset[x] == PROMO_APPLIED &&
                (k < 0 || before(&rules[x], &rules[k])))
                k = x;
        if (k < 0)
            break;
        done[k] = true;
        out->why[k] = evaluate(c, &rules[k], left, ship_left, parts, &ship);
        if (out->why[k] == PROMO_APPLIED)
            take(out, k, parts, ship, left, &ship_left, c->n);
    }
    out->discount = out->goods_discount + out->shipping_discount;
}
