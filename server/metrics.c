#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>

#include "metrics.h"
#include "../common/addr.h"

#define METRICS_MAX_PROBES 260
#define METRICS_MAX_LISTENERS 64 /* addresses per server reported */

/* Upper bounds of the loop lag buckets, in seconds. */
static const double metrics_lag_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define METRICS_NLAG \
	(sizeof(metrics_lag_bounds) / sizeof(metrics_lag_bounds[0]))

/* What a probe copies out for the metrics thread. */
struct metrics_snapshot {
	struct evs_server_stats st;
	struct evs_listener_stats ls[METRICS_MAX_LISTENERS];
	size_t nls;
	uint64_t lag[METRICS_NLAG + 1]; /* per bucket (last: above all) */
	uint64_t lag_count;
	double lag_sum;
};

struct metrics_probe {
	struct evs_server *srv;
	struct event *timer;
	char loop[32];
	struct timespec due; /* when the timer should fire */
	pthread_mutex_t lock;
	struct metrics_snapshot snap; /* under lock */
};

struct metrics {
	struct evhttp *http;
	struct metrics_probe *probes[METRICS_MAX_PROBES];
	size_t nprobes;
	struct evs_chat *chat;
	uint64_t reloads, reload_failures;
	double start_time;
};

static void metrics_probe_cb(evutil_socket_t, short, void *);
static void metrics_http_cb(struct evhttp_request *, void *);

static double
metrics_ts_sub(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) +
	    (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static void
metrics_ts_add_ms(struct timespec *t, unsigned ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* Runs on the probe's own loop: how late the timer fired is how long
   the loop was busy elsewhere. */
static void
metrics_probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_probe *p = arg;
	struct timeval tv = { 0, METRICS_PROBE_MS * 1000 };
	struct timespec now;
	double lag;
	size_t b;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	lag = metrics_ts_sub(&now, &p->due);
	if (lag < 0)
		lag = 0;
	for (b = 0; b < METRICS_NLAG && lag > metrics_lag_bounds[b]; b++)
		;
	pthread_mutex_lock(&p->lock);
	evs_server_stats(p->srv, &p->snap.st);
	p->snap.nls = evs_server_listener_stats(p->srv, p->snap.ls,
	    METRICS_MAX_LISTENERS);
	if (p->snap.nls > METRICS_MAX_LISTENERS)
		p->snap.nls = METRICS_MAX_LISTENERS;
	p->snap.lag[b]++;
	p->snap.lag_count++;
	p->snap.lag_sum += lag;
	pthread_mutex_unlock(&p->lock);
	p->due = now;
	metrics_ts_add_ms(&p->due, METRICS_PROBE_MS);
	evtimer_add(p->timer, &tv);
}

struct metrics_probe *
metrics_probe_new(struct event_base *base, struct evs_server *srv,
    const char *loop)
{
	struct timeval tv = { 0, METRICS_PROBE_MS * 1000 };
	struct metrics_probe *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return NULL;
	}
	p->srv = srv;
	snprintf(p->loop, sizeof(p->loop), "%s", loop);
	evs_server_stats(srv, &p->snap.st);
	p->snap.nls = evs_server_listener_stats(srv, p->snap.ls,
	    METRICS_MAX_LISTENERS);
	if (p->snap.nls > METRICS_MAX_LISTENERS)
		p->snap.nls = METRICS_MAX_LISTENERS;
	if ((p->timer = evtimer_new(base, metrics_probe_cb, p)) == NULL) {
		metrics_probe_free(p);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &p->due);
	metrics_ts_add_ms(&p->due, METRICS_PROBE_MS);
	evtimer_add(p->timer, &tv);
	return p;
}

