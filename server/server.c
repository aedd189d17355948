/*
 * The server object: listeners (evconnlistener), admission (shutdown,
 * max clients, the per-IP table), the reaper that frees closed
 * connections outside their callbacks, accept pausing when descriptors
 * run out, and shutdown.  Calls run one way, from here to conn.c.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "../common/addr.h"
#include "../common/log.h"
#include "../common/tls.h"
#include "server-int.h"

#define IPTAB_SIZE 4096
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
#define ACCEPT_RETRY_MS 100

struct ipcount {
	struct ipcount *next;
	int family;
	unsigned char ip[16];
	size_t count;
};

static void server_reaper_cb(evutil_socket_t, short, void *);
static void server_flusher_cb(evutil_socket_t, short, void *);
static void server_accept_cb(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
static void server_accept_error_cb(struct evconnlistener *, void *);
static void server_accept_retry_cb(evutil_socket_t, short, void *);
static void server_shutdown_timer_cb(evutil_socket_t, short, void *);
static void server_accept_pending(struct evs_listener *);
static void server_listener_free(struct evs_listener *);
static void server_resume_accept(struct evs_server *);
static void server_admit(struct evs_listener *, evutil_socket_t,
    const struct sockaddr *, socklen_t);
static void server_conn_free(struct evs_server *, struct evs_conn *);
static size_t server_ip_key(const struct sockaddr *, unsigned char *, int *);
static int server_ip_take(struct evs_server *, const struct sockaddr *);
static void server_ip_release(struct evs_server *, const struct sockaddr *);
static struct lstats *server_lstats(struct evs_server *,
    const struct evs_service *, const union conn_addr *, socklen_t);
static int server_set_buffers(struct evs_server *, evutil_socket_t);

static const char *const server_refusal_names[EVS_REFUSED_COUNT] = {
	"shutdown", "max_clients", "per_ip", "service"
};

static const char *const server_cause_names[EVS_CLOSED_COUNT] = {
	"peer", "error", "idle_timeout", "registration_timeout",
	"ping_timeout", "sendq", "stall", "flood", "kill", "shutdown", "quit",
	"service"
};

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
	struct lstats *ls;

	if (srv == NULL)
		return;
	while ((l = TAILQ_FIRST(&srv->listeners)) != NULL)
		server_listener_free(l);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		server_conn_free(srv, c);
	while ((c = TAILQ_FIRST(&srv->dead)) != NULL)
		server_conn_free(srv, c);
	while ((ls = TAILQ_FIRST(&srv->lstats)) != NULL) {
		TAILQ_REMOVE(&srv->lstats, ls, link);
		free(ls);
	}
	if (srv->reaper != NULL)
		event_free(srv->reaper);
	if (srv->flusher != NULL)
		event_free(srv->flusher);
	if (srv->accept_retry != NULL)
		event_free(srv->accept_retry);
	if (srv->shutdown_timer != NULL)
		event_free(srv->shutdown_timer);
	if (srv->iptab != NULL) {
		for (size_t i = 0; i < IPTAB_SIZE; i++) {
			struct ipcount *e, *next;
			for (e = srv->iptab[i]; e != NULL; e = next) {
				next = e->next;
				free(e);
			}
		}
		free(srv->iptab);
	}
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
		if (value > 0 && srv->iptab == NULL) {
			srv->iptab = calloc(IPTAB_SIZE, sizeof(*srv->iptab));
			if (srv->iptab == NULL)
				return -1;
		}
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

struct evs_listener *
evs_server_listen(struct evs_server *srv, const char *hostport,
    const struct evs_service *svc, void *arg, char *errbuf, size_t errlen)
{
	char host[ADDR_HOST_MAX], portstr[8];
	struct addrinfo hints, *res = NULL;
	struct evs_listener *l;
	const char *err;
	int port, rc;

	if (addr_split(hostport, host, sizeof(host), &port, &err) == -1) {
		if (errbuf != NULL)
			snprintf(errbuf, errlen, "%s: %s", hostport, err);
		errno = EINVAL;
		return NULL;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		if (errbuf != NULL)
			snprintf(errbuf, errlen, "%s: cannot resolve %s: %s",
			    hostport, host, gai_strerror(rc));
		errno = EINVAL;
		return NULL;
	}
	l = evs_server_listen_addr(srv, res->ai_addr, res->ai_addrlen, svc,
	    arg, errbuf, errlen);
	if (l == NULL && errbuf != NULL) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", errbuf);
		snprintf(errbuf, errlen, "%s: %s", hostport, tmp);
	}
	freeaddrinfo(res);
	return l;
}

struct evs_listener *
evs_server_listen_addr(struct evs_server *srv, const struct sockaddr *sa,
    socklen_t salen, const struct evs_service *svc, void *arg, char *errbuf,
    size_t errlen)
{
	struct evs_listener *l = NULL;
	evutil_socket_t fd = -1;
	int one = 1, saved;
	const char *what = "socket";

	if (svc == NULL || (svc->framing == EVS_FRAMING_RAW &&
	    svc->data == NULL) || (svc->framing == EVS_FRAMING_LINE &&
	    svc->line == NULL) || salen > sizeof(l->addr) ||
	    srv->shutting_down) {
		errno = EINVAL;
		what = "invalid service or address";
		goto fail;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto fail;
	l->srv = srv;
	l->svc = svc;
	l->arg = arg;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (srv->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == -1)
		goto fail;
	if (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (server_set_buffers(srv, fd) == -1)
		goto fail;
	what = "bind";
	if (bind(fd, sa, salen) == -1)
		goto fail;
	what = "listen";
	if (listen(fd, srv->backlog) == -1)
		goto fail;
	what = "getsockname";
	l->addrlen = sizeof(l->addr);
	if (getsockname(fd, &l->addr.sa, &l->addrlen) == -1)
		goto fail;
	what = "counters";
	if ((l->ls = server_lstats(srv, svc, &l->addr, l->addrlen)) == NULL)
		goto fail;
	what = "evconnlistener_new";
	l->lev = evconnlistener_new(srv->base, server_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL)
		goto fail;
	evconnlistener_set_error_cb(l->lev, server_accept_error_cb);
	if (srv->accept_paused)
		evconnlistener_disable(l->lev);
	l->ls->st.listening++;
	TAILQ_INSERT_TAIL(&srv->listeners, l, link);
	return l;

fail:
	saved = errno;
	if (errbuf != NULL) {
		if (saved == EADDRINUSE)
			snprintf(errbuf, errlen, "address already in use");
		else if (saved == EADDRNOTAVAIL)
			snprintf(errbuf, errlen,
			    "address not available on this host");
		else if (saved == EACCES)
			snprintf(errbuf, errlen,
			    "permission denied (ports below 1024 need "
			    "privileges)");
		else
			snprintf(errbuf, errlen, "%s: %s", what,
			    strerror(saved));
	}
	if (fd != -1)
		close(fd);
	free(l);
	errno = saved;
	return NULL;
}

void
evs_listener_free(struct evs_listener *l)
{
	if (l != NULL)
		server_listener_free(l);
}

const struct sockaddr *
evs_listener_addr(const struct evs_listener *l, socklen_t *len)
{
	if (len != NULL)
		*len = l->addrlen;
	return &l->addr.sa;
}

char *
evs_listener_addr_str(const struct evs_listener *l, char *buf, size_t len)
{
	return addr_format(&l->addr.sa, buf, len);
}

int
evs_listener_port(const struct evs_listener *l)
{
	return addr_port(&l->addr.sa);
}

const struct evs_service *
evs_listener_service(const struct evs_listener *l)
{
	return l->svc;
}

int
evs_listener_set_tls(struct evs_listener *l, struct evs_tls *tls)
{
	if (tls != NULL && !tls_is_server(tls)) {
		errno = EINVAL;
		return -1;
	}
	l->tls = tls;
	return 0;
}

struct evs_tls *
evs_listener_tls(const struct evs_listener *l)
{
	return l->tls;
}

void
evs_server_stats(const struct evs_server *srv, struct evs_server_stats *st)
{
	*st = srv->st;
}

size_t
evs_server_listener_stats(const struct evs_server *srv,
    struct evs_listener_stats *st, size_t n)
{
	const struct lstats *ls;
	size_t i = 0;

	TAILQ_FOREACH(ls, &srv->lstats, link) {
		if (i < n)
			st[i] = ls->st;
		i++;
	}
	return i;
}

const char *
evs_refusal_name(enum evs_refusal r)
{
	return (unsigned)r < EVS_REFUSED_COUNT ? server_refusal_names[r] :
	    NULL;
}

const char *
evs_close_cause_name(enum evs_close_cause cause)
{
	return (unsigned)cause < EVS_CLOSED_COUNT ?
	    server_cause_names[cause] : NULL;
}

/* Returns the counters of svc on addr, made on first use, or NULL. */
static struct lstats *
server_lstats(struct evs_server *srv, const struct evs_service *svc,
    const union conn_addr *addr, socklen_t addrlen)
{
	struct lstats *ls;

	TAILQ_FOREACH(ls, &srv->lstats, link)
		if (ls->svc == svc && ls->addrlen == addrlen &&
		    memcmp(&ls->addr, addr, addrlen) == 0)
			return ls;
	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		return NULL;
	ls->svc = svc;
	memcpy(&ls->addr, addr, addrlen);
	ls->addrlen = addrlen;
	snprintf(ls->st.service, sizeof(ls->st.service), "%s",
	    svc->name != NULL ? svc->name : "service");
	addr_format(&addr->sa, ls->st.address, sizeof(ls->st.address));
	TAILQ_INSERT_TAIL(&srv->lstats, ls, link);
	return ls;
}

