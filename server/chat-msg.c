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

/* One resolved target of PRIVMSG or NOTICE. */
struct chat_msg_target {
	struct chat_chan *ch;
	struct chat_user *to;
	int status; /* STATUSMSG prefix ('@' or '+') or 0 */
};

/* Sends one message to a channel (to its operators, or voiced members
   too, for a STATUSMSG target), or says why it cannot. */
static void
chat_msg_to_chan(struct chat_user *u, const struct chat_msg_target *t,
    const char *text, int notice)
{
	struct chat_chan *ch = t->ch;

	/* +C: a CTCP other than ACTION (/me) is refused. */
	if (!chat_access_speak(u, ch) ||
	    (ch->no_ctcp && text[0] == '\001' &&
	        strncmp(text + 1, "ACTION ", 7) != 0)) {
		if (!notice)
			chat_send_reply(u, IRC_ERR_CANNOTSENDTOCHAN, ch->name);
		return;
	}
	chat_send_message(u, ch, t->status, NULL, chat_msg_cmd[notice], text);
}

static void
chat_msg_to_user(struct chat_user *u, struct chat_user *to, const char *text,
    int notice)
{
	chat_send_message(u, NULL, 0, to, chat_msg_cmd[notice], text);
	if (!notice && to->away != NULL)
		chat_send_reply(u, IRC_RPL_AWAY, to->nick, to->away);
}

/* Resolves one name of a target list into *t; returns 0, or -1 after
   saying (for PRIVMSG) that there is no such target. */
static int
chat_msg_resolve(struct chat_user *u, const char *name, int notice,
    struct chat_msg_target *t)
{
	const char *n = name;

	memset(t, 0, sizeof(*t));
	if ((*n == '@' || *n == '+') && irc_is_channel(n + 1))
		t->status = *n++;
	if (irc_is_channel(n))
		t->ch = chat_state_find_chan(u->chat, n);
	else
		t->to = chat_state_find_registered(u->chat, n);
	if (t->ch != NULL || t->to != NULL)
		return 0;
	if (!notice)
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, name);
	return -1;
}

/* PRIVMSG and NOTICE: NOTICE never causes a reply (RFC 2812 3.3.2).
   The targets are resolved first: one named twice (in any case) gets
   the message once, and a list longer than TARGMAX sends nothing. */
static void
chat_msg_send(struct chat_user *u, struct irc_msg *m, int notice)
{
	struct chat_msg_target t[IRC_TARGMAX];
	const char *list, *text;
	char name[CHAT_OUT_MAX];
	size_t n = 0, i, j;

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		if (!notice)
			chat_send_reply(u, IRC_ERR_NORECIPIENT, m->command);
		return;
	}
	if (notice != CHAT_MSG_TAGMSG &&
	    (m->nparams < 2 || m->params[1][0] == '\0')) {
		if (!notice)
			chat_send_reply(u, IRC_ERR_NOTEXTTOSEND);
		return;
	}
	list = m->params[0];
	text = notice != CHAT_MSG_TAGMSG ? m->params[1] : "";
	if (!notice)
		u->idle_since = time(NULL);
	while (irc_list_next(&list, name, sizeof(name)) > 0) {
		struct chat_msg_target one;

		if (chat_msg_resolve(u, name, notice, &one) == -1)
			continue;
		for (j = 0; j < n; j++)
			if (t[j].ch == one.ch && t[j].to == one.to &&
			    t[j].status == one.status)
				break;
		if (j < n)
			continue;
		if (n == IRC_TARGMAX) {
			if (!notice)
				chat_send_reply(u, IRC_ERR_TOOMANYTARGETS, name,
				    IRC_TARGMAX);
			return;
		}
		t[n++] = one;
	}
	for (i = 0; i < n; i++) {
		if (t[i].ch != NULL)
			chat_msg_to_chan(u, &t[i], text, notice);
		else
			chat_msg_to_user(u, t[i].to, text, notice);
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

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		chat_state_away(u, NULL);
		chat_send_reply(u, IRC_RPL_UNAWAY);
		chat_send_peers_cap(u, 0, CAP_AWAY_NOTIFY, IRC_MSG_BACK, "");
		return;
	}
	snprintf(away, sizeof(away), "%s", m->params[0]);
	chat_state_away(u, away);
	chat_send_reply(u, IRC_RPL_NOWAWAY);
	chat_send_peers_cap(u, 0, CAP_AWAY_NOTIFY, IRC_MSG_AWAY, away);
}
