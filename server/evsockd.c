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

#include <pthread.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evsock/evsock.h>

#include "../common/log.h"
#include "config.h"

#define FD_RESERVE 32          /* descriptors kept for logs, files, DNS */
#define SECRET_FILE_MAX 4096

#define MAX_WORKERS 256

/* An echo worker: its own event_base, server and SO_REUSEPORT
   listeners, on its own thread. */
struct worker {
	pthread_t tid;
	struct event_base *base;
	struct evs_server *srv;
	struct event *stop;
	int started;
};

struct daemon {
	struct event_base *base;
	struct evs_server *srv;
	struct evs_chat *chat;
	struct event *sigint, *sigterm;
	struct worker *workers;
	size_t nworkers;
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

	(void)srv;
	event_base_loopexit(d->base, NULL);
}

static void
daemon_worker_shutdown_done(struct evs_server *srv, void *arg)
{
	struct worker *w = arg;

	(void)srv;
	event_base_loopexit(w->base, NULL);
}

static void
daemon_worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	evs_server_shutdown(w->srv, 0, daemon_worker_shutdown_done, w);
}

static void *
daemon_worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (d->signals++ > 0) {
		log_warn("second %s: exiting now", strsignal((int)sig));
		for (size_t i = 0; i < d->nworkers; i++)
			event_base_loopbreak(d->workers[i].base);
		event_base_loopbreak(d->base);
		return;
	}
	log_info("%s: shutting down (again to force)", strsignal((int)sig));
	/* Workers run their own loops: wake each from here (thread-safe
	   with evthread locking), then wind down the main server. */
	for (size_t i = 0; i < d->nworkers; i++)
		event_active(d->workers[i].stop, EV_TIMEOUT, 0);
	evs_server_shutdown(d->srv, 0, daemon_shutdown_done, d);
}

static void
daemon_configure(struct evs_server *srv, const struct config *cfg,
    size_t share)
{
	uint64_t max = cfg->max_clients;

	/* Each worker gets its share of the client limit, rounded up. */
	if (max > 0 && share > 1)
		max = (max + share - 1) / share;
	evs_server_set(srv, EVS_OPT_MAX_CLIENTS, (long long)max);
	evs_server_set(srv, EVS_OPT_MAX_PER_IP, (long long)cfg->max_per_ip);
	evs_server_set(srv, EVS_OPT_BACKLOG, (long long)cfg->backlog);
	evs_server_set(srv, EVS_OPT_SENDQ, (long long)cfg->sendq);
	evs_server_set(srv, EVS_OPT_MAX_LINE, (long long)cfg->max_line);
	evs_server_set(srv, EVS_OPT_IDLE_TIMEOUT_MS,
	    (long long)cfg->idle_timeout_ms);
	evs_server_set(srv, EVS_OPT_SHUTDOWN_TIMEOUT_MS,
	    (long long)cfg->shutdown_timeout_ms);
}

/*
 * Opens one echo listener on every worker, all on one address with
 * SO_REUSEPORT so the kernel spreads connections over them.  A probe
 * bind without SO_REUSEPORT comes first: it picks the port for port 0,
 * and it fails when another program holds the port (which
 * SO_REUSEPORT alone would quietly share).  Returns the first
 * listener, or NULL with err set.
 */
static struct evs_listener *
daemon_listen_workers(struct daemon *d, const char *spec, char *err,
    size_t errlen)
{
	struct evs_listener *probe, *first = NULL, *l;
	const struct sockaddr *sa;
	struct sockaddr_storage ss;
	socklen_t salen;

	probe = evs_server_listen(d->srv, spec, evs_echo_service(), NULL, err,
	    errlen);
	if (probe == NULL)
		return NULL;
	sa = evs_listener_addr(probe, &salen);
	if (salen > sizeof(ss))
		salen = sizeof(ss);
	memcpy(&ss, sa, salen);
	evs_listener_free(probe);
	for (size_t i = 0; i < d->nworkers; i++) {
		l = evs_server_listen_addr(d->workers[i].srv,
		    (struct sockaddr *)&ss, salen, evs_echo_service(), NULL,
		    err, errlen);
		if (l == NULL)
			return NULL;
		if (first == NULL)
			first = l;
	}
	return first;
}

static int
daemon_start_workers(struct daemon *d, size_t n)
{
	if (evthread_use_pthreads() == -1) {
		log_error("cannot enable libevent threading");
		return -1;
	}
	if ((d->workers = calloc(n, sizeof(*d->workers))) == NULL)
		return -1;
	d->nworkers = n;
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &d->workers[i];
		if ((w->base = event_base_new()) == NULL ||
		    (w->srv = evs_server_new(w->base)) == NULL ||
		    (w->stop = event_new(w->base, -1, 0, daemon_worker_stop_cb,
		    w)) == NULL) {
			log_error("cannot create worker %zu", i);
			return -1;
		}
		evs_server_set(w->srv, EVS_OPT_REUSEPORT, 1);
	}
	return 0;
}

