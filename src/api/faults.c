/* faults.c — the admin hook that arms failures on demand (util/faults.h):
 * POST /v1/admin/faults arms one, GET lists them with their counts, DELETE
 * disarms every one. Only where SHOPD_FAULTS_API=1 (tests): elsewhere every
 * call answers 404, as if the route did not exist.
 */
#include <string.h>

#include "api/handlers.h"
#include "shop/shop.h"
#include "util/faults.h"
#include "util/jsonx.h"

static bool enabled(struct req *r)
{
    if (r->shop->cfg.faults_api)
        return true;
    problem_set(&r->pb, SHOP_NOT_FOUND, "no such resource");
    return false;
}

static json_t *listing(void)
{
    return json_pack("{s:o}", "data", faults_report());
}

enum shop_err api_admin_faults_arm(struct req *r)
{
    json_t *body;
    if (!enabled(r) || req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    const char *point = NULL, *mode = "error", *match = "";
    int64_t nth = 1, times = 1;
    jx_str(body, "point", NULL, JX_REQUIRED, 1, 32, &point, &r->pb);
    jx_int(body, "nth", NULL, JX_OPTIONAL, 1, 1000000000, &nth, &r->pb);
    jx_int(body, "times", NULL, JX_OPTIONAL, 0, 1000000000, &times, &r->pb);
    jx_str(body, "mode", NULL, JX_OPTIONAL, 1, 16, &mode, &r->pb);
    jx_str(body, "match", NULL, JX_OPTIONAL, 0, FAULT_MATCH_MAX - 1, &match, &r->pb);
    int p = point ? faults_point_parse(point) : 0;
    int m = faults_mode_parse(mode);
    if (point && p < 0)
        problem_field(&r->pb, SHOP_INVALID, "point", "is not a fault point");
    if (m < 0)
        problem_field(&r->pb, SHOP_INVALID, "mode", "must be error, timeout, lost, busy or count");
    if (r->pb.err)
        return r->pb.err;
    struct fault_spec f = {.point = (enum fault_point)p, .nth = nth, .times = times,
                           .mode = (enum fault_mode)m};
    memcpy(f.match, match, strlen(match) + 1);
    faults_arm(&f);
    return resp_json(r, 201, listing());
}

enum shop_err api_admin_faults_list(struct req *r)
{
    if (!enabled(r))
        return r->pb.err;
    return resp_json(r, 200, listing());
}

enum shop_err api_admin_faults_clear(struct req *r)
{
    if (!enabled(r))
        return r->pb.err;
    faults_disarm(FP_COUNT);
    return resp_json(r, 200, listing());
}
