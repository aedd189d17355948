/* Integration: the server engine and echo with evs_client peers on one
   event_base, over loopback, port 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include <evsock/evsock.h>

#include "harness.h"

#define BIG (1024 * 1024)

struct peer {
	struct evs_client *cl;
	unsigned char *want; /* what we sent */
	size_t wantlen;
	size_t sent;
	unsigned char *got;
	size_t gotlen;
	int chunk_i;
	int connected, closed, eof, error, mismatch;
	char reason[320];
	int half_close; /* shut down write after sending */
};

static struct event_base *base;
static struct evs_server *srv;
static struct evs_listener *first_listener;
static char target[64];

static const size_t chunk_sizes[] = { 1, 7, 13, 4099, 65537, 3, 1500, 9000 };

static void peer_pump(struct peer *p);

static void
peer_connected(struct evs_client *cl, void *arg)
{
	struct peer *p = arg;

	(void)cl;
	p->connected = 1;
	peer_pump(p);
}

static void
peer_pump(struct peer *p)
{
	/* Send in odd chunk sizes, a bounded amount at a time. */
	while (p->sent < p->wantlen && evs_client_pending(p->cl) < 256 * 1024) {
		size_t n = chunk_sizes[p->chunk_i++ %
		    (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))];
		if (n > p->wantlen - p->sent)
			n = p->wantlen - p->sent;
		ck_assert_int_eq(evs_client_send(p->cl, p->want + p->sent, n),
		    0);
		p->sent += n;
	}
	if (p->sent == p->wantlen && p->half_close)
		evs_client_shutdown_write(p->cl);
}

static void
peer_drained(struct evs_client *cl, void *arg)
{
	(void)cl;
	peer_pump(arg);
}

static void
peer_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct peer *p = arg;
	size_t n = evbuffer_get_length(in);

	(void)cl;
	if (p->gotlen + n > p->wantlen) {
		p->mismatch = 1;
		evbuffer_drain(in, n);
		return;
	}
	evbuffer_remove(in, p->got + p->gotlen, n);
	if (memcmp(p->got + p->gotlen, p->want + p->gotlen, n) != 0)
		p->mismatch = 1;
	p->gotlen += n;
}

static void
peer_eof(struct evs_client *cl, void *arg)
{
	struct peer *p = arg;

	p->eof = 1;
	evs_client_close(cl);
}

static void
peer_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	struct peer *p = arg;

	(void)cl;
	p->closed = 1;
	p->error = error;
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
}

static const struct evs_client_callbacks peer_cbs = {
	.connected = peer_connected,
	.data = peer_data,
	.drained = peer_drained,
	.eof = peer_eof,
	.closed = peer_closed,
};

static void
peer_init(struct peer *p, size_t len, uint64_t seed)
{
	memset(p, 0, sizeof(*p));
	p->want = malloc(len);
	p->got = malloc(len);
	ck_assert_ptr_nonnull(p->want);
	ck_assert_ptr_nonnull(p->got);
	p->wantlen = len;
	harness_random(p->want, len, seed);
	p->cl = evs_client_new(base, NULL, &peer_cbs, p);
	ck_assert_ptr_nonnull(p->cl);
	evs_client_set_drain_level(p->cl, 64 * 1024);
}

static void
peer_fini(struct peer *p)
{
	evs_client_free(p->cl);
	free(p->want);
	free(p->got);
}

static void
setup(void)
{
	struct evs_listener *l;
	char err[256];

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	srv = evs_server_new(base);
	ck_assert_ptr_nonnull(srv);
	l = evs_server_listen(srv, "127.0.0.1:0", evs_echo_service(), NULL, err,
	    sizeof(err));
	ck_assert_msg(l != NULL, "listen: %s", err);
	ck_assert_int_gt(evs_listener_port(l), 0);
	evs_listener_addr_str(l, target, sizeof(target));
	first_listener = l;
}

static void
teardown(void)
{
	evs_server_free(srv);
	event_base_free(base);
}

static int
peer_done(void *arg)
{
	struct peer *p = arg;

	return p->closed || p->mismatch || p->gotlen == p->wantlen;
}

