/* shedding.c — GET, PUT /v1/admin/load-shedding (OPS-3; shop/shedding.h). */
#include <string.h>

#include "api/handlers.h"
#include "shop/shedding.h"
#include "shop/shop.h"
#include "util/clock.h"
#include "util/jsonx.h"

static enum shop_err answer(struct req *r)
{
    struct shed_state st;
    shedding_get(r->shop, &st);
    static const char *const names[] = {"normal", "no_recommendations", "lean", "essential"};
    char at[RFC3339_LEN];
    json_t *o = json_pack("{s:i, s:s, s:s, s:{s:f, s:I}, s:s}", "level", st.level, "name",
                          names[st.level], "mode", st.auto_mode ? "auto" : "manual", "signals",
                          "read_p99_ms", st.read_p99_ms, "writer_queue",
                          (json_int_t)st.writer_queue, "scope", st.auto_mode ? "process" : "shop");
    json_object_set_new(o, "changed_at",
                        st.changed_at ? json_string(clock_fmt(st.changed_at, at)) : json_null());
    return resp_json(r, 200, o);
}

enum shop_err api_load_shedding_get(struct req *r)
{
    return answer(r);
}

enum shop_err api_load_shedding_put(struct req *r)
{
    json_t *body;
    struct problem *pb = &r->pb;
    if (req_json(r, &body) != SHOP_OK)
        return pb->err;
    const char *mode = "manual";
    struct shed_state cur;
    shedding_get(r->shop, &cur);
    int64_t level = cur.level;
    if (jx_str(body, "mode", NULL, JX_OPTIONAL, 1, 16, &mode, pb) && strcmp(mode, "manual") &&
        strcmp(mode, "auto"))
        problem_field(pb, SHOP_INVALID, "mode", "must be manual or auto");
    bool is_auto = !strcmp(mode, "auto");
    /* manual needs a level; auto starts from the one given, or the current */
    jx_int(body, "level", NULL, is_auto ? JX_OPTIONAL : JX_REQUIRED, 0, SHED_MAX_LEVEL, &level, pb);
    if (pb->err || shedding_set(r->shop, (int)level, is_auto, pb) != SHOP_OK)
        return pb->err;
    return answer(r);
}
