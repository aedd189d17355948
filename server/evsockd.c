/* evsockd: the daemon.  Parses options, opens listeners, runs the loop,
   and shuts down gracefully on SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <evsock/evsock.h>

#include "../common/log.h"
#include "config.h"

#define FD_RESERVE 32          /* descriptors kept for logs, files, DNS */
#define SECRET_FILE_MAX 4096

struct daemon {
	struct event_base *base;
	struct evs_server *srv;
	struct evs_chat *chat;
	struct event *sigint, *sigterm;
	int signals;
};

static void daemon_signal_cb(evutil_socket_t, short, void *);
static void daemon_shutdown_done(struct evs_server *, void *);
static char *daemon_read_file(const char *, const char *, size_t, int);
static int daemon_setup_chat(struct daemon *, const struct config *);

static void
daemon_shutdown_done(struct evs_server *srv, void *arg)
{
	struct daemon *d = arg;
	struct evs_server_stats st;

	evs_server_stats(srv, &st);
	log_info("shutdown complete: %llu connections served",
	    (unsigned long long)st.accepted);
	event_base_loopexit(d->base, NULL);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (d->signals++ > 0) {
		log_warn("second %s: exiting now", strsignal((int)sig));
		event_base_loopbreak(d->base);
		return;
	}
	log_info("%s: shutting down (again to force)", strsignal((int)sig));
	evs_server_shutdown(d->srv, 0, daemon_shutdown_done, d);
}

/*
 * Reads a whole small file into a new string, trailing newlines
 * removed.  With `secret`, refuses files others may read or write.
 */
