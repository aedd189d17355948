/*
 * MODE: user modes +i, +w and -o, and the channel modes: the lists +b,
 * +e and +I, +k and +l with their parameters, +C +i +m +n +s +t, and
 * the member statuses +o and +v.  A MODE line is read as clients send
 * it: each letter that takes a parameter consumes the next one, at most
 * IRC_MODES of them; what changed is announced to the channel in as
 * few lines as fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/mask.h"
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

/* The changes one MODE line made, announced in lines that fit. */
struct chat_mode_out {
	struct chat_user *u;
	struct chat_chan *ch;
	size_t room; /* bytes for "<modes> <args>" on one line */
	size_t nm, na;
	int sign;
	char modes[64];
	char args[IRC_LINE_MAX];
};

static void
chat_mode_out_flush(struct chat_mode_out *o)
{
	char all[sizeof(o->modes) + sizeof(o->args)];

	if (o->nm == 0)
		return;
	o->modes[o->nm] = '\0';
	snprintf(all, sizeof(all), "%s%s", o->modes, o->args);
	chat_send_chan(o->ch, NULL, o->u, IRC_MSG_MODE, o->ch->name, all);
	o->nm = o->na = 0;
	o->args[0] = '\0';
	o->sign = 0;
}

static void
chat_mode_out_add(struct chat_mode_out *o, int add, char mc, const char *arg)
{
	size_t alen = arg != NULL ? strlen(arg) + 1 : 0;

	if (o->nm > 0 &&
	    (o->nm + 2 + o->na + alen > o->room ||
	        o->nm + 3 > sizeof(o->modes)))
		chat_mode_out_flush(o);
	if (o->sign != (add ? '+' : '-'))
		o->modes[o->nm++] = (char)(o->sign = add ? '+' : '-');
	o->modes[o->nm++] = mc;
	if (arg != NULL && o->na + alen < sizeof(o->args)) {
		/* The last argument must not read as a trailing one. */
		o->na += (size_t)snprintf(o->args + o->na,
		    sizeof(o->args) - o->na, " %s", arg);
	}
}

/* Sends the entries of a +b, +e or +I list and its end. */
static void
chat_mode_send_list(struct chat_user *u, struct chat_chan *ch, char mc)
{
	const struct chat_mask *e;
	int show = chat_chan_visible(u, ch);

	/* A secret channel's lists are its members' business: others get
	   an empty list. */
	if (mc == 'b') {
		for (e = show ? ch->bans : NULL; e != NULL; e = e->next)
			chat_send_reply(u, IRC_RPL_BANLIST, ch->name, e->mask,
			    e->by, (long long)e->when);
		chat_send_reply(u, IRC_RPL_ENDOFBANLIST, ch->name);
	} else if (mc == 'e') {
		for (e = show ? ch->excepts : NULL; e != NULL; e = e->next)
			chat_send_reply(u, IRC_RPL_EXCEPTLIST, ch->name,
			    e->mask, e->by, (long long)e->when);
		chat_send_reply(u, IRC_RPL_ENDOFEXCEPTLIST, ch->name);
	} else {
		for (e = show ? ch->invex : NULL; e != NULL; e = e->next)
			chat_send_reply(u, IRC_RPL_INVEXLIST, ch->name, e->mask,
			    e->by, (long long)e->when);
		chat_send_reply(u, IRC_RPL_ENDOFINVEXLIST, ch->name);
	}
}

