/* common.h — rendering helpers shared by the API handlers. */
#ifndef SHOP_API_COMMON_H
#define SHOP_API_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/req.h"
#include "shop/account.h"

/** RFC 3339 string for a UTC millisecond time (null for 0). */
json_t *api_time(int64_t ms);

/** The request's Idempotency-Key header (1–255 visible ASCII characters);
 *  false with a 400 problem when absent ("the header is required <why>")
 *  or malformed. */
bool api_idempotency_key(struct req *r, const char *why, const char **key);

/** {id, email, name, role, created_at} */
json_t *api_user_json(const struct user *u);

/** Sets the HttpOnly session cookie the web UI uses (token may be "" to clear). */
void api_session_cookie(struct req *r, const char *token, int64_t max_age_s);

#endif
