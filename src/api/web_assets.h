/* web_assets.h — the storefront and admin console, built into the binary.
 *
 * scripts/embed-web.sh turns web/ into build/gen/web_assets.c at build time:
 * every file raw and gzip-compressed, each representation with its strong
 * ETag. api/web.c serves them (WEB-1, WEB-2).
 */
#ifndef SHOP_API_WEB_ASSETS_H
#define SHOP_API_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name;  /* path under web/, e.g. "store.js"; NULL ends the table */
    const char *ctype; /* Content-Type */
    const char *data;
    size_t len;
    const char *gz; /* the same, gzip-compressed */
    size_t gz_len;
    const char *etag, *gz_etag; /* strong, quoted */
};

/** The table, ended by an entry whose name is NULL. */
extern const struct web_asset web_assets[];

/** A digest of every asset: the <version> of /assets/<version>/<name>. */
extern const char web_assets_version[];

#endif
