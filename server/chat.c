/*
 * The chat service: an IRC subset for many clients on one event loop.
 *
 * This file is the glue: the service callbacks the engine calls, the
 * command table and dispatch, and the public evs_chat_* API.  The
 * commands live in one file per family and share chat-int.h.
 *
 * A connection ends in exactly one place, chat_close(), which the
 * engine calls from its reaper after the socket is gone: only there is
 * a user freed.  QUIT, timeouts and a bad password take effect at once
 * (chat_disconnect: peers see the QUIT, the user leaves its channels
 * and its nick is free) while the connection drains its goodbye.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "chat-int.h"
#include "chat-link.h"

struct chat_cmd {
	const char *name;
	chat_cmd_fn *fn;
	int minparams;
	int unregistered; /* allowed before registration */
};

static int chat_open(struct evs_conn *, void *);
static void chat_line(struct evs_conn *, char *, size_t, void *);
static void chat_overlong(struct evs_conn *, void *);
static void chat_timeout(struct evs_conn *, void *);
static void chat_shutdown(struct evs_conn *, void *);
static size_t chat_refuse(struct evs_conn *, char *, size_t, const char *,
    void *);
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

static const struct chat_cmd chat_cmds[] = {
	{ "ADMIN", chat_info_admin, 0, 0 },
	{ "AWAY", chat_msg_away, 0, 0 },
	{ "CAP", chat_cap_cmd, 1, 1 },
	{ "CHATHISTORY", chat_history_cmd, 1, 0 },
	{ "HELP", chat_info_help, 0, 0 },
	{ "HELPOP", chat_info_help, 0, 0 },
	{ "INFO", chat_info_info, 0, 0 },
	{ "INVITE", chat_chan_invite, 0, 0 },
	{ "ISON", chat_info_ison, 1, 0 },
	{ "JOIN", chat_chan_join, 1, 0 },
	{ "KICK", chat_chan_kick, 2, 0 },
	{ "KILL", chat_oper_kill, 1, 0 },
	{ "KLINE", chat_oper_kline, 1, 0 },
	{ "LINKS", chat_info_links, 0, 0 },
	{ "LIST", chat_chan_list, 0, 0 },
	{ "LUSERS", chat_query_lusers, 0, 0 },
	{ "MODE", chat_mode_cmd, 1, 0 },
	{ "MONITOR", chat_monitor_cmd, 1, 0 },
	{ "MOTD", chat_query_motd, 0, 0 },
	{ "NAMES", chat_chan_names, 0, 0 },
	{ "NICK", chat_reg_nick, 0, 1 },
	{ "NOTICE", chat_msg_notice, 0, 0 },
	{ "OPER", chat_oper_oper, 2, 0 },
	{ "PART", chat_chan_part, 1, 0 },
	{ "PASS", chat_reg_pass, 1, 1 },
	{ "PING", chat_reg_ping, 1, 1 },
	{ "PONG", chat_reg_pong, 0, 1 },
	{ "PRIVMSG", chat_msg_privmsg, 0, 0 },
	{ "QUIT", chat_reg_quit, 0, 1 },
	{ "REHASH", chat_oper_rehash, 0, 0 },
	{ "SETNAME", chat_cap_setname, 1, 0 },
	{ "STATS", chat_oper_stats, 1, 0 },
	{ "TAGMSG", chat_msg_tagmsg, 1, 0 },
	{ "TIME", chat_query_time, 0, 0 },
	{ "TOPIC", chat_chan_topic, 1, 0 },
	{ "UNKLINE", chat_oper_unkline, 1, 0 },
	{ "USER", chat_reg_user, 4, 1 },
	{ "USERHOST", chat_info_userhost, 1, 0 },
	{ "VERSION", chat_query_version, 0, 0 },
	{ "WALLOPS", chat_oper_wallops, 1, 0 },
	{ "WHO", chat_query_who, 0, 0 },
	{ "WHOIS", chat_query_whois, 1, 0 },
	{ "WHOWAS", chat_whowas_cmd, 0, 0 },
};

#define CHAT_NCMDS (sizeof(chat_cmds) / sizeof(chat_cmds[0]))
_Static_assert(CHAT_NCMDS <= CHAT_CMDS_MAX, "raise CHAT_CMDS_MAX");