START_TEST(test_server_echo_binary_odd_chunks)
{
	struct peer p;

	peer_init(&p, BIG, 1);
	ck_assert_int_eq(evs_client_connect(p.cl, target, 5000), 0);
	ck_assert(harness_loop_until(base, peer_done, &p, 30000));
	ck_assert_msg(!p.closed, "closed early: %s", p.reason);
	ck_assert(!p.mismatch);
	ck_assert_uint_eq(p.gotlen, BIG);
	ck_assert(memcmp(p.got, p.want, BIG) == 0);
	peer_fini(&p);
}
END_TEST

struct many {
	struct peer *peers;
	size_t n;
};

static int
many_done(void *arg)
{
	struct many *m = arg;

	for (size_t i = 0; i < m->n; i++)
		if (!peer_done(&m->peers[i]))
			return 0;
	return 1;
}

START_TEST(test_server_echo_500_clients)
{
	struct many m = { calloc(500, sizeof(struct peer)), 500 };
	struct evs_server_stats st;

	for (size_t i = 0; i < m.n; i++) {
		peer_init(&m.peers[i], 1000 + i, 100 + i);
		ck_assert_int_eq(evs_client_connect(m.peers[i].cl, target,
		                     10000),
		    0);
	}
	ck_assert(harness_loop_until(base, many_done, &m, 60000));
	evs_server_stats(srv, &st);
	ck_assert_uint_eq(st.current, 500);
	ck_assert_uint_eq(st.accepted, 500);
	for (size_t i = 0; i < m.n; i++) {
		ck_assert_msg(!m.peers[i].closed, "peer %zu: %s", i,
		    m.peers[i].reason);
		ck_assert(!m.peers[i].mismatch);
		ck_assert(memcmp(m.peers[i].got, m.peers[i].want,
		              m.peers[i].wantlen) == 0);
		peer_fini(&m.peers[i]);
	}
	free(m.peers);
}
END_TEST

static int
peer_closed_cond(void *arg)
{
	return ((struct peer *)arg)->closed;
}

START_TEST(test_server_half_close_flushes)
{
	struct peer p;

	/* Send 512 KiB then FIN at once: the server must echo every byte
	   before it closes its side. */
	peer_init(&p, 512 * 1024, 7);
	p.half_close = 1;
	ck_assert_int_eq(evs_client_connect(p.cl, target, 5000), 0);
	ck_assert(harness_loop_until(base, peer_closed_cond, &p, 30000));
	ck_assert_int_eq(p.error, 0);
	ck_assert(p.eof);
	ck_assert(!p.mismatch);
	ck_assert_uint_eq(p.gotlen, p.wantlen);
	peer_fini(&p);
}
END_TEST

START_TEST(test_server_max_clients_refuses_with_line)
{
	struct peer p[3];
	struct evs_server_stats st;
	struct evs_listener_stats ls;
	char *line;

	evs_server_set(srv, EVS_OPT_MAX_CLIENTS, 2);
	for (int i = 0; i < 2; i++) {
		peer_init(&p[i], 10, (uint64_t)i);
		evs_client_connect(p[i].cl, target, 5000);
		ck_assert(harness_loop_until(base, peer_done, &p[i], 10000));
	}
	/* The third gets a line saying why, then EOF. */
	peer_init(&p[2], 4096, 3);
	evs_client_connect(p[2].cl, target, 5000);
	p[2].want[0] = 0;
	ck_assert(harness_loop_until(base, peer_closed_cond, &p[2], 10000));
	line = strndup((char *)p[2].got, p[2].gotlen);
	ck_assert_msg(strstr(line, "Server full") != NULL, "got '%s'", line);
	free(line);
	evs_server_stats(srv, &st);
	ck_assert_uint_eq(st.refused, 1);
	ck_assert_uint_eq(st.current, 2);
	/* Counted for the listener's address, by reason. */
	ck_assert_uint_eq(evs_server_listener_stats(srv, &ls, 1), 1);
	ck_assert_str_eq(ls.service, "echo");
	ck_assert_str_eq(ls.address, target);
	ck_assert_int_eq(ls.listening, 1);
	ck_assert_uint_eq(ls.accepted, 2);
	ck_assert_uint_eq(ls.current, 2);
	ck_assert_uint_eq(ls.refused, 1);
	ck_assert_uint_eq(ls.refused_by[EVS_REFUSED_MAX_CLIENTS], 1);
	ck_assert_str_eq(evs_refusal_name(EVS_REFUSED_MAX_CLIENTS),
	    "max_clients");
	for (int i = 0; i < 3; i++)
		peer_fini(&p[i]);
}
END_TEST

