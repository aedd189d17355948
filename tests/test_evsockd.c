/* System: the evsockd binary over loopback. */
#include <crypt.h>
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
static int port;

static void
start_echo(void)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		NULL };

	ck_assert_msg(harness_evsockd(&proc, argv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
}

static void
stop_echo(void)
{
	if (proc.pid > 0)
		harness_proc_stop(&proc, SIGTERM, 10000);
}

START_TEST(test_evsockd_logs_real_address)
{
	char want[80];

	snprintf(want, sizeof(want), "listening echo on 127.0.0.1:%d\n", port);
	ck_assert_msg(strstr(proc.log, want) != NULL, "log: %s", proc.log);
	ck_assert_int_gt(port, 0);
}
END_TEST

START_TEST(test_evsockd_100_raw_clients)
{
	int fds[100];
	unsigned char buf[4096], back[4096];

	for (int i = 0; i < 100; i++) {
		fds[i] = harness_connect(port, 0);
		ck_assert_int_ge(fds[i], 0);
	}
	for (int i = 0; i < 100; i++) {
		harness_random(buf, sizeof(buf), (uint64_t)i);
		ck_assert_int_eq(harness_write_all(fds[i], buf, sizeof(buf)),
		    0);
	}
	for (int i = 0; i < 100; i++) {
		harness_random(buf, sizeof(buf), (uint64_t)i);
		ck_assert_uint_eq(harness_read_full(fds[i], back, sizeof(back)),
		    sizeof(back));
		ck_assert(memcmp(buf, back, sizeof(buf)) == 0);
		close(fds[i]);
	}
}
END_TEST

START_TEST(test_evsockd_raw_half_close)
{
	int fd = harness_connect(port, 0);
	char back[64];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_write_all(fd, "bye", 3), 0);
	shutdown(fd, SHUT_WR);
	ck_assert_int_eq(harness_read_eof(fd, back, sizeof(back)), 3);
	ck_assert(memcmp(back, "bye", 3) == 0);
	close(fd);
}
END_TEST

START_TEST(test_evsockd_sigterm_exits_zero)
{
	int st = harness_proc_stop(&proc, SIGTERM, 10000);

	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d, log: %s", st, proc.log);
}
END_TEST

START_TEST(test_evsockd_sigint_exits_zero)
{
	int fd = harness_connect(port, 0);
	int st;

	/* A connected client that half-closes is served to the end. */
	ck_assert_int_ge(fd, 0);
	st = kill(proc.pid, SIGINT);
	ck_assert_int_eq(st, 0);
	ck_assert(harness_proc_wait_log(&proc, "shutting down", 5000));
	harness_write_all(fd, "x", 1);
	shutdown(fd, SHUT_WR);
	{
		char c[8];
		ck_assert_int_eq(harness_read_eof(fd, c, sizeof(c)), 1);
	}
	close(fd);
	st = harness_proc_stop(&proc, 0, 10000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d, log: %s", st, proc.log);
}
END_TEST

/* Runs evsockd with args expecting a quick failure; returns its exit
   status and stderr. */
static int
evsockd_fails(const char *const *args, char *err, size_t errcap)
{
	const char *argv[16];
	char out[4096];
	size_t outlen, n = 0;

	argv[n++] = harness_prog("EVSOCKD");
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return harness_run(argv, NULL, 0, out, sizeof(out), &outlen, err,
	    errcap, 10000);
}

START_TEST(test_evsockd_bad_input)
{
	struct {
		const char *args[4];
		int code;
		const char *want;
	} cases[] = {
		{ { "--listen", "ftp=127.0.0.1:0" }, 2, "unknown service" },
		{ { "--listen", "echo=127.0.0.1" }, 2, "missing :PORT" },
		{ { "--listen", "echo=999.1.1.1:0" }, 1, "cannot listen" },
		{ { "--frobnicate" }, 2, "unknown option --frobnicate" },
		{ { "--max-clients", "lots" }, 2, "--max-clients" },
	};
	char err[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = evsockd_fails(cases[i].args, err, sizeof(err));
		ck_assert_msg(st != -1 && WIFEXITED(st) &&
		        WEXITSTATUS(st) == cases[i].code,
		    "case %zu: status %d: %s", i, st, err);
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		    "case %zu: '%s' lacks '%s'", i, err, cases[i].want);
		ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n'),
		    "case %zu: more than one line: %s", i, err);
	}
}
END_TEST

START_TEST(test_evsockd_port_in_use)
{
	char spec[64], err[1024];
	const char *args[] = { "--listen", spec, NULL };
	int st;

	snprintf(spec, sizeof(spec), "echo=127.0.0.1:%d", port);
	st = evsockd_fails(args, err, sizeof(err));
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "status %d: %s", st, err);
	ck_assert_msg(strstr(err, "address already in use") != NULL, "%s", err);
}
END_TEST

