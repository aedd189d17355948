/*
 * System: `evsock load` for any TCP protocol -- --send/--expect,
 * scripts, pipelining, churn, many targets, .hgrm, merge and the HTML
 * report -- against evsockd, a real redis-server and nginx, small
 * servers inside this test, and headless Chromium for the page.
 * Under CI=true a missing redis-server, nginx or chromium fails the
 * test that needs it; elsewhere that test is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "harness.h"

#define RUN_MS 90000
#define SRV_CONNS 64
#define SHOT_W 1000
#define SHOT_H 1500

static struct harness_proc proc;
static char out[512 * 1024];
static char err[16384];
static char tmpdir[64];

enum srv_mode {
	SRV_HTTP,  /* HTTP/1.1: Content-Length and chunked, in turn */
	SRV_WRONG, /* "+PONG\r\n" per line, but the 5th is "-ERR wrong" */
	SRV_BATCH  /* answers "+OK\r\n" only when 4 lines are waiting */
};

struct srv {
	enum srv_mode mode;
	int lfd, port;
	volatile int stop;
	int accepted;
	pthread_t tid;
};

static int run_load(const char *const *args);
static const char *find_prog(const char *name, char *buf, size_t len);
static int need_prog(const char *name, char *buf, size_t len);
static int free_port(void);
static int wait_port(int port, unsigned ms);
static pid_t spawn(const char *const *argv);
static void reap(pid_t pid);
static void *srv_main(void *arg);
static void srv_start(struct srv *s, enum srv_mode mode);
static void srv_stop(struct srv *s);
static void write_file(const char *path, const char *text, size_t len);
static void evsockd_echo(char *target, size_t len);

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/evsock-loadreq-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	memset(&proc, 0, sizeof(proc));
	proc.pid = -1;
}

