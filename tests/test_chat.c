/*
 * Integration: the chat service and several IRC clients on one
 * event_base over loopback, port 0.  A client here is a bufferevent
 * that collects the lines it receives; a test waits for the line it
 * expects, and proves that a line did NOT arrive by a PING round trip
 * (everything the server sent before its PONG has arrived).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <evsock/evsock.h>

#include "harness.h"

#define WAIT_MS 10000
#define IRC_MAX 512 /* the default line limit, CRLF included */
#define MAX_CLIENTS 256

struct tc {
	struct bufferevent *bev;
	char **lines;
	size_t n, cap;
	size_t pos; /* lines before this were consumed by a wait */
	int eof;
	int autopong; /* answer the server's PINGs */
	char nick[32];
};

static struct event_base *base;
static struct evs_server *srv;
static struct evs_chat *chat;
static struct evs_listener *lst;
static struct tc *clients[MAX_CLIENTS];
static int nclients;
static unsigned sync_seq;

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
static struct tc *
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
		                     sizeof(rcvbuf)),
		    0);
	/* Without it, Nagle and the server's delayed ACK add 40 ms to
	   each round trip. */
	ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	                     sizeof(one)),
	    0);
	evutil_make_socket_nonblocking(fd);
	t->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(t->bev);
	bufferevent_setcb(t->bev, tc_read_cb, NULL, tc_event_cb, t);
	bufferevent_enable(t->bev, EV_READ | EV_WRITE);
	ck_assert_int_eq(bufferevent_socket_connect(t->bev, sa, (int)len), 0);
	clients[nclients++] = t;
	return t;
}

static struct tc *
tc_connect(void)
{
	return tc_connect_rcvbuf(0);
}

static void tc_send(struct tc *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void
tc_send(struct tc *t, const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *out = bufferevent_get_output(t->bev);

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
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
static const char *
tc_wait(struct tc *t, const char *needle)
{
	struct tc_want w = { t, needle, NULL };

	if (!harness_loop_until(base, tc_has, &w, WAIT_MS)) {
		for (size_t i = 0; i < t->n; i++)
			fprintf(stderr, "  %s got: %s\n", t->nick, t->lines[i]);
		ck_abort_msg("%s: no line with \"%s\"", t->nick, needle);
	}
	return w.found;
}

/* Like tc_wait, but the line must also equal `line` exactly. */
static void
tc_expect(struct tc *t, const char *needle, const char *line)
{
	ck_assert_str_eq(tc_wait(t, needle), line);
}

/* A PING round trip: afterwards everything the server sent t before
   answering has arrived. */
static void
tc_sync(struct tc *t)
{
	char token[64];

	snprintf(token, sizeof(token), "sync%u", ++sync_seq);
	tc_send(t, "PING :%s", token);
	tc_wait(t, token);
}

/* Returns 1 if a line not yet consumed contains needle (no waiting). */
static int
tc_seen(struct tc *t, const char *needle)
{
	struct tc_want w = { t, needle, NULL };
	size_t pos = t->pos;
	int r = tc_has(&w);

	t->pos = pos;
	return r;
}

/* Counts unconsumed lines containing needle and consumes them all. */
static size_t
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

static void
tc_wait_eof(struct tc *t)
{
	ck_assert_msg(harness_loop_until(base, tc_eof, t, WAIT_MS),
	    "%s: not closed", t->nick);
}

/* A registered client: NICK, USER, the whole welcome burst. */
static struct tc *
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

static struct tc *
tc_register(const char *nick)
{
	return tc_register_rcvbuf(nick, 0);
}

static void
tc_join(struct tc *t, const char *chan)
{
	char want[128];

	tc_send(t, "JOIN %s", chan);
	snprintf(want, sizeof(want), " 366 %s %s ", t->nick, chan);
	tc_wait(t, want);
}

static void
tc_free(struct tc *t)
{
	bufferevent_free(t->bev);
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i]);
	free(t->lines);
	free(t);
}

static void
setup(void)
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

static void
teardown(void)
{
	for (int i = 0; i < nclients; i++)
		tc_free(clients[i]);
	nclients = 0;
	evs_server_free(srv);
	evs_chat_free(chat);
	event_base_free(base);
}

/* Registration. */

START_TEST(test_chat_register_burst)
{
	struct tc *a = tc_connect();

	strcpy(a->nick, "alice");
	tc_send(a, "NICK alice");
	tc_send(a, "USER alice 0 * :Alice Liddell");
	tc_expect(a, " 001 ",
	    ":evsockd 001 alice :Welcome to the evsockd "
	    "Network, alice!alice@127.0.0.1");
	tc_expect(a, " 002 ",
	    ":evsockd 002 alice :Your host is evsockd, "
	    "running version evsockd-" EVS_VERSION);
	tc_wait(a, ":evsockd 003 alice :This server was created ");
	tc_expect(a, " 004 ",
	    ":evsockd 004 alice evsockd evsockd-" EVS_VERSION
	    " iow CIbeiklmnostv beIklov");
	tc_wait(a, ":evsockd 005 alice AWAYLEN=200 CASEMAPPING=ascii ");
	tc_wait(a, " PREFIX=(ov)@+ ");
	tc_expect(a, " 251 ",
	    ":evsockd 251 alice :There are 1 users and 0 "
	    "invisible on 1 servers");
	tc_expect(a, " 254 ", ":evsockd 254 alice 0 :channels formed");
	tc_expect(a, " 255 ",
	    ":evsockd 255 alice :I have 1 clients and 0 "
	    "servers");
	tc_expect(a, " 265 ",
	    ":evsockd 265 alice 1 1 :Current local users "
	    "1, max 1");
	tc_expect(a, " 266 ",
	    ":evsockd 266 alice 1 1 :Current global users "
	    "1, max 1");
	tc_expect(a, " 422 ", ":evsockd 422 alice :MOTD File is missing");
}
END_TEST

