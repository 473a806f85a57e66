/* views.c — the in-memory views (search index, recommendation model) at
 * start and at a clean stop: the search snapshot and its catch-up.
 *
 * THE RULE
 *
 * At a clean stop (`shopd serve` after draining its requests, once the
 * change feed has stopped) the search index is saved to a snapshot file
 * (search/snapshot_write.c), stamped with the change feed's position P — every
 * change committed up to P is in the index: this process applied its own
 * synchronously after each commit (the stock moves it queued are flushed
 * first) and other processes' through the feed up to P — together with a
 * fingerprint of the outbox event at P (topic, aggregate, creation time)
 * and the schema version.
 *
 * At start, the snapshot is used only when all of these hold, else the
 * index is built from the database as before (and why is logged):
 *   - the file is whole and ours: magic, format version, record sizes, the
 *     fingerprint of this very executable, checksums (snapshot.c);
 *   - the schema version is the database's;
 *   - the event at P is still in the outbox with the same fingerprint (so
 *     this is the database the snapshot was taken from, and no event after
 *     P has been purged: purging takes the oldest first);
 *   - the events after P, up to where the change feed will start (views_from),
 *     name at most VIEWS_CATCHUP_MAX products and no catalog reload.
 * Then every product those events name — product, stock, price, rating and
 * review events, and the lines of orders whose events changed sales counts
 * ("order.*") — is re-read with search_refresh, after the category tree if a
 * category event is among them, exactly as the change feed would. All of
 * this happens before the server listens: /readyz answers only once the
 * index is what a fresh build would give. The change feed then goes on from
 * views_from as before.
 *
 * This relies on what the change feed between processes already relies
 * on: every committed change the index reads is announced in the outbox in
 * its transaction. An edit made to the database by hand, around shopd, is
 * not; delete the snapshot (or set SHOPD_SEARCH_SNAPSHOT=off) after one.
 *
 * A crash writes nothing, but leaves the last snapshot, which stays usable
 * (its position is still in the outbox, the events after it are replayed)
 * until the outbox purges past it (SHOPD_OUTBOX_KEEP, 7 days).
 *
 * Where: SHOPD_SEARCH_SNAPSHOT, default DB.search-snapshot beside a SQLite
 * database; on PostgreSQL none unless the variable names a path (each
 * process keeps its own; the stamp is the shared outbox's position either
 * way). "off" disables it.
 *
 * The recommendation model's products are then taken from the index (no
 * query), and its events read as before (recs_build_from_search). A serving
 * process does that after it starts answering, on the recs feed's thread
 * (work/recs_feed.c) when the catalog has more than SHOPD_RECS_LATER_PRODUCTS
 * (200,000) published products: at a million the model takes ~1.7 s of the
 * ~2.3 s a start costs, and recommendations are the first thing the shop
 * sheds anyway. Until it is built, product pages carry no
 * `recommendations` (as at shedding level 1) and the recommendation
 * endpoints and POST /v1/events answer 503 with Retry-After: never a list
 * computed from half a model. The CLI and the tests open the shop with the
 * model built (shop_open).
 */
#include "shop/views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recs/recs.h"
#include "search/search.h"
#include "shop/changes.h"
#include "shop/outbox.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/cmp.h"
#include "util/log.h"
#include "util/xalloc.h"

#define VIEWS_CATCHUP_MAX 50000 /* products re-read after a snapshot; beyond, a build is as quick */
#define CATCHUP_BATCH     2000

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 31);
}

/* The fingerprint of the outbox event at `at`; 0 when it is not there. */
static uint64_t event_check(struct db *db, struct outbox_pos at)
{
    char topic[128];
    int64_t aggregate, created;
    if (!outbox_event_at(db, at, topic, sizeof topic, &aggregate, &created))
        return 0;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = topic; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return mix(mix(h, (uint64_t)aggregate), (uint64_t)created) | 1;
}

/* ---- what changed after the stamp --------------------------------------------------- */

struct catchup {
    int64_t *ids; /* products, then deduplicated */
    size_t n, cap;
    int64_t *orders;
    size_t norders, ocap;
    bool categories;
    const char *refused; /* why the snapshot cannot be caught up */
};

static void push(int64_t **a, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *a = xrealloc(*a, *cap * sizeof **a);
    }
    (*a)[(*n)++] = v;
}

