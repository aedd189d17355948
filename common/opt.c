#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opt.h"

static int opt_digits(const char *s, const char **end, uint64_t *out);

/* Reads decimal digits with overflow detection. */
static int
opt_digits(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*end = p;
	*out = v;
	return 0;
}

int
opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **err)
{
	const char *end;
	uint64_t v;

	if (s == NULL || opt_digits(s, &end, &v) == -1 || *end != '\0') {
		*err = "expected a whole number";
		return -1;
	}
	if (v < min || v > max) {
		*err = "number out of range";
		return -1;
	}
	*out = v;
	return 0;
}

int
opt_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **err)
{
	const char *end;
	uint64_t v, mult = 1;

	if (s == NULL || opt_digits(s, &end, &v) == -1) {
		*err = "expected a size such as 512, 64k or 1M";
		return -1;
	}
	if (*end != '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			mult = 1024ULL;
			break;
		case 'm':
		case 'M':
			mult = 1024ULL * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024ULL * 1024 * 1024;
			break;
		default:
			*err = "unknown size suffix (use k, M or G)";
			return -1;
		}
		end++;
		if (strcasecmp(end, "ib") != 0 && strcasecmp(end, "b") != 0 &&
		    *end != '\0') {
			*err = "unknown size suffix (use k, M or G)";
			return -1;
		}
	}
	if (v != 0 && mult > UINT64_MAX / v) {
		*err = "size too large";
		return -1;
	}
	v *= mult;
	if (v < min || v > max) {
		*err = "size out of range";
		return -1;
	}
	*out = v;
	return 0;
}

int
opt_parse_duration(const char *s, uint64_t max_ms, uint64_t *ms,
    const char **err)
{
	double v, mult;
	char *end;

	if (s == NULL || *s < '0' || *s > '9') {
		*err = "expected a duration such as 5s, 250ms or 2m";
		return -1;
	}
	v = strtod(s, &end);
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000.0;
	else if (strcmp(end, "ms") == 0)
		mult = 1.0;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000.0;
	else if (strcmp(end, "h") == 0)
		mult = 3600000.0;
	else {
		*err = "unknown duration unit (use ms, s, m or h)";
		return -1;
	}
	v *= mult;
	if (!isfinite(v) || v < 0 || v > (double)max_ms) {
		*err = "duration out of range";
		return -1;
	}
	*ms = (uint64_t)llround(v);
	return 0;
}

int
opt_parse_double(const char *s, double max, double *out, const char **err)
{
	char *end;
	double v;

	if (s == NULL || ((*s < '0' || *s > '9') && *s != '.')) {
		*err = "expected a number";
		return -1;
	}
	v = strtod(s, &end);
	if (*end != '\0' || !isfinite(v)) {
		*err = "expected a number";
		return -1;
	}
	if (v < 0 || v > max) {
		*err = "number out of range";
		return -1;
	}
	*out = v;
	return 0;
}
