/*
 * IRCv3 capability negotiation (CAP LS, REQ, ACK/NAK, END, LIST, with
 * cap-notify implied by version 302), the commands of the
 * capabilities that bring their own (SETNAME), and the 005 tokens
 * they add.  What a capability changes in the lines sent lives in
 * chat-send.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"

struct chat_cap_def {
	const char *name;
	unsigned bit;
};

/* Every capability the server offers. */
static const struct chat_cap_def chat_caps[] = {
	{ "away-notify", CAP_AWAY_NOTIFY },
	{ "batch", CAP_BATCH },
	{ "cap-notify", CAP_CAP_NOTIFY },
	{ "draft/chathistory", CAP_CHATHISTORY },
	{ "echo-message", CAP_ECHO_MESSAGE },
	{ "invite-notify", CAP_INVITE_NOTIFY },
	{ "labeled-response", CAP_LABELED },
	{ "message-tags", CAP_MESSAGE_TAGS },
	{ "multi-prefix", CAP_MULTI_PREFIX },
	{ "server-time", CAP_SERVER_TIME },
	{ "setname", CAP_SETNAME },
	{ "userhost-in-names", CAP_USERHOST_NAMES },
};

#define CHAT_CAP_N (sizeof(chat_caps) / sizeof(chat_caps[0]))

/* Returns the capability named by len bytes at name, if offered now. */
static const struct chat_cap_def *
chat_cap_find(const struct evs_chat *chat, const char *name, size_t len)
{
	for (size_t i = 0; i < CHAT_CAP_N; i++) {
		if (strlen(chat_caps[i].name) != len ||
		    memcmp(chat_caps[i].name, name, len) != 0)
			continue;
		if (chat_caps[i].bit == CAP_CHATHISTORY &&
		    chat->history == NULL)
			return NULL;
		return &chat_caps[i];
	}
	return NULL;
}

int
chat_cap_holds(const struct chat_user *u)
{
	return (u->flags & U_CAP) != 0;
}

/* Sends the names of the capabilities in `mask` (every offered one for
   LS) as CAP <sub> lines, continued with '*' lines for version 302
   clients when they do not fit one line. */
static void
chat_cap_send_names(struct chat_user *u, const char *sub, unsigned mask)
{
	struct evs_chat *chat = u->chat;
	const char *client = chat_state_client(u);
	char list[IRC_LINE_MAX];
	size_t n = 0, room;

	/* ":<server> CAP <client> <sub> * :" and CRLF stay out of room. */
	room = IRC_LINE_MAX - strlen(chat->name) - strlen(client) -
	    strlen(sub) - 16;
	list[0] = '\0';
	for (size_t i = 0; i < CHAT_CAP_N; i++) {
		const char *name = chat_caps[i].name;
		size_t len = strlen(name);

		if (!(mask & chat_caps[i].bit) ||
		    chat_cap_find(chat, name, len) == NULL)
			continue;
		if (n > 0 && n + 1 + len > room && u->cap_version >= 302) {
			chat_send_server(u, IRC_MSG_CAP_MORE, client, sub,
			    list);
			n = 0;
		}
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    n > 0 ? " " : "", name);
	}
	chat_send_server(u, IRC_MSG_CAP, client, sub, list);
}

/* CAP REQ: all or nothing.  Returns 1 and applies the change if every
   name is offered (a '-' removes), else 0 and changes nothing. */
static int
chat_cap_req(struct chat_user *u, const char *req)
{
	const struct chat_cap_def *def;
	unsigned add = 0, del = 0;
	const char *p = req;

	for (;;) {
		size_t len;
		int minus;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " ");
		minus = *p == '-';
		def = chat_cap_find(u->chat, p + minus, len - (size_t)minus);
		if (def == NULL)
			return 0;
		/* cap-notify stays on for version 302 clients. */
		if (minus && def->bit == CAP_CAP_NOTIFY &&
		    u->cap_version >= 302)
			return 0;
		if (minus)
			del |= def->bit;
		else
			add |= def->bit;
		p += len;
	}
	u->caps = (u->caps | add) & ~del;
	return 1;
}

void
chat_cap_cmd(struct chat_user *u, struct irc_msg *m)
{
	const char *sub = m->params[0];
	const char *client = chat_state_client(u);

	if (irc_casecmp(sub, "LS") == 0) {
		if (!(u->flags & U_REGISTERED))
			u->flags |= U_CAP;
		if (m->nparams > 1 &&
		    strspn(m->params[1], "0123456789") ==
		        strlen(m->params[1]) &&
		    strlen(m->params[1]) < 6) {
			unsigned v = (unsigned)atoi(m->params[1]);

			if (v >= 302) {
				u->cap_version = 302;
				u->caps |= CAP_CAP_NOTIFY;
			}
		}
		chat_cap_send_names(u, "LS", ~0u);
	} else if (irc_casecmp(sub, "LIST") == 0) {
		chat_cap_send_names(u, "LIST", u->caps);
	} else if (irc_casecmp(sub, "REQ") == 0) {
		const char *req = m->nparams > 1 ? m->params[1] : "";

		if (!(u->flags & U_REGISTERED))
			u->flags |= U_CAP;
		chat_send_server(u, IRC_MSG_CAP, client,
		    chat_cap_req(u, req) ? "ACK" : "NAK", req);
	} else if (irc_casecmp(sub, "END") == 0) {
		if (u->flags & U_REGISTERED)
			return;
		u->flags &= ~U_CAP;
		chat_reg_try(u);
	} else {
		chat_send_reply(u, IRC_ERR_INVALIDCAPCMD, sub);
	}
}

void
chat_cap_setname(struct chat_user *u, struct irc_msg *m)
{
	const char *name = m->params[0];

	if (*name == '\0' || strlen(name) > IRC_REALNAME_MAX) {
		chat_send_standard(u, "FAIL", "SETNAME", "INVALID_REALNAME",
		    NULL, "Realname is not valid");
		return;
	}
	chat_state_realname(u, name);
	chat_send_peers_cap(u, 1, CAP_SETNAME, IRC_MSG_SETNAME, name);
}

void
chat_cap_history_changed(struct evs_chat *chat, int on)
{
	struct chat_user *u;

	TAILQ_FOREACH(u, &chat->users, link) {
		if (!on)
			u->caps &= ~CAP_CHATHISTORY;
		if ((u->caps & CAP_CAP_NOTIFY) && !(u->flags & U_CLOSING))
			chat_send_server(u, IRC_MSG_CAP, chat_state_client(u),
			    on ? "NEW" : "DEL", "draft/chathistory");
	}
}

const char *
chat_cap_isupport(struct evs_chat *chat, char *buf, size_t len)
{
	if (chat->history != NULL)
		snprintf(buf, len, IRC_ISUPPORT_IRCV3_HISTORY,
		    CHAT_HISTORY_MAXREQ);
	else
		snprintf(buf, len, "%s", IRC_ISUPPORT_IRCV3);
	return buf;
}
