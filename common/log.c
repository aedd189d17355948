#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum log_level log_level = LOG_LEVEL_INFO;
static const char *log_prog;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
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
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	int saved = errno;
	va_list ap;
	int n = 0;

	if (level > log_level)
		return;
	if (log_prog != NULL)
		n = snprintf(line, sizeof(line), "%s: ", log_prog);
	if (level != LOG_LEVEL_INFO && n >= 0 && (size_t)n < sizeof(line))
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
