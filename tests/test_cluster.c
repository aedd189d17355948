/*
 * System: several evsockd instances as one chat network over a real
 * redis-server that the test starts itself (loopback, a free port, no
 * persistence, its own directory).  Without redis-server the suite
 * skips, or fails under CI=true.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <evsock/evsock.h>

#include "harness.h"
#include "../server/chat-int.h"
#include "../server/chat-link.h"
#include "../server/chat-redis-int.h"

#define NODES 3
#define WAIT_MS 10000

static pid_t redis_pid = -1;
static int redis_port;
static char redis_dir[] = "/tmp/evsock-redis-XXXXXX";
static char redis_url[64];
static struct harness_proc nodes[NODES];
static int node_port[NODES];

/* Returns a port that was free a moment ago on 127.0.0.1. */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Whether redis-server answers PING on redis_port. */
static int
redis_ping(void)
{
	char buf[64];
	int fd = harness_connect(redis_port, 0);
	ssize_t n;

	if (fd == -1)
		return 0;
	n = harness_write_all(fd, "PING\r\n", 6) == 0 ?
	    recv(fd, buf, sizeof(buf) - 1, 0) :
	    -1;
	close(fd);
	return n >= 5 && memcmp(buf, "+PONG", 5) == 0;
}

static void
redis_start(void)
{
	char port[16];
	uint64_t deadline = harness_now_ms() + WAIT_MS;

	snprintf(port, sizeof(port), "%d", redis_port);
	redis_pid = fork();
	ck_assert_int_ge(redis_pid, 0);
	if (redis_pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("redis-server", "redis-server", "--port", port, "--bind",
		    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
		    redis_dir, "--unixsocket", "redis.sock", "--daemonize",
		    "no", (char *)NULL);
		_exit(127);
	}
	while (!redis_ping()) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "redis-server did not answer on port %d", redis_port);
		ck_assert_msg(waitpid(redis_pid, NULL, WNOHANG) == 0,
		    "redis-server exited");
		poll(NULL, 0, 20);
	}
}

static void
redis_stop(int sig)
{
	if (redis_pid <= 0)
		return;
	kill(redis_pid, SIGCONT);
	kill(redis_pid, sig);
	waitpid(redis_pid, NULL, 0);
	redis_pid = -1;
}

/* Starts instance i as node "n<i>" on Redis at url, keeping 5 lines
   of history. */
static void
node_start_url(int i, const char *timeout, const char *url)
{
	char name[16];
	const char *argv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--flood-rate", "0", "--cluster", url, "--node-name", name,
		"--cluster-timeout", timeout, "--history-lines", "5", NULL };

	snprintf(name, sizeof(name), "n%d", i);
	ck_assert_msg(harness_evsockd(&nodes[i], argv, 1, &node_port[i]) == 0,
	    "evsockd did not start: %s", nodes[i].log);
	ck_assert_msg(harness_proc_wait_log(&nodes[i], "cluster: node",
	                  WAIT_MS * harness_slowdown()),
	    "no cluster line: %s", nodes[i].log);
	ck_assert_msg(harness_proc_wait_log(&nodes[i], " joined",
	                  WAIT_MS * harness_slowdown()),
	    "did not join: %s", nodes[i].log);
}

static void
node_start(int i, const char *timeout)
{
	node_start_url(i, timeout, redis_url);
}

static void
setup(void)
{
	redis_port = free_port();
	snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d",
	    redis_port);
	redis_start();
}

static void
teardown(void)
{
	for (int i = 0; i < NODES; i++) {
		if (nodes[i].pid > 0)
			harness_proc_stop(&nodes[i], SIGTERM, 10000);
	}
	redis_stop(SIGTERM);
}

/* An IRC client: a blocking socket that answers PINGs. */
struct cl {
	int fd;
	char buf[65536];
	size_t len;
	char line[4096];
	char skipped[2048]; /* the last lines skipped, for a failure */
};

static void
cl_send(struct cl *c, const char *fmt, ...)
{
	char out[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, sizeof(out) - 2, fmt, ap);
	va_end(ap);
	memcpy(out + n, "\r\n", 2);
	ck_assert_int_eq(harness_write_all(c->fd, out, (size_t)n + 2), 0);
}

/* Reads the next line into c->line within ms; returns 0 on timeout. */
static int
cl_next(struct cl *c, unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms * harness_slowdown();

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd pfd = { c->fd, POLLIN, 0 };
		uint64_t now;
		ssize_t n;

		if (nl != NULL) {
			size_t l = (size_t)(nl - c->buf) + 1;

			snprintf(c->line, sizeof(c->line), "%.*s",
			    (int)(l > 1 && nl[-1] == '\r' ? l - 2 : l - 1),
			    c->buf);
			memmove(c->buf, c->buf + l, c->len - l);
			c->len -= l;
			if (strncmp(c->line, "PING ", 5) == 0) {
				cl_send(c, "PONG %s", c->line + 5);
				continue;
			}
			return 1;
		}
		now = harness_now_ms();
		if (now >= deadline)
			return 0;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		ck_assert_uint_lt(c->len, sizeof(c->buf));
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		ck_assert_msg(n > 0, "connection ended");
		c->len += (size_t)n;
	}
}

