/* The option table's entry, shared by config.c (the table and its
   lookups), config-parse.c (the command line and the file) and
   config-diff.c (what a reload changes).  Private to those three. */
#ifndef EVSOCK_SERVER_CONFIG_INT_H
#define EVSOCK_SERVER_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* How an option's value is read. */
enum config_kind {
	CONFIG_FLAG,     /* no value; sets an int to 1 */
	CONFIG_UINT,     /* opt_parse_uint into a uint64_t */
	CONFIG_SIZE,     /* opt_parse_size into a uint64_t */
	CONFIG_DURATION, /* opt_parse_duration (ms) into a uint64_t */
	CONFIG_STRING,   /* a copy into a char * */
	CONFIG_CUSTOM    /* the entry's own set() */
};

/* Option flags. */
#define CONFIG_CLI_ONLY 0x01 /* refused in a file (--config, --help) */
#define CONFIG_FILE_ONLY \
	0x02 /* refused on the command line: secrets
                                 such as operator password hashes must
                                 not show in ps(1) */
#define CONFIG_REPEAT \
	0x04                /* may be given many times; the command
                                 line replaces the file's list */
#define CONFIG_RESTART 0x08 /* SIGHUP cannot change it */

struct config_opt {
	const char *name;
	char shortopt; /* 0: none */
	enum config_kind kind;
	unsigned flags;
	size_t off;        /* field in struct config */
	uint64_t min, max; /* UINT, SIZE and DURATION (ms) bounds */
	/* CUSTOM: stores the value, and for a REPEAT option empties its
	   list when the value is NULL; STRING, UINT, SIZE: checks it
	   (NULL: any), after it is stored for UINT and SIZE */
	int (*set)(struct config *, const char *, const char **);
	const char *metavar;
	const char *help; /* lines separated by \n */
};

/* The option table and its length (at most CONFIG_MAX_OPTS). */
extern const struct config_opt config_opts[];
extern const size_t config_nopts;

/* Returns the option named by the len bytes at name, or NULL. */
const struct config_opt *config_find(const char *name, size_t len);
/* Returns the option with the one-letter name c, or NULL. */
const struct config_opt *config_find_short(char c);
/* Returns the address of the char * field at offset off in cfg. */
char **config_str(struct config *cfg, size_t off);
/* Replaces *dst (freed) by a copy of s; returns 0, or -1 keeping *dst. */
int config_strdup(char **dst, const char *s);
/* Adds a listener to cfg's list; returns 0, or -1 with *err set. */
int config_add_listen(struct config *cfg, const char *service, const char *host,
    int port, int tls, const char **err);

#endif