START_TEST(test_evsockd_help_version)
{
	const char *help[] = { harness_prog("EVSOCKD"), "--help", NULL };
	const char *ver[] = { harness_prog("EVSOCKD"), "--version", NULL };
	char out[8192], err[256];
	size_t outlen;
	int st;

	st = harness_run(help, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	    sizeof(err), 10000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	out[outlen] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "--listen SERVICE=HOST:PORT"));
	st = harness_run(ver, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	    sizeof(err), 10000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	out[outlen] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "evsockd "));
}
END_TEST

/* --flood-rate and --flood-burst reach the chat: a burst of commands
   beyond the bucket is answered, all of it, but only as tokens refill
   (20 a second here), not at once. */
START_TEST(test_evsockd_chat_flood_rate)
{
	const char *argv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--flood-rate", "20", "--flood-burst", "5", NULL };
	struct harness_proc chatd;
	char out[4096], buf[8192];
	size_t len = 0, n = 0;
	int cport, fd, pongs = 0;
	uint64_t t0, deadline;

	ck_assert_msg(harness_evsockd(&chatd, argv, 1, &cport) == 0,
	    "evsockd did not start: %s", chatd.log);
	fd = harness_connect(cport, 0);
	ck_assert_int_ge(fd, 0);
	n = (size_t)snprintf(out, sizeof(out), "NICK f\r\nUSER f 0 * :f\r\n");
	for (int i = 0; i < 25; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "PING :t%d\r\n",
		    i);
	t0 = harness_now_ms();
	ck_assert_int_eq(harness_write_all(fd, out, n), 0);
	deadline = t0 + 20000;
	while (pongs < 25) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t r;
		char *nl;

		ck_assert_msg(harness_now_ms() < deadline, "%d PONGs", pongs);
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		r = recv(fd, buf + len, sizeof(buf) - len - 1, 0);
		ck_assert_int_gt(r, 0);
		len += (size_t)r;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			if (strstr(buf, " PONG ") != NULL &&
			    strstr(buf, " PONG ") < nl)
				pongs++;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	/* 27 commands, 5 at once, the other 22 at 20/s: over a second. */
	ck_assert_msg(harness_now_ms() - t0 >= 800, "25 PONGs after %llu ms",
	    (unsigned long long)(harness_now_ms() - t0));
	close(fd);
	harness_proc_stop(&chatd, SIGTERM, 10000);
}
END_TEST

/* Reads from fd until the text received contains needle (10 s at
   most); returns 1 if it did. */
static int
read_until(int fd, const char *needle)
{
	static char buf[16384];
	size_t len = 0;
	uint64_t deadline = harness_now_ms() + 10000;

	while (harness_now_ms() < deadline && len < sizeof(buf) - 1) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		if ((r = recv(fd, buf + len, sizeof(buf) - len - 1, 0)) <= 0)
			return 0;
		len += (size_t)r;
		buf[len] = '\0';
		if (strstr(buf, needle) != NULL)
			return 1;
	}
	return 0;
}

/* Operators come from the --config file (never the command line), and
   KLINE bans land in the --kline-file. */
START_TEST(test_evsockd_chat_opers_from_file)
{
	char conf[] = "/tmp/evsockd-conf-XXXXXX";
	char klines[] = "/tmp/evsockd-kline-XXXXXX";
	const char *argv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--config", conf, "--kline-file", klines, NULL };
	struct crypt_data cd;
	struct harness_proc chatd;
	const char *hash;
	char line[512], text[1024];
	FILE *f;
	size_t n;
	int cport, fd, cfd = mkstemp(conf), kfd = mkstemp(klines);

	ck_assert_int_ge(cfd, 0);
	ck_assert_int_ge(kfd, 0);
	close(kfd);
	memset(&cd, 0, sizeof(cd));
	hash = crypt_r("sesame", "$6$evsockdtest$", &cd);
	ck_assert_ptr_nonnull(hash);
	n = (size_t)snprintf(line, sizeof(line),
	    "# operators\n\noper root "
	    "%s\n",
	    hash);
	ck_assert_int_eq(write(cfd, line, n), (ssize_t)n);
	close(cfd);
	ck_assert_msg(harness_evsockd(&chatd, argv, 1, &cport) == 0,
	    "evsockd did not start: %s", chatd.log);
	fd = harness_connect(cport, 0);
	ck_assert_int_ge(fd, 0);
	n = (size_t)snprintf(line, sizeof(line),
	    "NICK o\r\nUSER o 0 * :o\r\n"
	    "OPER root sesame\r\nKLINE bad@10.* :go away\r\n");
	ck_assert_int_eq(harness_write_all(fd, line, n), 0);
	ck_assert(read_until(fd, "Added K-line for bad@10.*"));
	close(fd);
	ck_assert_int_eq(harness_proc_stop(&chatd, SIGTERM, 10000), 0);
	f = fopen(klines, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(text, "bad@10.* 0 ") != NULL, "%s", text);

	/* A hash crypt(3) cannot use stops the start, naming the line. */
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fputs("oper root $6$evsockdtest$notthehashitself\n", f);
	fclose(f);
	ck_assert_int_eq(harness_evsockd(&chatd, argv, 1, &cport), -1);
	ck_assert_msg(strstr(chatd.log, ":1: operator root") != NULL, "%s",
	    chatd.log);
	unlink(conf);
	unlink(klines);
}
END_TEST

