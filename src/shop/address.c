#include "shop/address.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "shop/keylock.h"
#include "shop/shop.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/jsonx.h"

/* ISO 3166-1 alpha-2, officially assigned codes. */
static const char countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW";

bool address_country_valid(const char *cc)
{
    if (strlen(cc) != 2 || !isupper((unsigned char)cc[0]) || !isupper((unsigned char)cc[1]))
        return false;
    for (const char *p = countries; p[0] && p[1]; p += p[2] ? 3 : 2)
        if (p[0] == cc[0] && p[1] == cc[1])
            return true;
    return false;
}

/* Postal formats: '9' a digit, 'A' a letter (either case), anything else
 * itself; alternatives separated by '|'. */
static const struct {
    const char *cc, *formats;
} postal_formats[] = {
    {"US", "99999|99999-9999"},
    {"CA", "A9A 9A9|A9A9A9"},
    {"GB", "A9 9AA|A99 9AA|AA9 9AA|AA99 9AA|A9A 9AA|AA9A 9AA|"
           "A99AA|A999AA|AA99AA|AA999AA|A9A9AA|AA9A9AA"},
    {"DE", "99999"},
    {"IN", "999999|999 999"},
    {"FR", "99999"},
    {"AU", "9999"},
    {"JP", "999-9999|9999999"},
};

static bool fits(const char *fmt, size_t flen, const char *s)
{
    size_t i = 0;
    for (; i < flen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!c)
            return false;
        if (fmt[i] == '9' ? !isdigit(c) : fmt[i] == 'A' ? !isalpha(c) : c != (unsigned char)fmt[i])
            return false;
    }
    return s[i] == '\0';
}

bool address_postal_valid(const char *cc, const char *postal)
{
    for (size_t k = 0; k < sizeof postal_formats / sizeof postal_formats[0]; k++) {
        if (strcmp(cc, postal_formats[k].cc) != 0)
            continue;
        const char *f = postal_formats[k].formats;
        for (;;) {
            size_t n = strcspn(f, "|");
            if (fits(f, n, postal))
                return true;
            if (!f[n])
                return false;
            f += n + 1;
        }
    }
    size_t n = strlen(postal);
    return n >= 1 && n <= 16;
}

static bool phone_valid(const char *p)
{
    int digits = 0;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (!strchr("+-() .", *p))
            return false;
    }
    return digits >= 5 && digits <= 20;
}

/* True when `s` has no character but white space: no value at all. */
static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

enum shop_err address_validate(const struct address *a, struct problem *pb)
{
    static const struct {
        const char *name;
        size_t offset, max;
        bool required;
    } fields[] = {
        {"name", offsetof(struct address, name), 100, true},
        {"line1", offsetof(struct address, line1), 200, true},
        {"line2", offsetof(struct address, line2), 200, false},
        {"city", offsetof(struct address, city), 100, true},
        {"region", offsetof(struct address, region), 100, false},
        {"postal_code", offsetof(struct address, postal_code), 16, true},
        {"country", offsetof(struct address, country), 2, true},
        {"phone", offsetof(struct address, phone), 32, false},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *v = *(const char *const *)((const char *)a + fields[i].offset);
        if (!v || blank(v)) {
            if (fields[i].required)
                problem_field(pb, SHOP_INVALID, fields[i].name, "is required");
        } else if (jx_utf8_len(v) > fields[i].max) {
            problem_field(pb, SHOP_INVALID, fields[i].name, "must be at most %zu characters",
                          fields[i].max);
        }
    }
    if (a->country && *a->country && !address_country_valid(a->country))
        problem_field(pb, SHOP_INVALID, "country", "must be an ISO 3166-1 alpha-2 code such as US");
    else if (a->country && a->postal_code && *a->postal_code &&
             !address_postal_valid(a->country, a->postal_code))
        problem_field(pb, SHOP_INVALID, "postal_code", "is not a valid postal code for %s",
                      a->country);
    if (a->phone && *a->phone && !phone_valid(a->phone))
        problem_field(pb, SHOP_INVALID, "phone", "must be a phone number (digits, + - ( ) . space)");
    return pb->err;
}

