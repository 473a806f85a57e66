/* notify_prefs.h — where and whether a user wants to be told (ACC-5).
 *
 * Channels and their addresses:
 *   push   the user's registered devices (newest NOTIFY_TO_MAX get it)
 *   email  the account's email address
 *   sms    the phone number of the user's default address
 * Preferences are per channel opt-ins, default push on, email on, sms off.
 * Opting into sms needs a phone on the default address (422 otherwise).
 *
 * A device token identifies one app install; registering it again is
 * idempotent, and registering it from another account moves it there (the
 * phone changed hands). A user keeps at most NOTIFY_DEVICES_MAX devices;
 * registering one more forgets the least recently registered.
 */
#ifndef SHOP_SHOP_NOTIFY_PREFS_H
#define SHOP_SHOP_NOTIFY_PREFS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

struct shop;

#define NOTIFY_DEVICES_MAX 20
#define NOTIFY_TOKEN_MAX   1024

/** Registers a device from {platform: ios|android|web, token}. *out gets
 *  the device {id, platform, token, created_at, updated_at}, *created
 *  whether it is new to this user. Errors name the bad field. */
enum shop_err notify_device_register(struct shop *shop, int64_t user_id, json_t *body, json_t **out,
                                     bool *created, struct problem *pb);

/** The user's devices, most recently registered first, a page of at most
 *  `limit` after `cursor` (NULL: from the first; else a next_cursor this
 *  gave, "<updated_at>.<id>"): {data:[device], next_cursor}. A cursor it
 *  did not give → SHOP_INVALID naming "cursor". */
enum shop_err notify_devices_list(struct shop *shop, int64_t user_id, int limit, const char *cursor,
                                  json_t **out, struct problem *pb);

/** Forgets one of the user's devices. SHOP_NOT_FOUND for anyone else's. */
enum shop_err notify_device_delete(struct shop *shop, int64_t user_id, int64_t id,
                                   struct problem *pb);

/** The preferences: {push, email, sms, email_address, phone}. */
enum shop_err notify_prefs_get(struct shop *shop, int64_t user_id, json_t **out,
                               struct problem *pb);

/** Sets any of {push, email, sms} (booleans; other members are refused) and
 *  answers like notify_prefs_get. */
enum shop_err notify_prefs_put(struct shop *shop, int64_t user_id, json_t *body, json_t **out,
                               struct problem *pb);

#endif
