/*
 * The chat delivery point: every line the chat service sends is built
 * and queued here.  A relayed message is formatted once into an
 * evs_msg and queued to each recipient by reference.  Message tags,
 * server-time, echo-message and publishing to other instances belong
 * here too, so that no command handler builds a line of its own.
 */
#include <stdio.h>
#include <string.h>

#include "chat-int.h"
#include "chat-link.h"

static size_t chat_send_vbuild(struct evs_chat *, const char *,
    const char *, const char *, const char *, va_list) CHAT_PRINTF(5, 0);

/* Builds ":<prefix> <cmd> [<target> ]<fmt...>\r\n" in chat->out. */
static size_t
chat_send_vbuild(struct evs_chat *chat, const char *prefix, const char *cmd,
    const char *target, const char *fmt, va_list ap)
{
	size_t max = chat->outmax;
	int head;

	head = snprintf(chat->out, sizeof(chat->out), ":%s %s %s%s", prefix,
	    cmd, target != NULL ? target : "", target != NULL ? " " : "");
	if (head < 0 || (size_t)head + 3 > max)
		head = 0;
	return (size_t)head + irc_vformat(chat->out + head,
	    sizeof(chat->out) - (size_t)head, max - (size_t)head, fmt, ap);
}

/* The backplane a line from `from` is published on: only lines of
   local users, and none while the backplane applies its own events. */
static struct chat_link *
chat_send_link(const struct chat_user *from)
{
	struct evs_chat *chat = from->chat;

	return chat->link != NULL && chat->link_quiet == 0 &&
	    !(from->flags & U_REMOTE) ? chat->link : NULL;
}

void
chat_send_raw(struct chat_user *u, const char *data, size_t len)
{
	struct evs_chat *chat = u->chat;

	if (!(u->flags & U_REMOTE))
		evs_conn_send(u->c, data, len);
	else if (chat->link != NULL && chat->link_quiet == 0)
		chat->link->ops->user_line(chat->link, u, data, len);
}

/* A line from the server to u: ":<server> <cmd> [<target> ]...". */
static void chat_send_vserver(struct chat_user *, const char *,
    const char *, const char *, va_list) CHAT_PRINTF(4, 0);
static void
chat_send_vserver(struct chat_user *u, const char *cmd, const char *target,
    const char *fmt, va_list ap)
{
	struct evs_chat *chat = u->chat;
	size_t n = chat_send_vbuild(chat, chat->name, cmd, target, fmt, ap);

	chat_send_raw(u, chat->out, n);
}

void
chat_send_reply(struct chat_user *u, const char *num, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_send_vserver(u, num, chat_state_client(u), fmt, ap);
	va_end(ap);
}

void
chat_send_server(struct chat_user *u, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_send_vserver(u, cmd, NULL, fmt, ap);
	va_end(ap);
}

void
chat_send_user(struct chat_user *to, struct chat_user *from, const char *cmd,
    const char *fmt, ...)
{
	va_list ap;
	size_t n;

	/* One recipient: no evs_msg to share, straight from chat->out. */
	va_start(ap, fmt);
	n = chat_send_vbuild(from->chat, from->prefix, cmd, NULL, fmt, ap);
	va_end(ap);
	from->chat->relayed++;
	if (!(to->flags & U_REMOTE) && !evs_conn_closing(to->c))
		from->chat->deliveries++;
	chat_send_raw(to, from->chat->out, n);
}

/* A message from `from`, formatted once for many recipients and
   counted as relayed; NULL when out of memory. */
static struct evs_msg *chat_send_vnew(struct chat_user *, const char *,
    const char *, va_list) CHAT_PRINTF(3, 0);
static struct evs_msg *
chat_send_vnew(struct chat_user *from, const char *cmd, const char *fmt,
    va_list ap)
{
	size_t n = chat_send_vbuild(from->chat, from->prefix, cmd, NULL, fmt,
	    ap);
	struct evs_msg *m = evs_msg_new(from->chat->out, n);

	if (m != NULL)
		from->chat->relayed++;
	return m;
}

/* In a fan-out function taking (..., cmd, fmt, ...): m becomes the
   message chat_send_vnew() makes of the variadic arguments.  A macro,
   because va_start() must run in the variadic function itself. */
#define CHAT_SEND_NEW(m, from, cmd, fmt) do {				\
	va_list ap_;							\
	va_start(ap_, fmt);						\
	(m) = chat_send_vnew((from), (cmd), (fmt), ap_);		\
	va_end(ap_);							\
} while (0)

void
chat_send_chan(struct chat_chan *ch, struct chat_user *except,
    struct chat_user *from, const char *cmd, const char *fmt, ...)
{
	struct chat_link *link;
	struct evs_msg *m;
	size_t n;

