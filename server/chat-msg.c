/* Message commands: PRIVMSG, NOTICE, TAGMSG, and AWAY, which answers
   them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"

/* What chat_msg_send sends; only PRIVMSG may cause replies
   (RFC 2812 3.3.2; TAGMSG as NOTICE). */
enum { CHAT_MSG_PRIVMSG, CHAT_MSG_NOTICE, CHAT_MSG_TAGMSG };

static const char *const chat_msg_cmd[] = { "PRIVMSG", "NOTICE", "TAGMSG" };

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
	chat_send_message(u, ch, NULL, chat_msg_cmd[notice], text);
}

static void
chat_msg_to_user(struct chat_user *u, struct chat_user *to, const char *text,
    int notice)
{
	chat_send_message(u, NULL, to, chat_msg_cmd[notice], text);
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
	if (notice != CHAT_MSG_TAGMSG && (m->nparams < 2 ||
	    m->params[1][0] == '\0')) {
		if (!notice)
			chat_send_reply(u, IRC_ERR_NOTEXTTOSEND);
		return;
	}
	list = m->params[0];
	text = notice != CHAT_MSG_TAGMSG ? m->params[1] : "";
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
	chat_msg_send(u, m, CHAT_MSG_NOTICE);
}

void
chat_msg_tagmsg(struct chat_user *u, struct irc_msg *m)
{
	chat_msg_send(u, m, CHAT_MSG_TAGMSG);
}

void
chat_msg_away(struct chat_user *u, struct irc_msg *m)
{
	char away[IRC_AWAY_MAX + 1];

	free(u->away);
	u->away = NULL;
	if (m->nparams < 1 || m->params[0][0] == '\0') {
		chat_send_reply(u, IRC_RPL_UNAWAY);
		chat_send_peers_cap(u, 0, CAP_AWAY_NOTIFY, IRC_MSG_BACK, "");
		return;
	}
	snprintf(away, sizeof(away), "%s", m->params[0]);
	u->away = strdup(away);
	chat_send_reply(u, IRC_RPL_NOWAWAY);
	chat_send_peers_cap(u, 0, CAP_AWAY_NOTIFY, IRC_MSG_AWAY, away);
}
