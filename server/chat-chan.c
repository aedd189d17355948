/* Channel commands: JOIN, PART, TOPIC, KICK, NAMES, LIST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-int.h"

static void
chat_chan_send_topic(struct chat_user *u, const struct chat_chan *ch)
{
	chat_send_reply(u, IRC_RPL_TOPIC, ch->name, ch->topic);
	chat_send_reply(u, IRC_RPL_TOPICWHOTIME, ch->name, ch->topic_by,
	    (long long)ch->topic_time);
}

/* Sends 353 lines for ch, as many names per line as fit, then 366. */
static void
chat_chan_send_names(struct chat_user *u, struct chat_chan *ch)
{
	struct chat_send_list l;
	struct chat_member *mb;

	chat_send_list_begin(&l, u, IRC_RPL_NAMREPLY, ch->name);
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		char flags[8];

		chat_send_list_add(&l, chat_send_member_prefix(mb,
		    u->caps & CAP_MULTI_PREFIX, flags),
		    (u->caps & CAP_USERHOST_NAMES) ? mb->u->prefix :
		    mb->u->nick);
	}
	chat_send_list_end(&l);
	chat_send_reply(u, IRC_RPL_ENDOFNAMES, ch->name);
}

static void
chat_chan_part_all(struct chat_user *u)
{
	struct chat_member *mb;

	while ((mb = TAILQ_FIRST(&u->chans)) != NULL) {
		chat_send_chan(mb->ch, NULL, u, IRC_MSG_PART, mb->ch->name);
		chat_state_part(mb);
	}
}

static void
chat_chan_join_one(struct chat_user *u, const char *name)
{
	struct chat_chan *ch;
	struct chat_member *mb;

	if (!irc_valid_channel(name)) {
		chat_send_reply(u, IRC_ERR_NOSUCHCHANNEL, name);
		return;
	}
	ch = chat_state_find_chan(u->chat, name);
	if (ch != NULL && chat_state_member(u, ch) != NULL)
		return;
	if (u->nchans >= IRC_CHANLIMIT) {
		chat_send_reply(u, IRC_ERR_TOOMANYCHANNELS, name);
		return;
	}
	if ((mb = chat_state_join(u, ch, name)) == NULL)
		return;
	ch = mb->ch;
	chat_send_chan(ch, NULL, u, IRC_MSG_JOIN, ch->name);
	if (u->away != NULL)
		chat_send_chan_cap(ch, u, CAP_AWAY_NOTIFY, u, IRC_MSG_AWAY,
		    u->away);
	if (ch->topic != NULL)
		chat_chan_send_topic(u, ch);
	chat_chan_send_names(u, ch);
}

