/* import.c — `shopd import products`: the Shopify product CSV layout into
 * the catalog (CAT-6).
 *
 * The layout. One row per variant and per image; rows that share a handle
 * are one product, and the product's own fields (title, description, vendor,
 * category, type, tags, published, status, option names) are read from its
 * first row only. Shopify has used two header sets: the long-standing one
 * (Handle, Title, Body (HTML), Vendor, Product Category, Type, Tags,
 * Published, Option1 Name/Value…, Variant SKU, Variant Grams, Variant
 * Inventory Qty, Variant Price, Image Src, Image Position, Status) and the
 * current one (URL handle, Description, Product category, Published on online
 * store, SKU, Option1 name/value…, Price, Inventory quantity, Weight value
 * (grams), Product image URL, Image position). Both are recognised, column by
 * column, in any order; any other column is ignored and named once.
 *
 * The mapping. Vendor → brand, Body/Description → description (HTML kept),
 * Type and Tags → the specs "Type" and "Tags", images ordered by their
 * position. The category is the Product category path ("A > B > C") matched
 * name by name from the top of the tree, the missing ones created; without
 * one, the Type under a top-level "Imported"; without either, "Imported".
 * A product is published when its Status is active (or absent) and
 * Published is true, a draft otherwise. Inventory quantity sets on_hand in
 * the first warehouse (one is created when there is none), recorded as an
 * 'adjust' movement. The owner is --seller's account, else the first admin:
 * the shop itself.
 *
 * Updates, not duplicates. A product is found by (owner, handle) — the
 * products.handle column — and a variant by its SKU; importing the same file
 * twice changes nothing the second time. A product the shop made itself has
 * no handle: export names it "product-<id>", and import takes such a handle
 * to mean that product. A SKU held by another product rejects the product.
 *
 * Atomic per product. A product's rows are checked together; one bad row
 * rejects the whole product (each reason reported with the physical line
 * where its record starts), and a product that fails while being written is
 * rolled back to its own savepoint (a nested store_write), so nothing is ever
 * half-imported. Other products go on.
 *
 * Bounded memory. The file is read in 64 KiB chunks and fed to libcsv one
 * physical line at a time (so every record knows its line, quoted newlines
 * and CRLF included); only the current product's rows and one batch of
 * products (IMPORT_BATCH) are held, and each batch is one write transaction.
 * A BOM is skipped.
 *
 * Others see it. Each product written emits product.changed (and a new
 * category category.changed) in its transaction: a running server's change
 * feed refreshes its search index and product cache from them.
 *
 * --dry-run runs every batch to the end and then fails it on purpose, so the
 * store rolls it back: the report is what a real import would say.
 */
#include "shop/import.h"

#include <csv.h>
#include <ctype.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shop/catalog.h"
#include "shop/category.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define IMPORT_BATCH      500 /* products per write transaction */
#define IMPORT_MAX_ROWS   400 /* rows of one product */
#define IMPORT_MAX_FIELD  (64 * 1024)
#define IMPORT_MAX_COLS   256

enum field {
    F_IGNORE = -1,
    F_HANDLE,
    F_TITLE,
    F_BODY,
    F_VENDOR,
    F_CATEGORY,
    F_TYPE,
    F_TAGS,
    F_PUBLISHED,
    F_STATUS,
    F_OPT1_NAME,
    F_OPT1_VALUE,
    F_OPT2_NAME,
    F_OPT2_VALUE,
    F_OPT3_NAME,
    F_OPT3_VALUE,
    F_SKU,
    F_GRAMS,
    F_QTY,
    F_PRICE,
    F_COMPARE,
    F_IMAGE,
    F_IMAGE_POS,
    F_COUNT
};

static const struct {
    const char *name;
    enum field f;
} columns[] = {
    {"handle", F_HANDLE},
    {"url handle", F_HANDLE},
    {"title", F_TITLE},
    {"body (html)", F_BODY},
    {"description", F_BODY},
    {"vendor", F_VENDOR},
    {"product category", F_CATEGORY},
    {"type", F_TYPE},
    {"tags", F_TAGS},
    {"published", F_PUBLISHED},
    {"published on online store", F_PUBLISHED},
    {"status", F_STATUS},
    {"option1 name", F_OPT1_NAME},
    {"option1 value", F_OPT1_VALUE},
    {"option2 name", F_OPT2_NAME},
    {"option2 value", F_OPT2_VALUE},
    {"option3 name", F_OPT3_NAME},
    {"option3 value", F_OPT3_VALUE},
    {"variant sku", F_SKU},
    {"sku", F_SKU},
    {"variant grams", F_GRAMS},
    {"weight value (grams)", F_GRAMS},
    {"variant inventory qty", F_QTY},
    {"inventory quantity", F_QTY},
    {"variant price", F_PRICE},
    {"price", F_PRICE},
    {"variant compare at price", F_COMPARE},
    {"compare-at price", F_COMPARE},
    {"image src", F_IMAGE},
    {"product image url", F_IMAGE},
    {"image position", F_IMAGE_POS},
};