/* 324 and 329: the flags, then the key (to members) and the limit. */
static void
chat_mode_send_is(struct chat_user *u, struct chat_chan *ch)
{
	char modes[16], args[IRC_KEY_MAX + 32];
	char all[sizeof(modes) + sizeof(args)];
	size_t n = 0, an = 0;

	modes[n++] = '+';
	if (ch->no_ctcp)
		modes[n++] = 'C';
	if (ch->invite_only)
		modes[n++] = 'i';
	if (ch->key[0] != '\0')
		modes[n++] = 'k';
	if (ch->limit > 0)
		modes[n++] = 'l';
	if (ch->moderated)
		modes[n++] = 'm';
	if (ch->no_external)
		modes[n++] = 'n';
	if (ch->secret)
		modes[n++] = 's';
	if (ch->topic_ops)
		modes[n++] = 't';
	modes[n] = '\0';
	args[0] = '\0';
	if (ch->key[0] != '\0')
		an += (size_t)snprintf(args, sizeof(args), " %s",
		    chat_state_member(u, ch) != NULL ? ch->key : "*");
	if (ch->limit > 0)
		snprintf(args + an, sizeof(args) - an, " %zu", ch->limit);
	/* The key and limit follow the modes as parameters of their own. */
	snprintf(all, sizeof(all), "%s%s", modes, args);
	chat_send_reply(u, IRC_RPL_CHANNELMODEIS, ch->name, all);
	chat_send_reply(u, IRC_RPL_CREATIONTIME, ch->name,
	    (long long)ch->created);
}

/* Returns arg if it can be sent as a middle parameter, else "*". */
static const char *
chat_mode_word(const char *arg)
{
	return arg[0] != '\0' && arg[0] != ':' && strchr(arg, ' ') == NULL &&
	        strlen(arg) < 64 ?
	    arg :
	    "*";
}

/* Returns 1 if key is one JOIN can carry: 1 to IRC_KEY_MAX bytes, no
   space, comma, colon or control byte. */
static int
chat_mode_valid_key(const char *key)
{
	size_t n = 0;

	for (; key[n] != '\0'; n++) {
		unsigned char c = (unsigned char)key[n];

		if (c <= ' ' || c == ',' || c == ':' || c == 0x7f)
			return 0;
	}
	return n > 0 && n <= IRC_KEY_MAX;
}

/* Parses a +l value: a whole number from 1 to 1,000,000; 0 if bad. */
static size_t
chat_mode_parse_limit(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return 0;
	v = strtol(s, &end, 10);
	return *end == '\0' && v > 0 && v <= 1000000 ? (size_t)v : 0;
}

/* Applies +o/+v (status 'o' or 'v') for nick `arg` on ch; returns the
   user whose status changed, or NULL. */
static struct chat_user *
chat_mode_status(struct chat_user *u, struct chat_chan *ch, const char *arg,
    char status, int add)
{
	struct chat_user *who = chat_state_find_registered(u->chat, arg);
	struct chat_member *target;
	int *flag;

	if (who == NULL) {
		chat_send_reply(u, IRC_ERR_NOSUCHNICK, arg);
		return NULL;
	}
	if ((target = chat_state_member(who, ch)) == NULL) {
		chat_send_reply(u, IRC_ERR_USERNOTINCHANNEL, who->nick,
		    ch->name);
		return NULL;
	}
	flag = status == 'o' ? &target->op : &target->voice;
	if (*flag == add)
		return NULL;
	*flag = add;
	return who;
}

/* Adds or removes a list entry; returns the normalized mask to
   announce, or NULL when nothing changed. */
static const char *
chat_mode_list_change(struct chat_user *u, struct chat_chan *ch, char mc,
    int add, const char *arg, char *mask, size_t len)
{
	struct chat_mask **list = mc == 'b' ? &ch->bans :
	    mc == 'e'                       ? &ch->excepts :
	                                      &ch->invex;

	if (mask_normalize(mask, len, arg) == 0 ||
	    strlen(mask) > IRC_MASK_MAX) {
		/* An entry that cannot match: removal by its exact text. */
		if (!add && chat_access_mask_del(ch, list, arg))
			return arg;
		return NULL;
	}
	if (!add)
		return chat_access_mask_del(ch, list, mask) ? mask : NULL;
	if (ch->nmasks >= IRC_MAXLIST) {
		chat_send_reply(u, IRC_ERR_BANLISTFULL, ch->name, mc);
		return NULL;
	}
	return chat_access_mask_add(ch, list, mask, u->nick) == 1 ? mask : NULL;
}

