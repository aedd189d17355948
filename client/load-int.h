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
#define LOAD_MAX_TARGETS 64
#define LOAD_ERROR_LEN 384

enum load_mode { LOAD_ECHO, LOAD_IRC, LOAD_SCRIPT };

struct load_script;

/* Error kinds, counted separately and summed into "errors". */
enum load_err {
	LOAD_ERR_CORRUPT,    /* an echoed byte differs from what was sent */
	LOAD_ERR_UNEXPECTED, /* bytes arrived that nobody asked for */
	LOAD_ERR_CLOSED,     /* the server closed or reset a connection */
	LOAD_ERR_TIMEOUT,    /* an echo did not come back before the end */
	LOAD_ERR_OVERRUN,    /* too many messages outstanding on one socket */
	LOAD_ERR_PROTOCOL,   /* irc: the server refused us (ERROR, 4xx) */
	LOAD_ERR_MISMATCH,   /* a reply is not what was expected */
	LOAD_ERR_CONNECT,    /* a connection never came up */
	LOAD_ERR_COUNT
};

struct load_conf {
	enum load_mode mode;
	const char *target; /* as given: HOST:PORT[,HOST:PORT...] */
	struct sockaddr_storage addrs[LOAD_MAX_TARGETS]; /* resolved */
	socklen_t addrlens[LOAD_MAX_TARGETS];
	unsigned ntargets; /* connection i goes to i % ntargets */
	uint64_t conns;
	uint64_t size; /* echo: message bytes; irc: text */
	uint64_t duration_ms;
	uint64_t warmup_ms;
	double rate; /* msgs/s in total; 0: closed loop */
	unsigned threads;
	double connect_rate; /* connections/s; 0: all at once */
	uint64_t connect_timeout_ms;
	uint64_t drain_ms; /* after the end, wait for replies */
	struct sockaddr_storage sources[LOAD_MAX_SOURCES];
	socklen_t sourcelens[LOAD_MAX_SOURCES];
	unsigned nsources;
	double percentiles[LOAD_MAX_PERCENTILES];
	unsigned npercentiles;
	uint64_t senders;           /* irc */
	const char *channel;        /* irc */
	const char *password;       /* irc: PASS, NULL for none */
	char tag[LOAD_TAG_LEN + 1]; /* marks this run's messages */
	struct load_script *script; /* LOAD_SCRIPT: what to send, expect */
	unsigned pipeline;          /* replies awaited per connection */
	int churn;                  /* one exchange per connection */
	const char *histogram;      /* .hgrm file, or NULL */
	const char *report;         /* .html file, or NULL */
	int progress;
	int json;
	void *tls_ctx;        /* --tls: an SSL_CTX; NULL: plain */
	const char *tls_name; /* --tls: the name checked */
};

/* One second of the run, as the progress line saw it. */
struct load_sample {
	double t;                          /* seconds since the start */
	int measured;                      /* inside the measured window */
	uint64_t msgs, conns, errors;      /* in this second */
	uint64_t p50, p90, p99, p999, max; /* latency ns */
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
	struct hist *iv; /* latencies since the last progress line */
	/* main thread only: a sample a second, for the HTML report */
	struct load_sample *samples;
	size_t nsamples, capsamples;
};

/* Counters a worker publishes each tick (relaxed stores; the main
   thread reads them for progress, and again after join for the end). */
struct load_counts {
	_Atomic uint64_t up;      /* connections established, ever */
	_Atomic uint64_t failed;  /* connections that never came up */
	_Atomic uint64_t ready;   /* irc: joined; echo: = up */
	_Atomic uint64_t members; /* irc: joined when sending started */
	_Atomic uint64_t open;    /* connections open now */
	_Atomic uint64_t msgs;    /* echo round trips / irc deliveries */
	_Atomic uint64_t sent;    /* messages sent */
	_Atomic uint64_t bytes_out;
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t errors;    /* failed connections included */
	_Atomic uint64_t conns;     /* connects completed, ever */
	_Atomic uint64_t throttled; /* irc: sends queued in the client */
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
	uint64_t win_msgs;   /* completed inside the measured window */
	uint64_t win_bytes;  /* bytes received inside the window */
	uint64_t win_conns;  /* connects begun inside the window */
	uint64_t cycles;     /* connections closed by the script */
	uint64_t cross_msgs; /* irc: deliveries from another target */
	uint64_t err[LOAD_ERR_COUNT];
	char first_error[LOAD_ERROR_LEN];    /* "" when none */
	char first_mismatch[LOAD_ERROR_LEN]; /* "" when none */
	uint64_t hs_first, hs_last; /* --tls: first connect, last handshake */
};

