/*
 * Listeners and admission: listening sockets (evconnlistener), made
 * from an address or adopted from a descriptor; accepting, with a pause
 * while descriptors run out; admission of each accepted socket
 * (shutdown, max clients, the per-IP table) and giving it back when the
 * connection is freed.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "../common/addr.h"
#include "../common/log.h"
#include "../common/tls.h"
#include "server-int.h"

#define IPTAB_SIZE 4096
#define ACCEPT_RETRY_MS 100

struct ipcount {
	struct ipcount *next;
	int family;
	unsigned char ip[16];
	size_t count;
};

static void server_accept_cb(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
static void server_accept_error_cb(struct evconnlistener *, void *);
static int server_listen_usable(const struct evs_service *);
static int server_listen_start(struct evs_listener *, evutil_socket_t,
    const char **);
static void server_admit(struct evs_listener *, evutil_socket_t,
    const struct sockaddr *, socklen_t);
static size_t server_ip_key(const struct sockaddr *, unsigned char *, int *);
static int server_ip_take(struct evs_server *, const struct sockaddr *);
static void server_ip_release(struct evs_server *, const struct sockaddr *);
static int server_set_buffers(struct evs_server *, evutil_socket_t);

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
	l = evs_server_listen_addr(srv, res->ai_addr, res->ai_addrlen, svc, arg,
	    errbuf, errlen);
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

	if (!server_listen_usable(svc) || salen > sizeof(l->addr) ||
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
	if (srv->reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	what = "bind";
	if (bind(fd, sa, salen) == -1)
		goto fail;
	if (server_listen_start(l, fd, &what) == -1)
		goto fail;
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

	if (!server_listen_usable(svc) || srv->shutting_down || fd < 0 ||
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
	if (server_listen_start(l, fd, &what) == -1)
		goto fail;
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

/* A service the engine can serve: raw data or lines, with the callback
   its framing needs. */
static int
server_listen_usable(const struct evs_service *svc)
{
	return svc != NULL &&
	    (svc->framing != EVS_FRAMING_RAW || svc->data != NULL) &&
	    (svc->framing != EVS_FRAMING_LINE || svc->line != NULL);
}

/* Listens on fd, a socket of l's that is bound (or adopted: listen()
   again only sets the backlog on a listening socket), and puts l on
   the server's list.  Returns 0, or -1 with *what naming the step that
   failed. */
static int
server_listen_start(struct evs_listener *l, evutil_socket_t fd,
    const char **what)
{
	struct evs_server *srv = l->srv;

	/* Before listen(): accepted sockets inherit the buffer sizes. */
	*what = "setsockopt";
	if (server_set_buffers(srv, fd) == -1)
		return -1;
	*what = "listen";
	if (listen(fd, srv->backlog) == -1)
		return -1;
	*what = "getsockname";
	l->addrlen = sizeof(l->addr);
	if (getsockname(fd, &l->addr.sa, &l->addrlen) == -1)
		return -1;
	*what = "counters";
	if ((l->ls = server_stats_listener(srv, l->svc, &l->addr,
	         l->addrlen)) == NULL)
		return -1;
	*what = "evconnlistener_new";
	l->lev = evconnlistener_new(srv->base, server_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL)
		return -1;
	evconnlistener_set_error_cb(l->lev, server_accept_error_cb);
	if (srv->accept_paused)
		evconnlistener_disable(l->lev);
	l->ls->st.listening++;
	TAILQ_INSERT_TAIL(&srv->listeners, l, link);
	return 0;
}

void
evs_listener_free(struct evs_listener *l)
{
	if (l != NULL)
		server_listen_free(l);
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

void
server_listen_pending(struct evs_listener *l)
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

void
server_listen_free(struct evs_listener *l)
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
void
server_listen_conn_free(struct evs_server *srv, struct evs_conn *c)
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
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
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
		         "accept, retrying every %d ms",
		    strerror(err), (unsigned long long)srv->st.current,
		    ACCEPT_RETRY_MS);
	}
	evtimer_add(srv->accept_retry, &tv);
}

void
server_listen_resume(struct evs_server *srv)
{
	struct evs_listener *it;

	if (srv->shutting_down)
		return;
	TAILQ_FOREACH(it, &srv->listeners, link)
		evconnlistener_enable(it->lev);
}

static size_t
server_ip_key(const struct sockaddr *sa, unsigned char *ip, int *family)
{
	size_t h = 5381, n;

	memset(ip, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(ip,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    4);
		n = 4;
	} else {
		memcpy(ip,
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    16);
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

int
server_listen_iptab(struct evs_server *srv)
{
	if (srv->iptab == NULL &&
	    (srv->iptab = calloc(IPTAB_SIZE, sizeof(*srv->iptab))) == NULL)
		return -1;
	return 0;
}

void
server_listen_iptab_free(struct evs_server *srv)
{
	if (srv->iptab == NULL)
		return;
	for (size_t i = 0; i < IPTAB_SIZE; i++) {
		struct ipcount *e, *next;
		for (e = srv->iptab[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(srv->iptab);
	srv->iptab = NULL;
}
