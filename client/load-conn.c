/*
 * One load connection: a non-blocking socket with one libevent event,
 * its connect under a deadline, output written straight to the socket
 * with only what the kernel did not take kept, and the requests in
 * flight of protocols that await a reply to each.  What arrives goes
 * to the worker's protocol.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../common/tls.h"
#include "load-engine.h"

#define RING_MAX (1u << 16)

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static void load_conn_cb(evutil_socket_t fd, short what, void *arg);
static void load_conn_connected(struct load_conn *c);
static void load_conn_arm_write(struct load_conn *c, int on);
static int load_conn_flush(struct load_conn *c);
static void load_conn_read(struct load_conn *c);
static void load_conn_drop(struct load_conn *c);
static int load_conn_write_error(struct load_conn *c);
static ssize_t load_conn_recv(struct load_conn *c, void *buf, size_t len);
static ssize_t load_conn_send(struct load_conn *c, const void *buf, size_t len);
static void load_conn_peer(const struct load_conn *c, char *buf, size_t len);
static void load_conn_tls_start(struct load_conn *c);
static void load_conn_tls_step(struct load_conn *c, short what);

/*
 * The transport: every byte in and out of a load connection passes
 * through these two.  With --tls the socket is wrapped here -- a
 * handshake after connect (load_conn_tls_step), then SSL_read and
 * SSL_write with their want-read/want-write mapped to EAGAIN -- and
 * nothing above changes.  A server's EOF without close_notify reads as
 * an end (the context ignores unexpected EOF), as in plain TCP.
 */
static ssize_t
load_conn_recv(struct load_conn *c, void *buf, size_t len)
{
	size_t done;
	int e;

	if (c->ssl == NULL)
		return read(c->fd, buf, len);
	ERR_clear_error();
	if (SSL_read_ex(c->ssl, buf, len, &done) == 1)
		return (ssize_t)done;
	e = SSL_get_error(c->ssl, 0);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && errno == 0))
		return 0;
	if (e != SSL_ERROR_SYSCALL)
		errno = EPROTO;
	return -1;
}

static ssize_t
load_conn_send(struct load_conn *c, const void *buf, size_t len)
{
	size_t done;
	int e;

	if (c->ssl == NULL)
		return write(c->fd, buf, len);
	ERR_clear_error();
	if (SSL_write_ex(c->ssl, buf, len, &done) == 1)
		return (ssize_t)done;
	e = SSL_get_error(c->ssl, 0);
	ERR_clear_error();
	errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN :
	    e == SSL_ERROR_SYSCALL && errno != 0                      ? errno :
	                                                                EPROTO;
	return -1;
}

/* --tls: TCP is up; the handshake runs under the connect timeout, and
   the connect latency runs to its end. */
static void
load_conn_tls_start(struct load_conn *c)
{
	const struct load_conf *conf = c->w->conf;
	SSL *ssl = SSL_new(conf->tls_ctx);

	if (ssl == NULL || SSL_set_fd(ssl, c->fd) != 1 ||
	    tls_set_peer_name(ssl, conf->tls_name) == -1) {
		SSL_free(ssl);
		load_conn_fail(c, ENOMEM);
		return;
	}
	/* Output the kernel does not take is retried from obuf, which may
	   have moved and may hold more by then. */
	SSL_set_mode(ssl,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_connect_state(ssl);
	c->ssl = ssl;
	load_conn_tls_step(c, 0);
}

static void
load_conn_tls_step(struct load_conn *c, short what)
{
	struct load_worker *w = c->w;
	const struct load_conf *conf = w->conf;
	struct timeval tv;
	char why[200], peer[80];
	int rc, e;

	if (what & EV_TIMEOUT) {
		load_conn_fail(c, ETIMEDOUT);
		return;
	}
	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		load_conn_connected(c);
		return;
	}
	e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		tv.tv_sec = (time_t)(conf->connect_timeout_ms / 1000);
		tv.tv_usec = (suseconds_t)(conf->connect_timeout_ms % 1000 *
		    1000);
		event_del(c->ev);
		event_assign(c->ev, w->base, c->fd,
		    e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE, load_conn_cb,
		    c);
		event_add(c->ev, conf->connect_timeout_ms ? &tv : NULL);
		return;
	}
	load_conn_peer(c, peer, sizeof(peer));
	load_worker_note(w, "connection %llu to %s: TLS: %s",
	    (unsigned long long)c->id, peer,
	    tls_failure(c->ssl, why, sizeof(why)));
	load_conn_fail(c, EPROTO);
}

/* The address c connects to, as text. */
static void
load_conn_peer(const struct load_conn *c, char *buf, size_t len)
{
	const struct load_conf *conf = c->w->conf;
	const struct sockaddr_storage
	    *ss = &conf->addrs[c->id % conf->ntargets];
	char host[INET6_ADDRSTRLEN];
	int port;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	}
}

