/* export.c — `shopd export`: the catalog in the Shopify product CSV layout
 * (its current header set), and order lines, as CSV (CAT-6).
 *
 * Products go out in id order, a page of EXPORT_PAGE at a time (keyset), so
 * memory stays bounded however large the catalog. Each product is written as
 * import.c reads it: its fields on the first row with the first variant and
 * image, then one row per further variant or image. The handle is the one it
 * was imported with, or "product-<id>" for a product the shop made itself,
 * which import takes to mean that same product. Inventory quantity is the
 * first warehouse's on_hand: the figure import sets. Type and Tags come from
 * the specs import put them in; the product category is the category's
 * path of names ("A > B > C"). Exporting and importing the file back gives
 * the same catalog.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/import.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/tz.h"
#include "util/xalloc.h"

#define EXPORT_PAGE 500

void csv_put(FILE *out, const char *s, char sep)
{
    s = s ? s : "";
    if (strpbrk(s, ",\"\r\n") || (*s && (s[0] == ' ' || s[strlen(s) - 1] == ' '))) {
        fputc('"', out);
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                fputc('"', out);
            fputc(*p, out);
        }
        fputc('"', out);
    } else {
        fputs(s, out);
    }
    if (sep)
        fputc(sep, out);
}

static void money(char *buf, size_t n, int64_t cents)
{
    snprintf(buf, n, "%s%lld.%02lld", cents < 0 ? "-" : "", (long long)llabs(cents) / 100,
             (long long)llabs(cents) % 100);
}

/* Category id → "A > B > C", all loaded once (the tree is small). */
struct cats {
    int n;
    int64_t *id, *parent;
    char **name;
};

static void cats_load(struct db *db, struct cats *c)
{
    memset(c, 0, sizeof *c);
    struct stmt *st = db_prepare(db, "SELECT id, coalesce(parent_id, 0), name FROM categories");
    int cap = 0;
    while (st && stmt_step(st) == STMT_ROW) {
        if (c->n == cap) {
            cap = cap ? cap * 2 : 64;
            c->id = xrealloc(c->id, (size_t)cap * sizeof *c->id);
            c->parent = xrealloc(c->parent, (size_t)cap * sizeof *c->parent);
            c->name = xrealloc(c->name, (size_t)cap * sizeof *c->name);
        }
        c->id[c->n] = stmt_i64(st, 0);
        c->parent[c->n] = stmt_i64(st, 1);
        c->name[c->n] = xstrdup(stmt_text(st, 2));
        c->n++;
    }
    db_release(db);
}

static int cats_find(const struct cats *c, int64_t id)
{
    for (int i = 0; i < c->n; i++)
        if (c->id[i] == id)
            return i;
    return -1;
}

static void cats_path(const struct cats *c, int64_t id, char *out, size_t n)
{
    const char *parts[16];
    int k = 0;
    for (int i = cats_find(c, id); i >= 0 && k < 16; i = cats_find(c, c->parent[i]))
        parts[k++] = c->name[i];
    out[0] = 0;
    size_t len = 0;
    while (k-- > 0 && len < n)
        len += (size_t)snprintf(out + len, n - len, "%s%s", parts[k], k ? " > " : "");
}

static void cats_free(struct cats *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->name[i]);
    free(c->id);
    free(c->parent);
    free(c->name);
}

struct pvariant {
    char *sku;
    json_t *options;
    int64_t price, grams, qty;
};

struct pexport {
    int64_t id;
    char *handle, *title, *desc, *brand, *status;
    int64_t category;
    json_t *images, *specs;
    struct pvariant *v;
    int nv;
};

