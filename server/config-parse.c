/* Reading the settings: the command line, then the config file it
   names, then the command line again over the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/opt.h"
#include "config-int.h"

#define CONFIG_LINE_MAX 4096 /* bytes in a config file line */

/* Stores one value; *why gets the reason for a bad one. */
static int
config_apply(struct config *cfg, const struct config_opt *o, const char *v,
    const char **why)
{
	uint64_t *u = (uint64_t *)(void *)((char *)cfg + o->off), ms;

	switch (o->kind) {
	case CONFIG_FLAG:
		*(int *)(void *)((char *)cfg + o->off) = 1;
		return 0;
	case CONFIG_UINT:
		if (opt_parse_uint(v, o->min, o->max, u, why) == -1)
			return -1;
		return o->set != NULL ? o->set(cfg, v, why) : 0;
	case CONFIG_SIZE:
		if (opt_parse_size(v, o->min, o->max, u, why) == -1)
			return -1;
		return o->set != NULL ? o->set(cfg, v, why) : 0;
	case CONFIG_DURATION:
		if (opt_parse_duration(v, o->max, &ms, why) == -1)
			return -1;
		if (ms < o->min) {
			*why = "duration out of range";
			return -1;
		}
		*u = ms;
		return 0;
	case CONFIG_STRING:
		if (*v == '\0') {
			*why = "expected a value";
			return -1;
		}
		if (o->set != NULL && o->set(cfg, v, why) == -1)
			return -1;
		if (config_strdup(config_str(cfg, o->off), v) == -1) {
			*why = strerror(errno);
			return -1;
		}
		return 0;
	case CONFIG_CUSTOM:
		return o->set(cfg, v, why);
	}
	*why = "unknown kind";
	return -1;
}

/* A repeatable option set here for the first time in this source
   replaces what an earlier source gave. */
static void
config_reset_list(struct config *cfg, const struct config_opt *o,
    unsigned char *seen)
{
	size_t i = (size_t)(o - config_opts);

	if (!(o->flags & CONFIG_REPEAT) || seen[i] || o->set == NULL)
		return;
	seen[i] = 1;
	(void)o->set(cfg, NULL, NULL);
}

/*
 * Reads the command line.  With only_config, takes just --config (and
 * checks the rest for syntax); otherwise applies everything but
 * --config.
 */
static int
config_parse_args(struct config *cfg, int argc, char **argv, int only_config,
    char *err, size_t errlen)
{
	unsigned char seen[CONFIG_MAX_OPTS] = { 0 };
	const struct config_opt *o;
	const char *why = NULL, *v = NULL;
	char shortname[3] = "-?";
	const char *shown;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = NULL;

		v = NULL;
		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc) {
				snprintf(err, errlen,
				    "unexpected argument "
				    "'%s' (see --help)",
				    argv[i + 1]);
				return -1;
			}
			break;
		}
		if (a[0] == '-' && a[1] == '-') {
			eq = strchr(a + 2, '=');
			o = config_find(a + 2,
			    eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2));
			shown = a;
			if (eq != NULL)
				v = eq + 1;
		} else if (a[0] == '-' && a[1] != '\0') {
			o = config_find_short(a[1]);
			shortname[1] = a[1];
			shown = shortname;
			if (a[2] != '\0')
				v = a + 2;
		} else {
			snprintf(err, errlen,
			    "unexpected argument '%s' (see --help)", a);
			return -1;
		}
		if (o == NULL || (o->flags & CONFIG_FILE_ONLY)) {
			if (o != NULL)
				snprintf(err, errlen,
				    "%s is only accepted in "
				    "a config file",
				    shown);
			else
				snprintf(err, errlen,
				    "unknown option %s (see --help)", a);
			return -1;
		}
		if (o->kind == CONFIG_FLAG) {
			if (v != NULL) {
				snprintf(err, errlen,
				    "option --%s takes no "
				    "value",
				    o->name);
				return -1;
			}
		} else if (v == NULL) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "option %s needs a value",
				    shown);
				return -1;
			}
			v = argv[++i];
		}
		if (only_config != (strcmp(o->name, "config") == 0))
			continue;
		config_reset_list(cfg, o, seen);
		if (config_apply(cfg, o, v, &why) == -1) {
			snprintf(err, errlen, "--%s '%s': %s", o->name, v, why);
			return -1;
		}
		cfg->line[o - config_opts] = 0;
	}
	return 0;
}

