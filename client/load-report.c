/*
 * evsock load's words: the live progress line, and the final report as
 * a human summary or as one JSON object (which carries the histogram
 * buckets and the per-second samples, so that `evsock load merge` can
 * add runs), an HdrHistogram .hgrm file and an HTML page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load-int.h"

static void load_report_pkey(double p, char *buf, size_t len);
static void load_report_json_str(const char *s);
static void load_report_json_lat(const char *name, const struct hist *h,
    const struct load_output *o);
static void load_report_json_hist(const char *name, const struct hist *h);
static void load_report_json(const struct load_summary *s,
    const struct load_output *o);
static void load_report_text_hist(const char *label, const struct hist *h,
    const struct load_output *o);
static void load_report_text(const struct load_summary *s,
    const struct load_output *o);
static void load_report_flood(const struct load_summary *s, FILE *fp);
static int load_report_hgrm(const struct load_summary *s, const char *path);

static const double std_percentiles[] = { 50, 90, 99, 99.9 };

const char *
load_report_err_name(enum load_err e)
{
	static const char *const names[LOAD_ERR_COUNT] = { "corrupt",
		"unexpected", "closed", "timeout", "overrun", "protocol",
		"mismatch", "connect" };

	return (unsigned)e < LOAD_ERR_COUNT ? names[e] : "?";
}

struct load_summary *
load_report_summary_new(void)
{
	struct load_summary *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->lat = hist_new();
	s->cross_lat = hist_new();
	s->conn_lat = hist_new();
	if (s->lat == NULL || s->cross_lat == NULL || s->conn_lat == NULL) {
		load_report_summary_free(s);
		return NULL;
	}
	s->runs = 1;
	return s;
}

void
load_report_summary_free(struct load_summary *s)
{
	if (s == NULL)
		return;
	hist_free(s->lat);
	hist_free(s->cross_lat);
	hist_free(s->conn_lat);
	free(s->samples);
	free(s);
}

void
load_report_tick(const struct load_conf *conf, struct load_shared *sh,
    const struct load_totals *t, uint64_t now, uint64_t t0,
    struct load_totals *last)
{
	struct load_sample x;
	int phase = atomic_load(&sh->phase);
	const char *what = phase == LOAD_PHASE_SETUP ?
	    "connecting" :
	    phase == LOAD_PHASE_RUN ?
	    (now < atomic_load(&sh->t_measure) ? "warmup" : "running") :
	    "draining";

	memset(&x, 0, sizeof(x));
	x.t = (double)(now - t0) / 1e9;
	x.measured = phase >= LOAD_PHASE_RUN &&
	    now > atomic_load(&sh->t_measure) &&
	    now <= atomic_load(&sh->t_end) + 1000000000ULL;
	x.msgs = t->msgs - last->msgs;
	x.conns = t->conns - last->conns;
	x.errors = t->errors - last->errors;
	pthread_mutex_lock(&sh->iv_lock);
	x.p50 = hist_percentile(sh->iv, 50);
	x.p90 = hist_percentile(sh->iv, 90);
	x.p99 = hist_percentile(sh->iv, 99);
	x.p999 = hist_percentile(sh->iv, 99.9);
	x.max = hist_max(sh->iv);
	hist_reset(sh->iv);
	pthread_mutex_unlock(&sh->iv_lock);
	if (sh->nsamples == sh->capsamples) {
		size_t cap = sh->capsamples ? sh->capsamples * 2 : 64;
		struct load_sample *p = realloc(sh->samples, cap * sizeof(*p));

		if (p != NULL) {
			sh->samples = p;
			sh->capsamples = cap;
		}
	}
	if (sh->nsamples < sh->capsamples)
		sh->samples[sh->nsamples++] = x;
	if (conf->progress) {
		fprintf(stderr, "[%4.0fs] %-10s conns %llu/%llu", x.t, what,
		    (unsigned long long)t->open,
		    (unsigned long long)conf->conns);
		if (conf->mode == LOAD_IRC)
			fprintf(stderr, " (%llu joined)",
			    (unsigned long long)t->ready);
		if (t->failed)
			fprintf(stderr, " failed %llu",
			    (unsigned long long)t->failed);
		if (conf->churn)
			fprintf(stderr, "  %llu conns/s",
			    (unsigned long long)x.conns);
		fprintf(stderr, "  %llu msgs/s", (unsigned long long)x.msgs);
		if (conf->mode == LOAD_IRC)
			fprintf(stderr, " (sent %llu/s)",
			    (unsigned long long)(t->sent - last->sent));
		fprintf(stderr, "  p99 %.0f us  errors %llu\n",
		    (double)x.p99 / 1e3, (unsigned long long)t->errors);
	}
	*last = *t;
}

/* "p50", "p999" for 99.9, "p9999" for 99.99. */
static void
load_report_pkey(double p, char *buf, size_t len)
{
	char num[32], *o = buf;

	snprintf(num, sizeof(num), "%g", p);
	for (const char *s = num; *s != '\0' && (size_t)(o - buf) + 2 < len;
	     s++)
		if (*s != '.')
			*o++ = *s;
	*o = '\0';
	memmove(buf + 1, buf, strlen(buf) + 1);
	buf[0] = 'p';
}

