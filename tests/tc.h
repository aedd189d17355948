/*
 * IRC test clients for the chat suites: bufferevents on the suite's
 * event_base that collect the lines they receive.  A test waits for a
 * line it expects, and proves that a line did NOT arrive by a PING
 * round trip (everything the server sent before its PONG has arrived).
 */
#ifndef EVSOCK_TESTS_TC_H
#define EVSOCK_TESTS_TC_H

#include <stddef.h>

#include <event2/event.h>

#include <evsock/evsock.h>

struct tc {
	struct bufferevent *bev;
	char **lines;
	size_t n, cap;
	size_t pos; /* lines before this were consumed by a wait */
	int eof;
	int hold; /* on EOF, keep our side open (a slow client) */
	char nick[32];
};

/* The chat suites' Check fixture: an event_base, a server and a chat
   on 127.0.0.1:0 without a flood limit, clients connecting to it;
   teardown frees the clients, then the rest. */
void tc_chat_setup(void);
void tc_chat_teardown(void);
/* The chat of the fixture (NULL outside it). */
struct evs_chat *tc_chat(void);
/* Starts a suite's test: clients connect to lst, on base. */
void tc_begin(struct event_base *base, struct evs_listener *lst);
/* Frees every client made since tc_begin. */
void tc_end(void);
/* A connected, unregistered client. */
struct tc *tc_connect(void);
/* A registered client: NICK, USER, the whole welcome burst. */
struct tc *tc_register(const char *nick);
/* Sends one line (CRLF added). */
void tc_send(struct tc *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sends bytes as they are. */
void tc_send_raw(struct tc *t, const void *data, size_t len);
/* Waits for a line containing needle (after those already consumed);
   returns it.  Fails the test after 10 s. */
const char *tc_wait(struct tc *t, const char *needle);
/* Like tc_wait, but the line must also equal `line` exactly. */
void tc_expect(struct tc *t, const char *needle, const char *line);
/* A PING round trip. */
void tc_sync(struct tc *t);
/* Returns 1 if a line not yet consumed contains needle (no waiting). */
int tc_seen(struct tc *t, const char *needle);
/* Counts unconsumed lines containing needle and consumes them all. */
size_t tc_count(struct tc *t, const char *needle);
/* Joins chan and waits for the end of its NAMES. */
void tc_join(struct tc *t, const char *chan);
/* Waits until the server closes t. */
void tc_wait_eof(struct tc *t);

#endif
