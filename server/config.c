#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config-int.h"
#include "../common/log.h"
#include "../common/opt.h"

static int config_set_listen(struct config *, const char *, const char **);
static int config_set_oper(struct config *, const char *, const char **);
static int config_check_socket_buffer(struct config *, const char *,
    const char **);
static int config_set_tls_listen(struct config *, const char *, const char **);
static int config_check_server_name(struct config *, const char *,
    const char **);
static int config_check_log_level(struct config *, const char *, const char **);
static int config_check_log_format(struct config *, const char *,
    const char **);
static int config_check_metrics(struct config *, const char *, const char **);

#define F(field) offsetof(struct config, field)
#define DAY_MS 86400000ULL

const struct config_opt config_opts[] = {
	{ "config", 'c', CONFIG_STRING, CONFIG_CLI_ONLY, F(config_file), 0, 0,
	    NULL, "PATH",
	    "read settings from PATH (\"name value\" lines);\n"
	    "the command line overrides them" },
	{ "check-config", 0, CONFIG_FLAG, CONFIG_CLI_ONLY, F(check_config), 0,
	    0, NULL, NULL,
	    "check the settings and files they name, then\n"
	    "exit (0: fine)" },
	{ "listen", 'l', CONFIG_CUSTOM, CONFIG_REPEAT | CONFIG_RESTART, 0, 0, 0,
	    config_set_listen, "SERVICE=HOST:PORT",
	    "serve SERVICE (echo, chat) on HOST:PORT;\n"
	    "repeatable; port 0 picks a free port;\n"
	    "IPv6 as [::1]:7007; 0.0.0.0 serves the\n"
	    "network (loopback is the default)" },
	{ "tls-listen", 0, CONFIG_CUSTOM, CONFIG_REPEAT | CONFIG_RESTART, 0, 0,
	    0, config_set_tls_listen, "SERVICE=HOST:PORT",
	    "serve SERVICE over TLS on HOST:PORT\n"
	    "(chat's convention: port 6697); repeatable;\n"
	    "needs tls-cert and tls-key" },
	{ "tls-cert", 0, CONFIG_STRING, 0, F(tls_cert), 0, 0, NULL, "PATH",
	    "TLS certificate chain (PEM, leaf first);\n"
	    "SIGHUP loads it again" },
	{ "tls-key", 0, CONFIG_STRING, 0, F(tls_key), 0, 0, NULL, "PATH",
	    "TLS private key (PEM) of tls-cert" },
	{ "max-clients", 'm', CONFIG_UINT, 0, F(max_clients), 1, 10000000, NULL,
	    "N",
	    "connections at once (default: descriptor\n"
	    "limit less a reserve)" },
	{ "max-per-ip", 0, CONFIG_UINT, 0, F(max_per_ip), 0, 10000000, NULL,
	    "N", "connections per client address (0 = off)" },
	{ "backlog", 0, CONFIG_UINT, CONFIG_RESTART, F(backlog), 1, 65535, NULL,
	    "N",
	    "pending connections the kernel may queue\n"
	    "(default 4096; capped by net.core.somaxconn)" },
	{ "sendq", 0, CONFIG_SIZE, 0, F(sendq), 512, 1ULL << 32, NULL, "BYTES",
	    "unsent output per client (default 1M); echo\n"
	    "stops reading above it, chat disconnects" },
	{ "max-line", 0, CONFIG_SIZE, 0, F(max_line), 16, 1024 * 1024, NULL,
	    "BYTES", "chat line length incl. CRLF (default 512)" },
	{ "idle-timeout", 0, CONFIG_DURATION, 0, F(idle_timeout_ms), 0,
	    DAY_MS * 30, NULL, "DUR",
	    "close clients silent this long\n"
	    "(default off)" },
	{ "stall-timeout", 0, CONFIG_DURATION, 0, F(stall_timeout_ms), 0,
	    DAY_MS * 30, NULL, "DUR",
	    "close clients whose unsent output has\n"
	    "not moved this long (default 60s; 0 = off)" },
	{ "pass-budget", 0, CONFIG_DURATION, 0, F(pass_budget_ms), 0, 1000,
	    NULL, "DUR",
	    "chat: a pass of the event loop that ran this\n"
	    "long reads and writes no more; the rest waits\n"
	    "for the next (default 20ms; 0 = off)" },
	{ "flush-hold", 0, CONFIG_DURATION, 0, F(flush_hold_ms), 0, 100, NULL,
	    "DUR",
	    "chat: when busy, gather output this long\n"
	    "after the last write (default 2ms; 0 = off)" },
	{ "socket-buffer", 0, CONFIG_SIZE, CONFIG_RESTART, F(socket_buffer), 0,
	    64 * 1024 * 1024, config_check_socket_buffer, "BYTES",
	    "kernel send and receive buffer of each\n"
	    "client socket (default 64k; 0 = the\n"
	    "kernel's autotuning, up to megabytes)" },
	{ "shutdown-timeout", 0, CONFIG_DURATION, 0, F(shutdown_timeout_ms), 0,
	    DAY_MS, NULL, "DUR",
	    "on SIGINT/SIGTERM, wait this long for\n"
	    "clients to finish (default 5s)" },
	{ "registration-timeout", 0, CONFIG_DURATION, 0, F(reg_timeout_ms), 0,
	    DAY_MS, NULL, "DUR", "chat: NICK/USER deadline (default 60s)" },
	{ "ping-interval", 0, CONFIG_DURATION, 0, F(ping_interval_ms), 0,
	    DAY_MS, NULL, "DUR",
	    "chat: PING clients idle this long\n"
	    "(default 90s)" },
	{ "ping-timeout", 0, CONFIG_DURATION, 0, F(ping_timeout_ms), 0, DAY_MS,
	    NULL, "DUR", "chat: drop if no reply (default 60s)" },
	{ "flood-rate", 0, CONFIG_UINT, 0, F(flood_rate), 0, 1000000, NULL, "N",
	    "chat: commands per second per client\n"
	    "(default 10; 0 = off); excess is delayed" },
	{ "flood-burst", 0, CONFIG_UINT, 0, F(flood_burst), 1, 1000000, NULL,
	    "N", "chat: commands allowed at once (default 20)" },
	{ "password-file", 0, CONFIG_STRING, 0, F(password_file), 0, 0, NULL,
	    "PATH", "chat: require PASS, read from PATH" },
	{ "motd-file", 0, CONFIG_STRING, 0, F(motd_file), 0, 0, NULL, "PATH",
	    "chat: message of the day" },
	{ "oper", 0, CONFIG_CUSTOM, CONFIG_FILE_ONLY | CONFIG_REPEAT, 0, 0, 0,
	    config_set_oper, "NAME HASH",
	    "chat: a server operator: OPER name and\n"
	    "the crypt(3) hash of its password" },
	{ "kline-file", 0, CONFIG_STRING, 0, F(kline_file), 0, 0, NULL, "PATH",
	    "chat: keep address bans (KLINE) in PATH" },
	{ "server-name", 0, CONFIG_STRING, CONFIG_RESTART, F(server_name), 0, 0,
	    config_check_server_name, "NAME",
	    "chat: server name (default evsockd)" },
	{ "server-info", 0, CONFIG_STRING, CONFIG_RESTART, F(server_info), 0, 0,
	    NULL, "TEXT",
	    "chat: the server's description in WHOIS and\n"
	    "LINKS (default \"evsock chat\")" },
	{ "cluster", 0, CONFIG_STRING, CONFIG_RESTART, F(cluster), 0, 0, NULL,
	    "URL",
	    "chat: one network with the other instances on\n"
	    "Redis redis://HOST:PORT[/DB] or unix:PATH" },
	{ "node-name", 0, CONFIG_STRING, CONFIG_RESTART, F(node_name), 0, 0,
	    NULL, "NAME",
	    "chat: this instance's name in the cluster\n"
	    "(default: host name and chat port)" },
	{ "cluster-timeout", 0, CONFIG_DURATION, CONFIG_RESTART,
	    F(cluster_timeout_ms), 300, 3600000, NULL, "DUR",
	    "chat: an instance silent this long is gone\n"
	    "(300ms to 1h; default 15s)" },
	{ "reuseport", 0, CONFIG_FLAG, CONFIG_RESTART, F(reuseport), 0, 0, NULL,
	    NULL,
	    "chat: share the port with other evsockd\n"
	    "processes (SO_REUSEPORT)" },
	{ "history-lines", 0, CONFIG_UINT, 0, F(history_lines), 0, 1000000,
	    NULL, "N",
	    "chat: messages kept per channel and private\n"
	    "conversation for CHATHISTORY (default 1000;\n"
	    "0 = off; with --cluster, channels' also in Redis)" },
	{ "threads", 't', CONFIG_UINT, CONFIG_RESTART, F(threads), 1, 256, NULL,
	    "N", "echo worker threads (default: cores)" },
	{ "log-level", 0, CONFIG_STRING, 0, F(log_level), 0, 0,
	    config_check_log_level, "LEVEL",
	    "error, warn, info (default), debug" },
	{ "log-file", 0, CONFIG_STRING, 0, F(log_file), 0, 0, NULL, "PATH",
	    "log to PATH (appended; SIGUSR1 reopens it)\n"
	    "instead of stderr" },
	{ "log-format", 0, CONFIG_STRING, 0, F(log_format), 0, 0,
	    config_check_log_format, "FORMAT",
	    "text (default) or json (one object a line)" },
	{ "metrics", 0, CONFIG_STRING, CONFIG_RESTART, F(metrics), 0, 0,
	    config_check_metrics, "HOST:PORT",
	    "serve Prometheus metrics at /metrics" },
	{ "user", 'u', CONFIG_STRING, CONFIG_RESTART, F(user), 0, 0, NULL,
	    "NAME",
	    "when started as root, become NAME after\n"
	    "binding" },
	{ "help", 'h', CONFIG_FLAG, CONFIG_CLI_ONLY, F(help), 0, 0, NULL, NULL,
	    "this text" },
	{ "version", 'V', CONFIG_FLAG, CONFIG_CLI_ONLY, F(version), 0, 0, NULL,
	    NULL, "the version" },
};

