#include "shop/session_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/token.h"
#include "util/xalloc.h"

#define SHARDS 32
#define BUCKETS 4096

struct entry {
    char digest[TOKEN_HASH_LEN + 1];
    struct principal who;
    bool guest;
    int64_t expires_at;
    struct entry *next;
};

struct shard {
    pthread_mutex_t mu;
    struct entry *buckets[BUCKETS];
    size_t count;
};

struct session_cache {
    size_t max_per_shard;
    struct shard shards[SHARDS];
};

/* The digest is hex of a cryptographic hash: its first characters are
 * already uniformly distributed. */
static uint64_t hash_of(const char *digest)
{
    uint64_t h = 0;
    for (int i = 0; i < 16 && digest[i]; i++)
        h = h << 4 | (uint64_t)(digest[i] <= '9' ? digest[i] - '0' : digest[i] - 'a' + 10);
    return h;
}

struct session_cache *session_cache_new(size_t max)
{
    struct session_cache *c = xcalloc(1, sizeof *c);
    c->max_per_shard = max / SHARDS + 1;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&c->shards[i].mu, NULL);
    return c;
}

void session_cache_free(struct session_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < SHARDS; i++) {
        for (int b = 0; b < BUCKETS; b++) {
            struct entry *e = c->shards[i].buckets[b];
            while (e) {
                struct entry *next = e->next;
                free(e);
                e = next;
            }
        }
        pthread_mutex_destroy(&c->shards[i].mu);
    }
    free(c);
}

bool session_cache_get(struct session_cache *c, const char *digest, int64_t now,
                       struct principal *who, bool *guest)
{
    uint64_t h = hash_of(digest);
    struct shard *s = &c->shards[h % SHARDS];
    bool hit = false;
    pthread_mutex_lock(&s->mu);
    for (struct entry *e = s->buckets[(h / SHARDS) % BUCKETS]; e; e = e->next)
        if (!strcmp(e->digest, digest)) {
            if (e->expires_at > now) {
                *who = e->who;
                *guest = e->guest;
                hit = true;
            }
            break;
        }
    pthread_mutex_unlock(&s->mu);
    return hit;
}

void session_cache_put(struct session_cache *c, const char *digest, const struct principal *who,
                       bool guest, int64_t expires_at)
{
    uint64_t h = hash_of(digest);
    struct shard *s = &c->shards[h % SHARDS];
    struct entry *n = xcalloc(1, sizeof *n);
    memcpy(n->digest, digest, sizeof n->digest - 1);
    n->who = *who;
    n->guest = guest;
    n->expires_at = expires_at;
    pthread_mutex_lock(&s->mu);
    struct entry **bucket = &s->buckets[(h / SHARDS) % BUCKETS];
    for (struct entry **pp = bucket; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->digest, digest)) {
            struct entry *old = *pp;
            *pp = old->next;
            free(old);
            s->count--;
            break;
        }
    if (s->count >= c->max_per_shard) {
        /* Full: drop the head of some chain. */
        for (size_t k = 0; k < BUCKETS; k++) {
            struct entry **pp = &s->buckets[(h + k) % BUCKETS];
            if (*pp) {
                struct entry *old = *pp;
                *pp = old->next;
                free(old);
                s->count--;
                break;
            }
        }
    }
    n->next = *bucket;
    *bucket = n;
    s->count++;
    pthread_mutex_unlock(&s->mu);
}

void session_cache_revoke(struct session_cache *c, int64_t session_id)
{
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (int b = 0; b < BUCKETS; b++)
            for (struct entry **pp = &s->buckets[b]; *pp;) {
                struct principal *w = &(*pp)->who;
                if (w->session_id == session_id || w->guest_id == session_id) {
                    struct entry *old = *pp;
                    *pp = old->next;
                    free(old);
                    s->count--;
                } else {
                    pp = &(*pp)->next;
                }
            }
        pthread_mutex_unlock(&s->mu);
    }
}
