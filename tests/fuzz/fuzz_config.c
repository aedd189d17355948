/* Fuzz target: evsockd's option parsing and the value parsers.  The
   input is split on NUL bytes into an argument vector. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/opt.h"
#include "../../server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[34], err[512];
	struct config cfg;
	const char *why;
	uint64_t v;
	double d;
	int argc = 1;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "evsockd";
	for (char *p = buf; p < buf + size && argc < 33;) {
		argv[argc++] = p;
		p += strlen(p) + 1;
	}
	argv[argc] = NULL;
	if (config_parse(&cfg, argc, argv, err, sizeof(err)) == 0) {
		if (cfg.nlisten == 0 || cfg.nlisten > CONFIG_MAX_LISTEN)
			abort();
	} else if (err[0] == '\0') {
		abort();
	}
	config_free(&cfg);
	(void)opt_parse_uint(buf, 0, UINT64_MAX, &v, &why);
	(void)opt_parse_size(buf, 0, UINT64_MAX, &v, &why);
	(void)opt_parse_duration(buf, UINT64_MAX / 2, &v, &why);
	(void)opt_parse_double(buf, 1e300, &d, &why);
	(void)config_check_hash(buf);
	free(buf);
	return 0;
}