/* Skips lines until one contains needle; fails after WAIT_MS. */
static void
cl_wait(struct cl *c, const char *needle)
{
	size_t n;

	c->skipped[0] = '\0';
	for (;;) {
		ck_assert_msg(cl_next(c, WAIT_MS),
		    "no line with \"%s\" "
		    "after:\n%s",
		    needle, c->skipped);
		if (strstr(c->line, needle) != NULL)
			return;
		n = strlen(c->skipped);
		if (n + strlen(c->line) + 2 >= sizeof(c->skipped))
			n = 0;
		memcpy(c->skipped + n, c->line, strlen(c->line));
		memcpy(c->skipped + n + strlen(c->line), "\n", 2);
	}
}

/* Sends cmd until a reply line holds needle before one holding `end`:
   what another instance did reaches this one a moment later. */
static void
cl_until(struct cl *c, const char *cmd, const char *needle, const char *end)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS * harness_slowdown();

	for (;;) {
		int hit = 0;

		cl_send(c, "%s", cmd);
		for (;;) {
			ck_assert(cl_next(c, WAIT_MS));
			hit |= strstr(c->line, needle) != NULL;
			if (strstr(c->line, end) != NULL)
				break;
		}
		if (hit)
			return;
		ck_assert_msg(harness_now_ms() < deadline, "%s: never \"%s\"",
		    cmd, needle);
		poll(NULL, 0, 20);
	}
}

/* Connects to instance i and registers as nick. */
static void
cl_open(struct cl *c, int i, const char *nick)
{
	memset(c, 0, sizeof(*c));
	c->fd = harness_connect(node_port[i], 0);
	ck_assert_int_ge(c->fd, 0);
	cl_send(c, "NICK %s", nick);
	cl_send(c, "USER %s 0 * :%s's real name", nick, nick);
	cl_wait(c, " 001 ");
}

