/* notify_provider.h — the outside world's side of notifications (NTF-1).
 *
 * A provider delivers notifications of one channel: a push service, an
 * email relay, an SMS gateway. shopd hands it batches of items; it sets each
 * item's result. Two built-ins serve every channel:
 *
 *   file     JSON lines appended to <dir>/<channel>.jsonl (notify_file.c)
 *   webhook  JSON batches POSTed to a URL over N keep-alive connections
 *            (libcurl multi; notify_webhook.c)
 *   smtp     real email through an SMTP relay (libcurl; notify_smtp.c), for
 *            the email channel
 *
 * Adding a channel means adding its name to the table in notify_provider.c,
 * its preference and address (shop/notify_prefs.c) and, when neither
 * built-in fits, one provider that implements this interface.
 *
 * Delivery is at least once: an item may be handed over again after a crash
 * between the hand-over and the commit that records it. Each item carries
 * its notification id, which a provider passes on as an idempotency key
 * (the file sink itself skips ids it already wrote).
 */
#ifndef SHOP_EXT_NOTIFY_PROVIDER_H
#define SHOP_EXT_NOTIFY_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/** Channels; stored as these integers in notifications.channel. */
enum notify_channel { NOTIFY_PUSH = 0, NOTIFY_EMAIL, NOTIFY_SMS, NOTIFY_CHANNELS };

/** "push", "email", "sms". */
const char *notify_channel_name(enum notify_channel c);
/** -1 when `s` names no channel. */
int notify_channel_parse(const char *s);

/** A message as providers see it: what to say, shared by all its items. */
struct notify_message {
    int64_t id;
    char *key, *kind, *title, *body;
    char *data;     /* a JSON object's text */
    char *fragment; /* "key":…,"kind":…,"title":…,"body":…,"data":{…} rendered once */
    size_t fragment_len;
};

/** Fills m->fragment from the other fields (owned by m). */
void notify_message_render(struct notify_message *m);
/** Frees the strings of a message (not the struct). */
void notify_message_clear(struct notify_message *m);

#define NOTIFY_TO_MAX 10 /* addresses per item: a user's newest devices */

enum notify_result {
    NOTIFY_OK,       /* accepted by the provider */
    NOTIFY_RETRY,    /* failed for now: try again later */
    NOTIFY_REJECTED, /* refused for good (bad address, …): no retry */
};

struct notify_item {
    int64_t id; /* the notification's id: its idempotency key */
    int64_t user_id;
    enum notify_channel channel;
    const struct notify_message *msg;
    const char *to[NOTIFY_TO_MAX]; /* device tokens, an email address, a phone number */
    int nto;
    enum notify_result result; /* set by the provider */
    char error[128];           /* set with a failed result */
};

struct notify_provider {
    const char *name;
    enum notify_channel channel;
    /** Hands `n` items over and sets each item's result. May be called by
     *  several sender threads at once; must return (a timeout is a RETRY). */
    void (*send_batch)(struct notify_provider *p, struct notify_item *items, int n);
    /** Stops and frees the provider. */
    void (*destroy)(struct notify_provider *p);
};

/** Hands `n` items to `p` (p->send_batch), unless an injected fault
 *  (util/faults.h, point notify.send) says otherwise: error and timeout
 *  fail every item for a retry without sending; lost sends them and then
 *  reports a retry (delivery is at least once). */
void notify_send(struct notify_provider *p, struct notify_item *items, int n);

/** Appends an item as one JSON object:
 *  {"id":…,"user_id":…,"channel":"push","to":[…],"key":…,"kind":…,
 *   "title":…,"body":…,"data":{…}} — the format both built-ins deliver. */
bool notify_item_json(struct buf *out, const struct notify_item *it);

/** The file sink: appends to <dir>/<channel>.jsonl (creating dir). On open
 *  it reads the file's last `dedup_bytes` and skips those ids when asked to
 *  send them again. NULL with a message in `err` on failure. */
struct notify_provider *notify_file_new(const char *dir, enum notify_channel ch, size_t dedup_bytes,
                                        char *err, size_t errlen);

struct notify_webhook_opts {
    const char *url;
    int connections; /* concurrent keep-alive connections */
    int per_request; /* items per POST */
    int timeout_ms;  /* per request */
};

/** The webhook: POSTs {"channel":…,"notifications":[item…]} to the URL; a
 *  2xx accepts every item of the request, 408/429/5xx or a network error
 *  asks for a retry, any other status rejects them. */
struct notify_provider *notify_webhook_new(const struct notify_webhook_opts *o,
                                           enum notify_channel ch, char *err, size_t errlen);

struct notify_smtp_opts {
    const char *url;         /* smtp://host:port (STARTTLS when offered) or smtps:// */
    const char *from;        /* the sender address */
    const char *user, *password; /* AUTH when user is not empty */
    const char *unsubscribe; /* List-Unsubscribe target; "" for mailto:<from>?subject=unsubscribe */
    int connections;         /* kept-alive connections shared by the senders */
    int timeout_ms;          /* per message */
    const char *tls;         /* "try" (STARTTLS when offered), "require" (no TLS: RETRY, nothing
                                sent) or "off"; NULL: require when user is set, else try */
    const char *ca_file;     /* PEM CA bundle to verify the relay with; NULL or "": the system's */
};

/** The SMTP email provider (notify_smtp.c): one multipart text+HTML message
 *  per item to its first address. Accepted → OK, a 5xx for the message → REJECTED,
 *  anything else (relay down, timeout, 4xx, AUTH refused or not offered, TLS
 *  required but not possible) → RETRY. Fails (NULL, err) on a bad url, from or tls. */
struct notify_provider *notify_smtp_new(const struct notify_smtp_opts *o, enum notify_channel ch,
                                        char *err, size_t errlen);

#endif
