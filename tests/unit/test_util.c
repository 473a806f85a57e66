/* Unit tests for src/util: clock, buf, arena, jsonx, tokens, problems. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/problem.h"
#include "util/token.h"
#include "util/utf8.h"

/* clock_fmt by the libc road, to check its own arithmetic against. */
static void fmt_reference(int64_t ms, char out[RFC3339_LEN])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, RFC3339_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms % 1000)
        snprintf(out + n, RFC3339_LEN - n, ".%03dZ", (int)(ms % 1000));
    else
        snprintf(out + n, RFC3339_LEN - n, "Z");
}

Test(clock, formats_every_day_as_gmtime_does)
{
    int64_t fixed[] = {0,
                       1,
                       999,
                       1000,
                       86399999,
                       86400000,
                       951782400000LL /* 2000-02-29 */,
                       1700000000123LL,
                       4102444800000LL,
                       253402300799999LL /* 9999-12-31T23:59:59.999Z */};
    char a[RFC3339_LEN], b[RFC3339_LEN];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        fmt_reference(fixed[i], b);
        cr_assert_str_eq(clock_fmt(fixed[i], a), b);
    }
    srand(9);
    for (int i = 0; i < 100000; i++) {
        int64_t ms = ((int64_t)rand() << 31 | rand()) % 253402300800000LL;
        fmt_reference(ms, b);
        cr_assert_str_eq(clock_fmt(ms, a), b, "%lld", (long long)ms);
    }
    /* Outside 1970–9999 it still answers, by the libc road. */
    cr_assert_str_eq(clock_fmt(-1, a), "1969-12-31T23:59:59.999Z");
}

Test(clock, formats_and_parses_rfc3339)
{
    char out[RFC3339_LEN];
    cr_assert_str_eq(clock_fmt(0, out), "1970-01-01T00:00:00Z");
    cr_assert_str_eq(clock_fmt(1795000000123, out), "2026-11-18T11:06:40.123Z");
    int64_t ms;
    cr_assert(clock_parse("2026-11-18T11:06:40.123Z", &ms));
    cr_assert_eq(ms, 1795000000123);
    cr_assert(clock_parse("2026-11-18T13:06:40+02:00", &ms));
    cr_assert_eq(ms, 1795000000000);
    cr_assert(clock_parse("2024-02-29T00:00:00Z", &ms), "leap day");
    cr_assert_not(clock_parse("2023-02-29T00:00:00Z", &ms), "not a leap year");
    cr_assert_not(clock_parse("2026-13-01T00:00:00Z", &ms));
    cr_assert_not(clock_parse("2026-11-18 10:26:40Z", &ms));
    cr_assert_not(clock_parse("2026-11-18T10:26:40", &ms), "an offset is required");
    cr_assert_not(clock_parse("2026-11-18T10:26:40Zjunk", &ms));
    cr_assert_not(clock_parse("", &ms));
}

Test(buf, json_string_escapes_what_json_requires_and_no_more)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert(buf_json_string(&b, "a\"b\\c\nd\te\rf\x01g\x1f \xc3\xa9\x7f"));
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u001f \xc3\xa9\x7f\"");
    json_t *back = json_loads(b.data, JSON_DECODE_ANY, NULL);
    cr_assert_str_eq(json_string_value(back), "a\"b\\c\nd\te\rf\x01g\x1f \xc3\xa9\x7f");
    json_decref(back);
    buf_reset(&b);
    cr_assert(buf_json_string(&b, ""));
    cr_assert_str_eq(b.data, "\"\"");
    buf_free(&b);
    buf_init(&b, 8);
    cr_assert_not(buf_json_string(&b, "longer than eight"), "over the maximum is refused");
    buf_free(&b);
}

Test(buf, refuses_to_grow_past_its_maximum)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert(buf_puts(&b, "12345"));
    cr_assert_not(buf_puts(&b, "6789"), "would be 9 bytes");
    cr_assert_str_eq(b.data, "12345", "unchanged after a refused append");
    cr_assert(buf_printf(&b, "%d", 678));
    cr_assert_eq(b.len, 8);
    cr_assert_not(buf_append(&b, "x", 1));
    buf_free(&b);
}

Test(arena, allocates_aligned_zeroed_memory)
{
    struct arena *a = arena_new();
    for (int i = 1; i < 5000; i += 37) {
        unsigned char *p = arena_alloc(a, (size_t)i);
        cr_assert_eq((uintptr_t)p % 16, 0);
        for (int k = 0; k < i; k++)
            cr_assert_eq(p[k], 0);
        memset(p, 0xAB, (size_t)i);
    }
    char *big = arena_alloc(a, 100000);
    big[99999] = 1;
    cr_assert_str_eq(arena_printf(a, "%s-%d", "x", 42), "x-42");
    cr_assert_null(arena_strdup(a, NULL));
    arena_free(a);
}

