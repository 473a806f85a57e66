#include "shop/keylock.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define SLOTS    1024
#define MAX_KEYS 8

static int64_t slot_of(const char *key)
{
    /* A fixed key: the slots only spread keys, they keep no secret. */
    static const unsigned char k[crypto_shorthash_KEYBYTES] = "shopd-keylock-16";
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), k);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (int64_t)(v % SLOTS);
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

enum shop_err keylock(struct db *db, const char *const *keys, int n, struct problem *pb)
{
    if (db_serialised(db) || n <= 0)
        return SHOP_OK;
    if (n > MAX_KEYS)
        return problem_set(pb, SHOP_INTERNAL, "too many keys to lock");
    int64_t slots[MAX_KEYS];
    for (int i = 0; i < n; i++)
        slots[i] = slot_of(keys[i]);
    qsort(slots, (size_t)n, sizeof *slots, by_value);
    for (int i = 0; i < n; i++) {
        if (i > 0 && slots[i] == slots[i - 1])
            continue;
        struct stmt *st = db_prepare(db, "UPDATE lock_slots SET n = n + 1 WHERE slot = ?");
        if (!st)
            return db_fail(db, pb, "locking");
        stmt_bind_i64(st, 1, slots[i]);
        if (stmt_step(st) != STMT_DONE)
            return db_fail(db, pb, "locking");
    }
    return SHOP_OK;
}