/* Returns a monotonic clock in milliseconds. */
static uint64_t
chat_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The longest line chat sends: the server's limit, within what chat's
   buffer holds.  Read when a client connects, not on every reply. */
static void
chat_read_line_limit(struct evs_chat *chat)
{
	long long m = evs_server_get(chat->srv, EVS_OPT_MAX_LINE);

	if (m < IRC_LINE_MAX)
		chat->outmax = IRC_LINE_MAX;
	else
		chat->outmax = m > CHAT_OUT_MAX ? CHAT_OUT_MAX : (size_t)m;
}

/* Ends u's presence: its peers see the QUIT, and it leaves channels,
   the nick table and the counts, whether or not the socket is gone. */
static void
chat_leave(struct chat_user *u, const char *reason)
{
	if (u->flags & U_DETACHED)
		return;
	if ((u->flags & U_REGISTERED) && !TAILQ_EMPTY(&u->chans))
		chat_send_peers(u, 0, IRC_MSG_QUIT, reason);
	chat_state_detach(u);
}

void
chat_disconnect(struct chat_user *u, const char *reason)
{
	char line[IRC_LINE_MAX];
	size_t n;

	if (u->flags & (U_CLOSING | U_REMOTE))
		return;
	/* Replies held for a label go before the goodbye. */
	chat_label_end(u);
	u->flags |= U_CLOSING;
	if (u->quit_reason == NULL)
		u->quit_reason = strdup(reason);
	if ((n = chat_send_error(line, sizeof(line), u->host, reason)) > 0)
		chat_send_raw(u, line, n);
	chat_leave(u, u->quit_reason != NULL ? u->quit_reason : reason);
	evs_conn_close(u->c, reason);
}

static int
chat_open(struct evs_conn *c, void *arg)
{
	struct evs_chat *chat = arg;
	struct chat_user *u;

	chat_read_line_limit(chat);
	if ((u = chat_state_user_new(chat, c)) == NULL)
		return -1;
	/* The framer lets a client's tags through on top of the line
	   limit; chat_line_fits() holds each part to its own. */
	if (evs_conn_set_max_line(c, chat->outmax + IRC_TAGS_CLIENT_MAX + 2) ==
	    -1) {
		chat_state_quit(u);
		return -1;
	}
	/* Milliseconds, not whole seconds: a deadline rounded to the
	   second could pass moments after the connection opened. */
	u->reg_deadline_ms = chat->reg_timeout_ms > 0 ?
	    chat_now_ms() + chat->reg_timeout_ms :
	    0;
	evs_conn_set_data(c, u);
	evs_conn_set_timeout(c, chat->reg_timeout_ms);
	return 0;
}

static void
chat_close(struct evs_conn *c, const char *reason, void *arg)
{
	struct chat_user *u = evs_conn_data(c);

	(void)arg;
	if (u == NULL)
		return;
	if (u->quit_reason != NULL)
		reason = u->quit_reason;
	chat_leave(u, reason);
	evs_conn_set_data(c, NULL);
	chat_state_quit(u);
}

static size_t
chat_refuse(struct evs_conn *c, char *buf, size_t len, const char *reason,
    void *arg)
{
	struct chat_user *u = evs_conn_data(c);

	(void)arg;
	return chat_send_error(buf, len, u != NULL ? u->host : "*", reason);
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
		chat_send_raw(u, IRC_ERROR_SHUTDOWN,
		    strlen(IRC_ERROR_SHUTDOWN));
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
		    (chat->ping_interval_ms + chat->ping_timeout_ms + 999) /
		        1000);
		chat_disconnect(u, reason);
		return;
	}
	u->flags |= U_PING_SENT;
	chat_send_server(u, IRC_MSG_PING, chat->name);
	evs_conn_set_timeout(c, chat->ping_timeout_ms);
}

static void
chat_overlong(struct evs_conn *c, void *arg)
{
	struct chat_user *u = evs_conn_data(c);

	(void)arg;
	chat_send_reply(u, IRC_ERR_INPUTTOOLONG);
}

/* Returns the index past spaces from i (past the word at i first when
   `word` is set). */
static size_t
chat_skip(const char *line, size_t len, size_t i, int word)
{
	if (word)
		while (i < len && line[i] != ' ' && line[i] != '\0')
			i++;
	while (i < len && line[i] == ' ')
		i++;
	return i;
}