/* Prints s as a JSON string. */
static void
load_report_json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* "name":{"p50":..,...,"max","min","mean","count"} in microseconds. */
static void
load_report_json_lat(const char *name, const struct hist *h,
    const struct load_output *o)
{
	char key[32];

	printf("\"%s\":{", name);
	for (int i = 0; i < 4; i++) {
		load_report_pkey(std_percentiles[i], key, sizeof(key));
		printf("\"%s\":%.1f,", key,
		    (double)hist_percentile(h, std_percentiles[i]) / 1e3);
	}
	for (unsigned i = 0; i < o->npercentiles; i++) {
		int dup = 0;

		for (int j = 0; j < 4; j++)
			dup |= o->percentiles[i] == std_percentiles[j];
		if (dup)
			continue;
		load_report_pkey(o->percentiles[i], key, sizeof(key));
		printf("\"%s\":%.1f,", key,
		    (double)hist_percentile(h, o->percentiles[i]) / 1e3);
	}
	printf("\"max\":%.1f,\"min\":%.1f,\"mean\":%.1f,\"count\":%llu}",
	    (double)hist_max(h) / 1e3, (double)hist_min(h) / 1e3,
	    hist_mean(h) / 1e3, (unsigned long long)hist_count(h));
}

/* "name":{"min":ns,"max":ns,"sum":ns,"buckets":[[low_ns,count],...]}:
   enough to rebuild the histogram exactly. */
static void
load_report_json_hist(const char *name, const struct hist *h)
{
	size_t n = hist_nbuckets();
	int first = 1;

	printf("\"%s\":{\"sub_bits\":%d,\"min\":%llu,\"max\":%llu,"
	       "\"sum\":%.17g,\"buckets\":[",
	    name, HIST_SUB_BITS, (unsigned long long)hist_min(h),
	    (unsigned long long)hist_max(h), hist_sum(h));
	for (size_t i = 0; i < n && hist_count(h) > 0; i++) {
		uint64_t k = hist_bucket_count(h, i);

		if (k == 0)
			continue;
		printf("%s[%llu,%llu]", first ? "" : ",",
		    (unsigned long long)hist_bucket_low(i),
		    (unsigned long long)k);
		first = 0;
	}
	printf("]}");
}