static char *
daemon_read_file(const char *what, const char *path, size_t max, int secret)
{
	struct stat sb;
	char *buf = NULL;
	ssize_t n;
	size_t len = 0;
	int fd = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_error("%s %s: %s", what, path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		log_error("%s %s: not a regular file", what, path);
		goto fail;
	}
	if (secret && (sb.st_mode & 0007) != 0)
		log_warn("%s %s is accessible to other users; chmod o-rwx it",
		    what, path);
	if ((size_t)sb.st_size > max) {
		log_error("%s %s: larger than %zu bytes", what, path, max);
		goto fail;
	}
	if ((buf = malloc(max + 1)) == NULL)
		goto fail;
	while (len < max && (n = read(fd, buf + len, max - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s %s: %s", what, path, strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	if (fd != -1)
		close(fd);
	free(buf);
	return NULL;
}

static int
daemon_setup_chat(struct daemon *d, const struct config *cfg)
{
	char *text;

	if ((d->chat = evs_chat_new(d->srv)) == NULL) {
		log_error("cannot create the chat service: %s",
		    strerror(errno));
		return -1;
	}
	if (evs_chat_set_server_name(d->chat, cfg->server_name) == -1 ||
	    evs_chat_set(d->chat, EVS_CHAT_PING_INTERVAL_MS,
	    (long long)cfg->ping_interval_ms) == -1 ||
	    evs_chat_set(d->chat, EVS_CHAT_PING_TIMEOUT_MS,
	    (long long)cfg->ping_timeout_ms) == -1 ||
	    evs_chat_set(d->chat, EVS_CHAT_REG_TIMEOUT_MS,
	    (long long)cfg->reg_timeout_ms) == -1 ||
	    evs_chat_set(d->chat, EVS_CHAT_FLOOD_RATE,
	    (long long)(cfg->flood_rate * 1000.0)) == -1 ||
	    evs_chat_set(d->chat, EVS_CHAT_FLOOD_BURST,
	    (long long)cfg->flood_burst) == -1) {
		log_error("invalid chat settings");
		return -1;
	}
	if (cfg->password_file != NULL) {
		text = daemon_read_file("password file", cfg->password_file,
		    SECRET_FILE_MAX, 1);
		if (text == NULL)
			return -1;
		if (*text == '\0' || strchr(text, '\n') != NULL) {
			log_error("password file %s: expected one non-empty "
			    "line", cfg->password_file);
			free(text);
			return -1;
		}
		evs_chat_set_password(d->chat, text);
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (cfg->motd_file != NULL) {
		text = daemon_read_file("motd file", cfg->motd_file, 64 * 1024,
		    0);
		if (text == NULL)
			return -1;
		evs_chat_set_motd(d->chat, text);
		free(text);
	}
	return 0;
}

static size_t
daemon_default_max_clients(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return rl.rlim_cur > FD_RESERVE * 2 ? (size_t)rl.rlim_cur - FD_RESERVE :
	    (size_t)rl.rlim_cur / 2;
}

int
main(int argc, char **argv)
{
	struct daemon d;
	struct config cfg;
	enum log_level level;
	char err[512], addr[80];
	int status = 1, need_chat = 0;

	memset(&d, 0, sizeof(d));
	log_set_prog("evsockd");
	if (config_parse(&cfg, argc, argv, err, sizeof(err)) == -1) {
		fprintf(stderr, "evsockd: %s\n", err);
		return 2;
	}
	if (cfg.help) {
		fputs(config_usage(), stdout);
		return 0;
	}
	if (cfg.version) {
		printf("evsockd %s (libevent %s)\n", evs_version(),
		    event_get_version());
		return 0;
	}
	if (log_parse_level(cfg.log_level, &level) == 0)
		log_set_level(level);
	signal(SIGPIPE, SIG_IGN);

	if ((d.base = event_base_new()) == NULL ||
	    (d.srv = evs_server_new(d.base)) == NULL) {
		log_error("cannot start the event loop: %s", strerror(errno));
		goto out;
	}
	if (cfg.max_clients == 0)
		cfg.max_clients = daemon_default_max_clients();
	evs_server_set(d.srv, EVS_OPT_MAX_CLIENTS, (long long)cfg.max_clients);
	evs_server_set(d.srv, EVS_OPT_MAX_PER_IP, (long long)cfg.max_per_ip);
	evs_server_set(d.srv, EVS_OPT_SENDQ, (long long)cfg.sendq);
	evs_server_set(d.srv, EVS_OPT_MAX_LINE, (long long)cfg.max_line);
	evs_server_set(d.srv, EVS_OPT_IDLE_TIMEOUT_MS,
	    (long long)cfg.idle_timeout_ms);
	evs_server_set(d.srv, EVS_OPT_SHUTDOWN_TIMEOUT_MS,
	    (long long)cfg.shutdown_timeout_ms);

	for (size_t i = 0; i < cfg.nlisten; i++)
		if (strcmp(cfg.listen[i].service, "chat") == 0)
			need_chat = 1;
	if (need_chat && daemon_setup_chat(&d, &cfg) == -1)
		goto out;

	for (size_t i = 0; i < cfg.nlisten; i++) {
		const struct config_listen *cl = &cfg.listen[i];
		const struct evs_service *svc;
		struct evs_listener *l;
		void *arg = NULL;

		if (strcmp(cl->service, "chat") == 0) {
			svc = evs_chat_service();
			arg = d.chat;
		} else {
			svc = evs_echo_service();
		}
		l = evs_server_listen(d.srv, cl->spec, svc, arg, err,
		    sizeof(err));
		if (l == NULL) {
			log_error("cannot listen %s on %s", cl->service, err);
			goto out;
		}
		log_info("listening %s on %s", cl->service,
		    evs_listener_addr_str(l, addr, sizeof(addr)));
	}
	if (cfg.max_clients > 0)
		log_info("ready: at most %llu clients",
		    (unsigned long long)cfg.max_clients);

	d.sigint = evsignal_new(d.base, SIGINT, daemon_signal_cb, &d);
	d.sigterm = evsignal_new(d.base, SIGTERM, daemon_signal_cb, &d);
	if (d.sigint == NULL || d.sigterm == NULL ||
	    evsignal_add(d.sigint, NULL) == -1 ||
	    evsignal_add(d.sigterm, NULL) == -1) {
		log_error("cannot install signal handlers");
		goto out;
	}
	if (event_base_dispatch(d.base) == -1) {
		log_error("event loop failed");
		goto out;
	}
	status = 0;
out:
	if (d.sigint != NULL)
		event_free(d.sigint);
	if (d.sigterm != NULL)
		event_free(d.sigterm);
	evs_server_free(d.srv);
	evs_chat_free(d.chat);
	if (d.base != NULL)
		event_base_free(d.base);
	return status;
}
