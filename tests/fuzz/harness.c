/* harness.c — the fuzz targets' shared shop, fake connection and request
 * lifecycle (harness.h). */
#include "harness.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/problem_http.h"
#include "http/router.h"
#include "shop/account.h"
#include "shop/seed.h"
#include "store/store.h"
#include "util/faults.h"
#include "util/token.h"

/* ---- libmicrohttpd's lookups, over a struct fz_conn -------------------------
 * The executable's definitions take the place of the library's for every
 * call from libshop (http/req.c, http/server.c). */

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    const struct fz_conn *c = (const struct fz_conn *)connection;
    if (!c || !key)
        return NULL;
    for (int i = 0; i < c->n; i++)
        if ((c->kind[i] & (int)kind) &&
            (c->kind[i] == FZ_HEADER ? !strcasecmp(c->key[i], key) : !strcmp(c->key[i], key)))
            return c->value[i];
    return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
    const struct fz_conn *c = (const struct fz_conn *)connection;
    int n = 0;
    for (int i = 0; c && i < c->n; i++) {
        if (!(c->kind[i] & (int)kind))
            continue;
        n++;
        if (iterator &&
            iterator(iterator_cls, (enum MHD_ValueKind)c->kind[i], c->key[i], c->value[i]) != MHD_YES)
            break;
    }
    return n;
}

void fz_add(struct fz_conn *c, int kind, const char *key, const char *value)
{
    if (c->n == FZ_MAX_VALUES)
        return;
    c->kind[c->n] = kind;
    c->key[c->n] = key;
    c->value[c->n] = value;
    c->n++;
}

/* ---- the shop ----------------------------------------------------------------- */

static struct shop *shop;
static char dir[64], db_path[128];
static char customer_token[TOKEN_LEN + 1];
static char admin_token[TOKEN_LEN + 1], admin_csrf[TOKEN_LEN + 1], guest_token[TOKEN_LEN + 1];
int64_t fz_admin_id, fz_customer_id;

static void remove_db(void)
{
    static const char *const suffixes[] = {"",           "-wal",          "-shm",
                                           "-gateway.db", "-gateway.db-wal", "-gateway.db-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char f[160];
        snprintf(f, sizeof f, "%s%s", db_path, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
}

static void die(const char *what, const struct problem *pb)
{
    fprintf(stderr, "fuzz harness: %s: %s\n", what, pb->detail);
    abort();
}

struct shop *fz_shop(void)
{
    if (shop)
        return shop;
    setenv("SHOPD_PWHASH_MEMLIMIT", "65536", 1);
    setenv("SHOPD_PWHASH_OPSLIMIT", "1", 1);
    setenv("SHOPD_LOG_LEVEL", "off", 0);
    snprintf(dir, sizeof dir, "/tmp/shopd-fuzz-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(db_path, sizeof db_path, "%s/shop.db", dir);
    struct problem pb = {0};
    shop = shop_open(db_path, true, &pb);
    if (!shop)
        die("shop_open", &pb);
    atexit(remove_db);
    struct seed_opts so = {.products = 40, .users = 4, .rng_seed = 17};
    struct seed_report rep;
    if (seed_run(shop, &so, &rep, &pb) != SHOP_OK)
        die("seed", &pb);
    if (account_create(shop, "fuzz-admin@example.com", "fuzz-password-1", "Fuzz Admin", ROLE_ADMIN,
                       true, &fz_admin_id, &pb) != SHOP_OK ||
        account_create(shop, "fuzz-customer@example.com", "fuzz-password-1", "Fuzz Customer",
                       ROLE_CUSTOMER, false, &fz_customer_id, &pb) != SHOP_OK)
        die("account_create", &pb);
    struct arena *a = arena_new();
    struct user u;
    if (account_login(shop, a, "fuzz-admin@example.com", "fuzz-password-1", "127.0.0.1", 0,
                      NULL, &u, admin_token, &pb) != SHOP_OK)
        die("account_login", &pb);
    if (account_login(shop, a, "fuzz-customer@example.com", "fuzz-password-1", "127.0.0.1", 0,
                      NULL, &u, customer_token, &pb) != SHOP_OK)
        die("account_login", &pb);
    arena_free(a);
    token_csrf(admin_token, admin_csrf);
    int64_t guest_id;
    if (account_guest_new(shop, guest_token, &guest_id, &pb) != SHOP_OK)
        die("account_guest_new", &pb);
    /* From here on no write batch commits. */
    fz_commits(false);
    return shop;
}

void fz_commits(bool on)
{
    if (on)
        faults_disarm(FP_STORE_COMMIT);
    else
        faults_arm(&(struct fault_spec){.point = FP_STORE_COMMIT, .nth = 1, .times = 0,
                                        .mode = FM_ERROR});
}

const char *fz_admin_token(void)
{
    return admin_token;
}

const char *fz_customer_token(void)
{
    return customer_token;
}

const char *fz_admin_csrf(void)
{
    return admin_csrf;
}

const char *fz_guest_token(void)
{
    return guest_token;
}

/* ---- requests --------------------------------------------------------------------- */

void fz_req_init(struct req *r, struct fz_conn *c)
{
    memset(r, 0, sizeof *r);
    r->shop = fz_shop();
    r->arena = arena_new();
    r->conn = (struct MHD_Connection *)c;
    r->body = "";
    memcpy(r->id, "fuzz", 5);
    memcpy(r->ip, "127.0.0.1", 10);
    r->who.ip = r->ip;
}

void fz_req_done(struct req *r)
{
    if (r->out_free)
        r->out_free(r->out_free_cls);
    json_decref(r->json);
    problem_clear(&r->pb);
    arena_free(r->arena);
}

void fz_handle(struct req *r)
{
    enum shop_err e = r->route->handler(r);
    if (e != SHOP_OK || r->status == 0) {
        if (r->pb.err == SHOP_OK)
            problem_set(&r->pb, SHOP_INTERNAL, "the handler gave no answer");
        json_t *body = problem_body(&r->pb, r->id);
        (void)problem_status(r->pb.err);
        if (r->out_free)
            r->out_free(r->out_free_cls);
        r->out_free = NULL;
        /* server.c's render_problem: a problem must always encode. */
        if (resp_json(r, problem_status(r->pb.err), body) != SHOP_OK) {
            fprintf(stderr, "fuzz harness: a problem body could not be encoded\n");
            abort();
        }
    }
    /* Release the database handle the way dispatch does. */
    db_release(store_db(r->shop->store));
}
