/*
 * A minimal closed-loop echo client on plain epoll: the yardstick that
 * `evsock load` is compared against.  N connections each send S bytes,
 * wait for all S to come back, and send again, for D seconds.  No
 * verification, no histogram: as little work per round trip as a
 * client can do.
 *
 *   epoll_client [-c CONNS] [-s BYTES] [-d SECONDS] HOST:PORT
 *
 * Prints one line on stdout: "round_trips_per_s N" (after connecting,
 * counted over D seconds).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct cconn {
	int fd;
	size_t got;  /* bytes of the current echo received */
	size_t sent; /* bytes of the current message written */
};

static size_t msg_size = 64;
static char *msg, *rbuf;

static double now_s(void);
static int send_rest(int ep, struct cconn *c, int armed);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes what is left of the message; returns -1 on a dead socket. */
static int
send_rest(int ep, struct cconn *c, int armed)
{
	struct epoll_event ev;
	ssize_t r = write(c->fd, msg + c->sent, msg_size - c->sent);

	if (r == -1 && errno != EAGAIN)
		return -1;
	if (r > 0)
		c->sent += (size_t)r;
	if ((c->sent < msg_size) != armed) {
		ev.events = EPOLLIN | (c->sent < msg_size ? EPOLLOUT : 0);
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int nconns = 100, opt, ep, one = 1;
	double secs = 5, t0, t_end;
	unsigned long long trips = 0;
	struct sockaddr_in sa;
	char host[64];
	const char *colon;
	struct cconn *conns;
	struct epoll_event ev, evs[512];

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
			    "usage: epoll_client [-c CONNS] "
			    "[-s BYTES] [-d SECONDS] HOST:PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1 || nconns < 1 || msg_size < 1 ||
	    (colon = strrchr(argv[optind], ':')) == NULL ||
	    (size_t)(colon - argv[optind]) >= sizeof(host)) {
		fprintf(stderr, "epoll_client: bad arguments\n");
		return 2;
	}
	memcpy(host, argv[optind], (size_t)(colon - argv[optind]));
	host[colon - argv[optind]] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "epoll_client: %s: not an IPv4 address\n",
		    host);
		return 2;
	}
	msg = malloc(msg_size);
	rbuf = malloc(msg_size);
	conns = calloc((size_t)nconns, sizeof(*conns));
	if (msg == NULL || rbuf == NULL || conns == NULL ||
	    (ep = epoll_create1(0)) == -1)
		return 1;
	memset(msg, 'x', msg_size);
	for (int i = 0; i < nconns; i++) {
		struct cconn *c = &conns[i];

		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (c->fd == -1 ||
		    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
			perror("epoll_client: connect");
			return 1;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	t0 = now_s();
	t_end = t0 + secs;
	for (int i = 0; i < nconns; i++)
		if (send_rest(ep, &conns[i], 0) == -1)
			return 1;
	while (now_s() < t_end) {
		int n = epoll_wait(ep, evs, 512, 100);

		for (int i = 0; i < n; i++) {
			struct cconn *c = evs[i].data.ptr;
			ssize_t r;

			if (evs[i].events & EPOLLOUT && c->sent < msg_size &&
			    send_rest(ep, c, 1) == -1)
				return 1;
			if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			r = read(c->fd, rbuf, msg_size - c->got);
			if (r == 0 || (r == -1 && errno != EAGAIN)) {
				fprintf(stderr,
				    "epoll_client: connection lost\n");
				return 1;
			}
			if (r < 0)
				continue;
			c->got += (size_t)r;
			if (c->got == msg_size && c->sent == msg_size) {
				trips++;
				c->got = c->sent = 0;
				if (send_rest(ep, c, 0) == -1)
					return 1;
			}
		}
	}
	printf("round_trips_per_s %.0f\n", (double)trips / (now_s() - t0));
	return 0;
}