/* Caps a listening socket's buffers, which accepted sockets inherit:
   a peer that sends and never reads then pins that much kernel memory
   at most, not what autotuning would grow to. */
static int
server_set_buffers(struct evs_server *srv, evutil_socket_t fd)
{
	int v = srv->socket_buffer;

	if (v == 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == -1)
		return -1;
	return 0;
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
		server_accept_pending(l);
	srv->shutting_down = 1;
	srv->shutdown_done = done;
	srv->shutdown_arg = arg;
	while ((l = TAILQ_FIRST(&srv->listeners)) != NULL)
		server_listener_free(l);
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
server_accept_pending(struct evs_listener *l)
{
	evutil_socket_t lfd = evconnlistener_get_fd(l->lev);
	union conn_addr peer;
	socklen_t len;

	for (int i = 0; i < 65536; i++) {
		evutil_socket_t fd;
		len = sizeof(peer);
		fd = accept4(lfd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			break;
		server_admit(l, fd, &peer.sa, len);
	}
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
		server_conn_free(srv, c);
		freed = 1;
	}
	/* Descriptors were just freed: try accepting again at once rather
	   than waiting for the retry timer. */
	if (freed && srv->accept_paused &&
	    evtimer_pending(srv->accept_retry, NULL)) {
		event_del(srv->accept_retry);
		server_resume_accept(srv);
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
server_listener_free(struct evs_listener *l)
{
	l->ls->st.listening--;
	TAILQ_REMOVE(&l->srv->listeners, l, link);
	evconnlistener_free(l->lev);
	free(l);
}

static void
server_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct evs_listener *l = arg;
	struct evs_server *srv = l->srv;

	(void)lev;
	if (srv->accept_paused) {
		srv->accept_paused = 0;
		log_info("accepting connections again (%llu open)",
		    (unsigned long long)srv->st.current);
	}
	server_admit(l, fd, sa, (socklen_t)salen);
}

/* Takes fd in as a connection, or refuses it with a line saying why. */
static void
server_admit(struct evs_listener *l, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct evs_server *srv = l->srv;
	struct evs_conn *c;

	if ((c = conn_new(l, fd, sa, salen)) == NULL)
		return;
	if (srv->shutting_down) {
		conn_refuse(c, EVS_REFUSED_SHUTDOWN, "Server shutting down");
		return;
	}
	if (srv->max_clients > 0 && srv->st.current >= srv->max_clients) {
		conn_refuse(c, EVS_REFUSED_MAX_CLIENTS, "Server full");
		return;
	}
	if (srv->max_per_ip > 0) {
		if (server_ip_take(srv, &c->peer.sa) == -1) {
			conn_refuse(c, EVS_REFUSED_PER_IP,
			    "Too many connections from your host");
			return;
		}
		c->flags |= CONN_IP_COUNTED;
	}
	srv->st.accepted++;
	srv->st.current++;
	c->ls->st.accepted++;
	c->ls->st.current++;
	if (conn_open(c) == -1) {
		srv->st.current--;
		srv->st.accepted--;
		srv->st.refused++;
		c->ls->st.current--;
		c->ls->st.accepted--;
		c->ls->st.refused++;
		c->ls->st.refused_by[EVS_REFUSED_SERVICE]++;
		evs_conn_close(c, "Refused by service");
	}
}

/* Frees c at once, giving back its admission: slot and per-IP count. */
static void
server_conn_free(struct evs_server *srv, struct evs_conn *c)
{
	if (c->flags & CONN_IP_COUNTED)
		server_ip_release(srv, &c->peer.sa);
	if ((c->flags & CONN_OPENED) && srv->st.current > 0) {
		srv->st.current--;
		c->ls->st.current--;
	}
	conn_free(c);
}

static void
server_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct evs_listener *l = arg;
	struct evs_server *srv = l->srv;
	struct evs_listener *it;
	struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)lev;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS &&
	    err != ENOMEM) {
		log_warn("accept: %s", strerror(err));
		return;
	}
	/* The pending connection stays in the backlog and the listening
	   socket stays readable: without pausing, the loop would spin. */
	TAILQ_FOREACH(it, &srv->listeners, link)
		evconnlistener_disable(it->lev);
	if (!srv->accept_paused) {
		srv->accept_paused = 1;
		srv->st.accept_pauses++;
		log_warn("accept: %s with %llu connections open; pausing "
		    "accept, retrying every %d ms", strerror(err),
		    (unsigned long long)srv->st.current, ACCEPT_RETRY_MS);
	}
	evtimer_add(srv->accept_retry, &tv);
}