static void
load_report_json(const struct load_summary *s, const struct load_output *o)
{
	printf("{\"mode\":\"%s\",\"target\":", s->mode);
	load_report_json_str(s->target);
	printf(",\"connections\":{\"ok\":%llu,\"failed\":%llu,"
	       "\"per_s\":%.1f,\"asked\":%llu},\"threads\":%u,\"size\":%llu,"
	       "\"pipeline\":%u,\"churn\":%s,",
	    (unsigned long long)s->up, (unsigned long long)s->failed, s->cps,
	    (unsigned long long)s->conns, s->threads,
	    (unsigned long long)s->size, s->pipeline,
	    s->churn ? "true" : "false");
	if (s->rate > 0)
		printf("\"rate\":%.17g,", s->rate);
	else
		printf("\"rate\":null,");
	printf("\"duration_s\":%.6f,\"warmup_s\":%.3f,"
	       "\"throughput_msgs_per_s\":%.1f,"
	       "\"throughput_bytes_per_s\":%.1f,",
	    s->secs, s->warmup_s, s->mps, s->bps);
	load_report_json_lat("latency_us", s->lat, o);
	printf(",\"errors\":%llu,\"error_kinds\":{",
	    (unsigned long long)s->errors);
	for (int e = 0; e < LOAD_ERR_COUNT; e++)
		printf("%s\"%s\":%llu", e ? "," : "",
		    load_report_err_name((enum load_err)e),
		    (unsigned long long)s->err[e]);
	printf("},\"totals\":{\"msgs\":%llu,\"sent\":%llu,"
	       "\"bytes_sent\":%llu,\"bytes_received\":%llu,\"closed\":%llu}",
	    (unsigned long long)s->msgs, (unsigned long long)s->sent,
	    (unsigned long long)s->bytes_out, (unsigned long long)s->bytes_in,
	    (unsigned long long)s->cycles);
	if (strcmp(s->mode, "irc") == 0)
		printf(",\"members\":%llu,\"sent\":%llu,\"expected\":%llu,"
		       "\"delivered\":%llu,\"lost\":%llu,\"throttled\":%llu",
		    (unsigned long long)s->members, (unsigned long long)s->sent,
		    (unsigned long long)s->expected,
		    (unsigned long long)s->msgs, (unsigned long long)s->lost,
		    (unsigned long long)s->throttled);
	if (s->cross) {
		printf(",");
		load_report_json_lat("latency_cross_us", s->cross_lat, o);
		printf(",\"delivered_cross\":%llu",
		    (unsigned long long)s->cross_msgs);
	}
	printf(",\"interrupted\":%s,\"runs\":%u,",
	    s->interrupted ? "true" : "false", s->runs);
	load_report_json_lat("connect_latency_us", s->conn_lat, o);
	if (s->tls) {
		printf(",\"tls\":{\"handshakes\":%llu,"
		       "\"handshakes_per_s\":%.1f,",
		    (unsigned long long)hist_count(s->conn_lat), s->hps);
		load_report_json_lat("handshake_latency_us", s->conn_lat, o);
		printf("}");
	}
	printf(",\"first_error\":");
	load_report_json_str(s->first_error);
	printf(",\"first_mismatch\":");
	load_report_json_str(s->first_mismatch);
	printf(",\"samples\":[");
	for (size_t i = 0; i < s->nsamples; i++) {
		const struct load_sample *x = &s->samples[i];

		printf("%s[%.3f,%d,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu]",
		    i ? "," : "", x->t, x->measured,
		    (unsigned long long)x->msgs, (unsigned long long)x->conns,
		    (unsigned long long)x->errors, (unsigned long long)x->p50,
		    (unsigned long long)x->p90, (unsigned long long)x->p99,
		    (unsigned long long)x->p999, (unsigned long long)x->max);
	}
	printf("],");
	load_report_json_hist("histogram_ns", s->lat);
	printf(",");
	load_report_json_hist("connect_histogram_ns", s->conn_lat);
	if (s->cross) {
		printf(",");
		load_report_json_hist("cross_histogram_ns", s->cross_lat);
	}
	printf("}\n");
}

/* An IRC run whose senders the server held back says so. */
static void
load_report_flood(const struct load_summary *s, FILE *fp)
{
	uint64_t through;

	if (strcmp(s->mode, "irc") != 0 || s->members < 2 || s->sent == 0)
		return;
	through = s->msgs / (s->members - 1);
	if (s->throttled == 0 &&
	    (s->lost == 0 || (double)through > 0.9 * (double)s->sent))
		return;
	fprintf(fp,
	    "note        the server passed on %llu of %llu messages "
	    "in time: its flood limit (a per-client command rate) slowed "
	    "the senders; evsockd --flood-rate 0 lifts it, or spread the "
	    "rate over more --senders\n",
	    (unsigned long long)through, (unsigned long long)s->sent);
}

/* Prints "<label> <percentiles> max M", the line's end left to the
   caller. */
static void
load_report_text_hist(const char *label, const struct hist *h,
    const struct load_output *o)
{
	char key[32];

	printf("%s", label);
	for (unsigned i = 0; i < o->npercentiles; i++) {
		load_report_pkey(o->percentiles[i], key, sizeof(key));
		printf(" %s %.1f", key,
		    (double)hist_percentile(h, o->percentiles[i]) / 1e3);
	}
	printf("  max %.1f", (double)hist_max(h) / 1e3);
}

