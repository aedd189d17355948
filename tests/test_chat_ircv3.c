/*
 * Integration: the chat service's IRCv3 capabilities (CAP negotiation,
 * message tags, server-time, echo-message, labeled-response, batch,
 * multi-prefix, userhost-in-names, away-notify, SETNAME, CHATHISTORY)
 * with IRC clients on one event_base over loopback, port 0; and the
 * history store on its own.
 */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <evsock/evsock.h>

#include "../server/chat-int.h"
#include "harness.h"

#define WAIT_MS 10000
#define MAX_CLIENTS 16

struct tc {
	struct bufferevent *bev;
	char **lines;
	size_t n, cap, pos;
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
	char *line;
	size_t len;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), &len,
	            EVBUFFER_EOL_CRLF)) != NULL) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 64;
			t->lines = realloc(t->lines,
			    t->cap * sizeof(*t->lines));
			ck_assert_ptr_nonnull(t->lines);
		}
		t->lines[t->n++] = line;
	}
}

static struct tc *
tc_connect(const char *nick)
{
	struct tc *t = calloc(1, sizeof(*t));
	socklen_t len;
	const struct sockaddr *sa = evs_listener_addr(lst, &len);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_lt(nclients, MAX_CLIENTS);
	snprintf(t->nick, sizeof(t->nick), "%s", nick);
	t->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(t->bev);
	bufferevent_setcb(t->bev, tc_read_cb, NULL, NULL, t);
	bufferevent_enable(t->bev, EV_READ | EV_WRITE);
	ck_assert_int_eq(bufferevent_socket_connect(t->bev, sa, (int)len), 0);
	clients[nclients++] = t;
	return t;
}

