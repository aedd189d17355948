/* evsockd: the daemon.  Loads its settings, opens listeners, runs the
   loop, reloads on SIGHUP and shuts down gracefully on SIGINT/SIGTERM. */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
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
#include "../common/tls.h"
#include "config.h"
#include "memtrim.h"
#include "metrics.h"
#include "notify.h"

#define FD_RESERVE 32          /* descriptors kept for logs, files, DNS */
#define SECRET_FILE_MAX 4096
#define MOTD_FILE_MAX (64 * 1024)
#define ERR_MAX 1024

#define MAX_WORKERS 256
#define MAX_PASSED_FDS 32

/* The limits a server takes, copied to a worker under its lock. */
struct limits {
	uint64_t max_clients, max_per_ip, sendq, max_line, idle_timeout_ms,
	    shutdown_timeout_ms, stall_timeout_ms;
};

/* An echo worker: its own event_base, server and SO_REUSEPORT
   listeners, on its own thread. */
struct worker {
	pthread_t tid;
	struct event_base *base;
	struct evs_server *srv;
	struct event *stop;
	struct event *apply;         /* takes `pending` on the worker's loop */
	struct metrics_probe *probe;
	pthread_mutex_t lock;
	struct limits pending;       /* under lock */
	int started;
	int locked;                  /* lock initialised */
};

struct daemon {
	struct event_base *base;
	struct evs_server *srv;
	struct evs_chat *chat;
	struct evs_tls *tls;        /* for tls-listen; NULL: none */
	struct event *sigint, *sigterm, *sighup, *sigusr1, *sigusr2;
	struct event *logtick;      /* reports suppressed log lines */
	struct worker *workers;
	size_t nworkers;
	struct metrics *metrics;
	struct metrics_probe *probe;
	struct memtrim *trim;       /* returns heap memory after bursts */
	struct config cfg;          /* what runs now */
	int argc;
	char **argv;
	char *motd;                 /* the text served now */
	char *password;
	int loaded;                 /* the first configuration is live */
	int signals;
};

/*
 * One part of a reload.  prepare() reads and checks what the new
 * settings name without touching the running daemon, leaving what it
 * made in *state; apply() makes it live and cannot fail; discard()
 * drops the state of a reload that another part refused.  Startup
 * goes through the same steps.  Server operators join as more rows.
 */
struct reload_step {
	const char *name;
	int (*prepare)(struct daemon *, const struct config *, void **,
	    char *, size_t);
	void (*apply)(struct daemon *, const struct config *, void *);
	void (*discard)(void *);
};

/* What the chat step reads from files. */
struct chat_files {
	char *motd;
	char *password;
};

static void daemon_signal_cb(evutil_socket_t, short, void *);
static void daemon_shutdown_done(struct evs_server *, void *);
static int daemon_prepare_log(struct daemon *, const struct config *,
    void **, char *, size_t);
static void daemon_apply_log(struct daemon *, const struct config *, void *);
static int daemon_prepare_chat(struct daemon *, const struct config *,
    void **, char *, size_t);
static void daemon_apply_chat(struct daemon *, const struct config *,
    void *);
static void daemon_discard_chat(void *);
static void daemon_apply_limits(struct daemon *, const struct config *,
    void *);
static int daemon_prepare_opers(struct daemon *, const struct config *,
    void **, char *, size_t);
static void daemon_apply_opers(struct daemon *, const struct config *,
    void *);
static int daemon_prepare_tls(struct daemon *, const struct config *,
    void **, char *, size_t);
static void daemon_apply_tls(struct daemon *, const struct config *, void *);
static void daemon_discard_tls(void *);

static const struct reload_step daemon_reload_steps[] = {
	{ "log", daemon_prepare_log, daemon_apply_log, NULL },
	{ "chat", daemon_prepare_chat, daemon_apply_chat,
	  daemon_discard_chat },
	{ "limits", NULL, daemon_apply_limits, NULL },
	{ "opers", daemon_prepare_opers, daemon_apply_opers, NULL },
	{ "tls", daemon_prepare_tls, daemon_apply_tls, daemon_discard_tls },
};
#define NSTEPS (sizeof(daemon_reload_steps) / sizeof(daemon_reload_steps[0]))

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

