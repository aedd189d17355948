/*
 * System: `evsock chat` driven through pipes (so it reads plain lines,
 * as scripts use it) against the evsockd binary on loopback, with a raw
 * IRC connection written here to see what the chat client sent; and
 * against a fake server written here where the daemon cannot show it
 * (commands it does not have, replies it never sends).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <check.h>

#include "harness.h"

#define PASSWORD "sekrit-42"

static unsigned wait_ms;

/* One `evsock chat` child: its stdin to write, its output as read. */
struct chatproc {
	pid_t pid;
	int in, out, err;
	char buf[65536]; /* stdout so far, NUL-terminated */
	size_t len;
	size_t seen; /* chat_expect looks past this */
	char errbuf[8192];
	size_t errlen;
};

/* A raw IRC connection: the daemon's other user, or the fake server's
   side of the chat client's connection. */
struct raw {
	int fd;
	char buf[65536];
	size_t len;
	char line[1024]; /* the last line raw_expect matched */
};

/* What a test started, for the teardown to stop even after a failure. */
static struct harness_proc daemon_proc;
static int daemon_port;
static char pass_path[] = "/tmp/evsock-chat-pass-XXXXXX";
static struct chatproc procs[4];
static size_t nprocs;
static int raw_fds[4];

static void
track_fd(int fd)
{
	for (size_t i = 0; i < 4; i++)
		if (raw_fds[i] == -1) {
			raw_fds[i] = fd;
			return;
		}
}

/* Writes all of buf to a pipe or file (harness_write_all is for
   sockets). */
static int
fd_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Closes a connection the teardown would otherwise close. */
static void
raw_close(int fd)
{
	for (size_t i = 0; i < 4; i++)
		if (raw_fds[i] == fd)
			raw_fds[i] = -1;
	close(fd);
}

static void
start_daemon(void)
{
	const char *argv[] = { "evsockd", "--listen", "chat=127.0.0.1:0",
		"--password-file", pass_path, NULL };
	int fd;

	wait_ms = 10000 * harness_slowdown();
	nprocs = 0;
	for (size_t i = 0; i < 4; i++)
		raw_fds[i] = -1;
	snprintf(pass_path, sizeof(pass_path), "/tmp/evsock-chat-pass-XXXXXX");
	fd = mkstemp(pass_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	ck_assert_int_eq(fd_write_all(fd, PASSWORD "\n", strlen(PASSWORD) + 1),
	    0);
	close(fd);
	ck_assert_msg(harness_evsockd(&daemon_proc, argv, 1, &daemon_port) == 0,
	    "evsockd did not start: %s", daemon_proc.log);
}

static void
stop_daemon(void)
{
	for (size_t i = 0; i < 4; i++)
		if (raw_fds[i] != -1)
			close(raw_fds[i]);
	for (size_t i = 0; i < nprocs; i++) {
		struct chatproc *p = &procs[i];

		if (p->pid > 0) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
		if (p->in != -1)
			close(p->in);
		if (p->out != -1)
			close(p->out);
		if (p->err != -1)
			close(p->err);
	}
	harness_proc_stop(&daemon_proc, SIGTERM, 10000);
	unlink(pass_path);
}

/* Starts `evsock chat` with the given arguments after "chat" (NULL
   ended); env, when not NULL, is one NAME=VALUE for the child.  The
   teardown stops it if the test does not. */
static struct chatproc *
chat_start(const char *env, const char *const *args)
{
	struct chatproc *p;
	const char *argv[40], *evsock = harness_prog("EVSOCK");
	char wrapper[512], *w, *save = NULL;
	int pin[2], pout[2], perr[2];
	size_t n = 0;

	ck_assert_uint_lt(nprocs, sizeof(procs) / sizeof(procs[0]));
	p = &procs[nprocs++];
	memset(p, 0, sizeof(*p));
	p->in = p->out = p->err = -1;
	/* EVSOCK_WRAPPER (the valgrind setup) runs evsock under it. */
	snprintf(wrapper, sizeof(wrapper), "%s",
	    getenv("EVSOCK_WRAPPER") != NULL ? getenv("EVSOCK_WRAPPER") : "");
	for (w = strtok_r(wrapper, " ", &save); w != NULL && n < 16;
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n++] = evsock;
	argv[n++] = "chat";
	for (size_t i = 0; args[i] != NULL && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
	p->pid = fork();
	ck_assert_int_ne(p->pid, -1);
	if (p->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		if (env != NULL)
			putenv((char *)(uintptr_t)env);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	p->in = pin[1];
	p->out = pout[0];
	p->err = perr[0];
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	fcntl(p->err, F_SETFL, O_NONBLOCK);
	return p;
}

/* Reads what the child wrote, waiting up to ms for something; returns
   0 once both its stdout and stderr are closed, else 1. */
static int
chat_pump(struct chatproc *p, int ms)
{
	struct pollfd pfd[2] = { { p->out, POLLIN, 0 }, { p->err, POLLIN, 0 } };
	int open = 0;
	ssize_t n;

	if (p->out == -1 && p->err == -1)
		return 0;
	(void)poll(pfd, 2, ms);
	if (p->out != -1) {
		n = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
		if (n > 0)
			p->len += (size_t)n;
		p->buf[p->len] = '\0';
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			close(p->out);
			p->out = -1;
		}
		open |= p->out != -1;
	}
	if (p->err != -1) {
		n = read(p->err, p->errbuf + p->errlen,
		    sizeof(p->errbuf) - 1 - p->errlen);
		if (n > 0)
			p->errlen += (size_t)n;
		p->errbuf[p->errlen] = '\0';
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			close(p->err);
			p->err = -1;
		}
		open |= p->err != -1;
	}
	return open;
}

/* Waits until stdout, past what earlier calls matched, has needle. */
static void
chat_expect(struct chatproc *p, const char *needle)
{
	uint64_t deadline = harness_now_ms() + wait_ms;
	char *hit;

	while ((hit = strstr(p->buf + p->seen, needle)) == NULL) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "evsock chat never "
		    "printed \"%s\"; it printed:\n%s\nstderr: %s",
		    needle, p->buf, p->errbuf);
		if (!chat_pump(p, 100))
			ck_assert_msg(strstr(p->buf + p->seen, needle) != NULL,
			    "evsock chat ended without \"%s\":\n%s\nstderr: "
			    "%s",
			    needle, p->buf, p->errbuf);
	}
	p->seen = (size_t)(hit - p->buf) + strlen(needle);
}

