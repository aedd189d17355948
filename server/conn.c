/*
 * One accepted connection: a bufferevent whose write and event
 * callbacks send and close, and a read event of our own that receives.
 *
 * Why not the bufferevent's own reading: libevent 2.1's evbuffer_read()
 * asks the kernel how much is readable (ioctl FIONREAD) before every
 * read, one extra system call per message, and allocates a chain sized
 * to it.  Here a read is one recv() into the server's scratch buffer,
 * then the bytes go to the bufferevent's input evbuffer, which the
 * service sees as before.
 *
 * Every way a connection ends (EOF, error, timeout, kick, sendq,
 * shutdown) goes through conn_lost(), which only marks it dead; the
 * server's reaper runs the service's close() and frees it later, so
 * nothing is freed under a running callback.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/addr.h"
#include "../common/log.h"
#include "../common/sockio.h"
#include "../common/tlsio.h"
#include "server-int.h"

struct evs_msg {
	size_t refcnt;
	size_t len;
	char data[];
};

static void conn_read_cb(evutil_socket_t, short, void *);
static void conn_read_on(struct evs_conn *);
static void conn_read_off(struct evs_conn *);
static void conn_eof(struct evs_conn *);
static void conn_timeout(struct evs_conn *);
static void conn_write_cb(struct bufferevent *, void *);
static void conn_event_cb(struct bufferevent *, short, void *);
static void conn_lost(struct evs_conn *, const char *);
static void conn_flushed(struct evs_conn *);
static void conn_refuse(struct evs_conn *, const char *);
static void conn_set_reason(struct evs_conn *, const char *);
static int conn_after_queue(struct evs_conn *);
static void conn_write_timeout(struct evs_conn *, unsigned);
static void conn_msg_cleanup(const void *, size_t, void *);
static struct evbuffer *conn_cork(struct evs_conn *);
static void conn_uncork(struct evs_conn *);
static void conn_flush(struct evs_conn *);
static size_t conn_queued(const struct evs_conn *);
static void conn_write_failed(struct evs_conn *, int);
static void conn_drop_output(struct evs_conn *);
static int conn_tls_read(struct evs_conn *, struct evbuffer *, int *);
static int conn_tls_send(struct evs_conn *, const void *, size_t,
    struct evbuffer *);
static int conn_tls_flush(struct evs_conn *);

void
conn_accept(struct evs_listener *l, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct evs_server *srv = l->srv;
	struct evs_conn *c;
	int one = 1;

	/* The read event lives right after the struct: one allocation. */
	if ((c = calloc(1, sizeof(*c) + event_get_struct_event_size())) ==
	    NULL) {
		close(fd);
		return;
	}
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	/* bufferevent_socket_new freezes the input's end for its own reads;
	   here our read callback is the one that fills it. */
	evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
	if (l->tls != NULL && ((srv->tlswire == NULL &&
	    (srv->tlswire = evbuffer_new()) == NULL) ||
	    (c->tls = tlsio_new(l->tls, fd, NULL)) == NULL)) {
		log_error("TLS: cannot set up a connection: out of memory");
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	if (c->tls != NULL)
		c->flags |= CONN_HANDSHAKE;
	c->rev = (struct event *)(void *)(c + 1);
	event_assign(c->rev, srv->base, fd, EV_READ | EV_PERSIST, conn_read_cb,
	    c);
	c->srv = srv;
	c->svc = l->svc;
	c->arg = l->arg;
	c->id = ++srv->next_id;
	if (salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, salen);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	TAILQ_INSERT_TAIL(&srv->conns, c, link);

	if (srv->shutting_down) {
		conn_refuse(c, "Server shutting down");
		return;
	}
	if (srv->max_clients > 0 && srv->st.current >= srv->max_clients) {
		conn_refuse(c, "Server full");
		return;
	}
	if (srv->max_per_ip > 0) {
		if (server_ip_take(srv, &c->peer.sa) == -1) {
			conn_refuse(c, "Too many connections from your host");
			return;
		}
		c->flags |= CONN_IP_COUNTED;
	}
	srv->st.accepted++;
	srv->st.current++;
	c->flags |= CONN_OPENED;
	if (srv->idle_timeout_ms > 0)
		evs_conn_set_timeout(c, srv->idle_timeout_ms);
	if (c->svc->open != NULL && c->svc->open(c, c->arg) == -1) {
		c->flags &= ~CONN_OPENED;
		srv->st.current--;
		srv->st.accepted--;
		srv->st.refused++;
		evs_conn_close(c, "Refused by service");
		return;
	}
	if (!(c->flags & (CONN_CLOSING | CONN_DEAD | CONN_USER_PAUSE)))
		conn_read_on(c);
	log_debug("conn %llu from %s opened",
	    (unsigned long long)c->id, evs_conn_peer_host(c));
}

