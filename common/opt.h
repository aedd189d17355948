/* Option value parsing: counts, sizes, durations, rates. Pure. */
#ifndef EVSOCK_COMMON_OPT_H
#define EVSOCK_COMMON_OPT_H

#include <stdint.h>

/* Parses a decimal integer within [min, max].  Returns 0, or -1 with
   *err set to a static reason. */
int opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **err);

/* Parses a byte count: "512", "64k", "1M", "2G", "1MiB" (powers of two).
   Returns 0 or -1 with *err. */
int opt_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **err);

/* Parses a duration into milliseconds: "5" or "5s", "250ms", "2m", "1h",
   "0.5s".  Returns 0 or -1 with *err. */
int opt_parse_duration(const char *s, uint64_t max_ms, uint64_t *ms,
    const char **err);

/* Parses a non-negative decimal number ("1000", "0.5") at most max.
   Returns 0 or -1 with *err. */
int opt_parse_double(const char *s, double max, double *out, const char **err);

#endif
