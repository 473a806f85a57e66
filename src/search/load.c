/* load.c — what the index reads from the database: the category tree, every
 * published product at start, one product on refresh (index.h).
 *
 * A product's row, its price range and whether any of its variants has
 * stock are read by one statement, so a refresh sees one committed state.
 */
#include <stdlib.h>
#include <string.h>

#include "search/index.h"
#include "store/store.h"
#include "util/log.h"
#include "util/xalloc.h"

/* ---- categories ------------------------------------------------------------------ */

struct cat_row {
    int64_t id, parent_id;
    char *name;
};

/* Links parents and children, computes depths, ancestor chains and the
 * depth-first numbering that turns "in the subtree of c" into an interval. */
void index_cats_link(struct index *ix)
{
    for (uint32_t i = 0; i < ix->ncats; i++) {
        struct cat *c = &ix->cats[i];
        c->parent = c->parent_id ? idmap_get(&ix->cat_by_id, c->parent_id) : MAP_NONE;
        c->first_child = c->next_sibling = MAP_NONE;
    }
    /* Children in descending index order so that prepending yields ascending. */
    for (uint32_t i = ix->ncats; i-- > 0;) {
        struct cat *c = &ix->cats[i];
        if (c->parent != MAP_NONE && c->parent != i) {
            c->next_sibling = ix->cats[c->parent].first_child;
            ix->cats[c->parent].first_child = i;
        }
    }
    for (uint32_t i = 0; i < ix->ncats; i++) {
        uint32_t up[64], n = 0;
        for (uint32_t a = i; a != MAP_NONE && n < 64; a = ix->cats[a].parent)
            up[n++] = a;
        struct cat *c = &ix->cats[i];
        c->depth = n - 1;
        c->nchain = n < CAT_MAX_DEPTH ? n : CAT_MAX_DEPTH;
        for (uint32_t k = 0; k < c->nchain; k++)
            c->chain[k] = up[n - 1 - k];
        c->pre = c->post = UINT32_MAX;
    }
    free(ix->cat_at_pre);
    ix->cat_at_pre = xmalloc((ix->ncats ? ix->ncats : 1) * sizeof *ix->cat_at_pre);
    uint32_t *stack = xmalloc((ix->ncats ? ix->ncats : 1) * sizeof *stack);
    uint32_t order = 0;
    for (uint32_t r = 0; r < ix->ncats; r++) {
        if (ix->cats[r].parent != MAP_NONE && ix->cats[r].parent != r)
            continue;
        /* Iterative depth-first walk; `post` is set when a node's last
         * descendant is numbered (walking back up the parent links). */
        uint32_t sp = 0;
        stack[sp++] = r;
        while (sp) {
            uint32_t c = stack[--sp];
            if (ix->cats[c].pre != UINT32_MAX)
                continue;
            ix->cats[c].pre = order;
            ix->cat_at_pre[order++] = c;
            uint32_t kids[1024], nk = 0;
            for (uint32_t k = ix->cats[c].first_child; k != MAP_NONE && nk < 1024;
                 k = ix->cats[k].next_sibling)
                kids[nk++] = k;
            while (nk && sp < ix->ncats)
                stack[sp++] = kids[--nk];
        }
    }
    /* Categories caught in a parent cycle (bad data) stand alone at the end. */
    for (uint32_t i = 0; i < ix->ncats; i++)
        if (ix->cats[i].pre == UINT32_MAX) {
            ix->cats[i].pre = order;
            ix->cat_at_pre[order++] = i;
        }
    /* post = pre + subtree size: sizes accumulate bottom-up in reverse pre-order. */
    uint32_t *size = stack;
    for (uint32_t i = 0; i < ix->ncats; i++)
        size[i] = 1;
    for (uint32_t p = ix->ncats; p-- > 0;) {
        uint32_t c = ix->cat_at_pre[p];
        uint32_t par = ix->cats[c].parent;
        if (par != MAP_NONE && par != c && ix->cats[par].pre < ix->cats[c].pre)
            size[par] += size[c];
    }
    for (uint32_t i = 0; i < ix->ncats; i++)
        ix->cats[i].post = ix->cats[i].pre + size[i];
    free(stack);
}

enum shop_err index_load_categories(struct index *ix, struct db *db, bool *structural,
                                    struct problem *pb)
{
    *structural = false;
    struct stmt *st = db_prepare(db, "SELECT id, parent_id, name FROM categories ORDER BY id");
    if (!st)
        return db_fail(db, pb, "reading categories");
    struct cat_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = stmt_step(st)) == STMT_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            rows = xrealloc(rows, cap * sizeof *rows);
        }
        rows[n].id = stmt_i64(st, 0);
        rows[n].parent_id = stmt_is_null(st, 1) ? 0 : stmt_i64(st, 1);
        rows[n].name = xstrdup(stmt_text(st, 2));
        n++;
    }
    enum shop_err err = SHOP_OK;
    if (rc != STMT_DONE) {
        err = db_fail(db, pb, "reading categories");
        goto done;
    }
    uint32_t seen = 0;
    for (size_t i = 0; i < n && !*structural; i++) {
        uint32_t c = idmap_get(&ix->cat_by_id, rows[i].id);
        if (c == MAP_NONE)
            continue;
        seen++;
        if (strcmp(ix->cats[c].name, rows[i].name) || ix->cats[c].parent_id != rows[i].parent_id)
            *structural = true;
    }
    if (seen != ix->ncats)
        *structural = true; /* some category is gone */
    if (*structural)
        goto done;
    bool added = false;
    for (size_t i = 0; i < n; i++) {
        if (idmap_get(&ix->cat_by_id, rows[i].id) != MAP_NONE)
            continue;
        if (ix->ncats == ix->ccap) {
            ix->ccap = ix->ccap ? ix->ccap * 2 : 64;
            ix->cats = xrealloc(ix->cats, ix->ccap * sizeof *ix->cats);
        }
        struct cat *c = &ix->cats[ix->ncats];
        memset(c, 0, sizeof *c);
        c->id = rows[i].id;
        c->parent_id = rows[i].parent_id;
        c->name = rows[i].name;
        rows[i].name = NULL;
        idmap_put(&ix->cat_by_id, c->id, ix->ncats++);
        added = true;
    }
    if (added || !ix->cat_at_pre)
        index_cats_link(ix);