static void tc_send(struct tc *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void
tc_send(struct tc *t, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(t->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
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

/* Waits for a line containing needle after those consumed; returns it. */
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

static void
tc_expect(struct tc *t, const char *needle, const char *line)
{
	ck_assert_str_eq(tc_wait(t, needle), line);
}

/* A PING round trip: everything sent to t before has arrived.  Leaves
   t->pos just past the PONG, and returns the index of the first line
   after the previous position (the lines in between are the
   answer to what t sent last). */
static size_t
tc_sync(struct tc *t)
{
	char token[64];
	size_t from = t->pos;

	snprintf(token, sizeof(token), "sync%u", ++sync_seq);
	tc_send(t, "PING :%s", token);
	tc_wait(t, token);
	return from;
}

/* Counts lines containing needle between pos `from` and the last PONG,
   which is not counted. */
static size_t
tc_count_since(struct tc *t, size_t from, const char *needle)
{
	size_t c = 0;

	for (size_t i = from; i + 1 < t->pos; i++)
		if (strstr(t->lines[i], needle) != NULL)
			c++;
	return c;
}

/* Connects and registers with the capabilities caps ("" for none). */
static struct tc *
tc_register(const char *nick, const char *caps)
{
	struct tc *t = tc_connect(nick);

	if (*caps != '\0') {
		tc_send(t, "CAP LS 302");
		tc_send(t, "CAP REQ :%s", caps);
	}
	tc_send(t, "NICK %s", nick);
	tc_send(t, "USER %s 0 * :Real %s", nick, nick);
	if (*caps != '\0') {
		tc_wait(t, " ACK ");
		tc_send(t, "CAP END");
	}
	tc_wait(t, " 422 ");
	return t;
}

static void
tc_join(struct tc *t, const char *chan)
{
	char want[128];

	tc_send(t, "JOIN %s", chan);
	snprintf(want, sizeof(want), " 366 %s %s ", t->nick, chan);
	tc_wait(t, want);
}

/* The value of tag `key` in a received line, in buf; NULL if absent. */
static const char *
tag(const char *line, const char *key, char *buf, size_t size)
{
	const char *sp;
	char tags[IRC_TAGS_MAX + 1];

	if (line[0] != '@' || (sp = strchr(line, ' ')) == NULL)
		return NULL;
	snprintf(tags, sizeof(tags), "%.*s", (int)(sp - line - 1), line + 1);
	return irc_tag_get(tags, key, buf, size) ? buf : NULL;
}

/* The line without its tags. */
static const char *
untagged(const char *line)
{
	return line[0] == '@' ? strchr(line, ' ') + 1 : line;
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
	for (int i = 0; i < nclients; i++) {
		struct tc *t = clients[i];

		bufferevent_free(t->bev);
		for (size_t j = 0; j < t->n; j++)
			free(t->lines[j]);
		free(t->lines);
		free(t);
	}
	nclients = 0;
	evs_server_free(srv);
	evs_chat_free(chat);
	event_base_free(base);
}

/* CAP negotiation. */

START_TEST(test_chat_ircv3_cap_negotiation)
{
	struct tc *a = tc_connect("alice");

	tc_send(a, "CAP LS 302");
	tc_send(a, "NICK alice");
	tc_send(a, "USER alice 0 * :Alice");
	tc_expect(a, " LS ",
	    ":evsockd CAP * LS :away-notify batch cap-notify "
	    "draft/chathistory echo-message invite-notify labeled-response "
	    "message-tags multi-prefix server-time setname "
	    "userhost-in-names");
	/* Registration waits for CAP END. */
	tc_sync(a);
	for (size_t i = 0; i < a->n; i++)
		ck_assert_ptr_null(strstr(a->lines[i], " 001 "));
	/* REQ is all or nothing: one unknown name refuses the lot. */
	tc_send(a, "CAP REQ :server-time invite-notify bogus");
	tc_expect(a, " NAK ",
	    ":evsockd CAP alice NAK :server-time "
	    "invite-notify bogus");
	tc_send(a, "CAP REQ :server-time   echo-message");
	tc_expect(a, " ACK ",
	    ":evsockd CAP alice ACK :server-time   "
	    "echo-message");
	/* 302 turns cap-notify on, and it stays on. */
	tc_send(a, "CAP LIST");
	tc_expect(a, " LIST ",
	    ":evsockd CAP alice LIST :cap-notify "
	    "echo-message server-time");
	tc_send(a, "CAP REQ :-cap-notify");
	tc_expect(a, " NAK ", ":evsockd CAP alice NAK :-cap-notify");
	tc_send(a, "CAP REQ :-echo-message");
	tc_expect(a, " ACK ", ":evsockd CAP alice ACK :-echo-message");
	tc_send(a, "CAP END");
	tc_wait(a, " 001 ");
	tc_wait(a, " 422 ");
	tc_send(a, "CAP LIST");
	tc_expect(a, " LIST ",
	    ":evsockd CAP alice LIST :cap-notify "
	    "server-time");
	tc_send(a, "CAP FOO");
	tc_expect(a, " 410 ", ":evsockd 410 alice FOO :Invalid CAP command");
}
END_TEST

START_TEST(test_chat_ircv3_cap_301)
{
	struct tc *a = tc_connect("alice");

	/* Without 302 there is no cap-notify, and LIST is empty. */
	tc_send(a, "CAP LS");
	tc_wait(a, " LS :");
	tc_send(a, "CAP LIST");
	tc_expect(a, " LIST ", ":evsockd CAP * LIST :");
	tc_send(a, "CAP REQ :cap-notify");
	tc_wait(a, " ACK ");
	tc_send(a, "CAP REQ :-cap-notify");
	tc_expect(a, " CAP ", ":evsockd CAP * ACK :-cap-notify");
}
END_TEST

START_TEST(test_chat_ircv3_cap_notify)
{
	struct tc *a = tc_register("alice", "draft/chathistory");
	struct tc *b = tc_connect("bob");
	size_t from;

	/* bob did not say 302: no cap-notify. */
	tc_send(b, "CAP LS");
	tc_send(b, "CAP END");
	tc_send(b, "NICK bob");
	tc_send(b, "USER bob 0 * :Bob");
	tc_wait(b, " 422 ");
	tc_sync(a);
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_HISTORY_LINES, 0), 0);
	tc_expect(a, " DEL ", ":evsockd CAP alice DEL :draft/chathistory");
	tc_send(a, "CAP LIST");
	tc_expect(a, " LIST ", ":evsockd CAP alice LIST :cap-notify");
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_HISTORY_LINES, 10), 0);
	tc_expect(a, " NEW ", ":evsockd CAP alice NEW :draft/chathistory");
	/* Another size keeps it: nothing to say. */
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_HISTORY_LINES, 20), 0);
	from = tc_sync(a);
	ck_assert_uint_eq(tc_count_since(a, from, " CAP "), 0);
	from = tc_sync(b);
	ck_assert_uint_eq(tc_count_since(b, 0, " NEW "), 0);
	ck_assert_uint_eq(tc_count_since(b, 0, " DEL "), 0);
	(void)from;
}
END_TEST

