/*
 * Chat mode: registers with an IRC server, answers its PINGs, shows
 * traffic as readable lines and turns typed lines into commands.  One
 * event loop serves the socket and stdin; stdin EOF is /quit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <evsock/client.h>

#include "../common/irc.h"
#include "../common/opt.h"
#include "chatmode.h"

#define CHAT_IN_CHUNK 4096
#define CHAT_NICK_TRIES 5

struct chatmode {
	struct event_base *base;
	struct evdns_base *dns;
	struct evs_client *cl;
	struct event *in_ev;
	struct evbuffer *inbuf;
	int in_file;   /* stdin is a regular file: read without polling */
	int in_flags;
	int registered;
	int quitting;
	int stdin_eof;
	int nick_tries;
	int status;
	char nick[IRC_NICK_MAX + 1];
	char channel[IRC_CHANNEL_MAX + 1]; /* where plain text goes */
};

static void chatmode_in_cb(evutil_socket_t, short, void *);
static void chatmode_connected(struct evs_client *, void *);
static void chatmode_data(struct evs_client *, struct evbuffer *, void *);
static void chatmode_closed(struct evs_client *, int, const char *, void *);
static void chatmode_sendf(struct chatmode *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void chatmode_show(const char *, ...)
    __attribute__((format(printf, 1, 2)));

static const struct evs_client_callbacks chatmode_callbacks = {
	.connected = chatmode_connected,
	.data = chatmode_data,
	.closed = chatmode_closed,
};

static const char chatmode_usage_text[] =
"usage: evsock chat [--nick NICK] HOST:PORT\n"
"\n"
"Joins an IRC server and shows its traffic.  Typed lines go to the\n"
"current channel; commands:\n"
"  /join #channel     join and make it current\n"
"  /part [#channel] [reason]\n"
"  /msg NICK text     a private message\n"
"  /me text           an action in the current channel\n"
"  /nick NICK         change your nickname\n"
"  /names [#channel]  who is in a channel\n"
"  /topic [text]      show or set the current channel's topic\n"
"  /quote LINE        send LINE to the server as it is\n"
"  /quit [message]    leave (so does end of input)\n"
"\n"
"  -n, --nick NICK            nickname (default: $USER, else evsock)\n"
"  -w, --connect-timeout DUR  give up connecting after DUR (default 10s)\n"
"  -h, --help                 this text\n";

static void
chatmode_show(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
chatmode_sendf(struct chatmode *cm, const char *fmt, ...)
{
	char line[IRC_LINE_MAX + 1];
	va_list ap;
	size_t n;

	if (cm->cl == NULL)
		return;
	va_start(ap, fmt);
	n = irc_vformat(line, sizeof(line), IRC_LINE_MAX, fmt, ap);
	va_end(ap);
	evs_client_send(cm->cl, line, n);
}

static void
chatmode_quit(struct chatmode *cm, const char *msg)
{
	if (cm->quitting)
		return;
	cm->quitting = 1;
	if (msg != NULL && *msg != '\0')
		chatmode_sendf(cm, "QUIT :%s", msg);
	else
		chatmode_sendf(cm, "QUIT");
	/* The server answers with ERROR and closes; closed() ends the loop. */
}

/* Returns the nick part of a "nick!user@host" prefix in buf. */
static const char *
chatmode_who(const char *prefix, char *buf, size_t len)
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

static void
chatmode_show_numeric(struct chatmode *cm, struct irc_msg *m)
{
	int num = atoi(m->command);
	char text[IRC_LINE_MAX * 2];
	size_t n = 0;
	int i;

	switch (num) {
	case 1:
		cm->registered = 1;
		if (m->nparams > 0)
			snprintf(cm->nick, sizeof(cm->nick), "%s",
			    m->params[0]);
		break;
	case 5:   /* ISUPPORT */
	case 329: /* channel creation time */
	case 333: /* who set the topic */
	case 366: /* end of names */
		return;
	case 332:
		if (m->nparams >= 3)
			chatmode_show("* Topic for %s: %s", m->params[1],
			    m->params[2]);
		return;
	case 353:
		if (m->nparams >= 4)
			chatmode_show("* Names %s: %s", m->params[2],
			    m->params[3]);
		return;
	case 433:
		if (!cm->registered && cm->nick_tries++ < CHAT_NICK_TRIES &&
		    strlen(cm->nick) < IRC_NICK_MAX) {
			strcat(cm->nick, "_");
			chatmode_show("! nickname in use, trying %s", cm->nick);
			chatmode_sendf(cm, "NICK %s", cm->nick);
			return;
		}
		break;
	default:
		break;
	}
	/* The rest: the parameters after our own nick, read as a line. */
	for (i = 1; i < m->nparams && n < sizeof(text) - 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s",
		    n > 0 ? " " : "", m->params[i]);
	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	text[n] = '\0';
	if (num >= 400 && num < 600)
		chatmode_show("! %s", text);
	else
		chatmode_show("- %s", text);
}

static void
chatmode_show_message(struct chatmode *cm, struct irc_msg *m,
    const char *who, int notice)
{
	const char *target = m->params[0], *text = m->params[1];
	size_t tl = strlen(text);

	if (!notice && tl > 8 && strncmp(text, "\001ACTION ", 8) == 0) {
		int n = (int)(tl - 8 - (text[tl - 1] == '\001'));

		if (irc_is_channel(target) && irc_casecmp(target,
		    cm->channel) != 0)
			chatmode_show("[%s] * %s %.*s", target, who, n,
			    text + 8);
		else
			chatmode_show("* %s %.*s", who, n, text + 8);
		return;
	}
	if (notice)
		chatmode_show("-%s- %s", who, text);
	else if (!irc_is_channel(target))
		chatmode_show("*%s* %s", who, text);
	else if (irc_casecmp(target, cm->channel) == 0)
		chatmode_show("<%s> %s", who, text);
	else
		chatmode_show("[%s] <%s> %s", target, who, text);
}

static void
chatmode_handle(struct chatmode *cm, char *line, size_t len)
{
	struct irc_msg m;
	char whobuf[IRC_NICK_MAX + 64];
	const char *who, *cmd;
	int me;

	if (irc_parse(line, len, &m) != IRC_PARSE_OK)
		return;
	cmd = m.command;
	who = chatmode_who(m.prefix, whobuf, sizeof(whobuf));
	me = irc_casecmp(who, cm->nick) == 0;
	if (strcmp(cmd, "PING") == 0) {
		chatmode_sendf(cm, "PONG :%s", m.nparams > 0 ?
		    m.params[0] : "");
	} else if (cmd[0] >= '0' && cmd[0] <= '9') {
		chatmode_show_numeric(cm, &m);
	} else if ((strcmp(cmd, "PRIVMSG") == 0 || strcmp(cmd, "NOTICE") ==
	    0) && m.nparams >= 2) {
		chatmode_show_message(cm, &m, who, cmd[0] == 'N');
	} else if (strcmp(cmd, "JOIN") == 0 && m.nparams >= 1) {
		if (me)
			snprintf(cm->channel, sizeof(cm->channel), "%s",
			    m.params[0]);
		chatmode_show("* %s has joined %s", who, m.params[0]);
	} else if (strcmp(cmd, "PART") == 0 && m.nparams >= 1) {
		if (me && irc_casecmp(m.params[0], cm->channel) == 0)
			cm->channel[0] = '\0';
		chatmode_show("* %s has left %s%s%s%s", who, m.params[0],
		    m.nparams > 1 ? " (" : "", m.nparams > 1 ? m.params[1] :
		    "", m.nparams > 1 ? ")" : "");
	} else if (strcmp(cmd, "QUIT") == 0) {
		chatmode_show("* %s has quit (%s)", who, m.nparams > 0 ?
		    m.params[0] : "");
	} else if (strcmp(cmd, "NICK") == 0 && m.nparams >= 1) {
		if (me)
			snprintf(cm->nick, sizeof(cm->nick), "%s",
			    m.params[0]);
		chatmode_show("* %s is now known as %s", who, m.params[0]);
	} else if (strcmp(cmd, "KICK") == 0 && m.nparams >= 2) {
		if (irc_casecmp(m.params[1], cm->nick) == 0 &&
		    irc_casecmp(m.params[0], cm->channel) == 0)
			cm->channel[0] = '\0';
		chatmode_show("* %s was kicked from %s by %s (%s)",
		    m.params[1], m.params[0], who, m.nparams > 2 ?
		    m.params[2] : "");
	} else if (strcmp(cmd, "TOPIC") == 0 && m.nparams >= 2) {
		chatmode_show("* %s changed the topic of %s to: %s", who,
		    m.params[0], m.params[1]);
	} else if (strcmp(cmd, "MODE") == 0 && m.nparams >= 2) {
		char modes[IRC_LINE_MAX];
		size_t n = 0;

		for (int i = 1; i < m.nparams && n < sizeof(modes) - 1; i++)
			n += (size_t)snprintf(modes + n, sizeof(modes) - n,
			    "%s%s", i > 1 ? " " : "", m.params[i]);
		chatmode_show("* %s sets mode %s on %s", who, modes,
		    m.params[0]);
	} else if (strcmp(cmd, "ERROR") == 0) {
		chatmode_show("! %s", m.nparams > 0 ? m.params[0] : "error");
	} else if (strcmp(cmd, "CAP") == 0) {
		return;
	} else {
		chatmode_show("- %s", line);
	}
}

/* Splits "word rest" in place: returns rest (never NULL). */
static char *
chatmode_split(char *s)
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
chatmode_command(struct chatmode *cm, char *line)
{
	char *cmd = line + 1, *rest = chatmode_split(cmd), *arg;

	if (strcmp(cmd, "join") == 0 || strcmp(cmd, "j") == 0) {
		if (*rest == '\0')
			chatmode_show("! usage: /join #channel");
		else
			chatmode_sendf(cm, "JOIN %s", rest);
	} else if (strcmp(cmd, "part") == 0) {
		if (irc_is_channel(rest)) {
			arg = rest;
			rest = chatmode_split(rest);
		} else {
			arg = cm->channel;
		}
		if (*arg == '\0')
			chatmode_show("! not in a channel");
		else if (*rest != '\0')
			chatmode_sendf(cm, "PART %s :%s", arg, rest);
		else
			chatmode_sendf(cm, "PART %s", arg);
	} else if (strcmp(cmd, "msg") == 0) {
		arg = rest;
		rest = chatmode_split(rest);
		if (*arg == '\0' || *rest == '\0') {
			chatmode_show("! usage: /msg NICK text");
		} else {
			chatmode_sendf(cm, "PRIVMSG %s :%s", arg, rest);
			chatmode_show("-> *%s* %s", arg, rest);
		}
	} else if (strcmp(cmd, "me") == 0) {
		if (cm->channel[0] == '\0') {
			chatmode_show("! not in a channel");
		} else {
			chatmode_sendf(cm, "PRIVMSG %s :\001ACTION %s\001",
			    cm->channel, rest);
			chatmode_show("* %s %s", cm->nick, rest);
		}
	} else if (strcmp(cmd, "nick") == 0) {
		if (*rest == '\0')
			chatmode_show("! usage: /nick NICK");
		else
			chatmode_sendf(cm, "NICK %s", rest);
	} else if (strcmp(cmd, "names") == 0) {
		arg = *rest != '\0' ? rest : cm->channel;
		chatmode_sendf(cm, "NAMES %s", arg);
	} else if (strcmp(cmd, "topic") == 0) {
		if (cm->channel[0] == '\0')
			chatmode_show("! not in a channel");
		else if (*rest == '\0')
			chatmode_sendf(cm, "TOPIC %s", cm->channel);
		else
			chatmode_sendf(cm, "TOPIC %s :%s", cm->channel, rest);
	} else if (strcmp(cmd, "quote") == 0 || strcmp(cmd, "raw") == 0) {
		chatmode_sendf(cm, "%s", rest);
	} else if (strcmp(cmd, "quit") == 0) {
		chatmode_quit(cm, rest);
	} else {
		chatmode_show("! unknown command /%s (see evsock chat --help)",
		    cmd);
	}
}

static void
chatmode_typed(struct chatmode *cm, char *line)
{
	if (line[0] == '\0' || cm->quitting)
		return;
	if (line[0] == '/' && line[1] != '/') {
		chatmode_command(cm, line);
		return;
	}
	if (line[0] == '/')
		line++; /* "//text" sends "/text" */
	if (cm->channel[0] == '\0') {
		chatmode_show("! not in a channel (try /join #channel)");
		return;
	}
	chatmode_sendf(cm, "PRIVMSG %s :%s", cm->channel, line);
	chatmode_show("<%s> %s", cm->nick, line);
}

static void
chatmode_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chatmode *cm = arg;
	char *line;
	size_t len;
	int n;

	(void)fd;
	(void)what;
	n = evbuffer_read(cm->inbuf, STDIN_FILENO, CHAT_IN_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	while ((line = evbuffer_readln(cm->inbuf, &len,
	    EVBUFFER_EOL_CRLF)) != NULL) {
		chatmode_typed(cm, line);
		free(line);
	}
	if (n <= 0) {
		/* End of input (or an error reading it) is /quit; a last
		   line without LF still counts. */
		len = evbuffer_get_length(cm->inbuf);
		if (len > 0 && (line = malloc(len + 1)) != NULL) {
			evbuffer_remove(cm->inbuf, line, len);
			line[len] = '\0';
			chatmode_typed(cm, line);
			free(line);
		}
		cm->stdin_eof = 1;
		event_del(cm->in_ev);
		chatmode_quit(cm, NULL);
		return;
	}
	if (cm->in_file)
		event_active(cm->in_ev, EV_READ, 0);
}

static void
chatmode_connected(struct evs_client *cl, void *arg)
{
	struct chatmode *cm = arg;

	(void)cl;
	chatmode_show("- connected to %s", evs_client_target(cl));
	chatmode_sendf(cm, "NICK %s", cm->nick);
	chatmode_sendf(cm, "USER %s 0 * :%s", cm->nick, cm->nick);
	if (cm->in_file)
		event_active(cm->in_ev, EV_READ, 0);
	else
		event_add(cm->in_ev, NULL);
}

static void
chatmode_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct chatmode *cm = arg;
	char *line;
	size_t len;

	(void)cl;
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) !=
	    NULL) {
		/* irc_parse needs line[len] writable: readln terminates. */
		chatmode_handle(cm, line, len);
		free(line);
	}
}

