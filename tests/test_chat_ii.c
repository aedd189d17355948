/*
 * System: a real IRC client, ii (files and FIFOs), against the evsockd
 * binary on loopback.  ii registers, joins, talks both ways with a
 * watcher connection written here, parts and quits.  Exits 77 (skip)
 * when ii is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define WAIT_MS 10000

static char ii_path[PATH_MAX];

/* What a test started, for the teardown to stop even after a failure. */
static struct harness_proc daemon_proc;
static pid_t ii_pid = -1;
static int watcher_fd = -1;
static char ii_root[] = "/tmp/evsock-ii-XXXXXX";

/* The watcher: a blocking IRC connection that answers PINGs. */
struct watcher {
	int fd;
	char buf[65536];
	size_t len;
	int pings;
};

static void
w_send(struct watcher *w, const char *line)
{
	char out[600];
	int n = snprintf(out, sizeof(out), "%s\r\n", line);

	ck_assert_int_eq(harness_write_all(w->fd, out, (size_t)n), 0);
}

/* Reads lines until one contains needle; fails after WAIT_MS. */
static void
w_wait(struct watcher *w, const char *needle)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS;

	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(w->buf, '\n', w->len)) != NULL) {
			size_t l = (size_t)(nl - w->buf) + 1;
			int hit;

			*nl = '\0';
			hit = strstr(w->buf, needle) != NULL;
			if (strncmp(w->buf, ":evsockd PING ", 14) == 0) {
				char pong[300];

				w->pings++;
				snprintf(pong, sizeof(pong), "PONG %s",
				    w->buf + 14);
				pong[strcspn(pong, "\r")] = '\0';
				w_send(w, pong);
			}
			memmove(w->buf, w->buf + l, w->len - l);
			w->len -= l;
			if (hit)
				return;
		}
		ck_assert_msg(harness_now_ms() < deadline,
		    "watcher: no line with \"%s\"", needle);
		ck_assert_uint_lt(w->len, sizeof(w->buf));
		n = recv(w->fd, w->buf + w->len, sizeof(w->buf) - w->len, 0);
		ck_assert_msg(n > 0,
		    "watcher: connection ended waiting for "
		    "\"%s\"",
		    needle);
		w->len += (size_t)n;
	}
}

static int
file_contains(const char *path, const char *needle)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Waits until the file at dir/name contains needle: woken by inotify
   on dir, re-checked at least every 200 ms, for at most WAIT_MS. */
static void
wait_file(const char *dir, const char *name, const char *needle)
{
	char path[PATH_MAX];
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (ifd != -1)
		inotify_add_watch(ifd, dir,
		    IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE);
	while (!file_contains(path, needle)) {
		struct pollfd pfd = { ifd, POLLIN, 0 };
		char ev[4096];

		ck_assert_msg(harness_now_ms() < deadline, "%s: no \"%s\"",
		    path, needle);
		if (ifd != -1 && poll(&pfd, 1, 200) > 0)
			while (read(ifd, ev, sizeof(ev)) > 0)
				;
		else if (ifd == -1)
			poll(NULL, 0, 20);
	}
	if (ifd != -1)
		close(ifd);
}

/* Writes one line into an ii FIFO (ii must have it open). */
static void
ii_write(const char *dir, const char *line)
{
	char path[PATH_MAX], buf[512];
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/in", dir);
	/* The FIFO appears when ii has set up the directory; O_NONBLOCK
	   fails with ENXIO until ii reads it. */
	while ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		ck_assert_msg(errno == ENOENT || errno == ENXIO, "%s: %s", path,
		    strerror(errno));
		ck_assert_msg(harness_now_ms() < deadline, "%s: no reader",
		    path);
		poll(NULL, 0, 10);
	}
	/* A FIFO, not a socket: write(), and one write of less than
	   PIPE_BUF arrives whole. */
	snprintf(buf, sizeof(buf), "%s\n", line);
	n = write(fd, buf, strlen(buf));
	ck_assert_msg(n == (ssize_t)strlen(buf), "%s: %s", path,
	    n == -1 ? strerror(errno) : "short write");
	close(fd);
}