int
config_parse_file(struct config *cfg, const char *path, char *err,
    size_t errlen)
{
	unsigned char seen[CONFIG_MAX_OPTS] = { 0 };
	const struct config_opt *o;
	const char *why;
	unsigned lineno = 0;
	char *buf = NULL;
	size_t cap = 0;
	struct stat sb;
	ssize_t len;
	int rc = -1;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* A device or a pipe could be endless. */
	if (fstat(fileno(f), &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	while ((len = getline(&buf, &cap, f)) != -1) {
		char *p = buf, *name, *v, *end, *hash;

		lineno++;
		if (len > CONFIG_LINE_MAX) {
			snprintf(err, errlen, "%s:%u: line too long", path,
			    lineno);
			goto out;
		}
		if (memchr(buf, '\0', (size_t)len) != NULL) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", path,
			    lineno);
			goto out;
		}
		/* '#' starts a comment at the start of a line or after a
		   blank, so a value such as a path may still hold one. */
		for (hash = p; (hash = strchr(hash, '#')) != NULL; hash++) {
			if (hash == p || hash[-1] == ' ' || hash[-1] == '\t') {
				*hash = '\0';
				break;
			}
		}
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p &&
		    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
		        end[-1] == '\r'))
			*--end = '\0';
		if (*p == '\0')
			continue;
		name = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		v = p;
		o = config_find(name, strlen(name));
		if (o == NULL) {
			snprintf(err, errlen, "%s:%u: unknown setting '%s'",
			    path, lineno, name);
			goto out;
		}
		if (o->flags & CONFIG_CLI_ONLY) {
			snprintf(err, errlen,
			    "%s:%u: '%s' is only accepted "
			    "on the command line",
			    path, lineno, name);
			goto out;
		}
		if (o->kind == CONFIG_FLAG && *v != '\0') {
			snprintf(err, errlen, "%s:%u: '%s' takes no value",
			    path, lineno, name);
			goto out;
		}
		if (o->kind != CONFIG_FLAG && *v == '\0') {
			snprintf(err, errlen, "%s:%u: '%s' needs a value", path,
			    lineno, name);
			goto out;
		}
		config_reset_list(cfg, o, seen);
		if (config_apply(cfg, o, v, &why) == -1) {
			/* A file-only value may hold a secret (a password
			   pasted where its hash belongs): not repeated. */
			if (o->flags & CONFIG_FILE_ONLY)
				snprintf(err, errlen, "%s:%u: %s: %s", path,
				    lineno, name, why);
			else
				snprintf(err, errlen, "%s:%u: %s '%s': %s",
				    path, lineno, name, v, why);
			goto out;
		}
		cfg->line[o - config_opts] = lineno;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

int
config_parse(struct config *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	const char *why;

	if (config_defaults(cfg) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (config_parse_args(cfg, argc, argv, 1, err, errlen) == -1)
		return -1;
	if (cfg->config_file != NULL &&
	    config_parse_file(cfg, cfg->config_file, err, errlen) == -1)
		return -1;
	if (config_parse_args(cfg, argc, argv, 0, err, errlen) == -1)
		return -1;
	if (cfg->nlisten == 0) {
		config_add_listen(cfg, "echo", "127.0.0.1", 7007, 0, &why);
		config_add_listen(cfg, "chat", "127.0.0.1", 6667, 0, &why);
	}
	if (config_tls(cfg) &&
	    (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
		snprintf(err, errlen, "tls-listen needs tls-cert and tls-key");
		return -1;
	}
	return 0;
}
