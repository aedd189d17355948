/*
 * The closed loop of bench/epoll_client on evsock's client engine
 * (evs_client_*, bufferevents): what `evsock load` would cost per round
 * trip if it used the engine instead of plain sockets with one event
 * each.  Same arguments and output as epoll_client.
 *
 *   engine_client [-c CONNS] [-s BYTES] [-d SECONDS] HOST:PORT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <evsock/client.h>

struct econn {
	struct evs_client *cl;
	size_t got;
};

static size_t msg_size = 64;
static char *msg;
static unsigned long long trips;
static int running = 1, up, failed;

static double now_s(void);
static void on_connected(struct evs_client *cl, void *arg);
static void on_data(struct evs_client *cl, struct evbuffer *in, void *arg);
static void on_closed(struct evs_client *cl, int error, const char *reason,
    void *arg);
static void on_stop(evutil_socket_t fd, short what, void *arg);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_connected(struct evs_client *cl, void *arg)
{
	(void)arg;
	up++;
	evs_client_send(cl, msg, msg_size);
}

static void
on_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct econn *c = arg;
	size_t n = evbuffer_get_length(in);

	evbuffer_drain(in, n);
	c->got += n;
	if (c->got >= msg_size) {
		c->got -= msg_size;
		trips++;
		if (running)
			evs_client_send(cl, msg, msg_size);
	}
}

static void
on_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	(void)cl;
	(void)arg;
	if (error != 0) {
		fprintf(stderr, "engine_client: %s\n", reason);
		failed++;
	}
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	running = 0;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	static const struct evs_client_callbacks cbs = {
		.connected = on_connected,
		.data = on_data,
		.closed = on_closed,
	};
	int nconns = 100, opt;
	double secs = 5, t0;
	struct event_base *base;
	struct econn *conns;
	struct event *stop;
	struct timeval tv;

	while ((opt = getopt(argc, argv, "c:s:d:h")) != -1) {
		switch (opt) {
		case 'c':
			nconns = atoi(optarg);
			break;
		case 's':
			msg_size = (size_t)atol(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		default:
			fprintf(stderr,
			    "usage: engine_client [-c CONNS] "
			    "[-s BYTES] [-d SECONDS] HOST:PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1 || nconns < 1 || msg_size < 1)
		return 2;
	msg = malloc(msg_size);
	conns = calloc((size_t)nconns, sizeof(*conns));
	base = event_base_new();
	if (msg == NULL || conns == NULL || base == NULL)
		return 1;
	memset(msg, 'x', msg_size);
	for (int i = 0; i < nconns; i++) {
		conns[i].cl = evs_client_new(base, NULL, &cbs, &conns[i]);
		if (conns[i].cl == NULL ||
		    evs_client_connect(conns[i].cl, argv[optind], 10000) == -1)
			return 1;
	}
	/* Like epoll_client: count from when every connection is up. */
	while (up + failed < nconns)
		event_base_loop(base, EVLOOP_ONCE);
	if (failed)
		return 1;
	trips = 0;
	t0 = now_s();
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	stop = evtimer_new(base, on_stop, base);
	evtimer_add(stop, &tv);
	event_base_dispatch(base);
	printf("round_trips_per_s %.0f\n", (double)trips / (now_s() - t0));
	for (int i = 0; i < nconns; i++)
		evs_client_free(conns[i].cl);
	event_free(stop);
	event_base_free(base);
	free(conns);
	free(msg);
	return 0;
}
