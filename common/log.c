#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <evsock/log.h>

#include "log.h"

static enum evs_log_level log_level = EVS_LOG_INFO;
static const char *log_prog;
static void (*log_handler)(enum evs_log_level, const char *, void *);
static void *log_handler_arg;
static enum log_format log_format = LOG_FORMAT_PLAIN;
static int log_journal; /* stderr is journald's stream */

static void log_vmsg(enum evs_log_level, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

/* log_limited's window: the second it counts, lines logged in it and
   lines suppressed since the last summary. */
static pthread_mutex_t log_limit_lock = PTHREAD_MUTEX_INITIALIZER;
static long long log_limit_second = -1;
static unsigned log_limit_lines;
static unsigned long long log_limit_suppressed;
static enum evs_log_level log_limit_level = EVS_LOG_INFO;

void
evs_log_set_level(enum evs_log_level level)
{
	if ((int)level >= (int)EVS_LOG_ERROR &&
	    (int)level <= (int)EVS_LOG_DEBUG)
		log_level = level;
}

void
evs_log_set_handler(void (*fn)(enum evs_log_level, const char *, void *),
    void *arg)
{
	log_handler = fn;
	log_handler_arg = arg;
}

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum evs_log_level level)
{
	log_level = level;
}

enum evs_log_level
log_get_level(void)
{
	return log_level;
}

int
log_parse_level(const char *s, enum evs_log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum evs_log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = EVS_LOG_WARN;
		return 0;
	}
	return -1;
}

void
log_set_prog(const char *prog)
{
	log_prog = prog;
}

/* journald's stream says who it is in JOURNAL_STREAM ("DEV:INODE");
   a redirected stderr no longer matches it. */
static int
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &sb) == -1)
		return 0;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

void
log_set_format(enum log_format format)
{
	log_format = format;
	log_journal = format == LOG_FORMAT_TEXT && log_stderr_is_journal();
}

int
log_parse_format(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

int
log_open_file(const char *path)
{
	int fd, saved;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	    0640);
	if (fd == -1)
		return -1;
	/* dup2 swaps the descriptor in one step, so threads logging at
	   this moment write to the old file or the new one, never to a
	   closed descriptor. */
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	log_set_format(log_format);
	return 0;
}

char *
log_format_time(long long sec, long nsec, char *buf, size_t len)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, nsec / 1000000);
	return buf;
}

/* Appends s to buf[*n..cap) as the inside of a JSON string. */
static void
log_json_escape(char *buf, size_t cap, size_t *n, const char *s)
{
	for (; *s != '\0' && *n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[(*n)++] = '\\';
			buf[(*n)++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			*n += (size_t)snprintf(buf + *n, cap - *n, "\\u%04x",
			    c);
		} else {
			buf[(*n)++] = (char)c;
		}
	}
	buf[*n] = '\0';
}

/* Writes the whole line with one write(2): lines from several
   threads stay whole, and nothing waits in a stdio buffer. */
static void
log_write(const char *line, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(STDERR_FILENO, line, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		line += w;
		len -= (size_t)w;
	}
}

/* syslog(3) priorities journald reads from a "<N>" prefix. */
static const int log_prio[] = { 3, 4, 6, 7 };

void
log_msg(enum evs_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Starts a new window if the second changed; returns the lines to
   report as suppressed now (0: none).  Called under the lock. */
static unsigned long long
log_limit_roll(long long second)
{
	unsigned long long n = 0;

	if (second != log_limit_second) {
		log_limit_second = second;
		log_limit_lines = 0;
		n = log_limit_suppressed;
		log_limit_suppressed = 0;
	}
	return n;
}

static long long
log_limit_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}

void
log_limited(enum evs_log_level level, const char *fmt, ...)
{
	unsigned long long suppressed;
	int saved = errno, allowed;
	va_list ap;

	if (level > log_level)
		return;
	pthread_mutex_lock(&log_limit_lock);
	suppressed = log_limit_roll(log_limit_now());
	allowed = log_limit_lines < LOG_LIMIT_PER_SEC;
	if (allowed)
		log_limit_lines++;
	else
		log_limit_suppressed++;
	log_limit_level = level;
	pthread_mutex_unlock(&log_limit_lock);
	if (suppressed > 0)
		log_msg(level, "suppressed %llu similar lines", suppressed);
	if (allowed) {
		va_start(ap, fmt);
		log_vmsg(level, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

void
log_limited_flush(void)
{
	unsigned long long suppressed = 0;
	enum evs_log_level level;
	long long now = log_limit_now();

	pthread_mutex_lock(&log_limit_lock);
	if (log_limit_suppressed > 0 && now != log_limit_second)
		suppressed = log_limit_roll(now);
	level = log_limit_level;
	pthread_mutex_unlock(&log_limit_lock);
	if (suppressed > 0)
		log_msg(level, "suppressed %llu similar lines", suppressed);
}

static void
log_vmsg(enum evs_log_level level, const char *fmt, va_list ap)
{
	char msg[1024], line[2048], ts[40];
	struct timespec now;
	int saved = errno;
	size_t n = 0;
	int w;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_handler != NULL) {
		log_handler(level, msg, log_handler_arg);
		errno = saved;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	log_format_time((long long)now.tv_sec, now.tv_nsec, ts, sizeof(ts));
	if (log_format == LOG_FORMAT_JSON) {
		w = snprintf(line, sizeof(line),
		    "{\"time\":\"%s\",\"level\":"
		    "\"%s\",\"program\":\"",
		    ts, log_names[level]);
		n = w > 0 ? (size_t)w : 0;
		log_json_escape(line, sizeof(line) - 8, &n,
		    log_prog != NULL ? log_prog : "");
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    "\",\"message\":\"");
		log_json_escape(line, sizeof(line) - 8, &n, msg);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}\n");
		log_write(line, n);
		errno = saved;
		return;
	}
	if (log_format == LOG_FORMAT_TEXT && log_journal)
		w = snprintf(line, sizeof(line), "<%d>", log_prio[level]);
	else if (log_format == LOG_FORMAT_TEXT)
		w = snprintf(line, sizeof(line), "%s ", ts);
	else
		w = 0;
	n = w > 0 ? (size_t)w : 0;
	if (log_prog != NULL && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    "%s: ", log_prog);
	if (level != EVS_LOG_INFO && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    "%s: ", log_names[level]);
	if (n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s\n", msg);
	if (n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_write(line, n);
	errno = saved;
}