START_TEST(test_chat_ircv3_cap_history_off)
{
	struct tc *a;

	/* No history: neither the capability nor the 005 tokens. */
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_HISTORY_LINES, 0), 0);
	a = tc_connect("alice");
	tc_send(a, "CAP LS 302");
	tc_expect(a, " LS ",
	    ":evsockd CAP * LS :away-notify batch cap-notify "
	    "echo-message invite-notify labeled-response message-tags "
	    "multi-prefix server-time setname userhost-in-names");
	tc_send(a, "CAP REQ draft/chathistory");
	tc_wait(a, " NAK ");
	tc_send(a, "CAP END");
	tc_send(a, "NICK alice");
	tc_send(a, "USER alice 0 * :Alice");
	tc_expect(a, "NAMELEN",
	    ":evsockd 005 alice NAMELEN=50 :are supported "
	    "by this server");
	tc_send(a, "CHATHISTORY LATEST #c * 10");
	tc_wait(a, "FAIL CHATHISTORY INVALID_TARGET");
}
END_TEST

/* Message tags. */

START_TEST(test_chat_ircv3_tags_relay)
{
	struct tc *a = tc_register("alice", "message-tags");
	struct tc *b = tc_register("bob", "message-tags");
	struct tc *c = tc_register("carol", "");
	struct tc *d = tc_register("dave", "server-time");
	const char *line;
	char v[64], id[64];
	regex_t re;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_join(c, "#c");
	tc_join(d, "#c");
	tc_send(a, "@+draft/reply=x\\sy;secret=1 PRIVMSG #c :hi");
	line = tc_wait(b, "PRIVMSG #c");
	/* Client-only tags go on, escaped as they came; server tags from
	   a client do not. */
	ck_assert_str_eq(tag(line, "+draft/reply", v, sizeof(v)), "x y");
	ck_assert_ptr_null(tag(line, "secret", v, sizeof(v)));
	ck_assert_ptr_nonnull(tag(line, "msgid", id, sizeof(id)));
	ck_assert_str_eq(untagged(line),
	    ":alice!alice@127.0.0.1 PRIVMSG #c "
	    ":hi");
	tc_expect(c, "PRIVMSG #c", ":alice!alice@127.0.0.1 PRIVMSG #c :hi");
	/* server-time alone: only the time, as ISO 8601 UTC with ms. */
	line = tc_wait(d, "PRIVMSG #c");
	ck_assert_int_eq(regcomp(&re,
	                     "^@time=[0-9]{4}-[0-9]{2}-[0-9]{2}T"
	                     "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z :alice!",
	                     REG_EXTENDED | REG_NOSUB),
	    0);
	ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "%s", line);
	regfree(&re);

	/* TAGMSG reaches only message-tags clients. */
	tc_send(a, "@+typing=active TAGMSG #c");
	line = tc_wait(b, "TAGMSG");
	ck_assert_str_eq(tag(line, "+typing", v, sizeof(v)), "active");
	ck_assert_str_eq(untagged(line), ":alice!alice@127.0.0.1 TAGMSG #c");
	tc_sync(c);
	tc_sync(d);
	ck_assert_uint_eq(tc_count_since(c, 0, "TAGMSG"), 0);
	ck_assert_uint_eq(tc_count_since(d, 0, "TAGMSG"), 0);

	/* Private messages carry them too; not to a client without. */
	tc_send(a, "@+x=1 PRIVMSG bob :psst");
	line = tc_wait(b, "PRIVMSG bob");
	ck_assert_str_eq(tag(line, "+x", v, sizeof(v)), "1");
	tc_send(a, "@+x=1 PRIVMSG carol :psst");
	tc_expect(c, "PRIVMSG carol",
	    ":alice!alice@127.0.0.1 PRIVMSG carol "
	    ":psst");
}
END_TEST

