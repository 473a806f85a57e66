/* faults.c — failures on demand (faults.h has the essay).
 *
 * The armed faults live in a table under one mutex: only reached once
 * `faults_on` says something is armed, so the lock costs nothing in
 * production and serialises the counting (the Nth is the Nth) in tests.
 */
#include "util/faults.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_int faults_on;

static const char *const point_names[FP_COUNT] = {
    "store.stmt",     "store.read",     "store.commit",         "gateway.authorize",
    "gateway.capture", "gateway.void",   "gateway.refund",       "gateway.status",
    "carrier.create_label", "notify.send",
};
static const char *const mode_names[] = {"none", "error", "timeout", "lost", "busy", "count"};

struct slot {
    struct fault_spec f;
    bool armed, used;
    int64_t hits, fired;
    char last[160]; /* the detail (SQL) of the last hit that failed */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[FP_COUNT];

int faults_point_parse(const char *name)
{
    for (int i = 0; i < FP_COUNT; i++)
        if (name && !strcmp(name, point_names[i]))
            return i;
    return -1;
}

int faults_mode_parse(const char *name)
{
    for (int i = FM_ERROR; i <= FM_COUNT; i++)
        if (name && !strcmp(name, mode_names[i]))
            return i;
    return -1;
}

const char *faults_point_name(enum fault_point p)
{
    return (unsigned)p < FP_COUNT ? point_names[p] : "?";
}

const char *faults_mode_name(enum fault_mode m)
{
    return (unsigned)m <= FM_COUNT ? mode_names[m] : "?";
}

static void recount(void)
{
    int n = 0;
    for (int i = 0; i < FP_COUNT; i++)
        n += slots[i].armed;
    atomic_store_explicit(&faults_on, n, memory_order_relaxed);
}

enum fault_mode faults_hit(enum fault_point p, const char *detail)
{
    if ((unsigned)p >= FP_COUNT)
        return FM_NONE;
    enum fault_mode m = FM_NONE;
    pthread_mutex_lock(&mu);
    struct slot *s = &slots[p];
    if (s->armed && (!s->f.match[0] || (detail && strstr(detail, s->f.match)))) {
        int64_t n = ++s->hits;
        if (s->f.mode != FM_COUNT && n >= s->f.nth &&
            (s->f.times == 0 || n < s->f.nth + s->f.times)) {
            m = s->f.mode;
            s->fired++;
            snprintf(s->last, sizeof s->last, "%s", detail ? detail : "");
        }
    }
    pthread_mutex_unlock(&mu);
    return m;
}

void faults_arm(const struct fault_spec *f)
{
    if ((unsigned)f->point >= FP_COUNT)
        return;
    pthread_mutex_lock(&mu);
    struct slot *s = &slots[f->point];
    *s = (struct slot){.f = *f, .armed = true, .used = true};
    if (s->f.nth < 1)
        s->f.nth = 1;
    if (s->f.times < 0)
        s->f.times = 1;
    if (s->f.mode <= FM_NONE || s->f.mode > FM_COUNT)
        s->f.mode = FM_ERROR;
    recount();
    pthread_mutex_unlock(&mu);
}

void faults_disarm(enum fault_point p)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < FP_COUNT; i++)
        if (p == FP_COUNT || (int)p == i)
            slots[i].armed = false;
    recount();
    pthread_mutex_unlock(&mu);
}

json_t *faults_report(void)
{
    json_t *a = json_array();
    pthread_mutex_lock(&mu);
    for (int i = 0; i < FP_COUNT; i++) {
        const struct slot *s = &slots[i];
        if (!s->used)
            continue;
        json_array_append_new(
            a, json_pack("{s:s, s:b, s:I, s:I, s:s, s:s, s:I, s:I, s:s}", "point", point_names[i],
                         "armed", s->armed, "nth", (json_int_t)s->f.nth, "times",
                         (json_int_t)s->f.times, "mode", mode_names[s->f.mode], "match",
                         s->f.match, "hits", (json_int_t)s->hits, "fired",
                         (json_int_t)s->fired, "failed", s->last));
    }
    pthread_mutex_unlock(&mu);
    return a;
}

/* One "point:k=v:k=v" item into `f`. */
static bool parse_item(char *item, struct fault_spec *f, char *err, size_t errlen)
{
    char *save = NULL;
    char *name = strtok_r(item, ":", &save);
    int p = faults_point_parse(name);
    if (p < 0) {
        snprintf(err, errlen, "unknown fault point '%s'", name ? name : "");
        return false;
    }
    *f = (struct fault_spec){.point = (enum fault_point)p, .nth = 1, .times = 1, .mode = FM_ERROR};
    for (char *kv = strtok_r(NULL, ":", &save); kv; kv = strtok_r(NULL, ":", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "'%s' is not key=value", kv);
            return false;
        }
        *eq = '\0';
        const char *v = eq + 1;
        char *end = NULL;
        if (!strcmp(kv, "n") || !strcmp(kv, "times")) {
            long long n = strtoll(v, &end, 10);
            if (!*v || *end || n < (kv[0] == 'n' ? 1 : 0) || n > 1000000000) {
                snprintf(err, errlen, "%s=%s is not a count", kv, v);
                return false;
            }
            if (kv[0] == 'n')
                f->nth = n;
            else
                f->times = n;
        } else if (!strcmp(kv, "mode")) {
            int m = faults_mode_parse(v);
            if (m < 0) {
                snprintf(err, errlen, "unknown fault mode '%s'", v);
                return false;
            }
            f->mode = (enum fault_mode)m;
        } else if (!strcmp(kv, "match")) {
            snprintf(f->match, sizeof f->match, "%s", v);
        } else {
            snprintf(err, errlen, "unknown fault field '%s'", kv);
            return false;
        }
    }
    return true;
}

bool faults_configure(const char *spec, char *err, size_t errlen)
{
    if (!spec || !*spec)
        return true;
    char *copy = strdup(spec);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    struct fault_spec fs[FP_COUNT * 2];
    int n = 0;
    bool ok = true;
    char *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item && ok; item = strtok_r(NULL, ";", &save)) {
        if (!*item)
            continue;
        if (n == (int)(sizeof fs / sizeof fs[0])) {
            snprintf(err, errlen, "too many faults");
            ok = false;
            break;
        }
        ok = parse_item(item, &fs[n++], err, errlen);
    }
    free(copy);
    if (ok)
        for (int i = 0; i < n; i++)
            faults_arm(&fs[i]);
    return ok;
}