static void
teardown(void)
{
	char cmd[128];

	if (proc.pid > 0)
		harness_proc_stop(&proc, SIGKILL, 5000);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Runs `evsock load ARGS...`; returns the exit status (-1: killed). */
static int
run_load(const char *const *args)
{
	const char *argv[40];
	size_t outlen, n = 0;
	int st;

	argv[n++] = harness_prog("EVSOCK");
	argv[n++] = "load";
	for (; *args != NULL && n < 39; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	st = harness_run(argv, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	    sizeof(err), RUN_MS);
	out[outlen] = '\0';
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static const char *
find_prog(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	char *d, *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin:/usr/bin",
	    path != NULL ? path : "");
	for (d = strtok_r(dirs, ":", &save); d != NULL;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/%s", d, name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

/* 1 when the program is there; 0 (skip) when it is not, except under
   CI=true, where that fails the test. */
static int
need_prog(const char *name, char *buf, size_t len)
{
	const char *ci = getenv("CI");

	if (find_prog(name, buf, len) != NULL)
		return 1;
	ck_assert_msg(ci == NULL || strcmp(ci, "true") != 0,
	    "%s is not installed (CI=true: a missing component fails)", name);
	fprintf(stderr, "%s is not installed: skipped\n", name);
	return 0;
}

/* A port that was free a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Waits until something accepts on the port; returns 1, or 0. */
static int
wait_port(int port, unsigned ms)
{
	uint64_t end = harness_now_ms() + ms;

	while (harness_now_ms() < end) {
		int fd = harness_connect(port, 0);

		if (fd >= 0) {
			close(fd);
			return 1;
		}
		usleep(20000);
	}
	return 0;
}

static pid_t
spawn(const char *const *argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	return pid;
}

/* SIGTERM, then SIGKILL after 10 s; always reaped. */
static void
reap(pid_t pid)
{
	uint64_t end = harness_now_ms() + 10000;
	int st;

	kill(pid, SIGTERM);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (harness_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return;
		}
		usleep(10000);
	}
}

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

static void
evsockd_echo(char *target, size_t len)
{
	const char *srv[] = { "evsockd", "--listen", "echo=127.0.0.1:0", NULL };
	int port = 0;

	ck_assert_msg(harness_evsockd(&proc, srv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
	snprintf(target, len, "127.0.0.1:%d", port);
}

/* A small server in a thread, one poll loop, behaving per mode. */
struct srv_conn {
	int fd;
	char in[8192];
	size_t inlen;
	unsigned replies, waiting;
};

static void
srv_reply(struct srv *s, struct srv_conn *c)
{
	static const char body[] = "hello from the test server\n";
	char buf[512];
	int n;

	for (;;) {
		char *end;
		size_t used;

		if (s->mode == SRV_HTTP) {
			if ((end = memmem(c->in, c->inlen, "\r\n\r\n", 4)) ==
			    NULL)
				return;
			used = (size_t)(end - c->in) + 4;
			if (c->replies++ % 2 == 0)
				n = snprintf(buf, sizeof(buf),
				    "HTTP/1.1 200 OK"
				    "\r\nContent-Type: text/plain\r\n"
				    "Content-Length: %zu\r\n\r\n%s",
				    sizeof(body) - 1, body);
			else
				n = snprintf(buf, sizeof(buf),
				    "HTTP/1.1 200 OK"
				    "\r\ntransfer-encoding: chunked\r\n\r\n"
				    "5\r\nhello\r\n%zx;ext=1\r\n%s\r\n0\r\n"
				    "X-Trailer: 1\r\n\r\n",
				    sizeof(body) - 1, body);
			/* In two pieces, the cut inside the head. */
			(void)!write(c->fd, buf, 20);
			(void)!write(c->fd, buf + 20, (size_t)n - 20);
		} else {
			if ((end = memchr(c->in, '\n', c->inlen)) == NULL)
				return;
			used = (size_t)(end - c->in) + 1;
			if (s->mode == SRV_WRONG) {
				if (++c->replies == 5)
					(void)!write(c->fd, "-ERR wrong\r\n",
					    12);
				else
					(void)!write(c->fd, "+PONG\r\n", 7);
			} else if (++c->waiting == 4) {
				(void)!write(c->fd,
				    "+OK\r\n+OK\r\n+OK\r\n"
				    "+OK\r\n",
				    20);
				c->waiting = 0;
			}
		}
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct srv_conn conns[SRV_CONNS];
	struct pollfd pfd[SRV_CONNS + 1];
	int n = 0, polled;

	while (!s->stop) {
		pfd[0].fd = s->lfd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < n; i++) {
			pfd[i + 1].fd = conns[i].fd;
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n + 1, 50) <= 0)
			continue;
		/* A connection accepted below was not polled this time. */
		polled = n;
		if ((pfd[0].revents & POLLIN) && n < SRV_CONNS) {
			int fd = accept(s->lfd, NULL, NULL);

			if (fd >= 0) {
				memset(&conns[n], 0, sizeof(conns[n]));
				conns[n++].fd = fd;
				s->accepted++;
			}
		}
		for (int i = 0; i < n && i < polled; i++) {
			struct srv_conn *c = &conns[i];
			ssize_t r;

			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP)) ||
			    pfd[i + 1].fd != c->fd)
				continue;
			r = read(c->fd, c->in + c->inlen,
			    sizeof(c->in) - c->inlen);
			if (r <= 0) {
				close(c->fd);
				conns[i] = conns[--n];
				i--;
				continue;
			}
			c->inlen += (size_t)r;
			srv_reply(s, c);
		}
	}
	for (int i = 0; i < n; i++)
		close(conns[i].fd);
	return NULL;
}

static void
srv_start(struct srv *s, enum srv_mode mode)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s->lfd, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s->lfd, 128), 0);
	ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	ck_assert_int_eq(pthread_create(&s->tid, NULL, srv_main, s), 0);
}

static void
srv_stop(struct srv *s)
{
	s->stop = 1;
	pthread_join(s->tid, NULL);
	close(s->lfd);
}

