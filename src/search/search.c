/* search.c — the in-memory catalog index: lifecycle, updates, locking.
 *
 * WHAT IT IS
 *
 * Every published product lives in memory as a *document* in a numbered
 * slot, so that browse (GET /v1/products), search (GET /v1/search) and
 * suggestions (GET /v1/search/suggest) never touch the database. The files:
 *
 *   text.c     tokenizer: UTF-8, case and accent folding, stop words,
 *              Snowball stemmers (a pool: one stemmer is not thread-safe)
 *   maps.c     string interning (dense ids) and an int64 → uint32 map
 *   lexicon.c  terms (stems) with posting lists; words (surface forms)
 *              with a trie for prefix completion and typo correction
 *   index.c    documents in slots, categories, brands; insert/replace/remove
 *   load.c     the SQL that feeds the index
 *   match.c    query words → terms (completions, typos) → matching documents,
 *              BM25F text scores
 *   oneword.c  a one-word page by relevance, from its word's block bounds
 *   derived.c  per-term structures derived from the postings (dense-term
 *              bitsets, frequent terms' facet counts and block bounds, title
 *              lists in suggestion order), 4 packed score-bound bytes per
 *              slot, the averages scores use and their length
 *              normalisations; index_derived_build rebuilds them all after
 *              a load
 *   bm25.h     the text score's constants and arithmetic, shared by scores
 *              and every bound of them
 *   query.c    browse and search: filters, facets, boosts, sorting
 *   browse.c   pages from the category orders, listings' totals and facets
 *   cursor.c   a page's cursor: its sort key, encoded
 *   suggest.c  completions from popular queries (qlog.c) and titles
 *   cache.c    the result cache
 *
 * DATA STRUCTURES
 *
 *   docs[slot]   64 bytes of hot attributes — product id, lowest price,
 *                created, sales, rating sum/count, category, brand, field
 *                lengths, a precomputed boost, live and in-stock flags.
 *   col[slot]    32 bytes of what a query reads for every match: id,
 *                category, brand, boost, field lengths, price bucket, star
 *                level, in-stock and live flags (index.h: struct dcol). At a
 *                million products this column (31 MB) mostly stays in the
 *                last-level cache where docs[] (61 MB) does not; a query
 *                reads a row only for rating filters, sort keys other than
 *                relevance and price, and the page it returns.
 *   price[slot]  4 bytes: the lowest price in cents (exact below 2^32 cents;
 *                above, index_price reads the row), for price filters and
 *                the price sorts.
 *   text[slot]   display strings (title, brand, currency, first image) in
 *                one block, the highest price, the document's distinct word
 *                ids (to undo its postings) and a hash of its indexed text.
 *   terms        stem → posting list of (slot, tf per field), slots
 *                ascending: AND is a merge with galloping search, and a
 *                document appended at the end is O(1).
 *   words        folded surface word → its term and its live document
 *                count; a byte trie over the words serves "headph" →
 *                headphones (best-first on a per-node frequency bound) and
 *                "hedphones" → headphones (edit-distance rows along trie
 *                paths, pruned as soon as a row exceeds the budget).
 *   categories   the tree with each node's ancestor chain (for the facet
 *                one level below the filter) and a depth-first interval,
 *                so "in the subtree of c" is pre(c) ≤ pre(x) < post(c).
 *                Each category lists its own documents in slot order and in
 *                the order of each of the five browse sorts (kept sorted on
 *                every change: a binary search and a memmove in one
 *                category), and keeps their facet counts (brand, price
 *                bucket, star level).
 *   brands       folded brand → id (filters compare ids; "SONY" = "Sony"),
 *                and each brand's live documents in slot order (a one-word
 *                query filtered to a brand starts from them).
 *
 * WHERE A QUERY'S TIME GOES AT A MILLION PRODUCTS
 *
 * Profiled with `perf record -g` on `shopd seed --products 1000000` (959,656
 * published, only 7,508 distinct terms: the seed's vocabulary is small, so a
 * word matches 5–20 % of the catalog) with the result cache off:
 *
 *   - Browse (?category=…&sort=price_asc) sorted nothing: it scanned the
 *     subtree's ~10,000–900,000 documents for the total, the facets and a
 *     heap, and 84 % of its samples were one instruction — the first load
 *     of docs[slot].cat, a cache miss per document (3 ms of CPU a request).
 *     Now the page merges the subtree's category orders (one cursor per
 *     category, entered after the cursor by binary search, left after
 *     limit + 1 documents) and, without other filters, the total and the
 *     facets add up the categories' counts: 35 µs of CPU a request, whatever
 *     the size of the catalog. With a brand, price, rating or stock filter
 *     the page came from the orders too, and a filter few documents pass
 *     walked most of the catalog to fill it (?min_rating=4 over the whole
 *     catalog: 149 ms; ?max_price=500: 124 ms; ?brand=…: 10 ms). Now
 *     (stop 20) the total and the facets are counted first over the
 *     cheapest source that holds every candidate — the brand's document
 *     list, each category's slice of its price order (a price range) or
 *     prefix of its rating order (a minimum rating), the subtree, or the
 *     whole catalog front to back — keeping what passed when the orders
 *     did not yield the page within 64 × (limit + 1) steps; the page then
 *     comes from the orders or from ranking what was kept, whichever is
 *     cheaper: 0.4–1.5 ms for those three, 4–12 ms for a filter that most
 *     of a million documents pass (a wide price range, 3 stars and up).
 *     A listing filtered by stock alone adds up per-category counts of the
 *     in-stock documents, kept beside the others (0.35 ms, from 10).
 *   - Search spent 52 % in query_consider (the first touch of the row), 19 %
 *     in BM25F (its d->flen load, again a miss), 10 % galloping through
 *     postings and 8 % in the intersection. The total and the facets count
 *     every match, so a query's work stays proportional to its matches, not
 *     to the page: what changed is the cost per match. Filters and facets
 *     read the column (prefetched 16 postings ahead of the walk); relevance
 *     compares the page's worst score with a bound from the postings alone
 *     (each present word's idf × weight × (1 + title bonus), saturated
 *     BM25F being below 1) and scores only documents that can enter, from
 *     the column, with the id tie-break from the column too. CPU per
 *     request fell from 1.10 ms to about 0.75 ms on the bench mix (a shared
 *     2-core machine: last-level cache contention from other work inflates
 *     both); what remains is the intersection and the per-match column
 *     read.
 *   - After that, two-word queries (38 % of the bench mix, a median of
 *     about 500 matches) spent their time intersecting: the rarest word's
 *     candidates (14,000–36,000 postings) each galloped through the other
 *     word's list and prefetched its column — most of which the other word
 *     then rejected, so the prefetches saturated the memory bus. Now the
 *     matches are collected first (postings only) and considered after
 *     (prefetching only real matches); a dense word (in 1/32 of the slots
 *     or more) answers by a bit of its bitset, two dense words AND their
 *     bitsets 64 slots at a time, and a sparse word's cursor steps a few
 *     postings by hand before galloping.
 *   - One-word queries without filters (18 % of the mix, 25,000 matches on
 *     average, 200,000 for "travel") counted every match for the total and
 *     the facets. A term with 2,048 documents or more now keeps its facet
 *     counts, maintained on every change, so the total is the posting count
 *     and the facets are copied; ranking skips non-title postings once the
 *     page is full (their score is below w × idf × the largest boost) and
 *     bounds a title posting's score from 4 packed bytes per slot (boost
 *     class, exact field lengths) before reading its column. On this seed
 *     the bound pruned less than hoped: titles are templated ("Brand
 *     Adjective Noun Model", all four tokens long), in-stock flags and
 *     lengths tie, so a word's title documents mostly share the top score
 *     and the id decides — and bounding every posting was itself 900 µs
 *     for "travel" (197,691 postings, four divisions each).
 *     Stop 18: a frequent word keeps, per block of 512 slots, the largest
 *     score core of its postings there (derived.c: bmax), and the page
 *     walks the blocks best bound first, stopping at the first that cannot
 *     enter (match.c: walk_units). Because the top scores are so often
 *     exactly equal, the bound is exact — the same arithmetic on the same
 *     values as the score, at averages that scores take only when they move
 *     by 1 % — and a tie at the page's worst visits only blocks holding a
 *     lower id (index.bminid). A filtered one-word query counts every
 *     posting, then walks the blocks of those that passed. "travel"
 *     910 → 101 µs, "deluxe" 900 → 91 µs, "deluxe&in_stock=true"
 *     950 → 492 µs (one client, best of 20; /healthz is 67 µs).
 *   - Suggest walked every title posting of up to 16 completions of the
 *     unfinished word (millions for a two-letter prefix) and loaded the row
 *     of each for its sales. Each term now lists its title documents in
 *     suggestion order (best sellers, most rated, lowest id; moved on a
 *     sales or rating change like the category orders): suggest merges the
 *     completions' lists and stops after 2 × limit titles, checking complete
 *     words by bit or posting; when a complete word's list is a quarter of
 *     the completions' or less, it drives instead. After 4,096 candidates
 *     it falls back to the walk of the postings (exact either way).
 *     790 µs → about 55 µs of CPU a request at a million products.
 *   - Typo correction (typo_walk) is under 1 %: the trie walk is bounded by
 *     the edit budget, not by the catalog.
 *   - Price filters (8 % of the mix's queries, 18 % of its time) read the
 *     row's price for every match: a third of query_consider's samples were
 *     that one load, and price sorts read the row for their keys. The price
 *     column answers both: those queries went from 745 to 529 µs of server
 *     time each (one client, best of 3 per query), the mix from 4,643 to
 *     5,229 req/s (median of 3 alternating runs; stop 15).
 *
 * Measured on the bench mix (bench/search.sh pieces with wrk, cache off)
 * on a shared 2-core machine under heavy load from other work (load
 * average 15–20, so every figure is inflated), server CPU per request,
 * median of 5 alternating runs against the previous binary:
 *
 *                      1M before → after      100K before → after
 *   search            696 → 478 µs (−31 %)   103 → 103 µs
 *   suggest           712 → 56 µs  (13×)      99 → 64 µs
 *
 * Suggest ran at 22,000–26,600 req/s at 1M. What remains for search, by
 * profile (stop 18): multi-word queries, 60 % of the mix's time — a cost
 * per match (10,000–40,000 for two frequent words), half of it scoring:
 * the seeks for each word's posting and BM25F (one division per word now:
 * length normalisations come from a table, bm25.h), half the
 * intersection and the exact facets. Tried and dropped: walking their
 * matches by block best first like a one-word page — a sum of per-word
 * block maxima comes from different documents and bounds nothing on this
 * seed, whose top scores lie within 0.1 % of each other; a compact 8-byte
 * facet column beside the 32-byte one — scoring reads the wide one anyway,
 * and three arrays per match cost more than one; bounding each match from
 * its packed bounds before reading its column — as costly as scoring. The
 * positions of a dense word's postings are now found by rank (a count per
 * 64 slots beside its bitset) instead of galloping, and a one-word query
 * filtered to a small category subtree starts from the subtree's
 * documents (stop 19: or from a brand's, which the index lists).
 *   Stop 19: a multi-word match's postings are noted while matching (no
 * seek when scoring) and everything a match reads is prefetched 16 ahead;
 * and the matches of frequent words, still taken in slot order and all
 * counted, are scored only in blocks whose exact bound (the sum of the
 * words' block bounds, with a word's score now w × (idf × (sat × boost))
 * like the bound) may enter the page. The best-first block walk had
 * failed on "fiction novel", whose words' bests lie in different
 * documents of every block; in slot order such a query costs what it did,
 * while "board game" scores 146 of its 13,016 matches (928 → 543 µs).
 * perf then put most of the rest on memory: the column line of each match
 * (a cache miss at a million products) for the filters and the facets.
 *
 * tests/unit/test_search_diff.c runs every fast path against the
 * exhaustive reference path (`search.reference`, the previous algorithm,
 * reading rows; for suggest, the walk of the postings) on 50,000 products,
 * before and after random updates.
 *
 * Fields and weights (BM25F, k1 = 1.2): title 4.0 (b 0.75), brand 2.5
 * (b 0.3), category names of the product's category and its ancestors 1.5
 * (b 0.3), description 1.0 (b 0.75); a description counts its first 1,000
 * tokens. Each query word scores idf × (saturated tf + 0.5 when it is in
 * the title): a title with every word beats a short title with one word
 * and a category with the other. Relevance = text score × boost, where
 * boost = 1 + 0.12 in stock + up to 0.08 for a good average rating (only
 * with ≥ 3 reviews) + up to 0.08 for sales (log-scaled, full at 10,000
 * units): business signals order products of similar relevance, they do
 * not overturn it.
 *
 * UPDATE PATH
 *
 * search_refresh(product) takes `write_mu`, reads the product in one
 * statement (row, price range, any stock), then takes the write lock:
 *   - not found or not published → the document is removed: its postings
 *     are deleted (binary search and memmove per term: microseconds even
 *     for a term in every document), its slot goes to a free list;
 *   - same indexed text (hash of title, brand, description, category) →
 *     only attributes and display strings change, postings untouched;
 *   - otherwise the old postings go and the new ones are inserted into
 *     the same slot (sorted insertion keeps posting lists ascending).
 * If anything shown changed, the catalog version is bumped under the same
 * write lock; a change of the sales count alone (every order makes some)
 * only marks the version stale, and the next cache lookup a second or more
 * after the last bump bumps it — so orders cannot empty the result cache,
 * and popularity order in cached answers lags by at most a second. A product whose category the
 * index has not seen makes it reload the category tree first. When existing categories are renamed
 * or moved (documents carry their names), the whole index is rebuilt from the database beside the
 * live one — queries keep using the old one — and swapped in under the write lock.
 *
 * START-UP
 *
 * Built from the database, a million products took 7.8 s (plus 5.4 s for
 * the recommendation model, mostly the same product query) before the
 * server listened. Profiled (perf, 1M seed): 43 % of the CPU in SQLite —
 * the product query's price and stock subqueries, run per product —, then
 * tokenizing and interning every token (intern_find, text_next), posting,
 * stemming (libstemmer 6 %, mostly the recommendation titles), sorting the
 * category orders. None of it is needed when nothing changed: at a clean
 * stop the index is saved (snapshot_write.c: the arrays as they are in memory —
 * postings, words, trie, slots, text, category orders and facet counts —
 * checksummed, stamped by the caller with the change feed's position) and
 * at start read back with a few large copies (0.5 s, 480 MB at a million),
 * then every product changed after the stamp is re-read by search_refresh
 * before the server listens. The rule — when a snapshot is used, when it is
 * refused and the index built as before — is shop/views.c's; the index is
 * never served stale or partial: /readyz answers once it is what a fresh
 * build would give (tests/api/test_search_snapshot.py compares every
 * search, browse, facet and suggest answer of the two). A loaded index
 * holds the same structures, so its bytes per product are the built one's
 * (533 at 1M) or slightly fewer (no slack in brand tables).
 *
 * CONCURRENCY
 *
 * One rwlock, writer-preferring so a refresh is never starved by a stream
 * of queries. A query holds it for reading from resolving its words to
 * copying its page of results into the request's arena, so it never sees
 * half a product; the HTTP layer renders after the lock is released. An
 * update holds it for writing only while it changes memory (typically
 * 10–100 µs); the database read happens before, under `write_mu` only.
 * Query working memory (candidate lists, facet counters, the top-k heap)
 * comes from a pool of scratch areas, so a query allocates nothing big.
 * The result cache and the query log have their own sharded mutexes.
 *
 * MEMORY PER PRODUCT
 *
 * 64 B hot attributes + 32 B column + 48 B of text bookkeeping + display
 * strings (~100–200 B) + 4 B per distinct word + 8 B per posting (one per
 * distinct term, ~25–60 for a title and a paragraph of description) + 24 B
 * of category membership and orders + the id map. A bulk build trims the
 * slack of arrays grown by doubling (posting lists, slots, category lists).
 * Derived structures (derived.c) add 37 bytes a product at a million
 * (bitsets of dense terms, title lists of terms in 16 titles or more,
 * facet counts of frequent terms; 35.6 MB) and 28 at 100,000, plus 4 bytes
 * of packed bounds; display strings found by 16-bit offsets instead of four
 * pointers gave back 32 B. Measured: 542 bytes a product at a million
 * (533 before), 571 at 100,000 (571 before). index_derived_build takes
 * about 0.4 s of CPU at a million (77 ms at 100,000).
 * Logged at start as `search.built` {products, ms, bytes, bytes_per_product}
 * and exported in /metrics; bench/search_1m.sh prints it for 100K and 1M.
 */
