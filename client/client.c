/*
 * The client engine: resolve (evdns, or numeric), connect without
 * blocking, trying each resolved address in turn, under one deadline;
 * then a bufferevent whose callbacks receive, send and close.  The
 * closed() callback always runs from a deferred event, never from
 * inside another callback, so it may free the client.
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
#include "../common/sockio.h"
#include "../common/tls.h"
#include "../common/tlsio.h"

enum client_state {
	CLIENT_IDLE,
	CLIENT_RESOLVING,
	CLIENT_CONNECTING,
	CLIENT_HANDSHAKING, /* TLS: connected, handshake under way */
	CLIENT_CONNECTED,
	CLIENT_DONE
};

struct evs_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct evdns_base *own_dns;
	struct evdns_getaddrinfo_request *req;
	const struct evs_client_callbacks *cbs;
	void *arg;
	struct bufferevent *bev;
	struct evbuffer *early; /* sent before connected: survives retries */
	struct event *timer;    /* connect deadline */
	struct event *deferred; /* runs closed() */
	struct evutil_addrinfo *ai_list, *ai_next;
	char *target;
	char host[ADDR_HOST_MAX];
	char port[8];
	struct sockaddr_storage source;
	socklen_t sourcelen;
	size_t drain_level;
	enum client_state state;
	int closing;     /* close once flushed */
	int shut_wr;     /* FIN once flushed */
	int shut_done;
	int paused;
	int last_err;
	int error;
	char reason[320];
	struct evs_tls *tls;        /* TLS settings, or NULL for plain TCP */
	struct tlsio *tio;          /* the TLS transport once connected */
	struct evbuffer *plain;     /* TLS: decrypted input for data() */
	struct evbuffer *wire;      /* TLS: records on their way out */
	int tls_shut;               /* TLS: close_notify sent */
	char server_name[ADDR_HOST_MAX]; /* checked and sent as SNI; "":
	                                    the target's host */
};

static void client_read_cb(struct bufferevent *, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);
static void client_timer_cb(evutil_socket_t, short, void *);
static void client_write_failed(struct evs_client *, int);
static void client_deferred_cb(evutil_socket_t, short, void *);
static void client_dns_cb(int, struct evutil_addrinfo *, void *);
static void client_try_next(struct evs_client *);
static int client_start(struct evs_client *, const struct sockaddr *,
    socklen_t);
static void client_finish(struct evs_client *, int, const char *);
static void client_check_flushed(struct evs_client *);
static void client_up(struct evs_client *);
static int client_tls_start(struct evs_client *);
static void client_tls_read(struct evs_client *);
static int client_tls_send(struct evs_client *, struct sockio_out *);
static int client_tls_flush(struct evs_client *);
static void client_tls_failed(struct evs_client *, const char *);
static int client_queue(struct evs_client *, struct sockio_out *);