#define CONFIG_NOPTS (sizeof(config_opts) / sizeof(config_opts[0]))
_Static_assert(CONFIG_NOPTS <= CONFIG_MAX_OPTS, "raise CONFIG_MAX_OPTS");
const size_t config_nopts = CONFIG_NOPTS;

static const char config_usage_head[] =
    "usage: evsockd [options]\n"
    "\n"
    "Serves echo (RFC 862) and an IRC-compatible chat over TCP.\n"
    "Without listen settings: echo on 127.0.0.1:7007 and chat on\n"
    "127.0.0.1:6667.\n"
    "\n";

static const char config_usage_tail[] =
    "\n"
    "Durations take ms, s, m or h (\"250ms\", \"5s\"); sizes take k, M, G.\n"
    "A config file line is an option's long name and its value\n"
    "(\"sendq 1M\"); # starts a comment.\n"
    "SIGINT or SIGTERM shut down gracefully (exit status 0); SIGHUP\n"
    "reloads the settings; SIGUSR1 reopens the log file.\n";

char **
config_str(struct config *cfg, size_t off)
{
	return (char **)(void *)((char *)cfg + off);
}

int
config_strdup(char **dst, const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		return -1;
	free(*dst);
	*dst = p;
	return 0;
}

int
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sendq = 1024 * 1024;
	cfg->backlog = 4096;
	cfg->max_line = 512;
	cfg->shutdown_timeout_ms = 5000;
	cfg->reg_timeout_ms = 60000;
	cfg->ping_interval_ms = 90000;
	cfg->ping_timeout_ms = 60000;
	cfg->flood_rate = 10;
	cfg->flood_burst = 20;
	cfg->stall_timeout_ms = 60000;
	cfg->pass_budget_ms = 20;
	cfg->flush_hold_ms = 2;
	cfg->socket_buffer = 64 * 1024;
	cfg->cluster_timeout_ms = 15000;
	cfg->history_lines = 1000;
	if (config_strdup(&cfg->server_name, "evsockd") == -1 ||
	    config_strdup(&cfg->log_level, "info") == -1 ||
	    config_strdup(&cfg->log_format, "text") == -1)
		return -1;
	return 0;
}

