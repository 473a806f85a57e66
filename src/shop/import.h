/* import.h — the catalog from a Shopify product CSV (CAT-6); see import.c
 * for the essay (the layout, the mapping, what is bounded, what is atomic). */
#ifndef SHOP_SHOP_IMPORT_H
#define SHOP_SHOP_IMPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/problem.h"

struct shop;

struct import_opts {
    const char *path;         /* the CSV file */
    const char *seller_email; /* NULL: the shop's own products (the first admin) */
    bool dry_run;             /* check everything, change nothing */
    /* Optional callbacks. */
    void (*progress)(void *cls, int64_t bytes_done, int64_t bytes_total);
    void (*rejected)(void *cls, int64_t line, const char *handle, const char *reason);
    void (*ignored)(void *cls, const char *column);
    void *cls;
};

struct import_report {
    int64_t rows, rows_rejected;
    int64_t products_created, products_updated, products_rejected;
    int64_t variants, categories_created;
};

/** Imports the file. SHOP_INVALID (detail says why) when nothing could be
 *  read: no such file, no header naming a handle and a title. Other errors
 *  are the store's. Rejected rows are not errors: they are counted in the
 *  report and passed to o->rejected. */
enum shop_err import_products(struct shop *shop, const struct import_opts *o,
                              struct import_report *rep, struct problem *pb);

/** Writes every product (of `seller_email`'s when given) in the current
 *  Shopify layout, so that importing the file gives the same catalog.
 *  `*products` gets how many. */
enum shop_err export_products(struct shop *shop, FILE *out, const char *seller_email,
                              int64_t *products, struct problem *pb);

/** Writes the lines of orders created between shop-local dates `from` and
 *  `to` (yyyymmdd, inclusive) as CSV. */
enum shop_err export_orders(struct shop *shop, FILE *out, int32_t from, int32_t to, int64_t *lines,
                            struct problem *pb);

/** Writes one CSV field (quoted when needed), then `sep` unless it is 0. */
void csv_put(FILE *out, const char *s, char sep);

#endif
