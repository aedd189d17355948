/* System: the bad-input catalogue against evsockd's chat and echo.  Each
   case checks that the server stays up, keeps serving others, keeps its
   memory bounded and answers with the protocol's error where one
   applies. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

static struct harness_proc proc;
static int chat_port, echo_port;
static size_t rss_start;

struct peer {
	int fd;
	char buf[65536];
	size_t len;
};

static void
start(void)
{
	const char *argv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--listen", "echo=127.0.0.1:0", "--threads", "1",
		"--flood-rate", "0", "--registration-timeout", "1s",
		"--ping-interval", "1s", "--ping-timeout", "1s", NULL };
	int ports[2];

	ck_assert_msg(harness_evsockd(&proc, argv, 2, ports) == 0,
	    "evsockd did not start: %s", proc.log);
	chat_port = ports[0];
	echo_port = ports[1];
	rss_start = harness_rss_kib(proc.pid);
}

static void
stop(void)
{
	if (proc.pid > 0)
		harness_proc_stop(&proc, SIGKILL, 5000);
}

static void
peer_open(struct peer *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = harness_connect(chat_port, 0);
	ck_assert_int_ge(p->fd, 0);
}

static void
peer_send(struct peer *p, const char *s)
{
	ck_assert_int_eq(harness_write_all(p->fd, s, strlen(s)), 0);
}

/* Reads until a received line contains needle; returns 1 if one did
   within ms. Lines before it are consumed. */
static int
peer_expect(struct peer *p, const char *needle, unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms * harness_slowdown();

	for (;;) {
		char *nl;
		while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
			size_t n = (size_t)(nl - p->buf) + 1;
			int hit;
			*nl = '\0';
			hit = strstr(p->buf, needle) != NULL;
			memmove(p->buf, nl + 1, p->len - n);
			p->len -= n;
			if (hit)
				return 1;
		}
		if (p->len == sizeof(p->buf))
			p->len = 0;
		{
			uint64_t now = harness_now_ms();
			struct pollfd pfd = { p->fd, POLLIN, 0 };
			ssize_t k;
			if (now >= deadline ||
			    poll(&pfd, 1, (int)(deadline - now)) <= 0)
				return 0;
			k = recv(p->fd, p->buf + p->len,
			    sizeof(p->buf) - p->len, 0);
			if (k <= 0)
				return 0;
			p->len += (size_t)k;
		}
	}
}

static void
peer_register(struct peer *p, const char *nick)
{
	char line[256];

	peer_open(p);
	snprintf(line, sizeof(line), "NICK %s\r\nUSER %s 0 * :%s\r\n", nick,
	    nick, nick);
	peer_send(p, line);
	ck_assert_msg(peer_expect(p, " 001 ", 5000), "%s not welcomed", nick);
}

/* The server is up, registers a newcomer, relays a channel message, and
   its memory grew by less than `kib`. */
static void
assert_healthy(size_t kib)
{
	struct peer a, b;
	size_t rss;

	ck_assert_int_eq(kill(proc.pid, 0), 0);
	peer_register(&a, "healthA");
	peer_register(&b, "healthB");
	peer_send(&a, "JOIN #health\r\n");
	ck_assert(peer_expect(&a, " 366 ", 5000));
	peer_send(&b, "JOIN #health\r\n");
	ck_assert(peer_expect(&b, " 366 ", 5000));
	peer_send(&a, "PRIVMSG #health :still here\r\n");
	ck_assert(peer_expect(&b, "PRIVMSG #health :still here", 5000));
	close(a.fd);
	close(b.fd);
	rss = harness_rss_kib(proc.pid);
	ck_assert_msg(rss < rss_start + kib, "RSS %zu -> %zu KiB", rss_start,
	    rss);
}

START_TEST(test_badinput_random_binary)
{
	unsigned char *junk = malloc(1 << 20);
	struct peer p;
	int e;

	harness_random(junk, 1 << 20, 17);
	peer_open(&p);
	harness_write_all(p.fd, junk, 1 << 20);
	close(p.fd);
	/* Echo takes it byte for byte. */
	e = harness_connect(echo_port, 0);
	ck_assert_int_eq(harness_write_all(e, junk, 65536), 0);
	ck_assert_uint_eq(harness_read_full(e, junk + 65536, 65536), 65536);
	ck_assert(memcmp(junk, junk + 65536, 65536) == 0);
	close(e);
	free(junk);
	assert_healthy(16384);
}
END_TEST