struct evs_client *
evs_client_new(struct event_base *base, struct evdns_base *dns,
    const struct evs_client_callbacks *cbs, void *arg)
{
	struct evs_client *cl;

	if (base == NULL || cbs == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return NULL;
	cl->base = base;
	cl->dns = dns;
	cl->cbs = cbs;
	cl->arg = arg;
	cl->timer = evtimer_new(base, client_timer_cb, cl);
	cl->deferred = event_new(base, -1, 0, client_deferred_cb, cl);
	cl->early = evbuffer_new();
	if (cl->timer == NULL || cl->deferred == NULL || cl->early == NULL) {
		evs_client_free(cl);
		errno = ENOMEM;
		return NULL;
	}
	return cl;
}

void
evs_client_free(struct evs_client *cl)
{
	if (cl == NULL)
		return;
	if (cl->req != NULL)
		evdns_getaddrinfo_cancel(cl->req);
	if (cl->bev != NULL)
		bufferevent_free(cl->bev);
	if (cl->timer != NULL)
		event_free(cl->timer);
	if (cl->deferred != NULL)
		event_free(cl->deferred);
	if (cl->early != NULL)
		evbuffer_free(cl->early);
	tlsio_free(cl->tio);
	if (cl->plain != NULL)
		evbuffer_free(cl->plain);
	if (cl->wire != NULL)
		evbuffer_free(cl->wire);
	if (cl->ai_list != NULL)
		evutil_freeaddrinfo(cl->ai_list);
	if (cl->own_dns != NULL)
		evdns_base_free(cl->own_dns, 0);
	free(cl->target);
	free(cl);
}

int
evs_client_set_source(struct evs_client *cl, const char *host)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&cl->source;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cl->source;

	memset(&cl->source, 0, sizeof(cl->source));
	if (evutil_inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		cl->sourcelen = sizeof(*sin);
		return 0;
	}
	if (evutil_inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		cl->sourcelen = sizeof(*sin6);
		return 0;
	}
	cl->sourcelen = 0;
	errno = EINVAL;
	return -1;
}

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
	if (addr_split(hostport, cl->host, sizeof(cl->host), &port,
	    &err) == -1) {
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
		client_try_next(cl);
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
	client_try_next(cl);
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
client_start(struct evs_client *cl, const struct sockaddr *sa,
    socklen_t salen)
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
		if (bind(fd, (struct sockaddr *)&cl->source,
		    cl->sourcelen) == -1) {
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

static void
client_try_next(struct evs_client *cl)
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
	client_finish(cl, cl->last_err != 0 ? cl->last_err : ECONNREFUSED,
	    msg);
}

static void
client_timer_cb(evutil_socket_t fd, short what, void *arg)
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

static void
client_finish(struct evs_client *cl, int error, const char *reason)
{
	if (cl->state == CLIENT_DONE)
		return;
	cl->state = CLIENT_DONE;
	cl->error = error;
	snprintf(cl->reason, sizeof(cl->reason), "%s", reason);
	event_del(cl->timer);
	if (cl->bev != NULL)
		bufferevent_disable(cl->bev, EV_READ | EV_WRITE);
	event_active(cl->deferred, EV_TIMEOUT, 0);
}

static void
client_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evs_client *cl = arg;

	(void)fd;
	(void)what;
	if (cl->bev != NULL) {
		/* Close the socket now; the client object may live on. */
		bufferevent_free(cl->bev);
		cl->bev = NULL;
	}
	if (cl->cbs->closed != NULL)
		cl->cbs->closed(cl, cl->error, cl->reason, cl->arg);
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct evs_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (cl->tio != NULL &&
	    (cl->state == CLIENT_HANDSHAKING || cl->state == CLIENT_CONNECTED)) {
		client_tls_read(cl);
		return;
	}
	if (cl->state != CLIENT_CONNECTED || cl->cbs->data == NULL) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	cl->cbs->data(cl, in, cl->arg);
}

static void
client_check_flushed(struct evs_client *cl)
{
	if (cl->state != CLIENT_CONNECTED ||
	    evbuffer_get_length(bufferevent_get_output(cl->bev)) > 0)
		return;
	/* TLS: close_notify before the FIN; its write brings us back. */
	if ((cl->shut_wr || cl->closing) && cl->tio != NULL && !cl->tls_shut) {
		cl->tls_shut = 1;
		tlsio_shutdown(cl->tio, cl->wire);
		if (client_tls_flush(cl) == -1 ||
		    evbuffer_get_length(bufferevent_get_output(cl->bev)) > 0)
			return;
	}
	if (cl->shut_wr && !cl->shut_done) {
		cl->shut_done = 1;
		(void)shutdown(bufferevent_getfd(cl->bev), SHUT_WR);
	}
	if (cl->closing)
		client_finish(cl, 0, "closed");
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct evs_client *cl = arg;

	(void)bev;
	if (cl->state != CLIENT_CONNECTED)
		return;
	client_check_flushed(cl);
	if (cl->state == CLIENT_CONNECTED && cl->cbs->drained != NULL)
		cl->cbs->drained(cl, cl->arg);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct evs_client *cl = arg;
	char msg[300];
	int err;

	(void)bev;
	if (cl->state == CLIENT_CONNECTING) {
		if (what & BEV_EVENT_CONNECTED) {
			if (cl->ai_list != NULL) {
				evutil_freeaddrinfo(cl->ai_list);
				cl->ai_list = cl->ai_next = NULL;
			}
			if (cl->tls != NULL) {
				(void)client_tls_start(cl);
				return;
			}
			client_up(cl);
			return;
		}
		cl->last_err = EVUTIL_SOCKET_ERROR();
		if (cl->last_err == 0)
			cl->last_err = ECONNREFUSED;
		client_try_next(cl);
		return;
	}
	if (cl->state == CLIENT_HANDSHAKING) {
		err = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
		if (what & BEV_EVENT_EOF)
			tlsio_input_eof(cl->tio);
		client_tls_failed(cl, err != 0 ? strerror(err) :
		    "the server closed the connection during the handshake");
		return;
	}
	if (cl->state != CLIENT_CONNECTED)
		return;
	/* The read callback has taken every record that came before the
	   FIN. */
	if ((what & BEV_EVENT_EOF) && cl->tio != NULL)
		tlsio_input_eof(cl->tio);
	if (what & BEV_EVENT_EOF) {
		if (cl->cbs->eof != NULL) {
			cl->cbs->eof(cl, cl->arg);
		} else {
			evs_client_close(cl);
		}
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		err = EVUTIL_SOCKET_ERROR();
		if (err == 0)
			err = ECONNRESET;
		snprintf(msg, sizeof(msg), "%s: %s", cl->target,
		    strerror(err));
		client_finish(cl, err, msg);
	}
}

