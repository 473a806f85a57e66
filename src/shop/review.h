/* review.h — product reviews (ENG-1): one per user per product, moderation,
 * helpful votes, a seller's reply, and the rating aggregates on products.
 *
 * A review row holds its *published* version (rating, title, body) and its
 * status. An approved review whose author edits it in a way moderation
 * holds keeps its published version public and counted; the edit waits
 * beside it (edit_rating, edit_title, edit_body) until a moderator approves
 * it (it replaces the published version) or rejects it (it is dropped).
 *
 * State machine of `status` (shop/status.h moves it and appends
 * review_history; the one allowed self-move records an edit):
 *
 *     (create) ──► pending ──approve──► approved ◄──┐ edit applied, held, or
 *         │           │  ▲                  │       │ a held edit approved /
 *         │           │  └──edit (held)──┐  └───────┘ rejected
 *         │        reject                │
 *         │           ▼                  │
 *         │        rejected ──edit───────┴──► pending (rejected_before)
 *         │           ▲
 *         │           └──reject (a takedown) ── approved
 *         └─────────────────────────────────► approved (nothing to hold)
 *
 * Who moves it: the author (create, edit, delete: review_create,
 * review_edit, review_delete), moderation rules (shop/moderation.h) decide
 * whether an author's text is held, admins (review_moderate) the rest. An
 * edit of a rejected review is always held: a moderator said no, so only a
 * moderator says yes. A product's seller may not review it (403).
 *
 * Invariants (the schema's CHECKs keep the first two):
 *  - edit_* is set only on an approved review;
 *  - `held` is 1 exactly when a moderator has something to decide (a
 *    pending review or a held edit); the admin queue is that range;
 *  - products.rating_count, rating_sum and rating_1..5 count the published
 *    version of every approved review of the product and nothing else: every
 *    write that moves a review into, out of or within "approved" moves them
 *    in the same transaction, by increments (review.c: rating_move);
 *  - one review per (product, user) (a unique key), one helpful vote per
 *    (review, user) (the votes table's key); helpful_count counts the votes.
 *
 * Concurrency: every write to an existing review first takes the key lock
 * "review:<id>" (shop/keylock.h), so on PostgreSQL two writes to one review
 * (an edit and its approval, two moderators) run one after the other and
 * each sees what the other did; the aggregates move by increments, exact
 * under any interleaving of writes to different reviews.
 *
 * After a committed change to what a product page shows (the aggregates,
 * the top reviews) the product's page and search entry are refreshed
 * (shop_product_changed), and other processes hear `review.changed` through
 * the change feed. Approvals and rejections write `review.approved` /
 * `review.rejected`, which tell the author (work/notify_triggers.c).
 *
 * The verified-purchase badge is decided when the review is written or
 * edited: the author then has an order of the product that is paid,
 * fulfilling, (partially) shipped or delivered, in a line not cancelled.
 */
#ifndef SHOP_SHOP_REVIEW_H
#define SHOP_SHOP_REVIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "shop/account.h"
#include "util/arena.h"
#include "util/problem.h"

struct shop;
struct db;

enum review_status { REVIEW_PENDING, REVIEW_APPROVED, REVIEW_REJECTED, REVIEW_STATUS_COUNT };

enum review_sort {
    REVIEW_SORT_HELPFUL,
    REVIEW_SORT_NEWEST,
    REVIEW_SORT_RATING_DESC,
    REVIEW_SORT_RATING_ASC,
    REVIEW_SORT_COUNT
};

#define REVIEW_TITLE_MAX 150 /* characters */
#define REVIEW_BODY_MAX  5000
#define REVIEW_REPLY_MAX 2000
#define REVIEW_NOTE_MAX  500
#define REVIEW_TOP       3 /* most helpful reviews on a product page */
#define REVIEW_PAGE_MAX  100

const char *review_status_name(enum review_status s);
/** -1 when unknown. */
int review_status_parse(const char *s);
/** -1 when unknown ("helpful", "newest", "rating_desc", "rating_asc"). */
int review_sort_parse(const char *s);

/** What an author writes. For an edit, 0 / NULL leave a field as it was. */
struct review_input {
    int rating;               /* 1..5 */
    const char *title, *body; /* validated by the caller: 1..REVIEW_*_MAX characters */
};

