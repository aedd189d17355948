/*
 * A connection's output: the one queue that evs_conn_send,
 * evs_conn_send_buffer and evs_conn_send_msg share.
 *
 * A send goes straight to the socket while nothing is queued, and the
 * bufferevent's output keeps only what the kernel did not take
 * (sockio_write_through, shared with the client engine).  A corked
 * service (EVS_SERVICE_CORK) gathers a connection's output during one
 * pass of the loop instead: the bytes go to the server's spool once
 * (a message fanned out to many connections too) and the cork records
 * ranges of it; the server's flusher event then writes each cork with
 * one sendmsg (conn_send_flush_all).  After each send the sendq rule
 * applies: reading pauses, or a service that asks for it closes the
 * connection.  Over TLS the transport's write encrypts first.  What a
 * failed write does belongs to the connection's life cycle (conn.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/sockio.h"
#include "../common/tlsio.h"
#include "server-int.h"

/* A flush that wrote to at least this many connections makes the loop
   busy enough for the next one to wait (EVS_OPT_FLUSH_HOLD_US). */
#define CONN_SEND_HOLD_MIN 64

/* A flush with a budget looks at the clock after this many writes. */
#define CONN_SEND_BUDGET_EVERY 32

static int conn_send_queue(struct evs_conn *, struct sockio_out *);
static int conn_send_cork(struct evs_conn *, const struct spool_at *, size_t);
static void conn_send_schedule(struct evs_server *);
static int conn_send_after_queue(struct evs_conn *, size_t);
static size_t conn_send_queued(const struct evs_conn *);

int
evs_conn_send(struct evs_conn *c, const void *data, size_t len)
{
	struct sockio_out o = { .data = data, .len = len };

	return conn_send_queue(c, &o);
}

int
evs_conn_send_buffer(struct evs_conn *c, struct evbuffer *buf)
{
	struct sockio_out o = { .buf = buf };

	return conn_send_queue(c, &o);
}

int
evs_conn_send_msg(struct evs_conn *c, struct evs_msg *m)
{
	struct sockio_out o = { .data = NULL };
	const struct spool_at *at;

	o.data = evs_msg_data(m, &o.len);
	if (!(c->svc->flags & EVS_SERVICE_CORK)) {
		o.cleanup = msg_unref_cb;
		o.arg = msg_ref(m);
		return conn_send_queue(c, &o);
	}
	/* Corked: the message is copied into the spool once, whatever the
	   number of connections it goes to, and each cork takes a range;
	   one sendmsg a pass then writes a connection all it was sent. */
	if (c->flags &
	    (CONN_DEAD | CONN_CLOSING | CONN_FIN_SENT | CONN_PEER_GONE))
		return -1;
	if ((at = msg_spool(m, &c->srv->spool)) == NULL) {
		conn_lost(c, "Out of memory");
		return -1;
	}
	return conn_send_cork(c, at, o.len);
}

/*
 * The one send path.  A connection that is closing takes nothing more
 * (its close flushes what was queued before it); o is taken whatever
 * the outcome.  Returns 0, or -1 if the connection is closing or this
 * send closed it (write error, out of memory, over sendq).
 */
static int
conn_send_queue(struct evs_conn *c, struct sockio_out *o)
{
	size_t len = sockio_out_len(o);
	struct spool_at at;
	int rc;

	if (c->flags &
	    (CONN_DEAD | CONN_CLOSING | CONN_FIN_SENT | CONN_PEER_GONE)) {
		sockio_discard(o);
		return -1;
	}
	if (c->svc->flags & EVS_SERVICE_CORK) {
		rc = o->buf != NULL ?
		    spool_put_buffer(&c->srv->spool, o->buf, &at) :
		    spool_put(&c->srv->spool, o->data, o->len, &at);
		sockio_discard(o);
		if (rc == -1) {
			conn_lost(c, "Out of memory");
			return -1;
		}
		return conn_send_cork(c, &at, len);
	}
	rc = conn_send_write_through(c, o);
	if (rc == SOCKIO_WRITE_ERROR) {
		conn_write_failed(c, errno);
		return -1;
	}
	if (rc == SOCKIO_NO_MEMORY) {
		conn_lost(c, "Out of memory");
		return -1;
	}
	return conn_send_after_queue(c, len);
}

/* Adds the len bytes of the spool at *at to c's cork, putting c on
   the flush list.  A cork of too many ranges is written out first.
   Returns what conn_send_after_queue returns. */