struct row {
    int64_t line;
    int nfields;
    char *f[F_COUNT]; /* NULL when absent or empty */
};

struct variant_in {
    const char *sku;
    char *options; /* JSON */
    int64_t price, grams, qty, line;
    bool has_qty, has_grams;
};

struct item {
    struct row *rows;
    int nrows;
    const char *handle, *title, *desc, *vendor, *type, *tags;
    char *category; /* "A > B" */
    char *images;   /* JSON array */
    char *specs;    /* JSON object */
    bool published;
    struct variant_in *v;
    int nv;
    /* outputs of the write */
    bool created, failed;
    int64_t failed_line;
    char reason[320];
    int64_t categories_created;
};

struct ctx {
    struct shop *shop;
    const struct import_opts *o;
    struct import_report *rep;
    struct csv_parser csv;
    /* header */
    bool have_header;
    int ncols;
    enum field map[IMPORT_MAX_COLS];
    char *names[IMPORT_MAX_COLS];
    /* record in progress */
    int64_t line, record_line;
    bool between; /* no record started yet on this line */
    struct row cur;
    bool cur_too_wide;
    /* the product whose rows are being read */
    struct row *group;
    int ngroup, capgroup;
    /* the batch */
    struct item batch[IMPORT_BATCH];
    int nbatch;
    int64_t seller, warehouse;
    struct problem *pb;
    enum shop_err err;
};

/* ---- values -------------------------------------------------------------------- */

static char *trimdup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (!n)
        return NULL;
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static bool parse_bool(const char *s, bool dflt)
{
    if (!s)
        return dflt;
    return !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1");
}

/* "19.99", "19.9", "19" → cents. */
static bool parse_money(const char *s, int64_t *out)
{
    int64_t whole = 0;
    int frac = 0, digits = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p)) {
        whole = whole * 10 + (*p++ - '0');
        if (whole > PRICE_MAX_CENTS / 100)
            return false;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p) && digits < 2) {
            frac = frac * 10 + (*p++ - '0');
            digits++;
        }
        while (*p == '0')
            p++;
    }
    if (*p)
        return false;
    if (digits == 1)
        frac *= 10;
    *out = whole * 100 + frac;
    return *out <= PRICE_MAX_CENTS;
}