START_TEST(test_chat_ircv3_tags_limits)
{
	struct tc *a = tc_register("alice", "message-tags echo-message");
	char *big = malloc(IRC_TAGS_CLIENT_MAX + 600);
	const char *line;

	ck_assert_ptr_nonnull(big);
	tc_join(a, "#c");
	/* 4094 bytes of tags ("+a=" and the value): relayed whole. */
	memcpy(big, "@+a=", 4);
	memset(big + 4, 'a', IRC_TAGS_CLIENT_MAX - 3);
	snprintf(big + IRC_TAGS_CLIENT_MAX + 1, 64, " TAGMSG #c");
	ck_assert_uint_eq(strchr(big, ' ') - big, IRC_TAGS_CLIENT_MAX + 1);
	tc_send(a, "%s", big);
	line = tc_wait(a, "TAGMSG #c");
	big[IRC_TAGS_CLIENT_MAX + 1] = '\0';
	ck_assert_ptr_nonnull(strstr(line, big + 1));
	/* One byte more: 417, nothing relayed. */
	memset(big + 4, 'a', IRC_TAGS_CLIENT_MAX - 2);
	snprintf(big + IRC_TAGS_CLIENT_MAX + 2, 64, " TAGMSG #c");
	tc_send(a, "%s", big);
	tc_expect(a, " 417 ", ":evsockd 417 alice :Input line was too long");
	/* The rest keeps to 512 bytes with tags in front. */
	tc_send(a, "@+x=1 PRIVMSG #c :%0500d", 0);
	tc_expect(a, " 417 ", ":evsockd 417 alice :Input line was too long");
	tc_send(a, "PRIVMSG #c :%0500d", 0);
	tc_expect(a, " 417 ", ":evsockd 417 alice :Input line was too long");
	tc_send(a, "@+x=1 PRIVMSG #c :%0490d", 0);
	tc_wait(a, "PRIVMSG #c :0000");
	free(big);
}
END_TEST

/* echo-message, with one msgid for all copies. */

START_TEST(test_chat_ircv3_echo_message)
{
	struct tc *a = tc_register("alice", "echo-message message-tags");
	struct tc *b = tc_register("bob", "message-tags");
	struct tc *c = tc_register("carol", "");
	char id1[64], id2[64];
	size_t from;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, "PRIVMSG #c :hello");
	ck_assert_str_eq(tag(tc_wait(a, "PRIVMSG #c"), "msgid", id1,
	                     sizeof(id1)),
	    tag(tc_wait(b, "PRIVMSG #c"), "msgid", id2, sizeof(id2)));
	tc_send(a, "NOTICE carol :note");
	tc_wait(a, "NOTICE carol :note");
	tc_expect(c, "NOTICE", ":alice!alice@127.0.0.1 NOTICE carol :note");
	/* Without echo-message the sender gets nothing back. */
	tc_send(b, "PRIVMSG #c :back");
	tc_wait(a, ":back");
	from = tc_sync(b);
	ck_assert_uint_eq(tc_count_since(b, from, ":back"), 0);
	/* To oneself: the delivery and the echo. */
	from = tc_sync(a);
	tc_send(a, "PRIVMSG alice :me");
	tc_wait(a, "PRIVMSG alice :me");
	tc_wait(a, "PRIVMSG alice :me");
}
END_TEST

/* labeled-response and batch. */

START_TEST(test_chat_ircv3_labeled)
{
	struct tc *a = tc_register("alice",
	    "labeled-response batch "
	    "echo-message");
	struct tc *b = tc_register("bob", "labeled-response batch");
	const char *line;
	char ref[64], v[64], end[96];

	/* One reply: labeled. */
	tc_send(a, "@label=l1 PING x");
	tc_expect(a, "PONG", "@label=l1 :evsockd PONG evsockd :x");
	/* None: ACK. */
	tc_send(a, "@label=l2 PONG x");
	tc_expect(a, "ACK", "@label=l2 :evsockd ACK");
	/* An error is a reply too. */
	tc_send(a, "@label=l3 FOO");
	tc_expect(a, " 421 ",
	    "@label=l3 :evsockd 421 alice FOO :Unknown "
	    "command");
	/* Several: one labeled-response batch. */
	tc_send(a, "@label=l4 JOIN #c");
	line = tc_wait(a, "BATCH +");
	ck_assert_int_eq(sscanf(line,
	                     "@label=l4 :evsockd BATCH +%63s "
	                     "labeled-response",
	                     ref),
	    1);
	line = tc_wait(a, " JOIN #c");
	ck_assert_str_eq(tag(line, "batch", v, sizeof(v)), ref);
	line = tc_wait(a, " 366 ");
	ck_assert_str_eq(tag(line, "batch", v, sizeof(v)), ref);
	snprintf(end, sizeof(end), ":evsockd BATCH -%s", ref);
	tc_expect(a, "BATCH -", end);
	/* The label stays with the sender: the recipient sees none. */
	tc_join(b, "#c");
	tc_send(a, "@label=l5 PRIVMSG #c :hi");
	tc_expect(a, "PRIVMSG",
	    "@label=l5 :alice!alice@127.0.0.1 PRIVMSG #c "
	    ":hi");
	tc_expect(b, "PRIVMSG", ":alice!alice@127.0.0.1 PRIVMSG #c :hi");
	/* Without labeled-response a label is ignored. */
	{
		struct tc *c = tc_register("carol", "");

		tc_send(c, "@label=l6 PING y");
		tc_expect(c, "PONG", ":evsockd PONG evsockd :y");
	}
}
END_TEST