enum shop_err address_from_json(json_t *o, bool partial, struct arena *ar, struct address *a,
                                struct problem *pb)
{
    /* Presence is checked by address_validate, which names what is missing.
     * In a PATCH a null clears a field: an optional one (line2, region,
     * phone) is gone, a required one is refused as missing. */
    enum jx_need need = JX_OPTIONAL;
    const char *s;
#define STR(key, max)                                                                              \
    if (jx_str(o, #key, NULL, need, 0, max, &s, pb))                                               \
        a->key = arena_strdup(ar, s);                                                              \
    else if (!partial || json_is_null(json_object_get(o, #key)))                                   \
        a->key = NULL;
    STR(name, 100)
    STR(line1, 200)
    STR(line2, 200)
    STR(city, 100)
    STR(region, 100)
    STR(postal_code, 16)
    STR(country, 2)
    STR(phone, 32)
#undef STR
    if (a->country) {
        char *cc = arena_strdup(ar, a->country);
        for (char *p = cc; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        a->country = cc;
    }
    bool d;
    if (jx_bool(o, "is_default", NULL, JX_OPTIONAL, &d, pb))
        a->is_default = d;
    if (pb->err)
        return pb->err;
    return address_validate(a, pb);
}

json_t *address_to_json(const struct address *a)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s?, s:s, s:s?, s:s, s:s, s:s?, s:b}", "id",
                          (json_int_t)a->id, "name", a->name, "line1", a->line1, "line2", a->line2,
                          "city", a->city, "region", a->region, "postal_code", a->postal_code,
                          "country", a->country, "phone", a->phone, "is_default", a->is_default);
    char ts[RFC3339_LEN];
    json_object_set_new(o, "created_at", json_string(clock_fmt(a->created_at, ts)));
    return o;
}

#define ADDRESS_COLS                                                                               \
    "id, user_id, name, line1, line2, city, region, postal_code, country, phone, is_default,"    \
    " created_at"

static const char *opt(struct arena *ar, struct stmt *st, int col)
{
    return stmt_is_null(st, col) ? NULL : arena_strdup(ar, stmt_text(st, col));
}

static void row_to_address(struct arena *ar, struct stmt *st, struct address *a)
{
    a->id = stmt_i64(st, 0);
    a->user_id = stmt_i64(st, 1);
    a->name = opt(ar, st, 2);
    a->line1 = opt(ar, st, 3);
    a->line2 = opt(ar, st, 4);
    a->city = opt(ar, st, 5);
    a->region = opt(ar, st, 6);
    a->postal_code = opt(ar, st, 7);
    a->country = opt(ar, st, 8);
    a->phone = opt(ar, st, 9);
    a->is_default = stmt_i64(st, 10) != 0;
    a->created_at = stmt_i64(st, 11);
}

enum shop_err address_list(struct shop *shop, struct arena *ar, int64_t user_id,
                           struct address **out, int *n, struct problem *pb)
{
    struct db *db = store_db(shop->store);
    struct stmt *st = db_prepare(db, "SELECT " ADDRESS_COLS " FROM addresses WHERE user_id = ?"
                                     " ORDER BY is_default DESC, id DESC");
    if (!st)
        return db_fail(db, pb, "listing addresses");
    stmt_bind_i64(st, 1, user_id);
    struct address *list = arena_alloc(ar, sizeof *list * ADDRESS_MAX);
    int k = 0, rc = STMT_DONE;
    while (k < ADDRESS_MAX && (rc = stmt_step(st)) == STMT_ROW)
        row_to_address(ar, st, &list[k++]);
    if (rc != STMT_DONE && rc != STMT_ROW) /* STMT_ROW: stopped at ADDRESS_MAX */
        return db_fail(db, pb, "listing addresses");
    *out = list;
    *n = k;
    return SHOP_OK;
}

enum shop_err address_read(struct db *db, struct arena *ar, int64_t user_id, int64_t id,
                           struct address *out, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "SELECT " ADDRESS_COLS " FROM addresses"
                                     " WHERE id = ? AND user_id = ?");
    if (!st)
        return db_fail(db, pb, "reading an address");
    stmt_bind_i64(st, 1, id);
    stmt_bind_i64(st, 2, user_id);
    int rc = stmt_step(st);
    if (rc != STMT_ROW) /* a failed read is no missing address */
        return rc == STMT_DONE ? problem_set(pb, SHOP_NOT_FOUND, "no address %lld", (long long)id)
                               : db_fail(db, pb, "reading an address");
    row_to_address(ar, st, out);
    return SHOP_OK;
}

enum shop_err address_get(struct shop *shop, struct arena *ar, int64_t user_id, int64_t id,
                          struct address *out, struct problem *pb)
{
    return address_read(store_db(shop->store), ar, user_id, id, out, pb);
}

/* ---- writes ------------------------------------------------------------------ */

struct address_job {
    struct arena *ar;
    int64_t user_id, id;
    json_t *body;
    struct address a; /* in/out */
    bool wants_default; /* create: as asked (the first address is the default anyway) */
    int64_t now;
};

static enum shop_err clear_default(struct db *db, int64_t user_id, int64_t keep, struct problem *pb)
{
    struct stmt *st = db_prepare(db, "UPDATE addresses SET is_default = 0 WHERE user_id = ?"
                                     " AND id <> ? AND is_default = 1");
    if (!st)
        return db_fail(db, pb, "updating the default address");
    stmt_bind_i64(st, 1, user_id);
    stmt_bind_i64(st, 2, keep);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "updating the default address");
}

static void bind_fields(struct stmt *st, const struct address *a)
{
    stmt_bind_text(st, 1, a->name);
    stmt_bind_text(st, 2, a->line1);
    stmt_bind_text(st, 3, a->line2);
    stmt_bind_text(st, 4, a->city);
    stmt_bind_text(st, 5, a->region);
    stmt_bind_text(st, 6, a->postal_code);
    stmt_bind_text(st, 7, a->country);
    stmt_bind_text(st, 8, a->phone);
    stmt_bind_i64(st, 9, a->is_default);
}

static enum shop_err create_write(struct db *db, void *arg, struct problem *pb)
{
    struct address_job *j = arg;
    char key[48];
    snprintf(key, sizeof key, "addresses:%lld", (long long)j->user_id);
    if (keylock(db, (const char *const[]){key}, 1, pb) != SHOP_OK)
        return pb->err;
    int64_t count;
    if (db_scalar_i64_or_fail(db, "SELECT count(*) FROM addresses WHERE user_id = ?", j->user_id, 0,
                              &count, pb, "counting addresses") != SHOP_OK)
        return pb->err;
    if (count >= ADDRESS_MAX)
        return problem_set(pb, SHOP_CONFLICT, "an address book holds at most %d addresses",
                           ADDRESS_MAX);
    j->a.is_default = j->wants_default || count == 0; /* a write may run twice */
    struct stmt *st = db_prepare(db, "INSERT INTO addresses (name, line1, line2, city, region,"
                                     " postal_code, country, phone, is_default, user_id, created_at,"
                                     " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return db_fail(db, pb, "saving the address");
    bind_fields(st, &j->a);
    stmt_bind_i64(st, 10, j->user_id);
    stmt_bind_i64(st, 11, j->now);
    stmt_bind_i64(st, 12, j->now);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "saving the address");
    j->a.id = db_last_id(db);
    j->a.user_id = j->user_id;
    j->a.created_at = j->now;
    return j->a.is_default ? clear_default(db, j->user_id, j->a.id, pb) : SHOP_OK;
}

enum shop_err address_create(struct shop *shop, struct arena *ar, int64_t user_id, json_t *body,
                             struct address *out, struct problem *pb)
{
    struct address_job j = {.ar = ar, .user_id = user_id, .now = clock_now_ms()};
    if (address_from_json(body, false, ar, &j.a, pb) != SHOP_OK)
        return pb->err;
    j.wants_default = j.a.is_default;
    enum shop_err e = store_write(shop->store, create_write, &j, pb);
    if (e == SHOP_OK)
        *out = j.a;
    return e;
}

static enum shop_err update_write(struct db *db, void *arg, struct problem *pb)
{
    struct address_job *j = arg;
    struct address a;
    if (address_read(db, j->ar, j->user_id, j->id, &a, pb) != SHOP_OK)
        return pb->err;
    bool was_default = a.is_default;
    if (address_from_json(j->body, true, j->ar, &a, pb) != SHOP_OK)
        return pb->err;
    if (was_default && !a.is_default)
        return problem_field(pb, SHOP_INVALID, "is_default",
                             "make another address the default instead");
    struct stmt *st = db_prepare(db, "UPDATE addresses SET name = ?, line1 = ?, line2 = ?,"
                                     " city = ?, region = ?, postal_code = ?, country = ?,"
                                     " phone = ?, is_default = ?, updated_at = ?"
                                     " WHERE id = ? AND user_id = ?");
    if (!st)
        return db_fail(db, pb, "updating the address");
    bind_fields(st, &a);
    stmt_bind_i64(st, 10, j->now);
    stmt_bind_i64(st, 11, j->id);
    stmt_bind_i64(st, 12, j->user_id);
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "updating the address");
    j->a = a;
    return a.is_default ? clear_default(db, j->user_id, a.id, pb) : SHOP_OK;
}

