/* catalog.c — creating and editing products and variants (catalog.h). */
#include "shop/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/category.h"
#include "shop/changes.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"

const char *product_status_name(enum product_status s)
{
    static const char *const names[] = {"draft", "pending_review", "published", "rejected"};
    return (unsigned)s < 4 ? names[s] : "draft";
}

int product_status_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, product_status_name((enum product_status)i)))
            return i;
    return -1;
}

bool catalog_currency_valid(const char *c)
{
    static const char accepted[] = "USD EUR GBP CAD AUD NZD JPY INR CHF SEK NOK DKK PLN CZK "
                                   "HUF SGD HKD CNY KRW MXN BRL ZAR AED SAR TRY ILS";
    if (strlen(c) != 3)
        return false;
    for (const char *p = accepted; *p; p += p[3] ? 4 : 3)
        if (!strncmp(p, c, 3))
            return true;
    return false;
}

/* ---- input ------------------------------------------------------------------ */

struct variant_in {
    int64_t id; /* PATCH: an existing variant; 0 adds one */
    const char *sku;
    char *options; /* JSON text, NULL when absent */
    int64_t price_cents, weight_grams;
    bool has_price, has_weight;
};

struct product_in {
    const char *title, *description, *brand, *currency;
    int64_t category_id;
    char *images, *specs; /* JSON text, NULL when absent */
    int returnable;       /* -1 absent */
    int allow_backorder;  /* -1 absent */
    struct variant_in *variants;
    int nvariants;
};

static bool sku_valid(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.' || *s == '/'))
            return false;
    return true;
}

/* A JSON object of short string values (variant options), as text. */
static char *options_in(json_t *o, const char *field, struct arena *a, struct problem *pb)
{
    json_t *opts;
    if (!jx_object(o, "options", field, JX_OPTIONAL, VARIANT_OPTIONS_MAX, &opts, pb))
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(opts, k, v)
    {
        if (!json_is_string(v) || jx_utf8_len(json_string_value(v)) > 100 || jx_utf8_len(k) > 50 ||
            !*k) {
            problem_field(pb, SHOP_INVALID, field,
                          "options are names (1–50 characters) with string values (≤ 100)");
            return NULL;
        }
    }
    char *text = jx_dump(opts, NULL);
    char *copy = arena_strdup(a, text);
    free(text);
    return copy;
}

/* A PATCH names what it changes; none of these fields can be emptied, so
 * a null is refused (it would otherwise read as "absent": a 200 that kept
 * the old value). Field names start with `prefix`, as variant_in's. */
static void refuse_nulls(json_t *o, const char *prefix, const char *const *keys, struct problem *pb)
{
    for (; *keys; keys++)
        if (json_is_null(json_object_get(o, *keys))) {
            char f[64];
            snprintf(f, sizeof f, "%s%s", prefix, *keys);
            problem_field(pb, SHOP_INVALID, f, "must not be null");
        }
}

/* How a variant body is read: a new variant (sku and price required), an
 * item of a product PATCH (with an id it edits, without it adds), or the body
 * of PATCH /v1/variants/{id} (edits `id`). */
enum variant_mode { VARIANT_NEW, VARIANT_ITEM, VARIANT_EDIT };

/* Reads one variant. Field names in problems start with `prefix`
 * ("variants[2]." inside a product body, "" for PATCH /v1/variants/{id}). */
static bool variant_in(json_t *v, const char *prefix, enum variant_mode mode, int64_t id,
                       struct arena *a, struct variant_in *out, struct problem *pb)
{
    char f[64];
    if (!json_is_object(v)) {
        snprintf(f, sizeof f, "%.*s", (int)strlen(prefix) - 1, prefix);
        problem_field(pb, SHOP_INVALID, f, "must be an object");
        return false;
    }
    memset(out, 0, sizeof *out);
    if (mode != VARIANT_NEW)
        refuse_nulls(
            v, prefix,
            (const char *const[]){"id", "sku", "price_cents", "weight_grams", "options", NULL}, pb);
    snprintf(f, sizeof f, "%sid", prefix);
    out->id = id;
    if (mode == VARIANT_ITEM)
        jx_int(v, "id", f, JX_OPTIONAL, 1, INT64_MAX, &out->id, pb);
    bool adding = !out->id;
    snprintf(f, sizeof f, "%ssku", prefix);
    if (jx_str(v, "sku", f, adding ? JX_REQUIRED : JX_OPTIONAL, 1, VARIANT_SKU_MAX, &out->sku,
               pb) &&
        !sku_valid(out->sku))
        problem_field(pb, SHOP_INVALID, f, "may hold letters, digits and - _ . / only");
    snprintf(f, sizeof f, "%sprice_cents", prefix);
    out->has_price = jx_int(v, "price_cents", f, adding ? JX_REQUIRED : JX_OPTIONAL, 0,
                            PRICE_MAX_CENTS, &out->price_cents, pb);
    snprintf(f, sizeof f, "%sweight_grams", prefix);
    out->has_weight =
        jx_int(v, "weight_grams", f, JX_OPTIONAL, 0, WEIGHT_MAX_GRAMS, &out->weight_grams, pb);
    snprintf(f, sizeof f, "%soptions", prefix);
    out->options = options_in(v, f, a, pb);
    return pb->err == SHOP_OK;
}