/* irssi: CAP LS 302 and "JOIN :" before NICK/USER; CAP END last. */
START_TEST(test_chat_register_cap)
{
	struct tc *a = tc_connect();

	strcpy(a->nick, "irssi");
	tc_send(a, "CAP LS 302");
	tc_send(a, "JOIN :");
	tc_send(a, "NICK irssi");
	tc_send(a, "USER irssi irssi 127.0.0.1 :Irssi User");
	tc_expect(a, " CAP ",
	    ":evsockd CAP * LS :away-notify batch cap-notify "
	    "draft/chathistory echo-message invite-notify labeled-response "
	    "message-tags multi-prefix server-time setname "
	    "userhost-in-names");
	tc_expect(a, " 451 ", ":evsockd 451 * :You have not registered");
	tc_sync(a);
	ck_assert(!tc_seen(a, " 001 "));
	tc_send(a, "CAP REQ :multi-prefix bogus");
	tc_expect(a, " CAP ", ":evsockd CAP irssi NAK :multi-prefix bogus");
	tc_send(a, "CAP REQ :multi-prefix");
	tc_expect(a, " CAP ", ":evsockd CAP irssi ACK :multi-prefix");
	tc_send(a, "CAP END");
	tc_expect(a, " 001 ",
	    ":evsockd 001 irssi :Welcome to the evsockd "
	    "Network, irssi!irssi@127.0.0.1");
	tc_wait(a, " 422 ");
	tc_send(a, "CAP BOGUS");
	tc_expect(a, " 410 ", ":evsockd 410 irssi BOGUS :Invalid CAP command");
	/* irssi sets +i right after 001; LUSERS counts it as invisible. */
	tc_send(a, "MODE irssi +i");
	tc_expect(a, " MODE ", ":irssi!irssi@127.0.0.1 MODE irssi +i");
	tc_send(a, "LUSERS");
	tc_expect(a, " 251 ",
	    ":evsockd 251 irssi :There are 0 users and 1 "
	    "invisible on 1 servers");
	tc_send(a, "MODE irssi -i");
	tc_expect(a, " MODE ", ":irssi!irssi@127.0.0.1 MODE irssi -i");
	tc_send(a, "LUSERS");
	tc_expect(a, " 251 ",
	    ":evsockd 251 irssi :There are 1 users and 0 "
	    "invisible on 1 servers");
}
END_TEST

START_TEST(test_chat_register_motd)
{
	struct tc *a;

	ck_assert_int_eq(evs_chat_set_motd(chat, "first line\r\nsecond"), 0);
	ck_assert_int_eq(evs_chat_set_server_name(chat, "irc.test"), 0);
	a = tc_connect();
	strcpy(a->nick, "m");
	tc_send(a, "NICK m");
	tc_send(a, "USER m 0 * :m");
	tc_expect(a, " 375 ",
	    ":irc.test 375 m :- irc.test Message of the day"
	    " - ");
	tc_expect(a, " 372 ", ":irc.test 372 m :- first line");
	tc_expect(a, " 372 ", ":irc.test 372 m :- second");
	tc_expect(a, " 376 ", ":irc.test 376 m :End of /MOTD command.");
	tc_send(a, "MOTD");
	tc_wait(a, " 375 ");
	tc_wait(a, " 376 ");
}
END_TEST

START_TEST(test_chat_register_password)
{
	struct tc *good, *bad, *none;

	ck_assert_int_eq(evs_chat_set_password(chat, "s3cret"), 0);
	good = tc_connect();
	tc_send(good, "PASS s3cret");
	tc_send(good, "NICK good");
	tc_send(good, "USER good 0 * :g");
	tc_wait(good, " 001 good ");

	bad = tc_connect();
	tc_send(bad, "PASS s3cre");
	tc_send(bad, "NICK bad");
	tc_send(bad, "USER bad 0 * :b");
	tc_expect(bad, " 464 ", ":evsockd 464 bad :Password incorrect");
	tc_expect(bad, "ERROR",
	    "ERROR :Closing Link: 127.0.0.1 (Bad "
	    "Password)");
	tc_wait_eof(bad);
	ck_assert(!tc_seen(bad, " 001 "));

	none = tc_connect();
	tc_send(none, "NICK none");
	tc_send(none, "USER none 0 * :n");
	tc_wait(none, " 464 ");
	tc_wait_eof(none);
}
END_TEST

START_TEST(test_chat_register_timeout)
{
	struct tc *a;

	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_REG_TIMEOUT_MS, 200), 0);
	a = tc_connect();
	tc_send(a, "NICK slow");
	tc_expect(a, "ERROR",
	    "ERROR :Closing Link: 127.0.0.1 (Registration "
	    "timed out)");
	tc_wait_eof(a);
}
END_TEST

static time_t second_seen;

static int
second_changed(void *arg)
{
	(void)arg;
	return time(NULL) != second_seen;
}

static int
late_in_second(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_nsec >= 960000000L;
}

/* The registration deadline counts milliseconds: a client accepted
   just before a wall-clock second turns and registering just after is
   well inside a one-second timeout. */
