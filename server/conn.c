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
#include <stdatomic.h>
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

static void conn_read_cb(evutil_socket_t, short, void *);
static void conn_read_on(struct evs_conn *);
static int conn_read_later(struct evs_server *);
static void conn_read_off(struct evs_conn *);
static void conn_eof(struct evs_conn *);
static void conn_timeout(struct evs_conn *);
static void conn_write_cb(struct bufferevent *, void *);
static void conn_event_cb(struct bufferevent *, short, void *);
static void conn_flushed(struct evs_conn *);
static void conn_set_reason(struct evs_conn *, const char *);
static void conn_write_timeout(struct evs_conn *, unsigned);
static size_t conn_queued(const struct evs_conn *);
static void conn_drop_output(struct evs_conn *);
static int conn_tls_read(struct evs_conn *, struct evbuffer *, int *);
static int conn_tls_flush(struct evs_conn *);
static const struct timeval *conn_timeval(struct evs_server *, unsigned,
    struct timeval *);
static int conn_cause_of(const char *);
static void conn_cause_error(struct evs_conn *);

/* Connection ids come from one counter for the whole process, so that
   a log line names one connection whatever server or thread it is on. */
static atomic_uint_least64_t conn_next_id;

/* How the reasons a connection closes with are counted. */
static const struct {
	const char *prefix;
	enum evs_close_cause cause;
} conn_causes[] = {
	{ "Connection closed by peer", EVS_CLOSED_PEER },
	{ "Connection reset by peer", EVS_CLOSED_ERROR },
	{ "Broken pipe", EVS_CLOSED_ERROR },
	{ "Connection error", EVS_CLOSED_ERROR },
	{ "Out of memory", EVS_CLOSED_ERROR },
	{ "TLS handshake", EVS_CLOSED_ERROR },
	{ "Idle timeout", EVS_CLOSED_IDLE },
	{ "SendQ exceeded", EVS_CLOSED_SENDQ },
	{ "Stalled output", EVS_CLOSED_STALL },
	{ "Write timeout", EVS_CLOSED_STALL },
	{ "Server shutting down", EVS_CLOSED_SHUTDOWN },
	{ "Shutdown timeout", EVS_CLOSED_SHUTDOWN },
	{ "Registration tim", EVS_CLOSED_REGISTRATION },
	{ "Ping timeout", EVS_CLOSED_PING },
	{ "Excess Flood", EVS_CLOSED_FLOOD },
	{ "Flood", EVS_CLOSED_FLOOD },
	{ "Killed", EVS_CLOSED_KILL },
	{ "K-lined", EVS_CLOSED_KILL },
	{ "Quit", EVS_CLOSED_QUIT },
	{ "Client Quit", EVS_CLOSED_QUIT },
};

struct evs_conn *
conn_new(struct evs_listener *l, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct evs_server *srv = l->srv;
	struct evs_conn *c;
	int one = 1;

	/* The read event lives right after the struct: one allocation. */
	if ((c = calloc(1, sizeof(*c) + event_get_struct_event_size())) ==
	    NULL) {
		close(fd);
		return NULL;
	}
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return NULL;
	}
	/* bufferevent_socket_new freezes the input's end for its own reads;
	   here our read callback is the one that fills it. */
	evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
	/* Once a client falls behind, its output waits in the bufferevent,
	   which by default writes at most 16 KiB a pass: at 6,000 msgs/s
	   to 500 chat clients that drained slower than it filled, every
	   write was exactly 16 KiB, and a server behind stayed behind.
	   Let each write take what the kernel takes. */
	bufferevent_set_max_single_write(c->bev, EV_SSIZE_MAX);
	if (l->tls != NULL && ((srv->tlswire == NULL &&
	    (srv->tlswire = evbuffer_new()) == NULL) ||
	    (c->tls = tlsio_new(l->tls, fd, NULL)) == NULL)) {
		log_error("TLS: cannot set up a connection: out of memory");
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	if (c->tls != NULL)
		c->flags |= CONN_HANDSHAKE;
	c->rev = (struct event *)(void *)(c + 1);
	event_assign(c->rev, srv->base, fd, EV_READ | EV_PERSIST, conn_read_cb,
	    c);
	c->srv = srv;
	c->ls = l->ls;
	c->svc = l->svc;
	c->arg = l->arg;
	c->cause = -1;
	c->id = atomic_fetch_add_explicit(&conn_next_id, 1,
	    memory_order_relaxed) + 1;
	if (salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, salen);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	return c;
}

int
conn_open(struct evs_conn *c)
{
	c->flags |= CONN_OPENED;
	if (c->srv->stall_timeout_ms > 0)
		conn_stall_timer(c);
	if (c->srv->idle_timeout_ms > 0)
		evs_conn_set_timeout(c, c->srv->idle_timeout_ms);
	if (c->svc->open != NULL && c->svc->open(c, c->arg) == -1) {
		c->flags &= ~CONN_OPENED;
		return -1;
	}
	if (!(c->flags & (CONN_CLOSING | CONN_DEAD | CONN_USER_PAUSE)))
		conn_read_on(c);
	log_debug("conn %llu from %s opened",
	    (unsigned long long)c->id, evs_conn_peer_host(c));
	return 0;
}

