/*
 * Typed lines of `evsock chat`: plain text goes to the current channel,
 * "/name args" runs a command from the table below, which is also what
 * --help and /help list.  Commands only send protocol lines; what the
 * server answers is shown by chatshow.c.
 */
#include <stdio.h>
#include <string.h>

#include "chatmode-int.h"

struct chatcmd {
	const char *name;
	const char *alias;
	void (*run)(struct chatmode *, char *);
	const char *usage; /* "/name ARGS", also the help line */
	const char *help;
};

static void chatcmd_join(struct chatmode *, char *);
static void chatcmd_part(struct chatmode *, char *);
static void chatcmd_msg(struct chatmode *, char *);
static void chatcmd_notice(struct chatmode *, char *);
static void chatcmd_me(struct chatmode *, char *);
static void chatcmd_nick(struct chatmode *, char *);
static void chatcmd_names(struct chatmode *, char *);
static void chatcmd_topic(struct chatmode *, char *);
static void chatcmd_whois(struct chatmode *, char *);
static void chatcmd_away(struct chatmode *, char *);
static void chatcmd_invite(struct chatmode *, char *);
static void chatcmd_kick(struct chatmode *, char *);
static void chatcmd_ban(struct chatmode *, char *);
static void chatcmd_unban(struct chatmode *, char *);
static void chatcmd_mode(struct chatmode *, char *);
static void chatcmd_quote(struct chatmode *, char *);
static void chatcmd_quit(struct chatmode *, char *);
static void chatcmd_help(struct chatmode *, char *);

static const struct chatcmd chatcmd_table[] = {
	{ "join", "j", chatcmd_join, "/join #channel [key]",
	    "join and make it current" },
	{ "part", NULL, chatcmd_part, "/part [#channel] [reason]",
	    "leave (default: the current channel)" },
	{ "msg", NULL, chatcmd_msg, "/msg TARGET text",
	    "a message to a nick or a channel" },
	{ "notice", NULL, chatcmd_notice, "/notice TARGET text", "a notice" },
	{ "me", NULL, chatcmd_me, "/me text",
	    "an action in the current channel" },
	{ "nick", NULL, chatcmd_nick, "/nick NICK", "change your nickname" },
	{ "names", NULL, chatcmd_names, "/names [#channel]",
	    "who is in a channel" },
	{ "topic", NULL, chatcmd_topic, "/topic [#channel] [text]",
	    "show or set a channel's topic" },
	{ "whois", NULL, chatcmd_whois, "/whois NICK", "who someone is" },
	{ "away", NULL, chatcmd_away, "/away [text]",
	    "mark yourself away; without text, back" },
	{ "invite", NULL, chatcmd_invite, "/invite NICK [#channel]",
	    "invite someone to a channel" },
	{ "kick", NULL, chatcmd_kick, "/kick NICK [reason]",
	    "remove someone from the current channel" },
	{ "ban", NULL, chatcmd_ban, "/ban [MASK]",
	    "ban a nick!user@host mask, or list bans" },
	{ "unban", NULL, chatcmd_unban, "/unban MASK", "lift a ban" },
	{ "mode", NULL, chatcmd_mode, "/mode [TARGET] [MODES]",
	    "show or change modes (default: current)" },
	{ "quote", "raw", chatcmd_quote, "/quote LINE",
	    "send LINE to the server as it is" },
	{ "quit", NULL, chatcmd_quit, "/quit [message]",
	    "leave (so does end of input)" },
	{ "help", NULL, chatcmd_help, "/help", "this list" },
};

#define CHATCMD_COUNT (sizeof(chatcmd_table) / sizeof(chatcmd_table[0]))

const char *
chatcmd_help_line(size_t i)
{
	static char line[128];

	if (i >= CHATCMD_COUNT)
		return NULL;
	snprintf(line, sizeof(line), "  %-25s %s", chatcmd_table[i].usage,
	    chatcmd_table[i].help);
	return line;
}

/* Splits "word rest" in place: returns rest (never NULL). */
static char *
chatcmd_split(char *s)
{
	char *sp = strchr(s, ' ');

	if (sp == NULL)
		return s + strlen(s);
	*sp++ = '\0';
	while (*sp == ' ')
		sp++;
	return sp;
}