done:
    for (size_t i = 0; i < n; i++)
        free(rows[i].name);
    free(rows);
    return err;
}

/* ---- products ---------------------------------------------------------------------- */

#define PRODUCT_COLUMNS                                                                            \
    "SELECT p.id, p.category_id, p.title, p.description, p.brand, p.currency, p.images,"           \
    " p.rating_sum, p.rating_count, p.sales_count, p.created_at, p.status,"                        \
    " (SELECT min(price_cents) FROM variants v WHERE v.product_id = p.id),"                        \
    " (SELECT max(price_cents) FROM variants v WHERE v.product_id = p.id),"                        \
    " EXISTS (SELECT 1 FROM variants v JOIN stock s ON s.variant_id = v.id"                        \
    "         WHERE v.product_id = p.id AND s.on_hand > s.reserved)"                               \
    " FROM products p"

static void row_to_src(struct stmt *st, struct doc_src *src)
{
    src->exists = true;
    src->id = stmt_i64(st, 0);
    src->category_id = stmt_i64(st, 1);
    src->title = stmt_text(st, 2);
    src->description = stmt_text(st, 3);
    src->brand = stmt_text(st, 4);
    src->currency = stmt_text(st, 5);
    src->images = stmt_text(st, 6);
    src->rating_sum = (int32_t)stmt_i64(st, 7);
    src->rating_count = (int32_t)stmt_i64(st, 8);
    src->sales = stmt_i64(st, 9);
    src->created_at = stmt_i64(st, 10);
    src->published = !strcmp(stmt_text(st, 11), "published");
    src->price = stmt_i64(st, 12);
    src->max_price = stmt_i64(st, 13);
    src->in_stock = stmt_i64(st, 14) != 0;
}

enum shop_err index_load_all(struct index *ix, struct db *db, struct text_stemmers *sp,
                             struct problem *pb)
{
    bool structural;
    db_read_begin(db);
    enum shop_err err = index_load_categories(ix, db, &structural, pb);
    if (err != SHOP_OK)
        goto done;
    struct stmt *st = db_prepare(db, PRODUCT_COLUMNS " WHERE p.status = 'published' ORDER BY p.id");
    if (!st) {
        err = db_fail(db, pb, "reading products");
        goto done;
    }
    int rc;
    struct doc_src src = {0};
    while ((rc = stmt_step(st)) == STMT_ROW) {
        row_to_src(st, &src);
        if (index_put(ix, sp, &src, true) == INDEX_NO_CATEGORY)
            log_event(LOG_WARN, "search.skipped", "{s:I, s:s}", "product", (json_int_t)src.id,
                      "reason", "unknown category");
    }
    if (rc != STMT_DONE)
        err = db_fail(db, pb, "reading products");
    lex_trie_finish(&ix->lx);
    lex_postings_trim(&ix->lx);
    index_orders_finish(ix);
    index_derived_build(ix);
done:
    db_read_end(db);
    return err;
}

enum shop_err index_read_product(struct db *db, int64_t id, struct doc_src *src, char **owned,
                                 struct problem *pb)
{
    memset(src, 0, sizeof *src);
    *owned = NULL;
    struct stmt *st = db_prepare(db, PRODUCT_COLUMNS " WHERE p.id = ?");
    if (!st)
        return db_fail(db, pb, "reading a product");
    stmt_bind_i64(st, 1, id);
    int rc = stmt_step(st);
    if (rc == STMT_DONE)
        return SHOP_OK;
    if (rc != STMT_ROW)
        return db_fail(db, pb, "reading a product");
    row_to_src(st, src);
    /* Copy the strings out so the statement can finish (ending the read). */
    const char *s[5] = {src->title, src->description, src->brand, src->currency, src->images};
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++)
        total += (len[i] = strlen(s[i]) + 1);
    char *blk = xmalloc(total), *p = blk;
    const char **dst[5] = {&src->title, &src->description, &src->brand, &src->currency,
                           &src->images};
    for (int i = 0; i < 5; i++) {
        memcpy(p, s[i], len[i]);
        *dst[i] = p;
        p += len[i];
    }
    *owned = blk;
    while ((rc = stmt_step(st)) == STMT_ROW)
        ;
    return SHOP_OK;
}