START_TEST(test_chat_register_deadline_exact)
{
	struct tc *a;

	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_REG_TIMEOUT_MS, 1000), 0);
	ck_assert(harness_loop_until(base, late_in_second, NULL, WAIT_MS));
	a = tc_connect();
	strcpy(a->nick, "edge");
	tc_send(a, "CAP LS");
	tc_wait(a, " CAP ");
	second_seen = time(NULL);
	ck_assert(harness_loop_until(base, second_changed, NULL, WAIT_MS));
	tc_send(a, "CAP END");
	tc_send(a, "NICK edge");
	tc_send(a, "USER edge 0 * :edge");
	tc_wait(a, " 001 edge ");
}
END_TEST

START_TEST(test_chat_register_twice)
{
	struct tc *a = tc_register("a");

	tc_send(a, "USER a 0 * :again");
	tc_expect(a, " 462 ", ":evsockd 462 a :You may not reregister");
	tc_send(a, "PASS x");
	tc_wait(a, " 462 a ");
}
END_TEST

/* Errors. */

START_TEST(test_chat_error_not_registered)
{
	struct tc *a = tc_connect();

	tc_send(a, "PRIVMSG #c :hi");
	tc_expect(a, " 451 ", ":evsockd 451 * :You have not registered");
	tc_send(a, "NICK early");
	tc_send(a, "JOIN #c");
	tc_expect(a, " 451 ", ":evsockd 451 early :You have not registered");
	tc_send(a, "FOO");
	tc_wait(a, " 451 early ");
}
END_TEST

START_TEST(test_chat_error_unknown_command)
{
	struct tc *a = tc_register("a");

	tc_send(a, "FROBNICATE x y");
	tc_expect(a, " 421 ", ":evsockd 421 a FROBNICATE :Unknown command");
	tc_send(a, "frob");
	tc_expect(a, " 421 ", ":evsockd 421 a FROB :Unknown command");
}
END_TEST

START_TEST(test_chat_error_nick)
{
	struct tc *a = tc_register("Alice"), *b = tc_connect();

	tc_send(b, "NICK aLICE");
	tc_expect(b, " 433 ",
	    ":evsockd 433 * aLICE :Nickname is already in "
	    "use");
	tc_send(b, "NICK 9lives");
	tc_expect(b, " 432 ", ":evsockd 432 * 9lives :Erroneus nickname");
	tc_send(b, "NICK a:b");
	tc_wait(b, " 432 * a:b ");
	tc_send(b, "NICK");
	tc_expect(b, " 431 ", ":evsockd 431 * :No nickname given");
	tc_send(b, "NICK bob");
	tc_send(b, "USER bob 0 * :Bob");
	tc_wait(b, " 001 bob ");
	strcpy(b->nick, "bob");
	tc_send(b, "NICK ALICE");
	tc_expect(b, " 433 ",
	    ":evsockd 433 bob ALICE :Nickname is already "
	    "in use");
	/* A nick freed by QUIT can be taken again (once b has seen the
	   QUIT, the server has forgotten a). */
	tc_join(a, "#q");
	tc_join(b, "#q");
	tc_send(a, "QUIT");
	tc_wait(b, ":Alice!Alice@127.0.0.1 QUIT :Client Quit");
	tc_sync(b);
	tc_send(b, "NICK alice");
	tc_expect(b, " NICK ", ":bob!bob@127.0.0.1 NICK :alice");
}
END_TEST

START_TEST(test_chat_error_no_such)
{
	struct tc *a = tc_register("a");

	tc_send(a, "PRIVMSG ghost :boo");
	tc_expect(a, " 401 ", ":evsockd 401 a ghost :No such nick/channel");
	tc_send(a, "PRIVMSG #nowhere :boo");
	tc_expect(a, " 401 ",
	    ":evsockd 401 a #nowhere :No such "
	    "nick/channel");
	tc_send(a, "PART #nowhere");
	tc_expect(a, " 403 ", ":evsockd 403 a #nowhere :No such channel");
	tc_send(a, "JOIN nochan");
	tc_expect(a, " 403 ", ":evsockd 403 a nochan :No such channel");
	tc_send(a, "TOPIC #nowhere");
	tc_wait(a, " 403 a #nowhere ");
	tc_send(a, "MODE #nowhere");
	tc_wait(a, " 403 a #nowhere ");
	tc_send(a, "WHOIS ghost");
	tc_wait(a, " 401 a ghost ");
	tc_expect(a, " 318 ", ":evsockd 318 a ghost :End of /WHOIS list");
	/* NOTICE never answers with an error. */
	tc_send(a, "NOTICE ghost :boo");
	tc_sync(a);
	ck_assert(!tc_seen(a, " 401 "));
}
END_TEST

START_TEST(test_chat_error_not_on_channel)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#c");
	tc_send(b, "PART #c");
	tc_expect(b, " 442 ",
	    ":evsockd 442 b #c :You're not on that "
	    "channel");
	tc_send(b, "TOPIC #c :mine");
	tc_wait(b, " 442 b #c ");
	tc_send(b, "KICK #c a");
	tc_wait(b, " 442 b #c ");
	/* +n: outsiders cannot talk to the channel. */
	tc_send(b, "PRIVMSG #c :hello?");
	tc_expect(b, " 404 ", ":evsockd 404 b #c :Cannot send to channel");
}
END_TEST

