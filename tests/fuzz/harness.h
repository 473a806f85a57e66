/* harness.h — what the fuzz targets share (tests/fuzz/README.md).
 *
 * The targets call the functions the server calls, without a listening
 * server: a request is a `struct req` whose head (headers, cookies, query
 * arguments) lives in a fake connection that harness.c's stand-ins for
 * libmicrohttpd's lookups read; everything else is shopd's own code. The
 * shop is a real one on a throwaway SQLite database, seeded small, with the
 * store's COMMIT failed on every write batch (util/faults.h), so nothing a
 * fuzzed input makes a handler do is ever durable: validators, reads and
 * the write functions run, their batches roll back.
 */
#ifndef SHOP_TESTS_FUZZ_HARNESS_H
#define SHOP_TESTS_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/req.h"
#include "shop/shop.h"

#define FZ_MAX_VALUES 32

/* A request's head as libmicrohttpd would have parsed it. */
struct fz_conn {
    int n;
    int kind[FZ_MAX_VALUES]; /* enum MHD_ValueKind */
    const char *key[FZ_MAX_VALUES], *value[FZ_MAX_VALUES];
};

/* The kinds, without pulling microhttpd.h into every target. */
enum { FZ_HEADER = 1, FZ_COOKIE = 2, FZ_QUERY = 8 };

void fz_add(struct fz_conn *c, int kind, const char *key, const char *value);

/** The shop every target shares (opened once, on first use), its seeded
 *  admin's session token, and the ids of a customer and an admin. */
struct shop *fz_shop(void);
const char *fz_admin_token(void);
const char *fz_customer_token(void);
const char *fz_admin_csrf(void);  /* the CSRF token of the admin's session */
const char *fz_guest_token(void); /* a guest session's token */
extern int64_t fz_admin_id, fz_customer_id;

/** Lets write batches commit again (`on`), or fails every COMMIT (the
 *  default): only for a caller that writes nothing by itself (a dry run). */
void fz_commits(bool on);

/** A fresh request on `c` (no body, anonymous). */
void fz_req_init(struct req *r, struct fz_conn *c);

/** Frees what a request holds. */
void fz_req_done(struct req *r);

/** Runs a route's handler the way server.c's dispatch does (no rate
 *  limits, no shedding), then renders a problem answer if it failed. */
void fz_handle(struct req *r);

#endif