/** A review as read. Strings live in the arena given to the read. */
struct review {
    int64_t id, product_id, user_id;
    const char *author; /* the author's name */
    int rating;
    const char *title, *body;
    enum review_status status;
    bool verified;
    int64_t helpful_count, created_at, updated_at;
    unsigned held_for; /* MOD_* reasons of what is held (private) */
    int edit_rating;   /* 0: no held edit; else the edit (private) */
    const char *edit_title, *edit_body;
    const char *reply; /* NULL: no seller reply */
    int64_t reply_at;
};

/** Writes a review of a published product. *id gets it; *approved whether
 *  it is public at once (else held for moderation). Errors: SHOP_NOT_FOUND
 *  (no such published product), SHOP_CONFLICT (the user already reviewed
 *  it). Nothing changed on error. */
enum shop_err review_create(struct shop *shop, const struct principal *who, int64_t product_id,
                            const struct review_input *in, int64_t *id, bool *approved,
                            struct problem *pb);

/** The author edits their review (moderated again, see above).
 *  SHOP_NOT_FOUND for a review that is not the caller's. */
enum shop_err review_edit(struct shop *shop, const struct principal *who, int64_t id,
                          const struct review_input *in, struct problem *pb);

/** The author deletes their review. SHOP_NOT_FOUND when not theirs. */
enum shop_err review_delete(struct shop *shop, const struct principal *who, int64_t id,
                            struct problem *pb);

/** Counts the caller's helpful vote once (a second changes nothing).
 *  SHOP_NOT_FOUND (not an approved review), SHOP_INVALID (one's own). */
enum shop_err review_vote_helpful(struct shop *shop, const struct principal *who, int64_t id,
                                  struct problem *pb);

/** The product's seller (or an admin) replies once, publicly.
 *  SHOP_NOT_FOUND (not an approved review), SHOP_FORBIDDEN (another
 *  seller's product), SHOP_CONFLICT (already replied). */
enum shop_err review_reply(struct shop *shop, const struct principal *who, int64_t id,
                           const char *body, struct problem *pb);

/** An admin approves or rejects what awaits moderation on review `id`: the
 *  pending review, or its held edit. `note` (may be NULL) goes to history
 *  and the author. SHOP_NOT_FOUND, SHOP_CONFLICT (nothing awaits). */
enum shop_err review_moderate(struct shop *shop, int64_t id, bool approve, const char *note,
                              struct problem *pb);

/** Review `id` as `who` may see it: approved ones to everyone, others to
 *  their author and admins (SHOP_NOT_FOUND otherwise). */
enum shop_err review_get(struct shop *shop, struct arena *a, const struct principal *who,
                         int64_t id, struct review *out, struct problem *pb);

struct review_query {
    int64_t product_id;
    enum review_sort sort;
    int rating;         /* 0: any; else only this rating */
    int limit;          /* 1..REVIEW_PAGE_MAX */
    const char *cursor; /* NULL: the first page */
};

struct review_page {
    struct review *items;
    int n;
    char next_cursor[48]; /* "" on the last page */
};

/** A page of a published product's approved reviews, keyset-paginated
 *  (sort key, id). On the first page the caller's own review comes first
 *  when it is not approved (pending or rejected), which only they see.
 *  SHOP_NOT_FOUND (no published product), SHOP_INVALID "cursor". */
enum shop_err review_list(struct shop *shop, struct arena *a, const struct principal *who,
                          const struct review_query *q, struct review_page *out,
                          struct problem *pb);

/** Admin: reviews oldest first, `status` REVIEW_PENDING meaning everything
 *  that awaits moderation (pending reviews and held edits). */
enum shop_err review_admin_list(struct shop *shop, struct arena *a, enum review_status status,
                                int limit, const char *cursor, struct review_page *out,
                                struct problem *pb);

/** The product page's top reviews: up to `max` approved ones, most helpful
 *  first (then newest). Reads on `db` (the page's snapshot). Returns how
 *  many, -1 on a database error. */
int review_top(struct db *db, struct arena *a, int64_t product_id, struct review *out, int max);

/** The wire form {id, product_id, author:{name}, rating, title, body,
 *  verified_purchase, helpful_count, status, created_at, updated_at,
 *  seller_reply?:{body, created_at}} — shared by the API and the product
 *  page blob; `private_view` (the author, an admin) adds held_for and
 *  pending_edit. */
json_t *review_json(const struct review *r, bool private_view);

#endif
