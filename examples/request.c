/*
 * request: send one request with evsock's client engine and print the
 * whole answer.
 *
 *     request HOST:PORT TEXT...
 *
 * Connects (host names resolve without blocking), sends the words of
 * TEXT joined by spaces plus a newline, half-closes, prints everything
 * the server sends back until it closes, and exits 0; 1 on a connect
 * failure or error, or after 10 seconds.
 *
 *     $ request 127.0.0.1:7008 hello world
 *     HELLO WORLD
 *
 * Build against an installed libevsock:
 *     cc -o request request.c $(pkg-config --cflags --libs evsock)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <evsock/evsock.h>

struct req {
	struct event_base *base;
	int argc;
	char **argv;
	int status;
};

static void req_connected(struct evs_client *, void *);
static void req_data(struct evs_client *, struct evbuffer *, void *);
static void req_closed(struct evs_client *, int, const char *, void *);
static void req_deadline(evutil_socket_t, short, void *);

static const struct evs_client_callbacks req_callbacks = {
	.connected = req_connected,
	.data = req_data,
	/* .eof left NULL: when the server is done, close once flushed. */
	.closed = req_closed,
};

int
main(int argc, char **argv)
{
	struct timeval limit = { 10, 0 };
	struct evs_client *cl = NULL;
	struct event *deadline = NULL;
	struct req rq = { NULL, argc - 2, argv + 2, 1 };

	if (argc < 3) {
		fprintf(stderr, "usage: request HOST:PORT TEXT...\n");
		return 2;
	}
	if ((rq.base = event_base_new()) == NULL)
		return 1;
	/* A NULL evdns_base: the client makes its own for host names. */
	cl = evs_client_new(rq.base, NULL, &req_callbacks, &rq);
	deadline = evtimer_new(rq.base, req_deadline, &rq);
	if (cl == NULL || deadline == NULL || evtimer_add(deadline, &limit) ||
	    evs_client_connect(cl, argv[1], 5000) == -1) {
		perror("request");
		goto out;
	}
	event_base_dispatch(rq.base);

out:
	evs_client_free(cl);
	if (deadline != NULL)
		event_free(deadline);
	event_base_free(rq.base);
	return rq.status;
}

static void
req_connected(struct evs_client *cl, void *arg)
{
	struct req *rq = arg;

	for (int i = 0; i < rq->argc; i++) {
		if (i > 0)
			evs_client_send(cl, " ", 1);
		evs_client_send(cl, rq->argv[i], strlen(rq->argv[i]));
	}
	evs_client_send(cl, "\n", 1);
	/* FIN after the request: the server sees EOF once it has read it. */
	evs_client_shutdown_write(cl);
}

static void
req_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	(void)cl;
	(void)arg;
	/* Consume everything: what stays in `in` is handed over again. */
	while (evbuffer_get_length(in) > 0)
		if (evbuffer_write(in, STDOUT_FILENO) <= 0)
			evbuffer_drain(in, evbuffer_get_length(in));
}

/* Runs once, from the loop, after connect failure, error or close. */
static void
req_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	struct req *rq = arg;

	(void)cl;
	if (error != 0)
		fprintf(stderr, "request: %s\n", reason);
	else
		rq->status = 0;
	event_base_loopexit(rq->base, NULL);
}

static void
req_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct req *rq = arg;

	(void)fd;
	(void)what;
	fprintf(stderr, "request: no answer within 10 seconds\n");
	event_base_loopbreak(rq->base);
}