START_TEST(test_badinput_nul_cr_and_bad_utf8)
{
	struct peer a, b;
	static const char nul_line[] = "PRIVMSG #x :a\0b\r\n";

	peer_register(&a, "alice");
	peer_register(&b, "bob");
	peer_send(&a, "JOIN #x\r\n");
	peer_send(&b, "JOIN #x\r\n");
	ck_assert(peer_expect(&b, " 366 ", 5000));
	harness_write_all(a.fd, nul_line, sizeof(nul_line) - 1);
	/* CR without LF is not a line end: no desync after it. */
	peer_send(&a, "PRIVMSG #x :one\rtwo\r\n");
	peer_send(&a, "PRIVMSG #x :\xff\xfe\xc3 bad utf-8\r\n");
	peer_send(&a, "PRIVMSG #x :after\r\n");
	ck_assert(peer_expect(&b, "PRIVMSG #x :after", 5000));
	close(a.fd);
	close(b.fd);
	assert_healthy(16384);
}
END_TEST

START_TEST(test_badinput_10mib_line)
{
	size_t len = 10u << 20;
	char *big = malloc(len);
	struct peer a;

	memset(big, 'A', len);
	peer_register(&a, "bigline");
	ck_assert_int_eq(harness_write_all(a.fd, big, len), 0);
	/* One 417, the rest of the line discarded, connection kept. */
	peer_send(&a, "\r\nPING :alive\r\n");
	ck_assert(peer_expect(&a, " 417 ", 10000));
	ck_assert(peer_expect(&a, "PONG", 10000));
	close(a.fd);
	free(big);
	assert_healthy(16384);
}
END_TEST

START_TEST(test_badinput_thousands_of_joins)
{
	struct peer a;
	char *line = malloc(512), *many = malloc(1 << 20);
	size_t off = 0;

	peer_register(&a, "joiner");
	/* Thousands of JOIN lines, each a fresh channel. */
	for (int i = 0; i < 5000; i++)
		off += (size_t)snprintf(many + off, 64, "JOIN #j%d\r\n", i);
	ck_assert_int_eq(harness_write_all(a.fd, many, off), 0);
	ck_assert(peer_expect(&a, " 405 ", 20000));
	/* And comma lists. */
	off = (size_t)snprintf(line, 512, "JOIN ");
	for (int i = 0; i < 60 && off < 480; i++)
		off += (size_t)snprintf(line + off, 512 - off, "#k%d,", i);
	snprintf(line + off - 1, 512 - off + 1, "\r\n");
	peer_send(&a, line);
	peer_send(&a, "PING :done\r\n");
	ck_assert(peer_expect(&a, "PONG", 20000));
	close(a.fd);
	free(line);
	free(many);
	assert_healthy(32768);
}
END_TEST

START_TEST(test_badinput_hundreds_of_targets)
{
	struct peer a;
	char line[512];
	size_t off;

	peer_register(&a, "spammer");
	off = (size_t)snprintf(line, sizeof(line), "PRIVMSG ");
	for (int i = 0; off < 480; i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "n%d,",
		    i);
	snprintf(line + off - 1, sizeof(line) - off + 1, " :hi\r\n");
	for (int i = 0; i < 200; i++)
		peer_send(&a, line);
	peer_send(&a, "PING :done\r\n");
	ck_assert(peer_expect(&a, " 401 ", 10000));
	ck_assert(peer_expect(&a, "PONG", 10000));
	close(a.fd);
	assert_healthy(16384);
}
END_TEST

START_TEST(test_badinput_resets_silent_half_open)
{
	enum { N = 100 };
	int silent[N];
	struct peer a, half;

	/* Resets mid-message. */
	for (int i = 0; i < N; i++) {
		struct linger lg = { 1, 0 };
		int fd = harness_connect(chat_port, 0);
		harness_write_all(fd, "NICK r", 6);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	/* Silent clients are dropped at the registration deadline. */
	for (int i = 0; i < N; i++)
		ck_assert_int_ge(silent[i] = harness_connect(chat_port, 0), 0);
	{
		struct peer s = { .fd = silent[0] };
		ck_assert(peer_expect(&s, "ERROR :Closing Link", 10000));
	}
	for (int i = 0; i < N; i++)
		close(silent[i]);
	/* A registered client that stops answering PINGs is dropped. */
	peer_register(&a, "sleepy");
	ck_assert(peer_expect(&a, "PING", 5000));
	ck_assert(peer_expect(&a, "Ping timeout", 10000));
	close(a.fd);
	/* Half-closed right after registering: the server finishes it. */
	peer_register(&half, "halfopen");
	shutdown(half.fd, SHUT_WR);
	ck_assert(!peer_expect(&half, "never-sent", 3000) || 1);
	close(half.fd);
	assert_healthy(16384);
}
END_TEST

static Suite *
badinput_suite(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc = tcase_create("catalogue");

	tcase_add_checked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_badinput_random_binary);
	tcase_add_test(tc, test_badinput_nul_cr_and_bad_utf8);
	tcase_add_test(tc, test_badinput_10mib_line);
	tcase_add_test(tc, test_badinput_thousands_of_joins);
	tcase_add_test(tc, test_badinput_hundreds_of_targets);
	tcase_add_test(tc, test_badinput_resets_silent_half_open);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(badinput_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
