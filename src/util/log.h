/* log.h — structured logs: one JSON object per line on stderr.
 *
 *   log_event(LOG_INFO, "server.listen", "{s:i, s:s}", "port", 8080, "db", path);
 *
 * The format is jansson's json_pack; NULL means no extra members. The access
 * log is separate (http/accesslog.c) because it is high-volume.
 */
#ifndef SHOP_UTIL_LOG_H
#define SHOP_UTIL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/** Sets the minimum level written (default LOG_INFO, or SHOPD_LOG_LEVEL:
 *  debug, warn, error or off). */
void log_set_level(enum log_level level);

void log_event(enum log_level level, const char *event, const char *fmt, ...);

#endif
