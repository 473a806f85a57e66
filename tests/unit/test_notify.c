/* Unit tests for notifications: triggers fed straight into the outbox, the
 * flash-sale entry point's transaction contract, the fan-out's conditional
 * cursor, and the file sink's dedup after a crash. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext/notify_provider.h"
#include "helpers.h"
#include "shop/notify.h"
#include "store/store.h"
#include "util/clock.h"
#include "work/fanout.h"

static char sink_dir[64];

static void sink_dir_make(void)
{
    snprintf(sink_dir, sizeof sink_dir, "/tmp/shopd-sink-XXXXXX");
    cr_assert_not_null(mkdtemp(sink_dir));
}

static void sink_dir_remove(void)
{
    DIR *d = opendir(sink_dir);
    struct dirent *e;
    char f[400];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(f, sizeof f, "%s/%s", sink_dir, e->d_name);
            unlink(f);
        }
    if (d)
        closedir(d);
    rmdir(sink_dir);
}

static void start_workers(struct shop *shop)
{
    struct problem pb = {0};
    cr_assert_eq(shop_start_workers(shop, &pb), SHOP_OK, "%s", pb.detail);
}

/* A shop whose file sink writes to sink_dir, retrying fast. */
static struct shop *open_shop(bool workers)
{
    sink_dir_make();
    setenv("SHOPD_NOTIFY_DIR", sink_dir, 1);
    setenv("SHOPD_NOTIFY_SCAN_MS", "20", 1);
    struct shop *shop = test_shop_open();
    if (workers)
        start_workers(shop);
    return shop;
}

static void close_shop(struct shop *shop)
{
    test_shop_close(shop);
    sink_dir_remove();
}

static enum shop_err exec_write(struct db *db, void *arg, struct problem *pb)
{
    return db_exec(db, arg, pb);
}

static void sql(struct shop *shop, const char *text)
{
    struct problem pb = {0};
    cr_assert_eq(store_write(shop->store, exec_write, (void *)text, &pb), SHOP_OK, "%s", text);
}

static int64_t count(struct shop *shop, const char *query, int64_t arg)
{
    struct db *db = store_db(shop->store);
    int64_t n = db_scalar_i64(db, query, arg, -1);
    db_release(db);
    return n;
}

/* Waits until `query` (one integer argument) answers `want`. */
static void wait_count(struct shop *shop, const char *query, int64_t arg, int64_t want)
{
    int64_t n = -1;
    for (int i = 0; i < 500 && (n = count(shop, query, arg)) != want; i++)
        clock_sleep_ms(10);
    cr_assert_eq(n, want, "%s: %lld, wanted %lld", query, (long long)n, (long long)want);
}

