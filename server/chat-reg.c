/*
 * Registration: PASS, NICK and USER (and CAP, in chat-cap.c) until the
 * client is known,
 * then the welcome burst (001-005, LUSERS, MOTD); PING, PONG and QUIT,
 * which work before registration too.
 */
#include <stdio.h>
#include <string.h>

#include "chat-int.h"

static void chat_reg_nick_take(struct chat_user *, const char *);

void
chat_reg_try(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;

	if ((u->flags & (U_REGISTERED | U_CAP | U_CLOSING)) ||
	    !(u->flags & U_HAS_USER) || u->nick[0] == '\0')
		return;
	if (!(u->flags & U_PASS_OK)) {
		chat_send_reply(u, IRC_ERR_PASSWDMISMATCH);
		chat_disconnect(u, "Bad Password");
		return;
	}
	if (chat_oper_refuse_banned(u))
		return;
	chat_state_register(u);
	evs_conn_set_timeout(u->c, chat->ping_interval_ms);
	chat_send_reply(u, IRC_RPL_WELCOME, chat->name, u->prefix);
	chat_send_reply(u, IRC_RPL_YOURHOST, chat->name,
	    "evsockd-" EVS_VERSION);
	chat_send_reply(u, IRC_RPL_CREATED, chat->created_str);
	chat_send_reply(u, IRC_RPL_MYINFO, chat->name, "evsockd-" EVS_VERSION,
	    IRC_USER_MODES, IRC_CHANNEL_MODES, IRC_CHANNEL_MODES_PARAM);
	chat_query_send_isupport(u);
	chat_query_send_lusers(u);
	chat_query_send_motd(u);
}

void
chat_reg_pass(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;

	if (u->flags & U_REGISTERED) {
		chat_send_reply(u, IRC_ERR_ALREADYREGISTERED);
		return;
	}
	if (chat->password == NULL)
		return;
	if (irc_secret_equal(m->params[0], chat->password))
		u->flags |= U_PASS_OK;
	else
		u->flags &= ~U_PASS_OK;
}

void
chat_reg_nick(struct chat_user *u, struct irc_msg *m)
{
	const char *nick = m->nparams > 0 ? m->params[0] : "";
	struct chat_user *other;

	if (*nick == '\0') {
		chat_send_reply(u, IRC_ERR_NONICKNAMEGIVEN);
		return;
	}
	if (!irc_valid_nick(nick)) {
		chat_send_reply(u, IRC_ERR_ERRONEUSNICKNAME, nick);
		return;
	}
	other = chat_state_find_user(u->chat, nick);
	if (other != NULL && other != u) {
		chat_send_reply(u, IRC_ERR_NICKNAMEINUSE, nick);
		return;
	}
	if (strcmp(u->nick, nick) == 0)
		return;
	if (chat_state_claim(u, nick))
		return; /* the cluster answers through chat_reg_nick_claimed */
	chat_reg_nick_take(u, nick);
}

static void
chat_reg_nick_take(struct chat_user *u, const char *nick)
{
	if (u->flags & U_REGISTERED)
		chat_send_peers(u, 1, IRC_MSG_NICK, nick);
	chat_state_nick(u, nick);
	chat_reg_try(u);
}

void
chat_reg_nick_claimed(struct chat_user *u, const char *nick, int ok)
{
	struct chat_user *other = chat_state_find_user(u->chat, nick);

	chat_state_unhold(u);
	if (u->flags & U_CLOSING)
		return;
	/* Another instance's user may have come in while we waited. */
	if (!ok || (other != NULL && other != u))
		chat_send_reply(u, IRC_ERR_NICKNAMEINUSE, nick);
	else if (strcmp(u->nick, nick) != 0)
		chat_reg_nick_take(u, nick);
}

void
chat_reg_user(struct chat_user *u, struct irc_msg *m)
{
	char user[IRC_USER_MAX + 1];
	const char *p;
	size_t i = 0;

	if (u->flags & (U_REGISTERED | U_HAS_USER)) {
		chat_send_reply(u, IRC_ERR_ALREADYREGISTERED);
		return;
	}
	/* Neither the user name nor the real name may be empty. */
	if (m->params[0][0] == '\0' || m->params[3][0] == '\0') {
		chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	/* The user name ends up inside nick!user@host: keep it tame. */
	for (p = m->params[0]; *p != '\0' && i < IRC_USER_MAX; p++) {
		unsigned char ch = (unsigned char)*p;

		user[i++] = ch <= ' ' || ch == '@' || ch == '!' || ch == ':' ||
		        ch >= 0x7f ?
		    '_' :
		    (char)ch;
	}
	user[i] = '\0';
	chat_state_ident(u, user, m->params[3]);
	chat_reg_try(u);
}

void
chat_reg_ping(struct chat_user *u, struct irc_msg *m)
{
	chat_send_server(u, IRC_MSG_PONG, u->chat->name, m->params[0]);
}

void
chat_reg_pong(struct chat_user *u, struct irc_msg *m)
{
	/* Any input already counted as an answer (see chat_line). */
	(void)u;
	(void)m;
}

void
chat_reg_quit(struct chat_user *u, struct irc_msg *m)
{
	char reason[IRC_LINE_MAX];

	if (m->nparams > 0 && m->params[0][0] != '\0')
		snprintf(reason, sizeof(reason), "Quit: %s", m->params[0]);
	else
		snprintf(reason, sizeof(reason), "Client Quit");
	chat_disconnect(u, reason);
}
