/* load.c — what the recommendation engine reads and writes: products, the
 * rec_events table in commit order, the buffered events, purchase rows.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recs/engine.h"
#include "search/search.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define PRODUCT_SQL                                                                                \
    "SELECT p.id, p.category_id, p.title, p.brand, p.currency, p.status,"                          \
    " (SELECT min(price_cents) FROM variants v WHERE v.product_id = p.id),"                        \
    " EXISTS (SELECT 1 FROM variants v JOIN stock s ON s.variant_id = v.id"                        \
    "         WHERE v.product_id = p.id AND s.on_hand > s.reserved)"                               \
    " FROM products p"

static void row_product(struct stmt *st, struct prod_src *src)
{
    src->id = stmt_i64(st, 0);
    src->category_id = stmt_i64(st, 1);
    src->title = stmt_text(st, 2);
    src->brand = stmt_text(st, 3);
    src->currency = stmt_text(st, 4);
    src->published = !strcmp(stmt_text(st, 5), "published");
    src->price = stmt_i64(st, 6);
    src->in_stock = stmt_i64(st, 7) != 0;
}

/* Puts the product into the model, or (src NULL) takes it out for good
 * (write_mu held). */
static void product_put(struct recs *r, int64_t id, const struct prod_src *src)
{
    pthread_rwlock_wrlock(&r->lock);
    if (src) {
        recs_put_product(r, src);
    } else {
        /* Deleted: never recommended again. */
        uint32_t s = idmap_get(&r->by_id, id);
        if (s != MAP_NONE && r->p[s].live) {
            r->p[s].live = r->p[s].published = false;
            atomic_fetch_add(&r->avail_version, 1);
        }
        recs_set_shown(r, id, false, false);
    }
    pthread_rwlock_unlock(&r->lock);
}

void recs_product_seen(struct recs *r, int64_t id, const struct search_product *p, bool published)
{
    pthread_mutex_lock(&r->write_mu);
    if (p)
        product_put(r, id,
                    &(struct prod_src){.id = id,
                                       .category_id = p->category_id,
                                       .price = p->price,
                                       .title = p->title,
                                       .brand = p->brand,
                                       .currency = p->currency,
                                       .published = published,
                                       .in_stock = p->in_stock});
    else
        product_put(r, id, NULL);
    pthread_mutex_unlock(&r->write_mu);
}

/* Rows after the engine's position, in commit order: two ranges of the
 * (txid, id) index, as outbox_after (shop/outbox.c) explains. */
int recs_read_rows(struct recs *r, struct db *db, int64_t since_ms, struct recs_row *rows, int max)
{
    struct stmt *st = db_prepare(
        db, "SELECT * FROM (SELECT txid, id, kind, user_key, product_id, order_id, created_at"
            " FROM rec_events WHERE txid = ?1 AND id > ?2 AND created_at >= ?4"
            " AND txid < (SELECT txid FROM outbox_horizon) ORDER BY txid, id LIMIT ?3) AS this_tx"
            " UNION ALL"
            " SELECT * FROM (SELECT txid, id, kind, user_key, product_id, order_id, created_at"
            " FROM rec_events WHERE txid > ?1 AND created_at >= ?4"
            " AND txid < (SELECT txid FROM outbox_horizon) ORDER BY txid, id LIMIT ?3) AS later_tx"
            " ORDER BY 1, 2 LIMIT ?3");
    if (!st)
        return -1;
    stmt_bind_i64(st, 1, r->pos_txid);
    stmt_bind_i64(st, 2, r->pos_id);
    stmt_bind_i64(st, 3, max);
    stmt_bind_i64(st, 4, since_ms);
    int n = 0, rc;
    while (n < max && (rc = stmt_step(st)) == STMT_ROW) {
        rows[n++] = (struct recs_row){.txid = stmt_i64(st, 0),
                                      .id = stmt_i64(st, 1),
                                      .kind = (int)stmt_i64(st, 2),
                                      .user_key = stmt_i64(st, 3),
                                      .product_id = stmt_i64(st, 4),
                                      .order_id = stmt_is_null(st, 5) ? 0 : stmt_i64(st, 5),
                                      .at = stmt_i64(st, 6)};
    }
    db_release(db);
    return n;
}

#define POLL_ROWS   20000
#define APPLY_SLICE 256 /* rows applied per hold of the write lock */

