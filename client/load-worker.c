/*
 * One load worker: its own event_base and its share of the connections.
 *
 * Connections are plain non-blocking sockets with one libevent event
 * each; bytes go straight between the socket and fixed buffers, so a
 * round trip costs one read(2) and one write(2), as in a hand-written
 * epoll client.  (The client engine's bufferevents cost measurably more
 * per message; see bench/load_vs_epoll.sh.)
 *
 * echo: every connection sends messages whose bytes are a function of
 * (connection, sequence number) and checks each echoed byte against
 * that as it arrives.  Closed loop: one message in flight.  Open loop:
 * a pacer hands out messages at the configured rate and remembers the
 * time each was due, which is where its latency counts from.
 *
 * irc: every client registers and joins the channel; senders PRIVMSG
 * "<tag> <sender> <seq> <due-ns>" at the configured rate; every client
 * counts and times what reaches it.
 */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "load-int.h"

#define RBUF_SIZE (256 * 1024)
#define LINE_MAX_LEN 1024
#define RING_MAX (1u << 16)
#define TICK_US 10000
#define IV_PUBLISH_NS 100000000ULL
#define MAX_CONNECTING 256
#define NICK_TRIES 5

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum lconn_state {
	LC_IDLE,        /* not started */
	LC_CONNECTING,
	LC_REGISTERING, /* irc: NICK/USER sent */
	LC_JOINING,     /* irc: JOIN sent */
	LC_READY,
	LC_CLOSED
};

struct lconn {
	struct load_worker *w;
	uint64_t id;          /* global index 0..conns-1 */
	int fd;
	enum lconn_state state;
	int want_write;       /* EV_WRITE is armed */
	struct event *ev;
	/* Output not yet taken by the kernel. */
	char *obuf;
	size_t ooff, olen, ocap;
	/* echo */
	uint64_t send_seq, recv_seq; /* messages sent / fully echoed */
	size_t spos;                 /* closed loop: bytes of message sent */
	size_t rpos;                 /* bytes of the oldest message back */
	uint64_t *ring;              /* due times of messages in flight */
	uint32_t rhead, rcap;        /* oldest at rhead; count via seqs */
	/* irc */
	char *lbuf;                  /* partial line */
	size_t llen;
	int discarding;
	int sender;
	int member;                  /* in the channel when sending began */
	uint64_t ready_at;           /* when the join completed */
	int nick_tries;
	uint64_t irc_seq;
};

struct load_worker {
	struct load_shared *sh;
	const struct load_conf *conf;
	unsigned id;
	struct event_base *base;
	struct event *tick;
	struct event *pacer;   /* open loop: fires when the next message is due */
	struct lconn *conns;
	size_t nconns;
	size_t next_connect;   /* conns[] index to start next */
	int starting;          /* inside load_worker_start_connects */
	size_t connecting;
	uint64_t t_start;
	int phase;             /* last phase acted on */
	uint64_t t_run, t_measure, t_end;
	uint64_t drain_deadline;
	/* pacer (open loop) */
	double pace_ns;        /* ns between messages of this worker */
	uint64_t pace_k;
	uint64_t pace_offset;
	size_t pace_rr;
	size_t nsenders;
	struct lconn **senders; /* irc senders / echo: every connection */
	/* buffers */
	char *rbuf;
	char *pattern;          /* echo: size + 256 bytes */
	char *ircmsg;           /* irc: scratch line */
	/* figures */
	struct hist *total;     /* latencies inside the window */
	struct hist *iv;        /* latencies since the last publish */
	uint64_t iv_published;
	uint64_t up, failed, ready, open, msgs, sent, bytes_out, bytes_in;
	uint64_t members;
	uint64_t win_msgs, win_bytes;
	uint64_t err[LOAD_ERR_COUNT];
	char first_error[160];
	struct load_counts counts;
};

