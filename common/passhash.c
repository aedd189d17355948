#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "passhash.h"

int
passhash_usable(const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *out;
	int usable;

	if (cd == NULL)
		return -1;
	out = crypt_r("", hash, cd);
	usable = out != NULL && out[0] != '*' && strlen(out) == strlen(hash);
	free(cd);
	return usable;
}
