/*
 * What the server sends, shown as lines a person reads: "<nick> text"
 * in the current channel, "* ..." for events and replies, "! ..." for
 * errors, "- ..." for the rest.  A refused registration (464, or ERROR
 * before 001) ends the session through chatmode_fail().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <evsock/client.h>

#include "chatmode-int.h"

#define CHATSHOW_NICK_TRIES 5

/* Returns the nick part of a "nick!user@host" prefix in buf. */
static const char *
chatshow_who(const char *prefix, char *buf, size_t len)
{
	size_t n;

	if (prefix == NULL)
		return "?";
	n = strcspn(prefix, "!");
	if (n >= len)
		n = len - 1;
	memcpy(buf, prefix, n);
	buf[n] = '\0';
	return buf;
}

/* Joins params[from] .. params[to - 1] with spaces into buf. */
static const char *
chatshow_join(const struct irc_msg *m, int from, int to, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = from; i < to && n < len - 1; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
		    n > 0 ? " " : "", m->params[i]);
	return buf;
}

/* Formats a Unix time the server sent as local time. */
static const char *
chatshow_time(const char *s, char *buf, size_t len)
{
	time_t t = (time_t)strtoll(s, NULL, 10);
	struct tm tm;

	if (t <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%s", s);
	return buf;
}

/* A refused registration: the password (464) or anything that closes
   the link first.  Returns 1 when it was one. */
static int
chatshow_refused(struct chatmode *cm, int num, const struct irc_msg *m)
{
	const char *text = m->nparams > 0 ? m->params[m->nparams - 1] : "";
	const char *target = cm->cl != NULL ? evs_client_target(cm->cl) :
	                                      "the server";

	if (cm->registered)
		return 0;
	if (num == 464) {
		chatmode_fail(cm, "%s refused the password: %s (464)", target,
		    text);
		return 1;
	}
	/* An ERROR after our own QUIT is the expected goodbye; after a
	   464 it adds nothing. */
	if (num == -1 && cm->quitting)
		return cm->fail[0] != '\0';
	if (num == -1) {
		chatmode_fail(cm,
		    "%s closed the link before registration%s: "
		    "%s",
		    target, cm->password != NULL ? " (wrong password?)" : "",
		    text);
		return 1;
	}
	return 0;
}

/* Replies to WHOIS and the like: "* nick ...".  Returns 1 if shown. */
static int
chatshow_whois(struct chatmode *cm, int num, const struct irc_msg *m)
{
	char a[64], b[64];
	const char *nick = m->params[1];

	switch (num) {
	case 301:
		if (m->nparams >= 3)
			chatmode_show(cm, "* %s is away: %s", nick,
			    m->params[2]);
		return m->nparams >= 3;
	case 311:
		if (m->nparams >= 6)
			chatmode_show(cm, "* %s is %s@%s (%s)", nick,
			    m->params[2], m->params[3],
			    m->params[m->nparams - 1]);
		return m->nparams >= 6;
	case 312:
		if (m->nparams >= 4)
			chatmode_show(cm, "* %s is on server %s (%s)", nick,
			    m->params[2], m->params[3]);
		return m->nparams >= 4;
	case 317:
		if (m->nparams >= 5)
			chatmode_show(cm,
			    "* %s has been idle %ss, signed on "
			    "%s",
			    nick, m->params[2],
			    chatshow_time(m->params[3], a, sizeof(a)));
		return m->nparams >= 5;
	case 318:
		return 1;
	case 319:
		if (m->nparams >= 3)
			chatmode_show(cm, "* %s is in %s", nick, m->params[2]);
		return m->nparams >= 3;
	case 333:
		if (m->nparams >= 4)
			chatmode_show(cm, "* Topic of %s set by %s on %s", nick,
			    chatshow_who(m->params[2], b, sizeof(b)),
			    chatshow_time(m->params[3], a, sizeof(a)));
		return m->nparams >= 4;
	default:
		return 0;
	}
}

static void
chatshow_numeric(struct chatmode *cm, struct irc_msg *m)
{
	int num = atoi(m->command);
	char text[IRC_LINE_MAX * 2];

	switch (num) {
	case 1:
		cm->registered = 1;
		if (m->nparams > 0)
			snprintf(cm->nick, sizeof(cm->nick), "%s",
			    m->params[0]);
		break;
	case 5:   /* ISUPPORT */
	case 329: /* channel creation time */
	case 366: /* end of names */
		return;
	case 324:
		if (m->nparams >= 3) {
			chatmode_show(cm, "* Modes of %s: %s", m->params[1],
			    chatshow_join(m, 2, m->nparams, text,
			        sizeof(text)));
			return;
		}
		break;
	case 331:
		if (m->nparams >= 2) {
			chatmode_show(cm, "* No topic is set for %s",
			    m->params[1]);
			return;
		}
		break;
	case 332:
		if (m->nparams >= 3) {
			chatmode_show(cm, "* Topic for %s: %s", m->params[1],
			    m->params[2]);
			return;
		}
		break;
	case 341:
		if (m->nparams >= 3) {
			chatmode_show(cm, "* Invited %s to %s", m->params[1],
			    m->params[2]);
			return;
		}
		break;
	case 353:
		if (m->nparams >= 4) {
			chatmode_show(cm, "* Names %s: %s", m->params[2],
			    m->params[3]);
			return;
		}
		break;
	case 367:
		if (m->nparams >= 3) {
			chatmode_show(cm, "* Ban on %s: %s%s%s", m->params[1],
			    m->params[2], m->nparams >= 4 ? " set by " : "",
			    m->nparams >= 4 ? m->params[3] : "");
			return;
		}
		break;
	case 433:
		if (!cm->registered && cm->nick_tries++ < CHATSHOW_NICK_TRIES &&
		    strlen(cm->nick) < IRC_NICK_MAX) {
			strcat(cm->nick, "_");
			chatmode_show(cm, "! nickname in use, trying %s",
			    cm->nick);
			chatmode_sendf(cm, "NICK %s", cm->nick);
			return;
		}
		break;
	default:
		if (m->nparams >= 2 && chatshow_whois(cm, num, m))
			return;
		if (chatshow_refused(cm, num, m))
			return;
		break;
	}
	/* Errors read "! #channel: Cannot join channel (+k)": what they
	   are about, then the server's text. */
	if (num >= 400 && num < 600 && m->nparams >= 3) {
		chatshow_join(m, 1, m->nparams - 1, text, sizeof(text));
		chatmode_show(cm, "! %s: %s", text, m->params[m->nparams - 1]);
	} else if (num >= 400 && num < 600) {
		chatmode_show(cm, "! %s",
		    chatshow_join(m, 1, m->nparams, text, sizeof(text)));
	} else {
		chatmode_show(cm, "- %s",
		    chatshow_join(m, 1, m->nparams, text, sizeof(text)));
	}
}

static void
chatshow_message(struct chatmode *cm, struct irc_msg *m, const char *who,
    int notice)
{
	const char *target = m->params[0], *text = m->params[1];
	size_t tl = strlen(text);

	if (!notice && tl > 8 && strncmp(text, "\001ACTION ", 8) == 0) {
		int n = (int)(tl - 8 - (text[tl - 1] == '\001'));

		if (irc_is_channel(target) &&
		    irc_casecmp(target, cm->channel) != 0)
			chatmode_show(cm, "[%s] * %s %.*s", target, who, n,
			    text + 8);
		else
			chatmode_show(cm, "* %s %.*s", who, n, text + 8);
		return;
	}
	if (notice)
		chatmode_show(cm, "-%s- %s", who, text);
	else if (!irc_is_channel(target))
		chatmode_show(cm, "*%s* %s", who, text);
	else if (irc_casecmp(target, cm->channel) == 0)
		chatmode_show(cm, "<%s> %s", who, text);
	else
		chatmode_show(cm, "[%s] <%s> %s", target, who, text);
}

/* Membership changes: JOIN, PART, KICK (the current channel follows
   our own). */
static void
chatshow_member(struct chatmode *cm, struct irc_msg *m, const char *who, int me)
{
	const char *cmd = m->command;

	if (strcmp(cmd, "JOIN") == 0) {
		if (me) {
			snprintf(cm->channel, sizeof(cm->channel), "%s",
			    m->params[0]);
			chatmode_channel_changed(cm);
		}
		chatmode_show(cm, "* %s has joined %s", who, m->params[0]);
	} else if (strcmp(cmd, "PART") == 0) {
		if (me && irc_casecmp(m->params[0], cm->channel) == 0) {
			cm->channel[0] = '\0';
			chatmode_channel_changed(cm);
		}
		chatmode_show(cm, "* %s has left %s%s%s%s", who, m->params[0],
		    m->nparams > 1 ? " (" : "",
		    m->nparams > 1 ? m->params[1] : "",
		    m->nparams > 1 ? ")" : "");
	} else if (m->nparams >= 2) { /* KICK */
		if (irc_casecmp(m->params[1], cm->nick) == 0 &&
		    irc_casecmp(m->params[0], cm->channel) == 0) {
			cm->channel[0] = '\0';
			chatmode_channel_changed(cm);
		}
		chatmode_show(cm, "* %s was kicked from %s by %s (%s)",
		    m->params[1], m->params[0], who,
		    m->nparams > 2 ? m->params[2] : "");
	}
}

void
chatshow_line(struct chatmode *cm, char *line, size_t len)
{
	struct irc_msg m;
	char whobuf[IRC_NICK_MAX + 64], text[IRC_LINE_MAX * 2];
	const char *who, *cmd;
	int me;

	if (irc_parse(line, len, &m) != IRC_PARSE_OK)
		return;
	cmd = m.command;
	who = chatshow_who(m.prefix, whobuf, sizeof(whobuf));
	me = irc_casecmp(who, cm->nick) == 0;
	if (strcmp(cmd, "PING") == 0) {
		chatmode_sendf(cm, "PONG :%s",
		    m.nparams > 0 ? m.params[0] : "");
	} else if (cmd[0] >= '0' && cmd[0] <= '9') {
		chatshow_numeric(cm, &m);
	} else if ((strcmp(cmd, "PRIVMSG") == 0 ||
	               strcmp(cmd, "NOTICE") == 0) &&
	    m.nparams >= 2) {
		chatshow_message(cm, &m, who, cmd[0] == 'N');
	} else if ((strcmp(cmd, "JOIN") == 0 || strcmp(cmd, "PART") == 0 ||
	               strcmp(cmd, "KICK") == 0) &&
	    m.nparams >= 1) {
		chatshow_member(cm, &m, who, me);
	} else if (strcmp(cmd, "QUIT") == 0) {
		chatmode_show(cm, "* %s has quit (%s)", who,
		    m.nparams > 0 ? m.params[0] : "");
	} else if (strcmp(cmd, "NICK") == 0 && m.nparams >= 1) {
		if (me)
			snprintf(cm->nick, sizeof(cm->nick), "%s", m.params[0]);
		chatmode_show(cm, "* %s is now known as %s", who, m.params[0]);
	} else if (strcmp(cmd, "INVITE") == 0 && m.nparams >= 2) {
		chatmode_show(cm, "* %s invites %s to %s (/join %s)", who,
		    irc_casecmp(m.params[0], cm->nick) == 0 ? "you" :
		                                              m.params[0],
		    m.params[1], m.params[1]);
	} else if (strcmp(cmd, "TOPIC") == 0 && m.nparams >= 2) {
		chatmode_show(cm, "* %s changed the topic of %s to: %s", who,
		    m.params[0], m.params[1]);
	} else if (strcmp(cmd, "MODE") == 0 && m.nparams >= 2) {
		chatmode_show(cm, "* %s sets mode %s on %s", who,
		    chatshow_join(&m, 1, m.nparams, text, sizeof(text)),
		    m.params[0]);
	} else if (strcmp(cmd, "ERROR") == 0) {
		static const struct irc_msg none = { .nparams = 0 };

		if (!chatshow_refused(cm, -1, m.nparams > 0 ? &m : &none))
			chatmode_show(cm, "! %s",
			    m.nparams > 0 ? m.params[0] : "error");
	} else if (strcmp(cmd, "CAP") == 0) {
		return;
	} else {
		/* irc_parse cut the line in place: show it rebuilt. */
		chatmode_show(cm, "- %s %s %s", who, cmd,
		    chatshow_join(&m, 0, m.nparams, text, sizeof(text)));
	}
}
