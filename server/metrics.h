/*
 * evsockd's /metrics: the Prometheus text format served by libevent's
 * evhttp on the daemon's main loop.  Servers on other threads (echo
 * workers) are read through probes: a probe runs on its server's own
 * loop, measures that loop's lag and copies the server's counters
 * under a lock, so the main thread never reads a live counter that
 * another thread writes.
 */
#ifndef EVSOCK_SERVER_METRICS_H
#define EVSOCK_SERVER_METRICS_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <evsock/evsock.h>

struct metrics;
struct metrics_probe;

/* Loop lag is sampled this often (milliseconds). */
#define METRICS_PROBE_MS 250

/*
 * Returns a probe of `srv` (not owned) running on `base` (the server's
 * loop), or NULL.  Its counters are reported per service and
 * listener address, summed over the probes (echo workers share an
 * address).  `loop` names the loop for the lag histogram and accept
 * pauses ("main", "worker1"); it is copied.  Create it before that
 * loop's thread starts.
 */
struct metrics_probe *metrics_probe_new(struct event_base *base,
    struct evs_server *srv, const char *loop);

/* Stops and frees the probe; call after its loop has stopped, or from
   its loop's thread.  NULL is a no-op. */
void metrics_probe_free(struct metrics_probe *p);

/* Returns a new, empty metrics registry (not yet serving), or NULL. */
struct metrics *metrics_new(void);

/* Frees the registry and its HTTP server, not the probes.  NULL is a
   no-op. */
void metrics_free(struct metrics *m);

/* Serves /metrics on "HOST:PORT" from `base`.  Returns 0, or -1 with a
   reason in err.  The bound address goes into addr ("127.0.0.1:9100"). */
int metrics_listen(struct metrics *m, struct event_base *base,
    const char *hostport, char *addr, size_t addrlen, char *err, size_t errlen);

/* Adds a probe (not owned) to what is reported; returns 0 or -1. */
int metrics_add_probe(struct metrics *m, struct metrics_probe *p);

/* Reports `chat`'s figures (not owned; NULL: none); it must run on
   the loop that serves /metrics. */
void metrics_set_chat(struct metrics *m, struct evs_chat *chat);

/* Counts a configuration reload that succeeded (ok 1) or failed. */
void metrics_count_reload(struct metrics *m, int ok);

/* Appends the whole exposition to out; returns 0 or -1. */
int metrics_render(struct metrics *m, struct evbuffer *out);

#endif