static void
chat_type(struct chatproc *p, const char *line)
{
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);

	ck_assert_int_eq(fd_write_all(p->in, buf, (size_t)n), 0);
}

/* Closes stdin when close_in (end of input is /quit), waits for the
   child to end and returns its exit status (-1 if it had to be
   killed). */
static int
chat_wait(struct chatproc *p, int close_in)
{
	uint64_t deadline = harness_now_ms() + wait_ms;
	int status;

	if (close_in && p->in != -1) {
		close(p->in);
		p->in = -1;
	}
	while (chat_pump(p, 100))
		if (harness_now_ms() >= deadline)
			break;
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid)
			break;
		if (harness_now_ms() >= deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = 0;
			return -1;
		}
		poll(NULL, 0, 5);
	}
	p->pid = 0;
	if (p->in != -1) {
		close(p->in);
		p->in = -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
raw_send(struct raw *r, const char *line)
{
	char out[600];
	int n = snprintf(out, sizeof(out), "%s\r\n", line);

	ck_assert_int_eq(harness_write_all(r->fd, out, (size_t)n), 0);
}

/* Reads lines until one contains needle (kept in r->line); PINGs from
   the daemon are answered on the way.  Fails after wait_ms. */
static void
raw_expect(struct raw *r, const char *needle)
{
	uint64_t deadline = harness_now_ms() + wait_ms;

	for (;;) {
		struct pollfd pfd = { r->fd, POLLIN, 0 };
		char *nl;
		ssize_t n;

		while ((nl = memchr(r->buf, '\n', r->len)) != NULL) {
			size_t l = (size_t)(nl - r->buf) + 1, l2;
			int hit;

			*nl = '\0';
			if (nl > r->buf && nl[-1] == '\r')
				nl[-1] = '\0';
			l2 = strlen(r->buf);
			if (l2 >= sizeof(r->line))
				l2 = sizeof(r->line) - 1;
			memcpy(r->line, r->buf, l2);
			r->line[l2] = '\0';
			hit = strstr(r->line, needle) != NULL;
			if (strncmp(r->line, ":evsockd PING ", 14) == 0) {
				char pong[300];

				snprintf(pong, sizeof(pong), "PONG %s",
				    r->line + 14);
				raw_send(r, pong);
			}
			memmove(r->buf, r->buf + l, r->len - l);
			r->len -= l;
			if (hit)
				return;
		}
		ck_assert_msg(harness_now_ms() < deadline,
		    "no line with "
		    "\"%s\"",
		    needle);
		ck_assert_uint_lt(r->len, sizeof(r->buf));
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		ck_assert_msg(n > 0, "connection ended waiting for \"%s\"",
		    needle);
		r->len += (size_t)n;
	}
}

/* Connects a raw user to the daemon and registers it as nick. */
static void
raw_user(struct raw *r, const char *nick)
{
	char line[128];

	memset(r, 0, sizeof(*r));
	r->fd = harness_connect(daemon_port, 0);
	ck_assert_int_ge(r->fd, 0);
	track_fd(r->fd);
	raw_send(r, "PASS :" PASSWORD);
	snprintf(line, sizeof(line), "NICK %s", nick);
	raw_send(r, line);
	snprintf(line, sizeof(line), "USER %s 0 * :%s", nick, nick);
	raw_send(r, line);
	raw_expect(r, " 001 ");
}

/* Starts `evsock chat --nick nick --password PASSWORD` on the daemon
   and waits for the welcome. */
static struct chatproc *
chat_user(const char *nick)
{
	char target[64];
	const char *args[] = { "--nick", nick, "--password", PASSWORD, target,
		NULL };
	struct chatproc *p;

	snprintf(target, sizeof(target), "127.0.0.1:%d", daemon_port);
	p = chat_start(NULL, args);
	chat_expect(p, "Welcome to the");
	return p;
}

/* A listening socket on 127.0.0.1 port 0; *port gets the port. */
static int
fake_listen(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	track_fd(fd);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Accepts the chat client's connection on the fake server. */
static void
fake_accept(struct raw *r, int lfd)
{
	struct pollfd pfd = { lfd, POLLIN, 0 };

	memset(r, 0, sizeof(*r));
	ck_assert_msg(poll(&pfd, 1, (int)wait_ms) == 1,
	    "evsock chat did "
	    "not connect");
	r->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(r->fd, 0);
	track_fd(r->fd);
}

/* A wrong password: evsockd answers 464 and the client exits 1 by
   itself (stdin still open) with one clear line on stderr. */
START_TEST(test_evsock_chat_password_wrong)
{
	struct chatproc *p;
	char target[64];
	const char *args[] = { "--nick", "mallory", "--password", "guess",
		target, NULL };
	int st;

	snprintf(target, sizeof(target), "127.0.0.1:%d", daemon_port);
	p = chat_start(NULL, args);
	st = chat_wait(p, 0);
	ck_assert_msg(st == 1, "status %d, stderr: %s", st, p->errbuf);
	ck_assert_msg(strstr(p->errbuf, "refused the password") != NULL &&
	        strstr(p->errbuf, "Password incorrect") != NULL &&
	        strstr(p->errbuf, target) != NULL,
	    "stderr: %s", p->errbuf);
	ck_assert_ptr_null(strstr(p->buf, "Welcome"));
	/* No password at all is refused the same way. */
	args[2] = target;
	args[3] = NULL;
	p = chat_start(NULL, args);
	st = chat_wait(p, 0);
	ck_assert_msg(st == 1 &&
	        strstr(p->errbuf, "refused the password") != NULL,
	    "status %d, stderr: %s", st, p->errbuf);
}
END_TEST

/* The right password, from --password or from $EVSOCK_PASSWORD:
   registered, and end of input quits with status 0. */
START_TEST(test_evsock_chat_password_right)
{
	struct chatproc *p;
	char target[64];
	const char *args[] = { "--nick", "carol", target, NULL };
	int st;

	p = chat_user("alice");
	st = chat_wait(p, 1);
	ck_assert_msg(st == 0, "status %d, stderr: %s", st, p->errbuf);
	ck_assert_msg(p->errbuf[0] == '\0', "stderr: %s", p->errbuf);

	snprintf(target, sizeof(target), "127.0.0.1:%d", daemon_port);
	p = chat_start("EVSOCK_PASSWORD=" PASSWORD, args);
	chat_expect(p, "Welcome to the evsockd Network, carol!");
	chat_type(p, "/quit done here");
	chat_expect(p, "(Quit: done here)");
	st = chat_wait(p, 0);
	ck_assert_msg(st == 0, "status %d, stderr: %s", st, p->errbuf);
}
END_TEST

/* /whois shows the replies as sentences; an error numeric reads
   "! what: text". */
START_TEST(test_evsock_chat_whois)
{
	struct chatproc *p;
	struct raw bob;

	raw_user(&bob, "bob");
	raw_send(&bob, "JOIN #lobby");
	raw_expect(&bob, " 366 ");
	raw_send(&bob, "AWAY :having lunch");
	raw_expect(&bob, " 306 ");
	p = chat_user("alice");
	chat_type(p, "/whois bob");
	chat_expect(p, "* bob is bob@127.0.0.1 (bob)");
	chat_expect(p, "* bob is in @#lobby");
	chat_expect(p, "* bob is on server evsockd");
	chat_expect(p, "* bob is away: having lunch");
	chat_expect(p, "* bob has been idle ");
	ck_assert_ptr_null(strstr(p->buf, "End of /WHOIS"));
	chat_type(p, "/whois nobody");
	chat_expect(p, "! nobody: No such nick/channel");
	chat_type(p, "/away back soon");
	chat_expect(p, "You have been marked as being away");
	chat_type(p, "/away");
	chat_expect(p, "You are no longer marked as being away");
	ck_assert_int_eq(chat_wait(p, 1), 0);
}
END_TEST

/* /mode and /kick on the real daemon: the other member sees the
   protocol lines; without operator status the 482 reads plainly. */
START_TEST(test_evsock_chat_kick_mode)
{
	struct chatproc *p;
	struct raw bob;

	p = chat_user("alice");
	chat_type(p, "/join #ops");
	chat_expect(p, "* alice has joined #ops");
	raw_user(&bob, "bob");
	raw_send(&bob, "JOIN #ops");
	raw_expect(&bob, " 366 ");
	chat_expect(p, "* bob has joined #ops");

	chat_type(p, "/mode -t");
	raw_expect(&bob, ":alice!alice@127.0.0.1 MODE #ops -t");
	chat_expect(p, "* alice sets mode -t on #ops");
	chat_type(p, "/mode #ops +o bob");
	raw_expect(&bob, ":alice!alice@127.0.0.1 MODE #ops +o bob");
	chat_type(p, "/mode");
	chat_expect(p, "* Modes of #ops: +n");
	chat_type(p, "/topic a new topic");
	raw_expect(&bob, ":alice!alice@127.0.0.1 TOPIC #ops :a new topic");
	chat_type(p, "/me waves");
	raw_expect(&bob,
	    ":alice!alice@127.0.0.1 PRIVMSG #ops :\001ACTION "
	    "waves\001");
	chat_type(p, "/kick bob enough now");
	raw_expect(&bob, ":alice!alice@127.0.0.1 KICK #ops bob :enough now");
	chat_expect(p, "* bob was kicked from #ops by alice (enough now)");

	/* bob's own channel: alice is no operator there. */
	raw_send(&bob, "JOIN #bobs");
	raw_expect(&bob, " 366 ");
	chat_type(p, "/join #bobs");
	chat_expect(p, "* alice has joined #bobs");
	chat_type(p, "/kick bob");
	chat_expect(p, "! #bobs: You're not channel operator");
	chat_type(p, "/mode -t");
	chat_expect(p, "! #bobs: You're not channel operator");
	ck_assert_int_eq(chat_wait(p, 1), 0);
}
END_TEST

/* What /invite, /ban, /unban, /away and /mode send, and how numerics
   the daemon does not send yet read, against a fake server. */
START_TEST(test_evsock_chat_fake_server)
{
	struct chatproc *p;
	struct raw srv;
	char target[64];
	const char *args[] = { "--nick", "alice", "--password", "pw word",
		target, NULL };
	int lfd, port;

	lfd = fake_listen(&port);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	p = chat_start(NULL, args);
	fake_accept(&srv, lfd);
	raw_expect(&srv, "PASS :pw word");
	raw_expect(&srv, "NICK alice");
	raw_expect(&srv, "USER alice ");
	raw_send(&srv, ":fake 001 alice :Welcome to the fake Network");
	raw_send(&srv, ":alice!a@h JOIN #c");
	chat_expect(p, "* alice has joined #c");

	chat_type(p, "/invite bob");
	raw_expect(&srv, "INVITE");
	ck_assert_str_eq(srv.line, "INVITE bob #c");
	chat_type(p, "/invite carol #d");
	raw_expect(&srv, "INVITE");
	ck_assert_str_eq(srv.line, "INVITE carol #d");
	chat_type(p, "/ban *!*@bad.example");
	raw_expect(&srv, "MODE");
	ck_assert_str_eq(srv.line, "MODE #c +b *!*@bad.example");
	chat_type(p, "/unban *!*@bad.example");
	raw_expect(&srv, "MODE");
	ck_assert_str_eq(srv.line, "MODE #c -b *!*@bad.example");
	chat_type(p, "/ban");
	raw_expect(&srv, "MODE");
	ck_assert_str_eq(srv.line, "MODE #c +b");
	chat_type(p, "/mode +kl key 10");
	raw_expect(&srv, "MODE");
	ck_assert_str_eq(srv.line, "MODE #c +kl key 10");
	chat_type(p, "/kick #c bob out");
	raw_expect(&srv, "KICK");
	ck_assert_str_eq(srv.line, "KICK #c bob :out");
	chat_type(p, "/away at lunch");
	raw_expect(&srv, "AWAY");
	ck_assert_str_eq(srv.line, "AWAY :at lunch");
	chat_type(p, "/whois bob");
	raw_expect(&srv, "WHOIS");
	ck_assert_str_eq(srv.line, "WHOIS bob");

	raw_send(&srv, ":fake 474 alice #x :Cannot join channel (+b)");
	chat_expect(p, "! #x: Cannot join channel (+b)");
	raw_send(&srv, ":fake 475 alice #y :Cannot join channel (+k)");
	chat_expect(p, "! #y: Cannot join channel (+k)");
	raw_send(&srv, ":fake 471 alice #z :Cannot join channel (+l)");
	chat_expect(p, "! #z: Cannot join channel (+l)");
	raw_send(&srv, ":fake 482 alice #c :You're not channel operator");
	chat_expect(p, "! #c: You're not channel operator");
	raw_send(&srv, ":fake 341 alice bob #c");
	chat_expect(p, "* Invited bob to #c");
	raw_send(&srv, ":fake 367 alice #c *!*@bad.example alice 1700000000");
	chat_expect(p, "* Ban on #c: *!*@bad.example set by alice");
	raw_send(&srv, ":bob!b@h INVITE alice #secret");
	chat_expect(p, "* bob invites you to #secret");
	raw_send(&srv, ":fake 313 alice bob :is an IRC operator");
	chat_expect(p, "- bob is an IRC operator");
	/* Formatting is dropped, other control bytes cannot reach the
	   terminal. */
	raw_send(&srv,
	    ":bob!b@h PRIVMSG #c :\002bold\002 \00304,01red\003 "
	    "\033[2Jwiped\a");
	chat_expect(p, "<bob> bold red ?[2Jwiped?\n");

	chat_type(p, "/quit bye");
	raw_expect(&srv, "QUIT");
	ck_assert_str_eq(srv.line, "QUIT :bye");
	raw_send(&srv, "ERROR :Closing Link: bye");
	raw_close(srv.fd);
	ck_assert_int_eq(chat_wait(p, 0), 0);
}
END_TEST

/* A server that refuses with ERROR before 001 (as ngircd does for a
   bad password): exit status 1 and the server's words on stderr. */
START_TEST(test_evsock_chat_error_before_welcome)
{
	struct chatproc *p;
	struct raw srv;
	char target[64];
	const char *args[] = { "--password", "nope", target, NULL };
	int lfd, port, st;

	lfd = fake_listen(&port);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	p = chat_start(NULL, args);
	fake_accept(&srv, lfd);
	raw_expect(&srv, "USER ");
	raw_send(&srv, "ERROR :Access denied: Bad password?");
	st = chat_wait(p, 0);
	ck_assert_msg(st == 1, "status %d, stderr: %s", st, p->errbuf);
	ck_assert_msg(strstr(p->errbuf, "before registration") != NULL &&
	        strstr(p->errbuf, "Access denied: Bad password?") != NULL,
	    "stderr: %s", p->errbuf);

	/* Our own /quit before the welcome: the ERROR is the goodbye. */
	p = chat_start(NULL, args);
	fake_accept(&srv, lfd);
	raw_expect(&srv, "USER ");
	chat_type(p, "/quit early");
	raw_expect(&srv, "QUIT :early");
	raw_send(&srv, "ERROR :Closing Link: early");
	raw_close(srv.fd);
	st = chat_wait(p, 0);
	ck_assert_msg(st == 0 && p->errbuf[0] == '\0',
	    "status %d, stderr: "
	    "%s",
	    st, p->errbuf);
}
END_TEST

/* /help and --help list the commands; evsock --help names chat. */
START_TEST(test_evsock_chat_help)
{
	const char *help[] = { harness_prog("EVSOCK"), "chat", "--help", NULL };
	const char *top[] = { harness_prog("EVSOCK"), "--help", NULL };
	const char *cmds[] = { "/whois NICK", "/away", "/invite NICK",
		"/kick NICK", "/ban", "/mode", "/topic", "/names", "/nick",
		"/me", "/help", "--password" };
	char out[8192], err[1024];
	size_t outlen;
	struct chatproc *p;
	size_t mark;
	int st;

	st = harness_run(help, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	    sizeof(err), wait_ms);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status %d: %s", st, err);
	out[outlen] = '\0';
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ck_assert_msg(strstr(out, cmds[i]) != NULL, "--help lacks %s",
		    cmds[i]);
	st = harness_run(top, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	    sizeof(err), wait_ms);
	out[outlen] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "evsock chat [options]"));

	p = chat_user("alice");
	chat_type(p, "/help");
	chat_expect(p, "- commands");
	mark = p->seen;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) - 1; i++) {
		p->seen = mark;
		chat_expect(p, cmds[i]);
	}
	chat_type(p, "/frobnicate");
	chat_expect(p, "! unknown command /frobnicate (try /help)");
	chat_type(p, "/kick");
	chat_expect(p, "! usage: /kick NICK [reason]");
	chat_type(p, "/names");
	chat_expect(p, "! not in a channel (try /join #channel)");
	chat_type(p, "/nick alicia");
	chat_expect(p, "* alice is now known as alicia");
	chat_type(p, "/join #n");
	chat_expect(p, "* alicia has joined #n");
	chat_type(p, "/names");
	chat_expect(p, "* Names #n: @alicia");
	chat_type(p, "//slash text");
	chat_expect(p, "<alicia> /slash text");
	chat_type(p, "/part #n see you");
	chat_expect(p, "* alicia has left #n (see you)");
	ck_assert_int_eq(chat_wait(p, 1), 0);
}
END_TEST

static Suite *
evsock_chat_suite(void)
{
	Suite *s = suite_create("evsock_chat");
	TCase *tc;

	tc = tcase_create("password");
	tcase_add_checked_fixture(tc, start_daemon, stop_daemon);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_evsock_chat_password_wrong);
	tcase_add_test(tc, test_evsock_chat_password_right);
	tcase_add_test(tc, test_evsock_chat_error_before_welcome);
	suite_add_tcase(s, tc);
	tc = tcase_create("commands");
	tcase_add_checked_fixture(tc, start_daemon, stop_daemon);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_evsock_chat_whois);
	tcase_add_test(tc, test_evsock_chat_kick_mode);
	tcase_add_test(tc, test_evsock_chat_fake_server);
	tcase_add_test(tc, test_evsock_chat_help);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(evsock_chat_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