enum shop_err address_update(struct shop *shop, struct arena *ar, int64_t user_id, int64_t id,
                             json_t *body, struct address *out, struct problem *pb)
{
    struct address_job j = {.ar = ar, .user_id = user_id, .id = id, .body = body,
                            .now = clock_now_ms()};
    enum shop_err e = store_write(shop->store, update_write, &j, pb);
    if (e == SHOP_OK)
        *out = j.a;
    return e;
}

static enum shop_err delete_write(struct db *db, void *arg, struct problem *pb)
{
    struct address_job *j = arg;
    struct stmt *st = db_prepare(db, "DELETE FROM addresses WHERE id = ? AND user_id = ?"
                                     " RETURNING is_default");
    if (!st)
        return db_fail(db, pb, "deleting the address");
    stmt_bind_i64(st, 1, j->id);
    stmt_bind_i64(st, 2, j->user_id);
    if (stmt_step(st) != STMT_ROW)
        return problem_set(pb, SHOP_NOT_FOUND, "no address %lld", (long long)j->id);
    bool was_default = stmt_i64(st, 0) != 0;
    if (stmt_step(st) != STMT_DONE)
        return db_fail(db, pb, "deleting the address");
    if (!was_default)
        return SHOP_OK;
    st = db_prepare(db, "UPDATE addresses SET is_default = 1 WHERE id ="
                        " (SELECT max(id) FROM addresses WHERE user_id = ?)");
    if (!st)
        return db_fail(db, pb, "choosing a new default address");
    stmt_bind_i64(st, 1, j->user_id);
    return stmt_step(st) == STMT_DONE ? SHOP_OK : db_fail(db, pb, "choosing a new default address");
}

enum shop_err address_delete(struct shop *shop, int64_t user_id, int64_t id, struct problem *pb)
{
    struct address_job j = {.user_id = user_id, .id = id};
    return store_write(shop->store, delete_write, &j, pb);
}
