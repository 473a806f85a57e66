/* analytics.c — sales reports (OPS-2, shop/analytics.h). */
#include <stdio.h>

#include "api/handlers.h"
#include "shop/analytics.h"
#include "shop/shop.h"
#include "util/xalloc.h"

static json_t *figures_json(const struct analytics_figures *f, bool with_date)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "revenue_cents",
                          (json_int_t)f->revenue_cents, "refunds_cents",
                          (json_int_t)f->refunds_cents, "net_revenue_cents",
                          (json_int_t)(f->revenue_cents - f->refunds_cents), "orders",
                          (json_int_t)f->orders, "units", (json_int_t)f->units,
                          "average_order_cents", (json_int_t)analytics_average(f),
                          "returns_rate_bps", (json_int_t)analytics_returns_bps(f));
    if (with_date) {
        char d[32];
        snprintf(d, sizeof d, "%04d-%02d-%02d", f->date / 10000, f->date / 100 % 100,
                 f->date % 100);
        json_object_set_new(o, "date", json_string(d));
    }
    return o;
}

static enum shop_err report(struct req *r, int64_t seller_id, bool check_seller)
{
    int32_t from, to;
    if (analytics_check(r->shop, req_query(r, "from"), req_query(r, "to"),
                        check_seller ? seller_id : 0, &from, &to, &r->pb) != SHOP_OK)
        return r->pb.err;
    struct analytics_report *rep = xmalloc(sizeof *rep);
    if (analytics_report(r->shop, seller_id, from, to, rep, &r->pb) != SHOP_OK) {
        free(rep);
        return r->pb.err;
    }
    json_t *days = json_array();
    for (int i = 0; i < rep->ndays; i++)
        json_array_append_new(days, figures_json(&rep->days[i], true));
    json_t *top = json_array();
    for (int i = 0; i < rep->ntop; i++)
        json_array_append_new(top, json_pack("{s:I, s:s, s:I, s:I}", "product_id",
                                             (json_int_t)rep->top[i].product_id, "title",
                                             rep->top[i].title, "units",
                                             (json_int_t)rep->top[i].units, "revenue_cents",
                                             (json_int_t)rep->top[i].revenue_cents));
    json_t *out = json_pack("{s:s, s:o, s:o, s:o}", "currency", r->shop->cfg.currency, "days", days,
                            "totals", figures_json(&rep->totals, false), "top_products", top);
    free(rep);
    return resp_json(r, 200, out);
}

enum shop_err api_admin_analytics(struct req *r)
{
    int64_t seller_id = 0;
    req_query_int(r, "seller_id", 1, INT64_MAX, &seller_id);
    if (r->pb.err)
        return r->pb.err;
    return report(r, seller_id, true);
}

enum shop_err api_seller_analytics(struct req *r)
{
    return report(r, r->who.user_id, false); /* their own lines only */
}
