/* import_check.c — a product's CSV rows → an item to write: values parsed
 * and checked, every reason a row is refused (import.c is the essay). */
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "shop/catalog.h"
#include "shop/import_int.h"
#include "util/xalloc.h"

/* ---- values -------------------------------------------------------------------- */

char *import_trimdup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (!n)
        return NULL;
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static bool parse_bool(const char *s, bool dflt)
{
    if (!s)
        return dflt;
    return !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1");
}

/* "19.99", "19.9", "19" → cents. */
static bool parse_money(const char *s, int64_t *out)
{
    int64_t whole = 0;
    int frac = 0, digits = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p)) {
        whole = whole * 10 + (*p++ - '0');
        if (whole > PRICE_MAX_CENTS / 100)
            return false;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p) && digits < 2) {
            frac = frac * 10 + (*p++ - '0');
            digits++;
        }
        while (*p == '0')
            p++;
    }
    if (*p)
        return false;
    if (digits == 1)
        frac *= 10;
    *out = whole * 100 + frac;
    return *out <= PRICE_MAX_CENTS;
}

static bool parse_int(const char *s, bool allow_fraction, int64_t max, int64_t *out)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || d < 0 || d > (double)max)
        return false;
    if (!allow_fraction && d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* ---- checking a product's rows ------------------------------------------------- */

void import_reject(struct ctx *c, struct item *it, int64_t line, const char *fmt, ...)
{
    char reason[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    c->rep->rows_rejected += it->nrows;
    c->rep->products_rejected++;
    if (c->o->rejected)
        c->o->rejected(c->o->cls, line, it->handle, reason);
}

void import_free_rows(struct row *rows, int n)
{
    for (int i = 0; i < n; i++)
        for (int f = 0; f < F_COUNT; f++)
            free(rows[i].f[f]);
}

void import_item_free(struct item *it)
{
    import_free_rows(it->rows, it->nrows);
    free(it->rows);
    free(it->category);
    free(it->images);
    free(it->specs);
    for (int i = 0; i < it->nv; i++)
        free(it->v[i].options);
    free(it->v);
    memset(it, 0, sizeof *it);
}

static int cmp_image(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Builds an item from the group's rows; false (reported) when one is bad. */
bool import_check_item(struct ctx *c, struct item *it)
{
    struct row *first = &it->rows[0];
    char **f = first->f;
    it->handle = f[F_HANDLE];
    for (int i = 0; i < it->nrows; i++)
        if (it->rows[i].nfields > c->ncols) {
            import_reject(c, it, it->rows[i].line, "%d fields where the header has %d",
                          it->rows[i].nfields, c->ncols);
            return false;
        }
    if (strlen(it->handle) > 255) {
        import_reject(c, it, first->line, "the handle is longer than 255 characters");
        return false;
    }
    if (!f[F_TITLE]) {
        import_reject(c, it, first->line, "the first row of product %s has no Title", it->handle);
        return false;
    }
    it->title = f[F_TITLE];
    it->desc = f[F_BODY] ? f[F_BODY] : "";
    it->vendor = f[F_VENDOR] ? f[F_VENDOR] : "";
    it->type = f[F_TYPE];
    it->tags = f[F_TAGS];
    if (strlen(it->title) > PRODUCT_TITLE_MAX) {
        import_reject(c, it, first->line, "Title is longer than %d characters", PRODUCT_TITLE_MAX);
        return false;
    }
    if (strlen(it->desc) > PRODUCT_DESCRIPTION_MAX) {
        import_reject(c, it, first->line, "the description is longer than %d characters",
                      PRODUCT_DESCRIPTION_MAX);
        return false;
    }
    if (strlen(it->vendor) > PRODUCT_BRAND_MAX) {
        import_reject(c, it, first->line, "Vendor is longer than %d characters", PRODUCT_BRAND_MAX);
        return false;
    }
    const char *status = f[F_STATUS];
    if (status && strcasecmp(status, "active") && strcasecmp(status, "draft") &&
        strcasecmp(status, "archived")) {
        import_reject(c, it, first->line, "Status must be active, draft or archived, not %.40s",
                      status);
        return false;
    }
    it->published =
        (!status || !strcasecmp(status, "active")) && parse_bool(f[F_PUBLISHED], !status);

    /* Category path. */
    char cat[1024];
    if (f[F_CATEGORY])
        snprintf(cat, sizeof cat, "%s", f[F_CATEGORY]);
    else if (it->type)
        snprintf(cat, sizeof cat, "Imported > %s", it->type);
    else
        snprintf(cat, sizeof cat, "Imported");
    it->category = xstrdup(cat);

    json_t *specs = json_object();
    if (it->type)
        json_object_set_new(specs, "Type", json_string(it->type));
    if (it->tags)
        json_object_set_new(specs, "Tags", json_string(it->tags));
    it->specs = json_dumps(specs, JSON_COMPACT);
    json_decref(specs);

    /* Variants and images. */
    const char *optname[3] = {f[F_OPT1_NAME], f[F_OPT2_NAME], f[F_OPT3_NAME]};
    int64_t(*img)[2] = xcalloc((size_t)it->nrows, sizeof *img);
    int nimg = 0;
    it->v = xcalloc((size_t)it->nrows, sizeof *it->v);
    bool ok = true;
    for (int i = 0; ok && i < it->nrows; i++) {
        struct row *r = &it->rows[i];
        char **g = r->f;
        if (g[F_IMAGE]) {
            int64_t pos = nimg + 1;
            if (g[F_IMAGE_POS] && !parse_int(g[F_IMAGE_POS], false, 1000000, &pos)) {
                import_reject(c, it, r->line, "Image position must be a whole number, not %.40s",
                              g[F_IMAGE_POS]);
                ok = false;
                break;
            }
            if (strlen(g[F_IMAGE]) > 2000 || strncmp(g[F_IMAGE], "http", 4)) {
                import_reject(c, it, r->line,
                              "the image URL must be an http(s) URL of at most 2000 characters");
                ok = false;
                break;
            }
            img[nimg][0] = pos;
            img[nimg][1] = i;
            nimg++;
        }
        bool variant = g[F_SKU] || g[F_PRICE] || g[F_OPT1_VALUE];
        if (!variant)
            continue;
        struct variant_in *v = &it->v[it->nv++];
        v->line = r->line;
        if (!g[F_PRICE] || !parse_money(g[F_PRICE], &v->price)) {
            import_reject(c, it, r->line,
                          "the price must be an amount like 19.99 (at most %lld), not %.40s",
                          PRICE_MAX_CENTS / 100, g[F_PRICE] ? g[F_PRICE] : "nothing");
            ok = false;
            break;
        }
        if (it->published && !catalog_price_listable(v->price)) {
            /* What submit refuses through the API is not published here either. */
            import_reject(c, it, r->line,
                          "a published product's prices must be between 1 and %lld cents, not %lld"
                          " (%.40s); import it as a draft, or fix the price",
                          PRICE_SANE_MAX_CENTS, (long long)v->price, g[F_PRICE]);
            ok = false;
            break;
        }
        if (g[F_GRAMS]) {
            if (!parse_int(g[F_GRAMS], true, WEIGHT_MAX_GRAMS, &v->grams)) {
                import_reject(c, it, r->line,
                              "the weight must be grams between 0 and %d, not %.40s",
                              WEIGHT_MAX_GRAMS, g[F_GRAMS]);
                ok = false;
                break;
            }
            v->has_grams = true;
        }
        if (g[F_QTY]) {
            if (!parse_int(g[F_QTY], false, 100000000, &v->qty)) {
                import_reject(c, it, r->line,
                              "the inventory quantity must be a whole number ≥ 0, not %.40s",
                              g[F_QTY]);
                ok = false;
                break;
            }
            v->has_qty = true;
        }
        if (g[F_SKU] && strlen(g[F_SKU]) > VARIANT_SKU_MAX) {
            import_reject(c, it, r->line, "the SKU is longer than %d characters", VARIANT_SKU_MAX);
            ok = false;
            break;
        }
        if (g[F_SKU]) {
            v->sku = g[F_SKU];
        } else { /* Shopify allows none; ours are unique: derive one from the handle */
            char sku[VARIANT_SKU_MAX + 1];
            snprintf(sku, sizeof sku, "%.50s-%d", it->handle, it->nv);
            free(g[F_SKU]);
            g[F_SKU] = xstrdup(sku);
            v->sku = g[F_SKU];
        }
        for (int k = 0; k < it->nv - 1; k++)
            if (!strcmp(it->v[k].sku, v->sku)) {
                import_reject(c, it, r->line, "SKU %s appears twice in product %s", v->sku,
                              it->handle);
                ok = false;
                break;
            }
        json_t *opts = json_object();
        for (int k = 0; k < 3; k++) {
            const char *val = g[F_OPT1_VALUE + 2 * k];
            if (!val || !optname[k])
                continue;
            if (k == 0 && !strcmp(optname[k], "Title") && !strcmp(val, "Default Title"))
                continue; /* Shopify's single variant */
            json_object_set_new(opts, optname[k], json_string(val));
        }
        v->options = json_dumps(opts, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(opts);
    }
    if (ok && it->nv == 0) {
        import_reject(c, it, first->line, "product %s has no variant row (SKU or Price)",
                      it->handle);
        ok = false;
    }
    if (ok && it->nv > PRODUCT_VARIANTS_MAX) {
        import_reject(c, it, first->line, "product %s has more than %d variants", it->handle,
                      PRODUCT_VARIANTS_MAX);
        ok = false;
    }
    if (ok && nimg > PRODUCT_IMAGES_MAX) {
        import_reject(c, it, first->line, "product %s has more than %d images", it->handle,
                      PRODUCT_IMAGES_MAX);
        ok = false;
    }
    if (ok) {
        qsort(img, (size_t)nimg, sizeof *img, cmp_image);
        json_t *a = json_array();
        for (int i = 0; i < nimg; i++)
            json_array_append_new(a, json_string(it->rows[img[i][1]].f[F_IMAGE]));
        it->images = json_dumps(a, JSON_COMPACT);
        json_decref(a);
    }
    free(img);
    return ok;
}
