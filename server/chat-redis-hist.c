/*
 * History across instances: each channel's messages are kept in a
 * Redis stream (evs:hist:<channel>) by the same script that publishes
 * them (chat-redis-out.c), trimmed to the history length, so every
 * instance reads the whole network's history in the order members
 * saw it.  This answers a history query from that stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "chat-redis-int.h"

#define CR_HIST_MAX 1000 /* lines one query returns at most */

/* A query awaiting Redis; u is NULL once the user left. */
struct cr_query {
	TAILQ_ENTRY(cr_query) link;
	struct chat_redis *r;
	struct chat_user *u;
	chat_link_history_fn *cb;
};

static void
chat_redis_hist_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct cr_query *q = priv;
	struct chat_redis *r = q->r;
	redisReply *rep = reply;
	struct chat_link_entry *e = NULL;
	size_t n = 0, i;

	(void)ac;
	TAILQ_REMOVE(&r->queries, q, link);
	if (q->u == NULL || r->freeing)
		goto out;
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0)
		e = calloc(rep->elements, sizeof(*e));
	/* XREVRANGE answers newest first: [id, [field, value, ...]]. */
	for (i = rep != NULL && e != NULL ? rep->elements : 0; i-- > 0;) {
		redisReply *it = rep->element[i], *kv;

		if (it->type != REDIS_REPLY_ARRAY || it->elements != 2 ||
		    it->element[0]->type != REDIS_REPLY_STRING ||
		    (kv = it->element[1])->type != REDIS_REPLY_ARRAY ||
		    kv->elements < 2 ||
		    kv->element[1]->type != REDIS_REPLY_STRING)
			continue;
		e[n].id = it->element[0]->str;
		e[n].ms = strtoull(e[n].id, NULL, 10);
		e[n].line = kv->element[1]->str;
		e[n].len = kv->element[1]->len;
		n++;
	}
	q->cb(q->u, e, n);
	free(e);
out:
	free(q);
}

int
chat_redis_hist_query(struct chat_link *link, struct chat_user *u,
    const char *target, const char *before, size_t limit,
    chat_link_history_fn *cb)
{
	struct chat_redis *r = (struct chat_redis *)(void *)link;
	char fold[IRC_CHANNEL_MAX + 1], end[64];
	struct cr_query *q;

	if (r->state != CR_UP || r->chat->history_lines == 0 ||
	    !irc_is_channel(target) || strlen(target) > IRC_CHANNEL_MAX ||
	    (q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->r = r;
	q->u = u;
	q->cb = cb;
	irc_strlower(fold, target, sizeof(fold));
	/* An exclusive end: "(" before the id (Redis 6.2). */
	snprintf(end, sizeof(end), "%s%s", before != NULL ? "(" : "",
	    before != NULL ? before : "+");
	if (limit > CR_HIST_MAX)
		limit = CR_HIST_MAX;
	if (redisAsyncCommand(r->cmd, chat_redis_hist_read, q,
	        "XREVRANGE evs:hist:%s %s - COUNT %u", fold, end,
	        (unsigned)limit) != 0) {
		free(q);
		return -1;
	}
	TAILQ_INSERT_TAIL(&r->queries, q, link);
	return 0;
}

void
chat_redis_hist_forget(struct chat_redis *r, const struct chat_user *u)
{
	struct cr_query *q;

	TAILQ_FOREACH(q, &r->queries, link) {
		if (q->u == u)
			q->u = NULL;
	}
}
