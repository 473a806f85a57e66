/* problem_http.h — the one mapping from domain errors to HTTP answers. */
#ifndef SHOP_HTTP_PROBLEM_HTTP_H
#define SHOP_HTTP_PROBLEM_HTTP_H

#include <jansson.h>

#include "util/problem.h"

/** The HTTP status for an error. */
int problem_status(enum shop_err err);

/** The RFC 9457 body for a problem: type, title, status, detail, errors,
 *  the extension members, and the request id. New reference. */
json_t *problem_body(const struct problem *pb, const char *request_id);

#endif