static int poll_since(struct recs *r, struct db *db, int64_t since_ms)
{
    struct recs_row *rows = xmalloc(POLL_ROWS * sizeof *rows);
    int total = 0;
    pthread_mutex_lock(&r->write_mu);
    for (;;) {
        db_release(db);
        int n = recs_read_rows(r, db, since_ms, rows, POLL_ROWS);
        if (n < 0) {
            total = -1;
            break;
        }
        if (n > 0) {
            r->pos_txid = rows[n - 1].txid;
            r->pos_id = rows[n - 1].id;
        }
        /* A slice at a time: readers (every answer, every event's product
         * check) wait for one slice, not for the whole read. */
        for (int i = 0; i < n || i == 0; i += APPLY_SLICE) {
            int k = n - i < APPLY_SLICE ? n - i : APPLY_SLICE;
            pthread_rwlock_wrlock(&r->lock);
            recs_apply_rows(r, rows + i, k, n < POLL_ROWS && i + k == n);
            pthread_rwlock_unlock(&r->lock);
        }
        total += n;
        if (n < POLL_ROWS)
            break;
    }
    pthread_mutex_unlock(&r->write_mu);
    free(rows);
    return total;
}

int recs_poll(struct recs *r, struct db *db)
{
    return poll_since(r, db, 0);
}

static enum shop_err load_products(struct recs *r, struct db *db, struct problem *pb)
{
    db_release(db);
    /* Published ones only: others are never recommended, and one that gets
     * published arrives through recs_product_refresh. */
    struct stmt *st = db_prepare(db, PRODUCT_SQL " WHERE p.status = 'published' ORDER BY p.id");
    if (!st)
        return db_fail(db, pb, "reading products for recommendations");
    int rc;
    pthread_mutex_lock(&r->write_mu);
    pthread_rwlock_wrlock(&r->lock);
    while ((rc = stmt_step(st)) == STMT_ROW) {
        struct prod_src src;
        row_product(st, &src);
        recs_put_product(r, &src);
    }
    pthread_rwlock_unlock(&r->lock);
    pthread_mutex_unlock(&r->write_mu);
    enum shop_err e = rc == STMT_DONE ? SHOP_OK : db_fail(db, pb, "reading products");
    db_release(db);
    return e;
}

void recs_reload_products(struct recs *r, struct store *store)
{
    struct problem pb = {0};
    if (load_products(r, store_db(store), &pb) != SHOP_OK)
        log_event(LOG_WARN, "recs.reload_failed", "{s:s}", "detail", pb.detail);
    problem_clear(&pb);
}

static void put_from_search(void *cls, const struct search_product *sp)
{
    struct prod_src src = {.id = sp->id,
                           .category_id = sp->category_id,
                           .price = sp->price,
                           .title = sp->title,
                           .brand = sp->brand,
                           .currency = sp->currency,
                           .published = true, /* the index holds published products only */
                           .in_stock = sp->in_stock};
    recs_put_product(cls, &src);
}

static enum shop_err build(struct recs *r, struct store *store, struct search *from,
                           struct problem *pb)
{
    int64_t t0 = clock_mono_ns();
    struct db *db = store_db(store);
    if (from) {
        size_t n = search_products(from);
        pthread_mutex_lock(&r->write_mu);
        pthread_rwlock_wrlock(&r->lock);
        /* Sized once for what is coming (as many doublings would size
         * them): no rehashing or copying on the way. */
        idmap_reserve(&r->by_id, n);
        pthread_rwlock_wrlock(&r->shown_lock);
        idmap_reserve(&r->shown, n);
        pthread_rwlock_unlock(&r->shown_lock);
        if (n > r->capp) {
            uint32_t cap = r->capp ? r->capp : 1024;
            while (cap < n)
                cap *= 2;
            r->p = xrealloc(r->p, cap * sizeof *r->p);
            r->pages = xrealloc(r->pages, cap * sizeof *r->pages);
            memset(r->pages + r->capp, 0, (cap - r->capp) * sizeof *r->pages);
            r->capp = cap;
        }
        search_each_product(from, put_from_search, r);
        pthread_rwlock_unlock(&r->lock);
        pthread_mutex_unlock(&r->write_mu);
    } else if (load_products(r, db, pb) != SHOP_OK) {
        return pb->err;
    }
    int n = poll_since(r, db, clock_now_ms() - r->cfg.history_ms);
    if (n < 0)
        return db_fail(db, pb, "reading behaviour events");
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    atomic_store(&r->build_ms, ms);
    atomic_store(&r->ready, true);
    struct recs_stats s;
    recs_stats(r, &s);
    log_event(LOG_INFO, "recs.built", "{s:I, s:I, s:I, s:I, s:I, s:I}", "products",
              (json_int_t)s.products, "events", (json_int_t)n, "users", (json_int_t)s.users,
              "ms", (json_int_t)ms, "bytes", (json_int_t)s.bytes, "bytes_per_product",
              (json_int_t)(s.products ? s.bytes / s.products : 0));
    return SHOP_OK;
}