static char *images_in(json_t *body, struct arena *a, struct problem *pb)
{
    json_t *arr;
    if (!jx_array(body, "images", NULL, JX_OPTIONAL, PRODUCT_IMAGES_MAX, &arr, pb))
        return NULL;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *u = json_string_value(v);
        if (!u || strlen(u) > 500 || (strncmp(u, "https://", 8) && strncmp(u, "http://", 7)) ||
            strpbrk(u, " \"<>")) {
            char f[32];
            snprintf(f, sizeof f, "images[%zu]", i);
            problem_field(pb, SHOP_INVALID, f, "must be an http(s) URL of at most 500 characters");
            return NULL;
        }
    }
    char *text = jx_dump(arr, NULL);
    char *copy = arena_strdup(a, text);
    free(text);
    return copy;
}

static char *specs_in(json_t *body, struct arena *a, struct problem *pb)
{
    json_t *o;
    if (!jx_object(body, "specs", NULL, JX_OPTIONAL, PRODUCT_SPECS_MAX, &o, pb))
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool ok = *k && jx_utf8_len(k) <= 100 &&
                  ((json_is_string(v) && jx_utf8_len(json_string_value(v)) <= 500) ||
                   json_is_number(v) || json_is_boolean(v));
        if (!ok) {
            problem_field(pb, SHOP_INVALID, "specs",
                          "specifications are names (1–100 characters) with short values");
            return NULL;
        }
    }
    char *text = jx_dump(o, NULL);
    char *copy = arena_strdup(a, text);
    free(text);
    return copy;
}

/* Reads a product body. `patch`: everything optional, variants may carry ids. */
static enum shop_err product_in(struct shop *shop, json_t *body, bool patch, struct arena *a,
                                struct product_in *in, struct problem *pb)
{
    enum jx_need need = patch ? JX_OPTIONAL : JX_REQUIRED;
    memset(in, 0, sizeof *in);
    in->returnable = -1;
    in->allow_backorder = -1;
    if (patch)
        refuse_nulls(body, "",
                     (const char *const[]){"title", "description", "brand", "currency",
                                           "category_id", "images", "specs", "returnable",
                                           "allow_backorder", "variants", NULL},
                     pb);
    jx_str(body, "title", NULL, need, 1, PRODUCT_TITLE_MAX, &in->title, pb);
    jx_str(body, "description", NULL, need, 0, PRODUCT_DESCRIPTION_MAX, &in->description, pb);
    jx_str(body, "brand", NULL, need, 1, PRODUCT_BRAND_MAX, &in->brand, pb);
    if (jx_str(body, "currency", NULL, need, 3, 3, &in->currency, pb) &&
        !catalog_currency_valid(in->currency))
        problem_field(pb, SHOP_INVALID, "currency", "must be an ISO 4217 code such as USD");
    struct problem db_pb = {0};
    if (jx_int(body, "category_id", NULL, need, 1, INT64_MAX, &in->category_id, pb) &&
        !category_lookup_fresh(shop, in->category_id, a, &(struct category){0}, &db_pb)) {
        if (db_pb.err)
            problem_set(pb, db_pb.err, "%s", db_pb.detail);
        else
            problem_field(pb, SHOP_INVALID, "category_id", "no category %lld",
                          (long long)in->category_id);
    }
    problem_clear(&db_pb);
    in->images = images_in(body, a, pb);
    in->specs = specs_in(body, a, pb);
    bool r;
    if (jx_bool(body, "returnable", NULL, JX_OPTIONAL, &r, pb))
        in->returnable = r;
    if (jx_bool(body, "allow_backorder", NULL, JX_OPTIONAL, &r, pb))
        in->allow_backorder = r;
    json_t *vs;
    if (jx_array(body, "variants", NULL, need, PRODUCT_VARIANTS_MAX, &vs, pb)) {
        if (!patch && json_array_size(vs) == 0)
            problem_field(pb, SHOP_INVALID, "variants", "a product needs at least one variant");
        in->nvariants = (int)json_array_size(vs);
        in->variants = arena_alloc(a, sizeof *in->variants * (size_t)(in->nvariants + 1));
        for (int i = 0; i < in->nvariants; i++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "variants[%d].", i);
            variant_in(json_array_get(vs, (size_t)i), prefix, patch ? VARIANT_ITEM : VARIANT_NEW, 0,
                       a, &in->variants[i], pb);
        }
        for (int i = 0; i < in->nvariants; i++)
            for (int k = 0; k < i; k++)
                if (in->variants[i].sku && in->variants[k].sku &&
                    !strcmp(in->variants[i].sku, in->variants[k].sku)) {
                    char f[48];
                    snprintf(f, sizeof f, "variants[%d].sku", i);
                    problem_field(pb, SHOP_INVALID, f, "repeats the SKU of variants[%d]", k);
                }
    }
    return pb->err;
}

