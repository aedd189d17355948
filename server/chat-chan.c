/* Channel commands: JOIN, PART, TOPIC, KICK, NAMES, LIST, INVITE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/mask.h"
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

	chat_send_list_begin(&l, u, IRC_RPL_NAMREPLY, ch->secret ? '@' : '=',
	    ch->name);
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		char flags[8];

		chat_send_list_add(&l,
		    chat_send_member_prefix(mb, u->caps & CAP_MULTI_PREFIX,
		        flags),
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

int
chat_chan_visible(const struct chat_user *u, const struct chat_chan *ch)
{
	return !ch->secret || chat_state_member(u, ch) != NULL;
}

static void
chat_chan_join_one(struct chat_user *u, const char *name, const char *key)
{
	struct chat_chan *ch;
	struct chat_member *mb;
	const char *refused;

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
	if (ch != NULL && (refused = chat_access_join(u, ch, key)) != NULL) {
		if (strcmp(refused, "474") == 0)
			chat_send_reply(u, IRC_ERR_BANNEDFROMCHAN, ch->name);
		else if (strcmp(refused, "473") == 0)
			chat_send_reply(u, IRC_ERR_INVITEONLYCHAN, ch->name);
		else if (strcmp(refused, "475") == 0)
			chat_send_reply(u, IRC_ERR_BADCHANNELKEY, ch->name);
		else
			chat_send_reply(u, IRC_ERR_CHANNELISFULL, ch->name);
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
	const char *keys = m->nparams > 1 ? m->params[1] : "";
	char name[CHAT_OUT_MAX], key[CHAT_OUT_MAX];

	if (*list == '\0') {
		chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	if (strcmp(list, "0") == 0) {
		chat_chan_part_all(u);
		return;
	}
	/* Keys pair with channels in order: "JOIN #a,#b ka,kb". */
	while (irc_list_next(&list, name, sizeof(name)) > 0) {
		size_t kl = irc_list_next(&keys, key, sizeof(key));

		chat_chan_join_one(u, name, kl > 0 ? key : NULL);
	}
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

		if (ch != NULL && chat_chan_visible(u, ch))
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

/* The conditions of a LIST with ELIST=MNU: masks a channel must match
   one of (M), masks it must match none of (N), and member counts. */
struct chat_chan_elist {
	const char *masks; /* the comma-separated parameter */
	size_t min, max;   /* members: more than min, fewer than max */
	int have_match;    /* a positive mask was given */
};

/* Returns 1 if ch passes every condition of the LIST parameter. */
static int
chat_chan_elist_match(const struct chat_chan_elist *e,
    const struct chat_chan *ch)
{
	const char *list = e->masks;
	char item[CHAT_OUT_MAX];
	int matched = !e->have_match;

	if (ch->nmembers <= e->min || ch->nmembers >= e->max)
		return 0;
	while (irc_list_next(&list, item, sizeof(item)) > 0) {
		if (item[0] == '<' || item[0] == '>')
			continue;
		if (item[0] == '!') {
			if (mask_match(item + 1, ch->name))
				return 0;
		} else if (mask_match(item, ch->name)) {
			matched = 1;
		}
	}
	return matched;
}

/* Reads the LIST parameter; returns 1 if it holds more than channel
   names (a wildcard, '!', '<' or '>'). */
static int
chat_chan_elist_parse(struct chat_chan_elist *e, const char *param)
{
	const char *list = param;
	char item[CHAT_OUT_MAX];
	int filter = 0;

	e->masks = param;
	e->min = 0;
	e->max = (size_t)-1;
	e->have_match = 0;
	while (irc_list_next(&list, item, sizeof(item)) > 0) {
		if (item[0] == '<' || item[0] == '>') {
			size_t v = (size_t)strtoul(item + 1, NULL, 10);

			if (item[0] == '<' && v < e->max)
				e->max = v;
			else if (item[0] == '>' && v > e->min)
				e->min = v;
			filter = 1;
			continue;
		}
		if (item[0] == '!' || strpbrk(item, "*?") != NULL)
			filter = 1;
		if (item[0] != '!')
			e->have_match = 1;
	}
	return filter;
}

void
chat_chan_list(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	struct chat_chan *ch;
	struct chat_chan_elist e;
	int filter = 0;

	chat_send_reply(u, IRC_RPL_LISTSTART);
	if (m->nparams > 0 && m->params[0][0] != '\0')
		filter = chat_chan_elist_parse(&e, m->params[0]);
	if (m->nparams > 0 && m->params[0][0] != '\0' && !filter) {
		const char *list = m->params[0];
		char name[CHAT_OUT_MAX];

		while (irc_list_next(&list, name, sizeof(name)) > 0) {
			if ((ch = chat_state_find_chan(chat, name)) != NULL &&
			    chat_chan_visible(u, ch))
				chat_chan_list_one(u, ch);
		}
	} else {
		for (ch = chat_state_chan_next(chat, NULL); ch != NULL;
		     ch = chat_state_chan_next(chat, ch))
			if (chat_chan_visible(u, ch) &&
			    (!filter || chat_chan_elist_match(&e, ch)))
				chat_chan_list_one(u, ch);
	}
	chat_send_reply(u, IRC_RPL_LISTEND);
}

