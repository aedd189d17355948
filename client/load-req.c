/*
 * The request/response protocol of evsock load: each connection walks
 * the script (load-script.h) -- send, expect, sleep, close -- and
 * checks every reply against its expectation as the bytes arrive.
 *
 * Closed loop, a connection keeps up to --pipeline replies awaited and
 * sends again as each comes back; open loop, the pacer hands out one
 * request (a send and the expectations after it) at a time.  What a
 * connection sends while its input is handled, or in one go at the
 * start, leaves in one write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load-engine.h"
#include "load-script.h"

#define QUEUE_MAX (1u << 16)
#define CORK_MIN (64 * 1024)

/* The worker's output gathered for one connection at a time. */
struct load_req_worker {
	size_t cap, len;
	int corked;
	char out[];
};

static int load_req_worker_init(struct load_worker *w);
static void load_req_opened(struct load_conn *c);
static void load_req_input(struct load_conn *c, char *p, size_t n,
    uint64_t now);
static void load_req_send(struct load_conn *c, uint64_t due);
static void load_req_conn_free(struct load_conn *c);
static void load_req_advance(struct load_conn *c, uint64_t now, int open);
static int load_req_emit(struct load_conn *c, const struct load_tmpl *t);
static int load_req_flush(struct load_conn *c);
static int load_req_push(struct load_conn *c, size_t step, uint64_t due);
static void load_req_close_step(struct load_conn *c, uint64_t now);
static void load_req_reconnect(struct load_conn *c, uint64_t now);
static void load_req_sleep_cb(evutil_socket_t fd, short what, void *arg);
static void load_req_reset(struct load_conn *c);
static int load_req_running(const struct load_worker *w, uint64_t now);

const struct load_proto load_req_proto = {
	.replies = 1,
	.all_send = 1,
	.worker_init = load_req_worker_init,
	.opened = load_req_opened,
	.input = load_req_input,
	.send = load_req_send,
	.conn_free = load_req_conn_free,
};

static int
load_req_worker_init(struct load_worker *w)
{
	const struct load_script *s = w->conf->script;
	size_t cap = s->maxsend * 2 > CORK_MIN ? s->maxsend * 2 : CORK_MIN;
	struct load_req_worker *rw;

	if ((rw = malloc(sizeof(*rw) + cap)) == NULL)
		return -1;
	rw->cap = cap;
	rw->len = 0;
	rw->corked = 0;
	w->pdata = rw;
	for (size_t i = 0; i < w->nconns; i++)
		w->conns[i].u.req.rng = 0x9e3779b97f4a7c15ULL ^
		    (w->conns[i].id * 0xbf58476d1ce4e5b9ULL + 1);
	return 0;
}

static void
load_req_conn_free(struct load_conn *c)
{
	struct load_req_conn *r = &c->u.req;

	if (r->sleep_ev != NULL)
		event_free(r->sleep_ev);
	r->sleep_ev = NULL;
	free(r->q);
	r->q = NULL;
	free(r->want);
	r->want = NULL;
	load_expect_match_clear(&r->m);
}

/* Forgets the script position and the replies awaited, for a new
   connection in c's slot. */
static void
load_req_reset(struct load_conn *c)
{
	struct load_req_conn *r = &c->u.req;

	r->pos = 0;
	r->qhead = r->qlen = 0;
	r->want_ready = 0;
	r->sleeping = 0;
	if (r->sleep_ev != NULL)
		event_del(r->sleep_ev);
	c->send_seq = c->recv_seq = 0;
	load_expect_match_reset(&r->m);
}

static int
load_req_running(const struct load_worker *w, uint64_t now)
{
	return w->phase == LOAD_PHASE_RUN && now < w->t_end;
}

static void
load_req_opened(struct load_conn *c)
{
	struct load_worker *w = c->w;
	const struct load_script *s = w->conf->script;
	uint64_t now = load_now();

	load_req_reset(c);
	load_conn_ready(c, 0);
	/* A greeting the server sends first is awaited at once, timed
	   from the connect. */
	while (c->u.req.pos < s->nsteps &&
	    s->steps[c->u.req.pos].kind == LOAD_STEP_EXPECT &&
	    c->state == LOAD_CONN_READY) {
		if (load_req_push(c, c->u.req.pos, c->connect_at) == -1)
			return;
		c->u.req.pos++;
	}
	if (w->conf->rate == 0 && load_req_running(w, now))
		load_req_advance(c, now, 0);
}