/* ---- writes ------------------------------------------------------------------- */

struct product_job {
    const struct principal *who;
    struct product_in in;
    int64_t id, now;
    int64_t variant_id;         /* variant PATCH */
    enum product_status status; /* read by update and variant writes */
};

bool catalog_price_listable(int64_t cents)
{
    return cents >= 1 && cents <= PRICE_SANE_MAX_CENTS;
}

/* Listed: submitted or published, so the submit checks hold for it. */
static bool listed(enum product_status s)
{
    return s == PRODUCT_PENDING || s == PRODUCT_PUBLISHED;
}

/* Inserts or updates the variants of a body; SKU clashes name the field. */
static enum shop_err write_variants(struct db *db, struct product_job *j, struct problem *pb)
{
    for (int i = 0; i < j->in.nvariants; i++) {
        struct variant_in *v = &j->in.variants[i];
        char f[48];
        if (listed(j->status) && (v->has_price || !v->id) &&
            !catalog_price_listable(v->price_cents)) {
            if (j->variant_id)
                snprintf(f, sizeof f, "price_cents");
            else
                snprintf(f, sizeof f, "variants[%d].price_cents", i);
            return problem_field(pb, SHOP_INVALID, f,
                                 "a listed product's prices must be between 1 and %lld cents",
                                 PRICE_SANE_MAX_CENTS);
        }
        /* PATCH /v1/variants/{id} names its own field, "sku". */
        if (j->variant_id)
            snprintf(f, sizeof f, "sku");
        else
            snprintf(f, sizeof f, "variants[%d].sku", i);
        int rc;
        if (!v->id) {
            struct stmt *st = db_prepare(db, "INSERT INTO variants (product_id, sku, options,"
                                             " price_cents, weight_grams, position, created_at,"
                                             " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
            if (!st)
                return db_fail(db, pb, "saving a variant");
            stmt_bind_i64(st, 1, j->id);
            stmt_bind_text(st, 2, v->sku);
            stmt_bind_text(st, 3, v->options ? v->options : "{}");
            stmt_bind_i64(st, 4, v->price_cents);
            stmt_bind_i64(st, 5, v->has_weight ? v->weight_grams : 0);
            stmt_bind_i64(st, 6, i);
            stmt_bind_i64(st, 7, j->now);
            stmt_bind_i64(st, 8, j->now);
            rc = stmt_step(st);
        } else {
            int64_t old_price = -1;
            struct stmt *st = db_prepare(db, "SELECT price_cents FROM variants WHERE id = ? AND"
                                             " product_id = ?");
            if (!st)
                return db_fail(db, pb, "reading a variant");
            stmt_bind_i64(st, 1, v->id);
            stmt_bind_i64(st, 2, j->id);
            if (stmt_step(st) != STMT_ROW) {
                snprintf(f, sizeof f, "variants[%d].id", i);
                return problem_field(pb, SHOP_INVALID, f, "no variant %lld on this product",
                                     (long long)v->id);
            }
            old_price = stmt_i64(st, 0);
            st = db_prepare(db, "UPDATE variants SET sku = coalesce(?, sku),"
                                " options = coalesce(?, options),"
                                " price_cents = coalesce(?, price_cents),"
                                " weight_grams = coalesce(?, weight_grams), updated_at = ?"
                                " WHERE id = ?");
            if (!st)
                return db_fail(db, pb, "saving a variant");
            stmt_bind_text(st, 1, v->sku);
            stmt_bind_text(st, 2, v->options);
            if (v->has_price)
                stmt_bind_i64(st, 3, v->price_cents);
            if (v->has_weight)
                stmt_bind_i64(st, 4, v->weight_grams);
            stmt_bind_i64(st, 5, j->now);
            stmt_bind_i64(st, 6, v->id);
            rc = stmt_step(st);
            if (rc == STMT_DONE && v->has_price && v->price_cents != old_price) {
                enum shop_err e = outbox_emit(
                    db, "price.changed", j->id,
                    json_pack("{s:I, s:I, s:I, s:I}", "product_id", (json_int_t)j->id, "variant_id",
                              (json_int_t)v->id, "old_price_cents", (json_int_t)old_price,
                              "new_price_cents", (json_int_t)v->price_cents),
                    pb);
                if (e != SHOP_OK)
                    return e;
            }
        }
        if (rc == STMT_CONSTRAINT)
            return problem_field(pb, SHOP_CONFLICT, f, "SKU %s is already in use", v->sku);
        if (rc != STMT_DONE)
            return db_fail(db, pb, "saving a variant");
    }
    return SHOP_OK;
}

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct product_job *j = arg;
    struct product_in *in = &j->in;
    struct stmt *st = db_prepare(db, "INSERT INTO products (seller_id, category_id, title,"
                                     " description, brand, currency, images, specs, returnable,"
                                     " status, created_at, updated_at, allow_backorder) VALUES"
                                     " (?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "saving the product");
    stmt_bind_i64(st, 1, j->who->user_id);
    stmt_bind_i64(st, 2, in->category_id);
    stmt_bind_text(st, 3, in->title);
    stmt_bind_text(st, 4, in->description);
    stmt_bind_text(st, 5, in->brand);
    stmt_bind_text(st, 6, in->currency);
    stmt_bind_text(st, 7, in->images ? in->images : "[]");
    stmt_bind_text(st, 8, in->specs ? in->specs : "{}");
    stmt_bind_i64(st, 9, in->returnable != 0);
    stmt_bind_i64(st, 10, j->now);
    stmt_bind_i64(st, 11, j->now);
    stmt_bind_i64(st, 12, in->allow_backorder > 0);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "saving the product");
    j->id = db_last_id(db);
    enum shop_err e = write_variants(db, j, pb);
    if (e != SHOP_OK)
        return e;
    return outbox_emit(db, "product.changed", j->id, json_pack("{s:s}", "change", "created"), pb);
}

