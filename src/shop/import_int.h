/* import_int.h — what the parts of `shopd import products` share (import.c
 * reads the CSV, import_check.c turns a product's rows into an item,
 * import_write.c writes batches of items). Not for use outside them. */
#ifndef SHOP_SHOP_IMPORT_INT_H
#define SHOP_SHOP_IMPORT_INT_H

#include <csv.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/import.h"
#include "util/problem.h"

struct db;

#define IMPORT_BATCH     2000 /* products per write transaction */
#define IMPORT_CAT_SLOTS 2048 /* category paths remembered: at most half of these */
#define IMPORT_MAX_ROWS  400  /* rows of one product */
#define IMPORT_MAX_FIELD (64 * 1024)
#define IMPORT_MAX_COLS  256
/* A record longer than this is refused with the file: no real product row
 * comes near it, and libcsv would otherwise hold a quoted field that is
 * never closed whole, whatever the file's size. */
#define IMPORT_MAX_RECORD (IMPORT_MAX_COLS * IMPORT_MAX_FIELD)
/* Products whose rows are apart from each other (import.c, "Rows apart"):
 * at most this many in one file, each holding at most IMPORT_MAX_ROWS rows
 * until its last one is read. */
#define IMPORT_SPLIT_MAX   1024
#define IMPORT_SPLIT_SLOTS (2 * IMPORT_SPLIT_MAX)
#define IMPORT_SEEN_BITS   (1u << 25) /* the first pass's filter of handles: 4 MiB */

enum field {
    F_IGNORE = -1,
    F_HANDLE,
    F_TITLE,
    F_BODY,
    F_VENDOR,
    F_CATEGORY,
    F_TYPE,
    F_TAGS,
    F_PUBLISHED,
    F_STATUS,
    F_OPT1_NAME,
    F_OPT1_VALUE,
    F_OPT2_NAME,
    F_OPT2_VALUE,
    F_OPT3_NAME,
    F_OPT3_VALUE,
    F_SKU,
    F_GRAMS,
    F_QTY,
    F_PRICE,
    F_COMPARE,
    F_IMAGE,
    F_IMAGE_POS,
    F_COUNT
};

struct row {
    int64_t line;
    int nfields;
    char *f[F_COUNT]; /* NULL when absent or empty */
};

struct variant_in {
    const char *sku;
    char *options; /* JSON */
    int64_t price, grams, qty, line;
    bool has_qty, has_grams;
};

struct item {
    struct row *rows;
    int nrows;
    const char *handle, *title, *desc, *vendor, *type, *tags;
    char *category; /* "A > B" */
    char *images;   /* JSON array */
    char *specs;    /* JSON object */
    bool published;
    struct variant_in *v;
    int nv;
    /* outputs of the write */
    bool created, failed;
    int64_t failed_line;
    char reason[320];
    int64_t categories_created;
};

struct ctx {
    struct shop *shop;
    const struct import_opts *o;
    struct import_report *rep;
    struct csv_parser csv;
    /* header */
    bool have_header;
    int ncols;
    enum field map[IMPORT_MAX_COLS];
    char *names[IMPORT_MAX_COLS];
    /* record in progress */
    int64_t line, record_line;
    bool between; /* no record started yet on this line */
    struct row cur;
    bool cur_too_wide;
    int64_t open_line;    /* where the quoted field open at the last line's end began */
    int open_nfields;     /* the fields of its record before it */
    int64_t record_bytes; /* of the record in progress, on the lines before this one */
    /* The first pass (scanning): which handles have rows apart. */
    bool scanning;
    uint8_t *seen; /* Bloom filter over the handles of the runs read */
    char *run_handle;
    struct split *run_split;
    /* Products whose rows are apart: open addressing by handle. */
    struct split {
        char *handle;      /* NULL: free */
        int64_t last_line; /* the line of its last row */
        struct row *rows;  /* read so far (second pass) */
        int nrows, caprows;
        bool done;
    } splits[IMPORT_SPLIT_SLOTS];
    int nsplits;
    /* the product whose rows are being read */
    struct row *group;
    int ngroup, capgroup;
    /* the batch */
    struct item batch[IMPORT_BATCH];
    int nbatch;
    int64_t seller, warehouse;
    /* Category path → id, so a product costs no lookup of a path seen before
     * (import_write.c says when an entry may be trusted). Open addressing. */
    struct cat_slot {
        char *path; /* NULL: free */
        int64_t id;
        bool committed; /* else made or found in the batch being written */
    } cats[IMPORT_CAT_SLOTS];
    int ncats, ncats_pending;
    struct problem *pb;
    enum shop_err err;
};

/** A copy of s[0..n) without surrounding space; NULL when nothing is left. */
char *import_trimdup(const char *s, size_t n);
/** Reports a product rejected at `line` (its rows count as rejected). */
void import_reject(struct ctx *c, struct item *it, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void import_free_rows(struct row *rows, int n);
void import_item_free(struct item *it);
/** Builds an item from its rows; false (reported, nothing kept) when one is bad. */
bool import_check_item(struct ctx *c, struct item *it);
/** Writes the batch (one transaction, a savepoint per product) and reports
 *  each product; empties the batch. A store failure sets c->err. */
void import_flush_batch(struct ctx *c);
/** Frees the category cache. */
void import_cats_free(struct ctx *c);
/** The owner and the warehouse (created when there is none, unless a dry run). */
enum shop_err import_setup_write(struct db *db, void *arg, struct problem *pb);

#endif
