/* import.c — `shopd import products`: the Shopify product CSV layout into
 * the catalog (CAT-6).
 *
 * The layout. One row per variant and per image; rows that share a handle
 * are one product wherever they are in the file (as Shopify's importer reads
 * them), and the product's own fields (title, description, vendor, category,
 * type, tags, published, status, option names) are read from its first row
 * only. Shopify has used two header sets: the long-standing one
 * (Handle, Title, Body (HTML), Vendor, Product Category, Type, Tags,
 * Published, Option1 Name/Value…, Variant SKU, Variant Grams, Variant
 * Inventory Qty, Variant Price, Image Src, Image Position, Status) and the
 * current one (URL handle, Description, Product category, Published on online
 * store, SKU, Option1 name/value…, Price, Inventory quantity, Weight value
 * (grams), Product image URL, Image position). Both are recognised, column by
 * column, in any order; any other column is ignored and named once.
 *
 * The mapping. Vendor → brand, Body/Description → description (HTML kept),
 * Type and Tags → the specs "Type" and "Tags", images ordered by their
 * position. The category is the Product category path ("A > B > C") matched
 * name by name from the top of the tree, the missing ones created; without
 * one, the Type under a top-level "Imported"; without either, "Imported".
 * A product is published when its Status is active (or absent) and
 * Published is true, a draft otherwise; a published product's prices keep
 * to the bound submit checks through the API (catalog_price_listable), so a
 * row priced 0.00 refuses its product, which a draft's does not. Inventory quantity sets on_hand in
 * the first warehouse (one is created when there is none), recorded as an
 * 'adjust' movement. The owner is --seller's account, else the first admin:
 * the shop itself.
 *
 * Updates, not duplicates. A product is found by (owner, handle) — the
 * products.handle column — and a variant by its SKU; importing the same file
 * twice changes nothing the second time. A product the shop made itself has
 * no handle: export names it "product-<id>", and import takes such a handle
 * to mean that product. A SKU held by another product rejects the product.
 *
 * Atomic per product. A product's rows are checked together; one bad row
 * rejects the whole product (each reason reported with the physical line
 * where its record starts), and a product that fails while being written is
 * rolled back to its own savepoint (a nested store_write), so nothing is ever
 * half-imported. Other products go on.
 *
 * Two passes. The file is read twice (so it must be a file, not a pipe).
 * The first reads only the handles and writes nothing: it finds the header,
 * the products whose rows are apart, and whether the file can be read to its
 * end. A file that cannot — a quoted field never closed, which would take
 * every later line into itself; a record over IMPORT_MAX_RECORD — is refused
 * whole (SHOP_INVALID, exit 2) naming the line where the field or record
 * begins: no row after it can be told apart, and none before it is imported
 * alone. The second pass imports.
 *
 * Rows apart. Most files hold a product's rows together: a product is
 * complete when a row of another handle comes. The first pass keeps a
 * Bloom filter of the handles of the runs (rows of one handle next to each
 * other) it has read; a run whose handle the filter has seen makes that
 * handle a split product (a false positive makes one too, harmlessly), and
 * the line of each split product's last row is kept. The second pass holds
 * a split product's rows until that line, then checks and writes them as one
 * product, so it is atomic like any other. At most IMPORT_SPLIT_MAX products
 * may be split; a file with more is refused, asking for it to be sorted.
 *
 * Bounded memory. The file is read in 64 KiB chunks and fed to libcsv one
 * physical line at a time (so every record knows its line, quoted newlines
 * and CRLF included); only the current product's rows, the rows of split
 * products not yet complete (IMPORT_SPLIT_MAX × IMPORT_MAX_ROWS at most), a
 * 4 MiB filter during the first pass and one batch of products
 * (IMPORT_BATCH) are held, and each batch is one write transaction. A BOM is
 * skipped.
 *
 * Others see it. Each product written emits product.changed (and a new
 * category category.changed) in its transaction: a running server's change
 * feed refreshes its search index and product cache from them.
 *
 * Cost (measured with perf on 100,000 products): the writer thread is most
 * of it, in SQLite's B-tree inserts (product, variants, stock, movement,
 * event). What is not needed is not done: a category path already resolved
 * is not looked up again (a cache in import_write.c, which says when its
 * entries may be trusted), a variant just created has no stock row to read,
 * the event's payload is not rendered per product, and a batch is 2,000
 * products so that a commit's fsync is paid rarely.
 *
 * --dry-run runs every batch to the end and then fails it on purpose, so the
 * store rolls it back: the report is what a real import would say.
 */