static bool product_topic(const char *t)
{
    return !strcmp(t, "product.changed") || !strcmp(t, "stock.changed") ||
           !strcmp(t, "price.changed") || !strcmp(t, "rating.changed") ||
           !strcmp(t, "review.changed");
}

/* Reads the events after `from` up to `to` (every process's). */
static void catchup_read(struct db *db, struct outbox_pos from, struct outbox_pos to,
                         struct catchup *c)
{
    struct outbox_pos pos = from;
    while (!c->refused && outbox_pos_cmp(pos, to) < 0) {
        db_read_begin(db);
        struct stmt *st = outbox_after(db, pos, CATCHUP_BATCH, -1);
        if (!st) {
            db_read_end(db);
            c->refused = "cannot read the outbox";
            return;
        }
        int read = 0, rc;
        while ((rc = stmt_step(st)) == STMT_ROW) {
            read++;
            pos = (struct outbox_pos){stmt_i64(st, 0), stmt_i64(st, 1)};
            const char *topic = stmt_text(st, 2);
            int64_t agg = stmt_is_null(st, 3) ? 0 : stmt_i64(st, 3);
            if (product_topic(topic))
                push(&c->ids, &c->n, &c->cap, agg);
            else if (!strncmp(topic, "order.", 6)) /* sales counts move with orders */
                push(&c->orders, &c->norders, &c->ocap, agg);
            else if (!strcmp(topic, "category.changed"))
                c->categories = true;
            else if (!strcmp(topic, "catalog.reloaded"))
                c->refused = "the catalog was reloaded since";
        }
        db_read_end(db);
        if (rc != STMT_DONE && !c->refused) /* a failed read, not the end of the changes */
            c->refused = "cannot read the outbox";
        if (c->n + c->norders > 4 * (size_t)VIEWS_CATCHUP_MAX)
            c->refused = "too many changes since";
        if (read < CATCHUP_BATCH)
            break;
    }
}

/* Adds the products of the orders read, deduplicates, bounds. */
static void catchup_products(struct db *db, struct catchup *c)
{
    if (c->norders)
        qsort(c->orders, c->norders, sizeof *c->orders, cmp_i64);
    for (size_t i = 0; i < c->norders && !c->refused; i++) {
        if (i && c->orders[i] == c->orders[i - 1])
            continue;
        struct stmt *st =
            db_prepare(db, "SELECT DISTINCT product_id FROM order_lines WHERE order_id = ?");
        if (!st) {
            c->refused = "cannot read order lines";
            break;
        }
        stmt_bind_i64(st, 1, c->orders[i]);
        int rc;
        while ((rc = stmt_step(st)) == STMT_ROW)
            push(&c->ids, &c->n, &c->cap, stmt_i64(st, 0));
        db_release(db);
        if (rc != STMT_DONE)
            c->refused = "cannot read order lines";
    }
    if (c->n)
        qsort(c->ids, c->n, sizeof *c->ids, cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!k || c->ids[i] != c->ids[k - 1])
            c->ids[k++] = c->ids[i];
    c->n = k;
    if (c->n > VIEWS_CATCHUP_MAX)
        c->refused = "too many products changed since";
}

/* ---- loading ---------------------------------------------------------------------------- */

