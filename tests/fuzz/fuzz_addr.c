/* Fuzz target: address parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), host[ADDR_HOST_MAX], svc[ADDR_SERVICE_MAX];
	const char *err;
	int port;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_split(s, host, sizeof(host), &port, &err) == 0) {
		if (port < 0 || port > 65535 || host[0] == '\0' ||
		    strlen(host) >= sizeof(host))
			abort();
	} else if (err == NULL) {
		abort();
	}
	if (addr_split_listen(s, svc, sizeof(svc), host, sizeof(host), &port,
	        &err) == 0 &&
	    (svc[0] == '\0' || port < 0 || port > 65535))
		abort();
	free(s);
	return 0;
}
