/* Message commands: PRIVMSG, NOTICE, and AWAY, which answers them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"

/* Sends one message to a channel, or says why it cannot. */
static void
chat_msg_to_chan(struct chat_user *u, struct chat_chan *ch, const char *text,
    int notice)
{
	if (ch->no_external && chat_state_member(u, ch) == NULL) {
		if (!notice)
			chat_send_reply(u, IRC_ERR_CANNOTSENDTOCHAN, ch->name);
		return;
	}
	if (notice)
		chat_send_chan(ch, u, u, IRC_MSG_NOTICE, ch->name, text);
	else
		chat_send_chan(ch, u, u, IRC_MSG_PRIVMSG, ch->name, text);
}

static void
chat_msg_to_user(struct chat_user *u, struct chat_user *to, const char *text,
    int notice)
{
	if (notice)
		chat_send_user(to, u, IRC_MSG_NOTICE, to->nick, text);
	else
		chat_send_user(to, u, IRC_MSG_PRIVMSG, to->nick, text);
	if (!notice && to->away != NULL)
		chat_send_reply(u, IRC_RPL_AWAY, to->nick, to->away);
}

/* PRIVMSG and NOTICE: NOTICE never causes a reply (RFC 2812 3.3.2). */
static void
chat_msg_send(struct chat_user *u, struct irc_msg *m, int notice)
{
	const char *list, *text;
	char name[CHAT_OUT_MAX];

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		if (!notice)
			chat_send_reply(u, IRC_ERR_NORECIPIENT, m->command);
		return;
	}
	if (m->nparams < 2 || m->params[1][0] == '\0') {
		if (!notice)
			chat_send_reply(u, IRC_ERR_NOTEXTTOSEND);
		return;
	}
	list = m->params[0];
	text = m->params[1];
	if (!notice)
		u->idle_since = time(NULL);
	while (irc_list_next(&list, name, sizeof(name)) > 0) {
		struct chat_chan *ch = NULL;
		struct chat_user *to = NULL;

		if (irc_is_channel(name))
			ch = chat_state_find_chan(u->chat, name);
		else
			to = chat_state_find_registered(u->chat, name);
		if (ch != NULL)
			chat_msg_to_chan(u, ch, text, notice);
		else if (to != NULL)
			chat_msg_to_user(u, to, text, notice);
		else if (!notice)
			chat_send_reply(u, IRC_ERR_NOSUCHNICK, name);
	}
}

void
chat_msg_privmsg(struct chat_user *u, struct irc_msg *m)
{
	chat_msg_send(u, m, 0);
}

void
chat_msg_notice(struct chat_user *u, struct irc_msg *m)
{
	chat_msg_send(u, m, 1);
}

void
chat_msg_away(struct chat_user *u, struct irc_msg *m)
{
	char away[IRC_AWAY_MAX + 1];

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		chat_state_away(u, NULL);
		chat_send_reply(u, IRC_RPL_UNAWAY);
		return;
	}
	snprintf(away, sizeof(away), "%s", m->params[0]);
	chat_state_away(u, away);
	chat_send_reply(u, IRC_RPL_NOWAWAY);
}