static int
refuse_open(struct evs_conn *c, void *arg)
{
	(void)c;
	(void)arg;
	return -1;
}

static void
refuse_data(struct evs_conn *c, struct evbuffer *in, void *arg)
{
	(void)c;
	(void)in;
	(void)arg;
	ck_abort_msg("data for a connection open() refused");
}

/* A service's open() returning -1 closes the connection; the stats
   count it as refused, not accepted. */
START_TEST(test_server_open_refuses)
{
	static const struct evs_service refusing = {
		.name = "refusing",
		.framing = EVS_FRAMING_RAW,
		.open = refuse_open,
		.data = refuse_data,
	};
	struct evs_listener *l;
	struct evs_server_stats st0, st;
	struct evs_listener_stats ls[2];
	struct peer p;
	char where[64];

	evs_server_stats(srv, &st0);
	l = evs_server_listen(srv, "127.0.0.1:0", &refusing, NULL, NULL, 0);
	ck_assert_ptr_nonnull(l);
	snprintf(where, sizeof(where), "127.0.0.1:%d", evs_listener_port(l));
	peer_init(&p, 16, 5);
	p.want[0] = 0;
	ck_assert_int_eq(evs_client_connect(p.cl, where, 5000), 0);
	ck_assert(harness_loop_until(base, peer_closed_cond, &p, 10000));
	ck_assert_uint_eq(p.gotlen, 0);
	evs_server_stats(srv, &st);
	ck_assert_uint_eq(st.accepted, st0.accepted);
	ck_assert_uint_eq(st.refused, st0.refused + 1);
	ck_assert_uint_eq(st.current, st0.current);
	ck_assert_uint_eq(evs_server_listener_stats(srv, ls, 2), 2);
	ck_assert_str_eq(ls[1].service, "refusing");
	ck_assert_str_eq(ls[1].address, where);
	ck_assert_uint_eq(ls[1].refused_by[EVS_REFUSED_SERVICE], 1);
	ck_assert_uint_eq(ls[1].accepted, 0);
	ck_assert_uint_eq(ls[0].refused, 0);
	peer_fini(&p);
}
END_TEST

/* A corked service: every byte in asks for 200 numbered lines back;
   "q" asks for 200 lines and a close. */
static size_t cork_pending_seen;

static void
cork_data(struct evs_conn *c, struct evbuffer *in, void *arg)
{
	unsigned char b;

	(void)arg;
	while (evbuffer_remove(in, &b, 1) == 1) {
		for (int i = 0; i < 200; i++)
			evs_conn_printf(c, "%03d\n", i);
		/* Nothing is written before this pass of the loop ends. */
		cork_pending_seen = evs_conn_pending(c);
		if (b == 'q')
			evs_conn_close(c, "bye");
	}
}

struct collect {
	struct evbuffer *got;
	int closed;
};

static void
collect_connected(struct evs_client *cl, void *arg)
{
	(void)arg;
	evs_client_send(cl, "xq", 2);
}

static void
collect_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	(void)cl;
	evbuffer_add_buffer(((struct collect *)arg)->got, in);
}

static void
collect_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	(void)cl;
	(void)error;
	(void)reason;
	((struct collect *)arg)->closed = 1;
}

static int
collect_done(void *arg)
{
	return ((struct collect *)arg)->closed;
}

/* EVS_SERVICE_CORK: output gathers until the pass ends, then goes out
   whole and in order; a close after corked output sends all of it
   before the FIN. */
