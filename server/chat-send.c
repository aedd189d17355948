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
#include <time.h>

#include "chat-int.h"

/* Labeled replies held back past this are sent unlabeled instead. */
#define CHAT_SEND_HELD_MAX (4u << 20)

/* One relayed message in the forms its recipients need: without tags,
   with server-time's tag only, with every tag (message-tags).  Each
   form is built once, when a first recipient needs it, and shared. */
struct chat_relay {
	struct evs_chat *chat;
	size_t bodylen; /* chat->out holds ":<prefix> <cmd> ...\r\n" */
	const char *ctags;
	int tagmsg; /* only recipients with message-tags get it */
	int64_t ms;
	char time[32];
	char msgid[CHAT_MSGID_MAX];
	struct evs_msg *form[3];
};

static size_t chat_send_vbuild(struct evs_chat *, const char *,
    const char *, const char *, const char *, va_list) CHAT_PRINTF(5, 0);

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

/* Whether lines to u are held back for a label now. */
static int
chat_send_holding(const struct chat_user *u)
{
	const struct chat_cmdctx *cur = &u->chat->cur;

	return cur->labeled && cur->u == u;
}

static void
chat_send_hold(struct chat_user *u, const char *data, size_t len)
{
	struct chat_cmdctx *cur = &u->chat->cur;
	size_t want = cur->heldlen + len;

	if (want > cur->heldsize) {
		size_t size = cur->heldsize > 0 ? cur->heldsize : 1024;
		char *p;

		while (size < want)
			size *= 2;
		if (want > CHAT_SEND_HELD_MAX ||
		    (p = realloc(cur->held, size)) == NULL) {
			/* Too much to label: what was held goes out as it
			   is, and the rest follows it directly. */
			cur->labeled = 0;
			evs_conn_send(u->c, cur->held, cur->heldlen);
			cur->heldlen = 0;
			evs_conn_send(u->c, data, len);
			return;
		}
		cur->held = p;
		cur->heldsize = size;
	}
	memcpy(cur->held + cur->heldlen, data, len);
	cur->heldlen += len;
}

void
chat_send_raw(struct chat_user *u, const char *data, size_t len)
{
	if (chat_send_holding(u))
		chat_send_hold(u, data, len);
	else
		evs_conn_send(u->c, data, len);
}

/* Queues a shared message to u (or holds a copy for its label). */
static void
chat_send_shared(struct chat_user *u, struct evs_msg *m)
{
	size_t len;
	const char *data;

	if (chat_send_holding(u)) {
		data = evs_msg_data(m, &len);
		chat_send_hold(u, data, len);
	} else {
		evs_conn_send_msg(u->c, m);
	}
}

static int64_t
chat_send_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A new message id: the instance's random base and a counter, so ids
   stay unique across restarts and instances. */
static void
chat_send_msgid(struct evs_chat *chat, char *id)
{
	snprintf(id, CHAT_MSGID_MAX, "%s%llx", chat->msgid_base,
	    (unsigned long long)++chat->msgid_seq);
}

/* Starts a relay of the message now in chat->out (bodylen bytes). */
static void
chat_relay_init(struct chat_relay *r, struct evs_chat *chat, size_t bodylen,
    const char *ctags)
{
	memset(r, 0, sizeof(*r));
	r->chat = chat;
	r->bodylen = bodylen;
	r->ctags = ctags != NULL ? ctags : "";
	r->ms = chat_send_now_ms();
}

/* The time tag's text and the msgid, made when a first recipient or
   the history needs them, not for every relay. */
static void
chat_relay_stamp(struct chat_relay *r)
{
	if (r->msgid[0] != '\0')
		return;
	irc_time_format(r->time, sizeof(r->time), r->ms);
	chat_send_msgid(r->chat, r->msgid);
}

