/*
 * One accepted connection's life cycle: made, opened, refused, closed
 * and ended; a bufferevent whose write and event callbacks finish the
 * close and catch write errors and stalls; its timers; the accessors.
 * Reading is conn-read.c, output conn-send.c.
 *
 * Every way a connection ends (EOF, error, timeout, kick, sendq,
 * shutdown) goes through conn_lost(), which only marks it dead; the
 * server's reaper runs the service's close() and frees it later, so
 * nothing is freed under a running callback.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/addr.h"
#include "../common/log.h"
#include "../common/sockio.h"
#include "../common/tlsio.h"
#include "server-int.h"

static void conn_write_cb(struct bufferevent *, void *);
static void conn_event_cb(struct bufferevent *, short, void *);
static void conn_flushed(struct evs_conn *);
static void conn_set_reason(struct evs_conn *, const char *);
static void conn_write_timeout(struct evs_conn *, unsigned);
static int conn_cause_of(const char *);

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
conn_new(struct evs_listener *l, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen)
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
	c->out = bufferevent_get_output(c->bev);
	/* Once a client falls behind, its output waits in the bufferevent,
	   which by default writes at most 16 KiB a pass: at 6,000 msgs/s
	   to 500 chat clients that drained slower than it filled, every
	   write was exactly 16 KiB, and a server behind stayed behind.
	   Let each write take what the kernel takes. */
	bufferevent_set_max_single_write(c->bev, EV_SSIZE_MAX);
	if (l->tls != NULL &&
	    ((srv->tlswire == NULL &&
	         (srv->tlswire = evbuffer_new()) == NULL) ||
	        (srv->tlsplain == NULL &&
	            (srv->tlsplain = evbuffer_new()) == NULL) ||
	        (c->tls = tlsio_new(l->tls, fd, NULL)) == NULL)) {
		log_error("TLS: cannot set up a connection: out of memory");
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	if (c->tls != NULL)
		c->flags |= CONN_HANDSHAKE;
	c->srv = srv;
	conn_read_init(c, fd);
	c->ls = l->ls;
	c->svc = l->svc;
	c->arg = l->arg;
	c->cause = -1;
	c->id = atomic_fetch_add_explicit(&conn_next_id, 1,
	            memory_order_relaxed) +
	    1;
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
	log_debug("conn %llu from %s opened", (unsigned long long)c->id,
	    evs_conn_peer_host(c));
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
	spool_segs_free(&c->cork);
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
		c->svc->close(c,
		    c->reason != NULL ? c->reason : "Connection closed",
		    c->arg);
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
void
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
	spool_segs_clear(&c->cork);
	c->flags |= CONN_DEAD | CONN_CLOSING;
	conn_read_off(c);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	TAILQ_REMOVE(&srv->conns, c, link);
	TAILQ_INSERT_TAIL(&srv->dead, c, link);
	event_active(srv->reaper, EV_TIMEOUT, 0);
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
		if (conn_send_tls_flush(c) == -1)
			return;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
			conn_write_timeout(c,
			    c->srv->linger_ms > 0 ? c->srv->linger_ms : 1000);
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
		conn_lost(c,
		    (c->flags & CONN_CLOSING)        ? NULL :
		        c->srv->stall_timeout_ms > 0 ? "Stalled output" :
		                                       "Write timeout");
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

int
evs_conn_set_max_line(struct evs_conn *c, size_t max)
{
	struct evs_server *srv = c->srv;
	char *p;

	if (max != 0 && (max < 16 || max > 1024 * 1024)) {
		errno = EINVAL;
		return -1;
	}
	if (max > srv->linecap) {
		if ((p = realloc(srv->linebuf, max + 1)) == NULL)
			return -1;
		srv->linebuf = p;
		srv->linecap = max;
	}
	c->max_line = max;
	return 0;
}

/* With a stall timeout, output may wait that long; without one, as
   long as the connection's timer. */
void
conn_stall_timer(struct evs_conn *c)
{
	if (c->flags & (CONN_CLOSING | CONN_DEAD | CONN_PEER_GONE))
		return;
	conn_write_timeout(c,
	    c->srv->stall_timeout_ms > 0 ? c->srv->stall_timeout_ms :
	                                   c->timeout_ms);
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
	    err == EPIPE                    ? "Broken pipe" :
	                                      strerror(err);

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
	conn_send_drop(c);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->read_ms = c->srv->linger_ms > 0 ? c->srv->linger_ms : 1000;
	/* A service that paused reading resumes when it is ready. */
	if (!(c->flags & CONN_USER_PAUSE)) {
		conn_read_on(c);
		event_active(c->rev, EV_READ, 0);
	}
}

const struct sockaddr *
evs_conn_peer(const struct evs_conn *c, socklen_t *len)
{
	if (len != NULL)
		*len = c->peer.sa.sa_family == AF_INET6 ? sizeof(c->peer.sin6) :
		                                          sizeof(c->peer.sin);
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
