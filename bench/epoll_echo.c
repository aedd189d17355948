/*
 * A minimal echo server on plain epoll: the floor that evsockd's echo is
 * measured against.  Level-triggered, one read and one write per event,
 * reading paused while a connection has unsent output.
 *
 *   epoll_echo [-t THREADS] [HOST:PORT]     (default 127.0.0.1:0)
 *
 * Prints "listening echo on HOST:PORT" on stderr once ready.  With
 * -t N, N threads each run their own epoll on their own SO_REUSEPORT
 * socket bound to the same port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536

struct econn {
	int fd;
	size_t off, len; /* unsent output in buf[off..len) */
	char *buf;
};

static struct sockaddr_in bind_addr;

static int listen_socket(void);
static void *serve(void *arg);
static void conn_drop(int ep, struct econn *c);

static int
listen_socket(void)
{
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&bind_addr, sizeof(bind_addr)) == -1 ||
	    listen(fd, 4096) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
conn_drop(int ep, struct econn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
}

static void *
serve(void *arg)
{
	int lfd = *(int *)arg, ep;
	struct epoll_event ev, evs[512];

	if ((ep = epoll_create1(0)) == -1) {
		perror("epoll_create1");
		exit(1);
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 512, -1);

		for (int i = 0; i < n; i++) {
			struct econn *c = evs[i].data.ptr;
			ssize_t r;

			if (c == NULL) {
				int fd, one = 1;

				while ((fd = accept4(lfd, NULL, NULL,
				            SOCK_NONBLOCK)) != -1) {
					c = calloc(1, sizeof(*c));
					c->buf = malloc(BUF_SIZE);
					if (c == NULL || c->buf == NULL)
						abort();
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (c->len == 0) {
				r = read(c->fd, c->buf, BUF_SIZE);
				if (r <= 0) {
					if (r == -1 && errno == EAGAIN)
						continue;
					conn_drop(ep, c);
					continue;
				}
				c->off = 0;
				c->len = (size_t)r;
			}
			r = write(c->fd, c->buf + c->off, c->len - c->off);
			if (r == -1 && errno != EAGAIN) {
				conn_drop(ep, c);
				continue;
			}
			if (r > 0)
				c->off += (size_t)r;
			if (c->off == c->len) {
				if (evs[i].events & EPOLLOUT) {
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd,
					    &ev);
				}
				c->len = c->off = 0;
			} else if (!(evs[i].events & EPOLLOUT)) {
				/* Backpressure: stop reading until drained. */
				ev.events = EPOLLOUT;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *hostport = "127.0.0.1:0";
	char host[64];
	const char *colon;
	int nthreads = 1, opt, *fds;
	socklen_t len = sizeof(bind_addr);
	pthread_t tid;

	while ((opt = getopt(argc, argv, "t:h")) != -1) {
		switch (opt) {
		case 't':
			nthreads = atoi(optarg);
			break;
		default:
			fprintf(stderr,
			    "usage: epoll_echo [-t THREADS] "
			    "[HOST:PORT]\n");
			return 2;
		}
	}
	if (optind < argc)
		hostport = argv[optind];
	if (nthreads < 1 || (colon = strrchr(hostport, ':')) == NULL ||
	    (size_t)(colon - hostport) >= sizeof(host)) {
		fprintf(stderr, "epoll_echo: bad arguments\n");
		return 2;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	bind_addr.sin_family = AF_INET;
	bind_addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &bind_addr.sin_addr) != 1) {
		fprintf(stderr, "epoll_echo: %s: not an IPv4 address\n", host);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((fds = calloc((size_t)nthreads, sizeof(*fds))) == NULL)
		return 1;
	for (int i = 0; i < nthreads; i++) {
		if ((fds[i] = listen_socket()) == -1) {
			perror("epoll_echo: listen");
			return 1;
		}
		/* Port 0: later threads bind the port the first one got. */
		if (i == 0)
			getsockname(fds[0], (struct sockaddr *)&bind_addr,
			    &len);
	}
	fprintf(stderr, "listening echo on %s:%d\n", host,
	    ntohs(bind_addr.sin_port));
	for (int i = 1; i < nthreads; i++)
		pthread_create(&tid, NULL, serve, &fds[i]);
	serve(&fds[0]);
	return 0;
}