static void
cl_close(struct cl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

START_TEST(test_cluster_one_network)
{
	struct cl a, b;

	node_start(0, "5s");
	node_start(1, "5s");
	cl_open(&a, 0, "alice");
	cl_open(&b, 1, "bob");
	cl_send(&a, "JOIN #c");
	cl_wait(&a, " 366 ");
	cl_until(&b, "NAMES #c", ":@alice", " 366 ");
	cl_send(&b, "JOIN #c");
	cl_wait(&b, " 353 bob = #c :@alice bob");
	cl_wait(&a, ":bob!bob@127.0.0.1 JOIN #c");
	cl_send(&a, "PRIVMSG #c :hello from A");
	cl_wait(&b, ":alice!alice@127.0.0.1 PRIVMSG #c :hello from A");
	cl_send(&b, "PRIVMSG #c :hello from B");
	cl_wait(&a, ":bob!bob@127.0.0.1 PRIVMSG #c :hello from B");
	cl_send(&b, "PRIVMSG alice :just you");
	cl_wait(&a, ":bob!bob@127.0.0.1 PRIVMSG alice :just you");
	cl_send(&b, "WHOIS alice");
	cl_wait(&b, " 311 bob alice alice 127.0.0.1 * :alice's real name");
	cl_wait(&b, " 319 bob alice :@#c");
	cl_wait(&b, " 312 bob alice n0 :another instance of the network");
	cl_send(&a, "LUSERS");
	cl_wait(&a, " 266 alice 2 ");
	cl_send(&b, "AWAY :gone fishing");
	cl_wait(&b, " 306 ");
	cl_until(&a, "WHOIS bob", " 301 alice bob :gone fishing", " 318 ");
	cl_send(&a, "PRIVMSG bob :are you there");
	cl_wait(&a, " 301 alice bob :gone fishing");
	cl_send(&b, "AWAY");
	cl_wait(&b, " 305 ");
	cl_until(&a, "WHO bob", " 352 alice * bob 127.0.0.1 evsockd bob H ",
	    " 315 ");
	cl_send(&a, "NICK alice2");
	cl_wait(&b, ":alice!alice@127.0.0.1 NICK :alice2");
	cl_send(&b, "NAMES #c");
	cl_wait(&b, " 353 bob = #c :@alice2 bob");
	cl_send(&a, "TOPIC #c :one topic");
	cl_wait(&b, "TOPIC #c :one topic");
	cl_send(&b, "TOPIC #c");
	cl_wait(&b, " 332 bob #c :one topic");
	cl_send(&a, "MODE #c +o bob");
	cl_wait(&b, "MODE #c +o bob");
	cl_send(&b, "KICK #c alice2 :bye");
	cl_wait(&a, ":bob!bob@127.0.0.1 KICK #c alice2 :bye");
	cl_send(&a, "JOIN #c");
	cl_wait(&b, ":alice2!alice@127.0.0.1 JOIN #c");
	cl_close(&a);
	cl_wait(&b, ":alice2!alice@127.0.0.1 QUIT :");
	cl_until(&b, "WHOIS alice2", " 401 ", " 318 ");
	/* The nick is free again everywhere. */
	cl_open(&a, 1, "alice2");
	cl_close(&a);
	cl_close(&b);
}
END_TEST

/* The queries see the other instances' users through the same tables:
   MONITOR as they come and go, ISON and WHO masks while they are here,
   WHOWAS once they have left. */
START_TEST(test_cluster_queries_remote)
{
	struct cl a, b;

	node_start(0, "5s");
	node_start(1, "5s");
	cl_open(&b, 1, "bob");
	cl_send(&b, "MONITOR + carol");
	cl_wait(&b, " 731 bob :carol");
	cl_open(&a, 0, "carol");
	cl_wait(&b, " 730 bob :carol!carol@127.0.0.1");
	cl_until(&b, "ISON carol dave", " 303 bob :carol", " 303 ");
	cl_until(&b, "WHO car*", " 352 bob * carol 127.0.0.1 evsockd carol H ",
	    " 315 ");
	cl_close(&a);
	cl_wait(&b, " 731 bob :carol");
	cl_until(&b, "WHOWAS carol",
	    " 314 bob carol carol 127.0.0.1 * :", " 369 ");
	cl_close(&b);
}
END_TEST

START_TEST(test_cluster_nick_taken_elsewhere)
{
	struct cl a, b;

	node_start(0, "5s");
	node_start(1, "5s");
	cl_open(&a, 0, "dup");
	memset(&b, 0, sizeof(b));
	b.fd = harness_connect(node_port[1], 0);
	cl_send(&b, "NICK DUP");
	cl_send(&b, "USER dup 0 * :x");
	cl_wait(&b, " 433 * DUP :");
	cl_send(&b, "NICK other");
	cl_wait(&b, " 001 other ");
	cl_send(&b, "NICK dup");
	cl_wait(&b, " 433 other dup :");
	cl_close(&a);
	cl_close(&b);
}
END_TEST

/* Two instances claim one nick in the same moment: exactly one wins. */
START_TEST(test_cluster_nick_race)
{
	node_start(0, "5s");
	node_start(1, "5s");
	for (int round = 0; round < 20; round++) {
		struct cl c[2];
		char nick[32], reg[256];
		int won = 0;

		snprintf(nick, sizeof(nick), "race%d", round);
		snprintf(reg, sizeof(reg), "NICK %s\r\nUSER r 0 * :r\r\n",
		    nick);
		for (int i = 0; i < 2; i++) {
			memset(&c[i], 0, sizeof(c[i]));
			c[i].fd = harness_connect(node_port[i], 0);
			ck_assert_int_ge(c[i].fd, 0);
		}
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(harness_write_all(c[i].fd, reg,
			                     strlen(reg)),
			    0);
		for (int i = 0; i < 2; i++) {
			for (;;) {
				ck_assert(cl_next(&c[i], WAIT_MS));
				if (strstr(c[i].line, " 001 ") != NULL) {
					won++;
					break;
				}
				if (strstr(c[i].line, " 433 ") != NULL)
					break;
			}
		}
		ck_assert_int_eq(won, 1);
		cl_close(&c[0]);
		cl_close(&c[1]);
	}
}
END_TEST

/* Two instances create one channel in the same moment: one operator,
   the same on both. */
START_TEST(test_cluster_first_member_op)
{
	node_start(0, "5s");
	node_start(1, "5s");
	for (int round = 0; round < 10; round++) {
		struct cl c[2];
		char nick[2][16], join[32], names[32], ops[2][64];

		snprintf(join, sizeof(join), "JOIN #op%d", round);
		snprintf(names, sizeof(names), "NAMES #op%d", round);
		for (int i = 0; i < 2; i++) {
			snprintf(nick[i], sizeof(nick[i]), "op%d_%d", round, i);
			cl_open(&c[i], i, nick[i]);
		}
		for (int i = 0; i < 2; i++)
			cl_send(&c[i], "%s", join);
		for (int i = 0; i < 2; i++) {
			uint64_t deadline = harness_now_ms() + WAIT_MS;

			cl_until(&c[i], names, nick[1 - i], " 366 ");
			/* A correction by MODE may be on its way. */
			for (;;) {
				const char *list, *p;
				int at = 0;

				cl_send(&c[i], "%s", names);
				cl_wait(&c[i], " 353 ");
				list = strchr(c[i].line + 1, ':');
				ck_assert_ptr_nonnull(list);
				for (p = strchr(list, '@'); p != NULL;
				     p = strchr(p + 1, '@'))
					at++;
				if ((p = strchr(list, '@')) != NULL)
					snprintf(ops[i], sizeof(ops[i]), "%.*s",
					    (int)strcspn(p, " "), p);
				cl_wait(&c[i], " 366 ");
				if (at == 1)
					break;
				ck_assert_msg(harness_now_ms() < deadline,
				    "%d operators", at);
				poll(NULL, 0, 20);
			}
		}
		ck_assert_str_eq(ops[0], ops[1]);
		cl_close(&c[0]);
		cl_close(&c[1]);
	}
}
END_TEST

/* kill -9 of an instance: the others see its users quit in a netsplit
   within the timeout, and their nicks are free. */
START_TEST(test_cluster_node_dies)
{
	struct cl a, b, c;
	uint64_t t0;

	node_start(0, "1s");
	node_start(1, "1s");
	node_start(2, "1s");
	cl_open(&a, 0, "victim");
	cl_open(&b, 1, "witness");
	cl_open(&c, 2, "third");
	cl_send(&a, "JOIN #s");
	cl_wait(&a, " 366 ");
	cl_send(&b, "JOIN #s");
	cl_wait(&b, " 366 ");
	cl_send(&c, "JOIN #s");
	cl_wait(&c, " 366 ");
	cl_wait(&b, "third!third@127.0.0.1 JOIN #s");
	t0 = harness_now_ms();
	kill(nodes[0].pid, SIGKILL);
	harness_proc_stop(&nodes[0], 0, 5000);
	cl_wait(&b, ":victim!victim@127.0.0.1 QUIT :n1 n0");
	cl_wait(&c, ":victim!victim@127.0.0.1 QUIT :n2 n0");
	/* Within the timeout and a heartbeat, with room for a slow box. */
	ck_assert_uint_lt(harness_now_ms() - t0, 4000 * harness_slowdown());
	cl_send(&c, "NICK victim");
	cl_wait(&c, ":third!third@127.0.0.1 NICK :victim");
	cl_send(&b, "NAMES #s");
	cl_wait(&b, " 353 witness = #s :");
	ck_assert_msg(strstr(b.line, "@victim") == NULL, "%s", b.line);
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
}
END_TEST

/* Redis restarts: local chat goes on with a notice, the instances
   reconnect and announce their users again; a nick taken on both
   sides meanwhile stays with the earlier one. */
START_TEST(test_cluster_redis_restarts)
{
	struct cl a, b, a2, b2;

	node_start(0, "5s");
	node_start(1, "5s");
	cl_open(&a, 0, "ann");
	cl_open(&b, 1, "ben");
	cl_send(&a, "JOIN #r");
	cl_wait(&a, " 366 ");
	cl_until(&b, "NAMES #r", "@ann", " 366 ");
	cl_send(&b, "JOIN #r");
	cl_wait(&a, ":ben!ben@127.0.0.1 JOIN #r");
	redis_stop(SIGKILL);
	cl_wait(&a, ":ben!ben@127.0.0.1 QUIT :n0 n1");
	cl_wait(&a, "NOTICE ann :*** Network split");
	cl_wait(&b, "NOTICE ben :*** Network split");
	/* Split: the same nick on both sides, A's first. */
	cl_open(&a2, 0, "same");
	poll(NULL, 0, 20);
	cl_open(&b2, 1, "same");
	cl_send(&a2, "JOIN #r");
	cl_wait(&a, ":same!same@127.0.0.1 JOIN #r");
	redis_start();
	cl_wait(&a, "NOTICE ann :*** Network rejoined");
	cl_wait(&b, "NOTICE ben :*** Network rejoined");
	cl_wait(&b2, ":same!same@127.0.0.1 NICK :same-");
	/* Its JOIN may come before or after the notice. */
	cl_until(&a, "NAMES #r", " ben", " 366 ");
	cl_send(&b, "PRIVMSG #r :back");
	cl_wait(&a, ":ben!ben@127.0.0.1 PRIVMSG #r :back");
	cl_until(&b, "WHOIS same", " 311 ben same same 127.0.0.1", " 318 ");
	cl_send(&b, "PRIVMSG same :to the winner");
	cl_wait(&a2, "PRIVMSG same :to the winner");
	cl_close(&a);
	cl_close(&b);
	cl_close(&a2);
	cl_close(&b2);
}
END_TEST

/* Every member, on every instance, sees one channel's messages in the
   same order, and each sender's in the order sent. */
START_TEST(test_cluster_one_order)
{
	enum { N = 100 };
	struct cl s[2], w[2];
	static char seen[2][2 * N][64];

	node_start(0, "5s");
	node_start(1, "5s");
	cl_open(&s[0], 0, "s0");
	cl_open(&s[1], 1, "s1");
	cl_open(&w[0], 0, "w0");
	cl_open(&w[1], 1, "w1");
	for (int i = 0; i < 2; i++) {
		cl_send(&w[i], "JOIN #o");
		cl_wait(&w[i], " 366 ");
		cl_send(&s[i], "JOIN #o");
		cl_wait(&s[i], " 366 ");
	}
	cl_wait(&w[0], "s1!s1@127.0.0.1 JOIN #o");
	cl_wait(&w[1], "s1!s1@127.0.0.1 JOIN #o");
	for (int k = 0; k < N; k++) {
		cl_send(&s[0], "PRIVMSG #o :s0-%d", k);
		cl_send(&s[1], "PRIVMSG #o :s1-%d", k);
	}
	for (int i = 0; i < 2; i++) {
		int got = 0, last[2] = { -1, -1 };

		while (got < 2 * N) {
			const char *p;
			int who, k;

			ck_assert(cl_next(&w[i], WAIT_MS));
			if ((p = strstr(w[i].line, "PRIVMSG #o :s")) == NULL)
				continue;
			ck_assert_int_eq(sscanf(p, "PRIVMSG #o :s%d-%d", &who,
			                     &k),
			    2);
			ck_assert_int_eq(k, last[who] + 1);
			last[who] = k;
			snprintf(seen[i][got++], sizeof(seen[i][0]), "%s", p);
		}
	}
	for (int k = 0; k < 2 * N; k++)
		ck_assert_str_eq(seen[0][k], seen[1][k]);
	for (int i = 0; i < 2; i++) {
		cl_close(&s[i]);
		cl_close(&w[i]);
	}
}
END_TEST

/* Runs redis-cli against the test's server; returns its output. */
static char *
redis_cli(const char *const *args)
{
	static char out[65536];
	const char *argv[32] = { "redis-cli", "-p", NULL };
	char port[16], err[256];
	size_t n = 3, len;

	snprintf(port, sizeof(port), "%d", redis_port);
	argv[2] = port;
	for (size_t i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(harness_run(argv, NULL, 0, out, sizeof(out) - 1, &len,
	                     err, sizeof(err), WAIT_MS),
	    0);
	out[len] = '\0';
	return out;
}

/* The channel's history stream holds the last lines, in the order
   members saw them, written by every instance. */
START_TEST(test_cluster_history_stream)
{
	const char *xlen[] = { "XLEN", "evs:hist:#h", NULL };
	const char *xrange[] = { "XRANGE", "evs:hist:#h", "-", "+", NULL };
	struct cl s[2], w;
	char seen[8][128], *out, *p;

	node_start(0, "5s");
	node_start(1, "5s");
	cl_open(&s[0], 0, "h0");
	cl_open(&s[1], 1, "h1");
	cl_open(&w, 0, "hw");
	for (int i = 0; i < 2; i++) {
		cl_send(&s[i], "JOIN #h");
		cl_wait(&s[i], " 366 ");
	}
	cl_send(&w, "JOIN #h");
	cl_wait(&w, " 366 ");
	for (int k = 0; k < 8; k++)
		cl_send(&s[k % 2], "PRIVMSG #h :m%d", k);
	for (int k = 0; k < 8; k++) {
		cl_wait(&w, "PRIVMSG #h :m");
		snprintf(seen[k], sizeof(seen[k]), "%.100s", w.line);
	}
	out = redis_cli(xlen);
	ck_assert_int_eq(atoi(out), 5);
	out = redis_cli(xrange);
	p = out;
	for (int k = 3; k < 8; k++) {
		ck_assert_msg((p = strstr(p, seen[k])) != NULL, "%s not in %s",
		    seen[k], out);
		p += strlen(seen[k]);
	}
	for (int i = 0; i < 2; i++)
		cl_close(&s[i]);
	cl_close(&w);
}
END_TEST

struct hist_got {
	char lines[8][128];
	char first_id[64];
	size_t n;
	int done;
};

static struct hist_got hist_got;

static void
hist_cb(struct chat_user *u, const struct chat_link_entry *e, size_t n)
{
	(void)u;
	hist_got.n = n;
	for (size_t i = 0; i < n && i < 8; i++)
		snprintf(hist_got.lines[i], sizeof(hist_got.lines[i]), "%.*s",
		    (int)e[i].len, e[i].line);
	if (n > 0)
		snprintf(hist_got.first_id, sizeof(hist_got.first_id), "%s",
		    e[0].id);
	hist_got.done = 1;
}

static int
hist_done(void *arg)
{
	(void)arg;
	return hist_got.done;
}

/* Asks chat's link for history until the link is up and answers. */
static void
hist_query(struct event_base *base, struct evs_chat *chat, const char *before,
    size_t limit)
{
	static struct chat_user asker;
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	char id[64];

	if (before != NULL)
		before = (snprintf(id, sizeof(id), "%s", before), id);
	memset(&hist_got, 0, sizeof(hist_got));
	while (chat->link->ops->history(chat->link, &asker, "#H", before, limit,
	           hist_cb) == -1) {
		ck_assert(harness_now_ms() < deadline);
		harness_loop_until(base, hist_done, NULL, 20);
	}
	ck_assert(harness_loop_until(base, hist_done, NULL, WAIT_MS));
}

/* The history the cluster keeps, read through the link as the
   chathistory command would: oldest first, pages by entry id. */
START_TEST(test_cluster_history_query)
{
	struct event_base *base = event_base_new();
	struct evs_server *srv = evs_server_new(base);
	struct evs_chat *chat = evs_chat_new(srv);
	const char *add[] = { "XADD", "evs:hist:#h", "*", "line", NULL, NULL };
	char line[32], err[128];

	ck_assert_ptr_nonnull(chat);
	for (int k = 0; k < 4; k++) {
		snprintf(line, sizeof(line), ":x PRIVMSG #h :q%d", k);
		add[4] = line;
		redis_cli(add);
	}
	ck_assert_int_eq(evs_chat_set(chat, EVS_CHAT_HISTORY_LINES, 5), 0);
	ck_assert_int_eq(evs_chat_set_cluster(chat, redis_url, "lib", 2000, err,
	                     sizeof(err)),
	    0);
	hist_query(base, chat, NULL, 3);
	ck_assert_uint_eq(hist_got.n, 3);
	ck_assert_str_eq(hist_got.lines[0], ":x PRIVMSG #h :q1");
	ck_assert_str_eq(hist_got.lines[2], ":x PRIVMSG #h :q3");
	hist_query(base, chat, hist_got.first_id, 10);
	ck_assert_uint_eq(hist_got.n, 1);
	ck_assert_str_eq(hist_got.lines[0], ":x PRIVMSG #h :q0");
	evs_chat_free(chat);
	evs_server_free(srv);
	event_base_free(base);
}
END_TEST

/* Connects to instance i and registers as nick with IRCv3 caps. */
static void
cl_open_caps(struct cl *c, int i, const char *nick, const char *caps)
{
	memset(c, 0, sizeof(*c));
	c->fd = harness_connect(node_port[i], 0);
	ck_assert_int_ge(c->fd, 0);
	cl_send(c, "CAP REQ :%s", caps);
	cl_send(c, "NICK %s", nick);
	cl_send(c, "USER %s 0 * :%s's real name", nick, nick);
	cl_send(c, "CAP END");
	cl_wait(c, " 001 ");
}

/* Copies the value of tag key in c's line into val. */
static void
cl_tag(struct cl *c, const char *key, char *val, size_t size)
{
	char want[64];
	const char *p;

	snprintf(want, sizeof(want), "%s=", key);
	ck_assert_msg(c->line[0] == '@' && (p = strstr(c->line, want)) != NULL,
	    "no %s in %s", key, c->line);
	p += strlen(want);
	snprintf(val, size, "%.*s", (int)strcspn(p, "; "), p);
}

/* A channel message carries its origin's time and msgid to every
   instance, each member gets the form its capabilities ask for, and
   CHATHISTORY on an instance that was not there reads the network's
   history with the same ids, labeled. */
START_TEST(test_cluster_ircv3_tags)
{
	struct cl a, b, c, d;
	char id[64], t[64], v[64];

	node_start(0, "5s");
	node_start(1, "5s");
	cl_open_caps(&a, 0, "alice", "message-tags echo-message");
	cl_open_caps(&b, 1, "bob", "message-tags");
	cl_open(&c, 0, "carol");
	cl_send(&a, "JOIN #t");
	cl_wait(&a, " 366 ");
	cl_until(&b, "NAMES #t", ":@alice", " 366 ");
	cl_send(&b, "JOIN #t");
	cl_wait(&b, " 366 ");
	cl_send(&c, "JOIN #t");
	cl_wait(&c, " 366 ");
	cl_wait(&b, ":carol!carol@127.0.0.1 JOIN #t");
	cl_send(&a, "@+example=1 PRIVMSG #t :tagged hi");
	cl_wait(&a, " PRIVMSG #t :tagged hi");
	cl_tag(&a, "msgid", id, sizeof(id));
	cl_tag(&a, "time", t, sizeof(t));
	cl_tag(&a, "+example", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	cl_wait(&b, " PRIVMSG #t :tagged hi");
	cl_tag(&b, "msgid", v, sizeof(v));
	ck_assert_str_eq(v, id);
	cl_tag(&b, "time", v, sizeof(v));
	ck_assert_str_eq(v, t);
	cl_tag(&b, "+example", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	/* Without capabilities: the plain line, from the same relay. */
	cl_wait(&c, " PRIVMSG #t :tagged hi");
	ck_assert_str_eq(c.line,
	    ":alice!alice@127.0.0.1 PRIVMSG #t :tagged hi");
	/* An instance that joined later reads it from the cluster. */
	node_start(2, "5s");
	cl_open_caps(&d, 2, "dave",
	    "message-tags batch labeled-response "
	    "draft/chathistory");
	cl_send(&d, "JOIN #t");
	cl_wait(&d, " 366 ");
	cl_send(&d, "@label=L1 CHATHISTORY LATEST #t * 10");
	cl_wait(&d, "BATCH +");
	ck_assert_msg(strstr(d.line, "label=L1") != NULL &&
	        strstr(d.line, "labeled-response") != NULL,
	    "%s", d.line);
	cl_wait(&d, " PRIVMSG #t :tagged hi");
	cl_tag(&d, "msgid", v, sizeof(v));
	ck_assert_str_eq(v, id);
	cl_tag(&d, "time", v, sizeof(v));
	ck_assert_str_eq(v, t);
	cl_tag(&d, "+example", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	/* Input waited for the answer, then goes on. */
	cl_send(&d, "PING :after");
	cl_wait(&d, "PONG");
	ck_assert_msg(strstr(d.line, "after") != NULL, "%s", d.line);
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
	cl_close(&d);
}
END_TEST

static struct chat_redis *up_link;

static int
link_up(void *arg)
{
	(void)arg;
	return up_link->state == CR_UP;
}

/* A Redis that stops answering: what waits for it stays under the
   bound, the instance declares itself split, and it joins again once
   Redis answers. */
START_TEST(test_cluster_slow_redis)
{
	struct event_base *base = event_base_new();
	struct evs_server *srv = evs_server_new(base);
	struct evs_chat *chat = evs_chat_new(srv);
	static struct chat_user from = { .nick = "slow" };
	char line[1000], err[128];
	int k;

	ck_assert_int_eq(evs_chat_set_cluster(chat, redis_url, "slow", 1000,
	                     err, sizeof(err)),
	    0);
	up_link = (struct chat_redis *)(void *)chat->link;
	ck_assert(harness_loop_until(base, link_up, NULL, WAIT_MS));
	up_link->queue_max = 64 * 1024;
	kill(redis_pid, SIGSTOP);
	memset(line, 'x', sizeof(line));
	for (k = 0; k < 200 && up_link->state == CR_UP; k++) {
		chat->link->ops->peers_line(chat->link, &from, line,
		    sizeof(line));
		ck_assert_uint_le(up_link->queued,
		    64 * 1024 + 2 * sizeof(line));
	}
	ck_assert_int_eq(up_link->state, CR_DOWN);
	ck_assert_int_gt(k, 50);
	kill(redis_pid, SIGCONT);
	ck_assert(harness_loop_until(base, link_up, NULL, WAIT_MS));
	evs_chat_free(chat);
	evs_server_free(srv);
	event_base_free(base);
}
END_TEST

/* One instance on Redis's Unix socket, one on TCP: one network. */
START_TEST(test_cluster_unix_socket)
{
	char url[sizeof(redis_dir) + 32];
	struct cl a, b;

	snprintf(url, sizeof(url), "unix:%s/redis.sock", redis_dir);
	node_start_url(0, "5s", url);
	node_start(1, "5s");
	cl_open(&a, 0, "unixa");
	cl_open(&b, 1, "tcpb");
	cl_until(&b, "WHOIS unixa", " 311 tcpb unixa ", " 318 ");
	cl_send(&b, "PRIVMSG unixa :over two transports");
	cl_wait(&a, ":tcpb!tcpb@127.0.0.1 PRIVMSG unixa :over two");
	cl_close(&a);
	cl_close(&b);
}
END_TEST

/* Two networks on one Redis, databases 0 and 1, stay apart. */
START_TEST(test_cluster_databases_apart)
{
	char db1[sizeof(redis_url) + 4];
	struct cl a, b, c;

	snprintf(db1, sizeof(db1), "%s/1", redis_url);
	node_start_url(0, "5s", db1);
	node_start_url(1, "5s", db1);
	node_start(2, "5s");
	cl_open(&a, 0, "one");
	cl_open(&b, 1, "two");
	cl_until(&b, "WHOIS one", " 311 two one ", " 318 ");
	/* The same nick is free in the other network. */
	cl_open(&c, 2, "one");
	cl_send(&c, "WHOIS two");
	cl_wait(&c, " 401 one two ");
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
}
END_TEST

/* Bad cluster settings are refused with a reason; nothing connects. */
START_TEST(test_cluster_bad_settings)
{
	struct event_base *base = event_base_new();
	struct evs_server *srv = evs_server_new(base);
	struct evs_chat *chat = evs_chat_new(srv);
	static const char *const urls[] = { "http://127.0.0.1:6379", "redis://",
		"redis://127.0.0.1:0", "redis://127.0.0.1:70000",
		"redis://127.0.0.1:6379/x", "redis://[::1", "unix:" };
	char err[256];

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(evs_chat_set_cluster(chat, urls[i], "n", 1000,
		                     err, sizeof(err)),
		    -1);
		ck_assert_msg(strstr(err, "expected") != NULL, "%s: %s",
		    urls[i], err);
	}
	ck_assert_int_eq(evs_chat_set_cluster(chat, redis_url, "bad name", 1000,
	                     err, sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "node name"));
	ck_assert_int_eq(evs_chat_set_cluster(chat, redis_url, "n", 10, err,
	                     sizeof(err)),
	    -1);
	ck_assert_ptr_null(chat->link);
	evs_chat_free(chat);
	evs_server_free(srv);
	event_base_free(base);
}
END_TEST

/* Two processes share one chat port with --reuseport. */
START_TEST(test_cluster_reuseport)
{
	char spec[64];
	int port;
	const char *first[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--reuseport", NULL };
	const char *second[] = { "evsockd", "--listen", spec, "--reuseport",
		NULL };

	ck_assert_msg(harness_evsockd(&nodes[0], first, 1, &port) == 0, "%s",
	    nodes[0].log);
	snprintf(spec, sizeof(spec), "chat=127.0.0.1:%d", port);
	ck_assert_msg(harness_evsockd(&nodes[1], second, 1, &node_port[1]) == 0,
	    "%s", nodes[1].log);
	ck_assert_int_eq(node_port[1], port);
}
END_TEST

/* evsock load over both instances tells apart the deliveries whose
   sender is on the other instance, and merge adds them up. */
START_TEST(test_cluster_load_cross)
{
	static char out[262144], err[8192], again[262144];
	char targets[64], path[] = "/tmp/evsock-cross-XXXXXX";
	const char *load[] = { harness_prog("EVSOCK"), "load", "-m", "irc",
		"-c", "8", "--senders", "4", "-r", "200", "-d", "1", "--warmup",
		"0", "--threads", "2", "--no-progress", "--json", targets,
		NULL };
	const char *merge[] = { harness_prog("EVSOCK"), "load", "merge",
		"--json", path, path, NULL };
	double delivered, cross;
	FILE *fp;
	size_t outlen, len;
	int st, fd;

	node_start(0, "5s");
	node_start(1, "5s");
	snprintf(targets, sizeof(targets), "127.0.0.1:%d,127.0.0.1:%d",
	    node_port[0], node_port[1]);
	st = harness_run(load, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	    sizeof(err), 60000 * harness_slowdown());
	out[st == -1 ? 0 : outlen] = '\0';
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d: %s %s", st, out, err);
	delivered = harness_json_num(out, NULL, "delivered");
	cross = harness_json_num(out, NULL, "delivered_cross");
	/* Senders 0-3 alternate over the two targets: of each message's
	   7 receivers, 4 are on the other instance. */
	ck_assert_msg(cross > 0 && cross < delivered, "delivered %g, cross %g",
	    delivered, cross);
	ck_assert_msg(cross * 7 == delivered * 4, "delivered %g, cross %g",
	    delivered, cross);
	ck_assert(harness_json_num(out, "latency_cross_us", "count") > 0);
	ck_assert(harness_json_num(out, "latency_cross_us", "count") <
	    harness_json_num(out, "latency_us", "count"));
	ck_assert(harness_json_num(out, "latency_cross_us", "p50") > 0);
	ck_assert(harness_json_num(out, "latency_cross_us", "p99") > 0);

	/* The same run twice, merged: twice the cross-target figures. */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert(fp = fdopen(fd, "w"));
	ck_assert_uint_eq(fwrite(out, 1, outlen, fp), outlen);
	ck_assert_int_eq(fclose(fp), 0);
	st = harness_run(merge, NULL, 0, again, sizeof(again) - 1, &len, err,
	    sizeof(err), 10000);
	unlink(path);
	again[st == -1 ? 0 : len] = '\0';
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "merge status %d: %s %s", st, again, err);
	ck_assert(
	    harness_json_num(again, NULL, "delivered_cross") == 2 * cross);
	ck_assert(harness_json_num(again, "latency_cross_us", "count") ==
	    2 * harness_json_num(out, "latency_cross_us", "count"));
}
END_TEST

static Suite *
cluster_suite(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("network");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cluster_one_network);
	tcase_add_test(tc, test_cluster_queries_remote);
	tcase_add_test(tc, test_cluster_nick_taken_elsewhere);
	tcase_add_test(tc, test_cluster_nick_race);
	tcase_add_test(tc, test_cluster_first_member_op);
	tcase_add_test(tc, test_cluster_node_dies);
	tcase_add_test(tc, test_cluster_redis_restarts);
	tcase_add_test(tc, test_cluster_one_order);
	tcase_add_test(tc, test_cluster_history_stream);
	tcase_add_test(tc, test_cluster_history_query);
	tcase_add_test(tc, test_cluster_ircv3_tags);
	tcase_add_test(tc, test_cluster_slow_redis);
	tcase_add_test(tc, test_cluster_unix_socket);
	tcase_add_test(tc, test_cluster_bad_settings);
	tcase_add_test(tc, test_cluster_databases_apart);
	tcase_add_test(tc, test_cluster_load_cross);
	suite_add_tcase(s, tc);
	tc = tcase_create("reuseport");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_cluster_reuseport);
	suite_add_tcase(s, tc);
	return s;
}

static int
have_redis(void)
{
	const char *argv[] = { "redis-server", "--version", NULL };
	char out[256], err[256];
	size_t outlen;

	return harness_run(argv, NULL, 0, out, sizeof(out), &outlen, err,
	           sizeof(err), 5000) == 0;
}

int
main(void)
{
	const char *ci = getenv("CI");
	char sock[sizeof(redis_dir) + 16];
	SRunner *sr;
	int failed;

	if (!have_redis()) {
		if (ci != NULL && strcmp(ci, "true") == 0) {
			fprintf(stderr, "redis-server is missing (CI=true)\n");
			return 1;
		}
		fprintf(stderr, "redis-server is missing: skipped\n");
		return 77;
	}
	if (mkdtemp(redis_dir) == NULL)
		return 1;
	sr = srunner_create(cluster_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* A Redis killed with SIGKILL leaves its socket behind. */
	snprintf(sock, sizeof(sock), "%s/redis.sock", redis_dir);
	unlink(sock);
	rmdir(redis_dir);
	return failed == 0 ? 0 : 1;
}