void
config_free(struct config *cfg)
{
	explicit_bzero(cfg->opers, sizeof(cfg->opers));
	cfg->nopers = 0;
	for (size_t i = 0; i < CONFIG_NOPTS; i++) {
		if (config_opts[i].kind == CONFIG_STRING) {
			char **p = config_str(cfg, config_opts[i].off);
			free(*p);
			*p = NULL;
		}
	}
}

int
config_add_listen(struct config *cfg, const char *service, const char *host,
    int port, int tls, const char **err)
{
	struct config_listen *l;

	if (strcmp(service, "echo") != 0 && strcmp(service, "chat") != 0) {
		*err = "unknown service (known: echo, chat)";
		return -1;
	}
	if (cfg->nlisten == CONFIG_MAX_LISTEN) {
		*err = "too many listen settings";
		return -1;
	}
	l = &cfg->listen[cfg->nlisten++];
	snprintf(l->service, sizeof(l->service), "%s", service);
	snprintf(l->host, sizeof(l->host), "%s", host);
	l->port = port;
	l->tls = tls;
	if (strchr(host, ':') != NULL)
		snprintf(l->spec, sizeof(l->spec), "[%s]:%d", host, port);
	else
		snprintf(l->spec, sizeof(l->spec), "%s:%d", host, port);
	return 0;
}