START_TEST(test_chat_error_not_operator)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(b, "TOPIC #c :mine");
	tc_expect(b, " 482 ",
	    ":evsockd 482 b #c :You're not channel "
	    "operator");
	tc_send(b, "KICK #c a");
	tc_wait(b, " 482 b #c ");
	tc_send(b, "MODE #c +o b");
	tc_wait(b, " 482 b #c ");
	tc_send(b, "MODE #c -t");
	tc_wait(b, " 482 b #c ");
	tc_sync(a);
	ck_assert(!tc_seen(a, " MODE "));
}
END_TEST

START_TEST(test_chat_error_need_more_params)
{
	struct tc *a = tc_register("a");

	tc_send(a, "JOIN");
	tc_expect(a, " 461 ", ":evsockd 461 a JOIN :Not enough parameters");
	tc_send(a, "JOIN :");
	tc_wait(a, " 461 a JOIN ");
	tc_send(a, "USER x");
	tc_wait(a, " 461 a USER ");
	tc_send(a, "KICK #c");
	tc_wait(a, " 461 a KICK ");
	tc_send(a, "PRIVMSG");
	tc_expect(a, " 411 ", ":evsockd 411 a :No recipient given (PRIVMSG)");
	tc_send(a, "PRIVMSG a");
	tc_expect(a, " 412 ", ":evsockd 412 a :No text to send");
}
END_TEST

START_TEST(test_chat_error_overlong)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	char big[700];

	tc_join(a, "#c");
	tc_join(b, "#c");
	memset(big, 'x', sizeof(big));
	tc_send_raw(a, "PRIVMSG #c :", 12);
	tc_send_raw(a, big, sizeof(big));
	tc_send_raw(a, "\r\nPRIVMSG #c :after\r\n", 21);
	tc_expect(a, " 417 ", ":evsockd 417 a :Input line was too long");
	tc_expect(b, "PRIVMSG", ":a!a@127.0.0.1 PRIVMSG #c :after");
	tc_sync(a);
	/* The longest line that fits, 510 bytes + CRLF, is accepted. */
	memset(big, 'y', 510 - 12);
	tc_send_raw(a, "PRIVMSG #c :", 12);
	tc_send_raw(a, big, 510 - 12);
	tc_send_raw(a, "\r\n", 2);
	tc_wait(b, "yyyyyyyy");
	tc_sync(a);
	ck_assert(!tc_seen(a, " 417 "));
}
END_TEST

/* A client's own prefix is ignored: the server builds every prefix. */
START_TEST(test_chat_error_client_prefix_ignored)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, ":evil!x@forged.example PRIVMSG #c :spoof");
	tc_expect(b, "spoof", ":a!a@127.0.0.1 PRIVMSG #c :spoof");
	tc_send(a, "@tag=1 :b!b@127.0.0.1 PRIVMSG #c :tagged");
	tc_expect(b, "tagged", ":a!a@127.0.0.1 PRIVMSG #c :tagged");
}
END_TEST

START_TEST(test_chat_error_nul_and_bad_utf8)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	static const char nul[] = "PRIVMSG #c :before\0after\r\n";
	static const char bad[] = "PRIVMSG #c :\xff\xfe\xc3(\r\n";
	static const char cr[] = "PRIVMSG #c :x\r:evsockd 001 b :fake\r\n";

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send_raw(a, nul, sizeof(nul) - 1);
	tc_send_raw(a, cr, sizeof(cr) - 1);
	tc_send_raw(a, bad, sizeof(bad) - 1);
	tc_send(a, "PRIVMSG #c :still here");
	tc_expect(b, "PRIVMSG", ":a!a@127.0.0.1 PRIVMSG #c :\xff\xfe\xc3(");
	tc_expect(b, "PRIVMSG", ":a!a@127.0.0.1 PRIVMSG #c :still here");
	tc_sync(a);
	tc_sync(b);
	ck_assert(!tc_seen(b, "fake"));
}
END_TEST

/* Relaying. */

START_TEST(test_chat_relay_channel)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c"), *d = tc_register("d");

	tc_join(a, "#one");
	tc_join(b, "#one");
	tc_join(c, "#one");
	tc_join(d, "#two");
	tc_expect(a, "JOIN", ":b!b@127.0.0.1 JOIN #one");
	tc_send(a, "PRIVMSG #ONE :hello one");
	tc_expect(b, "hello one", ":a!a@127.0.0.1 PRIVMSG #one :hello one");
	tc_expect(c, "hello one", ":a!a@127.0.0.1 PRIVMSG #one :hello one");
	tc_send(a, "NOTICE #one :note");
	tc_expect(b, "note", ":a!a@127.0.0.1 NOTICE #one :note");
	tc_sync(a);
	tc_sync(b);
	tc_sync(c);
	tc_sync(d);
	ck_assert(!tc_seen(a, "hello one"));
	ck_assert(!tc_seen(d, "hello one"));
	ck_assert_uint_eq(tc_count(b, "hello one"), 0);
}
END_TEST

START_TEST(test_chat_relay_private)
{
	struct tc *a = tc_register("a"), *b = tc_register("Bob");

	tc_send(a, "PRIVMSG bob :psst");
	tc_expect(b, "psst", ":a!a@127.0.0.1 PRIVMSG Bob :psst");
	tc_send(b, "NOTICE A :ok");
	tc_expect(a, " NOTICE ", ":Bob!Bob@127.0.0.1 NOTICE a :ok");
	tc_send(a, "PRIVMSG bob,#none :two");
	tc_wait(b, "two");
	tc_wait(a, " 401 a #none ");
}
END_TEST