static void load_worker_tick(evutil_socket_t fd, short what, void *arg);
static void load_worker_publish(struct load_worker *w);
static void load_worker_start_connects(struct load_worker *w, uint64_t now);
static void load_worker_enter_run(struct load_worker *w);
static void load_worker_enter_drain(struct load_worker *w, uint64_t now);
static void load_worker_pace(struct load_worker *w, uint64_t now);
static void load_worker_pace_cb(evutil_socket_t fd, short what, void *arg);
static int load_worker_idle(const struct load_worker *w);
static void load_worker_error(struct load_worker *w, struct lconn *c,
    enum load_err e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int lconn_start(struct lconn *c);
static void lconn_cb(evutil_socket_t fd, short what, void *arg);
static void lconn_connected(struct lconn *c);
static void lconn_fail(struct lconn *c, int err);
static void lconn_close(struct lconn *c);
static void lconn_arm_write(struct lconn *c, int on);
static int lconn_write(struct lconn *c, const void *data, size_t len);
static int lconn_flush(struct lconn *c);
static void lconn_read(struct lconn *c);
static void load_worker_echo_send(struct lconn *c, uint64_t due);
static void load_worker_echo_input(struct lconn *c, const char *p, size_t n,
    uint64_t now);
static void load_worker_echo_done(struct lconn *c, uint64_t now);
static void load_worker_irc_register(struct lconn *c);
static void load_worker_irc_input(struct lconn *c, const char *p, size_t n,
    uint64_t now);
static void load_worker_irc_line(struct lconn *c, char *line, size_t len,
    uint64_t now);
static void load_worker_irc_privmsg(struct lconn *c, const char *text,
    uint64_t now);
static void load_worker_irc_send(struct lconn *c, uint64_t due);
static void load_worker_record(struct load_worker *w, uint64_t due,
    uint64_t now, size_t bytes);

uint64_t
load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

const char *
load_err_name(enum load_err e)
{
	static const char *const names[LOAD_ERR_COUNT] = {
		"corrupt", "unexpected", "closed", "timeout", "overrun",
		"protocol"
	};

	return (unsigned)e < LOAD_ERR_COUNT ? names[e] : "?";
}

struct load_worker *
load_worker_new(struct load_shared *sh, unsigned id)
{
	const struct load_conf *conf = sh->conf;
	struct load_worker *w;
	struct event_config *cfg = NULL;
	uint64_t seed = 0x243f6a8885a308d3ULL;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->sh = sh;
	w->conf = conf;
	w->id = id;
	w->phase = LOAD_PHASE_SETUP;
	/* Connection i belongs to worker i % threads. */
	w->nconns = (size_t)(conf->conns / conf->threads +
	    (id < conf->conns % conf->threads));
	if ((cfg = event_config_new()) == NULL)
		goto fail;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	/* Open loop sends on a timer; epoll's millisecond timeouts would
	   make every message late by up to a tick.  timerfd is exact. */
	if (conf->rate > 0 || conf->mode == LOAD_IRC)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL)
		goto fail;
	w->conns = calloc(w->nconns ? w->nconns : 1, sizeof(*w->conns));
	w->senders = calloc(w->nconns ? w->nconns : 1, sizeof(*w->senders));
	w->rbuf = malloc(RBUF_SIZE);
	w->pattern = malloc(conf->size + 256);
	w->ircmsg = malloc(conf->size + 256);
	w->total = hist_new();
	w->iv = hist_new();
	if (w->conns == NULL || w->senders == NULL || w->rbuf == NULL ||
	    w->pattern == NULL || w->ircmsg == NULL || w->total == NULL ||
	    w->iv == NULL)
		goto fail;
	for (size_t i = 0; i < conf->size + 256; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		w->pattern[i] = (char)(seed >> 24);
	}
	for (size_t i = 0; i < w->nconns; i++) {
		struct lconn *c = &w->conns[i];

		c->w = w;
		c->id = (uint64_t)i * conf->threads + id;
		c->fd = -1;
		c->state = LC_IDLE;
		if (conf->mode == LOAD_IRC) {
			c->sender = c->id < conf->senders;
			if (c->sender)
				w->senders[w->nsenders++] = c;
		} else
			w->senders[w->nsenders++] = c;
	}
	w->tick = event_new(w->base, -1, EV_PERSIST, load_worker_tick, w);
	w->pacer = event_new(w->base, -1, 0, load_worker_pace_cb, w);
	if (w->tick == NULL || w->pacer == NULL)
		goto fail;
	return w;
fail:
	load_worker_free(w);
	return NULL;
}

void
load_worker_free(struct load_worker *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; w->conns != NULL && i < w->nconns; i++) {
		struct lconn *c = &w->conns[i];

		if (c->ev != NULL)
			event_free(c->ev);
		if (c->fd != -1)
			close(c->fd);
		free(c->obuf);
		free(c->ring);
		free(c->lbuf);
	}
	if (w->tick != NULL)
		event_free(w->tick);
	if (w->pacer != NULL)
		event_free(w->pacer);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w->conns);
	free(w->senders);
	free(w->rbuf);
	free(w->pattern);
	free(w->ircmsg);
	hist_free(w->total);
	hist_free(w->iv);
	free(w);
}

