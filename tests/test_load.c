/* System: `evsock load` against evsockd and against a faulty server. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define RUN_MS 60000

static struct harness_proc proc;
static char out[65536];
static char err[16384];

static int run_load(const char *const *args);
static int json_has(const char *json, const char *key);
static void *faulty_server(void *arg);

/* Runs `evsock load ARGS...`; returns the exit status (-1: killed). */
static int
run_load(const char *const *args)
{
	const char *argv[32];
	size_t outlen, n = 0;
	int st;

	argv[n++] = harness_prog("EVSOCK");
	argv[n++] = "load";
	for (; *args != NULL && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	st = harness_run(argv, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	    sizeof(err), RUN_MS);
	out[outlen] = '\0';
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int
json_has(const char *json, const char *key)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	return strstr(json, pat) != NULL;
}

START_TEST(test_load_usage_errors)
{
	const char *none[] = { NULL };
	const char *badmode[] = { "--mode", "smtp", "127.0.0.1:1", NULL };
	const char *badcount[] = { "-c", "zero", "127.0.0.1:1", NULL };
	const char *two[] = { "127.0.0.1:1", "127.0.0.1:2", NULL };
	const char *help[] = { "--help", NULL };

	ck_assert_int_eq(run_load(none), 2);
	ck_assert_int_eq(run_load(badmode), 2);
	ck_assert_int_eq(run_load(badcount), 2);
	ck_assert_int_eq(run_load(two), 2);
	ck_assert_int_eq(run_load(help), 0);
	ck_assert_msg(strstr(out, "--percentiles") != NULL, "help: %s", out);
}
END_TEST

/* Every connection, message and byte the generator reports is one the
   server saw. */
START_TEST(test_load_echo_counts_match_server)
{
	const char *srv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", NULL };
	char target[64], served[80];
	const char *args[] = { "-c", "20", "-s", "100", "-d", "1", "--warmup",
		"0", "--no-progress", "--json", target, NULL };
	unsigned long long msgs, sent, got;
	int port, st;
	const char *p;

	ck_assert_msg(harness_evsockd(&proc, srv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	st = run_load(args);
	ck_assert_msg(st == 0, "status %d: %s %s", st, out, err);
	ck_assert_uint_eq(harness_json_num(out, "connections", "ok"), 20);
	ck_assert_uint_eq(harness_json_num(out, "connections", "failed"), 0);
	ck_assert_uint_eq(harness_json_num(out, NULL, "errors"), 0);
	msgs = harness_json_num(out, "totals", "msgs");
	sent = harness_json_num(out, "totals", "bytes_sent");
	got = harness_json_num(out, "totals", "bytes_received");
	ck_assert_uint_gt(msgs, 0);
	ck_assert_uint_eq(sent, msgs * 100);
	ck_assert_uint_eq(got, sent);
	ck_assert(json_has(out, "throughput_msgs_per_s"));
	ck_assert(json_has(out, "throughput_bytes_per_s"));
	ck_assert(json_has(out, "p999"));
	ck_assert(json_has(out, "max"));

	st = harness_proc_stop(&proc, SIGTERM, 10000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "evsockd: %s", proc.log);
	snprintf(served, sizeof(served),
	    "shutdown complete: 20 connections "
	    "served");
	ck_assert_msg(strstr(proc.log, served) != NULL, "log: %s", proc.log);
	/* Byte counters, where the server reports them. */
	if ((p = strstr(proc.log, " bytes in")) != NULL) {
		while (p > proc.log && p[-1] >= '0' && p[-1] <= '9')
			p--;
		ck_assert_uint_eq(strtoull(p, NULL, 10), sent);
	}
}
END_TEST

/* Open loop: the schedule, not the server's speed, sets how many
   messages go out. */
START_TEST(test_load_echo_open_loop_schedule)
{
	const char *srv[] = { "evsockd", "--listen", "echo=127.0.0.1:0", NULL };
	char target[64];
	const char *args[] = { "-c", "10", "-r", "500", "-d", "1", "--warmup",
		"0", "--threads", "2", "--no-progress", "--json", target,
		NULL };
	unsigned long long sent;
	int port, st;

	ck_assert_msg(harness_evsockd(&proc, srv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	st = run_load(args);
	harness_proc_stop(&proc, SIGTERM, 10000);
	ck_assert_msg(st == 0, "status %d: %s %s", st, out, err);
	sent = harness_json_num(out, "totals", "sent");
	ck_assert_msg(sent >= 498 && sent <= 502, "sent %llu", sent);
	ck_assert_uint_eq(harness_json_num(out, "totals", "msgs"), sent);
	ck_assert_uint_eq(harness_json_num(out, "latency_us", "count"), sent);
}
END_TEST

struct faulty {
	int lfd;
	int stop[2];
	int corrupt; /* flip a bit of each connection's 1000th byte */
	int corrupted;
	int accepted;
	uint32_t peers[64]; /* peer IPv4 addresses, host order */
};

/* An echo server in a thread, optionally faulty.  Runs until a byte
   arrives on stop[0]. */
static void *
faulty_server(void *arg)
{
	struct faulty *f = arg;
	struct pollfd pfd[66];
	unsigned long long seen[66];
	int n = 2;

	pfd[0] = (struct pollfd){ f->stop[0], POLLIN, 0 };
	pfd[1] = (struct pollfd){ f->lfd, POLLIN, 0 };
	for (int rounds = 0; rounds < 100000; rounds++) {
		if (poll(pfd, (nfds_t)n, 100) <= 0)
			continue;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents && n < 66) {
			struct sockaddr_in peer;
			socklen_t len = sizeof(peer);
			int fd = accept(f->lfd, (struct sockaddr *)&peer, &len);

			if (fd != -1) {
				if (f->accepted < 64)
					f->peers[f->accepted] = ntohl(
					    peer.sin_addr.s_addr);
				f->accepted++;
				seen[n] = 0;
				pfd[n++] = (struct pollfd){ fd, POLLIN, 0 };
			}
		}
		for (int i = 2; i < n; i++) {
			char buf[4096];
			ssize_t r;

			if (pfd[i].revents == 0)
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r <= 0) {
				close(pfd[i].fd);
				pfd[i--] = pfd[--n];
				continue;
			}
			if (f->corrupt && seen[i] < 1000 &&
			    seen[i] + (size_t)r >= 1000) {
				buf[999 - seen[i]] ^= 0x20;
				f->corrupted++;
			}
			seen[i] += (size_t)r;
			harness_write_all(pfd[i].fd, buf, (size_t)r);
		}
	}
	for (int i = 2; i < n; i++)
		close(pfd[i].fd);
	return NULL;
}

/* Starts faulty_server on 127.0.0.1, port 0; writes "127.0.0.1:PORT"
   into target. */
static void
faulty_start(struct faulty *f, pthread_t *tid, int corrupt, char *target,
    size_t len)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->corrupt = corrupt;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ne(f->lfd, -1);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 64), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &salen),
	    0);
	ck_assert_int_eq(pipe(f->stop), 0);
	snprintf(target, len, "127.0.0.1:%d", ntohs(sa.sin_port));
	ck_assert_int_eq(pthread_create(tid, NULL, faulty_server, f), 0);
}

