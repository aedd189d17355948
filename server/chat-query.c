/* Queries: WHO, WHOIS, LUSERS, MOTD, VERSION, TIME. */
#include <stdio.h>
#include <time.h>

#include <evsock/tls.h>

#include "chat-int.h"

void
chat_query_send_isupport(struct chat_user *u)
{
	char tokens[256];

	chat_send_reply(u, IRC_RPL_ISUPPORT, IRC_ISUPPORT_1);
	snprintf(tokens, sizeof(tokens), IRC_ISUPPORT_2, u->chat->name);
	chat_send_reply(u, IRC_RPL_ISUPPORT, tokens);
	if (u->chat->tls_ports != NULL) {
		snprintf(tokens, sizeof(tokens), "SSL=%s", u->chat->tls_ports);
		chat_send_reply(u, IRC_RPL_ISUPPORT, tokens);
	}
}

void
chat_query_send_lusers(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;

	size_t all = chat->nusers + chat->nremote;
	size_t invisible = chat->ninvisible + chat->nremote_invisible;

	chat_send_reply(u, IRC_RPL_LUSERCLIENT, all - invisible, invisible);
	if (chat->nunknown > 0)
		chat_send_reply(u, IRC_RPL_LUSERUNKNOWN, chat->nunknown);
	chat_send_reply(u, IRC_RPL_LUSERCHANNELS, nametab_count(&chat->chans));
	chat_send_reply(u, IRC_RPL_LUSERME, chat->nusers);
	chat_send_reply(u, IRC_RPL_LOCALUSERS, chat->nusers, chat->maxusers,
	    chat->nusers, chat->maxusers);
	chat_send_reply(u, IRC_RPL_GLOBALUSERS, all,
	    all > chat->maxusers ? all : chat->maxusers, all,
	    all > chat->maxusers ? all : chat->maxusers);
}

void
chat_query_send_motd(struct chat_user *u)
{
	struct evs_chat *chat = u->chat;
	size_t i;

	if (chat->nmotd == 0) {
		chat_send_reply(u, IRC_ERR_NOMOTD);
		return;
	}
	chat_send_reply(u, IRC_RPL_MOTDSTART, chat->name);
	for (i = 0; i < chat->nmotd; i++)
		chat_send_reply(u, IRC_RPL_MOTD, chat->motd[i]);
	chat_send_reply(u, IRC_RPL_ENDOFMOTD);
}

static void
chat_query_who_reply(struct chat_user *u, const char *chan,
    const struct chat_user *who, int op)
{
	char flags[4];

	snprintf(flags, sizeof(flags), "%c%s", who->away != NULL ? 'G' : 'H',
	    op ? "@" : "");
	chat_send_reply(u, IRC_RPL_WHOREPLY, chan, who->user, who->host,
	    u->chat->name, who->nick, flags, who->realname);
}

void
chat_query_who(struct chat_user *u, struct irc_msg *m)
{
	const char *mask = m->nparams > 0 ? m->params[0] : "*";

	if (irc_is_channel(mask)) {
		struct chat_chan *ch = chat_state_find_chan(u->chat, mask);
		struct chat_member *mb;

		if (ch != NULL)
			TAILQ_FOREACH(mb, &ch->members, by_chan)
				chat_query_who_reply(u, ch->name, mb->u,
				    mb->op);
	} else {
		struct chat_user *who = chat_state_find_registered(u->chat,
		    mask);

		if (who != NULL)
			chat_query_who_reply(u, "*", who, 0);
	}
	chat_send_reply(u, IRC_RPL_ENDOFWHO, mask);
}

void
chat_query_whois(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	const char *nick = m->params[m->nparams - 1];
	struct chat_user *who = chat_state_find_registered(chat, nick);
	struct chat_send_list l;
	struct chat_member *mb;

	if (*nick == '\0') {
		chat_send_reply(u, IRC_ERR_NONICKNAMEGIVEN);
		return;
	}
	if (who == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, nick);
		chat_send_reply(u, IRC_RPL_ENDOFWHOIS, nick);
		return;
	}
	chat_send_reply(u, IRC_RPL_WHOISUSER, who->nick, who->user, who->host,
	    who->realname);
	chat_send_list_begin(&l, u, IRC_RPL_WHOISCHANNELS, who->nick);
	TAILQ_FOREACH(mb, &who->chans, by_user)
		if (chat_chan_visible(u, mb->ch))
			chat_send_list_add(&l, mb->op ? "@" : mb->voice ? "+" :
			    "", mb->ch->name);
	chat_send_list_end(&l);
	chat_send_reply(u, IRC_RPL_WHOISSERVER, who->nick, chat->name,
	    "evsock chat");
	if (who->away != NULL)
		chat_send_reply(u, IRC_RPL_AWAY, who->nick, who->away);
	if (who->c != NULL && evs_conn_is_tls(who->c))
		chat_send_reply(u, IRC_RPL_WHOISSECURE, who->nick);
	chat_send_reply(u, IRC_RPL_WHOISIDLE, who->nick,
	    (long long)(time(NULL) - who->idle_since), (long long)who->signon);
	chat_send_reply(u, IRC_RPL_ENDOFWHOIS, who->nick);
}

void
chat_query_lusers(struct chat_user *u, struct irc_msg *m)
{
	(void)m;
	chat_query_send_lusers(u);
}

void
chat_query_motd(struct chat_user *u, struct irc_msg *m)
{
	(void)m;
	chat_query_send_motd(u);
}

void
chat_query_version(struct chat_user *u, struct irc_msg *m)
{
	(void)m;
	chat_send_reply(u, IRC_RPL_VERSION, "evsockd-" EVS_VERSION,
	    u->chat->name, "evsock chat service");
	chat_query_send_isupport(u);
}

void
chat_query_time(struct chat_user *u, struct irc_msg *m)
{
	time_t now = time(NULL);
	struct tm tm;
	char human[64];

	(void)m;
	gmtime_r(&now, &tm);
	strftime(human, sizeof(human), "%A %B %d %Y -- %H:%M:%S +00:00", &tm);
	chat_send_reply(u, IRC_RPL_TIME, u->chat->name, (long long)now, human);
}