struct load_counts *
load_worker_counts(struct load_worker *w)
{
	return &w->counts;
}

void
load_worker_result(const struct load_worker *w, struct load_result *r,
    struct hist *total)
{
	memset(r, 0, sizeof(*r));
	r->win_msgs = w->win_msgs;
	r->win_bytes = w->win_bytes;
	memcpy(r->err, w->err, sizeof(r->err));
	memcpy(r->first_error, w->first_error, sizeof(r->first_error));
	hist_merge(total, w->total);
}

void *
load_worker_run(void *arg)
{
	struct load_worker *w = arg;
	const struct load_conf *conf = w->conf;
	struct timeval tv = { 0, TICK_US };

	w->t_start = load_now();
	event_add(w->tick, &tv);
	load_worker_start_connects(w, w->t_start);
	load_worker_publish(w);
	event_base_dispatch(w->base);
	for (size_t i = 0; i < w->nconns; i++) {
		struct lconn *c = &w->conns[i];

		if (c->state == LC_CLOSED || c->state == LC_IDLE)
			continue;
		/* Best effort: a polite goodbye if the socket takes it. */
		if (conf->mode == LOAD_IRC && c->olen == 0)
			(void)!write(c->fd, "QUIT :done\r\n", 12);
		lconn_close(c);
	}
	load_worker_publish(w);
	atomic_store(&w->counts.done, 1);
	return NULL;
}

/* Makes this worker's counters visible to the main thread. */
static void
load_worker_publish(struct load_worker *w)
{
	struct load_counts *k = &w->counts;

	atomic_store_explicit(&k->up, w->up, memory_order_relaxed);
	atomic_store_explicit(&k->failed, w->failed, memory_order_relaxed);
	atomic_store_explicit(&k->ready, w->ready, memory_order_relaxed);
	atomic_store_explicit(&k->members, w->members, memory_order_relaxed);
	atomic_store_explicit(&k->open, w->open, memory_order_relaxed);
	atomic_store_explicit(&k->msgs, w->msgs, memory_order_relaxed);
	atomic_store_explicit(&k->sent, w->sent, memory_order_relaxed);
	atomic_store_explicit(&k->bytes_out, w->bytes_out,
	    memory_order_relaxed);
	atomic_store_explicit(&k->bytes_in, w->bytes_in, memory_order_relaxed);
	{
		uint64_t e = 0;

		for (int i = 0; i < LOAD_ERR_COUNT; i++)
			e += w->err[i];
		atomic_store_explicit(&k->errors, e, memory_order_relaxed);
	}
}

static void
load_worker_tick(evutil_socket_t fd, short what, void *arg)
{
	struct load_worker *w = arg;
	uint64_t now = load_now();
	int phase = atomic_load_explicit(&w->sh->phase, memory_order_acquire);

	if (phase == LOAD_PHASE_STOP) {
		load_worker_publish(w);
		event_base_loopbreak(w->base);
		return;
	}
	if (w->phase == LOAD_PHASE_SETUP) {
		load_worker_start_connects(w, now);
		if (phase >= LOAD_PHASE_RUN)
			load_worker_enter_run(w);
	}
	if (w->phase == LOAD_PHASE_RUN) {
		/* The main thread moves t_end earlier on SIGINT. */
		w->t_end = atomic_load_explicit(&w->sh->t_end,
		    memory_order_relaxed);
		if (now >= w->t_end || phase >= LOAD_PHASE_DRAIN)
			load_worker_enter_drain(w, now);
	}
	if (w->phase == LOAD_PHASE_DRAIN && w->conf->mode == LOAD_ECHO &&
	    (load_worker_idle(w) || now >= w->drain_deadline)) {
		for (size_t i = 0; i < w->nconns; i++) {
			struct lconn *c = &w->conns[i];
			uint64_t left = c->send_seq - c->recv_seq;

			if (c->state == LC_CLOSED || c->state == LC_IDLE)
				continue;
			if (left > 0)
				load_worker_error(w, c, LOAD_ERR_TIMEOUT,
				    "connection %llu: %llu echo(es) still "
				    "missing at the end",
				    (unsigned long long)c->id,
				    (unsigned long long)left);
			lconn_close(c);
		}
	}
	if (now - w->iv_published >= IV_PUBLISH_NS) {
		pthread_mutex_lock(&w->sh->iv_lock);
		hist_merge(w->sh->iv, w->iv);
		pthread_mutex_unlock(&w->sh->iv_lock);
		hist_reset(w->iv);
		w->iv_published = now;
	}
	load_worker_publish(w);
}

