/* Unit tests for domain rules that need no server: pricing and rounding,
 * cards, addresses, the order state machine. */
#include <criterion/criterion.h>
#include <string.h>

#include "shop/address.h"
#include "shop/config.h"
#include "shop/order.h"
#include "shop/payment.h"
#include "shop/pricing.h"

static struct pricing *make_pricing(const char *tax, const char *shipping)
{
    struct shop_config cfg = {.free_shipping_cents = 3500,
                              .shipping_rates = shipping ? shipping : "standard=499+100,express=1499+200",
                              .tax_rates = tax};
    struct problem pb = {0};
    struct pricing *p = pricing_new(&cfg, &pb);
    cr_assert_not_null(p, "%s", pb.detail);
    return p;
}

Test(pricing, shipping_by_weight_method_and_threshold)
{
    struct pricing *p = make_pricing(NULL, NULL);
    cr_assert_eq(pricing_shipping(p, SHIP_STANDARD, 900, 1000), 499);
    cr_assert_eq(pricing_shipping(p, SHIP_STANDARD, 1000, 1000), 499);
    cr_assert_eq(pricing_shipping(p, SHIP_STANDARD, 1001, 1000), 599, "a started kilogram counts");
    cr_assert_eq(pricing_shipping(p, SHIP_EXPRESS, 2500, 1000), 1499 + 400);
    cr_assert_eq(pricing_shipping(p, SHIP_STANDARD, 9000, 3500), 0, "free from the threshold");
    cr_assert_eq(pricing_shipping(p, SHIP_EXPRESS, 900, 99999), 1499, "express is never free");
    pricing_free(p);
}

Test(pricing, tax_lookup_falls_back_region_country_default)
{
    struct pricing *p = make_pricing("US-WA=650,US=100,GB=2000,DEFAULT=50", NULL);
    cr_assert_eq(pricing_tax_bp(p, "US", "WA"), 650);
    cr_assert_eq(pricing_tax_bp(p, "US", "wa"), 650, "regions match case-insensitively");
    cr_assert_eq(pricing_tax_bp(p, "US", "OR"), 100);
    cr_assert_eq(pricing_tax_bp(p, "GB", NULL), 2000);
    cr_assert_eq(pricing_tax_bp(p, "JP", NULL), 50);
    pricing_free(p);
}

Test(pricing, refuses_malformed_configuration)
{
    struct shop_config cfg = {.shipping_rates = "standard=499+100", .tax_rates = "US-WA=x"};
    struct problem pb = {0};
    cr_assert_null(pricing_new(&cfg, &pb));
    cr_assert_eq(pb.err, SHOP_INVALID);
    struct problem pb2 = {0};
    cfg = (struct shop_config){.shipping_rates = "boat=1+1"};
    cr_assert_null(pricing_new(&cfg, &pb2));
}

Test(pricing, rounding_half_up_in_integers)
{
    cr_assert_eq(pricing_apply_bp(1000, 650), 65);
    cr_assert_eq(pricing_apply_bp(5198, 650), 338); /* 337.87 */
    cr_assert_eq(pricing_apply_bp(1, 5000), 1);     /* 0.5 rounds up */
    cr_assert_eq(pricing_apply_bp(1, 4999), 0);
    cr_assert_eq(pricing_apply_bp(0, 2000), 0);
}

Test(pricing, allocation_sums_exactly)
{
    int64_t w[] = {1000, 1000, 1000}, parts[3];
    pricing_allocate(100, w, 3, parts);
    cr_assert_eq(parts[0] + parts[1] + parts[2], 100);
    cr_assert(parts[0] >= 33 && parts[0] <= 34);
    int64_t w2[] = {5198, 1, 7}, p2[3];
    pricing_allocate(338, w2, 3, p2);
    cr_assert_eq(p2[0] + p2[1] + p2[2], 338);
    cr_assert_geq(p2[0], 336);
    int64_t zero[] = {0, 0}, p3[2];
    pricing_allocate(7, zero, 2, p3);
    cr_assert_eq(p3[0] + p3[1], 7);
}

Test(payment, luhn)
{
    cr_assert(payment_luhn_valid("4242424242424242"));
    cr_assert(payment_luhn_valid("378282246310005"));
    cr_assert(payment_luhn_valid("4000000000000002"));
    cr_assert_not(payment_luhn_valid("4242424242424241"));
    cr_assert_not(payment_luhn_valid("42424242424242a2"));
    cr_assert_not(payment_luhn_valid(""));
}

Test(payment, expiry_is_the_end_of_the_month)
{
    struct payment_method m = {.exp_month = 11, .exp_year = 2026};
    int64_t nov_30 = 1796083199000; /* 2026-11-30T23:59:59Z */
    int64_t dec_1 = 1796083200000;
    cr_assert_not(payment_method_expired(&m, nov_30));
    cr_assert(payment_method_expired(&m, dec_1));
    m.exp_month = 1;
    m.exp_year = 2027;
    cr_assert_not(payment_method_expired(&m, dec_1));
}

Test(address, countries_and_postal_codes)
{
    cr_assert(address_country_valid("US"));
    cr_assert(address_country_valid("ZW"), "the last code of the table");
    cr_assert(address_country_valid("AD"), "the first");
    cr_assert_not(address_country_valid("XX"));
    cr_assert_not(address_country_valid("us"));
    cr_assert_not(address_country_valid("USA"));
    cr_assert(address_postal_valid("US", "98101"));
    cr_assert(address_postal_valid("US", "98101-1234"));
    cr_assert_not(address_postal_valid("US", "9810"));
    cr_assert(address_postal_valid("GB", "SW1A 1AA"));
    cr_assert(address_postal_valid("CA", "k1a 0b1"));
    cr_assert(address_postal_valid("JP", "100-0001"));
    cr_assert_not(address_postal_valid("DE", "1011"));
    cr_assert(address_postal_valid("NL", "1012 AB"), "other countries: any short code");
}

Test(order, state_machine)
{
    cr_assert(order_transition_allowed(ORDER_PENDING_PAYMENT, ORDER_PAID));
    cr_assert(order_transition_allowed(ORDER_PAID, ORDER_CANCELLED));
    cr_assert(order_transition_allowed(ORDER_FULFILLING, ORDER_PARTIALLY_SHIPPED));
    cr_assert(order_transition_allowed(ORDER_SHIPPED, ORDER_DELIVERED));
    cr_assert_not(order_transition_allowed(ORDER_PAID, ORDER_DELIVERED));
    cr_assert_not(order_transition_allowed(ORDER_SHIPPED, ORDER_CANCELLED));
    cr_assert_not(order_transition_allowed(ORDER_CANCELLED, ORDER_PAID));
    cr_assert_not(order_transition_allowed(ORDER_DELIVERED, ORDER_SHIPPED));
    for (int s = 0; s < ORDER_STATUS_COUNT; s++) {
        cr_assert_eq(order_status_parse(order_status_name((enum order_status)s)), s);
        cr_assert_not(order_transition_allowed((enum order_status)s, (enum order_status)s));
    }
    cr_assert_eq(order_status_parse("lost"), -1);
}