int
load_conn_start(struct load_conn *c)
{
	struct load_worker *w = c->w;
	const struct load_conf *conf = w->conf;
	const struct sockaddr_storage
	    *to = &conf->addrs[c->id % conf->ntargets];
	int one = 1, fd;
	struct timeval tv;

	/* A slot may be reused (a script's close): start clean. */
	c->want_write = 0;
	c->ooff = c->olen = 0;
	c->connect_at = load_now();
	if (w->hs_first == 0 || c->connect_at < w->hs_first)
		w->hs_first = c->connect_at;
	fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conf->nsources > 0) {
		unsigned s = (unsigned)(c->id % conf->nsources);

		/* Let connect() pick the port: the 4-tuple, not the local
		   port alone, must be unique, so each source address
		   offers the whole ephemeral range per destination. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		if (bind(fd, (const struct sockaddr *)&conf->sources[s],
		        conf->sourcelens[s]) == -1)
			return -1;
	}
	if (connect(fd, (const struct sockaddr *)to,
	        conf->addrlens[c->id % conf->ntargets]) == -1 &&
	    errno != EINPROGRESS)
		return -1;
	c->ev = event_new(w->base, fd, EV_WRITE, load_conn_cb, c);
	if (c->ev == NULL)
		return -1;
	tv.tv_sec = (time_t)(conf->connect_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(conf->connect_timeout_ms % 1000 * 1000);
	event_add(c->ev, conf->connect_timeout_ms ? &tv : NULL);
	c->state = LOAD_CONN_CONNECTING;
	w->connecting++;
	w->open++;
	return 0;
}

/* Releases c's event and socket. */
static void
load_conn_drop(struct load_conn *c)
{
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
}

void
load_conn_fail(struct load_conn *c, int err)
{
	struct load_worker *w = c->w;

	char host[64] = "?";

	load_conn_peer(c, host, sizeof(host));
	load_worker_note(w, "connection %llu to %s: %s",
	    (unsigned long long)c->id, host, strerror(err));
	if (c->state == LOAD_CONN_CONNECTING)
		w->connecting--;
	w->failed++;
	if (c->state != LOAD_CONN_IDLE)
		w->open--;
	c->state = LOAD_CONN_CLOSED;
	load_conn_drop(c);
	load_worker_start_connects(w, load_now());
}

void
load_conn_close(struct load_conn *c)
{
	struct load_worker *w = c->w;

	if (c->state == LOAD_CONN_CLOSED || c->state == LOAD_CONN_IDLE)
		return;
	if (c->state == LOAD_CONN_CONNECTING)
		w->connecting--;
	if (c->state == LOAD_CONN_READY)
		w->ready--;
	c->state = LOAD_CONN_CLOSED;
	w->open--;
	load_conn_drop(c);
}

void
load_conn_free(struct load_conn *c)
{
	load_conn_drop(c);
	free(c->obuf);
	c->obuf = NULL;
	free(c->ring);
	c->ring = NULL;
	if (c->w->proto->conn_free != NULL)
		c->w->proto->conn_free(c);
}

void
load_conn_ready(struct load_conn *c, uint64_t ready_at)
{
	c->state = LOAD_CONN_READY;
	c->ready_at = ready_at;
	c->w->ready++;
}

static void
load_conn_arm_write(struct load_conn *c, int on)
{
	if (c->want_write == on || c->ev == NULL)
		return;
	c->want_write = on;
	event_del(c->ev);
	event_assign(c->ev, c->w->base, c->fd,
	    EV_READ | EV_PERSIST | (on ? EV_WRITE : 0), load_conn_cb, c);
	event_add(c->ev, NULL);
}

/* A write failed for good: counts it, closes c, returns -1. */
static int
load_conn_write_error(struct load_conn *c)
{
	load_worker_error(c->w, LOAD_ERR_CLOSED, "connection %llu: write: %s",
	    (unsigned long long)c->id, strerror(errno));
	load_conn_close(c);
	return -1;
}

int
load_conn_write(struct load_conn *c, const void *data, size_t len)
{
	ssize_t r = 0;

	if (c->olen == 0) {
		r = load_conn_send(c, data, len);
		if (r == -1) {
			if (errno != EAGAIN && errno != EINTR)
				return load_conn_write_error(c);
			r = 0;
		}
		c->w->bytes_out += (size_t)r;
		if ((size_t)r == len)
			return 0;
	}
	len -= (size_t)r;
	if (c->olen + len > c->ocap) {
		size_t cap = c->ocap ? c->ocap : 4096;
		char *p;

		/* Keep the unsent bytes at the front before growing. */
		if (c->ooff > 0) {
			memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
			c->olen -= c->ooff;
			c->ooff = 0;
		}
		while (cap < c->olen + len)
			cap *= 2;
		if (cap != c->ocap) {
			if ((p = realloc(c->obuf, cap)) == NULL) {
				load_worker_error(c->w, LOAD_ERR_OVERRUN,
				    "connection %llu: out of memory",
				    (unsigned long long)c->id);
				load_conn_close(c);
				return -1;
			}
			c->obuf = p;
			c->ocap = cap;
		}
	}
	memcpy(c->obuf + c->olen, (const char *)data + r, len);
	c->olen += len;
	load_conn_arm_write(c, 1);
	return 0;
}

/* Writes queued output; returns 0, or -1 after closing c. */
static int
load_conn_flush(struct load_conn *c)
{
	while (c->ooff < c->olen) {
		ssize_t r = load_conn_send(c, c->obuf + c->ooff,
		    c->olen - c->ooff);

		if (r == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return load_conn_write_error(c);
		}
		c->ooff += (size_t)r;
		c->w->bytes_out += (size_t)r;
	}
	c->ooff = c->olen = 0;
	load_conn_arm_write(c, 0);
	return 0;
}

int
load_conn_push(struct load_conn *c, uint64_t due)
{
	uint64_t inflight = c->send_seq - c->recv_seq;

	if (inflight >= c->rcap) {
		uint32_t cap = c->rcap ? c->rcap * 2 : 4;
		uint64_t *ring;

		if (cap > RING_MAX ||
		    (ring = malloc(cap * sizeof(*ring))) == NULL) {
			load_worker_error(c->w, LOAD_ERR_OVERRUN,
			    "connection %llu: %llu messages in flight, "
			    "the server is not keeping up",
			    (unsigned long long)c->id,
			    (unsigned long long)inflight);
			load_conn_close(c);
			return -1;
		}
		for (uint32_t i = 0; i < inflight; i++)
			ring[i] = c->ring[(c->rhead + i) % c->rcap];
		free(c->ring);
		c->ring = ring;
		c->rcap = cap;
		c->rhead = 0;
	}
	c->ring[(c->rhead + inflight) % c->rcap] = due;
	c->send_seq++;
	return 0;
}

uint64_t
load_conn_pop(struct load_conn *c)
{
	uint64_t due = c->ring[c->rhead];

	c->rhead = (c->rhead + 1) % c->rcap;
	c->recv_seq++;
	return due;
}

static void
load_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct load_conn *c = arg;

	if (c->state == LOAD_CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (c->ssl != NULL) {
			load_conn_tls_step(c, what);
			return;
		}
		if (what & EV_TIMEOUT)
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0)
			load_conn_fail(c, err);
		else if (c->w->conf->tls_ctx != NULL)
			load_conn_tls_start(c);
		else
			load_conn_connected(c);
		return;
	}
	if ((what & EV_WRITE) && load_conn_flush(c) == -1)
		return;
	if (what & EV_READ)
		load_conn_read(c);
}