/* QUIT reaches each peer once, even one sharing two channels, and
   never a stranger. */
START_TEST(test_chat_relay_quit_once)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");

	tc_join(a, "#x");
	tc_join(a, "#y");
	tc_join(b, "#x");
	tc_join(b, "#y");
	tc_send(a, "QUIT :gone fishing");
	tc_expect(a, "ERROR",
	    "ERROR :Closing Link: 127.0.0.1 (Quit: gone "
	    "fishing)");
	tc_wait_eof(a);
	tc_expect(b, " QUIT ", ":a!a@127.0.0.1 QUIT :Quit: gone fishing");
	tc_sync(b);
	tc_sync(c);
	ck_assert_uint_eq(tc_count(b, " QUIT "), 0);
	ck_assert(!tc_seen(c, " QUIT "));
	/* The channels lost a member but still exist. */
	tc_send(b, "NAMES #x");
	tc_expect(b, " 353 ", ":evsockd 353 b = #x :b");
}
END_TEST

/* A dropped connection (no QUIT) is announced too. */
START_TEST(test_chat_relay_quit_on_drop)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#x");
	tc_join(b, "#x");
	bufferevent_free(a->bev);
	a->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	tc_expect(b, " QUIT ",
	    ":a!a@127.0.0.1 QUIT :Connection closed by "
	    "peer");
}
END_TEST

/* Commands. */

START_TEST(test_chat_cmd_join_part)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_send(a, "JOIN #one,#two");
	tc_expect(a, "JOIN", ":a!a@127.0.0.1 JOIN #one");
	tc_expect(a, " 353 ", ":evsockd 353 a = #one :@a");
	tc_expect(a, " 366 ", ":evsockd 366 a #one :End of /NAMES list");
	tc_expect(a, "JOIN", ":a!a@127.0.0.1 JOIN #two");
	tc_send(b, "JOIN #One");
	tc_expect(b, " 353 ", ":evsockd 353 b = #one :@a b");
	tc_expect(a, "JOIN", ":b!b@127.0.0.1 JOIN #one");
	tc_send(b, "PART #one :see you");
	tc_expect(a, "PART", ":b!b@127.0.0.1 PART #one :see you");
	tc_expect(b, "PART", ":b!b@127.0.0.1 PART #one :see you");
	tc_send(a, "JOIN 0");
	tc_expect(a, "PART", ":a!a@127.0.0.1 PART #one");
	tc_expect(a, "PART", ":a!a@127.0.0.1 PART #two");
	tc_send(a, "LIST");
	tc_wait(a, " 321 ");
	tc_expect(a, " 323 ", ":evsockd 323 a :End of /LIST");
	ck_assert_uint_eq(tc_count(a, " 322 "), 0);
}
END_TEST

START_TEST(test_chat_cmd_names_list)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(b, "NAMES #c,#none");
	tc_expect(b, " 353 ", ":evsockd 353 b = #c :@a b");
	tc_expect(b, " 366 ", ":evsockd 366 b #c :End of /NAMES list");
	tc_expect(b, " 366 ", ":evsockd 366 b #none :End of /NAMES list");
	tc_send(a, "TOPIC #c :the topic");
	tc_wait(b, " TOPIC #c :the topic");
	tc_send(b, "LIST");
	tc_expect(b, " 321 ", ":evsockd 321 b Channel :Users  Name");
	tc_expect(b, " 322 ", ":evsockd 322 b #c 2 :the topic");
	tc_expect(b, " 323 ", ":evsockd 323 b :End of /LIST");
}
END_TEST

START_TEST(test_chat_cmd_topic)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	const char *l;

	tc_join(a, "#c");
	tc_send(a, "TOPIC #c");
	tc_expect(a, " 331 ", ":evsockd 331 a #c :No topic is set");
	tc_send(a, "TOPIC #c :hello world");
	tc_expect(a, " TOPIC ", ":a!a@127.0.0.1 TOPIC #c :hello world");
	tc_send(b, "JOIN #c");
	tc_expect(b, " 332 ", ":evsockd 332 b #c :hello world");
	l = tc_wait(b, " 333 ");
	ck_assert_msg(strncmp(l, ":evsockd 333 b #c a ", 20) == 0, "%s", l);
	tc_expect(a, "JOIN", ":b!b@127.0.0.1 JOIN #c");
	/* -t lets anyone set it. */
	tc_send(a, "MODE #c -t");
	tc_expect(b, " MODE ", ":a!a@127.0.0.1 MODE #c -t");
	tc_send(b, "TOPIC #c :from b");
	tc_expect(a, " TOPIC ", ":b!b@127.0.0.1 TOPIC #c :from b");
}
END_TEST

START_TEST(test_chat_cmd_mode)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	const char *l;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, "MODE #c");
	tc_expect(a, " 324 ", ":evsockd 324 a #c +nt");
	l = tc_wait(a, " 329 ");
	ck_assert_msg(strncmp(l, ":evsockd 329 a #c ", 18) == 0, "%s", l);
	tc_send(a, "MODE #c +o b");
	tc_expect(b, " MODE ", ":a!a@127.0.0.1 MODE #c +o b");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c +o b");
	tc_send(b, "MODE #c -o+t-n a");
	tc_expect(a, " MODE ", ":b!b@127.0.0.1 MODE #c -on a");
	tc_send(a, "MODE #c +x");
	tc_expect(a, " 472 ", ":evsockd 472 a x :is unknown mode char to me");
	tc_send(b, "MODE #c +o ghost");
	tc_wait(b, " 401 b ghost ");
	tc_send(b, "MODE #c b");
	tc_expect(b, " 368 ", ":evsockd 368 b #c :End of channel ban list");
	/* User modes. */
	tc_send(a, "MODE a +i");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE a +i");
	tc_send(a, "MODE a");
	tc_expect(a, " 221 ", ":evsockd 221 a +i");
	tc_send(a, "MODE b +i");
	tc_expect(a, " 502 ",
	    ":evsockd 502 a :Cant change mode for other "
	    "users");
	tc_send(a, "MODE a +z");
	tc_expect(a, " 501 ", ":evsockd 501 a :Unknown MODE flag");
}
END_TEST

