/*
 * What a client asks about the server and about who is online:
 * HELP (and HELPOP), INFO, ADMIN, LINKS, ISON and USERHOST.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "../common/mask.h"
#include "chat-int.h"

#define CHAT_USERHOST_MAX 5 /* nicks one USERHOST answers */

/* One help topic: its lines, the first one a summary. */
struct chat_help {
	const char *topic;
	const char *const *text;
};

#define HELP(name, ...) \
	static const char *const chat_help_##name[] = { __VA_ARGS__, NULL }

HELP(index, "evsockd speaks the IRC client protocol. Commands:",
    "ADMIN AWAY HELP INFO INVITE ISON JOIN KICK KILL KLINE LINKS LIST",
    "LUSERS MODE MONITOR MOTD NAMES NICK NOTICE OPER PART PASS PING",
    "PONG PRIVMSG QUIT REHASH STATS TIME TOPIC UNKLINE USER USERHOST",
    "VERSION WALLOPS WHO WHOIS WHOWAS", "HELP <command> explains one of them.");
HELP(admin, "ADMIN [<server>]",
    "Shows who runs this server and how to reach them.");
HELP(away, "AWAY [:<message>]",
    "Marks you away with <message>; without one, marks you back.",
    "Those who message you or WHOIS you see the message.");
HELP(help, "HELP [<command>]", "Lists the commands, or explains <command>.");
HELP(info, "INFO [<server>]",
    "Shows what software this server runs and since when.");
HELP(invite, "INVITE <nick> <channel>",
    "Invites <nick> into <channel>; needed to join an invite-only",
    "(+i) channel, where only channel operators may invite.");
HELP(ison, "ISON <nick> [<nick> ...]",
    "Replies with those of the nicks that are online now.");
HELP(join, "JOIN <channel>{,<channel>} [<key>{,<key>}]",
    "Joins channels, creating those that do not exist yet (you become",
    "their operator). JOIN 0 leaves every channel.");
HELP(kick, "KICK <channel> <nick> [:<reason>]",
    "Removes <nick> from <channel>; for channel operators.");
HELP(kill, "KILL <nick> [:<reason>]",
    "Disconnects <nick> from the server; for server operators.");
HELP(kline, "KLINE [<minutes>] <user@host> [:<reason>]",
    "Bans connections from addresses matching user@host (* and ?",
    "match anything) for <minutes>, or until UNKLINE without them.",
    "Matching users are disconnected; for server operators.");
HELP(links, "LINKS", "Lists the servers of this network.");
HELP(list, "LIST [<channel>{,<channel>}]",
    "Lists channels with their member counts and topics.");
HELP(lusers, "LUSERS",
    "Shows how many users, operators and channels there are.");
HELP(mode, "MODE <nick> [(+|-)<modes>] | MODE <channel> [<modes> <args>]",
    "User modes: +i invisible, +w receive WALLOPS, +o server operator",
    "(given by OPER, dropped with -o). Channel modes set the channel's",
    "rules; see the CHANMODES token of the 005 reply.");
HELP(monitor, "MONITOR (+|-) <nick>{,<nick>} | MONITOR (C|L|S)",
    "Tells you when the nicks you monitor come online (730) or go",
    "offline (731). + adds, - removes, C clears, L lists, S shows the",
    "status of each.");
HELP(motd, "MOTD", "Shows the message of the day.");
HELP(names, "NAMES [<channel>{,<channel>}]",
    "Lists the members of channels (@ marks operators).");
HELP(nick, "NICK <nick>", "Sets or changes your nick.");
HELP(notice, "NOTICE <target>{,<target>} :<text>",
    "Like PRIVMSG, but never answered automatically.");
HELP(oper, "OPER <name> <password>",
    "Makes you a server operator (+o) if the server's configuration",
    "lists <name> with that password.");
HELP(part, "PART <channel>{,<channel>} [:<reason>]", "Leaves channels.");
HELP(pass, "PASS <password>",
    "Gives the server's password, before NICK and USER.");
HELP(ping, "PING <token>", "Asks the server to answer PONG <token>.");
HELP(pong, "PONG <token>", "Answers the server's PING.");
HELP(privmsg, "PRIVMSG <target>{,<target>} :<text>",
    "Sends <text> to users or channels.");
HELP(quit, "QUIT [:<reason>]",
    "Disconnects; those who share a channel with you see <reason>.");
