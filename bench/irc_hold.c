/*
 * irc_hold: registers N idle IRC clients, each joining one of C
 * channels, and measures the server's memory: its RSS before, with all
 * of them registered and idle, and after all of them quit.  Meanwhile
 * a probe client outside the channels PINGs the server every 10 ms
 * from a thread of its own (so that this process's own work on the
 * storm does not count); its round trips bound how long the server's
 * loop stalled during the join storm.  Any IRC server will do: a client sends JOIN only after
 * 001, as InspIRCd requires.
 *
 *   irc_hold -n N [-C CHANNELS] [-w IN_FLIGHT] [-p SERVER_PID] HOST:PORT
 *
 * Prints "key value" lines: rss_before_kib, joined, join_s,
 * probe_max_ms, probe_p99_ms, rss_joined_kib, bytes_per_client,
 * rss_after_kib.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PARTIAL_MAX 1024
#define PROBE_MAX 100000

enum hold_state { H_IDLE, H_REG, H_JOIN, H_IN, H_QUIT, H_GONE };

struct hold_conn {
	int fd;
	enum hold_state st;
	size_t plen;
	char *partial; /* an unfinished line, while there is one */
};

static struct hold_conn *conns;
static int nconns;
static int inflight, joined, gone, failed;
static int nchan = 1;
static double probe_rtt[PROBE_MAX];
static int nprobe;
static atomic_int probe_state; /* 0 starting, 1 in, -1 failed */
static atomic_int probe_stop;

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

static void
put(int i, const char *s, size_t n)
{
	/* Short control lines; a full socket buffer here is a failure. */
	if (send(conns[i].fd, s, n, MSG_NOSIGNAL) != (ssize_t)n)
		fprintf(stderr, "irc_hold: client %d: short send\n", i);
}

static void
nick_of(int i, char *buf)
{
	char tmp[16], *p = tmp + sizeof(tmp) - 1;
	unsigned v = (unsigned)i;

	*p = '\0';
	do {
		*--p = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
		v /= 36;
	} while (v > 0);
	sprintf(buf, "h%s", p);
}

static void
line(int i, char *s, size_t n, double now)
{
	struct hold_conn *c = &conns[i];
	char out[256], nick[16];
	const char *cmd = s;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	s[n] = '\0';
	if (strncmp(s, "PING ", 5) == 0) {
		s[1] = 'O';
		put(i, s, n);
		put(i, "\r\n", 2);
		return;
	}
	if (*cmd == ':' && (cmd = strchr(cmd, ' ')) != NULL)
		cmd++;
	if (cmd == NULL)
		return;
	(void)now;
	if (strncmp(cmd, "001 ", 4) == 0 && c->st == H_REG) {
		c->st = H_JOIN;
		if (nchan > 1)
			n = (size_t)snprintf(out, sizeof(out),
			    "JOIN #bench%d\r\n", i % nchan);
		else
			n = (size_t)snprintf(out, sizeof(out),
			    "JOIN #bench\r\n");
		put(i, out, n);
		return;
	}
	if (strncmp(cmd, "366 ", 4) == 0 && c->st == H_JOIN) {
		c->st = H_IN;
		joined++;
		inflight--;
		return;
	}
	if (c->st != H_QUIT &&
	    (strncmp(cmd, "433 ", 4) == 0 || strncmp(cmd, "ERROR", 5) == 0 ||
	        strncmp(cmd, "451 ", 4) == 0)) {
		nick_of(i, nick);
		fprintf(stderr, "irc_hold: client %d (%s): %.200s\n", i, nick,
		    s);
	}
}

static void
input(int i, char *p, size_t n, double now)
{
	struct hold_conn *c = &conns[i];
	char *nl;

	while (n > 0) {
		if ((nl = memchr(p, '\n', n)) == NULL) {
			if (c->partial == NULL)
				c->partial = malloc(PARTIAL_MAX + 1);
			if (c->plen + n > PARTIAL_MAX)
				c->plen = 0; /* overlong: none of ours */
			else {
				memcpy(c->partial + c->plen, p, n);
				c->plen += n;
			}
			return;
		}
		size_t len = (size_t)(nl - p);
		/* Only lines that may matter are parsed: after joining,
		   PINGs; before, everything. */
		if (c->plen > 0) {
			if (c->plen + len <= PARTIAL_MAX) {
				memcpy(c->partial + c->plen, p, len);
				line(i, c->partial, c->plen + len, now);
			}
			c->plen = 0;
		} else if (c->st != H_IN || p[0] == 'P') {
			char save = p[len];
			line(i, p, len, now);
			p[len] = save;
		}
		p = nl + 1;
		n -= len + 1;
	}
	if (c->partial != NULL && c->plen == 0) {
		free(c->partial);
		c->partial = NULL;
	}
}