void
chat_chan_join(struct chat_user *u, struct irc_msg *m)
{
	const char *list = m->params[0];
	char name[CHAT_OUT_MAX];

	if (*list == '\0') {
		chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	if (strcmp(list, "0") == 0) {
		chat_chan_part_all(u);
		return;
	}
	while (irc_list_next(&list, name, sizeof(name)) > 0)
		chat_chan_join_one(u, name);
}

void
chat_chan_part(struct chat_user *u, struct irc_msg *m)
{
	const char *list = m->params[0];
	const char *reason = m->nparams > 1 ? m->params[1] : NULL;
	char name[CHAT_OUT_MAX];

	if (*list == '\0') {
		chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	while (irc_list_next(&list, name, sizeof(name)) > 0) {
		struct chat_chan *ch = chat_state_find_chan(u->chat, name);
		struct chat_member *mb;

		if (ch == NULL) {
			chat_send_reply(u, IRC_ERR_NOSUCHCHANNEL, name);
			continue;
		}
		if ((mb = chat_state_member(u, ch)) == NULL) {
			chat_send_reply(u, IRC_ERR_NOTONCHANNEL, name);
			continue;
		}
		if (reason != NULL && *reason != '\0')
			chat_send_chan(ch, NULL, u, IRC_MSG_PART_REASON,
			    ch->name, reason);
		else
			chat_send_chan(ch, NULL, u, IRC_MSG_PART, ch->name);
		chat_state_part(mb);
	}
}

void
chat_chan_names(struct chat_user *u, struct irc_msg *m)
{
	const char *list;
	char name[CHAT_OUT_MAX];

	if (m->nparams < 1 || m->params[0][0] == '\0') {
		chat_send_reply(u, IRC_RPL_ENDOFNAMES, "*");
		return;
	}
	list = m->params[0];
	while (irc_list_next(&list, name, sizeof(name)) > 0) {
		struct chat_chan *ch = chat_state_find_chan(u->chat, name);

		if (ch != NULL)
			chat_chan_send_names(u, ch);
		else
			chat_send_reply(u, IRC_RPL_ENDOFNAMES, name);
	}
}

void
chat_chan_topic(struct chat_user *u, struct irc_msg *m)
{
	struct chat_chan *ch = chat_state_find_chan(u->chat, m->params[0]);
	struct chat_member *mb;
	char topic[IRC_TOPIC_MAX + 1];

	if (ch == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHCHANNEL, m->params[0]);
		return;
	}
	mb = chat_state_member(u, ch);
	if (m->nparams < 2) {
		if (ch->topic == NULL)
			chat_send_reply(u, IRC_RPL_NOTOPIC, ch->name);
		else
			chat_chan_send_topic(u, ch);
		return;
	}
	if (mb == NULL) {
		chat_send_reply(u, IRC_ERR_NOTONCHANNEL, ch->name);
		return;
	}
	if (ch->topic_ops && !mb->op) {
		chat_send_reply(u, IRC_ERR_CHANOPRIVSNEEDED, ch->name);
		return;
	}
	snprintf(topic, sizeof(topic), "%s", m->params[1]);
	free(ch->topic);
	ch->topic = topic[0] != '\0' ? strdup(topic) : NULL;
	snprintf(ch->topic_by, sizeof(ch->topic_by), "%s", u->nick);
	ch->topic_time = time(NULL);
	chat_send_chan(ch, NULL, u, IRC_MSG_TOPIC, ch->name, topic);
}

static void
chat_chan_list_one(struct chat_user *u, const struct chat_chan *ch)
{
	chat_send_reply(u, IRC_RPL_LIST, ch->name, ch->nmembers,
	    ch->topic != NULL ? ch->topic : "");
}

void
chat_chan_list(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	struct chat_chan *ch;

	chat_send_reply(u, IRC_RPL_LISTSTART);
	if (m->nparams > 0 && m->params[0][0] != '\0') {
		const char *list = m->params[0];
		char name[CHAT_OUT_MAX];

		while (irc_list_next(&list, name, sizeof(name)) > 0) {
			if ((ch = chat_state_find_chan(chat, name)) != NULL)
				chat_chan_list_one(u, ch);
		}
	} else {
		for (ch = chat_state_chan_next(chat, NULL); ch != NULL;
		    ch = chat_state_chan_next(chat, ch))
			chat_chan_list_one(u, ch);
	}
	chat_send_reply(u, IRC_RPL_LISTEND);
}

void
chat_chan_kick(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	struct chat_chan *ch = chat_state_find_chan(chat, m->params[0]);
	struct chat_member *me, *target;
	const char *list = m->params[1];
	const char *reason = m->nparams > 2 && m->params[2][0] != '\0' ?
	    m->params[2] : u->nick;
	char nick[CHAT_OUT_MAX];

	if (ch == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHCHANNEL, m->params[0]);
		return;
	}
	if ((me = chat_state_member(u, ch)) == NULL) {
		chat_send_reply(u, IRC_ERR_NOTONCHANNEL, ch->name);
		return;
	}
	if (!me->op) {
		chat_send_reply(u, IRC_ERR_CHANOPRIVSNEEDED, ch->name);
		return;
	}
	while (irc_list_next(&list, nick, sizeof(nick)) > 0) {
		struct chat_user *who = chat_state_find_registered(chat, nick);
		char why[IRC_KICK_MAX + 1];
		int last;

		if (who == NULL) {
			chat_send_reply(u, IRC_ERR_NOSUCHNICK, nick);
			continue;
		}
		if ((target = chat_state_member(who, ch)) == NULL) {
			chat_send_reply(u, IRC_ERR_USERNOTINCHANNEL, who->nick,
			    ch->name);
			continue;
		}
		snprintf(why, sizeof(why), "%s", reason);
		chat_send_chan(ch, NULL, u, IRC_MSG_KICK, ch->name, who->nick,
		    why);
		/* The kicker may empty the channel by kicking itself. */
		last = ch->nmembers == 1;
		chat_state_part(target);
		if (last)
			return;
	}
}