static void
conn_refuse(struct evs_conn *c, const char *reason)
{
	char line[256];
	size_t n;

	c->flags |= CONN_REFUSED;
	c->srv->st.refused++;
	if (c->svc->refuse != NULL)
		n = c->svc->refuse(c, line, sizeof(line), reason, c->arg);
	else
		n = (size_t)snprintf(line, sizeof(line), "ERROR :%s\r\n",
		    reason);
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	log_debug("refused %s: %s", evs_conn_peer_host(c), reason);
	evs_conn_send(c, line, n);
	evs_conn_close(c, reason);
}

void
conn_free(struct evs_conn *c)
{
	struct evs_server *srv = c->srv;

	if (c->flags & CONN_DEAD)
		TAILQ_REMOVE(&srv->dead, c, link);
	else
		TAILQ_REMOVE(&srv->conns, c, link);
	if (c->flags & CONN_IP_COUNTED)
		server_ip_release(srv, &c->peer.sa);
	if (!(c->flags & CONN_REFUSED) && srv->st.current > 0 &&
	    (c->flags & CONN_OPENED))
		srv->st.current--;
	if (c->flags & CONN_CORKED)
		TAILQ_REMOVE(&srv->flushq, c, flink);
	if (c->cork != NULL)
		evbuffer_free(c->cork);
	event_del(c->rev);
	tlsio_free(c->tls);
	bufferevent_free(c->bev);
	free(c->reason);
	free(c->host);
	free(c);
}

void
conn_reap(struct evs_server *srv)
{
	struct evs_conn *c;

	while ((c = TAILQ_FIRST(&srv->dead)) != NULL) {
		if (c->flags & CONN_OPENED) {
			log_debug("conn %llu from %s closed: %s",
			    (unsigned long long)c->id, evs_conn_peer_host(c),
			    c->reason != NULL ? c->reason : "closed");
			srv->st.closed++;
			if (c->svc->close != NULL)
				c->svc->close(c, c->reason != NULL ?
				    c->reason : "Connection closed", c->arg);
		}
		conn_free(c);
		server_conn_gone(srv, NULL);
	}
}

void
conn_shutdown(struct evs_conn *c)
{
	if (c->flags & (CONN_CLOSING | CONN_DEAD))
		return;
	if ((c->flags & CONN_OPENED) && c->svc->shutdown != NULL)
		c->svc->shutdown(c, c->arg);
	else
		evs_conn_close(c, "Server shutting down");
}

static void
conn_set_reason(struct evs_conn *c, const char *reason)
{
	if (c->reason == NULL && reason != NULL)
		c->reason = strdup(reason);
}

/* The one way out: mark dead, stop all I/O, let the reaper finish. */
static void
conn_lost(struct evs_conn *c, const char *reason)
{
	struct evs_server *srv = c->srv;

	if (c->flags & CONN_DEAD)
		return;
	conn_set_reason(c, reason);
	conn_uncork(c);
	if (c->cork != NULL)
		evbuffer_drain(c->cork, evbuffer_get_length(c->cork));
	c->flags |= CONN_DEAD | CONN_CLOSING;
	conn_read_off(c);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	TAILQ_REMOVE(&srv->conns, c, link);
	TAILQ_INSERT_TAIL(&srv->dead, c, link);
	event_active(srv->reaper, EV_TIMEOUT, 0);
}