START_TEST(test_load_req_usage_names_the_option)
{
	const char *nosend[] = { "--expect", "x", "127.0.0.1:1", NULL };
	const char *noexp[] = { "--send", "x", "127.0.0.1:1", NULL };
	const char *badc[] = { "-c", "zero", "127.0.0.1:1", NULL };
	const char *badlong[] = { "--connections", "zero", "127.0.0.1:1",
		NULL };
	const char *badre[] = { "--send", "x", "--expect-re", "(",
		"127.0.0.1:1", NULL };
	const char *badfield[] = { "--send", "{nope}", "--expect-line",
		"127.0.0.1:1", NULL };
	const char *two[] = { "--send", "x", "--expect-line", "--expect", "y",
		"127.0.0.1:1", NULL };
	const char *ratechurn[] = { "--churn", "-r", "10", "127.0.0.1:1",
		NULL };
	const char *noscript[] = { "--script", "/nonexistent/s", "127.0.0.1:1",
		NULL };
	const char *help[] = { "--help", NULL };

	ck_assert_int_eq(run_load(nosend), 2);
	ck_assert_msg(strstr(err, "--send") != NULL, "%.2500s", err);
	ck_assert_int_eq(run_load(noexp), 2);
	ck_assert_msg(strstr(err, "--expect") != NULL, "%.2500s", err);
	ck_assert_int_eq(run_load(badc), 2);
	ck_assert_msg(strstr(err, "-c zero") != NULL, "%.2500s", err);
	ck_assert_int_eq(run_load(badlong), 2);
	ck_assert_msg(strstr(err, "--connections zero") != NULL, "%.2500s",
	    err);
	ck_assert_int_eq(run_load(badre), 2);
	ck_assert_msg(strstr(err, "--expect") != NULL, "%.2500s", err);
	ck_assert_int_eq(run_load(badfield), 2);
	ck_assert_msg(strstr(err, "--send: unknown field") != NULL, "%s", err);
	ck_assert_int_eq(run_load(two), 2);
	ck_assert_msg(strstr(err, "--expect") != NULL, "%.2500s", err);
	ck_assert_int_eq(run_load(ratechurn), 2);
	ck_assert_msg(strstr(err, "--churn") != NULL, "%.2500s", err);
	ck_assert_int_eq(run_load(noscript), 2);
	ck_assert_msg(strstr(err, "--script") != NULL, "%.2500s", err);
	ck_assert_int_eq(run_load(help), 0);
	ck_assert_msg(strstr(out, "{rand:N}") != NULL, "%.2500s", out);
	ck_assert_msg(strstr(out, "--expect-http") != NULL, "%.2500s", out);
}
END_TEST

/* Templates on both sides: what evsockd echoes is checked exactly. */
START_TEST(test_load_req_echo_templates)
{
	char target[64];
	const char *exact[] = { "-c", "6", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--send", "hi {conn} {seq}\\r\\n",
		"--expect", "hi {conn} {seq}\\r\\n", target, NULL };
	const char *re[] = { "-c", "3", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--send", "id {conn} {rand:12}\\n",
		"--expect-re", "^id [0-9]+ [A-Za-z0-9]{12}$", target, NULL };
	const char *bytes[] = { "-c", "3", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--send", "{rand:100}",
		"--expect-bytes", "100", target, NULL };
	int st;

	evsockd_echo(target, sizeof(target));
	st = run_load(exact);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_msg(strstr(out, "\"mode\":\"script\"") != NULL, "%.2500s",
	    out);
	ck_assert_uint_gt(harness_json_num(out, "totals", "msgs"), 0);
	ck_assert(harness_json_num(out, NULL, "errors") == 0);
	st = run_load(re);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_uint_gt(harness_json_num(out, "totals", "msgs"), 0);
	st = run_load(bytes);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert(harness_json_num(out, "totals", "bytes_received") ==
	    harness_json_num(out, "totals", "msgs") * 100);
}
END_TEST