#include "search/search.h"

#include <stdlib.h>
#include <string.h>

#include "search/cache.h"
#include "search/engine.h"
#include "search/maps.h"
#include "search/qlog.h"
#include "search/text.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DEFAULT_CACHE_ENTRIES 20000
#define DEFAULT_CACHE_BYTES   (128u * 1024 * 1024)

struct search *search_new(void)
{
    struct search *s = xcalloc(1, sizeof *s);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    s->ix = index_new();
    s->stem = text_stemmers_new();
    s->qlog = qlog_new();
    s->cache_entries = DEFAULT_CACHE_ENTRIES;
    s->cache_bytes = DEFAULT_CACHE_BYTES;
    s->cache = rcache_new(s->cache_entries, s->cache_bytes);
    return s;
}

void search_free(struct search *s)
{
    if (!s)
        return;
    index_free(s->ix);
    text_stemmers_free(s->stem);
    qlog_free(s->qlog);
    rcache_free(s->cache);
    for (struct scratch *sc = s->pool, *next; sc; sc = next) {
        next = sc->next;
        free(sc->brand_count);
        free(sc->cat_count);
        free(sc->touched_b);
        free(sc->touched_c);
        free(sc->heap);
        free(sc->merge);
        free(sc->match);
        free(sc->blocks);
        free(sc->runs);
        free(sc->sorted);
        free(sc->at);
        free(sc->kept);
        free(sc->slices);
        free(sc);
    }
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->pool_mu);
    free(s);
}

