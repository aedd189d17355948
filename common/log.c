#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum evs_log_level log_level = EVS_LOG_INFO;
static const char *log_prog;
static void (*log_handler)(enum evs_log_level, const char *, void *);
static void *log_handler_arg;

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

void
log_msg(enum evs_log_level level, const char *fmt, ...)
{
	char line[1024];
	int saved = errno;
	va_list ap;
	int n = 0;

	if (level > log_level)
		return;
	if (log_handler != NULL) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_handler(level, line, log_handler_arg);
		errno = saved;
		return;
	}
	if (log_prog != NULL)
		n = snprintf(line, sizeof(line), "%s: ", log_prog);
	if (level != EVS_LOG_INFO && n >= 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ",
		    log_names[level]);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line keeps lines whole when several threads log. */
	fprintf(stderr, "%s\n", line);
	errno = saved;
}