START_TEST(test_server_cork_gathers_then_flushes)
{
	static const struct evs_service corked = {
		.name = "corked",
		.framing = EVS_FRAMING_RAW,
		.flags = EVS_SERVICE_CORK,
		.data = cork_data,
	};
	static const struct evs_client_callbacks cbs = {
		.connected = collect_connected,
		.data = collect_data,
		.closed = collect_closed,
	};
	struct collect col = { evbuffer_new(), 0 };
	struct evs_client *cl = evs_client_new(base, NULL, &cbs, &col);
	struct evs_listener *l;
	char where[64], want[4 * 400 + 1];
	size_t n = 0;

	l = evs_server_listen(srv, "127.0.0.1:0", &corked, NULL, NULL, 0);
	ck_assert_ptr_nonnull(l);
	snprintf(where, sizeof(where), "127.0.0.1:%d", evs_listener_port(l));
	cork_pending_seen = 0;
	ck_assert_int_eq(evs_client_connect(cl, where, 5000), 0);
	ck_assert(harness_loop_until(base, collect_done, &col, 10000));
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < 200; i++)
			n += (size_t)snprintf(want + n, sizeof(want) - n,
			    "%03d\n", i);
	ck_assert_uint_eq(evbuffer_get_length(col.got), n);
	ck_assert(memcmp(evbuffer_pullup(col.got, -1), want, n) == 0);
	/* The second byte's 200 lines were still corked behind the
	   first's, or written by the pass before: 800 or 1600 bytes. */
	ck_assert_msg(cork_pending_seen == 800 || cork_pending_seen == 1600,
	    "pending %zu", cork_pending_seen);
	evs_client_free(cl);
	evbuffer_free(col.got);
}
END_TEST

/* A corked service that answers each byte with 2 MiB, more than the
   kernel takes at once: 20,000 numbered lines of 105 bytes. */
static void
bulk_data(struct evs_conn *c, struct evbuffer *in, void *arg)
{
	unsigned char b;
	char line[106];

	(void)arg;
	while (evbuffer_remove(in, &b, 1) == 1) {
		for (int i = 0; i < 20000; i++) {
			snprintf(line, sizeof(line), "%05d %098d\n", i, 0);
			evs_conn_send(c, line, 105);
		}
		if (b == 'q')
			evs_conn_close(c, "bye");
	}
}

/* With a pass budget shorter than any pass (reads wait for the next
   pass, the flush is split) and a flush hold, output larger than the
   socket takes still arrives whole and in order. */
START_TEST(test_server_cork_budget_delivers_all)
{
	static const struct evs_service bulk = {
		.name = "bulk",
		.framing = EVS_FRAMING_RAW,
		.flags = EVS_SERVICE_CORK,
		.data = bulk_data,
	};
	static const struct evs_client_callbacks cbs = {
		.connected = collect_connected,
		.data = collect_data,
		.closed = collect_closed,
	};
	struct collect col = { evbuffer_new(), 0 };
	struct evs_client *cl = evs_client_new(base, NULL, &cbs, &col);
	struct evs_listener *l;
	char where[64], line[106];
	const char *got;

	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_PASS_BUDGET_US, 1), 0);
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_FLUSH_HOLD_US, 2000), 0);
	ck_assert_int_eq(evs_server_get(srv, EVS_OPT_PASS_BUDGET_US), 1);
	ck_assert_int_eq(evs_server_get(srv, EVS_OPT_FLUSH_HOLD_US), 2000);
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_FLUSH_HOLD_US, 100001),
	    -1);
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_PASS_BUDGET_US, 1000001),
	    -1);
	l = evs_server_listen(srv, "127.0.0.1:0", &bulk, NULL, NULL, 0);
	ck_assert_ptr_nonnull(l);
	snprintf(where, sizeof(where), "127.0.0.1:%d", evs_listener_port(l));
	ck_assert_int_eq(evs_client_connect(cl, where, 5000), 0);
	ck_assert(harness_loop_until(base, collect_done, &col, 20000));
	ck_assert_uint_eq(evbuffer_get_length(col.got), 2 * 20000 * 105);
	got = (const char *)evbuffer_pullup(col.got, -1);
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < 20000; i++) {
			snprintf(line, sizeof(line), "%05d %098d\n", i, 0);
			ck_assert(memcmp(got, line, 105) == 0);
			got += 105;
		}
	evs_client_free(cl);
	evbuffer_free(col.got);
}
END_TEST

/* A corked service that fans out: each byte from a connection sends
   every connection 100 shared messages, and the sender a line of its
   own after each; the others' corks then hold 100 pieces that do not
   follow one another in the spool. */
#define FAN_ROUNDS 100
#define FAN_MAX 48
static struct evs_conn *fan_conns[FAN_MAX];
static int fan_nconns, fan_npeers;

