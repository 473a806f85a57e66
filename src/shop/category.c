#include "shop/category.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop/changes.h"
#include "shop/keylock.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"
#include "util/xalloc.h"

struct centry {
    int64_t id, parent_id;
    char *name, *slug, *path, *slug_path;
    int depth;
};

struct category_tree {
    pthread_rwlock_t lock;
    /* Loads one at a time, from the read to the swap: a load that read
     * before another's commit can then never replace the tree after that
     * other's load, which read it (two categories created at once each
     * found their own missing from the tree). */
    pthread_mutex_t load_mu;
    struct centry *v; /* sorted by id */
    size_t n;
};

struct category_tree *category_tree_new(void)
{
    struct category_tree *t = xcalloc(1, sizeof *t);
    pthread_rwlock_init(&t->lock, NULL);
    pthread_mutex_init(&t->load_mu, NULL);
    return t;
}

static void entries_free(struct centry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].slug);
        free(v[i].path);
        free(v[i].slug_path);
    }
    free(v);
}

void category_tree_free(struct category_tree *t)
{
    if (!t)
        return;
    entries_free(t->v, t->n);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->load_mu);
    free(t);
}

static struct centry *find(struct centry *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].id == id ? &v[lo] : NULL;
}

static enum shop_err tree_load_locked(struct category_tree *t, struct db *db,
                                      struct problem *pb);

enum shop_err category_tree_load(struct category_tree *t, struct db *db, struct problem *pb)
{
    pthread_mutex_lock(&t->load_mu);
    enum shop_err e = tree_load_locked(t, db, pb);
    pthread_mutex_unlock(&t->load_mu);
    return e;
}

static enum shop_err tree_load_locked(struct category_tree *t, struct db *db, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT id, coalesce(parent_id, 0), name, slug, path, depth"
                                     " FROM categories ORDER BY id");
    if (!st)
        return db_fail(db, pb, "loading categories");
    size_t n = 0, cap = 64;
    struct centry *v = xcalloc(cap, sizeof *v);
    while (stmt_step(st) == STMT_ROW) {
        if (n == cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[n] = (struct centry){.id = stmt_i64(st, 0), .parent_id = stmt_i64(st, 1),
                               .name = xstrdup(stmt_text(st, 2)), .slug = xstrdup(stmt_text(st, 3)),
                               .path = xstrdup(stmt_text(st, 4)), .depth = (int)stmt_i64(st, 5)};
        n++;
    }
    db_release(db);
    /* Slug paths, parents first (depth order is not id order in general, so
     * walk up the ids for each entry). */
    for (size_t i = 0; i < n; i++) {
        char buf[CATEGORY_MAX_DEPTH * 110] = "";
        const struct centry *chain[CATEGORY_MAX_DEPTH + 1];
        int k = 0;
        for (const struct centry *c = &v[i]; c && k <= CATEGORY_MAX_DEPTH;
             c = c->parent_id ? find(v, n, c->parent_id) : NULL)
            chain[k++] = c;
        size_t used = 0;
        while (k-- > 0) {
            int w = snprintf(buf + used, sizeof buf - used, "%s%s", used ? "/" : "", chain[k]->slug);
            if (w > 0 && (size_t)w < sizeof buf - used)
                used += (size_t)w;
        }
        v[i].slug_path = xstrdup(buf);
    }
    pthread_rwlock_wrlock(&t->lock);
    struct centry *old = t->v;
    size_t oldn = t->n;
    t->v = v;
    t->n = n;
    pthread_rwlock_unlock(&t->lock);
    entries_free(old, oldn);
    return SHOP_OK;
}

static void copy_out(const struct centry *e, struct arena *a, struct category *out)
{
    *out = (struct category){.id = e->id, .parent_id = e->parent_id,
                             .name = arena_strdup(a, e->name), .slug = arena_strdup(a, e->slug),
                             .path = arena_strdup(a, e->path),
                             .slug_path = arena_strdup(a, e->slug_path), .depth = e->depth};
}

bool category_lookup(struct category_tree *t, int64_t id, struct arena *a, struct category *out)
{
    pthread_rwlock_rdlock(&t->lock);
    struct centry *e = find(t->v, t->n, id);
    if (e)
        copy_out(e, a, out);
    pthread_rwlock_unlock(&t->lock);
    return e != NULL;
}

bool category_within(struct category_tree *t, int64_t id, int64_t ancestor)
{
    char needle[32];
    snprintf(needle, sizeof needle, "/%lld/", (long long)ancestor);
    pthread_rwlock_rdlock(&t->lock);
    struct centry *e = find(t->v, t->n, id);
    bool in = e && strstr(e->path, needle) != NULL;
    pthread_rwlock_unlock(&t->lock);
    return in;
}

static json_t *entry_json(const struct centry *e)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:i}", "id", (json_int_t)e->id, "name", e->name,
                     "slug", e->slug, "path", e->slug_path,
                     "parent_id", e->parent_id ? json_integer(e->parent_id) : json_null(), "depth",
                     e->depth);
}

json_t *category_tree_json(struct category_tree *t)
{
    pthread_rwlock_rdlock(&t->lock);
    /* Nodes by position; children appended in id order. */
    json_t **nodes = xcalloc(t->n ? t->n : 1, sizeof *nodes);
    json_t *roots = json_array();
    for (size_t i = 0; i < t->n; i++) {
        nodes[i] = entry_json(&t->v[i]);
        json_object_set_new(nodes[i], "children", json_array());
    }
    for (size_t i = 0; i < t->n; i++) {
        struct centry *parent = t->v[i].parent_id ? find(t->v, t->n, t->v[i].parent_id) : NULL;
        json_t *into = parent ? json_object_get(nodes[parent - t->v], "children") : roots;
        json_array_append(into, nodes[i]);
    }
    for (size_t i = 0; i < t->n; i++)
        json_decref(nodes[i]);
    free(nodes);
    pthread_rwlock_unlock(&t->lock);
    return roots;
}