static void
daemon_set_limits(struct evs_server *srv, const struct limits *lim)
{
	evs_server_set(srv, EVS_OPT_MAX_CLIENTS, (long long)lim->max_clients);
	evs_server_set(srv, EVS_OPT_MAX_PER_IP, (long long)lim->max_per_ip);
	evs_server_set(srv, EVS_OPT_SENDQ, (long long)lim->sendq);
	evs_server_set(srv, EVS_OPT_MAX_LINE, (long long)lim->max_line);
	evs_server_set(srv, EVS_OPT_IDLE_TIMEOUT_MS,
	    (long long)lim->idle_timeout_ms);
	evs_server_set(srv, EVS_OPT_SHUTDOWN_TIMEOUT_MS,
	    (long long)lim->shutdown_timeout_ms);
	evs_server_set(srv, EVS_OPT_STALL_TIMEOUT_MS,
	    (long long)lim->stall_timeout_ms);
}

/* Runs on the worker's loop: a server is touched only by its thread. */
static void
daemon_worker_apply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct limits lim;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->lock);
	lim = w->pending;
	pthread_mutex_unlock(&w->lock);
	daemon_set_limits(w->srv, &lim);
}

static void *
daemon_worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void
daemon_limits(const struct config *cfg, size_t share, struct limits *lim)
{
	uint64_t max = cfg->max_clients;

	/* Each worker gets its share of the client limit, rounded up. */
	if (max > 0 && share > 1)
		max = (max + share - 1) / share;
	lim->max_clients = max;
	lim->max_per_ip = cfg->max_per_ip;
	lim->sendq = cfg->sendq;
	lim->max_line = cfg->max_line;
	lim->idle_timeout_ms = cfg->idle_timeout_ms;
	lim->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
	lim->stall_timeout_ms = cfg->stall_timeout_ms;
}

static void
daemon_apply_limits(struct daemon *d, const struct config *cfg, void *state)
{
	struct limits lim;

	(void)state;
	daemon_limits(cfg, 1, &lim);
	daemon_set_limits(d->srv, &lim);
	daemon_limits(cfg, d->nworkers, &lim);
	for (size_t i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (!w->started) {
			daemon_set_limits(w->srv, &lim);
			continue;
		}
		pthread_mutex_lock(&w->lock);
		w->pending = lim;
		pthread_mutex_unlock(&w->lock);
		event_active(w->apply, EV_TIMEOUT, 0);
	}
}

/* A new log file is opened (and so checked) before anything changes;
   the same path is reopened in apply, as SIGUSR1 does, so a reload
   also follows a rotated file. */