/* NAMES and WHO: multi-prefix and userhost-in-names. */

START_TEST(test_chat_ircv3_names)
{
	struct tc *a = tc_register("alice", "multi-prefix userhost-in-names");
	struct tc *b = tc_register("bob", "");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, "NAMES #c");
	tc_expect(a, " 353 ",
	    ":evsockd 353 alice = #c :@alice!alice@127.0.0.1 "
	    "bob!bob@127.0.0.1");
	tc_send(b, "NAMES #c");
	tc_expect(b, " 353 ", ":evsockd 353 bob = #c :@alice bob");
	tc_send(a, "WHO #c");
	tc_wait(a, " 352 alice #c alice 127.0.0.1 evsockd alice H@ :0 ");
	/* An operator with voice: every prefix with multi-prefix, in rank
	   order, else the highest. */
	tc_send(a, "MODE #c +v alice");
	tc_wait(b, " MODE #c +v alice");
	tc_send(a, "NAMES #c");
	tc_expect(a, " 353 ",
	    ":evsockd 353 alice = #c :@+alice!alice@127.0.0.1 "
	    "bob!bob@127.0.0.1");
	tc_send(b, "NAMES #c");
	tc_expect(b, " 353 ", ":evsockd 353 bob = #c :@alice bob");
	tc_send(a, "WHO #c");
	tc_wait(a, " 352 alice #c alice 127.0.0.1 evsockd alice H@+ :0 ");
	tc_send(a, "WHOIS alice");
	tc_expect(a, " 319 ", ":evsockd 319 alice alice :@+#c");
	tc_send(b, "WHOIS alice");
	tc_expect(b, " 319 ", ":evsockd 319 bob alice :@#c");
}
END_TEST

/* away-notify. */

START_TEST(test_chat_ircv3_away_notify)
{
	struct tc *a = tc_register("alice", "away-notify");
	struct tc *b = tc_register("bob", "");
	struct tc *c = tc_register("carol", "");
	size_t from;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(b, "AWAY :lunch");
	tc_expect(a, " AWAY", ":bob!bob@127.0.0.1 AWAY :lunch");
	tc_send(b, "AWAY");
	tc_expect(a, " AWAY", ":bob!bob@127.0.0.1 AWAY");
	/* Joining while away tells the channel. */
	tc_send(c, "AWAY :gone");
	tc_join(c, "#c");
	tc_expect(a, " AWAY", ":carol!carol@127.0.0.1 AWAY :gone");
	/* Without the capability: nothing. */
	from = tc_sync(b);
	ck_assert_uint_eq(tc_count_since(b, from, " AWAY"), 0);
}
END_TEST

/* invite-notify: an INVITE reaches the channel's members who enabled
   it, not the inviter, and the invited user as an INVITE of its own. */

START_TEST(test_chat_ircv3_invite_notify)
{
	struct tc *a = tc_register("alice", "invite-notify");
	struct tc *b = tc_register("bob", "");
	struct tc *c = tc_register("carol", "invite-notify");
	struct tc *d = tc_register("dave", "invite-notify");
	size_t from;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_join(c, "#c");
	tc_send(a, "INVITE dave #c");
	tc_expect(a, " 341 ", ":evsockd 341 alice dave #c");
	tc_expect(c, " INVITE ", ":alice!alice@127.0.0.1 INVITE dave #c");
	tc_expect(d, " INVITE ", ":alice!alice@127.0.0.1 INVITE dave #c");
	from = tc_sync(b);
	ck_assert_uint_eq(tc_count_since(b, from, " INVITE "), 0);
	from = tc_sync(a);
	ck_assert_uint_eq(tc_count_since(a, from, " INVITE "), 0);
	/* The invited user gets its INVITE once, not a notify too. */
	from = tc_sync(d);
	ck_assert_uint_eq(tc_count_since(d, from, " INVITE "), 0);
}
END_TEST

/* SETNAME. */

