/*
 * The echo protocol of evsock load: every connection sends messages
 * whose bytes are a function of (connection, sequence number) and
 * checks each echoed byte against that as it arrives.  Closed loop: one
 * message in flight, the next sent when its echo is back.
 */
#include <stdlib.h>
#include <string.h>

#include "load-engine.h"

static int load_echo_worker_init(struct load_worker *w);
static void load_echo_opened(struct load_conn *c);
static size_t load_echo_read_want(struct load_conn *c, size_t max);
static void load_echo_input(struct load_conn *c, char *p, size_t n,
    uint64_t now);
static void load_echo_send(struct load_conn *c, uint64_t due);
static void load_echo_done(struct load_conn *c, uint64_t now);

const struct load_proto load_echo_proto = {
	.replies = 1,
	.all_send = 1,
	.worker_init = load_echo_worker_init,
	.opened = load_echo_opened,
	.read_want = load_echo_read_want,
	.input = load_echo_input,
	.send = load_echo_send,
};

/* The worker's pattern: size + 256 pseudo-random bytes, the same in
   every run, of which each message takes a window. */
static int
load_echo_worker_init(struct load_worker *w)
{
	size_t n = (size_t)w->conf->size + 256;
	uint64_t seed = 0x243f6a8885a308d3ULL;
	char *pattern;

	if ((pattern = malloc(n)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		pattern[i] = (char)(seed >> 24);
	}
	w->pdata = pattern;
	return 0;
}

/* The bytes of message `seq` on connection `id` start here. */
static inline const char *
load_echo_bytes(const struct load_worker *w, uint64_t id, uint64_t seq)
{
	return (const char *)w->pdata + ((id * 37 + seq) & 255);
}

static void
load_echo_opened(struct load_conn *c)
{
	struct load_worker *w = c->w;

	load_conn_ready(c, 0);
	/* A connection that comes up after the start joins in. */
	if (w->phase == LOAD_PHASE_RUN && w->conf->rate == 0)
		load_echo_send(c, load_now());
}

/* Asks for no more than is owed: large reads of small echoes cost the
   kernel measurably more per round trip. */
static size_t
load_echo_read_want(struct load_conn *c, size_t max)
{
	uint64_t owed;

	if (c->send_seq == c->recv_seq)
		return max;
	owed = (c->send_seq - c->recv_seq) * c->w->conf->size - c->u.echo.rpos;
	return owed < max ? (size_t)owed : max;
}

static void
load_echo_send(struct load_conn *c, uint64_t due)
{
	struct load_worker *w = c->w;

	if (c->state != LOAD_CONN_READY || load_conn_push(c, due) == -1)
		return;
	w->sent++;
	load_conn_write(c, load_echo_bytes(w, c->id, c->send_seq - 1),
	    (size_t)w->conf->size);
}

static void
load_echo_input(struct load_conn *c, char *p, size_t n, uint64_t now)
{
	struct load_worker *w = c->w;
	size_t size = (size_t)w->conf->size;
	size_t *rpos = &c->u.echo.rpos;

	while (n > 0) {
		const char *want;
		size_t m;

		if (c->recv_seq == c->send_seq) {
			load_worker_error(w, LOAD_ERR_UNEXPECTED,
			    "connection %llu: %zu byte(s) nobody sent",
			    (unsigned long long)c->id, n);
			load_conn_close(c);
			return;
		}
		want = load_echo_bytes(w, c->id, c->recv_seq) + *rpos;
		m = size - *rpos < n ? size - *rpos : n;
		if (memcmp(p, want, m) != 0) {
			size_t i = 0;

			while (p[i] == want[i])
				i++;
			load_worker_error(w, LOAD_ERR_CORRUPT,
			    "connection %llu: byte %zu of message %llu is "
			    "0x%02x, sent 0x%02x",
			    (unsigned long long)c->id, *rpos + i,
			    (unsigned long long)c->recv_seq,
			    (unsigned char)p[i], (unsigned char)want[i]);
			load_conn_close(c);
			return;
		}
		*rpos += m;
		p += m;
		n -= m;
		if (*rpos == size)
			load_echo_done(c, now);
	}
}

/* The oldest message in flight came back whole. */
static void
load_echo_done(struct load_conn *c, uint64_t now)
{
	struct load_worker *w = c->w;
	uint64_t due = load_conn_pop(c);

	c->u.echo.rpos = 0;
	load_worker_record(w, due, now, (size_t)w->conf->size);
	if (w->conf->rate == 0 && w->phase == LOAD_PHASE_RUN && now < w->t_end)
		load_echo_send(c, now);
}