/* Builds "@<tags> <body>" in chat->tagged; returns its length. */
static size_t
chat_send_join_tags(struct evs_chat *chat, const char *t1, const char *t2,
    const char *t3, const char *body, size_t len)
{
	int n = snprintf(chat->tagged, IRC_TAGS_MAX + 1, "@%s%s%s%s%s ", t1,
	    *t2 != '\0' ? ";" : "", t2, *t3 != '\0' ? ";" : "", t3);

	if (n < 0 || (size_t)n > IRC_TAGS_MAX)
		n = snprintf(chat->tagged, IRC_TAGS_MAX + 1, "@%s ", t1);
	memcpy(chat->tagged + n, body, len);
	return (size_t)n + len;
}

static struct evs_msg *
chat_relay_form(struct chat_relay *r, int form)
{
	struct evs_chat *chat = r->chat;
	char head[64];
	size_t n;

	if (r->form[form] != NULL)
		return r->form[form];
	if (form == 0) {
		r->form[0] = evs_msg_new(chat->out, r->bodylen);
		return r->form[0];
	}
	chat_relay_stamp(r);
	snprintf(head, sizeof(head), "time=%s", r->time);
	if (form == 1) {
		n = chat_send_join_tags(chat, head, "", "", chat->out,
		    r->bodylen);
	} else {
		char id[CHAT_MSGID_MAX + 8];

		snprintf(id, sizeof(id), "msgid=%s", r->msgid);
		n = chat_send_join_tags(chat, head, id, r->ctags, chat->out,
		    r->bodylen);
	}
	r->form[form] = evs_msg_new(chat->tagged, n);
	return r->form[form];
}

/* Queues the relay to u in the form its capabilities ask for. */
static void
chat_relay_to(struct chat_relay *r, struct chat_user *u)
{
	struct evs_msg *m;
	int form = (u->caps & CAP_MESSAGE_TAGS) ? 2 :
	    (u->caps & CAP_SERVER_TIME) ? 1 : 0;

	if (r->tagmsg && form != 2)
		return;
	if ((m = chat_relay_form(r, form)) != NULL)
		chat_send_shared(u, m);
}

static void
chat_relay_done(struct chat_relay *r)
{
	for (int i = 0; i < 3; i++)
		if (r->form[i] != NULL)
			evs_msg_unref(r->form[i]);
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

/* Sends relay r to the members of ch (or, when ch is NULL, to everyone
   sharing a channel with `from`, once each) but `except`, that enabled
   every capability in `cap`; to `from` as well when `self`. */
static void
chat_send_fan(struct chat_relay *r, struct chat_user *from,
    struct chat_chan *ch, struct chat_user *except, int self, unsigned cap)
{
	struct evs_chat *chat = r->chat;
	struct chat_member *um, *mb;
	uint64_t gen;

	if (ch != NULL) {
		TAILQ_FOREACH(mb, &ch->members, by_chan) {
			if (mb->u != except && (mb->u->caps & cap) == cap)
				chat_relay_to(r, mb->u);
		}
		return;
	}
	gen = ++chat->gen;
	from->seen = gen;
	if (self && (from->caps & cap) == cap)
		chat_relay_to(r, from);
	TAILQ_FOREACH(um, &from->chans, by_user) {
		TAILQ_FOREACH(mb, &um->ch->members, by_chan) {
			if (mb->u->seen == gen)
				continue;
			mb->u->seen = gen;
			if ((mb->u->caps & cap) == cap)
				chat_relay_to(r, mb->u);
		}
	}
}

/* Formats a message from `from` into chat->out and fans it out. */
static void chat_send_vfan(struct chat_user *, struct chat_chan *,
    struct chat_user *, int, unsigned, const char *, const char *,
    va_list) CHAT_PRINTF(7, 0);
static void
chat_send_vfan(struct chat_user *from, struct chat_chan *ch,
    struct chat_user *except, int self, unsigned cap, const char *cmd,
    const char *fmt, va_list ap)
{
	struct evs_chat *chat = from->chat;
	struct chat_relay r;
	size_t n = chat_send_vbuild(chat, from->prefix, cmd, NULL, fmt, ap);

	chat_relay_init(&r, chat, n, NULL);
	chat_send_fan(&r, from, ch, except, self, cap);
	chat_relay_done(&r);
}

void
chat_send_user(struct chat_user *to, struct chat_user *from, const char *cmd,
    const char *fmt, ...)
{
	struct evs_chat *chat = from->chat;
	struct chat_relay r;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = chat_send_vbuild(chat, from->prefix, cmd, NULL, fmt, ap);
	va_end(ap);
	chat_relay_init(&r, chat, n, NULL);
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
chat_send_chan_cap(struct chat_chan *ch, struct chat_user *except,
    unsigned cap, struct chat_user *from, const char *cmd,
    const char *fmt, ...)
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
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		if (mb->u != from && mb->u != to &&
		    (mb->u->caps & CAP_INVITE_NOTIFY))
			chat_relay_to(&r, mb->u);
	}
	chat_relay_done(&r);
}

