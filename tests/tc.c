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

#include "harness.h"
#include "tc.h"

#define TC_WAIT_MS 10000
#define TC_MAX 64

static struct event_base *tc_base;
static struct evs_listener *tc_lst;
static struct tc *tc_all[TC_MAX];
static int tc_n;
static unsigned tc_seq;

static void
tc_read_cb(struct bufferevent *bev, void *arg)
{
	struct tc *t = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 64;
			t->lines = realloc(t->lines,
			    t->cap * sizeof(*t->lines));
			ck_assert_ptr_nonnull(t->lines);
		}
		t->lines[t->n++] = line;
	}
}

static void
tc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tc *t = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		tc_read_cb(bev, t);
		t->eof = 1;
		if (!t->hold)
			shutdown(bufferevent_getfd(bev), SHUT_WR);
		bufferevent_disable(bev, EV_READ | EV_WRITE);
	}
}

static struct event_base *tc_fix_base;
static struct evs_server *tc_fix_srv;
static struct evs_chat *tc_fix_chat;

void
tc_chat_setup(void)
{
	struct evs_listener *lst;
	char err[256];

	tc_fix_base = event_base_new();
	ck_assert_ptr_nonnull(tc_fix_base);
	tc_fix_srv = evs_server_new(tc_fix_base);
	ck_assert_ptr_nonnull(tc_fix_srv);
	tc_fix_chat = evs_chat_new(tc_fix_srv);
	ck_assert_ptr_nonnull(tc_fix_chat);
	ck_assert_int_eq(evs_chat_set(tc_fix_chat, EVS_CHAT_FLOOD_RATE, 0), 0);
	lst = evs_server_listen(tc_fix_srv, "127.0.0.1:0", evs_chat_service(),
	    tc_fix_chat, err, sizeof(err));
	ck_assert_msg(lst != NULL, "listen: %s", err);
	tc_begin(tc_fix_base, lst);
}

void
tc_chat_teardown(void)
{
	tc_end();
	evs_server_free(tc_fix_srv);
	evs_chat_free(tc_fix_chat);
	event_base_free(tc_fix_base);
	tc_fix_srv = NULL;
	tc_fix_chat = NULL;
	tc_fix_base = NULL;
}

struct evs_chat *
tc_chat(void)
{
	return tc_fix_chat;
}

void
tc_begin(struct event_base *base, struct evs_listener *lst)
{
	tc_base = base;
	tc_lst = lst;
	tc_n = 0;
}

void
tc_end(void)
{
	for (int i = 0; i < tc_n; i++) {
		struct tc *t = tc_all[i];

		bufferevent_free(t->bev);
		for (size_t j = 0; j < t->n; j++)
			free(t->lines[j]);
		free(t->lines);
		free(t);
	}
	tc_n = 0;
}

struct tc *
tc_connect(void)
{
	struct tc *t = calloc(1, sizeof(*t));
	socklen_t len;
	const struct sockaddr *sa = evs_listener_addr(tc_lst, &len);
	evutil_socket_t fd;
	int one = 1;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_lt(tc_n, TC_MAX);
	fd = socket(sa->sa_family, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	                     sizeof(one)),
	    0);
	evutil_make_socket_nonblocking(fd);
	t->bev = bufferevent_socket_new(tc_base, fd, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(t->bev);
	bufferevent_setcb(t->bev, tc_read_cb, NULL, tc_event_cb, t);
	bufferevent_enable(t->bev, EV_READ | EV_WRITE);
	ck_assert_int_eq(bufferevent_socket_connect(t->bev, sa, (int)len), 0);
	tc_all[tc_n++] = t;
	return t;
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

const char *
tc_wait(struct tc *t, const char *needle)
{
	struct tc_want w = { t, needle, NULL };

	if (!harness_loop_until(tc_base, tc_has, &w, TC_WAIT_MS)) {
		for (size_t i = 0; i < t->n; i++)
			fprintf(stderr, "  %s got: %s\n", t->nick, t->lines[i]);
		ck_abort_msg("%s: no line with \"%s\"", t->nick, needle);
	}
	return w.found;
}

void
tc_expect(struct tc *t, const char *needle, const char *line)
{
	ck_assert_str_eq(tc_wait(t, needle), line);
}

void
tc_sync(struct tc *t)
{
	char token[64];

	snprintf(token, sizeof(token), "sync%u", ++tc_seq);
	tc_send(t, "PING :%s", token);
	tc_wait(t, token);
}

int
tc_seen(struct tc *t, const char *needle)
{
	struct tc_want w = { t, needle, NULL };
	size_t pos = t->pos;
	int r = tc_has(&w);

	t->pos = pos;
	return r;
}

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
	ck_assert_msg(harness_loop_until(tc_base, tc_eof, t, TC_WAIT_MS),
	    "%s: not closed", t->nick);
}

struct tc *
tc_register(const char *nick)
{
	struct tc *t = tc_connect();

	snprintf(t->nick, sizeof(t->nick), "%s", nick);
	tc_send(t, "NICK %s", nick);
	tc_send(t, "USER %s 0 * :Real %s", nick, nick);
	tc_wait(t, " 001 ");
	tc_wait(t, " 422 ");
	return t;
}

void
tc_join(struct tc *t, const char *chan)
{
	char want[128];

	tc_send(t, "JOIN %s", chan);
	snprintf(want, sizeof(want), " 366 %s %s ", t->nick, chan);
	tc_wait(t, want);
}
