/* auth.h — the caller's credentials from the request's head (auth.c). */
#ifndef SHOP_HTTP_AUTH_H
#define SHOP_HTTP_AUTH_H

#include <stdbool.h>

#include "http/req.h"
#include "http/router.h"

/** Resolves the caller into r->who (bearer token, else the session cookie,
 *  plus X-Guest-Token) and checks the route's requirement `need`: SHOP_OK,
 *  or an error with r->pb filled (401 without the needed credentials, 403
 *  with the wrong role or a cookie-authenticated write failing the CSRF
 *  checks). A bad token only matters where credentials are needed. */
enum shop_err http_authenticate(struct req *r, enum auth_need need);

/** A client's X-Request-Id is kept when it is 1..REQ_ID_LEN characters of
 *  [A-Za-z0-9._-]; false otherwise (and for NULL). */
bool http_request_id_valid(const char *given);

#endif
