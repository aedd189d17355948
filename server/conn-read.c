/*
 * A connection's input: a read event of our own, the pass budget,
 * framing into lines or raw data for the service, the TLS read that
 * also drives the handshake, and the read side's endings: EOF and the
 * read timeout (idle, linger, TLS handshake).
 *
 * Why not the bufferevent's own reading: libevent 2.1's evbuffer_read()
 * asks the kernel how much is readable (ioctl FIONREAD) before every
 * read, one extra system call per message, and allocates a chain sized
 * to it.  Here a read is one recv() into the server's scratch buffer,
 * then the bytes go to the bufferevent's input evbuffer, which the
 * service sees as before.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/log.h"
#include "../common/tlsio.h"
#include "server-int.h"

static void conn_read_cb(evutil_socket_t, short, void *);
static int conn_read_later(struct evs_server *);
static void conn_eof(struct evs_conn *);
static void conn_timeout(struct evs_conn *);
static int conn_tls_read(struct evs_conn *, struct evbuffer *, int *);
static const struct timeval *conn_timeval(struct evs_server *, unsigned,
    struct timeval *);

void
conn_read_init(struct evs_conn *c, evutil_socket_t fd)
{
	c->rev = (struct event *)(void *)(c + 1);
	event_assign(c->rev, c->srv->base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
}

static void
conn_process_lines(struct evs_conn *c, struct evbuffer *in)
{
	struct evs_server *srv = c->srv;
	size_t len;

	while (!(c->flags &
	    (CONN_CLOSING | CONN_DEAD | CONN_USER_PAUSE | CONN_SENDQ_WAIT))) {
		switch (line_next(&c->line, in,
		    c->max_line > 0 ? c->max_line : srv->max_line, srv->linebuf,
		    &len)) {
		case LINE_NONE:
			return;
		case LINE_OK:
			c->svc->line(c, srv->linebuf, len, c->arg);
			break;
		case LINE_OVERLONG:
			if (c->svc->overlong != NULL)
				c->svc->overlong(c, c->arg);
			break;
		}
	}
}

/* Arms the read event with the connection's current timeout (the
   handshake's own while a TLS handshake runs). */
void
conn_read_on(struct evs_conn *c)
{
	unsigned ms = (c->flags & CONN_HANDSHAKE) ? c->srv->handshake_ms :
	                                            c->read_ms;
	struct timeval tmp;

	if (c->flags & CONN_DEAD)
		return;
	event_add(c->rev, ms > 0 ? conn_timeval(c->srv, ms, &tmp) : NULL);
}

/* Returns a timeval for `ms` to pass to event_add: a common timeout
   (O(1) for many events of one length) when one is free, else tmp
   filled in. */
static const struct timeval *
conn_timeval(struct evs_server *srv, unsigned ms, struct timeval *tmp)
{
	size_t i, n = sizeof(srv->common_tv) / sizeof(srv->common_tv[0]);

	tmp->tv_sec = ms / 1000;
	tmp->tv_usec = (ms % 1000) * 1000;
	for (i = 0; i < n && srv->common_tv[i].tv != NULL; i++)
		if (srv->common_tv[i].ms == ms)
			return srv->common_tv[i].tv;
	if (i == n)
		return tmp;
	srv->common_tv[i].tv = event_base_init_common_timeout(srv->base, tmp);
	if (srv->common_tv[i].tv == NULL)
		return tmp;
	srv->common_tv[i].ms = ms;
	return srv->common_tv[i].tv;
}

void
conn_read_off(struct evs_conn *c)
{
	event_del(c->rev);
}

unsigned long
conn_read_pass_us(struct evs_server *srv)
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

/* Returns 1 if this pass of the loop is over its budget and has read
   a socket already (the first read of a pass always runs, so that a
   budget shorter than any pass still makes progress). */