static int
fan_open(struct evs_conn *c, void *arg)
{
	(void)arg;
	if (fan_nconns < FAN_MAX)
		fan_conns[fan_nconns++] = c;
	return 0;
}

static void
fan_data(struct evs_conn *c, struct evbuffer *in, void *arg)
{
	char text[16];

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
	for (int i = 0; i < FAN_ROUNDS; i++) {
		struct evs_msg *m;

		snprintf(text, sizeof(text), "m%03d\n", i);
		m = evs_msg_new(text, 5);
		for (int k = 0; k < fan_nconns; k++)
			evs_conn_send_msg(fan_conns[k], m);
		evs_msg_unref(m);
		evs_conn_printf(c, "r%03d\n", i);
	}
}

static int
fan_accepted(void *arg)
{
	return fan_nconns >= *(int *)arg;
}

struct fan_peer {
	int fd;
	char got[FAN_ROUNDS * 10 + 1];
	size_t len, want;
};

static int
fan_peers_done(void *arg)
{
	struct fan_peer *p = arg;
	int done = 1;

	for (int k = 0; k < fan_npeers; k++) {
		ssize_t n = read(p[k].fd, p[k].got + p[k].len,
		    sizeof(p[k].got) - 1 - p[k].len);

		if (n > 0)
			p[k].len += (size_t)n;
		if (p[k].len < p[k].want)
			done = 0;
	}
	return done;
}

/* npeers connect; the first asks; each must get exactly its lines. */
static void
fan_run(int npeers)
{
	static const struct evs_service fan = {
		.name = "fan",
		.framing = EVS_FRAMING_RAW,
		.flags = EVS_SERVICE_CORK,
		.open = fan_open,
		.data = fan_data,
	};
	static struct fan_peer p[FAN_MAX];
	struct evs_listener *l;
	char want[FAN_ROUNDS * 10 + 1];
	size_t n = 0;

	memset(p, 0, sizeof(p));
	fan_nconns = 0;
	fan_npeers = npeers;
	l = evs_server_listen(srv, "127.0.0.1:0", &fan, NULL, NULL, 0);
	ck_assert_ptr_nonnull(l);
	for (int k = 0; k < npeers; k++) {
		int want_n = k + 1;

		p[k].fd = harness_connect(evs_listener_port(l), 0);
		ck_assert_int_ge(p[k].fd, 0);
		ck_assert(
		    harness_loop_until(base, fan_accepted, &want_n, 5000));
		fcntl(p[k].fd, F_SETFL, O_NONBLOCK);
		p[k].want = k == 0 ? FAN_ROUNDS * 10 : FAN_ROUNDS * 5;
	}
	ck_assert_int_eq(fan_nconns, npeers);
	ck_assert_int_eq(harness_write_all(p[0].fd, "x", 1), 0);
	ck_assert(harness_loop_until(base, fan_peers_done, p, 10000));
	for (int i = 0; i < FAN_ROUNDS; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n,
		    "m%03d\nr%03d\n", i, i);
	ck_assert_uint_eq(p[0].len, n);
	ck_assert(memcmp(p[0].got, want, n) == 0);
	n = 0;
	for (int i = 0; i < FAN_ROUNDS; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "m%03d\n", i);
	for (int k = 1; k < npeers; k++) {
		ck_assert_uint_eq(p[k].len, n);
		ck_assert(memcmp(p[k].got, want, n) == 0);
	}
	for (int k = 0; k < npeers; k++)
		close(p[k].fd);
}

/* Shared messages and a connection's own lines reach each peer whole
   and in the order they were sent, also when a cork has more pieces
   than it holds at once. */
START_TEST(test_server_cork_shared_messages_in_order)
{
	fan_run(2);
}
END_TEST

/* With a budget shorter than any flush, the flush is split over
   passes: every peer still gets all of it, in order. */
START_TEST(test_server_cork_split_flush_delivers_all)
{
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_PASS_BUDGET_US, 1), 0);
	fan_run(FAN_MAX);
}
END_TEST

/* Last words: a service that holds reading back, then writes to a peer
   that has already sent its last line and reset the connection. */
struct lastwords {
	struct evs_conn *c;
	char line[64];
	char reason[64];
	int send_rc;
	int closed;
};

static struct lastwords lw;

