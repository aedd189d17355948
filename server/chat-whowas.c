/*
 * WHOWAS: who held a nick before.  A fixed ring of the last
 * CHAT_WHOWAS_MAX departures (quits and nick changes), newest
 * overwriting oldest, so the history never grows with the traffic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/mask.h"
#include "chat-int.h"

struct chat_whowas {
	time_t when;
	char nick[IRC_NICK_MAX + 1];
	char user[IRC_USER_MAX + 1];
	char host[CHAT_HOST_MAX];
	char realname[IRC_REALNAME_MAX + 1];
};

void
chat_whowas_add(const struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	struct chat_whowas *w;

	if (chat->whowas == NULL) {
		chat->whowas = calloc(CHAT_WHOWAS_MAX, sizeof(*chat->whowas));
		if (chat->whowas == NULL)
			return;
	}
	w = &chat->whowas[chat->whowas_next];
	chat->whowas_next = (chat->whowas_next + 1) % CHAT_WHOWAS_MAX;
	if (chat->whowas_n < CHAT_WHOWAS_MAX)
		chat->whowas_n++;
	w->when = time(NULL);
	snprintf(w->nick, sizeof(w->nick), "%s", u->nick);
	snprintf(w->user, sizeof(w->user), "%s", u->user);
	snprintf(w->host, sizeof(w->host), "%s", u->host);
	snprintf(w->realname, sizeof(w->realname), "%s", u->realname);
}

void
chat_whowas_fini(struct evs_chat *chat)
{
	free(chat->whowas);
	chat->whowas = NULL;
	chat->whowas_n = chat->whowas_next = 0;
}

/* Sends the entries for one nick (or mask), newest first, at most
   `max` of them (0: all); returns how many. */
static size_t
chat_whowas_one(struct chat_user *u, const char *nick, long max)
{
	struct evs_chat *chat = u->chat;
	size_t i, sent = 0;
	int mask = strpbrk(nick, "*?") != NULL;

	for (i = 0; i < chat->whowas_n; i++) {
		size_t at = (chat->whowas_next + CHAT_WHOWAS_MAX - 1 - i) %
		    CHAT_WHOWAS_MAX;
		struct chat_whowas *w = &chat->whowas[at];
		char when[64];
		struct tm tm;

		if (mask ? !mask_match(nick, w->nick) :
		           irc_casecmp(nick, w->nick) != 0)
			continue;
		chat_send_reply(u, IRC_RPL_WHOWASUSER, w->nick, w->user,
		    w->host, w->realname);
		gmtime_r(&w->when, &tm);
		strftime(when, sizeof(when), "%a %b %d %H:%M:%S %Y UTC", &tm);
		chat_send_reply(u, IRC_RPL_WHOISSERVER, w->nick, chat->name,
		    when);
		if (max > 0 && (long)++sent >= max)
			break;
		if (max <= 0)
			sent++;
	}
	return sent;
}

void
chat_whowas_cmd(struct chat_user *u, struct irc_msg *m)
{
	const char *list;
	char nick[IRC_NICK_MAX + 1];
	long max = 0;

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		chat_send_reply(u, IRC_ERR_NONICKNAMEGIVEN);
		return;
	}
	/* A count that is not positive asks for everything. */
	if (m->nparams > 1)
		max = strtol(m->params[1], NULL, 10);
	list = m->params[0];
	while (irc_list_next(&list, nick, sizeof(nick)) > 0) {
		if (chat_whowas_one(u, nick, max) == 0)
			chat_send_reply(u, IRC_ERR_WASNOSUCHNICK, nick);
		chat_send_reply(u, IRC_RPL_ENDOFWHOWAS, nick);
	}
}
