/* category.h — the category tree (CAT-1).
 *
 * Categories form a tree of at most CATEGORY_MAX_DEPTH levels. Each row
 * stores its path of ids ('/1/4/9/'), so "this category and everything below
 * it" is a prefix match. The whole tree is small and read on every product
 * page, so it lives in memory (reloaded after each change, and when another
 * process changes it) behind a read-write lock.
 */
#ifndef SHOP_SHOP_CATEGORY_H
#define SHOP_SHOP_CATEGORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/problem.h"

struct shop;
struct db;
struct category_tree;

#define CATEGORY_MAX_DEPTH 6
#define CATEGORY_NAME_MAX 100

struct category {
    int64_t id, parent_id; /* parent 0 for a root */
    const char *name, *slug;
    const char *path;      /* ids: '/1/4/9/' */
    const char *slug_path; /* slugs: 'electronics/audio/headphones' */
    int depth;
};

struct category_tree *category_tree_new(void);
void category_tree_free(struct category_tree *t);

/** Reloads the tree from the database. */
enum shop_err category_tree_load(struct category_tree *t, struct db *db, struct problem *pb);

/** Copies category `id` into `out` (strings in `a`). False when unknown. */
bool category_lookup(struct category_tree *t, int64_t id, struct arena *a, struct category *out);

/** category_lookup for a write that names a category: one this process's
 *  tree does not know yet (created through another process, whose event the
 *  change feed has not applied) is looked for in the database, and when it
 *  is there the tree is reloaded first. False when there is no such
 *  category (or the database could not say: `pb` then holds why). */
bool category_lookup_fresh(struct shop *shop, int64_t id, struct arena *a, struct category *out,
                           struct problem *pb);

/** True when `id` is `ancestor` or below it. */
bool category_within(struct category_tree *t, int64_t id, int64_t ancestor);

/** The whole tree as [{id, name, slug, path, parent_id, children:[…]}]. */
json_t *category_tree_json(struct category_tree *t);

/** Creates a category (admin). Errors: SHOP_INVALID (name, parent_id,
 *  depth). The tree in memory is reloaded. */
enum shop_err category_create(struct shop *shop, struct arena *a, const char *name,
                              int64_t parent_id, struct category *out, struct problem *pb);

/** Inserts a category inside a write function (validating the parent and
 *  depth, choosing a unique slug) and writes its event; the caller reloads
 *  the tree after commit (shop_categories_changed). */
enum shop_err category_insert(struct db *db, const char *name, int64_t parent_id, int64_t now,
                              int64_t *id, struct problem *pb);

/** A URL slug from a name: lower-case ASCII letters and digits joined by
 *  '-' ("Home & Kitchen" → "home-kitchen"); "category" when nothing is left. */
void category_slugify(const char *name, char *out, size_t outlen);

#endif