START_TEST(test_chat_cmd_kick)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, "KICK #c c");
	tc_expect(a, " 441 ",
	    ":evsockd 441 a c #c :They aren't on that "
	    "channel");
	tc_send(a, "KICK #c b :behave");
	tc_expect(b, " KICK ", ":a!a@127.0.0.1 KICK #c b :behave");
	tc_expect(a, " KICK ", ":a!a@127.0.0.1 KICK #c b :behave");
	tc_send(b, "PRIVMSG #c :still?");
	tc_wait(b, " 404 b #c ");
	tc_send(a, "KICK #c a");
	tc_expect(a, " KICK ", ":a!a@127.0.0.1 KICK #c a :a");
	tc_sync(c);
	ck_assert(!tc_seen(c, " KICK "));
}
END_TEST

START_TEST(test_chat_cmd_who_whois)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	const char *l;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(b, "WHO #c");
	tc_expect(b, " 352 ",
	    ":evsockd 352 b #c a 127.0.0.1 evsockd a H@ :0 "
	    "Real a");
	tc_expect(b, " 352 ",
	    ":evsockd 352 b #c b 127.0.0.1 evsockd b H :0 "
	    "Real b");
	tc_expect(b, " 315 ", ":evsockd 315 b #c :End of WHO list");
	tc_send(b, "WHO a");
	tc_expect(b, " 352 ",
	    ":evsockd 352 b * a 127.0.0.1 evsockd a H :0 "
	    "Real a");
	tc_send(b, "WHOIS A");
	tc_expect(b, " 311 ", ":evsockd 311 b a a 127.0.0.1 * :Real a");
	tc_expect(b, " 319 ", ":evsockd 319 b a :@#c");
	tc_expect(b, " 312 ", ":evsockd 312 b a evsockd :evsock chat");
	l = tc_wait(b, " 317 ");
	ck_assert_msg(strstr(l, ":seconds idle, signon time") != NULL, "%s", l);
	tc_expect(b, " 318 ", ":evsockd 318 b a :End of /WHOIS list");
}
END_TEST

/* Consumes t's unread lines that contain needle; each must fit in
   `max` bytes with its CRLF.  Returns how many there were and adds the
   words of their trailing parameters to *words. */
static size_t
tc_list_lines(struct tc *t, const char *needle, size_t max, size_t *words)
{
	size_t lines = 0;

	for (; t->pos < t->n; t->pos++) {
		const char *l = t->lines[t->pos], *p;

		if (strstr(l, needle) == NULL)
			continue;
		lines++;
		ck_assert_msg(strlen(l) + 2 <= max, "%zu bytes: %s",
		    strlen(l) + 2, l);
		p = strstr(l + 1, " :");
		ck_assert_ptr_nonnull(p);
		for (p += 2; *p != '\0'; p++)
			if (p[0] != ' ' && (p[1] == ' ' || p[1] == '\0'))
				(*words)++;
	}
	return lines;
}

/* NAMES (353) and WHOIS (319) put as many names on a line as the line
   limit allows: several lines at 512 bytes, one when the server's
   limit is raised. */
START_TEST(test_chat_cmd_packed_lists)
{
	enum { NCHANS = 40, NUSERS = 30 };
	struct tc *a, *b;
	char name[64];
	size_t i, words, mark;

	a = tc_register("a");
	for (i = 0; i < NCHANS; i++) {
		snprintf(name, sizeof(name),
		    "#a-rather-long-channel-name-%02zu", i);
		tc_join(a, name);
	}
	for (i = 0; i < NUSERS; i++) {
		snprintf(name, sizeof(name), "nick-of-thirty-characters-%02zu",
		    i);
		tc_join(tc_register(name), "#a-rather-long-channel-name-00");
	}
	tc_sync(a);
	mark = a->pos;
	tc_send(a, "WHOIS a");
	tc_send(a, "NAMES #a-rather-long-channel-name-00");
	tc_sync(a);
	words = 0;
	a->pos = mark;
	ck_assert_uint_ge(tc_list_lines(a, " 319 a a :", IRC_MAX, &words), 2);
	ck_assert_uint_eq(words, NCHANS);
	words = 0;
	a->pos = mark;
	ck_assert_uint_ge(tc_list_lines(a, " 353 a = ", IRC_MAX, &words), 2);
	ck_assert_uint_eq(words, NUSERS + 1);

	/* The limit is read again when a client connects. */
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_MAX_LINE, 4096), 0);
	b = tc_register("b");
	mark = b->pos;
	tc_send(b, "WHOIS a");
	tc_send(b, "NAMES #a-rather-long-channel-name-00");
	tc_sync(b);
	words = 0;
	b->pos = mark;
	ck_assert_uint_eq(tc_list_lines(b, " 319 b a :", 4096, &words), 1);
	ck_assert_uint_eq(words, NCHANS);
	words = 0;
	b->pos = mark;
	ck_assert_uint_eq(tc_list_lines(b, " 353 b = ", 4096, &words), 1);
	ck_assert_uint_eq(words, NUSERS + 1);
}
END_TEST

