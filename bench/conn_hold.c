/*
 * conn_hold: opens N connections to an echo server at once, checks that
 * every one is accepted (each echoes one byte), holds them idle, then
 * checks that every one still answers.  Reports how long acceptance
 * took and the server's memory per connection (its RSS growth / N).
 *
 *   conn_hold -n 19000 -i 60 -p SERVER_PID [-s SRC1,SRC2] HOST:PORT
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

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Sends one byte on every connection and waits until each has echoed
   it; returns how many answered within `limit` seconds. */
static int
ping_all(int ep, const int *fds, int n, double limit)
{
	struct epoll_event evs[512];
	char *answered = calloc((size_t)n, 1);
	double deadline = now_s() + limit;
	int got = 0;

	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
			.data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &ev);
		if (send(fds[i], "p", 1, MSG_NOSIGNAL) != 1)
			answered[i] = 2;
	}
	while (got < n && now_s() < deadline) {
		int k = epoll_wait(ep, evs, 512, 100);
		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32;
			char c;
			if (answered[i] == 0 && recv(fds[i], &c, 1, 0) == 1) {
				answered[i] = 1;
				got++;
			}
		}
	}
	free(answered);
	return got;
}

int
main(int argc, char **argv)
{
	int n = 1000, idle = 0, pid = 0, ch, port, nsrc = 0, ep, *fds;
	int connected = 0, failed = 0;
	char *srcs = NULL, *src[16], *host, *colon;
	struct sockaddr_in dst;
	struct epoll_event evs[512];
	double t0, t_conn, t_acc;
	long rss0 = -1, rss1 = -1;

	while ((ch = getopt(argc, argv, "n:i:p:s:")) != -1) {
		switch (ch) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'i':
			idle = atoi(optarg);
			break;
		case 'p':
			pid = atoi(optarg);
			break;
		case 's':
			srcs = optarg;
			break;
		default:
			fprintf(stderr,
			    "usage: conn_hold [-n N] [-i IDLE_S] "
			    "[-p SERVER_PID] [-s SRC,...] HOST:PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n < 1 ||
	    (colon = strrchr(argv[optind], ':')) == NULL) {
		fprintf(stderr, "conn_hold: expected HOST:PORT\n");
		return 2;
	}
	*colon = '\0';
	host = argv[optind];
	port = atoi(colon + 1);
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
		fprintf(stderr, "conn_hold: %s: not an IPv4 address\n", host);
		return 2;
	}
	for (char *s = srcs ? strtok(srcs, ",") : NULL; s != NULL && nsrc < 16;
	     s = strtok(NULL, ","))
		src[nsrc++] = s;
	if (pid > 0)
		rss0 = rss_kib(pid);
	fds = calloc((size_t)n, sizeof(int));
	ep = epoll_create1(0);

	/* All at once: non-blocking connects, then wait for completion. */
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLOUT,
			.data.u32 = (uint32_t)i };
		int one = 1;
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fds[i] == -1) {
			fprintf(stderr, "conn_hold: socket %d: %s\n", i,
			    strerror(errno));
			return 1;
		}
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (nsrc > 0) {
			struct sockaddr_in s;
			memset(&s, 0, sizeof(s));
			s.sin_family = AF_INET;
			inet_pton(AF_INET, src[i % nsrc], &s.sin_addr);
			bind(fds[i], (struct sockaddr *)&s, sizeof(s));
		}
		if (connect(fds[i], (struct sockaddr *)&dst, sizeof(dst)) ==
		        -1 &&
		    errno != EINPROGRESS) {
			failed++;
			continue;
		}
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
	}
	while (connected + failed < n && now_s() - t0 < 60) {
		int k = epoll_wait(ep, evs, 512, 100);
		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32, err = 0;
			socklen_t len = sizeof(err);
			getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len);
			if (err == 0)
				connected++;
			else
				failed++;
			struct epoll_event ev = { .events = 0,
				.data.u32 = (uint32_t)i };
			epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &ev);
		}
	}
	t_conn = now_s() - t0;
	/* Connected is only the kernel's handshake: an echo proves the
	   server accepted the connection. */
	{
		int ok = ping_all(ep, fds, n, 60);
		t_acc = now_s() - t0;
		if (pid > 0)
			rss1 = rss_kib(pid);
		printf("connections %d connected %d failed %d\n", n, connected,
		    failed);
		printf("all_connected_s %.2f\n", t_conn);
		printf("accepted_and_answering %d in %.2f s\n", ok, t_acc);
		if (rss0 >= 0 && rss1 >= 0)
			printf("server_rss_kib %ld -> %ld (%.0f bytes per "
			       "connection)\n",
			    rss0, rss1, (double)(rss1 - rss0) * 1024.0 / n);
		fflush(stdout);
		if (ok != n)
			return 1;
	}
	if (idle > 0) {
		int ok;
		sleep((unsigned)idle);
		ok = ping_all(ep, fds, n, 60);
		printf("after_idle_%ds answering %d of %d\n", idle, ok, n);
		if (pid > 0)
			printf("server_rss_kib_after_idle %ld\n", rss_kib(pid));
		if (ok != n)
			return 1;
	}
	return 0;
}
