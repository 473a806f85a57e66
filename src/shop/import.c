/* import.c — `shopd import products`: the Shopify product CSV layout into
 * the catalog (CAT-6).
 *
 * The layout. One row per variant and per image; rows that share a handle
 * are one product, and the product's own fields (title, description, vendor,
 * category, type, tags, published, status, option names) are read from its
 * first row only. Shopify has used two header sets: the long-standing one
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
 * Bounded memory. The file is read in 64 KiB chunks and fed to libcsv one
 * physical line at a time (so every record knows its line, quoted newlines
 * and CRLF included); only the current product's rows and one batch of
 * products (IMPORT_BATCH) are held, and each batch is one write transaction.
 * A BOM is skipped.
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

static void flush_group(struct ctx *c)
{
    if (!c->ngroup)
        return;
    struct item *it = &c->batch[c->nbatch];
    memset(it, 0, sizeof *it);
    it->rows = c->group;
    it->nrows = c->ngroup;
    c->group = NULL;
    c->ngroup = c->capgroup = 0;
    if (!import_check_item(c, it)) {
        import_item_free(it);
        return;
    }
    if (++c->nbatch == IMPORT_BATCH)
        import_flush_batch(c);
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
        if (c->map[i] == F_IGNORE && c->o->ignored && *n)
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
    if (c->ngroup && strcmp(c->group[0].f[F_HANDLE], r.f[F_HANDLE]))
        flush_group(c);
    if (c->ngroup == IMPORT_MAX_ROWS) {
        /* Too long for one product: the extra rows are rejected on their own. */
        c->rep->rows_rejected++;
        if (c->o->rejected)
            c->o->rejected(c->o->cls, r.line, r.f[F_HANDLE], "a product may have at most 400 rows");
        import_free_rows(&r, 1);
        return;
    }
    if (c->ngroup == c->capgroup) {
        c->capgroup = c->capgroup ? c->capgroup * 2 : 8;
        c->group = xrealloc(c->group, (size_t)c->capgroup * sizeof *c->group);
    }
    c->group[c->ngroup++] = r;
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
    c->between = true;
    enum shop_err e = store_write(shop->store, import_setup_write, c, pb);
    if (e != SHOP_OK)
        goto done;
    csv_init(&c->csv, CSV_APPEND_NULL | CSV_STRICT_FINI);
    char *buf = xmalloc(65536), *line = NULL;
    size_t linecap = 0, linelen = 0, n;
    int64_t done = 0, last_progress = -1;
    bool first = true;
    /* Physical lines: each is fed whole, so a record starts on the line
     * where the parser was between records when it got a non-blank line. */
    while (!c->err && (n = fread(buf, 1, 65536, f)) > 0) {
        size_t i = 0;
        if (first && n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
            i = 3;
        first = false;
        while (i < n && !c->err) {
            char *nl = memchr(buf + i, '\n', n - i);
            size_t take = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
            if (linelen + take > linecap) {
                linecap = (linelen + take) * 2;
                line = xrealloc(line, linecap);
            }
            memcpy(line + linelen, buf + i, take);
            linelen += take;
            i += take;
            if (!nl)
                break;
            c->line++;
            bool blank = linelen <= 2 && (line[0] == '\n' || line[0] == '\r');
            if (c->between && !blank) {
                c->record_line = c->line;
                c->between = false;
            }
            if (csv_parse(&c->csv, line, linelen, on_field, on_record, c) != linelen)
                break;
            linelen = 0;
            if (c->ncols < 0)
                break;
        }
        done += (int64_t)n;
        if (o->progress && done * 100 / (total ? total : 1) != last_progress) {
            last_progress = done * 100 / (total ? total : 1);
            o->progress(o->cls, done, total);
        }
        if (c->ncols < 0)
            break;
    }
    if (linelen && !c->err && c->ncols >= 0) { /* a last line without a newline */
        c->line++;
        if (c->between) {
            c->record_line = c->line;
            c->between = false;
        }
        csv_parse(&c->csv, line, linelen, on_field, on_record, c);
    }
    if (csv_fini(&c->csv, on_field, on_record, c) != 0 && c->have_header) {
        rep->rows_rejected++;
        if (o->rejected)
            o->rejected(o->cls, c->record_line, NULL,
                        "a quoted field is not closed before the end of the file");
        for (int k = 0; k < F_COUNT; k++)
            free(c->cur.f[k]);
    }
    csv_free(&c->csv);
    free(buf);
    free(line);
    if (!c->have_header && !c->err) {
        e = problem_set(pb, SHOP_INVALID,
                        "%s has no Shopify product header (Handle or URL handle,"
                        " and Title, in its first line)",
                        o->path);
        import_free_rows(c->group, c->ngroup);
        goto done;
    }
    flush_group(c);
    import_flush_batch(c);
    import_free_rows(c->group, c->ngroup);
    if (o->progress)
        o->progress(o->cls, total, total);
    e = c->err;
done:
    import_cats_free(c);
    for (int i = 0; i < IMPORT_MAX_COLS; i++)
        free(c->names[i]);
    free(c->group);
    free(c);
    fclose(f);
    return e;
}