START_TEST(test_chat_cmd_away)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_send(a, "AWAY :lunch");
	tc_expect(a, " 306 ",
	    ":evsockd 306 a :You have been marked as being "
	    "away");
	tc_send(b, "PRIVMSG a :there?");
	tc_expect(b, " 301 ", ":evsockd 301 b a :lunch");
	tc_send(b, "WHOIS a");
	tc_wait(b, " 301 b a :lunch");
	tc_send(a, "AWAY");
	tc_expect(a, " 305 ",
	    ":evsockd 305 a :You are no longer marked as "
	    "being away");
}
END_TEST

START_TEST(test_chat_cmd_nick_change)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#x");
	tc_join(a, "#y");
	tc_join(b, "#x");
	tc_join(b, "#y");
	tc_send(a, "NICK Zed");
	tc_expect(a, " NICK ", ":a!a@127.0.0.1 NICK :Zed");
	tc_expect(b, " NICK ", ":a!a@127.0.0.1 NICK :Zed");
	tc_sync(b);
	ck_assert_uint_eq(tc_count(b, " NICK "), 0);
	tc_send(a, "PRIVMSG #x :renamed");
	tc_expect(b, "renamed", ":Zed!a@127.0.0.1 PRIVMSG #x :renamed");
	/* The old nick is free again, the new one is taken. */
	tc_send(b, "NICK A");
	tc_expect(b, " NICK ", ":b!b@127.0.0.1 NICK :A");
	tc_send(b, "NICK zed");
	tc_wait(b, " 433 A zed ");
}
END_TEST

START_TEST(test_chat_cmd_info)
{
	struct tc *a = tc_register("a");
	const char *l;

	tc_send(a, "PING :tok en");
	tc_expect(a, " PONG ", ":evsockd PONG evsockd :tok en");
	tc_send(a, "PONG :whatever");
	tc_send(a, "VERSION");
	tc_expect(a, " 351 ",
	    ":evsockd 351 a evsockd-" EVS_VERSION
	    " evsockd :evsock chat service");
	tc_wait(a, " 005 a ");
	tc_send(a, "TIME");
	l = tc_wait(a, " 391 ");
	ck_assert_msg(strncmp(l, ":evsockd 391 a evsockd ", 23) == 0, "%s", l);
	tc_send(a, "LUSERS");
	tc_wait(a, " 251 a ");
	tc_wait(a, " 266 a ");
	tc_send(a, "PING");
	tc_wait(a, " 461 a PING ");
}
END_TEST

/* Timers: PING, Ping timeout, flood delay. */

START_TEST(test_chat_timer_ping)
{
	struct tc *a, *b;

	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_PING_INTERVAL_MS, 150), 0);
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_PING_TIMEOUT_MS, 150), 0);
	a = tc_register("a");
	b = tc_register("b");
	tc_join(a, "#c");
	tc_join(b, "#c");
	/* b answers every PING and so stays. */
	b->autopong = 1;
	tc_expect(a, "PING", ":evsockd PING :evsockd");
	tc_expect(a, "ERROR",
	    "ERROR :Closing Link: 127.0.0.1 (Ping timeout: "
	    "1 seconds)");
	tc_wait_eof(a);
	tc_expect(b, " QUIT ", ":a!a@127.0.0.1 QUIT :Ping timeout: 1 seconds");
	tc_sync(b);
}
END_TEST

START_TEST(test_chat_timer_flood_delays)
{
	struct tc *a;
	uint64_t t0;
	int i;

	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_FLOOD_RATE, 20), 0);
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_FLOOD_BURST, 3), 0);
	a = tc_register("a");
	tc_sync(a);
	t0 = harness_now_ms();
	for (i = 0; i < 10; i++)
		tc_send(a, "PING :n%d", i);
	for (i = 0; i < 10; i++) {
		char tok[16];

		snprintf(tok, sizeof(tok), ":n%d", i);
		tc_wait(a, tok);
	}
	/* Nothing is dropped; the excess over the burst waits its turn:
	   at least ~7 commands at 20/s (the sync may have refilled one). */
	ck_assert_uint_ge(harness_now_ms() - t0, 250);
}
END_TEST

/* Fan-out at scale and a slow reader. */

START_TEST(test_chat_fanout_200)
{
	enum { N = 200, MSGS = 10 };
	struct tc *t[N];
	char nick[16];
	int i, m;

	for (i = 0; i < N; i++) {
		snprintf(nick, sizeof(nick), "u%d", i);
		t[i] = tc_connect();
		snprintf(t[i]->nick, sizeof(t[i]->nick), "%s", nick);
		tc_send(t[i], "NICK %s", nick);
		tc_send(t[i], "USER %s 0 * :%s", nick, nick);
		tc_send(t[i], "JOIN #big");
	}
	for (i = 0; i < N; i++) {
		snprintf(nick, sizeof(nick), " 366 u%d #big ", i);
		tc_wait(t[i], nick);
	}
	for (m = 0; m < MSGS; m++)
		tc_send(t[0], "PRIVMSG #big :message %d", m);
	for (i = 1; i < N; i++) {
		for (m = 0; m < MSGS; m++) {
			char want[64];

			snprintf(want, sizeof(want),
			    ":u0!u0@127.0.0.1 PRIVMSG "
			    "#big :message %d",
			    m);
			tc_expect(t[i], "PRIVMSG", want);
		}
	}
	tc_sync(t[0]);
	ck_assert(!tc_seen(t[0], "PRIVMSG"));
}
END_TEST

