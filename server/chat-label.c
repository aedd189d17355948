/*
 * labeled-response: while a command from a client that enabled it
 * runs, every line for that client is held back; when the command
 * ends they go out as one labeled line, a labeled ACK when there were
 * none, or a labeled-response batch.  The command's client-only tags
 * are kept here too, for the relays the command makes (chat-send.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"

/* Labeled replies held back past this are sent unlabeled instead. */
#define CHAT_LABEL_HELD_MAX (4u << 20)

int
chat_label_holding(const struct chat_user *u)
{
	const struct chat_cmdctx *cur = &u->chat->cur;

	return cur->labeled && cur->u == u;
}

void
chat_label_hold(struct chat_user *u, const char *data, size_t len)
{
	struct chat_cmdctx *cur = &u->chat->cur;
	size_t want = cur->heldlen + len;

	if (want > cur->heldsize) {
		size_t size = cur->heldsize > 0 ? cur->heldsize : 1024;
		char *p;

		while (size < want)
			size *= 2;
		if (want > CHAT_LABEL_HELD_MAX ||
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
chat_label_begin(struct chat_user *u, const char *tags)
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
	if ((u->caps & CAP_LABELED) &&
	    irc_tag_get(tags, "label", cur->label, sizeof(cur->label)) &&
	    cur->label[0] != '\0' && strlen(cur->label) < CHAT_LABEL_MAX &&
	    strpbrk(cur->label, "; \\") == NULL)
		cur->labeled = 1;
}

/* Returns 1 if the line's tags already name a batch (a nested batch's
   own lines). */
static int
chat_label_in_batch(const char *line, size_t len)
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
chat_label_add_tag(struct chat_user *u, const char *tag, const char *line,
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
chat_label_end(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	struct chat_cmdctx *cur = &chat->cur;
	char tag[CHAT_LABEL_MAX + 16], ref[CHAT_MSGID_MAX],
	    bt[CHAT_MSGID_MAX + 8];
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
	for (p = cur->held;
	     p < end && (eol = memchr(p, '\n', (size_t)(end - p))) != NULL;
	     p = eol + 1)
		lines++;
	if (lines == 0) {
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s ACK", chat->name);
		chat_label_add_tag(u, tag, chat->out, n);
	} else if (lines == 1) {
		chat_label_add_tag(u, tag, cur->held, cur->heldlen);
	} else if (!(u->caps & CAP_BATCH)) {
		evs_conn_send(u->c, cur->held, cur->heldlen);
	} else {
		snprintf(ref, sizeof(ref), "b%llx",
		    (unsigned long long)++chat->batch_seq);
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s BATCH +%s labeled-response", chat->name, ref);
		chat_label_add_tag(u, tag, chat->out, n);
		snprintf(bt, sizeof(bt), "batch=%s", ref);
		for (p = cur->held; p < end; p = eol + 1) {
			eol = memchr(p, '\n', (size_t)(end - p));
			if (eol == NULL)
				break;
			n = (size_t)(eol + 1 - p);
			if (chat_label_in_batch(p, n))
				evs_conn_send(u->c, p, n);
			else
				chat_label_add_tag(u, bt, p, n);
		}
		n = irc_format(chat->out, sizeof(chat->out), chat->outmax,
		    ":%s BATCH -%s", chat->name, ref);
		evs_conn_send(u->c, chat->out, n);
	}
	cur->heldlen = 0;
}