enum shop_err catalog_create(struct shop *shop, const struct principal *who, json_t *body,
                             int64_t *id, struct problem *pb)
{
    struct arena *a = arena_new();
    struct product_job j = {.who = who, .now = clock_now_ms()};
    enum shop_err e = product_in(shop, body, false, a, &j.in, pb);
    if (e == SHOP_OK)
        e = store_write(shop->store, create_write, &j, pb);
    arena_free(a);
    if (e != SHOP_OK)
        return e;
    *id = j.id;
    shop_product_changed(shop, j.id);
    return SHOP_OK;
}

enum shop_err catalog_check_owner(struct db *db, const struct principal *who, int64_t id,
                                  enum product_status *status, int64_t *seller_id,
                                  struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT seller_id, status FROM products WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "reading the product");
    stmt_bind_i64(st, 1, id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no product %lld", (long long)id);
    int64_t seller = stmt_i64(st, 0);
    int s = product_status_parse(stmt_text(st, 1));
    if (status)
        *status = (enum product_status)(s < 0 ? 0 : s);
    if (seller_id)
        *seller_id = seller;
    if (who->role == ROLE_ADMIN || (who->role == ROLE_SELLER && who->user_id == seller))
        return SHOP_OK;
    if (s == PRODUCT_PUBLISHED)
        return problem_set(pb, SHOP_FORBIDDEN, "product %lld belongs to another seller",
                           (long long)id);
    return problem_set(pb, SHOP_NOT_FOUND, "no product %lld", (long long)id);
}

