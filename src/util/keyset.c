#include "util/keyset.h"

#include <errno.h>
#include <stdlib.h>

bool keyset_id_parse(const char *s, int64_t *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || v <= 0)
        return false;
    *id = v;
    return true;
}

bool keyset_pair_parse(const char *s, int64_t *key, int64_t *id)
{
    char *end;
    errno = 0;
    long long k = strtoll(s, &end, 10);
    if (errno || end == s || *end != '.' || k < 0)
        return false;
    const char *p = end + 1;
    long long i = strtoll(p, &end, 10);
    if (errno || end == p || *end || i <= 0)
        return false;
    *key = k;
    *id = i;
    return true;
}