static bool parse_int(const char *s, bool allow_fraction, int64_t max, int64_t *out)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || d < 0 || d > (double)max)
        return false;
    if (!allow_fraction && d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* ---- checking a product's rows ------------------------------------------------- */

static void reject(struct ctx *c, struct item *it, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reject(struct ctx *c, struct item *it, int64_t line, const char *fmt, ...)
{
    char reason[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    c->rep->rows_rejected += it->nrows;
    c->rep->products_rejected++;
    if (c->o->rejected)
        c->o->rejected(c->o->cls, line, it->handle, reason);
}

static void free_rows(struct row *rows, int n)
{
    for (int i = 0; i < n; i++)
        for (int f = 0; f < F_COUNT; f++)
            free(rows[i].f[f]);
}

static void item_free(struct item *it)
{
    free_rows(it->rows, it->nrows);
    free(it->rows);
    free(it->category);
    free(it->images);
    free(it->specs);
    for (int i = 0; i < it->nv; i++)
        free(it->v[i].options);
    free(it->v);
    memset(it, 0, sizeof *it);
}

static int cmp_image(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Builds an item from the group's rows; false (reported) when one is bad. */
static bool check_item(struct ctx *c, struct item *it)
{
    struct row *first = &it->rows[0];
    char **f = first->f;
    it->handle = f[F_HANDLE];
    for (int i = 0; i < it->nrows; i++)
        if (it->rows[i].nfields > c->ncols) {
            reject(c, it, it->rows[i].line, "%d fields where the header has %d",
                   it->rows[i].nfields, c->ncols);
            return false;
        }
    if (strlen(it->handle) > 255) {
        reject(c, it, first->line, "the handle is longer than 255 characters");
        return false;
    }
    if (!f[F_TITLE]) {
        reject(c, it, first->line, "the first row of product %s has no Title", it->handle);
        return false;
    }
    it->title = f[F_TITLE];
    it->desc = f[F_BODY] ? f[F_BODY] : "";
    it->vendor = f[F_VENDOR] ? f[F_VENDOR] : "";
    it->type = f[F_TYPE];
    it->tags = f[F_TAGS];
    if (strlen(it->title) > PRODUCT_TITLE_MAX) {
        reject(c, it, first->line, "Title is longer than %d characters", PRODUCT_TITLE_MAX);
        return false;
    }
    if (strlen(it->desc) > PRODUCT_DESCRIPTION_MAX) {
        reject(c, it, first->line, "the description is longer than %d characters",
               PRODUCT_DESCRIPTION_MAX);
        return false;
    }
    if (strlen(it->vendor) > PRODUCT_BRAND_MAX) {
        reject(c, it, first->line, "Vendor is longer than %d characters", PRODUCT_BRAND_MAX);
        return false;
    }
    const char *status = f[F_STATUS];
    if (status && strcasecmp(status, "active") && strcasecmp(status, "draft") &&
        strcasecmp(status, "archived")) {
        reject(c, it, first->line, "Status must be active, draft or archived, not %.40s", status);
        return false;
    }
    it->published = (!status || !strcasecmp(status, "active")) && parse_bool(f[F_PUBLISHED], !status);

    /* Category path. */
    char cat[1024];
    if (f[F_CATEGORY])
        snprintf(cat, sizeof cat, "%s", f[F_CATEGORY]);
    else if (it->type)
        snprintf(cat, sizeof cat, "Imported > %s", it->type);
    else
        snprintf(cat, sizeof cat, "Imported");
    it->category = xstrdup(cat);

    json_t *specs = json_object();
    if (it->type)
        json_object_set_new(specs, "Type", json_string(it->type));
    if (it->tags)
        json_object_set_new(specs, "Tags", json_string(it->tags));
    it->specs = json_dumps(specs, JSON_COMPACT);
    json_decref(specs);

    /* Variants and images. */
    const char *optname[3] = {f[F_OPT1_NAME], f[F_OPT2_NAME], f[F_OPT3_NAME]};
    int64_t (*img)[2] = xcalloc((size_t)it->nrows, sizeof *img);
    int nimg = 0;
    it->v = xcalloc((size_t)it->nrows, sizeof *it->v);
    bool ok = true;
    for (int i = 0; ok && i < it->nrows; i++) {
        struct row *r = &it->rows[i];
        char **g = r->f;
        if (g[F_IMAGE]) {
            int64_t pos = nimg + 1;
            if (g[F_IMAGE_POS] && !parse_int(g[F_IMAGE_POS], false, 1000000, &pos)) {
                reject(c, it, r->line, "Image position must be a whole number, not %.40s",
                       g[F_IMAGE_POS]);
                ok = false;
                break;
            }
            if (strlen(g[F_IMAGE]) > 2000 || strncmp(g[F_IMAGE], "http", 4)) {
                reject(c, it, r->line, "the image URL must be an http(s) URL of at most 2000 characters");
                ok = false;
                break;
            }
            img[nimg][0] = pos;
            img[nimg][1] = i;
            nimg++;
        }
        bool variant = g[F_SKU] || g[F_PRICE] || g[F_OPT1_VALUE];
        if (!variant)
            continue;
        struct variant_in *v = &it->v[it->nv++];
        v->line = r->line;
        if (!g[F_PRICE] || !parse_money(g[F_PRICE], &v->price)) {
            reject(c, it, r->line, "the price must be an amount like 19.99 (at most %lld), not %.40s",
                   PRICE_MAX_CENTS / 100, g[F_PRICE] ? g[F_PRICE] : "nothing");
            ok = false;
            break;
        }
        if (g[F_GRAMS]) {
            if (!parse_int(g[F_GRAMS], true, WEIGHT_MAX_GRAMS, &v->grams)) {
                reject(c, it, r->line, "the weight must be grams between 0 and %d, not %.40s",
                       WEIGHT_MAX_GRAMS, g[F_GRAMS]);
                ok = false;
                break;
            }
            v->has_grams = true;
        }
        if (g[F_QTY]) {
            if (!parse_int(g[F_QTY], false, 100000000, &v->qty)) {
                reject(c, it, r->line, "the inventory quantity must be a whole number ≥ 0, not %.40s",
                       g[F_QTY]);
                ok = false;
                break;
            }
            v->has_qty = true;
        }
        if (g[F_SKU] && strlen(g[F_SKU]) > VARIANT_SKU_MAX) {
            reject(c, it, r->line, "the SKU is longer than %d characters", VARIANT_SKU_MAX);
            ok = false;
            break;
        }
        if (g[F_SKU]) {
            v->sku = g[F_SKU];
        } else { /* Shopify allows none; ours are unique: derive one from the handle */
            char sku[VARIANT_SKU_MAX + 1];
            snprintf(sku, sizeof sku, "%.50s-%d", it->handle, it->nv);
            free(g[F_SKU]);
            g[F_SKU] = xstrdup(sku);
            v->sku = g[F_SKU];
        }
        for (int k = 0; k < it->nv - 1; k++)
            if (!strcmp(it->v[k].sku, v->sku)) {
                reject(c, it, r->line, "SKU %s appears twice in product %s", v->sku, it->handle);
                ok = false;
                break;
            }
        json_t *opts = json_object();
        for (int k = 0; k < 3; k++) {
            const char *val = g[F_OPT1_VALUE + 2 * k];
            if (!val || !optname[k])
                continue;
            if (k == 0 && !strcmp(optname[k], "Title") && !strcmp(val, "Default Title"))
                continue; /* Shopify's single variant */
            json_object_set_new(opts, optname[k], json_string(val));
        }
        v->options = json_dumps(opts, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(opts);
    }
    if (ok && it->nv == 0) {
        reject(c, it, first->line, "product %s has no variant row (SKU or Price)", it->handle);
        ok = false;
    }
    if (ok && it->nv > PRODUCT_VARIANTS_MAX) {
        reject(c, it, first->line, "product %s has more than %d variants", it->handle,
               PRODUCT_VARIANTS_MAX);
        ok = false;
    }
    if (ok && nimg > PRODUCT_IMAGES_MAX) {
        reject(c, it, first->line, "product %s has more than %d images", it->handle,
               PRODUCT_IMAGES_MAX);
        ok = false;
    }
    if (ok) {
        qsort(img, (size_t)nimg, sizeof *img, cmp_image);
        json_t *a = json_array();
        for (int i = 0; i < nimg; i++)
            json_array_append_new(a, json_string(it->rows[img[i][1]].f[F_IMAGE]));
        it->images = json_dumps(a, JSON_COMPACT);
        json_decref(a);
    }
    free(img);
    return ok;
}

/* ---- writing ----------------------------------------------------------------------- */

struct item_job {
    struct ctx *c;
    struct item *it;
    int64_t now;
};

static enum shop_err find_category(struct db *db, const char *name, int64_t parent, int64_t *id,
                                   int64_t *created, int64_t now, struct problem *pb)
{
    struct stmt *st = parent ? db_prepare(db, "SELECT id FROM categories WHERE parent_id = ?"
                                              " AND name = ?")
                             : db_prepare(db, "SELECT id FROM categories WHERE parent_id IS NULL"
                                              " AND name = ?");
    if (!st)
        return db_fail(db, pb, "reading categories");
    if (parent) {
        stmt_bind_i64(st, 1, parent);
        stmt_bind_text(st, 2, name);
    } else {
        stmt_bind_text(st, 1, name);
    }
    if (stmt_step(st) == STMT_ROW) {
        *id = stmt_i64(st, 0);
        return SHOP_OK;
    }
    (*created)++;
    return category_insert(db, name, parent, now, id, pb);
}

static enum shop_err resolve_category(struct db *db, struct item *it, int64_t now, int64_t *id,
                                      struct problem *pb)
{
    int64_t parent = 0;
    int depth = 0;
    const char *p = it->category;
    while (*p && depth < CATEGORY_MAX_DEPTH) {
        const char *gt = strstr(p, ">");
        size_t n = gt ? (size_t)(gt - p) : strlen(p);
        char *name = trimdup(p, n);
        p += n + (gt ? 1 : 0);
        if (!name)
            continue;
        if (strlen(name) > CATEGORY_NAME_MAX)
            name[CATEGORY_NAME_MAX] = 0;
        enum shop_err e = find_category(db, name, parent, &parent, &it->categories_created, now, pb);
        free(name);
        if (e != SHOP_OK)
            return e;
        depth++;
    }
    if (!parent)
        return find_category(db, "Imported", 0, id, &it->categories_created, now, pb);
    *id = parent;
    return SHOP_OK;
}

static enum shop_err item_fail(struct item *it, int64_t line, struct problem *pb, const char *fmt,
                               ...) __attribute__((format(printf, 4, 5)));

static enum shop_err item_fail(struct item *it, int64_t line, struct problem *pb, const char *fmt,
                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->reason, sizeof it->reason, fmt, ap);
    va_end(ap);
    it->failed_line = line;
    return problem_set(pb, SHOP_CONFLICT, "%s", it->reason);
}

static enum shop_err find_product(struct db *db, struct ctx *c, struct item *it, int64_t *pid,
                                  struct problem *pb)
{
    *pid = 0;
    struct stmt *st = db_prepare(db, "SELECT id FROM products WHERE seller_id = ? AND handle = ?");
    if (!st)
        return db_fail(db, pb, "finding the product");
    stmt_bind_i64(st, 1, c->seller);
    stmt_bind_text(st, 2, it->handle);
    if (stmt_step(st) == STMT_ROW) {
        *pid = stmt_i64(st, 0);
        return SHOP_OK;
    }
    /* "product-<id>": a product the shop made itself, exported without a handle. */
    long long id;
    int used = 0;
    if (sscanf(it->handle, "product-%lld%n", &id, &used) == 1 && it->handle[used] == 0) {
        st = db_prepare(db, "SELECT id FROM products WHERE id = ? AND seller_id = ?"
                            " AND handle IS NULL");
        if (!st)
            return db_fail(db, pb, "finding the product");
        stmt_bind_i64(st, 1, id);
        stmt_bind_i64(st, 2, c->seller);
        if (stmt_step(st) == STMT_ROW)
            *pid = id;
    }
    return SHOP_OK;
}

static enum shop_err set_stock(struct db *db, struct ctx *c, struct item *it, int64_t vid,
                               const struct variant_in *v, int64_t now, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT on_hand, reserved FROM stock WHERE variant_id = ?"
                                     " AND warehouse_id = ?");
    if (!st)
        return db_fail(db, pb, "reading stock");
    stmt_bind_i64(st, 1, vid);
    stmt_bind_i64(st, 2, c->warehouse);
    int64_t on_hand = 0, reserved = 0;
    bool exists = stmt_step(st) == STMT_ROW;
    if (exists) {
        on_hand = stmt_i64(st, 0);
        reserved = stmt_i64(st, 1);
    }
    if (exists && on_hand == v->qty)
        return SHOP_OK;
    if (v->qty < reserved)
        return item_fail(it, v->line, pb, "inventory quantity %lld is below the %lld units held"
                         " for orders", (long long)v->qty, (long long)reserved);
    st = exists ? db_prepare(db, "UPDATE stock SET on_hand = ?, updated_at = ? WHERE variant_id = ?"
                                 " AND warehouse_id = ? AND reserved <= ?1")
                : db_prepare(db, "INSERT INTO stock (on_hand, updated_at, variant_id, warehouse_id,"
                                 " reserved) VALUES (?, ?, ?, ?, 0)");
    if (!st)
        return db_fail(db, pb, "setting stock");
    stmt_bind_i64(st, 1, v->qty);
    stmt_bind_i64(st, 2, now);
    stmt_bind_i64(st, 3, vid);
    stmt_bind_i64(st, 4, c->warehouse);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "setting stock");
    if (db_changes(db) != 1)
        return item_fail(it, v->line, pb, "stock of %s changed while importing", v->sku);
    st = db_prepare(db, "INSERT INTO stock_movements (variant_id, warehouse_id, kind, on_hand_before,"
                        " on_hand_after, reserved_before, reserved_after, actor_user_id, ref, at)"
                        " VALUES (?, ?, 'adjust', ?, ?, ?, ?, NULL, 'import', ?)");
    if (!st)
        return db_fail(db, pb, "recording the stock movement");
    stmt_bind_i64(st, 1, vid);
    stmt_bind_i64(st, 2, c->warehouse);
    stmt_bind_i64(st, 3, on_hand);
    stmt_bind_i64(st, 4, v->qty);
    stmt_bind_i64(st, 5, reserved);
    stmt_bind_i64(st, 6, reserved);
    stmt_bind_i64(st, 7, now);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "recording the stock movement");
}

static enum shop_err item_write(struct db *db, void *arg, struct problem *pb)
{
    struct item_job *j = arg;
    struct item *it = j->it;
    struct ctx *c = j->c;
    it->created = it->failed = false;
    it->categories_created = 0;
    it->reason[0] = 0;
    int64_t category, pid;
    if (resolve_category(db, it, j->now, &category, pb) != SHOP_OK ||
        find_product(db, c, it, &pid, pb) != SHOP_OK)
        return pb->err;
    const char *status = it->published ? "published" : "draft";
    struct stmt *st;
    if (!pid) {
        st = db_prepare(db, "INSERT INTO products (seller_id, category_id, title, description, brand,"
                            " currency, images, specs, status, created_at, updated_at, published_at,"
                            " handle) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!st)
            return db_fail(db, pb, "creating the product");
        stmt_bind_i64(st, 1, c->seller);
        stmt_bind_i64(st, 2, category);
        stmt_bind_text(st, 3, it->title);
        stmt_bind_text(st, 4, it->desc);
        stmt_bind_text(st, 5, it->vendor);
        stmt_bind_text(st, 6, c->shop->cfg.currency);
        stmt_bind_text(st, 7, it->images);
        stmt_bind_text(st, 8, it->specs);
        stmt_bind_text(st, 9, status);
        stmt_bind_i64(st, 10, j->now);
        stmt_bind_i64(st, 11, j->now);
        if (it->published)
            stmt_bind_i64(st, 12, j->now);
        else
            stmt_bind_null(st, 12);
        stmt_bind_text(st, 13, it->handle);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "creating the product");
        pid = db_last_id(db);
        it->created = true;
    } else {
        st = db_prepare(db, "UPDATE products SET category_id = ?, title = ?, description = ?,"
                            " brand = ?, images = ?, specs = ?, status = ?, updated_at = ?,"
                            " published_at = CASE WHEN ?7 = 'published'"
                            " THEN coalesce(published_at, ?8) ELSE published_at END, handle = ?"
                            " WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "updating the product");
        stmt_bind_i64(st, 1, category);
        stmt_bind_text(st, 2, it->title);
        stmt_bind_text(st, 3, it->desc);
        stmt_bind_text(st, 4, it->vendor);
        stmt_bind_text(st, 5, it->images);
        stmt_bind_text(st, 6, it->specs);
        stmt_bind_text(st, 7, status);
        stmt_bind_i64(st, 8, j->now);
        stmt_bind_text(st, 9, it->handle);
        stmt_bind_i64(st, 10, pid);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "updating the product");
    }
    for (int i = 0; i < it->nv; i++) {
        const struct variant_in *v = &it->v[i];
        st = db_prepare(db, "SELECT id, product_id FROM variants WHERE sku = ?");
        if (!st)
            return db_fail(db, pb, "reading variants");
        stmt_bind_text(st, 1, v->sku);
        int64_t vid = 0;
        if (stmt_step(st) == STMT_ROW) {
            vid = stmt_i64(st, 0);
            if (stmt_i64(st, 1) != pid)
                return item_fail(it, v->line, pb, "SKU %s belongs to another product (%lld)",
                                 v->sku, (long long)stmt_i64(st, 1));
            st = db_prepare(db, "UPDATE variants SET options = ?, price_cents = ?,"
                                " weight_grams = CASE WHEN ?3 = 1 THEN ?4 ELSE weight_grams END,"
                                " position = ?5, updated_at = ?6 WHERE id = ?7");
            if (!st)
                return db_fail(db, pb, "updating a variant");
            stmt_bind_text(st, 1, v->options);
            stmt_bind_i64(st, 2, v->price);
            stmt_bind_i64(st, 3, v->has_grams);
            stmt_bind_i64(st, 4, v->grams);
            stmt_bind_i64(st, 5, i);
            stmt_bind_i64(st, 6, j->now);
            stmt_bind_i64(st, 7, vid);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "updating a variant");
        } else {
            st = db_prepare(db, "INSERT INTO variants (product_id, sku, options, price_cents,"
                                " weight_grams, position, created_at, updated_at)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
            if (!st)
                return db_fail(db, pb, "creating a variant");
            stmt_bind_i64(st, 1, pid);
            stmt_bind_text(st, 2, v->sku);
            stmt_bind_text(st, 3, v->options);
            stmt_bind_i64(st, 4, v->price);
            stmt_bind_i64(st, 5, v->grams);
            stmt_bind_i64(st, 6, i);
            stmt_bind_i64(st, 7, j->now);
            stmt_bind_i64(st, 8, j->now);
            if (stmt_step(st) != STMT_DONE)
                return db_fail(db, pb, "creating a variant");
            vid = db_last_id(db);
        }
        if (v->has_qty && c->warehouse > 0 && set_stock(db, c, it, vid, v, j->now, pb) != SHOP_OK)
            return pb->err;
    }
    return outbox_emit(db, "product.changed", pid, json_pack("{s:s}", "change", "imported"), pb);
}

struct batch_job {
    struct ctx *c;
    int64_t now;
};

static enum shop_err batch_write(struct db *db, void *arg, struct problem *pb)
{
    (void)db;
    struct batch_job *b = arg;
    struct ctx *c = b->c;
    for (int i = 0; i < c->nbatch; i++) {
        struct item *it = &c->batch[i];
        struct item_job ij = {c, it, b->now};
        struct problem ipb = {0};
        if (store_write(c->shop->store, item_write, &ij, &ipb) != SHOP_OK) {
            if (ipb.err != SHOP_CONFLICT && ipb.err != SHOP_INVALID) {
                problem_clear(pb);
                *pb = ipb; /* the store failed: the whole batch goes */
                return pb->err;
            }
            it->failed = true;
            if (!it->reason[0])
                snprintf(it->reason, sizeof it->reason, "%s", ipb.detail[0] ? ipb.detail : "refused");
            if (!it->failed_line)
                it->failed_line = it->rows[0].line;
        }
        problem_clear(&ipb);
    }
    if (c->o->dry_run)
        return problem_set(pb, SHOP_CONFLICT, "dry run: rolled back");
    return SHOP_OK;
}

static void flush_batch(struct ctx *c)
{
    if (!c->nbatch || c->err)
        goto out;
    struct batch_job b = {c, clock_now_ms()};
    struct problem pb = {0};
    enum shop_err e = store_write(c->shop->store, batch_write, &b, &pb);
    if (e != SHOP_OK && !(c->o->dry_run && e == SHOP_CONFLICT)) {
        c->err = e;
        problem_clear(c->pb);
        *c->pb = pb;
        goto out;
    }
    problem_clear(&pb);
    for (int i = 0; i < c->nbatch; i++) {
        struct item *it = &c->batch[i];
        if (it->failed) {
            reject(c, it, it->failed_line, "%s", it->reason);
            continue;
        }
        if (it->created)
            c->rep->products_created++;
        else
            c->rep->products_updated++;
        c->rep->variants += it->nv;
        c->rep->categories_created += it->categories_created;
    }
out:
    for (int i = 0; i < c->nbatch; i++)
        item_free(&c->batch[i]);
    c->nbatch = 0;
}

static void flush_group(struct ctx *c)
{
    if (!c->ngroup)
        return;
    struct item *it = &c->batch[c->nbatch];
    memset(it, 0, sizeof *it);
    it->rows = c->group;
    it->nrows = c->ngroup;
    c->group = NULL;
    c->ngroup = c->capgroup = 0;
    if (!check_item(c, it)) {
        item_free(it);
        return;
    }
    if (++c->nbatch == IMPORT_BATCH)
        flush_batch(c);
}

/* ---- reading ------------------------------------------------------------------------- */

static void on_field(void *s, size_t len, void *data)
{
    struct ctx *c = data;
    int col = c->cur.nfields++;
    if (!c->have_header) {
        /* Only the first record is a header; after an unreadable one, the
         * rest of its line (records split by a bare CR) is not kept. */
        if (c->ncols == 0 && col < IMPORT_MAX_COLS)
            c->names[col] = trimdup(s ? s : "", s ? len : 0);
        return;
    }
    if (col >= c->ncols || col >= IMPORT_MAX_COLS || c->map[col] == F_IGNORE)
        return;
    enum field f = c->map[col];
    if (len > IMPORT_MAX_FIELD)
        len = IMPORT_MAX_FIELD;
    free(c->cur.f[f]);
    c->cur.f[f] = s ? trimdup(s, len) : NULL;
}

static void take_header(struct ctx *c)
{
    c->ncols = c->cur.nfields < IMPORT_MAX_COLS ? c->cur.nfields : IMPORT_MAX_COLS;
    bool seen[F_COUNT] = {0};
    for (int i = 0; i < c->ncols; i++) {
        c->map[i] = F_IGNORE;
        const char *n = c->names[i] ? c->names[i] : "";
        for (size_t k = 0; k < sizeof columns / sizeof columns[0]; k++)
            if (!strcasecmp(n, columns[k].name) && !seen[columns[k].f]) {
                c->map[i] = columns[k].f;
                seen[columns[k].f] = true;
                break;
            }
        if (c->map[i] == F_IGNORE && c->o->ignored && *n)
            c->o->ignored(c->o->cls, n);
    }
    if (seen[F_HANDLE] && seen[F_TITLE])
        c->have_header = true;
    for (int i = 0; i < IMPORT_MAX_COLS; i++) {
        free(c->names[i]);
        c->names[i] = NULL;
    }
}

static void on_record(int term, void *data)
{
    (void)term;
    struct ctx *c = data;
    c->between = true;
    if (!c->have_header) {
        if (c->ncols == 0 && c->cur.nfields > 0)
            take_header(c);
        if (!c->have_header)
            c->ncols = -1; /* the first record named no handle and title: unreadable */
        memset(&c->cur, 0, sizeof c->cur);
        return;
    }
    struct row r = c->cur;
    r.line = c->record_line;
    memset(&c->cur, 0, sizeof c->cur);
    c->rep->rows++;
    bool empty = true;
    for (int f = 0; f < F_COUNT; f++)
        empty = empty && !r.f[f];
    if (empty) { /* a row of empty fields: nothing to import, nothing wrong */
        c->rep->rows--;
        return;
    }
    if (!r.f[F_HANDLE]) {
        c->rep->rows_rejected++;
        if (c->o->rejected)
            c->o->rejected(c->o->cls, r.line, NULL, "the row has no handle");
        free_rows(&r, 1);
        return;
    }
    if (c->ngroup && strcmp(c->group[0].f[F_HANDLE], r.f[F_HANDLE]))
        flush_group(c);
    if (c->ngroup == IMPORT_MAX_ROWS) {
        /* Too long for one product: the extra rows are rejected on their own. */
        c->rep->rows_rejected++;
        if (c->o->rejected)
            c->o->rejected(c->o->cls, r.line, r.f[F_HANDLE], "a product may have at most 400 rows");
        free_rows(&r, 1);
        return;
    }
    if (c->ngroup == c->capgroup) {
        c->capgroup = c->capgroup ? c->capgroup * 2 : 8;
        c->group = xrealloc(c->group, (size_t)c->capgroup * sizeof *c->group);
    }
    c->group[c->ngroup++] = r;
}

static enum shop_err setup_write(struct db *db, void *arg, struct problem *pb)
{
    struct ctx *c = arg;
    c->seller = c->warehouse = 0;
    struct stmt *st;
    if (c->o->seller_email) {
        st = db_prepare(db, "SELECT id, role FROM users WHERE email = ?");
        if (!st)
            return db_fail(db, pb, "finding the seller");
        stmt_bind_text(st, 1, c->o->seller_email);
        if (stmt_step(st) != STMT_ROW || strcmp(stmt_text(st, 1), "seller"))
            return problem_field(pb, SHOP_INVALID, "seller", "no seller %s", c->o->seller_email);
        c->seller = stmt_i64(st, 0);
    } else {
        st = db_prepare(db, "SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1");
        if (!st)
            return db_fail(db, pb, "finding the shop's account");
        if (stmt_step(st) != STMT_ROW)
            return problem_set(pb, SHOP_INVALID, "the shop has no admin to own the products;"
                                                 " create one (shopd user create) or pass --seller");
        c->seller = stmt_i64(st, 0);
    }
    st = db_prepare(db, "SELECT id FROM warehouses ORDER BY id LIMIT 1");
    if (!st)
        return db_fail(db, pb, "finding a warehouse");
    if (stmt_step(st) == STMT_ROW) {
        c->warehouse = stmt_i64(st, 0);
        return SHOP_OK;
    }
    if (c->o->dry_run) {
        c->warehouse = -1; /* would be created; a dry run creates nothing */
        return SHOP_OK;
    }
    st = db_prepare(db, "INSERT INTO warehouses (code, name, country, postal_code, lat, lon,"
                        " created_at) VALUES ('MAIN', 'Main warehouse', 'US', '00000', 0, 0, ?)");
    if (!st)
        return db_fail(db, pb, "creating a warehouse");
    stmt_bind_i64(st, 1, clock_now_ms());
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating a warehouse");
    c->warehouse = db_last_id(db);
    return SHOP_OK;
}

enum shop_err import_products(struct shop *shop, const struct import_opts *o,
                              struct import_report *rep, struct problem *pb)
{
    memset(rep, 0, sizeof *rep);
    FILE *f = fopen(o->path, "rb");
    if (!f)
        return problem_set(pb, SHOP_INVALID, "cannot open %s", o->path);
    struct stat sb;
    int64_t total = fstat(fileno(f), &sb) == 0 ? (int64_t)sb.st_size : 0;
    struct ctx *c = xcalloc(1, sizeof *c);
    c->shop = shop;
    c->o = o;
    c->rep = rep;
    c->pb = pb;
    c->between = true;
    enum shop_err e = store_write(shop->store, setup_write, c, pb);
    if (e != SHOP_OK)
        goto done;
    csv_init(&c->csv, CSV_APPEND_NULL | CSV_STRICT_FINI);
    char *buf = xmalloc(65536), *line = NULL;
    size_t linecap = 0, linelen = 0, n;
    int64_t done = 0, last_progress = -1;
    bool first = true;
    /* Physical lines: each is fed whole, so a record starts on the line
     * where the parser was between records when it got a non-blank line. */
    while (!c->err && (n = fread(buf, 1, 65536, f)) > 0) {
        size_t i = 0;
        if (first && n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
            i = 3;
        first = false;
        while (i < n && !c->err) {
            char *nl = memchr(buf + i, '\n', n - i);
            size_t take = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
            if (linelen + take > linecap) {
                linecap = (linelen + take) * 2;
                line = xrealloc(line, linecap);
            }
            memcpy(line + linelen, buf + i, take);
            linelen += take;
            i += take;
            if (!nl)
                break;
            c->line++;
            bool blank = linelen <= 2 && (line[0] == '\n' || line[0] == '\r');
            if (c->between && !blank) {
                c->record_line = c->line;
                c->between = false;
            }
            if (csv_parse(&c->csv, line, linelen, on_field, on_record, c) != linelen)
                break;
            linelen = 0;
            if (c->ncols < 0)
                break;
        }
        done += (int64_t)n;
        if (o->progress && done * 100 / (total ? total : 1) != last_progress) {
            last_progress = done * 100 / (total ? total : 1);
            o->progress(o->cls, done, total);
        }
        if (c->ncols < 0)
            break;
    }
    if (linelen && !c->err && c->ncols >= 0) { /* a last line without a newline */
        c->line++;
        if (c->between) {
            c->record_line = c->line;
            c->between = false;
        }
        csv_parse(&c->csv, line, linelen, on_field, on_record, c);
    }
    if (csv_fini(&c->csv, on_field, on_record, c) != 0 && c->have_header) {
        rep->rows_rejected++;
        if (o->rejected)
            o->rejected(o->cls, c->record_line, NULL,
                        "a quoted field is not closed before the end of the file");
        for (int k = 0; k < F_COUNT; k++)
            free(c->cur.f[k]);
    }
    csv_free(&c->csv);
    free(buf);
    free(line);
    if (!c->have_header && !c->err) {
        e = problem_set(pb, SHOP_INVALID, "%s has no Shopify product header (Handle or URL handle,"
                        " and Title, in its first line)", o->path);
        free_rows(c->group, c->ngroup);
        goto done;
    }
    flush_group(c);
    flush_batch(c);
    free_rows(c->group, c->ngroup);
    if (o->progress)
        o->progress(o->cls, total, total);
    e = c->err;
done:
    for (int i = 0; i < IMPORT_MAX_COLS; i++)
        free(c->names[i]);
    free(c->group);
    free(c);
    fclose(f);
    return e;
}
