/* clock.h — time is UTC milliseconds since the epoch, everywhere.
 *
 * On the wire it is RFC 3339 ("2026-11-21T09:30:00Z", milliseconds when not
 * zero); in the database an integer. Monotonic time is for durations only.
 */
#ifndef SHOP_UTIL_CLOCK_H
#define SHOP_UTIL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RFC3339_LEN 32

/** Wall-clock UTC, milliseconds. */
int64_t clock_now_ms(void);

/** Monotonic nanoseconds, for measuring durations. */
int64_t clock_mono_ns(void);

/** Monotonic nanoseconds in the kernel's ticks (a few ms apart), at a
 *  fifth of clock_mono_ns's cost. One difference is 0 or a tick; a sum of
 *  many is right on average: for figures that add up many short spans. */
int64_t clock_coarse_ns(void);

/** Formats `ms` as RFC 3339 UTC into `out` (RFC3339_LEN bytes); returns out. */
char *clock_fmt(int64_t ms, char out[RFC3339_LEN]);

/** Parses an RFC 3339 timestamp (with Z or a ±hh:mm offset, optional
 *  fraction). False when malformed or out of range (years 1970–9999). */
bool clock_parse(const char *s, int64_t *ms);

/** The wall-clock moment `ms` milliseconds from now, as
 *  pthread_cond_timedwait takes its deadline. */
struct timespec clock_deadline(int64_t ms);

/** Sleeps for `ms` milliseconds (restarting on signals). */
void clock_sleep_ms(int64_t ms);

#endif