static void
lw_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	lw.send_rc = evs_conn_send(lw.c, "ping\n", 5);
	evs_conn_resume(lw.c);
}

static int
lw_open(struct evs_conn *c, void *arg)
{
	struct timeval tv = { 0, 50000 };

	(void)arg;
	lw.c = c;
	evs_conn_pause(c);
	event_base_once(base, -1, EV_TIMEOUT, lw_later, NULL, &tv);
	return 0;
}

static void
lw_line(struct evs_conn *c, char *line, size_t len, void *arg)
{
	(void)c;
	(void)arg;
	snprintf(lw.line, sizeof(lw.line), "%.*s", (int)len, line);
}

static void
lw_close(struct evs_conn *c, const char *reason, void *arg)
{
	(void)c;
	(void)arg;
	snprintf(lw.reason, sizeof(lw.reason), "%s", reason);
	lw.closed = 1;
}

static int
lw_done(void *arg)
{
	return ((struct lastwords *)arg)->closed;
}

/* A write that fails because the peer reset does not throw away what
   the peer sent before it went: the line queued in the kernel is still
   handed to the service, then the connection ends with the write's
   reason. */
START_TEST(test_server_last_words_after_reset)
{
	static const struct evs_service talker = {
		.name = "talker",
		.framing = EVS_FRAMING_LINE,
		.open = lw_open,
		.line = lw_line,
		.close = lw_close,
	};
	struct evs_listener *l;
	struct linger lg = { 1, 0 };
	int fd;

	memset(&lw, 0, sizeof(lw));
	l = evs_server_listen(srv, "127.0.0.1:0", &talker, NULL, NULL, 0);
	ck_assert_ptr_nonnull(l);
	fd = harness_connect(evs_listener_port(l), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_write_all(fd, "QUIT :gone\n", 11), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
	    0);
	close(fd);
	ck_assert(harness_loop_until(base, lw_done, &lw, 10000));
	ck_assert_int_eq(lw.send_rc, -1);
	ck_assert_str_eq(lw.line, "QUIT :gone");
	ck_assert_msg(strstr(lw.reason, "reset") != NULL ||
	        strstr(lw.reason, "Broken pipe") != NULL,
	    "%s", lw.reason);
}
END_TEST

START_TEST(test_server_listen_errors)
{
	struct evs_listener *l;
	char err[256], again[80];

	/* The port already bound by setup(). */
	snprintf(again, sizeof(again), "%s", target);
	l = evs_server_listen(srv, again, evs_echo_service(), NULL, err,
	    sizeof(err));
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(err, "address already in use") != NULL, "%s", err);
	l = evs_server_listen(srv, "127.0.0.1", evs_echo_service(), NULL, err,
	    sizeof(err));
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(err, "PORT") != NULL, "%s", err);
	l = evs_server_listen(srv, "[::1]:0", evs_echo_service(), NULL, err,
	    sizeof(err));
	if (l != NULL)
		ck_assert_int_gt(evs_listener_port(l), 0);
}
END_TEST

struct shut {
	int done;
	struct peer p;
};

static void
shut_done(struct evs_server *s, void *arg)
{
	(void)s;
	((struct shut *)arg)->done = 1;
}

static int
shut_cond(void *arg)
{
	struct shut *sh = arg;

	return sh->done && sh->p.closed;
}

START_TEST(test_server_shutdown_flushes_and_finishes)
{
	struct shut sh = { 0 };

	peer_init(&sh.p, 256 * 1024, 11);
	ck_assert_int_eq(evs_client_connect(sh.p.cl, target, 5000), 0);
	ck_assert(harness_loop_until(base, peer_closed_cond, &sh.p, 50) == 0);
	/* Shut down while data is in flight; the peer then finishes
	   sending and half-closes: every byte must come back. */
	ck_assert_int_eq(evs_server_shutdown(srv, 10000, shut_done, &sh), 0);
	ck_assert_int_eq(evs_server_shutdown(srv, 10000, shut_done, &sh), -1);
	sh.p.half_close = 1;
	peer_pump(&sh.p);
	ck_assert(harness_loop_until(base, shut_cond, &sh, 30000));
	ck_assert_int_eq(sh.p.error, 0);
	ck_assert(!sh.p.mismatch);
	ck_assert_uint_eq(sh.p.gotlen, sh.p.wantlen);
	ck_assert_int_eq(harness_connect(atoi(strrchr(target, ':') + 1), 0),
	    -1);
	peer_fini(&sh.p);
}
END_TEST

