/* jsonx.h — reading untrusted JSON with limits, naming the bad field.
 *
 * Every getter follows one contract: it returns true when the member was
 * present and valid and stores it in *out; it returns false and leaves *out
 * untouched when the member is absent (or null) and optional; and it returns
 * false after recording a SHOP_INVALID problem naming the member when the
 * member is required but absent, of the wrong type, or out of bounds. So a
 * validator calls every getter, then checks `pb->err` once, and the client
 * hears about every bad field at once.
 */
#ifndef SHOP_UTIL_JSONX_H
#define SHOP_UTIL_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

#define JX_MAX_DEPTH 32

enum jx_need { JX_OPTIONAL, JX_REQUIRED };

/** Parses `len` bytes as a JSON object no deeper than JX_MAX_DEPTH, without
 *  duplicate keys. On failure: SHOP_BAD_REQUEST (malformed, not an object,
 *  too deep) or SHOP_INVALID (well-formed, but a number beyond what a 64-bit
 *  integer or a double holds), *out untouched. On success *out is a new
 *  reference the caller owns. */
enum shop_err jx_parse_object(const char *data, size_t len, json_t **out, struct problem *pb);

/** A string of `min`..`max` Unicode characters; with min > 0 it must also
 *  hold something other than ASCII whitespace ("must not be blank"). `field`
 *  names it in errors (a dotted path such as "variants[2].sku"); NULL means
 *  `key`. */
bool jx_str(json_t *obj, const char *key, const char *field, enum jx_need need, size_t min,
            size_t max, const char **out, struct problem *pb);

/** An integer in [min, max] (JSON numbers with a fraction are refused). */
bool jx_int(json_t *obj, const char *key, const char *field, enum jx_need need, int64_t min,
            int64_t max, int64_t *out, struct problem *pb);

/** A number (integer or real) in [min, max]. */
bool jx_num(json_t *obj, const char *key, const char *field, enum jx_need need, double min,
            double max, double *out, struct problem *pb);

bool jx_bool(json_t *obj, const char *key, const char *field, enum jx_need need, bool *out,
             struct problem *pb);

/** An array of at most `max` items; *out is borrowed. */
bool jx_array(json_t *obj, const char *key, const char *field, enum jx_need need, size_t max,
              json_t **out, struct problem *pb);

/** An object of at most `max` members; *out is borrowed. */
bool jx_object(json_t *obj, const char *key, const char *field, enum jx_need need, size_t max,
               json_t **out, struct problem *pb);

/** Number of Unicode code points in a valid UTF-8 string. */
size_t jx_utf8_len(const char *s);

/** Serialises compactly into a malloc'd string; *len gets its length. */
char *jx_dump(const json_t *v, size_t *len);

#endif
