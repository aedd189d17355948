/*
 * One load worker: its own event_base and its share of the connections.
 *
 * Connections are plain non-blocking sockets with one libevent event
 * each (load-conn.c); bytes go straight between the socket and fixed
 * buffers, so a round trip costs one read(2) and one write(2), as in a
 * hand-written epoll client.  (The client engine's bufferevents cost
 * measurably more per message; see bench/load_vs_epoll.sh.)
 *
 * The worker paces the run: closed loop, a protocol sends again when a
 * reply completes; open loop, a pacer hands out messages at the
 * configured rate and remembers the time each was due, which is where
 * its latency counts from.  What a message is and how its reply is
 * checked belongs to the protocol (load-echo.c, load-irc.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <event2/event.h>

#include "load-engine.h"

#define TICK_US 10000
#define IV_PUBLISH_NS 100000000ULL
#define MAX_CONNECTING 256

static void load_worker_tick(evutil_socket_t fd, short what, void *arg);
static void load_worker_publish(struct load_worker *w);
static void load_worker_enter_drain(struct load_worker *w, uint64_t now);
static void load_worker_end_drain(struct load_worker *w);
static void load_worker_pace(struct load_worker *w, uint64_t now);
static void load_worker_pace_cb(evutil_socket_t fd, short what, void *arg);
static int load_worker_idle(const struct load_worker *w);
static void load_worker_vnote(struct load_worker *w, const char *fmt,
    va_list ap) __attribute__((format(printf, 2, 0)));

struct load_worker *
load_worker_new(struct load_shared *sh, unsigned id)
{
	const struct load_conf *conf = sh->conf;
	struct load_worker *w;
	struct event_config *cfg = NULL;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->sh = sh;
	w->conf = conf;
	w->proto = conf->mode == LOAD_IRC ? &load_irc_proto :
	    conf->mode == LOAD_SCRIPT     ? &load_req_proto :
	                                    &load_echo_proto;
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
	if (conf->rate > 0 || w->proto->paced)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL)
		goto fail;
	w->conns = calloc(w->nconns ? w->nconns : 1, sizeof(*w->conns));
	w->senders = calloc(w->nconns ? w->nconns : 1, sizeof(*w->senders));
	w->rbuf = malloc(LOAD_RBUF_SIZE);
	w->total = hist_new();
	w->iv = hist_new();
	w->cross = hist_new();
	w->conn_total = hist_new();
	if (w->conns == NULL || w->senders == NULL || w->rbuf == NULL ||
	    w->total == NULL || w->iv == NULL || w->cross == NULL ||
	    w->conn_total == NULL)
		goto fail;
	for (size_t i = 0; i < w->nconns; i++) {
		struct load_conn *c = &w->conns[i];

		c->w = w;
		c->id = (uint64_t)i * conf->threads + id;
		c->fd = -1;
		c->state = LOAD_CONN_IDLE;
		c->sender = w->proto->all_send || c->id < conf->senders;
		if (c->sender)
			w->senders[w->nsenders++] = c;
	}
	if (w->proto->worker_init(w) == -1)
		goto fail;
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
	for (size_t i = 0; w->conns != NULL && i < w->nconns; i++)
		load_conn_free(&w->conns[i]);
	if (w->tick != NULL)
		event_free(w->tick);
	if (w->pacer != NULL)
		event_free(w->pacer);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w->pdata);
	free(w->conns);
	free(w->senders);
	free(w->rbuf);
	hist_free(w->total);
	hist_free(w->iv);
	hist_free(w->cross);
	hist_free(w->conn_total);
	free(w);
}

struct load_counts *
load_worker_counts(struct load_worker *w)
{
	return &w->counts;
}

void
load_worker_result(const struct load_worker *w, struct load_result *r,
    struct hist *total, struct hist *cross_total, struct hist *conn_total)
{
	memset(r, 0, sizeof(*r));
	r->win_msgs = w->win_msgs;
	r->win_bytes = w->win_bytes;
	r->win_conns = w->win_conns;
	r->cycles = w->cycles;
	r->cross_msgs = w->cross_msgs;
	memcpy(r->err, w->err, sizeof(r->err));
	memcpy(r->first_error, w->first_error, sizeof(r->first_error));
	memcpy(r->first_mismatch, w->first_mismatch, sizeof(r->first_mismatch));
	hist_merge(total, w->total);
	hist_merge(cross_total, w->cross);
	hist_merge(conn_total, w->conn_total);
	r->hs_first = w->hs_first;
	r->hs_last = w->hs_last;
}

void *
load_worker_run(void *arg)
{
	struct load_worker *w = arg;
	struct timeval tv = { 0, TICK_US };

	w->t_start = load_now();
	event_add(w->tick, &tv);
	load_worker_start_connects(w, w->t_start);
	load_worker_publish(w);
	event_base_dispatch(w->base);
	for (size_t i = 0; i < w->nconns; i++) {
		struct load_conn *c = &w->conns[i];

		if (c->state == LOAD_CONN_CLOSED || c->state == LOAD_CONN_IDLE)
			continue;
		if (w->proto->bye != NULL && c->olen == 0)
			w->proto->bye(c);
		load_conn_close(c);
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
	uint64_t e = w->failed;

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
	for (int i = 0; i < LOAD_ERR_COUNT; i++)
		e += w->err[i];
	atomic_store_explicit(&k->errors, e, memory_order_relaxed);
	atomic_store_explicit(&k->conns, w->up, memory_order_relaxed);
	atomic_store_explicit(&k->throttled, w->throttled,
	    memory_order_relaxed);
}

static void
load_worker_tick(evutil_socket_t fd, short what, void *arg)
{
	struct load_worker *w = arg;
	uint64_t now = load_now();
	int phase = atomic_load_explicit(&w->sh->phase, memory_order_acquire);

	(void)fd;
	(void)what;
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
	if (w->phase == LOAD_PHASE_DRAIN && w->proto->replies &&
	    (load_worker_idle(w) || now >= w->drain_deadline))
		load_worker_end_drain(w);
	if (now - w->iv_published >= IV_PUBLISH_NS) {
		pthread_mutex_lock(&w->sh->iv_lock);
		hist_merge(w->sh->iv, w->iv);
		pthread_mutex_unlock(&w->sh->iv_lock);
		hist_reset(w->iv);
		w->iv_published = now;
	}
	load_worker_publish(w);
}

/* Every reply is in, or the drain time is up: what is still missing
   timed out. */