static int
stalled(void *arg)
{
	struct evs_listener_stats ls;

	(void)arg;
	evs_server_listener_stats(srv, &ls, 1);
	return ls.closed_by[EVS_CLOSED_STALL] == 1;
}

/* A peer that sends and never reads: echo stops reading at the sendq,
   and the stall timeout closes it once its output has not moved; set
   while the connection is already stuck, it applies to it too. */
START_TEST(test_server_stall_timeout_closes)
{
	struct evs_listener_stats ls;
	char chunk[4096];
	int fd, full = 0;

	ck_assert_int_eq(evs_server_get(srv, EVS_OPT_STALL_TIMEOUT_MS), 0);
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_SENDQ, 4096), 0);
	fd = harness_connect(evs_listener_port(first_listener), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	memset(chunk, 's', sizeof(chunk));
	/* Until nothing more goes in while the server gets its turns. */
	for (int i = 0; i < 20000 && full < 50; i++) {
		if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0)
			full = 0;
		else
			full++;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_STALL_TIMEOUT_MS, 200), 0);
	ck_assert_int_eq(evs_server_get(srv, EVS_OPT_STALL_TIMEOUT_MS), 200);
	ck_assert(harness_loop_until(base, stalled, NULL, 10000));
	evs_server_listener_stats(srv, &ls, 1);
	ck_assert_uint_eq(ls.closed, 1);
	ck_assert_uint_eq(ls.current, 0);
	ck_assert_str_eq(evs_close_cause_name(EVS_CLOSED_STALL), "stall");
	ck_assert_ptr_null(evs_close_cause_name(EVS_CLOSED_COUNT));
	close(fd);
}
END_TEST

/* Counters belong to the address and service: a listener opened again
   there continues them; another server has its own. */
START_TEST(test_server_listener_stats_continue)
{
	struct evs_listener_stats ls[2];
	struct evs_listener *l;
	struct evs_server *other;
	struct peer p;

	peer_init(&p, 100, 9);
	evs_client_connect(p.cl, target, 5000);
	ck_assert(harness_loop_until(base, peer_done, &p, 10000));
	peer_fini(&p);
	evs_listener_free(first_listener);
	ck_assert_uint_eq(evs_server_listener_stats(srv, ls, 2), 1);
	ck_assert_int_eq(ls[0].listening, 0);
	ck_assert_uint_eq(ls[0].accepted, 1);
	ck_assert_uint_eq(ls[0].bytes_in, 100);
	ck_assert_uint_eq(ls[0].bytes_out, 100);
	l = evs_server_listen(srv, target, evs_echo_service(), NULL, NULL, 0);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(evs_server_listener_stats(srv, ls, 2), 1);
	ck_assert_int_eq(ls[0].listening, 1);
	ck_assert_uint_eq(ls[0].accepted, 1);

	other = evs_server_new(base);
	ck_assert_ptr_nonnull(other);
	ck_assert_uint_eq(evs_server_listener_stats(other, ls, 2), 0);
	evs_server_free(other);
}
END_TEST

static Suite *
server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc;

	tc = tcase_create("echo");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_server_echo_binary_odd_chunks);
	tcase_add_test(tc, test_server_echo_500_clients);
	tcase_add_test(tc, test_server_half_close_flushes);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_server_max_clients_refuses_with_line);
	tcase_add_test(tc, test_server_open_refuses);
	tcase_add_test(tc, test_server_cork_gathers_then_flushes);
	tcase_add_test(tc, test_server_cork_budget_delivers_all);
	tcase_add_test(tc, test_server_cork_shared_messages_in_order);
	tcase_add_test(tc, test_server_cork_split_flush_delivers_all);
	tcase_add_test(tc, test_server_last_words_after_reset);
	tcase_add_test(tc, test_server_listen_errors);
	tcase_add_test(tc, test_server_stall_timeout_closes);
	tcase_add_test(tc, test_server_listener_stats_continue);
	suite_add_tcase(s, tc);
	tc = tcase_create("shutdown");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_server_shutdown_flushes_and_finishes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(server_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
