/*
 * CHATHISTORY for a channel in a cluster: the network's history is the
 * channel's Redis stream, which every instance writes as it publishes
 * (chat-redis-out.c), read through the link's history operation.  The
 * answer comes later, so the client's input waits as it does during a
 * nick claim, and a label it gave goes on the reply that finally comes.
 * Each stored line carries its origin's time and msgid tags, so every
 * instance answers with the ids its members saw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"
#include "chat-link.h"

/* A query on its way; what the local answer needs if Redis has none. */
struct chat_histlink_wait {
	enum chat_hist_op op;
	struct chat_hist_ref ref;
	int has_ref;
	size_t limit;
	char label[CHAT_LABEL_MAX + 1]; /* "": not labeled */
	char target[IRC_CHANNEL_MAX + 1];
};

/* Sends one line of the stream, ":prefix CMD target :text" led by its
   origin's tags, to u inside batch ref. */
static void
chat_histlink_send(struct chat_user *u, const char *ref,
    const struct chat_link_entry *e)
{
	char buf[IRC_TAGS_MAX + CHAT_OUT_MAX], ctags[IRC_TAGS_MAX + 1];
	char msgid[CHAT_MSGID_MAX], val[64];
	struct chat_hist_msg hm;
	struct irc_msg m;

	if (e->len >= sizeof(buf))
		return;
	memcpy(buf, e->line, e->len);
	buf[e->len] = '\0';
	if (irc_parse(buf, e->len, &m) != IRC_PARSE_OK || m.prefix == NULL ||
	    m.nparams < 2)
		return;
	hm.ms = (int64_t)e->ms;
	if (m.tags != NULL &&
	    irc_tag_get(m.tags, "time", val, sizeof(val)) == 1)
		(void)irc_time_parse(val, &hm.ms);
	/* A line kept before msgids travelled: its entry id stands in. */
	snprintf(msgid, sizeof(msgid), "%s", e->id);
	if (m.tags != NULL)
		(void)irc_tag_get(m.tags, "msgid", msgid, sizeof(msgid));
	ctags[0] = '\0';
	if (m.tags != NULL)
		(void)irc_tags_client(ctags, sizeof(ctags), m.tags);
	hm.msgid = msgid;
	hm.prefix = m.prefix;
	hm.command = m.command;
	hm.target = m.params[0];
	hm.text = m.params[1];
	hm.tags = ctags;
	chat_history_send_one(u, ref, &hm);
}

static void
chat_histlink_done(struct chat_user *u, const struct chat_link_entry *e,
    size_t n)
{
	struct chat_histlink_wait *w = u->hist_wait;
	char label[CHAT_LABEL_MAX + 8], ref[CHAT_MSGID_MAX];

	if (w == NULL)
		return;
	u->hist_wait = NULL;
	if (u->flags & U_CLOSING)
		goto out;
	snprintf(label, sizeof(label), "label=%s", w->label);
	chat_label_begin(u, w->label[0] != '\0' ? label : NULL);
	if (n == 0) {
		/* Nothing kept, or Redis could not answer: what this
		   instance saw is the best answer left. */
		chat_history_answer(u, w->target, w->target, w->op,
		    w->has_ref ? &w->ref : NULL, NULL, w->limit);
	} else {
		chat_send_batch_begin(u, ref, "chathistory", w->target);
		for (size_t i = 0; i < n; i++)
			chat_histlink_send(u, ref, &e[i]);
		chat_send_batch_end(u, ref);
	}
	chat_label_end(u);
	chat_state_unhold(u);
out:
	free(w);
}

int
chat_histlink_start(struct chat_user *u, struct chat_chan *ch,
    enum chat_hist_op op, const struct chat_hist_ref *ref, size_t limit)
{
	struct evs_chat *chat = u->chat;
	struct chat_link *link = chat->link;
	struct chat_histlink_wait *w;
	char before[32];
	const char *bp = NULL;

	if (link == NULL || u->hist_wait != NULL || (u->flags & U_REMOTE))
		return 0;
	/* The stream is read newest first from an entry id: LATEST *, and
	   BEFORE a time (ids are "<ms>-<seq>").  The rest is local. */
	if (op == CHAT_HIST_BEFORE && ref != NULL && ref->msgid == NULL)
		snprintf(before, sizeof(before), "%lld-0", (long long)ref->ms);
	else if (!(op == CHAT_HIST_LATEST && ref == NULL))
		return 0;
	if (op == CHAT_HIST_BEFORE)
		bp = before;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return 0;
	w->op = op;
	w->has_ref = ref != NULL;
	if (ref != NULL)
		w->ref.ms = ref->ms;
	w->limit = limit;
	snprintf(w->target, sizeof(w->target), "%s", ch->name);
	if (link->ops->history(link, u, ch->name, bp, limit,
	        chat_histlink_done) == -1) {
		free(w);
		return 0;
	}
	u->hist_wait = w;
	/* The label goes with the answer, not on an empty ACK now. */
	if (chat->cur.u == u && chat->cur.labeled) {
		snprintf(w->label, sizeof(w->label), "%s", chat->cur.label);
		chat->cur.labeled = 0;
	}
	/* No other command of u's runs before the answer. */
	u->flags |= U_HOLD;
	evs_conn_pause(u->c);
	return 1;
}