static int
conn_send_cork(struct evs_conn *c, const struct spool_at *at, size_t len)
{
	struct evs_server *srv = c->srv;

	if (!(c->flags & CONN_CORKED)) {
		c->flags |= CONN_CORKED;
		if (TAILQ_EMPTY(&srv->flushq))
			conn_send_schedule(srv);
		if (c->flags & CONN_IN_READ)
			TAILQ_INSERT_HEAD(&srv->flushq, c, flink);
		else
			TAILQ_INSERT_TAIL(&srv->flushq, c, flink);
	} else if ((c->flags & CONN_IN_READ) &&
	    TAILQ_FIRST(&srv->flushq) != c) {
		/* A reply to the client being served goes first: when a
		   flush runs out of budget, broadcasts wait, not answers. */
		TAILQ_REMOVE(&srv->flushq, c, flink);
		TAILQ_INSERT_HEAD(&srv->flushq, c, flink);
	}
	if (spool_segs_add(&c->cork, at, len) != 0) {
		/* An empty cork that cannot take a range is out of memory. */
		if (c->cork.n == 0) {
			conn_lost(c, "Out of memory");
			return -1;
		}
		/* Many pieces that do not follow one another: write what
		   there is now, keeping the order, and start again (with an
		   empty cork, so once). */
		conn_send_flush(c);
		if (c->flags & (CONN_DEAD | CONN_PEER_GONE))
			return -1;
		return conn_send_cork(c, at, len);
	}
	return conn_send_after_queue(c, len);
}

void
conn_send_uncork(struct evs_conn *c)
{
	if (c->flags & CONN_CORKED) {
		c->flags &= ~CONN_CORKED;
		TAILQ_REMOVE(&c->srv->flushq, c, flink);
	}
}

void
conn_send_flush(struct evs_conn *c)
{
	struct evs_server *srv = c->srv;
	struct sockio_out o = { .buf = srv->tlsplain };
	int rc;

	conn_send_uncork(c);
	if (c->cork.n == 0)
		return;
	if (c->flags & CONN_DEAD) {
		spool_segs_clear(&c->cork);
		return;
	}
	if (c->tls != NULL) {
		/* Encrypted as one piece, the way any other send is. */
		rc = spool_segs_copy(&c->cork, o.buf) == 0 ?
		    conn_send_write_through(c, &o) :
		    SOCKIO_NO_MEMORY;
	} else if (evbuffer_get_length(c->out) > 0) {
		/* Behind what the kernel did not take yet: after it. */
		rc = spool_segs_queue(&c->cork, c->out) == 0 ? 0 :
		                                               SOCKIO_NO_MEMORY;
	} else {
		rc = spool_segs_write(&c->cork, bufferevent_getfd(c->bev),
		    c->out);
	}
	switch (rc) {
	case SOCKIO_WRITE_ERROR:
		conn_write_failed(c, errno);
		break;
	case SOCKIO_NO_MEMORY:
		conn_lost(c, "Out of memory");
		break;
	}
}

/*
 * Arranges for the flusher to run.  Normally at the end of this pass,
 * after the callbacks already active, so that each connection gets one
 * write for all that this pass sent it.  A busy loop (the last flush
 * wrote to many connections, moments ago) may hold the flush up to
 * flush_hold_us after the last one began: each write then carries
 * more messages, and a delivery costs fewer sends.
 */
static void
conn_send_schedule(struct evs_server *srv)
{
	struct timeval now, wait = { 0, 0 };

	if (srv->flush_hold_us > 0 && srv->last_flush_n >= CONN_SEND_HOLD_MIN &&
	    event_base_gettimeofday_cached(srv->base, &now) == 0) {
		struct timeval hold = { 0, (suseconds_t)srv->flush_hold_us };

		evutil_timeradd(&srv->last_flush, &hold, &hold);
		if (evutil_timercmp(&now, &hold, <)) {
			evutil_timersub(&hold, &now, &wait);
			event_add(srv->flusher, &wait);
			return;
		}
	}
	event_active(srv->flusher, EV_TIMEOUT, 0);
}

void
conn_send_flush_all(struct evs_server *srv)
{
	struct timeval start, now;
	struct evs_conn *c;
	size_t n = 0;

	event_del(srv->flusher);
	event_base_gettimeofday_cached(srv->base, &srv->last_flush);
	evutil_gettimeofday(&start, NULL);
	while ((c = TAILQ_FIRST(&srv->flushq)) != NULL) {
		conn_send_flush(c);
		n++;
		/* Over the pass budget (EVS_OPT_PASS_BUDGET_US) the rest
		   waits for the next pass, after its reads: a join storm's
		   flush to 10,000 members otherwise holds the loop for
		   its whole length.  Replies to the clients whose commands
		   were answered stand first in the list (conn_send_cork),
		   so what waits are broadcasts. */
		if (srv->pass_budget_us > 0 &&
		    n % CONN_SEND_BUDGET_EVERY == 0 &&
		    !TAILQ_EMPTY(&srv->flushq) &&
		    evutil_gettimeofday(&now, NULL) == 0) {
			evutil_timersub(&now, &start, &now);
			if ((unsigned long)now.tv_sec * 1000000UL +
			        (unsigned long)now.tv_usec >
			    srv->pass_budget_us) {
				struct timeval next = { 0, 0 };

				event_add(srv->flusher, &next);
				break;
			}
		}
	}
	/* The next pass stores afresh; what corks still waiting refer to
	   lives on in their chunks. */
	spool_reset(&srv->spool);
	srv->last_flush_n = n;
}