static void
chat_mode_chan(struct chat_user *u, struct irc_msg *m, struct chat_chan *ch)
{
	struct chat_member *me = chat_state_member(u, ch);
	struct chat_mode_out o;
	char mask[IRC_MASK_MAX + 2], num[24];
	int add = 1, argi = 2, nparam = 0, denied = 0;
	const char *p;

	if (m->nparams < 2) {
		chat_mode_send_is(u, ch);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.u = u;
	o.ch = ch;
	/* ":<prefix> MODE <chan> " and CRLF take the rest of a line. */
	o.room = u->chat->outmax - (strlen(u->prefix) + strlen(ch->name) + 10);
	for (p = m->params[1]; *p != '\0'; p++) {
		char mc = *p;
		const char *arg = NULL, *shown = NULL;
		int takes;

		if (mc == '+' || mc == '-') {
			add = mc == '+';
			continue;
		}
		if (strchr("beIkliomnstvC", mc) == NULL) {
			chat_send_reply(u, IRC_ERR_UNKNOWNMODE, mc);
			continue;
		}
		/* Which letters consume a parameter, as CHANMODES says:
		   lists and statuses always, +k always (-k if one is
		   given), +l only when set. */
		takes = strchr("beIov", mc) != NULL || (mc == 'k' && add) ||
		    (mc == 'l' && add) ||
		    (mc == 'k' && !add && argi < m->nparams);
		if (takes) {
			if (argi >= m->nparams) {
				if (strchr("beI", mc) != NULL)
					chat_mode_send_list(u, ch, mc);
				else if (mc != 'k' || add)
					chat_send_reply(u,
					    IRC_ERR_NEEDMOREPARAMS, "MODE");
				continue;
			}
			if (nparam++ >= IRC_MODES)
				break;
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
		switch (mc) {
		case 'o':
		case 'v': {
			struct chat_user *who = chat_mode_status(u, ch, arg, mc,
			    add);

			if (who == NULL)
				continue;
			shown = who->nick;
			break;
		}
		case 'b':
		case 'e':
		case 'I':
			shown = chat_mode_list_change(u, ch, mc, add, arg, mask,
			    sizeof(mask));
			if (shown == NULL)
				continue;
			break;
		case 'k':
			if (!add) {
				if (ch->key[0] == '\0')
					continue;
				snprintf(mask, sizeof(mask), "%s", ch->key);
				ch->key[0] = '\0';
				shown = mask;
				break;
			}
			if (!chat_mode_valid_key(arg)) {
				chat_send_reply(u, IRC_ERR_INVALIDMODEPARAM,
				    ch->name, mc, "*",
				    "Invalid key: 1 to 32 "
				    "bytes, no space, comma or colon");
				continue;
			}
			if (ch->key[0] != '\0') {
				chat_send_reply(u, IRC_ERR_KEYSET, ch->name);
				continue;
			}
			snprintf(ch->key, sizeof(ch->key), "%s", arg);
			shown = ch->key;
			break;
		case 'l':
			if (!add) {
				if (ch->limit == 0)
					continue;
				ch->limit = 0;
				break;
			}
			if (chat_mode_parse_limit(arg) == 0) {
				chat_send_reply(u, IRC_ERR_INVALIDMODEPARAM,
				    ch->name, mc, chat_mode_word(arg),
				    "Invalid limit: a number from 1 to "
				    "1000000");
				continue;
			}
			if (ch->limit == chat_mode_parse_limit(arg))
				continue;
			ch->limit = chat_mode_parse_limit(arg);
			snprintf(num, sizeof(num), "%zu", ch->limit);
			shown = num;
			break;
		default: {
			int *flag = mc == 'i' ? &ch->invite_only :
			    mc == 'm'         ? &ch->moderated :
			    mc == 'n'         ? &ch->no_external :
			    mc == 's'         ? &ch->secret :
			    mc == 'C'         ? &ch->no_ctcp :
			                        &ch->topic_ops;

			if (*flag == add)
				continue;
			*flag = add;
			break;
		}
		}
		chat_mode_out_add(&o, add, mc, shown);
	}
	chat_mode_out_flush(&o);
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