void
metrics_probe_free(struct metrics_probe *p)
{
	if (p == NULL)
		return;
	if (p->timer != NULL)
		event_free(p->timer);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct metrics *
metrics_new(void)
{
	struct metrics *m;
	struct timespec now;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}

int
metrics_add_probe(struct metrics *m, struct metrics_probe *p)
{
	if (m->nprobes == METRICS_MAX_PROBES) {
		errno = ENOSPC;
		return -1;
	}
	m->probes[m->nprobes++] = p;
	return 0;
}

void
metrics_set_chat(struct metrics *m, struct evs_chat *chat)
{
	m->chat = chat;
}

void
metrics_count_reload(struct metrics *m, int ok)
{
	if (ok)
		m->reloads++;
	else
		m->reload_failures++;
}

int
metrics_listen(struct metrics *m, struct event_base *base, const char *hostport,
    char *addr, size_t addrlen, char *err, size_t errlen)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[ADDR_HOST_MAX];
	const char *why;
	int port;

	if (addr_split(hostport, host, sizeof(host), &port, &why) == -1) {
		snprintf(err, errlen, "%s: %s", hostport, why);
		return -1;
	}
	if ((m->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "evhttp_new failed");
		return -1;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	/* A scrape is small: refuse anything that is not. */
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_gencb(m->http, metrics_http_cb, m);
	bs = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
	if (bs == NULL) {
		snprintf(err, errlen, "%s: %s", hostport,
		    errno != 0 ? strerror(errno) : "cannot bind");
		evhttp_free(m->http);
		m->http = NULL;
		return -1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
	        &sslen) == -1)
		snprintf(addr, addrlen, "%s", hostport);
	else
		addr_format((struct sockaddr *)&ss, addr, addrlen);
	return 0;
}

/* Reads this process's CPU time (seconds), start time (seconds since
   boot), and sizes (bytes) from /proc/self/stat. */