static int
daemon_prepare_log(struct daemon *d, const struct config *cfg, void **state,
    char *err, size_t errlen)
{
	char where[CONFIG_WHERE_MAX];
	int fd;

	(void)d;
	(void)state;
	if (cfg->log_file == NULL)
		return 0;
	fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0640);
	if (fd == -1) {
		snprintf(err, errlen, "%s: log-file %s: %s",
		    config_where(cfg, "log-file", where, sizeof(where)),
		    cfg->log_file, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static void
daemon_apply_log(struct daemon *d, const struct config *cfg, void *state)
{
	enum evs_log_level level = EVS_LOG_INFO;
	enum log_format format = LOG_FORMAT_TEXT;

	(void)d;
	(void)state;
	log_parse_level(cfg->log_level, &level);
	log_parse_format(cfg->log_format, &format);
	log_set_level(level);
	if (cfg->log_file != NULL && log_open_file(cfg->log_file) == -1)
		log_error("log-file %s: %s", cfg->log_file, strerror(errno));
	log_set_format(format);
}

/*
 * Reads a whole small file into a new string, trailing newlines
 * removed.  With `secret`, warns about files others may read.
 * Returns NULL with the reason in err.
 */
static char *
daemon_read_file(const struct config *cfg, const char *opt, const char *path,
    size_t max, int secret, char *err, size_t errlen)
{
	char where[CONFIG_WHERE_MAX];
	struct stat sb;
	char *buf = NULL;
	ssize_t n;
	size_t len = 0;
	int fd = -1;

	config_where(cfg, opt, where, sizeof(where));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s %s: %s", where, opt, path,
		    strerror(errno));
		goto fail;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: %s %s: not a regular file", where,
		    opt, path);
		goto fail;
	}
	if (secret && (sb.st_mode & 0007) != 0)
		log_warn("%s %s is accessible to other users; chmod o-rwx it",
		    opt, path);
	if ((size_t)sb.st_size > max) {
		snprintf(err, errlen, "%s: %s %s: larger than %zu bytes",
		    where, opt, path, max);
		goto fail;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	while (len < max && (n = read(fd, buf + len, max - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s %s: %s", where, opt, path,
			    strerror(errno));
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

static void
daemon_discard_chat(void *state)
{
	struct chat_files *cf = state;

	if (cf == NULL)
		return;
	if (cf->password != NULL) {
		explicit_bzero(cf->password, strlen(cf->password));
		free(cf->password);
	}
	free(cf->motd);
	free(cf);
}

static int
daemon_prepare_chat(struct daemon *d, const struct config *cfg,
    void **state, char *err, size_t errlen)
{
	char where[CONFIG_WHERE_MAX];
	struct chat_files *cf;

	(void)d;
	if ((cf = calloc(1, sizeof(*cf))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	*state = cf;
	if (cfg->password_file != NULL) {
		cf->password = daemon_read_file(cfg, "password-file",
		    cfg->password_file, SECRET_FILE_MAX, 1, err, errlen);
		if (cf->password == NULL)
			return -1;
		if (*cf->password == '\0' ||
		    strchr(cf->password, '\n') != NULL) {
			snprintf(err, errlen, "%s: password-file %s: expected "
			    "one non-empty line", config_where(cfg,
			    "password-file", where, sizeof(where)),
			    cfg->password_file);
			return -1;
		}
	}
	if (cfg->motd_file != NULL) {
		cf->motd = daemon_read_file(cfg, "motd-file", cfg->motd_file,
		    MOTD_FILE_MAX, 0, err, errlen);
		if (cf->motd == NULL)
			return -1;
	}
	return 0;
}

static int
daemon_str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static void
daemon_apply_chat(struct daemon *d, const struct config *cfg, void *state)
{
	struct chat_files *cf = state;

	if (d->chat != NULL) {
		evs_chat_set(d->chat, EVS_CHAT_PING_INTERVAL_MS,
		    (long long)cfg->ping_interval_ms);
		evs_chat_set(d->chat, EVS_CHAT_PING_TIMEOUT_MS,
		    (long long)cfg->ping_timeout_ms);
		evs_chat_set(d->chat, EVS_CHAT_REG_TIMEOUT_MS,
		    (long long)cfg->reg_timeout_ms);
		evs_chat_set(d->chat, EVS_CHAT_FLOOD_RATE,
		    (long long)cfg->flood_rate);
		evs_chat_set(d->chat, EVS_CHAT_FLOOD_BURST,
		    (long long)cfg->flood_burst);
		evs_chat_set(d->chat, EVS_CHAT_HISTORY_LINES,
		    (long long)cfg->history_lines);
		if (evs_chat_set_password(d->chat, cf->password) == -1 ||
		    evs_chat_set_motd(d->chat, cf->motd) == -1)
			log_error("chat: out of memory; password or motd "
			    "unchanged");
	}
	/* File contents are not settings: say when they changed. */
	if (d->loaded) {
		if (daemon_str_differs(d->motd, cf->motd))
			log_info("reload: motd changed (%zu bytes)",
			    cf->motd != NULL ? strlen(cf->motd) : 0);
		if (daemon_str_differs(d->password, cf->password))
			log_info("reload: password changed");
	}
	/* Keep what runs, to compare the next reload with. */
	if (d->password != NULL) {
		explicit_bzero(d->password, strlen(d->password));
		free(d->password);
	}
	free(d->motd);
	d->motd = cf->motd;
	d->password = cf->password;
	cf->motd = cf->password = NULL;
	daemon_discard_chat(cf);
}

/* Returns 1 if crypt(3) can check passwords against hash: the option
   table checks its shape, but a method this libcrypt lacks (or a
   mangled hash) would refuse every OPER. */
static int
daemon_hash_usable(const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *out;
	int usable;

	if (cd == NULL)
		return 0;
	out = crypt_r("", hash, cd);
	usable = out != NULL && out[0] != '*' && strlen(out) == strlen(hash);
	free(cd);
	return usable;
}

/* Every operator's hash must be one crypt(3) can use, and the kline
   file a file we can keep bans in: a regular file, or none yet in a
   directory that exists. */
static int
daemon_prepare_opers(struct daemon *d, const struct config *cfg,
    void **state, char *err, size_t errlen)
{
	char where[CONFIG_WHERE_MAX], *dir, *slash;
	struct stat sb;
	int rc = 0;

	(void)d;
	(void)state;
	for (size_t i = 0; i < cfg->nopers; i++) {
		if (!daemon_hash_usable(cfg->opers[i].hash)) {
			snprintf(err, errlen, "%s: operator %s: this system's "
			    "crypt(3) cannot check passwords against its hash",
			    config_where(cfg, "oper", where, sizeof(where)),
			    cfg->opers[i].name);
			return -1;
		}
	}
	if (cfg->kline_file == NULL)
		return 0;
	config_where(cfg, "kline-file", where, sizeof(where));
	if (stat(cfg->kline_file, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "%s: kline-file %s: not a "
			    "regular file", where, cfg->kline_file);
			return -1;
		}
		return 0;
	}
	if ((dir = strdup(cfg->kline_file)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	if (stat(slash != NULL ? dir : ".", &sb) == -1 ||
	    !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: kline-file %s: no directory %s",
		    where, cfg->kline_file, slash != NULL ? dir : ".");
		rc = -1;
	}
	free(dir);
	return rc;
}

/*
 * Server operators ("oper" lines) and the kline file, at start and on
 * every reload (SIGHUP or an operator's REHASH): the chat's list is
 * replaced by the file's, and the bans are read again from the kline
 * file.  Without a kline file the bans stay in memory as they are.
 */
static void
daemon_apply_opers(struct daemon *d, const struct config *cfg, void *state)
{
	(void)state;
	if (d->chat == NULL)
		return;
	evs_chat_clear_opers(d->chat);
	for (size_t i = 0; i < cfg->nopers; i++)
		if (evs_chat_add_oper(d->chat, cfg->opers[i].name,
		    cfg->opers[i].hash) == -1)
			log_error("operator %s: %s", cfg->opers[i].name,
			    strerror(errno));
	if (cfg->kline_file != NULL &&
	    evs_chat_set_kline_file(d->chat, cfg->kline_file) == -1)
		log_error("kline-file %s: %s; the bans in memory stay",
		    cfg->kline_file, strerror(errno));
}

/* The certificate and key are read into a new context; a pair that
   does not load fails the reload and the running context stays. */
static int
daemon_prepare_tls(struct daemon *d, const struct config *cfg, void **state,
    char *err, size_t errlen)
{
	char where[CONFIG_WHERE_MAX], why[ERR_MAX];
	SSL_CTX *ctx;

	(void)d;
	/* tls-cert alone serves sockets a service manager passes in
	   (FileDescriptorName=chat-tls). */
	if (!config_tls(cfg) && (cfg->tls_cert == NULL || cfg->tls_key == NULL))
		return 0;
	if ((ctx = tls_prepare(cfg->tls_cert, cfg->tls_key, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s: %s", config_where(cfg, "tls-cert",
		    where, sizeof(where)), why);
		return -1;
	}
	*state = ctx;
	return 0;
}

/* New connections take the new context; those already up keep the
   one they started with (each SSL holds a reference to it). */
static void
daemon_apply_tls(struct daemon *d, const struct config *cfg, void *state)
{
	SSL_CTX *ctx = state, *old = NULL;

	if (ctx == NULL)
		return;
	if (d->tls == NULL) {
		d->tls = evs_tls_from_ctx(ctx, 1);
		if (d->tls == NULL)
			log_error("TLS: out of memory");
	} else {
		tls_swap(d->tls, ctx, &old);
		ctx = old;
		log_info("reload: TLS certificate %s loaded for new "
		    "connections", cfg->tls_cert);
	}
	SSL_CTX_free(ctx);
}

static void
daemon_discard_tls(void *state)
{
	SSL_CTX_free(state);
}

/* Runs every step's prepare; on success applies them all, else
   discards what was prepared.  Returns 0 or -1 with err set. */
static int
daemon_apply_config(struct daemon *d, const struct config *cfg, char *err,
    size_t errlen)
{
	void *state[NSTEPS] = { NULL };
	size_t i;

	for (i = 0; i < NSTEPS; i++) {
		const struct reload_step *s = &daemon_reload_steps[i];
		if (s->prepare != NULL &&
		    s->prepare(d, cfg, &state[i], err, errlen) == -1)
			goto fail;
	}
	for (i = 0; i < NSTEPS; i++)
		daemon_reload_steps[i].apply(d, cfg, state[i]);
	return 0;
fail:
	for (size_t j = 0; j <= i && j < NSTEPS; j++)
		if (daemon_reload_steps[j].discard != NULL)
			daemon_reload_steps[j].discard(state[j]);
	return -1;
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

static size_t
daemon_default_max_clients(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return rl.rlim_cur > FD_RESERVE * 2 ? (size_t)rl.rlim_cur - FD_RESERVE :
	    (size_t)rl.rlim_cur / 2;
}

static void
daemon_log_change(const char *name, const char *oldv, const char *newv,
    int reloadable, void *arg)
{
	(void)arg;
	if (strcmp(name, "password-file") == 0 ||
	    strcmp(name, "motd-file") == 0 || reloadable)
		log_info("reload: %s %s -> %s", name, oldv, newv);
	else
		log_warn("reload: %s %s -> %s needs a restart; still %s", name,
		    oldv, newv, oldv);
}

/* SIGHUP and the operators' REHASH: the settings are read again from
   the same command line and config file; a broken file leaves
   everything as it was.  Returns 0, or -1 when the new settings were
   refused. */
static int
daemon_reload(struct daemon *d)
{
	struct config next;
	char err[ERR_MAX];

	notify_reloading();
	log_info("reloading %s", d->cfg.config_file != NULL ?
	    d->cfg.config_file : "the command line settings");
	if (config_parse(&next, d->argc, d->argv, err, sizeof(err)) == -1)
		goto fail;
	if (next.max_clients == 0)
		next.max_clients = daemon_default_max_clients();
	if (config_diff(&d->cfg, &next, daemon_log_change, d) == 0)
		log_info("reload: no setting changed");
	if (config_keep_restart(&next, &d->cfg) == -1) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		goto fail;
	}
	if (daemon_apply_config(d, &next, err, sizeof(err)) == -1)
		goto fail;
	config_free(&d->cfg);
	d->cfg = next;
	metrics_count_reload(d->metrics, 1);
	log_info("reload: done");
	notify_ready("reloaded");
	return 0;
fail:
	config_free(&next);
	log_error("reload failed, the running settings stay: %s", err);
	metrics_count_reload(d->metrics, 0);
	notify_ready("reload failed; previous settings kept");
	return -1;
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
	    "%llu refused; echo workers: %zu", (unsigned long long)st.current,
	    (unsigned long long)st.accepted, (unsigned long long)st.refused,
	    d->nworkers);
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

/*
 * Opens one echo listener on every worker, all on one address with
 * SO_REUSEPORT so the kernel spreads connections over them.  A probe
 * bind without SO_REUSEPORT comes first: it picks the port for port 0,
 * and it fails when another program holds the port (which
 * SO_REUSEPORT alone would quietly share).  Returns the first
 * listener, or NULL with err set.
 */
static struct evs_listener *
daemon_listen_workers(struct daemon *d, const char *spec, struct evs_tls *tls,
    char *err, size_t errlen)
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
		if (tls != NULL)
			evs_listener_set_tls(l, tls);
		if (first == NULL)
			first = l;
	}
	return first;
}

static int
daemon_start_workers(struct daemon *d, size_t n)
{
	char name[32];

	if (evthread_use_pthreads() == -1) {
		log_error("cannot enable libevent threading");
		return -1;
	}
	if ((d->workers = calloc(n, sizeof(*d->workers))) == NULL)
		return -1;
	d->nworkers = n;
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &d->workers[i];
		if (pthread_mutex_init(&w->lock, NULL) != 0)
			return -1;
		w->locked = 1;
		snprintf(name, sizeof(name), "worker%zu", i + 1);
		if ((w->base = event_base_new()) == NULL ||
		    (w->srv = evs_server_new(w->base)) == NULL ||
		    (w->stop = event_new(w->base, -1, 0, daemon_worker_stop_cb,
		    w)) == NULL ||
		    (w->apply = event_new(w->base, -1, 0,
		    daemon_worker_apply_cb, w)) == NULL ||
		    (w->probe = metrics_probe_new(w->base, w->srv, name)) ==
		    NULL) {
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
		metrics_probe_free(w->probe);
		if (w->stop != NULL)
			event_free(w->stop);
		if (w->apply != NULL)
			event_free(w->apply);
		evs_server_free(w->srv);
		if (w->base != NULL)
			event_base_free(w->base);
		if (w->locked)
			pthread_mutex_destroy(&w->lock);
	}
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
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
		log_error("user %s: %s", cfg->user, errno != 0 ?
		    strerror(errno) : "no such user");
		return -1;
	}
	/* The log file opened as root stays the daemon's to write; giving
	   the open file (not the path, which could be swapped) to the user
	   lets SIGUSR1 reopen it in place. */
	if (cfg->log_file != NULL && fchown(STDERR_FILENO, pw->pw_uid,
	    pw->pw_gid) == -1)
		log_warn("log-file %s: cannot give it to %s: %s",
		    cfg->log_file, cfg->user, strerror(errno));
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_error("user %s: cannot switch: %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	/* Root must be gone for good: getting it back must fail. */
	if (pw->pw_uid != 0 && (setuid(0) != -1 || geteuid() == 0 ||
	    getuid() == 0)) {
		log_error("user %s: still able to become root; refusing to "
		    "run", cfg->user);
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
		snprintf(err, errlen, "TLS %s: no certificate (tls-cert and "
		    "tls-key)", service);
		return NULL;
	}
	if (fd < 0 && svc == evs_echo_service() && d->nworkers > 0)
		return daemon_listen_workers(d, spec, tls ? d->tls : NULL, err,
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
	struct { struct event **ev; int sig; } tab[] = {
		{ &d->sigint, SIGINT }, { &d->sigterm, SIGTERM },
		{ &d->sighup, SIGHUP }, { &d->sigusr1, SIGUSR1 },
		{ &d->sigusr2, SIGUSR2 },
	};
	struct timeval second = { 1, 0 };

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		*tab[i].ev = evsignal_new(d->base, tab[i].sig,
		    daemon_signal_cb, d);
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

	daemon_free_workers(d);
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

/* --check-config: the settings parse and every file they name reads. */
static int
daemon_check(struct daemon *d)
{
	char err[ERR_MAX];
	void *state = NULL;
	int rc = 0;

	if (daemon_prepare_log(d, &d->cfg, &state, err, sizeof(err)) == -1 ||
	    daemon_prepare_chat(d, &d->cfg, &state, err, sizeof(err)) == -1)
		rc = -1;
	daemon_discard_chat(state);
	state = NULL;
	if (rc == 0 && daemon_prepare_opers(d, &d->cfg, &state, err,
	    sizeof(err)) == -1)
		rc = -1;
	if (rc == 0 && daemon_prepare_tls(d, &d->cfg, &state, err,
	    sizeof(err)) == -1)
		rc = -1;
	daemon_discard_tls(state);
	if (rc == 0 && d->cfg.user != NULL && getpwnam(d->cfg.user) == NULL) {
		char where[CONFIG_WHERE_MAX];
		snprintf(err, sizeof(err), "%s: user %s: no such user",
		    config_where(&d->cfg, "user", where, sizeof(where)),
		    d->cfg.user);
		rc = -1;
	}
	if (rc == -1) {
		fprintf(stderr, "evsockd: %s\n", err);
		return 1;
	}
	printf("%s: ok\n", d->cfg.config_file != NULL ? d->cfg.config_file :
	    "command line");
	return 0;
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
		status = daemon_check(&d);
		config_free(&d.cfg);
		return status;
	}
	log_set_format(LOG_FORMAT_TEXT);
	if (d.cfg.max_clients == 0)
		d.cfg.max_clients = daemon_default_max_clients();

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
			    "(FileDescriptorName=)", i, names[i]);
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
	    ncpu > 0 ? (size_t)ncpu : 1;
	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	/* Echo connections share nothing, so they spread over workers;
	   chat state lives on the main thread. */
	if (need_echo && nthreads > 1 &&
	    daemon_start_workers(&d, nthreads) == -1)
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
		    evs_chat_set_server_name(d.chat, d.cfg.server_name) == -1) {
			log_error("cannot create the chat service: %s",
			    strerror(errno));
			goto out;
		}
		evs_chat_set_rehash_cb(d.chat, daemon_rehash_cb, &d);
	}
	if ((d.probe = metrics_probe_new(d.base, d.srv, "main")) ==
	    NULL || (d.metrics = metrics_new()) == NULL ||
	    metrics_add_probe(d.metrics, d.probe) == -1) {
		log_error("cannot set up metrics: %s", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < d.nworkers; i++)
		metrics_add_probe(d.metrics, d.workers[i].probe);
	metrics_set_chat(d.metrics, d.chat);
	/* Startup is the first reload: the same steps. */
	if (daemon_apply_config(&d, &d.cfg, err, sizeof(err)) == -1) {
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
		    "settings ignored", npassed);
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
			    n > 0 ? ";" : "", evs_listener_addr_str(l, addr,
			    sizeof(addr)));
			evs_chat_set_tls_ports(d.chat, tlsports);
		}
		log_info("listening %s%s on %s", cl->service, cl->tls ?
		    " (TLS)" : "", evs_listener_addr_str(l, addr,
		    sizeof(addr)));
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
