#include "shop/stats.h"

#include "recs/recs.h"
#include "search/search.h"
#include "shop/shop.h"
#include "shop/flashsale.h"
#include "shop/payment.h"
#include "shop/product_cache.h"
#include "shop/shedding.h"
#include "store/store.h"
#include "work/changefeed.h"
#include "work/dispatcher.h"
#include "work/notify_worker.h"
#include "work/leases.h"
#include "work/webhook_worker.h"

void shop_render_metrics(struct shop *shop, struct buf *out)
{
    struct store_stats s;
    store_stats(shop->store, &s);
    buf_printf(out,
               "# HELP shopd_store_commits_total Write transactions committed (group commits).\n"
               "# TYPE shopd_store_commits_total counter\n"
               "shopd_store_commits_total %llu\n"
               "# HELP shopd_store_writes_total Write functions run by the writer.\n"
               "# TYPE shopd_store_writes_total counter\n"
               "shopd_store_writes_total %llu\n"
               "# HELP shopd_store_failed_writes_total Write functions that changed nothing.\n"
               "# TYPE shopd_store_failed_writes_total counter\n"
               "shopd_store_failed_writes_total %llu\n"
               "# HELP shopd_store_busy_retries_total Times the write lock was busy.\n"
               "# TYPE shopd_store_busy_retries_total counter\n"
               "shopd_store_busy_retries_total %llu\n"
               "# HELP shopd_store_max_batch Largest group commit so far.\n"
               "# TYPE shopd_store_max_batch gauge\n"
               "shopd_store_max_batch %llu\n"
               "# HELP shopd_store_batch_reruns_total Batches run again with a savepoint per\n"
               "# write after one of their writes failed.\n"
               "# TYPE shopd_store_batch_reruns_total counter\n"
               "shopd_store_batch_reruns_total %llu\n"
               "# HELP shopd_store_conflict_retries_total Batches run again after a deadlock or a\n"
               "# serialization failure (PostgreSQL).\n"
               "# TYPE shopd_store_conflict_retries_total counter\n"
               "shopd_store_conflict_retries_total %llu\n"
               "# HELP shopd_store_writer_statements_total Statements the database writers ran\n"
               "# (executions, group commits' own included): per order, the cost of a write.\n"
               "# TYPE shopd_store_writer_statements_total counter\n"
               "shopd_store_writer_statements_total %llu\n"
               "# HELP shopd_store_wal_frames Pages in the write-ahead log after the last commit.\n"
               "# TYPE shopd_store_wal_frames gauge\n"
               "shopd_store_wal_frames %llu\n"
               "# HELP shopd_store_checkpoints_total WAL checkpoints run (restarts among them).\n"
               "# TYPE shopd_store_checkpoints_total counter\n"
               "shopd_store_checkpoints_total %llu\n"
               "shopd_store_wal_restarts_total %llu\n"
               "# HELP shopd_store_wal_pages_written_total Pages appended to the WAL by commits.\n"
               "# TYPE shopd_store_wal_pages_written_total counter\n"
               "shopd_store_wal_pages_written_total %llu\n",
               (unsigned long long)s.commits, (unsigned long long)s.writes,
               (unsigned long long)s.failed_writes, (unsigned long long)s.busy_retries,
               (unsigned long long)s.max_batch, (unsigned long long)s.batch_reruns,
               (unsigned long long)s.conflict_retries, (unsigned long long)s.writer_statements,
               (unsigned long long)s.wal_frames, (unsigned long long)s.checkpoints,
               (unsigned long long)s.wal_restarts, (unsigned long long)s.frames_written);
    struct product_cache_stats pc;
    product_cache_stats(shop->products, &pc);
    buf_printf(out,
               "# HELP shopd_product_cache_hits_total Product pages served from memory.\n"
               "# TYPE shopd_product_cache_hits_total counter\n"
               "shopd_product_cache_hits_total %llu\n"
               "# HELP shopd_product_cache_misses_total Product pages rendered from the database.\n"
               "# TYPE shopd_product_cache_misses_total counter\n"
               "shopd_product_cache_misses_total %llu\n"
               "# HELP shopd_product_cache_entries Product pages held.\n"
               "# TYPE shopd_product_cache_entries gauge\n"
               "shopd_product_cache_entries %llu\n",
               (unsigned long long)pc.hits, (unsigned long long)pc.misses,
               (unsigned long long)pc.entries);
    flashsale_render_metrics(shop, out);
    if (shop->payments)
        payments_render_metrics(shop->payments, out);
    if (shop->dispatcher)
        dispatcher_render_metrics(shop->dispatcher, out);
    if (shop->changefeed)
        changefeed_render_metrics(shop->changefeed, out);
    if (shop->notify)
        notify_engine_render_metrics(shop->notify, out);
    if (shop->search)
        search_render_metrics(shop->search, out);
    webhook_worker_render_metrics(shop->webhooks, out);
    shedding_render_metrics(shop->shedding, out);
    if (shop->recs && recs_ready(shop->recs)) /* not while a serving process builds it */
        recs_render_metrics(shop->recs, out);
    leases_render_metrics(shop->leases, out);
}