void search_cache_configure(struct search *s, size_t max_entries, size_t max_bytes)
{
    rcache_free(s->cache);
    s->cache_entries = max_entries;
    s->cache_bytes = max_bytes;
    s->cache = max_entries ? rcache_new(max_entries, max_bytes) : NULL;
}

void search_suggest_configure(struct search *s, int min_count)
{
    qlog_set_min_count(s->qlog, min_count);
}

/* ---- scratch pool ------------------------------------------------------------------ */

struct scratch *scratch_get(struct search *s)
{
    pthread_mutex_lock(&s->pool_mu);
    struct scratch *sc = s->pool;
    if (sc)
        s->pool = sc->next;
    pthread_mutex_unlock(&s->pool_mu);
    return sc ? sc : xcalloc(1, sizeof *sc);
}

void scratch_put(struct search *s, struct scratch *sc)
{
    pthread_mutex_lock(&s->pool_mu);
    sc->next = s->pool;
    s->pool = sc;
    pthread_mutex_unlock(&s->pool_mu);
}

void scratch_reserve(void **p, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return;
    size_t c = *cap ? *cap : 256;
    while (c < n)
        c *= 2;
    void *q = xrealloc(*p, c * size);
    memset((char *)q + *cap * size, 0, (c - *cap) * size);
    *p = q;
    *cap = c;
}