static void
server_resume_accept(struct evs_server *srv)
{
	struct evs_listener *it;

	if (srv->shutting_down)
		return;
	TAILQ_FOREACH(it, &srv->listeners, link)
		evconnlistener_enable(it->lev);
}

static void
server_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_resume_accept(arg);
}

static size_t
server_ip_key(const struct sockaddr *sa, unsigned char *ip, int *family)
{
	size_t h = 5381, n;

	memset(ip, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(ip, &((const struct sockaddr_in *)(const void *)sa)
		    ->sin_addr, 4);
		n = 4;
	} else {
		memcpy(ip, &((const struct sockaddr_in6 *)(const void *)sa)
		    ->sin6_addr, 16);
		n = 16;
	}
	*family = sa->sa_family;
	for (size_t i = 0; i < n; i++)
		h = h * 33 + ip[i];
	return h % IPTAB_SIZE;
}

/* Counts one more connection from sa's address; returns 0, or -1 when
   that is over the limit. */
static int
server_ip_take(struct evs_server *srv, const struct sockaddr *sa)
{
	unsigned char ip[16];
	struct ipcount *e;
	int family;
	size_t h = server_ip_key(sa, ip, &family);

	for (e = srv->iptab[h]; e != NULL; e = e->next)
		if (e->family == family && memcmp(e->ip, ip, 16) == 0)
			break;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		e->family = family;
		memcpy(e->ip, ip, 16);
		e->next = srv->iptab[h];
		srv->iptab[h] = e;
	}
	if (e->count >= srv->max_per_ip)
		return -1;
	e->count++;
	return 0;
}

