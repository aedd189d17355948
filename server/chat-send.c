/*
 * The chat delivery point: every line the chat service sends is built
 * and queued here.  A relayed message is formatted once into an
 * evs_msg and queued to each recipient by reference.  Message tags,
 * server-time, echo-message and publishing to other instances belong
 * here too, so that no command handler builds a line of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"
#include "chat-link.h"

static size_t chat_send_vbuild(struct evs_chat *, const char *, const char *,
    const char *, const char *, va_list) CHAT_PRINTF(5, 0);
static void chat_send_vrelay(struct chat_relay *, struct chat_user *,
    const char *, const char *, va_list) CHAT_PRINTF(4, 0);

/* Builds ":<prefix> <cmd> [<target> ]<fmt...>\r\n" in chat->out. */
static size_t
chat_send_vbuild(struct evs_chat *chat, const char *prefix, const char *cmd,
    const char *target, const char *fmt, va_list ap)
{
	size_t max = chat->outmax;
	int head;

	head = snprintf(chat->out, sizeof(chat->out), ":%s %s%s%s%s", prefix,
	    cmd, target != NULL || *fmt != '\0' ? " " : "",
	    target != NULL ? target : "",
	    target != NULL && *fmt != '\0' ? " " : "");
	size_t n;

	if (head < 0 || (size_t)head + 3 > max)
		head = 0;
	n = irc_vformat(chat->out + head, sizeof(chat->out) - (size_t)head,
	    max - (size_t)head, fmt, ap);
	/* Nothing after the command (AWAY when back): no space either. */
	if (n == 2 && head > 0 && chat->out[head - 1] == ' ') {
		memcpy(chat->out + head - 1, "\r\n", 2);
		return (size_t)head + 1;
	}
	return (size_t)head + n;
}

/* Builds a message from `from` in chat->out, starts its relay in *r
   and counts it as relayed. */
static void
chat_send_vrelay(struct chat_relay *r, struct chat_user *from, const char *cmd,
    const char *fmt, va_list ap)
{
	struct evs_chat *chat = from->chat;
	size_t n = chat_send_vbuild(chat, from->prefix, cmd, NULL, fmt, ap);

	chat_relay_init(r, chat, n, NULL);
	chat->relayed++;
}

/* The backplane a line from `from` is published on: only lines of
   local users, and none while the backplane applies its own events. */
static struct chat_link *
chat_send_link(const struct chat_user *from)
{
	struct evs_chat *chat = from->chat;

	return chat->link != NULL && chat->link_quiet == 0 &&
	        !(from->flags & U_REMOTE) ?
	    chat->link :
	    NULL;
}

void
chat_send_raw(struct chat_user *u, const char *data, size_t len)
{
	struct evs_chat *chat = u->chat;

	if (u->flags & U_REMOTE) {
		if (chat->link != NULL && chat->link_quiet == 0)
			chat->link->ops->user_line(chat->link, u, data, len);
	} else if (chat_label_holding(u))
		chat_label_hold(u, data, len);
	else
		evs_conn_send(u->c, data, len);
}

/* A line from the server to u: ":<server> <cmd> [<target> ]...". */
static void chat_send_vserver(struct chat_user *, const char *, const char *,
    const char *, va_list) CHAT_PRINTF(4, 0);
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

/* Sends relay r to the local members of ch (or, when ch is NULL, to
   the local users sharing a channel with `from`, once each) but
   `except`, that enabled every capability in r->cap and hold r->status;
   to `from` as well when `self`.  Remote users hear it from their own
   instance. */
static void
chat_send_fan(struct chat_relay *r, struct chat_user *from,
    struct chat_chan *ch, struct chat_user *except, int self)
{
	struct evs_chat *chat = r->chat;
	struct chat_member *um, *mb;
	unsigned cap = r->cap;
	uint64_t gen;

	if (ch != NULL) {
		TAILQ_FOREACH(mb, &ch->members, by_chan) {
			if (mb->u == except || (mb->u->flags & U_REMOTE) ||
			    (mb->u->caps & cap) != cap)
				continue;
			if (r->status != 0 &&
			    !(mb->op || (r->status == '+' && mb->voice)))
				continue;
			chat_relay_to(r, mb->u);
		}
		return;
	}
	gen = ++chat->gen;
	from->seen = gen;
	if (self && !(from->flags & U_REMOTE) && (from->caps & cap) == cap)
		chat_relay_to(r, from);
	TAILQ_FOREACH(um, &from->chans, by_user) {
		TAILQ_FOREACH(mb, &um->ch->members, by_chan) {
			if (mb->u->seen == gen)
				continue;
			mb->u->seen = gen;
			if (!(mb->u->flags & U_REMOTE) &&
			    (mb->u->caps & cap) == cap)
				chat_relay_to(r, mb->u);
		}
	}
}