static int
open_conn(int ep, const struct sockaddr_in *dst, int i)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
	char buf[128], nick[16];
	int one = 1, n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1) {
		fprintf(stderr, "irc_hold: socket: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A blocking connect keeps the order simple; loopback is quick. */
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) == -1) {
		fprintf(stderr, "irc_hold: connect: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	conns[i].fd = fd;
	conns[i].st = H_REG;
	nick_of(i, nick);
	n = snprintf(buf, sizeof(buf), "NICK %s\r\nUSER hold 0 * :hold\r\n",
	    nick);
	put(i, buf, (size_t)n);
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

/* Reads whatever is ready within ms; returns bytes read. */
static size_t
pump(int ep, int ms)
{
	static char buf[256 * 1024];
	struct epoll_event evs[512];
	size_t total = 0;
	int k = epoll_wait(ep, evs, 512, ms);
	double now = now_s();

	for (int j = 0; j < k; j++) {
		int i = (int)evs[j].data.u32;
		ssize_t r = recv(conns[i].fd, buf, sizeof(buf) - 1, 0);

		if (r > 0) {
			input(i, buf, (size_t)r, now);
			total += (size_t)r;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			epoll_ctl(ep, EPOLL_CTL_DEL, conns[i].fd, NULL);
			close(conns[i].fd);
			if (conns[i].st == H_REG || conns[i].st == H_JOIN) {
				failed++;
				inflight--;
			}
			conns[i].st = H_GONE;
			gone++;
		}
	}
	return total;
}

/* Sends all of s on the probe's blocking socket. */
static int
probe_put(int fd, const char *s, size_t n)
{
	return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/*
 * Reads the probe's lines until one starts its command with `want`
 * (answering the server's PINGs), for at most ms.  Returns 0, or -1 on
 * a timeout or a closed connection.
 */
static int
probe_await(int fd, char *buf, size_t *len, size_t cap, const char *want,
    int ms)
{
	double end = now_s() + ms / 1000.0;

	for (;;) {
		char *nl;

		while ((nl = memchr(buf, '\n', *len)) != NULL) {
			size_t n = (size_t)(nl - buf) + 1;
			const char *cmd = buf;
			int hit;

			*nl = '\0';
			if (*cmd == ':' && (cmd = strchr(cmd, ' ')) != NULL)
				cmd++;
			hit = cmd != NULL &&
			    strncmp(cmd, want, strlen(want)) == 0;
			if (strncmp(buf, "PING ", 5) == 0) {
				buf[1] = 'O';
				buf[n - 1] = '\n';
				(void)probe_put(fd, buf, n);
			}
			memmove(buf, buf + n, *len - n);
			*len -= n;
			if (hit)
				return 0;
		}
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int left = (int)((end - now_s()) * 1000);
		ssize_t r;

		if (left <= 0 || poll(&pf, 1, left) <= 0)
			return -1;
		if (*len >= cap)
			*len = 0; /* an overlong line: none of ours */
		if ((r = recv(fd, buf + *len, cap - *len, 0)) <= 0)
			return -1;
		*len += (size_t)r;
	}
}

/* The probe: registers, then PINGs every 10 ms until told to stop,
   each time waiting for the PONG. */
static void *
probe_main(void *arg)
{
	const struct sockaddr_in *dst = arg;
	static char buf[64 * 1024];
	size_t len = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	static const char reg[] = "NICK hprobe\r\nUSER probe 0 * :probe\r\n";

	if (fd == -1 ||
	    connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) == -1 ||
	    probe_put(fd, reg, sizeof(reg) - 1) == -1 ||
	    probe_await(fd, buf, &len, sizeof(buf), "001 ", 30000) == -1) {
		atomic_store(&probe_state, -1);
		if (fd != -1)
			close(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	atomic_store(&probe_state, 1);
	while (!atomic_load(&probe_stop) && nprobe < PROBE_MAX) {
		double t = now_s(), wait;
		struct timespec ts;

		if (probe_put(fd, "PING :probe\r\n", 13) == -1 ||
		    probe_await(fd, buf, &len, sizeof(buf), "PONG ", 60000) ==
		        -1) {
			fprintf(stderr,
			    "irc_hold: the probe lost its server after %d pings: %s\n",
			    nprobe, errno ? strerror(errno) : "timeout or EOF");
			break;
		}
		probe_rtt[nprobe++] = now_s() - t;
		if ((wait = t + 0.01 - now_s()) > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long)(wait * 1e9);
			nanosleep(&ts, NULL);
		}
	}
	(void)probe_put(fd, "QUIT :bye\r\n", 11);
	close(fd);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	int n = 1000, window = 200, pid = 0, ch, port, ep, next = 0;
	char *host, *colon;
	struct sockaddr_in dst;
	double t0, quiet_since;
	pthread_t probe;
	long rss0 = -1, rss1 = -1, rss2 = -1;

	while ((ch = getopt(argc, argv, "n:C:w:p:")) != -1) {
		switch (ch) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'C':
			nchan = atoi(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 'p':
			pid = atoi(optarg);
			break;
		default:
			fprintf(stderr,
			    "usage: irc_hold -n N [-C CHANNELS] "
			    "[-w IN_FLIGHT] [-p SERVER_PID] HOST:PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n < 1 || nchan < 1 ||
	    (colon = strrchr(argv[optind], ':')) == NULL) {
		fprintf(stderr, "irc_hold: expected HOST:PORT\n");
		return 2;
	}
	*colon = '\0';
	host = argv[optind];
	port = atoi(colon + 1);
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
		fprintf(stderr, "irc_hold: %s: not an IPv4 address\n", host);
		return 2;
	}
	nconns = n;
	conns = calloc((size_t)n, sizeof(*conns));
	ep = epoll_create1(0);
	if (pid > 0)
		rss0 = rss_kib(pid);
	printf("rss_before_kib %ld\n", rss0);

	/* The probe registers first and stays out of channels. */
	if (pthread_create(&probe, NULL, probe_main, &dst) != 0) {
		fprintf(stderr, "irc_hold: cannot start the probe\n");
		return 1;
	}
	t0 = now_s();
	while (atomic_load(&probe_state) == 0 && now_s() - t0 < 35) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	if (atomic_load(&probe_state) != 1) {
		fprintf(stderr, "irc_hold: the probe did not register\n");
		return 1;
	}

	t0 = now_s();
	while (joined + failed < n && now_s() - t0 < 300) {
		while (next < n && inflight < window) {
			if (open_conn(ep, &dst, next) == -1) {
				failed++;
				next++;
				continue;
			}
			next++;
			inflight++;
		}
		pump(ep, 5);
	}
	printf("joined %d\nfailed %d\njoin_s %.2f\n", joined, failed,
	    now_s() - t0);
	atomic_store(&probe_stop, 1);
	pthread_join(probe, NULL);
	if (nprobe > 0) {
		qsort(probe_rtt, (size_t)nprobe, sizeof(double), cmp_double);
		printf("probe_pings %d\nprobe_max_ms %.1f\nprobe_p99_ms %.1f\n",
		    nprobe, probe_rtt[nprobe - 1] * 1000,
		    probe_rtt[(size_t)(nprobe * 0.99)] * 1000);
	}
	/* Idle: the storm has drained once nothing arrives for a second. */
	quiet_since = now_s();
	t0 = now_s();
	while (now_s() - quiet_since < 1.0 && now_s() - t0 < 120)
		if (pump(ep, 100) > 0)
			quiet_since = now_s();
	/* Servers may return memory on a timer: a moment for that. */
	t0 = now_s();
	while (now_s() - t0 < 2.5)
		pump(ep, 100);
	if (pid > 0)
		rss1 = rss_kib(pid);
	printf("rss_joined_kib %ld\n", rss1);
	if (rss0 >= 0 && rss1 >= 0 && joined > 0)
		printf("bytes_per_client %.0f\n",
		    (double)(rss1 - rss0) * 1024.0 / joined);
	fflush(stdout);

	/* Everyone quits; wait for the server to close. */
	for (int i = 0; i < n; i++)
		if (conns[i].st != H_GONE && conns[i].st != H_IDLE) {
			put(i, "QUIT :bye\r\n", 11);
			conns[i].st = H_QUIT;
		}
	t0 = now_s();
	while (gone < n && now_s() - t0 < 60)
		pump(ep, 100);
	/* Servers may free lazily: a moment for that. */
	usleep(2500 * 1000);
	if (pid > 0)
		rss2 = rss_kib(pid);
	printf("closed %d\nrss_after_kib %ld\n", gone, rss2);
	return joined == n ? 0 : 1;
}
