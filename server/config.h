/* evsockd's command line: parsed into a struct without side effects. */
#ifndef EVSOCK_SERVER_CONFIG_H
#define EVSOCK_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/addr.h"

#define CONFIG_MAX_LISTEN 32

struct config_listen {
	char service[ADDR_SERVICE_MAX];
	char host[ADDR_HOST_MAX];
	int port;
	char spec[ADDR_HOST_MAX + 8]; /* "HOST:PORT" as evs_server_listen takes */
};

struct config {
	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t nlisten;
	uint64_t max_clients;      /* 0: from the descriptor limit */
	uint64_t max_per_ip;       /* 0: off */
	uint64_t backlog;          /* listen(2) backlog */
	uint64_t sendq;
	uint64_t max_line;
	uint64_t idle_timeout_ms;  /* 0: off */
	uint64_t shutdown_timeout_ms;
	uint64_t reg_timeout_ms;
	uint64_t ping_interval_ms;
	uint64_t ping_timeout_ms;
	uint64_t flood_rate;       /* commands/s; 0: off */
	uint64_t flood_burst;
	uint64_t threads;          /* 0: number of cores */
	const char *password_file;
	const char *motd_file;
	const char *config_file;   /* chat: operators ("oper" lines) */
	const char *kline_file;    /* chat: the server bans' file */
	const char *server_name;
	const char *log_level;
	int help;
	int version;
};

/* Fills cfg with the defaults. */
void config_defaults(struct config *cfg);

/*
 * Parses evsockd's arguments into cfg (strings point into argv).
 * Returns 0, or -1 with a one-line message in err.  Adds the default
 * listeners when no --listen is given.
 */
int config_parse(struct config *cfg, int argc, char **argv, char *err,
    size_t errlen);

/*
 * Reads the "oper NAME CRYPT-HASH" lines of the file at path (blank
 * lines and # comments skipped) and calls add(arg, name, hash) for
 * each.  Returns 0, or -1 with the file, line and problem in err.
 */
int config_read_opers(const char *path, int (*add)(void *, const char *,
    const char *), void *arg, char *err, size_t errlen);

/* Returns evsockd's --help text (static). */
const char *config_usage(void);

#endif
