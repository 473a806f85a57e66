/* routes.h — the API's route table (routes.c): one place to read the API. */
#ifndef SHOP_API_ROUTES_H
#define SHOP_API_ROUTES_H

#include <stddef.h>

#include "http/router.h"

extern const struct route api_routes[];
extern const size_t api_routes_count;

/** Handlers of writes that never wait for the database (they only buffer in
 *  memory): the server answers them on the connection's thread instead of
 *  handing them to a blocking worker. NULL-terminated. */
extern const route_handler api_inline_writes[];

#endif