/* Copies a message just relayed into the history of its target. */
static void
chat_send_remember(struct chat_relay *r, struct chat_user *from,
    struct chat_chan *ch, struct chat_user *to, const char *cmd,
    const char *text)
{
	struct evs_chat *chat = from->chat;
	struct chat_hist_msg hm;
	char key[2 * IRC_NICK_MAX + 2];

	if (chat->history == NULL)
		return;
	chat_relay_stamp(r);
	if (ch != NULL) {
		snprintf(key, sizeof(key), "%s", ch->name);
	} else {
		chat_history_key(key, sizeof(key), from->nick, to->nick);
		from->flags |= U_HISTDM;
		to->flags |= U_HISTDM;
	}
	hm.ms = r->ms;
	hm.msgid = r->msgid;
	hm.prefix = from->prefix;
	hm.command = cmd;
	hm.target = ch != NULL ? ch->name : to->nick;
	hm.text = text;
	hm.tags = r->ctags;
	(void)chat_history_add(chat->history, key, &hm);
}

void
chat_send_message(struct chat_user *from, struct chat_chan *ch,
    struct chat_user *to, const char *cmd, const char *text)
{
	struct evs_chat *chat = from->chat;
	const char *target = ch != NULL ? ch->name : to->nick;
	int tagmsg = strcmp(cmd, "TAGMSG") == 0;
	struct chat_relay r;
	struct evs_msg *m;
	size_t n;

	if (tagmsg)
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s %s %s", from->prefix, cmd, target);
	else
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s %s %s :%s", from->prefix, cmd, target, text);
	chat_relay_init(&r, chat, n, chat->cur.u == from ? chat->cur.ctags :
	    NULL);
	r.tagmsg = tagmsg;
	if (ch != NULL) {
		chat_send_fan(&r, from, ch, from, 0, 0);
	} else if (to == from) {
		/* The delivery to oneself is not a reply: only the echo
		   carries the label. */
		int form = (to->caps & CAP_MESSAGE_TAGS) ? 2 :
		    (to->caps & CAP_SERVER_TIME) ? 1 : 0;

		if ((!tagmsg || form == 2) &&
		    (m = chat_relay_form(&r, form)) != NULL)
			evs_conn_send_msg(to->c, m);
	} else {
		chat_relay_to(&r, to);
	}
	if (from->caps & CAP_ECHO_MESSAGE)
		chat_relay_to(&r, from);
	if (!tagmsg)
		chat_send_remember(&r, from, ch, to, cmd, text);
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
		chat_send_raw(u, chat->tagged, chat_send_join_tags(chat, tags,
		    "", "", body, len));
}

void
chat_send_standard(struct chat_user *u, const char *kind,
    const char *command, const char *code, const char *context,
    const char *text)
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
	if (!multi && n > 1)
		n = 1;
	buf[n] = '\0';
	return buf;
}

