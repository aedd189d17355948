/*
 * Chat mode: registers with an IRC server, answers its PINGs, shows
 * traffic as readable lines and turns typed lines into commands.  One
 * event loop serves the socket and stdin; stdin EOF is /quit.
 *
 * On a terminal, typing goes through libedit (chatedit.c) so that a
 * half-typed line survives output; otherwise (a pipe, a file) stdin is
 * read as plain lines, which is what scripts and tests use.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
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
#include <evsock/tls.h>

#include "../common/irc.h"
#include "../common/opt.h"
#include "chatedit.h"
#include "chatmode-int.h"
#include "chatmode.h"
#include "stdfd.h"

#define CHAT_IN_CHUNK 4096

static void chatmode_in_cb(evutil_socket_t, short, void *);
static void chatmode_connected(struct evs_client *, void *);
static void chatmode_data(struct evs_client *, struct evbuffer *, void *);
static void chatmode_closed(struct evs_client *, int, const char *, void *);

static const struct evs_client_callbacks chatmode_callbacks = {
	.connected = chatmode_connected,
	.data = chatmode_data,
	.closed = chatmode_closed,
};

static const char chatmode_usage_head[] =
    "usage: evsock chat [--nick NICK] [--password PASS] [--tls] HOST:PORT\n"
    "\n"
    "Joins an IRC server and shows its traffic.  Typed lines go to the\n"
    "current channel (on a terminal with line editing and history: what\n"
    "you type stays whole while messages arrive); commands:\n";

static const char chatmode_usage_tail[] =
    "\n"
    "  -n, --nick NICK            nickname (default: $USER, else evsock)\n"
    "  -p, --password PASS        send PASS first (default: $EVSOCK_PASSWORD;\n"
    "                             the environment keeps it out of ps)\n"
    "  -w, --connect-timeout DUR  give up connecting after DUR (default 10s)\n"
    "      --tls                  speak TLS (the server's certificate must\n"
    "                             verify against the system's CA store\n"
    "                             and name HOST; chat's TLS port is 6697)\n"
    "      --ca-file FILE         verify against the CA certificates in FILE\n"
    "      --insecure             TLS without any verification\n"
    "  -h, --help                 this text\n"
    "\n"
    "Exit status: 0 after /quit or end of input, 1 when the server refuses\n"
    "the password or registration, or the connection fails or is lost,\n"
    "2 on a usage error.\n";

static void
chatmode_usage(FILE *out)
{
	const char *line;

	fputs(chatmode_usage_head, out);
	for (size_t i = 0; (line = chatcmd_help_line(i)) != NULL; i++)
		fprintf(out, "%s\n", line);
	fputs(chatmode_usage_tail, out);
}

/*
 * Makes text safe for a terminal, in place: IRC formatting (bold,
 * colours "\003NN,MM", italics, ...) is dropped and any other control
 * byte, ESC included, becomes '?', so that what others send cannot move
 * the cursor, retitle the window or break the line being typed.
 */
static void
chatmode_clean(char *text)
{
	unsigned char *r = (unsigned char *)text, *w = r;

	while (*r != '\0') {
		unsigned char c = *r++;

		if (c == 3) {
			for (int i = 0; i < 2 && *r >= '0' && *r <= '9'; i++)
				r++;
			if (r[0] == ',' && r[1] >= '0' && r[1] <= '9') {
				r++;
				for (int i = 0; i < 2 && *r >= '0' && *r <= '9';
				     i++)
					r++;
			}
		} else if (c == 2 || c == 0x0f || c == 0x11 || c == 0x16 ||
		    c == 0x1d || c == 0x1e || c == 0x1f) {
			continue;
		} else if (c == '\t') {
			*w++ = ' ';
		} else if (c < 0x20 || c == 0x7f) {
			*w++ = '?';
		} else {
			*w++ = c;
		}
	}
	*w = '\0';
}

void
chatmode_show(struct chatmode *cm, const char *fmt, ...)
{
	char text[IRC_LINE_MAX * 3];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	chatmode_clean(text);
	if (cm->edit != NULL) {
		chatedit_print(cm->edit, text);
	} else {
		puts(text);
		fflush(stdout);
	}
}

