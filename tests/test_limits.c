/* System: evsockd's limits, backpressure, timeouts, descriptor
   exhaustion and graceful shutdown, driven over loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

static struct harness_proc proc;

static int
start(const char *const *argv)
{
	int port = 0;

	ck_assert_msg(harness_evsockd(&proc, argv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
	return port;
}

static void
stop(void)
{
	if (proc.pid > 0)
		harness_proc_stop(&proc, SIGKILL, 5000);
	harness_child_nofile = 0;
}

static int
count_in(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Waits up to ms for fd to become readable; returns 1 if it did. */
static int
wait_readable(int fd, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	return poll(&pfd, 1, ms) == 1;
}

START_TEST(test_limits_out_of_descriptors)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", "--max-clients", "1000", NULL };
	enum { N = 60 };
	int fds[N], port;
	long cpu0, cpu1;
	char c;

	harness_child_nofile = 48;
	port = start(argv);
	for (int i = 0; i < N; i++) {
		fds[i] = harness_connect(port, 0);
		ck_assert_int_ge(fds[i], 0);
	}
	ck_assert_msg(harness_proc_wait_log(&proc, "pausing accept", 10000),
	    "log: %s", proc.log);
	/* Saturated: over one second the server must not spin. */
	cpu0 = harness_cpu_ms(proc.pid);
	poll(NULL, 0, 1000);
	cpu1 = harness_cpu_ms(proc.pid);
	ck_assert_int_ge(cpu0, 0);
	ck_assert_msg(cpu1 - cpu0 < 300,
	    "used %ld ms CPU in 1 s while out "
	    "of descriptors",
	    cpu1 - cpu0);
	harness_proc_drain(&proc);
	ck_assert_int_eq(count_in(proc.log, "pausing accept"), 1);
	/* An accepted client is served meanwhile. */
	ck_assert_int_eq(harness_write_all(fds[0], "a", 1), 0);
	ck_assert_uint_eq(harness_read_full(fds[0], &c, 1), 1);
	/* Free descriptors: the last (still queued) client gets served. */
	for (int i = 0; i < 50; i++)
		close(fds[i]);
	ck_assert_int_eq(harness_write_all(fds[N - 1], "z", 1), 0);
	ck_assert_msg(wait_readable(fds[N - 1], 10000), "not accepted again");
	ck_assert_uint_eq(harness_read_full(fds[N - 1], &c, 1), 1);
	ck_assert_int_eq(c, 'z');
	ck_assert(
	    harness_proc_wait_log(&proc, "accepting connections again", 5000));
	for (int i = 50; i < N; i++)
		close(fds[i]);
}
END_TEST

START_TEST(test_limits_backpressure_bounds_memory)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", "--sendq", "256k", NULL };
	size_t limit = 64u << 20, written = 0, got = 0, chunk = 65536;
	unsigned char *buf = malloc(chunk), *exp = malloc(chunk);
	unsigned char *stream;
	size_t rss0, rss1;
	int port, fd, other;

	port = start(argv);
	rss0 = harness_rss_kib(proc.pid);
	/* One deterministic stream, so the echo can be checked later. */
	stream = malloc(limit);
	harness_random(stream, limit, 99);
	fd = harness_connect(port, 0);
	ck_assert_int_ge(fd, 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	/* Write without reading until the socket stays full 500 ms. */
	while (written < limit) {
		ssize_t n = send(fd, stream + written, chunk, MSG_NOSIGNAL);
		if (n > 0) {
			written += (size_t)n;
			continue;
		}
		ck_assert(n < 0 && errno == EAGAIN);
		{
			struct pollfd pfd = { fd, POLLOUT, 0 };
			if (poll(&pfd, 1, 500) == 0)
				break;
		}
	}
	rss1 = harness_rss_kib(proc.pid);
	ck_assert_msg(written < limit, "server kept reading: %zu bytes taken",
	    written);
	ck_assert_msg(rss1 < rss0 + 8192,
	    "RSS grew %zu KiB -> %zu KiB "
	    "(%zu bytes written, never read)",
	    rss0, rss1, written);
	fprintf(stderr,
	    "non-reading client: %zu KiB written, server RSS "
	    "%zu -> %zu KiB\n",
	    written / 1024, rss0, rss1);
	/* Everyone else is still served. */
	other = harness_connect(port, 0);
	ck_assert_int_ge(other, 0);
	ck_assert_int_eq(harness_write_all(other, "ok", 2), 0);
	ck_assert_uint_eq(harness_read_full(other, buf, 2), 2);
	close(other);
	/* Nothing was lost: reading now drains every byte, in order. */
	fcntl(fd, F_SETFL, 0);
	while (got < written) {
		size_t want = written - got < chunk ? written - got : chunk;
		size_t n = harness_read_full(fd, buf, want);
		ck_assert_uint_eq(n, want);
		ck_assert(memcmp(buf, stream + got, n) == 0);
		got += n;
	}
	close(fd);
	free(stream);
	free(buf);
	free(exp);
}
END_TEST