static void
faulty_stop(struct faulty *f, pthread_t tid)
{
	ck_assert_int_eq(write(f->stop[1], "x", 1), 1);
	pthread_join(tid, NULL);
	close(f->lfd);
	close(f->stop[0]);
	close(f->stop[1]);
}

START_TEST(test_load_corrupt_echo_fails)
{
	struct faulty f;
	pthread_t tid;
	char target[64];
	const char *args[] = { "-c", "4", "-s", "64", "-d", "1", "--warmup",
		"0", "--drain", "2s", "--no-progress", "--json", target, NULL };
	int st;

	faulty_start(&f, &tid, 1, target, sizeof(target));
	st = run_load(args);
	faulty_stop(&f, tid);
	ck_assert_msg(st == 1, "status %d: %s %s", st, out, err);
	ck_assert_int_gt(f.corrupted, 0);
	ck_assert_uint_eq(harness_json_num(out, "error_kinds", "corrupt"),
	    (unsigned long long)f.corrupted);
	ck_assert_uint_ge(harness_json_num(out, NULL, "errors"),
	    (unsigned long long)f.corrupted);
	/* Stream byte 999 is byte 39 of the 16th 64-byte message. */
	ck_assert_msg(strstr(err, "byte 39 of message 15") != NULL,
	    "stderr: %s", err);
}
END_TEST

/* --source-ip spreads connections over local addresses, round robin;
   --connect-rate only paces them. */
START_TEST(test_load_source_ips_and_connect_rate)
{
	struct faulty f;
	pthread_t tid;
	char target[64];
	const char *args[] = { "-c", "6", "-d", "1", "--warmup", "0",
		"--connect-rate", "50", "--source-ip", "127.0.0.2,127.0.0.3",
		"--threads", "2", "--no-progress", "--json", target, NULL };
	int st, per[4] = { 0, 0, 0, 0 };

	faulty_start(&f, &tid, 0, target, sizeof(target));
	st = run_load(args);
	faulty_stop(&f, tid);
	ck_assert_msg(st == 0, "status %d: %s %s", st, out, err);
	ck_assert_int_eq(f.accepted, 6);
	for (int i = 0; i < 6; i++) {
		ck_assert_uint_ge(f.peers[i], 0x7f000002);
		ck_assert_uint_le(f.peers[i], 0x7f000003);
		per[f.peers[i] & 3]++;
	}
	ck_assert_int_eq(per[2], 3);
	ck_assert_int_eq(per[3], 3);
	ck_assert_uint_eq(harness_json_num(out, "connections", "ok"), 6);
	ck_assert_uint_eq(harness_json_num(out, NULL, "errors"), 0);
}
END_TEST

