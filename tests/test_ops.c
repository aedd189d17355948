/* System: evsockd operated as a service: config file, reload on SIGHUP,
   signals, log file and formats, /metrics, socket activation, --user. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

static char dir[64];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/evsock-ops-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* The fixture's teardown: also after a failed test. */
static void
remove_dir(void)
{
	char cmd[300];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	dir[0] = '\0';
}

static char *
path_in_dir(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static int
ci(void)
{
	const char *e = getenv("CI");

	return e != NULL && strcmp(e, "true") == 0;
}

/* Reads from fd until the text received so far holds needle, or ms
   pass; returns 1 if it did.  buf keeps what was read. */
static int
read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle,
    unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms * harness_slowdown();

	while (strstr(buf, needle) == NULL) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t r;

		if (harness_now_ms() >= deadline || *len + 1 >= cap)
			return 0;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = recv(fd, buf + *len, cap - *len - 1, 0);
		if (r <= 0)
			return 0;
		*len += (size_t)r;
		buf[*len] = '\0';
	}
	return 1;
}

/* Registers `nick` and reads up to the end of the MOTD (376, or 422
   when there is none). */
static int
chat_register(int port, const char *nick, const char *end, char *buf,
    size_t cap, size_t *len)
{
	char out[128];
	int fd = harness_connect(port, 0);
	int n;

	ck_assert_int_ge(fd, 0);
	n = snprintf(out, sizeof(out), "NICK %s\r\nUSER %s 0 * :%s\r\n", nick,
	    nick, nick);
	ck_assert_int_eq(harness_write_all(fd, out, (size_t)n), 0);
	ck_assert_msg(read_until(fd, buf, cap, len, end, 10000),
	    "no end of MOTD: %s", buf);
	return fd;
}

/* SIGHUP with a client connected: it stays, and the next MOTD is the
   new one; the changes are logged. */
START_TEST(test_ops_sighup_reloads_motd_keeps_clients)
{
	char conf[300], motd[300], text[700], buf[16384] = "";
	const char *argv[] = { "evsockd", "--config", conf, NULL };
	struct harness_proc p;
	size_t len = 0;
	int port, fd;

	make_dir();
	path_in_dir("motd", motd, sizeof(motd));
	path_in_dir("evsockd.conf", conf, sizeof(conf));
	write_file(motd, "the first motd\n");
	snprintf(text, sizeof(text),
	    "# chat only\nlisten chat=127.0.0.1:0\n"
	    "motd-file %s\nsendq 1M\n",
	    motd);
	write_file(conf, text);
	argv[2] = conf;
	ck_assert_msg(harness_evsockd(&p, argv, 1, &port) == 0, "%s", p.log);
	fd = chat_register(port, "alice", " 376 ", buf, sizeof(buf), &len);
	ck_assert_msg(strstr(buf, "the first motd") != NULL, "%s", buf);

	write_file(motd, "the second motd\n");
	snprintf(text, sizeof(text),
	    "listen chat=127.0.0.1:0\nmotd-file %s\n"
	    "sendq 2M\nmax-per-ip 50\n",
	    motd);
	write_file(conf, text);
	kill(p.pid, SIGHUP);
	ck_assert_msg(harness_proc_wait_log(&p, "reload: done", 10000), "%s",
	    p.log);
	ck_assert_msg(strstr(p.log, "reload: sendq 1048576 -> 2097152") != NULL,
	    "%s", p.log);
	ck_assert_msg(strstr(p.log, "reload: max-per-ip 0 -> 50") != NULL, "%s",
	    p.log);
	ck_assert_msg(strstr(p.log, "reload: motd changed") != NULL, "%s",
	    p.log);

	len = 0;
	buf[0] = '\0';
	ck_assert_int_eq(harness_write_all(fd, "MOTD\r\n", 6), 0);
	ck_assert_msg(read_until(fd, buf, sizeof(buf), &len, "the second motd",
	                  10000),
	    "old connection: %s", buf);

	/* A broken file changes nothing, and says where it is broken. */
	snprintf(text, sizeof(text),
	    "listen chat=127.0.0.1:0\nmotd-file %s\n"
	    "sendq lots\n",
	    motd);
	write_file(conf, text);
	write_file(motd, "the third motd\n");
	kill(p.pid, SIGHUP);
	ck_assert_msg(harness_proc_wait_log(&p, "reload failed", 10000), "%s",
	    p.log);
	ck_assert_msg(strstr(p.log, "evsockd.conf:3: sendq 'lots'") != NULL,
	    "%s", p.log);
	len = 0;
	buf[0] = '\0';
	ck_assert_int_eq(harness_write_all(fd, "MOTD\r\n", 6), 0);
	ck_assert_msg(read_until(fd, buf, sizeof(buf), &len, " 376 ", 10000),
	    "%s", buf);
	ck_assert_msg(strstr(buf, "the second motd") != NULL, "%s", buf);
	close(fd);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
	remove_dir();
}
END_TEST

