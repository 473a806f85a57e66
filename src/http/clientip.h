/* clientip.h — who the client is: the peer's address, or the address a
 * trusted proxy says it forwarded for (X-Forwarded-For).
 *
 * SHOPD_TRUSTED_PROXIES lists addresses and CIDR blocks (IPv4 or IPv6,
 * comma-separated: "127.0.0.1,10.0.0.0/8,::1"). X-Forwarded-For is believed
 * only when the peer is one of them, and then read from the right: each
 * proxy appends the address it received from, so the right-most entry that
 * is not a trusted proxy is the client (entries further left were written
 * by the client itself and prove nothing). A malformed entry stops the walk
 * at the last address a trusted proxy vouched for. From any other peer the
 * header is ignored: anyone can send one.
 */
#ifndef SHOP_HTTP_CLIENTIP_H
#define SHOP_HTTP_CLIENTIP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/problem.h"

struct proxies;

/** Parses the list; NULL with the bad entry named in `pb` when malformed.
 *  An empty or NULL spec is an empty list. Free with proxies_free. */
struct proxies *proxies_parse(const char *spec, struct problem *pb);
void proxies_free(struct proxies *p);

/** True when `addr` (textual IPv4 or IPv6) is in the list. */
bool proxies_trust(const struct proxies *p, const char *addr);

/** The client's address from the peer's (`peer`) and the X-Forwarded-For
 *  header (`xff`, may be NULL), written to `out`. */
void clientip_resolve(const struct proxies *p, const char *peer, const char *xff, char *out,
                      size_t len);

#endif