static const char *spec(json_t *specs, const char *key)
{
    json_t *v = json_object_get(specs, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void write_product(FILE *out, const struct pexport *p, const struct cats *cats)
{
    char handle[64], path[1024], price[32], grams[32], qty[32], pos[16];
    if (!p->handle)
        snprintf(handle, sizeof handle, "product-%lld", (long long)p->id);
    cats_path(cats, p->category, path, sizeof path);
    const char *names[3] = {NULL, NULL, NULL};
    int nopt = 0;
    if (p->nv) {
        const char *k;
        json_t *v;
        json_object_foreach(p->v[0].options, k, v) if (nopt < 3) names[nopt++] = k;
    }
    int nimg = (int)json_array_size(p->images);
    int rows = p->nv > nimg ? p->nv : nimg;
    bool published = !strcmp(p->status, "published");
    for (int r = 0; r < rows; r++) {
        bool head = r == 0;
        csv_put(out, head ? p->title : "", ',');
        csv_put(out, p->handle ? p->handle : handle, ',');
        csv_put(out, head ? p->desc : "", ',');
        csv_put(out, head ? p->brand : "", ',');
        csv_put(out, head ? path : "", ',');
        csv_put(out, head ? spec(p->specs, "Type") : "", ',');
        csv_put(out, head ? spec(p->specs, "Tags") : "", ',');
        csv_put(out, head ? (published ? "TRUE" : "FALSE") : "", ',');
        csv_put(out, head ? (published ? "active" : "draft") : "", ',');
        const struct pvariant *v = r < p->nv ? &p->v[r] : NULL;
        csv_put(out, v ? v->sku : "", ',');
        for (int k = 0; k < 3; k++) {
            const char *val = "";
            if (v && names[k]) {
                json_t *x = json_object_get(v->options, names[k]);
                val = json_is_string(x) ? json_string_value(x) : "";
            }
            csv_put(out, head && names[k] ? names[k] : "", ',');
            csv_put(out, val, ',');
        }
        if (v) {
            money(price, sizeof price, v->price);
            snprintf(grams, sizeof grams, "%lld", (long long)v->grams);
            snprintf(qty, sizeof qty, "%lld", (long long)v->qty);
        }
        csv_put(out, v ? price : "", ',');
        csv_put(out, "", ','); /* Compare-at price: not kept */
        csv_put(out, v ? qty : "", ',');
        csv_put(out, v ? grams : "", ',');
        snprintf(pos, sizeof pos, "%d", r + 1);
        csv_put(out, r < nimg ? json_string_value(json_array_get(p->images, (size_t)r)) : "", ',');
        csv_put(out, r < nimg ? pos : "", 0);
        fputs("\r\n", out);
    }
}

static void pexport_free(struct pexport *p)
{
    free(p->handle);
    free(p->title);
    free(p->desc);
    free(p->brand);
    free(p->status);
    json_decref(p->images);
    json_decref(p->specs);
    for (int i = 0; i < p->nv; i++) {
        free(p->v[i].sku);
        json_decref(p->v[i].options);
    }
    free(p->v);
}

enum shop_err export_products(struct shop *shop, FILE *out, const char *seller_email,
                              int64_t *count, struct problem *pb)
{
    *count = 0;
    struct db *db = store_db(shop->store);
    int64_t seller = 0;
    if (seller_email) {
        struct stmt *st = db_prepare(db, "SELECT id FROM users WHERE email = ?");
        if (!st)
            return db_fail(db, pb, "finding the seller");
        stmt_bind_text(st, 1, seller_email);
        if (stmt_step(st) != STMT_ROW) {
            db_release(db);
            return problem_field(pb, SHOP_INVALID, "seller", "no user %s", seller_email);
        }
        seller = stmt_i64(st, 0);
        db_release(db);
    }
    int64_t warehouse;
    enum shop_err e = db_scalar_i64_or_fail(db, "SELECT coalesce(min(id), ?) FROM warehouses", 0, 0,
                                            &warehouse, pb, "reading the warehouses");
    db_release(db);
    if (e != SHOP_OK)
        return e;
    struct cats cats;
    cats_load(db, &cats);
    fputs("Title,URL handle,Description,Vendor,Product category,Type,Tags,"
          "Published on online store,Status,SKU,Option1 name,Option1 value,Option2 name,"
          "Option2 value,Option3 name,Option3 value,Price,Compare-at price,Inventory quantity,"
          "Weight value (grams),Product image URL,Image position\r\n",
          out);
    struct pexport *page = xcalloc(EXPORT_PAGE, sizeof *page);
    int64_t after = 0;
    for (;;) {
        struct stmt *st = db_prepare(db, "SELECT id, handle, title, description, brand, status,"
                                         " category_id, images, specs FROM products"
                                         " WHERE id > ?1 AND (?2 = 0 OR seller_id = ?2)"
                                         " ORDER BY id LIMIT ?3");
        if (!st) {
            e = db_fail(db, pb, "reading products");
            break;
        }
        stmt_bind_i64(st, 1, after);
        stmt_bind_i64(st, 2, seller);
        stmt_bind_i64(st, 3, EXPORT_PAGE);
        int n = 0;
        while (stmt_step(st) == STMT_ROW) {
            struct pexport *p = &page[n++];
            memset(p, 0, sizeof *p);
            p->id = stmt_i64(st, 0);
            p->handle = stmt_is_null(st, 1) ? NULL : xstrdup(stmt_text(st, 1));
            p->title = xstrdup(stmt_text(st, 2));
            p->desc = xstrdup(stmt_text(st, 3));
            p->brand = xstrdup(stmt_text(st, 4));
            p->status = xstrdup(stmt_text(st, 5));
            p->category = stmt_i64(st, 6);
            p->images = json_loads(stmt_text(st, 7), 0, NULL);
            p->specs = json_loads(stmt_text(st, 8), 0, NULL);
            if (!json_is_array(p->images)) {
                json_decref(p->images);
                p->images = json_array();
            }
        }
        db_release(db);
        for (int i = 0; i < n; i++) {
            struct pexport *p = &page[i];
            st = db_prepare(db, "SELECT v.sku, v.options, v.price_cents, v.weight_grams,"
                                " coalesce(s.on_hand, 0) FROM variants v"
                                " LEFT JOIN stock s ON s.variant_id = v.id AND s.warehouse_id = ?"
                                " WHERE v.product_id = ? ORDER BY v.position, v.id");
            if (!st) {
                e = db_fail(db, pb, "reading variants");
                break;
            }
            stmt_bind_i64(st, 1, warehouse);
            stmt_bind_i64(st, 2, p->id);
            int cap = 0;
            while (stmt_step(st) == STMT_ROW) {
                if (p->nv == cap) {
                    cap = cap ? cap * 2 : 4;
                    p->v = xrealloc(p->v, (size_t)cap * sizeof *p->v);
                }
                struct pvariant *v = &p->v[p->nv++];
                v->sku = xstrdup(stmt_text(st, 0));
                v->options = json_loads(stmt_text(st, 1), 0, NULL);
                if (!json_is_object(v->options)) {
                    json_decref(v->options);
                    v->options = json_object();
                }
                v->price = stmt_i64(st, 2);
                v->grams = stmt_i64(st, 3);
                v->qty = stmt_i64(st, 4);
            }
            db_release(db);
            write_product(out, p, &cats);
            (*count)++;
        }
        for (int i = 0; i < n; i++)
            pexport_free(&page[i]);
        if (e != SHOP_OK || n < EXPORT_PAGE)
            break;
        after = page[n - 1].id;
    }
    free(page);
    cats_free(&cats);
    if (e == SHOP_OK && ferror(out))
        e = problem_set(pb, SHOP_INTERNAL, "writing the file failed");
    return e;
}

enum shop_err export_orders(struct shop *shop, FILE *out, int32_t from, int32_t to, int64_t *lines,
                            struct problem *pb)
{
    *lines = 0;
    /* The range in UTC milliseconds: a day's start is found from its offset. */
    int64_t d0 = tz_ymd_days(from), d1 = tz_ymd_days(to) + 1;
    int64_t t0 = d0 * 86400 - tz_offset(shop->tz, d0 * 86400);
    int64_t t1 = d1 * 86400 - tz_offset(shop->tz, d1 * 86400);
    fputs("Order ID,Created at,Paid at,Status,Refund status,Customer email,Currency,SKU,"
          "Product ID,Title,Options,Quantity,Unit price,Discount,Tax,Line total,Line status,"
          "Order total,Order refunded\r\n",
          out);
    struct db *db = store_db(shop->store);
    int64_t after = 0;
    enum shop_err e = SHOP_OK;
    for (;;) {
        struct stmt *st = db_prepare(
            db, "SELECT l.id, o.id, o.created_at, coalesce(o.paid_at, 0), o.status, o.refund_status,"
                " u.email, o.currency, l.sku, l.product_id, l.title, l.options, l.quantity,"
                " l.unit_price_cents, l.discount_cents, l.tax_cents, l.status, o.total_cents,"
                " o.refunded_cents FROM order_lines l JOIN orders o ON o.id = l.order_id"
                " JOIN users u ON u.id = o.user_id"
                " WHERE o.created_at >= ? AND o.created_at < ? AND l.id > ? ORDER BY l.id LIMIT 1000");
        if (!st) {
            e = db_fail(db, pb, "reading orders");
            break;
        }
        stmt_bind_i64(st, 1, t0 * 1000);
        stmt_bind_i64(st, 2, t1 * 1000);
        stmt_bind_i64(st, 3, after);
        int n = 0, rc;
        while ((rc = stmt_step(st)) == STMT_ROW) {
            char num[8][40];
            after = stmt_i64(st, 0);
            n++;
            snprintf(num[0], 40, "%lld", (long long)stmt_i64(st, 1));
            char ct[40] = "", pt[40] = "";
            for (int k = 0; k < 2; k++) {
                int64_t ms = stmt_i64(st, 2 + k);
                if (!ms)
                    continue;
                int64_t s = ms / 1000;
                int y, m, d;
                tz_civil_from_days(s / 86400, &y, &m, &d);
                snprintf(k ? pt : ct, 40, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
                         (int)(s % 86400 / 3600), (int)(s % 3600 / 60), (int)(s % 60));
            }
            int64_t q = stmt_i64(st, 12), unit = stmt_i64(st, 13), disc = stmt_i64(st, 14);
            snprintf(num[1], 40, "%lld", (long long)stmt_i64(st, 9));
            snprintf(num[2], 40, "%lld", (long long)q);
            money(num[3], 40, unit);
            money(num[4], 40, disc);
            money(num[5], 40, stmt_i64(st, 15));
            money(num[6], 40, q * unit - disc);
            money(num[7], 40, stmt_i64(st, 17));
            char refunded[40];
            money(refunded, sizeof refunded, stmt_i64(st, 18));
            csv_put(out, num[0], ',');
            csv_put(out, ct, ',');
            csv_put(out, pt, ',');
            csv_put(out, stmt_text(st, 4), ',');
            csv_put(out, stmt_text(st, 5), ',');
            csv_put(out, stmt_text(st, 6), ',');
            csv_put(out, stmt_text(st, 7), ',');
            csv_put(out, stmt_text(st, 8), ',');
            csv_put(out, num[1], ',');
            csv_put(out, stmt_text(st, 10), ',');
            csv_put(out, stmt_text(st, 11), ',');
            csv_put(out, num[2], ',');
            csv_put(out, num[3], ',');
            csv_put(out, num[4], ',');
            csv_put(out, num[5], ',');
            csv_put(out, num[6], ',');
            csv_put(out, stmt_text(st, 16), ',');
            csv_put(out, num[7], ',');
            csv_put(out, refunded, 0);
            fputs("\r\n", out);
            (*lines)++;
        }
        if (rc != STMT_DONE && rc != STMT_ROW)
            e = db_fail(db, pb, "reading orders");
        db_release(db);
        if (e != SHOP_OK || n < 1000)
            break;
    }
    if (e == SHOP_OK && ferror(out))
        e = problem_set(pb, SHOP_INTERNAL, "writing the file failed");
    return e;
}
