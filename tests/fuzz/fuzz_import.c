/* fuzz_import.c — the Shopify CSV importer (shop/import.c) through its
 * public entry point, import_products: the input is the file. libcsv's
 * framing, the header mapping, every row's field parsers (money, weights,
 * booleans, options, images), the product checks and the per-product write
 * functions run, as a dry run (--dry-run: every batch rolls back, so
 * nothing is ever durable). The harness's commit fault is lifted for the
 * call: the import's first transaction (finding the owner and a warehouse)
 * must commit for it to read any row, and a dry run commits nothing else.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "shop/import.h"

static void on_rejected(void *cls, int64_t line, const char *handle, const char *reason)
{
    (void)cls;
    (void)line;
    /* Read every byte of what the importer reports. */
    volatile size_t n = (handle ? strlen(handle) : 0) + strlen(reason);
    (void)n;
}

static void on_ignored(void *cls, const char *column)
{
    (void)cls;
    volatile size_t n = strlen(column);
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    struct shop *shop = fz_shop();
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/shopd-fuzz-import-%d.csv", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    struct import_opts o = {.path = path,
                            .dry_run = true,
                            .rejected = on_rejected,
                            .ignored = on_ignored};
    struct import_report rep;
    struct problem pb = {0};
    fz_commits(true);
    (void)import_products(shop, &o, &rep, &pb);
    fz_commits(false);
    problem_clear(&pb);
    unlink(path);
    return 0;
}
