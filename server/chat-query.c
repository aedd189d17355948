/* Queries: WHO (with masks and WHOX), WHOIS, LUSERS, MOTD, VERSION,
   TIME. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <evsock/tls.h>

#include "../common/mask.h"
#include "chat-int.h"
#include "chat-link.h"

void
chat_query_send_isupport(struct chat_user *u)
{
	char tokens[256];

	chat_send_reply(u, IRC_RPL_ISUPPORT, IRC_ISUPPORT_1);
	snprintf(tokens, sizeof(tokens), IRC_ISUPPORT_2, u->chat->name);
	chat_send_reply(u, IRC_RPL_ISUPPORT, tokens);
	chat_send_reply(u, IRC_RPL_ISUPPORT,
	    chat_cap_isupport(u->chat, tokens, sizeof(tokens)));
	snprintf(tokens, sizeof(tokens), IRC_ISUPPORT_QUERY, CHAT_MONITOR_MAX);
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
	if (chat->nopers_online > 0)
		chat_send_reply(u, IRC_RPL_LUSEROP, chat->nopers_online);
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

/* What one WHO asks for: WHOX fields (NULL: a plain 352 reply). */
struct chat_who {
	const char *fields;
	char token[4];
	int opers_only;
	size_t sent;
};

/* WHO's flags: H or G (here, gone), * for a server operator, then the
   channel status when the reply names a channel. */
static void
chat_query_who_flags(const struct chat_user *who, const char *status, char *buf,
    size_t len)
{
	snprintf(buf, len, "%c%s%s", who->away != NULL ? 'G' : 'H',
	    (who->flags & U_OPER) ? "*" : "", status);
}

/* Appends one WHOX field to buf at *n. */
static void
chat_query_whox_add(char *buf, size_t len, size_t *n, const char *field)
{
	int w = snprintf(buf + *n, len - *n, "%s%s", *n > 0 ? " " : "", field);

	if (w > 0)
		*n = *n + (size_t)w < len ? *n + (size_t)w : len - 1;
}

/* A 354 reply with the fields asked for, in the order WHOX fixes. */
static void
chat_query_whox_reply(struct chat_user *u, const struct chat_who *q,
    const char *chan, const struct chat_user *who, const char *flags)
{
	static const char order[] = "tcuihsnfdlaor";
	char buf[IRC_LINE_MAX], num[32];
	size_t n = 0;
	const char *f;

	buf[0] = '\0';
	for (f = order; *f != '\0'; f++) {
		if (strchr(q->fields, *f) == NULL)
			continue;
		switch (*f) {
		case 't':
			chat_query_whox_add(buf, sizeof(buf), &n,
			    q->token[0] != '\0' ? q->token : "0");
			break;
		case 'c':
			chat_query_whox_add(buf, sizeof(buf), &n, chan);
			break;
		case 'u':
			chat_query_whox_add(buf, sizeof(buf), &n, who->user);
			break;
		case 'i':
		case 'h':
			chat_query_whox_add(buf, sizeof(buf), &n, who->host);
			break;
		case 's':
			chat_query_whox_add(buf, sizeof(buf), &n,
			    u->chat->name);
			break;
		case 'n':
			chat_query_whox_add(buf, sizeof(buf), &n, who->nick);
			break;
		case 'f':
			chat_query_whox_add(buf, sizeof(buf), &n, flags);
			break;
		case 'd':
			chat_query_whox_add(buf, sizeof(buf), &n, "0");
			break;
		case 'l':
			snprintf(num, sizeof(num), "%lld",
			    (long long)(time(NULL) - who->idle_since));
			chat_query_whox_add(buf, sizeof(buf), &n, num);
			break;
		case 'a':
			chat_query_whox_add(buf, sizeof(buf), &n, "0");
			break;
		case 'o':
			chat_query_whox_add(buf, sizeof(buf), &n, "n/a");
			break;
		case 'r':
			/* Last, and the only field that may hold spaces. */
			chat_query_whox_add(buf, sizeof(buf), &n, ":");
			snprintf(buf + n, sizeof(buf) - n, "%s", who->realname);
			break;
		}
	}
	chat_send_reply(u, IRC_RPL_WHOSPCRPL, buf);
}

static void
chat_query_who_reply(struct chat_user *u, struct chat_who *q, const char *chan,
    const struct chat_user *who, const char *status)
{
	char flags[8];

	if (q->opers_only && !(who->flags & U_OPER))
		return;
	chat_query_who_flags(who, status, flags, sizeof(flags));
	q->sent++;
	if (q->fields != NULL)
		chat_query_whox_reply(u, q, chan, who, flags);
	else
		chat_send_reply(u, IRC_RPL_WHOREPLY, chan, who->user, who->host,
		    u->chat->name, who->nick, flags, who->realname);
}