/* A write to the connected socket failed with err: the client ends. */
static void
client_write_failed(struct evs_client *cl, int err)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "%s: %s", cl->target, strerror(err));
	client_finish(cl, err, msg);
}

int
evs_client_send(struct evs_client *cl, const void *data, size_t len)
{
	struct sockio_out o = { .data = data, .len = len };

	return client_queue(cl, &o);
}

int
evs_client_send_buffer(struct evs_client *cl, struct evbuffer *buf)
{
	struct sockio_out o = { .buf = buf };

	return client_queue(cl, &o);
}

/* The one send path: before the connection is up, output waits in
   `early`; then it is written through.  Takes o; returns 0 or -1. */
static int
client_queue(struct evs_client *cl, struct sockio_out *o)
{
	if (cl->state == CLIENT_IDLE || cl->state == CLIENT_DONE ||
	    cl->closing || cl->shut_wr) {
		sockio_discard(o);
		return -1;
	}
	if (cl->state != CLIENT_CONNECTED)
		return sockio_queue(cl->early, o) == 0 ? 0 : -1;
	if (cl->tio != NULL)
		return client_tls_send(cl, o);
	switch (sockio_write_through(bufferevent_getfd(cl->bev),
	    bufferevent_get_output(cl->bev), o)) {
	case 0:
		return 0;
	case SOCKIO_WRITE_ERROR:
		client_write_failed(cl, errno);
		return -1;
	default:
		return -1;
	}
}

void
evs_client_shutdown_write(struct evs_client *cl)
{
	if (cl->shut_wr || cl->state == CLIENT_DONE)
		return;
	cl->shut_wr = 1;
	client_check_flushed(cl);
}

void
evs_client_close(struct evs_client *cl)
{
	if (cl->closing || cl->state == CLIENT_DONE)
		return;
	cl->closing = 1;
	if (cl->state != CLIENT_CONNECTED) {
		client_finish(cl, 0, "closed");
		return;
	}
	bufferevent_disable(cl->bev, EV_READ);
	bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
	client_check_flushed(cl);
}

size_t
evs_client_pending(const struct evs_client *cl)
{
	if (cl->state != CLIENT_CONNECTED)
		return evbuffer_get_length(cl->early);
	return evbuffer_get_length(bufferevent_get_output(cl->bev));
}

void
evs_client_pause(struct evs_client *cl)
{
	cl->paused = 1;
	if (cl->bev != NULL)
		bufferevent_disable(cl->bev, EV_READ);
}

void
evs_client_resume(struct evs_client *cl)
{
	cl->paused = 0;
	if (cl->bev == NULL || cl->state != CLIENT_CONNECTED || cl->closing)
		return;
	bufferevent_enable(cl->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(cl->bev)) > 0 ||
	    (cl->plain != NULL && evbuffer_get_length(cl->plain) > 0))
		bufferevent_trigger(cl->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
evs_client_set_drain_level(struct evs_client *cl, size_t bytes)
{
	cl->drain_level = bytes;
	if (cl->bev != NULL && cl->state == CLIENT_CONNECTED && !cl->closing)
		bufferevent_setwatermark(cl->bev, EV_WRITE, bytes, 0);
}

const char *
evs_client_target(const struct evs_client *cl)
{
	return cl->target != NULL ? cl->target : "";
}

evutil_socket_t
evs_client_fd(const struct evs_client *cl)
{
	return cl->bev != NULL ? bufferevent_getfd(cl->bev) : -1;
}

int
evs_client_set_tls(struct evs_client *cl, struct evs_tls *tls,
    const char *server_name)
{
	if (cl->state != CLIENT_IDLE || (tls != NULL && tls_is_server(tls))) {
		errno = EINVAL;
		return -1;
	}
	cl->tls = tls;
	snprintf(cl->server_name, sizeof(cl->server_name), "%s",
	    server_name != NULL ? server_name : "");
	return 0;
}

/* The connection is up (after the TLS handshake, for TLS): output
   waiting in `early` goes first, then connected() runs. */
static void
client_up(struct evs_client *cl)
{
	cl->state = CLIENT_CONNECTED;
	event_del(cl->timer);
	if (!cl->paused)
		bufferevent_enable(cl->bev, EV_READ);
	bufferevent_setwatermark(cl->bev, EV_WRITE, cl->drain_level, 0);
	/* What was sent while resolving or connecting goes first, ahead
	   of anything connected() sends. */
	if (evbuffer_get_length(cl->early) > 0) {
		if (cl->tio != NULL) {
			struct sockio_out o = { .buf = cl->early };

			if (client_tls_send(cl, &o) == -1)
				return;
		} else {
			evbuffer_add_buffer(bufferevent_get_output(cl->bev),
			    cl->early);
		}
	}
	if (cl->cbs->connected != NULL)
		cl->cbs->connected(cl, cl->arg);
	if (cl->state == CLIENT_CONNECTED)
		client_check_flushed(cl);
}

/* TCP is up: the TLS handshake starts, under the connect deadline.
   Returns 0, or -1 when the client finished. */
static int
client_tls_start(struct evs_client *cl)
{
	const char *name = cl->server_name[0] != '\0' ? cl->server_name :
	    cl->host;

	cl->state = CLIENT_HANDSHAKING;
	if ((cl->plain == NULL && (cl->plain = evbuffer_new()) == NULL) ||
	    (cl->wire == NULL && (cl->wire = evbuffer_new()) == NULL) ||
	    (cl->tio = tlsio_new(cl->tls, bufferevent_getfd(cl->bev),
	    name)) == NULL) {
		client_tls_failed(cl, "out of memory");
		return -1;
	}
	/* The bufferevent reads; the SSL takes its records from there. */
	tlsio_set_input(cl->tio, bufferevent_get_input(cl->bev));
	bufferevent_enable(cl->bev, EV_READ);
	client_tls_read(cl);
	return cl->state == CLIENT_DONE ? -1 : 0;
}

/* The handshake or the connection failed: one line naming the peer. */
static void
client_tls_failed(struct evs_client *cl, const char *why)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "TLS with %s: %s", cl->target, why);
	client_finish(cl, EPROTO, msg);
}