static void
chatcmd_usage(struct chatmode *cm, const char *name)
{
	for (size_t i = 0; i < CHATCMD_COUNT; i++)
		if (strcmp(chatcmd_table[i].name, name) == 0)
			chatmode_show(cm, "! usage: %s",
			    chatcmd_table[i].usage);
}

/* Returns the current channel, or NULL after telling the user there is
   none. */
static const char *
chatcmd_current(struct chatmode *cm)
{
	if (cm->channel[0] != '\0')
		return cm->channel;
	chatmode_show(cm, "! not in a channel (try /join #channel)");
	return NULL;
}

/* Takes a leading channel off *rest, or else names the current one;
   NULL (the user was told why) when there is neither. */
static const char *
chatcmd_chan(struct chatmode *cm, char **rest)
{
	const char *chan;

	if (!irc_is_channel(*rest))
		return chatcmd_current(cm);
	chan = *rest;
	*rest = chatcmd_split(*rest);
	return chan;
}

static void
chatcmd_join(struct chatmode *cm, char *rest)
{
	if (*rest == '\0')
		chatcmd_usage(cm, "join");
	else
		chatmode_sendf(cm, "JOIN %s", rest);
}

static void
chatcmd_part(struct chatmode *cm, char *rest)
{
	const char *chan;

	if ((chan = chatcmd_chan(cm, &rest)) == NULL)
		return;
	if (*rest != '\0')
		chatmode_sendf(cm, "PART %s :%s", chan, rest);
	else
		chatmode_sendf(cm, "PART %s", chan);
}

/* "/msg" and "/notice": TARGET text as cmd, echoed between marks
   (*nick* for a message, -nick- for a notice). */
static void
chatcmd_say(struct chatmode *cm, char *rest, const char *name, const char *cmd,
    char mark)
{
	char *target = rest;

	rest = chatcmd_split(rest);
	if (*target == '\0' || *rest == '\0') {
		chatcmd_usage(cm, name);
		return;
	}
	chatmode_sendf(cm, "%s %s :%s", cmd, target, rest);
	chatmode_show(cm, "-> %c%s%c %s", mark, target, mark, rest);
}

/* A command that needs its argument: usage without one, else "CMD
   rest" (or rest itself when cmd is NULL). */
static void
chatcmd_need(struct chatmode *cm, char *rest, const char *name, const char *cmd)
{
	if (*rest == '\0')
		chatcmd_usage(cm, name);
	else if (cmd == NULL)
		chatmode_sendf(cm, "%s", rest);
	else
		chatmode_sendf(cm, "%s %s", cmd, rest);
}

static void
chatcmd_msg(struct chatmode *cm, char *rest)
{
	chatcmd_say(cm, rest, "msg", "PRIVMSG", '*');
}

static void
chatcmd_notice(struct chatmode *cm, char *rest)
{
	chatcmd_say(cm, rest, "notice", "NOTICE", '-');
}

static void
chatcmd_me(struct chatmode *cm, char *rest)
{
	const char *chan = chatcmd_current(cm);

	if (chan == NULL)
		return;
	chatmode_sendf(cm, "PRIVMSG %s :\001ACTION %s\001", chan, rest);
	chatmode_show(cm, "* %s %s", cm->nick, rest);
}

static void
chatcmd_nick(struct chatmode *cm, char *rest)
{
	chatcmd_need(cm, rest, "nick", "NICK");
}

static void
chatcmd_names(struct chatmode *cm, char *rest)
{
	const char *chan = rest;

	if (*chan == '\0' && (chan = chatcmd_current(cm)) == NULL)
		return;
	chatmode_sendf(cm, "NAMES %s", chan);
}

static void
chatcmd_topic(struct chatmode *cm, char *rest)
{
	const char *chan;

	if ((chan = chatcmd_chan(cm, &rest)) == NULL)
		return;
	chatmode_sendf(cm, "TOPIC %s%s%s", chan, *rest != '\0' ? " :" : "",
	    rest);
}

static void
chatcmd_whois(struct chatmode *cm, char *rest)
{
	chatcmd_need(cm, rest, "whois", "WHOIS");
}

static void
chatcmd_away(struct chatmode *cm, char *rest)
{
	chatmode_sendf(cm, "AWAY%s%s", *rest != '\0' ? " :" : "", rest);
}