void
conn_refuse(struct evs_conn *c, enum evs_refusal why, const char *reason)
{
	char line[256];
	size_t n;

	c->flags |= CONN_REFUSED;
	c->srv->st.refused++;
	c->ls->st.refused++;
	c->ls->st.refused_by[why]++;
	/* A limit at work is news for the operator; many of them are an
	   attack, and the log must not grow with it. */
	if (why == EVS_REFUSED_MAX_CLIENTS || why == EVS_REFUSED_PER_IP)
		log_limited(EVS_LOG_INFO, "conn %llu from %s refused: %s",
		    (unsigned long long)c->id, evs_conn_peer_host(c), reason);
	else
		log_debug("conn %llu from %s refused: %s",
		    (unsigned long long)c->id, evs_conn_peer_host(c), reason);
	if (c->svc->refuse != NULL)
		n = c->svc->refuse(c, line, sizeof(line), reason, c->arg);
	else
		n = (size_t)snprintf(line, sizeof(line), "ERROR :%s\r\n",
		    reason);
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
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
conn_end(struct evs_conn *c)
{
	int cause;

	if (!(c->flags & CONN_OPENED))
		return;
	cause = c->cause >= 0 ? c->cause : EVS_CLOSED_SERVICE;
	switch (cause) {
	case EVS_CLOSED_IDLE:
	case EVS_CLOSED_REGISTRATION:
	case EVS_CLOSED_PING:
	case EVS_CLOSED_SENDQ:
	case EVS_CLOSED_STALL:
	case EVS_CLOSED_FLOOD:
		log_limited(EVS_LOG_INFO, "conn %llu from %s closed: %s",
		    (unsigned long long)c->id, evs_conn_peer_host(c),
		    c->reason);
		break;
	default:
		log_debug("conn %llu from %s closed: %s",
		    (unsigned long long)c->id, evs_conn_peer_host(c),
		    c->reason != NULL ? c->reason : "closed");
		break;
	}
	c->srv->st.closed++;
	c->ls->st.closed++;
	c->ls->st.closed_by[cause]++;
	if (c->svc->close != NULL)
		c->svc->close(c, c->reason != NULL ? c->reason :
		    "Connection closed", c->arg);
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

/* The first reason given is the one kept, and the one counted. */
static void
conn_set_reason(struct evs_conn *c, const char *reason)
{
	if (c->reason == NULL && reason != NULL) {
		c->reason = strdup(reason);
		if (c->cause < 0)
			c->cause = conn_cause_of(reason);
	}
}

/* Returns the cause a reason is counted under. */
static int
conn_cause_of(const char *reason)
{
	for (size_t i = 0; i < sizeof(conn_causes) / sizeof(conn_causes[0]);
	    i++)
		if (strncmp(reason, conn_causes[i].prefix,
		    strlen(conn_causes[i].prefix)) == 0)
			return (int)conn_causes[i].cause;
	return EVS_CLOSED_SERVICE;
}

/* The reason about to be given is a socket error's text. */
static void
conn_cause_error(struct evs_conn *c)
{
	if (c->reason == NULL)
		c->cause = EVS_CLOSED_ERROR;
}

/* The one way out: mark dead, stop all I/O, let the reaper finish. */
void
conn_lost(struct evs_conn *c, const char *reason)
{
	struct evs_server *srv = c->srv;

	if (c->flags & CONN_DEAD)
		return;
	conn_set_reason(c, reason);
	conn_send_uncork(c);
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

static void
conn_read_off(struct evs_conn *c)
{
	event_del(c->rev);
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
	return server_pass_us(srv) > srv->pass_budget_us;
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
	/* A pass that ran past its budget reads no more: the bytes wait in
	   the kernel, epoll reports the socket again next pass, and the
	   output already made is written first (a join storm otherwise
	   holds the loop for seconds).  Not over TLS: bytes it decrypted
	   already wait where epoll cannot see them. */
	if ((what & EV_READ) && srv->pass_budget_us > 0 &&
	    c->tls == NULL && evbuffer_get_length(in) == 0 &&
	    conn_read_later(srv))
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
			conn_cause_error(c);
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
	/* The write timeout is the stall timer: it restarts whenever the
	   socket takes output, so it fires only when nothing moved. */
	if (what & BEV_EVENT_TIMEOUT)
		conn_lost(c, (c->flags & CONN_CLOSING) ? NULL :
		    c->srv->stall_timeout_ms > 0 ? "Stalled output" :
		    "Write timeout");
}

/* After output was queued: enforce the sendq.  Returns 0 or -1. */
int
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
	conn_send_flush(c);
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
	conn_stall_timer(c);
	/* Re-arm with the new length if reading is on now. */
	if (event_pending(c->rev, EV_READ, NULL))
		conn_read_on(c);
}

/* With a stall timeout, output may wait that long; without one, as
   long as the connection's timer. */
void
conn_stall_timer(struct evs_conn *c)
{
	if (c->flags & (CONN_CLOSING | CONN_DEAD | CONN_PEER_GONE))
		return;
	conn_write_timeout(c, c->srv->stall_timeout_ms > 0 ?
	    c->srv->stall_timeout_ms : c->timeout_ms);
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
void
conn_write_failed(struct evs_conn *c, int err)
{
	const char *why = err == ECONNRESET ? "Connection reset by peer" :
	    err == EPIPE ? "Broken pipe" : strerror(err);

	if (c->flags & (CONN_DEAD | CONN_PEER_GONE))
		return;
	conn_cause_error(c);
	if ((err != EPIPE && err != ECONNRESET) ||
	    (c->flags & (CONN_CLOSING | CONN_EOF))) {
		conn_lost(c, why);
		return;
	}
	conn_set_reason(c, why);
	c->flags |= CONN_PEER_GONE;
	c->flags &= ~CONN_SENDQ_WAIT;
	conn_send_uncork(c);
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

/*
 * The transport's write: o (taken) goes straight to the socket while
 * nothing is queued and the rest is queued, in plain TCP; over TLS it
 * is encrypted first and its records go the same way.  Returns what
 * sockio_write_through returns.
 */
int
conn_write_through(struct evs_conn *c, struct sockio_out *o)
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
static int
conn_tls_flush(struct evs_conn *c)
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