static void
server_ip_release(struct evs_server *srv, const struct sockaddr *sa)
{
	unsigned char ip[16];
	struct ipcount *e, **pe;
	int family;
	size_t h;

	if (srv->iptab == NULL)
		return;
	h = server_ip_key(sa, ip, &family);
	for (pe = &srv->iptab[h]; (e = *pe) != NULL; pe = &e->next) {
		if (e->family == family && memcmp(e->ip, ip, 16) == 0) {
			if (--e->count == 0) {
				*pe = e->next;
				free(e);
			}
			return;
		}
	}
}

/* Adopts a socket that is already bound (systemd socket activation,
   an inherited descriptor); owns fd from the call on, even on error. */
struct evs_listener *
evs_server_listen_fd(struct evs_server *srv, evutil_socket_t fd,
    const struct evs_service *svc, void *arg, char *errbuf, size_t errlen)
{
	struct evs_listener *l = NULL;
	const char *what = "invalid service or socket";
	int type = 0, saved;
	socklen_t tlen = sizeof(type);

	if (svc == NULL || (svc->framing == EVS_FRAMING_RAW &&
	    svc->data == NULL) || (svc->framing == EVS_FRAMING_LINE &&
	    svc->line == NULL) || srv->shutting_down || fd < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 ||
	    type != SOCK_STREAM) {
		errno = EINVAL;
		goto fail;
	}
	what = "socket";
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		goto fail;
	l->srv = srv;
	l->svc = svc;
	l->arg = arg;
	/* Accepted sockets inherit the listener's buffer sizes. */
	what = "setsockopt";
	if (server_set_buffers(srv, fd) == -1)
		goto fail;
	/* listen() again only sets the backlog on a listening socket. */
	what = "listen";
	if (listen(fd, srv->backlog) == -1)
		goto fail;
	what = "getsockname";
	l->addrlen = sizeof(l->addr);
	if (getsockname(fd, &l->addr.sa, &l->addrlen) == -1)
		goto fail;
	what = "counters";
	if ((l->ls = server_lstats(srv, svc, &l->addr, l->addrlen)) == NULL)
		goto fail;
	what = "evconnlistener_new";
	l->lev = evconnlistener_new(srv->base, server_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL)
		goto fail;
	evconnlistener_set_error_cb(l->lev, server_accept_error_cb);
	if (srv->accept_paused)
		evconnlistener_disable(l->lev);
	l->ls->st.listening++;
	TAILQ_INSERT_TAIL(&srv->listeners, l, link);
	return l;
fail:
	saved = errno;
	if (errbuf != NULL)
		snprintf(errbuf, errlen, "%s: %s", what, strerror(saved));
	if (fd >= 0)
		close(fd);
	free(l);
	errno = saved;
	return NULL;
}

unsigned long
server_pass_us(struct evs_server *srv)
{
	struct timeval start, now;

	if (event_base_gettimeofday_cached(srv->base, &start) == -1 ||
	    evutil_gettimeofday(&now, NULL) == -1 ||
	    evutil_timercmp(&now, &start, <))
		return 0;
	evutil_timersub(&now, &start, &now);
	return (unsigned long)now.tv_sec * 1000000UL +
	    (unsigned long)now.tv_usec;
}

void
server_pass_done(struct evs_server *srv)
{
	unsigned long us = server_pass_us(srv);
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