/* Arenas made and freed over and over on one thread, as requests do. */
static void *arena_churn(void *arg)
{
    (void)arg;
    for (int round = 0; round < 50; round++) {
        struct arena *a = arena_new();
        for (int i = 0; i < 40; i++) { /* several standard chunks */
            unsigned char *p = arena_alloc(a, 1000);
            for (int k = 0; k < 1000; k++)
                if (p[k] != 0)
                    return (void *)"a reused chunk handed out dirty memory";
            memset(p, 0xCD, 1000);
        }
        arena_free(a);
    }
    return NULL;
}

Test(arena, reuses_freed_chunks_clean_and_frees_them_with_the_thread)
{
    /* On threads that end: their kept chunks must be freed with them (the
     * leak checker of the sanitizer build fails the run otherwise). */
    for (int t = 0; t < 4; t++) {
        pthread_t th;
        void *err = NULL;
        cr_assert_eq(pthread_create(&th, NULL, arena_churn, NULL), 0);
        pthread_join(th, &err);
        cr_assert_null(err, "%s", (const char *)err);
    }
    cr_assert_null(arena_churn(NULL));
}

Test(jsonx, names_every_bad_field)
{
    struct problem pb = {0};
    json_t *o;
    const char *text = "{\"a\": 1, \"b\": \"x\", \"c\": 2.5}";
    cr_assert_eq(jx_parse_object(text, strlen(text), &o, &pb), SHOP_OK);
    const char *s = NULL;
    int64_t i = 0;
    cr_assert_not(jx_str(o, "a", NULL, JX_REQUIRED, 1, 10, &s, &pb));
    cr_assert_not(jx_int(o, "c", NULL, JX_REQUIRED, 0, 10, &i, &pb));
    cr_assert_not(jx_int(o, "missing", NULL, JX_OPTIONAL, 0, 10, &i, &pb));
    cr_assert_not(jx_str(o, "gone", "items[0].gone", JX_REQUIRED, 1, 10, &s, &pb));
    cr_assert(jx_str(o, "b", NULL, JX_REQUIRED, 1, 10, &s, &pb));
    cr_assert_eq(pb.err, SHOP_INVALID);
    cr_assert_eq(pb.nfields, 3);
    cr_assert_str_eq(pb.fields[0].field, "a");
    cr_assert_str_eq(pb.fields[1].field, "c");
    cr_assert_str_eq(pb.fields[2].field, "items[0].gone");
    json_decref(o);
    problem_clear(&pb);
}

Test(jsonx, refuses_malformed_deep_and_duplicate)
{
    struct problem pb = {0};
    json_t *o = NULL;
    cr_assert_eq(jx_parse_object("{", 1, &o, &pb), SHOP_BAD_REQUEST);
    problem_clear(&pb);
    cr_assert_eq(jx_parse_object("{\"a\":1,\"a\":2}", 13, &o, &pb), SHOP_BAD_REQUEST);
    problem_clear(&pb);
    cr_assert_eq(jx_parse_object("[]", 2, &o, &pb), SHOP_BAD_REQUEST);
    problem_clear(&pb);
    char deep[200] = "{\"a\":";
    for (int k = 0; k < 40; k++)
        strcat(deep, "[");
    for (int k = 0; k < 40; k++)
        strcat(deep, "]");
    strcat(deep, "}");
    cr_assert_eq(jx_parse_object(deep, strlen(deep), &o, &pb), SHOP_BAD_REQUEST);
    problem_clear(&pb);
}

Test(jsonx, counts_characters_not_bytes)
{
    struct problem pb = {0};
    json_t *o = json_pack("{s:s}", "t", "ééé");
    const char *s;
    cr_assert(jx_str(o, "t", NULL, JX_REQUIRED, 1, 3, &s, &pb));
    cr_assert_eq(jx_utf8_len("ééé"), 3);
    json_decref(o);
}

Test(jsonx, a_number_out_of_range_is_invalid_not_malformed)
{
    struct problem pb = {0};
    json_t *o = NULL;
    const char *big = "{\"rating\": 99999999999999999999}", *huge = "{\"x\": 1e400}";
    cr_assert_eq(jx_parse_object(big, strlen(big), &o, &pb), SHOP_INVALID);
    cr_assert(strstr(pb.detail, "out of range"), "%s", pb.detail);
    problem_clear(&pb);
    cr_assert_eq(jx_parse_object(huge, strlen(huge), &o, &pb), SHOP_INVALID);
    problem_clear(&pb);
    cr_assert_eq(jx_parse_object("{\"x\": 1", 8, &o, &pb), SHOP_BAD_REQUEST);
    problem_clear(&pb);
    cr_assert_null(o);
}

