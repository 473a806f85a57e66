/* import_write.c — writing batches of imported products: categories by
 * path, products by handle, variants by SKU, stock, one transaction per batch
 * and a savepoint per product (import.c is the essay). */
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/catalog.h"
#include "shop/category.h"
#include "shop/import_int.h"
#include "shop/inventory.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/xalloc.h"

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

/* ---- the category cache -------------------------------------------------------------
 *
 * Most products of a file share a few category paths; resolving one costs a
 * lookup per level. The cache maps a path to its id. An entry made while a
 * batch is written (the id found or created in that transaction) is pending:
 * it holds only as long as what made it is not rolled back. So every pending
 * entry is dropped when a product fails (its savepoint is rolled back), when
 * a batch starts (a batch run again after a failure starts from nothing) and
 * when a batch does not commit (a dry run, a store failure); a batch that
 * commits makes them committed. */

static enum shop_err resolve_path(struct db *db, struct item *it, int64_t now, int64_t *id,
                                  struct problem *pb);

static uint64_t cat_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct cat_slot *cat_slot(struct ctx *c, const char *path)
{
    size_t i = cat_hash(path) & (IMPORT_CAT_SLOTS - 1);
    while (c->cats[i].path && strcmp(c->cats[i].path, path))
        i = (i + 1) & (IMPORT_CAT_SLOTS - 1);
    return &c->cats[i];
}

static void cat_put(struct ctx *c, const char *path, int64_t id, bool committed)
{
    if (c->ncats >= IMPORT_CAT_SLOTS / 2)
        return; /* full: the rest are looked up each time */
    struct cat_slot *sl = cat_slot(c, path);
    if (sl->path)
        return;
    *sl = (struct cat_slot){xstrdup(path), id, committed};
    c->ncats++;
    c->ncats_pending += !committed;
}

/* Drops the pending entries (rebuilding the table keeps probing simple). */
static void cats_drop_pending(struct ctx *c)
{
    if (!c->ncats_pending)
        return;
    struct cat_slot *old = xmalloc(sizeof c->cats);
    memcpy(old, c->cats, sizeof c->cats);
    memset(c->cats, 0, sizeof c->cats);
    c->ncats = c->ncats_pending = 0;
    for (int i = 0; i < IMPORT_CAT_SLOTS; i++)
        if (old[i].path) {
            if (old[i].committed)
                cat_put(c, old[i].path, old[i].id, true);
            free(old[i].path);
        }
    free(old);
}

static void cats_commit(struct ctx *c)
{
    for (int i = 0; i < IMPORT_CAT_SLOTS; i++)
        c->cats[i].committed = c->cats[i].path != NULL;
    c->ncats_pending = 0;
}

void import_cats_free(struct ctx *c)
{
    for (int i = 0; i < IMPORT_CAT_SLOTS; i++)
        free(c->cats[i].path);
    memset(c->cats, 0, sizeof c->cats);
    c->ncats = c->ncats_pending = 0;
}

static enum shop_err resolve_category(struct db *db, struct ctx *c, struct item *it, int64_t now,
                                      int64_t *id, struct problem *pb)
{
    const char *key = it->category ? it->category : "";
    struct cat_slot *hit = cat_slot(c, key);
    if (hit->path) {
        *id = hit->id;
        return SHOP_OK;
    }
    enum shop_err e = resolve_path(db, it, now, id, pb);
    if (e == SHOP_OK)
        cat_put(c, key, *id, false);
    return e;
}

/* The category of a path, created level by level as needed. */
static enum shop_err resolve_path(struct db *db, struct item *it, int64_t now, int64_t *id,
                                  struct problem *pb)
{
    int64_t parent = 0;
    int depth = 0;
    const char *p = it->category ? it->category : "";
    while (*p && depth < CATEGORY_MAX_DEPTH) {
        const char *gt = strstr(p, ">");
        size_t n = gt ? (size_t)(gt - p) : strlen(p);
        char *name = import_trimdup(p, n);
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

/* `fresh`: the variant was created just now, so it has no stock row to read. */
static enum shop_err set_stock(struct db *db, struct ctx *c, struct item *it, int64_t vid,
                               bool fresh, const struct variant_in *v, int64_t now,
                               struct problem *pb)
{
    struct stmt *st;
    int64_t on_hand = 0, reserved = 0;
    bool exists = false;
    if (!fresh) {
        st = db_prepare(db, "SELECT on_hand, reserved FROM stock WHERE variant_id = ?"
                            " AND warehouse_id = ?");
        if (!st)
            return db_fail(db, pb, "reading stock");
        stmt_bind_i64(st, 1, vid);
        stmt_bind_i64(st, 2, c->warehouse);
        exists = stmt_step(st) == STMT_ROW;
    }
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
    struct stock_row before = {vid, c->warehouse, on_hand, reserved};
    struct stock_row after = {vid, c->warehouse, v->qty, reserved};
    return inventory_audit(db, vid, c->warehouse, "adjust", &before, &after, 0, "import", pb);
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
    if (resolve_category(db, c, it, j->now, &category, pb) != SHOP_OK ||
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
        bool fresh = false;
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
            fresh = true;
        }
        if (v->has_qty && c->warehouse > 0 &&
            set_stock(db, c, it, vid, fresh, v, j->now, pb) != SHOP_OK)
            return pb->err;
    }
    return outbox_emit_text(db, "product.changed", pid, "{\"change\":\"imported\"}", pb);
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
    cats_drop_pending(c); /* this may be the batch run again */
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
            cats_drop_pending(c); /* its savepoint was rolled back */
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

void import_flush_batch(struct ctx *c)
{
    if (!c->nbatch || c->err)
        goto out;
    struct batch_job b = {c, clock_now_ms()};
    struct problem pb = {0};
    enum shop_err e = store_write(c->shop->store, batch_write, &b, &pb);
    if (e == SHOP_OK)
        cats_commit(c);
    else
        cats_drop_pending(c); /* rolled back: a dry run, or the store failed */
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
            import_reject(c, it, it->failed_line, "%s", it->reason);
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
        import_item_free(&c->batch[i]);
    c->nbatch = 0;
}

enum shop_err import_setup_write(struct db *db, void *arg, struct problem *pb)
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