/* The most a kernel may buffer for one socket's output. */
static size_t
tcp_wmem_max(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
	unsigned long lo, def, hi = 4UL * 1024 * 1024;

	if (f != NULL) {
		if (fscanf(f, "%lu %lu %lu", &lo, &def, &hi) != 3)
			hi = 4UL * 1024 * 1024;
		fclose(f);
	}
	return hi;
}

START_TEST(test_chat_fanout_sendq)
{
	struct tc *a, *b, *slow;
	char text[400], want[32];
	size_t mark, total = 0, need;
	int i, sent = 0, rcvbuf = 4096;

	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_SENDQ, 64 * 1024), 0);
	ck_assert_int_eq(evs_server_set(srv, EVS_OPT_LINGER_MS, 10000), 0);
	a = tc_register("a");
	b = tc_register("b");
	slow = tc_register_rcvbuf("slow", rcvbuf);
	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_join(slow, "#c");
	tc_sync(a);
	tc_sync(b);
	/* slow, with its small receive buffer, stops reading. */
	bufferevent_disable(slow->bev, EV_READ);
	memset(text, 'z', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	/* More than slow's sendq and every kernel buffer could hold. */
	need = 64 * 1024 + tcp_wmem_max() + 1024 * 1024;
	mark = b->pos;
	while (total < need) {
		for (i = 0; i < 50; i++) {
			tc_send(a, "PRIVMSG #c :%d %s", sent++, text);
			total += sizeof(text) + 40;
		}
		tc_sync(a);
	}
	/* slow, reading again, finds the reason at the end. */
	bufferevent_enable(slow->bev, EV_READ);
	tc_wait_eof(slow);
	ck_assert_str_eq(slow->lines[slow->n - 1],
	    "ERROR :Closing Link: 127.0.0.1 (SendQ exceeded)");
	/* b got every message, in order, and then slow's QUIT. */
	b->pos = mark;
	for (i = 0; i < sent; i++) {
		snprintf(want, sizeof(want), "PRIVMSG #c :%d ", i);
		tc_wait(b, want);
	}
	b->pos = mark;
	tc_wait(b, ":slow!slow@127.0.0.1 QUIT :SendQ exceeded");
	/* And the others go on. */
	tc_send(a, "PRIVMSG #c :after");
	tc_wait(b, "PRIVMSG #c :after");
}
END_TEST

START_TEST(test_chat_shutdown)
{
	struct tc *a = tc_register("a"), *b = tc_connect();

	tc_sync(b);
	ck_assert_int_eq(evs_server_shutdown(srv, 2000, NULL, NULL), 0);
	tc_expect(a, "ERROR", "ERROR :Server shutting down");
	tc_expect(b, "ERROR", "ERROR :Server shutting down");
	tc_wait_eof(a);
	tc_wait_eof(b);
}
END_TEST

static Suite *
chat_suite(void)
{
	Suite *s = suite_create("chat");
	TCase *tc;

	tc = tcase_create("register");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_register_burst);
	tcase_add_test(tc, test_chat_register_cap);
	tcase_add_test(tc, test_chat_register_motd);
	tcase_add_test(tc, test_chat_register_password);
	tcase_add_test(tc, test_chat_register_timeout);
	tcase_add_test(tc, test_chat_register_deadline_exact);
	tcase_add_test(tc, test_chat_register_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_error_not_registered);
	tcase_add_test(tc, test_chat_error_unknown_command);
	tcase_add_test(tc, test_chat_error_nick);
	tcase_add_test(tc, test_chat_error_no_such);
	tcase_add_test(tc, test_chat_error_not_on_channel);
	tcase_add_test(tc, test_chat_error_not_operator);
	tcase_add_test(tc, test_chat_error_need_more_params);
	tcase_add_test(tc, test_chat_error_overlong);
	tcase_add_test(tc, test_chat_error_client_prefix_ignored);
	tcase_add_test(tc, test_chat_error_nul_and_bad_utf8);
	suite_add_tcase(s, tc);

	tc = tcase_create("relay");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_relay_channel);
	tcase_add_test(tc, test_chat_relay_private);
	tcase_add_test(tc, test_chat_relay_quit_once);
	tcase_add_test(tc, test_chat_relay_quit_on_drop);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_cmd_join_part);
	tcase_add_test(tc, test_chat_cmd_names_list);
	tcase_add_test(tc, test_chat_cmd_topic);
	tcase_add_test(tc, test_chat_cmd_mode);
	tcase_add_test(tc, test_chat_cmd_kick);
	tcase_add_test(tc, test_chat_cmd_who_whois);
	tcase_add_test(tc, test_chat_cmd_packed_lists);
	tcase_add_test(tc, test_chat_cmd_away);
	tcase_add_test(tc, test_chat_cmd_nick_change);
	tcase_add_test(tc, test_chat_cmd_info);
	suite_add_tcase(s, tc);

	tc = tcase_create("timers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_timer_ping);
	tcase_add_test(tc, test_chat_timer_flood_delays);
	suite_add_tcase(s, tc);

	tc = tcase_create("fanout");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_chat_fanout_200);
	tcase_add_test(tc, test_chat_fanout_sendq);
	tcase_add_test(tc, test_chat_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(chat_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