static void
conn_process_lines(struct evs_conn *c, struct evbuffer *in)
{
	struct evs_server *srv = c->srv;
	size_t len;

	while (!(c->flags & (CONN_CLOSING | CONN_DEAD | CONN_USER_PAUSE |
	    CONN_SENDQ_WAIT))) {
		switch (line_next(&c->line, in, srv->max_line, srv->linebuf,
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
static void
conn_read_on(struct evs_conn *c)
{
	unsigned ms = (c->flags & CONN_HANDSHAKE) ? c->srv->handshake_ms :
	    c->read_ms;
	struct timeval tmp;

	if (c->flags & CONN_DEAD)
		return;
	event_add(c->rev, ms > 0 ? server_timeout(c->srv, ms, &tmp) : NULL);
}

static void
conn_read_off(struct evs_conn *c)
{
	event_del(c->rev);
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
	if ((what & EV_READ) && c->tls != NULL) {
		if (conn_tls_read(c, in, &eof) == -1)
			return;
	} else if (what & EV_READ) {
		n = recv(fd, srv->readbuf, srv->max_read, 0);
		if (n > 0) {
			srv->st.bytes_in += (uint64_t)n;
			/* A TLS client on a plain text port would wait for a
			   ServerHello until its own timeout: a handshake
			   record (0x16, version 3.x) is no line of text. */
			if (!(c->flags & CONN_GOT_DATA)) {
				c->flags |= CONN_GOT_DATA;
				if (c->svc->framing == EVS_FRAMING_LINE &&
				    n >= 2 && srv->readbuf[0] == 0x16 &&
				    srv->readbuf[1] == 0x03) {
					log_info("conn %llu from %s: TLS "
					    "handshake on a plain port; closed",
					    (unsigned long long)c->id,
					    evs_conn_peer_host(c));
					conn_lost(c, "TLS handshake on a plain "
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
			conn_lost(c, errno == ECONNRESET ?
			    "Connection reset by peer" : strerror(errno));
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

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct evs_conn *c = arg;
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len = evbuffer_get_length(out);

	if (c->flags & CONN_DEAD)
		return;
	if ((c->flags & CONN_SENDQ_WAIT) && len <= c->srv->sendq / 2) {
		c->flags &= ~CONN_SENDQ_WAIT;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (!(c->flags & (CONN_USER_PAUSE | CONN_CLOSING)))
			evs_conn_resume(c);
	}
	if ((c->flags & CONN_CLOSING) && !(c->flags & CONN_FIN_SENT) &&
	    len == 0)
		conn_flushed(c);
}

/* Output is flushed after a close request: FIN, then drain the peer. */
static void
conn_flushed(struct evs_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (c->tls != NULL) {
		/* Nothing can be said before the handshake is done. */
		if (!tlsio_ready(c->tls)) {
			conn_lost(c, NULL);
			return;
		}
		/* close_notify goes before the FIN; its write completes
		   like any output and brings us back here. */
		tlsio_shutdown(c->tls, c->srv->tlswire);
		if (conn_tls_flush(c) == -1)
			return;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
			conn_write_timeout(c, c->srv->linger_ms > 0 ?
			    c->srv->linger_ms : 1000);
			return;
		}
	}
	if ((c->flags & CONN_EOF) || c->srv->linger_ms == 0) {
		conn_lost(c, NULL);
		return;
	}
	c->flags |= CONN_FIN_SENT;
	if (shutdown(fd, SHUT_WR) == -1) {
		conn_lost(c, NULL);
		return;
	}
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	c->read_ms = c->srv->linger_ms;
	conn_read_on(c);
}

/* The bufferevent only writes: its events are write errors and write
   timeouts. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct evs_conn *c = arg;

	(void)bev;
	if (c->flags & CONN_DEAD)
		return;
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();

		if (err == 0)
			conn_lost(c, "Connection error");
		else
			conn_write_failed(c, err);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_lost(c, (c->flags & CONN_CLOSING) ? NULL : "Write timeout");
}

/* After output was queued: enforce the sendq.  Returns 0 or -1. */
static int
conn_after_queue(struct evs_conn *c)
{
	struct evs_server *srv = c->srv;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char line[256];
	size_t n;

	if (conn_queued(c) <= srv->sendq)
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
		conn_drop_output(c);
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
evs_conn_send(struct evs_conn *c, const void *data, size_t len)
{
	struct evbuffer *out;
	ssize_t n = 0;

	if (c->flags & (CONN_DEAD | CONN_FIN_SENT | CONN_PEER_GONE) ||
	    ((c->flags & CONN_CLOSING) && !(c->flags & CONN_REFUSED)))
		return -1;
	if ((c->svc->flags & EVS_SERVICE_CORK) &&
	    !(c->flags & CONN_CLOSING)) {
		struct evbuffer *cork = conn_cork(c);

		if (cork == NULL || evbuffer_add(cork, data, len) == -1) {
			conn_lost(c, "Out of memory");
			return -1;
		}
		c->srv->st.bytes_out += len;
		return conn_after_queue(c);
	}
	if (c->tls != NULL) {
		c->srv->st.bytes_out += len;
		if (conn_tls_send(c, data, len, NULL) == -1)
			return -1;
		return conn_after_queue(c);
	}
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0) {
		n = sockio_write(bufferevent_getfd(c->bev), data, len);
		if (n < 0) {
			conn_write_failed(c, errno);
			return -1;
		}
	}
	c->srv->st.bytes_out += len;
	if ((size_t)n < len && evbuffer_add(out, (const char *)data + n,
	    len - (size_t)n) == -1) {
		conn_lost(c, "Out of memory");
		return -1;
	}
	return conn_after_queue(c);
}

int
evs_conn_send_buffer(struct evs_conn *c, struct evbuffer *buf)
{
	struct evbuffer *out;
	size_t len = evbuffer_get_length(buf);

	if (c->flags & (CONN_DEAD | CONN_CLOSING | CONN_FIN_SENT |
	    CONN_PEER_GONE)) {
		evbuffer_drain(buf, len);
		return -1;
	}
	c->srv->st.bytes_out += len;
	if (c->svc->flags & EVS_SERVICE_CORK) {
		struct evbuffer *cork = conn_cork(c);

		if (cork == NULL || evbuffer_add_buffer(cork, buf) == -1) {
			evbuffer_drain(buf, evbuffer_get_length(buf));
			conn_lost(c, "Out of memory");
			return -1;
		}
		return conn_after_queue(c);
	}
	if (c->tls != NULL) {
		if (conn_tls_send(c, NULL, 0, buf) == -1)
			return -1;
		return conn_after_queue(c);
	}
	out = bufferevent_get_output(c->bev);
	/* The fast path: nothing queued, so write straight from the
	   caller's buffer and queue only what the kernel did not take. */
	if (evbuffer_get_length(out) == 0 &&
	    sockio_write_evbuffer(bufferevent_getfd(c->bev), buf) < 0) {
		int err = errno;

		evbuffer_drain(buf, evbuffer_get_length(buf));
		conn_write_failed(c, err);
		return -1;
	}
	if (evbuffer_get_length(buf) > 0)
		evbuffer_add_buffer(out, buf);
	return conn_after_queue(c);
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

struct evs_msg *
evs_msg_new(const void *data, size_t len)
{
	struct evs_msg *m = malloc(sizeof(*m) + len);

	if (m == NULL)
		return NULL;
	m->refcnt = 1;
	m->len = len;
	memcpy(m->data, data, len);
	return m;
}

const char *
evs_msg_data(const struct evs_msg *m, size_t *len)
{
	if (len != NULL)
		*len = m->len;
	return m->data;
}

void
evs_msg_unref(struct evs_msg *m)
{
	if (m != NULL && --m->refcnt == 0)
		free(m);
}

static void
conn_msg_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	evs_msg_unref(arg);
}

int
evs_conn_send_msg(struct evs_conn *c, struct evs_msg *m)
{
	struct evbuffer *out;
	ssize_t n = 0;

	if (c->flags & (CONN_DEAD | CONN_CLOSING | CONN_FIN_SENT |
	    CONN_PEER_GONE))
		return -1;
	if (c->svc->flags & EVS_SERVICE_CORK) {
		struct evbuffer *cork = conn_cork(c);
		int rc;

		/* Small messages are copied: one chain holds many of them
		   and a pass ends in one short writev.  A reference per
		   recipient costs a chain each and a writev of one iovec per
		   message, which measured slower at the tail (chat fan-out,
		   500 clients, 3,200 msgs/s: p99 64-248 ms against 10-24).
		   Large ones are shared. */
		if (cork == NULL)
			rc = -1;
		else if (m->len <= 512)
			rc = evbuffer_add(cork, m->data, m->len);
		else if ((rc = evbuffer_add_reference(cork, m->data, m->len,
		    conn_msg_cleanup, m)) == 0)
			m->refcnt++;
		if (rc == -1) {
			conn_lost(c, "Out of memory");
			return -1;
		}
		c->srv->st.bytes_out += m->len;
		return conn_after_queue(c);
	}
	if (c->tls != NULL) {
		c->srv->st.bytes_out += m->len;
		if (conn_tls_send(c, m->data, m->len, NULL) == -1)
			return -1;
		return conn_after_queue(c);
	}
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0) {
		n = sockio_write(bufferevent_getfd(c->bev), m->data, m->len);
		if (n < 0) {
			conn_write_failed(c, errno);
			return -1;
		}
	}
	c->srv->st.bytes_out += m->len;
	if ((size_t)n < m->len) {
		/* Queue a reference to the shared bytes, not a copy. */
		m->refcnt++;
		if (evbuffer_add_reference(out, m->data + n,
		    m->len - (size_t)n, conn_msg_cleanup, m) == -1) {
			m->refcnt--;
			conn_lost(c, "Out of memory");
			return -1;
		}
	}
	return conn_after_queue(c);
}

void
evs_conn_close(struct evs_conn *c, const char *reason)
{
	if (c->flags & (CONN_CLOSING | CONN_DEAD))
		return;
	if (c->flags & CONN_PEER_GONE) {
		conn_lost(c, NULL);
		return;
	}
	conn_set_reason(c, reason);
	/* Corked output goes first, written now: the close follows it. */
	conn_flush(c);
	if (c->flags & CONN_PEER_GONE)
		conn_lost(c, NULL);
	if (c->flags & CONN_DEAD)
		return;
	c->flags |= CONN_CLOSING;
	c->flags &= ~CONN_SENDQ_WAIT;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_read_off(c);
		conn_flushed(c);
		return;
	}
	/* A peer that never reads must not hold the close open forever;
	   meanwhile what it sends is read and dropped. */
	c->read_ms = c->srv->linger_ms > 0 ? c->srv->linger_ms : 1000;
	conn_write_timeout(c, c->read_ms);
	if (!(c->flags & CONN_EOF))
		conn_read_on(c);
}

void
evs_conn_abort(struct evs_conn *c, const char *reason)
{
	conn_lost(c, reason);
}

int
evs_conn_closing(const struct evs_conn *c)
{
	return (c->flags & (CONN_CLOSING | CONN_DEAD)) != 0;
}

void
evs_conn_pause(struct evs_conn *c)
{
	c->flags |= CONN_USER_PAUSE;
	if (!(c->flags & (CONN_CLOSING | CONN_DEAD)))
		conn_read_off(c);
}

void
evs_conn_resume(struct evs_conn *c)
{
	c->flags &= ~CONN_USER_PAUSE;
	if (c->flags & (CONN_CLOSING | CONN_DEAD | CONN_SENDQ_WAIT))
		return;
	if (c->flags & CONN_EOF)
		return;
	conn_read_on(c);
	/* Lines already buffered (or records inside the SSL) would
	   otherwise wait for the next read. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
	    (c->tls != NULL && tlsio_pending(c->tls)))
		event_active(c->rev, 0, 0);
}

/* Bounds how long queued output may wait for the peer to read. */
static void
conn_write_timeout(struct evs_conn *c, unsigned ms)
{
	struct timeval tv;

	if (ms == 0) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, NULL, &tv);
}

void
evs_conn_set_timeout(struct evs_conn *c, unsigned ms)
{
	if (c->flags & (CONN_CLOSING | CONN_DEAD | CONN_PEER_GONE))
		return;
	c->timeout_ms = ms;
	c->read_ms = ms;
	conn_write_timeout(c, ms);
	/* Re-arm with the new length if reading is on now. */
	if (event_pending(c->rev, EV_READ, NULL))
		conn_read_on(c);
}

size_t
evs_conn_pending(const struct evs_conn *c)
{
	return conn_queued(c);
}

/*
 * A write failed.  After a reset or a broken pipe the peer can no
 * longer hear us, but what it sent before it went may still wait in the
 * kernel (a last PRIVMSG and QUIT behind output it never read): that is
 * read and handed to the service as usual, with nothing more sent, and
 * the connection ends at its end or after the linger time.  Any other
 * error ends it at once.
 */
static void
conn_write_failed(struct evs_conn *c, int err)
{
	const char *why = err == ECONNRESET ? "Connection reset by peer" :
	    err == EPIPE ? "Broken pipe" : strerror(err);

	if (c->flags & (CONN_DEAD | CONN_PEER_GONE))
		return;
	if ((err != EPIPE && err != ECONNRESET) ||
	    (c->flags & (CONN_CLOSING | CONN_EOF))) {
		conn_lost(c, why);
		return;
	}
	conn_set_reason(c, why);
	c->flags |= CONN_PEER_GONE;
	c->flags &= ~CONN_SENDQ_WAIT;
	conn_uncork(c);
	conn_drop_output(c);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->read_ms = c->srv->linger_ms > 0 ? c->srv->linger_ms : 1000;
	/* A service that paused reading resumes when it is ready. */
	if (!(c->flags & CONN_USER_PAUSE)) {
		conn_read_on(c);
		event_active(c->rev, EV_READ, 0);
	}
}

/* Drops all output the kernel has not taken, queued and corked. */
static void
conn_drop_output(struct evs_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_drain(out, evbuffer_get_length(out));
	if (c->cork != NULL)
		evbuffer_drain(c->cork, evbuffer_get_length(c->cork));
}

/* Output not yet taken by the kernel: queued and corked. */
static size_t
conn_queued(const struct evs_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->cork != NULL ? evbuffer_get_length(c->cork) : 0);
}

/* Returns the connection's cork, on the flush list, or NULL. */
static struct evbuffer *
conn_cork(struct evs_conn *c)
{
	struct evs_server *srv = c->srv;

	if (c->cork == NULL && (c->cork = evbuffer_new()) == NULL)
		return NULL;
	if (!(c->flags & CONN_CORKED)) {
		c->flags |= CONN_CORKED;
		if (TAILQ_EMPTY(&srv->flushq))
			event_active(srv->flusher, EV_TIMEOUT, 0);
		TAILQ_INSERT_TAIL(&srv->flushq, c, flink);
	}
	return c->cork;
}

/* Takes the connection off the flush list; its cork keeps its bytes. */
static void
conn_uncork(struct evs_conn *c)
{
	if (c->flags & CONN_CORKED) {
		c->flags &= ~CONN_CORKED;
		TAILQ_REMOVE(&c->srv->flushq, c, flink);
	}
}

/* Writes the corked bytes straight to the socket when nothing else is
   queued; what the kernel does not take moves to the bufferevent. */
static void
conn_flush(struct evs_conn *c)
{
	struct evbuffer *out;

	conn_uncork(c);
	if (c->cork == NULL || evbuffer_get_length(c->cork) == 0 ||
	    (c->flags & CONN_DEAD))
		return;
	if (c->tls != NULL) {
		(void)conn_tls_send(c, NULL, 0, c->cork);
		return;
	}
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0 &&
	    sockio_write_evbuffer(bufferevent_getfd(c->bev), c->cork) < 0) {
		conn_write_failed(c, errno);
		return;
	}
	if (evbuffer_get_length(c->cork) > 0)
		evbuffer_add_buffer(out, c->cork);
}

void
conn_flush_all(struct evs_server *srv)
{
	struct evs_conn *c;

	while ((c = TAILQ_FIRST(&srv->flushq)) != NULL)
		conn_flush(c);
}

const struct sockaddr *
evs_conn_peer(const struct evs_conn *c, socklen_t *len)
{
	if (len != NULL)
		*len = c->peer.sa.sa_family == AF_INET6 ?
		    sizeof(c->peer.sin6) : sizeof(c->peer.sin);
	return &c->peer.sa;
}

const char *
evs_conn_peer_host(const struct evs_conn *c)
{
	struct evs_conn *mc = (struct evs_conn *)(uintptr_t)c;
	char buf[64];

	if (mc->host == NULL) {
		addr_format_host(&c->peer.sa, buf, sizeof(buf));
		mc->host = strdup(buf);
	}
	return mc->host != NULL ? mc->host : "?";
}

uint64_t
evs_conn_id(const struct evs_conn *c)
{
	return c->id;
}

void
evs_conn_set_data(struct evs_conn *c, void *data)
{
	c->data = data;
}

void *
evs_conn_data(const struct evs_conn *c)
{
	return c->data;
}

struct evs_server *
evs_conn_server(const struct evs_conn *c)
{
	return c->srv;
}

const struct evs_service *
evs_conn_service(const struct evs_conn *c, void **arg)
{
	if (arg != NULL)
		*arg = c->arg;
	return c->svc;
}

int
evs_conn_is_tls(const struct evs_conn *c)
{
	return c->tls != NULL;
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
		if (conn_tls_flush(c) == -1)
			return -1;
		if ((c->flags & CONN_HANDSHAKE) && tlsio_ready(c->tls)) {
			char desc[96];

			c->flags &= ~CONN_HANDSHAKE;
			log_debug("conn %llu from %s: %s",
			    (unsigned long long)c->id, evs_conn_peer_host(c),
			    tlsio_describe(c->tls, desc, sizeof(desc)));
			/* Back to the connection's own read timeout. */
			if (event_pending(c->rev, EV_READ, NULL))
				conn_read_on(c);
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

/* Encrypts plaintext (len bytes at data, or all of buf) and writes the
   records through.  Returns 0, or -1 when c was lost. */
static int
conn_tls_send(struct evs_conn *c, const void *data, size_t len,
    struct evbuffer *buf)
{
	struct evbuffer *wire = c->srv->tlswire;
	int rc;

	rc = buf != NULL ? tlsio_write_buffer(c->tls, buf, wire) :
	    tlsio_write(c->tls, data, len, wire);
	if (rc == -1) {
		evbuffer_drain(wire, evbuffer_get_length(wire));
		conn_lost(c, *tlsio_error(c->tls) != '\0' ?
		    tlsio_error(c->tls) : "Out of memory");
		return -1;
	}
	return conn_tls_flush(c);
}

/* Writes the records the last TLS call made (the server's wire
   buffer) the way plain output goes: straight to the socket while
   nothing is queued, the rest queued in the bufferevent.  Returns 0,
   or -1 when c was lost or its peer is gone. */
static int
conn_tls_flush(struct evs_conn *c)
{
	struct evbuffer *wire = c->srv->tlswire;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int err;

	if (evbuffer_get_length(wire) == 0)
		return 0;
	if (c->flags & (CONN_DEAD | CONN_PEER_GONE)) {
		evbuffer_drain(wire, evbuffer_get_length(wire));
		return -1;
	}
	if (evbuffer_get_length(out) == 0 &&
	    sockio_write_evbuffer(bufferevent_getfd(c->bev), wire) < 0) {
		err = errno;
		evbuffer_drain(wire, evbuffer_get_length(wire));
		conn_write_failed(c, err);
		return -1;
	}
	if (evbuffer_get_length(wire) > 0 &&
	    evbuffer_add_buffer(out, wire) == -1) {
		evbuffer_drain(wire, evbuffer_get_length(wire));
		conn_lost(c, "Out of memory");
		return -1;
	}
	return 0;
}