/* Sets a listen (tls 0) or tls-listen (tls 1) value; NULL empties
   that option's list and leaves the other's. */
static int
config_set_any_listen(struct config *cfg, const char *v, int tls,
    const char **why)
{
	char service[ADDR_SERVICE_MAX], host[ADDR_HOST_MAX];
	size_t n = 0;
	int port;

	if (v == NULL) {
		for (size_t i = 0; i < cfg->nlisten; i++)
			if (cfg->listen[i].tls != tls)
				cfg->listen[n++] = cfg->listen[i];
		cfg->nlisten = n;
		return 0;
	}
	if (addr_split_listen(v, service, sizeof(service), host, sizeof(host),
	        &port, why) == -1)
		return -1;
	return config_add_listen(cfg, service, host, port, tls, why);
}

static int
config_set_listen(struct config *cfg, const char *v, const char **why)
{
	return config_set_any_listen(cfg, v, 0, why);
}

static int
config_set_tls_listen(struct config *cfg, const char *v, const char **why)
{
	return config_set_any_listen(cfg, v, 1, why);
}

/* 0, or a size the kernel honours (it has minimums of its own). */
static int
config_check_socket_buffer(struct config *cfg, const char *v, const char **why)
{
	(void)v;
	if (cfg->socket_buffer != 0 && cfg->socket_buffer < 4096) {
		*why = "expected 0 (off) or at least 4k";
		return -1;
	}
	return 0;
}