static enum shop_err update_write(struct db *db, void *arg, struct problem *pb)
{
    struct product_job *j = arg;
    struct product_in *in = &j->in;
    if (catalog_check_owner(db, j->who, j->id, &j->status, NULL, pb) != SHOP_OK)
        return pb->err;
    struct stmt *st;
    if (in->currency && listed(j->status)) {
        /* Carts and flash sales hold its prices in the currency they were
         * listed in: a listed product keeps it. */
        st = db_prepare(db, "SELECT currency FROM products WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "reading the product");
        stmt_bind_i64(st, 1, j->id);
        if (stmt_step(st) != STMT_ROW)
            return db_fail(db, pb, "reading the product");
        if (strcmp(stmt_text(st, 0), in->currency) != 0)
            return problem_field(pb, SHOP_CONFLICT, "currency",
                                 "a listed product's currency cannot change; unpublish it first");
    }
    st = db_prepare(db, "UPDATE products SET title = coalesce(?, title),"
                        " description = coalesce(?, description),"
                        " brand = coalesce(?, brand), currency = coalesce(?, currency),"
                        " category_id = coalesce(?, category_id),"
                        " images = coalesce(?, images), specs = coalesce(?, specs),"
                        " returnable = coalesce(?, returnable), updated_at = ?,"
                        " allow_backorder = coalesce(?, allow_backorder) WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "saving the product");
    stmt_bind_text(st, 1, in->title);
    stmt_bind_text(st, 2, in->description);
    stmt_bind_text(st, 3, in->brand);
    stmt_bind_text(st, 4, in->currency);
    if (in->category_id)
        stmt_bind_i64(st, 5, in->category_id);
    stmt_bind_text(st, 6, in->images);
    stmt_bind_text(st, 7, in->specs);
    if (in->returnable >= 0)
        stmt_bind_i64(st, 8, in->returnable);
    stmt_bind_i64(st, 9, j->now);
    if (in->allow_backorder >= 0)
        stmt_bind_i64(st, 10, in->allow_backorder);
    stmt_bind_i64(st, 11, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "saving the product");
    enum shop_err e = write_variants(db, j, pb);
    if (e != SHOP_OK)
        return e;
    return outbox_emit(db, "product.changed", j->id, json_pack("{s:s}", "change", "updated"), pb);
}

enum shop_err catalog_update(struct shop *shop, const struct principal *who, int64_t id,
                             json_t *body, struct problem *pb)
{
    struct arena *a = arena_new();
    struct product_job j = {.who = who, .id = id, .now = clock_now_ms()};
    enum shop_err e = product_in(shop, body, true, a, &j.in, pb);
    if (e == SHOP_OK)
        e = store_write(shop->store, update_write, &j, pb);
    arena_free(a);
    if (e == SHOP_OK)
        shop_product_changed(shop, id);
    return e;
}

static enum shop_err variant_write(struct db *db, void *arg, struct problem *pb)
{
    struct product_job *j = arg;
    if (db_scalar_i64_or_fail(db, "SELECT product_id FROM variants WHERE id = ?", j->variant_id, 0,
                              &j->id, pb, "reading the variant") != SHOP_OK)
        return pb->err;
    if (!j->id)
        return problem_set(pb, SHOP_NOT_FOUND, "no variant %lld", (long long)j->variant_id);
    if (catalog_check_owner(db, j->who, j->id, &j->status, NULL, pb) != SHOP_OK) {
        if (pb->err == SHOP_NOT_FOUND)
            problem_set(pb, SHOP_NOT_FOUND, "no variant %lld", (long long)j->variant_id);
        return pb->err;
    }
    struct stmt *st = db_prepare(db, "UPDATE products SET updated_at = ? WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "saving the product");
    stmt_bind_i64(st, 1, j->now);
    stmt_bind_i64(st, 2, j->id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "saving the product");
    enum shop_err e = write_variants(db, j, pb);
    if (e != SHOP_OK)
        return e;
    return outbox_emit(db, "product.changed", j->id, json_pack("{s:s}", "change", "variant"), pb);
}

enum shop_err catalog_variant_update(struct shop *shop, const struct principal *who,
                                     int64_t variant_id, json_t *body, int64_t *product_id,
                                     struct problem *pb)
{
    struct arena *a = arena_new();
    struct variant_in v;
    struct product_job j = {.who = who, .variant_id = variant_id, .now = clock_now_ms()};
    enum shop_err e = SHOP_OK;
    if (json_object_get(body, "id"))
        e = problem_field(pb, SHOP_INVALID, "id", "the variant's id is in the path");
    else if (!variant_in(body, "", VARIANT_EDIT, variant_id, a, &v, pb))
        e = pb->err;
    if (e == SHOP_OK) {
        j.in.variants = &v;
        j.in.nvariants = 1;
        e = store_write(shop->store, variant_write, &j, pb);
    }
    arena_free(a);
    if (e == SHOP_OK) {
        *product_id = j.id;
        shop_product_changed(shop, j.id);
    }
    return e;
}