/* Formats a message from `from` into chat->out and fans it out. */
static void chat_send_vfan(struct chat_user *, struct chat_chan *,
    struct chat_user *, int, unsigned, const char *, const char *, va_list)
    CHAT_PRINTF(7, 0);
static void
chat_send_vfan(struct chat_user *from, struct chat_chan *ch,
    struct chat_user *except, int self, unsigned cap, const char *cmd,
    const char *fmt, va_list ap)
{
	struct evs_chat *chat = from->chat;
	struct chat_link *link = chat_send_link(from);
	struct chat_relay r;
	size_t n = chat_send_vbuild(chat, from->prefix, cmd, NULL, fmt, ap);

	/* Other instances first: they fan it out to their members, with
	   the capability rule of chat_relay_cap_of (cap is that rule). */
	if (link != NULL && ch != NULL)
		(void)link->ops->chan_line(link, ch, from, except, chat->out, n,
		    0);
	else if (link != NULL && !TAILQ_EMPTY(&from->chans))
		link->ops->peers_line(link, from, chat->out, n);
	chat_relay_init(&r, chat, n, NULL);
	if (!(from->flags & U_REMOTE))
		chat->relayed++;
	r.cap = cap;
	chat_send_fan(&r, from, ch, except, self);
	chat_relay_done(&r);
	if (link != NULL && ch != NULL &&
	    (strcmp(cmd, "TOPIC") == 0 || strcmp(cmd, "MODE") == 0))
		link->ops->chan(link, ch);
}

void
chat_send_user(struct chat_user *to, struct chat_user *from, const char *cmd,
    const char *fmt, ...)
{
	struct chat_relay r;
	va_list ap;

	va_start(ap, fmt);
	chat_send_vrelay(&r, from, cmd, fmt, ap);
	va_end(ap);
	chat_relay_to(&r, to);
	chat_relay_done(&r);
}

void
chat_send_chan(struct chat_chan *ch, struct chat_user *except,
    struct chat_user *from, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_send_vfan(from, ch, except, 0, 0, cmd, fmt, ap);
	va_end(ap);
}

void
chat_send_chan_cap(struct chat_chan *ch, struct chat_user *except, unsigned cap,
    struct chat_user *from, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_send_vfan(from, ch, except, 0, cap, cmd, fmt, ap);
	va_end(ap);
}

void
chat_send_peers(struct chat_user *from, int self, const char *cmd,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_send_vfan(from, NULL, NULL, self, 0, cmd, fmt, ap);
	va_end(ap);
}

void
chat_send_peers_cap(struct chat_user *from, int self, unsigned cap,
    const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_send_vfan(from, NULL, NULL, self, cap, cmd, fmt, ap);
	va_end(ap);
}

void
chat_send_invite_notify(struct chat_chan *ch, struct chat_user *from,
    struct chat_user *to)
{
	struct chat_member *mb;
	struct chat_relay r;
	size_t n = irc_format(from->chat->out, sizeof(from->chat->out),
	    from->chat->outmax, ":%s INVITE %s %s", from->prefix, to->nick,
	    ch->name);

	chat_relay_init(&r, from->chat, n, NULL);
	from->chat->relayed++;
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		if (mb->u != from && mb->u != to &&
		    (mb->u->caps & CAP_INVITE_NOTIFY))
			chat_relay_to(&r, mb->u);
	}
	chat_relay_done(&r);
}

/* Copies a message just relayed into the history of its target: the
   channel ch, or the conversation of nicks `from` and `to`. */
static void
chat_send_remember(struct chat_relay *r, const char *prefix,
    struct chat_chan *ch, const char *from, const char *to, const char *cmd,
    const char *text)
{
	struct evs_chat *chat = r->chat;
	struct chat_hist_msg hm;
	char key[2 * IRC_NICK_MAX + 2];

	if (chat->history == NULL)
		return;
	chat_relay_stamp(r);
	if (ch != NULL)
		snprintf(key, sizeof(key), "%s", ch->name);
	else
		chat_history_key(key, sizeof(key), from, to);
	hm.ms = r->ms;
	hm.msgid = r->msgid;
	hm.prefix = prefix;
	hm.command = cmd;
	hm.target = ch != NULL ? ch->name : to;
	hm.text = text;
	hm.tags = r->ctags;
	(void)chat_history_add(chat->history, key, &hm);
}

/* Marks a local user as having private conversations in history. */
static void
chat_send_mark_dm(struct chat_user *u)
{
	if (u->chat->history != NULL)
		u->flags |= U_HISTDM;
}

/* Publishes a channel message on the backplane with every tag, so each
   instance shows the origin's time and msgid; returns 1 if the
   backplane delivers it to local members when it comes back. */
