/* The library's version, for servers and clients alike. */
#include <evsock/version.h>

const char *
evs_version(void)
{
	return EVS_VERSION;
}
