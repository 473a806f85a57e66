/* Unit tests for the search answers' JSON (api/search_json.c): escaping,
 * the rating average's two decimals, nulls; checked by parsing with jansson. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>

#include "api/search_api.h"
#include "util/clock.h"

static json_t *render(struct search_result *r, bool text)
{
    size_t len;
    char *s = api_search_render(r, text, &len);
    json_error_t e;
    json_t *v = json_loadb(s, len, 0, &e);
    cr_assert_not_null(v, "%s: %s", e.text, s);
    free(s);
    return v;
}

static double average(int sum, int count)
{
    struct search_item it = {.id = 1,
                             .title = "t",
                             .brand = "b",
                             .currency = "USD",
                             .category_name = "c",
                             .rating_sum = sum,
                             .rating_count = count};
    struct search_result r = {.items = &it, .nitems = 1};
    json_t *v = render(&r, false);
    double a = json_number_value(json_object_get(
        json_object_get(json_array_get(json_object_get(v, "data"), 0), "rating"), "average"));
    json_decref(v);
    return a;
}

Test(search_json, escapes_strings_and_writes_nulls)
{
    struct search_item it = {.id = 7,
                             .title = "Say \"hi\"\\ \n\t\x01 — ünïcode ☕",
                             .brand = "B",
                             .currency = "EUR",
                             .category_id = 3,
                             .category_name = "Cat",
                             .price_cents = 1999,
                             .max_price_cents = 2999,
                             .in_stock = true};
    struct search_result r = {.items = &it, .nitems = 1, .total = 1, .corrected_query = "a \"b\""};
    json_t *v = render(&r, true);
    json_t *d = json_array_get(json_object_get(v, "data"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "title")), it.title);
    cr_assert(json_is_null(json_object_get(d, "image")));
    cr_assert(json_is_null(json_object_get(d, "created_at")));
    cr_assert(json_is_true(json_object_get(d, "in_stock")));
    cr_assert_eq(json_integer_value(json_object_get(d, "max_price_cents")), 2999);
    cr_assert(json_is_null(json_object_get(v, "next_cursor")));
    cr_assert_str_eq(json_string_value(json_object_get(v, "corrected_query")), "a \"b\"");
    cr_assert_null(json_object_get(v, "facets"), "no facets asked");
    json_decref(v);
    r.corrected_query = NULL;
    v = render(&r, false);
    cr_assert_null(json_object_get(v, "corrected_query"), "browse has no corrected_query");
    json_decref(v);
}

Test(search_json, rating_average_has_two_decimals_rounded_half_up)
{
    cr_assert_float_eq(average(0, 0), 0.0, 1e-9);
    cr_assert_float_eq(average(13, 3), 4.33, 1e-9);
    cr_assert_float_eq(average(43, 10), 4.3, 1e-9);
    cr_assert_float_eq(average(8, 2), 4.0, 1e-9);
    cr_assert_float_eq(average(201, 200), 1.01, 1e-9); /* 1.005 → 1.01 */
    cr_assert_float_eq(average(5, 1), 5.0, 1e-9);
}

Test(search_json, facets_and_suggestions)
{
    struct search_value_count brands[] = {{.value = "Sony", .count = 3}};
    struct search_value_count cats[] = {{.value = "Audio", .id = 2, .count = 3}};
    struct search_result r = {.total = 3,
                              .has_facets = true,
                              .brands = brands,
                              .nbrands = 1,
                              .categories = cats,
                              .ncategories = 1,
                              .nprices = 2,
                              .next_cursor = "abc"};
    r.prices[0] = (struct search_price_bucket){0, 1000, 1};
    r.prices[1] = (struct search_price_bucket){250000, -1, 2};
    for (int i = 0; i < SEARCH_RATING_BUCKETS; i++)
        r.rating_min[i] = 4 - i, r.rating_count[i] = i;
    json_t *v = render(&r, true);
    json_t *f = json_object_get(v, "facets");
    cr_assert_str_eq(json_string_value(json_object_get(v, "next_cursor")), "abc");
    cr_assert_eq(json_integer_value(
                     json_object_get(json_array_get(json_object_get(f, "category"), 0), "value")),
                 2);
    json_t *last = json_array_get(json_object_get(f, "price"), 1);
    cr_assert(json_is_null(json_object_get(last, "to_cents")));
    cr_assert_eq(json_array_size(json_object_get(f, "rating")), 4);
    cr_assert_eq(
        json_integer_value(json_object_get(json_array_get(json_object_get(f, "rating"), 3), "min")),
        1);
    json_decref(v);

    struct search_suggestion s[] = {{"espresso machine", 0}, {"Breville \"Bambino\"", 42}};
    size_t len;
    char *out = api_suggest_render(s, 2, &len);
    json_error_t e;
    v = json_loadb(out, len, 0, &e);
    free(out);
    json_t *list = json_object_get(v, "suggestions");
    cr_assert_eq(json_array_size(list), 2);
    cr_assert_null(json_object_get(json_array_get(list, 0), "product_id"));
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 1), "product_id")), 42);
    json_decref(v);
}
