/* tz.h — a time zone from the system's tz database, without touching the
 * process-wide TZ (localtime_r reads one global zone; the shop's zone must
 * not change how anything else in the process formats time).
 *
 * tz_load reads /usr/share/zoneinfo/<name> (or $TZDIR/<name>): a TZif file,
 * whose 64-bit section lists every transition (UTC second → offset). An
 * instant's offset is the one of the last transition at or before it, found
 * by binary search; before the first, the zone's first standard offset.
 * After the last listed transition the last offset holds (Debian ships the
 * "fat" files, listing transitions up to 2037; the POSIX rule at a file's
 * end is not read).
 */
#ifndef SHOP_UTIL_TZ_H
#define SHOP_UTIL_TZ_H

#include <stdbool.h>
#include <stdint.h>

struct tz;

/** "UTC" (or NULL or "") gives UTC without reading a file. NULL when the
 *  name is malformed or no such zone can be read. */
struct tz *tz_load(const char *name);
void tz_free(struct tz *z);

/** Seconds east of UTC at UTC second `t`. */
int32_t tz_offset(const struct tz *z, int64_t t);

/** The local calendar date of UTC millisecond `ms` as yyyymmdd. */
int32_t tz_local_day(const struct tz *z, int64_t ms);

/** Calendar helpers (proleptic Gregorian). */
int64_t tz_days_from_civil(int y, int m, int d);
void tz_civil_from_days(int64_t z, int *y, int *m, int *d);

/** Parses "YYYY-MM-DD" (a real date) into yyyymmdd; false otherwise. */
bool tz_parse_date(const char *s, int32_t *yyyymmdd);

/** yyyymmdd → days since 1970-01-01, and back. */
int64_t tz_ymd_days(int32_t ymd);
int32_t tz_days_ymd(int64_t days);

#endif