/* The signals a daemon commonly receives do not end it. */
START_TEST(test_ops_signals_do_not_kill)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		NULL };
	const int sigs[] = { SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGWINCH,
		SIGURG };
	struct harness_proc p;
	char buf[64] = "";
	size_t len = 0;
	int port, fd;

	ck_assert_msg(harness_evsockd(&p, argv, 1, &port) == 0, "%s", p.log);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		kill(p.pid, sigs[i]);
	ck_assert_msg(harness_proc_wait_log(&p, "status: ", 10000), "%s",
	    p.log);
	ck_assert_msg(harness_proc_wait_log(&p, "reload: ", 10000), "%s",
	    p.log);
	fd = harness_connect(port, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_write_all(fd, "still here\n", 11), 0);
	ck_assert(
	    read_until(fd, buf, sizeof(buf), &len, "still here\n", 10000));
	close(fd);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

static int
file_contains(const char *path, const char *needle, unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms * harness_slowdown();
	char buf[16384];

	for (;;) {
		FILE *f = fopen(path, "r");
		size_t n = 0;

		if (f != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		if (strstr(buf, needle) != NULL)
			return 1;
		if (harness_now_ms() >= deadline)
			return 0;
		usleep(20000);
	}
}

/* --log-file: lines go to the file; after a rotation SIGUSR1 makes the
   daemon write to a new file at the same path. */
START_TEST(test_ops_sigusr1_reopens_log_file)
{
	char log[300], rotated[300];
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--log-file", log, NULL };
	struct harness_proc p;
	int port;

	make_dir();
	path_in_dir("evsockd.log", log, sizeof(log));
	path_in_dir("evsockd.log.1", rotated, sizeof(rotated));
	ck_assert_int_eq(harness_evsockd(&p, argv, 0, &port), 0);
	ck_assert_msg(file_contains(log, "listening echo on", 10000),
	    "no log file");
	ck_assert_int_eq(rename(log, rotated), 0);
	kill(p.pid, SIGUSR1);
	ck_assert_msg(file_contains(log, "SIGUSR1: log file reopened", 10000),
	    "no new log file");
	kill(p.pid, SIGUSR2);
	ck_assert(file_contains(log, "status: ", 10000));
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
	ck_assert(file_contains(log, "shutdown complete", 1000));
	ck_assert(!file_contains(rotated, "shutdown complete", 0));
	remove_dir();
}
END_TEST

/* Text lines start with an RFC 3339 time; --log-format json writes one
   object a line. */
START_TEST(test_ops_log_formats)
{
	const char *text_argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		NULL };
	const char *json_argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--log-format", "json", NULL };
	struct harness_proc p;
	int port, y, mo, d, h, mi, s, ms;
	char z;

	ck_assert_msg(harness_evsockd(&p, text_argv, 1, &port) == 0, "%s",
	    p.log);
	ck_assert_int_eq(sscanf(p.log, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo,
	                     &d, &h, &mi, &s, &ms, &z),
	    8);
	ck_assert_int_eq(z, 'Z');
	ck_assert_msg(strstr(p.log, "Z evsockd: listening echo on ") != NULL,
	    "%s", p.log);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);

	ck_assert_msg(harness_evsockd(&p, json_argv, 1, &port) == 0, "%s",
	    p.log);
	ck_assert_msg(strncmp(p.log, "{\"time\":\"", 9) == 0, "%s", p.log);
	ck_assert_msg(
	    strstr(p.log,
	        "\",\"level\":\"info\",\"program\":"
	        "\"evsockd\",\"message\":\"listening echo on 127.0.0.1:") !=
	        NULL,
	    "%s", p.log);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
	ck_assert_msg(strstr(p.log, "}\n") != NULL, "%s", p.log);
}
END_TEST