/* Echo: true when no connection has a message in flight. */
static int
load_worker_idle(const struct load_worker *w)
{
	for (size_t i = 0; i < w->nconns; i++) {
		const struct lconn *c = &w->conns[i];

		if (c->state == LC_READY && c->send_seq != c->recv_seq)
			return 0;
	}
	return 1;
}

/* Starts connections, at --connect-rate if given, keeping at most
   MAX_CONNECTING handshakes in progress. */
static void
load_worker_start_connects(struct load_worker *w, uint64_t now)
{
	const struct load_conf *conf = w->conf;
	size_t allowed = w->nconns;

	if (conf->connect_rate > 0) {
		double per_ns = conf->connect_rate / conf->threads / 1e9;

		allowed = (size_t)((double)(now - w->t_start) * per_ns) + 1;
		if (allowed > w->nconns)
			allowed = w->nconns;
	}
	if (w->starting)
		return;
	w->starting = 1;
	while (w->next_connect < allowed && w->connecting < MAX_CONNECTING) {
		struct lconn *c = &w->conns[w->next_connect++];

		if (lconn_start(c) == -1)
			lconn_fail(c, errno);
	}
	w->starting = 0;
}

static void
load_worker_enter_run(struct load_worker *w)
{
	const struct load_conf *conf = w->conf;
	struct load_shared *sh = w->sh;

	w->phase = LOAD_PHASE_RUN;
	w->t_run = atomic_load(&sh->t_run);
	w->t_measure = atomic_load(&sh->t_measure);
	w->t_end = atomic_load(&sh->t_end);
	/* Only clients in the channel now are owed every message; one
	   that joins later would be counted as losing the earlier ones. */
	for (size_t i = 0; i < w->nconns; i++)
		if (w->conns[i].state == LC_READY &&
		    (conf->mode == LOAD_ECHO ||
		    w->conns[i].ready_at <= w->t_run)) {
			w->conns[i].member = 1;
			w->members++;
		}
	if (conf->rate > 0 && w->nsenders > 0) {
		uint64_t total = conf->mode == LOAD_IRC ? conf->senders :
		    conf->conns;

		/* This worker's share of the rate, staggered against the
		   other workers so that their messages interleave. */
		w->pace_ns = 1e9 * (double)total / conf->rate /
		    (double)w->nsenders;
		w->pace_offset = (uint64_t)(1e9 / conf->rate * w->id);
		load_worker_pace(w, load_now());
		return;
	}
	if (conf->mode == LOAD_ECHO)
		for (size_t i = 0; i < w->nconns; i++)
			if (w->conns[i].state == LC_READY)
				load_worker_echo_send(&w->conns[i], w->t_run);
}

static void
load_worker_enter_drain(struct load_worker *w, uint64_t now)
{
	w->phase = LOAD_PHASE_DRAIN;
	w->drain_deadline = now + w->conf->drain_ms * 1000000ULL;
	load_worker_publish(w);
	atomic_store(&w->counts.sending_done, 1);
}

static void
load_worker_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct load_worker *w = arg;

	w->t_end = atomic_load_explicit(&w->sh->t_end, memory_order_relaxed);
	load_worker_pace(w, load_now());
}

/* Open loop: hands out every message that is due by now, round robin
   over the connections, each stamped with the time it was due. */
static void
load_worker_pace(struct load_worker *w, uint64_t now)
{
	for (;;) {
		uint64_t due = w->t_run + w->pace_offset +
		    (uint64_t)((double)w->pace_k * w->pace_ns);
		struct lconn *c = NULL;

		if (due >= w->t_end || w->phase != LOAD_PHASE_RUN)
			return;
		if (due > now) {
			struct timeval tv;
			uint64_t us = (due - now + 999) / 1000;

			tv.tv_sec = (time_t)(us / 1000000);
			tv.tv_usec = (suseconds_t)(us % 1000000);
			event_add(w->pacer, &tv);
			return;
		}
		w->pace_k++;
		for (size_t tries = 0; tries < w->nsenders; tries++) {
			struct lconn *s = w->senders[w->pace_rr++ % w->nsenders];

			if (s->state == LC_READY && s->member) {
				c = s;
				break;
			}
		}
		if (c == NULL)
			return;
		if (w->conf->mode == LOAD_ECHO)
			load_worker_echo_send(c, due);
		else
			load_worker_irc_send(c, due);
	}
}

