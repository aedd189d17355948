/* A test IRC client and chat server fixture for the chat suites. */
#ifndef EVSOCK_TESTS_CHATTC_H
#define EVSOCK_TESTS_CHATTC_H

#include <stddef.h>

#include <evsock/evsock.h>

#define WAIT_MS 10000
#define IRC_MAX 512 /* the default line limit, CRLF included */
#define MAX_CLIENTS 256

struct tc {
	struct bufferevent *bev;
	char **lines;
	size_t n, cap;
	size_t pos;      /* lines before this were consumed by a wait */
	int eof;
	int autopong;    /* answer the server's PINGs */
	char nick[32];
};

extern struct event_base *base;
extern struct evs_server *srv;
extern struct evs_chat *chat;
extern struct evs_listener *lst;
extern struct tc *clients[MAX_CLIENTS];
extern int nclients;

/* A connected, unregistered client (rcvbuf > 0: SO_RCVBUF first). */
struct tc *tc_connect_rcvbuf(int rcvbuf);
struct tc *tc_connect(void);
/* Queues one line (CRLF added). */
void tc_send(struct tc *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tc_send_raw(struct tc *t, const void *data, size_t len);
/* Waits for a line containing needle after those consumed; returns it. */
const char *tc_wait(struct tc *t, const char *needle);
/* Like tc_wait, and the line must equal `line`. */
void tc_expect(struct tc *t, const char *needle, const char *line);
/* A PING round trip. */
void tc_sync(struct tc *t);
/* Returns 1 if an unconsumed line contains needle (no waiting). */
int tc_seen(struct tc *t, const char *needle);
/* Counts and consumes the unconsumed lines containing needle. */
size_t tc_count(struct tc *t, const char *needle);
/* Waits until the server has closed t. */
void tc_wait_eof(struct tc *t);
/* A registered client (NICK, USER, the welcome burst). */
struct tc *tc_register_rcvbuf(const char *nick, int rcvbuf);
struct tc *tc_register(const char *nick);
/* JOINs chan and waits for its 366. */
void tc_join(struct tc *t, const char *chan);
void tc_free(struct tc *t);
/* The Check fixture: a server with a chat on 127.0.0.1:0, no flood
   limit; teardown frees every client. */
void chattc_setup(void);
void chattc_teardown(void);

#endif