/* ---- building and updating ------------------------------------------------------------ */

/* A new catalog version: cached answers of older ones are not served. */
static void bump(struct search *s)
{
    atomic_store(&s->sales_pending, false);
    atomic_fetch_add(&s->version, 1);
    atomic_store(&s->bumped_ms, clock_mono_ns() / 1000000);
}

/* Builds a whole index from `db` and swaps it in. Caller holds write_mu. */
static enum shop_err rebuild(struct search *s, struct db *db, struct problem *pb)
{
    int64_t t0 = clock_mono_ns();
    struct index *fresh = index_new();
    enum shop_err err = index_load_all(fresh, db, s->stem, pb);
    if (err != SHOP_OK) {
        index_free(fresh);
        return err;
    }
    pthread_rwlock_wrlock(&s->lock);
    struct index *old = s->ix;
    s->ix = fresh;
    bump(s);
    pthread_rwlock_unlock(&s->lock);
    index_free(old);
    s->build_ms = (clock_mono_ns() - t0) / 1000000;
    search_log_built(s, "search.built", s->build_ms);
    return SHOP_OK;
}

void search_scores_settle(struct search *s)
{
    pthread_rwlock_wrlock(&s->lock);
    derived_bounds_check(s->ix, true);
    pthread_rwlock_unlock(&s->lock);
}