/* Kicks `nick` from the channel `name`; returns -1 when the channel
   itself refuses (missing, not a member, not an operator, emptied). */
static int
chat_chan_kick_one(struct chat_user *u, const char *name, const char *nick,
    const char *reason)
{
	struct evs_chat *chat = u->chat;
	struct chat_chan *ch = chat_state_find_chan(chat, name);
	struct chat_member *me, *target;
	struct chat_user *who;
	char why[IRC_KICK_MAX + 1];
	int last;

	if (ch == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHCHANNEL, name);
		return -1;
	}
	if ((me = chat_state_member(u, ch)) == NULL) {
		chat_send_reply(u, IRC_ERR_NOTONCHANNEL, ch->name);
		return -1;
	}
	if (!me->op) {
		chat_send_reply(u, IRC_ERR_CHANOPRIVSNEEDED, ch->name);
		return -1;
	}
	if ((who = chat_state_find_registered(chat, nick)) == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, nick);
		return 0;
	}
	if ((target = chat_state_member(who, ch)) == NULL) {
		chat_send_reply(u, IRC_ERR_USERNOTINCHANNEL, who->nick,
		    ch->name);
		return 0;
	}
	snprintf(why, sizeof(why), "%s", reason);
	chat_send_chan(ch, NULL, u, IRC_MSG_KICK, ch->name, who->nick, why);
	/* The kicker may empty the channel by kicking itself. */
	last = ch->nmembers == 1;
	chat_state_part(target);
	return last ? -1 : 0;
}

/* KICK #c a,b kicks both from #c; KICK #c,#d a,b pairs them in order.
   Past TARGMAX (KICK:4) users, the rest are dropped, as modern IRC
   allows. */
void
chat_chan_kick(struct chat_user *u, struct irc_msg *m)
{
	const char *chans = m->params[0], *list = m->params[1];
	const char *reason = m->nparams > 2 && m->params[2][0] != '\0' ?
	    m->params[2] :
	    u->nick;
	char name[CHAT_OUT_MAX], nick[CHAT_OUT_MAX];
	int single = strchr(chans, ',') == NULL, n = 0;

	if (single)
		snprintf(name, sizeof(name), "%s", chans);
	while (
	    n++ < IRC_TARGMAX && irc_list_next(&list, nick, sizeof(nick)) > 0) {
		if (!single && irc_list_next(&chans, name, sizeof(name)) == 0)
			return;
		if (chat_chan_kick_one(u, name, nick, reason) == -1 && single)
			return;
	}
}

/* INVITE with no parameters lists the caller's pending invitations. */
static void
chat_chan_invite_list(struct chat_user *u)
{
	const struct chat_invite *iv;

	for (iv = u->invites; iv != NULL; iv = iv->next)
		chat_send_reply(u, IRC_RPL_INVITELIST, iv->chan);
	chat_send_reply(u, IRC_RPL_ENDOFINVITELIST);
}

void
chat_chan_invite(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	struct chat_user *who;
	struct chat_chan *ch;
	struct chat_member *me;

	if (m->nparams == 0) {
		chat_chan_invite_list(u);
		return;
	}
	if (m->nparams < 2) {
		chat_send_reply(u, IRC_ERR_NEEDMOREPARAMS, m->command);
		return;
	}
	if ((who = chat_state_find_registered(chat, m->params[0])) == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, m->params[0]);
		return;
	}
	if ((ch = chat_state_find_chan(chat, m->params[1])) == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHCHANNEL, m->params[1]);
		return;
	}
	if ((me = chat_state_member(u, ch)) == NULL) {
		chat_send_reply(u, IRC_ERR_NOTONCHANNEL, ch->name);
		return;
	}
	if (ch->invite_only && !me->op) {
		chat_send_reply(u, IRC_ERR_CHANOPRIVSNEEDED, ch->name);
		return;
	}
	if (chat_state_member(who, ch) != NULL) {
		chat_send_reply(u, IRC_ERR_USERONCHANNEL, who->nick, ch->name);
		return;
	}
	if (chat_access_invite(who, ch, me->op) == -1)
		return;
	chat_send_reply(u, IRC_RPL_INVITING, who->nick, ch->name);
	chat_send_user(who, u, IRC_MSG_INVITE, who->nick, ch->name);
	chat_send_invite_notify(ch, u, who);
	if (who->away != NULL)
		chat_send_reply(u, IRC_RPL_AWAY, who->nick, who->away);
}
