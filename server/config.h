/*
 * evsockd's settings: one table of options serves the command line
 * (--name VALUE) and the config file (a "name value" line).  Parsing
 * has no side effects beyond the struct it fills.
 */
#ifndef EVSOCK_SERVER_CONFIG_H
#define EVSOCK_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/addr.h"

#define CONFIG_MAX_LISTEN 32
#define CONFIG_MAX_OPERS 64
#define CONFIG_OPER_NAME_MAX 64  /* bytes in an operator's name */
#define CONFIG_OPER_HASH_MAX 160 /* bytes in a crypt(3) hash */
#define CONFIG_MAX_OPTS 48       /* entries in the option table, at most */
#define CONFIG_WHERE_MAX 512

struct config_listen {
	char service[ADDR_SERVICE_MAX];
	char host[ADDR_HOST_MAX];
	int port;
	char spec[ADDR_HOST_MAX +
	    8];  /* "HOST:PORT" as evs_server_listen takes */
	int tls; /* from tls-listen */
};

/* A server operator: a name for OPER and its password's crypt(3)
   hash ("$6$salt$..."), never the password itself. */
struct config_oper {
	char name[CONFIG_OPER_NAME_MAX + 1];
	char hash[CONFIG_OPER_HASH_MAX + 1];
};

/* Every string is owned by the struct (config_free releases it). */
struct config {
	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t nlisten;
	struct config_oper opers[CONFIG_MAX_OPERS]; /* "oper" lines */
	size_t nopers;
	uint64_t max_clients; /* 0: from the descriptor limit */
	uint64_t max_per_ip;  /* 0: off */
	uint64_t backlog;     /* listen(2) backlog */
	uint64_t sendq;
	uint64_t max_line;
	uint64_t idle_timeout_ms; /* 0: off */
	uint64_t shutdown_timeout_ms;
	uint64_t reg_timeout_ms;
	uint64_t ping_interval_ms;
	uint64_t ping_timeout_ms;
	uint64_t flood_rate; /* commands/s; 0: off */
	uint64_t flood_burst;
	uint64_t history_lines;    /* per target; 0: no CHATHISTORY */
	uint64_t threads;          /* 0: number of cores */
	uint64_t stall_timeout_ms; /* 0: off */
	uint64_t pass_budget_ms;   /* 0: off */
	uint64_t flush_hold_ms;    /* 0: off */
	uint64_t socket_buffer;    /* bytes; 0: the kernel's autotuning */
	uint64_t cluster_timeout_ms;
	char *config_file; /* --config; NULL: none */
	char *password_file;
	char *motd_file;
	char *server_name;
	char *server_info;
	char *log_level;
	char *log_file;   /* NULL: stderr */
	char *log_format; /* "text" or "json" */
	char *metrics;    /* HOST:PORT of /metrics; NULL: off */
	char *user;       /* drop to this user after binding */
	char *kline_file; /* chat: address bans kept here */
	char *tls_cert;   /* PEM chain for tls-listen; NULL: none */
	char *tls_key;    /* PEM private key */
	char *cluster;    /* Redis URL; NULL: one instance */
	char *node_name;  /* NULL: host name and chat port */
	int reuseport;    /* SO_REUSEPORT on the chat listeners */
	int check_config;
	int help;
	int version;
	/* Where each option was last set, by table index: 0 default or
	   command line, else the config file's line number. */
	unsigned line[CONFIG_MAX_OPTS];
};

/* Fills cfg with the defaults; returns 0, or -1 when out of memory.
   Release with config_free. */
int config_defaults(struct config *cfg);

/* Frees the strings cfg owns; cfg may be reused after config_defaults. */
void config_free(struct config *cfg);

/*
 * Loads evsockd's settings: defaults, then the file named by --config
 * (if any), then the rest of the command line, which overrides the
 * file (a repeatable option given on the command line replaces the
 * file's list).  Adds the default listeners when no listen is given.
 * Returns 0, or -1 with one line in err ("FILE:LINE: problem" for the
 * file).  cfg must be released with config_free either way.
 */
int config_parse(struct config *cfg, int argc, char **argv, char *err,
    size_t errlen);

/*
 * Applies one config file on top of cfg.  Returns 0, or -1 with
 * "PATH:LINE: problem" in err.
 */
int config_parse_file(struct config *cfg, const char *path, char *err,
    size_t errlen);

/* Returns 1 if any listener is a tls-listen one. */
int config_tls(const struct config *cfg);

/* Writes where option `name` got its value ("FILE:LINE" or
   "--name") into buf; returns buf. */
char *config_where(const struct config *cfg, const char *name, char *buf,
    size_t len);

/* Returns 1 if SIGHUP can change option `name` in a running daemon,
   0 if a restart is needed, -1 for an unknown name. */
int config_reloadable(const char *name);

/*
 * Calls fn(name, old, new, reloadable, arg) for every setting (command
 * line only ones aside) whose value differs between a and b, values
 * as text.  Returns how many differ.
 */
size_t config_diff(const struct config *a, const struct config *b,
    void (*fn)(const char *name, const char *oldv, const char *newv,
        int reloadable, void *arg),
    void *arg);

/* Copies every setting SIGHUP cannot change from `from` into `to`, so
   `to` describes what runs.  Returns 0 or -1 (out of memory). */
int config_diff_keep_restart(struct config *to, const struct config *from);

/* Returns 0 if `hash` looks like a crypt(3) hash of the "$id$..."
   kind ("$6$salt$...", "$y$j9T$...", "$2b$12$..."), else -1. */
int config_check_hash(const char *hash);

/* Returns evsockd's --help text, generated from the option table
   (static storage). */
const char *config_usage(void);

#endif