static void
daemon_free_workers(struct daemon *d)
{
	for (size_t i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->started) {
			event_base_loopbreak(w->base);
			pthread_join(w->tid, NULL);
		}
		if (w->stop != NULL)
			event_free(w->stop);
		evs_server_free(w->srv);
		if (w->base != NULL)
			event_base_free(w->base);
	}
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
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
daemon_add_oper(void *arg, const char *name, const char *hash)
{
	return evs_chat_add_oper(arg, name, hash);
}

static int
daemon_setup_chat(struct daemon *d, const struct config *cfg)
{
	char *text, err[512];

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
	    (long long)cfg->flood_rate) == -1 ||
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
	if (cfg->config_file != NULL && config_read_opers(cfg->config_file,
	    daemon_add_oper, d->chat, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return -1;
	}
	if (cfg->kline_file != NULL &&
	    evs_chat_set_kline_file(d->chat, cfg->kline_file) == -1) {
		log_error("kline file %s: %s", cfg->kline_file,
		    strerror(errno));
		return -1;
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
	enum evs_log_level level;
	char err[512], addr[80];
	int status = 1, need_chat = 0, need_echo = 0;
	size_t nthreads;
	long ncpu;

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

	for (size_t i = 0; i < cfg.nlisten; i++) {
		if (strcmp(cfg.listen[i].service, "chat") == 0)
			need_chat = 1;
		else
			need_echo = 1;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	nthreads = cfg.threads > 0 ? (size_t)cfg.threads :
	    ncpu > 0 ? (size_t)ncpu : 1;
	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	/* Echo connections share nothing, so they spread over workers;
	   chat state lives on the main thread. */
	if (need_echo && nthreads > 1 &&
	    daemon_start_workers(&d, nthreads) == -1)
		goto out;

	if ((d.base = event_base_new()) == NULL ||
	    (d.srv = evs_server_new(d.base)) == NULL) {
		log_error("cannot start the event loop: %s", strerror(errno));
		goto out;
	}
	if (cfg.max_clients == 0)
		cfg.max_clients = daemon_default_max_clients();
	daemon_configure(d.srv, &cfg, 1);
	for (size_t i = 0; i < d.nworkers; i++)
		daemon_configure(d.workers[i].srv, &cfg, d.nworkers);

	if (need_chat && daemon_setup_chat(&d, &cfg) == -1)
		goto out;
	/* Signals are caught before the first "listening" line, so that a
	   supervisor reacting to that line can always stop us cleanly. */
	d.sigint = evsignal_new(d.base, SIGINT, daemon_signal_cb, &d);
	d.sigterm = evsignal_new(d.base, SIGTERM, daemon_signal_cb, &d);
	if (d.sigint == NULL || d.sigterm == NULL ||
	    evsignal_add(d.sigint, NULL) == -1 ||
	    evsignal_add(d.sigterm, NULL) == -1) {
		log_error("cannot install signal handlers");
		goto out;
	}

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
		if (svc == evs_echo_service() && d.nworkers > 0)
			l = daemon_listen_workers(&d, cl->spec, err,
			    sizeof(err));
		else
			l = evs_server_listen(d.srv, cl->spec, svc, arg, err,
			    sizeof(err));
		if (l == NULL) {
			log_error("cannot listen %s on %s", cl->service, err);
			goto out;
		}
		log_info("listening %s on %s", cl->service,
		    evs_listener_addr_str(l, addr, sizeof(addr)));
	}
	if (d.nworkers > 0)
		log_info("echo runs on %zu worker threads", d.nworkers);
	if (cfg.max_clients > 0)
		log_info("ready: at most %llu clients",
		    (unsigned long long)cfg.max_clients);

	for (size_t i = 0; i < d.nworkers; i++) {
		if (pthread_create(&d.workers[i].tid, NULL, daemon_worker_main,
		    &d.workers[i]) != 0) {
			log_error("cannot start worker thread %zu", i);
			goto out;
		}
		d.workers[i].started = 1;
	}
	if (event_base_dispatch(d.base) == -1) {
		log_error("event loop failed");
		goto out;
	}
	/* Workers finish their own shutdown within the same deadline. */
	{
		struct evs_server_stats st;
		unsigned long long served;

		evs_server_stats(d.srv, &st);
		served = st.accepted;
		for (size_t i = 0; i < d.nworkers; i++) {
			if (d.workers[i].started) {
				pthread_join(d.workers[i].tid, NULL);
				d.workers[i].started = 0;
			}
			evs_server_stats(d.workers[i].srv, &st);
			served += st.accepted;
		}
		log_info("shutdown complete: %llu connections served", served);
	}
	status = 0;
out:
	daemon_free_workers(&d);
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
