#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "../common/log.h"
#include "../common/opt.h"

enum {
	OPT_MAX_PER_IP = 256,
	OPT_SENDQ,
	OPT_MAX_LINE,
	OPT_IDLE_TIMEOUT,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_REG_TIMEOUT,
	OPT_PING_INTERVAL,
	OPT_PING_TIMEOUT,
	OPT_FLOOD_RATE,
	OPT_FLOOD_BURST,
	OPT_PASSWORD_FILE,
	OPT_MOTD_FILE,
	OPT_SERVER_NAME,
	OPT_LOG_LEVEL,
	OPT_BACKLOG,
	OPT_CONFIG,
	OPT_KLINE_FILE
};

static const struct option config_options[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "max-clients", required_argument, NULL, 'm' },
	{ "max-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
	{ "backlog", required_argument, NULL, OPT_BACKLOG },
	{ "sendq", required_argument, NULL, OPT_SENDQ },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
	{ "registration-timeout", required_argument, NULL, OPT_REG_TIMEOUT },
	{ "ping-interval", required_argument, NULL, OPT_PING_INTERVAL },
	{ "ping-timeout", required_argument, NULL, OPT_PING_TIMEOUT },
	{ "flood-rate", required_argument, NULL, OPT_FLOOD_RATE },
	{ "flood-burst", required_argument, NULL, OPT_FLOOD_BURST },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "motd-file", required_argument, NULL, OPT_MOTD_FILE },
	{ "server-name", required_argument, NULL, OPT_SERVER_NAME },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "kline-file", required_argument, NULL, OPT_KLINE_FILE },
	{ "threads", required_argument, NULL, 't' },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static const char config_usage_text[] =
"usage: evsockd [options]\n"
"\n"
"Serves echo (RFC 862) and an IRC-compatible chat over TCP.\n"
"Without --listen: echo on 127.0.0.1:7007 and chat on 127.0.0.1:6667.\n"
"\n"
"  -l, --listen SERVICE=HOST:PORT  serve SERVICE (echo, chat) on HOST:PORT;\n"
"                                  repeatable; port 0 picks a free port;\n"
"                                  IPv6 as [::1]:7007; 0.0.0.0 serves the\n"
"                                  network (loopback is the default)\n"
"  -m, --max-clients N        connections at once (default: descriptor\n"
"                             limit less a reserve)\n"
"      --max-per-ip N         connections per client address (0 = off)\n"
"      --backlog N            pending connections the kernel may queue\n"
"                             (default 4096; capped by net.core.somaxconn)\n"
"      --sendq BYTES          unsent output per client (default 1M); echo\n"
"                             stops reading above it, chat disconnects\n"
"      --max-line BYTES       chat line length incl. CRLF (default 512)\n"
"      --idle-timeout DUR     close clients silent this long (default off)\n"
"      --shutdown-timeout DUR on SIGINT/SIGTERM, wait this long for\n"
"                             clients to finish (default 5s)\n"
"      --registration-timeout DUR  chat: NICK/USER deadline (default 60s)\n"
"      --ping-interval DUR    chat: PING clients idle this long (default 90s)\n"
"      --ping-timeout DUR     chat: drop if no reply (default 60s)\n"
"      --flood-rate N         chat: commands per second per client\n"
"                             (default 10; 0 = off); excess is delayed\n"
"      --flood-burst N        chat: commands allowed at once (default 20)\n"
"      --password-file PATH   chat: require PASS, read from PATH\n"
"      --motd-file PATH       chat: message of the day\n"
"      --server-name NAME     chat: server name (default evsockd)\n"
"      --config PATH          chat: server operators, as lines\n"
"                             \"oper NAME CRYPT-HASH\" (# comments)\n"
"      --kline-file PATH      chat: keep the operators' server bans\n"
"                             (KLINE) in PATH across restarts\n"
"  -t, --threads N            echo worker threads (default: cores)\n"
"      --log-level LEVEL      error, warn, info (default), debug\n"
"  -h, --help                 this text\n"
"  -V, --version              the version\n"
"\n"
"Durations take ms, s, m or h (\"250ms\", \"5s\"); sizes take k, M, G.\n"
"SIGINT or SIGTERM shut down gracefully; exit status 0.\n";

const char *
config_usage(void)
{
	return config_usage_text;
}

void
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
	cfg->server_name = "evsockd";
	cfg->log_level = "info";
}

static int
config_add_listen(struct config *cfg, const char *service, const char *host,
    int port, const char **err)
{
	struct config_listen *l;

	if (strcmp(service, "echo") != 0 && strcmp(service, "chat") != 0) {
		*err = "unknown service (known: echo, chat)";
		return -1;
	}
	if (cfg->nlisten == CONFIG_MAX_LISTEN) {
		*err = "too many --listen options";
		return -1;
	}
	l = &cfg->listen[cfg->nlisten++];
	snprintf(l->service, sizeof(l->service), "%s", service);
	snprintf(l->host, sizeof(l->host), "%s", host);
	l->port = port;
	if (strchr(host, ':') != NULL)
		snprintf(l->spec, sizeof(l->spec), "[%s]:%d", host, port);
	else
		snprintf(l->spec, sizeof(l->spec), "%s:%d", host, port);
	return 0;
}