START_TEST(test_chat_ircv3_setname)
{
	struct tc *a = tc_register("alice", "setname");
	struct tc *b = tc_register("bob", "setname");
	struct tc *c = tc_register("carol", "");
	size_t from;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_join(c, "#c");
	tc_send(a, "SETNAME :Alice Liddell");
	tc_expect(a, "SETNAME",
	    ":alice!alice@127.0.0.1 SETNAME :Alice "
	    "Liddell");
	tc_expect(b, "SETNAME",
	    ":alice!alice@127.0.0.1 SETNAME :Alice "
	    "Liddell");
	tc_send(c, "WHOIS alice");
	tc_expect(c, " 311 ",
	    ":evsockd 311 carol alice alice 127.0.0.1 * "
	    ":Alice Liddell");
	from = tc_sync(c);
	ck_assert_uint_eq(tc_count_since(c, from, "SETNAME"), 0);
	tc_send(a, "SETNAME :%051d", 0);
	tc_expect(a, "FAIL",
	    ":evsockd FAIL SETNAME INVALID_REALNAME "
	    ":Realname is not valid");
	tc_send(a, "SETNAME");
	tc_wait(a, " 461 ");
}
END_TEST

/* CHATHISTORY. */

/* Whether the server forgot the nick (the user's connection ended). */
static int
nick_gone(void *nick)
{
	return chat_state_find_user(chat, nick) == NULL;
}

/* Sends n messages to target from t (with echo-message) and records
   their msgids and times. */
static void
history_fill(struct tc *t, const char *target, int n, char ids[][64],
    char times[][64])
{
	for (int i = 0; i < n; i++) {
		char want[64];
		const char *line;

		tc_send(t, "PRIVMSG %s :m%d", target, i);
		snprintf(want, sizeof(want), "PRIVMSG %s :m%d", target, i);
		line = tc_wait(t, want);
		ck_assert_ptr_nonnull(tag(line, "msgid", ids[i], 64));
		ck_assert_ptr_nonnull(tag(line, "time", times[i], 64));
	}
}

/* Reads one chathistory batch from t: the texts of its messages, one
   string "m0 m1 ..." (each must carry the batch, time and msgid). */
static void
history_read(struct tc *t, const char *target, char *out, size_t size)
{
	char ref[64], v[64], want[96];
	const char *line;
	size_t n = 0;

	line = tc_wait(t, "BATCH +");
	snprintf(want, sizeof(want), " chathistory %s", target);
	ck_assert_msg(strstr(line, want) != NULL, "%s", line);
	ck_assert_int_eq(sscanf(strstr(line, "BATCH +"), "BATCH +%63s", ref),
	    1);
	out[0] = '\0';
	for (;;) {
		line = tc_wait(t, " ");
		if (strstr(line, "BATCH -") != NULL)
			break;
		ck_assert_str_eq(tag(line, "batch", v, sizeof(v)), ref);
		ck_assert_ptr_nonnull(tag(line, "time", v, sizeof(v)));
		ck_assert_ptr_nonnull(tag(line, "msgid", v, sizeof(v)));
		n += (size_t)snprintf(out + n, size - n, "%s%s", n ? " " : "",
		    strrchr(line, ':') + 1);
	}
}

#define HCAPS "message-tags server-time echo-message batch draft/chathistory"