/* Writes text to the file at path, replacing it. */
static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* An operator's REHASH is the daemon's reload (SIGHUP's): the operators
   are read again from the config file, and the operator hears whether
   the new settings were taken; a broken file keeps the old ones. */
START_TEST(test_evsockd_chat_rehash_reloads)
{
	char conf[] = "/tmp/evsockd-conf-XXXXXX";
	const char *argv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--config", conf, NULL };
	struct crypt_data cd;
	struct harness_proc chatd;
	const char *h;
	char text[512], line[256];
	int cport, fd, fd2, cfd = mkstemp(conf);
	size_t n;

	ck_assert_int_ge(cfd, 0);
	close(cfd);
	memset(&cd, 0, sizeof(cd));
	h = crypt_r("sesame", "$6$evsockdtest$", &cd);
	ck_assert_ptr_nonnull(h);
	snprintf(text, sizeof(text), "oper root %s\n", h);
	put_file(conf, text);
	ck_assert_msg(harness_evsockd(&chatd, argv, 1, &cport) == 0,
	    "evsockd did not start: %s", chatd.log);
	fd = harness_connect(cport, 0);
	ck_assert_int_ge(fd, 0);
	n = (size_t)snprintf(line, sizeof(line),
	    "NICK o\r\nUSER o 0 * :o\r\n"
	    "OPER root sesame\r\n");
	ck_assert_int_eq(harness_write_all(fd, line, n), 0);
	ck_assert(read_until(fd, " 381 o "));

	h = crypt_r("opensesame", "$6$evsockdtest2$", &cd);
	ck_assert_ptr_nonnull(h);
	snprintf(text, sizeof(text), "# root is gone\noper admin %s\n", h);
	put_file(conf, text);
	n = (size_t)snprintf(line, sizeof(line), "REHASH\r\n");
	ck_assert_int_eq(harness_write_all(fd, line, n), 0);
	ck_assert(read_until(fd, "REHASH done"));
	fd2 = harness_connect(cport, 0);
	ck_assert_int_ge(fd2, 0);
	n = (size_t)snprintf(line, sizeof(line),
	    "NICK p\r\nUSER p 0 * :p\r\n"
	    "OPER root sesame\r\n");
	ck_assert_int_eq(harness_write_all(fd2, line, n), 0);
	ck_assert(read_until(fd2, " 491 p "));
	n = (size_t)snprintf(line, sizeof(line), "OPER admin opensesame\r\n");
	ck_assert_int_eq(harness_write_all(fd2, line, n), 0);
	ck_assert(read_until(fd2, " 381 p "));

	/* A file that no longer parses: refused, the operators stay. */
	put_file(conf, "max-clients zero\n");
	n = (size_t)snprintf(line, sizeof(line), "REHASH\r\n");
	ck_assert_int_eq(harness_write_all(fd2, line, n), 0);
	ck_assert(read_until(fd2, "REHASH failed"));
	close(fd2);
	close(fd);
	ck_assert_int_eq(harness_proc_stop(&chatd, SIGTERM, 10000), 0);
	ck_assert_msg(strstr(chatd.log, "reload failed") != NULL, "%s",
	    chatd.log);
	unlink(conf);
}
END_TEST

static Suite *
evsockd_suite(void)
{
	Suite *s = suite_create("evsockd");
	TCase *tc;

	tc = tcase_create("echo");
	tcase_add_checked_fixture(tc, start_echo, stop_echo);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_evsockd_logs_real_address);
	tcase_add_test(tc, test_evsockd_100_raw_clients);
	tcase_add_test(tc, test_evsockd_raw_half_close);
	suite_add_tcase(s, tc);
	tc = tcase_create("signals");
	tcase_add_checked_fixture(tc, start_echo, stop_echo);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_evsockd_sigterm_exits_zero);
	tcase_add_test(tc, test_evsockd_sigint_exits_zero);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, start_echo, stop_echo);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_evsockd_bad_input);
	tcase_add_test(tc, test_evsockd_port_in_use);
	tcase_add_test(tc, test_evsockd_help_version);
	tcase_add_test(tc, test_evsockd_chat_flood_rate);
	tcase_add_test(tc, test_evsockd_chat_opers_from_file);
	tcase_add_test(tc, test_evsockd_chat_rehash_reloads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(evsockd_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