#include "shop/import.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "shop/import_int.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/xalloc.h"

static const struct {
    const char *name;
    enum field f;
} columns[] = {
    {"handle", F_HANDLE},
    {"url handle", F_HANDLE},
    {"title", F_TITLE},
    {"body (html)", F_BODY},
    {"description", F_BODY},
    {"vendor", F_VENDOR},
    {"product category", F_CATEGORY},
    {"type", F_TYPE},
    {"tags", F_TAGS},
    {"published", F_PUBLISHED},
    {"published on online store", F_PUBLISHED},
    {"status", F_STATUS},
    {"option1 name", F_OPT1_NAME},
    {"option1 value", F_OPT1_VALUE},
    {"option2 name", F_OPT2_NAME},
    {"option2 value", F_OPT2_VALUE},
    {"option3 name", F_OPT3_NAME},
    {"option3 value", F_OPT3_VALUE},
    {"variant sku", F_SKU},
    {"sku", F_SKU},
    {"variant grams", F_GRAMS},
    {"weight value (grams)", F_GRAMS},
    {"variant inventory qty", F_QTY},
    {"inventory quantity", F_QTY},
    {"variant price", F_PRICE},
    {"price", F_PRICE},
    {"variant compare at price", F_COMPARE},
    {"compare-at price", F_COMPARE},
    {"image src", F_IMAGE},
    {"product image url", F_IMAGE},
    {"image position", F_IMAGE_POS},
};

/* Takes `n` rows of one product (the array is the item's now) into the batch. */
static void add_item(struct ctx *c, struct row *rows, int n)
{
    struct item *it = &c->batch[c->nbatch];
    memset(it, 0, sizeof *it);
    it->rows = rows;
    it->nrows = n;
    if (!import_check_item(c, it)) {
        import_item_free(it);
        return;
    }
    if (++c->nbatch == IMPORT_BATCH)
        import_flush_batch(c);
}

static void flush_group(struct ctx *c)
{
    if (!c->ngroup)
        return;
    struct row *rows = c->group;
    int n = c->ngroup;
    c->group = NULL;
    c->ngroup = c->capgroup = 0;
    add_item(c, rows, n);
}

/* Appends a row to a product's rows; false (the row rejected on its own)
 * when the product has IMPORT_MAX_ROWS already. */
static bool rows_push(struct ctx *c, struct row **rows, int *n, int *cap, struct row *r)
{
    if (*n == IMPORT_MAX_ROWS) {
        c->rep->rows_rejected++;
        if (c->o->rejected)
            c->o->rejected(c->o->cls, r->line, r->f[F_HANDLE],
                           "a product may have at most 400 rows");
        import_free_rows(r, 1);
        return false;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *rows = xrealloc(*rows, (size_t)*cap * sizeof **rows);
    }
    (*rows)[(*n)++] = *r;
    return true;
}

/* ---- rows apart -------------------------------------------------------------------- */

static uint64_t handle_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot of `handle`: its entry, or the free slot where it would go. */
static struct split *split_slot(struct ctx *c, const char *handle)
{
    size_t i = handle_hash(handle) & (IMPORT_SPLIT_SLOTS - 1);
    while (c->splits[i].handle && strcmp(c->splits[i].handle, handle))
        i = (i + 1) & (IMPORT_SPLIT_SLOTS - 1);
    return &c->splits[i];
}

/* Sets the filter's bits for `handle`; true when they were all set already
 * (the handle was probably seen: split_slot tells for sure). */
static bool seen_before(struct ctx *c, const char *handle)
{
    uint64_t h1 = handle_hash(handle), h2 = h1 ^ (h1 >> 31);
    h2 *= 0x9E3779B97F4A7C15ULL;
    h2 = (h2 ^ (h2 >> 29)) | 1;
    bool all = true;
    for (int k = 0; k < 6; k++) {
        uint32_t bit = (uint32_t)((h1 + (uint64_t)k * h2) & (IMPORT_SEEN_BITS - 1));
        uint8_t mask = (uint8_t)(1u << (bit & 7));
        all = all && (c->seen[bit >> 3] & mask);
        c->seen[bit >> 3] |= mask;
    }
    return all;
}

