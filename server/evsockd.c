/* evsockd: the daemon.  Loads its settings, opens listeners, runs the
   loop, reloads on SIGHUP and shuts down gracefully on SIGINT/SIGTERM. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <event2/event.h>

#include <evsock/evsock.h>

#include "../common/log.h"
#include "config.h"
#include "daemon.h"
#include "memtrim.h"
#include "metrics.h"
#include "notify.h"

#define MAX_WORKERS 256
#define MAX_PASSED_FDS 32

static void daemon_signal_cb(evutil_socket_t, short, void *);
static void daemon_shutdown_done(struct evs_server *, void *);

static void
daemon_shutdown_done(struct evs_server *srv, void *arg)
{
	struct daemon *d = arg;

	(void)srv;
	event_base_loopexit(d->base, NULL);
}

/* Joins the chat to the cluster as node-name, by default the host
   name and the first chat port. */
static int
daemon_join_cluster(struct daemon *d, const struct config *cfg, int port)
{
	char node[128], host[64], err[256];

	if (cfg->node_name != NULL) {
		snprintf(node, sizeof(node), "%s", cfg->node_name);
	} else {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "evsockd");
		host[sizeof(host) - 1] = '\0';
		snprintf(node, sizeof(node), "%s:%d", host, port);
	}
	if (evs_chat_set_cluster(d->chat, cfg->cluster, node,
	        (unsigned)cfg->cluster_timeout_ms, err, sizeof(err)) == -1) {
		log_error("cannot join the cluster: %s", err);
		return -1;
	}
	log_info("cluster: node %s on %s", node, cfg->cluster);
	return 0;
}

/* An operator's REHASH runs the same reload as SIGHUP. */
static int
daemon_rehash_cb(struct evs_chat *chat, void *arg)
{
	(void)chat;
	return daemon_reload(arg);
}

static void
daemon_status(struct daemon *d)
{
	struct evs_server_stats st;

	evs_server_stats(d->srv, &st);
	log_info("status: main loop: %llu connections open, %llu accepted, "
	         "%llu refused; echo workers: %zu",
	    (unsigned long long)st.current, (unsigned long long)st.accepted,
	    (unsigned long long)st.refused, d->nworkers);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	switch ((int)sig) {
	case SIGHUP:
		(void)daemon_reload(d);
		return;
	case SIGUSR1:
		if (d->cfg.log_file == NULL)
			log_info("SIGUSR1: no log file to reopen");
		else if (log_open_file(d->cfg.log_file) == -1)
			log_error("SIGUSR1: cannot reopen %s: %s",
			    d->cfg.log_file, strerror(errno));
		else
			log_info("SIGUSR1: log file reopened");
		return;
	case SIGUSR2:
		daemon_status(d);
		return;
	default:
		break;
	}
	if (d->signals++ > 0) {
		log_warn("second %s: exiting now", strsignal((int)sig));
		for (size_t i = 0; i < d->nworkers; i++)
			event_base_loopbreak(d->workers[i].base);
		event_base_loopbreak(d->base);
		return;
	}
	notify_stopping();
	log_info("%s: shutting down (again to force)", strsignal((int)sig));
	/* Workers run their own loops: wake each from here (thread-safe
	   with evthread locking), then wind down the main server. */
	for (size_t i = 0; i < d->nworkers; i++)
		event_active(d->workers[i].stop, EV_TIMEOUT, 0);
	evs_server_shutdown(d->srv, 0, daemon_shutdown_done, d);
}

