/* tz.c — TZif reading and calendar arithmetic (tz.h). */
#include "util/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

struct tz {
    int n;           /* transitions */
    int64_t *at;     /* UTC seconds, ascending */
    int32_t *offset; /* the offset from at[i] on */
    int32_t before;  /* the offset before at[0] */
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '/' || *c == '_' || *c == '-' || *c == '+'))
            return false;
    return true;
}

/* Parses the TZif data in buf (len bytes); the 64-bit section when there is one. */
static struct tz *parse(const unsigned char *buf, size_t len)
{
    if (len < 44 || memcmp(buf, "TZif", 4))
        return NULL;
    int version = buf[4];
    size_t pos = 0;
    int tsize = 4;
    for (int pass = 0; pass < 2; pass++) {
        if (pos + 44 > len || memcmp(buf + pos, "TZif", 4))
            return NULL;
        const unsigned char *h = buf + pos + 20;
        uint32_t isut = be32(h), isstd = be32(h + 4), leap = be32(h + 8), timecnt = be32(h + 12),
                 typecnt = be32(h + 16), charcnt = be32(h + 20);
        if (timecnt > 100000 || typecnt == 0 || typecnt > 256)
            return NULL;
        size_t body = (size_t)timecnt * tsize + timecnt + typecnt * 6 + charcnt +
                      (size_t)leap * (tsize + 4) + isstd + isut;
        if (pos + 44 + body > len)
            return NULL;
        if (pass == 0 && version >= '2') {
            pos += 44 + body; /* skip the 32-bit section */
            tsize = 8;
            continue;
        }
        const unsigned char *times = buf + pos + 44;
        const unsigned char *idx = times + (size_t)timecnt * tsize;
        const unsigned char *types = idx + timecnt;
        struct tz *z = xcalloc(1, sizeof *z);
        z->n = (int)timecnt;
        z->at = xcalloc(timecnt ? timecnt : 1, sizeof *z->at);
        z->offset = xcalloc(timecnt ? timecnt : 1, sizeof *z->offset);
        /* Before the first transition: the first standard-time type. */
        z->before = (int32_t)be32(types);
        for (uint32_t t = 0; t < typecnt; t++)
            if (!types[t * 6 + 4]) {
                z->before = (int32_t)be32(types + t * 6);
                break;
            }
        for (uint32_t i = 0; i < timecnt; i++) {
            z->at[i] = tsize == 8 ? be64(times + i * 8) : (int32_t)be32(times + i * 4);
            unsigned k = idx[i] < typecnt ? idx[i] : 0;
            z->offset[i] = (int32_t)be32(types + k * 6);
        }
        return z;
    }
    return NULL;
}

struct tz *tz_load(const char *name)
{
    if (!name || !*name || !strcmp(name, "UTC") || !strcmp(name, "Etc/UTC"))
        return xcalloc(1, sizeof(struct tz));
    if (!name_ok(name))
        return NULL;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = xmalloc(cap);
    len = fread(buf, 1, cap, f);
    fclose(f);
    struct tz *z = parse(buf, len);
    free(buf);
    return z;
}

void tz_free(struct tz *z)
{
    if (!z)
        return;
    free(z->at);
    free(z->offset);
    free(z);
}

int32_t tz_offset(const struct tz *z, int64_t t)
{
    if (!z || z->n == 0)
        return z ? z->before : 0;
    if (t < z->at[0])
        return z->before;
    int lo = 0, hi = z->n - 1; /* the last at[i] <= t */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return z->offset[lo];
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t tz_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

int32_t tz_days_ymd(int64_t days)
{
    int y, m, d;
    tz_civil_from_days(days, &y, &m, &d);
    return y * 10000 + m * 100 + d;
}

int64_t tz_ymd_days(int32_t ymd)
{
    return tz_days_from_civil(ymd / 10000, ymd / 100 % 100, ymd % 100);
}

int32_t tz_local_day(const struct tz *z, int64_t ms)
{
    int64_t s = (ms >= 0 ? ms : ms - 999) / 1000;
    s += tz_offset(z, s);
    int64_t days = (s >= 0 ? s : s - 86399) / 86400;
    return tz_days_ymd(days);
}

bool tz_parse_date(const char *s, int32_t *out)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int v[3] = {0, 0, 0}; /* the digits were checked above */
    for (int i = 0, k = 0; i < 10; i++)
        if (i == 4 || i == 7)
            k++;
        else
            v[k] = v[k] * 10 + (s[i] - '0');
    int y = v[0], m = v[1], d = v[2];
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    int y2, m2, d2;
    tz_civil_from_days(tz_days_from_civil(y, m, d), &y2, &m2, &d2);
    if (y2 != y || m2 != m || d2 != d)
        return false; /* 2023-02-30 */
    *out = y * 10000 + m * 100 + d;
    return true;
}