/* Fills *r and merges w's window latencies into total, those of
   deliveries from another target into cross_total, and its connect
   latencies into conn_total. */
void load_worker_result(const struct load_worker *w, struct load_result *r,
    struct hist *total, struct hist *cross_total, struct hist *conn_total);

/* Returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t load_now(void);

/* Resolves every target of conf->target (comma-separated) into
   conf->addrs, blocking.  Returns 0, or -1 after printing why. */
int load_resolve(struct load_conf *conf);

/* --tls: makes conf->tls_ctx, checked against ca_file (or not, when
   insecure).  Returns 0, or -1 after printing why. */
int load_tls(struct load_conf *conf, const char *ca_file, int insecure);

/* Reads the command line of `evsock load` into conf (zeroed by the
   caller), resolving the targets.  Returns 0, or 2 after printing a
   usage error; exits 0 after --help.  conf->script is the caller's to
   free either way. */
int load_opts_parse(int argc, char **argv, struct load_conf *conf);

/* The workers' counters summed (load.c). */
struct load_totals {
	uint64_t up, failed, ready, members, open, msgs, sent, bytes_out;
	uint64_t bytes_in, errors, conns, throttled;
	int sending_done, done;
};

/* A run's figures, from this process's workers or merged from JSON
   files of several runs (load-merge.c): what every report prints. */
struct load_summary {
	char mode[16]; /* echo, irc, script */
	char target[512];
	uint64_t conns, up, failed;
	unsigned threads, pipeline, runs;
	uint64_t size;
	double rate; /* 0: closed loop */
	int churn, interrupted;
	double secs, warmup_s;  /* the measured window */
	double mps, bps, cps;   /* replies, bytes, connections per s */
	struct hist *lat;       /* latencies inside the window */
	int cross;              /* irc over several targets: the next two */
	struct hist *cross_lat; /* those of deliveries whose sender used
	                           another target than the receiver */
	uint64_t cross_msgs;    /* such deliveries, ever (as msgs) */
	struct hist *conn_lat;  /* connect latencies (--tls: the
	                                 handshake's end) */
	int tls;                /* --tls: every connect a handshake */
	double hps;             /* --tls: handshakes/s */
	uint64_t err[LOAD_ERR_COUNT], errors;
	uint64_t msgs, sent, bytes_out, bytes_in, cycles;
	uint64_t members, expected, lost, throttled; /* irc */
	char first_error[LOAD_ERROR_LEN];
	char first_mismatch[LOAD_ERROR_LEN];
	struct load_sample *samples;
	size_t nsamples;
};

/* What to write, and where. */
struct load_output {
	const double *percentiles;
	unsigned npercentiles;
	int json;
	const char *histogram; /* .hgrm path or NULL */
	const char *report;    /* .html path or NULL */
};

/* Returns an empty summary with its histograms, or NULL. */
struct load_summary *load_report_summary_new(void);

/* Frees s; NULL is a no-op. */
void load_report_summary_free(struct load_summary *s);

/* Returns the name of error kind e ("corrupt", "mismatch", ...). */
const char *load_report_err_name(enum load_err e);

/*
 * Once a second: takes the latencies the workers published since the
 * last call into a sample (sh->samples) and prints the progress line
 * when conf->progress.  *last holds the previous call's totals.
 */
void load_report_tick(const struct load_conf *conf, struct load_shared *sh,
    const struct load_totals *t, uint64_t now, uint64_t t0,
    struct load_totals *last);

/*
 * Prints the final report of n joined workers, as text or JSON per
 * conf, the first error and mismatch on stderr, and writes the files
 * asked for.  Returns the exit status: 1 when an error, a lost message
 * or a failed connection was seen or nothing connected, else 0.
 */
int load_report_final(const struct load_conf *conf, struct load_shared *sh,
    struct load_worker **w, unsigned n, const struct load_totals *t,
    int interrupted);

/* Prints s per o (text or JSON on stdout, files); returns the exit
   status as load_report_final does, 1 also when a file fails. */
int load_report_emit(const struct load_summary *s, const struct load_output *o);

/* Writes s as one self-contained HTML page with inline SVG plots;
   returns 0, or -1 (errno). */
int load_html_write(const struct load_summary *s, const char *path);

/* Runs `evsock load merge FILE.json...`: adds the runs into one
   report.  Returns the exit status. */
int load_merge_main(int argc, char **argv);

#endif
