/*
 * The chat service: an IRC subset for many clients on one event loop.
 *
 * Users and channels live in hash tables keyed by their case-folded
 * names.  A user's membership in a channel is one struct chat_member,
 * linked into both the user's and the channel's list, so joining,
 * parting and fan-out never search.  Every relayed message is formatted
 * once into an evs_msg and queued to each recipient by reference.
 *
 * A connection ends in exactly one place, chat_close(), which the
 * engine calls from its reaper after the socket is gone: only there is
 * a user removed from channels and freed, and only there do its peers
 * see its QUIT.  Everything else (QUIT, timeouts, a bad password,
 * shutdown) just says goodbye and asks the engine to close.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include <evsock/services.h>

#include "../common/irc.h"
#include "../common/log.h"

#define CHAT_OUT_MAX 8192
#define CHAT_HOST_MAX 64
#define CHAT_PREFIX_MAX (IRC_NICK_MAX + IRC_USER_MAX + CHAT_HOST_MAX + 4)
#define CHAT_TABLE_MIN 64

#define U_REGISTERED 0x01
#define U_CAP        0x02 /* CAP negotiation holds registration back */
#define U_PASS_OK    0x04
#define U_PING_SENT  0x08
#define U_INVISIBLE  0x10
#define U_HAS_USER   0x20
#define U_CLOSING    0x40 /* we said goodbye; the engine is closing */

struct chat_hent {
	struct chat_hent *next;
	const char *key; /* the owner's name; compared case-insensitively */
	unsigned long hash;
};

struct chat_table {
	struct chat_hent **b;
	size_t nb;
	size_t n;
};

struct chat_member;
TAILQ_HEAD(chat_member_list, chat_member);

struct chat_user {
	struct chat_hent h; /* in chat->nicks once it has a nick */
	TAILQ_ENTRY(chat_user) link; /* chat->users */
	struct evs_chat *chat;
	struct evs_conn *c;
	struct chat_member_list chans;
	size_t nchans;
	struct event *flood_timer;
	char *pending; /* a line held back by the flood limit */
	size_t pendinglen;
	char *away;
	char *quit_reason;
	double tokens;
	struct timeval refill;
	time_t signon;
	time_t idle_since;
	uint64_t reg_deadline_ms; /* monotonic; 0: none */
	uint64_t seen; /* fan-out generation, to reach each peer once */
	unsigned flags;
	char nick[IRC_NICK_MAX + 1];
	char user[IRC_USER_MAX + 1];
	char realname[IRC_REALNAME_MAX + 1];
	char host[CHAT_HOST_MAX];
	char prefix[CHAT_PREFIX_MAX];
};

TAILQ_HEAD(chat_user_list, chat_user);

struct chat_chan {
	struct chat_hent h;
	struct chat_member_list members;
	size_t nmembers;
	char *topic;
	char topic_by[CHAT_PREFIX_MAX];
	time_t topic_time;
	time_t created;
	int mode_t;
	int mode_n;
	char name[IRC_CHANNEL_MAX + 1];
};

struct chat_member {
	TAILQ_ENTRY(chat_member) by_user;
	TAILQ_ENTRY(chat_member) by_chan;
	struct chat_user *u;
	struct chat_chan *ch;
	int op;
};

struct evs_chat {
	struct evs_server *srv;
	struct chat_table nicks;
	struct chat_table chans;
	struct chat_user_list users;
	struct chat_user *cur; /* the user being sent to (for refuse) */
	char *name;
	char *password;
	char **motd;
	size_t nmotd;
	unsigned ping_interval_ms;
	unsigned ping_timeout_ms;
	unsigned reg_timeout_ms;
	double flood_rate;
	unsigned flood_burst;
	size_t nusers;    /* registered */
	size_t nunknown;  /* connected, not registered */
	size_t ninvisible; /* registered with user mode +i */
	size_t maxusers;
	uint64_t gen;
	time_t created;
	char created_str[64];
	char out[CHAT_OUT_MAX];
};

typedef void chat_cmd_fn(struct chat_user *, struct irc_msg *);

struct chat_cmd {
	const char *name;
	chat_cmd_fn *fn;
	int minparams;
	int unregistered; /* allowed before registration */
};

static uint64_t chat_now_ms(void);
static int chat_open(struct evs_conn *, void *);
static void chat_line(struct evs_conn *, char *, size_t, void *);
static void chat_overlong(struct evs_conn *, void *);
static void chat_timeout(struct evs_conn *, void *);
static void chat_shutdown(struct evs_conn *, void *);
static size_t chat_refuse(char *, size_t, const char *, void *);
static void chat_close(struct evs_conn *, const char *, void *);

static const struct evs_service chat_service = {
	.name = "chat",
	.framing = EVS_FRAMING_LINE,
	.flags = EVS_SERVICE_SENDQ_CLOSE | EVS_SERVICE_CORK,
	.open = chat_open,
	.line = chat_line,
	.overlong = chat_overlong,
	.timeout = chat_timeout,
	.shutdown = chat_shutdown,
	.refuse = chat_refuse,
	.close = chat_close,
};

static chat_cmd_fn cmd_away, cmd_cap, cmd_join, cmd_kick, cmd_list,
    cmd_lusers, cmd_mode, cmd_motd, cmd_names, cmd_nick, cmd_notice,
    cmd_part, cmd_pass, cmd_ping, cmd_pong, cmd_privmsg, cmd_quit, cmd_time,
    cmd_topic, cmd_user, cmd_version, cmd_who, cmd_whois;

static const struct chat_cmd chat_cmds[] = {
	{ "AWAY", cmd_away, 0, 0 },
	{ "CAP", cmd_cap, 1, 1 },
	{ "JOIN", cmd_join, 1, 0 },
	{ "KICK", cmd_kick, 2, 0 },
	{ "LIST", cmd_list, 0, 0 },
	{ "LUSERS", cmd_lusers, 0, 0 },
	{ "MODE", cmd_mode, 1, 0 },
	{ "MOTD", cmd_motd, 0, 0 },
	{ "NAMES", cmd_names, 0, 0 },
	{ "NICK", cmd_nick, 0, 1 },
	{ "NOTICE", cmd_notice, 0, 0 },
	{ "PART", cmd_part, 1, 0 },
	{ "PASS", cmd_pass, 1, 1 },
	{ "PING", cmd_ping, 1, 1 },
	{ "PONG", cmd_pong, 0, 1 },
	{ "PRIVMSG", cmd_privmsg, 0, 0 },
	{ "QUIT", cmd_quit, 0, 1 },
	{ "TIME", cmd_time, 0, 0 },
	{ "TOPIC", cmd_topic, 1, 0 },
	{ "USER", cmd_user, 4, 1 },
	{ "VERSION", cmd_version, 0, 0 },
	{ "WHO", cmd_who, 0, 0 },
	{ "WHOIS", cmd_whois, 1, 0 },
};

/* Hash tables keyed by case-folded names. */

static int
table_init(struct chat_table *t)
{
	t->nb = CHAT_TABLE_MIN;
	t->n = 0;
	t->b = calloc(t->nb, sizeof(*t->b));
	return t->b == NULL ? -1 : 0;
}

