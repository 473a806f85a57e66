/* carrier.h — the shipping carrier interface (ORD-4).
 *
 * A carrier is a table of operations over an opaque implementation, like
 * the payment gateway (ext/gateway.h). shopd ships a simulated one
 * (carrier_sim.c). Creating a label carries an idempotency key: the carrier
 * answers a repeated key with the first label, so a fulfil that timed out
 * and retries never pays for two labels. After a label exists the carrier
 * reports the parcel's journey by calling the shop back
 * (POST /v1/carrier/events, signed with the shared secret).
 *
 * Results:
 *   CARRIER_OK          done
 *   CARRIER_REFUSED     the carrier will not take the parcel; `code` says why
 *                       (e.g. address_undeliverable): final
 *   CARRIER_UNAVAILABLE failed transiently; retrying may work
 *   CARRIER_TIMEOUT     no answer in time: a label may or may not exist —
 *                       retry with the same key to find out
 *
 * The simulated carrier behaves by the shipping address, as the simulated
 * gateway does by card number: an address whose name or lines contain
 *   "carrier:timeout"       — the first label request times out (the label
 *                             was made; the retry gets it),
 *   "carrier:down"          — every label request fails (unavailable),
 *   "carrier:undeliverable" — the label is refused (address_undeliverable),
 *   "carrier:fail-N"        — N delivery attempts fail (N = 1…9; 3 or more
 *                             ends with the parcel returned to the sender).
 * Tracking numbers are deterministic: "SIM" and 12 digits from the key.
 */
#ifndef SHOP_EXT_CARRIER_H
#define SHOP_EXT_CARRIER_H

#include <stdint.h>

struct store;

enum carrier_status { CARRIER_OK, CARRIER_REFUSED, CARRIER_UNAVAILABLE, CARRIER_TIMEOUT };

struct carrier_parcel {
    const char *key;     /* idempotency key of the label */
    const char *service; /* standard | express */
    const char *name, *line1, *line2, *city, *postal_code, *country;
    int64_t weight_grams;
};

struct carrier_label {
    char tracking_number[32];
    char code[40]; /* why, when refused or failed */
};

/** A status change the carrier reports (the simulated carrier's step). */
typedef int (*carrier_report_fn)(const char *tracking_number, const char *status,
                                 const char *detail, int64_t at, void *cls);

struct carrier {
    const char *name;
    void *impl;
    enum carrier_status (*create_label)(struct carrier *c, const struct carrier_parcel *p,
                                        struct carrier_label *out);
    enum carrier_status (*cancel_label)(struct carrier *c, const char *tracking_number);
    /** The carrier's own view of a parcel: its status (≤ 24 bytes). */
    enum carrier_status (*track)(struct carrier *c, const char *tracking_number, char *status,
                                 int64_t status_len);
    void (*destroy)(struct carrier *c);
};

/** The simulated carrier, keeping its books in `store` (the shop's own:
 *  table carrier_sim_labels). Timing-out labels take `timeout_ms`; parcels
 *  move one status per `step_ms` when advanced. */
struct carrier *carrier_sim_new(struct store *store, int64_t timeout_ms, int64_t step_ms);

/** The simulated carrier's clock: moves every parcel whose time has come
 *  one status on and reports it through `report`; a step whose report
 *  returns nonzero (the shop did not take it) is tried again next time, for
 *  up to ten minutes after the label was made. Returns the steps taken. */
int carrier_sim_advance(struct carrier *c, int64_t now, carrier_report_fn report, void *cls);

/** Lowercase hex HMAC-SHA256 of `body` keyed with `secret` (65 bytes). */
void carrier_sign(const char *secret, const char *body, size_t len, char out[65]);

#endif