/* After len bytes were queued: counts them, enforces the sendq
   (pauses reading or closes).  Returns 0, or -1 when c was closed. */
static int
conn_send_after_queue(struct evs_conn *c, size_t len)
{
	struct evs_server *srv = c->srv;
	struct evbuffer *out = c->out;
	char line[256];
	size_t n;

	srv->st.bytes_out += len;
	c->ls->st.bytes_out += len;
	if (c->cork.len + evbuffer_get_length(out) <= srv->sendq)
		return 0;
	if ((c->svc->flags & EVS_SERVICE_SENDQ_CLOSE) && c->tls != NULL) {
		/* Cutting queued records would break the stream, and a
		   peer that does not read would not see the line anyway. */
		conn_lost(c, "SendQ exceeded");
		return -1;
	}
	if (c->svc->flags & EVS_SERVICE_SENDQ_CLOSE) {
		/* The peer is not reading: drop what it has not taken, say
		   why on a fresh line, and close. */
		conn_send_drop(c);
		line[0] = '\r';
		line[1] = '\n';
		if (c->svc->refuse != NULL)
			n = c->svc->refuse(c, line + 2, sizeof(line) - 2,
			    "SendQ exceeded", c->arg);
		else
			n = (size_t)snprintf(line + 2, sizeof(line) - 2,
			    "ERROR :SendQ exceeded\r\n");
		if (n >= sizeof(line) - 2)
			n = sizeof(line) - 3;
		evbuffer_add(out, line, n + 2);
		evs_conn_close(c, "SendQ exceeded");
		return -1;
	}
	if (!(c->flags & CONN_SENDQ_WAIT)) {
		c->flags |= CONN_SENDQ_WAIT;
		conn_read_off(c);
		bufferevent_setwatermark(c->bev, EV_WRITE, srv->sendq / 2, 0);
	}
	return 0;
}

int
evs_conn_printf(struct evs_conn *c, const char *fmt, ...)
{
	char stackbuf[512], *p = stackbuf;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(stackbuf)) {
		if ((p = malloc((size_t)n + 1)) == NULL)
			return -1;
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	rc = evs_conn_send(c, p, (size_t)n);
	if (p != stackbuf)
		free(p);
	return rc;
}

size_t
evs_conn_pending(const struct evs_conn *c)
{
	return conn_send_queued(c);
}

/* Drops all output the kernel has not taken, queued and corked. */
void
conn_send_drop(struct evs_conn *c)
{
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	spool_segs_clear(&c->cork);
}

/* Output not yet taken by the kernel: queued and corked. */
static size_t
conn_send_queued(const struct evs_conn *c)
{
	return evbuffer_get_length(c->out) + c->cork.len;
}

/*
 * The transport's write: o (taken) goes straight to the socket while
 * nothing is queued and the rest is queued, in plain TCP; over TLS it
 * is encrypted first and its records go the same way.  Returns what
 * sockio_write_through returns.
 */
int
conn_send_write_through(struct evs_conn *c, struct sockio_out *o)
{
	struct evbuffer *wire = c->srv->tlswire;
	int rc;

	if (c->tls == NULL)
		return sockio_write_through(bufferevent_getfd(c->bev),
		    bufferevent_get_output(c->bev), o);
	rc = o->buf != NULL ? tlsio_write_buffer(c->tls, o->buf, wire) :
	                      tlsio_write(c->tls, o->data, o->len, wire);
	/* Encrypted (or kept until the handshake is done): a reference to
	   the caller's bytes can go. */
	sockio_discard(o);
	if (rc == -1) {
		evbuffer_drain(wire, evbuffer_get_length(wire));
		errno = EPROTO;
		return SOCKIO_NO_MEMORY;
	}
	o->buf = wire;
	return sockio_write_through(bufferevent_getfd(c->bev),
	    bufferevent_get_output(c->bev), o);
}

/* Writes the records the last TLS call made (the server's wire
   buffer) the way plain output goes.  Returns 0, or -1 when c was lost
   or its peer is gone. */
int
conn_send_tls_flush(struct evs_conn *c)
{
	struct sockio_out o = { .buf = c->srv->tlswire };

	if (evbuffer_get_length(o.buf) == 0)
		return 0;
	if (c->flags & (CONN_DEAD | CONN_PEER_GONE)) {
		sockio_discard(&o);
		return -1;
	}
	switch (sockio_write_through(bufferevent_getfd(c->bev),
	    bufferevent_get_output(c->bev), &o)) {
	case 0:
		return 0;
	case SOCKIO_WRITE_ERROR:
		conn_write_failed(c, errno);
		return -1;
	default:
		conn_lost(c, "Out of memory");
		return -1;
	}
}
