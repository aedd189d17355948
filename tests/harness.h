/* Helpers shared by the test suites: bounded loops, loopback sockets,
   spawning and reaping the programs under test. */
#ifndef EVSOCK_TESTS_HARNESS_H
#define EVSOCK_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

/* Runs `base` until cond(arg) is true or `ms` pass; returns 1 if cond
   became true, 0 on timeout. */
int harness_loop_until(struct event_base *base, int (*cond)(void *), void *arg,
    unsigned ms);

/* Fills buf with deterministic pseudo-random bytes from seed. */
void harness_random(void *buf, size_t len, uint64_t seed);

/* Returns a blocking socket connected to 127.0.0.1:port (or [::1] when
   v6), or -1.  Sends and receives time out after 10 s. */
int harness_connect(int port, int v6);

/* Writes all of buf to fd; returns 0 or -1. */
int harness_write_all(int fd, const void *buf, size_t len);

/* Reads exactly len bytes (or until EOF/timeout); returns bytes read. */
size_t harness_read_full(int fd, void *buf, size_t len);

/* Reads until EOF into buf (at most cap); returns bytes read, or -1 on
   a timeout or error. */
ssize_t harness_read_eof(int fd, void *buf, size_t cap);

/* Returns the path of a program from the environment (EVSOCKD,
   EVSOCK); aborts the test if unset. */
const char *harness_prog(const char *envname);

struct harness_proc {
	pid_t pid;
	int err_fd;      /* the child's stderr, non-blocking */
	char log[16384]; /* stderr read so far */
	size_t loglen;
};

/*
 * Starts evsockd with argv (NULL-terminated, argv[0] ignored) and
 * waits up to 10 s until it has logged `nlisten` "listening" lines;
 * ports[i] gets the port of the i-th.  Returns 0, or -1 (the child is
 * reaped and its log kept in p->log).
 */
int harness_evsockd(struct harness_proc *p, const char *const *argv,
    int nlisten, int *ports);

/* Reads whatever the child wrote to stderr so far into p->log. */
void harness_proc_drain(struct harness_proc *p);

/* Waits up to `ms` for the child's stderr to contain needle; returns 1
   if it does. */
int harness_proc_wait_log(struct harness_proc *p, const char *needle,
    unsigned ms);

/* Sends sig (if non-zero) and waits up to ms for the child to exit;
   kills it with SIGKILL after that.  Returns its wait status, or -1 if
   it had to be killed. */
int harness_proc_stop(struct harness_proc *p, int sig, unsigned ms);

/*
 * Runs argv with `in` (inlen bytes) on stdin, capturing stdout into
 * out (at most outcap; *outlen gets the length) and stderr into err
 * (NUL-terminated, at most errcap).  Gives up after ms (SIGKILL).
 * Returns the wait status, or -1 on a timeout or spawn failure.
 */
int harness_run(const char *const *argv, const void *in, size_t inlen,
    void *out, size_t outcap, size_t *outlen, char *err, size_t errcap,
    unsigned ms);

/* Returns how many times longer waits should be: 5 under the valgrind
   test setup (EVSOCK_VALGRIND=1), where the daemon runs under valgrind
   too, else 1. */
unsigned harness_slowdown(void);

/* Returns monotonic milliseconds. */
uint64_t harness_now_ms(void);

/* Descriptor limit for the next harness_evsockd child (0: inherit). */
extern unsigned harness_child_nofile;

/* Returns the CPU time (user + system) pid has used, in ms, or -1. */
long harness_cpu_ms(pid_t pid);

/* Returns the number after "key": inside the object "section": (or
   anywhere when section is NULL) of a JSON text; fails the test when
   it is absent. */
double harness_json_num(const char *json, const char *section, const char *key);

/* Returns the resident set size of pid in KiB, or 0. */
size_t harness_rss_kib(pid_t pid);

#endif
