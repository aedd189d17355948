/*
 * TLS in the client engine: the handshake under the connect deadline,
 * then records decrypted for data() and encrypted on their way out,
 * written through like plain output.
 */
#include <errno.h>
#include <stdio.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/sockio.h"
#include "../common/tlsio.h"
#include "client-int.h"

/* TCP is up: the TLS handshake starts, under the connect deadline.
   Returns 0, or -1 when the client finished. */
int
client_tls_start(struct evs_client *cl)
{
	const char *name = cl->server_name[0] != '\0' ? cl->server_name :
	                                                cl->host;

	cl->state = CLIENT_HANDSHAKING;
	if ((cl->plain == NULL && (cl->plain = evbuffer_new()) == NULL) ||
	    (cl->wire == NULL && (cl->wire = evbuffer_new()) == NULL) ||
	    (cl->tio = tlsio_new(cl->tls, bufferevent_getfd(cl->bev), name)) ==
	        NULL) {
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
void
client_tls_failed(struct evs_client *cl, const char *why)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "TLS with %s: %s", cl->target, why);
	client_finish(cl, EPROTO, msg);
}

/* Runs the handshake, then decrypts what arrived and hands it to
   data(). */
void
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
int
client_tls_send(struct evs_client *cl, struct sockio_out *o)
{
	int rc = o->buf != NULL ?
	    tlsio_write_buffer(cl->tio, o->buf, cl->wire) :
	    tlsio_write(cl->tio, o->data, o->len, cl->wire);

	/* The bytes are encrypted (or kept by the SSL until its
	   handshake): a reference can go. */
	sockio_discard(o);
	if (rc == -1) {
		evbuffer_drain(cl->wire, evbuffer_get_length(cl->wire));
		client_tls_failed(cl,
		    *tlsio_error(cl->tio) != '\0' ? tlsio_error(cl->tio) :
		                                    "out of memory");
		return -1;
	}
	return client_tls_flush(cl);
}

/* Writes the records made so far through, like plain output: straight
   to the socket while nothing is queued, the rest queued.  Returns 0
   or -1 (the client ended). */
int
client_tls_flush(struct evs_client *cl)
{
	struct sockio_out o = { .buf = cl->wire };

	if (evbuffer_get_length(cl->wire) == 0)
		return 0;
	switch (client_write_through(cl, &o)) {
	case 0:
		return 0;
	case SOCKIO_NO_MEMORY:
		client_tls_failed(cl, "out of memory");
		return -1;
	default:
		return -1; /* the client ended */
	}
}