HELP(rehash, "REHASH",
    "Reloads the server's configuration; for server operators.");
HELP(stats, "STATS <letter>",
    "Server statistics for server operators: u uptime, m command",
    "counts, l connections, k server bans.");
HELP(time, "TIME", "Shows the server's time.");
HELP(topic, "TOPIC <channel> [:<topic>]",
    "Shows the topic of <channel>, or sets it.");
HELP(unkline, "UNKLINE <user@host>",
    "Lifts a server ban set by KLINE; for server operators.");
HELP(user, "USER <username> 0 * :<real name>",
    "Gives your user name and real name when connecting.");
HELP(userhost, "USERHOST <nick> [<nick> ...]",
    "Shows user@host of up to five nicks: * marks an operator, - an",
    "away user, + one who is here.");
HELP(version, "VERSION", "Shows the server's version and what it supports.");
HELP(wallops, "WALLOPS :<text>",
    "Sends <text> to every user with +w and to the operators; for",
    "server operators.");
HELP(who, "WHO <mask> [o][%<fields>[,<token>]]",
    "Lists users matching <mask> (a channel, a nick, or a pattern with",
    "* and ? over nick, user, host and real name). o: operators only.",
    "%<fields> asks for a WHOX (354) reply with the fields t c u i h",
    "s n f d l a o r, in that order.");
HELP(whois, "WHOIS [<server>] <nick>",
    "Shows who <nick> is: user, host, channels, server, away message,",
    "operator status and idle time.");
HELP(whowas, "WHOWAS <nick> [<count>]",
    "Shows who last used <nick> (the newest first, at most <count>).");

static const struct chat_help chat_help_topics[] = {
	{ "ADMIN", chat_help_admin },
	{ "AWAY", chat_help_away },
	{ "HELP", chat_help_help },
	{ "HELPOP", chat_help_help },
	{ "INFO", chat_help_info },
	{ "INVITE", chat_help_invite },
	{ "ISON", chat_help_ison },
	{ "JOIN", chat_help_join },
	{ "KICK", chat_help_kick },
	{ "KILL", chat_help_kill },
	{ "KLINE", chat_help_kline },
	{ "LINKS", chat_help_links },
	{ "LIST", chat_help_list },
	{ "LUSERS", chat_help_lusers },
	{ "MODE", chat_help_mode },
	{ "MONITOR", chat_help_monitor },
	{ "MOTD", chat_help_motd },
	{ "NAMES", chat_help_names },
	{ "NICK", chat_help_nick },
	{ "NOTICE", chat_help_notice },
	{ "OPER", chat_help_oper },
	{ "PART", chat_help_part },
	{ "PASS", chat_help_pass },
	{ "PING", chat_help_ping },
	{ "PONG", chat_help_pong },
	{ "PRIVMSG", chat_help_privmsg },
	{ "QUIT", chat_help_quit },
	{ "REHASH", chat_help_rehash },
	{ "STATS", chat_help_stats },
	{ "TIME", chat_help_time },
	{ "TOPIC", chat_help_topic },
	{ "UNKLINE", chat_help_unkline },
	{ "USER", chat_help_user },
	{ "USERHOST", chat_help_userhost },
	{ "VERSION", chat_help_version },
	{ "WALLOPS", chat_help_wallops },
	{ "WHO", chat_help_who },
	{ "WHOIS", chat_help_whois },
	{ "WHOWAS", chat_help_whowas },
};

void
chat_info_help(struct chat_user *u, struct irc_msg *m)
{
	const char *const *text = chat_help_index;
	const char *topic = "index";
	size_t i;

	if (m->nparams > 0 && m->params[0][0] != '\0') {
		text = NULL;
		topic = m->params[0];
		for (i = 0;
		     i < sizeof(chat_help_topics) / sizeof(chat_help_topics[0]);
		     i++) {
			if (irc_casecmp(topic, chat_help_topics[i].topic) ==
			    0) {
				text = chat_help_topics[i].text;
				topic = chat_help_topics[i].topic;
				break;
			}
		}
		if (text == NULL) {
			chat_send_reply(u, IRC_ERR_HELPNOTFOUND, topic);
			return;
		}
	}
	chat_send_reply(u, IRC_RPL_HELPSTART, topic, text[0]);
	for (i = 1; text[i] != NULL; i++)
		chat_send_reply(u, IRC_RPL_HELPTXT, topic, text[i]);
	chat_send_reply(u, IRC_RPL_ENDOFHELP, topic);
}