static struct chat_hent *
table_find(const struct chat_table *t, const char *key)
{
	unsigned long h = irc_casehash(key);
	struct chat_hent *e;

	for (e = t->b[h & (t->nb - 1)]; e != NULL; e = e->next)
		if (e->hash == h && irc_casecmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void
table_grow(struct chat_table *t)
{
	size_t nb = t->nb * 2, i;
	struct chat_hent **b = calloc(nb, sizeof(*b)), *e, *next;

	/* Out of memory only makes the chains longer. */
	if (b == NULL)
		return;
	for (i = 0; i < t->nb; i++) {
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void
table_add(struct chat_table *t, struct chat_hent *e, const char *key)
{
	size_t i;

	if (t->n >= t->nb)
		table_grow(t);
	e->key = key;
	e->hash = irc_casehash(key);
	i = e->hash & (t->nb - 1);
	e->next = t->b[i];
	t->b[i] = e;
	t->n++;
}

static void
table_del(struct chat_table *t, struct chat_hent *e)
{
	struct chat_hent **pp = &t->b[e->hash & (t->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			t->n--;
			return;
		}
	}
}

static struct chat_user *
chat_find_user(struct evs_chat *chat, const char *nick)
{
	struct chat_hent *e = table_find(&chat->nicks, nick);

	return e == NULL ? NULL : (struct chat_user *)(void *)
	    ((char *)e - offsetof(struct chat_user, h));
}

static struct chat_chan *
chat_find_chan(struct evs_chat *chat, const char *name)
{
	struct chat_hent *e = table_find(&chat->chans, name);

	return e == NULL ? NULL : (struct chat_chan *)(void *)
	    ((char *)e - offsetof(struct chat_chan, h));
}

/* Output.  Every line is built in chat->out and sent from there. */

static size_t
chat_outmax(const struct evs_chat *chat)
{
	long long m = evs_server_get(chat->srv, EVS_OPT_MAX_LINE);

	if (m < IRC_LINE_MAX)
		return IRC_LINE_MAX;
	return m > CHAT_OUT_MAX ? CHAT_OUT_MAX : (size_t)m;
}

/* Builds ":<prefix> <cmd> [<target> ]<fmt...>\r\n" in chat->out. */
static size_t chat_vbuild(struct evs_chat *, const char *, const char *,
    const char *, const char *, va_list) __attribute__((format(printf, 5, 0)));
static size_t
chat_vbuild(struct evs_chat *chat, const char *prefix, const char *cmd,
    const char *target, const char *fmt, va_list ap)
{
	size_t max = chat_outmax(chat);
	int head;

	head = snprintf(chat->out, sizeof(chat->out), ":%s %s %s%s", prefix,
	    cmd, target != NULL ? target : "", target != NULL ? " " : "");
	if (head < 0 || (size_t)head + 3 > max)
		head = 0;
	return (size_t)head + irc_vformat(chat->out + head,
	    sizeof(chat->out) - (size_t)head, max - (size_t)head, fmt, ap);
}

static int
chat_send(struct chat_user *u, const char *data, size_t len)
{
	struct evs_chat *chat = u->chat;
	int rc;

	chat->cur = u;
	rc = evs_conn_send(u->c, data, len);
	chat->cur = NULL;
	return rc;
}

static int
chat_send_msg(struct chat_user *u, struct evs_msg *m)
{
	struct evs_chat *chat = u->chat;
	int rc;

	chat->cur = u;
	rc = evs_conn_send_msg(u->c, m);
	chat->cur = NULL;
	return rc;
}

static const char *
chat_client(const struct chat_user *u)
{
	return u->nick[0] != '\0' ? u->nick : "*";
}

/* A numeric reply: ":<server> <num> <client> ...". */
static void chat_reply(struct chat_user *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void
chat_reply(struct chat_user *u, const char *num, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = chat_vbuild(u->chat, u->chat->name, num, chat_client(u), fmt, ap);
	va_end(ap);
	chat_send(u, u->chat->out, n);
}

/* A message from the server: ":<server> <cmd> ...". */
static void chat_server_msg(struct chat_user *, const char *, const char *,
    ...) __attribute__((format(printf, 3, 4)));
static void
chat_server_msg(struct chat_user *u, const char *cmd, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = chat_vbuild(u->chat, u->chat->name, cmd, NULL, fmt, ap);
	va_end(ap);
	chat_send(u, u->chat->out, n);
}

/* A message on behalf of `from`, formatted once; NULL when out of memory. */
static struct evs_msg *chat_msg_new(struct chat_user *, const char *,
    const char *, ...) __attribute__((format(printf, 3, 4)));
static struct evs_msg *
chat_msg_new(struct chat_user *from, const char *cmd, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = chat_vbuild(from->chat, from->prefix, cmd, NULL, fmt, ap);
	va_end(ap);
	return evs_msg_new(from->chat->out, n);
}

/* Queues m to every member of ch but `except` (may be NULL). */
static void
chat_chan_send(struct chat_chan *ch, struct chat_user *except,
    struct evs_msg *m)
{
	struct chat_member *mb;

	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		if (mb->u != except)
			chat_send_msg(mb->u, m);
	}
}

/* Queues m once to every user sharing a channel with u, and to u
   itself when `self` is set. */
static void
chat_peers_send(struct chat_user *u, struct evs_msg *m, int self)
{
	struct evs_chat *chat = u->chat;
	struct chat_member *um, *mb;
	uint64_t gen = ++chat->gen;

	u->seen = gen;
	if (self)
		chat_send_msg(u, m);
	TAILQ_FOREACH(um, &u->chans, by_user) {
		TAILQ_FOREACH(mb, &um->ch->members, by_chan) {
			if (mb->u->seen == gen)
				continue;
			mb->u->seen = gen;
			chat_send_msg(mb->u, m);
		}
	}
}

/* Says goodbye with ERROR and asks the engine to close; chat_close
   finishes the job later. */
static void
chat_disconnect(struct chat_user *u, const char *reason)
{
	char line[IRC_LINE_MAX];
	int n;

	if (u->flags & U_CLOSING)
		return;
	u->flags |= U_CLOSING;
	if (u->quit_reason == NULL)
		u->quit_reason = strdup(reason);
	n = snprintf(line, sizeof(line), IRC_ERROR_CLOSING, u->host, reason);
	if (n > 0 && (size_t)n < sizeof(line))
		chat_send(u, line, (size_t)n);
	evs_conn_close(u->c, reason);
}

/* Users. */

static void
chat_user_set_prefix(struct chat_user *u)
{
	snprintf(u->prefix, sizeof(u->prefix), "%s!%s@%s", chat_client(u),
	    u->user[0] != '\0' ? u->user : "*", u->host);
}

static void
chat_user_free(struct chat_user *u)
{
	if (u->flood_timer != NULL)
		event_free(u->flood_timer);
	free(u->pending);
	free(u->away);
	free(u->quit_reason);
	free(u);
}

static struct chat_member *
chat_member_find(struct chat_user *u, struct chat_chan *ch)
{
	struct chat_member *m;

	TAILQ_FOREACH(m, &u->chans, by_user)
		if (m->ch == ch)
			return m;
	return NULL;
}

static struct chat_chan *
chat_chan_new(struct evs_chat *chat, const char *name)
{
	struct chat_chan *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return NULL;
	TAILQ_INIT(&ch->members);
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->created = time(NULL);
	ch->mode_t = 1;
	ch->mode_n = 1;
	table_add(&chat->chans, &ch->h, ch->name);
	return ch;
}

static void
chat_chan_free(struct chat_chan *ch)
{
	free(ch->topic);
	free(ch);
}

/* Removes membership m; frees the channel when it empties. */
static void
chat_member_remove(struct evs_chat *chat, struct chat_member *m)
{
	struct chat_chan *ch = m->ch;
	struct chat_user *u = m->u;

	TAILQ_REMOVE(&u->chans, m, by_user);
	TAILQ_REMOVE(&ch->members, m, by_chan);
	u->nchans--;
	ch->nmembers--;
	free(m);
	if (ch->nmembers == 0) {
		table_del(&chat->chans, &ch->h);
		chat_chan_free(ch);
	}
}

/* The service callbacks. */

/* Returns a monotonic clock in milliseconds. */
static uint64_t
chat_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
chat_open(struct evs_conn *c, void *arg)
{
	struct evs_chat *chat = arg;
	struct chat_user *u = calloc(1, sizeof(*u));
	const char *host = evs_conn_peer_host(c);

	if (u == NULL)
		return -1;
	u->chat = chat;
	u->c = c;
	TAILQ_INIT(&u->chans);
	/* A host such as "::1" would read as a trailing parameter. */
	snprintf(u->host, sizeof(u->host), "%s%s", host[0] == ':' ? "0" : "",
	    host);
	u->signon = u->idle_since = time(NULL);
	/* Milliseconds, not whole seconds: a deadline rounded to the
	   second could pass moments after the connection opened. */
	u->reg_deadline_ms = chat->reg_timeout_ms > 0 ? chat_now_ms() +
	    chat->reg_timeout_ms : 0;
	u->tokens = chat->flood_burst;
	event_base_gettimeofday_cached(evs_server_base(chat->srv), &u->refill);
	if (chat->password == NULL)
		u->flags |= U_PASS_OK;
	chat_user_set_prefix(u);
	TAILQ_INSERT_TAIL(&chat->users, u, link);
	chat->nunknown++;
	evs_conn_set_data(c, u);
	evs_conn_set_timeout(c, chat->reg_timeout_ms);
	return 0;
}

static void
chat_close(struct evs_conn *c, const char *reason, void *arg)
{
	struct evs_chat *chat = arg;
	struct chat_user *u = evs_conn_data(c);
	struct chat_member *m;

	if (u == NULL)
		return;
	if (u->quit_reason != NULL)
		reason = u->quit_reason;
	if ((u->flags & U_REGISTERED) && !TAILQ_EMPTY(&u->chans)) {
		struct evs_msg *msg = chat_msg_new(u, IRC_MSG_QUIT, reason);

		if (msg != NULL) {
			chat_peers_send(u, msg, 0);
			evs_msg_unref(msg);
		}
	}
	while ((m = TAILQ_FIRST(&u->chans)) != NULL)
		chat_member_remove(chat, m);
	if (u->nick[0] != '\0')
		table_del(&chat->nicks, &u->h);
	if (u->flags & U_INVISIBLE)
		chat->ninvisible--;
	if (u->flags & U_REGISTERED)
		chat->nusers--;
	else
		chat->nunknown--;
	TAILQ_REMOVE(&chat->users, u, link);
	evs_conn_set_data(c, NULL);
	chat_user_free(u);
}

static size_t
chat_refuse(char *buf, size_t len, const char *reason, void *arg)
{
	struct evs_chat *chat = arg;
	int n;

	n = snprintf(buf, len, IRC_ERROR_CLOSING,
	    chat->cur != NULL ? chat->cur->host : "*", reason);
	return n < 0 ? 0 : (size_t)n;
}

static void
chat_shutdown(struct evs_conn *c, void *arg)
{
	struct chat_user *u = evs_conn_data(c);

	(void)arg;
	if (u != NULL) {
		u->flags |= U_CLOSING;
		if (u->quit_reason == NULL)
			u->quit_reason = strdup("Server shutting down");
		chat_send(u, IRC_ERROR_SHUTDOWN, strlen(IRC_ERROR_SHUTDOWN));
	}
	evs_conn_close(c, "Server shutting down");
}

static void
chat_timeout(struct evs_conn *c, void *arg)
{
	struct evs_chat *chat = arg;
	struct chat_user *u = evs_conn_data(c);
	char reason[64];

	if (!(u->flags & U_REGISTERED)) {
		chat_disconnect(u, "Registration timed out");
		return;
	}
	if (u->flags & U_PING_SENT) {
		snprintf(reason, sizeof(reason), "Ping timeout: %u seconds",
		    (chat->ping_interval_ms + chat->ping_timeout_ms + 999) / 1000);
		chat_disconnect(u, reason);
		return;
	}
	u->flags |= U_PING_SENT;
	chat_server_msg(u, IRC_MSG_PING, chat->name);
	evs_conn_set_timeout(c, chat->ping_timeout_ms);
}

static void
chat_overlong(struct evs_conn *c, void *arg)
{
	struct chat_user *u = evs_conn_data(c);

	(void)arg;
	chat_reply(u, IRC_ERR_INPUTTOOLONG);
}

static void
chat_dispatch(struct chat_user *u, char *line, size_t len)
{
	struct irc_msg m;
	const struct chat_cmd *cmd = NULL;
	size_t i;

	if (irc_parse(line, len, &m) != IRC_PARSE_OK)
		return;
	for (i = 0; i < sizeof(chat_cmds) / sizeof(chat_cmds[0]); i++) {
		if (strcmp(chat_cmds[i].name, m.command) == 0) {
			cmd = &chat_cmds[i];
			break;
		}
	}
	if (cmd == NULL) {
		if (u->flags & U_REGISTERED)
			chat_reply(u, IRC_ERR_UNKNOWNCOMMAND, m.command);
		else
			chat_reply(u, IRC_ERR_NOTREGISTERED);
		return;
	}
	if (!(u->flags & U_REGISTERED) && !cmd->unregistered) {
		chat_reply(u, IRC_ERR_NOTREGISTERED);
		return;
	}
	if (m.nparams < cmd->minparams) {
		chat_reply(u, IRC_ERR_NEEDMOREPARAMS, m.command);
		return;
	}
	cmd->fn(u, &m);
}

static void
chat_refill(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	struct timeval now;
	double dt;

	event_base_gettimeofday_cached(evs_server_base(chat->srv), &now);
	dt = (double)(now.tv_sec - u->refill.tv_sec) +
	    (double)(now.tv_usec - u->refill.tv_usec) / 1e6;
	if (dt > 0)
		u->tokens += dt * chat->flood_rate;
	if (u->tokens > chat->flood_burst)
		u->tokens = chat->flood_burst;
	u->refill = now;
}

static void
chat_flood_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chat_user *u = arg;
	char *line = u->pending;
	size_t len = u->pendinglen;

	(void)fd;
	(void)what;
	chat_refill(u);
	u->tokens -= 1;
	u->pending = NULL;
	if (!(u->flags & U_CLOSING) && !evs_conn_closing(u->c))
		chat_dispatch(u, line, len);
	free(line);
	evs_conn_resume(u->c);
}

/* Takes a token for one command; without one, holds the line back and
   stops reading until the bucket refills.  Returns 1 if the caller may
   run the line now. */
static int
chat_flood_take(struct chat_user *u, const char *line, size_t len)
{
	struct evs_chat *chat = u->chat;
	struct timeval tv;
	double wait;

	if (chat->flood_rate <= 0)
		return 1;
	chat_refill(u);
	if (u->tokens >= 1) {
		u->tokens -= 1;
		return 1;
	}
	if (u->flood_timer == NULL) {
		u->flood_timer = evtimer_new(evs_server_base(chat->srv),
		    chat_flood_cb, u);
		if (u->flood_timer == NULL)
			return 1;
	}
	if ((u->pending = malloc(len + 1)) == NULL)
		return 1;
	memcpy(u->pending, line, len);
	u->pending[len] = '\0';
	u->pendinglen = len;
	wait = (1 - u->tokens) / chat->flood_rate;
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6) + 1;
	evs_conn_pause(u->c);
	evtimer_add(u->flood_timer, &tv);
	return 0;
}

static void
chat_line(struct evs_conn *c, char *line, size_t len, void *arg)
{
	struct evs_chat *chat = arg;
	struct chat_user *u = evs_conn_data(c);

	if (u->flags & U_CLOSING)
		return;
	if (u->flags & U_PING_SENT) {
		u->flags &= ~U_PING_SENT;
		evs_conn_set_timeout(c, chat->ping_interval_ms);
	}
	if (!(u->flags & U_REGISTERED) && u->reg_deadline_ms != 0 &&
	    chat_now_ms() >= u->reg_deadline_ms) {
		chat_disconnect(u, "Registration timed out");
		return;
	}
	if (chat_flood_take(u, line, len))
		chat_dispatch(u, line, len);
}

/* Registration. */

static void
chat_send_isupport(struct chat_user *u)
{
	char tokens[256];

	chat_reply(u, IRC_RPL_ISUPPORT, IRC_ISUPPORT_1);
	snprintf(tokens, sizeof(tokens), IRC_ISUPPORT_2, u->chat->name);
	chat_reply(u, IRC_RPL_ISUPPORT, tokens);
}

static void
chat_send_lusers(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;

	chat_reply(u, IRC_RPL_LUSERCLIENT, chat->nusers - chat->ninvisible,
	    chat->ninvisible);
	if (chat->nunknown > 0)
		chat_reply(u, IRC_RPL_LUSERUNKNOWN, chat->nunknown);
	chat_reply(u, IRC_RPL_LUSERCHANNELS, chat->chans.n);
	chat_reply(u, IRC_RPL_LUSERME, chat->nusers + chat->nunknown);
	chat_reply(u, IRC_RPL_LOCALUSERS, chat->nusers, chat->maxusers,
	    chat->nusers, chat->maxusers);
	chat_reply(u, IRC_RPL_GLOBALUSERS, chat->nusers, chat->maxusers,
	    chat->nusers, chat->maxusers);
}

static void
chat_send_motd(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	size_t i;

	if (chat->nmotd == 0) {
		chat_reply(u, IRC_ERR_NOMOTD);
		return;
	}
	chat_reply(u, IRC_RPL_MOTDSTART, chat->name);
	for (i = 0; i < chat->nmotd; i++)
		chat_reply(u, IRC_RPL_MOTD, chat->motd[i]);
	chat_reply(u, IRC_RPL_ENDOFMOTD);
}

static void
chat_try_register(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;

	if ((u->flags & (U_REGISTERED | U_CAP | U_CLOSING)) ||
	    !(u->flags & U_HAS_USER) || u->nick[0] == '\0')
		return;
	if (!(u->flags & U_PASS_OK)) {
		chat_reply(u, IRC_ERR_PASSWDMISMATCH);
		chat_disconnect(u, "Bad Password");
		return;
	}
	u->flags |= U_REGISTERED;
	chat->nunknown--;
	chat->nusers++;
	if (chat->nusers > chat->maxusers)
		chat->maxusers = chat->nusers;
	u->signon = u->idle_since = time(NULL);
	evs_conn_set_timeout(u->c, chat->ping_interval_ms);
	chat_reply(u, IRC_RPL_WELCOME, chat->name, u->prefix);
	chat_reply(u, IRC_RPL_YOURHOST, chat->name, "evsockd-" EVS_VERSION);
	chat_reply(u, IRC_RPL_CREATED, chat->created_str);
	chat_reply(u, IRC_RPL_MYINFO, chat->name, "evsockd-" EVS_VERSION,
	    IRC_USER_MODES, IRC_CHANNEL_MODES, IRC_CHANNEL_MODES_PARAM);
	chat_send_isupport(u);
	chat_send_lusers(u);
	chat_send_motd(u);
}

static void
cmd_cap(struct chat_user *u, struct irc_msg *m)
{
	const char *sub = m->params[0];

	if (irc_casecmp(sub, "LS") == 0) {
		if (!(u->flags & U_REGISTERED))
			u->flags |= U_CAP;
		chat_server_msg(u, IRC_MSG_CAP, chat_client(u), "LS", "");
	} else if (irc_casecmp(sub, "LIST") == 0) {
		chat_server_msg(u, IRC_MSG_CAP, chat_client(u), "LIST", "");
	} else if (irc_casecmp(sub, "REQ") == 0) {
		if (!(u->flags & U_REGISTERED))
			u->flags |= U_CAP;
		chat_server_msg(u, IRC_MSG_CAP, chat_client(u), "NAK",
		    m->nparams > 1 ? m->params[1] : "");
	} else if (irc_casecmp(sub, "END") == 0) {
		u->flags &= ~U_CAP;
		chat_try_register(u);
	} else {
		chat_reply(u, IRC_ERR_INVALIDCAPCMD, sub);
	}
}

static void
cmd_pass(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;

	if (u->flags & U_REGISTERED) {
		chat_reply(u, IRC_ERR_ALREADYREGISTERED);
		return;
	}
	if (chat->password == NULL)
		return;
	if (irc_secret_equal(m->params[0], chat->password))
		u->flags |= U_PASS_OK;
	else
		u->flags &= ~U_PASS_OK;
}

static void
cmd_nick(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	const char *nick = m->nparams > 0 ? m->params[0] : "";
	struct chat_user *other;

	if (*nick == '\0') {
		chat_reply(u, IRC_ERR_NONICKNAMEGIVEN);
		return;
	}
	if (!irc_valid_nick(nick)) {
		chat_reply(u, IRC_ERR_ERRONEUSNICKNAME, nick);
		return;
	}
	other = chat_find_user(chat, nick);
	if (other != NULL && other != u) {
		chat_reply(u, IRC_ERR_NICKNAMEINUSE, nick);
		return;
	}
	if (strcmp(u->nick, nick) == 0)
		return;
	if (u->flags & U_REGISTERED) {
		struct evs_msg *msg = chat_msg_new(u, IRC_MSG_NICK, nick);

		if (msg != NULL) {
			chat_peers_send(u, msg, 1);
			evs_msg_unref(msg);
		}
	}
	if (u->nick[0] != '\0')
		table_del(&chat->nicks, &u->h);
	snprintf(u->nick, sizeof(u->nick), "%s", nick);
	table_add(&chat->nicks, &u->h, u->nick);
	chat_user_set_prefix(u);
	chat_try_register(u);
}

static void
cmd_user(struct chat_user *u, struct irc_msg *m)
{
	const char *p;
	size_t i = 0;

	if (u->flags & (U_REGISTERED | U_HAS_USER)) {
		chat_reply(u, IRC_ERR_ALREADYREGISTERED);
		return;
	}
	if (m->params[0][0] == '\0') {
		chat_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	/* The user name ends up inside nick!user@host: keep it tame. */
	for (p = m->params[0]; *p != '\0' && i < IRC_USER_MAX; p++) {
		unsigned char ch = (unsigned char)*p;

		u->user[i++] = ch <= ' ' || ch == '@' || ch == '!' ||
		    ch == ':' || ch >= 0x7f ? '_' : (char)ch;
	}
	u->user[i] = '\0';
	snprintf(u->realname, sizeof(u->realname), "%s", m->params[3]);
	u->flags |= U_HAS_USER;
	chat_user_set_prefix(u);
	chat_try_register(u);
}

static void
cmd_ping(struct chat_user *u, struct irc_msg *m)
{
	chat_server_msg(u, IRC_MSG_PONG, u->chat->name, m->params[0]);
}

static void
cmd_pong(struct chat_user *u, struct irc_msg *m)
{
	/* Any input already counted as an answer (see chat_line). */
	(void)u;
	(void)m;
}

static void
cmd_quit(struct chat_user *u, struct irc_msg *m)
{
	char reason[IRC_LINE_MAX];

	if (m->nparams > 0 && m->params[0][0] != '\0')
		snprintf(reason, sizeof(reason), "Quit: %s", m->params[0]);
	else
		snprintf(reason, sizeof(reason), "Client Quit");
	chat_disconnect(u, reason);
}

/* Channels. */

/* Sends 353 lines for ch, as many names per line as fit, then 366. */
static void
chat_send_names(struct chat_user *u, struct chat_chan *ch)
{
	struct evs_chat *chat = u->chat;
	struct chat_member *mb;
	char names[CHAT_OUT_MAX];
	size_t n = 0, room;
	int head;

	/* ":server 353 nick = #chan :" leaves this much for names. */
	head = snprintf(NULL, 0, ":%s 353 %s = %s :", chat->name,
	    chat_client(u), ch->name);
	room = chat_outmax(chat) - 2 - (size_t)head;
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		size_t l = strlen(mb->u->nick) + (mb->op ? 1 : 0);

		if (n > 0 && n + 1 + l > room) {
			names[n] = '\0';
			chat_reply(u, IRC_RPL_NAMREPLY, ch->name, names);
			n = 0;
		}
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s%s",
		    n > 0 ? " " : "", mb->op ? "@" : "", mb->u->nick);
	}
	if (n > 0) {
		names[n] = '\0';
		chat_reply(u, IRC_RPL_NAMREPLY, ch->name, names);
	}
	chat_reply(u, IRC_RPL_ENDOFNAMES, ch->name);
}

static void
chat_part_all(struct chat_user *u)
{
	struct chat_member *mb;

	while ((mb = TAILQ_FIRST(&u->chans)) != NULL) {
		struct evs_msg *msg = chat_msg_new(u, IRC_MSG_PART,
		    mb->ch->name);

		if (msg != NULL) {
			chat_chan_send(mb->ch, NULL, msg);
			evs_msg_unref(msg);
		}
		chat_member_remove(u->chat, mb);
	}
}

static void
chat_join_one(struct chat_user *u, const char *name)
{
	struct evs_chat *chat = u->chat;
	struct chat_chan *ch;
	struct chat_member *mb;
	struct evs_msg *msg;

	if (!irc_valid_channel(name)) {
		chat_reply(u, IRC_ERR_NOSUCHCHANNEL, name);
		return;
	}
	ch = chat_find_chan(chat, name);
	if (ch != NULL && chat_member_find(u, ch) != NULL)
		return;
	if (u->nchans >= IRC_CHANLIMIT) {
		chat_reply(u, IRC_ERR_TOOMANYCHANNELS, name);
		return;
	}
	if ((mb = calloc(1, sizeof(*mb))) == NULL)
		return;
	if (ch == NULL && (ch = chat_chan_new(chat, name)) == NULL) {
		free(mb);
		return;
	}
	mb->u = u;
	mb->ch = ch;
	mb->op = ch->nmembers == 0;
	TAILQ_INSERT_TAIL(&ch->members, mb, by_chan);
	TAILQ_INSERT_TAIL(&u->chans, mb, by_user);
	ch->nmembers++;
	u->nchans++;
	if ((msg = chat_msg_new(u, IRC_MSG_JOIN, ch->name)) != NULL) {
		chat_chan_send(ch, NULL, msg);
		evs_msg_unref(msg);
	}
	if (ch->topic != NULL) {
		chat_reply(u, IRC_RPL_TOPIC, ch->name, ch->topic);
		chat_reply(u, IRC_RPL_TOPICWHOTIME, ch->name, ch->topic_by,
		    (long long)ch->topic_time);
	}
	chat_send_names(u, ch);
}

static void
cmd_join(struct chat_user *u, struct irc_msg *m)
{
	char *list = (char *)(uintptr_t)m->params[0], *name, *save = NULL;

	if (*list == '\0') {
		chat_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	if (strcmp(list, "0") == 0) {
		chat_part_all(u);
		return;
	}
	for (name = strtok_r(list, ",", &save); name != NULL;
	    name = strtok_r(NULL, ",", &save))
		chat_join_one(u, name);
}

static void
cmd_part(struct chat_user *u, struct irc_msg *m)
{
	char *list = (char *)(uintptr_t)m->params[0], *name, *save = NULL;
	const char *reason = m->nparams > 1 ? m->params[1] : NULL;

	if (*list == '\0') {
		chat_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	for (name = strtok_r(list, ",", &save); name != NULL;
	    name = strtok_r(NULL, ",", &save)) {
		struct chat_chan *ch = chat_find_chan(u->chat, name);
		struct chat_member *mb;
		struct evs_msg *msg;

		if (ch == NULL) {
			chat_reply(u, IRC_ERR_NOSUCHCHANNEL, name);
			continue;
		}
		if ((mb = chat_member_find(u, ch)) == NULL) {
			chat_reply(u, IRC_ERR_NOTONCHANNEL, name);
			continue;
		}
		if (reason != NULL && *reason != '\0')
			msg = chat_msg_new(u, IRC_MSG_PART_REASON, ch->name,
			    reason);
		else
			msg = chat_msg_new(u, IRC_MSG_PART, ch->name);
		if (msg != NULL) {
			chat_chan_send(ch, NULL, msg);
			evs_msg_unref(msg);
		}
		chat_member_remove(u->chat, mb);
	}
}

/* PRIVMSG and NOTICE: NOTICE never causes a reply (RFC 2812 3.3.2). */
static void
chat_message(struct chat_user *u, struct irc_msg *m, int notice)
{
	struct evs_chat *chat = u->chat;
	char *list, *name, *save = NULL;
	const char *text;

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		if (!notice)
			chat_reply(u, IRC_ERR_NORECIPIENT, m->command);
		return;
	}
	if (m->nparams < 2 || m->params[1][0] == '\0') {
		if (!notice)
			chat_reply(u, IRC_ERR_NOTEXTTOSEND);
		return;
	}
	list = (char *)(uintptr_t)m->params[0];
	text = m->params[1];
	if (!notice)
		u->idle_since = time(NULL);
	for (name = strtok_r(list, ",", &save); name != NULL;
	    name = strtok_r(NULL, ",", &save)) {
		struct evs_msg *msg;

		if (irc_is_channel(name)) {
			struct chat_chan *ch = chat_find_chan(chat, name);

			if (ch == NULL) {
				if (!notice)
					chat_reply(u, IRC_ERR_NOSUCHNICK, name);
				continue;
			}
			if (ch->mode_n && chat_member_find(u, ch) == NULL) {
				if (!notice)
					chat_reply(u, IRC_ERR_CANNOTSENDTOCHAN,
					    ch->name);
				continue;
			}
			msg = notice ?
			    chat_msg_new(u, IRC_MSG_NOTICE, ch->name, text) :
			    chat_msg_new(u, IRC_MSG_PRIVMSG, ch->name, text);
			if (msg != NULL) {
				chat_chan_send(ch, u, msg);
				evs_msg_unref(msg);
			}
		} else {
			struct chat_user *to = chat_find_user(chat, name);

			if (to == NULL || !(to->flags & U_REGISTERED)) {
				if (!notice)
					chat_reply(u, IRC_ERR_NOSUCHNICK, name);
				continue;
			}
			msg = notice ?
			    chat_msg_new(u, IRC_MSG_NOTICE, to->nick, text) :
			    chat_msg_new(u, IRC_MSG_PRIVMSG, to->nick, text);
			if (msg != NULL) {
				chat_send_msg(to, msg);
				evs_msg_unref(msg);
			}
			if (!notice && to->away != NULL)
				chat_reply(u, IRC_RPL_AWAY, to->nick,
				    to->away);
		}
	}
}

static void
cmd_privmsg(struct chat_user *u, struct irc_msg *m)
{
	chat_message(u, m, 0);
}

static void
cmd_notice(struct chat_user *u, struct irc_msg *m)
{
	chat_message(u, m, 1);
}

static void
cmd_names(struct chat_user *u, struct irc_msg *m)
{
	char *list, *name, *save = NULL;

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		chat_reply(u, IRC_RPL_ENDOFNAMES, "*");
		return;
	}
	list = (char *)(uintptr_t)m->params[0];
	for (name = strtok_r(list, ",", &save); name != NULL;
	    name = strtok_r(NULL, ",", &save)) {
		struct chat_chan *ch = chat_find_chan(u->chat, name);

		if (ch != NULL)
			chat_send_names(u, ch);
		else
			chat_reply(u, IRC_RPL_ENDOFNAMES, name);
	}
}

static void
cmd_topic(struct chat_user *u, struct irc_msg *m)
{
	struct chat_chan *ch = chat_find_chan(u->chat, m->params[0]);
	struct chat_member *mb;
	struct evs_msg *msg;
	char topic[IRC_TOPIC_MAX + 1];

	if (ch == NULL) {
		chat_reply(u, IRC_ERR_NOSUCHCHANNEL, m->params[0]);
		return;
	}
	mb = chat_member_find(u, ch);
	if (m->nparams < 2) {
		if (ch->topic == NULL) {
			chat_reply(u, IRC_RPL_NOTOPIC, ch->name);
		} else {
			chat_reply(u, IRC_RPL_TOPIC, ch->name, ch->topic);
			chat_reply(u, IRC_RPL_TOPICWHOTIME, ch->name,
			    ch->topic_by, (long long)ch->topic_time);
		}
		return;
	}
	if (mb == NULL) {
		chat_reply(u, IRC_ERR_NOTONCHANNEL, ch->name);
		return;
	}
	if (ch->mode_t && !mb->op) {
		chat_reply(u, IRC_ERR_CHANOPRIVSNEEDED, ch->name);
		return;
	}
	snprintf(topic, sizeof(topic), "%s", m->params[1]);
	free(ch->topic);
	ch->topic = topic[0] != '\0' ? strdup(topic) : NULL;
	snprintf(ch->topic_by, sizeof(ch->topic_by), "%s", u->nick);
	ch->topic_time = time(NULL);
	if ((msg = chat_msg_new(u, IRC_MSG_TOPIC, ch->name, topic)) != NULL) {
		chat_chan_send(ch, NULL, msg);
		evs_msg_unref(msg);
	}
}

static void
chat_list_one(struct chat_user *u, struct chat_chan *ch)
{
	chat_reply(u, IRC_RPL_LIST, ch->name, ch->nmembers,
	    ch->topic != NULL ? ch->topic : "");
}

static void
cmd_list(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;

	chat_reply(u, IRC_RPL_LISTSTART);
	if (m->nparams > 0 && m->params[0][0] != '\0') {
		char *list = (char *)(uintptr_t)m->params[0], *name;
		char *save = NULL;

		for (name = strtok_r(list, ",", &save); name != NULL;
		    name = strtok_r(NULL, ",", &save)) {
			struct chat_chan *ch = chat_find_chan(chat, name);

			if (ch != NULL)
				chat_list_one(u, ch);
		}
	} else {
		for (size_t i = 0; i < chat->chans.nb; i++) {
			struct chat_hent *e;

			for (e = chat->chans.b[i]; e != NULL; e = e->next)
				chat_list_one(u, (struct chat_chan *)(void *)
				    ((char *)e -
				    offsetof(struct chat_chan, h)));
		}
	}
	chat_reply(u, IRC_RPL_LISTEND);
}

static void
chat_who_reply(struct chat_user *u, const char *chan, struct chat_user *who,
    int op)
{
	char flags[4];

	snprintf(flags, sizeof(flags), "%c%s", who->away != NULL ? 'G' : 'H',
	    op ? "@" : "");
	chat_reply(u, IRC_RPL_WHOREPLY, chan, who->user, who->host,
	    u->chat->name, who->nick, flags, who->realname);
}

static void
cmd_who(struct chat_user *u, struct irc_msg *m)
{
	const char *mask = m->nparams > 0 ? m->params[0] : "*";

	if (irc_is_channel(mask)) {
		struct chat_chan *ch = chat_find_chan(u->chat, mask);
		struct chat_member *mb;

		if (ch != NULL)
			TAILQ_FOREACH(mb, &ch->members, by_chan)
				chat_who_reply(u, ch->name, mb->u, mb->op);
	} else {
		struct chat_user *who = chat_find_user(u->chat, mask);

		if (who != NULL && (who->flags & U_REGISTERED))
			chat_who_reply(u, "*", who, 0);
	}
	chat_reply(u, IRC_RPL_ENDOFWHO, mask);
}

static void
cmd_whois(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	const char *nick = m->params[m->nparams - 1];
	struct chat_user *who = chat_find_user(chat, nick);
	struct chat_member *mb;
	char chans[CHAT_OUT_MAX];
	size_t n = 0, room;

	if (*nick == '\0') {
		chat_reply(u, IRC_ERR_NONICKNAMEGIVEN);
		return;
	}
	if (who == NULL || !(who->flags & U_REGISTERED)) {
		chat_reply(u, IRC_ERR_NOSUCHNICK, nick);
		chat_reply(u, IRC_RPL_ENDOFWHOIS, nick);
		return;
	}
	chat_reply(u, IRC_RPL_WHOISUSER, who->nick, who->user, who->host,
	    who->realname);
	room = chat_outmax(chat) - 2 - (size_t)snprintf(NULL, 0,
	    ":%s 319 %s %s :", chat->name, chat_client(u), who->nick);
	TAILQ_FOREACH(mb, &who->chans, by_user) {
		size_t l = strlen(mb->ch->name) + (mb->op ? 1 : 0);

		if (n > 0 && n + 1 + l > room) {
			chans[n] = '\0';
			chat_reply(u, IRC_RPL_WHOISCHANNELS, who->nick, chans);
			n = 0;
		}
		n += (size_t)snprintf(chans + n, sizeof(chans) - n, "%s%s%s",
		    n > 0 ? " " : "", mb->op ? "@" : "", mb->ch->name);
	}
	if (n > 0) {
		chans[n] = '\0';
		chat_reply(u, IRC_RPL_WHOISCHANNELS, who->nick, chans);
	}
	chat_reply(u, IRC_RPL_WHOISSERVER, who->nick, chat->name,
	    "evsock chat");
	if (who->away != NULL)
		chat_reply(u, IRC_RPL_AWAY, who->nick, who->away);
	chat_reply(u, IRC_RPL_WHOISIDLE, who->nick,
	    (long long)(time(NULL) - who->idle_since), (long long)who->signon);
	chat_reply(u, IRC_RPL_ENDOFWHOIS, who->nick);
}

static void
chat_user_mode(struct chat_user *u, struct irc_msg *m)
{
	struct chat_user *who = chat_find_user(u->chat, m->params[0]);
	const char *p;
	char applied[16];
	size_t n = 0;
	int add = 1, lastsign = 0, unknown = 0;

	if (who == NULL || !(who->flags & U_REGISTERED)) {
		chat_reply(u, IRC_ERR_NOSUCHNICK, m->params[0]);
		return;
	}
	if (who != u) {
		chat_reply(u, IRC_ERR_USERSDONTMATCH);
		return;
	}
	if (m->nparams < 2) {
		chat_reply(u, IRC_RPL_UMODEIS,
		    (u->flags & U_INVISIBLE) ? "+i" : "+");
		return;
	}
	for (p = m->params[1]; *p != '\0'; p++) {
		if (*p == '+' || *p == '-') {
			add = *p == '+';
			continue;
		}
		if (*p != 'i') {
			unknown = 1;
			continue;
		}
		if (add == !!(u->flags & U_INVISIBLE))
			continue;
		if (add) {
			u->flags |= U_INVISIBLE;
			u->chat->ninvisible++;
		} else {
			u->flags &= ~U_INVISIBLE;
			u->chat->ninvisible--;
		}
		if (lastsign != (add ? '+' : '-') && n < sizeof(applied) - 2)
			applied[n++] = (char)(lastsign = add ? '+' : '-');
		if (n < sizeof(applied) - 1)
			applied[n++] = 'i';
	}
	applied[n] = '\0';
	if (unknown)
		chat_reply(u, IRC_ERR_UMODEUNKNOWNFLAG);
	if (n > 0) {
		struct evs_msg *msg = chat_msg_new(u, IRC_MSG_MODE, u->nick,
		    applied);

		if (msg != NULL) {
			chat_send_msg(u, msg);
			evs_msg_unref(msg);
		}
	}
}

static void
chat_chan_mode(struct chat_user *u, struct irc_msg *m, struct chat_chan *ch)
{
	struct chat_member *me = chat_member_find(u, ch), *target;
	char applied[64], args[IRC_LINE_MAX], all[IRC_LINE_MAX + 64];
	size_t n = 0, an = 0;
	int add = 1, lastsign = 0, argi = 2, denied = 0;
	const char *p;

	if (m->nparams < 2) {
		snprintf(applied, sizeof(applied), "+%s%s",
		    ch->mode_n ? "n" : "", ch->mode_t ? "t" : "");
		chat_reply(u, IRC_RPL_CHANNELMODEIS, ch->name, applied);
		chat_reply(u, IRC_RPL_CREATIONTIME, ch->name,
		    (long long)ch->created);
		return;
	}
	args[0] = '\0';
	for (p = m->params[1]; *p != '\0'; p++) {
		char mc = *p;
		int *flag = NULL;
		const char *arg = NULL;

		if (mc == '+' || mc == '-') {
			add = mc == '+';
			continue;
		}
		if (mc == 'b' && argi >= m->nparams) {
			/* A ban list query; there are no bans. */
			chat_reply(u, IRC_RPL_ENDOFBANLIST, ch->name);
			continue;
		}
		if (mc != 'o' && mc != 't' && mc != 'n') {
			chat_reply(u, IRC_ERR_UNKNOWNMODE, mc);
			continue;
		}
		if (mc == 'o') {
			if (argi >= m->nparams)
				continue;
			arg = m->params[argi++];
		}
		if (me == NULL || !me->op) {
			if (!denied && me == NULL)
				chat_reply(u, IRC_ERR_NOTONCHANNEL, ch->name);
			else if (!denied)
				chat_reply(u, IRC_ERR_CHANOPRIVSNEEDED,
				    ch->name);
			denied = 1;
			continue;
		}
		if (mc == 'o') {
			struct chat_user *who = chat_find_user(u->chat, arg);

			if (who == NULL || !(who->flags & U_REGISTERED)) {
				chat_reply(u, IRC_ERR_NOSUCHNICK, arg);
				continue;
			}
			if ((target = chat_member_find(who, ch)) == NULL) {
				chat_reply(u, IRC_ERR_USERNOTINCHANNEL,
				    who->nick, ch->name);
				continue;
			}
			if (target->op == add)
				continue;
			target->op = add;
			an += (size_t)snprintf(args + an, sizeof(args) - an,
			    " %s", who->nick);
			if (an >= sizeof(args))
				an = sizeof(args) - 1;
		} else {
			flag = mc == 't' ? &ch->mode_t : &ch->mode_n;
			if (*flag == add)
				continue;
			*flag = add;
		}
		if (n + 3 >= sizeof(applied))
			break;
		if (lastsign != (add ? '+' : '-'))
			applied[n++] = (char)(lastsign = add ? '+' : '-');
		applied[n++] = mc;
	}
	applied[n] = '\0';
	if (n > 0) {
		struct evs_msg *msg;

		snprintf(all, sizeof(all), "%s%s", applied, args);
		if ((msg = chat_msg_new(u, IRC_MSG_MODE, ch->name, all)) !=
		    NULL) {
			chat_chan_send(ch, NULL, msg);
			evs_msg_unref(msg);
		}
	}
}

static void
cmd_mode(struct chat_user *u, struct irc_msg *m)
{
	struct chat_chan *ch;

	if (!irc_is_channel(m->params[0])) {
		chat_user_mode(u, m);
		return;
	}
	if ((ch = chat_find_chan(u->chat, m->params[0])) == NULL) {
		chat_reply(u, IRC_ERR_NOSUCHCHANNEL, m->params[0]);
		return;
	}
	chat_chan_mode(u, m, ch);
}

static void
cmd_kick(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	struct chat_chan *ch = chat_find_chan(chat, m->params[0]);
	struct chat_member *me, *target;
	char *list, *nick, *save = NULL;
	const char *reason = m->nparams > 2 && m->params[2][0] != '\0' ?
	    m->params[2] : u->nick;

	if (ch == NULL) {
		chat_reply(u, IRC_ERR_NOSUCHCHANNEL, m->params[0]);
		return;
	}
	if ((me = chat_member_find(u, ch)) == NULL) {
		chat_reply(u, IRC_ERR_NOTONCHANNEL, ch->name);
		return;
	}
	if (!me->op) {
		chat_reply(u, IRC_ERR_CHANOPRIVSNEEDED, ch->name);
		return;
	}
	list = (char *)(uintptr_t)m->params[1];
	for (nick = strtok_r(list, ",", &save); nick != NULL;
	    nick = strtok_r(NULL, ",", &save)) {
		struct chat_user *who = chat_find_user(chat, nick);
		struct evs_msg *msg;
		char why[IRC_KICK_MAX + 1];
		int last;

		if (who == NULL || !(who->flags & U_REGISTERED)) {
			chat_reply(u, IRC_ERR_NOSUCHNICK, nick);
			continue;
		}
		if ((target = chat_member_find(who, ch)) == NULL) {
			chat_reply(u, IRC_ERR_USERNOTINCHANNEL, who->nick,
			    ch->name);
			continue;
		}
		snprintf(why, sizeof(why), "%s", reason);
		msg = chat_msg_new(u, IRC_MSG_KICK, ch->name, who->nick, why);
		if (msg != NULL) {
			chat_chan_send(ch, NULL, msg);
			evs_msg_unref(msg);
		}
		/* The kicker may empty the channel by kicking itself. */
		last = ch->nmembers == 1;
		chat_member_remove(chat, target);
		if (last)
			return;
	}
}

static void
cmd_away(struct chat_user *u, struct irc_msg *m)
{
	char away[IRC_AWAY_MAX + 1];

	free(u->away);
	u->away = NULL;
	if (m->nparams < 1 || m->params[0][0] == '\0') {
		chat_reply(u, IRC_RPL_UNAWAY);
		return;
	}
	snprintf(away, sizeof(away), "%s", m->params[0]);
	u->away = strdup(away);
	chat_reply(u, IRC_RPL_NOWAWAY);
}

static void
cmd_motd(struct chat_user *u, struct irc_msg *m)
{
	(void)m;
	chat_send_motd(u);
}

static void
cmd_lusers(struct chat_user *u, struct irc_msg *m)
{
	(void)m;
	chat_send_lusers(u);
}

static void
cmd_version(struct chat_user *u, struct irc_msg *m)
{
	(void)m;
	chat_reply(u, IRC_RPL_VERSION, "evsockd-" EVS_VERSION, u->chat->name,
	    "evsock chat service");
	chat_send_isupport(u);
}

static void
cmd_time(struct chat_user *u, struct irc_msg *m)
{
	time_t now = time(NULL);
	struct tm tm;
	char human[64];

	(void)m;
	gmtime_r(&now, &tm);
	strftime(human, sizeof(human), "%A %B %d %Y -- %H:%M:%S +00:00", &tm);
	chat_reply(u, IRC_RPL_TIME, u->chat->name, (long long)now, human);
}

/* The public API. */

const struct evs_service *
evs_chat_service(void)
{
	return &chat_service;
}

struct evs_chat *
evs_chat_new(struct evs_server *srv)
{
	struct evs_chat *chat;
	struct tm tm;

	if (srv == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((chat = calloc(1, sizeof(*chat))) == NULL)
		return NULL;
	chat->srv = srv;
	TAILQ_INIT(&chat->users);
	chat->ping_interval_ms = 90000;
	chat->ping_timeout_ms = 60000;
	chat->reg_timeout_ms = 60000;
	chat->flood_rate = 10;
	chat->flood_burst = 20;
	chat->created = time(NULL);
	gmtime_r(&chat->created, &tm);
	strftime(chat->created_str, sizeof(chat->created_str),
	    "%a %b %d %Y at %H:%M:%S UTC", &tm);
	if ((chat->name = strdup("evsockd")) == NULL ||
	    table_init(&chat->nicks) == -1 || table_init(&chat->chans) == -1) {
		evs_chat_free(chat);
		return NULL;
	}
	return chat;
}

static void
chat_motd_clear(struct evs_chat *chat)
{
	for (size_t i = 0; i < chat->nmotd; i++)
		free(chat->motd[i]);
	free(chat->motd);
	chat->motd = NULL;
	chat->nmotd = 0;
}

void
evs_chat_free(struct evs_chat *chat)
{
	struct chat_user *u;
	struct chat_member *m;

	if (chat == NULL)
		return;
	/* Connections the engine freed without close(): drop their state
	   without touching them. */
	while ((u = TAILQ_FIRST(&chat->users)) != NULL) {
		while ((m = TAILQ_FIRST(&u->chans)) != NULL)
			chat_member_remove(chat, m);
		TAILQ_REMOVE(&chat->users, u, link);
		chat_user_free(u);
	}
	free(chat->nicks.b);
	free(chat->chans.b);
	chat_motd_clear(chat);
	free(chat->name);
	if (chat->password != NULL) {
		memset(chat->password, 0, strlen(chat->password));
		free(chat->password);
	}
	free(chat);
}

int
evs_chat_set(struct evs_chat *chat, enum evs_chat_option opt,
    long long value)
{
	if (value < 0 || value > 0x7fffffffLL) {
		errno = EINVAL;
		return -1;
	}
	switch (opt) {
	case EVS_CHAT_PING_INTERVAL_MS:
		chat->ping_interval_ms = (unsigned)value;
		return 0;
	case EVS_CHAT_PING_TIMEOUT_MS:
		chat->ping_timeout_ms = (unsigned)value;
		return 0;
	case EVS_CHAT_REG_TIMEOUT_MS:
		chat->reg_timeout_ms = (unsigned)value;
		return 0;
	case EVS_CHAT_FLOOD_RATE:
		chat->flood_rate = (double)value;
		return 0;
	case EVS_CHAT_FLOOD_BURST:
		if (value < 1)
			break;
		chat->flood_burst = (unsigned)value;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

int
evs_chat_set_server_name(struct evs_chat *chat, const char *name)
{
	char *copy;

	/* It is sent as a prefix and a parameter: one word. */
	if (name == NULL || *name == '\0' || *name == ':' ||
	    strpbrk(name, " \r\n\t!@,") != NULL || strlen(name) > 63) {
		errno = EINVAL;
		return -1;
	}
	if ((copy = strdup(name)) == NULL)
		return -1;
	free(chat->name);
	chat->name = copy;
	return 0;
}

int
evs_chat_set_password(struct evs_chat *chat, const char *password)
{
	char *copy = NULL;

	if (password != NULL && (copy = strdup(password)) == NULL)
		return -1;
	if (chat->password != NULL) {
		memset(chat->password, 0, strlen(chat->password));
		free(chat->password);
	}
	chat->password = copy;
	return 0;
}

int
evs_chat_set_motd(struct evs_chat *chat, const char *text)
{
	char **lines = NULL;
	size_t n = 0, i;
	const char *p, *eol;

	if (text == NULL) {
		chat_motd_clear(chat);
		return 0;
	}
	for (p = text; *p != '\0'; p = *eol != '\0' ? eol + 1 : eol) {
		char **nl;
		size_t l;

		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		l = (size_t)(eol - p);
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if ((nl = realloc(lines, (n + 1) * sizeof(*lines))) == NULL)
			goto fail;
		lines = nl;
		if ((lines[n] = strndup(p, l)) == NULL)
			goto fail;
		n++;
	}
	chat_motd_clear(chat);
	chat->motd = lines;
	chat->nmotd = n;
	return 0;
fail:
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return -1;
}

void
evs_chat_stats(const struct evs_chat *chat, struct evs_chat_stats *st)
{
	st->users = chat->nusers;
	st->unregistered = chat->nunknown;
	st->channels = chat->chans.n;
	st->max_users = chat->maxusers;
}
