#include "util/jsonx.h"

#include <math.h>
#include <string.h>

static int depth_of(const json_t *v, int limit)
{
    if (limit < 0)
        return 1;
    int deepest = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            int d = depth_of(m, limit - 1);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            int d = depth_of(m, limit - 1);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

enum shop_err jx_parse_object(const char *data, size_t len, json_t **out, struct problem *pb)
{
    json_error_t e;
    if (len == 0)
        return problem_set(pb, SHOP_BAD_REQUEST, "the request body is empty; a JSON object is expected");
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
    if (!v && json_error_code(&e) == json_error_numeric_overflow) /* well-formed, out of range */
        return problem_set(pb, SHOP_INVALID, "the number at line %d column %d is out of range",
                           e.line, e.column);
    if (!v)
        return problem_set(pb, SHOP_BAD_REQUEST, "malformed JSON at line %d column %d: %s", e.line,
                           e.column, e.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return problem_set(pb, SHOP_BAD_REQUEST, "the request body must be a JSON object");
    }
    if (depth_of(v, JX_MAX_DEPTH) > JX_MAX_DEPTH) {
        json_decref(v);
        return problem_set(pb, SHOP_BAD_REQUEST, "JSON nested deeper than %d levels", JX_MAX_DEPTH);
    }
    *out = v;
    return SHOP_OK;
}

size_t jx_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Shared prologue: finds the member; handles absent/null and records a
 * "required" problem. Returns NULL when the caller should return false. */
static json_t *member(json_t *obj, const char *key, const char *field, enum jx_need need,
                      struct problem *pb)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v)) {
        if (need == JX_REQUIRED)
            problem_field(pb, SHOP_INVALID, field ? field : key, "is required");
        return NULL;
    }
    return v;
}

#define NAME (field ? field : key)

bool jx_str(json_t *obj, const char *key, const char *field, enum jx_need need, size_t min,
            size_t max, const char **out, struct problem *pb)
{
    json_t *v = member(obj, key, field, need, pb);
    if (!v)
        return false;
    if (!json_is_string(v)) {
        problem_field(pb, SHOP_INVALID, NAME, "must be a string");
        return false;
    }
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        problem_field(pb, SHOP_INVALID, NAME, "must not contain NUL characters");
        return false;
    }
    size_t n = jx_utf8_len(s);
    if (n < min) {
        if (min == 1)
            problem_field(pb, SHOP_INVALID, NAME, "must not be empty");
        else
            problem_field(pb, SHOP_INVALID, NAME, "must be at least %zu characters", min);
        return false;
    }
    if (min > 0 && !s[strspn(s, " \t\r\n\v\f")]) { /* what may not be empty may not be blank */
        problem_field(pb, SHOP_INVALID, NAME, "must not be blank");
        return false;
    }
    if (n > max) {
        problem_field(pb, SHOP_INVALID, NAME, "must be at most %zu characters", max);
        return false;
    }
    *out = s;
    return true;
}

bool jx_int(json_t *obj, const char *key, const char *field, enum jx_need need, int64_t min,
            int64_t max, int64_t *out, struct problem *pb)
{
    json_t *v = member(obj, key, field, need, pb);
    if (!v)
        return false;
    if (!json_is_integer(v)) {
        problem_field(pb, SHOP_INVALID, NAME, "must be an integer");
        return false;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        problem_field(pb, SHOP_INVALID, NAME, "must be between %lld and %lld", (long long)min,
                      (long long)max);
        return false;
    }
    *out = (int64_t)i;
    return true;
}

bool jx_num(json_t *obj, const char *key, const char *field, enum jx_need need, double min,
            double max, double *out, struct problem *pb)
{
    json_t *v = member(obj, key, field, need, pb);
    if (!v)
        return false;
    if (!json_is_number(v)) {
        problem_field(pb, SHOP_INVALID, NAME, "must be a number");
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max) {
        problem_field(pb, SHOP_INVALID, NAME, "must be between %g and %g", min, max);
        return false;
    }
    *out = d;
    return true;
}

bool jx_bool(json_t *obj, const char *key, const char *field, enum jx_need need, bool *out,
             struct problem *pb)
{
    json_t *v = member(obj, key, field, need, pb);
    if (!v)
        return false;
    if (!json_is_boolean(v)) {
        problem_field(pb, SHOP_INVALID, NAME, "must be true or false");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool jx_array(json_t *obj, const char *key, const char *field, enum jx_need need, size_t max,
              json_t **out, struct problem *pb)
{
    json_t *v = member(obj, key, field, need, pb);
    if (!v)
        return false;
    if (!json_is_array(v)) {
        problem_field(pb, SHOP_INVALID, NAME, "must be an array");
        return false;
    }
    if (json_array_size(v) > max) {
        problem_field(pb, SHOP_INVALID, NAME, "must have at most %zu items", max);
        return false;
    }
    *out = v;
    return true;
}

bool jx_object(json_t *obj, const char *key, const char *field, enum jx_need need, size_t max,
               json_t **out, struct problem *pb)
{
    json_t *v = member(obj, key, field, need, pb);
    if (!v)
        return false;
    if (!json_is_object(v)) {
        problem_field(pb, SHOP_INVALID, NAME, "must be an object");
        return false;
    }
    if (json_object_size(v) > max) {
        problem_field(pb, SHOP_INVALID, NAME, "must have at most %zu members", max);
        return false;
    }
    *out = v;
    return true;
}

char *jx_dump(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    if (len)
        *len = s ? strlen(s) : 0;
    return s;
}