START_TEST(test_limits_idle_timeout)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", "--idle-timeout", "300ms", NULL };
	int port = start(argv), idle, busy;
	char c;

	idle = harness_connect(port, 0);
	busy = harness_connect(port, 0);
	/* The busy client talks every 100 ms for 900 ms and is kept. */
	for (int i = 0; i < 9; i++) {
		ck_assert_int_eq(harness_write_all(busy, "b", 1), 0);
		ck_assert_uint_eq(harness_read_full(busy, &c, 1), 1);
		poll(NULL, 0, 100);
	}
	/* The silent one has been closed by now (EOF, not a reset). */
	ck_assert(wait_readable(idle, 5000));
	ck_assert_int_eq(recv(idle, &c, 1, 0), 0);
	ck_assert_int_eq(harness_write_all(busy, "b", 1), 0);
	ck_assert_uint_eq(harness_read_full(busy, &c, 1), 1);
	close(idle);
	close(busy);
}
END_TEST

/* Connects from source address src to 127.0.0.1:port. */
static int
connect_from(const char *src, int port)
{
	struct sockaddr_in sin;
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sin.sin_addr);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

START_TEST(test_limits_max_per_ip_and_max_clients)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", "--max-per-ip", "2", "--max-clients", "3",
		NULL };
	int port = start(argv), a, b, c, d, e;
	char line[256];
	ssize_t n;

	a = connect_from("127.0.0.1", port);
	b = connect_from("127.0.0.1", port);
	ck_assert_int_eq(harness_write_all(b, "x", 1), 0);
	ck_assert_uint_eq(harness_read_full(b, line, 1), 1);
	c = connect_from("127.0.0.1", port);
	n = harness_read_eof(c, line, sizeof(line) - 1);
	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	ck_assert_msg(strstr(line, "Too many connections from your host") !=
	        NULL,
	    "got '%s'", line);
	/* Another loopback address is another host. */
	d = connect_from("127.0.0.2", port);
	ck_assert_int_ge(d, 0);
	ck_assert_int_eq(harness_write_all(d, "y", 1), 0);
	ck_assert_uint_eq(harness_read_full(d, line, 1), 1);
	/* Three clients open: the fourth hears that the server is full. */
	e = connect_from("127.0.0.3", port);
	n = harness_read_eof(e, line, sizeof(line) - 1);
	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	ck_assert_msg(strstr(line, "Server full") != NULL, "got '%s'", line);
	close(a);
	close(b);
	close(c);
	close(d);
	close(e);
}
END_TEST

struct flight {
	int fd;
	size_t sent, got;
	int shut, eof;
};