static pid_t
ii_start(const char *dir, int port, const char *nick)
{
	char portstr[16];
	pid_t pid;

	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(ii_path, "ii", "-s", "127.0.0.1", "-p", portstr, "-n",
		    nick, "-i", dir, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Waits up to ms for pid to exit; kills it after that.  Returns 1 if
   it exited by itself. */
static int
reap(pid_t pid, unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms;
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (harness_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 0;
		}
		poll(NULL, 0, 10);
	}
	return 1;
}

static void
rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void
setup(void)
{
	strcpy(ii_root, "/tmp/evsock-ii-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ii_root));
}

static void
teardown(void)
{
	if (watcher_fd != -1)
		close(watcher_fd);
	watcher_fd = -1;
	if (ii_pid > 0)
		reap(ii_pid, 0);
	ii_pid = -1;
	if (daemon_proc.pid > 0)
		harness_proc_stop(&daemon_proc, SIGKILL, WAIT_MS);
	rm_tree(ii_root);
}

START_TEST(test_chat_ii_session)
{
	const char *argv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--ping-interval", "300ms", "--ping-timeout", "300ms", NULL };
	struct harness_proc *d = &daemon_proc;
	struct watcher w = { .fd = -1 };
	char srvdir[64], chandir[80];
	int port;

	snprintf(srvdir, sizeof(srvdir), "%s/127.0.0.1", ii_root);
	snprintf(chandir, sizeof(chandir), "%s/#sys", srvdir);
	/* Made in advance so that inotify can watch them from the start;
	   ii accepts existing directories. */
	ck_assert_int_eq(mkdir(srvdir, 0700), 0);
	ck_assert_int_eq(mkdir(chandir, 0700), 0);
	ck_assert_msg(harness_evsockd(d, argv, 1, &port) == 0, "evsockd: %s",
	    d->log);

	w.fd = watcher_fd = harness_connect(port, 0);
	ck_assert_int_ge(w.fd, 0);
	w_send(&w, "NICK watcher");
	w_send(&w, "USER watcher 0 * :Watcher");
	w_wait(&w, " 001 watcher ");
	w_send(&w, "JOIN #sys");
	w_wait(&w, " 366 watcher #sys ");

	/* Register: ii logs the welcome in its server out file. */
	ii_pid = ii_start(ii_root, port, "iibot");
	wait_file(srvdir, "out",
	    "Welcome to the evsockd Network, "
	    "iibot!iibot@127.0.0.1");

	/* JOIN, seen by the watcher with the server-built prefix. */
	ii_write(srvdir, "/j #sys");
	w_wait(&w, ":iibot!iibot@127.0.0.1 JOIN #sys");
	wait_file(chandir, "out", "iibot");

	/* PRIVMSG from ii to the channel. */
	ii_write(chandir, "hello from ii");
	w_wait(&w, ":iibot!iibot@127.0.0.1 PRIVMSG #sys :hello from ii");

	/* PRIVMSG from the watcher to ii. */
	w_send(&w, "PRIVMSG #sys :hello ii");
	wait_file(chandir, "out", "<watcher> hello ii");

	/* ii answers the server's PINGs: after two rounds of them (longer
	   than interval + timeout) it is still there and can talk. */
	while (w.pings < 2)
		w_wait(&w, "PING");
	ii_write(chandir, "still here");
	w_wait(&w, ":iibot!iibot@127.0.0.1 PRIVMSG #sys :still here");

	/* PART. */
	ii_write(chandir, "/l bye channel");
	w_wait(&w, ":iibot!iibot@127.0.0.1 PART #sys :bye channel");

	/* QUIT, seen by the watcher through a shared channel. */
	ii_write(srvdir, "/j #sys");
	w_wait(&w, ":iibot!iibot@127.0.0.1 JOIN #sys");
	/* Once ii has logged a message sent after its JOIN, it has read
	   every reply to the JOIN: quitting now leaves nothing unread, so
	   its close is a FIN, not a reset that could overtake its QUIT. */
	w_send(&w, "PRIVMSG #sys :welcome back");
	wait_file(chandir, "out", "<watcher> welcome back");
	ii_write(srvdir, "/q done");
	w_wait(&w, ":iibot!iibot@127.0.0.1 QUIT :Quit: done");
	ck_assert_msg(reap(ii_pid, WAIT_MS), "ii did not exit after /q");
	ii_pid = -1;

	/* evsockd shuts down cleanly on SIGTERM. */
	ck_assert_int_eq(harness_proc_stop(d, SIGTERM, WAIT_MS), 0);
}
END_TEST

/* Finds ii in $EVSOCK_II or $PATH; returns 0 or -1. */
static int
find_ii(void)
{
	const char *env = getenv("EVSOCK_II"), *path = getenv("PATH"), *p;

	if (env != NULL) {
		snprintf(ii_path, sizeof(ii_path), "%s", env);
		return access(ii_path, X_OK);
	}
	for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0';) {
		size_t n = strcspn(p, ":");

		snprintf(ii_path, sizeof(ii_path), "%.*s/ii", (int)n, p);
		if (n > 0 && access(ii_path, X_OK) == 0)
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	return -1;
}

static Suite *
chat_ii_suite(void)
{
	Suite *s = suite_create("chat_ii");
	TCase *tc = tcase_create("session");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chat_ii_session);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (find_ii() == -1) {
		fprintf(stderr, "ii is not installed: skipped\n");
		return 77;
	}
	sr = srunner_create(chat_ii_suite());
	/* In one process, the teardown runs after a failure too and stops
	   what the test started. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
