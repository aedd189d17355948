/* The daemon's private state, shared by evsockd.c (startup, listeners,
   signals), daemon-reload.c (the reload steps) and daemon-worker.c
   (the echo worker threads). */
#ifndef EVSOCK_SERVER_DAEMON_H
#define EVSOCK_SERVER_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include <event2/event.h>

#include <evsock/evsock.h>

#include "config.h"
#include "metrics.h"

#define ERR_MAX 1024

/* The limits a server takes, copied to a worker under its lock. */
struct limits {
	uint64_t max_clients, max_per_ip, sendq, max_line, idle_timeout_ms,
	    shutdown_timeout_ms, stall_timeout_ms, pass_budget_ms,
	    flush_hold_ms;
};

/* An echo worker: its own event_base, server and SO_REUSEPORT
   listeners, on its own thread. */
struct worker {
	pthread_t tid;
	struct event_base *base;
	struct evs_server *srv;
	struct event *stop;
	struct event *apply; /* takes `pending` on the worker's loop */
	struct metrics_probe *probe;
	pthread_mutex_t lock;
	struct limits pending; /* under lock */
	int started;
	int locked; /* lock initialised */
};

struct memtrim;

struct daemon {
	struct event_base *base;
	struct evs_server *srv;
	struct evs_chat *chat;
	struct evs_tls *tls; /* for tls-listen; NULL: none */
	struct event *sigint, *sigterm, *sighup, *sigusr1, *sigusr2;
	struct event *logtick; /* reports suppressed log lines */
	struct worker *workers;
	size_t nworkers;
	struct metrics *metrics;
	struct metrics_probe *probe;
	struct memtrim *trim; /* returns heap memory after bursts */
	struct config cfg;    /* what runs now */
	int argc;
	char **argv;
	char *motd; /* the text served now */
	char *password;
	int loaded; /* the first configuration is live */
	int signals;
};

/* Runs a worker's loop until it is stopped; the pthread start routine. */
void *daemon_worker_main(void *);
/* Creates n echo workers (not yet running) in d->workers; returns 0 or
   -1, leaving what was made for daemon_worker_free(). */
int daemon_worker_start(struct daemon *, size_t n);
/* Stops and joins the running workers and frees them all. */
void daemon_worker_free(struct daemon *);
/* Opens the echo listener spec on every worker (SO_REUSEPORT), with tls
   when not NULL; returns the first listener, or NULL with err set. */
struct evs_listener *daemon_worker_listen(struct daemon *, const char *spec,
    struct evs_tls *tls, char *err, size_t errlen);
/* The "limits" reload step: gives the main server cfg's limits and each
   worker its share; a running worker takes them on its own loop. */
void daemon_worker_apply_limits(struct daemon *, const struct config *, void *);

/* Makes cfg live through every reload step (startup is the first
   reload); returns 0, or -1 with err set and nothing changed. */
int daemon_reload_apply(struct daemon *, const struct config *, char *err,
    size_t errlen);
/* SIGHUP and REHASH: reads the settings again and applies them; returns
   0, or -1 when they were refused and the running ones stay. */
int daemon_reload(struct daemon *);
/* --check-config: runs the steps' checks on d->cfg; returns the exit
   status and prints the verdict. */
int daemon_reload_check(struct daemon *);
/* The default max-clients: what the descriptor limit leaves after a
   reserve; 0 for no limit. */
size_t daemon_reload_default_max_clients(void);

#endif
