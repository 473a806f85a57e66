#include "util/idset.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/xalloc.h"

struct idset {
    pthread_mutex_t mu;
    int64_t *slots; /* open addressing; 0 is empty */
    size_t cap, count;
    bool overflowed;
};

struct idset *idset_new(size_t capacity)
{
    struct idset *s = xcalloc(1, sizeof *s);
    size_t cap = 64;
    while (cap < capacity * 2)
        cap *= 2;
    s->slots = xcalloc(cap, sizeof *s->slots);
    s->cap = cap;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void idset_free(struct idset *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->slots);
    free(s);
}

void idset_add(struct idset *s, int64_t id)
{
    if (id <= 0)
        return;
    size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15u) & (s->cap - 1);
    pthread_mutex_lock(&s->mu);
    while (s->slots[i] && s->slots[i] != id)
        i = (i + 1) & (s->cap - 1);
    if (!s->slots[i]) {
        if (s->count * 2 >= s->cap)
            s->overflowed = true;
        else {
            s->slots[i] = id;
            s->count++;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

size_t idset_drain(struct idset *s, int64_t *out, size_t max, bool *overflowed)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    if (overflowed)
        *overflowed = s->overflowed;
    s->overflowed = false;
    if (n < max && s->count) {
        /* Take everything (or what fits), then rebuild the rest. */
        int64_t *left = NULL;
        size_t nleft = 0;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i])
                continue;
            if (n < max)
                out[n++] = s->slots[i];
            else {
                if (!left)
                    left = xcalloc(s->count, sizeof *left);
                left[nleft++] = s->slots[i];
            }
            s->slots[i] = 0;
        }
        s->count = 0;
        for (size_t k = 0; k < nleft; k++) {
            size_t i = (size_t)((uint64_t)left[k] * 0x9E3779B97F4A7C15u) & (s->cap - 1);
            while (s->slots[i])
                i = (i + 1) & (s->cap - 1);
            s->slots[i] = left[k];
            s->count++;
        }
        free(left);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}
