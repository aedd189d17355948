/* System: the evsock binary (pipe mode and its errors) over loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
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
static int port;
static char target[64];

/* Each test of the echo case gets its own daemon to talk to or to stop. */
static void
start_echo(void)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		NULL };

	ck_assert_msg(harness_evsockd(&proc, argv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
}

static void
stop_echo(void)
{
	if (proc.pid > 0)
		harness_proc_stop(&proc, SIGTERM, 10000);
}

START_TEST(test_evsock_pipe_hi)
{
	const char *argv[] = { harness_prog("EVSOCK"), target, NULL };
	char out[64], err[512];
	size_t outlen;
	int st;

	st = harness_run(argv, "hi\n", 3, out, sizeof(out), &outlen, err,
	    sizeof(err), 10000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d, stderr: %s", st, err);
	ck_assert_uint_eq(outlen, 3);
	ck_assert(memcmp(out, "hi\n", 3) == 0);
}
END_TEST

START_TEST(test_evsock_pipe_1mib_binary)
{
	const char *argv[] = { harness_prog("EVSOCK"), target, NULL };
	size_t len = 1024 * 1024, outlen;
	unsigned char *in = malloc(len), *out = malloc(len + 16);
	char err[512];
	int st;

	harness_random(in, len, 42);
	st = harness_run(argv, in, len, out, len + 16, &outlen, err,
	    sizeof(err), 30000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d, stderr: %s", st, err);
	ck_assert_uint_eq(outlen, len);
	ck_assert(memcmp(in, out, len) == 0);
	free(in);
	free(out);
}
END_TEST

/* Runs evsock against a target expecting failure; checks the one-line
   error names the address. */
static void
evsock_fails_naming(const char *tgt, const char *extra, const char *want)
{
	const char *argv[6];
	char out[64], err[1024];
	size_t outlen, n = 0;
	int st;

	argv[n++] = harness_prog("EVSOCK");
	if (extra != NULL) {
		argv[n++] = "--connect-timeout";
		argv[n++] = extra;
	}
	argv[n++] = tgt;
	argv[n] = NULL;
	st = harness_run(argv, NULL, 0, out, sizeof(out), &outlen, err,
	    sizeof(err), 30000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "status %d: %s", st, err);
	ck_assert_msg(strstr(err, tgt) != NULL, "'%s' lacks '%s'", err, tgt);
	if (want != NULL)
		ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err,
		    want);
	ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n'),
	    "more than one line: %s", err);
}

START_TEST(test_evsock_refused_and_unknown_host)
{
	char tgt[64];

	/* The server has stopped: its port now refuses. */
	harness_proc_stop(&proc, SIGTERM, 10000);
	evsock_fails_naming(target, NULL, "refused");
	/* .invalid never resolves (RFC 6761); with no reachable DNS the
	   deadline ends it instead: either way one line naming it. */
	snprintf(tgt, sizeof(tgt), "no-such-host.invalid:7");
	evsock_fails_naming(tgt, "3s", NULL);
}
END_TEST

/* A listener that never accepts, its backlog filled: a further connect
   stays pending until --connect-timeout ends it with one line. */
START_TEST(test_evsock_connect_timeout)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char tgt[64];
	int lfd, fill[8];
	uint64_t t0;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	for (int i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		(void)connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	snprintf(tgt, sizeof(tgt), "127.0.0.1:%d", ntohs(sin.sin_port));
	t0 = harness_now_ms();
	evsock_fails_naming(tgt, "300ms", "timed out");
	ck_assert_uint_lt(harness_now_ms() - t0, 10000);
	for (int i = 0; i < 8; i++)
		close(fill[i]);
	close(lfd);
}
END_TEST

/* stdin that epoll cannot watch (/dev/null) is read as always ready:
   evsock half-closes at once, exits 0 and warns about nothing. */
START_TEST(test_evsock_stdin_dev_null)
{
	const char *argv[] = { "/bin/sh", "-c",
		"exec \"$0\" \"$1\" "
		"</dev/null",
		harness_prog("EVSOCK"), target, NULL };
	char out[64], err[1024];
	size_t outlen;
	int st;

	st = harness_run(argv, NULL, 0, out, sizeof(out), &outlen, err,
	    sizeof(err), 10000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d: %s", st, err);
	ck_assert_uint_eq(outlen, 0);
	ck_assert_msg(err[0] == '\0', "stderr: %s", err);
}
END_TEST

START_TEST(test_evsock_usage_errors)
{
	const char *bad[][3] = {
		{ "--connect-timeout", "never", "127.0.0.1:1" },
		{ "127.0.0.1", NULL, NULL },
		{ "--nope", NULL, NULL },
	};
	for (size_t i = 0; i < 3; i++) {
		const char *argv[5] = { harness_prog("EVSOCK") };
		char out[4096], err[4096];
		size_t outlen, n = 1;
		int st;
		for (int j = 0; j < 3 && bad[i][j] != NULL; j++)
			argv[n++] = bad[i][j];
		argv[n] = NULL;
		st = harness_run(argv, NULL, 0, out, sizeof(out), &outlen, err,
		    sizeof(err), 10000);
		ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2,
		    "case %zu: status %d: %s", i, st, err);
	}
}
END_TEST

static Suite *
evsock_suite(void)
{
	Suite *s = suite_create("evsock");
	TCase *tc;

	tc = tcase_create("echo");
	tcase_add_checked_fixture(tc, start_echo, stop_echo);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_evsock_pipe_hi);
	tcase_add_test(tc, test_evsock_pipe_1mib_binary);
	tcase_add_test(tc, test_evsock_stdin_dev_null);
	tcase_add_test(tc, test_evsock_refused_and_unknown_host);
	suite_add_tcase(s, tc);
	/* These need no server. */
	tc = tcase_create("errors");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_evsock_connect_timeout);
	tcase_add_test(tc, test_evsock_usage_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(evsock_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