int
config_check_hash(const char *hash)
{
	const char *p = hash, *id;
	size_t len = strlen(hash);

	if (len < 13 || len > CONFIG_OPER_HASH_MAX || *p++ != '$')
		return -1;
	for (id = p; (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'); p++)
		;
	if (p == id || p - id > 8 || *p != '$')
		return -1;
	/* crypt(3)'s alphabet, and the '$', '=' and ',' of parameters. */
	if (strspn(p,
	        "$./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
	        "nopqrstuvwxyz=,") != strlen(p))
		return -1;
	/* Something after the last '$': the hash itself. */
	return hash[len - 1] == '$' ? -1 : 0;
}

/* "oper NAME HASH": a name, blanks, a crypt(3) hash. */
static int
config_set_oper(struct config *cfg, const char *v, const char **why)
{
	struct config_oper *op;
	const char *hash;
	size_t nlen;

	if (v == NULL) {
		explicit_bzero(cfg->opers, sizeof(cfg->opers));
		cfg->nopers = 0;
		return 0;
	}
	nlen = strcspn(v, " \t");
	hash = v + nlen + strspn(v + nlen, " \t");
	if (nlen == 0 || *hash == '\0') {
		*why = "expected an operator name and a password hash";
		return -1;
	}
	if (nlen > CONFIG_OPER_NAME_MAX || memchr(v, ':', nlen) != NULL ||
	    memchr(v, ',', nlen) != NULL) {
		*why = "expected a name of at most 64 bytes, without ':' "
		       "or ','";
		return -1;
	}
	if (strpbrk(hash, " \t") != NULL || config_check_hash(hash) == -1) {
		*why = "expected a crypt(3) hash such as $6$salt$... (mkpasswd "
		       "-m sha-512, or openssl passwd -6); never the password";
		return -1;
	}
	for (size_t i = 0; i < cfg->nopers; i++) {
		if (strlen(cfg->opers[i].name) == nlen &&
		    strncmp(cfg->opers[i].name, v, nlen) == 0) {
			*why = "operator named twice";
			return -1;
		}
	}
	if (cfg->nopers == CONFIG_MAX_OPERS) {
		*why = "too many operators";
		return -1;
	}
	op = &cfg->opers[cfg->nopers++];
	memcpy(op->name, v, nlen);
	op->name[nlen] = '\0';
	snprintf(op->hash, sizeof(op->hash), "%s", hash);
	return 0;
}

static int
config_check_server_name(struct config *cfg, const char *v, const char **why)
{
	(void)cfg;
	if (strlen(v) > 63 || strpbrk(v, " :!@*?,\r\n") != NULL) {
		*why = "expected a name such as irc.example";
		return -1;
	}
	return 0;
}

static int
config_check_log_level(struct config *cfg, const char *v, const char **why)
{
	enum evs_log_level level;

	(void)cfg;
	if (log_parse_level(v, &level) == -1) {
		*why = "expected error, warn, info or debug";
		return -1;
	}
	return 0;
}

static int
config_check_log_format(struct config *cfg, const char *v, const char **why)
{
	enum log_format format;

	(void)cfg;
	if (log_parse_format(v, &format) == -1) {
		*why = "expected text or json";
		return -1;
	}
	return 0;
}

static int
config_check_metrics(struct config *cfg, const char *v, const char **why)
{
	char host[ADDR_HOST_MAX];
	int port;

	(void)cfg;
	return addr_split(v, host, sizeof(host), &port, why);
}

const struct config_opt *
config_find(const char *name, size_t len)
{
	for (size_t i = 0; i < CONFIG_NOPTS; i++)
		if (strlen(config_opts[i].name) == len &&
		    strncmp(config_opts[i].name, name, len) == 0)
			return &config_opts[i];
	return NULL;
}

const struct config_opt *
config_find_short(char c)
{
	for (size_t i = 0; i < CONFIG_NOPTS; i++)
		if (config_opts[i].shortopt == c)
			return &config_opts[i];
	return NULL;
}

int
config_tls(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls)
			return 1;
	return 0;
}

char *
config_where(const struct config *cfg, const char *name, char *buf, size_t len)
{
	const struct config_opt *o = config_find(name, strlen(name));
	unsigned line = o != NULL ? cfg->line[o - config_opts] : 0;

	if (line > 0 && cfg->config_file != NULL)
		snprintf(buf, len, "%s:%u", cfg->config_file, line);
	else
		snprintf(buf, len, "--%s", name);
	return buf;
}

int
config_reloadable(const char *name)
{
	const struct config_opt *o = config_find(name, strlen(name));

	if (o == NULL)
		return -1;
	return !(o->flags & (CONFIG_RESTART | CONFIG_CLI_ONLY));
}

const char *
config_usage(void)
{
	static char text[8192];
	size_t n;

	if (text[0] != '\0')
		return text;
	n = (size_t)snprintf(text, sizeof(text), "%s", config_usage_head);
	for (size_t i = 0; i < CONFIG_NOPTS && n < sizeof(text); i++) {
		const struct config_opt *o = &config_opts[i];
		const char *h = o->help, *nl;
		char head[64];
		int w;

		if (o->flags & CONFIG_FILE_ONLY)
			continue;
		if (o->shortopt != 0)
			w = snprintf(head, sizeof(head), "  -%c, --%s%s%s",
			    o->shortopt, o->name, o->metavar ? " " : "",
			    o->metavar ? o->metavar : "");
		else
			w = snprintf(head, sizeof(head), "      --%s%s%s",
			    o->name, o->metavar ? " " : "",
			    o->metavar ? o->metavar : "");
		/* Help starts in column 33, or on the next line when the
		   option itself is wider. */
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%-32s%s",
		    head, w >= 32 ? "\n" : "");
		if (w >= 32 && n < sizeof(text))
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "%32s", "");
		while (n < sizeof(text)) {
			nl = strchr(h, '\n');
			if (nl == NULL) {
				n += (size_t)snprintf(text + n,
				    sizeof(text) - n, "%s\n", h);
				break;
			}
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "%.*s\n%32s", (int)(nl - h), h, "");
			h = nl + 1;
		}
	}
	if (n < sizeof(text))
		snprintf(text + n, sizeof(text) - n, "%s", config_usage_tail);
	return text;
}
