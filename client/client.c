/*
 * The client engine: resolve (evdns, or numeric), connect without
 * blocking, trying each resolved address in turn, under one deadline;
 * then a bufferevent whose callbacks receive, send and close.  The
 * closed() callback always runs from a deferred event, never from
 * inside another callback, so it may free the client.  Resolving and
 * connecting live in client-connect.c, TLS in client-tls.c; the struct
 * they share is in client-int.h.
 */
#include <errno.h>
#include <netdb.h>
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

#include "../common/sockio.h"
#include "../common/tls.h"
#include "../common/tlsio.h"
#include "client-int.h"

static void client_deferred_cb(evutil_socket_t, short, void *);
static int client_queue(struct evs_client *, struct sockio_out *);
static void client_buffer_free(struct evbuffer *);
static void client_write_failed(struct evs_client *, int);

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
	cl->timer = evtimer_new(base, client_connect_timer_cb, cl);
	cl->deferred = event_new(base, -1, 0, client_deferred_cb, cl);
	cl->early = evbuffer_new();
	if (cl->timer == NULL || cl->deferred == NULL || cl->early == NULL) {
		evs_client_free(cl);
		errno = ENOMEM;
		return NULL;
	}
	return cl;
}

/* evbuffer_free() does not take NULL; a client half made has some. */
static void
client_buffer_free(struct evbuffer *buf)
{
	if (buf != NULL)
		evbuffer_free(buf);
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
	tlsio_free(cl->tio);
	client_buffer_free(cl->early);
	client_buffer_free(cl->plain);
	client_buffer_free(cl->wire);
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

void
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

void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct evs_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (cl->tio != NULL &&
	    (cl->state == CLIENT_HANDSHAKING ||
	        cl->state == CLIENT_CONNECTED)) {
		client_tls_read(cl);
		return;
	}
	if (cl->state != CLIENT_CONNECTED || cl->cbs->data == NULL) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	cl->cbs->data(cl, in, cl->arg);
}

void
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

void
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

void
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
		client_connect_next(cl);
		return;
	}
	if (cl->state == CLIENT_HANDSHAKING) {
		err = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
		if (what & BEV_EVENT_EOF)
			tlsio_input_eof(cl->tio);
		client_tls_failed(cl,
		    err != 0 ?
		        strerror(err) :
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
		snprintf(msg, sizeof(msg), "%s: %s", cl->target, strerror(err));
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
	return client_write_through(cl, o) == 0 ? 0 : -1;
}

int
client_write_through(struct evs_client *cl, struct sockio_out *o)
{
	int rc = sockio_write_through(bufferevent_getfd(cl->bev),
	    bufferevent_get_output(cl->bev), o);

	if (rc == SOCKIO_WRITE_ERROR)
		client_write_failed(cl, errno);
	return rc;
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
void
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