static void
load_req_send(struct load_conn *c, uint64_t due)
{
	if (c->w->conf->rate > 0)
		load_req_advance(c, due, 1);
	else
		load_req_advance(c, load_now(), 0);
}

/* Adds one expanded send to the worker's gathered output. */
static int
load_req_emit(struct load_conn *c, const struct load_tmpl *t)
{
	struct load_worker *w = c->w;
	struct load_req_worker *rw = w->pdata;

	if (rw->len + t->maxlen > rw->cap && load_req_flush(c) == -1)
		return -1;
	if (t->constant) {
		memcpy(rw->out + rw->len, t->lit, t->litlen);
		rw->len += t->litlen;
	} else
		rw->len += load_script_expand(t, c->id, c->u.req.seq,
		    &c->u.req.rng, rw->out + rw->len);
	c->u.req.seq++;
	w->sent++;
	return 0;
}

/* Writes the gathered output; returns 0, or -1 when c closed. */
static int
load_req_flush(struct load_conn *c)
{
	struct load_req_worker *rw = c->w->pdata;
	size_t len = rw->len;

	rw->len = 0;
	if (len == 0)
		return 0;
	return load_conn_write(c, rw->out, len);
}

/* Awaits the reply of step `step`, timed from `due`. */
static int
load_req_push(struct load_conn *c, size_t step, uint64_t due)
{
	struct load_req_conn *r = &c->u.req;
	struct load_req_exp *e;

	if (r->qlen == r->qcap) {
		uint32_t cap = r->qcap ? r->qcap * 2 : 4;
		struct load_req_exp *q;

		if (cap > QUEUE_MAX || (q = malloc(cap * sizeof(*q))) == NULL) {
			load_worker_error(c->w, LOAD_ERR_OVERRUN,
			    "connection %llu: %u replies awaited, the server "
			    "is not keeping up",
			    (unsigned long long)c->id, r->qlen);
			load_conn_close(c);
			return -1;
		}
		for (uint32_t i = 0; i < r->qlen; i++)
			q[i] = r->q[(r->qhead + i) % r->qcap];
		free(r->q);
		r->q = q;
		r->qcap = cap;
		r->qhead = 0;
	}
	e = &r->q[(r->qhead + r->qlen) % r->qcap];
	e->due = due;
	e->step = (uint32_t)step;
	e->seq = r->seq > 0 ? r->seq - 1 : 0;
	r->qlen++;
	c->send_seq++;
	return 0;
}

/*
 * Walks the script from c's position.  Closed loop (open 0): sends
 * while fewer than --pipeline replies are awaited, until a sleep, a
 * close or the end of the run.  Open loop: one request due at `now`:
 * its send and the expectations that follow.
 */
static void
load_req_advance(struct load_conn *c, uint64_t now, int open)
{
	struct load_worker *w = c->w;
	const struct load_conf *conf = w->conf;
	const struct load_script *s = conf->script;
	struct load_req_conn *r = &c->u.req;
	struct load_req_worker *rw = w->pdata;
	int corked = rw->corked, sent = 0;

	rw->corked = 1;
	while (c->state == LOAD_CONN_READY && !r->sleeping) {
		const struct load_step *st;

		if (r->pos == s->nsteps) {
			r->pos = s->loop;
			if (!open && !load_req_running(w, now))
				break;
		}
		st = &s->steps[r->pos];
		if (st->kind == LOAD_STEP_SEND) {
			/* Open loop: one send per call.  Closed loop: up to
			   --pipeline replies awaited, until the end. */
			if (open && sent)
				break;
			if (!open &&
			    (r->qlen >= conf->pipeline ||
			        !load_req_running(w, now)))
				break;
			if (load_req_emit(c, &st->send) == -1)
				break;
			r->last_due = now;
			sent = 1;
		} else if (st->kind == LOAD_STEP_EXPECT) {
			if (!open && r->qlen >= conf->pipeline)
				break;
			if (load_req_push(c, r->pos, r->last_due) == -1)
				break;
		} else if (st->kind == LOAD_STEP_SLEEP) {
			struct timeval tv;

			if (r->qlen > 0)
				break;
			if (r->sleep_ev == NULL &&
			    (r->sleep_ev = event_new(w->base, -1, 0,
			         load_req_sleep_cb, c)) == NULL)
				break;
			tv.tv_sec = (time_t)(st->sleep_ms / 1000);
			tv.tv_usec = (suseconds_t)(st->sleep_ms % 1000 * 1000);
			event_add(r->sleep_ev, &tv);
			r->sleeping = 1;
		} else {
			if (r->qlen > 0)
				break;
			if (load_req_flush(c) == 0)
				load_req_close_step(c, now);
			rw->corked = corked;
			return;
		}
		r->pos++;
	}
	rw->corked = corked;
	if (!corked && c->state == LOAD_CONN_READY)
		load_req_flush(c);
	else if (!corked)
		rw->len = 0;
}

