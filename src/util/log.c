#include "util/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

static int min_level = LOG_INFO; /* LOG_ERROR + 1: nothing (SHOPD_LOG_LEVEL=off) */
static int level_from_env = -1;

void log_set_level(enum log_level level)
{
    min_level = level;
    level_from_env = 1;
}

static void init_level(void)
{
    if (level_from_env >= 0)
        return;
    const char *e = getenv("SHOPD_LOG_LEVEL");
    if (e) {
        if (!strcmp(e, "debug"))
            min_level = LOG_DEBUG;
        else if (!strcmp(e, "warn"))
            min_level = LOG_WARN;
        else if (!strcmp(e, "error"))
            min_level = LOG_ERROR;
        else if (!strcmp(e, "off"))
            min_level = LOG_ERROR + 1;
    }
    level_from_env = 1;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    init_level();
    if ((int)level < min_level)
        return;
    json_t *o = NULL;
    if (fmt) {
        va_list ap;
        json_error_t e;
        va_start(ap, fmt);
        o = json_vpack_ex(&e, 0, fmt, ap);
        va_end(ap);
    }
    char ts[RFC3339_LEN];
    json_t *line = json_pack("{s:s, s:s, s:s}", "ts", clock_fmt(clock_now_ms(), ts), "level",
                             names[level], "event", event);
    if (json_is_object(o))
        json_object_update(line, o);
    json_decref(o);
    o = line;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    json_decref(o);
}
