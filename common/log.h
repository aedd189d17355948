/* Logging to stderr with levels; one line per message. */
#ifndef EVSOCK_COMMON_LOG_H
#define EVSOCK_COMMON_LOG_H

#include <stddef.h>

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

/* Lines of log_limited a second; the rest are counted. */
#define LOG_LIMIT_PER_SEC 20

/*
 * Like log_msg, for lines that an attack could multiply (a limit
 * closing connections): at most LOG_LIMIT_PER_SEC of them a second,
 * all kinds together.  The others are counted and reported in one
 * line, "suppressed N similar lines", before the next one that is
 * logged or by log_limited_flush.  Safe from any thread.
 */
void log_limited(enum evs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports lines log_limited suppressed in a second that is over;
   call it about once a second. */
void log_limited_flush(void);

#define log_error(...) log_msg(EVS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(EVS_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(EVS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_get_level() >= EVS_LOG_DEBUG) \
			log_msg(EVS_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* How lines look.  PLAIN (the default, for command-line tools):
   "prog: level: message".  TEXT: an RFC 3339 UTC time first (or, when
   stderr is journald's stream, a <N> priority prefix instead).  JSON:
   one object a line with time, level, program and message. */
enum log_format { LOG_FORMAT_PLAIN, LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Sets the line format; with TEXT, checks JOURNAL_STREAM against the
   current stderr (call again after log_open_file). */
void log_set_format(enum log_format format);

/* Parses "text" or "json"; returns 0 or -1. */
int log_parse_format(const char *s, enum log_format *out);

/* Opens path for appending (created 0640) and puts it in place of
   stderr, so that SIGUSR1 after a log rotation can call it again.
   Returns 0, or -1 with errno set (stderr unchanged). */
int log_open_file(const char *path);

/* Writes the RFC 3339 UTC time of `now` (seconds, nanoseconds) with
   milliseconds, "2026-01-02T03:04:05.678Z", into buf; returns buf. */
char *log_format_time(long long sec, long nsec, char *buf, size_t len);

#endif