int
config_parse(struct config *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	char service[ADDR_SERVICE_MAX], host[ADDR_HOST_MAX];
	const char *why = NULL, *name = NULL;
	enum evs_log_level level;
	uint64_t v;
	int ch, port;

	config_defaults(cfg);
	optind = 0; /* GNU getopt: start afresh on every call */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":l:m:t:hV", config_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
			name = "--listen";
			if (addr_split_listen(optarg, service,
			    sizeof(service), host, sizeof(host), &port,
			    &why) == -1 || config_add_listen(cfg, service,
			    host, port, &why) == -1)
				goto bad_value;
			break;
		case 'm':
			name = "--max-clients";
			if (opt_parse_uint(optarg, 1, 10000000,
			    &cfg->max_clients, &why) == -1)
				goto bad_value;
			break;
		case OPT_MAX_PER_IP:
			name = "--max-per-ip";
			if (opt_parse_uint(optarg, 0, 10000000,
			    &cfg->max_per_ip, &why) == -1)
				goto bad_value;
			break;
		case OPT_BACKLOG:
			name = "--backlog";
			if (opt_parse_uint(optarg, 1, 65535, &cfg->backlog,
			    &why) == -1)
				goto bad_value;
			break;
		case OPT_SENDQ:
			name = "--sendq";
			if (opt_parse_size(optarg, 512, 1ULL << 32,
			    &cfg->sendq, &why) == -1)
				goto bad_value;
			break;
		case OPT_MAX_LINE:
			name = "--max-line";
			if (opt_parse_size(optarg, 16, 1024 * 1024,
			    &cfg->max_line, &why) == -1)
				goto bad_value;
			break;
		case OPT_IDLE_TIMEOUT:
			name = "--idle-timeout";
			if (opt_parse_duration(optarg, 86400000ULL * 30,
			    &cfg->idle_timeout_ms, &why) == -1)
				goto bad_value;
			break;
		case OPT_SHUTDOWN_TIMEOUT:
			name = "--shutdown-timeout";
			if (opt_parse_duration(optarg, 86400000ULL,
			    &cfg->shutdown_timeout_ms, &why) == -1)
				goto bad_value;
			break;
		case OPT_REG_TIMEOUT:
			name = "--registration-timeout";
			if (opt_parse_duration(optarg, 86400000ULL,
			    &cfg->reg_timeout_ms, &why) == -1)
				goto bad_value;
			break;
		case OPT_PING_INTERVAL:
			name = "--ping-interval";
			if (opt_parse_duration(optarg, 86400000ULL,
			    &cfg->ping_interval_ms, &why) == -1)
				goto bad_value;
			break;
		case OPT_PING_TIMEOUT:
			name = "--ping-timeout";
			if (opt_parse_duration(optarg, 86400000ULL,
			    &cfg->ping_timeout_ms, &why) == -1)
				goto bad_value;
			break;
		case OPT_FLOOD_RATE:
			name = "--flood-rate";
			if (opt_parse_uint(optarg, 0, 1000000,
			    &cfg->flood_rate, &why) == -1)
				goto bad_value;
			break;
		case OPT_FLOOD_BURST:
			name = "--flood-burst";
			if (opt_parse_uint(optarg, 1, 1000000,
			    &cfg->flood_burst, &why) == -1)
				goto bad_value;
			break;
		case OPT_PASSWORD_FILE:
			cfg->password_file = optarg;
			break;
		case OPT_MOTD_FILE:
			cfg->motd_file = optarg;
			break;
		case OPT_CONFIG:
			cfg->config_file = optarg;
			break;
		case OPT_KLINE_FILE:
			cfg->kline_file = optarg;
			break;
		case OPT_SERVER_NAME:
			name = "--server-name";
			if (*optarg == '\0' || strlen(optarg) > 63 ||
			    strpbrk(optarg, " :!@*?,\r\n") != NULL) {
				why = "expected a name such as irc.example";
				goto bad_value;
			}
			cfg->server_name = optarg;
			break;
		case 't':
			name = "--threads";
			if (opt_parse_uint(optarg, 1, 256, &v, &why) == -1)
				goto bad_value;
			cfg->threads = v;
			break;
		case OPT_LOG_LEVEL:
			name = "--log-level";
			if (log_parse_level(optarg, &level) == -1) {
				why = "expected error, warn, info or debug";
				goto bad_value;
			}
			cfg->log_level = optarg;
			break;
		case 'h':
			cfg->help = 1;
			break;
		case 'V':
			cfg->version = 1;
			break;
		case ':':
			snprintf(err, errlen, "option %s needs a value",
			    argv[optind - 1]);
			return -1;
		default:
			snprintf(err, errlen, "unknown option %s (see --help)",
			    argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)",
		    argv[optind]);
		return -1;
	}
	if (cfg->nlisten == 0) {
		config_add_listen(cfg, "echo", "127.0.0.1", 7007, &why);
		config_add_listen(cfg, "chat", "127.0.0.1", 6667, &why);
	}
	return 0;

bad_value:
	snprintf(err, errlen, "%s '%s': %s", name, optarg, why);
	return -1;
}

int
config_read_opers(const char *path, int (*add)(void *, const char *,
    const char *), void *arg, char *err, size_t errlen)
{
	char line[1024], *word, *name, *hash, *end;
	unsigned lineno = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if ((word = strtok_r(line, " \t", &end)) == NULL ||
		    word[0] == '#')
			continue;
		name = strtok_r(NULL, " \t", &end);
		hash = strtok_r(NULL, " \t", &end);
		if (strcmp(word, "oper") != 0 || name == NULL || hash == NULL ||
		    strtok_r(NULL, " \t", &end) != NULL) {
			snprintf(err, errlen, "%s:%u: expected \"oper NAME "
			    "CRYPT-HASH\"", path, lineno);
			goto fail;
		}
		if (add(arg, name, hash) == -1) {
			snprintf(err, errlen, "%s:%u: operator %s: the hash is "
			    "not one crypt(3) can check", path, lineno, name);
			goto fail;
		}
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return 0;
fail:
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return -1;
}
