/* Unit tests for the promotions arithmetic (shop/promo.h, promo_calc.c):
 * table-driven — every kind, stacking and exclusivity, rounding, the spread
 * of a fixed amount, buy X get Y over mixed variants, tiers, caps, 100 %.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "shop/pricing.h"
#include "shop/promo.h"
#include "shop/refund.h"

#define MAXR 4
#define MAXL 4

struct row {
    const char *name;
    struct promo_line lines[MAXL];
    int nlines;
    int64_t shipping;
    struct promo_rule rules[MAXR];
    int nrules;
    /* expected */
    int64_t line_discount[MAXL];
    int64_t shipping_discount;
    int napplied;
    int64_t applied[MAXR]; /* rule ids in the order they applied */
};

/* Category 10 has child 11, which has child 12. */
static bool within(void *ctx, int64_t c, int64_t ancestor)
{
    (void)ctx;
    for (; c; c = c == 12 ? 11 : c == 11 ? 10 : 0)
        if (c == ancestor)
            return true;
    return false;
}

static const struct row rows[] = {
    {"15% of 3 × 333 rounds down per line",
     {{1, 1, 333, 3}}, 1, 0,
     {{.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 1500}}, 1,
     {149}, 0, 1, {1}},
    {"percentage per line, each rounded down",
     {{1, 1, 999, 1}, {2, 1, 1, 3}}, 2, 0,
     {{.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 1500}}, 1,
     {149, 0}, 0, 1, {1}},
    {"100% gives exactly the price: total 0, never negative",
     {{1, 1, 1999, 2}, {2, 1, 1, 1}}, 2, 0,
     {{.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 10000}}, 1,
     {3998, 1}, 0, 1, {1}},
    {"fixed above the cart takes the cart, no more",
     {{1, 1, 500, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_FIXED, .amount = 9999}}, 1,
     {500}, 0, 1, {1}},
    {"fixed spread in proportion, remainder to the largest lines",
     {{1, 1, 1000, 1}, {2, 1, 3000, 1}, {3, 1, 3000, 1}}, 3, 0,
     {{.id = 1, .type = PROMO_FIXED, .amount = 1000}}, 1,
     /* 142.9, 428.6, 428.6 → 142 + 428 + 428 = 998; a cent each to the largest */
     {142, 429, 429}, 0, 1, {1}},
    {"fixed on targeted products only",
     {{1, 1, 1000, 1}, {2, 1, 3000, 1}}, 2, 0,
     {{.id = 1, .type = PROMO_FIXED, .amount = 300, .product_ids = {2}, .nproducts = 1}}, 1,
     {0, 300}, 0, 1, {1}},
    {"a category includes its descendants",
     {{1, 12, 1000, 1}, {2, 20, 1000, 1}}, 2, 0,
     {{.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 1000, .category_ids = {10},
       .ncategories = 1}}, 1,
     {100, 0}, 0, 1, {1}},
    {"buy 2 get 1 over mixed variants: the cheapest unit is free",
     {{1, 1, 700, 2}, {1, 1, 500, 1}}, 2, 0,
     {{.id = 1, .type = PROMO_BXGY, .buy_quantity = 2, .get_quantity = 1,
       .get_percent_bps = 10000}}, 1,
     {0, 500}, 0, 1, {1}},
    {"buy 1 get 1 half price: 4 units, the 2 cheapest at 50%",
     {{1, 1, 800, 1}, {2, 1, 300, 2}, {3, 1, 1000, 1}}, 3, 0,
     {{.id = 1, .type = PROMO_BXGY, .buy_quantity = 1, .get_quantity = 1,
       .get_percent_bps = 5000}}, 1,
     {0, 300, 0}, 0, 1, {1}},
    {"buy 2 get 1 with 2 units gives nothing",
     {{1, 1, 700, 2}}, 1, 0,
     {{.id = 1, .type = PROMO_BXGY, .buy_quantity = 2, .get_quantity = 1,
       .get_percent_bps = 10000}}, 1,
     {0}, 0, 0, {0}},
    {"free shipping saves the shipping",
     {{1, 1, 1000, 1}}, 1, 599,
     {{.id = 1, .type = PROMO_FREE_SHIPPING}}, 1,
     {0}, 599, 1, {1}},
    {"free shipping on a cart that ships free gives nothing",
     {{1, 1, 1000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_FREE_SHIPPING}}, 1,
     {0}, 0, 0, {0}},
    {"minimum subtotal not reached",
     {{1, 1, 1000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_FIXED, .amount = 100, .min_subtotal = 1001}}, 1,
     {0}, 0, 0, {0}},
    {"tiers: the highest reached applies (percentage tier)",
     {{1, 1, 6000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_TIERED, .ntiers = 3,
       .tiers = {{1000, 100, 0}, {5000, 0, 1000}, {10000, 2000, 0}}}}, 1,
     {600}, 0, 1, {1}},
    {"tiers: below the first tier gives nothing",
     {{1, 1, 900, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_TIERED, .ntiers = 1, .tiers = {{1000, 100, 0}}}}, 1,
     {0}, 0, 0, {0}},
    {"a cap spreads over the discounted lines",
     {{1, 1, 1000, 1}, {2, 1, 3000, 1}}, 2, 0,
     {{.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 5000, .max_discount = 1001}}, 1,
     {250, 751}, 0, 1, {1}},
    {"exclusive: the largest discount wins, whatever the priority",
     {{1, 1, 1000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_FIXED, .amount = 150, .priority = 9},
      {.id = 2, .type = PROMO_PERCENTAGE, .percent_bps = 2000}}, 2,
     {200}, 0, 1, {2}},
    {"exclusive tie: the higher priority wins",
     {{1, 1, 1000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_FIXED, .amount = 200},
      {.id = 2, .type = PROMO_PERCENTAGE, .percent_bps = 2000, .priority = 5}}, 2,
     {200}, 0, 1, {2}},
    {"stackable after the exclusive winner, on the price left",
     {{1, 1, 1000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 1000, .stackable = true},
      {.id = 2, .type = PROMO_FIXED, .amount = 500}}, 2,
     {550}, 0, 2, {2, 1}},
    {"stackables in priority order, each on what is left",
     {{1, 1, 1000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_FIXED, .amount = 100, .stackable = true, .priority = 1},
      {.id = 2, .type = PROMO_PERCENTAGE, .percent_bps = 5000, .stackable = true,
       .priority = 2}}, 2,
     /* 50% of 1000 = 500 first, then 100: 600 (100 first would give 550) */
     {600}, 0, 2, {2, 1}},
    {"stacked 100% then a fixed amount: nothing left, still 0",
     {{1, 1, 1000, 1}}, 1, 0,
     {{.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 10000, .stackable = true,
       .priority = 2},
      {.id = 2, .type = PROMO_FIXED, .amount = 100, .stackable = true}}, 2,
     {1000}, 0, 1, {1}},
    {"free shipping stacks with a percentage",
     {{1, 1, 1000, 2}}, 1, 499,
     {{.id = 1, .type = PROMO_FREE_SHIPPING, .stackable = true},
      {.id = 2, .type = PROMO_PERCENTAGE, .percent_bps = 1000}}, 2,
     {200}, 499, 2, {2, 1}},
};