START_TEST(test_limits_shutdown_loses_nothing)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "2", "--shutdown-timeout", "60s", NULL };
	enum { N = 40 };
	const size_t each = 400 * 1024;
	struct flight f[N];
	unsigned char *stream = malloc(each), buf[65536];
	size_t total = 0, done = 0;
	uint64_t deadline;
	int port = start(argv), signalled = 0, st;

	harness_random(stream, each, 5);
	for (int i = 0; i < N; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].fd = harness_connect(port, 0);
		ck_assert_int_ge(f[i].fd, 0);
		fcntl(f[i].fd, F_SETFL, O_NONBLOCK);
	}
	deadline = harness_now_ms() + 60000;
	while (done < N && harness_now_ms() < deadline) {
		struct pollfd pfd[N];
		for (int i = 0; i < N; i++) {
			pfd[i].fd = f[i].eof ? -1 : f[i].fd;
			pfd[i].events = POLLIN |
			    (f[i].sent < each ? POLLOUT : 0);
			pfd[i].revents = 0;
		}
		poll(pfd, N, 1000);
		for (int i = 0; i < N; i++) {
			ssize_t n;
			if ((pfd[i].revents & POLLOUT) && f[i].sent < each) {
				size_t k = each - f[i].sent;
				if (k > 16384)
					k = 16384;
				n = send(f[i].fd, stream + f[i].sent, k,
				    MSG_NOSIGNAL);
				if (n > 0) {
					f[i].sent += (size_t)n;
					total += (size_t)n;
				}
			}
			if (f[i].sent == each && !f[i].shut) {
				shutdown(f[i].fd, SHUT_WR);
				f[i].shut = 1;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP)) {
				n = recv(f[i].fd, buf, sizeof(buf), 0);
				if (n == 0) {
					f[i].eof = 1;
					done++;
				} else if (n > 0) {
					ck_assert_uint_le(f[i].got + (size_t)n,
					    each);
					ck_assert(memcmp(buf, stream + f[i].got,
					              (size_t)n) == 0);
					f[i].got += (size_t)n;
				} else {
					ck_assert_msg(errno == EAGAIN,
					    "client %d: %s", i,
					    strerror(errno));
				}
			}
		}
		/* Stop the server with a third of the data in flight. */
		if (!signalled && total > (size_t)N * each / 3) {
			kill(proc.pid, SIGTERM);
			signalled = 1;
		}
	}
	ck_assert(signalled);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(f[i].eof, "client %d never got EOF", i);
		if (f[i].got != each)
			harness_proc_stop(&proc, SIGKILL, 1000);
		ck_assert_msg(f[i].got == each, "client %d lost %zu bytes: %s",
		    i, each - f[i].got, proc.log);
		close(f[i].fd);
	}
	st = harness_proc_stop(&proc, 0, 20000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d: %s", st, proc.log);
	free(stream);
}
END_TEST

START_TEST(test_limits_resets_silent_and_half_closed)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", NULL };
	enum { SILENT = 200, RESET = 50, HALF = 50 };
	int port = start(argv), silent[SILENT], half[HALF], fd;
	unsigned char junk[32768];
	size_t rss0, rss1;
	char c;

	rss0 = harness_rss_kib(proc.pid);
	for (int i = 0; i < SILENT; i++)
		ck_assert_int_ge(silent[i] = harness_connect(port, 0), 0);
	/* Reset mid-message: data in flight, then RST (SO_LINGER 0). */
	harness_random(junk, sizeof(junk), 3);
	for (int i = 0; i < RESET; i++) {
		struct linger lg = { 1, 0 };
		fd = harness_connect(port, 0);
		ck_assert_int_ge(fd, 0);
		harness_write_all(fd, junk, sizeof(junk));
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	/* Half-closed clients that never read what comes back. */
	for (int i = 0; i < HALF; i++) {
		half[i] = harness_connect(port, 0);
		ck_assert_int_ge(half[i], 0);
		harness_write_all(half[i], junk, sizeof(junk));
		shutdown(half[i], SHUT_WR);
	}
	/* The server still answers a newcomer, and its memory stayed
	   bounded. */
	fd = harness_connect(port, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_write_all(fd, "k", 1), 0);
	ck_assert_uint_eq(harness_read_full(fd, &c, 1), 1);
	rss1 = harness_rss_kib(proc.pid);
	ck_assert_msg(rss1 < rss0 + 16384, "RSS %zu -> %zu KiB", rss0, rss1);
	close(fd);
	for (int i = 0; i < SILENT; i++)
		close(silent[i]);
	for (int i = 0; i < HALF; i++)
		close(half[i]);
	ck_assert_int_eq(kill(proc.pid, 0), 0);
}
END_TEST

static Suite *
limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc;

	tc = tcase_create("descriptors");
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limits_out_of_descriptors);
	suite_add_tcase(s, tc);
	tc = tcase_create("backpressure");
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_limits_backpressure_bounds_memory);
	suite_add_tcase(s, tc);
	tc = tcase_create("timeouts");
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limits_idle_timeout);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limits_max_per_ip_and_max_clients);
	suite_add_tcase(s, tc);
	tc = tcase_create("shutdown");
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_limits_shutdown_loses_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad_peers");
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limits_resets_silent_and_half_closed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(limits_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
