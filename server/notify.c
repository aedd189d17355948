#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

void
notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void
notify_reloading(void)
{
	struct timespec ts;

	/* systemd 253 and later want the time with RELOADING=1 to tell
	   this reload from an earlier one. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	        (unsigned long long)ts.tv_nsec / 1000ULL);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

int
notify_listen_fds(char names[][32], int max)
{
	char **list = NULL;
	int n;

	n = sd_listen_fds_with_names(1, &list);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (i < max)
			snprintf(names[i], 32, "%s",
			    list != NULL && list[i] != NULL ? list[i] :
			                                      "unknown");
		if (list != NULL)
			free(list[i]);
	}
	free(list);
	return n;
}

#else

void
notify_ready(const char *status)
{
	(void)status;
}

void
notify_reloading(void)
{
}

void
notify_stopping(void)
{
}

int
notify_listen_fds(char names[][32], int max)
{
	(void)names;
	(void)max;
	return 0;
}

#endif