/* Returns 1 if u and who share a channel. */
static int
chat_query_share_chan(const struct chat_user *u, const struct chat_user *who)
{
	const struct chat_member *mb;

	/* Walk the shorter list. */
	if (u->nchans > who->nchans) {
		const struct chat_user *t = u;

		u = who;
		who = t;
	}
	TAILQ_FOREACH(mb, &u->chans, by_user)
		if (chat_state_member(who, mb->ch) != NULL)
			return 1;
	return 0;
}

/* Returns 1 if a mask (not a plain nick) may list who to u: +i users
   are seen only by those sharing a channel and by operators. */
static int
chat_query_visible(const struct chat_user *u, const struct chat_user *who)
{
	return !(who->flags & U_INVISIBLE) || who == u || (u->flags & U_OPER) ||
	    chat_query_share_chan(u, who);
}

static void
chat_query_who_chan(struct chat_user *u, struct chat_who *q, const char *name)
{
	struct chat_chan *ch = chat_state_find_chan(u->chat, name);
	struct chat_member *mb;
	int member;

	/* A +s channel's members are its own business. */
	if (ch == NULL || !chat_chan_visible(u, ch))
		return;
	member = chat_state_member(u, ch) != NULL || (u->flags & U_OPER);
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		char pfx[8];

		if (!member && (mb->u->flags & U_INVISIBLE))
			continue;
		chat_query_who_reply(u, q, ch->name, mb->u,
		    chat_send_member_prefix(mb, u->caps & CAP_MULTI_PREFIX,
		        pfx));
	}
}

/* Returns 1 if who's nick, user name, host, server or real name
   matches mask. */
static int
chat_query_who_matches(const struct chat_user *who, const char *mask)
{
	return mask_match(mask, who->nick) || mask_match(mask, who->user) ||
	    mask_match(mask, who->host) || mask_match(mask, who->chat->name) ||
	    mask_match(mask, who->realname);
}

void
chat_query_who(struct chat_user *u, struct irc_msg *m)
{
	const char *mask = m->nparams > 0 ? m->params[0] : "*";
	struct chat_who q;

	memset(&q, 0, sizeof(q));
	if (m->nparams > 1) {
		const char *opts = m->params[1];
		const char *pct = strchr(opts, '%');

		q.opers_only = strchr(opts, 'o') != NULL &&
		    (pct == NULL || strchr(opts, 'o') < pct);
		if (pct != NULL) {
			const char *comma = strchr(pct, ',');

			q.fields = pct + 1;
			if (comma != NULL)
				snprintf(q.token, sizeof(q.token), "%.*s",
				    (int)strcspn(comma + 1, " "), comma + 1);
		}
	}
	if (irc_is_channel(mask)) {
		chat_query_who_chan(u, &q, mask);
	} else if (strpbrk(mask, "*?") == NULL && strcmp(mask, "0") != 0) {
		/* A plain nick: shown even when invisible. */
		struct chat_user *who = chat_state_find_registered(u->chat,
		    mask);

		if (who != NULL)
			chat_query_who_reply(u, &q, "*", who, "");
	} else {
		const char *pat = strcmp(mask, "0") == 0 ? "*" : mask;
		struct chat_user *who;

		TAILQ_FOREACH(who, &u->chat->users, link) {
			if (!(who->flags & U_REGISTERED) ||
			    !chat_query_visible(u, who) ||
			    !chat_query_who_matches(who, pat))
				continue;
			chat_query_who_reply(u, &q, "*", who, "");
		}
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
	TAILQ_FOREACH(mb, &who->chans, by_user) {
		char pfx[8];

		if (!chat_chan_visible(u, mb->ch))
			continue;
		/* An invisible user's channels show only to those in them. */
		if ((who->flags & U_INVISIBLE) && who != u &&
		    !(u->flags & U_OPER) &&
		    chat_state_member(u, mb->ch) == NULL)
			continue;
		chat_send_list_add(&l,
		    chat_send_member_prefix(mb, u->caps & CAP_MULTI_PREFIX,
		        pfx),
		    mb->ch->name);
	}
	chat_send_list_end(&l);
	/* A user on another instance is on that instance's node. */
	if ((who->flags & U_REMOTE) && chat->link != NULL)
		chat_send_reply(u, IRC_RPL_WHOISSERVER, who->nick,
		    chat->link->ops->node_name(chat->link, who),
		    "another instance of the network");
	else
		chat_send_reply(u, IRC_RPL_WHOISSERVER, who->nick, chat->name,
		    chat->info != NULL ? chat->info : CHAT_INFO_DEFAULT);
	if (who->flags & U_OPER)
		chat_send_reply(u, IRC_RPL_WHOISOPERATOR, who->nick);
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