static int
run_evsockd(const char *const *args, char *out, size_t outcap, char *err,
    size_t errcap)
{
	size_t outlen = 0;
	int st;

	st = harness_run(args, "", 0, out, outcap - 1, &outlen, err, errcap,
	    20000);
	out[outlen] = '\0';
	return st;
}

/* --check-config: 0 for a good file; FILE:LINE: problem otherwise,
   including a file that a setting names and that cannot be read. */
START_TEST(test_ops_check_config)
{
	char conf[300], text[400], out[512], err[1024];
	const char *argv[] = { harness_prog("EVSOCKD"), "--check-config",
		"--config", conf, NULL };
	int st;

	make_dir();
	path_in_dir("evsockd.conf", conf, sizeof(conf));
	write_file(conf,
	    "listen echo=127.0.0.1:7007 # loopback\n"
	    "sendq 64k\n\n   # comment\nmax-clients 100\n");
	st = run_evsockd(argv, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", err);
	ck_assert_msg(strstr(out, ": ok") != NULL, "%s", out);

	write_file(conf, "sendq 64k\nmax-clients zero\n");
	st = run_evsockd(argv, out, sizeof(out), err, sizeof(err));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	snprintf(text, sizeof(text), "%s:2: max-clients 'zero'", conf);
	ck_assert_msg(strstr(err, text) != NULL, "%s", err);

	write_file(conf, "\nmotd-file /nonexistent/motd\n");
	st = run_evsockd(argv, out, sizeof(out), err, sizeof(err));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	snprintf(text, sizeof(text), "%s:2: motd-file /nonexistent/motd", conf);
	ck_assert_msg(strstr(err, text) != NULL, "%s", err);

	/* Bans need a file, or a directory to make one in. */
	write_file(conf, "kline-file /nonexistent/dir/klines\n");
	st = run_evsockd(argv, out, sizeof(out), err, sizeof(err));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	snprintf(text, sizeof(text),
	    "%s:1: kline-file /nonexistent/dir/"
	    "klines: no directory /nonexistent/dir",
	    conf);
	ck_assert_msg(strstr(err, text) != NULL, "%s", err);
	/* A hash of the right shape that crypt(3) cannot use would refuse
	   every OPER: the check names it. */
	write_file(conf,
	    "oper alice "
	    "$6$saltsalt$Kx3uHnJ7Yl0pO1vS7xV3hQ2m9y4bZ0jW\n");
	st = run_evsockd(argv, out, sizeof(out), err, sizeof(err));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	snprintf(text, sizeof(text),
	    "%s:1: operator alice: this system's "
	    "crypt(3) cannot check",
	    conf);
	ck_assert_msg(strstr(err, text) != NULL, "%s", err);
	snprintf(text, sizeof(text),
	    "kline-file %s/klines\noper alice "
	    "$6$saltsalt$g3uPFdehVnKoLXdidvSAg1zlVgYomPr0X/xgdXSBn2Lux"
	    "ZUOGgYW4IULZkguZ77fzYteIur49AGHmF9iek6Sf1\n",
	    dir);
	write_file(conf, text);
	st = run_evsockd(argv, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", err);

	write_file(conf, "config /etc/other.conf\n");
	st = run_evsockd(argv, out, sizeof(out), err, sizeof(err));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	ck_assert_msg(strstr(err,
	                  ":1: 'config' is only accepted on the "
	                  "command line") != NULL,
	    "%s", err);
	remove_dir();
}
END_TEST

/* Sends a GET for path to 127.0.0.1:port; returns the body in buf (the
   status line checked for 200). */
static void
http_get(int port, const char *path, char *buf, size_t cap)
{
	char req[128], *body;
	ssize_t n;
	int fd = harness_connect(port, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n",
	    path);
	ck_assert_int_eq(harness_write_all(fd, req, strlen(req)), 0);
	n = harness_read_eof(fd, buf, cap - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strncmp(buf, "HTTP/1.0 200", 12) == 0 ||
	        strncmp(buf, "HTTP/1.1 200", 12) == 0,
	    "%.200s", buf);
	body = strstr(buf, "\r\n\r\n");
	ck_assert_ptr_nonnull(body);
	memmove(buf, body + 4, strlen(body + 4) + 1);
}

static unsigned long long
metric(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
		p += n;
	}
	return (unsigned long long)-1;
}

/* Returns the value of name{service="svc",listener="127.0.0.1:port"
   [,reason="reason"]} in text. */
static unsigned long long
listener_metric(const char *text, const char *name, const char *svc, int port,
    const char *reason)
{
	char series[256];

	if (reason != NULL)
		snprintf(series, sizeof(series),
		    "%s{service=\"%s\",listener="
		    "\"127.0.0.1:%d\",reason=\"%s\"}",
		    name, svc, port, reason);
	else
		snprintf(series, sizeof(series),
		    "%s{service=\"%s\",listener="
		    "\"127.0.0.1:%d\"}",
		    name, svc, port);
	return metric(text, series);
}

/* Scrapes /metrics until series_fn(body) holds or 10 s pass (worker
   counters reach the main thread within a probe period). */
static void
scrape_until(int port, char *body, size_t cap, int (*ok)(const char *, void *),
    void *arg)
{
	uint64_t deadline = harness_now_ms() + 10000 * harness_slowdown();

	for (;;) {
		http_get(port, "/metrics", body, cap);
		if (ok(body, arg) || harness_now_ms() > deadline)
			break;
		usleep(50000);
	}
}

static int
echo_counted(const char *body, void *arg)
{
	int *ports = arg;

	return listener_metric(body, "evsockd_received_bytes_total", "echo",
	           ports[0], NULL) == 9 &&
	    listener_metric(body, "evsockd_connections_closed_total", "chat",
	        ports[1], "sendq") == 1;
}

/* A chat client that sends and never reads: PONGs pile up until the
   sendq closes it.  Returns its socket. */
static int
chat_flood_unread(int port)
{
	char line[512], buf[4096] = "";
	size_t len = 0;
	int fd = chat_register(port, "slow", " 422 ", buf, sizeof(buf), &len);

	memset(line, 'x', sizeof(line));
	memcpy(line, "PING :", 6);
	memcpy(line + 400, "\r\n", 2);
	/* Up to 2 MB: more than the sendq and every socket buffer between
	   (the client's does not grow while it reads nothing). */
	for (int i = 0; i < 5000; i++) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		if (poll(&pfd, 1, 10000) <= 0 ||
		    send(fd, line, 402, MSG_NOSIGNAL | MSG_DONTWAIT) != 402)
			break;
	}
	return fd;
}

