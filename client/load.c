/*
 * evsock load: the run's phases.  The options are read in load-opts.c,
 * the workers and their connections live in load-worker.c and
 * load-conn.c, the protocols in load-echo.c, load-irc.c and load-req.c
 * (scripts: load-script.c, replies: load-expect.c), progress and the
 * report in load-report.c and load-html.c, and `evsock load merge` in
 * load-merge.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "../common/addr.h"
#include "../common/tls.h"
#include "load-int.h"
#include "load-script.h"
#include "load.h"

#define MAIN_TICK_NS 20000000ULL

static volatile sig_atomic_t load_interrupted;

static int load_resolve_one(struct load_conf *conf, const char *target);
static void load_on_signal(int sig);
static void load_sum(struct load_worker **w, unsigned n, struct load_totals *t);
static void load_sleep_ns(uint64_t ns);

/* Resolves one HOST:PORT into the next target slot. */
static int
load_resolve_one(struct load_conf *conf, const char *target)
{
	char host[ADDR_HOST_MAX], port[16];
	const char *err;
	struct addrinfo hints, *res = NULL;
	int p, rc;

	if (conf->ntargets == LOAD_MAX_TARGETS) {
		fprintf(stderr, "evsock load: at most %d targets\n",
		    LOAD_MAX_TARGETS);
		return -1;
	}
	if (addr_split(target, host, sizeof(host), &p, &err) == -1) {
		fprintf(stderr, "evsock load: %s: %s\n", target, err);
		return -1;
	}
	snprintf(port, sizeof(port), "%d", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (conf->nsources > 0)
		hints.ai_family = conf->sources[0].ss_family;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "evsock load: %s: %s\n", host,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(&conf->addrs[conf->ntargets], res->ai_addr, res->ai_addrlen);
	conf->addrlens[conf->ntargets] = res->ai_addrlen;
	conf->ntargets++;
	freeaddrinfo(res);
	return 0;
}

/* --tls: one SSL_CTX for every worker (OpenSSL lets threads share
   it); the certificate must name the first target's host. */
int
load_tls(struct load_conf *conf, const char *ca_file, int insecure)
{
	static char host[ADDR_HOST_MAX];
	struct evs_tls *tls;
	const char *err;
	char why[256], first[ADDR_HOST_MAX + 8];
	int port;

	snprintf(first, sizeof(first), "%.*s", (int)strcspn(conf->target, ","),
	    conf->target);
	if (addr_split(first, host, sizeof(host), &port, &err) == -1) {
		fprintf(stderr, "evsock load: %s: %s\n", first, err);
		return -1;
	}
	if ((tls = evs_tls_client_new(ca_file, insecure, why, sizeof(why))) ==
	    NULL) {
		fprintf(stderr, "evsock load: %s\n", why);
		return -1;
	}
	conf->tls_ctx = evs_tls_ctx(tls);
	conf->tls_name = host;
	evs_tls_free(tls);
	return 0;
}

/* Resolves every target once, before the run (blocking is fine here). */
int
load_resolve(struct load_conf *conf)
{
	char *list, *tok, *save = NULL;
	int rc = 0;

	if ((list = strdup(conf->target)) == NULL)
		return -1;
	for (tok = strtok_r(list, ",", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ",", &save))
		rc = load_resolve_one(conf, tok);
	free(list);
	if (rc == 0 && conf->ntargets == 0) {
		fprintf(stderr, "evsock load: which server? give HOST:PORT\n");
		rc = -1;
	}
	return rc;
}

uint64_t
load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
load_on_signal(int sig)
{
	(void)sig;
	load_interrupted++;
}

static void
load_sum(struct load_worker **w, unsigned n, struct load_totals *t)
{
	memset(t, 0, sizeof(*t));
	t->sending_done = t->done = 1;
	for (unsigned i = 0; i < n; i++) {
		struct load_counts *k = load_worker_counts(w[i]);

		t->up += atomic_load_explicit(&k->up, memory_order_relaxed);
		t->failed += atomic_load_explicit(&k->failed,
		    memory_order_relaxed);
		t->ready += atomic_load_explicit(&k->ready,
		    memory_order_relaxed);
		t->members += atomic_load_explicit(&k->members,
		    memory_order_relaxed);
		t->open += atomic_load_explicit(&k->open, memory_order_relaxed);
		t->msgs += atomic_load_explicit(&k->msgs, memory_order_relaxed);
		t->sent += atomic_load_explicit(&k->sent, memory_order_relaxed);
		t->bytes_out += atomic_load_explicit(&k->bytes_out,
		    memory_order_relaxed);
		t->bytes_in += atomic_load_explicit(&k->bytes_in,
		    memory_order_relaxed);
		t->errors += atomic_load_explicit(&k->errors,
		    memory_order_relaxed);
		t->conns += atomic_load_explicit(&k->conns,
		    memory_order_relaxed);
		t->throttled += atomic_load_explicit(&k->throttled,
		    memory_order_relaxed);
		t->sending_done &= atomic_load(&k->sending_done);
		t->done &= atomic_load(&k->done);
	}
}

static void
load_sleep_ns(uint64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000ULL);
	ts.tv_nsec = (long)(ns % 1000000000ULL);
	nanosleep(&ts, NULL);
}