static void
load_req_sleep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct load_conn *c = arg;

	(void)fd;
	(void)what;
	c->u.req.sleeping = 0;
	if (c->state == LOAD_CONN_READY)
		load_req_advance(c, load_now(), 0);
}

/* A close step: this connection is done; while the run goes on, a
   new one takes its place. */
static void
load_req_close_step(struct load_conn *c, uint64_t now)
{
	c->w->cycles++;
	load_req_reconnect(c, now);
}

/* Closes c and, while the run goes on, opens a new connection in its
   slot. */
static void
load_req_reconnect(struct load_conn *c, uint64_t now)
{
	struct load_worker *w = c->w;

	load_conn_close(c);
	load_req_reset(c);
	if (load_req_running(w, now) && load_conn_start(c) == -1)
		load_conn_fail(c, errno);
}

static void
load_req_input(struct load_conn *c, char *p, size_t n, uint64_t now)
{
	struct load_worker *w = c->w;
	const struct load_script *s = w->conf->script;
	struct load_req_conn *r = &c->u.req;
	struct load_req_worker *rw = w->pdata;
	char why[320];

	rw->corked = 1;
	rw->len = 0;
	while (n > 0 && c->state == LOAD_CONN_READY) {
		const struct load_req_exp *e;
		const struct load_expect *x;
		size_t used;
		int m;

		if (r->qlen == 0) {
			char got[96];

			load_expect_escape(p, n, got, sizeof(got));
			load_worker_error(w, LOAD_ERR_UNEXPECTED,
			    "connection %llu: %zu byte(s) nobody asked for: "
			    "%s",
			    (unsigned long long)c->id, n, got);
			load_conn_close(c);
			break;
		}
		e = &r->q[r->qhead];
		x = &s->steps[e->step].expect;
		if (x->kind == LOAD_EXPECT_EXACT && !x->text.constant &&
		    !r->want_ready) {
			if (r->want == NULL &&
			    (r->want = malloc(s->maxwant)) == NULL) {
				load_worker_error(w, LOAD_ERR_OVERRUN,
				    "connection %llu: out of memory",
				    (unsigned long long)c->id);
				load_conn_close(c);
				break;
			}
			r->wlen = load_script_expand(&x->text, c->id, e->seq,
			    &r->rng, r->want);
			r->want_ready = 1;
		}
		if (x->kind == LOAD_EXPECT_EXACT && x->text.constant)
			m = load_expect_match(&r->m, x, x->text.lit,
			    x->text.litlen, p, n, &used, why, sizeof(why));
		else
			m = load_expect_match(&r->m, x, r->want, r->wlen, p, n,
			    &used, why, sizeof(why));
		p += used;
		n -= used;
		if (m == -1) {
			load_worker_mismatch(w,
			    "connection %llu, reply %llu: "
			    "%s",
			    (unsigned long long)c->id,
			    (unsigned long long)c->recv_seq, why);
			load_conn_close(c);
			break;
		}
		if (m == 0)
			continue;
		load_worker_record(w, e->due, now, r->m.pos);
		if (r->m.close) {
			/* The server said this response is its last on this
			   connection (an HTTP keep-alive limit): a new
			   connection takes over; what was pipelined behind
			   it is never answered and not owed. */
			c->recv_seq = c->send_seq;
			load_req_flush(c);
			load_req_reconnect(c, now);
			break;
		}
		load_expect_match_reset(&r->m);
		r->want_ready = 0;
		r->qhead = (r->qhead + 1) % r->qcap;
		r->qlen--;
		c->recv_seq++;
		if (w->conf->rate == 0)
			load_req_advance(c, now, 0);
	}
	rw->corked = 0;
	if (c->state == LOAD_CONN_READY)
		load_req_flush(c);
	else
		rw->len = 0;
}