static void
chatmode_closed(struct evs_client *cl, int error, const char *reason,
    void *arg)
{
	struct chatmode *cm = arg;

	if (error != 0) {
		fprintf(stderr, "evsock: %s\n", reason);
		cm->status = 1;
	} else if (!cm->quitting) {
		chatmode_show("! connection closed by the server");
		cm->status = 1;
	}
	evs_client_free(cl);
	cm->cl = NULL;
	event_base_loopbreak(cm->base);
}

int
chatmode_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nick", required_argument, NULL, 'n' },
		{ "connect-timeout", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct chatmode cm;
	struct stat st;
	uint64_t timeout_ms = 10000;
	const char *nick = getenv("USER"), *err;
	int ch;

	memset(&cm, 0, sizeof(cm));
	cm.in_flags = -1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+n:w:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			nick = optarg;
			if (!irc_valid_nick(nick)) {
				fprintf(stderr, "evsock: invalid nickname "
				    "'%s'\n", nick);
				return 2;
			}
			break;
		case 'w':
			if (opt_parse_duration(optarg, 86400000, &timeout_ms,
			    &err) == -1) {
				fprintf(stderr, "evsock: --connect-timeout "
				    "'%s': %s\n", optarg, err);
				return 2;
			}
			break;
		case 'h':
			fputs(chatmode_usage_text, stdout);
			return 0;
		default:
			fputs(chatmode_usage_text, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(chatmode_usage_text, stderr);
		return 2;
	}
	if (nick == NULL || !irc_valid_nick(nick))
		nick = "evsock";
	snprintf(cm.nick, sizeof(cm.nick), "%s", nick);

	cm.in_file = fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
	if (!cm.in_file) {
		cm.in_flags = fcntl(STDIN_FILENO, F_GETFL);
		if (cm.in_flags != -1)
			(void)fcntl(STDIN_FILENO, F_SETFL,
			    cm.in_flags | O_NONBLOCK);
	}
	cm.base = event_base_new();
	cm.inbuf = evbuffer_new();
	if (cm.base == NULL || cm.inbuf == NULL) {
		fprintf(stderr, "evsock: cannot start the event loop\n");
		cm.status = 1;
		goto out;
	}
	cm.dns = evdns_base_new(cm.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	cm.in_ev = event_new(cm.base, cm.in_file ? -1 : STDIN_FILENO,
	    cm.in_file ? 0 : EV_READ | EV_PERSIST, chatmode_in_cb, &cm);
	cm.cl = evs_client_new(cm.base, cm.dns, &chatmode_callbacks, &cm);
	if (cm.in_ev == NULL || cm.cl == NULL) {
		fprintf(stderr, "evsock: out of memory\n");
		cm.status = 1;
		goto out;
	}
	if (evs_client_connect(cm.cl, argv[optind], (unsigned)timeout_ms) ==
	    -1) {
		fprintf(stderr, "evsock: %s: expected HOST:PORT with a port "
		    "from 1 to 65535\n", argv[optind]);
		cm.status = 2;
		goto out;
	}
	event_base_dispatch(cm.base);
out:
	evs_client_free(cm.cl);
	if (cm.in_ev != NULL)
		event_free(cm.in_ev);
	if (cm.inbuf != NULL)
		evbuffer_free(cm.inbuf);
	if (cm.dns != NULL)
		evdns_base_free(cm.dns, 0);
	if (cm.base != NULL)
		event_base_free(cm.base);
	if (cm.in_flags != -1)
		(void)fcntl(STDIN_FILENO, F_SETFL, cm.in_flags);
	return cm.status;
}