static int
chat_send_publish(struct chat_relay *r, struct chat_link *link,
    struct chat_chan *ch, struct chat_user *from)
{
	struct evs_msg *m;
	const char *data;
	size_t n;

	/* Every form now: the backplane may deliver what was pending
	   into chat->out before it returns. */
	for (int form = 0; form < 3; form++)
		if (chat_relay_form(r, form) == NULL)
			return 0;
	m = r->form[2];
	data = evs_msg_data(m, &n);
	return link->ops->chan_line(link, ch, from, from, data, n, 1);
}

void
chat_send_message(struct chat_user *from, struct chat_chan *ch, int status,
    struct chat_user *to, const char *cmd, const char *text)
{
	struct evs_chat *chat = from->chat;
	struct chat_link *link = chat_send_link(from);
	char target[IRC_CHANNEL_MAX + 2];
	int tagmsg = strcmp(cmd, "TAGMSG") == 0;
	struct chat_relay r;
	struct evs_msg *m;
	size_t n;

	if (ch != NULL)
		snprintf(target, sizeof(target), "%s%s",
		    status != 0 ? (status == '@' ? "@" : "+") : "", ch->name);
	else
		snprintf(target, sizeof(target), "%s", to->nick);
	if (tagmsg)
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s %s %s", from->prefix, cmd, target);
	else
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s %s %s :%s", from->prefix, cmd, target, text);
	chat_relay_init(&r, chat, n,
	    chat->cur.u == from ? chat->cur.ctags : NULL);
	chat->relayed++;
	r.tagmsg = tagmsg;
	r.status = status;
	if (ch != NULL) {
		/* A status message stays on this instance, as before. */
		if (status != 0 || link == NULL ||
		    !chat_send_publish(&r, link, ch, from))
			chat_send_fan(&r, from, ch, from, 0);
	} else if (to == from) {
		/* The delivery to oneself is not a reply: only the echo
		   carries the label. */
		int form = (to->caps & CAP_MESSAGE_TAGS) ? 2 :
		    (to->caps & CAP_SERVER_TIME)         ? 1 :
		                                           0;

		if ((!tagmsg || form == 2) &&
		    (m = chat_relay_form(&r, form)) != NULL &&
		    evs_conn_send_msg(to->c, m) == 0)
			chat->deliveries++;
	} else {
		chat_relay_to(&r, to);
	}
	if (from->caps & CAP_ECHO_MESSAGE)
		chat_relay_to(&r, from);
	if (!tagmsg && status == 0) {
		if (ch == NULL) {
			chat_send_mark_dm(from);
			chat_send_mark_dm(to);
		}
		chat_send_remember(&r, from->prefix, ch, from->nick, target,
		    cmd, text);
	}
	chat_relay_done(&r);
}

/* The words of a relayed line ":prefix CMD target [:text]\r\n". */
struct chat_send_words {
	char buf[CHAT_OUT_MAX];
	const char *prefix, *cmd, *target, *text;
	char nick[IRC_NICK_MAX + 1];
};

/* Splits body (len bytes) into w; returns 0, or -1 if it is not a
   line from a user. */
static int
chat_send_split(const char *body, size_t len, struct chat_send_words *w)
{
	char *p, *sp;

	if (len < 2 || len >= sizeof(w->buf) || body[0] != ':')
		return -1;
	memcpy(w->buf, body + 1, len - 1);
	w->buf[len - 1] = '\0';
	w->buf[strcspn(w->buf, "\r\n")] = '\0';
	w->prefix = p = w->buf;
	w->target = w->text = "";
	if ((sp = strchr(p, ' ')) == NULL)
		return -1;
	*sp = '\0';
	w->cmd = p = sp + 1;
	if ((sp = strchr(p, ' ')) != NULL) {
		*sp = '\0';
		w->target = p = sp + 1;
		if ((sp = strchr(p, ' ')) != NULL) {
			*sp = '\0';
			w->text = sp[1] == ':' ? sp + 2 : sp + 1;
		}
	}
	snprintf(w->nick, sizeof(w->nick), "%.*s", (int)strcspn(w->prefix, "!"),
	    w->prefix);
	return 0;
}

static int
chat_send_is_message(const char *cmd)
{
	return strcmp(cmd, "PRIVMSG") == 0 || strcmp(cmd, "NOTICE") == 0;
}

void
chat_send_chan_line(struct evs_chat *chat, struct chat_chan *ch,
    struct chat_user *except, const char *line, size_t len, int remember)
{
	char ctags[IRC_TAGS_MAX + 1];
	struct chat_send_words w;
	struct chat_relay r;