/* First pass: a row's handle. A run (rows of one handle next to each other)
 * whose handle had a run before makes that handle a split product; the
 * last line of a split product's rows is kept. */
static void scan_row(struct ctx *c, const struct row *r)
{
    const char *h = r->f[F_HANDLE];
    if (!h || c->err)
        return;
    if (!c->run_handle || strcmp(c->run_handle, h)) {
        free(c->run_handle);
        c->run_handle = xstrdup(h);
        struct split *sp = split_slot(c, h);
        /* A filter's false positive only makes a product wait for its
         * last row, which it does not need to: harmless. */
        if (!sp->handle && seen_before(c, h)) {
            if (c->nsplits == IMPORT_SPLIT_MAX) {
                c->err = problem_set(c->pb, SHOP_INVALID,
                                     "line %lld: the rows of more than %d products are apart from"
                                     " each other (the next: %.80s); sort the file by handle",
                                     (long long)r->line, IMPORT_SPLIT_MAX, h);
                return;
            }
            sp->handle = xstrdup(h);
            c->nsplits++;
        }
        c->run_split = sp->handle ? sp : NULL;
    }
    if (c->run_split)
        c->run_split->last_line = r->line;
}

/* Second pass: a row of a split product waits with its rows; the product
 * goes to the batch with its last one. */
static void split_row(struct ctx *c, struct split *sp, struct row *r)
{
    flush_group(c); /* the run before this row has ended */
    int64_t line = r->line;
    rows_push(c, &sp->rows, &sp->nrows, &sp->caprows, r);
    if (line >= sp->last_line && sp->nrows) {
        struct row *rows = sp->rows;
        int n = sp->nrows;
        sp->rows = NULL;
        sp->nrows = sp->caprows = 0;
        sp->done = true;
        add_item(c, rows, n);
    }
}

/* ---- reading ------------------------------------------------------------------------- */

static void on_field(void *s, size_t len, void *data)
{
    struct ctx *c = data;
    int col = c->cur.nfields++;
    if (!c->have_header) {
        /* Only the first record is a header; after an unreadable one, the
         * rest of its line (records split by a bare CR) is not kept. */
        if (c->ncols == 0 && col < IMPORT_MAX_COLS)
            c->names[col] = import_trimdup(s ? s : "", s ? len : 0);
        return;
    }
    if (col >= c->ncols || col >= IMPORT_MAX_COLS || c->map[col] == F_IGNORE)
        return;
    enum field f = c->map[col];
    if (c->scanning && f != F_HANDLE)
        return;
    if (len > IMPORT_MAX_FIELD)
        len = IMPORT_MAX_FIELD;
    free(c->cur.f[f]);
    c->cur.f[f] = s ? import_trimdup(s, len) : NULL;
}

static void take_header(struct ctx *c)
{
    c->ncols = c->cur.nfields < IMPORT_MAX_COLS ? c->cur.nfields : IMPORT_MAX_COLS;
    bool seen[F_COUNT] = {0};
    for (int i = 0; i < c->ncols; i++) {
        c->map[i] = F_IGNORE;
        const char *n = c->names[i] ? c->names[i] : "";
        for (size_t k = 0; k < sizeof columns / sizeof columns[0]; k++)
            if (!strcasecmp(n, columns[k].name) && !seen[columns[k].f]) {
                c->map[i] = columns[k].f;
                seen[columns[k].f] = true;
                break;
            }
        if (c->map[i] == F_IGNORE && c->o->ignored && *n && !c->scanning)
            c->o->ignored(c->o->cls, n);
    }
    if (seen[F_HANDLE] && seen[F_TITLE])
        c->have_header = true;
    for (int i = 0; i < IMPORT_MAX_COLS; i++) {
        free(c->names[i]);
        c->names[i] = NULL;
    }
}