/* A real redis-server answers PING, one at a time and 16 deep. */
START_TEST(test_load_req_redis_ping)
{
	char prog[512], portstr[16], target[64];
	const char *pipe1[] = { "-c", "4", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--send", "PING\\r\\n", "--expect",
		"+PONG\\r\\n", target, NULL };
	const char *pipe16[] = { "-c", "4", "-P", "16", "-d", "1", "--warmup",
		"0", "--no-progress", "--json", "--send", "PING\\r\\n",
		"--expect", "+PONG\\r\\n", target, NULL };
	const char *wrong[] = { "-c", "2", "-d", "1", "--warmup", "0",
		"--no-progress", "--send", "PING\\r\\n", "--expect",
		"+PANG\\r\\n", target, NULL };
	pid_t pid;
	int port, st;

	if (!need_prog("redis-server", prog, sizeof(prog)))
		return;
	port = free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	{
		const char *argv[] = { prog, "--port", portstr, "--bind",
			"127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", tmpdir, NULL };

		pid = spawn(argv);
	}
	if (!wait_port(port, 10000)) {
		reap(pid);
		ck_abort_msg("redis-server did not start on %d", port);
	}
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	st = run_load(pipe1);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_uint_gt(harness_json_num(out, "totals", "msgs"), 0);
	ck_assert(harness_json_num(out, "totals", "msgs") ==
	    harness_json_num(out, "totals", "sent"));
	st = run_load(pipe16);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert(harness_json_num(out, NULL, "pipeline") == 16);
	ck_assert(harness_json_num(out, "totals", "msgs") ==
	    harness_json_num(out, "totals", "sent"));
	st = run_load(wrong);
	reap(pid);
	ck_assert_msg(st == 1, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_msg(strstr(out, "first mismatch: connection") != NULL &&
	        strstr(out, "expected \"+PANG\\r\\n\", got \"+PONG\\r\\n\"") !=
	            NULL,
	    "%.2500s", out);
}
END_TEST

/* HTTP framed by Content-Length and by chunks with extensions and
   trailers, each response arriving in two pieces. */
START_TEST(test_load_req_http_tiny_server)
{
	struct srv s;
	char target[64];
	const char *args[] = { "-c", "4", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--expect-http", target, NULL };
	const char *status[] = { "-c", "1", "-d", "1", "--warmup", "0",
		"--no-progress", "--expect-http", "--expect-status", "404",
		target, NULL };
	int st;

	srv_start(&s, SRV_HTTP);
	snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
	st = run_load(args);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_uint_gt(harness_json_num(out, "totals", "msgs"), 10);
	st = run_load(status);
	srv_stop(&s);
	ck_assert_msg(st == 1, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_msg(strstr(out,
	                  "expected HTTP status 404, got "
	                  "\"HTTP/1.1 200 OK\"") != NULL,
	    "%.2500s", out);
}
END_TEST

/* nginx from Debian with a configuration of its own. */
START_TEST(test_load_req_http_nginx)
{
	char prog[512], conf[8192], path[256], target[64], url[300];
	const char *args[] = { "-c", "4", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--send", url, "--expect-http",
		target, NULL };
	const char *missing[] = { "-c", "1", "-d", "1", "--warmup", "0",
		"--no-progress", "--send",
		"GET /missing HTTP/1.1\\r\\nHost: "
		"t\\r\\n\\r\\n",
		"--expect-http", target, NULL };
	pid_t pid;
	int port, st, n;

	if (!need_prog("nginx", prog, sizeof(prog)))
		return;
	port = free_port();
	snprintf(path, sizeof(path), "%s/small.html", tmpdir);
	write_file(path, "<p>small</p>\n", 13);
	n = snprintf(conf, sizeof(conf),
	    "worker_processes 1;\ndaemon off;\nmaster_process off;\n"
	    "pid %s/nginx.pid;\nerror_log %s/error.log;\n"
	    "events { worker_connections 256; }\nhttp {\n"
	    "  access_log off;\n"
	    "  client_body_temp_path %s; proxy_temp_path %s;\n"
	    "  fastcgi_temp_path %s; uwsgi_temp_path %s;\n"
	    "  scgi_temp_path %s;\n"
	    "  server { listen 127.0.0.1:%d; root %s; }\n}\n",
	    tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, port,
	    tmpdir);
	snprintf(path, sizeof(path), "%s/nginx.conf", tmpdir);
	write_file(path, conf, (size_t)n);
	{
		char elog[256];
		const char *argv[] = { prog, "-c", path, "-p", tmpdir, "-e",
			elog, NULL };

		snprintf(elog, sizeof(elog), "%s/error.log", tmpdir);
		pid = spawn(argv);
	}
	if (!wait_port(port, 10000)) {
		reap(pid);
		ck_abort_msg("nginx did not start on %d", port);
	}
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	snprintf(url, sizeof(url),
	    "GET /small.html HTTP/1.1\\r\\nHost: "
	    "%s\\r\\n\\r\\n",
	    target);
	st = run_load(args);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_uint_gt(harness_json_num(out, "totals", "msgs"), 10);
	st = run_load(missing);
	reap(pid);
	ck_assert_msg(st == 1, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_msg(strstr(out,
	                  "expected HTTP status 2xx, got "
	                  "\"HTTP/1.1 404 Not Found\"") != NULL,
	    "%.2500s", out);
}
END_TEST

/* A server that answers wrongly now and then is caught: exit 1, the
   first mismatch with what was expected and what came. */
START_TEST(test_load_req_wrong_answer_fails)
{
	struct srv s;
	char target[64];
	const char *args[] = { "-c", "3", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--send", "PING {seq}\\r\\n",
		"--expect", "+PONG\\r\\n", target, NULL };
	int st;

	srv_start(&s, SRV_WRONG);
	snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
	st = run_load(args);
	srv_stop(&s);
	ck_assert_msg(st == 1, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert(harness_json_num(out, "error_kinds", "mismatch") == 3);
	ck_assert_msg(strstr(out, "\"first_mismatch\":\"connection ") != NULL &&
	        strstr(out,
	            "reply 4: expected \\\"+PONG\\\\r\\\\n\\\", "
	            "got \\\"-ERR wrong\\\\r\\\\n\\\"") != NULL,
	    "%.2500s", out);
	ck_assert_msg(strstr(err, "first mismatch") != NULL, "%.2500s", err);
}
END_TEST

/* A script: a greeting line once, then a request with a regex reply
   and a pause, and a connection closed and replaced on every round. */
START_TEST(test_load_req_script_file)
{
	char target[64], path[128];
	static const char script[] =
	    "# evsockd echoes: every expectation is met by what we sent\n"
	    "send HELLO {conn}\\n\n"
	    "expect HELLO {conn}\\n\n"
	    "repeat\n"
	    "send ping {seq} {rand:5}\\r\\n\n"
	    "expect-re ^ping [0-9]+ [a-zA-Z0-9]{5}$\n"
	    "sleep 5ms\n"
	    "send two lines\\nsecond\\n\n"
	    "expect-line\n"
	    "expect-bytes 7\n"
	    "close\n";
	static const char bad[] = "send x\nexpect-sometimes y\n";
	const char *args[] = { "-c", "4", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--script", path, target, NULL };
	int st;

	evsockd_echo(target, sizeof(target));
	snprintf(path, sizeof(path), "%s/s.txt", tmpdir);
	write_file(path, script, sizeof(script) - 1);
	st = run_load(args);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_uint_gt(harness_json_num(out, "totals", "msgs"), 16);
	ck_assert_uint_gt(harness_json_num(out, "totals", "closed"), 4);
	ck_assert_uint_gt(harness_json_num(out, "connections", "ok"), 4);
	write_file(path, bad, sizeof(bad) - 1);
	st = run_load(args);
	ck_assert_int_eq(st, 2);
	ck_assert_msg(strstr(err, "s.txt:2: unknown step") != NULL, "%s", err);
}
END_TEST

/* A server that answers only when four requests wait: -P 4 keeps it
   going, -P 1 stalls and the missing replies are errors. */
START_TEST(test_load_req_pipelining)
{
	struct srv s;
	char target[64];
	const char *p4[] = { "-c", "2", "-P", "4", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--send", "GET\\n", "--expect",
		"+OK\\r\\n", target, NULL };
	const char *p1[] = { "-c", "1", "-d", "500ms", "--warmup", "0",
		"--drain", "200ms", "--no-progress", "--json", "--send",
		"GET\\n", "--expect", "+OK\\r\\n", target, NULL };
	int st;

	srv_start(&s, SRV_BATCH);
	snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
	st = run_load(p4);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_uint_gt(harness_json_num(out, "totals", "msgs"), 100);
	st = run_load(p1);
	srv_stop(&s);
	ck_assert_msg(st == 1, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert(harness_json_num(out, "totals", "msgs") == 0);
	ck_assert(harness_json_num(out, "error_kinds", "timeout") == 1);
}
END_TEST

/* Connections as the load: each connects, exchanges once, closes. */
START_TEST(test_load_req_churn)
{
	char target[64];
	const char *args[] = { "-c", "4", "-d", "1", "--warmup", "0",
		"--no-progress", "--json", "--churn", target, NULL };
	const char *text[] = { "-c", "2", "-d", "1", "--warmup", "0",
		"--no-progress", "--churn", target, NULL };
	unsigned long long closed;
	int st;

	evsockd_echo(target, sizeof(target));
	st = run_load(args);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	closed = (unsigned long long)harness_json_num(out, "totals", "closed");
	ck_assert_uint_gt(closed, 10);
	ck_assert(harness_json_num(out, "connections", "per_s") > 0);
	ck_assert(harness_json_num(out, "connect_latency_us", "count") > 0);
	ck_assert(harness_json_num(out, "connect_latency_us", "p99") > 0);
	ck_assert(harness_json_num(out, "totals", "msgs") >= (double)closed);
	st = run_load(text);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_msg(strstr(out, "connections ") != NULL &&
	        strstr(out, "connect us") != NULL,
	    "%.2500s", out);
}
END_TEST

/* HOST:PORT,HOST:PORT spreads the connections round robin. */
START_TEST(test_load_req_many_targets)
{
	struct srv a, b;
	char target[128];
	const char *args[] = { "-c", "6", "-P", "4", "-d", "500ms", "--warmup",
		"0", "--no-progress", "--json", "--send", "x\\n", "--expect",
		"+OK\\r\\n", target, NULL };
	int st;

	srv_start(&a, SRV_BATCH);
	srv_start(&b, SRV_BATCH);
	snprintf(target, sizeof(target), "127.0.0.1:%d,127.0.0.1:%d", a.port,
	    b.port);
	st = run_load(args);
	srv_stop(&a);
	srv_stop(&b);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_int_eq(a.accepted, 3);
	ck_assert_int_eq(b.accepted, 3);
	ck_assert(harness_json_num(out, "connections", "ok") == 6);
}
END_TEST

/* Connections that never came up are errors in the summary, not
   beside it. */
START_TEST(test_load_req_failed_connections_are_errors)
{
	char target[64];
	const char *json[] = { "-c", "3", "-d", "1", "--no-progress", "--json",
		"--send", "x\\n", "--expect-line", target, NULL };
	const char *text[] = { "-c", "3", "-d", "1", "--no-progress", "--send",
		"x\\n", "--expect-line", target, NULL };
	int st;

	snprintf(target, sizeof(target), "127.0.0.1:%d", free_port());
	st = run_load(json);
	ck_assert_msg(st == 1, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert(harness_json_num(out, "connections", "failed") == 3);
	ck_assert(harness_json_num(out, NULL, "errors") == 3);
	ck_assert(harness_json_num(out, "error_kinds", "connect") == 3);
	st = run_load(text);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "errors      3  connect 3") != NULL,
	    "%.2500s", out);
}
END_TEST

/* An IRC run that evsockd's flood limit (10 commands a second per
   client by default) holds back says so. */
START_TEST(test_load_req_irc_flood_limit_said)
{
	const char *srv[] = { "evsockd", "--listen", "chat=127.0.0.1:0", NULL };
	char target[64];
	const char *args[] = { "-m", "irc", "-c", "3", "--senders", "1", "-r",
		"100", "-d", "1", "--warmup", "0", "--drain", "500ms",
		"--no-progress", target, NULL };
	int port = 0, st;

	ck_assert_msg(harness_evsockd(&proc, srv, 1, &port) == 0,
	    "evsockd did not start: %s", proc.log);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	st = run_load(args);
	ck_assert_msg(st == 1, "status %d: %.1500s %.1000s", st, out, err);
	ck_assert_msg(strstr(out, "flood limit") != NULL, "%.2500s", out);
}
END_TEST

/* --histogram writes HdrHistogram's .hgrm; merge adds two runs. */
START_TEST(test_load_req_hgrm_and_merge)
{
	char target[64], a[128], b[128], h[128], text[65536];
	const char *run_a[] = { "-c", "2", "-d", "500ms", "--warmup", "0",
		"--no-progress", "--json", "--send", "a\\n", "--expect", "a\\n",
		"--histogram", h, target, NULL };
	const char *merge[] = { "merge", "--json", a, b, NULL };
	const char *mtext[] = { "merge", a, b, NULL };
	double ca, cb, ta, tb;
	FILE *fp;
	size_t n;
	const char *last;

	evsockd_echo(target, sizeof(target));
	snprintf(a, sizeof(a), "%s/a.json", tmpdir);
	snprintf(b, sizeof(b), "%s/b.json", tmpdir);
	snprintf(h, sizeof(h), "%s/a.hgrm", tmpdir);
	ck_assert_int_eq(run_load(run_a), 0);
	write_file(a, out, strlen(out));
	ca = harness_json_num(out, "latency_us", "count");
	ta = harness_json_num(out, NULL, "throughput_msgs_per_s");
	ck_assert_int_eq(run_load(run_a), 0);
	write_file(b, out, strlen(out));
	cb = harness_json_num(out, "latency_us", "count");
	tb = harness_json_num(out, NULL, "throughput_msgs_per_s");

	fp = fopen(h, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	ck_assert_msg(strncmp(text,
	                  "       Value     Percentile "
	                  "TotalCount 1/(1-Percentile)\n\n",
	                  57) == 0,
	    "%s", text);
	ck_assert_msg(strstr(text, "#[Mean    = ") != NULL &&
	        strstr(text, "#[Max     = ") != NULL &&
	        strstr(text, "#[Buckets = ") != NULL,
	    "%s", text);
	ck_assert_msg(strstr(text, " 0.000000000000 ") != NULL, "%s", text);
	/* The last row is the 100% one, its total count the run's. */
	last = strstr(text, " 1.000000000000 ");
	ck_assert_msg(last != NULL, "%s", text);
	ck_assert(strtod(last + 16, NULL) == cb);

	ck_assert_int_eq(run_load(merge), 0);
	ck_assert(harness_json_num(out, "latency_us", "count") == ca + cb);
	ck_assert(harness_json_num(out, NULL, "runs") == 2);
	ck_assert(harness_json_num(out, "connections", "ok") == 4);
	ck_assert(fabs(harness_json_num(out, NULL, "throughput_msgs_per_s") -
	              (ta + tb)) < 1);
	ck_assert_int_eq(run_load(mtext), 0);
	ck_assert_msg(strstr(out, "2 runs merged") != NULL, "%.2500s", out);
}
END_TEST

#ifdef HAVE_ZLIB
static int
png_paeth(int a, int b, int c)
{
	int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

	return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Decodes an 8-bit RGB(A) PNG; counts the pixels that differ from the
   top-left one and the distinct colours (coarsely). */
static void
png_inspect(const unsigned char *png, size_t len, unsigned w, unsigned h,
    unsigned ctype, double *inked, unsigned *colours)
{
	unsigned bpp = ctype == 6 ? 4 : 3, seen[64] = { 0 };
	size_t stride = (size_t)w * bpp, zlen = 0, off = 8;
	unsigned char *z = malloc(len), *raw;
	uLongf rawlen = (uLongf)(h * (stride + 1));
	unsigned long long ink = 0;

	ck_assert_ptr_nonnull(z);
	while (off + 12 <= len) {
		uint32_t clen = (uint32_t)png[off] << 24 |
		    (uint32_t)png[off + 1] << 16 | (uint32_t)png[off + 2] << 8 |
		    png[off + 3];

		if (memcmp(png + off + 4, "IDAT", 4) == 0) {
			memcpy(z + zlen, png + off + 8, clen);
			zlen += clen;
		}
		off += 12 + clen;
	}
	raw = malloc(rawlen);
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(uncompress(raw, &rawlen, z, zlen), Z_OK);
	ck_assert_uint_eq(rawlen, h * (stride + 1));
	for (unsigned y = 0; y < h; y++) {
		unsigned char *row = raw + y * (stride + 1) + 1;
		unsigned char *up = y > 0 ? row - (stride + 1) : NULL;
		int f = row[-1];

		for (size_t i = 0; i < stride; i++) {
			int a = i >= bpp ? row[i - bpp] : 0;
			int b = up != NULL ? up[i] : 0;
			int c = i >= bpp && up != NULL ? up[i - bpp] : 0;

			row[i] = (unsigned char)(row[i] +
			    (f == 1        ? a :
			            f == 2 ? b :
			            f == 3 ? (a + b) / 2 :
			            f == 4 ? png_paeth(a, b, c) :
			                     0));
		}
	}
	*colours = 0;
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++) {
			const unsigned char *p = raw + y * (stride + 1) + 1 +
			    (size_t)x * bpp;
			unsigned k = (unsigned)(p[0] >> 6) << 4 |
			    (unsigned)(p[1] >> 6) << 2 | (unsigned)(p[2] >> 6);

			if (memcmp(p, raw + 1, 3) != 0)
				ink++;
			if (!seen[k]++)
				(*colours)++;
		}
	*inked = (double)ink / ((double)w * h);
	free(raw);
	free(z);
}
#endif

/* The HTML report is one page a browser shows: headless Chromium
   renders it, and the screenshot is a PNG of the window's size with
   plots on it. */
START_TEST(test_load_req_html_in_chromium)
{
	char prog[512], target[64], html[128], shot[160], prof[160];
	char size[32], url[200], shotarg[200], profarg[200];
	static unsigned char png[4 << 20];
	const char *args[] = { "-c", "3", "-d", "2", "--warmup", "1",
		"--no-progress", "--send", "hi {seq}\\n", "--expect",
		"hi {seq}\\n", "--report", html, target, NULL };
	size_t n, outlen;
	FILE *fp;
	unsigned w, h;
	int st;

	if (!need_prog("chromium", prog, sizeof(prog)))
		return;
	evsockd_echo(target, sizeof(target));
	snprintf(html, sizeof(html), "%s/report.html", tmpdir);
	snprintf(shot, sizeof(shot), "%s/shot.png", tmpdir);
	snprintf(prof, sizeof(prof), "%s/profile", tmpdir);
	st = run_load(args);
	ck_assert_msg(st == 0, "status %d: %.1500s %.1000s", st, out, err);
	fp = fopen(html, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(out, 1, sizeof(out) - 1, fp);
	fclose(fp);
	out[n] = '\0';
	ck_assert_msg(strstr(out, "<svg") != NULL, "%.300s", out);
	ck_assert_msg(strstr(out, "<script") == NULL &&
	        strstr(out, "http://") ==
	            strstr(out,
	                "http://www.w3.org/2000/"
	                "svg"),
	    "the page loads nothing from elsewhere");
	ck_assert_msg(strstr(out, "Latency by percentile") != NULL, "%s", out);

	snprintf(size, sizeof(size), "--window-size=%d,%d", SHOT_W, SHOT_H);
	snprintf(url, sizeof(url), "file://%s", html);
	snprintf(shotarg, sizeof(shotarg), "--screenshot=%s", shot);
	snprintf(profarg, sizeof(profarg), "--user-data-dir=%s", prof);
	{
		const char *argv[] = { prog, "--headless", "--no-sandbox",
			"--disable-gpu", "--hide-scrollbars", "--no-first-run",
			profarg, shotarg, size, url, NULL };

		st = harness_run(argv, NULL, 0, out, sizeof(out) - 1, &outlen,
		    err, sizeof(err), RUN_MS);
	}
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "chromium: status %d: %s", st, err);
	fp = fopen(shot, "rb");
	ck_assert_msg(fp != NULL, "no screenshot: %s", err);
	n = fread(png, 1, sizeof(png), fp);
	fclose(fp);
	ck_assert_uint_gt(n, 33);
	ck_assert(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
	ck_assert(memcmp(png + 12, "IHDR", 4) == 0);
	w = (unsigned)png[16] << 24 | (unsigned)png[17] << 16 |
	    (unsigned)png[18] << 8 | png[19];
	h = (unsigned)png[20] << 24 | (unsigned)png[21] << 16 |
	    (unsigned)png[22] << 8 | png[23];
	ck_assert_uint_eq(w, SHOT_W);
	ck_assert_uint_eq(h, SHOT_H);
	ck_assert_uint_eq(png[24], 8);
#ifdef HAVE_ZLIB
	{
		double inked;
		unsigned colours;

		ck_assert(png[25] == 2 || png[25] == 6);
		png_inspect(png, n, w, h, png[25], &inked, &colours);
		ck_assert_msg(inked > 0.02, "only %.4f of the pixels drawn",
		    inked);
		ck_assert_msg(colours >= 5, "only %u colours", colours);
	}
#else
	/* Without zlib: a blank page compresses to a few kilobytes. */
	ck_assert_uint_gt(n, 20000);
#endif
}
END_TEST

static Suite *
load_req_suite(void)
{
	Suite *s = suite_create("load_req");
	TCase *tc;

	tc = tcase_create("any protocol");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, test_load_req_usage_names_the_option);
	tcase_add_test(tc, test_load_req_echo_templates);
	tcase_add_test(tc, test_load_req_redis_ping);
	tcase_add_test(tc, test_load_req_http_tiny_server);
	tcase_add_test(tc, test_load_req_http_nginx);
	tcase_add_test(tc, test_load_req_wrong_answer_fails);
	tcase_add_test(tc, test_load_req_script_file);
	tcase_add_test(tc, test_load_req_pipelining);
	tcase_add_test(tc, test_load_req_churn);
	tcase_add_test(tc, test_load_req_many_targets);
	tcase_add_test(tc, test_load_req_failed_connections_are_errors);
	tcase_add_test(tc, test_load_req_irc_flood_limit_said);
	suite_add_tcase(s, tc);

	tc = tcase_create("reports");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, test_load_req_hgrm_and_merge);
	tcase_add_test(tc, test_load_req_html_in_chromium);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(load_req_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
