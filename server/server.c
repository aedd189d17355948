/*
 * The server object: its options, the reaper that frees closed
 * connections outside their callbacks, the flusher that writes corked
 * output once a pass, and shutdown.  Listeners and admission are
 * server-listen.c, the counters server-stats.c.  Calls run one way,
 * from the server's files to the connection's (conn*.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "../common/log.h"
#include "server-int.h"

/* Off by default: with 500 chat clients all sending at 3,500 msgs/s
   on a loaded machine, a 10 ms budget cost 40% more CPU per delivery
   (smaller batches per flush) and twice lost messages where no budget
   lost none (see conn_read_cb). */
#ifndef SERVER_PASS_BUDGET_US
#define SERVER_PASS_BUDGET_US 0
#endif
#ifndef SERVER_FLUSH_HOLD_US
#define SERVER_FLUSH_HOLD_US 0
#endif

static void server_reaper_cb(evutil_socket_t, short, void *);
static void server_flusher_cb(evutil_socket_t, short, void *);
static void server_accept_retry_cb(evutil_socket_t, short, void *);
static void server_shutdown_timer_cb(evutil_socket_t, short, void *);
static void server_pass_done(struct evs_server *);

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
	srv->linebuf = malloc(srv->max_line + 1);
	srv->readbuf = malloc(srv->max_read);
	if (srv->reaper == NULL || srv->flusher == NULL ||
	    srv->accept_retry == NULL ||
	    srv->shutdown_timer == NULL || srv->linebuf == NULL ||
	    srv->readbuf == NULL) {
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
	free(srv);
}

int
evs_server_set(struct evs_server *srv, enum evs_server_option opt,
    long long value)
{
	if (value < 0)
		goto bad;
	switch (opt) {
	case EVS_OPT_MAX_CLIENTS:
		srv->max_clients = (size_t)value;
		return 0;
	case EVS_OPT_MAX_PER_IP:
		if (value > 0 && server_listen_iptab(srv) == -1)
			return -1;
		srv->max_per_ip = (size_t)value;
		return 0;
	case EVS_OPT_SENDQ:
		if (value < 512)
			goto bad;
		srv->sendq = (size_t)value;
		return 0;
	case EVS_OPT_MAX_LINE: {
		char *p;
		if (value < 16 || value > 1024 * 1024)
			goto bad;
		if ((p = realloc(srv->linebuf, (size_t)value + 1)) == NULL)
			return -1;
		srv->linebuf = p;
		srv->max_line = (size_t)value;
		return 0;
	}
	case EVS_OPT_IDLE_TIMEOUT_MS:
		if (value > 86400000LL * 30)
			goto bad;
		srv->idle_timeout_ms = (unsigned)value;
		return 0;
	case EVS_OPT_SHUTDOWN_TIMEOUT_MS:
		if (value > 86400000LL)
			goto bad;
		srv->shutdown_timeout_ms = (unsigned)value;
		return 0;
	case EVS_OPT_LINGER_MS:
		if (value > 600000)
			goto bad;
		srv->linger_ms = (unsigned)value;
		return 0;
	case EVS_OPT_BACKLOG:
		if (value < 1 || value > 65535)
			goto bad;
		srv->backlog = (int)value;
		return 0;
	case EVS_OPT_REUSEPORT:
		srv->reuseport = value != 0;
		return 0;
	case EVS_OPT_HANDSHAKE_TIMEOUT_MS:
		if (value < 1 || value > 600000)
			goto bad;
		srv->handshake_ms = (unsigned)value;
		return 0;
	case EVS_OPT_MAX_READ: {
		char *p;
		if (value < 512 || value > 16 * 1024 * 1024)
			goto bad;
		if ((p = realloc(srv->readbuf, (size_t)value)) == NULL)
			return -1;
		srv->readbuf = p;
		srv->max_read = (size_t)value;
		return 0;
	}
	case EVS_OPT_STALL_TIMEOUT_MS: {
		struct evs_conn *c;
		if (value > 86400000LL * 30)
			goto bad;
		if (srv->stall_timeout_ms == (unsigned)value)
			return 0;
		srv->stall_timeout_ms = (unsigned)value;
		/* Connections already open follow the new setting too. */
		TAILQ_FOREACH(c, &srv->conns, link)
			conn_stall_timer(c);
		return 0;
	}
	case EVS_OPT_SOCKET_BUFFER:
		if (value != 0 && (value < 4096 || value > 64 * 1024 * 1024))
			goto bad;
		srv->socket_buffer = (int)value;
		return 0;
	case EVS_OPT_PASS_BUDGET_US:
		if (value > 1000000)
			goto bad;
		srv->pass_budget_us = (unsigned)value;
		return 0;
	case EVS_OPT_FLUSH_HOLD_US:
		if (value > 100000)
			goto bad;
		srv->flush_hold_us = (unsigned)value;
		return 0;
	}
bad:
	errno = EINVAL;
	return -1;
}

long long
evs_server_get(const struct evs_server *srv, enum evs_server_option opt)
{
	switch (opt) {
	case EVS_OPT_MAX_CLIENTS: return (long long)srv->max_clients;
	case EVS_OPT_MAX_PER_IP: return (long long)srv->max_per_ip;
	case EVS_OPT_SENDQ: return (long long)srv->sendq;
	case EVS_OPT_MAX_LINE: return (long long)srv->max_line;
	case EVS_OPT_IDLE_TIMEOUT_MS: return srv->idle_timeout_ms;
	case EVS_OPT_SHUTDOWN_TIMEOUT_MS: return srv->shutdown_timeout_ms;
	case EVS_OPT_LINGER_MS: return srv->linger_ms;
	case EVS_OPT_BACKLOG: return srv->backlog;
	case EVS_OPT_REUSEPORT: return srv->reuseport;
	case EVS_OPT_MAX_READ: return (long long)srv->max_read;
	case EVS_OPT_STALL_TIMEOUT_MS: return srv->stall_timeout_ms;
	case EVS_OPT_SOCKET_BUFFER: return srv->socket_buffer;
	case EVS_OPT_PASS_BUDGET_US: return srv->pass_budget_us;
	case EVS_OPT_FLUSH_HOLD_US: return srv->flush_hold_us;
	case EVS_OPT_HANDSHAKE_TIMEOUT_MS: return srv->handshake_ms;
	}
	return -1;
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
		    "hard", n, n == 1 ? "" : "s");
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