/* /metrics counts what happened on echo (served by worker threads) and
   chat per service and listener, closes by reason, the chat's relayed
   messages, and promtool accepts the whole scrape. */
START_TEST(test_ops_metrics)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--listen", "chat=127.0.0.1:0", "--threads", "2", "--metrics",
		"127.0.0.1:0", "--sendq", "16k", "--socket-buffer", "4k",
		"--flood-rate", "0", NULL };
	const char *promtool[] = { "promtool", "check", "metrics", NULL };
	static char body[262144];
	char buf[8192] = "", out[4096], err[4096];
	struct harness_proc p;
	int ports[3], fd, cfd, sfd, st;
	size_t len = 0, outlen;

	ck_assert_msg(harness_evsockd(&p, argv, 3, ports) == 0, "%s", p.log);
	fd = harness_connect(ports[0], 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_write_all(fd, "count me\n", 9), 0);
	ck_assert(read_until(fd, buf, sizeof(buf), &len, "count me\n", 10000));
	len = 0;
	buf[0] = '\0';
	cfd = chat_register(ports[1], "bob", " 422 ", buf, sizeof(buf), &len);
	ck_assert_int_eq(harness_write_all(cfd, "JOIN #ops\r\n", 11), 0);
	ck_assert(read_until(cfd, buf, sizeof(buf), &len, " 366 ", 10000));
	sfd = chat_flood_unread(ports[1]);
	ck_assert_msg(harness_proc_wait_log(&p, "closed: SendQ exceeded",
	                  10000),
	    "%s", p.log);

	scrape_until(ports[2], body, sizeof(body), echo_counted, ports);
	ck_assert_msg(listener_metric(body,
	                  "evsockd_connections_accepted_"
	                  "total",
	                  "echo", ports[0], NULL) == 1,
	    "%s", body);
	ck_assert_msg(listener_metric(body, "evsockd_received_bytes_total",
	                  "echo", ports[0], NULL) == 9,
	    "%s", body);
	ck_assert_msg(listener_metric(body, "evsockd_connections_open", "chat",
	                  ports[1], NULL) == 1,
	    "%s", body);
	ck_assert_msg(listener_metric(body,
	                  "evsockd_connections_accepted_"
	                  "total",
	                  "chat", ports[1], NULL) == 2,
	    "%s", body);
	ck_assert_msg(listener_metric(body, "evsockd_connections_closed_total",
	                  "chat", ports[1], "sendq") == 1,
	    "%s", body);
	ck_assert_msg(listener_metric(body, "evsockd_connections_closed_total",
	                  "chat", ports[1], "stall") == 0,
	    "%s", body);
	ck_assert_msg(listener_metric(body,
	                  "evsockd_connections_refused_"
	                  "total",
	                  "echo", ports[0], "max_clients") == 0,
	    "%s", body);
	ck_assert_msg(strstr(body,
	                  "evsockd_accept_pauses_total{loop="
	                  "\"worker1\"} 0\n") != NULL,
	    "%s", body);
	ck_assert_msg(metric(body, "evsockd_chat_users") == 1, "%s", body);
	ck_assert_msg(metric(body, "evsockd_chat_channels") == 1, "%s", body);
	/* bob's JOIN went to the channel: one message, one copy. */
	ck_assert_msg(metric(body, "evsockd_chat_messages_relayed_total") == 1,
	    "%s", body);
	ck_assert_msg(metric(body, "evsockd_chat_deliveries_total") == 1, "%s",
	    body);
	ck_assert_msg(strstr(body,
	                  "evsockd_event_loop_lag_seconds_bucket"
	                  "{loop=\"worker2\",le=\"+Inf\"}") != NULL,
	    "%s", body);
	ck_assert(metric(body, "process_open_fds") > 3);
	ck_assert(metric(body, "process_max_fds") > 0);
	ck_assert(strstr(body, "\nprocess_cpu_seconds_total ") != NULL);
	ck_assert(strstr(body, "\nprocess_resident_memory_bytes ") != NULL);
	ck_assert(strstr(body, "\nprocess_start_time_seconds ") != NULL);
	close(fd);
	close(cfd);
	close(sfd);

	st = harness_run(promtool, body, strlen(body), out, sizeof(out) - 1,
	    &outlen, err, sizeof(err), 30000);
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		ck_assert_msg(!ci(), "promtool is missing (CI=true)");
		fprintf(stderr, "promtool not installed: not checked\n");
	} else {
		out[outlen] = '\0';
		ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "promtool: %s%s", out, err);
	}
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

