/* keyset.h — reading back the keyset cursors the API gives out for its
 * lists: the id of the last item of a page ("123"), or its sort key and id
 * ("1733400000000.123"). A string that is not one of those is refused (the
 * caller answers 422 on `cursor`), never read as the first page.
 */
#ifndef SHOP_UTIL_KEYSET_H
#define SHOP_UTIL_KEYSET_H

#include <stdbool.h>
#include <stdint.h>

/** A positive id written in digits only: no sign, space or overflow. */
bool keyset_id_parse(const char *s, int64_t *id);

/** "<key>.<id>": a key of 0 or more and an id above 0. */
bool keyset_pair_parse(const char *s, int64_t *key, int64_t *id);

#endif
