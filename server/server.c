/*
 * The server object: its options, the reaper that frees closed
 * connections outside their callbacks, the flusher that writes corked
 * output once a pass, and shutdown.  Listeners and admission are
 * server-listen.c, the counters server-stats.c.  Calls run one way,
 * from the server's files to the connection's (conn*.c).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "../common/log.h"
#include "server-int.h"

/* A 10,000-member join storm held the loop up to 3.6 s in one pass
   without a budget; with 20 ms no pass took 100 ms, and the 500-client
   fan-out ladder did not change (passes there are shorter).  A 2 ms
   hold cut the CPU per delivery by a quarter at 1,600 msgs/s for
   0.6 ms more at p50 (README, "Chat against InspIRCd and ngircd"). */
#ifndef SERVER_PASS_BUDGET_US
#define SERVER_PASS_BUDGET_US 20000
#endif
#ifndef SERVER_FLUSH_HOLD_US
#define SERVER_FLUSH_HOLD_US 2000
#endif

static void server_reaper_cb(evutil_socket_t, short, void *);
static void server_flusher_cb(evutil_socket_t, short, void *);
static void server_accept_retry_cb(evutil_socket_t, short, void *);
static void server_shutdown_timer_cb(evutil_socket_t, short, void *);
static void server_pass_done(struct evs_server *);
static void server_opt_store(struct evs_server *, enum evs_server_option,
    long long);

/* Each option's range and the field of struct evs_server that keeps it,
   so that evs_server_set and evs_server_get read one description. */
enum server_opt_type { SERVER_OPT_SIZE, SERVER_OPT_UINT, SERVER_OPT_INT };

#define SERVER_OPT(field, type, lo, hi) \
	{ \
		(lo), (hi), offsetof(struct evs_server, field), (type) \
	}

static const struct {
	long long min, max;
	size_t off;
	enum server_opt_type type;
} server_opts[] = {
	[EVS_OPT_MAX_CLIENTS] = SERVER_OPT(max_clients, SERVER_OPT_SIZE, 0,
	    LLONG_MAX),
	[EVS_OPT_MAX_PER_IP] = SERVER_OPT(max_per_ip, SERVER_OPT_SIZE, 0,
	    LLONG_MAX),
	[EVS_OPT_SENDQ] = SERVER_OPT(sendq, SERVER_OPT_SIZE, 512, LLONG_MAX),
	[EVS_OPT_MAX_LINE] = SERVER_OPT(max_line, SERVER_OPT_SIZE, 16,
	    1024 * 1024),
	[EVS_OPT_IDLE_TIMEOUT_MS] = SERVER_OPT(idle_timeout_ms, SERVER_OPT_UINT,
	    0, 86400000LL * 30),
	[EVS_OPT_SHUTDOWN_TIMEOUT_MS] = SERVER_OPT(shutdown_timeout_ms,
	    SERVER_OPT_UINT, 0, 86400000LL),
	[EVS_OPT_LINGER_MS] = SERVER_OPT(linger_ms, SERVER_OPT_UINT, 0, 600000),
	[EVS_OPT_BACKLOG] = SERVER_OPT(backlog, SERVER_OPT_INT, 1, 65535),
	[EVS_OPT_REUSEPORT] = SERVER_OPT(reuseport, SERVER_OPT_INT, 0,
	    LLONG_MAX),
	[EVS_OPT_MAX_READ] = SERVER_OPT(max_read, SERVER_OPT_SIZE, 512,
	    16 * 1024 * 1024),
	[EVS_OPT_HANDSHAKE_TIMEOUT_MS] = SERVER_OPT(handshake_ms,
	    SERVER_OPT_UINT, 1, 600000),
	[EVS_OPT_STALL_TIMEOUT_MS] = SERVER_OPT(stall_timeout_ms,
	    SERVER_OPT_UINT, 0, 86400000LL * 30),
	/* 0 (the kernel's autotuning) or 4096 and up. */
	[EVS_OPT_SOCKET_BUFFER] = SERVER_OPT(socket_buffer, SERVER_OPT_INT, 0,
	    64 * 1024 * 1024),
	[EVS_OPT_PASS_BUDGET_US] = SERVER_OPT(pass_budget_us, SERVER_OPT_UINT,
	    0, 1000000),
	[EVS_OPT_FLUSH_HOLD_US] = SERVER_OPT(flush_hold_us, SERVER_OPT_UINT, 0,
	    100000),
};

#define SERVER_NOPTS (sizeof(server_opts) / sizeof(server_opts[0]))