static int
stall_counted(const char *body, void *arg)
{
	return listener_metric(body, "evsockd_connections_closed_total", "echo",
	           *(int *)arg, "stall") == 1;
}

/* An echo peer that sends and never reads is closed once its output
   has not moved for --stall-timeout; the close is logged at info with
   the connection's id, address and reason, and counted. */
START_TEST(test_ops_stall_timeout)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", "--stall-timeout", "300ms", "--sendq", "4k",
		"--socket-buffer", "4k", "--metrics", "127.0.0.1:0", NULL };
	static char body[262144];
	char chunk[4096];
	struct harness_proc p;
	struct pollfd pfd;
	unsigned long long id;
	const char *line;
	int ports[2], fd, n;

	ck_assert_msg(harness_evsockd(&p, argv, 2, ports) == 0, "%s", p.log);
	fd = harness_connect(ports[0], 0);
	ck_assert_int_ge(fd, 0);
	memset(chunk, 'e', sizeof(chunk));
	/* Send until the kernel takes no more: every buffer on the way is
	   full and the server has stopped reading. */
	for (n = 0; n < 100000; n++)
		if (send(fd, chunk, sizeof(chunk),
		        MSG_DONTWAIT | MSG_NOSIGNAL) <= 0)
			break;
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	ck_assert_msg(harness_proc_wait_log(&p, "closed: Stalled output",
	                  10000),
	    "%s", p.log);
	line = strstr(p.log, "evsockd: conn ");
	ck_assert_msg(line != NULL &&
	        sscanf(line,
	            "evsockd: conn %llu from "
	            "127.0.0.1 closed: Stalled output",
	            &id) == 1,
	    "%s", p.log);
	ck_assert(id > 0);
	/* The server dropped what the peer never took: a reset. */
	pfd.fd = fd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 10000 * (int)harness_slowdown()), 1);
	ck_assert(pfd.revents & (POLLERR | POLLHUP | POLLIN));
	close(fd);
	scrape_until(ports[1], body, sizeof(body), stall_counted, &ports[0]);
	ck_assert_msg(stall_counted(body, &ports[0]), "%s", body);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

