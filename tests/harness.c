#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

unsigned harness_child_nofile;

long
harness_cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may contain spaces. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	        &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

unsigned
harness_slowdown(void)
{
	const char *v = getenv("EVSOCK_VALGRIND");

	return v != NULL && strcmp(v, "1") == 0 ? 5 : 1;
}

uint64_t
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
harness_loop_until(struct event_base *base, int (*cond)(void *), void *arg,
    unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms;
	struct timeval tv = { 0, 50 * 1000 };

	while (!cond(arg)) {
		if (harness_now_ms() >= deadline)
			return 0;
		/* Bounded slice: wake at least every 50 ms to check. */
		event_base_loopexit(base, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
	return 1;
}

void
harness_random(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

int
harness_connect(int port, int v6)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct timeval tv = { 10, 0 };
	int fd, one = 1, rc;

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (v6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)port);
		sin6.sin6_addr = in6addr_loopback;
		rc = connect(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (rc == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
harness_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t
harness_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

ssize_t
harness_read_eof(int fd, void *buf, size_t cap)
{
	size_t got = 0;

	for (;;) {
		char scratch[4096];
		char *dst = got < cap ? (char *)buf + got : scratch;
		size_t room = got < cap ? cap - got : sizeof(scratch);
		ssize_t n = recv(fd, dst, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return (ssize_t)got;
		if (got < cap)
			got += (size_t)n;
	}
}

const char *
harness_prog(const char *envname)
{
	const char *p = getenv(envname);

	ck_assert_msg(p != NULL, "%s is not set (run through meson test)",
	    envname);
	return p;
}

/* Appends the words of $envname (a command prefix such as "valgrind
   --quiet") to args at *n, splitting buf in place; at most max words. */
static void
harness_wrapper(const char *envname, char *buf, size_t cap, const char **args,
    size_t *n, size_t max)
{
	char *w, *save = NULL;

	snprintf(buf, cap, "%s",
	    getenv(envname) != NULL ? getenv(envname) : "");
	for (w = strtok_r(buf, " ", &save); w != NULL && *n < max;
	     w = strtok_r(NULL, " ", &save))
		args[(*n)++] = w;
}

void
harness_proc_drain(struct harness_proc *p)
{
	for (;;) {
		size_t room = sizeof(p->log) - 1 - p->loglen;
		ssize_t n;
		if (room == 0) {
			/* Keep the newest half of the log. */
			memmove(p->log, p->log + sizeof(p->log) / 2,
			    p->loglen - sizeof(p->log) / 2);
			p->loglen -= sizeof(p->log) / 2;
			room = sizeof(p->log) - 1 - p->loglen;
		}
		n = read(p->err_fd, p->log + p->loglen, room);
		if (n <= 0)
			break;
		p->loglen += (size_t)n;
	}
	p->log[p->loglen] = '\0';
}

int
harness_proc_wait_log(struct harness_proc *p, const char *needle, unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms;

	for (;;) {
		struct pollfd pfd = { p->err_fd, POLLIN, 0 };
		uint64_t now;
		harness_proc_drain(p);
		if (strstr(p->log, needle) != NULL)
			return 1;
		now = harness_now_ms();
		if (now >= deadline)
			return 0;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		if (pfd.revents & (POLLHUP | POLLERR) &&
		    !(pfd.revents & POLLIN)) {
			harness_proc_drain(p);
			return strstr(p->log, needle) != NULL;
		}
	}
}

int
harness_evsockd(struct harness_proc *p, const char *const *argv, int nlisten,
    int *ports)
{
	const char *prog = harness_prog("EVSOCKD");
	const char *args[84];
	char nofile[32], wrapper[512];
	int use_prlimit = harness_child_nofile > 0 &&
	    access("/usr/bin/prlimit", X_OK) == 0;
	int errpipe[2];
	size_t n = 0;
	uint64_t deadline;

	memset(p, 0, sizeof(*p));
	/* A descriptor limit goes through prlimit(1) where it exists: under
	   valgrind, setrlimit() in the forked child is only pretended, and
	   the daemon would start with the full limit.  prlimit execs the
	   daemon, so the pid stays the daemon's. */
	if (use_prlimit) {
		snprintf(nofile, sizeof(nofile), "--nofile=%u:%u",
		    harness_child_nofile, harness_child_nofile);
		args[n++] = "/usr/bin/prlimit";
		args[n++] = nofile;
		args[n++] = "--";
	}
	/* EVSOCKD_WRAPPER, words such as "valgrind --quiet", runs the
	   daemon under another program (the valgrind test setup does). */
	harness_wrapper("EVSOCKD_WRAPPER", wrapper, sizeof(wrapper), args, &n,
	    16);
	args[n++] = prog;
	for (size_t i = 1; argv != NULL && argv[i] != NULL && n < 82; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	if (pipe2(errpipe, O_CLOEXEC) == -1)
		return -1;
	p->pid = fork();
	if (p->pid == -1)
		return -1;
	if (p->pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		if (harness_child_nofile > 0 && !use_prlimit) {
			struct rlimit rl = { harness_child_nofile,
				harness_child_nofile };
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(errpipe[1], 2);
		execvp(args[0], (char *const *)(uintptr_t)args);
		_exit(127);
	}
	close(errpipe[1]);
	p->err_fd = errpipe[0];
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);

	deadline = harness_now_ms() + 10000;
	for (;;) {
		int found = 0;
		const char *s = p->log;
		while ((s = strstr(s, "listening ")) != NULL) {
			const char *colon, *nl = strchr(s, '\n');
			if (nl == NULL)
				break;
			colon = nl;
			while (colon > s && *colon != ':')
				colon--;
			if (found < nlisten)
				ports[found] = atoi(colon + 1);
			found++;
			s = nl;
		}
		if (found >= nlisten)
			return 0;
		if (harness_now_ms() >= deadline ||
		    waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			harness_proc_drain(p);
			if (waitpid(p->pid, NULL, WNOHANG) == 0)
				harness_proc_stop(p, SIGKILL, 1000);
			p->pid = 0;
			return -1;
		}
		{
			struct pollfd pfd = { p->err_fd, POLLIN, 0 };
			poll(&pfd, 1, 100);
		}
		harness_proc_drain(p);
	}
}

/* After the child is reaped: takes its last words and fails the test
   if the daemon ran under valgrind (EVSOCKD_WRAPPER) and it reported
   an error, every one of which is a line "==PID== ..." on stderr. */
static void
harness_proc_reaped(struct harness_proc *p)
{
	char mark[32];

	harness_proc_drain(p);
	close(p->err_fd);
	snprintf(mark, sizeof(mark), "==%d== ", (int)p->pid);
	p->pid = 0;
	ck_assert_msg(strstr(p->log, mark) == NULL,
	    "the daemon's stderr reports errors:\n%s", p->log);
}

int
harness_proc_stop(struct harness_proc *p, int sig, unsigned ms)
{
	uint64_t deadline = harness_now_ms() + ms;
	int status;

	if (p->pid <= 0)
		return -1;
	if (sig != 0)
		kill(p->pid, sig);
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid) {
			harness_proc_reaped(p);
			return status;
		}
		if (harness_now_ms() >= deadline)
			break;
		{
			struct pollfd pfd = { p->err_fd, POLLIN, 0 };
			if (poll(&pfd, 1, 20) > 0)
				harness_proc_drain(p);
		}
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	harness_proc_reaped(p);
	return -1;
}

int
harness_run(const char *const *argv, const void *in, size_t inlen, void *out,
    size_t outcap, size_t *outlen, char *err, size_t errcap, unsigned ms)
{
	int pin[2], pout[2], perr[2], status;
	size_t inoff = 0, errlen = 0, nargs = 0;
	uint64_t deadline = harness_now_ms() + ms;
	const char *args[96], *evsock = getenv("EVSOCK");
	char wrapper[512];
	pid_t pid;
	int open_out = 1, open_err = 1;

	/* EVSOCK_WRAPPER runs the evsock binary under another program. */
	if (evsock != NULL && strcmp(argv[0], evsock) == 0)
		harness_wrapper("EVSOCK_WRAPPER", wrapper, sizeof(wrapper),
		    args, &nargs, 16);
	for (size_t i = 0; argv[i] != NULL && nargs < 95; i++)
		args[nargs++] = argv[i];
	args[nargs] = NULL;

	*outlen = 0;
	if (errcap > 0)
		err[0] = '\0';
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		execvp(args[0], (char *const *)(uintptr_t)args);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	while (open_out || open_err) {
		struct pollfd pfd[3];
		int nfds = 0;
		uint64_t now = harness_now_ms();
		if (now >= deadline)
			break;
		pfd[nfds++] = (struct pollfd){ open_out ? pout[0] : -1, POLLIN,
			0 };
		pfd[nfds++] = (struct pollfd){ open_err ? perr[0] : -1, POLLIN,
			0 };
		pfd[nfds++] = (struct pollfd){ pin[1], POLLOUT, 0 };
		if (poll(pfd, (nfds_t)nfds, (int)(deadline - now)) <= 0)
			continue;
		if (pfd[0].revents) {
			char scratch[65536];
			char *dst = *outlen < outcap ? (char *)out + *outlen :
			                               scratch;
			size_t room = *outlen < outcap ? outcap - *outlen :
			                                 sizeof(scratch);
			ssize_t n = read(pout[0], dst, room);
			if (n <= 0)
				open_out = 0;
			else if (*outlen < outcap)
				*outlen += (size_t)n;
		}
		if (pfd[1].revents) {
			char scratch[4096];
			ssize_t n = read(perr[0], scratch, sizeof(scratch));
			if (n <= 0) {
				open_err = 0;
			} else if (errcap > 0) {
				size_t k = (size_t)n;
				if (k > errcap - 1 - errlen)
					k = errcap - 1 - errlen;
				memcpy(err + errlen, scratch, k);
				errlen += k;
				err[errlen] = '\0';
			}
		}
		if (pin[1] != -1 && pfd[2].revents) {
			ssize_t n = write(pin[1], (const char *)in + inoff,
			    inlen - inoff);
			if (n > 0)
				inoff += (size_t)n;
			if (n < 0 && errno != EAGAIN) {
				close(pin[1]);
				pin[1] = -1;
			}
			if (pin[1] != -1 && inoff == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	if (pin[1] != -1)
		close(pin[1]);
	close(pout[0]);
	close(perr[0]);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return (open_out || open_err) ? -1 : status;
		if (harness_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(
		    5000); /* the child has closed its output: exit is near */
	}
}

size_t
harness_rss_kib(pid_t pid)
{
	char path[64], line[256];
	size_t kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %zu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

double
harness_json_num(const char *json, const char *section, const char *key)
{
	char pat[64];
	const char *p = json;

	if (section != NULL) {
		snprintf(pat, sizeof(pat), "\"%s\":{", section);
		p = strstr(json, pat);
		ck_assert_msg(p != NULL, "no %s in %.2000s", section, json);
	}
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	ck_assert_msg(p != NULL, "no %s in %.2000s", key, json);
	return strtod(p + strlen(pat), NULL);
}