/* Returns 1 if `target` (a server name, a mask of one, or a nick on
   it) names this server; otherwise answers 402 and returns 0. */
static int
chat_info_is_us(struct chat_user *u, struct irc_msg *m)
{
	const char *t;

	if (m->nparams < 1 || m->params[0][0] == '\0')
		return 1;
	t = m->params[0];
	if (mask_match(t, u->chat->name) ||
	    chat_state_find_registered(u->chat, t) != NULL)
		return 1;
	chat_send_reply(u, IRC_ERR_NOSUCHSERVER, t);
	return 0;
}

void
chat_info_info(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	char line[128];

	if (!chat_info_is_us(u, m))
		return;
	chat_send_reply(u, IRC_RPL_INFO,
	    "evsockd " EVS_VERSION
	    ": an event-driven TCP server with an IRC chat service");
	snprintf(line, sizeof(line), "Built on libevent %s",
	    event_get_version());
	chat_send_reply(u, IRC_RPL_INFO, line);
	chat_send_reply(u, IRC_RPL_INFO,
	    "Released under the MIT license by the evsock authors");
	snprintf(line, sizeof(line), "On-line since %s", chat->created_str);
	chat_send_reply(u, IRC_RPL_INFO, line);
	chat_send_reply(u, IRC_RPL_ENDOFINFO);
}

void
chat_info_admin(struct chat_user *u, struct irc_msg *m)
{
	if (!chat_info_is_us(u, m))
		return;
	chat_send_reply(u, IRC_RPL_ADMINME, u->chat->name);
	chat_send_reply(u, IRC_RPL_ADMINLOC1, "An evsockd chat server");
	chat_send_reply(u, IRC_RPL_ADMINLOC2,
	    "Ask the server operators (LUSERS counts them)");
	chat_send_reply(u, IRC_RPL_ADMINEMAIL, "No contact address is set");
}

void
chat_info_links(struct chat_user *u, struct irc_msg *m)
{
	struct evs_chat *chat = u->chat;
	const char *mask = "*";

	/* LINKS [[<remote>] <mask>]: the mask is the last parameter. */
	if (m->nparams > 0 && m->params[m->nparams - 1][0] != '\0')
		mask = m->params[m->nparams - 1];
	if (mask_match(mask, chat->name))
		chat_send_reply(u, IRC_RPL_LINKS, chat->name, chat->name,
		    chat->info != NULL ? chat->info : CHAT_INFO_DEFAULT);
	chat_send_reply(u, IRC_RPL_ENDOFLINKS, mask);
}

void
chat_info_ison(struct chat_user *u, struct irc_msg *m)
{
	char out[IRC_LINE_MAX], nick[IRC_NICK_MAX + 1];
	size_t n = 0;
	int i;

	out[0] = '\0';
	/* Nicks come as parameters, or space-separated in the last one. */
	for (i = 0; i < m->nparams; i++) {
		const char *p = m->params[i];

		while (*p != '\0') {
			size_t len = strcspn(p, " ");
			struct chat_user *who;

			if (len > 0 && len <= IRC_NICK_MAX) {
				memcpy(nick, p, len);
				nick[len] = '\0';
				who = chat_state_find_registered(u->chat, nick);
				if (who != NULL && n + len + 2 < sizeof(out))
					n += (size_t)snprintf(out + n,
					    sizeof(out) - n, "%s%s",
					    n > 0 ? " " : "", who->nick);
			}
			p += len;
			p += strspn(p, " ");
		}
	}
	chat_send_reply(u, IRC_RPL_ISON, out);
}

void
chat_info_userhost(struct chat_user *u, struct irc_msg *m)
{
	char out[IRC_LINE_MAX];
	size_t n = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < m->nparams && i < CHAT_USERHOST_MAX; i++) {
		struct chat_user *who = chat_state_find_registered(u->chat,
		    m->params[i]);
		int w;

		if (who == NULL)
			continue;
		w = snprintf(out + n, sizeof(out) - n, "%s%s%s=%c%s@%s",
		    n > 0 ? " " : "", who->nick,
		    (who->flags & U_OPER) ? "*" : "",
		    who->away != NULL ? '-' : '+', who->user, who->host);
		if (w < 0 || (size_t)w >= sizeof(out) - n)
			break;
		n += (size_t)w;
	}
	chat_send_reply(u, IRC_RPL_USERHOST, out);
}