void
chat_send_cmd_begin(struct chat_user *u, const char *tags)
{
	struct chat_cmdctx *cur = &u->chat->cur;

	cur->u = u;
	cur->labeled = 0;
	cur->heldlen = 0;
	cur->ctags = "";
	if (tags == NULL)
		return;
	if (irc_tags_client(u->chat->ctags, sizeof(u->chat->ctags), tags) > 0)
		cur->ctags = u->chat->ctags;
	if ((u->caps & CAP_LABELED) && irc_tag_get(tags, "label", cur->label,
	    sizeof(cur->label)) && cur->label[0] != '\0' &&
	    strlen(cur->label) < CHAT_LABEL_MAX &&
	    strpbrk(cur->label, "; \\") == NULL)
		cur->labeled = 1;
}

/* Returns 1 if the line's tags already name a batch (a nested batch's
   own lines). */
static int
chat_send_in_batch(const char *line, size_t len)
{
	const char *sp;

	if (len == 0 || line[0] != '@')
		return 0;
	if ((sp = memchr(line, ' ', len)) == NULL)
		return 0;
	for (const char *p = line; p < sp; p++)
		if ((*p == '@' || *p == ';') && (size_t)(sp - p) > 6 &&
		    strncmp(p + 1, "batch=", 6) == 0)
			return 1;
	return 0;
}

/* Sends one line to u with `tag` ("k=v") added to its tags. */
static void
chat_send_add_tag(struct chat_user *u, const char *tag, const char *line,
    size_t len)
{
	struct evs_chat *chat = u->chat;
	size_t tl = strlen(tag), n;

	if (tl + 2 + len > sizeof(chat->tagged)) {
		evs_conn_send(u->c, line, len);
		return;
	}
	chat->tagged[0] = '@';
	memcpy(chat->tagged + 1, tag, tl);
	n = 1 + tl;
	if (line[0] == '@') {
		chat->tagged[n++] = ';';
		memcpy(chat->tagged + n, line + 1, len - 1);
		n += len - 1;
	} else {
		chat->tagged[n++] = ' ';
		memcpy(chat->tagged + n, line, len);
		n += len;
	}
	evs_conn_send(u->c, chat->tagged, n);
}

void
chat_send_cmd_end(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	struct chat_cmdctx *cur = &chat->cur;
	char tag[CHAT_LABEL_MAX + 16], ref[CHAT_MSGID_MAX], bt[CHAT_MSGID_MAX +
	    8];
	const char *p, *end, *eol;
	size_t lines = 0, n;

	if (cur->u != u)
		return;
	cur->u = NULL;
	cur->ctags = "";
	if (!cur->labeled)
		return;
	cur->labeled = 0;
	snprintf(tag, sizeof(tag), "label=%s", cur->label);
	end = cur->held + cur->heldlen;
	for (p = cur->held; p < end && (eol = memchr(p, '\n', (size_t)(end -
	    p))) != NULL; p = eol + 1)
		lines++;
	if (lines == 0) {
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s ACK", chat->name);
		chat_send_add_tag(u, tag, chat->out, n);
	} else if (lines == 1) {
		chat_send_add_tag(u, tag, cur->held, cur->heldlen);
	} else if (!(u->caps & CAP_BATCH)) {
		evs_conn_send(u->c, cur->held, cur->heldlen);
	} else {
		snprintf(ref, sizeof(ref), "b%llx",
		    (unsigned long long)++chat->batch_seq);
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s BATCH +%s labeled-response", chat->name, ref);
		chat_send_add_tag(u, tag, chat->out, n);
		snprintf(bt, sizeof(bt), "batch=%s", ref);
		for (p = cur->held; p < end; p = eol + 1) {
			eol = memchr(p, '\n', (size_t)(end - p));
			if (eol == NULL)
				break;
			n = (size_t)(eol + 1 - p);
			if (chat_send_in_batch(p, n))
				evs_conn_send(u->c, p, n);
			else
				chat_send_add_tag(u, bt, p, n);
		}
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s BATCH -%s", chat->name, ref);
		evs_conn_send(u->c, chat->out, n);
	}
	cur->heldlen = 0;
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
