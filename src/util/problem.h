/* problem.h — the one error enum and the problem detail every layer fills.
 *
 * Every fallible function in shopd returns `enum shop_err` and, on failure,
 * describes what went wrong in a caller-provided `struct problem`. The HTTP
 * layer turns a problem into an RFC 9457 application/problem+json answer with
 * one mapping (http/problem_http.c); nothing else knows status codes.
 */
#ifndef SHOP_UTIL_PROBLEM_H
#define SHOP_UTIL_PROBLEM_H

#include <jansson.h>
#include <stdbool.h>

enum shop_err {
    SHOP_OK = 0,
    SHOP_BAD_REQUEST,     /* malformed input: unparsable JSON, bad header      */
    SHOP_UNAUTHENTICATED, /* no or invalid credentials                         */
    SHOP_PAYMENT,         /* the payment was declined                          */
    SHOP_FORBIDDEN,       /* authenticated, but not allowed                    */
    SHOP_NOT_FOUND,       /* absent, or someone else's                         */
    SHOP_METHOD,          /* path exists, method does not                      */
    SHOP_CONFLICT,        /* state conflict, out of stock, request in flight   */
    SHOP_PRECONDITION,    /* a precondition header did not hold                */
    SHOP_TOO_LARGE,       /* body over the limit                               */
    SHOP_MEDIA_TYPE,      /* body is not JSON                                  */
    SHOP_INVALID,         /* well-formed but semantically invalid              */
    SHOP_RATE_LIMITED,    /* too many requests                                 */
    SHOP_INTERNAL,        /* a bug or a failing dependency                     */
    SHOP_UNAVAILABLE,     /* a dependency is down or we are shedding load      */
    SHOP_REJECTED,        /* the fraud rules refused the order (CHK-5)         */
    SHOP_ERR_COUNT
};

#define PROBLEM_MAX_FIELDS 8

/* Machine-readable `code`s of a 409 refused for want of stock (an
 * extension member; /metrics counts them: shopd_stock_conflicts_total). */
#define PROBLEM_CODE_OUT_OF_STOCK "out_of_stock" /* a cart line or a checkout's lines */
#define PROBLEM_CODE_SOLD_OUT     "sold_out"     /* a flash sale's units */

struct problem_field {
    char field[64];
    char message[160];
};

/** A problem detail. Zero-initialise (`struct problem pb = {0};`). */
struct problem {
    enum shop_err err;
    char detail[256];
    int nfields;
    struct problem_field fields[PROBLEM_MAX_FIELDS];
    int retry_after; /* seconds; > 0 adds a Retry-After header */
    json_t *extra;   /* extension members merged into the body; owned */
};

/** Sets the error and the human-readable detail; returns `err`. */
enum shop_err problem_set(struct problem *pb, enum shop_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Records that `field` is wrong and why; sets `err` (and the detail when
 *  none is set yet). Further fields are appended, up to PROBLEM_MAX_FIELDS.
 *  Returns `err`. */
enum shop_err problem_field(struct problem *pb, enum shop_err err, const char *field,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** Adds an extension member (steals `value`). */
void problem_extra(struct problem *pb, const char *key, json_t *value);

/** Releases what the problem owns and zeroes it. */
void problem_clear(struct problem *pb);

/** Whether `pb` is a 409 refused for want of stock (PROBLEM_CODE_OUT_OF_STOCK
 *  or PROBLEM_CODE_SOLD_OUT). */
bool problem_is_stock_conflict(const struct problem *pb);

/** Short machine name of an error, e.g. "not-found". */
const char *shop_err_name(enum shop_err err);

#endif