START_TEST(test_load_refused_counts_failures)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char target[64];
	const char *args[] = { "-c", "5", "-d", "1", "--no-progress", "--json",
		target, NULL };
	int fd, st;

	/* A port that was just free: nobody listens there. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", ntohs(sa.sin_port));
	st = run_load(args);
	close(fd);
	ck_assert_msg(st == 1, "status %d: %s %s", st, out, err);
	ck_assert_uint_eq(harness_json_num(out, "connections", "ok"), 0);
	ck_assert_uint_eq(harness_json_num(out, "connections", "failed"), 5);
	ck_assert_msg(strstr(err, "refused") != NULL, "stderr: %s", err);
}
END_TEST

/* Fan-out through evsockd's chat: every message reaches every other
   member of the channel. */
START_TEST(test_load_irc_nothing_lost)
{
	const char *srv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--flood-rate", "0", NULL };
	char target[64];
	const char *args[] = { "--mode", "irc", "-c", "12", "--senders", "3",
		"-r", "300", "-d", "1", "--warmup", "0", "--threads", "2",
		"--no-progress", "--json", target, NULL };
	unsigned long long sent, expected;
	int port = 0, st;

	if (harness_evsockd(&proc, srv, 1, &port) == -1 &&
	    strstr(proc.log, "chat") != NULL &&
	    strstr(proc.log, "unknown") != NULL) {
		fprintf(stderr,
		    "test_load_irc_nothing_lost: evsockd has no "
		    "chat service; skipped\n");
		return;
	}
	ck_assert_msg(port > 0, "evsockd did not start: %s", proc.log);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	st = run_load(args);
	harness_proc_stop(&proc, SIGTERM, 10000);
	ck_assert_msg(st == 0, "status %d: %s %s", st, out, err);
	sent = harness_json_num(out, NULL, "sent");
	expected = harness_json_num(out, NULL, "expected");
	ck_assert_msg(sent >= 298 && sent <= 302, "sent %llu", sent);
	ck_assert_uint_eq(harness_json_num(out, NULL, "members"), 12);
	ck_assert_uint_eq(expected, sent * 11);
	ck_assert_uint_eq(harness_json_num(out, NULL, "delivered"), expected);
	ck_assert_uint_eq(harness_json_num(out, NULL, "lost"), 0);
	ck_assert_uint_eq(harness_json_num(out, NULL, "errors"), 0);
	ck_assert_uint_eq(harness_json_num(out, "latency_us", "count"),
	    expected);
}
END_TEST

/* A server that PINGs idle clients every 200 ms keeps them only if
   they answer: receivers send nothing else. */
START_TEST(test_load_irc_answers_pings)
{
	const char *srv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--flood-rate", "0", "--ping-interval", "200ms",
		"--ping-timeout", "300ms", NULL };
	char target[64];
	const char *args[] = { "--mode", "irc", "-c", "4", "-r", "10", "-d",
		"1500ms", "--warmup", "0", "--no-progress", "--json", target,
		NULL };
	int port = 0, st;

	ck_assert_msg(harness_evsockd(&proc, srv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	st = run_load(args);
	harness_proc_stop(&proc, SIGTERM, 10000);
	ck_assert_msg(st == 0, "status %d: %s %s", st, out, err);
	ck_assert_uint_eq(harness_json_num(out, NULL, "lost"), 0);
	ck_assert_uint_eq(harness_json_num(out, NULL, "members"), 4);
	ck_assert_msg(strstr(proc.log, "Ping timeout") == NULL, "log: %s",
	    proc.log);
}
END_TEST

static Suite *
load_suite(void)
{
	Suite *s = suite_create("load");
	TCase *tc;

	tc = tcase_create("usage");
	tcase_add_test(tc, test_load_usage_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("echo");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_load_echo_counts_match_server);
	tcase_add_test(tc, test_load_echo_open_loop_schedule);
	tcase_add_test(tc, test_load_corrupt_echo_fails);
	tcase_add_test(tc, test_load_source_ips_and_connect_rate);
	tcase_add_test(tc, test_load_refused_counts_failures);
	suite_add_tcase(s, tc);

	tc = tcase_create("irc");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_load_irc_nothing_lost);
	tcase_add_test(tc, test_load_irc_answers_pings);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(load_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