/* Answers a line the parser refused for a NUL, CR or LF inside it,
   naming its command (the first word after any tags and prefix). */
static void
chat_refuse_badchar(struct chat_user *u, const char *line, size_t len)
{
	char cmd[32];
	size_t i = chat_skip(line, len, 0, 0), n = 0;

	if (i < len && line[i] == '@')
		i = chat_skip(line, len, i, 1);
	if (i < len && line[i] == ':')
		i = chat_skip(line, len, i, 1);
	while (i < len && n < sizeof(cmd) - 1 && line[i] > ' ' &&
	    (unsigned char)line[i] < 0x7f) {
		char ch = line[i++];

		cmd[n++] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
	}
	cmd[n] = '\0';
	chat_send_reply(u, IRC_ERR_UNKNOWNERROR, n > 0 ? cmd : "*",
	    "Line contains a NUL, CR or LF byte and was not run");
}

/* Returns 1 if the line keeps to the limits: at most
   IRC_TAGS_CLIENT_MAX bytes of tags, and the line limit for the rest;
   else says 417 and returns 0. */
static int
chat_line_fits(struct chat_user *u, const char *line, size_t len)
{
	size_t body = len;

	if (len > 0 && line[0] == '@') {
		const char *sp = memchr(line, ' ', len);
		size_t tags = sp != NULL ? (size_t)(sp - line) - 1 : len - 1;

		body = sp != NULL ? len - (size_t)(sp + 1 - line) : 0;
		if (tags > IRC_TAGS_CLIENT_MAX)
			body = (size_t)-1;
	}
	if (body != (size_t)-1 && body + 2 <= u->chat->outmax)
		return 1;
	chat_send_reply(u, IRC_ERR_INPUTTOOLONG);
	return 0;
}

static void
chat_dispatch_msg(struct chat_user *u, struct irc_msg *mp)
{
	struct irc_msg m = *mp;
	const struct chat_cmd *cmd = NULL;
	size_t i;

	for (i = 0; i < sizeof(chat_cmds) / sizeof(chat_cmds[0]); i++) {
		if (strcmp(chat_cmds[i].name, m.command) == 0) {
			cmd = &chat_cmds[i];
			break;
		}
	}
	if (cmd == NULL) {
		if (u->flags & U_REGISTERED)
			chat_send_reply(u, IRC_ERR_UNKNOWNCOMMAND, m.command);
		else
			chat_send_reply(u, IRC_ERR_NOTREGISTERED);
		return;
	}
	if (!(u->flags & U_REGISTERED) && !cmd->unregistered) {
		chat_send_reply(u, IRC_ERR_NOTREGISTERED);
		return;
	}
	if (m.nparams < cmd->minparams) {
		chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m.command);
		return;
	}
	u->chat->cmd_counts[cmd - chat_cmds]++;
	cmd->fn(u, &m);
}

void
chat_dispatch(struct chat_user *u, char *line, size_t len)
{
	struct irc_msg m;
	int r;

	if ((r = irc_parse(line, len, &m)) != IRC_PARSE_OK) {
		if (r == IRC_PARSE_BADCHAR)
			chat_refuse_badchar(u, line, len);
		return;
	}
	chat_label_begin(u, m.tags);
	chat_dispatch_msg(u, &m);
	chat_label_end(u);
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
	if (!chat_line_fits(u, line, len))
		return;
	if (chat_flood_take(u, line, len))
		chat_dispatch(u, line, len);
}

const char *
chat_cmd_name(size_t i)
{
	return i < CHAT_NCMDS ? chat_cmds[i].name : NULL;
}

/* The public API. */

const struct evs_service *
evs_chat_service(void)
{
	return &chat_service;
}

/* Message ids start with a random word, so that ids from two runs or
   two instances never meet. */