/* Collects the ids of "conn N from ... opened" lines; returns how
   many, all checked to differ. */
static size_t
distinct_ids(const char *log, unsigned long long *ids, size_t cap)
{
	const char *p = log;
	size_t n = 0;

	while ((p = strstr(p, "conn ")) != NULL && n < cap) {
		unsigned long long id;
		char what[16];

		if (sscanf(p, "conn %llu from 127.0.0.1 %15s", &id, what) ==
		        2 &&
		    strcmp(what, "opened") == 0) {
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(ids[i] != id, "id %llu twice: %s",
				    id, log);
			ids[n++] = id;
		}
		p += 5;
	}
	return n;
}

/* Connection ids differ across services and echo worker threads, and
   log lines about a connection carry its id. */
START_TEST(test_ops_log_connection_ids)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--listen", "chat=127.0.0.1:0", "--threads", "2", "--log-level",
		"debug", NULL };
	unsigned long long ids[16];
	struct harness_proc p;
	int ports[2], fds[8];
	uint64_t deadline;
	size_t n = 0;

	ck_assert_msg(harness_evsockd(&p, argv, 2, ports) == 0, "%s", p.log);
	for (int i = 0; i < 8; i++) {
		fds[i] = harness_connect(ports[i % 2], 0);
		ck_assert_int_ge(fds[i], 0);
	}
	deadline = harness_now_ms() + 10000 * harness_slowdown();
	while (harness_now_ms() < deadline) {
		harness_proc_drain(&p);
		if ((n = distinct_ids(p.log, ids, 16)) == 8)
			break;
		usleep(20000);
	}
	ck_assert_msg(n == 8, "%zu ids: %s", n, p.log);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

/* Sums N in the "suppressed N similar lines" lines of log. */
static unsigned long long
suppressed(const char *log)
{
	const char *p = log;
	unsigned long long sum = 0, k;

	while ((p = strstr(p, "suppressed ")) != NULL) {
		if (sscanf(p, "suppressed %llu similar lines", &k) == 1)
			sum += k;
		p++;
	}
	return sum;
}

