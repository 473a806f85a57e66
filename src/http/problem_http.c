#include "http/problem_http.h"

#include <stdio.h>

static const struct {
    int status;
    const char *title;
} map[SHOP_ERR_COUNT] = {
    [SHOP_OK] = {200, "OK"},
    [SHOP_BAD_REQUEST] = {400, "Bad Request"},
    [SHOP_UNAUTHENTICATED] = {401, "Unauthorized"},
    [SHOP_PAYMENT] = {402, "Payment Declined"},
    [SHOP_FORBIDDEN] = {403, "Forbidden"},
    [SHOP_NOT_FOUND] = {404, "Not Found"},
    [SHOP_METHOD] = {405, "Method Not Allowed"},
    [SHOP_CONFLICT] = {409, "Conflict"},
    [SHOP_PRECONDITION] = {412, "Precondition Failed"},
    [SHOP_TOO_LARGE] = {413, "Content Too Large"},
    [SHOP_MEDIA_TYPE] = {415, "Unsupported Media Type"},
    [SHOP_INVALID] = {422, "Unprocessable Content"},
    [SHOP_RATE_LIMITED] = {429, "Too Many Requests"},
    [SHOP_INTERNAL] = {500, "Internal Server Error"},
    [SHOP_UNAVAILABLE] = {503, "Service Unavailable"},
    [SHOP_REJECTED] = {422, "Order Rejected"},
};

int problem_status(enum shop_err err)
{
    return (unsigned)err < SHOP_ERR_COUNT && err != SHOP_OK ? map[err].status : 500;
}

json_t *problem_body(const struct problem *pb, const char *request_id)
{
    enum shop_err err = (unsigned)pb->err < SHOP_ERR_COUNT && pb->err ? pb->err : SHOP_INTERNAL;
    char type[96];
    snprintf(type, sizeof type, "https://shopd.dev/problems/%s", shop_err_name(err));
    json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", map[err].title, "status",
                          map[err].status, "detail", pb->detail[0] ? pb->detail : map[err].title);
    json_t *errors = json_array();
    for (int i = 0; i < pb->nfields; i++)
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", pb->fields[i].field,
                                                "message", pb->fields[i].message));
    json_object_set_new(o, "errors", errors);
    if (pb->extra)
        json_object_update_missing(o, pb->extra);
    if (request_id)
        json_object_set_new(o, "request_id", json_string(request_id));
    return o;
}
