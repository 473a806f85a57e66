/* auth.c — register, login, logout, guest sessions, the current user. */
#include "api/common.h"
#include "api/handlers.h"
#include "shop/cart.h"
#include "shop/shop.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/token.h"

/* Reads {email, password[, name], cookie?}; names every missing or mistyped
 * field. */
static enum shop_err credentials(struct req *r, bool with_name, const char **email,
                                 const char **password, const char **name, bool *cookie)
{
    json_t *body;
    if (req_json(r, &body) != SHOP_OK)
        return r->pb.err;
    jx_bool(body, "cookie", NULL, JX_OPTIONAL, cookie, &r->pb);
    jx_str(body, "email", NULL, JX_REQUIRED, 1, ACCOUNT_EMAIL_MAX, email, &r->pb);
    jx_str(body, "password", NULL, JX_REQUIRED, 1, ACCOUNT_PASSWORD_MAX, password, &r->pb);
    if (with_name)
        jx_str(body, "name", NULL, JX_REQUIRED, 1, ACCOUNT_NAME_MAX, name, &r->pb);
    return r->pb.err;
}

/* The guest cart's lines that could not join the user's cart. */
static json_t *left_json(const struct cart_left_list *left)
{
    json_t *a = json_array();
    for (int i = 0; i < left->n; i++)
        json_array_append_new(a, json_pack("{s:I, s:I, s:b, s:s}", "variant_id",
                                           (json_int_t)left->lines[i].variant_id, "quantity",
                                           (json_int_t)left->lines[i].quantity, "saved_for_later",
                                           left->lines[i].saved_for_later, "reason",
                                           left->lines[i].reason));
    return a;
}

/* A browser session (cookie:true) gets the token only as an HttpOnly cookie,
 * never in the body a page's script reads, and the CSRF token its writes
 * must carry; any other client gets the bearer token. Either way the answer
 * lists the guest cart's lines that did not merge (cart_left_behind). */
static enum shop_err answer_session(struct req *r, int status, const struct user *u,
                                    const char *token, bool cookie,
                                    const struct cart_left_list *left)
{
    json_t *out = json_pack("{s:o, s:o}", "user", api_user_json(u), "cart_left_behind",
                            left_json(left));
    if (!cookie) {
        json_object_set_new(out, "token", json_string(token));
        return resp_json(r, status, out);
    }
    api_session_cookie(r, token, r->shop->cfg.session_ttl_ms / 1000);
    char csrf[TOKEN_LEN + 1];
    token_csrf(token, csrf);
    json_object_set_new(out, "csrf_token", json_string(csrf));
    return resp_json(r, status, out);
}

enum shop_err api_register(struct req *r)
{
    const char *email = NULL, *password = NULL, *name = NULL;
    bool cookie = false;
    if (credentials(r, true, &email, &password, &name, &cookie) != SHOP_OK)
        return r->pb.err;
    struct user u;
    char token[TOKEN_LEN + 1];
    struct cart_left_list left = {.n = 0};
    if (account_register(r->shop, r->arena, email, password, name, r->who.guest_id, &left, &u,
                         token, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer_session(r, 201, &u, token, cookie, &left);
}

enum shop_err api_login(struct req *r)
{
    const char *email = NULL, *password = NULL;
    bool cookie = false;
    if (credentials(r, false, &email, &password, NULL, &cookie) != SHOP_OK)
        return r->pb.err;
    struct user u;
    char token[TOKEN_LEN + 1];
    struct cart_left_list left = {.n = 0};
    if (account_login(r->shop, r->arena, email, password, r->ip, r->who.guest_id, &left, &u,
                      token, &r->pb) != SHOP_OK)
        return r->pb.err;
    return answer_session(r, 200, &u, token, cookie, &left);
}

enum shop_err api_logout(struct req *r)
{
    if (account_logout(r->shop, &r->who, &r->pb) != SHOP_OK)
        return r->pb.err;
    if (r->session_cookie)
        api_session_cookie(r, "", 0);
    return resp_empty(r, 204);
}

enum shop_err api_guest_new(struct req *r)
{
    char token[TOKEN_LEN + 1];
    int64_t id;
    if (account_guest_new(r->shop, token, &id, &r->pb) != SHOP_OK)
        return r->pb.err;
    return resp_json(r, 201, json_pack("{s:s, s:o}", "guest_token", token, "expires_at",
                                       api_time(clock_now_ms() + r->shop->cfg.guest_ttl_ms)));
}

enum shop_err api_me(struct req *r)
{
    struct user u;
    if (account_get(r->shop, r->arena, r->who.user_id, &u, &r->pb) != SHOP_OK)
        return r->pb.err;
    json_t *o = api_user_json(&u);
    if (r->session_cookie) { /* a page reloaded: it learns its CSRF token again */
        char csrf[TOKEN_LEN + 1];
        token_csrf(r->session_cookie, csrf);
        json_object_set_new(o, "csrf_token", json_string(csrf));
    }
    return resp_json(r, 200, o);
}