void
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

void
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

void
chatmode_fail(struct chatmode *cm, const char *fmt, ...)
{
	va_list ap;

	if (cm->fail[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(cm->fail, sizeof(cm->fail), fmt, ap);
		va_end(ap);
	}
	cm->status = 1;
	cm->quitting = 1;
	if (cm->cl != NULL)
		evs_client_close(cm->cl);
}

void
chatmode_channel_changed(struct chatmode *cm)
{
	char prompt[IRC_CHANNEL_MAX + 4];

	if (cm->edit == NULL)
		return;
	snprintf(prompt, sizeof(prompt), "%s> ", cm->channel);
	chatedit_set_prompt(cm->edit, prompt);
}

/* A line typed on the terminal, or NULL at its end (Ctrl-D). */
static void
chatmode_edit_line(char *line, void *arg)
{
	struct chatmode *cm = arg;

	if (line != NULL) {
		chatcmd_typed(cm, line);
		return;
	}
	cm->stdin_eof = 1;
	chatmode_quit(cm, NULL);
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
	while ((line = evbuffer_readln(cm->inbuf, &len, EVBUFFER_EOL_CRLF)) !=
	    NULL) {
		chatcmd_typed(cm, line);
		free(line);
	}
	if (n <= 0) {
		/* End of input (or an error reading it) is /quit; a last
		   line without LF still counts. */
		len = evbuffer_get_length(cm->inbuf);
		if (len > 0 && (line = malloc(len + 1)) != NULL) {
			evbuffer_remove(cm->inbuf, line, len);
			line[len] = '\0';
			chatcmd_typed(cm, line);
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

/* SIGINT, SIGTERM, SIGHUP: the first is /quit, a second ends at once. */
static void
chatmode_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct chatmode *cm = arg;

	(void)sig;
	(void)what;
	if (!cm->quitting && cm->cl != NULL) {
		chatmode_quit(cm, NULL);
		return;
	}
	cm->status = 1;
	event_base_loopbreak(cm->base);
}

static void
chatmode_connected(struct evs_client *cl, void *arg)
{
	struct chatmode *cm = arg;

	chatmode_show(cm, "- connected to %s", evs_client_target(cl));
	if (cm->password != NULL)
		chatmode_sendf(cm, "PASS :%s", cm->password);
	chatmode_sendf(cm, "NICK %s", cm->nick);
	chatmode_sendf(cm, "USER %s 0 * :%s", cm->nick, cm->nick);
	if (cm->use_edit) {
		cm->edit = chatedit_new(cm->base, chatmode_edit_line, cm);
		if (cm->edit != NULL)
			return;
		/* Without libedit the terminal is read as plain lines. */
		cm->in_ev = stdfd_event_new(cm->base, STDIN_FILENO, 0,
		    chatmode_in_cb, cm);
		if (cm->in_ev == NULL) {
			chatmode_fail(cm, "out of memory");
			return;
		}
	}
	stdfd_start(cm->in_ev, cm->in_file);
}

static void
chatmode_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct chatmode *cm = arg;
	char *line;
	size_t len;

	(void)cl;
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		/* irc_parse needs line[len] writable: readln terminates. */
		chatshow_line(cm, line, len);
		free(line);
	}
}

static void
chatmode_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	struct chatmode *cm = arg;

	/* The terminal is put back before the last words. */
	chatedit_free(cm->edit);
	cm->edit = NULL;
	if (cm->fail[0] != '\0') {
		chatmode_clean(cm->fail);
		fprintf(stderr, "evsock: %s\n", cm->fail);
		cm->status = 1;
	} else if (error != 0) {
		fprintf(stderr, "evsock: %s\n", reason);
		cm->status = 1;
	} else if (!cm->quitting) {
		chatmode_show(cm, "! connection closed by the server");
		cm->status = 1;
	}
	evs_client_free(cl);
	cm->cl = NULL;
	event_base_loopbreak(cm->base);
}

/* Parses the options into cm; returns -1 (status 2 or 0 for --help
   in *exit_status) when the program should end. */
