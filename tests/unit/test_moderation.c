/* Unit tests for the moderation rules (shop/moderation.h) and the generic
 * status machine's rule table (shop/status.h). */
#include <criterion/criterion.h>

#include "shop/moderation.h"
#include "shop/status.h"

Test(moderation, profanity_is_a_whole_word_in_any_case)
{
    const char *held[] = {"shit",         "This is SHIT.", "what a (crap) kettle", "Fucking great",
                          "ok\nbastard!", "ass",           "it's bullshit,really", "x-dick-y"};
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
        cr_expect(moderation_has_profanity(held[i]), "should hold: %s", held[i]);
    const char *clean[] = {
        "",         "A classic kettle", "assess the glass", "Scunthorpe", "shitake mushrooms",
        "cocktail", "dickens",          "crappie fishing",  "passion",    "shït",
        "grassy",   "Assistant"};
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++)
        cr_expect(!moderation_has_profanity(clean[i]), "should pass: %s", clean[i]);
}

Test(moderation, links_and_bare_domains)
{
    const char *held[] = {"see http://x",     "HTTPS://EXAMPLE.COM", "www.shop",
                          "go to Www.deal",   "cheap-pills.com",     "visit deals.ru/kettles",
                          "mail me at a.io.", "ftp://files",         "spam.xyz!"};
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
        cr_expect(moderation_has_link(held[i]), "should hold: %s", held[i]);
    const char *clean[] = {"",         "4.5 stars",   "e.g. the lid", "works well. Comfortable",
                           "the end.", "version 2.0", "dot.comet",    ".com alone",
                           "U.S. made"};
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++)
        cr_expect(!moderation_has_link(clean[i]), "should pass: %s", clean[i]);
}

Test(moderation, reasons_combine_and_new_accounts_are_held)
{
    const int64_t hour = 3600 * 1000, now = 1000 * hour;
    const char *texts[2] = {"Title", "Body"};
    cr_expect_eq(moderation_check(texts, 2, now - 25 * hour, now, 24 * hour), 0u);
    cr_expect_eq(moderation_check(texts, 2, now - 23 * hour, now, 24 * hour), MOD_NEW_ACCOUNT);
    cr_expect_eq(moderation_check(texts, 2, now, now, 0), 0u, "0 hours: no account is new");
    const char *bad[2] = {"Crap", "see www.x.com"};
    unsigned why = moderation_check(bad, 2, now - 23 * hour, now, 24 * hour);
    cr_expect_eq(why, MOD_PROFANITY | MOD_LINK | MOD_NEW_ACCOUNT);
    const char *names[4];
    cr_assert_eq(moderation_reasons(why, names), 3);
    cr_expect_str_eq(names[0], "profanity");
    cr_expect_str_eq(names[1], "link");
    cr_expect_str_eq(names[2], "new_account");
    cr_assert_eq(moderation_reasons(MOD_REJECTED_BEFORE, names), 1);
    cr_expect_str_eq(names[0], "rejected_before");
    const char *with_null[2] = {NULL, "fine"};
    cr_expect_eq(moderation_check(with_null, 2, 0, now, 24 * hour), 0u);
}

Test(status, allowed_moves_follow_the_table)
{
    static const char *const names[3] = {"a", "b", "c"};
    static const unsigned allowed[3] = {1u << 1, (1u << 1) | (1u << 2), 0};
    const struct status_machine m = {
        .entity = "thing", .names = names, .count = 3, .allowed = allowed};
    cr_expect(status_allowed(&m, 0, 1));
    cr_expect(!status_allowed(&m, 0, 2));
    cr_expect(status_allowed(&m, 1, 1), "a self-move when listed");
    cr_expect(!status_allowed(&m, 2, 0));
    cr_expect(!status_allowed(&m, -1, 0));
    cr_expect(!status_allowed(&m, 0, 3));
    cr_expect_eq(status_parse(&m, "c"), 2);
    cr_expect_eq(status_parse(&m, "d"), -1);
    cr_expect_eq(status_parse(&m, NULL), -1);
    cr_expect_str_eq(status_name(&m, 7), "unknown");
}
