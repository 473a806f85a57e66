/* The fraud rules' decision (shop/fraud.h): facts in, verdict out. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/clientip.h"
#include "shop/fraud.h"

#define HOUR 3600000LL

static struct fraud_rules rules(void)
{
    return (struct fraud_rules){
        .enabled = true,
        .window_ms = HOUR,
        .user_orders = 5,
        .card_orders = 5,
        .ip_orders = 20,
        .declines = 3,
        .new_account_ms = 24 * HOUR,
        .high_value_cents = 50000,
        .points = {30, 30, 25, 40, 30, 50},
        .hold_score = 50,
        .reject_score = 90,
    };
}

/* An ordinary order: an old account, few orders, matching countries. */
static struct fraud_facts normal(void)
{
    return (struct fraud_facts){.user_orders = 1,
                                .card_orders = 1,
                                .ip_orders = 2,
                                .account_age_ms = 400 * 24 * HOUR,
                                .total_cents = 120000,
                                .billing_country = "US",
                                .ship_country = "US"};
}

static struct fraud_verdict score(const struct fraud_rules *r, const struct fraud_facts *f)
{
    struct fraud_verdict v;
    fraud_score(r, f, &v);
    return v;
}

Test(fraud, a_normal_order_is_approved)
{
    struct fraud_rules r = rules();
    struct fraud_facts f = normal();
    struct fraud_verdict v = score(&r, &f);
    cr_assert_eq(v.decision, FRAUD_APPROVE);
    cr_assert_eq(v.score, 0);
    cr_assert_eq(v.reasons, 0u);
}

Test(fraud, each_rule_fires_on_its_own)
{
    struct fraud_rules r = rules();
    struct fraud_facts f;
    struct fraud_verdict v;

    f = normal(), f.user_orders = 5, v = score(&r, &f);
    cr_assert_eq(v.reasons, 1u << FRAUD_VELOCITY_USER);
    cr_assert_eq(v.score, 30);
    cr_assert_eq(v.decision, FRAUD_APPROVE, "30 points alone stay below the hold score");
    f = normal(), f.user_orders = 4, v = score(&r, &f);
    cr_assert_eq(v.reasons, 0u, "the threshold lets N through");

    f = normal(), f.card_orders = 5, v = score(&r, &f);
    cr_assert_eq(v.reasons, 1u << FRAUD_VELOCITY_CARD);
    f = normal(), f.ip_orders = 20, v = score(&r, &f);
    cr_assert_eq(v.reasons, 1u << FRAUD_VELOCITY_IP);

    f = normal(), f.account_age_ms = 2 * HOUR, v = score(&r, &f);
    cr_assert_eq(v.reasons, 1u << FRAUD_NEW_ACCOUNT_HIGH_VALUE);
    f.total_cents = 49999, v = score(&r, &f);
    cr_assert_eq(v.reasons, 0u, "a new account's small order is fine");

    f = normal(), strcpy(f.billing_country, "GB"), v = score(&r, &f);
    cr_assert_eq(v.reasons, 1u << FRAUD_COUNTRY_MISMATCH);
    f.billing_country[0] = '\0', v = score(&r, &f);
    cr_assert_eq(v.reasons, 0u, "no billing country: nothing to compare");

    f = normal(), f.card_declines = 3, v = score(&r, &f);
    cr_assert_eq(v.reasons, 1u << FRAUD_REPEATED_DECLINES);
    cr_assert_eq(v.decision, FRAUD_HOLD, "50 points hold");
    f = normal(), f.user_declines = 3, v = score(&r, &f);
    cr_assert_eq(v.reasons, 1u << FRAUD_REPEATED_DECLINES);
}

Test(fraud, points_add_up_to_hold_and_reject)
{
    struct fraud_rules r = rules();
    struct fraud_facts f = normal();
    f.user_orders = 9, f.card_orders = 9;
    struct fraud_verdict v = score(&r, &f);
    cr_assert_eq(v.score, 60);
    cr_assert_eq(v.decision, FRAUD_HOLD);
    strcpy(f.billing_country, "DE");
    v = score(&r, &f);
    cr_assert_eq(v.score, 90);
    cr_assert_eq(v.decision, FRAUD_REJECT, "at the reject score, reject");
    char text[FRAUD_REASONS_MAX];
    fraud_reasons_text(v.reasons, text);
    cr_assert_str_eq(text, "[\"velocity_user\",\"velocity_card\",\"country_mismatch\"]");
    fraud_reasons_text((1u << FRAUD_RULE_COUNT) - 1, text);
    cr_assert_eq(text[strlen(text) - 1], ']', "every rule fits");
}

Test(fraud, zero_turns_a_rule_off_and_disabled_approves_everything)
{
    struct fraud_rules r = rules();
    r.user_orders = 0;
    struct fraud_facts f = normal();
    f.user_orders = 1000;
    cr_assert_eq(score(&r, &f).reasons, 0u);
    r = rules();
    r.enabled = false;
    f.card_orders = 1000, f.user_declines = 1000;
    struct fraud_verdict v = score(&r, &f);
    cr_assert_eq(v.decision, FRAUD_APPROVE);
    cr_assert_eq(v.score, 0);
}

Test(clientip, forwarded_for_only_through_trusted_proxies)
{
    struct problem pb = {0};
    struct proxies *p = proxies_parse("127.0.0.1, 10.0.0.0/8,::1", &pb);
    cr_assert_not_null(p);
    char out[48];
    clientip_resolve(p, "192.0.2.7", "198.51.100.1", out, sizeof out);
    cr_assert_str_eq(out, "192.0.2.7", "an untrusted peer's header is ignored");
    clientip_resolve(p, "127.0.0.1", NULL, out, sizeof out);
    cr_assert_str_eq(out, "127.0.0.1");
    clientip_resolve(p, "127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", out, sizeof out);
    cr_assert_str_eq(out, "198.51.100.1", "the right-most address not a proxy");
    clientip_resolve(p, "::1", "2001:db8::5", out, sizeof out);
    cr_assert_str_eq(out, "2001:db8::5");
    clientip_resolve(p, "127.0.0.1", "garbage, 10.0.0.9", out, sizeof out);
    cr_assert_str_eq(out, "10.0.0.9", "a malformed entry stops the walk");
    cr_assert(proxies_trust(p, "10.255.0.1"));
    cr_assert(!proxies_trust(p, "11.0.0.1"));
    proxies_free(p);
    const char *bad[] = {"10.0.0.0/33", "example.com", "1.2.3.4/", "::1/129"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct problem e = {0};
        cr_assert_null(proxies_parse(bad[i], &e), "%s", bad[i]);
        cr_assert_eq(e.err, SHOP_INVALID);
        problem_clear(&e);
    }
    p = proxies_parse("", &pb);
    cr_assert(!proxies_trust(p, "127.0.0.1"), "no proxies: trust nobody");
    proxies_free(p);
}