void category_slugify(const char *name, char *out, size_t outlen)
{
    size_t n = 0;
    bool dash = false;
    for (const char *p = name; *p && n + 2 < outlen; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) && c < 0x80) {
            if (dash && n)
                out[n++] = '-';
            out[n++] = (char)tolower(c);
            dash = false;
        } else {
            dash = true;
        }
    }
    out[n] = '\0';
    if (!n)
        snprintf(out, outlen, "category");
}

bool category_lookup_fresh(struct shop *shop, int64_t id, struct arena *a, struct category *out,
                           struct problem *pb)
{
    if (category_lookup(shop->categories, id, a, out))
        return true;
    /* Other processes' categories reach this tree through the change feed,
     * up to its period later (or while it waits for a long transaction):
     * a product placed in a category just made elsewhere must not be
     * refused meanwhile. */
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT 1 FROM categories WHERE id = ?");
    if (!st) {
        db_fail(db, pb, "looking for the category");
        db_release(db);
        return false;
    }
    stmt_bind_i64(st, 1, id);
    int rc = stmt_step(st);
    if (rc != STMT_ROW && rc != STMT_DONE)
        db_fail(db, pb, "looking for the category");
    db_release(db);
    if (rc != STMT_ROW)
        return false;
    shop_categories_changed(shop);
    return category_lookup(shop->categories, id, a, out);
}

/* ---- create ----------------------------------------------------------------- */

enum shop_err category_insert(struct db *db, const char *name, int64_t parent_id, int64_t now,
                              int64_t *id, struct problem *pb)
{
    char parent_path[256] = "/";
    int depth = 0;
    if (parent_id) {
        struct stmt *st = db_prepare(db, "SELECT path, depth FROM categories WHERE id = ?");
        if (!st)
            return db_fail(db, pb, "reading the parent category");
        stmt_bind_i64(st, 1, parent_id);
        if (stmt_step(st) != STMT_ROW)
            return problem_field(pb, SHOP_INVALID, "parent_id", "no category %lld",
                                 (long long)parent_id);
        snprintf(parent_path, sizeof parent_path, "%s", stmt_text(st, 0));
        depth = (int)stmt_i64(st, 1) + 1;
        if (depth >= CATEGORY_MAX_DEPTH)
            return problem_field(pb, SHOP_INVALID, "parent_id",
                                 "categories nest at most %d levels deep", CATEGORY_MAX_DEPTH);
    }
    /* A unique slug: name, name-2, name-3, … chosen under a lock
     * (shop/keylock.h): on PostgreSQL two creations of one name would
     * otherwise both pick the same free slug and the second fail on its
     * UNIQUE index (a 500). */
    if (keylock(db, (const char *const[]){"categories:slug"}, 1, pb) != SHOP_OK)
        return pb->err;
    char base[100], slug[120];
    category_slugify(name, base, sizeof base);
    snprintf(slug, sizeof slug, "%s", base);
    for (int k = 2;; k++) {
        struct stmt *st = db_prepare(db, "SELECT 1 FROM categories WHERE slug = ?");
        if (!st)
            return db_fail(db, pb, "choosing a slug");
        stmt_bind_text(st, 1, slug);
        if (stmt_step(st) != STMT_ROW)
            break;
        snprintf(slug, sizeof slug, "%s-%d", base, k);
    }
    struct stmt *st = db_prepare(db, "INSERT INTO categories (parent_id, name, slug, path, depth,"
                                     " created_at) VALUES (?, ?, ?, '', ?, ?)");
    if (!st)
        return db_fail(db, pb, "creating the category");
    if (parent_id)
        stmt_bind_i64(st, 1, parent_id);
    else
        stmt_bind_null(st, 1);
    stmt_bind_text(st, 2, name);
    stmt_bind_text(st, 3, slug);
    stmt_bind_i64(st, 4, depth);
    stmt_bind_i64(st, 5, now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating the category");
    *id = db_last_id(db);
    char path[300];
    snprintf(path, sizeof path, "%s%lld/", parent_path, (long long)*id);
    st = db_prepare(db, "UPDATE categories SET path = ? WHERE id = ?");
    if (!st)
        return db_fail(db, pb, "creating the category");
    stmt_bind_text(st, 1, path);
    stmt_bind_i64(st, 2, *id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "creating the category");
    return outbox_emit(db, "category.changed", *id, NULL, pb);
}

struct create_job {
    const char *name;
    int64_t parent_id, now;
    int64_t id; /* out */
};

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct create_job *j = arg;
    return category_insert(db, j->name, j->parent_id, j->now, &j->id, pb);
}

enum shop_err category_create(struct shop *shop, struct arena *a, const char *name,
                              int64_t parent_id, struct category *out, struct problem *pb)
{
    size_t n = jx_utf8_len(name);
    if (n == 0 || n > CATEGORY_NAME_MAX)
        return problem_field(pb, SHOP_INVALID, "name", "must be 1 to %d characters",
                             CATEGORY_NAME_MAX);
    struct create_job j = {.name = name, .parent_id = parent_id, .now = clock_now_ms()};
    if (store_write(shop->store, create_write, &j, pb) != SHOP_OK)
        return pb->err;
    shop_categories_changed(shop);
    if (!category_lookup(shop->categories, j.id, a, out))
        return problem_set(pb, SHOP_INTERNAL, "the new category is missing");
    return SHOP_OK;
}