void search_log_built(struct search *s, const char *event, int64_t ms)
{
    pthread_rwlock_rdlock(&s->lock);
    const struct index *ix = s->ix;
    size_t bytes = index_bytes(ix);
    log_event(LOG_INFO, event, "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "products",
              (json_int_t)ix->nlive, "ms", (json_int_t)ms, "bytes", (json_int_t)bytes,
              "bytes_per_product", (json_int_t)(ix->nlive ? bytes / ix->nlive : 0), "terms",
              (json_int_t)ix->lx.term_ix.n, "words", (json_int_t)ix->lx.word_ix.n, "derived_ms",
              (json_int_t)ix->derived_ms, "derived_bytes", (json_int_t)derived_bytes(ix));
    pthread_rwlock_unlock(&s->lock);
}

enum shop_err search_build(struct search *s, struct store *store, struct problem *pb)
{
    struct db *db = store_db(store);
    db_release(db);
    pthread_mutex_lock(&s->write_mu);
    enum shop_err err = rebuild(s, db, pb);
    pthread_mutex_unlock(&s->write_mu);
    db_release(db);
    return err;
}

/* Reloads the category tree: in place when categories were only added, by a
 * rebuild otherwise. Caller holds write_mu. */
static enum shop_err categories_locked(struct search *s, struct db *db, struct problem *pb)
{
    /* Read into a scratch index first: the live one must not change outside
     * the write lock. */
    struct index *probe = index_new();
    bool structural = false;
    enum shop_err err;
    pthread_rwlock_rdlock(&s->lock);
    /* Copying the category table is cheap; compare against the live one. */
    struct index *live = s->ix;
    for (uint32_t i = 0; i < live->ncats; i++) {
        if (probe->ncats == probe->ccap) {
            probe->ccap = probe->ccap ? probe->ccap * 2 : 64;
            probe->cats = xrealloc(probe->cats, probe->ccap * sizeof *probe->cats);
        }
        probe->cats[probe->ncats] = (struct cat){.id = live->cats[i].id,
                                                 .parent_id = live->cats[i].parent_id,
                                                 .name = xstrdup(live->cats[i].name)};
        idmap_put(&probe->cat_by_id, live->cats[i].id, probe->ncats++);
    }
    pthread_rwlock_unlock(&s->lock);
    err = index_load_categories(probe, db, &structural, pb);
    db_release(db);
    if (err == SHOP_OK && structural) {
        err = rebuild(s, db, pb);
    } else if (err == SHOP_OK && probe->ncats != live->ncats) {
        /* Only additions: apply them to the live index. */
        pthread_rwlock_wrlock(&s->lock);
        err = index_load_categories(s->ix, db, &structural, pb);
        bump(s);
        pthread_rwlock_unlock(&s->lock);
        db_release(db);
        if (err == SHOP_OK && structural)
            err = rebuild(s, db, pb); /* changed again meanwhile */
    }
    index_free(probe);
    return err;
}