static unsigned long long
refusals_logged(const char *log)
{
	const char *p = log;
	unsigned long long n = 0;

	while ((p = strstr(p, " refused: Server full")) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* Connections refused by a limit are logged at info with id, address
   and reason, at most LOG_LIMIT_PER_SEC a second: the rest show up as
   one "suppressed N similar lines" line, so a flood of connections
   cannot flood the log. */
START_TEST(test_ops_log_limit_rate)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--threads", "1", "--max-clients", "1", NULL };
	struct harness_proc p;
	unsigned long long lines = 0, held = 0;
	uint64_t deadline;
	int port, keep;

	ck_assert_msg(harness_evsockd(&p, argv, 1, &port) == 0, "%s", p.log);
	keep = harness_connect(port, 0);
	ck_assert_int_ge(keep, 0);
	ck_assert_int_eq(harness_write_all(keep, "x", 1), 0);
	{
		char c;
		ck_assert_int_eq(harness_read_full(keep, &c, 1), 1);
	}
	for (int i = 0; i < 200; i++) {
		int fd = harness_connect(port, 0);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	deadline = harness_now_ms() + 20000 * harness_slowdown();
	while (harness_now_ms() < deadline) {
		harness_proc_drain(&p);
		lines = refusals_logged(p.log);
		held = suppressed(p.log);
		if (lines + held >= 200)
			break;
		usleep(50000);
	}
	ck_assert_msg(lines + held == 200, "%llu + %llu: %s", lines, held,
	    p.log);
	ck_assert_msg(held > 0 && lines < 200, "%s", p.log);
	ck_assert_msg(strstr(p.log, "evsockd: conn ") != NULL &&
	        strstr(p.log, " from 127.0.0.1 refused: Server full\n") != NULL,
	    "%s", p.log);
	close(keep);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
}
END_TEST

/* Socket activation: a bound socket passed as descriptor 3 with
   LISTEN_FDS serves, and the listen settings are ignored. */
START_TEST(test_ops_socket_activation)
{
#ifdef HAVE_LIBSYSTEMD
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct harness_proc p = { 0 };
	char buf[64] = "";
	size_t len = 0;
	const char *prog = harness_prog("EVSOCKD");
	int ls, errpipe[2], fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(ls, 16), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sin, &slen), 0);
	ck_assert_int_eq(pipe(errpipe), 0);
	p.pid = fork();
	ck_assert_int_ge(p.pid, 0);
	if (p.pid == 0) {
		char pid[32];
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(errpipe[1], 2);
		dup2(ls, 3);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_FDNAMES", "echo", 1);
		/* No ck_assert here: Check reports through a descriptor
		   the dup2s above may have replaced. */
		execl(prog, "evsockd", "--threads", "2", "--listen",
		    "chat=127.0.0.1:1", (char *)NULL);
		_exit(127);
	}
	close(errpipe[1]);
	close(ls);
	p.err_fd = errpipe[0];
	fcntl(p.err_fd, F_SETFL, O_NONBLOCK);
	if (!harness_proc_wait_log(&p, "listening echo on", 10000)) {
		int st = harness_proc_stop(&p, SIGKILL, 1000);
		ck_abort_msg("status %d: %s", st, p.log);
	}
	ck_assert_msg(strstr(p.log,
	                  "using 1 sockets from the service "
	                  "manager") != NULL,
	    "%s", p.log);
	ck_assert(strstr(p.log, "listening chat") == NULL);
	fd = harness_connect(ntohs(sin.sin_port), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(harness_write_all(fd, "passed\n", 7), 0);
	ck_assert(read_until(fd, buf, sizeof(buf), &len, "passed\n", 10000));
	close(fd);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
#else
	fprintf(stderr,
	    "built without libsystemd: socket activation not "
	    "tested\n");
	ck_assert_msg(!ci(), "libsystemd is missing (CI=true)");
#endif
}
END_TEST

#ifdef HAVE_LIBSYSTEMD
/* Reads datagrams from the notify socket until one holds needle. */
static int
notify_wait(int fd, const char *needle, char *got, size_t cap)
{
	uint64_t deadline = harness_now_ms() + 10000 * harness_slowdown();

	while (harness_now_ms() < deadline) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, got, cap - 1, 0);
		if (n <= 0)
			continue;
		got[n] = '\0';
		if (strstr(got, needle) != NULL)
			return 1;
	}
	return 0;
}
#endif

