/* MODE: user modes +i, +w and -o, and channel modes +n, +t and +o. */
#include <stdio.h>

#include "chat-int.h"

/* Applies one user mode letter to u; returns 1 if it changed, 0 if
   not, -1 for a letter it does not know.  +o comes only from OPER. */
static int
chat_mode_user_flag(struct chat_user *u, char mode, int add)
{
	switch (mode) {
	case 'i':
		return chat_state_invisible(u, add);
	case 'o':
		return add ? 0 : chat_state_oper(u, 0);
	case 'w':
		if (add == !!(u->flags & U_WALLOPS))
			return 0;
		u->flags ^= U_WALLOPS;
		return 1;
	}
	return -1;
}

static void
chat_mode_user(struct chat_user *u, struct irc_msg *m)
{
	struct chat_user *who = chat_state_find_registered(u->chat,
	    m->params[0]);
	const char *p;
	char applied[16];
	size_t n = 0;
	int add = 1, lastsign = 0, unknown = 0;

	if (who == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, m->params[0]);
		return;
	}
	if (who != u) {
		chat_send_reply(u, IRC_ERR_USERSDONTMATCH);
		return;
	}
	if (m->nparams < 2) {
		chat_state_umodes(u, applied, sizeof(applied));
		chat_send_reply(u, IRC_RPL_UMODEIS, applied);
		return;
	}
	for (p = m->params[1]; *p != '\0'; p++) {
		int r;

		if (*p == '+' || *p == '-') {
			add = *p == '+';
			continue;
		}
		if ((r = chat_mode_user_flag(u, *p, add)) == -1) {
			unknown = 1;
			continue;
		}
		if (r == 0)
			continue;
		if (lastsign != (add ? '+' : '-') && n < sizeof(applied) - 2)
			applied[n++] = (char)(lastsign = add ? '+' : '-');
		if (n < sizeof(applied) - 1)
			applied[n++] = *p;
	}
	applied[n] = '\0';
	if (unknown)
		chat_send_reply(u, IRC_ERR_UMODEUNKNOWNFLAG);
	if (n > 0)
		chat_send_user(u, u, IRC_MSG_MODE, u->nick, applied);
}

/* Applies +o/-o for `arg` on ch; returns the user whose status
   changed, or NULL. */
static struct chat_user *
chat_mode_op(struct chat_user *u, struct chat_chan *ch, const char *arg,
    int add)
{
	struct chat_user *who = chat_state_find_registered(u->chat, arg);
	struct chat_member *target;

	if (who == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, arg);
		return NULL;
	}
	if ((target = chat_state_member(who, ch)) == NULL) {
		chat_send_reply(u, IRC_ERR_USERNOTINCHANNEL, who->nick,
		    ch->name);
		return NULL;
	}
	if (target->op == add)
		return NULL;
	target->op = add;
	return who;
}

static void
chat_mode_chan(struct chat_user *u, struct irc_msg *m, struct chat_chan *ch)
{
	struct chat_member *me = chat_state_member(u, ch);
	char applied[64], args[IRC_LINE_MAX], all[IRC_LINE_MAX + 64];
	size_t n = 0, an = 0;
	int add = 1, lastsign = 0, argi = 2, denied = 0;
	const char *p;

	if (m->nparams < 2) {
		snprintf(applied, sizeof(applied), "+%s%s",
		    ch->no_external ? "n" : "", ch->topic_ops ? "t" : "");
		chat_send_reply(u, IRC_RPL_CHANNELMODEIS, ch->name, applied);
		chat_send_reply(u, IRC_RPL_CREATIONTIME, ch->name,
		    (long long)ch->created);
		return;
	}
	args[0] = '\0';
	for (p = m->params[1]; *p != '\0'; p++) {
		char mc = *p;
		const char *arg = NULL;
		int *flag;

		if (mc == '+' || mc == '-') {
			add = mc == '+';
			continue;
		}
		if (mc == 'b' && argi >= m->nparams) {
			/* A ban list query; there are no bans. */
			chat_send_reply(u, IRC_RPL_ENDOFBANLIST, ch->name);
			continue;
		}
		if (mc != 'o' && mc != 't' && mc != 'n') {
			chat_send_reply(u, IRC_ERR_UNKNOWNMODE, mc);
			continue;
		}
		if (mc == 'o') {
			if (argi >= m->nparams)
				continue;
			arg = m->params[argi++];
		}
		if (me == NULL || !me->op) {
			if (!denied && me == NULL)
				chat_send_reply(u, IRC_ERR_NOTONCHANNEL,
				    ch->name);
			else if (!denied)
				chat_send_reply(u, IRC_ERR_CHANOPRIVSNEEDED,
				    ch->name);
			denied = 1;
			continue;
		}
		if (mc == 'o') {
			struct chat_user *who = chat_mode_op(u, ch, arg, add);

			if (who == NULL)
				continue;
			an += (size_t)snprintf(args + an, sizeof(args) - an,
			    " %s", who->nick);
			if (an >= sizeof(args))
				an = sizeof(args) - 1;
		} else {
			flag = mc == 't' ? &ch->topic_ops : &ch->no_external;
			if (*flag == add)
				continue;
			*flag = add;
		}
		if (n + 3 >= sizeof(applied))
			break;
		if (lastsign != (add ? '+' : '-'))
			applied[n++] = (char)(lastsign = add ? '+' : '-');
		applied[n++] = mc;
	}
	applied[n] = '\0';
	if (n > 0) {
		snprintf(all, sizeof(all), "%s%s", applied, args);
		chat_send_chan(ch, NULL, u, IRC_MSG_MODE, ch->name, all);
	}
}

void
chat_mode_cmd(struct chat_user *u, struct irc_msg *m)
{
	struct chat_chan *ch;

	if (!irc_is_channel(m->params[0])) {
		chat_mode_user(u, m);
		return;
	}
	if ((ch = chat_state_find_chan(u->chat, m->params[0])) == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHCHANNEL, m->params[0]);
		return;
	}
	chat_mode_chan(u, m, ch);
}