enum shop_err search_refresh_categories(struct search *s, struct db *db, struct problem *pb)
{
    pthread_mutex_lock(&s->write_mu);
    enum shop_err err = categories_locked(s, db, pb);
    pthread_mutex_unlock(&s->write_mu);
    return err;
}

/* Applies one product read from the database. Caller holds write_mu. */
static enum index_change apply(struct search *s, const struct doc_src *src)
{
    enum index_change ch;
    pthread_rwlock_wrlock(&s->lock);
    if (!src->exists || !src->published)
        ch = index_remove(s->ix, src->id) ? INDEX_CHANGED : INDEX_SAME;
    else
        ch = index_put(s->ix, s->stem, src, false);
    if (ch == INDEX_CHANGED)
        bump(s);
    else if (ch == INDEX_SALES)
        atomic_store(&s->sales_pending, true); /* search_version bumps within a second */
    pthread_rwlock_unlock(&s->lock);
    return ch;
}

enum shop_err search_refresh(struct search *s, struct db *db, int64_t product_id,
                             struct problem *pb)
{
    return search_refresh_then(s, db, product_id, NULL, NULL, pb);
}

enum shop_err search_refresh_then(struct search *s, struct db *db, int64_t product_id,
                                  search_read_fn fn, void *cls, struct problem *pb)
{
    struct doc_src src;
    char *owned = NULL;
    pthread_mutex_lock(&s->write_mu);
    enum shop_err err = index_read_product(db, product_id, &src, &owned, pb);
    if (err != SHOP_OK)
        goto done;
    src.id = product_id;
    if (fn)
        fn(cls,
           src.exists ? &(struct search_product){.id = product_id,
                                                 .category_id = src.category_id,
                                                 .price = src.price,
                                                 .title = src.title,
                                                 .brand = src.brand,
                                                 .currency = src.currency,
                                                 .in_stock = src.in_stock}
                      : NULL,
           src.published);
    if (apply(s, &src) == INDEX_NO_CATEGORY) {
        err = categories_locked(s, db, pb);
        if (err == SHOP_OK && apply(s, &src) == INDEX_NO_CATEGORY) {
            /* The row names a category that does not exist: keep it out. */
            src.exists = false;
            apply(s, &src);
            log_event(LOG_WARN, "search.skipped", "{s:I, s:s}", "product", (json_int_t)product_id,
                      "reason", "unknown category");
        }
    }
    atomic_fetch_add_explicit(&s->nrefresh, 1, memory_order_relaxed);
done:
    pthread_mutex_unlock(&s->write_mu);
    free(owned);
    return err;
}