START_TEST(test_chat_ircv3_chathistory)
{
	struct tc *a = tc_register("alice", HCAPS);
	struct tc *b = tc_register("bob", "");
	char ids[10][64], times[10][64], got[256];

	tc_join(a, "#c");
	history_fill(a, "#c", 10, ids, times);
	tc_send(a, "CHATHISTORY LATEST #c * 3");
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m7 m8 m9");
	tc_send(a, "CHATHISTORY LATEST #c msgid=%s 10", ids[7]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m8 m9");
	tc_send(a, "CHATHISTORY BEFORE #c msgid=%s 2", ids[5]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m3 m4");
	tc_send(a, "CHATHISTORY AFTER #c msgid=%s 2", ids[5]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m6 m7");
	tc_send(a, "CHATHISTORY AROUND #c msgid=%s 3", ids[5]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m4 m5 m6");
	tc_send(a, "CHATHISTORY BETWEEN #c msgid=%s msgid=%s 10", ids[2],
	    ids[6]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m3 m4 m5");
	tc_send(a, "CHATHISTORY BETWEEN #c msgid=%s msgid=%s 2", ids[6],
	    ids[2]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m4 m5");
	/* Timestamps (messages may share a millisecond: bounds far off). */
	tc_send(a, "CHATHISTORY AFTER #c timestamp=2000-01-01T00:00:00.000Z 2");
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m0 m1");
	tc_send(a, "CHATHISTORY BEFORE #c timestamp=2999-01-01T00:00:00Z 1");
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m9");
	tc_send(a, "CHATHISTORY AROUND #c timestamp=%s 1", times[0]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m0");
	/* Errors: a channel one is not in, a bad reference or limit. */
	tc_send(b, "CHATHISTORY LATEST #c * 10");
	tc_expect(b, "FAIL",
	    ":evsockd FAIL CHATHISTORY INVALID_TARGET LATEST "
	    "#c :Messages could not be retrieved");
	tc_send(a, "CHATHISTORY BEFORE #c yesterday 10");
	tc_wait(a, "FAIL CHATHISTORY INVALID_PARAMS BEFORE");
	tc_send(a, "CHATHISTORY LATEST #c * 0");
	tc_wait(a, "FAIL CHATHISTORY INVALID_PARAMS LATEST");
	tc_send(a, "CHATHISTORY LATEST #c *");
	tc_wait(a, "FAIL CHATHISTORY NEED_MORE_PARAMS LATEST");
	tc_send(a, "CHATHISTORY");
	tc_wait(a, " 461 ");
	tc_send(a, "VERSION");
	tc_wait(a, " CHATHISTORY=100 MSGREFTYPES=msgid,timestamp NAMELEN=50 ");
}
END_TEST

START_TEST(test_chat_ircv3_chathistory_private)
{
	struct tc *a = tc_register("alice", HCAPS);
	struct tc *b = tc_register("bob", HCAPS);
	struct tc *c = tc_register("carol", HCAPS);
	char ids[4][64], times[4][64], got[256], v[64];
	const char *line;

	history_fill(a, "bob", 2, ids, times);
	history_fill(b, "alice", 1, ids + 2, times + 2);
	history_fill(c, "alice", 1, ids + 3, times + 3);
	/* Either side sees the same conversation, whatever the case. */
	tc_send(a, "CHATHISTORY LATEST BOB * 10");
	history_read(a, "BOB", got, sizeof(got));
	ck_assert_str_eq(got, "m0 m1 m0");
	tc_send(b, "CHATHISTORY LATEST alice * 10");
	history_read(b, "alice", got, sizeof(got));
	ck_assert_str_eq(got, "m0 m1 m0");
	tc_send(b, "CHATHISTORY LATEST carol * 10");
	history_read(b, "carol", got, sizeof(got));
	ck_assert_str_eq(got, "");
	/* TARGETS: alice's conversations, oldest latest message first. */
	tc_send(a,
	    "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z "
	    "timestamp=2999-01-01T00:00:00Z 10");
	line = tc_wait(a, "BATCH +");
	ck_assert_ptr_nonnull(strstr(line, " draft/chathistory-targets"));
	line = tc_wait(a, "CHATHISTORY TARGETS");
	ck_assert_ptr_nonnull(tag(line, "batch", v, sizeof(v)));
	snprintf(got, sizeof(got), ":evsockd CHATHISTORY TARGETS bob %s",
	    times[2]);
	ck_assert_str_eq(untagged(line), got);
	line = tc_wait(a, "CHATHISTORY TARGETS");
	snprintf(got, sizeof(got), ":evsockd CHATHISTORY TARGETS carol %s",
	    times[3]);
	ck_assert_str_eq(untagged(line), got);
	tc_wait(a, "BATCH -");
	/* Without accounts, a nick's conversations end with it: whoever
	   takes the nick next reads nothing. */
	tc_send(c, "QUIT");
	tc_wait(c, "ERROR");
	bufferevent_disable(c->bev, EV_READ);
	shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
	ck_assert(harness_loop_until(base, nick_gone, "carol", WAIT_MS));
	tc_send(a, "CHATHISTORY LATEST carol * 10");
	history_read(a, "carol", got, sizeof(got));
	ck_assert_str_eq(got, "");
	tc_send(b, "NICK robert");
	tc_wait(b, "NICK :robert");
	tc_send(a, "CHATHISTORY LATEST bob * 10");
	history_read(a, "bob", got, sizeof(got));
	ck_assert_str_eq(got, "");
}
END_TEST

START_TEST(test_chat_ircv3_chathistory_channel_ends)
{
	struct tc *a = tc_register("alice", HCAPS);
	char ids[2][64], times[2][64], got[256];

	tc_join(a, "#c");
	history_fill(a, "#c", 2, ids, times);
	/* The channel ends with its last member; a new #c starts empty. */
	tc_send(a, "PART #c");
	tc_wait(a, " PART #c");
	tc_join(a, "#c");
	tc_send(a, "CHATHISTORY LATEST #c * 10");
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "");
}
END_TEST

START_TEST(test_chat_ircv3_chathistory_bounded)
{
	struct tc *a;
	char ids[5][64], times[5][64], got[256];

	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_HISTORY_LINES, 3), 0);
	a = tc_register("alice", HCAPS);
	tc_join(a, "#c");
	history_fill(a, "#c", 5, ids, times);
	tc_send(a, "CHATHISTORY LATEST #c * 10");
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "m2 m3 m4");
	/* A message that fell out is an unknown reference. */
	tc_send(a, "CHATHISTORY AFTER #c msgid=%s 10", ids[0]);
	history_read(a, "#c", got, sizeof(got));
	ck_assert_str_eq(got, "");
}
END_TEST

/* The store on its own. */

START_TEST(test_chat_ircv3_history_store)
{
	struct chat_history *h = chat_history_new(4);
	const struct chat_hist_msg *out[8];
	struct chat_hist_ref r = { NULL, 0 };
	char key1[64], key2[64], id[16];
	size_t n;

	ck_assert_ptr_nonnull(h);
	chat_history_key(key1, sizeof(key1), "Bob", "alice");
	chat_history_key(key2, sizeof(key2), "alice", "bob");
	ck_assert_int_eq(irc_casecmp(key1, key2), 0);
	for (int i = 0; i < 6; i++) {
		struct chat_hist_msg m = { 1000 * (i + 1), id, "a!a@h",
			"PRIVMSG", "#c", "t", "" };

		snprintf(id, sizeof(id), "id%d", i);
		ck_assert_int_eq(chat_history_add(h, "#C", &m), 0);
	}
	/* Bounded to 4, oldest first, any case of the key. */
	n = chat_history_query(h, "#c", CHAT_HIST_LATEST, NULL, NULL, 8, out);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(out[0]->msgid, "id2");
	ck_assert_str_eq(out[3]->msgid, "id5");
	/* Timestamps: BEFORE is strictly before, AFTER strictly after. */
	r.ms = 4000;
	n = chat_history_query(h, "#c", CHAT_HIST_BEFORE, &r, NULL, 8, out);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(out[0]->msgid, "id2");
	n = chat_history_query(h, "#c", CHAT_HIST_AFTER, &r, NULL, 8, out);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(out[0]->msgid, "id4");
	n = chat_history_query(h, "#c", CHAT_HIST_AROUND, &r, NULL, 1, out);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(out[0]->msgid, "id3");
	ck_assert_uint_eq(chat_history_query(h, "#none", CHAT_HIST_LATEST, NULL,
	                      NULL, 8, out),
	    0);
	chat_history_free(h);
	chat_history_free(NULL);
}
END_TEST

static Suite *
ircv3_suite(void)
{
	Suite *s = suite_create("chat_ircv3");
	TCase *tc;

	tc = tcase_create("cap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_ircv3_cap_negotiation);
	tcase_add_test(tc, test_chat_ircv3_cap_301);
	tcase_add_test(tc, test_chat_ircv3_cap_history_off);
	tcase_add_test(tc, test_chat_ircv3_cap_notify);
	suite_add_tcase(s, tc);

	tc = tcase_create("tags");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_ircv3_tags_relay);
	tcase_add_test(tc, test_chat_ircv3_tags_limits);
	tcase_add_test(tc, test_chat_ircv3_echo_message);
	tcase_add_test(tc, test_chat_ircv3_labeled);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_ircv3_names);
	tcase_add_test(tc, test_chat_ircv3_away_notify);
	tcase_add_test(tc, test_chat_ircv3_setname);
	tcase_add_test(tc, test_chat_ircv3_invite_notify);
	suite_add_tcase(s, tc);

	tc = tcase_create("chathistory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_ircv3_chathistory);
	tcase_add_test(tc, test_chat_ircv3_chathistory_private);
	tcase_add_test(tc, test_chat_ircv3_chathistory_bounded);
	tcase_add_test(tc, test_chat_ircv3_chathistory_channel_ends);
	tcase_add_test(tc, test_chat_ircv3_history_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ircv3_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
