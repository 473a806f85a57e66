/* stmt_cache.h — a connection's prepared statements, keyed by the address
 * of their SQL literal (store.h, db_prepare), for either backend: an
 * open-addressed table that doubles at half full. Statements are never
 * removed; the backend frees them with the connection.
 */
#ifndef SHOPD_STORE_STMT_CACHE_H
#define SHOPD_STORE_STMT_CACHE_H

#include <stddef.h>

struct stmt;

struct stmt_slot {
    const char *sql; /* NULL: empty */
    struct stmt *st;
};

struct stmt_cache {
    struct stmt_slot *slot;
    size_t cap, n;
};

/** The slot of `sql`: its statement, or an empty one (st == NULL) that
 *  stmt_cache_put fills. */
struct stmt_slot *stmt_cache_find(struct stmt_cache *c, const char *sql);

/** Fills the empty slot stmt_cache_find gave for `sql`. */
void stmt_cache_put(struct stmt_cache *c, struct stmt_slot *slot, const char *sql,
                    struct stmt *st);

/** Frees the table (not the statements: free those first, over c->slot). */
void stmt_cache_free(struct stmt_cache *c);

#endif