static int
conn_read_later(struct evs_server *srv)
{
	struct timeval start;

	if (event_base_gettimeofday_cached(srv->base, &start) == -1)
		return 0;
	if (!evutil_timercmp(&start, &srv->read_pass, ==)) {
		srv->read_pass = start;
		return 0;
	}
	return conn_read_pass_us(srv) > srv->pass_budget_us;
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evs_conn *c = arg;
	struct evs_server *srv = c->srv;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	ssize_t n = -1;
	int eof = 0;

	if (c->flags & CONN_DEAD)
		return;
	if (what & EV_TIMEOUT) {
		conn_timeout(c);
		return;
	}
	/* A pass that ran past its budget reads no more for a corked
	   (fan-out) service: the bytes wait in the kernel, epoll reports
	   the socket again next pass, and the output already made is
	   written first (a join storm otherwise holds the loop for
	   seconds).  Not for the others, whose reads each make one reply:
	   deferring them cost echo 5% at 10,000 connections.  Not over
	   TLS: bytes it decrypted already wait where epoll cannot see
	   them. */
	if ((what & EV_READ) && srv->pass_budget_us > 0 &&
	    (c->svc->flags & EVS_SERVICE_CORK) && c->tls == NULL &&
	    evbuffer_get_length(in) == 0 && conn_read_later(srv))
		return;
	if ((what & EV_READ) && c->tls != NULL) {
		if (conn_tls_read(c, in, &eof) == -1)
			return;
	} else if (what & EV_READ) {
		n = recv(fd, srv->readbuf, srv->max_read, 0);
		if (n > 0) {
			srv->st.bytes_in += (uint64_t)n;
			c->ls->st.bytes_in += (uint64_t)n;
			/* A TLS client on a plain text port would wait for a
			   ServerHello until its own timeout: a handshake
			   record (0x16, version 3.x) is no line of text. */
			if (!(c->flags & CONN_GOT_DATA)) {
				c->flags |= CONN_GOT_DATA;
				if (c->svc->framing == EVS_FRAMING_LINE &&
				    n >= 2 && srv->readbuf[0] == 0x16 &&
				    srv->readbuf[1] == 0x03) {
					log_info(
					    "conn %llu from %s: TLS "
					    "handshake on a plain port; closed",
					    (unsigned long long)c->id,
					    evs_conn_peer_host(c));
					conn_lost(c,
					    "TLS handshake on a plain "
					    "port");
					return;
				}
			}
			/* Closing: what the peer still sends is read and
			   dropped, so our close ends in a FIN, not a reset. */
			if (!(c->flags & CONN_CLOSING) &&
			    evbuffer_add(in, srv->readbuf, (size_t)n) == -1) {
				conn_lost(c, "Out of memory");
				return;
			}
		} else if (n == 0) {
			eof = 1;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			conn_cause_error(c);
			conn_lost(c,
			    errno == ECONNRESET ? "Connection reset by peer" :
			                          strerror(errno));
			return;
		}
	}
	/* Also runs after a resume with nothing new to read: lines left
	   in the buffer by a pause are handed over now. */
	if (!(c->flags & (CONN_CLOSING | CONN_USER_PAUSE | CONN_SENDQ_WAIT)) &&
	    evbuffer_get_length(in) > 0) {
		c->flags |= CONN_IN_READ;
		if (c->svc->framing == EVS_FRAMING_RAW)
			c->svc->data(c, in, c->arg);
		else
			conn_process_lines(c, in);
		c->flags &= ~CONN_IN_READ;
	}
	if (eof && !(c->flags & CONN_DEAD))
		conn_eof(c);
}

static void
conn_eof(struct evs_conn *c)
{
	c->flags |= CONN_EOF;
	conn_read_off(c);
	if (c->flags & (CONN_FIN_SENT | CONN_PEER_GONE)) {
		conn_lost(c, NULL);
		return;
	}
	if (c->flags & CONN_CLOSING)
		return; /* the flush completes the close */
	if ((c->flags & CONN_OPENED) && c->svc->eof != NULL)
		c->svc->eof(c, c->arg);
	else
		evs_conn_close(c, "Connection closed by peer");
}

static void
conn_timeout(struct evs_conn *c)
{
	if (c->flags & (CONN_FIN_SENT | CONN_CLOSING | CONN_PEER_GONE)) {
		conn_lost(c, NULL);
		return;
	}
	if (c->flags & CONN_HANDSHAKE) {
		log_info("conn %llu from %s: TLS handshake timed out",
		    (unsigned long long)c->id, evs_conn_peer_host(c));
		conn_lost(c, "TLS handshake timeout");
		return;
	}
	/* The read event is persistent: its timer restarts by itself. */
	if ((c->flags & CONN_OPENED) && c->svc->timeout != NULL)
		c->svc->timeout(c, c->arg);
	else
		evs_conn_close(c, "Idle timeout");
}

/*
 * The TLS read: records until the socket has no more or max_read
 * plaintext bytes came, into `in` (dropped while closing).  The first
 * reads drive the handshake.  *eof is set at the peer's end.  Returns
 * 0, or -1 when c was lost.
 */
static int
conn_tls_read(struct evs_conn *c, struct evbuffer *in, int *eof)
{
	struct evs_server *srv = c->srv;
	size_t total = 0;
	ssize_t n;

	for (;;) {
		n = tlsio_read(c->tls, srv->readbuf, srv->max_read,
		    srv->tlswire);
		/* Handshake messages, alerts and tickets go out first. */
		if (conn_send_tls_flush(c) == -1)
			return -1;
		if ((c->flags & CONN_HANDSHAKE) && tlsio_ready(c->tls)) {
			char desc[96];

			c->flags &= ~CONN_HANDSHAKE;
			log_debug("conn %llu from %s: %s",
			    (unsigned long long)c->id, evs_conn_peer_host(c),
			    tlsio_describe(c->tls, desc, sizeof(desc)));
			/* Back to the connection's own read timeout
			   (event_add without one would keep the
			   handshake's). */
			if (event_pending(c->rev, EV_READ, NULL)) {
				conn_read_off(c);
				conn_read_on(c);
			}
		}
		if (n > 0) {
			srv->st.bytes_in += (uint64_t)n;
			if (!(c->flags & CONN_CLOSING) &&
			    evbuffer_add(in, srv->readbuf, (size_t)n) == -1) {
				conn_lost(c, "Out of memory");
				return -1;
			}
			total += (size_t)n;
			if (total < srv->max_read)
				continue;
			/* Fair to the other connections: the rest waits
			   for the next pass. */
			if (tlsio_pending(c->tls))
				event_active(c->rev, EV_READ, 0);
			return 0;
		}
		if (n == 0) {
			*eof = 1;
			return 0;
		}
		if (n == TLSIO_AGAIN)
			return 0;
		break;
	}
	if (c->flags & CONN_HANDSHAKE) {
		log_info("conn %llu from %s: TLS handshake failed: %s",
		    (unsigned long long)c->id, evs_conn_peer_host(c),
		    tlsio_error(c->tls));
		conn_lost(c, "TLS handshake failed");
	} else {
		conn_lost(c, tlsio_error(c->tls));
	}
	return -1;
}
