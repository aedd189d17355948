/*
 * A test IRC client for the chat suites: a bufferevent on the test's
 * event_base that collects the lines it receives, with waits bounded
 * by WAIT_MS, and the fixture that starts a chat server on 127.0.0.1
 * port 0.  A line that must NOT arrive is disproved by a PING round
 * trip (everything the server sent before its PONG has arrived).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chattc.h"
#include "harness.h"

struct event_base *base;
struct evs_server *srv;
struct evs_chat *chat;
struct evs_listener *lst;
struct tc *clients[MAX_CLIENTS];
int nclients;
static unsigned sync_seq;

static void
tc_read_cb(struct bufferevent *bev, void *arg)
{
	struct tc *t = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) !=
	    NULL) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 64;
			t->lines = realloc(t->lines, t->cap * sizeof(*t->lines));
			ck_assert_ptr_nonnull(t->lines);
		}
		t->lines[t->n++] = line;
		if (t->autopong && strncmp(line, ":evsockd PING ", 14) == 0) {
			evbuffer_add_printf(bufferevent_get_output(bev),
			    "PONG %s\r\n", line + 14);
		}
	}
}

static void
tc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tc *t = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		tc_read_cb(bev, t);
		t->eof = 1;
		/* Like a real client: the server closed, so do we. */
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		bufferevent_disable(bev, EV_READ | EV_WRITE);
	}
}

/* A connected, unregistered client; rcvbuf > 0 sets SO_RCVBUF before
   connecting. */
struct tc *
tc_connect_rcvbuf(int rcvbuf)
{
	struct tc *t = calloc(1, sizeof(*t));
	socklen_t len;
	const struct sockaddr *sa = evs_listener_addr(lst, &len);
	evutil_socket_t fd;
	int one = 1;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_lt(nclients, MAX_CLIENTS);
	fd = socket(sa->sa_family, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	if (rcvbuf > 0)
		ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf)), 0);
	/* Without it, Nagle and the server's delayed ACK add 40 ms to
	   each round trip. */
	ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)), 0);
	evutil_make_socket_nonblocking(fd);
	t->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(t->bev);
	bufferevent_setcb(t->bev, tc_read_cb, NULL, tc_event_cb, t);
	bufferevent_enable(t->bev, EV_READ | EV_WRITE);
	ck_assert_int_eq(bufferevent_socket_connect(t->bev, sa, (int)len), 0);
	clients[nclients++] = t;
	return t;
}

struct tc *
tc_connect(void)
{
	return tc_connect_rcvbuf(0);
}

void
tc_send(struct tc *t, const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *out = bufferevent_get_output(t->bev);

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

void
tc_send_raw(struct tc *t, const void *data, size_t len)
{
	bufferevent_write(t->bev, data, len);
}

struct tc_want {
	struct tc *t;
	const char *needle;
	const char *found;
};

static int
tc_has(void *arg)
{
	struct tc_want *w = arg;
	struct tc *t = w->t;

	for (size_t i = t->pos; i < t->n; i++) {
		if (strstr(t->lines[i], w->needle) != NULL) {
			w->found = t->lines[i];
			t->pos = i + 1;
			return 1;
		}
	}
	return 0;
}

/* Waits for a line containing needle (after those already consumed);
   returns it.  Fails the test after WAIT_MS. */
const char *
tc_wait(struct tc *t, const char *needle)
{
	struct tc_want w = { t, needle, NULL };

	if (!harness_loop_until(base, tc_has, &w, WAIT_MS)) {
		for (size_t i = 0; i < t->n; i++)
			fprintf(stderr, "  %s got: %s\n", t->nick,
			    t->lines[i]);
		ck_abort_msg("%s: no line with \"%s\"", t->nick, needle);
	}
	return w.found;
}

/* Like tc_wait, but the line must also equal `line` exactly. */
void
tc_expect(struct tc *t, const char *needle, const char *line)
{
	ck_assert_str_eq(tc_wait(t, needle), line);
}

/* A PING round trip: afterwards everything the server sent t before
   answering has arrived. */
void
tc_sync(struct tc *t)
{
	char token[64];

	snprintf(token, sizeof(token), "sync%u", ++sync_seq);
	tc_send(t, "PING :%s", token);
	tc_wait(t, token);
}

/* Returns 1 if a line not yet consumed contains needle (no waiting). */
int
tc_seen(struct tc *t, const char *needle)
{
	struct tc_want w = { t, needle, NULL };
	size_t pos = t->pos;
	int r = tc_has(&w);

	t->pos = pos;
	return r;
}

/* Counts unconsumed lines containing needle and consumes them all. */
size_t
tc_count(struct tc *t, const char *needle)
{
	size_t c = 0;

	for (; t->pos < t->n; t->pos++)
		if (strstr(t->lines[t->pos], needle) != NULL)
			c++;
	return c;
}

static int
tc_eof(void *arg)
{
	return ((struct tc *)arg)->eof;
}

void
tc_wait_eof(struct tc *t)
{
	ck_assert_msg(harness_loop_until(base, tc_eof, t, WAIT_MS),
	    "%s: not closed", t->nick);
}

/* A registered client: NICK, USER, the whole welcome burst. */
struct tc *
tc_register_rcvbuf(const char *nick, int rcvbuf)
{
	struct tc *t = tc_connect_rcvbuf(rcvbuf);

	snprintf(t->nick, sizeof(t->nick), "%s", nick);
	tc_send(t, "NICK %s", nick);
	tc_send(t, "USER %s 0 * :Real %s", nick, nick);
	tc_wait(t, " 001 ");
	tc_wait(t, " 422 ");
	return t;
}

struct tc *
tc_register(const char *nick)
{
	return tc_register_rcvbuf(nick, 0);
}

void
tc_join(struct tc *t, const char *chan)
{
	char want[128];

	tc_send(t, "JOIN %s", chan);
	snprintf(want, sizeof(want), " 366 %s %s ", t->nick, chan);
	tc_wait(t, want);
}

void
tc_free(struct tc *t)
{
	bufferevent_free(t->bev);
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i]);
	free(t->lines);
	free(t);
}

void
chattc_setup(void)
{
	char err[256];

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	srv = evs_server_new(base);
	ck_assert_ptr_nonnull(srv);
	chat = evs_chat_new(srv);
	ck_assert_ptr_nonnull(chat);
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_FLOOD_RATE, 0), 0);
	lst = evs_server_listen(srv, "127.0.0.1:0", evs_chat_service(), chat,
	    err, sizeof(err));
	ck_assert_msg(lst != NULL, "listen: %s", err);
	nclients = 0;
}

void
chattc_teardown(void)
{
	for (int i = 0; i < nclients; i++)
		tc_free(clients[i]);
	nclients = 0;
	evs_server_free(srv);
	evs_chat_free(chat);
	event_base_free(base);
}

