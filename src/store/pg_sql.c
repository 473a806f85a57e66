#include "store/pg_sql.h"

#include <ctype.h>
#include <string.h>

#include "util/buf.h"

#define MAX_PARAM 999

/* Copies a quoted run ('…' or "…", a doubled quote staying inside) from
 * `p` (at the opening quote) into `out`; returns what follows it. */
static const char *copy_quoted(const char *p, struct buf *out)
{
    char q = *p;
    const char *start = p++;
    while (*p) {
        if (*p == q && p[1] == q)
            p += 2;
        else if (*p == q) {
            p++;
            break;
        } else
            p++;
    }
    buf_append(out, start, (size_t)(p - start));
    return p;
}

char *pg_translate(const char *sql, int *nparams)
{
    struct buf out;
    buf_init(&out, 1 << 20);
    int highest = 0;
    const char *p = sql;
    while (*p) {
        if (*p == '\'' || *p == '"') {
            p = copy_quoted(p, &out);
        } else if (p[0] == '-' && p[1] == '-') {
            const char *end = strchr(p, '\n');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            buf_append(&out, p, n);
            p += n;
        } else if (*p == '?') {
            p++;
            int n = 0;
            if (isdigit((unsigned char)*p)) {
                while (isdigit((unsigned char)*p) && n <= MAX_PARAM)
                    n = n * 10 + (*p++ - '0');
                if (n < 1 || n > MAX_PARAM) {
                    buf_free(&out);
                    return NULL;
                }
            } else {
                n = highest + 1;
            }
            if (n > highest)
                highest = n;
            buf_printf(&out, "$%d", n);
        } else {
            buf_append(&out, p, 1);
            p++;
        }
    }
    *nparams = highest;
    if (!out.data)
        buf_puts(&out, "");
    return buf_steal(&out, NULL);
}
