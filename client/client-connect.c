/*
 * The client engine's way to a connected socket: numeric hosts at once,
 * names through evdns; each resolved address in turn, all under one
 * deadline.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <evsock/client.h>

#include "../common/addr.h"
#include "client-int.h"

static void client_dns_cb(int, struct evutil_addrinfo *, void *);
static int client_start(struct evs_client *, const struct sockaddr *,
    socklen_t);

static void
client_arm_timer(struct evs_client *cl, unsigned timeout_ms)
{
	struct timeval tv;

	if (timeout_ms == 0)
		return;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(cl->timer, &tv);
}

int
evs_client_connect(struct evs_client *cl, const char *hostport,
    unsigned timeout_ms)
{
	struct evutil_addrinfo hints;
	const char *err;
	int port;

	if (cl->state != CLIENT_IDLE) {
		errno = EALREADY;
		return -1;
	}
	if (addr_split(hostport, cl->host, sizeof(cl->host), &port, &err) ==
	    -1) {
		errno = EINVAL;
		return -1;
	}
	if (port == 0) {
		errno = EINVAL;
		return -1;
	}
	snprintf(cl->port, sizeof(cl->port), "%d", port);
	free(cl->target);
	if ((cl->target = strdup(hostport)) == NULL)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = cl->sourcelen > 0 ? cl->source.ss_family : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG | EVUTIL_AI_NUMERICSERV;
	client_arm_timer(cl, timeout_ms);
	cl->state = CLIENT_RESOLVING;
	/* Numeric hosts resolve at once; names go through evdns (which
	   also reads /etc/hosts). */
	hints.ai_flags |= EVUTIL_AI_NUMERICHOST;
	if (evutil_getaddrinfo(cl->host, cl->port, &hints, &cl->ai_list) == 0) {
		cl->ai_next = cl->ai_list;
		client_connect_next(cl);
		return 0;
	}
	hints.ai_flags &= ~EVUTIL_AI_NUMERICHOST;
	if (cl->dns == NULL) {
		cl->own_dns = evdns_base_new(cl->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		        EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (cl->own_dns == NULL) {
			/* No resolv.conf: /etc/hosts alone still works. */
			cl->own_dns = evdns_base_new(cl->base, 0);
			if (cl->own_dns != NULL)
				evdns_base_load_hosts(cl->own_dns, NULL);
		}
		cl->dns = cl->own_dns;
	}
	if (cl->dns == NULL) {
		client_finish(cl, -1, "cannot start the DNS resolver");
		return 0;
	}
	/* The callback may run before this returns (hosts file, cache). */
	cl->req = evdns_getaddrinfo(cl->dns, cl->host, cl->port, &hints,
	    client_dns_cb, cl);
	return 0;
}

static void
client_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct evs_client *cl = arg;
	char msg[300];

	cl->req = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return;
	if (result != 0) {
		snprintf(msg, sizeof(msg), "%s: unknown host %s (%s)",
		    cl->target, cl->host, evutil_gai_strerror(result));
		client_finish(cl, -1, msg);
		return;
	}
	cl->ai_list = cl->ai_next = res;
	client_connect_next(cl);
}

int
evs_client_connect_addr(struct evs_client *cl, const struct sockaddr *sa,
    socklen_t salen, unsigned timeout_ms)
{
	char buf[80];

	if (cl->state != CLIENT_IDLE) {
		errno = EALREADY;
		return -1;
	}
	free(cl->target);
	if ((cl->target = strdup(addr_format(sa, buf, sizeof(buf)))) == NULL)
		return -1;
	client_arm_timer(cl, timeout_ms);
	if (client_start(cl, sa, salen) == -1) {
		char msg[300];
		snprintf(msg, sizeof(msg), "connect to %s: %s", cl->target,
		    strerror(cl->last_err));
		client_finish(cl, cl->last_err, msg);
	}
	return 0;
}

/* Creates the socket and starts connect(); returns 0 or -1. */
static int
client_start(struct evs_client *cl, const struct sockaddr *sa, socklen_t salen)
{
	evutil_socket_t fd;
	int one = 1;

	if (cl->bev != NULL) {
		bufferevent_free(cl->bev);
		cl->bev = NULL;
	}
	cl->state = CLIENT_CONNECTING;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		cl->last_err = errno;
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cl->sourcelen > 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, (struct sockaddr *)&cl->source, cl->sourcelen) ==
		    -1) {
			cl->last_err = errno;
			close(fd);
			return -1;
		}
	}
	cl->bev = bufferevent_socket_new(cl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		cl->last_err = ENOMEM;
		close(fd);
		return -1;
	}
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb,
	    client_event_cb, cl);
	bufferevent_set_max_single_read(cl->bev, 64 * 1024);
	if (bufferevent_socket_connect(cl->bev, sa, (int)salen) == -1) {
		cl->last_err = EVUTIL_SOCKET_ERROR();
		if (cl->last_err == 0)
			cl->last_err = ECONNREFUSED;
		/* bufferevent_socket_connect frees nothing on failure. */
		return -1;
	}
	return 0;
}

void
client_connect_next(struct evs_client *cl)
{
	char msg[300];

	while (cl->ai_next != NULL) {
		struct evutil_addrinfo *ai = cl->ai_next;
		cl->ai_next = ai->ai_next;
		if (client_start(cl, ai->ai_addr, (socklen_t)ai->ai_addrlen) ==
		    0)
			return;
	}
	snprintf(msg, sizeof(msg), "connect to %s: %s", cl->target,
	    strerror(cl->last_err != 0 ? cl->last_err : ECONNREFUSED));
	client_finish(cl, cl->last_err != 0 ? cl->last_err : ECONNREFUSED, msg);
}

void
client_connect_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evs_client *cl = arg;
	char msg[300];

	(void)fd;
	(void)what;
	if (cl->state == CLIENT_HANDSHAKING) {
		client_tls_failed(cl, "handshake timed out");
		return;
	}
	if (cl->state != CLIENT_RESOLVING && cl->state != CLIENT_CONNECTING)
		return;
	if (cl->req != NULL) {
		evdns_getaddrinfo_cancel(cl->req);
		cl->req = NULL;
	}
	snprintf(msg, sizeof(msg), "connect to %s: timed out", cl->target);
	client_finish(cl, ETIMEDOUT, msg);
}