static void
load_worker_end_drain(struct load_worker *w)
{
	for (size_t i = 0; i < w->nconns; i++) {
		struct load_conn *c = &w->conns[i];
		uint64_t left = c->send_seq - c->recv_seq;

		if (c->state == LOAD_CONN_CLOSED || c->state == LOAD_CONN_IDLE)
			continue;
		if (left > 0)
			load_worker_error(w, LOAD_ERR_TIMEOUT,
			    "connection %llu: %llu repl%s still missing at "
			    "the end",
			    (unsigned long long)c->id, (unsigned long long)left,
			    left == 1 ? "y" : "ies");
		load_conn_close(c);
	}
}

/* True when no connection has a request in flight. */
static int
load_worker_idle(const struct load_worker *w)
{
	for (size_t i = 0; i < w->nconns; i++) {
		const struct load_conn *c = &w->conns[i];

		if (c->state == LOAD_CONN_READY && c->send_seq != c->recv_seq)
			return 0;
	}
	return 1;
}

/* Starts connections, at --connect-rate if given, keeping at most
   MAX_CONNECTING handshakes in progress. */
void
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
		struct load_conn *c = &w->conns[w->next_connect++];

		if (load_conn_start(c) == -1)
			load_conn_fail(c, errno);
	}
	w->starting = 0;
}

void
load_worker_enter_run(struct load_worker *w)
{
	const struct load_conf *conf = w->conf;
	struct load_shared *sh = w->sh;

	w->phase = LOAD_PHASE_RUN;
	w->t_run = atomic_load(&sh->t_run);
	w->t_measure = atomic_load(&sh->t_measure);
	w->t_end = atomic_load(&sh->t_end);
	/* Only connections ready now are owed every message; an IRC
	   client that joins later would be counted as losing the earlier
	   ones. */
	for (size_t i = 0; i < w->nconns; i++)
		if (w->conns[i].state == LOAD_CONN_READY &&
		    w->conns[i].ready_at <= w->t_run) {
			w->conns[i].member = 1;
			w->members++;
		}
	if (conf->rate > 0 && w->nsenders > 0) {
		uint64_t total = w->proto->all_send ? conf->conns :
		                                      conf->senders;

		/* This worker's share of the rate, staggered against the
		   other workers so that their messages interleave. */
		w->pace_ns = 1e9 * (double)total / conf->rate /
		    (double)w->nsenders;
		w->pace_offset = (uint64_t)(1e9 / conf->rate * w->id);
		load_worker_pace(w, load_now());
		return;
	}
	if (conf->rate == 0)
		for (size_t i = 0; i < w->nsenders; i++)
			if (w->senders[i]->state == LOAD_CONN_READY)
				w->proto->send(w->senders[i], w->t_run);
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

	(void)fd;
	(void)what;
	w->t_end = atomic_load_explicit(&w->sh->t_end, memory_order_relaxed);
	load_worker_pace(w, load_now());
}

/* Open loop: hands out every message that is due by now, round robin
   over the senders, each stamped with the time it was due. */
static void
load_worker_pace(struct load_worker *w, uint64_t now)
{
	for (;;) {
		uint64_t due = w->t_run + w->pace_offset +
		    (uint64_t)((double)w->pace_k * w->pace_ns);
		struct load_conn *c = NULL;

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
			struct load_conn
			    *s = w->senders[w->pace_rr++ % w->nsenders];

			if (s->state == LOAD_CONN_READY && s->member) {
				c = s;
				break;
			}
		}
		if (c == NULL)
			return;
		w->proto->send(c, due);
	}
}

/* Keeps the first error's words. */
static void
load_worker_vnote(struct load_worker *w, const char *fmt, va_list ap)
{
	if (w->first_error[0] == '\0')
		vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
}

void
load_worker_error(struct load_worker *w, enum load_err e, const char *fmt, ...)
{
	va_list ap;

	w->err[e]++;
	va_start(ap, fmt);
	load_worker_vnote(w, fmt, ap);
	va_end(ap);
}

void
load_worker_mismatch(struct load_worker *w, const char *fmt, ...)
{
	va_list ap;

	w->err[LOAD_ERR_MISMATCH]++;
	va_start(ap, fmt);
	if (w->first_mismatch[0] == '\0')
		vsnprintf(w->first_mismatch, sizeof(w->first_mismatch), fmt,
		    ap);
	va_end(ap);
	va_start(ap, fmt);
	load_worker_vnote(w, fmt, ap);
	va_end(ap);
}

void
load_worker_note(struct load_worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	load_worker_vnote(w, fmt, ap);
	va_end(ap);
}

void
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

void
load_worker_record_cross(struct load_worker *w, uint64_t due, uint64_t now)
{
	w->cross_msgs++;
	/* The same window as load_worker_record's. */
	if (due >= w->t_measure && due < w->t_end && w->phase >= LOAD_PHASE_RUN)
		hist_record(w->cross, now > due ? now - due : 0);
}