/* Runs the handshake, then decrypts what arrived and hands it to
   data(). */
static void
client_tls_read(struct evs_client *cl)
{
	char buf[16384];
	ssize_t n;
	int rc;

	if (cl->state == CLIENT_HANDSHAKING) {
		rc = tlsio_handshake(cl->tio, cl->wire);
		if (client_tls_flush(cl) == -1)
			return;
		if (rc == TLSIO_ERROR) {
			client_tls_failed(cl, tlsio_error(cl->tio));
			return;
		}
		if (rc == 0)
			return;
		client_up(cl);
		if (cl->state != CLIENT_CONNECTED)
			return;
	}
	while (!cl->paused) {
		n = tlsio_read(cl->tio, buf, sizeof(buf), cl->wire);
		if (client_tls_flush(cl) == -1)
			return;
		if (n > 0) {
			if (evbuffer_add(cl->plain, buf, (size_t)n) == -1) {
				client_tls_failed(cl, "out of memory");
				return;
			}
			continue;
		}
		if (n == TLSIO_ERROR) {
			client_tls_failed(cl, tlsio_error(cl->tio));
			return;
		}
		break; /* TLSIO_AGAIN, or the end: the EOF event follows */
	}
	if (evbuffer_get_length(cl->plain) == 0)
		return;
	if (cl->cbs->data == NULL)
		evbuffer_drain(cl->plain, evbuffer_get_length(cl->plain));
	else
		cl->cbs->data(cl, cl->plain, cl->arg);
}

/* Encrypts o (taken) and writes the records through.  Returns 0 or
   -1. */
static int
client_tls_send(struct evs_client *cl, struct sockio_out *o)
{
	int rc = o->buf != NULL ? tlsio_write_buffer(cl->tio, o->buf,
	    cl->wire) : tlsio_write(cl->tio, o->data, o->len, cl->wire);

	/* The bytes are encrypted (or kept by the SSL until its
	   handshake): a reference can go. */
	sockio_discard(o);
	if (rc == -1) {
		evbuffer_drain(cl->wire, evbuffer_get_length(cl->wire));
		client_tls_failed(cl, *tlsio_error(cl->tio) != '\0' ?
		    tlsio_error(cl->tio) : "out of memory");
		return -1;
	}
	return client_tls_flush(cl);
}

/* Writes the records made so far through, like plain output: straight
   to the socket while nothing is queued, the rest queued.  Returns 0
   or -1 (the client ended). */
static int
client_tls_flush(struct evs_client *cl)
{
	struct sockio_out o = { .buf = cl->wire };

	if (evbuffer_get_length(cl->wire) == 0)
		return 0;
	switch (sockio_write_through(bufferevent_getfd(cl->bev),
	    bufferevent_get_output(cl->bev), &o)) {
	case 0:
		return 0;
	case SOCKIO_WRITE_ERROR:
		client_write_failed(cl, errno);
		return -1;
	default:
		client_tls_failed(cl, "out of memory");
		return -1;
	}
}
