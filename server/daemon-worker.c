/* The echo workers: each its own thread, event_base, server and
   SO_REUSEPORT listeners, so echo connections spread over the CPUs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evsock/evsock.h>

#include "../common/log.h"
#include "daemon.h"

static void
daemon_worker_shutdown_done(struct evs_server *srv, void *arg)
{
	struct worker *w = arg;

	(void)srv;
	event_base_loopexit(w->base, NULL);
}

static void
daemon_worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	evs_server_shutdown(w->srv, 0, daemon_worker_shutdown_done, w);
}

static void
daemon_set_limits(struct evs_server *srv, const struct limits *lim)
{
	evs_server_set(srv, EVS_OPT_MAX_CLIENTS, (long long)lim->max_clients);
	evs_server_set(srv, EVS_OPT_MAX_PER_IP, (long long)lim->max_per_ip);
	evs_server_set(srv, EVS_OPT_SENDQ, (long long)lim->sendq);
	evs_server_set(srv, EVS_OPT_MAX_LINE, (long long)lim->max_line);
	evs_server_set(srv, EVS_OPT_IDLE_TIMEOUT_MS,
	    (long long)lim->idle_timeout_ms);
	evs_server_set(srv, EVS_OPT_SHUTDOWN_TIMEOUT_MS,
	    (long long)lim->shutdown_timeout_ms);
	evs_server_set(srv, EVS_OPT_STALL_TIMEOUT_MS,
	    (long long)lim->stall_timeout_ms);
	evs_server_set(srv, EVS_OPT_PASS_BUDGET_US,
	    (long long)lim->pass_budget_ms * 1000);
	evs_server_set(srv, EVS_OPT_FLUSH_HOLD_US,
	    (long long)lim->flush_hold_ms * 1000);
}

/* Runs on the worker's loop: a server is touched only by its thread. */
static void
daemon_worker_apply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct limits lim;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->lock);
	lim = w->pending;
	pthread_mutex_unlock(&w->lock);
	daemon_set_limits(w->srv, &lim);
}

void *
daemon_worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void
daemon_limits(const struct config *cfg, size_t share, struct limits *lim)
{
	uint64_t max = cfg->max_clients;

	/* Each worker gets its share of the client limit, rounded up. */
	if (max > 0 && share > 1)
		max = (max + share - 1) / share;
	lim->max_clients = max;
	lim->max_per_ip = cfg->max_per_ip;
	lim->sendq = cfg->sendq;
	lim->max_line = cfg->max_line;
	lim->idle_timeout_ms = cfg->idle_timeout_ms;
	lim->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
	lim->stall_timeout_ms = cfg->stall_timeout_ms;
	lim->pass_budget_ms = cfg->pass_budget_ms;
	lim->flush_hold_ms = cfg->flush_hold_ms;
}

void
daemon_worker_apply_limits(struct daemon *d, const struct config *cfg,
    void *state)
{
	struct limits lim;

	(void)state;
	daemon_limits(cfg, 1, &lim);
	daemon_set_limits(d->srv, &lim);
	daemon_limits(cfg, d->nworkers, &lim);
	for (size_t i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (!w->started) {
			daemon_set_limits(w->srv, &lim);
			continue;
		}
		pthread_mutex_lock(&w->lock);
		w->pending = lim;
		pthread_mutex_unlock(&w->lock);
		event_active(w->apply, EV_TIMEOUT, 0);
	}
}

/*
 * Opens one echo listener on every worker, all on one address with
 * SO_REUSEPORT so the kernel spreads connections over them.  A probe
 * bind without SO_REUSEPORT comes first: it picks the port for port 0,
 * and it fails when another program holds the port (which
 * SO_REUSEPORT alone would quietly share).  Returns the first
 * listener, or NULL with err set.
 */
struct evs_listener *
daemon_worker_listen(struct daemon *d, const char *spec, struct evs_tls *tls,
    char *err, size_t errlen)
{
	struct evs_listener *probe, *first = NULL, *l;
	const struct sockaddr *sa;
	struct sockaddr_storage ss;
	socklen_t salen;

	probe = evs_server_listen(d->srv, spec, evs_echo_service(), NULL, err,
	    errlen);
	if (probe == NULL)
		return NULL;
	sa = evs_listener_addr(probe, &salen);
	if (salen > sizeof(ss))
		salen = sizeof(ss);
	memcpy(&ss, sa, salen);
	evs_listener_free(probe);
	for (size_t i = 0; i < d->nworkers; i++) {
		l = evs_server_listen_addr(d->workers[i].srv,
		    (struct sockaddr *)&ss, salen, evs_echo_service(), NULL,
		    err, errlen);
		if (l == NULL)
			return NULL;
		if (tls != NULL)
			evs_listener_set_tls(l, tls);
		if (first == NULL)
			first = l;
	}
	return first;
}

int
daemon_worker_start(struct daemon *d, size_t n)
{
	char name[32];

	if (evthread_use_pthreads() == -1) {
		log_error("cannot enable libevent threading");
		return -1;
	}
	if ((d->workers = calloc(n, sizeof(*d->workers))) == NULL)
		return -1;
	d->nworkers = n;
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &d->workers[i];
		if (pthread_mutex_init(&w->lock, NULL) != 0)
			return -1;
		w->locked = 1;
		snprintf(name, sizeof(name), "worker%zu", i + 1);
		if ((w->base = event_base_new()) == NULL ||
		    (w->srv = evs_server_new(w->base)) == NULL ||
		    (w->stop = event_new(w->base, -1, 0, daemon_worker_stop_cb,
		         w)) == NULL ||
		    (w->apply = event_new(w->base, -1, 0,
		         daemon_worker_apply_cb, w)) == NULL ||
		    (w->probe = metrics_probe_new(w->base, w->srv, name)) ==
		        NULL) {
			log_error("cannot create worker %zu", i);
			return -1;
		}
		evs_server_set(w->srv, EVS_OPT_REUSEPORT, 1);
	}
	return 0;
}

void
daemon_worker_free(struct daemon *d)
{
	for (size_t i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->started) {
			event_base_loopbreak(w->base);
			pthread_join(w->tid, NULL);
		}
		metrics_probe_free(w->probe);
		if (w->stop != NULL)
			event_free(w->stop);
		if (w->apply != NULL)
			event_free(w->apply);
		evs_server_free(w->srv);
		if (w->base != NULL)
			event_base_free(w->base);
		if (w->locked)
			pthread_mutex_destroy(&w->lock);
	}
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
}
