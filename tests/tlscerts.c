#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tlscerts.h"

int
tlscerts_make(char *dir, size_t len)
{
	const char *script = getenv("TLSCERTS");
	const char *argv[4];
	char out[256], err[1024];
	size_t outlen;
	int st;

	if (script == NULL || len < 32)
		return -1;
	snprintf(dir, len, "/tmp/evsock-tls-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	argv[0] = "/bin/sh";
	argv[1] = script;
	argv[2] = dir;
	argv[3] = NULL;
	st = harness_run(argv, NULL, 0, out, sizeof(out), &outlen, err,
	    sizeof(err), 30000);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "tlscerts.sh failed: %s\n", err);
		tlscerts_remove(dir);
		return -1;
	}
	return 0;
}

char *
tlscerts_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

void
tlscerts_remove(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