static void
load_worker_error(struct load_worker *w, struct lconn *c, enum load_err e,
    const char *fmt, ...)
{
	va_list ap;

	w->err[e]++;
	if (w->first_error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
		va_end(ap);
	}
	(void)c;
}

static void
load_worker_record(struct load_worker *w, uint64_t due, uint64_t now,
    size_t bytes)
{
	uint64_t lat = now > due ? now - due : 0;

	w->msgs++;
	hist_record(w->iv, lat);
	/* A message belongs to the window it was due in, however late it
	   came back. */
	if (due >= w->t_measure && due < w->t_end &&
	    w->phase >= LOAD_PHASE_RUN) {
		w->win_msgs++;
		w->win_bytes += bytes;
		hist_record(w->total, lat);
	}
}

static int
lconn_start(struct lconn *c)
{
	struct load_worker *w = c->w;
	const struct load_conf *conf = w->conf;
	int one = 1, fd;
	struct timeval tv;

	fd = socket(conf->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
	if (connect(fd, (const struct sockaddr *)&conf->addr,
	    conf->addrlen) == -1 && errno != EINPROGRESS)
		return -1;
	c->ev = event_new(w->base, fd, EV_WRITE, lconn_cb, c);
	if (c->ev == NULL)
		return -1;
	tv.tv_sec = (time_t)(conf->connect_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(conf->connect_timeout_ms % 1000 * 1000);
	event_add(c->ev, conf->connect_timeout_ms ? &tv : NULL);
	c->state = LC_CONNECTING;
	w->connecting++;
	w->open++;
	return 0;
}

static void
lconn_fail(struct lconn *c, int err)
{
	struct load_worker *w = c->w;

	if (w->first_error[0] == '\0')
		snprintf(w->first_error, sizeof(w->first_error),
		    "connection %llu to %s: %s", (unsigned long long)c->id,
		    w->conf->target, strerror(err));
	if (c->state == LC_CONNECTING)
		w->connecting--;
	w->failed++;
	if (c->state != LC_IDLE)
		w->open--;
	c->state = LC_CLOSED;
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	load_worker_start_connects(w, load_now());
}

static void
lconn_close(struct lconn *c)
{
	struct load_worker *w = c->w;

	if (c->state == LC_CLOSED || c->state == LC_IDLE)
		return;
	if (c->state == LC_CONNECTING)
		w->connecting--;
	if (c->state == LC_READY)
		w->ready--;
	c->state = LC_CLOSED;
	w->open--;
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	close(c->fd);
	c->fd = -1;
}

static void
lconn_arm_write(struct lconn *c, int on)
{
	if (c->want_write == on || c->ev == NULL)
		return;
	c->want_write = on;
	event_del(c->ev);
	event_assign(c->ev, c->w->base, c->fd,
	    EV_READ | EV_PERSIST | (on ? EV_WRITE : 0), lconn_cb, c);
	event_add(c->ev, NULL);
}

/* Writes data, straight to the socket when nothing is queued; keeps
   what the kernel did not take.  Returns 0, or -1 after closing c. */
static int
lconn_write(struct lconn *c, const void *data, size_t len)
{
	ssize_t r = 0;

	if (c->olen == 0) {
		r = write(c->fd, data, len);
		if (r == -1) {
			if (errno != EAGAIN && errno != EINTR) {
				load_worker_error(c->w, c, LOAD_ERR_CLOSED,
				    "connection %llu: write: %s",
				    (unsigned long long)c->id,
				    strerror(errno));
				lconn_close(c);
				return -1;
			}
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
				load_worker_error(c->w, c, LOAD_ERR_OVERRUN,
				    "connection %llu: out of memory",
				    (unsigned long long)c->id);
				lconn_close(c);
				return -1;
			}
			c->obuf = p;
			c->ocap = cap;
		}
	}
	memcpy(c->obuf + c->olen, (const char *)data + r, len);
	c->olen += len;
	lconn_arm_write(c, 1);
	return 0;
}

/* Writes queued output; returns 0, or -1 after closing c. */
static int
lconn_flush(struct lconn *c)
{
	while (c->ooff < c->olen) {
		ssize_t r = write(c->fd, c->obuf + c->ooff, c->olen - c->ooff);

		if (r == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			load_worker_error(c->w, c, LOAD_ERR_CLOSED,
			    "connection %llu: write: %s",
			    (unsigned long long)c->id, strerror(errno));
			lconn_close(c);
			return -1;
		}
		c->ooff += (size_t)r;
		c->w->bytes_out += (size_t)r;
	}
	c->ooff = c->olen = 0;
	lconn_arm_write(c, 0);
	return 0;
}

static void
lconn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lconn *c = arg;

	if (c->state == LC_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (what & EV_TIMEOUT)
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0)
			lconn_fail(c, err);
		else
			lconn_connected(c);
		return;
	}
	if ((what & EV_WRITE) && lconn_flush(c) == -1)
		return;
	if (what & EV_READ)
		lconn_read(c);
}