Test(jsonx, what_may_not_be_empty_may_not_be_blank)
{
    struct problem pb = {0};
    json_t *o = json_pack("{s:s, s:s, s:s}", "blank", " \t\n", "padded", " a ", "spaces", "  ");
    const char *s;
    cr_assert_not(jx_str(o, "blank", NULL, JX_REQUIRED, 1, 10, &s, &pb));
    cr_assert_str_eq(pb.detail, "blank: must not be blank");
    problem_clear(&pb);
    cr_assert(jx_str(o, "padded", NULL, JX_REQUIRED, 1, 10, &s, &pb));
    cr_assert(jx_str(o, "spaces", NULL, JX_OPTIONAL, 0, 10, &s, &pb), "min 0: blank is allowed");
    json_decref(o);
}

Test(token, digests_and_plausibility)
{
    cr_assert(token_init());
    char t[TOKEN_LEN + 1], u[TOKEN_LEN + 1], h1[TOKEN_HASH_LEN + 1], h2[TOKEN_HASH_LEN + 1];
    token_new(t);
    token_new(u);
    cr_assert_eq(strlen(t), TOKEN_LEN);
    cr_assert_str_neq(t, u);
    cr_assert(token_plausible(t));
    cr_assert_not(token_plausible("short"));
    token_hash(t, strlen(t), h1);
    token_hash(t, strlen(t), h2);
    cr_assert_str_eq(h1, h2);
    cr_assert_eq(strlen(h1), TOKEN_HASH_LEN);
}

Test(problem, first_detail_wins_fields_accumulate)
{
    struct problem pb = {0};
    problem_field(&pb, SHOP_INVALID, "a", "bad %d", 1);
    problem_field(&pb, SHOP_INVALID, "b", "worse");
    cr_assert_str_eq(pb.detail, "a: bad 1");
    cr_assert_eq(pb.nfields, 2);
    problem_extra(&pb, "available", json_integer(3));
    problem_clear(&pb);
    cr_assert_eq(pb.err, SHOP_OK);
    cr_assert_null(pb.extra);
}

/* ---- utf8 ------------------------------------------------------------------ */

Test(utf8, validates_strictly)
{
    cr_assert(utf8_valid("", 0));
    cr_assert(utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9b\x92", 14));
    cr_assert(!utf8_valid("\xff", 1));
    cr_assert(!utf8_valid("\xc0\x80", 2), "overlong NUL");
    cr_assert(!utf8_valid("\xe0\x80\xaf", 3), "overlong /");
    cr_assert(!utf8_valid("\xed\xa0\x80", 3), "surrogate");
    cr_assert(!utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    cr_assert(!utf8_valid("\xc3", 1), "cut short");
    cr_assert(!utf8_valid("\xe2\x82", 2), "cut short");
}

Test(utf8, scrub_replaces_bad_bytes_and_never_splits_a_character)
{
    char out[32];
    cr_assert_eq(utf8_scrub(out, sizeof out, "/p/\xff\xfe"), 9);
    cr_assert_str_eq(out, "/p/\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq((utf8_scrub(out, sizeof out, "a\xc3\xa9\xc0\x80"), out),
                     "a\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
    /* room for "ab" and two bytes of "\xe2\x82\xac": the euro sign is left out whole */
    char small[5];
    cr_assert_eq(utf8_scrub(small, sizeof small, "ab\xe2\x82\xac"), 2);
    cr_assert_str_eq(small, "ab");
}

Test(problem, detail_quoting_client_bytes_stays_utf8)
{
    struct problem pb = {0};
    problem_set(&pb, SHOP_NOT_FOUND, "no product with id %s", "\xff\xfe");
    cr_assert_str_eq(pb.detail, "no product with id \xef\xbf\xbd\xef\xbf\xbd");
    /* a detail cut by its buffer inside a character */
    char long_text[600];
    memset(long_text, 'x', sizeof long_text);
    for (size_t i = 1; i + 1 < sizeof long_text; i += 2)
        memcpy(long_text + i - 1, "\xc3\xa9", 2);
    long_text[sizeof long_text - 1] = '\0';
    problem_set(&pb, SHOP_INVALID, "x%s", long_text);
    cr_assert(utf8_valid(pb.detail, strlen(pb.detail)));
    problem_field(&pb, SHOP_INVALID, "q\xff", "bad %s", "\xc3");
    cr_assert(utf8_valid(pb.fields[0].field, strlen(pb.fields[0].field)));
    cr_assert_str_eq(pb.fields[0].message, "bad \xef\xbf\xbd");
    problem_clear(&pb);
}