struct evs_server *
evs_server_new(struct event_base *base)
{
	struct evs_server *srv;
	struct sigaction sa;

	if (base == NULL) {
		errno = EINVAL;
		return NULL;
	}
	/* A peer that resets while we write would otherwise kill the whole
	   process with SIGPIPE; only a default disposition is changed. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->base = base;
	TAILQ_INIT(&srv->listeners);
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->dead);
	TAILQ_INIT(&srv->lstats);
	TAILQ_INIT(&srv->flushq);
	spool_init(&srv->spool);
	srv->sendq = 1024 * 1024;
	srv->max_line = 512;
	srv->max_read = 64 * 1024;
	srv->shutdown_timeout_ms = 5000;
	srv->linger_ms = 2000;
	srv->backlog = 4096;
	srv->pass_budget_us = SERVER_PASS_BUDGET_US;
	srv->flush_hold_us = SERVER_FLUSH_HOLD_US;
	srv->handshake_ms = 10000;
	srv->reaper = event_new(base, -1, 0, server_reaper_cb, srv);
	srv->flusher = event_new(base, -1, 0, server_flusher_cb, srv);
	srv->accept_retry = evtimer_new(base, server_accept_retry_cb, srv);
	srv->shutdown_timer = evtimer_new(base, server_shutdown_timer_cb, srv);
	srv->linecap = srv->max_line;
	srv->linebuf = malloc(srv->linecap + 1);
	srv->readbuf = malloc(srv->max_read);
	if (srv->reaper == NULL || srv->flusher == NULL ||
	    srv->accept_retry == NULL || srv->shutdown_timer == NULL ||
	    srv->linebuf == NULL || srv->readbuf == NULL) {
		evs_server_free(srv);
		errno = ENOMEM;
		return NULL;
	}
	return srv;
}

void
evs_server_free(struct evs_server *srv)
{
	struct evs_listener *l;
	struct evs_conn *c;

	if (srv == NULL)
		return;
	while ((l = TAILQ_FIRST(&srv->listeners)) != NULL)
		server_listen_free(l);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		server_listen_conn_free(srv, c);
	while ((c = TAILQ_FIRST(&srv->dead)) != NULL)
		server_listen_conn_free(srv, c);
	server_stats_free(srv);
	if (srv->reaper != NULL)
		event_free(srv->reaper);
	if (srv->flusher != NULL)
		event_free(srv->flusher);
	if (srv->accept_retry != NULL)
		event_free(srv->accept_retry);
	if (srv->shutdown_timer != NULL)
		event_free(srv->shutdown_timer);
	server_listen_iptab_free(srv);
	free(srv->linebuf);
	free(srv->readbuf);
	if (srv->tlswire != NULL)
		evbuffer_free(srv->tlswire);
	if (srv->tlsplain != NULL)
		evbuffer_free(srv->tlsplain);
	spool_free(&srv->spool);
	free(srv);
}

int
evs_server_set(struct evs_server *srv, enum evs_server_option opt,
    long long value)
{
	char *p;

	if ((unsigned)opt >= SERVER_NOPTS || value < server_opts[opt].min ||
	    value > server_opts[opt].max ||
	    (opt == EVS_OPT_SOCKET_BUFFER && value != 0 && value < 4096)) {
		errno = EINVAL;
		return -1;
	}
	/* The options that need more than their field set. */
	switch (opt) {
	case EVS_OPT_MAX_PER_IP:
		if (value > 0 && server_listen_iptab(srv) == -1)
			return -1;
		break;
	case EVS_OPT_MAX_LINE:
		/* A connection's own larger limit keeps its room. */
		if ((size_t)value <= srv->linecap)
			break;
		if ((p = realloc(srv->linebuf, (size_t)value + 1)) == NULL)
			return -1;
		srv->linebuf = p;
		srv->linecap = (size_t)value;
		break;
	case EVS_OPT_MAX_READ:
		if ((p = realloc(srv->readbuf, (size_t)value)) == NULL)
			return -1;
		srv->readbuf = p;
		break;
	case EVS_OPT_REUSEPORT:
		value = value != 0;
		break;
	case EVS_OPT_STALL_TIMEOUT_MS:
		if (srv->stall_timeout_ms == (unsigned)value)
			return 0;
		break;
	default:
		break;
	}
	server_opt_store(srv, opt, value);
	if (opt == EVS_OPT_STALL_TIMEOUT_MS) {
		struct evs_conn *c;

		/* Connections already open follow the new setting too. */
		TAILQ_FOREACH(c, &srv->conns, link)
			conn_stall_timer(c);
	}
	return 0;
}

long long
evs_server_get(const struct evs_server *srv, enum evs_server_option opt)
{
	const char *f;

	if ((unsigned)opt >= SERVER_NOPTS)
		return -1;
	f = (const char *)srv + server_opts[opt].off;
	switch (server_opts[opt].type) {
	case SERVER_OPT_SIZE:
		return (long long)*(const size_t *)(const void *)f;
	case SERVER_OPT_UINT:
		return *(const unsigned *)(const void *)f;
	case SERVER_OPT_INT:
		return *(const int *)(const void *)f;
	}
	return -1;
}