static void
load_report_text(const struct load_summary *s, const struct load_output *o)
{
	printf("%s %s: %llu connections (%llu failed)", s->mode, s->target,
	    (unsigned long long)s->conns, (unsigned long long)s->failed);
	if (strcmp(s->mode, "script") != 0)
		printf(", %llu B", (unsigned long long)s->size);
	if (s->pipeline > 1)
		printf(", pipelining %u", s->pipeline);
	printf(", %s%s, %u thread%s", s->rate > 0 ? "open loop" : "closed loop",
	    s->churn ? ", one exchange per connection" : "", s->threads,
	    s->threads == 1 ? "" : "s");
	if (s->runs > 1)
		printf(", %u runs merged", s->runs);
	printf("\nmeasured    %.2f s after %.2f s warmup%s\n", s->secs,
	    s->warmup_s, s->interrupted ? " (interrupted)" : "");
	printf("throughput  %.0f %s/s, %.2f MB/s\n", s->mps,
	    strcmp(s->mode, "script") == 0 ? "replies" : "msgs", s->bps / 1e6);
	load_report_text_hist("latency us ", s->lat, o);
	printf("  (mean %.1f, %llu samples)\n", hist_mean(s->lat) / 1e3,
	    (unsigned long long)hist_count(s->lat));
	if (s->cross) {
		/* Sender and receiver on different targets: in a cluster,
		   the path from one instance to another. */
		load_report_text_hist("cross-target latency us", s->cross_lat,
		    o);
		printf("  (mean %.1f, %llu samples)\n",
		    hist_mean(s->cross_lat) / 1e3,
		    (unsigned long long)hist_count(s->cross_lat));
	}
	if (s->churn)
		printf("connections %.0f/s (%llu closed after their "
		       "exchange)\n",
		    s->cps, (unsigned long long)s->cycles);
	if (s->tls)
		printf("handshakes  %llu, %.0f/s (from connect to the "
		       "handshake's end below)\n",
		    (unsigned long long)hist_count(s->conn_lat), s->hps);
	if (hist_count(s->conn_lat) > 0) {
		load_report_text_hist(s->tls ? "handshake us" : "connect us ",
		    s->conn_lat, o);
		printf("  (%llu connects)\n",
		    (unsigned long long)hist_count(s->conn_lat));
	}
	if (strcmp(s->mode, "irc") == 0) {
		printf("messages    sent %llu, expected %llu, delivered %llu",
		    (unsigned long long)s->sent,
		    (unsigned long long)s->expected,
		    (unsigned long long)s->msgs);
		if (s->cross)
			printf(" (%llu from another target)",
			    (unsigned long long)s->cross_msgs);
		printf(", lost %llu (%llu in the channel)\n",
		    (unsigned long long)s->lost,
		    (unsigned long long)s->members);
	}
	load_report_flood(s, stdout);
	printf("errors      %llu", (unsigned long long)s->errors);
	for (int e = 0; e < LOAD_ERR_COUNT; e++)
		if (s->err[e])
			printf("  %s %llu",
			    load_report_err_name((enum load_err)e),
			    (unsigned long long)s->err[e]);
	if (s->err[LOAD_ERR_CONNECT])
		printf(" (connections that never came up)");
	printf("\n");
	if (s->first_mismatch[0] != '\0')
		printf("first mismatch: %s\n", s->first_mismatch);
}