/* ---- small public helpers ----------------------------------------------------------- */

size_t search_products(struct search *s)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->ix->nlive;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

size_t search_each_product(struct search *s, void (*fn)(void *cls, const struct search_product *p),
                           void *cls)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&s->lock);
    const struct index *ix = s->ix;
    for (uint32_t i = 0; i < ix->nslots; i++) {
        const struct doc *d = &ix->docs[i];
        if (!d->live)
            continue;
        const struct doc_text *t = &ix->text[i];
        fn(cls, &(struct search_product){.id = d->id,
                                         .category_id = ix->cats[d->cat].id,
                                         .price = d->price,
                                         .title = doc_title(t),
                                         .brand = doc_brand(t),
                                         .currency = doc_currency(t),
                                         .in_stock = d->in_stock});
        n++;
    }
    pthread_rwlock_unlock(&s->lock);
    return n;
}

static const char *const sort_names[] = {
    [SEARCH_SORT_RELEVANCE] = "relevance", [SEARCH_SORT_POPULARITY] = "popularity",
    [SEARCH_SORT_PRICE_ASC] = "price_asc", [SEARCH_SORT_PRICE_DESC] = "price_desc",
    [SEARCH_SORT_RATING] = "rating",       [SEARCH_SORT_NEWEST] = "newest",
};

bool search_sort_parse(const char *name, enum search_sort *out)
{
    for (size_t i = 0; i < sizeof sort_names / sizeof sort_names[0]; i++)
        if (!strcmp(name, sort_names[i])) {
            *out = (enum search_sort)i;
            return true;
        }
    return false;
}

const char *search_sort_name(enum search_sort sort)
{
    return sort_names[sort];
}

uint64_t search_version(struct search *s)
{
    if (atomic_load_explicit(&s->sales_pending, memory_order_relaxed) &&
        clock_mono_ns() / 1000000 - atomic_load(&s->bumped_ms) >= 1000 &&
        atomic_exchange(&s->sales_pending, false)) {
        atomic_fetch_add(&s->version, 1);
        atomic_store(&s->bumped_ms, clock_mono_ns() / 1000000);
    }
    return atomic_load(&s->version);
}

void search_record_query(struct search *s, const char *q)
{
    char norm[QLOG_TEXT_MAX + 1];
    size_t n = text_fold(q, strlen(q), norm, sizeof norm);
    qlog_record(s->qlog, norm, n);
}

void search_stats(struct search *s, struct search_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&s->lock);
    out->products = s->ix->nlive;
    out->terms = s->ix->lx.term_ix.n;
    out->words = s->ix->lx.word_ix.n;
    out->bytes = index_bytes(s->ix);
    out->version = atomic_load(&s->version);
    pthread_rwlock_unlock(&s->lock);
    out->build_ms = s->build_ms;
    out->queries = atomic_load(&s->nqueries);
    out->refreshes = atomic_load(&s->nrefresh);
    if (s->cache) {
        struct rcache_stats cs;
        rcache_stats(s->cache, &cs);
        out->cache_hits = cs.hits;
        out->cache_misses = cs.misses;
        out->cache_entries = cs.entries;
        out->cache_bytes = cs.bytes;
    }
}