static void
chatcmd_invite(struct chatmode *cm, char *rest)
{
	char *nick = rest;
	const char *chan;

	rest = chatcmd_split(rest);
	if (*nick == '\0' || irc_is_channel(nick)) {
		chatcmd_usage(cm, "invite");
		return;
	}
	chan = *rest != '\0' ? rest : chatcmd_current(cm);
	if (chan != NULL)
		chatmode_sendf(cm, "INVITE %s %s", nick, chan);
}

static void
chatcmd_kick(struct chatmode *cm, char *rest)
{
	const char *chan;
	char *nick;

	/* "/kick #other nick" names the channel, as other clients allow. */
	if (irc_is_channel(rest)) {
		chan = rest;
		rest = chatcmd_split(rest);
	} else {
		chan = NULL;
	}
	nick = rest;
	rest = chatcmd_split(rest);
	if (*nick == '\0') {
		chatcmd_usage(cm, "kick");
		return;
	}
	if (chan == NULL && (chan = chatcmd_current(cm)) == NULL)
		return;
	chatmode_sendf(cm, "KICK %s %s%s%s", chan, nick,
	    *rest != '\0' ? " :" : "", rest);
}

static void
chatcmd_ban(struct chatmode *cm, char *rest)
{
	const char *chan = chatcmd_current(cm);
	char *mask = rest;

	if (chan == NULL)
		return;
	(void)chatcmd_split(mask);
	chatmode_sendf(cm, "MODE %s +b%s%s", chan, *mask != '\0' ? " " : "",
	    mask);
}

static void
chatcmd_unban(struct chatmode *cm, char *rest)
{
	const char *chan;
	char *mask = rest;

	(void)chatcmd_split(mask);
	if (*mask == '\0') {
		chatcmd_usage(cm, "unban");
		return;
	}
	if ((chan = chatcmd_current(cm)) != NULL)
		chatmode_sendf(cm, "MODE %s -b %s", chan, mask);
}

/* "/mode" alone shows the current channel's modes, "/mode +m" changes
   them; a first word that is a channel or a nick names the target. */
static void
chatcmd_mode(struct chatmode *cm, char *rest)
{
	const char *chan;

	if (*rest != '\0' && *rest != '+' && *rest != '-') {
		chatmode_sendf(cm, "MODE %s", rest);
		return;
	}
	if ((chan = chatcmd_current(cm)) == NULL)
		return;
	chatmode_sendf(cm, "MODE %s%s%s", chan, *rest != '\0' ? " " : "", rest);
}

static void
chatcmd_quote(struct chatmode *cm, char *rest)
{
	chatcmd_need(cm, rest, "quote", NULL);
}

static void
chatcmd_quit(struct chatmode *cm, char *rest)
{
	chatmode_quit(cm, rest);
}

static void
chatcmd_help(struct chatmode *cm, char *rest)
{
	const char *line;

	(void)rest;
	chatmode_show(cm,
	    "- commands (plain text goes to the current "
	    "channel; //text sends /text):");
	for (size_t i = 0; (line = chatcmd_help_line(i)) != NULL; i++)
		chatmode_show(cm, "-%s", line);
}

static void
chatcmd_command(struct chatmode *cm, char *line)
{
	char *name = line + 1, *rest = chatcmd_split(name);

	for (size_t i = 0; i < CHATCMD_COUNT; i++) {
		const struct chatcmd *c = &chatcmd_table[i];

		if (strcmp(name, c->name) == 0 ||
		    (c->alias != NULL && strcmp(name, c->alias) == 0)) {
			c->run(cm, rest);
			return;
		}
	}
	chatmode_show(cm, "! unknown command /%s (try /help)", name);
}

void
chatcmd_typed(struct chatmode *cm, char *line)
{
	const char *chan;

	if (line[0] == '\0' || cm->quitting)
		return;
	if (line[0] == '/' && line[1] != '/') {
		chatcmd_command(cm, line);
		return;
	}
	if (line[0] == '/')
		line++; /* "//text" sends "/text" */
	if ((chan = chatcmd_current(cm)) == NULL)
		return;
	chatmode_sendf(cm, "PRIVMSG %s :%s", chan, line);
	chatmode_show(cm, "<%s> %s", cm->nick, line);
}