int
load_main(int argc, char **argv)
{
	struct load_conf conf;
	struct load_shared sh;
	struct load_worker **w = NULL;
	pthread_t *tids = NULL;
	struct load_totals t, last;
	struct sigaction sa;
	sigset_t block, old;
	uint64_t t0, now, next_progress;
	uint64_t setup_deadline, drain_deadline = 0;
	unsigned started = 0;
	int rc;

	if (argc > 1 && strcmp(argv[1], "merge") == 0)
		return load_merge_main(argc - 1, argv + 1);
	memset(&conf, 0, sizeof(conf));
	memset(&last, 0, sizeof(last));
	if ((rc = load_opts_parse(argc, argv, &conf)) != 0) {
		load_script_free(conf.script);
		return rc;
	}
	memset(&sh, 0, sizeof(sh));
	sh.conf = &conf;
	atomic_init(&sh.phase, LOAD_PHASE_SETUP);
	pthread_mutex_init(&sh.iv_lock, NULL);
	rc = 1;
	if ((sh.iv = hist_new()) == NULL ||
	    (w = calloc(conf.threads, sizeof(*w))) == NULL ||
	    (tids = calloc(conf.threads, sizeof(*tids))) == NULL) {
		fprintf(stderr, "evsock load: out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < conf.threads; i++)
		if ((w[i] = load_worker_new(&sh, i)) == NULL) {
			fprintf(stderr,
			    "evsock load: cannot set up worker "
			    "%u\n",
			    i);
			goto out;
		}

	/* Workers never see SIGINT/SIGTERM; this thread turns them into
	   phase changes. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = load_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	t0 = load_now();
	for (; started < conf.threads; started++)
		if (pthread_create(&tids[started], NULL, load_worker_run,
		        w[started]) != 0) {
			fprintf(stderr, "evsock load: cannot start a thread\n");
			atomic_store(&sh.phase, LOAD_PHASE_STOP);
			break;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	setup_deadline = t0 + conf.connect_timeout_ms * 2000000ULL +
	    (conf.connect_rate > 0 ?
	            (uint64_t)((double)conf.conns / conf.connect_rate * 1e9) :
	            0);
	next_progress = t0 + 1000000000ULL;
	for (;;) {
		int phase = atomic_load(&sh.phase);

		load_sleep_ns(MAIN_TICK_NS);
		now = load_now();
		load_sum(w, started, &t);
		if (phase == LOAD_PHASE_STOP) {
			if (t.done)
				break;
		} else if (load_interrupted > 1 || started < conf.threads)
			atomic_store(&sh.phase, LOAD_PHASE_STOP);
		else if (phase == LOAD_PHASE_SETUP) {
			uint64_t settled = (conf.mode == LOAD_IRC ? t.ready :
			                                            t.up) +
			    t.failed;

			if (load_interrupted ||
			    (settled >= conf.conns && t.ready == 0)) {
				atomic_store(&sh.phase, LOAD_PHASE_STOP);
			} else if (settled >= conf.conns ||
			    now >= setup_deadline) {
				atomic_store(&sh.t_run, now);
				atomic_store(&sh.t_measure,
				    now + conf.warmup_ms * 1000000ULL);
				atomic_store(&sh.t_end,
				    now +
				        (conf.warmup_ms + conf.duration_ms) *
				            1000000ULL);
				atomic_store(&sh.phase, LOAD_PHASE_RUN);
			}
		} else if (phase == LOAD_PHASE_RUN) {
			if (load_interrupted && now < atomic_load(&sh.t_end))
				atomic_store(&sh.t_end, now);
			if (now >= atomic_load(&sh.t_end)) {
				/* A second past the workers' own deadline:
				   they count what is still missing. */
				drain_deadline = now +
				    (conf.drain_ms + 1000) * 1000000ULL;
				atomic_store(&sh.phase, LOAD_PHASE_DRAIN);
			}
		} else if (phase == LOAD_PHASE_DRAIN) {
			int finished;

			if (conf.mode != LOAD_IRC)
				finished = t.sending_done && t.open == 0;
			else
				finished = t.sending_done &&
				    t.msgs >= t.sent *
				            (t.members ? t.members - 1 : 0);
			if (finished || now >= drain_deadline)
				atomic_store(&sh.phase, LOAD_PHASE_STOP);
		}
		if (now >= next_progress &&
		    atomic_load(&sh.phase) != LOAD_PHASE_STOP) {
			load_report_tick(&conf, &sh, &t, now, t0, &last);
			next_progress += 1000000000ULL;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);

	/* The report. */
	load_sum(w, started, &t);
	rc = load_report_final(&conf, &sh, w, started, &t,
	    load_interrupted != 0);
out:
	for (unsigned i = 0; w != NULL && i < conf.threads; i++)
		load_worker_free(w[i]);
	free(w);
	free(tids);
	hist_free(sh.iv);
	free(sh.samples);
	pthread_mutex_destroy(&sh.iv_lock);
	load_script_free(conf.script);
	SSL_CTX_free(conf.tls_ctx);
	return rc;
}