static void
lconn_connected(struct lconn *c)
{
	struct load_worker *w = c->w;

	w->connecting--;
	w->up++;
	event_assign(c->ev, w->base, c->fd, EV_READ | EV_PERSIST, lconn_cb, c);
	event_add(c->ev, NULL);
	if (w->conf->mode == LOAD_IRC) {
		c->state = LC_REGISTERING;
		load_worker_irc_register(c);
	} else {
		c->state = LC_READY;
		w->ready++;
		/* A connection that comes up after the start joins in. */
		if (w->phase == LOAD_PHASE_RUN && w->conf->rate == 0)
			load_worker_echo_send(c, load_now());
	}
	load_worker_start_connects(w, load_now());
}

static void
lconn_read(struct lconn *c)
{
	struct load_worker *w = c->w;
	size_t want = RBUF_SIZE;
	ssize_t r;
	uint64_t now;

	/* Echo: ask for no more than is owed.  Large reads of small
	   echoes cost the kernel measurably more per round trip. */
	if (w->conf->mode == LOAD_ECHO && c->send_seq != c->recv_seq) {
		uint64_t owed = (c->send_seq - c->recv_seq) * w->conf->size -
		    c->rpos;

		if (owed < want)
			want = (size_t)owed;
	}
	r = read(c->fd, w->rbuf, want);

	if (r <= 0) {
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		/* A server may close once we are done with it. */
		if (w->phase < LOAD_PHASE_STOP &&
		    !(w->phase == LOAD_PHASE_DRAIN && c->send_seq ==
		    c->recv_seq && w->conf->mode == LOAD_ECHO))
			load_worker_error(w, c, LOAD_ERR_CLOSED,
			    "connection %llu: %s", (unsigned long long)c->id,
			    r == 0 ? "closed by the server" : strerror(errno));
		lconn_close(c);
		return;
	}
	w->bytes_in += (size_t)r;
	now = load_now();
	if (w->conf->mode == LOAD_ECHO)
		load_worker_echo_input(c, w->rbuf, (size_t)r, now);
	else
		load_worker_irc_input(c, w->rbuf, (size_t)r, now);
}

/* The bytes of message `seq` on connection `id` start here. */
static inline const char *
load_worker_echo_bytes(const struct load_worker *w, uint64_t id, uint64_t seq)
{
	return w->pattern + ((id * 37 + seq) & 255);
}

