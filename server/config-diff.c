/* What a reload changes: each option's value as text, compared, and
   the settings only a restart changes carried over. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-int.h"

/* FNV-1a of s: tells two strings apart, reveals nothing useful. */
static unsigned
config_fingerprint(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Writes option o's value in cfg as text. */
static void
config_value(const struct config *cfg, const struct config_opt *o, char *buf,
    size_t len)
{
	const char *base = (const char *)cfg;
	size_t n = 0;

	buf[0] = '\0';
	switch (o->kind) {
	case CONFIG_FLAG:
		snprintf(buf, len, "%s",
		    *(const int *)(const void *)(base + o->off) ? "yes" : "no");
		break;
	case CONFIG_UINT:
	case CONFIG_SIZE:
		snprintf(buf, len, "%llu",
		    (unsigned long long)*(
		        const uint64_t *)(const void *)(base + o->off));
		break;
	case CONFIG_DURATION:
		snprintf(buf, len, "%llums",
		    (unsigned long long)*(
		        const uint64_t *)(const void *)(base + o->off));
		break;
	case CONFIG_STRING: {
		const char *v = *(char *const *)(const void *)(base + o->off);
		snprintf(buf, len, "%s", v != NULL ? v : "(none)");
		break;
	}
	case CONFIG_CUSTOM: {
		/* listen, tls-listen and oper are the custom options. */
		int tls = strcmp(o->name, "tls-listen") == 0;

		if (strcmp(o->name, "oper") == 0) {
			/* Names and a fingerprint of each hash: a reload
			   tells a changed password without logging it. */
			for (size_t i = 0; i < cfg->nopers && n < len; i++)
				n += (size_t)snprintf(buf + n, len - n,
				    "%s%s:%08x", i > 0 ? " " : "",
				    cfg->opers[i].name,
				    config_fingerprint(cfg->opers[i].hash));
			if (cfg->nopers == 0)
				snprintf(buf, len, "(none)");
			break;
		}
		for (size_t i = 0; i < cfg->nlisten && n < len; i++)
			if (cfg->listen[i].tls == tls)
				n += (size_t)snprintf(buf + n, len - n,
				    "%s%s=%s", n > 0 ? " " : "",
				    cfg->listen[i].service,
				    cfg->listen[i].spec);
		break;
	}
	}
}

size_t
config_diff(const struct config *a, const struct config *b,
    void (*fn)(const char *, const char *, const char *, int, void *),
    void *arg)
{
	char va[4096], vb[4096]; /* 64 operators or 32 listeners fit */
	size_t n = 0;

	for (size_t i = 0; i < config_nopts; i++) {
		const struct config_opt *o = &config_opts[i];

		if (o->flags & CONFIG_CLI_ONLY)
			continue;
		config_value(a, o, va, sizeof(va));
		config_value(b, o, vb, sizeof(vb));
		if (strcmp(va, vb) == 0)
			continue;
		n++;
		if (fn != NULL)
			fn(o->name, va, vb, !(o->flags & CONFIG_RESTART), arg);
	}
	return n;
}

int
config_diff_keep_restart(struct config *to, const struct config *from)
{
	for (size_t i = 0; i < config_nopts; i++) {
		const struct config_opt *o = &config_opts[i];

		if (!(o->flags & CONFIG_RESTART))
			continue;
		switch (o->kind) {
		case CONFIG_FLAG:
			memcpy((char *)to + o->off, (const char *)from + o->off,
			    sizeof(int));
			break;
		case CONFIG_UINT:
		case CONFIG_SIZE:
		case CONFIG_DURATION:
			memcpy((char *)to + o->off, (const char *)from + o->off,
			    sizeof(uint64_t));
			break;
		case CONFIG_STRING: {
			const char *v = *(
			    char *const *)(const void *)((const char *)from +
			    o->off);
			char **dst = config_str(to, o->off);
			if (v == NULL) {
				free(*dst);
				*dst = NULL;
			} else if (config_strdup(dst, v) == -1) {
				return -1;
			}
			break;
		}
		case CONFIG_CUSTOM:
			/* listen and tls-listen share one list; oper is
			   reloadable. */
			memcpy(to->listen, from->listen, sizeof(to->listen));
			to->nlisten = from->nlisten;
			break;
		}
	}
	return 0;
}
