/*
 * evsock chat internals shared by the connection and input loop
 * (chatmode.c), the display of what the server sends (chatshow.c), the
 * typed commands (chatcmd.c) and terminal line editing (chatedit.c).
 *
 * Everything runs on one thread and one event loop; struct chatmode is
 * the whole state of a session and every module takes it.
 */
#ifndef EVSOCK_CLIENT_CHATMODE_INT_H
#define EVSOCK_CLIENT_CHATMODE_INT_H

#include <stddef.h>

#include <event2/event.h>

#include "../common/irc.h"

struct chatedit;
struct evs_client;
struct evdns_base;
struct evbuffer;

struct chatmode {
	struct event_base *base;
	struct evdns_base *dns;
	struct evs_client *cl;
	struct evs_tls *tls; /* --tls settings, or NULL */
	struct event *in_ev; /* stdin when it is not a terminal */
	struct evbuffer *inbuf;
	struct chatedit *edit;   /* stdin when it is a terminal */
	struct event *sig_ev[3]; /* SIGINT, SIGTERM, SIGHUP: /quit */
	const char *password;    /* sent as PASS first when set */
	int in_file; /* stdin is a regular file: read without polling */
	int in_flags;
	int use_edit; /* stdin and stdout are terminals */
	int registered;
	int quitting;
	int stdin_eof;
	int nick_tries;
	int status;
	char fail[IRC_LINE_MAX + 64]; /* why registration failed, or "" */
	char nick[IRC_NICK_MAX + 1];
	char channel[IRC_CHANNEL_MAX + 1]; /* where plain text goes */
};

/* Prints one line of output (a newline is added), above the line being
   typed when editing. */
void chatmode_show(struct chatmode *cm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends one protocol line (CRLF added, cut to IRC_LINE_MAX, CR/LF in
   the text replaced); a no-op once the connection is gone. */
void chatmode_sendf(struct chatmode *cm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends QUIT (with msg unless NULL or empty) once; the server's close
   ends the session. */
void chatmode_quit(struct chatmode *cm, const char *msg);

/* Ends registration with an error: msg goes to stderr when the session
   ends, the exit status is 1 and the connection is closed. */
void chatmode_fail(struct chatmode *cm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The current channel changed: the prompt follows it. */
void chatmode_channel_changed(struct chatmode *cm);

/* Shows one line from the server (len bytes, line[len] writable) and
   answers what needs an answer (PING, a nick in use while
   registering). */
void chatshow_line(struct chatmode *cm, char *line, size_t len);

/* Acts on one typed line (no newline): a /command or text for the
   current channel. */
void chatcmd_typed(struct chatmode *cm, char *line);

/* Returns the i-th line of the command list that --help and /help
   show (static storage), or NULL past the last. */
const char *chatcmd_help_line(size_t i);

#endif
