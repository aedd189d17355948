/*
 * The relays of the delivery point (chat-send.c): one message built
 * once per form its recipients need (no tags, server-time, every tag)
 * and queued to each by reference; the recipient's capabilities pick
 * the form.  A line another instance carries comes with its origin's
 * tags, which a relay keeps, so every instance tags it the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat-int.h"
#include "chat-link.h"

/* The capability a peer needs to be sent a line of this command: the
   same rule on the instance that sends and the one that delivers. */
static unsigned
chat_relay_cap_of(const char *cmd, size_t len)
{
	if (len == 4 && memcmp(cmd, "AWAY", 4) == 0)
		return CAP_AWAY_NOTIFY;
	if (len == 7 && memcmp(cmd, "SETNAME", 7) == 0)
		return CAP_SETNAME;
	if (len == 6 && memcmp(cmd, "TAGMSG", 6) == 0)
		return CAP_MESSAGE_TAGS;
	return 0;
}

/* Queues a shared message to u (or holds a copy for its label). */
static void
chat_relay_shared(struct chat_user *u, struct evs_msg *m)
{
	size_t len;
	const char *data;

	if (chat_label_holding(u)) {
		data = evs_msg_data(m, &len);
		chat_label_hold(u, data, len);
		u->chat->deliveries++;
	} else if (evs_conn_send_msg(u->c, m) == 0) {
		u->chat->deliveries++;
	}
}

static int64_t
chat_relay_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A new message id: the instance's random base and a counter, so ids
   stay unique across restarts and instances. */
static void
chat_relay_msgid(struct evs_chat *chat, char *id)
{
	snprintf(id, CHAT_MSGID_MAX, "%s%llx", chat->msgid_base,
	    (unsigned long long)++chat->msgid_seq);
}

void
chat_relay_init(struct chat_relay *r, struct evs_chat *chat, size_t bodylen,
    const char *ctags)
{
	memset(r, 0, sizeof(*r));
	r->chat = chat;
	r->bodylen = bodylen;
	r->ctags = ctags != NULL ? ctags : "";
	r->ms = chat_relay_now_ms();
}

void
chat_relay_stamp(struct chat_relay *r)
{
	if (r->msgid[0] != '\0')
		return;
	irc_time_format(r->time, sizeof(r->time), r->ms);
	chat_relay_msgid(r->chat, r->msgid);
}

size_t
chat_relay_join_tags(struct evs_chat *chat, const char *t1, const char *t2,
    const char *t3, const char *body, size_t len)
{
	int n = snprintf(chat->tagged, IRC_TAGS_MAX + 1, "@%s%s%s%s%s ", t1,
	    *t2 != '\0' ? ";" : "", t2, *t3 != '\0' ? ";" : "", t3);

	if (n < 0 || (size_t)n > IRC_TAGS_MAX)
		n = snprintf(chat->tagged, IRC_TAGS_MAX + 1, "@%s ", t1);
	memcpy(chat->tagged + n, body, len);
	return (size_t)n + len;
}

struct evs_msg *
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
		n = chat_relay_join_tags(chat, head, "", "", chat->out,
		    r->bodylen);
	} else {
		char id[CHAT_MSGID_MAX + 8];

		snprintf(id, sizeof(id), "msgid=%s", r->msgid);
		n = chat_relay_join_tags(chat, head, id, r->ctags, chat->out,
		    r->bodylen);
	}
	r->form[form] = evs_msg_new(chat->tagged, n);
	return r->form[form];
}

void
chat_relay_to(struct chat_relay *r, struct chat_user *u)
{
	struct evs_msg *m;
	int form = (u->caps & CAP_MESSAGE_TAGS) ? 2 :
	    (u->caps & CAP_SERVER_TIME)         ? 1 :
	                                          0;

	if (u->flags & U_REMOTE) {
		/* Its instance picks the form: it gets every tag. */
		struct chat_link *link = r->chat->link;
		const char *data;
		size_t len;

		if (link == NULL || r->chat->link_quiet != 0 ||
		    (m = chat_relay_form(r, 2)) == NULL)
			return;
		data = evs_msg_data(m, &len);
		link->ops->user_line(link, u, data, len);
		return;
	}
	if (r->tagmsg && form != 2)
		return;
	if ((m = chat_relay_form(r, form)) != NULL)
		chat_relay_shared(u, m);
}

void
chat_relay_done(struct chat_relay *r)
{
	for (int i = 0; i < 3; i++)
		if (r->form[i] != NULL)
			evs_msg_unref(r->form[i]);
}

size_t
chat_relay_line(struct chat_relay *r, struct evs_chat *chat, char *ctags,
    size_t ctagsize, const char *line, size_t len)
{
	char tags[IRC_TAGS_MAX + 1], val[64];
	size_t off = 0, body;
	int64_t ms;

	ctags[0] = '\0';
	tags[0] = '\0';
	if (len > 0 && line[0] == '@') {
		const char *sp = memchr(line, ' ', len);

		off = sp != NULL ? (size_t)(sp - line) + 1 : len;
		snprintf(tags, sizeof(tags), "%.*s",
		    (int)(off > 1 ? off - 2 : 0), line + 1);
		(void)irc_tags_client(ctags, ctagsize, tags);
	}
	body = len - off;
	if (body > chat->outmax)
		body = chat->outmax;
	memcpy(chat->out, line + off, body);
	chat_relay_init(r, chat, body, ctags);
	if (irc_tag_get(tags, "time", val, sizeof(val)) == 1 &&
	    irc_time_parse(val, &ms) == 0)
		r->ms = ms;
	if (irc_tag_get(tags, "msgid", val, sizeof(val)) == 1 &&
	    val[0] != '\0' && strlen(val) < sizeof(r->msgid)) {
		snprintf(r->msgid, sizeof(r->msgid), "%s", val);
		irc_time_format(r->time, sizeof(r->time), r->ms);
	}
	return off;
}

void
chat_relay_kind(struct chat_relay *r)
{
	const char *cmd = memchr(r->chat->out, ' ', r->bodylen);
	size_t len;

	if (cmd == NULL)
		return;
	cmd++;
	len = strcspn(cmd, " \r\n");
	r->cap = chat_relay_cap_of(cmd, len);
	r->tagmsg = len == 6 && memcmp(cmd, "TAGMSG", 6) == 0;
}
