/* test_search_fixture.h — a synthetic catalog written straight into a test
 * database, with the same data kept in C arrays so tests can compute the
 * expected answers by brute force. */
#ifndef SHOP_TESTS_SEARCH_FIXTURE_H
#define SHOP_TESTS_SEARCH_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "search/search.h"
#include "shop/shop.h"

struct tcat {
    int64_t id, parent;
    const char *name;
};

struct tprod {
    int64_t id, cat;
    char title[128], brand[32], desc[256];
    int64_t price, max_price; /* lowest and highest variant price */
    int on_hand, reserved;
    int rating_sum, rating_count;
    int64_t sales, created;
    bool published;
};

#define FX_CATS 9
#define FX_MAX  400

struct fixture {
    struct shop *shop;
    struct tcat cats[FX_CATS + 8];
    int ncats;
    struct tprod p[FX_MAX];
    int n;
};

/** A shop with the fixed category tree and `n` generated products (plus the
 *  hand-written ones at the start), index built. */
void fx_open(struct fixture *fx, int n);
void fx_close(struct fixture *fx);

/** Writes (insert or update) product `i` of the model to the database. */
void fx_write(struct fixture *fx, int i);

/** Deletes product `i` from the database. */
void fx_delete(struct fixture *fx, int i);

/** Adds a category to the database and the model. */
void fx_add_category(struct fixture *fx, int64_t id, int64_t parent, const char *name);

/** Renames a category in the database and the model. */
void fx_rename_category(struct fixture *fx, int64_t id, const char *name);

/** search_refresh of product `i`; asserts success. */
void fx_refresh(struct fixture *fx, int i);

/** Whether category `c` is `anc` or below it. */
bool fx_in_subtree(const struct fixture *fx, int64_t c, int64_t anc);

/** The depth of a category (0 for a root) and its ancestor at `depth`. */
int fx_depth(const struct fixture *fx, int64_t c);
int64_t fx_ancestor_at(const struct fixture *fx, int64_t c, int depth);

/** Whether product `i` passes the filters of `p` (text not considered). */
bool fx_passes(const struct fixture *fx, int i, const struct search_params *p);

/** Runs a query; asserts success. Results live in the fixture's arena. */
struct search_result fx_query(struct fixture *fx, const struct search_params *p);

/** Default parameters (browse, popularity, limit 20, facets). */
struct search_params fx_params(void);

/** Whether the ids of `res` contain `id` among the first `k`. */
bool fx_in_top(const struct search_result *res, int64_t id, int k);

#endif