void search_render_metrics(struct search *s, struct buf *out)
{
    struct search_stats st;
    search_stats(s, &st);
    buf_printf(out,
               "# HELP shopd_search_products Products in the search index.\n"
               "# TYPE shopd_search_products gauge\n"
               "shopd_search_products %llu\n"
               "# HELP shopd_search_index_bytes Memory held by the search index.\n"
               "# TYPE shopd_search_index_bytes gauge\n"
               "shopd_search_index_bytes %llu\n"
               "# HELP shopd_search_terms Distinct stems in the search index.\n"
               "# TYPE shopd_search_terms gauge\n"
               "shopd_search_terms %llu\n"
               "# HELP shopd_search_build_ms Milliseconds the last full index build took.\n"
               "# TYPE shopd_search_build_ms gauge\n"
               "shopd_search_build_ms %lld\n"
               "# HELP shopd_search_catalog_version Index changes since start.\n"
               "# TYPE shopd_search_catalog_version counter\n"
               "shopd_search_catalog_version %llu\n"
               "# HELP shopd_search_queries_total Browse and search queries run on the index.\n"
               "# TYPE shopd_search_queries_total counter\n"
               "shopd_search_queries_total %llu\n"
               "# HELP shopd_search_refreshes_total Products re-read after a change.\n"
               "# TYPE shopd_search_refreshes_total counter\n"
               "shopd_search_refreshes_total %llu\n"
               "# HELP shopd_search_cache_hits_total Answers served from the result cache.\n"
               "# TYPE shopd_search_cache_hits_total counter\n"
               "shopd_search_cache_hits_total %llu\n"
               "# HELP shopd_search_cache_misses_total Lookups the result cache could not answer.\n"
               "# TYPE shopd_search_cache_misses_total counter\n"
               "shopd_search_cache_misses_total %llu\n"
               "# HELP shopd_search_cache_entries Answers held by the result cache.\n"
               "# TYPE shopd_search_cache_entries gauge\n"
               "shopd_search_cache_entries %llu\n"
               "# HELP shopd_search_cache_bytes Memory held by the result cache.\n"
               "# TYPE shopd_search_cache_bytes gauge\n"
               "shopd_search_cache_bytes %llu\n",
               (unsigned long long)st.products, (unsigned long long)st.bytes,
               (unsigned long long)st.terms, (long long)st.build_ms, (unsigned long long)st.version,
               (unsigned long long)st.queries, (unsigned long long)st.refreshes,
               (unsigned long long)st.cache_hits, (unsigned long long)st.cache_misses,
               (unsigned long long)st.cache_entries, (unsigned long long)st.cache_bytes);
}

/* ---- result cache ------------------------------------------------------------------ */

char *search_cache_key(const char *kind, const struct search_params *p, struct arena *a,
                       size_t *len)
{
    char q[4 * SEARCH_Q_MAX + 8] = "", brand[4 * SEARCH_BRAND_MAX + 8] = "";
    if (p->q && *p->q) {
        size_t n = text_fold(p->q, strlen(p->q), q, sizeof q - 2);
        /* "headph" completes a word, "headph " does not: keep the difference. */
        size_t ql = strlen(p->q);
        if (n && ql && strchr(" \t\r\n,.;:!?", p->q[ql - 1]) == NULL)
            q[n++] = '*', q[n] = '\0';
    }
    if (p->brand)
        text_fold(p->brand, strlen(p->brand), brand, sizeof brand);
    char *key = arena_printf(
        a, "%s\x1f%s\x1f%lld\x1f%s\x1f%s\x1f%lld\x1f%lld\x1f%d\x1f%d\x1f%s\x1f%d\x1f%d\x1f%s", kind,
        q, (long long)p->category_id, p->brand ? "b" : "", brand, (long long)p->min_price,
        (long long)p->max_price, p->min_rating_milli, p->in_stock, search_sort_name(p->sort),
        p->limit, p->facets, p->cursor ? p->cursor : "");
    *len = strlen(key);
    return key;
}

bool search_cache_enabled(const struct search *s)
{
    return s->cache != NULL;
}

struct search_cached *search_cache_get(struct search *s, const char *key, size_t klen)
{
    if (!s->cache)
        return NULL;
    return (struct search_cached *)rcache_get(s->cache, key, klen, search_version(s),
                                              clock_now_ms());
}

struct search_cached *search_cache_put(struct search *s, const char *key, size_t klen,
                                       uint64_t version, int64_t ttl_ms, const char *data,
                                       size_t len, int64_t aux, const char *note)
{
    if (!s->cache)
        return NULL;
    int64_t expires = 0;
    if (ttl_ms > 0) {
        /* Between 3/4 and 5/4 of the TTL, by key: answers computed together
         * (a warm-up, a burst) do not all expire, and get recomputed, at once. */
        int64_t spread = ttl_ms / 2 * (int64_t)(hash_bytes(key, klen) % 1024) / 1024;
        expires = clock_now_ms() + ttl_ms * 3 / 4 + spread;
    }
    return (struct search_cached *)rcache_put(s->cache, key, klen, version, expires, data, len, aux,
                                              note);
}

const char *search_cached_data(const struct search_cached *c, size_t *len, int64_t *aux)
{
    return rc_blob_data((const struct rc_blob *)c, len, aux);
}

const char *search_cached_note(const struct search_cached *c)
{
    return rc_blob_note((const struct rc_blob *)c);
}

void search_cached_release(void *c)
{
    rc_blob_release(c);
}
