#include "util/arena.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define ARENA_CHUNK 8192
#define ARENA_ALIGN 16

struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
    struct chunk *head;
    size_t total;
};

/* Each thread keeps a few freed standard chunks for its next arenas. Not
 * for the allocation itself: glibc serves a request this size by first
 * merging every small free block of the thread's heap (malloc_consolidate),
 * and with an arena per request and JSON's many small nodes that merge cost
 * more than the request's JSON. */
#define SPARE_MAX 4

struct spares {
    struct chunk *list;
    int n;
};

static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spares_free(void *p)
{
    struct spares *sp = p;
    while (sp->list) {
        struct chunk *next = sp->list->next;
        free(sp->list);
        sp->list = next;
    }
    free(sp);
}

static void spare_init(void)
{
    pthread_key_create(&spare_key, spares_free);
}

static struct spares *spares(void)
{
    pthread_once(&spare_once, spare_init);
    struct spares *sp = pthread_getspecific(spare_key);
    if (!sp) {
        sp = xcalloc(1, sizeof *sp);
        pthread_setspecific(spare_key, sp);
    }
    return sp;
}

static struct chunk *chunk_new(size_t size)
{
    if (size == ARENA_CHUNK) {
        struct spares *sp = spares();
        if (sp->list) {
            struct chunk *c = sp->list;
            sp->list = c->next;
            sp->n--;
            c->next = NULL;
            c->used = 0;
            return c;
        }
    }
    struct chunk *c = xmalloc(sizeof *c + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct arena *arena_new(void)
{
    struct arena *a = xmalloc(sizeof *a);
    a->head = chunk_new(ARENA_CHUNK);
    a->total = 0;
    return a;
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    struct spares *sp = spares();
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        if (c->size == ARENA_CHUNK && sp->n < SPARE_MAX) {
            c->next = sp->list;
            sp->list = c;
            sp->n++;
        } else {
            free(c);
        }
        c = next;
    }
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    struct chunk *c = a->head;
    if (c->size - c->used < need) {
        if (need > ARENA_CHUNK / 4) {
            /* A big block gets a chunk of its own behind the head, so the
             * head's free space is not wasted. */
            struct chunk *big = chunk_new(need);
            big->used = need;
            big->next = c->next;
            c->next = big;
            a->total += need;
            memset(big->data, 0, need);
            return big->data;
        }
        c = chunk_new(ARENA_CHUNK);
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->total += need;
    memset(p, 0, need);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return arena_strdup(a, "");
    }
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

size_t arena_used(const struct arena *a)
{
    return a->total;
}
