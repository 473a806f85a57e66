#include "shop/keylock.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/cmp.h"

#define MAX_KEYS DB_LOCK_MAX

static int64_t key_of(const char *key)
{
    /* A fixed key: the hash only names the lock, it keeps no secret. */
    static const unsigned char k[crypto_shorthash_KEYBYTES] = "shopd-keylock-16";
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), k);
    int64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

enum shop_err keylock(struct db *db, const char *const *keys, int n, struct problem *pb)
{
    if (db_serialised(db) || n <= 0)
        return SHOP_OK;
    if (n > MAX_KEYS)
        return problem_set(pb, SHOP_INTERNAL, "too many keys to lock");
    int64_t locks[MAX_KEYS];
    for (int i = 0; i < n; i++)
        locks[i] = key_of(keys[i]);
    qsort(locks, (size_t)n, sizeof *locks, cmp_i64);
    int distinct = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || locks[i] != locks[distinct - 1])
            locks[distinct++] = locks[i];
    return db_lock(db, locks, distinct, pb);
}