static int
load_report_hgrm(const struct load_summary *s, const char *path)
{
	FILE *fp;
	int rc;

	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	rc = hist_write_hgrm(s->lat, fp, 1e3);
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

int
load_report_emit(const struct load_summary *s, const struct load_output *o)
{
	int rc = s->errors || s->lost || s->failed || s->up == 0 ? 1 : 0;

	if (o->json)
		load_report_json(s, o);
	else
		load_report_text(s, o);
	if (s->first_error[0] != '\0' &&
	    strcmp(s->first_error, s->first_mismatch) != 0)
		fprintf(stderr, "evsock load: first error: %s\n",
		    s->first_error);
	/* The text summary shows the first mismatch itself. */
	if (o->json && s->first_mismatch[0] != '\0')
		fprintf(stderr, "evsock load: first mismatch: %s\n",
		    s->first_mismatch);
	if (o->json)
		load_report_flood(s, stderr);
	fflush(stdout);
	if (o->histogram != NULL && load_report_hgrm(s, o->histogram) == -1) {
		fprintf(stderr, "evsock load: %s: %s\n", o->histogram,
		    strerror(errno));
		rc = 1;
	}
	if (o->report != NULL && load_html_write(s, o->report) == -1) {
		fprintf(stderr, "evsock load: %s: %s\n", o->report,
		    strerror(errno));
		rc = 1;
	}
	return rc;
}

int
load_report_final(const struct load_conf *conf, struct load_shared *sh,
    struct load_worker **w, unsigned n, const struct load_totals *t,
    int interrupted)
{
	static const char *const modes[] = { "echo", "irc", "script" };
	struct load_summary *s;
	struct load_output o;
	struct load_result r;
	uint64_t t_end = atomic_load(&sh->t_end);
	uint64_t t_measure = atomic_load(&sh->t_measure);
	uint64_t win_msgs = 0, win_bytes = 0, win_conns = 0;
	uint64_t hs_first = 0, hs_last = 0;
	int rc;

	if ((s = load_report_summary_new()) == NULL) {
		fprintf(stderr, "evsock load: out of memory\n");
		return 1;
	}
	snprintf(s->mode, sizeof(s->mode), "%s", modes[conf->mode]);
	snprintf(s->target, sizeof(s->target), "%s", conf->target);
	s->conns = conf->conns;
	s->up = t->up;
	s->failed = t->failed;
	s->threads = conf->threads;
	s->pipeline = conf->mode == LOAD_SCRIPT ? conf->pipeline : 1;
	s->size = conf->size;
	s->rate = conf->rate;
	s->churn = conf->churn;
	s->interrupted = interrupted;
	s->warmup_s = (double)conf->warmup_ms / 1e3;
	for (unsigned i = 0; i < n; i++) {
		load_worker_result(w[i], &r, s->lat, s->cross_lat, s->conn_lat);
		s->cross_msgs += r.cross_msgs;
		win_msgs += r.win_msgs;
		win_bytes += r.win_bytes;
		win_conns += r.win_conns;
		if (r.hs_first != 0 && (hs_first == 0 || r.hs_first < hs_first))
			hs_first = r.hs_first;
		if (r.hs_last > hs_last)
			hs_last = r.hs_last;
		s->cycles += r.cycles;
		for (int e = 0; e < LOAD_ERR_COUNT; e++)
			s->err[e] += r.err[e];
		if (s->first_error[0] == '\0')
			memcpy(s->first_error, r.first_error,
			    sizeof(s->first_error));
		if (s->first_mismatch[0] == '\0')
			memcpy(s->first_mismatch, r.first_mismatch,
			    sizeof(s->first_mismatch));
	}
	s->err[LOAD_ERR_CONNECT] = t->failed;
	s->msgs = t->msgs;
	s->sent = t->sent;
	s->bytes_out = t->bytes_out;
	s->bytes_in = t->bytes_in;
	s->throttled = t->throttled;
	if (conf->mode == LOAD_IRC) {
		s->cross = conf->ntargets > 1;
		s->members = t->members;
		s->expected = t->sent * (t->members ? t->members - 1 : 0);
		s->lost = s->expected > t->msgs ? s->expected - t->msgs : 0;
		if (t->msgs > s->expected)
			s->err[LOAD_ERR_UNEXPECTED] += t->msgs - s->expected;
	}
	for (int e = 0; e < LOAD_ERR_COUNT; e++)
		s->errors += s->err[e];
	s->secs = t_end > t_measure ? (double)(t_end - t_measure) / 1e9 : 0;
	s->mps = s->secs > 0 ? (double)win_msgs / s->secs : 0;
	s->bps = s->secs > 0 ? (double)win_bytes / s->secs : 0;
	s->cps = s->secs > 0 ? (double)win_conns / s->secs : 0;
	/* --tls: with connections as the load, handshakes/s is their rate
	   in the window; else every handshake of the setup, first connect
	   to last handshake. */
	s->tls = conf->tls_ctx != NULL;
	s->hps = s->churn      ? s->cps :
	    hs_last > hs_first ? (double)hist_count(s->conn_lat) /
	        ((double)(hs_last - hs_first) / 1e9) :
	                         0;
	s->samples = sh->samples;
	s->nsamples = sh->nsamples;
	sh->samples = NULL;
	sh->nsamples = sh->capsamples = 0;
	memset(&o, 0, sizeof(o));
	o.percentiles = conf->percentiles;
	o.npercentiles = conf->npercentiles;
	o.json = conf->json;
	o.histogram = conf->histogram;
	o.report = conf->report;
	rc = load_report_emit(s, &o);
	load_report_summary_free(s);
	return rc;
}