/* Leaves root for cfg->user once every socket is bound. */
static int
daemon_drop_privileges(const struct config *cfg)
{
	struct passwd *pw;

	if (cfg->user == NULL)
		return 0;
	if (geteuid() != 0) {
		log_info("user %s: not started as root; running as uid %u",
		    cfg->user, (unsigned)geteuid());
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		log_error("user %s: %s", cfg->user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	/* The log file opened as root stays the daemon's to write; giving
	   the open file (not the path, which could be swapped) to the user
	   lets SIGUSR1 reopen it in place. */
	if (cfg->log_file != NULL &&
	    fchown(STDERR_FILENO, pw->pw_uid, pw->pw_gid) == -1)
		log_warn("log-file %s: cannot give it to %s: %s", cfg->log_file,
		    cfg->user, strerror(errno));
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_error("user %s: cannot switch: %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	/* Root must be gone for good: getting it back must fail. */
	if (pw->pw_uid != 0 &&
	    (setuid(0) != -1 || geteuid() == 0 || getuid() == 0)) {
		log_error("user %s: still able to become root; refusing to "
		          "run",
		    cfg->user);
		return -1;
	}
	log_info("running as user %s (uid %u, gid %u)", pw->pw_name,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	return 0;
}

static struct evs_listener *
daemon_listen_one(struct daemon *d, const char *service, const char *spec,
    int fd, int tls, char *err, size_t errlen)
{
	const struct evs_service *svc = evs_echo_service();
	struct evs_listener *l = NULL;
	void *arg = NULL;

	if (strcmp(service, "chat") == 0) {
		svc = evs_chat_service();
		arg = d->chat;
	}
	if (tls && d->tls == NULL) {
		snprintf(err, errlen,
		    "TLS %s: no certificate (tls-cert and "
		    "tls-key)",
		    service);
		return NULL;
	}
	if (fd < 0 && svc == evs_echo_service() && d->nworkers > 0)
		return daemon_worker_listen(d, spec, tls ? d->tls : NULL, err,
		    errlen);
	if (fd < 0) {
		l = evs_server_listen(d->srv, spec, svc, arg, err, errlen);
		if (l != NULL && tls)
			evs_listener_set_tls(l, d->tls);
		return l;
	}
	if (svc == evs_echo_service() && d->nworkers > 0) {
		/* Every worker accepts on its own copy of the socket. */
		for (size_t i = 0; i < d->nworkers; i++) {
			struct evs_listener *wl;
			int dfd = dup(fd);
			wl = evs_server_listen_fd(d->workers[i].srv, dfd, svc,
			    NULL, err, errlen);
			if (wl == NULL) {
				close(fd);
				return NULL;
			}
			if (tls)
				evs_listener_set_tls(wl, d->tls);
			if (l == NULL)
				l = wl;
		}
		close(fd);
		return l;
	}
	l = evs_server_listen_fd(d->srv, fd, svc, arg, err, errlen);
	if (l != NULL && tls)
		evs_listener_set_tls(l, d->tls);
	return l;
}

/* Lines the log's rate limit held back are reported within a second
   or so, even when no further line comes to carry the report. */
static void
daemon_logtick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_limited_flush();
}

static int
daemon_signals(struct daemon *d)
{
	struct {
		struct event **ev;
		int sig;
	} tab[] = {
		{ &d->sigint, SIGINT },
		{ &d->sigterm, SIGTERM },
		{ &d->sighup, SIGHUP },
		{ &d->sigusr1, SIGUSR1 },
		{ &d->sigusr2, SIGUSR2 },
	};
	struct timeval second = { 1, 0 };

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		*tab[i].ev = evsignal_new(d->base, tab[i].sig, daemon_signal_cb,
		    d);
		if (*tab[i].ev == NULL || evsignal_add(*tab[i].ev, NULL) == -1)
			return -1;
	}
	d->logtick = event_new(d->base, -1, EV_PERSIST, daemon_logtick_cb,
	    NULL);
	if (d->logtick == NULL || event_add(d->logtick, &second) == -1)
		return -1;
	/* A write to a closed peer, a log file past its size limit, or a
	   write to the terminal from the background must not kill or stop
	   the daemon: each is an error return instead. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	return 0;
}

static void
daemon_free(struct daemon *d)
{
	struct event *evs[] = { d->sigint, d->sigterm, d->sighup, d->sigusr1,
		d->sigusr2, d->logtick };

	daemon_worker_free(d);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	metrics_free(d->metrics);
	metrics_probe_free(d->probe);
	memtrim_free(d->trim);
	evs_server_free(d->srv);
	evs_chat_free(d->chat);
	evs_tls_free(d->tls);
	if (d->base != NULL)
		event_base_free(d->base);
	if (d->password != NULL) {
		explicit_bzero(d->password, strlen(d->password));
		free(d->password);
	}
	free(d->motd);
	config_free(&d->cfg);
}

int
main(int argc, char **argv)
{
	static struct daemon d;
	char err[ERR_MAX], addr[80], names[MAX_PASSED_FDS][32];
	char tlsports[200] = "";
	int status = 1, need_chat = 0, need_echo = 0, npassed, chat_port = 0;
	size_t nthreads;
	long ncpu;

	memtrim_libevent();
	log_set_prog("evsockd");
	d.argc = argc;
	d.argv = argv;
	if (config_parse(&d.cfg, argc, argv, err, sizeof(err)) == -1) {
		fprintf(stderr, "evsockd: %s\n", err);
		config_free(&d.cfg);
		return 2;
	}
	if (d.cfg.help || d.cfg.version) {
		if (d.cfg.help)
			fputs(config_usage(), stdout);
		else
			printf("evsockd %s (libevent %s)\n", evs_version(),
			    event_get_version());
		config_free(&d.cfg);
		return 0;
	}
	if (d.cfg.check_config) {
		status = daemon_reload_check(&d);
		config_free(&d.cfg);
		return status;
	}
	log_set_format(LOG_FORMAT_TEXT);
	if (d.cfg.max_clients == 0)
		d.cfg.max_clients = daemon_reload_default_max_clients();

	/* Sockets systemd passes in replace the listen settings. */
	npassed = notify_listen_fds(names, MAX_PASSED_FDS);
	if (npassed > MAX_PASSED_FDS) {
		log_error("%d sockets passed in; at most %d", npassed,
		    MAX_PASSED_FDS);
		goto out;
	}
	for (int i = 0; i < npassed; i++) {
		if (strcmp(names[i], "chat") == 0 ||
		    strcmp(names[i], "chat-tls") == 0)
			need_chat = 1;
		else if (strcmp(names[i], "echo") == 0 ||
		    strcmp(names[i], "echo-tls") == 0)
			need_echo = 1;
		else {
			log_error("passed socket %d is named '%s'; name it "
			          "echo, chat, echo-tls or chat-tls "
			          "(FileDescriptorName=)",
			    i, names[i]);
			goto out;
		}
	}
	for (size_t i = 0; npassed <= 0 && i < d.cfg.nlisten; i++) {
		if (strcmp(d.cfg.listen[i].service, "chat") == 0)
			need_chat = 1;
		else
			need_echo = 1;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	nthreads = d.cfg.threads > 0 ? (size_t)d.cfg.threads :
	    ncpu > 0                 ? (size_t)ncpu :
	                               1;
	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	/* Echo connections share nothing, so they spread over workers;
	   chat state lives on the main thread. */
	if (need_echo && nthreads > 1 &&
	    daemon_worker_start(&d, nthreads) == -1)
		goto out;

	if ((d.base = event_base_new()) == NULL ||
	    (d.srv = evs_server_new(d.base)) == NULL ||
	    (d.trim = memtrim_new(d.base, 1000)) == NULL) {
		log_error("cannot start the event loop: %s", strerror(errno));
		goto out;
	}
	evs_server_set(d.srv, EVS_OPT_BACKLOG, (long long)d.cfg.backlog);
	evs_server_set(d.srv, EVS_OPT_SOCKET_BUFFER,
	    (long long)d.cfg.socket_buffer);
	for (size_t i = 0; i < d.nworkers; i++) {
		evs_server_set(d.workers[i].srv, EVS_OPT_BACKLOG,
		    (long long)d.cfg.backlog);
		evs_server_set(d.workers[i].srv, EVS_OPT_SOCKET_BUFFER,
		    (long long)d.cfg.socket_buffer);
	}
	if (need_chat) {
		if ((d.chat = evs_chat_new(d.srv)) == NULL ||
		    evs_chat_set_server_name(d.chat, d.cfg.server_name) == -1 ||
		    evs_chat_set_server_info(d.chat, d.cfg.server_info) == -1) {
			log_error("cannot create the chat service: %s",
			    strerror(errno));
			goto out;
		}
		evs_chat_set_rehash_cb(d.chat, daemon_rehash_cb, &d);
	}
	if ((d.probe = metrics_probe_new(d.base, d.srv, "main")) == NULL ||
	    (d.metrics = metrics_new()) == NULL ||
	    metrics_add_probe(d.metrics, d.probe) == -1) {
		log_error("cannot set up metrics: %s", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < d.nworkers; i++)
		metrics_add_probe(d.metrics, d.workers[i].probe);
	metrics_set_chat(d.metrics, d.chat);
	/* Startup is the first reload: the same steps. */
	if (daemon_reload_apply(&d, &d.cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		goto out;
	}
	d.loaded = 1;
	/* Only the main server's listeners: echo workers share their port
	   among themselves already. */
	if (d.cfg.reuseport)
		evs_server_set(d.srv, EVS_OPT_REUSEPORT, 1);
	/* Signals are caught before the first "listening" line, so that a
	   supervisor reacting to that line can always stop us cleanly. */
	if (daemon_signals(&d) == -1) {
		log_error("cannot install signal handlers");
		goto out;
	}

	if (npassed > 0)
		log_info("using %d sockets from the service manager; listen "
		         "settings ignored",
		    npassed);
	for (int i = 0; i < npassed; i++) {
		/* "chat-tls" is chat over TLS (tls-cert and tls-key). */
		int tls = strstr(names[i], "-tls") != NULL;
		struct evs_listener *l;

		names[i][strcspn(names[i], "-")] = '\0';
		l = daemon_listen_one(&d, names[i], NULL, 3 + i, tls, err,
		    sizeof(err));
		if (l == NULL) {
			log_error("cannot listen %s on passed socket %d: %s",
			    names[i], i, err);
			goto out;
		}
		log_info("listening %s%s on %s", names[i], tls ? " (TLS)" : "",
		    evs_listener_addr_str(l, addr, sizeof(addr)));
		if (strcmp(names[i], "chat") == 0 && chat_port == 0)
			chat_port = evs_listener_port(l);
	}
	for (size_t i = 0; npassed <= 0 && i < d.cfg.nlisten; i++) {
		const struct config_listen *cl = &d.cfg.listen[i];
		struct evs_listener *l = daemon_listen_one(&d, cl->service,
		    cl->spec, -1, cl->tls, err, sizeof(err));
		if (l == NULL) {
			log_error("cannot listen %s on %s", cl->service, err);
			goto out;
		}
		/* Chat clients learn the TLS ports from ISUPPORT. */
		if (cl->tls && d.chat != NULL &&
		    strcmp(cl->service, "chat") == 0) {
			size_t n = strlen(tlsports);
			snprintf(tlsports + n, sizeof(tlsports) - n, "%s%s",
			    n > 0 ? ";" : "",
			    evs_listener_addr_str(l, addr, sizeof(addr)));
			evs_chat_set_tls_ports(d.chat, tlsports);
		}
		log_info("listening %s%s on %s", cl->service,
		    cl->tls ? " (TLS)" : "",
		    evs_listener_addr_str(l, addr, sizeof(addr)));
		if (strcmp(cl->service, "chat") == 0 && chat_port == 0)
			chat_port = evs_listener_port(l);
	}
	if (need_chat && d.cfg.cluster != NULL &&
	    daemon_join_cluster(&d, &d.cfg, chat_port) == -1)
		goto out;
	if (d.cfg.metrics != NULL) {
		if (metrics_listen(d.metrics, d.base, d.cfg.metrics, addr,
		        sizeof(addr), err, sizeof(err)) == -1) {
			log_error("cannot serve metrics on %s", err);
			goto out;
		}
		log_info("listening metrics on %s", addr);
	}
	if (daemon_drop_privileges(&d.cfg) == -1)
		goto out;
	if (d.nworkers > 0)
		log_info("echo runs on %zu worker threads", d.nworkers);
	if (d.cfg.max_clients > 0)
		log_info("ready: at most %llu clients",
		    (unsigned long long)d.cfg.max_clients);

	for (size_t i = 0; i < d.nworkers; i++) {
		if (pthread_create(&d.workers[i].tid, NULL, daemon_worker_main,
		        &d.workers[i]) != 0) {
			log_error("cannot start worker thread %zu", i);
			goto out;
		}
		d.workers[i].started = 1;
	}
	notify_ready("serving");
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
	daemon_free(&d);
	return status;
}
