/* inflight.c — the in-flight set (inflight.h has the essay). */
#include "work/inflight.h"

#include <stdlib.h>

#include "util/xalloc.h"

void inflight_init(struct inflight *s, size_t at_least)
{
    size_t cap = 1024;
    while (cap < at_least * 2)
        cap *= 2;
    s->slot = xcalloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
    s->n = 0;
}

void inflight_free(struct inflight *s)
{
    free(s->slot);
    s->slot = NULL;
    s->n = 0;
}

static size_t home(const struct inflight *s, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 20) & s->mask;
}

bool inflight_has(const struct inflight *s, int64_t id)
{
    for (size_t i = home(s, id);; i = (i + 1) & s->mask) {
        if (s->slot[i] == id)
            return true;
        if (!s->slot[i])
            return false;
    }
}

void inflight_add(struct inflight *s, int64_t id)
{
    size_t i = home(s, id);
    while (s->slot[i] && s->slot[i] != id)
        i = (i + 1) & s->mask;
    if (!s->slot[i]) {
        s->slot[i] = id;
        s->n++;
    }
}

void inflight_del(struct inflight *s, int64_t id)
{
    size_t i = home(s, id);
    while (s->slot[i] != id) {
        if (!s->slot[i])
            return;
        i = (i + 1) & s->mask;
    }
    s->slot[i] = 0;
    s->n--;
    /* Backward shift: an id further along the run moves into the hole when
     * its home does not lie cyclically in (hole, its slot], i.e. when the
     * hole is between its home and where it sits. */
    for (size_t j = (i + 1) & s->mask; s->slot[j]; j = (j + 1) & s->mask) {
        size_t h = home(s, s->slot[j]);
        if (((j - h) & s->mask) >= ((j - i) & s->mask)) {
            s->slot[i] = s->slot[j];
            s->slot[j] = 0;
            i = j;
        }
    }
}