/* Lines of <sink>/<channel>.jsonl that contain `needle`. */
static int sink_count(const char *channel, const char *needle)
{
    char path[128], line[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", sink_dir, channel);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Three wishlisters of product 10: user 1 (a device; push and email), user
 * 2 (no device, email off: nothing to send), user 3 (sms only, with a phone). */
static const char fixture[] =
    "INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES"
    " (1, 'a@x.test', 'A', 'x', 'customer', 0), (2, 'b@x.test', 'B', 'x', 'customer', 0),"
    " (3, 'c@x.test', 'C', 'x', 'seller', 0);"
    "INSERT INTO devices (user_id, platform, token, created_at, updated_at)"
    " VALUES (1, 'ios', 'tok-a', 0, 0);"
    "INSERT INTO notification_prefs VALUES (2, 1, 0, 0, 0), (3, 0, 0, 1, 0);"
    "INSERT INTO addresses (user_id, name, line1, city, postal_code, country, phone, is_default,"
    " created_at, updated_at) VALUES (3, 'C', '1 St', 'X', '98101', 'US', '+15550100', 1, 0, 0);"
    "INSERT INTO categories (id, name, slug, path, depth, created_at)"
    " VALUES (1, 'C', 'c', '/1/', 0, 0);"
    "INSERT INTO products (id, seller_id, category_id, title, description, brand, currency,"
    " status, created_at, updated_at) VALUES (10, 3, 1, 'Kettle', 'd', 'b', 'USD', 'published',"
    " 0, 0), (11, 3, 1, 'Pot', 'd', 'b', 'USD', 'draft', 0, 0);"
    "INSERT INTO variants (id, product_id, sku, price_cents, created_at, updated_at)"
    " VALUES (100, 10, 'K1', 2599, 0, 0);"
    "INSERT INTO wishlist (user_id, product_id, created_at) VALUES (1, 10, 0), (2, 10, 0),"
    " (3, 10, 0);";

Test(notify, order_events_notify_their_user_once_even_when_redelivered)
{
    struct shop *shop = open_shop(true);
    sql(shop, fixture);
    sql(shop, "INSERT INTO outbox (topic, aggregate_id, payload, created_at) VALUES"
              " ('order.confirmed', 42, '{\"order_id\":42,\"user_id\":1,\"total_cents\":8499,"
              "\"currency\":\"USD\"}', 0),"
              " ('order.confirmed', 42, '{\"order_id\":42,\"user_id\":1,\"total_cents\":8499,"
              "\"currency\":\"USD\"}', 0),"
              " ('order.refunded', 42, '{\"order_id\":42,\"user_id\":1,\"amount_cents\":100,"
              "\"currency\":\"USD\"}', 0),"
              " ('order.refunded', 42, '{\"order_id\":42,\"user_id\":1,\"amount_cents\":200,"
              "\"currency\":\"USD\"}', 0),"
              " ('order.shipped', 42, '{\"order_id\":42}', 0),"
              " ('order.created', 42, '{\"order_id\":42,\"user_id\":1}', 0),"
              " ('order.delivered', 43, 'not json', 0),"
              " ('order.cancelled', 44, '{\"order_id\":44,\"user_id\":3,\"total_cents\":10,"
              "\"currency\":\"USD\"}', 0);");
    /* confirmed once (push + email), two refunds (push + email each); the
     * malformed ones are skipped; user 3 gets the cancellation by sms. */
    wait_count(shop, "SELECT count(*) FROM notifications WHERE state = 1 AND user_id = ?", 1, 6);
    wait_count(shop, "SELECT count(*) FROM notifications WHERE state = 1 AND user_id = ?", 3, 1);
    cr_assert_eq(sink_count("email", "\"key\":\"order.confirmed:42\""), 1);
    cr_assert_eq(sink_count("push", "\"key\":\"order.confirmed:42\""), 1);
    cr_assert_eq(sink_count("email", "We refunded 1.00 USD"), 1);
    cr_assert_eq(sink_count("email", "We refunded 2.00 USD"), 1);
    cr_assert_eq(sink_count("sms", "\"to\":[\"+15550100\"]"), 1);
    cr_assert_eq(sink_count("email", "Order #42 confirmed"), 1);

    /* Redelivery: the consumer forgets its position and starts again. */
    shop_close(shop);
    struct problem pb = {0};
    shop = shop_open(test_db_path(), true, &pb);
    cr_assert_not_null(shop);
    sql(shop, "UPDATE outbox_consumers SET position = 0 WHERE name = 'notify.orders'");
    start_workers(shop);
    wait_count(shop,
               "SELECT position = (SELECT max(id) FROM outbox) FROM outbox_consumers"
               " WHERE name = 'notify.orders' AND ? > 0",
               1, 1);
    clock_sleep_ms(100);
    cr_assert_eq(count(shop, "SELECT count(*) FROM notifications WHERE ? > 0", 1), 7);
    cr_assert_eq(sink_count("email", "\"key\":\"order.confirmed:42\""), 1);
    close_shop(shop);
}

Test(notify, sales_price_drops_and_restocks_fan_out_to_wishlisters)
{
    struct shop *shop = open_shop(true);
    sql(shop, fixture);
    sql(shop, "INSERT INTO outbox (topic, aggregate_id, payload, created_at) VALUES"
              " ('price.changed', 10, '{\"product_id\":10,\"variant_id\":100,"
              "\"old_price_cents\":1999,\"new_price_cents\":2599}', 0),"
              " ('price.changed', 10, '{\"product_id\":10,\"variant_id\":100,"
              "\"old_price_cents\":2599,\"new_price_cents\":1999}', 0),"
              " ('price.changed', 11, '{\"product_id\":11,\"variant_id\":100,"
              "\"old_price_cents\":2599,\"new_price_cents\":1}', 0),"
              " ('stock.back_in_stock', 10, '{\"product_id\":10,\"variant_id\":100,"
              "\"available\":3}', 0),"
              " ('stock.back_in_stock', 10, '{\"product_id\":10,\"variant_id\":100,"
              "\"available\":5}', 0),"
              " ('flash_sale.started', 8, '{\"sale_id\":8,\"product_id\":10,"
              "\"variant_id\":100}', 0),"
              " ('flash_sale.started', 9, '{\"sale_id\":9,\"product_id\":999}', 0),"
              " ('flash_sale.started', 8, '{\"sale_id\":8,\"product_id\":10}', 0);");
    /* The rise, the draft product, the second back-in-stock of the day, the
     * sale of an unknown product and the repeated sale make nothing: three
     * fan-outs, each user 1 push + email and user 3 sms. */
    wait_count(shop, "SELECT count(*) FROM notify_fanouts WHERE state = 'done' AND ? > 0", 1, 3);
    wait_count(shop, "SELECT count(*) FROM notifications WHERE state = 1 AND ? > 0", 1, 9);
    cr_assert_eq(count(shop, "SELECT count(*) FROM notifications WHERE user_id = ?", 2), 0);
    cr_assert_eq(sink_count("email", "\"key\":\"price_drop:100:1999:"), 1); /* :<UTC day> */
    cr_assert_eq(sink_count("sms", "Now 19.99 USD (was 25.99 USD)."), 1);
    cr_assert_eq(sink_count("push", "\"kind\":\"back_in_stock\""), 1);
    cr_assert_eq(sink_count("sms", "\"key\":\"flash_sale:8\""), 1);
    cr_assert_eq(count(shop,
                       "SELECT count(*) FROM outbox_consumers WHERE name = 'notify.wishlist'"
                       " AND position = (SELECT max(id) FROM outbox) AND ? > 0",
                       1),
                 1, "the unknown product's sale did not hold the consumer up");
    close_shop(shop);
}

struct sale_call {
    struct shop *shop;
    int64_t sale, product;
    bool fail_after;
};

/* The flash-sale module's write function, in miniature. */
static enum shop_err sale_start_write(struct db *db, void *arg, struct problem *pb)
{
    (void)db;
    struct sale_call *c = arg;
    if (notify_flash_sale_started(c->shop, c->sale, c->product, pb) != SHOP_OK)
        return pb->err;
    return c->fail_after ? problem_set(pb, SHOP_CONFLICT, "the sale could not start") : SHOP_OK;
}

Test(notify, flash_sale_fanout_commits_with_the_callers_transaction)
{
    struct shop *shop = open_shop(false);
    sql(shop, fixture);
    struct problem pb = {0};
    struct sale_call c = {.shop = shop, .sale = 5, .product = 10, .fail_after = true};
    cr_assert_eq(store_write(shop->store, sale_start_write, &c, &pb), SHOP_CONFLICT);
    cr_assert_eq(count(shop, "SELECT count(*) FROM notify_fanouts WHERE ? > 0", 1), 0);
    cr_assert_eq(count(shop, "SELECT count(*) FROM notify_messages WHERE ? > 0", 1), 0);
    c.fail_after = false;
    cr_assert_eq(store_write(shop->store, sale_start_write, &c, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_eq(notify_flash_sale_started(shop, 5, 10, &pb), SHOP_OK, "idempotent");
    cr_assert_eq(count(shop, "SELECT count(*) FROM notify_fanouts WHERE product_id = ?", 10), 1);
    cr_assert_eq(count(shop,
                       "SELECT count(*) FROM notify_messages WHERE event_key ="
                       " 'flash_sale:' || ?",
                       5),
                 1);
    problem_clear(&pb);
    cr_assert_eq(notify_flash_sale_started(shop, 5, 11, &pb), SHOP_CONFLICT);
    problem_clear(&pb);
    cr_assert_eq(notify_flash_sale_started(shop, 6, 999, &pb), SHOP_NOT_FOUND);
    problem_clear(&pb);

    /* The engine, started later, keeps the promise. */
    start_workers(shop);
    wait_count(shop, "SELECT count(*) FROM notifications WHERE state = 1 AND ? > 0", 1, 3);
    cr_assert_eq(sink_count("push", "\"title\":\"Flash sale: Kettle\""), 1);
    cr_assert_eq(sink_count("email", "\"url\":\"/v1/flash-sales/5\""), 1);
    close_shop(shop);
}

Test(fanout, a_chunk_is_created_once_when_two_workers_race)
{
    struct shop *shop = open_shop(false);
    sql(shop, fixture);
    struct problem pb = {0};
    int64_t id;
    bool created;
    struct notify_spec spec = {.key = "race", .kind = "test", .title = "t", .body = "b"};
    cr_assert_eq(notify_fanout_create(shop, 10, &spec, &id, &created, &pb), SHOP_OK);
    cr_assert(created);
    struct fanout a, b;
    cr_assert(fanout_next_running(shop, &a));
    cr_assert(fanout_next_running(shop, &b));
    struct notify_rows rows = {0};
    bool done = false;
    cr_assert_eq(fanout_step(shop, &a, 2, 60000, &rows, &done, &pb), SHOP_OK, "%s", pb.detail);
    cr_assert_not(done);
    cr_assert_eq(rows.n, 2, "user 1: push and email; user 2: nothing");
    cr_assert_eq(fanout_step(shop, &b, 2, 60000, &rows, &done, &pb), SHOP_CONFLICT);
    problem_clear(&pb);
    cr_assert_eq(rows.n, 2, "the losing worker created nothing");
    cr_assert_eq(fanout_step(shop, &a, 2, 60000, &rows, &done, &pb), SHOP_OK);
    cr_assert(done);
    cr_assert_eq(rows.n, 3);
    cr_assert_eq(count(shop,
                       "SELECT count(*) FROM notifications WHERE message_id ="
                       " (SELECT message_id FROM notify_fanouts WHERE id = ?)",
                       id),
                 3);
    cr_assert_eq(count(shop, "SELECT users_done FROM notify_fanouts WHERE id = ?", id), 3);
    cr_assert_not(fanout_next_running(shop, &b));
    free(rows.v);
    close_shop(shop);
}

Test(notify_file, skips_ids_written_before_a_crash_and_cuts_a_torn_line)
{
    sink_dir_make();
    char path[128];
    snprintf(path, sizeof path, "%s/push.jsonl", sink_dir);
    FILE *f = fopen(path, "w");
    fputs("{\"id\":1,\"user_id\":1}\n{\"id\":2,\"user_id\":2}\n{\"id\":3,\"us", f);
    fclose(f);
    char err[256];
    struct notify_provider *p = notify_file_new(sink_dir, NOTIFY_PUSH, 1 << 20, err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    struct notify_message m = {.key = strdup("k"),
                               .kind = strdup("test"),
                               .title = strdup("T"),
                               .body = strdup("say \"hi\"\n"),
                               .data = strdup("{}")};
    notify_message_render(&m);
    struct notify_item items[3];
    for (int i = 0; i < 3; i++)
        items[i] = (struct notify_item){.id = 2 + i,
                                        .user_id = 2 + i,
                                        .channel = NOTIFY_PUSH,
                                        .msg = &m,
                                        .to = {"tok"},
                                        .nto = 1};
    p->send_batch(p, items, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(items[i].result, NOTIFY_OK);
    p->destroy(p);
    notify_message_clear(&m);
    f = fopen(path, "r");
    char line[512];
    int ids[8], n = 0;
    while (n < 8 && fgets(line, sizeof line, f)) {
        cr_assert(strlen(line) > 0 && line[strlen(line) - 1] == '\n');
        cr_assert_eq(sscanf(line, "{\"id\":%d", &ids[n]), 1, "%s", line);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 4);
    cr_assert(ids[0] == 1 && ids[1] == 2 && ids[2] == 3 && ids[3] == 4);
    cr_assert_eq(sink_count("push", "\"body\":\"say \\\"hi\\\"\\n\""), 2);
    sink_dir_remove();
}

/* ---- the webhook against a tiny keep-alive receiver ------------------------------ */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

struct receiver {
    int listen_fd, port;
    _Atomic int items, requests;
};

static void *receive_conn(void *arg)
{
    struct receiver *rv = ((void **)arg)[0];
    int fd = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *end;
        while ((end = strstr(buf, "\r\n\r\n"))) {
            char *cl = strcasestr(buf, "content-length:");
            size_t body = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
            size_t total = (size_t)(end - buf) + 4 + body;
            if (len < total)
                break;
            for (char *p = end; (p = strstr(p, "{\"id\":")) && p < buf + total; p++)
                rv->items++;
            rv->requests++;
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            if (write(fd, ok, sizeof ok - 1) < 0)
                break;
            memmove(buf, buf + total, len - total);
            len -= total;
            buf[len] = '\0';
        }
    }
    close(fd);
    return NULL;
}

static void *receive_main(void *arg)
{
    struct receiver *rv = arg;
    int fd;
    while ((fd = accept(rv->listen_fd, NULL, NULL)) >= 0) {
        void **a = malloc(2 * sizeof *a);
        a[0] = rv;
        a[1] = (void *)(intptr_t)fd;
        pthread_t t;
        pthread_create(&t, NULL, receive_conn, a);
        pthread_detach(t);
    }
    return NULL;
}

/* A hang guard, not a speed test: with fewer connections than requests, a
 * request waiting for a connection must start as soon as one comes free
 * (it once waited for curl's one-second poll, so this took 20 s). */
Test(notify_webhook, more_requests_than_connections_all_complete, .timeout = 10)
{
    struct receiver rv = {0};
    rv.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(rv.listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(rv.listen_fd, (struct sockaddr *)&a, &alen);
    cr_assert_eq(listen(rv.listen_fd, 16), 0);
    pthread_t t;
    pthread_create(&t, NULL, receive_main, &rv);

    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(a.sin_port));
    struct notify_webhook_opts o = {
        .url = url, .connections = 2, .per_request = 5, .timeout_ms = 5000};
    struct notify_provider *p = notify_webhook_new(&o, NOTIFY_EMAIL, err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    struct notify_message m = {.key = strdup("k"),
                               .kind = strdup("test"),
                               .title = strdup("T"),
                               .body = strdup("B"),
                               .data = strdup("{}")};
    notify_message_render(&m);
    struct notify_item items[200];
    for (int i = 0; i < 200; i++)
        items[i] = (struct notify_item){.id = i + 1,
                                        .user_id = i + 1,
                                        .channel = NOTIFY_EMAIL,
                                        .msg = &m,
                                        .to = {"a@x.test"},
                                        .nto = 1};
    p->send_batch(p, items, 200);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(items[i].result, NOTIFY_OK, "item %d: %s", i, items[i].error);
    cr_assert_eq(rv.items, 200);
    cr_assert_eq(rv.requests, 40);
    p->destroy(p);
    notify_message_clear(&m);
    shutdown(rv.listen_fd, SHUT_RDWR);
    close(rv.listen_fd);
    pthread_join(t, NULL);
}