/* Uses the snapshot when the rule above allows; false (logged) otherwise. */
static bool load_snapshot(struct shop *shop)
{
    const char *path = shop->cfg.search_snapshot;
    int64_t t0 = clock_mono_ns();
    struct search_stamp st;
    struct search_snapshot_info info = {0};
    struct problem pb = {0};
    struct db *db = store_db(shop->store);
    struct catchup c = {0};
    const char *refused = NULL;
    enum shop_err e = search_snapshot_load(shop->search, path, &st, &info, &pb);
    if (e == SHOP_NOT_FOUND) {
        log_event(LOG_INFO, "search.snapshot_absent", "{s:s}", "path", path);
        problem_clear(&pb);
        return false;
    }
    if (e != SHOP_OK) {
        log_event(LOG_WARN, "search.snapshot_refused", "{s:s, s:s}", "path", path, "reason",
                  pb.detail);
        problem_clear(&pb);
        return false;
    }
    struct outbox_pos at = {st.txid, st.id};
    if (st.schema != store_schema_version(shop->store))
        refused = "written at another schema version";
    else if (!at.id || event_check(db, at) != st.event_check)
        refused = "its change position is not in this database's outbox";
    if (!refused) {
        catchup_read(db, at, shop->views_from, &c);
        if (!c.refused)
            catchup_products(db, &c);
        refused = c.refused;
    }
    db_release(db);
    int64_t t1 = clock_mono_ns();
    if (!refused && c.categories &&
        search_refresh_categories(shop->search, db, &pb) != SHOP_OK)
        refused = "cannot re-read the categories";
    for (size_t i = 0; i < c.n && !refused; i++) {
        db_release(db);
        if (search_refresh(shop->search, db, c.ids[i], &pb) != SHOP_OK)
            refused = "cannot re-read a changed product";
    }
    db_release(db);
    if (refused) {
        log_event(LOG_WARN, "search.snapshot_refused", "{s:s, s:s, s:s}", "path", path, "reason",
                  refused, "detail", pb.detail);
    } else {
        search_scores_settle(shop->search); /* as a fresh build's scores */
        int64_t ms = (clock_mono_ns() - t0) / 1000000;
        log_event(LOG_INFO, "search.snapshot_loaded", "{s:s, s:I, s:I, s:I, s:I}", "path", path,
                  "file_bytes", (json_int_t)info.bytes, "read_ms", (json_int_t)info.ms,
                  "caught_up_products", (json_int_t)c.n, "catchup_ms",
                  (json_int_t)((clock_mono_ns() - t1) / 1000000));
        search_log_built(shop->search, "search.loaded", ms);
    }
    problem_clear(&pb);
    free(c.ids);
    free(c.orders);
    return !refused;
}

void shop_views_configure(struct shop *shop, const char *db_path)
{
    char *p = shop->cfg.search_snapshot;
    size_t cap = sizeof shop->cfg.search_snapshot;
    if (!strcmp(p, "off"))
        p[0] = '\0';
    else if (!p[0] && !store_is_server_url(db_path) &&
             (size_t)snprintf(p, cap, "%s.search-snapshot", db_path) >= cap)
        p[0] = '\0';
}

enum shop_err shop_views_load(struct shop *shop, bool recs_may_wait, struct problem *pb)
{
    if (!shop->cfg.search_snapshot[0] || !load_snapshot(shop)) {
        if (search_build(shop->search, shop->store, pb) != SHOP_OK)
            return pb->err;
    }
    if (recs_may_wait && search_products(shop->search) > (size_t)shop->cfg.recs_later_products)
        return SHOP_OK; /* the recs feed builds it (work/recs_feed.c) */
    return shop_views_load_recs(shop, pb);
}

enum shop_err shop_views_load_recs(struct shop *shop, struct problem *pb)
{
    return recs_build_from_search(shop->recs, shop->store, shop->search, pb);
}

/* ---- saving ------------------------------------------------------------------------------ */

void shop_views_save(struct shop *shop)
{
    const char *path = shop->cfg.search_snapshot;
    if (!path[0] || !shop->views_save || !shop->search)
        return;
    if (!shop->views_at_known || !shop->views_at.id) {
        log_event(LOG_INFO, "search.snapshot_skipped", "{s:s, s:s}", "path", path, "reason",
                  "no change position to stamp it with");
        return;
    }
    int64_t t0 = clock_mono_ns();
    shop_flush_stock_moves(shop); /* this process's queued stock moves, before the stamp */
    struct db *db = store_db(shop->store);
    struct search_stamp st = {.txid = shop->views_at.txid,
                              .id = shop->views_at.id,
                              .event_check = event_check(db, shop->views_at),
                              .schema = store_schema_version(shop->store)};
    db_release(db);
    struct problem pb = {0};
    size_t bytes = 0;
    if (!st.event_check)
        log_event(LOG_WARN, "search.snapshot_skipped", "{s:s, s:s}", "path", path, "reason",
                  "the change position is not in the outbox");
    else if (search_snapshot_save(shop->search, path, &st, &bytes, &pb) != SHOP_OK)
        log_event(LOG_WARN, "search.snapshot_failed", "{s:s, s:s}", "path", path, "detail",
                  pb.detail);
    else
        log_event(LOG_INFO, "search.snapshot_saved", "{s:s, s:I, s:I}", "path", path, "bytes",
                  (json_int_t)bytes, "ms", (json_int_t)((clock_mono_ns() - t0) / 1000000));
    problem_clear(&pb);
}
