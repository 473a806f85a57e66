/* analytics.c — sales reports (OPS-2, shop/analytics.h). */
#include <stdio.h>

#include "api/handlers.h"
#include "shop/analytics.h"
#include "shop/shop.h"
#include "util/buf.h"
#include "util/xalloc.h"

/* 367 rows of at most ~260 bytes and ten titles of at most ~1.6 KB escaped. */
#define REPORT_MAX (256 * 1024)

/* The report is written straight into a buffer rather than built as jansson
 * objects: a year is 366 objects of eight numbers, and building, dumping and
 * freeing them was a third of the request's CPU (and printf's formatting a
 * tenth of what was left). */
static void field(struct buf *b, const char *name, int64_t v)
{
    buf_puts(b, name);
    buf_json_int(b, v);
}

static void figures_text(struct buf *b, const struct analytics_figures *f, bool with_date)
{
    field(b, "{\"revenue_cents\":", f->revenue_cents);
    field(b, ",\"refunds_cents\":", f->refunds_cents);
    field(b, ",\"net_revenue_cents\":", f->revenue_cents - f->refunds_cents);
    field(b, ",\"orders\":", f->orders);
    field(b, ",\"units\":", f->units);
    field(b, ",\"average_order_cents\":", analytics_average(f));
    field(b, ",\"returns_rate_bps\":", analytics_returns_bps(f));
    if (with_date) {
        char date[] = ",\"date\":\"YYYY-MM-DD\"}";
        int y = f->date / 10000, m = f->date / 100 % 100, d = f->date % 100;
        if (y < 0 || y > 9999) /* outside what tz_parse_date accepts: cannot happen */
            y = 0;
        for (int i = 3; i >= 0; i--, y /= 10)
            date[9 + i] = (char)('0' + y % 10);
        date[14] = (char)('0' + m / 10);
        date[15] = (char)('0' + m % 10);
        date[17] = (char)('0' + d / 10);
        date[18] = (char)('0' + d % 10);
        buf_puts(b, date);
    } else {
        buf_puts(b, "}");
    }
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
    struct buf b;
    buf_init(&b, REPORT_MAX);
    buf_puts(&b, "{\"currency\":");
    buf_json_string(&b, r->shop->cfg.currency);
    buf_puts(&b, ",\"days\":[");
    for (int i = 0; i < rep->ndays; i++) {
        if (i)
            buf_puts(&b, ",");
        figures_text(&b, &rep->days[i], true);
    }
    buf_puts(&b, "],\"totals\":");
    figures_text(&b, &rep->totals, false);
    buf_puts(&b, ",\"top_products\":[");
    for (int i = 0; i < rep->ntop; i++) {
        buf_printf(&b, "%s{\"product_id\":%lld,\"title\":", i ? "," : "",
                   (long long)rep->top[i].product_id);
        buf_json_string(&b, rep->top[i].title);
        buf_printf(&b, ",\"units\":%lld,\"revenue_cents\":%lld}", (long long)rep->top[i].units,
                   (long long)rep->top[i].revenue_cents);
    }
    bool ok = buf_puts(&b, "]}");
    free(rep);
    if (!ok) { /* cannot happen: REPORT_MAX holds the longest report */
        buf_free(&b);
        return problem_set(&r->pb, SHOP_INTERNAL, "the report is too long");
    }
    size_t len;
    char *text = buf_steal(&b, &len);
    return resp_json_text(r, 200, text, len);
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