/* Sets the field that keeps opt to value, which is in its range. */
static void
server_opt_store(struct evs_server *srv, enum evs_server_option opt,
    long long value)
{
	char *f = (char *)srv + server_opts[opt].off;

	switch (server_opts[opt].type) {
	case SERVER_OPT_SIZE:
		*(size_t *)(void *)f = (size_t)value;
		break;
	case SERVER_OPT_UINT:
		*(unsigned *)(void *)f = (unsigned)value;
		break;
	case SERVER_OPT_INT:
		*(int *)(void *)f = (int)value;
		break;
	}
}

struct event_base *
evs_server_base(const struct evs_server *srv)
{
	return srv->base;
}

int
evs_server_shutdown(struct evs_server *srv, unsigned timeout_ms,
    void (*done)(struct evs_server *, void *), void *arg)
{
	struct evs_listener *l;
	struct evs_conn *c, *next;
	struct timeval tv;

	if (srv->shutting_down) {
		errno = EALREADY;
		return -1;
	}
	/* Connections the kernel has already completed sit in the accept
	   queue, and their peers may have sent data: take them in and
	   serve them like the rest rather than let close() reset them. */
	TAILQ_FOREACH(l, &srv->listeners, link)
		server_listen_pending(l);
	srv->shutting_down = 1;
	srv->shutdown_done = done;
	srv->shutdown_arg = arg;
	while ((l = TAILQ_FIRST(&srv->listeners)) != NULL)
		server_listen_free(l);
	event_del(srv->accept_retry);
	if (timeout_ms == 0)
		timeout_ms = srv->shutdown_timeout_ms;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(srv->shutdown_timer, &tv);
	/* conn_shutdown may close connections: they move to the dead list,
	   so walk with a saved next pointer. */
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		conn_shutdown(c);
	}
	event_active(srv->reaper, EV_TIMEOUT, 0);
	return 0;
}

static void
server_shutdown_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evs_server *srv = arg;
	struct evs_conn *c;
	size_t n = 0;

	(void)fd;
	(void)what;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL) {
		evs_conn_abort(c, "Shutdown timeout");
		n++;
	}
	if (n > 0)
		log_warn("shutdown deadline reached; closed %zu connection%s "
		         "hard",
		    n, n == 1 ? "" : "s");
	event_active(srv->reaper, EV_TIMEOUT, 0);
}

/* Activated by the first corked send of a pass; runs after the
   callbacks already active, so each connection gets one write for
   everything they sent it. */
static void
server_flusher_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_send_flush_all(arg);
	server_pass_done(arg);
}

static void
server_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evs_server *srv = arg;
	struct evs_conn *c;
	int freed = 0;

	(void)fd;
	(void)what;
	/* A close() may end more connections: they join the dead list and
	   are reaped in this same pass. */
	while ((c = TAILQ_FIRST(&srv->dead)) != NULL) {
		conn_end(c);
		server_listen_conn_free(srv, c);
		freed = 1;
	}
	/* Descriptors were just freed: try accepting again at once rather
	   than waiting for the retry timer. */
	if (freed && srv->accept_paused &&
	    evtimer_pending(srv->accept_retry, NULL)) {
		event_del(srv->accept_retry);
		server_listen_resume(srv);
	}
	if (srv->shutting_down && !srv->done_called &&
	    TAILQ_EMPTY(&srv->conns) && TAILQ_EMPTY(&srv->dead)) {
		srv->done_called = 1;
		event_del(srv->shutdown_timer);
		/* done() may free srv: nothing may touch it afterwards. */
		if (srv->shutdown_done != NULL)
			srv->shutdown_done(srv, srv->shutdown_arg);
	}
}

static void
server_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_listen_resume(arg);
}

/* Notes how long the current pass has run (at its end, the flush); the
   longest is logged, at most once a second, when over 100 ms. */
static void
server_pass_done(struct evs_server *srv)
{
	unsigned long us = conn_read_pass_us(srv);
	struct timeval now, next = { 1, 0 };

	if (us > srv->pass_max_us)
		srv->pass_max_us = us;
	if (srv->pass_max_us < 100000 ||
	    event_base_gettimeofday_cached(srv->base, &now) == -1)
		return;
	evutil_timeradd(&srv->pass_report, &next, &next);
	if (evutil_timercmp(&now, &next, <))
		return;
	/* A stall delays every client: worth a line, not one per pass. */
	log_warn("the event loop was busy for %lu ms in one pass",
	    srv->pass_max_us / 1000);
	srv->pass_report = now;
	srv->pass_max_us = 0;
}