	chat_relay_line(&r, chat, ctags, sizeof(ctags), line, len);
	chat_relay_kind(&r);
	chat_send_fan(&r, NULL, ch, except, 0);
	if (remember && chat->history != NULL &&
	    chat_send_split(chat->out, r.bodylen, &w) == 0 &&
	    chat_send_is_message(w.cmd) && irc_is_channel(w.target))
		chat_send_remember(&r, w.prefix, ch, w.nick, w.target, w.cmd,
		    w.text);
	chat_relay_done(&r);
}

void
chat_send_peers_line(struct chat_user *from, const char *line, size_t len)
{
	char ctags[IRC_TAGS_MAX + 1];
	struct chat_relay r;

	chat_relay_line(&r, from->chat, ctags, sizeof(ctags), line, len);
	chat_relay_kind(&r);
	chat_send_fan(&r, from, NULL, NULL, 0);
	chat_relay_done(&r);
}

void
chat_send_user_line(struct chat_user *u, const char *line, size_t len)
{
	struct evs_chat *chat = u->chat;
	char ctags[IRC_TAGS_MAX + 1];
	struct chat_send_words w;
	struct chat_relay r;

	if (u->flags & (U_REMOTE | U_CLOSING))
		return;
	chat_relay_line(&r, chat, ctags, sizeof(ctags), line, len);
	chat_relay_kind(&r);
	chat_relay_to(&r, u);
	if (chat->history != NULL &&
	    chat_send_split(chat->out, r.bodylen, &w) == 0 &&
	    chat_send_is_message(w.cmd) && !irc_is_channel(w.target)) {
		chat_send_mark_dm(u);
		chat_send_remember(&r, w.prefix, NULL, w.nick, u->nick, w.cmd,
		    w.text);
	}
	chat_relay_done(&r);
}

void
chat_send_tagged(struct chat_user *u, const char *tags, const char *body,
    size_t len)
{
	struct evs_chat *chat = u->chat;

	if (*tags == '\0')
		chat_send_raw(u, body, len);
	else
		chat_send_raw(u, chat->tagged,
		    chat_relay_join_tags(chat, tags, "", "", body, len));
}

void
chat_send_standard(struct chat_user *u, const char *kind, const char *command,
    const char *code, const char *context, const char *text)
{
	struct evs_chat *chat = u->chat;
	size_t n;

	if (context != NULL)
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s %s %s %s %s :%s", chat->name, kind, command, code,
		    context, text);
	else
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s %s %s %s :%s", chat->name, kind, command, code, text);
	chat_send_raw(u, chat->out, n);
}

void
chat_send_batch_begin(struct chat_user *u, char *ref, const char *type,
    const char *param)
{
	struct evs_chat *chat = u->chat;

	ref[0] = '\0';
	if (!(u->caps & CAP_BATCH))
		return;
	snprintf(ref, CHAT_MSGID_MAX, "b%llx",
	    (unsigned long long)++chat->batch_seq);
	chat_send_server(u, "BATCH", "+%s %s%s%s", ref, type,
	    param != NULL ? " " : "", param != NULL ? param : "");
}

void
chat_send_batch_end(struct chat_user *u, const char *ref)
{
	if (ref[0] != '\0')
		chat_send_server(u, "BATCH", "-%s", ref);
}

const char *
chat_send_member_prefix(const struct chat_member *mb, int multi, char *buf)
{
	size_t n = 0;

	/* Highest rank first; only the first without multi-prefix. */
	if (mb->op)
		buf[n++] = '@';
	if (mb->voice)
		buf[n++] = '+';
	if (!multi && n > 1)
		n = 1;
	buf[n] = '\0';
	return buf;
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
chat_send_list_add(struct chat_send_list *l, const char *flag, const char *name)
{
	size_t fl = strlen(flag), nl = strlen(name);

	if (l->n > 0 && l->n + 1 + fl + nl > l->room)
		chat_send_list_flush(l);
	/* Copied, not formatted: a NAMES of a 10,000-member channel for
	   each of 10,000 joiners is 100 million of these. */
	if (l->n + 1 + fl + nl >= sizeof(l->names))
		return;
	if (l->n > 0)
		l->names[l->n++] = ' ';
	memcpy(l->names + l->n, flag, fl);
	memcpy(l->names + l->n + fl, name, nl);
	l->n += fl + nl;
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
	struct evs_chat *chat = from->chat;
	struct chat_relay r;
	struct chat_user *u;
	va_list ap;

	va_start(ap, fmt);
	chat_send_vrelay(&r, from, cmd, fmt, ap);
	va_end(ap);
	/* This instance's users only: the modes in `mask` (+w, +o) are
	   not shared with the cluster. */
	TAILQ_FOREACH(u, &chat->users, link)
		if ((u->flags & (U_REGISTERED | U_REMOTE | U_CLOSING)) ==
		        U_REGISTERED &&
		    (u->flags & mask))
			chat_relay_to(&r, u);
	chat_relay_done(&r);
}
