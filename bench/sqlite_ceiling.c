/* sqlite_ceiling.c — the raw durable-commit ceiling of this machine, for
 * `make bench` to print beside the checkout figure.
 *
 * A checkout-like transaction (reserve stock conditionally, insert an order,
 * a line, a reservation, a payment and an event) against SQLite in WAL mode
 * with synchronous=FULL, committed one per transaction and then `batch` per
 * transaction (what group commit does). Prints transactions per second.
 *
 * usage: sqlite_ceiling DB SECONDS BATCH
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, err);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DB SECONDS BATCH\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[2]);
    int batch = atoi(argv[3]);
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK)
        return 1;
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
             "CREATE TABLE IF NOT EXISTS stock (id INTEGER PRIMARY KEY, on_hand INT, reserved INT);"
             "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, user_id INT, total INT,"
             " status TEXT, created_at INT);"
             "CREATE TABLE IF NOT EXISTS lines (id INTEGER PRIMARY KEY, order_id INT, variant INT,"
             " qty INT, price INT);"
             "CREATE TABLE IF NOT EXISTS reservations (id INTEGER PRIMARY KEY, order_id INT,"
             " variant INT, qty INT, status TEXT);"
             "CREATE TABLE IF NOT EXISTS payments (id INTEGER PRIMARY KEY, order_id INT, amount INT,"
             " status TEXT);"
             "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, topic TEXT, payload TEXT);"
             "INSERT OR IGNORE INTO stock WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1"
             " FROM n WHERE v < 1000) SELECT v, 1000000000, 0 FROM n;");
    const char *sql[] = {
        "UPDATE stock SET reserved = reserved + 1 WHERE id = ?1 AND on_hand - reserved >= 1",
        "INSERT INTO orders (user_id, total, status, created_at) VALUES (?1, 1999, 'paid', 0)",
        "INSERT INTO lines (order_id, variant, qty, price) VALUES (last_insert_rowid(), ?1, 1, 1999)",
        "INSERT INTO reservations (order_id, variant, qty, status) VALUES (?1, ?1, 1, 'active')",
        "INSERT INTO payments (order_id, amount, status) VALUES (?1, 1999, 'captured')",
        "INSERT INTO events (topic, payload) VALUES ('order.confirmed', '{\"order_id\":1}')",
    };
    enum { N = sizeof sql / sizeof sql[0] };
    sqlite3_stmt *st[N];
    for (int i = 0; i < N; i++)
        if (sqlite3_prepare_v2(db, sql[i], -1, &st[i], NULL) != SQLITE_OK)
            return 1;
    long done = 0;
    double t0 = now();
    while (now() - t0 < seconds) {
        exec(db, "BEGIN IMMEDIATE");
        for (int k = 0; k < batch; k++, done++)
            for (int i = 0; i < N; i++) {
                sqlite3_bind_int64(st[i], 1, 1 + done % 1000);
                sqlite3_step(st[i]);
                sqlite3_reset(st[i]);
            }
        exec(db, "COMMIT");
    }
    printf("%.0f\n", (double)done / (now() - t0));
    for (int i = 0; i < N; i++)
        sqlite3_finalize(st[i]);
    sqlite3_close(db);
    return 0;
}