static void
load_conn_connected(struct load_conn *c)
{
	struct load_worker *w = c->w;
	uint64_t now = load_now();

	w->connecting--;
	w->up++;
	if (now > w->hs_last)
		w->hs_last = now;
	/* With connections as the load, only connects begun inside the
	   window count; otherwise every connect is the setup's. */
	if (!w->conf->churn)
		hist_record(w->conn_total, now - c->connect_at);
	else if (w->phase >= LOAD_PHASE_RUN && c->connect_at >= w->t_measure &&
	    c->connect_at < w->t_end) {
		hist_record(w->conn_total, now - c->connect_at);
		w->win_conns++;
	}
	event_assign(c->ev, w->base, c->fd, EV_READ | EV_PERSIST, load_conn_cb,
	    c);
	event_add(c->ev, NULL);
	w->proto->opened(c);
	load_worker_start_connects(w, now);
}

static void
load_conn_read(struct load_conn *c)
{
	struct load_worker *w = c->w;
	const struct load_proto *proto = w->proto;
	size_t want = LOAD_RBUF_SIZE;
	ssize_t r;

again:
	if (proto->read_want != NULL)
		want = proto->read_want(c, want);
	r = load_conn_recv(c, w->rbuf, want);
	if (r <= 0) {
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		/* A server may close once we are done with it. */
		if (w->phase < LOAD_PHASE_STOP &&
		    !(w->phase == LOAD_PHASE_DRAIN &&
		        c->send_seq == c->recv_seq && proto->replies))
			load_worker_error(w, LOAD_ERR_CLOSED,
			    "connection %llu: %s", (unsigned long long)c->id,
			    r == 0 ? "closed by the server" : strerror(errno));
		load_conn_close(c);
		return;
	}
	w->bytes_in += (size_t)r;
	proto->input(c, w->rbuf, (size_t)r, load_now());
	/* Decrypted bytes left inside the SSL raise no socket event. */
	if (c->ssl != NULL && c->state != LOAD_CONN_CLOSED &&
	    SSL_pending(c->ssl) > 0)
		goto again;
}
