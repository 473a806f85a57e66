/* arena.h — a bump allocator owned by one request (or one job).
 *
 * Request code allocates from the request's arena and never frees; the whole
 * arena goes when the request ends (h2o's per-request pool). Not thread-safe:
 * an arena belongs to one thread at a time.
 */
#ifndef SHOP_UTIL_ARENA_H
#define SHOP_UTIL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/** A new empty arena; aborts on out-of-memory (as every allocator here). */
struct arena *arena_new(void);

/** Frees the arena and everything allocated from it. NULL is fine. */
void arena_free(struct arena *a);

/** `n` bytes aligned to 16, zeroed. Never NULL. */
void *arena_alloc(struct arena *a, size_t n);

/** A NUL-terminated copy (NULL stays NULL). */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/** printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Bytes handed out so far (for tests and metrics). */
size_t arena_used(const struct arena *a);

#endif
