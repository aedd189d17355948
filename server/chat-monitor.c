/*
 * MONITOR (IRCv3): a client lists nicks and hears when each comes
 * online (730) or goes offline (731).  A monitored nick is one entry
 * in a name table holding who watches it, and each client keeps the
 * entries it watches, so an event costs one lookup and a walk of its
 * watchers, never a walk of every client.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"

struct chat_watch {
	struct nametab_ent h; /* in chat->watches */
	struct chat_user **by;
	size_t n, cap;
	char nick[IRC_NICK_MAX + 1];
};

#define CHAT_WATCH_OF(e) \
	((struct chat_watch *)(void *)(( \
	    char *)(e)-offsetof(struct chat_watch, h)))

int
chat_monitor_init(struct evs_chat *chat)
{
	return nametab_init(&chat->watches);
}

void
chat_monitor_fini(struct evs_chat *chat)
{
	nametab_fini(&chat->watches);
}

static struct chat_watch *
chat_monitor_find(struct evs_chat *chat, const char *nick)
{
	struct nametab_ent *e = nametab_find(&chat->watches, nick);

	return e == NULL ? NULL : CHAT_WATCH_OF(e);
}

/* Tells u whether who (named nick) is online. */
static void
chat_monitor_status(struct chat_user *u, const char *nick)
{
	struct chat_user *who = chat_state_find_registered(u->chat, nick);

	if (who != NULL)
		chat_send_reply(u, IRC_RPL_MONONLINE, who->prefix);
	else
		chat_send_reply(u, IRC_RPL_MONOFFLINE, nick);
}

/* Adds nick to u's list; returns 0, 1 if already there, -1 if out of
   memory. */
static int
chat_monitor_add(struct chat_user *u, const char *nick)
{
	struct evs_chat *chat = u->chat;
	struct chat_watch *w = chat_monitor_find(chat, nick), **nw;
	struct chat_user **nb;
	int created = 0;

	for (size_t i = 0; w != NULL && i < u->nwatching; i++)
		if (u->watching[i] == w)
			return 1;
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			return -1;
		snprintf(w->nick, sizeof(w->nick), "%.*s", IRC_NICK_MAX, nick);
		nametab_add(&chat->watches, &w->h, w->nick);
		created = 1;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;

		if ((nb = realloc(w->by, cap * sizeof(*nb))) == NULL)
			goto fail;
		w->by = nb;
		w->cap = cap;
	}
	nw = realloc(u->watching, (u->nwatching + 1) * sizeof(*nw));
	if (nw == NULL)
		goto fail;
	u->watching = nw;
	u->watching[u->nwatching++] = w;
	w->by[w->n++] = u;
	return 0;
fail:
	if (created) {
		nametab_del(&chat->watches, &w->h);
		free(w->by);
		free(w);
	}
	return -1;
}

/* Takes u off w's watchers, freeing w when nobody is left. */
static void
chat_monitor_unwatch(struct chat_user *u, struct chat_watch *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (w->by[i] == u) {
			w->by[i] = w->by[--w->n];
			break;
		}
	}
	if (w->n == 0) {
		nametab_del(&u->chat->watches, &w->h);
		free(w->by);
		free(w);
	}
}

static void
chat_monitor_del(struct chat_user *u, const char *nick)
{
	struct chat_watch *w = chat_monitor_find(u->chat, nick);

	for (size_t i = 0; w != NULL && i < u->nwatching; i++) {
		if (u->watching[i] == w) {
			u->watching[i] = u->watching[--u->nwatching];
			chat_monitor_unwatch(u, w);
			return;
		}
	}
}

void
chat_monitor_clear(struct chat_user *u)
{
	for (size_t i = 0; i < u->nwatching; i++)
		chat_monitor_unwatch(u, u->watching[i]);
	free(u->watching);
	u->watching = NULL;
	u->nwatching = 0;
}

void
chat_monitor_notify(struct chat_user *u, int online)
{
	struct chat_watch *w = chat_monitor_find(u->chat, u->nick);

	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++) {
		if (w->by[i] == u)
			continue;
		if (online)
			chat_send_reply(w->by[i], IRC_RPL_MONONLINE, u->prefix);
		else
			chat_send_reply(w->by[i], IRC_RPL_MONOFFLINE, u->nick);
	}
}

/* MONITOR + or -: a comma-separated list of nicks. */
static void
chat_monitor_change(struct chat_user *u, const char *list, int add)
{
	char nick[IRC_NICK_MAX + 2];

	while (irc_list_next(&list, nick, sizeof(nick)) > 0) {
		if (!add) {
			chat_monitor_del(u, nick);
			continue;
		}
		if (!irc_valid_nick(nick)) {
			chat_send_reply(u, IRC_ERR_ERRONEUSNICKNAME, nick);
			continue;
		}
		if (u->nwatching >= CHAT_MONITOR_MAX) {
			/* The refused nick and the rest of the list. */
			char rest[IRC_LINE_MAX];

			snprintf(rest, sizeof(rest), "%s%s%s", nick,
			    *list != '\0' ? "," : "", list);
			chat_send_reply(u, IRC_ERR_MONLISTFULL,
			    CHAT_MONITOR_MAX, rest);
			return;
		}
		if (chat_monitor_add(u, nick) == 0)
			chat_monitor_status(u, nick);
	}
}

void
chat_monitor_cmd(struct chat_user *u, struct irc_msg *m)
{
	const char *sub = m->params[0];
	size_t i;

	if ((sub[0] == '+' || sub[0] == '-') && sub[1] == '\0') {
		if (m->nparams < 2) {
			chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
			return;
		}
		chat_monitor_change(u, m->params[1], sub[0] == '+');
	} else if (irc_casecmp(sub, "C") == 0) {
		chat_monitor_clear(u);
	} else if (irc_casecmp(sub, "L") == 0) {
		for (i = 0; i < u->nwatching; i++)
			chat_send_reply(u, IRC_RPL_MONLIST,
			    u->watching[i]->nick);
		chat_send_reply(u, IRC_RPL_ENDOFMONLIST);
	} else if (irc_casecmp(sub, "S") == 0) {
		for (i = 0; i < u->nwatching; i++)
			chat_monitor_status(u, u->watching[i]->nick);
	}
}