static void on_record(int term, void *data)
{
    (void)term;
    struct ctx *c = data;
    c->between = true;
    if (!c->have_header) {
        if (c->ncols == 0 && c->cur.nfields > 0)
            take_header(c);
        if (!c->have_header)
            c->ncols = -1; /* the first record named no handle and title: unreadable */
        memset(&c->cur, 0, sizeof c->cur);
        return;
    }
    struct row r = c->cur;
    r.line = c->record_line;
    memset(&c->cur, 0, sizeof c->cur);
    if (c->scanning) {
        scan_row(c, &r);
        import_free_rows(&r, 1);
        return;
    }
    c->rep->rows++;
    bool empty = true;
    for (int f = 0; f < F_COUNT; f++)
        empty = empty && !r.f[f];
    if (empty) { /* a row of empty fields: nothing to import, nothing wrong */
        c->rep->rows--;
        return;
    }
    if (!r.f[F_HANDLE]) {
        c->rep->rows_rejected++;
        if (c->o->rejected)
            c->o->rejected(c->o->cls, r.line, NULL, "the row has no handle");
        import_free_rows(&r, 1);
        return;
    }
    if (c->nsplits) {
        struct split *sp = split_slot(c, r.f[F_HANDLE]);
        if (sp->handle) {
            split_row(c, sp, &r);
            return;
        }
    }
    if (c->ngroup && strcmp(c->group[0].f[F_HANDLE], r.f[F_HANDLE]))
        flush_group(c);
    rows_push(c, &c->group, &c->ngroup, &c->capgroup, &r);
}

/* Feeds one physical line (or, at the end, what follows the last newline). */
static bool feed_line(struct ctx *c, const char *line, size_t len)
{
    c->line++;
    bool blank = len <= 2 && (line[0] == '\n' || line[0] == '\r');
    if (c->between && !blank) {
        c->record_line = c->line;
        c->between = false;
        c->record_bytes = 0;
    }
    if (csv_parse(&c->csv, line, len, on_field, on_record, c) != len)
        return false;
    /* Still inside a record after its newline: a quoted field is open. It
     * began on the first line at whose end the record had these fields. */
    if (c->between) {
        c->open_line = 0;
        c->record_bytes = 0;
    } else {
        if (!c->open_line || c->open_nfields != c->cur.nfields) {
            c->open_line = c->line;
            c->open_nfields = c->cur.nfields;
        }
        c->record_bytes += (int64_t)len;
    }
    return true;
}

/* Reads the file through the parser, one pass. False when it cannot be read
 * on (c->err and c->pb say why): a quoted field not closed, a record too
 * long. */