/* Under systemd (NOTIFY_SOCKET) evsockd says READY=1 once it serves,
   RELOADING=1 then READY=1 around a reload, and STOPPING=1. */
START_TEST(test_ops_sd_notify)
{
#ifdef HAVE_LIBSYSTEMD
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		NULL };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct harness_proc p;
	char got[512];
	int fd, port;

	make_dir();
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	ck_assert_msg(harness_evsockd(&p, argv, 1, &port) == 0, "%s", p.log);
	unsetenv("NOTIFY_SOCKET");
	ck_assert_msg(notify_wait(fd, "READY=1", got, sizeof(got)), "%s", got);
	kill(p.pid, SIGHUP);
	ck_assert_msg(notify_wait(fd, "RELOADING=1", got, sizeof(got)), "%s",
	    got);
	ck_assert(strstr(got, "MONOTONIC_USEC=") != NULL);
	ck_assert_msg(notify_wait(fd, "READY=1", got, sizeof(got)), "%s", got);
	kill(p.pid, SIGTERM);
	ck_assert_msg(notify_wait(fd, "STOPPING=1", got, sizeof(got)), "%s",
	    got);
	ck_assert_int_eq(harness_proc_stop(&p, 0, 10000), 0);
	close(fd);
	remove_dir();
#else
	fprintf(stderr, "built without libsystemd: sd_notify not tested\n");
	ck_assert_msg(!ci(), "libsystemd is missing (CI=true)");
#endif
}
END_TEST

static unsigned
proc_uid(pid_t pid)
{
	char path[64], line[256];
	unsigned uid = (unsigned)-1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return uid;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Uid: %*u %u", &uid) == 1)
			break;
	fclose(f);
	return uid;
}

/* --user: started as root, the daemon serves as that user once its
   sockets are bound (a port below 1024 when root may bind it). */
START_TEST(test_ops_user_drops_root)
{
	const char *argv[] = { "evsockd", "--listen", "echo=127.0.0.1:0",
		"--user", "nobody", NULL };
	const char *bad[] = { harness_prog("EVSOCKD"), "--listen",
		"echo=127.0.0.1:0", "--user", "no-such-user-here", NULL };
	char out[256], err[2048];
	struct harness_proc p;
	struct passwd *pw;
	int port;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr,
		    "not root or no user nobody: --user not "
		    "tested\n");
		return;
	}
	/* valgrind, started as root, cannot remove its own files once the
	   daemon is another user, and says so on stderr. */
	if (harness_slowdown() > 1) {
		fprintf(stderr, "under valgrind: --user not tested\n");
		return;
	}
	ck_assert_msg(harness_evsockd(&p, argv, 1, &port) == 0, "%s", p.log);
	ck_assert_msg(harness_proc_wait_log(&p, "running as user nobody",
	                  10000),
	    "%s", p.log);
	ck_assert_uint_eq(proc_uid(p.pid), pw->pw_uid);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);

	/* A user that cannot be taken ends the daemon: never root by
	   mistake. */
	ck_assert_int_ne(run_evsockd(bad, out, sizeof(out), err, sizeof(err)),
	    0);
	ck_assert_msg(strstr(err, "user no-such-user-here: no such user") !=
	        NULL,
	    "%s", err);
}
END_TEST

static Suite *
ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("service");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, NULL, remove_dir);
	tcase_add_test(tc, test_ops_sighup_reloads_motd_keeps_clients);
	tcase_add_test(tc, test_ops_signals_do_not_kill);
	tcase_add_test(tc, test_ops_sigusr1_reopens_log_file);
	tcase_add_test(tc, test_ops_log_formats);
	tcase_add_test(tc, test_ops_check_config);
	tcase_add_test(tc, test_ops_metrics);
	tcase_add_test(tc, test_ops_stall_timeout);
	tcase_add_test(tc, test_ops_log_connection_ids);
	tcase_add_test(tc, test_ops_log_limit_rate);
	tcase_add_test(tc, test_ops_socket_activation);
	tcase_add_test(tc, test_ops_sd_notify);
	tcase_add_test(tc, test_ops_user_drops_root);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ops_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
