/* Time zones and calendar dates for analytics (util/tz.h): table-driven. */
#include <criterion/criterion.h>

#include "util/tz.h"

Test(tz, parses_only_real_dates)
{
    static const struct {
        const char *s;
        int32_t want; /* 0: refused */
    } cases[] = {
        {"2024-02-29", 20240229}, {"2023-02-29", 0}, {"2024-13-01", 0}, {"2024-04-31", 0},
        {"2024-1-01", 0},         {"24-01-01", 0},   {"2024-01-01x", 0}, {"", 0},
        {"1970-01-01", 19700101}, {"2024-12-31", 20241231},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t got = 0;
        bool ok = tz_parse_date(cases[i].s, &got);
        cr_expect_eq(ok, cases[i].want != 0, "%s", cases[i].s);
        if (ok)
            cr_expect_eq(got, cases[i].want, "%s", cases[i].s);
    }
    cr_expect_eq(tz_ymd_days(20240301) - tz_ymd_days(20240228), 2);
    cr_expect_eq(tz_days_ymd(tz_ymd_days(20000229)), 20000229);
}

Test(tz, local_days_follow_the_zone_and_its_transitions)
{
    struct tz *utc = tz_load("UTC");
    cr_assert_not_null(utc);
    /* 2024-03-10 06:30 UTC */
    int64_t t = (tz_ymd_days(20240310) * 86400 + 6 * 3600 + 1800) * 1000LL;
    cr_expect_eq(tz_local_day(utc, t), 20240310);
    struct tz *ny = tz_load("America/New_York");
    cr_assert_not_null(ny);
    cr_expect_eq(tz_offset(ny, tz_ymd_days(20240115) * 86400), -5 * 3600);
    cr_expect_eq(tz_offset(ny, tz_ymd_days(20240715) * 86400), -4 * 3600, "daylight time");
    cr_expect_eq(tz_local_day(ny, t), 20240310, "01:30 EST");
    cr_expect_eq(tz_local_day(ny, t - 2 * 3600 * 1000LL), 20240309, "23:30 the day before");
    struct tz *kiri = tz_load("Pacific/Kiritimati");
    cr_assert_not_null(kiri);
    cr_expect_eq(tz_local_day(kiri, t + 10 * 3600 * 1000LL), 20240311, "UTC+14");
    cr_expect_null(tz_load("../etc/passwd"));
    cr_expect_null(tz_load("No/Such_Zone"));
    tz_free(utc);
    tz_free(ny);
    tz_free(kiri);
}