static bool read_file(struct ctx *c, FILE *f, int64_t total)
{
    const struct import_opts *o = c->o;
    csv_init(&c->csv, CSV_APPEND_NULL);
    c->line = c->record_line = c->open_line = c->record_bytes = 0;
    c->between = true;
    char *buf = xmalloc(65536), *line = NULL;
    size_t linecap = 0, linelen = 0, n;
    int64_t done = 0, last_progress = -1;
    bool first = true, ok = true;
    /* Physical lines: each is fed whole, so a record starts on the line
     * where the parser was between records when it got a non-blank line. */
    while (ok && !c->err && c->ncols >= 0 && (n = fread(buf, 1, 65536, f)) > 0) {
        size_t i = 0;
        if (first && n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
            i = 3;
        first = false;
        while (ok && i < n && !c->err && c->ncols >= 0) {
            char *nl = memchr(buf + i, '\n', n - i);
            size_t take = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
            if (c->record_bytes + (int64_t)(linelen + take) > IMPORT_MAX_RECORD) {
                c->err =
                    problem_set(c->pb, SHOP_INVALID,
                                "%s: line %lld: the record that begins here is longer than %d"
                                " MiB (a quoted field not closed?); nothing was imported",
                                o->path, (long long)(c->between ? c->line + 1 : c->record_line),
                                IMPORT_MAX_RECORD >> 20);
                break;
            }
            if (linelen + take > linecap) {
                linecap = (linelen + take) * 2;
                line = xrealloc(line, linecap);
            }
            memcpy(line + linelen, buf + i, take);
            linelen += take;
            i += take;
            if (!nl)
                break;
            ok = feed_line(c, line, linelen);
            linelen = 0;
        }
        done += (int64_t)n;
        if (!c->scanning && o->progress && done * 100 / (total ? total : 1) != last_progress) {
            last_progress = done * 100 / (total ? total : 1);
            o->progress(o->cls, done, total);
        }
    }
    /* A last line without a newline ends its record as a newline would. */
    if (ok && linelen && !c->err && c->ncols >= 0)
        ok = feed_line(c, line, linelen) && feed_line(c, "\n", 1) && (c->line--, true);
    free(buf);
    free(line);
    if (ok && !c->err && c->ncols >= 0 && !c->between) {
        /* A newline outside quotes ends a record: the file ended inside a
         * quoted field, which took every line after it. */
        int64_t after = c->line - c->open_line;
        char more[80] = "";
        if (after > 0)
            snprintf(more, sizeof more, " (the %lld line%s after it went into it)",
                     (long long)after, after == 1 ? "" : "s");
        c->err = problem_set(c->pb, SHOP_INVALID,
                             "%s: line %lld: a quoted field begins on this line and is not closed"
                             " before the end of the file%s; nothing was imported",
                             o->path, (long long)c->open_line, more);
    }
    if (c->err || !ok || c->ncols < 0 || !c->between)
        csv_fini(&c->csv, NULL, NULL, NULL);
    else
        csv_fini(&c->csv, on_field, on_record, c);
    csv_free(&c->csv);
    for (int k = 0; k < F_COUNT; k++)
        free(c->cur.f[k]);
    memset(&c->cur, 0, sizeof c->cur);
    return ok && !c->err;
}

enum shop_err import_products(struct shop *shop, const struct import_opts *o,
                              struct import_report *rep, struct problem *pb)
{
    memset(rep, 0, sizeof *rep);
    FILE *f = fopen(o->path, "rb");
    if (!f)
        return problem_set(pb, SHOP_INVALID, "cannot open %s", o->path);
    struct stat sb;
    int64_t total = fstat(fileno(f), &sb) == 0 ? (int64_t)sb.st_size : 0;
    struct ctx *c = xcalloc(1, sizeof *c);
    c->shop = shop;
    c->o = o;
    c->rep = rep;
    c->pb = pb;
    enum shop_err e = SHOP_OK;
    /* First pass: the header, where each product's rows are, and whether
     * the file can be read to its end; nothing is written before. */
    c->scanning = true;
    c->seen = xcalloc(IMPORT_SEEN_BITS / 8, 1);
    read_file(c, f, total);
    free(c->seen);
    c->seen = NULL;
    free(c->run_handle);
    c->run_handle = NULL;
    c->scanning = false;
    if (c->err) {
        e = c->err;
        goto done;
    }
    if (!c->have_header) {
        e = problem_set(pb, SHOP_INVALID,
                        "%s has no Shopify product header (Handle or URL handle,"
                        " and Title, in its first line)",
                        o->path);
        goto done;
    }
    if (fseek(f, 0, SEEK_SET) != 0) {
        e = problem_set(pb, SHOP_INVALID, "%s cannot be read twice: give a file, not a pipe",
                        o->path);
        goto done;
    }
    c->have_header = false;
    c->ncols = 0;
    e = store_write(shop->store, import_setup_write, c, pb);
    if (e != SHOP_OK)
        goto done;
    /* Second pass: the rows into products, a batch at a time. */
    if (!read_file(c, f, total) && !c->err) {
        /* Only a file changed since the first pass gets here. */
        e = problem_set(pb, SHOP_INVALID, "%s changed while it was imported", o->path);
        goto done;
    }
    flush_group(c);
    for (int i = 0; i < IMPORT_SPLIT_SLOTS; i++) /* rows never completed: a changed file */
        if (c->splits[i].nrows) {
            struct row *rows = c->splits[i].rows;
            int n = c->splits[i].nrows;
            c->splits[i].rows = NULL;
            c->splits[i].nrows = c->splits[i].caprows = 0;
            add_item(c, rows, n);
        }
    import_flush_batch(c);
    if (o->progress && !c->err)
        o->progress(o->cls, total, total);
    e = c->err;
done:
    import_free_rows(c->group, c->ngroup);
    for (int i = 0; i < c->nbatch; i++)
        import_item_free(&c->batch[i]);
    for (int i = 0; i < IMPORT_SPLIT_SLOTS; i++) {
        import_free_rows(c->splits[i].rows, c->splits[i].nrows);
        free(c->splits[i].rows);
        free(c->splits[i].handle);
    }
    import_cats_free(c);
    for (int i = 0; i < IMPORT_MAX_COLS; i++)
        free(c->names[i]);
    free(c->group);
    free(c);
    fclose(f);
    return e;
}
