#include "api/common.h"

#include <stdio.h>
#include <string.h>

#include "shop/checkout.h"
#include "util/clock.h"

json_t *api_time(int64_t ms)
{
    if (!ms)
        return json_null();
    char ts[RFC3339_LEN];
    return json_string(clock_fmt(ms, ts));
}

json_t *api_user_json(const struct user *u)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)u->id, "email", u->email,
                          "name", u->name, "role", role_name(u->role));
    if (u->role == ROLE_SELLER)
        json_object_set_new(o, "trusted", json_boolean(u->trusted));
    json_object_set_new(o, "created_at", api_time(u->created_at));
    return o;
}

void api_session_cookie(struct req *r, const char *token, int64_t max_age_s)
{
    resp_header(r, "Set-Cookie",
                arena_printf(r->arena,
                             "shopd_session=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s",
                             token, (long long)max_age_s, r->tls ? "; Secure" : ""));
}

bool api_idempotency_key(struct req *r, const char *why, const char **key)
{
    *key = req_header(r, "Idempotency-Key");
    if (!*key) {
        problem_field(&r->pb, SHOP_BAD_REQUEST, "Idempotency-Key", "the header is required %s",
                      why);
        return false;
    }
    size_t n = strlen(*key);
    bool ok = n > 0 && n <= IDEMPOTENCY_KEY_MAX;
    for (const char *p = *key; ok && *p; p++)
        ok = *p >= 0x21 && *p <= 0x7e;
    if (!ok)
        problem_field(&r->pb, SHOP_BAD_REQUEST, "Idempotency-Key",
                      "must be 1 to %d visible ASCII characters", IDEMPOTENCY_KEY_MAX);
    return ok;
}
