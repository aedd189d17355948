/* Reloading: the settings are checked and made live in steps (log,
   chat, limits, opers, tls), at startup, on SIGHUP and on REHASH. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evsock/evsock.h>

#include "../common/log.h"
#include "../common/passhash.h"
#include "../common/tls.h"
#include "daemon.h"
#include "notify.h"

#define FD_RESERVE 32 /* descriptors kept for logs, files, DNS */
#define SECRET_FILE_MAX 4096
#define MOTD_FILE_MAX (64 * 1024)

/*
 * One part of a reload.  prepare() reads and checks what the new
 * settings name without touching the running daemon, leaving what it
 * made in *state; apply() makes it live and cannot fail; discard()
 * drops the state of a reload that another part refused.  Startup
 * goes through the same steps.  Server operators join as more rows.
 */
struct reload_step {
	const char *name;
	int (*prepare)(struct daemon *, const struct config *, void **, char *,
	    size_t);
	void (*apply)(struct daemon *, const struct config *, void *);
	void (*discard)(void *);
};

/* What the chat step reads from files. */
struct chat_files {
	char *motd;
	char *password;
};

static int daemon_prepare_log(struct daemon *, const struct config *, void **,
    char *, size_t);
static void daemon_apply_log(struct daemon *, const struct config *, void *);
static int daemon_prepare_chat(struct daemon *, const struct config *, void **,
    char *, size_t);
static void daemon_apply_chat(struct daemon *, const struct config *, void *);
static void daemon_discard_chat(void *);
static int daemon_prepare_opers(struct daemon *, const struct config *, void **,
    char *, size_t);
static void daemon_apply_opers(struct daemon *, const struct config *, void *);
static int daemon_prepare_tls(struct daemon *, const struct config *, void **,
    char *, size_t);
static void daemon_apply_tls(struct daemon *, const struct config *, void *);
static void daemon_discard_tls(void *);

static const struct reload_step daemon_reload_steps[] = {
	{ "log", daemon_prepare_log, daemon_apply_log, NULL },
	{ "chat", daemon_prepare_chat, daemon_apply_chat, daemon_discard_chat },
	{ "limits", NULL, daemon_worker_apply_limits, NULL },
	{ "opers", daemon_prepare_opers, daemon_apply_opers, NULL },
	{ "tls", daemon_prepare_tls, daemon_apply_tls, daemon_discard_tls },
};
#define NSTEPS (sizeof(daemon_reload_steps) / sizeof(daemon_reload_steps[0]))

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
	fd = open(cfg->log_file,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
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
		snprintf(err, errlen, "%s: %s %s: larger than %zu bytes", where,
		    opt, path, max);
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
daemon_prepare_chat(struct daemon *d, const struct config *cfg, void **state,
    char *err, size_t errlen)
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
			snprintf(err, errlen,
			    "%s: password-file %s: expected "
			    "one non-empty line",
			    config_where(cfg, "password-file", where,
			        sizeof(where)),
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
	/* The chat's settings, each an option of evs_chat_set(). */
	const struct {
		enum evs_chat_option opt;
		uint64_t value;
	} set[] = {
		{ EVS_CHAT_PING_INTERVAL_MS, cfg->ping_interval_ms },
		{ EVS_CHAT_PING_TIMEOUT_MS, cfg->ping_timeout_ms },
		{ EVS_CHAT_REG_TIMEOUT_MS, cfg->reg_timeout_ms },
		{ EVS_CHAT_FLOOD_RATE, cfg->flood_rate },
		{ EVS_CHAT_FLOOD_BURST, cfg->flood_burst },
		{ EVS_CHAT_HISTORY_LINES, cfg->history_lines },
	};

	if (d->chat != NULL) {
		for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
			evs_chat_set(d->chat, set[i].opt,
			    (long long)set[i].value);
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

/* Every operator's hash must be one crypt(3) can use, and the kline
   file a file we can keep bans in: a regular file, or none yet in a
   directory that exists. */
static int
daemon_prepare_opers(struct daemon *d, const struct config *cfg, void **state,
    char *err, size_t errlen)
{
	char where[CONFIG_WHERE_MAX], *dir, *slash;
	struct stat sb;
	int rc = 0;

	(void)d;
	(void)state;
	for (size_t i = 0; i < cfg->nopers; i++) {
		if (passhash_usable(cfg->opers[i].hash) != 1) {
			snprintf(err, errlen,
			    "%s: operator %s: this system's "
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
			snprintf(err, errlen,
			    "%s: kline-file %s: not a "
			    "regular file",
			    where, cfg->kline_file);
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
		snprintf(err, errlen, "%s: %s",
		    config_where(cfg, "tls-cert", where, sizeof(where)), why);
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
		         "connections",
		    cfg->tls_cert);
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
int
daemon_reload_apply(struct daemon *d, const struct config *cfg, char *err,
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

size_t
daemon_reload_default_max_clients(void)
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
int
daemon_reload(struct daemon *d)
{
	struct config next;
	char err[ERR_MAX];

	notify_reloading();
	log_info("reloading %s",
	    d->cfg.config_file != NULL ? d->cfg.config_file :
	                                 "the command line settings");
	if (config_parse(&next, d->argc, d->argv, err, sizeof(err)) == -1)
		goto fail;
	if (next.max_clients == 0)
		next.max_clients = daemon_reload_default_max_clients();
	if (config_diff(&d->cfg, &next, daemon_log_change, d) == 0)
		log_info("reload: no setting changed");
	if (config_diff_keep_restart(&next, &d->cfg) == -1) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		goto fail;
	}
	if (daemon_reload_apply(d, &next, err, sizeof(err)) == -1)
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

/* --check-config: the settings parse and every file they name reads. */
int
daemon_reload_check(struct daemon *d)
{
	char err[ERR_MAX];
	void *state = NULL;
	int rc = 0;

	if (daemon_prepare_log(d, &d->cfg, &state, err, sizeof(err)) == -1 ||
	    daemon_prepare_chat(d, &d->cfg, &state, err, sizeof(err)) == -1)
		rc = -1;
	daemon_discard_chat(state);
	state = NULL;
	if (rc == 0 &&
	    daemon_prepare_opers(d, &d->cfg, &state, err, sizeof(err)) == -1)
		rc = -1;
	if (rc == 0 &&
	    daemon_prepare_tls(d, &d->cfg, &state, err, sizeof(err)) == -1)
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
	printf("%s: ok\n",
	    d->cfg.config_file != NULL ? d->cfg.config_file : "command line");
	return 0;
}