static void check_row(const struct row *r)
{
    struct promo_cart c = {.lines = r->lines, .n = r->nlines, .shipping = r->shipping,
                           .within = within};
    struct promo_outcome out;
    memset(&out, 0, sizeof out);
    promo_apply(&c, r->rules, r->nrules, &out);
    int64_t goods = 0;
    for (int i = 0; i < r->nlines; i++) {
        cr_expect_eq(out.line_discount[i], r->line_discount[i], "%s: line %d gives %lld",
                     r->name, i, (long long)out.line_discount[i]);
        cr_expect(out.line_discount[i] >= 0 &&
                      out.line_discount[i] <= r->lines[i].unit_price * r->lines[i].quantity,
                  "%s: a line's discount stays within its price", r->name);
        goods += out.line_discount[i];
    }
    cr_expect_eq(out.goods_discount, goods, "%s", r->name);
    cr_expect_eq(out.shipping_discount, r->shipping_discount, "%s", r->name);
    cr_expect_eq(out.discount, goods + out.shipping_discount, "%s", r->name);
    cr_expect_eq(out.napplied, r->napplied, "%s: %d applied", r->name, out.napplied);
    int64_t sum = 0;
    for (int k = 0; k < out.napplied && k < r->napplied; k++) {
        cr_expect_eq(r->rules[out.applied[k].rule].id, r->applied[k], "%s: order", r->name);
        sum += out.applied[k].discount;
    }
    cr_expect_eq(sum, out.discount, "%s: the promotions' parts add up", r->name);
}

