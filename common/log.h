/* Logging to stderr with levels; one line per message. */
#ifndef EVSOCK_COMMON_LOG_H
#define EVSOCK_COMMON_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Sets the most verbose level that is printed (default INFO). */
void log_set_level(enum log_level level);

/* Returns the current level. */
enum log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns 0 or -1. */
int log_parse_level(const char *s, enum log_level *out);

/* Sets the program name printed in front of each line (not copied). */
void log_set_prog(const char *prog);

/* Prints one line at `level` if enabled; errno is preserved. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                \
	do {                                                          \
		if (log_get_level() >= LOG_LEVEL_DEBUG)               \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);        \
	} while (0)

#endif
