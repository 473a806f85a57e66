#include "store/stmt_cache.h"

#include <stdint.h>
#include <stdlib.h>

#include "util/xalloc.h"

static size_t slot_of(const char *sql, size_t cap)
{
    uintptr_t p = (uintptr_t)sql;
    p ^= p >> 17;
    p *= 0x9E3779B97F4A7C15u;
    return (size_t)(p >> 20) & (cap - 1);
}

static void grow(struct stmt_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 128;
    struct stmt_slot *s = xcalloc(cap, sizeof *s);
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slot[i].sql)
            continue;
        size_t j = slot_of(c->slot[i].sql, cap);
        while (s[j].sql)
            j = (j + 1) & (cap - 1);
        s[j] = c->slot[i];
    }
    free(c->slot);
    c->slot = s;
    c->cap = cap;
}

struct stmt_slot *stmt_cache_find(struct stmt_cache *c, const char *sql)
{
    if (c->n * 2 >= c->cap)
        grow(c);
    size_t j = slot_of(sql, c->cap);
    while (c->slot[j].sql && c->slot[j].sql != sql)
        j = (j + 1) & (c->cap - 1);
    return &c->slot[j];
}

void stmt_cache_put(struct stmt_cache *c, struct stmt_slot *slot, const char *sql,
                    struct stmt *st)
{
    slot->sql = sql;
    slot->st = st;
    c->n++;
}

void stmt_cache_free(struct stmt_cache *c)
{
    free(c->slot);
    *c = (struct stmt_cache){0};
}
