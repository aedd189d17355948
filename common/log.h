/*
 * Logging to stderr with levels; one line per message.  The levels are
 * the public enum evs_log_level, so the library's handler sees them as
 * they are.
 */
#ifndef EVSOCK_COMMON_LOG_H
#define EVSOCK_COMMON_LOG_H

#include <evsock/log.h>

/* Sets the most verbose level that is printed (default INFO). */
void log_set_level(enum evs_log_level level);

/* Returns the current level. */
enum evs_log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns 0 or -1. */
int log_parse_level(const char *s, enum evs_log_level *out);

/* Sets the program name printed in front of each line (not copied). */
void log_set_prog(const char *prog);

/* Prints one line at `level` if enabled; errno is preserved. */
void log_msg(enum evs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(EVS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(EVS_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(EVS_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                        \
	do {                                                  \
		if (log_get_level() >= EVS_LOG_DEBUG)         \
			log_msg(EVS_LOG_DEBUG, __VA_ARGS__);  \
	} while (0)

#endif
