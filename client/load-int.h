/*
 * evsock load internals shared by the command line (load.c), the
 * report (load-report.c) and the worker threads (load-worker.c).
 *
 * The main thread parses options, starts one worker per --threads, each
 * with its own event_base and its share of the connections, and then
 * only watches: it publishes the run's phases and times through
 * struct load_shared and reads the counters that workers publish every
 * tick.  Nothing is locked on the hot path; the one mutex guards the
 * per-second latency histogram behind the progress line.
 */
#ifndef EVSOCK_CLIENT_LOAD_INT_H
#define EVSOCK_CLIENT_LOAD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/hist.h"

#define LOAD_MAX_PERCENTILES 16
#define LOAD_MAX_SOURCES 64
#define LOAD_TAG_LEN 6

enum load_mode { LOAD_ECHO, LOAD_IRC };

/* Error kinds, counted separately and summed into "errors". */
enum load_err {
	LOAD_ERR_CORRUPT,    /* an echoed byte differs from what was sent */
	LOAD_ERR_UNEXPECTED, /* bytes arrived that nobody asked for */
	LOAD_ERR_CLOSED,     /* the server closed or reset a connection */
	LOAD_ERR_TIMEOUT,    /* an echo did not come back before the end */
	LOAD_ERR_OVERRUN,    /* too many messages outstanding on one socket */
	LOAD_ERR_PROTOCOL,   /* irc: the server refused us (ERROR, 4xx) */
	LOAD_ERR_COUNT
};

struct load_conf {
	enum load_mode mode;
	const char *target;            /* as given */
	struct sockaddr_storage addr;  /* resolved target */
	socklen_t addrlen;
	uint64_t conns;
	uint64_t size;                 /* echo: message bytes; irc: text */
	uint64_t duration_ms;
	uint64_t warmup_ms;
	double rate;                   /* msgs/s in total; 0: closed loop */
	unsigned threads;
	double connect_rate;           /* connections/s; 0: all at once */
	uint64_t connect_timeout_ms;
	uint64_t drain_ms;             /* after the end, wait for replies */
	struct sockaddr_storage sources[LOAD_MAX_SOURCES];
	socklen_t sourcelens[LOAD_MAX_SOURCES];
	unsigned nsources;
	double percentiles[LOAD_MAX_PERCENTILES];
	unsigned npercentiles;
	uint64_t senders;              /* irc */
	const char *channel;           /* irc */
	const char *password;          /* irc: PASS, NULL for none */
	char tag[LOAD_TAG_LEN + 1];    /* marks this run's messages */
	int progress;
	int json;
	void *tls_ctx;                 /* --tls: an SSL_CTX; NULL: plain */
	const char *tls_name;          /* --tls: the name checked */
};

enum load_phase {
	LOAD_PHASE_SETUP, /* connecting (and registering) */
	LOAD_PHASE_RUN,   /* sending; figures after t_measure */
	LOAD_PHASE_DRAIN, /* no new messages; waiting for replies */
	LOAD_PHASE_STOP   /* close everything and return */
};

/* What the main thread publishes.  Times are CLOCK_MONOTONIC ns; they
   are written before the phase that makes them valid (release). */
struct load_shared {
	const struct load_conf *conf;
	_Atomic int phase;
	_Atomic uint64_t t_run;     /* sending starts */
	_Atomic uint64_t t_measure; /* t_run + warmup: figures start */
	_Atomic uint64_t t_end;     /* figures and sending end */
	pthread_mutex_t iv_lock;
	struct hist *iv;            /* latencies since the last progress line */
};

/* Counters a worker publishes each tick (relaxed stores; the main
   thread reads them for progress, and again after join for the end). */
struct load_counts {
	_Atomic uint64_t up;        /* connections established, ever */
	_Atomic uint64_t failed;    /* connections that never came up */
	_Atomic uint64_t ready;     /* irc: joined; echo: = up */
	_Atomic uint64_t members;   /* irc: joined when sending started */
	_Atomic uint64_t open;      /* connections open now */
	_Atomic uint64_t msgs;      /* echo round trips / irc deliveries */
	_Atomic uint64_t sent;      /* messages sent */
	_Atomic uint64_t bytes_out;
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t errors;
	_Atomic int sending_done;   /* no more messages will be sent */
	_Atomic int done;           /* the worker's loop has returned */
};

struct load_worker;

/* Returns a worker for thread `id` of conf->threads, or NULL. */
struct load_worker *load_worker_new(struct load_shared *sh, unsigned id);

/* Frees w (after load_worker_run returned); NULL is a no-op. */
void load_worker_free(struct load_worker *w);

/* Runs w's event loop until the STOP phase; returns NULL.  Thread
   entry point. */
void *load_worker_run(void *w);

/* Returns w's published counters. */
struct load_counts *load_worker_counts(struct load_worker *w);

/* The figures of a finished worker, read after the thread joined. */
struct load_result {
	uint64_t win_msgs;       /* completed inside the measured window */
	uint64_t win_bytes;      /* bytes received inside the window */
	uint64_t err[LOAD_ERR_COUNT];
	char first_error[160];   /* "" when none */
	const struct hist *hs;   /* --tls: handshake latencies (ns) */
	uint64_t hs_first, hs_last; /* first connect, last handshake done */
};

/* Fills *r and merges w's window latencies into total. */
void load_worker_result(const struct load_worker *w, struct load_result *r,
    struct hist *total);

/* Returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t load_now(void);

/* The workers' counters summed (load.c). */
struct load_totals {
	uint64_t up, failed, ready, members, open, msgs, sent, bytes_out;
	uint64_t bytes_in, errors;
	int sending_done, done;
};

/* Prints the progress line for the second ending at `now` (t0: the
   start); *last_msgs and *last_sent carry the previous line's totals. */
void load_report_progress(const struct load_conf *conf,
    struct load_shared *sh, const struct load_totals *t, uint64_t now,
    uint64_t t0, uint64_t *last_msgs, uint64_t *last_sent);

/*
 * Prints the final report of n joined workers, as text or JSON per
 * conf, and the first error on stderr.  Returns the exit status: 1 when
 * an error, a lost message or a failed connection was seen or nothing
 * connected, else 0.
 */
int load_report_final(const struct load_conf *conf, struct load_shared *sh,
    struct load_worker **w, unsigned n, const struct load_totals *t,
    int interrupted);

#endif