enum shop_err recs_build(struct recs *r, struct store *store, struct problem *pb)
{
    return build(r, store, NULL, pb);
}

enum shop_err recs_build_from_search(struct recs *r, struct store *store, struct search *from,
                                     struct problem *pb)
{
    return build(r, store, from, pb);
}

/* ---- writing events ------------------------------------------------------------------ */

/* The buffer shard of the calling thread, handed out in turn. */
static int buf_shard(void)
{
    static atomic_uint next;
    static _Thread_local int mine = -1;
    if (mine < 0)
        mine = (int)(atomic_fetch_add(&next, 1) % RECS_BUF_SHARDS);
    return mine;
}

bool recs_record_many(struct recs *r, const int *kinds, int64_t user_key,
                      const int64_t *products, int n)
{
    struct evbuf *b = &r->bufs[buf_shard()];
    int64_t now = clock_now_ms();
    if (atomic_fetch_add(&r->nbuffered, (unsigned)n) + (unsigned)n > RECS_BUFFER_MAX) {
        atomic_fetch_sub(&r->nbuffered, (unsigned)n);
        atomic_fetch_add(&r->dropped, (uint64_t)n);
        return false;
    }
    pthread_mutex_lock(&b->mu);
    if (b->n + (uint32_t)n > b->cap) {
        while (b->n + (uint32_t)n > b->cap)
            b->cap = b->cap ? b->cap * 2 : 1024;
        b->ev = xrealloc(b->ev, b->cap * sizeof *b->ev);
    }
    for (int i = 0; i < n; i++)
        b->ev[b->n++] = (struct rev){
            .user_key = user_key, .product_id = products[i], .at = now, .kind = kinds[i]};
    pthread_mutex_unlock(&b->mu);
    return true;
}

bool recs_record(struct recs *r, int kind, int64_t user_key, int64_t product_id)
{
    return recs_record_many(r, &kind, user_key, &product_id, 1);
}

static int cmp_rev_at(const void *a, const void *b)
{
    const struct rev *x = a, *y = b;
    return (x->at > y->at) - (x->at < y->at);
}

#define ROWS_PER_INSERT 100
#define ROWS_PER_WRITE  5000

struct flush_job {
    const struct rev *ev;
    int n;
};

static const char *insert_sql(int rows)
{
    static char many[128 + ROWS_PER_INSERT * 16]; /* 14 bytes a row after the first */
    static const char *one = "INSERT INTO rec_events (kind, user_key, product_id, created_at)"
                             " VALUES (?, ?, ?, ?)";
    if (rows == 1)
        return one;
    if (!many[0]) { /* built once, before any thread can race (recs_flush's first call) */
        size_t o = strlen(one);
        memcpy(many, one, o);
        for (int i = 1; i < ROWS_PER_INSERT; i++) {
            memcpy(many + o, ", (?, ?, ?, ?)", 14);
            o += 14;
        }
        many[o] = '\0';
    }
    return many;
}

static enum shop_err flush_write(struct db *db, void *arg, struct problem *pb)
{
    const struct flush_job *j = arg;
    int i = 0;
    while (i < j->n) {
        int rows = j->n - i >= ROWS_PER_INSERT ? ROWS_PER_INSERT : 1;
        struct stmt *st = db_prepare(db, insert_sql(rows));
        if (!st)
            return db_fail(db, pb, "writing behaviour events");
        for (int k = 0; k < rows; k++) {
            const struct rev *e = &j->ev[i + k];
            stmt_bind_i64(st, 4 * k + 1, e->kind);
            stmt_bind_i64(st, 4 * k + 2, e->user_key);
            stmt_bind_i64(st, 4 * k + 3, e->product_id);
            stmt_bind_i64(st, 4 * k + 4, e->at);
        }
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "writing behaviour events");
        i += rows;
    }
    return SHOP_OK;
}