	CHAT_SEND_NEW(m, from, cmd, fmt);
	if (m == NULL)
		return;
	if ((link = chat_send_link(from)) != NULL) {
		const char *data = evs_msg_data(m, &n);
		/* Messages reach local members in the cluster's one order,
		   as they come back; the rest at once. */
		int defer = strcmp(cmd, "PRIVMSG") == 0 ||
		    strcmp(cmd, "NOTICE") == 0;

		if (link->ops->chan_line(link, ch, from, except, data, n,
		    defer)) {
			evs_msg_unref(m);
			return;
		}
	}
	chat_send_chan_msg(ch, except, m);
	evs_msg_unref(m);
	if (link != NULL && (strcmp(cmd, "TOPIC") == 0 ||
	    strcmp(cmd, "MODE") == 0))
		link->ops->chan(link, ch);
}

void
chat_send_chan_msg(struct chat_chan *ch, struct chat_user *except,
    struct evs_msg *m)
{
	struct chat_member *mb;

	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		if (mb->u != except && !(mb->u->flags & U_REMOTE) &&
		    evs_conn_send_msg(mb->u->c, m) == 0)
			mb->u->chat->deliveries++;
	}
}

void
chat_send_chan_status(struct chat_chan *ch, int status,
    struct chat_user *except, struct chat_user *from, const char *cmd,
    const char *fmt, ...)
{
	struct chat_member *mb;
	struct evs_msg *m;

	CHAT_SEND_NEW(m, from, cmd, fmt);
	if (m == NULL)
		return;
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		if (mb->u == except ||
		    !(mb->op || (status == '+' && mb->voice)))
			continue;
		if (evs_conn_send_msg(mb->u->c, m) == 0)
			from->chat->deliveries++;
	}
	evs_msg_unref(m);
}

void
chat_send_peers(struct chat_user *from, int self, const char *cmd,
    const char *fmt, ...)
{
	struct chat_link *link;
	struct evs_msg *m;
	size_t n;

	CHAT_SEND_NEW(m, from, cmd, fmt);
	if (m == NULL)
		return;
	if ((link = chat_send_link(from)) != NULL &&
	    !TAILQ_EMPTY(&from->chans)) {
		const char *data = evs_msg_data(m, &n);

		link->ops->peers_line(link, from, data, n);
	}
	if (self && !(from->flags & U_REMOTE) &&
	    evs_conn_send_msg(from->c, m) == 0)
		from->chat->deliveries++;
	chat_send_peers_msg(from, m);
	evs_msg_unref(m);
}

void
chat_send_peers_msg(struct chat_user *from, struct evs_msg *m)
{
	struct evs_chat *chat = from->chat;
	struct chat_member *um, *mb;
	uint64_t gen = ++chat->gen;

	from->seen = gen;
	TAILQ_FOREACH(um, &from->chans, by_user) {
		TAILQ_FOREACH(mb, &um->ch->members, by_chan) {
			if (mb->u->seen == gen)
				continue;
			mb->u->seen = gen;
			if (!(mb->u->flags & U_REMOTE) &&
			    evs_conn_send_msg(mb->u->c, m) == 0)
				chat->deliveries++;
		}
	}
}

size_t
chat_send_error(char *buf, size_t len, const char *host, const char *reason)
{
	int n = snprintf(buf, len, IRC_ERROR_CLOSING, host, reason);

	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

void
chat_send_list_begin(struct chat_send_list *l, struct chat_user *u,
    const char *num, const char *fmt, ...)
{
	struct evs_chat *chat = u->chat;
	va_list ap;
	int head;

	va_start(ap, fmt);
	vsnprintf(l->head, sizeof(l->head), fmt, ap);
	va_end(ap);
	l->u = u;
	l->num = num;
	l->n = 0;
	/* ":server <num> nick <head> :" leaves this much for names. */
	head = snprintf(NULL, 0, ":%s %s %s %s :", chat->name, num,
	    chat_state_client(u), l->head);
	l->room = chat->outmax - 2 - (size_t)head;
}

static void
chat_send_list_flush(struct chat_send_list *l)
{
	l->names[l->n] = '\0';
	chat_send_reply(l->u, l->num, "%s :%s", l->head, l->names);
	l->n = 0;
}

void
chat_send_list_add(struct chat_send_list *l, const char *flag,
    const char *name)
{
	size_t len = strlen(flag) + strlen(name);

	if (l->n > 0 && l->n + 1 + len > l->room)
		chat_send_list_flush(l);
	l->n += (size_t)snprintf(l->names + l->n, sizeof(l->names) - l->n,
	    "%s%s%s", l->n > 0 ? " " : "", flag, name);
}

void
chat_send_list_end(struct chat_send_list *l)
{
	if (l->n > 0)
		chat_send_list_flush(l);
}

void
chat_send_users(struct chat_user *from, unsigned mask, const char *cmd,
    const char *fmt, ...)
{
	struct chat_user *u;
	struct evs_msg *m;

	CHAT_SEND_NEW(m, from, cmd, fmt);
	if (m == NULL)
		return;
	/* This instance's users only: the modes in `mask` (+w, +o) are
	   not shared with the cluster. */
	TAILQ_FOREACH(u, &from->chat->users, link)
		if ((u->flags & (U_REGISTERED | U_REMOTE | U_CLOSING)) ==
		    U_REGISTERED && (u->flags & mask) &&
		    evs_conn_send_msg(u->c, m) == 0)
			from->chat->deliveries++;
	evs_msg_unref(m);
}
