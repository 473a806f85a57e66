/* xalloc.h — allocation that aborts on out-of-memory.
 *
 * shopd treats running out of memory as fatal (as SQLite's default does):
 * a half-handled allocation failure is worse than a restart, and every state
 * change is durable before it is acknowledged.
 */
#ifndef SHOP_UTIL_XALLOC_H
#define SHOP_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