static int
metrics_proc_stat(double *cpu, double *start, double *vsize, double *rss)
{
	char buf[1024], *p;
	unsigned long long utime, stime, starttime, vsz;
	long long rsspages;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	size_t n;
	FILE *f;

	if ((f = fopen("/proc/self/stat", "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields are
	   counted from the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || tck <= 0 || page <= 0)
		return -1;
	if (sscanf(p + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	        "%llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
	        &utime, &stime, &starttime, &vsz, &rsspages) != 5)
		return -1;
	*cpu = (double)(utime + stime) / (double)tck;
	*start = (double)starttime / (double)tck;
	*vsize = (double)vsz;
	*rss = (double)rsspages * (double)page;
	return 0;
}

static double
metrics_boot_time(void)
{
	char line[256];
	double bt = 0;
	FILE *f;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %lf", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

static long
metrics_open_fds(void)
{
	struct dirent *de;
	long n = 0;
	DIR *dir;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1; /* opendir's own descriptor */
}

static void
metrics_header(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A family with one unlabelled sample: its header, then its value. */
static void
metrics_sample(struct evbuffer *out, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_header(out, name, type, help);
	evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

/* The same for a value with `decimals` digits after the point. */
static void
metrics_sample_f(struct evbuffer *out, const char *name, const char *type,
    const char *help, double v, int decimals)
{
	metrics_header(out, name, type, help);
	evbuffer_add_printf(out, "%s %.*f\n", name, decimals, v);
}

/* Sums the probes' counters per service and listener address (echo
   workers each count their own copy of one address) into sums[];
   returns how many there are. */
static size_t
metrics_sum_listeners(struct metrics *m, struct evs_listener_stats *sums,
    size_t cap)
{
	struct evs_listener_stats *ls = malloc(
	    sizeof(*ls) * METRICS_MAX_LISTENERS);
	size_t ns = 0, nls, i, j, k;

	if (ls == NULL)
		return 0;
	for (i = 0; i < m->nprobes; i++) {
		struct metrics_probe *p = m->probes[i];

		pthread_mutex_lock(&p->lock);
		nls = p->snap.nls;
		memcpy(ls, p->snap.ls, nls * sizeof(*ls));
		pthread_mutex_unlock(&p->lock);
		for (k = 0; k < nls; k++) {
			for (j = 0; j < ns; j++)
				if (strcmp(sums[j].service, ls[k].service) ==
				        0 &&
				    strcmp(sums[j].address, ls[k].address) == 0)
					break;
			if (j == ns) {
				if (ns == cap)
					continue;
				sums[ns++] = ls[k];
				continue;
			}
			sums[j].listening += ls[k].listening;
			sums[j].accepted += ls[k].accepted;
			sums[j].current += ls[k].current;
			sums[j].refused += ls[k].refused;
			sums[j].closed += ls[k].closed;
			sums[j].bytes_in += ls[k].bytes_in;
			sums[j].bytes_out += ls[k].bytes_out;
			for (size_t r = 0; r < EVS_STATS_REASONS; r++) {
				sums[j].refused_by[r] += ls[k].refused_by[r];
				sums[j].closed_by[r] += ls[k].closed_by[r];
			}
		}
	}
	free(ls);
	return ns;
}

/* One family per listener counter, offsets into the struct. */
static const struct {
	const char *name, *type, *help;
	size_t off;
} metrics_listener_fields[] = {
	{ "evsockd_connections_open", "gauge", "Connections open now.",
	    offsetof(struct evs_listener_stats, current) },
	{ "evsockd_connections_accepted_total", "counter",
	    "Connections accepted and kept.",
	    offsetof(struct evs_listener_stats, accepted) },
	{ "evsockd_received_bytes_total", "counter",
	    "Bytes received from clients.",
	    offsetof(struct evs_listener_stats, bytes_in) },
	{ "evsockd_sent_bytes_total", "counter",
	    "Bytes sent or queued for clients.",
	    offsetof(struct evs_listener_stats, bytes_out) },
};

/* The refused (closed == 0) or closed (closed == 1) family's samples:
   one per listener and reason. */
static void
metrics_render_reasons(struct evbuffer *out,
    const struct evs_listener_stats *sums, size_t ns, int closed)
{
	const char *family = closed ? "evsockd_connections_closed_total" :
	                              "evsockd_connections_refused_total";
	int count = closed ? EVS_CLOSED_COUNT : EVS_REFUSED_COUNT;

	for (size_t i = 0; i < ns; i++)
		for (int r = 0; r < count; r++)
			evbuffer_add_printf(out,
			    "%s{service=\"%s\",listener="
			    "\"%s\",reason=\"%s\"} %llu\n",
			    family, sums[i].service, sums[i].address,
			    closed ?
			        evs_close_cause_name((enum evs_close_cause)r) :
			        evs_refusal_name((enum evs_refusal)r),
			    (unsigned long long)(closed ?
			            sums[i].closed_by[r] :
			            sums[i].refused_by[r]));
}

static void
metrics_render_servers(struct metrics *m, struct evbuffer *out)
{
	size_t cap = METRICS_MAX_LISTENERS * 4, ns, f, i;
	struct evs_listener_stats *sums = malloc(sizeof(*sums) * cap);

	if (sums == NULL)
		return;
	ns = metrics_sum_listeners(m, sums, cap);
	for (f = 0; f < sizeof(metrics_listener_fields) /
	         sizeof(metrics_listener_fields[0]);
	     f++) {
		metrics_header(out, metrics_listener_fields[f].name,
		    metrics_listener_fields[f].type,
		    metrics_listener_fields[f].help);
		for (i = 0; i < ns; i++) {
			const uint64_t *v = (const uint64_t *)(const void
			        *)((const char *)&sums[i] +
			    metrics_listener_fields[f].off);
			evbuffer_add_printf(out,
			    "%s{service=\"%s\",listener="
			    "\"%s\"} %llu\n",
			    metrics_listener_fields[f].name, sums[i].service,
			    sums[i].address, (unsigned long long)*v);
		}
	}
	metrics_header(out, "evsockd_connections_refused_total", "counter",
	    "Connections refused, by reason: shutdown, max_clients, per_ip "
	    "or service (the service's own check).");
	metrics_render_reasons(out, sums, ns, 0);
	metrics_header(out, "evsockd_connections_closed_total", "counter",
	    "Connections closed, by reason (sendq: over the sendq; stall: "
	    "output did not move for the stall timeout).");
	metrics_render_reasons(out, sums, ns, 1);
	metrics_header(out, "evsockd_accept_pauses_total", "counter",
	    "Times accepting paused because descriptors ran out, per loop.");
	for (i = 0; i < m->nprobes; i++) {
		struct metrics_probe *p = m->probes[i];
		uint64_t v;

		pthread_mutex_lock(&p->lock);
		v = p->snap.st.accept_pauses;
		pthread_mutex_unlock(&p->lock);
		evbuffer_add_printf(out,
		    "evsockd_accept_pauses_total{loop="
		    "\"%s\"} %llu\n",
		    p->loop, (unsigned long long)v);
	}
	free(sums);
}

static void
metrics_render_lag(struct metrics *m, struct evbuffer *out)
{
	metrics_header(out, "evsockd_event_loop_lag_seconds", "histogram",
	    "How late a periodic timer fires on each event loop.");
	for (size_t i = 0; i < m->nprobes; i++) {
		struct metrics_probe *p = m->probes[i];
		struct {
			uint64_t lag[METRICS_NLAG + 1];
			uint64_t lag_count;
			double lag_sum;
		} s;
		uint64_t cum = 0;

		pthread_mutex_lock(&p->lock);
		memcpy(s.lag, p->snap.lag, sizeof(s.lag));
		s.lag_count = p->snap.lag_count;
		s.lag_sum = p->snap.lag_sum;
		pthread_mutex_unlock(&p->lock);
		for (size_t b = 0; b < METRICS_NLAG; b++) {
			cum += s.lag[b];
			evbuffer_add_printf(out,
			    "evsockd_event_loop_lag_seconds"
			    "_bucket{loop=\"%s\",le=\"%g\"} %llu\n",
			    p->loop, metrics_lag_bounds[b],
			    (unsigned long long)cum);
		}
		evbuffer_add_printf(out,
		    "evsockd_event_loop_lag_seconds_bucket"
		    "{loop=\"%s\",le=\"+Inf\"} %llu\n",
		    p->loop, (unsigned long long)s.lag_count);
		evbuffer_add_printf(out,
		    "evsockd_event_loop_lag_seconds_sum"
		    "{loop=\"%s\"} %.6f\n",
		    p->loop, s.lag_sum);
		evbuffer_add_printf(out,
		    "evsockd_event_loop_lag_seconds_count"
		    "{loop=\"%s\"} %llu\n",
		    p->loop, (unsigned long long)s.lag_count);
	}
}

static void
metrics_render_chat(struct metrics *m, struct evbuffer *out)
{
	struct evs_chat_stats cs;
	struct evs_chat_traffic ct;

	if (m->chat == NULL)
		return;
	evs_chat_stats(m->chat, &cs);
	metrics_sample(out, "evsockd_chat_users", "gauge",
	    "Registered chat users.", cs.users);
	metrics_sample(out, "evsockd_chat_unregistered_connections", "gauge",
	    "Chat connections that have not registered yet.", cs.unregistered);
	metrics_sample(out, "evsockd_chat_channels", "gauge", "Chat channels.",
	    cs.channels);
	metrics_sample(out, "evsockd_chat_users_max", "gauge",
	    "Most registered chat users at once since start.", cs.max_users);
	evs_chat_traffic(m->chat, &ct);
	metrics_sample(out, "evsockd_chat_messages_relayed_total", "counter",
	    "Messages from chat clients relayed to others (formatted once).",
	    ct.relayed);
	metrics_sample(out, "evsockd_chat_deliveries_total", "counter",
	    "Copies of relayed messages queued to this instance's clients.",
	    ct.deliveries);
}

static void
metrics_render_process(struct metrics *m, struct evbuffer *out)
{
	double cpu, start, vsize, rss, bt;
	struct rlimit rl;
	long fds;

	if (metrics_proc_stat(&cpu, &start, &vsize, &rss) == 0) {
		metrics_sample_f(out, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.", cpu, 2);
		metrics_sample_f(out, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.", rss, 0);
		metrics_sample_f(out, "process_virtual_memory_bytes", "gauge",
		    "Virtual memory size in bytes.", vsize, 0);
		if ((bt = metrics_boot_time()) > 0)
			start += bt;
		else
			start = m->start_time;
	} else {
		start = m->start_time;
	}
	metrics_sample_f(out, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.", start, 2);
	if ((fds = metrics_open_fds()) >= 0)
		metrics_sample(out, "process_open_fds", "gauge",
		    "Number of open file descriptors.", (uint64_t)fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		metrics_sample_f(out, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.",
		    rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur,
		    0);
}

int
metrics_render(struct metrics *m, struct evbuffer *out)
{
	metrics_header(out, "evsockd_build_info", "gauge",
	    "evsockd's version; always 1.");
	evbuffer_add_printf(out, "evsockd_build_info{version=\"%s\"} 1\n",
	    evs_version());
	metrics_render_servers(m, out);
	metrics_render_chat(m, out);
	metrics_render_lag(m, out);
	metrics_header(out, "evsockd_config_reloads_total", "counter",
	    "Configuration reloads, by result.");
	evbuffer_add_printf(out,
	    "evsockd_config_reloads_total{result=\"ok\"} "
	    "%llu\n",
	    (unsigned long long)m->reloads);
	evbuffer_add_printf(out,
	    "evsockd_config_reloads_total"
	    "{result=\"failed\"} %llu\n",
	    (unsigned long long)m->reload_failures);
	metrics_render_process(m, out);
	return 0;
}

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *out;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_render(m, out);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}
