/*
 * chatmin: an existing libevent program (it prints a heartbeat every
 * ten seconds) that also serves evsock's chat.  Everything it took is
 * marked "evsock": one include, one block after the base is set up, and
 * two frees at the end.  docs/EMBEDDING.md walks through it.
 *
 *     chatmin [ADDR]          (default 127.0.0.1:6667; port 0 picks one)
 *
 * Build against an installed libevsock:
 *     cc -o chatmin chatmin.c $(pkg-config --cflags --libs evsock)
 */
#include <stdio.h>

#include <event2/event.h>

#include <evsock/evsock.h> /* evsock */

static void
heartbeat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fprintf(stderr, "chatmin: still here\n");
}

int
main(int argc, char **argv)
{
	struct timeval ten = { 10, 0 };
	struct event_base *base = event_base_new();
	struct event *beat = event_new(base, -1, EV_PERSIST, heartbeat, NULL);

	event_add(beat, &ten);

	/* evsock: a server on this base, a chat, one listener. */
	const char *addr = argc > 1 ? argv[1] : "127.0.0.1:6667";
	char err[256] = "", where[64];
	struct evs_server *srv = evs_server_new(base);
	struct evs_chat *chat = srv != NULL ? evs_chat_new(srv) : NULL;
	struct evs_listener *l = chat == NULL ?
	    NULL :
	    evs_server_listen(srv, addr, evs_chat_service(), chat, err,
	        sizeof(err));
	if (l == NULL) {
		fprintf(stderr, "chatmin: cannot serve chat: %s\n", err);
		return 1;
	}
	printf("chat %s\n", evs_listener_addr_str(l, where, sizeof(where)));
	fflush(stdout);
	/* end evsock */

	event_base_dispatch(base);

	evs_server_free(srv); /* evsock */
	evs_chat_free(chat);  /* evsock */
	event_free(beat);
	event_base_free(base);
	return 0;
}