enum shop_err recs_flush(struct recs *r, struct store *store, int *written, struct problem *pb)
{
    *written = 0;
    struct rev *taken[RECS_BUF_SHARDS];
    uint32_t counts[RECS_BUF_SHARDS], n = 0;
    for (int i = 0; i < RECS_BUF_SHARDS; i++) {
        struct evbuf *b = &r->bufs[i];
        pthread_mutex_lock(&b->mu);
        taken[i] = b->ev;
        counts[i] = b->n;
        b->ev = NULL;
        b->n = b->cap = 0;
        pthread_mutex_unlock(&b->mu);
        atomic_fetch_sub(&r->nbuffered, counts[i]);
        n += counts[i];
    }
    /* One run in the order they happened (sessions pair views by time). */
    struct rev *ev = xmalloc((n ? n : 1) * sizeof *ev);
    for (uint32_t i = 0, o = 0; i < RECS_BUF_SHARDS; i++) {
        if (counts[i])
            memcpy(ev + o, taken[i], counts[i] * sizeof *ev);
        o += counts[i];
        free(taken[i]);
    }
    qsort(ev, n, sizeof *ev, cmp_rev_at);
    enum shop_err e = SHOP_OK;
    for (uint32_t i = 0; i < n; i += ROWS_PER_WRITE) {
        struct flush_job j = {.ev = ev + i,
                              .n = (int)(n - i < ROWS_PER_WRITE ? n - i : ROWS_PER_WRITE)};
        e = store_write(store, flush_write, &j, pb);
        if (e != SHOP_OK) {
            atomic_fetch_add(&r->dropped, n - i);
            break;
        }
        *written += j.n;
        atomic_fetch_add(&r->written, (uint64_t)j.n);
    }
    free(ev);
    return e;
}

/* ---- retention ------------------------------------------------------------------------ */

struct purge_job {
    int64_t before, deleted;
};

/* One chunk: the RECS_PURGE_CHUNK oldest rows, if they are older than the
 * horizon, found on the created_at index (no walk of the table). */
static enum shop_err purge_write(struct db *db, void *arg, struct problem *pb)
{
    struct purge_job *j = arg;
    struct stmt *st = db_prepare(db, "DELETE FROM rec_events WHERE id IN (SELECT id FROM rec_events"
                                     " WHERE created_at < ? ORDER BY created_at LIMIT ?)");
    if (!st)
        return db_fail(db, pb, "purging behaviour events");
    stmt_bind_i64(st, 1, j->before);
    stmt_bind_i64(st, 2, RECS_PURGE_CHUNK);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "purging behaviour events");
    j->deleted = db_changes(db);
    return SHOP_OK;
}

enum shop_err recs_purge(struct store *store, int64_t before_ms, int max_chunks, int64_t *deleted,
                         struct problem *pb)
{
    *deleted = 0;
    for (int i = 0; i < max_chunks; i++) {
        struct purge_job j = {.before = before_ms};
        enum shop_err e = store_write(store, purge_write, &j, pb);
        if (e != SHOP_OK)
            return e;
        *deleted += j.deleted;
        if (j.deleted < RECS_PURGE_CHUNK)
            break;
    }
    return SHOP_OK;
}

/* One order's lines as purchases: ? user, ? time, ? order. */
#define PURCHASE_ARM                                                                               \
    "SELECT 3, CAST(? AS BIGINT), l.product_id, l.order_id, CAST(? AS BIGINT)"                     \
    " FROM order_lines l WHERE l.order_id = ?"
#define PURCHASE_ARMS4                                                                             \
    PURCHASE_ARM " UNION ALL " PURCHASE_ARM " UNION ALL " PURCHASE_ARM " UNION ALL " PURCHASE_ARM

/* The purchases of p[0..n), n being 16, 4 or 1 (three statement texts in
 * the cache). Two lines of one product (two variants) conflict: one row,
 * as wanted. */
static bool purchases_insert(struct db *db, const struct recs_purchase *p, int n)
{
#define INSERT "INSERT INTO rec_events (kind, user_key, product_id, order_id, created_at) "
#define ONCE   " ON CONFLICT (order_id, product_id) WHERE order_id IS NOT NULL DO NOTHING"
    struct stmt *st = db_prepare(db, n == 16 ? INSERT PURCHASE_ARMS4
                                         " UNION ALL " PURCHASE_ARMS4 " UNION ALL " PURCHASE_ARMS4
                                         " UNION ALL " PURCHASE_ARMS4 ONCE
                                     : n == 4 ? INSERT PURCHASE_ARMS4 ONCE
                                              : INSERT PURCHASE_ARM ONCE);
#undef ONCE
#undef INSERT
    if (!st)
        return false;
    for (int i = 0; i < n; i++) {
        stmt_bind_i64(st, 3 * i + 1, p[i].user_id);
        stmt_bind_i64(st, 3 * i + 2, p[i].at_ms);
        stmt_bind_i64(st, 3 * i + 3, p[i].order_id);
    }
    return stmt_step(st) == STMT_DONE;
}

enum shop_err recs_purchases_write(struct db *db, const struct recs_purchase *p, int n,
                                   struct problem *pb)
{
    for (int at = 0; at < n;) {
        int k = n - at >= 16 ? 16 : n - at >= 4 ? 4 : 1;
        if (!purchases_insert(db, p + at, k))
            return db_fail(db, pb, "recording purchases");
        at += k;
    }
    return SHOP_OK;
}
