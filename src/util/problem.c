#include "util/problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

enum shop_err problem_set(struct problem *pb, enum shop_err err, const char *fmt, ...)
{
    va_list ap;
    char raw[sizeof pb->detail];
    pb->err = err;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* The detail may quote client bytes (a path, a query) and may have been
     * cut inside a character: it must stay UTF-8 for the JSON encoder. */
    utf8_scrub(pb->detail, sizeof pb->detail, raw);
    return err;
}

enum shop_err problem_field(struct problem *pb, enum shop_err err, const char *field,
                            const char *fmt, ...)
{
    va_list ap;
    char raw[sizeof pb->fields[0].message], msg[sizeof raw];
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    utf8_scrub(msg, sizeof msg, raw); /* as in problem_set */
    pb->err = err;
    if (pb->detail[0] == '\0')
        problem_set(pb, err, "%s: %s", field, msg);
    if (pb->nfields < PROBLEM_MAX_FIELDS) {
        struct problem_field *f = &pb->fields[pb->nfields++];
        utf8_scrub(f->field, sizeof f->field, field);
        snprintf(f->message, sizeof f->message, "%s", msg);
    }
    return err;
}

void problem_extra(struct problem *pb, const char *key, json_t *value)
{
    if (!pb->extra)
        pb->extra = json_object();
    json_object_set_new(pb->extra, key, value);
}

void problem_clear(struct problem *pb)
{
    json_decref(pb->extra);
    memset(pb, 0, sizeof *pb);
}

bool problem_is_stock_conflict(const struct problem *pb)
{
    if (pb->err != SHOP_CONFLICT || !pb->extra)
        return false;
    const char *code = json_string_value(json_object_get(pb->extra, "code"));
    return code &&
           (!strcmp(code, PROBLEM_CODE_OUT_OF_STOCK) || !strcmp(code, PROBLEM_CODE_SOLD_OUT));
}

const char *shop_err_name(enum shop_err err)
{
    static const char *const names[SHOP_ERR_COUNT] = {
        [SHOP_OK] = "ok",
        [SHOP_BAD_REQUEST] = "bad-request",
        [SHOP_UNAUTHENTICATED] = "unauthenticated",
        [SHOP_PAYMENT] = "payment-declined",
        [SHOP_FORBIDDEN] = "forbidden",
        [SHOP_NOT_FOUND] = "not-found",
        [SHOP_METHOD] = "method-not-allowed",
        [SHOP_CONFLICT] = "conflict",
        [SHOP_PRECONDITION] = "precondition-failed",
        [SHOP_TOO_LARGE] = "payload-too-large",
        [SHOP_MEDIA_TYPE] = "unsupported-media-type",
        [SHOP_INVALID] = "validation-failed",
        [SHOP_RATE_LIMITED] = "rate-limited",
        [SHOP_INTERNAL] = "internal-error",
        [SHOP_UNAVAILABLE] = "unavailable",
        [SHOP_REJECTED] = "order-rejected",
    };
    return (unsigned)err < SHOP_ERR_COUNT ? names[err] : "unknown";
}