static void
load_worker_echo_send(struct lconn *c, uint64_t due)
{
	struct load_worker *w = c->w;
	uint64_t inflight = c->send_seq - c->recv_seq;

	if (c->state != LC_READY)
		return;
	if (inflight >= c->rcap) {
		uint32_t cap = c->rcap ? c->rcap * 2 : 4;
		uint64_t *ring;

		if (cap > RING_MAX || (ring = malloc(cap *
		    sizeof(*ring))) == NULL) {
			load_worker_error(w, c, LOAD_ERR_OVERRUN,
			    "connection %llu: %llu messages in flight, "
			    "the server is not keeping up",
			    (unsigned long long)c->id,
			    (unsigned long long)inflight);
			lconn_close(c);
			return;
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
	w->sent++;
	lconn_write(c, load_worker_echo_bytes(w, c->id, c->send_seq - 1),
	    (size_t)w->conf->size);
}

static void
load_worker_echo_input(struct lconn *c, const char *p, size_t n, uint64_t now)
{
	struct load_worker *w = c->w;
	size_t size = (size_t)w->conf->size;

	while (n > 0) {
		const char *want;
		size_t m;

		if (c->recv_seq == c->send_seq) {
			load_worker_error(w, c, LOAD_ERR_UNEXPECTED,
			    "connection %llu: %zu byte(s) nobody sent",
			    (unsigned long long)c->id, n);
			lconn_close(c);
			return;
		}
		want = load_worker_echo_bytes(w, c->id, c->recv_seq) + c->rpos;
		m = size - c->rpos < n ? size - c->rpos : n;
		if (memcmp(p, want, m) != 0) {
			size_t i = 0;

			while (p[i] == want[i])
				i++;
			load_worker_error(w, c, LOAD_ERR_CORRUPT,
			    "connection %llu: byte %zu of message %llu is "
			    "0x%02x, sent 0x%02x", (unsigned long long)c->id,
			    c->rpos + i, (unsigned long long)c->recv_seq,
			    (unsigned char)p[i], (unsigned char)want[i]);
			lconn_close(c);
			return;
		}
		c->rpos += m;
		p += m;
		n -= m;
		if (c->rpos == size)
			load_worker_echo_done(c, now);
	}
}

/* The oldest message in flight came back whole. */
static void
load_worker_echo_done(struct lconn *c, uint64_t now)
{
	struct load_worker *w = c->w;
	uint64_t due = c->ring[c->rhead];

	c->rhead = (c->rhead + 1) % c->rcap;
	c->rpos = 0;
	c->recv_seq++;
	load_worker_record(w, due, now, (size_t)w->conf->size);
	if (w->conf->rate == 0 && w->phase == LOAD_PHASE_RUN) {
		if (now < w->t_end)
			load_worker_echo_send(c, now);
	}
}

static void
load_worker_irc_register(struct lconn *c)
{
	struct load_worker *w = c->w;
	char line[256];
	int n = 0;

	if (c->nick_tries == 0 && w->conf->password != NULL)
		n = snprintf(line, sizeof(line), "PASS %s\r\n",
		    w->conf->password);
	/* Nicks stay within 9 characters, the RFC 1459 limit that many
	   servers still apply: 'l', the run tag's first 3, the index in
	   base 36, and a retry letter. */
	{
		char idx[16], *p = idx + sizeof(idx) - 1;
		uint64_t v = c->id;

		*p = '\0';
		do {
			*--p = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
			v /= 36;
		} while (v > 0);
		n += snprintf(line + n, sizeof(line) - (size_t)n,
		    "NICK l%.3s%s%.*s\r\nUSER evl 0 * :evsock load\r\n",
		    w->conf->tag, p, c->nick_tries > 0 ? 1 : 0,
		    &"abcdefghijklmnopqrstuvwxyz"[c->nick_tries % 26]);
	}
	lconn_write(c, line, (size_t)n);
}

static void
load_worker_irc_input(struct lconn *c, const char *p, size_t n, uint64_t now)
{
	const char *end = p + n;

	while (p < end && c->state != LC_CLOSED) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t m = (size_t)((lf ? lf : end) - p);

		if (c->lbuf == NULL &&
		    (c->lbuf = malloc(LINE_MAX_LEN + 1)) == NULL)
			return;
		if (c->discarding || c->llen + m > LINE_MAX_LEN) {
			/* An overlong line is none of ours; skip it. */
			c->discarding = lf == NULL;
			c->llen = 0;
		} else {
			memcpy(c->lbuf + c->llen, p, m);
			c->llen += m;
			if (lf != NULL) {
				size_t len = c->llen;

				if (len > 0 && c->lbuf[len - 1] == '\r')
					len--;
				c->lbuf[len] = '\0';
				c->llen = 0;
				load_worker_irc_line(c, c->lbuf, len, now);
			}
		}
		p += m + (lf != NULL);
	}
}

static void
load_worker_irc_line(struct lconn *c, char *line, size_t len, uint64_t now)
{
	struct load_worker *w = c->w;
	char *cmd = line, *rest, *sp;

	(void)len;
	if (*cmd == '@' && (cmd = strchr(cmd, ' ')) != NULL)
		cmd++;
	if (cmd != NULL && *cmd == ':' && (cmd = strchr(cmd, ' ')) != NULL)
		cmd++;
	if (cmd == NULL)
		return;
	while (*cmd == ' ')
		cmd++;
	if ((sp = strchr(cmd, ' ')) != NULL) {
		*sp = '\0';
		rest = sp + 1;
	} else
		rest = cmd + strlen(cmd);
	if (strcmp(cmd, "PRIVMSG") == 0) {
		char *text = strstr(rest, " :");

		if (text != NULL)
			load_worker_irc_privmsg(c, text + 2, now);
		return;
	}
	if (strcmp(cmd, "PING") == 0) {
		char out[LINE_MAX_LEN + 8];
		int n = snprintf(out, sizeof(out), "PONG %s\r\n", rest);

		lconn_write(c, out, (size_t)n < sizeof(out) ? (size_t)n :
		    sizeof(out) - 1);
		return;
	}
	if (strcmp(cmd, "001") == 0 && c->state == LC_REGISTERING) {
		char out[128];
		int n = snprintf(out, sizeof(out), "JOIN %s\r\n",
		    w->conf->channel);

		c->state = LC_JOINING;
		lconn_write(c, out, (size_t)n);
		return;
	}
	if (strcmp(cmd, "366") == 0 && c->state == LC_JOINING) {
		c->state = LC_READY;
		c->ready_at = now;
		w->ready++;
		return;
	}
	if ((strcmp(cmd, "433") == 0 || strcmp(cmd, "436") == 0) &&
	    c->state == LC_REGISTERING && ++c->nick_tries < NICK_TRIES) {
		load_worker_irc_register(c);
		return;
	}
	if (strcmp(cmd, "ERROR") == 0 ||
	    (cmd[0] >= '4' && cmd[0] <= '5' && strlen(cmd) == 3 &&
	    c->state != LC_READY && strcmp(cmd, "422") != 0)) {
		if (c->state == LC_READY)
			load_worker_error(w, c, LOAD_ERR_PROTOCOL,
			    "client %llu: %s %s", (unsigned long long)c->id,
			    cmd, rest);
		else {
			/* Never got in: a failed connection, as for a
			   refused connect. */
			if (w->first_error[0] == '\0')
				snprintf(w->first_error,
				    sizeof(w->first_error),
				    "client %llu: %s %.120s",
				    (unsigned long long)c->id, cmd, rest);
			w->failed++;
			w->up--;
		}
		lconn_close(c);
	}
}

/* "<tag> <sender> <seq> <due-ns> ..." from one of our senders. */
static void
load_worker_irc_privmsg(struct lconn *c, const char *text, uint64_t now)
{
	struct load_worker *w = c->w;
	const char *p;
	uint64_t due = 0;

	if (strncmp(text, w->conf->tag, LOAD_TAG_LEN) != 0 ||
	    text[LOAD_TAG_LEN] != ' ')
		return;
	/* Another worker began sending before this one's tick saw the
	   run start: catch up now, so that this message counts. */
	if (w->phase == LOAD_PHASE_SETUP &&
	    atomic_load(&w->sh->phase) >= LOAD_PHASE_RUN)
		load_worker_enter_run(w);
	if (!c->member)
		return;
	/* Skip sender and sequence number; read the due time. */
	p = strchr(text + LOAD_TAG_LEN + 1, ' ');
	if (p == NULL || (p = strchr(p + 1, ' ')) == NULL) {
		load_worker_error(w, c, LOAD_ERR_CORRUPT,
		    "client %llu: mangled message \"%.60s\"",
		    (unsigned long long)c->id, text);
		return;
	}
	for (p++; *p >= '0' && *p <= '9'; p++)
		due = due * 10 + (uint64_t)(*p - '0');
	load_worker_record(w, due, now, strlen(text));
}

static void
load_worker_irc_send(struct lconn *c, uint64_t due)
{
	struct load_worker *w = c->w;
	const struct load_conf *conf = w->conf;
	int n;

	n = snprintf(w->ircmsg, conf->size + 256,
	    "PRIVMSG %s :%s %llu %llu %llu ", conf->channel, conf->tag,
	    (unsigned long long)c->id, (unsigned long long)c->irc_seq++,
	    (unsigned long long)due);
	/* Pad the text (after "PRIVMSG #chan :") up to --size bytes. */
	{
		size_t head = strlen(conf->channel) + 10, len = (size_t)n;

		while (len - head < conf->size)
			w->ircmsg[len++] = 'x';
		w->ircmsg[len++] = '\r';
		w->ircmsg[len++] = '\n';
		w->sent++;
		lconn_write(c, w->ircmsg, len);
	}
}