Test(promo, table)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        check_row(&rows[i]);
}

Test(promo, preset_reasons_leave_a_rule_out)
{
    struct promo_line l = {1, 1, 1000, 1};
    struct promo_rule r = {.id = 1, .type = PROMO_PERCENTAGE, .percent_bps = 5000};
    struct promo_cart c = {.lines = &l, .n = 1};
    struct promo_outcome out;
    memset(&out, 0, sizeof out);
    out.why[0] = PROMO_LIMIT_REACHED;
    promo_apply(&c, &r, 1, &out);
    cr_assert_eq(out.discount, 0);
    cr_assert_eq(out.why[0], PROMO_LIMIT_REACHED);
    cr_assert_str_neq(promo_why_text(PROMO_LIMIT_REACHED), "does not apply");
}

Test(promo, codes_normalise_case_insensitively)
{
    char out[PROMO_CODE_MAX + 1];
    cr_assert(promo_code_normalise("summer-Sale_10", out));
    cr_assert_str_eq(out, "SUMMER-SALE_10");
    cr_assert_not(promo_code_normalise("", out));
    cr_assert_not(promo_code_normalise("no spaces", out));
    cr_assert_not(promo_code_normalise("ünï", out));
}

Test(pricing, spread_remainder_to_the_largest_lines)
{
    int64_t w[] = {1000, 3000, 3000}, p[3];
    pricing_spread(1000, w, 3, p);
    cr_assert(p[0] == 142 && p[1] == 429 && p[2] == 429, "%lld %lld %lld", (long long)p[0],
              (long long)p[1], (long long)p[2]);
    int64_t w2[] = {1, 1, 1}, p2[3];
    pricing_spread(2, w2, 3, p2);
    cr_assert(p2[0] == 1 && p2[1] == 1 && p2[2] == 0);
    int64_t w3[] = {5, 0, 7}, p3[3];
    pricing_spread(12, w3, 3, p3);
    cr_assert(p3[0] == 5 && p3[1] == 0 && p3[2] == 7, "never more than a line's weight");
}

Test(refund, line_share_subtracts_the_discount)
{
    /* 3 × 1000 with 301 off and 180 tax: paid 2879. */
    cr_assert_eq(refund_line_share(1000, 3, 301, 180, 0, 3), 3000 - 301 + 180);
    int64_t one = refund_line_share(1000, 3, 301, 180, 0, 1);
    cr_assert_eq(one, 899 + 60, "(2699 / 3) rounded down, plus 60 of tax");
    cr_assert(3 * one <= 2879, "the parts never exceed the whole");
    cr_assert_eq(refund_line_share(1000, 2, 2000, 0, 0, 1), 0, "a free line refunds nothing");
}

Test(refund, line_share_in_pieces_adds_up_to_the_line)
{
    /* 3 × 333 with 65 tax: one unit at a time, the last carries the cents. */
    int64_t sum = 0;
    for (int k = 0; k < 3; k++)
        sum += refund_line_share(333, 3, 0, 65, k, 1);
    cr_assert_eq(sum, 999 + 65);
    cr_assert_eq(refund_line_share(333, 3, 0, 65, 0, 1), 333 + 21);
    cr_assert_eq(refund_line_share(333, 3, 0, 65, 2, 1), 333 + 22);
    /* 2 then 5 of 7, with a discount: still the whole line. */
    cr_assert_eq(refund_line_share(999, 7, 13, 101, 0, 2) +
                     refund_line_share(999, 7, 13, 101, 2, 5),
                 7 * 999 - 13 + 101);
    cr_assert_eq(refund_line_share(333, 3, 0, 65, 3, 1), 0, "nothing is left after the last unit");
    cr_assert_eq(refund_line_share(333, 3, 0, 65, 2, 5), 333 + 22, "never past the line's units");
}