static void
chat_msgid_base(struct evs_chat *chat)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	snprintf(chat->msgid_base, sizeof(chat->msgid_base), "%08x-",
	    (unsigned)r);
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
	chat->ping_interval_ms = 90000;
	chat->ping_timeout_ms = 60000;
	chat->reg_timeout_ms = 60000;
	chat->flood_rate = 10;
	chat->flood_burst = 20;
	chat->created = time(NULL);
	gmtime_r(&chat->created, &tm);
	strftime(chat->created_str, sizeof(chat->created_str),
	    "%a %b %d %Y at %H:%M:%S UTC", &tm);
	chat_read_line_limit(chat);
	chat_msgid_base(chat);
	chat->history_lines = CHAT_HISTORY_DEFAULT;
	if ((chat->name = strdup("evsockd")) == NULL ||
	    chat_state_init(chat) == -1 || chat_monitor_init(chat) == -1 ||
	    (chat->history = chat_history_new(chat->history_lines)) == NULL) {
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
	if (chat == NULL)
		return;
	if (chat->link != NULL)
		chat->link->ops->free(chat->link);
	chat->link = NULL;
	/* Connections the engine freed without close(): drop their state
	   without touching them. */
	chat_state_fini(chat);
	chat_monitor_fini(chat);
	chat_whowas_fini(chat);
	chat_oper_fini(chat);
	chat_motd_clear(chat);
	chat_history_free(chat->history);
	free(chat->cur.held);
	free(chat->tls_ports);
	free(chat->info);
	free(chat->name);
	/* Wipes the password: with NULL it cannot fail. */
	(void)evs_chat_set_password(chat, NULL);
	free(chat);
}

int
evs_chat_set(struct evs_chat *chat, enum evs_chat_option opt, long long value)
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
	case EVS_CHAT_HISTORY_LINES: {
		struct chat_history *h = NULL;

		if (value > 1000000)
			break;
		if ((size_t)value == chat->history_lines)
			return 0; /* a reload that changed nothing keeps it */
		/* A new size starts a new store. */
		if (value > 0 && (h = chat_history_new((size_t)value)) == NULL)
			return -1;
		if ((chat->history != NULL) != (h != NULL))
			chat_cap_history_changed(chat, h != NULL);
		chat_history_free(chat->history);
		chat->history = h;
		chat->history_lines = (unsigned)value;
		return 0;
	}
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
evs_chat_set_server_info(struct evs_chat *chat, const char *text)
{
	char *copy = NULL;

	/* The trailing parameter of 312 and 364: one line of text. */
	if (text != NULL &&
	    (strpbrk(text, "\r\n") != NULL || strlen(text) > 200)) {
		errno = EINVAL;
		return -1;
	}
	if (text != NULL && (copy = strdup(text)) == NULL)
		return -1;
	free(chat->info);
	chat->info = copy;
	return 0;
}

int
evs_chat_set_tls_ports(struct evs_chat *chat, const char *ports)
{
	char *copy = NULL;

	if (ports != NULL &&
	    (*ports == '\0' || *ports == ':' ||
	        strpbrk(ports, " \r\n") != NULL || strlen(ports) > 200)) {
		errno = EINVAL;
		return -1;
	}
	if (ports != NULL && (copy = strdup(ports)) == NULL)
		return -1;
	free(chat->tls_ports);
	chat->tls_ports = copy;
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

int
evs_chat_set_cluster(struct evs_chat *chat, const char *url, const char *node,
    unsigned timeout_ms, char *err, size_t errlen)
{
	struct chat_link *link;

	if (chat->link != NULL || url == NULL || node == NULL ||
	    timeout_ms < 300) {
		snprintf(err, errlen, "%s",
		    chat->link != NULL ? "already in a cluster" :
		                         "invalid cluster settings");
		errno = EINVAL;
		return -1;
	}
#ifdef EVS_HAVE_HIREDIS
	if ((link = chat_redis_new(chat, url, node, timeout_ms, err, errlen)) ==
	    NULL)
		return -1;
#else
	(void)link;
	snprintf(err, errlen, "built without hiredis: no cluster");
	errno = ENOTSUP;
	return -1;
#endif
	chat->link = link;
	return 0;
}

void
evs_chat_stats(const struct evs_chat *chat, struct evs_chat_stats *st)
{
	st->users = chat->nusers;
	st->unregistered = chat->nunknown;
	st->channels = chat->chans.n;
	st->max_users = chat->maxusers;
}

void
evs_chat_traffic(const struct evs_chat *chat, struct evs_chat_traffic *st)
{
	st->relayed = chat->relayed;
	st->deliveries = chat->deliveries;
}