static int
chatmode_options(struct chatmode *cm, int argc, char **argv,
    uint64_t *timeout_ms, int *exit_status)
{
	static const struct option opts[] = { { "nick", required_argument, NULL,
		                                  'n' },
		{ "password", required_argument, NULL, 'p' },
		{ "connect-timeout", required_argument, NULL, 'w' },
		{ "tls", no_argument, NULL, 'T' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *nick = getenv("USER"), *err, *ca_file = NULL;
	int ch, tls = 0, insecure = 0;
	char why[256];

	cm->password = getenv("EVSOCK_PASSWORD");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+n:p:w:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			nick = optarg;
			if (!irc_valid_nick(nick)) {
				fprintf(stderr,
				    "evsock: invalid nickname "
				    "'%s'\n",
				    nick);
				*exit_status = 2;
				return -1;
			}
			break;
		case 'p':
			cm->password = optarg;
			break;
		case 'w':
			if (opt_parse_duration(optarg, 86400000, timeout_ms,
			        &err) == -1) {
				fprintf(stderr,
				    "evsock: --connect-timeout "
				    "'%s': %s\n",
				    optarg, err);
				*exit_status = 2;
				return -1;
			}
			break;
		case 'T':
			tls = 1;
			break;
		case 'C':
			ca_file = optarg;
			tls = 1;
			break;
		case 'I':
			insecure = tls = 1;
			break;
		case 'h':
			chatmode_usage(stdout);
			*exit_status = 0;
			return -1;
		default:
			chatmode_usage(stderr);
			*exit_status = 2;
			return -1;
		}
	}
	if (argc - optind != 1) {
		chatmode_usage(stderr);
		*exit_status = 2;
		return -1;
	}
	if (tls &&
	    (cm->tls = evs_tls_client_new(ca_file, insecure, why,
	         sizeof(why))) == NULL) {
		fprintf(stderr, "evsock: %s\n", why);
		*exit_status = 1;
		return -1;
	}
	if (cm->password != NULL && cm->password[0] == '\0')
		cm->password = NULL;
	if (nick == NULL || !irc_valid_nick(nick))
		nick = "evsock";
	snprintf(cm->nick, sizeof(cm->nick), "%s", nick);
	return 0;
}

int
chatmode_main(int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct chatmode cm;
	struct stat st;
	uint64_t timeout_ms = 10000;
	size_t i;

	memset(&cm, 0, sizeof(cm));
	cm.in_flags = -1;
	if (chatmode_options(&cm, argc, argv, &timeout_ms, &cm.status) == -1)
		return cm.status;

	cm.use_edit = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	cm.in_file = fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
	if (!cm.in_file && !cm.use_edit) {
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
	if (!cm.use_edit)
		cm.in_ev = stdfd_event_new(cm.base, STDIN_FILENO, cm.in_file,
		    chatmode_in_cb, &cm);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		cm.sig_ev[i] = evsignal_new(cm.base, sigs[i],
		    chatmode_signal_cb, &cm);
		if (cm.sig_ev[i] == NULL || event_add(cm.sig_ev[i], NULL) == -1)
			break;
	}
	cm.cl = evs_client_new(cm.base, cm.dns, &chatmode_callbacks, &cm);
	if ((cm.in_ev == NULL && !cm.use_edit) || cm.cl == NULL ||
	    i < sizeof(sigs) / sizeof(sigs[0])) {
		fprintf(stderr, "evsock: out of memory\n");
		cm.status = 1;
		goto out;
	}
	if (cm.tls != NULL)
		evs_client_set_tls(cm.cl, cm.tls, NULL);
	if (evs_client_connect(cm.cl, argv[optind], (unsigned)timeout_ms) ==
	    -1) {
		fprintf(stderr,
		    "evsock: %s: expected HOST:PORT with a port "
		    "from 1 to 65535\n",
		    argv[optind]);
		cm.status = 2;
		goto out;
	}
	event_base_dispatch(cm.base);
out:
	chatedit_free(cm.edit);
	evs_client_free(cm.cl);
	evs_tls_free(cm.tls);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (cm.sig_ev[i] != NULL)
			event_free(cm.sig_ev[i]);
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
