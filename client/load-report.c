/*
 * evsock load's words: the live progress line and the final report,
 * as a human summary or as one JSON object.
 */
#include <stdio.h>
#include <string.h>

#include "load-int.h"

/* The run's figures, gathered from every worker. */
struct load_figures {
	struct load_result res;  /* summed over the workers */
	struct hist *total;      /* latencies inside the window */
	uint64_t expected, lost; /* irc: deliveries owed and missing */
	uint64_t errors;
	double secs, mps, bps;   /* window, msgs/s, bytes/s */
	int interrupted;
	struct hist *hs;         /* --tls: handshake latencies */
	double hs_rate;          /* handshakes/s, first connect to last */
};

static const char *load_report_err_name(enum load_err e);
static void load_report_pkey(double p, char *buf, size_t len);
static void load_report_json_str(const char *s);
static void load_report_json(const struct load_conf *conf,
    const struct load_totals *t, const struct load_figures *f);
static void load_report_text(const struct load_conf *conf,
    const struct load_totals *t, const struct load_figures *f);

static const char *
load_report_err_name(enum load_err e)
{
	static const char *const names[LOAD_ERR_COUNT] = {
		"corrupt", "unexpected", "closed", "timeout", "overrun",
		"protocol"
	};

	return (unsigned)e < LOAD_ERR_COUNT ? names[e] : "?";
}

void
load_report_progress(const struct load_conf *conf, struct load_shared *sh,
    const struct load_totals *t, uint64_t now, uint64_t t0,
    uint64_t *last_msgs, uint64_t *last_sent)
{
	uint64_t p99;
	int phase = atomic_load(&sh->phase);
	const char *what = phase == LOAD_PHASE_SETUP ? "connecting" :
	    phase == LOAD_PHASE_RUN ? (now < atomic_load(&sh->t_measure) ?
	    "warmup" : "running") : "draining";

	pthread_mutex_lock(&sh->iv_lock);
	p99 = hist_percentile(sh->iv, 99);
	hist_reset(sh->iv);
	pthread_mutex_unlock(&sh->iv_lock);
	fprintf(stderr, "[%4.0fs] %-10s conns %llu/%llu", (double)(now - t0) /
	    1e9, what, (unsigned long long)t->open,
	    (unsigned long long)conf->conns);
	if (conf->mode == LOAD_IRC)
		fprintf(stderr, " (%llu joined)", (unsigned long long)t->ready);
	if (t->failed)
		fprintf(stderr, " failed %llu", (unsigned long long)t->failed);
	fprintf(stderr, "  %llu msgs/s", (unsigned long long)(t->msgs -
	    *last_msgs));
	if (conf->mode == LOAD_IRC)
		fprintf(stderr, " (sent %llu/s)", (unsigned long long)(t->sent -
		    *last_sent));
	fprintf(stderr, "  p99 %.0f us  errors %llu\n", (double)p99 / 1e3,
	    (unsigned long long)t->errors);
	*last_msgs = t->msgs;
	*last_sent = t->sent;
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

static void
load_report_json(const struct load_conf *conf, const struct load_totals *t,
    const struct load_figures *f)
{
	static const double std[] = { 50, 90, 99, 99.9 };
	char key[32];

	printf("{\"mode\":\"%s\",\"target\":",
	    conf->mode == LOAD_ECHO ? "echo" : "irc");
	load_report_json_str(conf->target);
	printf(",\"connections\":{\"ok\":%llu,\"failed\":%llu},"
	    "\"threads\":%u,\"size\":%llu,", (unsigned long long)t->up,
	    (unsigned long long)t->failed, conf->threads,
	    (unsigned long long)conf->size);
	if (conf->rate > 0)
		printf("\"rate\":%.17g,", conf->rate);
	else
		printf("\"rate\":null,");
	printf("\"duration_s\":%.6f,\"warmup_s\":%.3f,"
	    "\"throughput_msgs_per_s\":%.1f,"
	    "\"throughput_bytes_per_s\":%.1f,\"latency_us\":{", f->secs,
	    (double)conf->warmup_ms / 1e3, f->mps, f->bps);
	for (int i = 0; i < 4; i++) {
		load_report_pkey(std[i], key, sizeof(key));
		printf("\"%s\":%.1f,", key,
		    (double)hist_percentile(f->total, std[i]) / 1e3);
	}
	for (unsigned i = 0; i < conf->npercentiles; i++) {
		int dup = 0;

		for (int j = 0; j < 4; j++)
			dup |= conf->percentiles[i] == std[j];
		if (dup)
			continue;
		load_report_pkey(conf->percentiles[i], key, sizeof(key));
		printf("\"%s\":%.1f,", key, (double)hist_percentile(f->total,
		    conf->percentiles[i]) / 1e3);
	}
	printf("\"max\":%.1f,\"min\":%.1f,\"mean\":%.1f,\"count\":%llu},",
	    (double)hist_max(f->total) / 1e3,
	    (double)hist_min(f->total) / 1e3, hist_mean(f->total) / 1e3,
	    (unsigned long long)hist_count(f->total));
	printf("\"errors\":%llu,\"error_kinds\":{",
	    (unsigned long long)f->errors);
	for (int e = 0; e < LOAD_ERR_COUNT; e++)
		printf("%s\"%s\":%llu", e ? "," : "",
		    load_report_err_name((enum load_err)e),
		    (unsigned long long)f->res.err[e]);
	printf("},\"totals\":{\"msgs\":%llu,\"sent\":%llu,"
	    "\"bytes_sent\":%llu,\"bytes_received\":%llu}",
	    (unsigned long long)t->msgs, (unsigned long long)t->sent,
	    (unsigned long long)t->bytes_out, (unsigned long long)t->bytes_in);
	if (conf->mode == LOAD_IRC)
		printf(",\"members\":%llu,\"sent\":%llu,\"expected\":%llu,"
		    "\"delivered\":%llu,\"lost\":%llu",
		    (unsigned long long)t->members, (unsigned long long)t->sent,
		    (unsigned long long)f->expected,
		    (unsigned long long)t->msgs, (unsigned long long)f->lost);
	if (conf->tls_ctx != NULL) {
		printf(",\"tls\":{\"handshakes\":%llu,"
		    "\"handshakes_per_s\":%.1f,\"handshake_latency_us\":{",
		    (unsigned long long)hist_count(f->hs), f->hs_rate);
		for (unsigned i = 0; i < conf->npercentiles; i++) {
			load_report_pkey(conf->percentiles[i], key,
			    sizeof(key));
			printf("\"%s\":%.1f,", key, (double)hist_percentile(
			    f->hs, conf->percentiles[i]) / 1e3);
		}
		printf("\"max\":%.1f,\"mean\":%.1f}}",
		    (double)hist_max(f->hs) / 1e3, hist_mean(f->hs) / 1e3);
	}
	printf(",\"interrupted\":%s}\n", f->interrupted ? "true" : "false");
}

static void
load_report_text(const struct load_conf *conf, const struct load_totals *t,
    const struct load_figures *f)
{
	char key[32];

	printf("%s %s: %llu connections (%llu failed), %llu B, %s, "
	    "%u thread%s\n", conf->mode == LOAD_ECHO ? "echo" : "irc",
	    conf->target, (unsigned long long)conf->conns,
	    (unsigned long long)t->failed, (unsigned long long)conf->size,
	    conf->rate > 0 ? "open loop" : "closed loop", conf->threads,
	    conf->threads == 1 ? "" : "s");
	printf("measured    %.2f s after %.2f s warmup%s\n", f->secs,
	    (double)conf->warmup_ms / 1e3,
	    f->interrupted ? " (interrupted)" : "");
	printf("throughput  %.0f msgs/s, %.2f MB/s\n", f->mps, f->bps / 1e6);
	printf("latency us ");
	for (unsigned i = 0; i < conf->npercentiles; i++) {
		load_report_pkey(conf->percentiles[i], key, sizeof(key));
		printf(" %s %.1f", key, (double)hist_percentile(f->total,
		    conf->percentiles[i]) / 1e3);
	}
	printf("  max %.1f  (mean %.1f, %llu samples)\n",
	    (double)hist_max(f->total) / 1e3, hist_mean(f->total) / 1e3,
	    (unsigned long long)hist_count(f->total));
	if (conf->mode == LOAD_IRC)
		printf("messages    sent %llu, expected %llu, delivered %llu, "
		    "lost %llu (%llu in the channel)\n",
		    (unsigned long long)t->sent,
		    (unsigned long long)f->expected,
		    (unsigned long long)t->msgs, (unsigned long long)f->lost,
		    (unsigned long long)t->members);
	if (conf->tls_ctx != NULL) {
		printf("handshakes  %llu, %.0f/s; latency us",
		    (unsigned long long)hist_count(f->hs), f->hs_rate);
		for (unsigned i = 0; i < conf->npercentiles; i++) {
			load_report_pkey(conf->percentiles[i], key,
			    sizeof(key));
			printf(" %s %.1f", key, (double)hist_percentile(f->hs,
			    conf->percentiles[i]) / 1e3);
		}
		printf("  max %.1f\n", (double)hist_max(f->hs) / 1e3);
	}
	printf("errors      %llu", (unsigned long long)f->errors);
	for (int e = 0; e < LOAD_ERR_COUNT; e++)
		if (f->res.err[e])
			printf("  %s %llu",
			    load_report_err_name((enum load_err)e),
			    (unsigned long long)f->res.err[e]);
	printf("\n");
}

int
load_report_final(const struct load_conf *conf, struct load_shared *sh,
    struct load_worker **w, unsigned n, const struct load_totals *t,
    int interrupted)
{
	struct load_figures f;
	struct load_result r;
	uint64_t t_end = atomic_load(&sh->t_end);
	uint64_t t_measure = atomic_load(&sh->t_measure);
	uint64_t hs_first = 0, hs_last = 0;

	memset(&f, 0, sizeof(f));
	f.interrupted = interrupted;
	if ((f.total = hist_new()) == NULL || (f.hs = hist_new()) == NULL) {
		hist_free(f.total);
		fprintf(stderr, "evsock load: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		load_worker_result(w[i], &r, f.total);
		hist_merge(f.hs, r.hs);
		if (r.hs_first != 0 && (hs_first == 0 || r.hs_first < hs_first))
			hs_first = r.hs_first;
		if (r.hs_last > hs_last)
			hs_last = r.hs_last;
		f.res.win_msgs += r.win_msgs;
		f.res.win_bytes += r.win_bytes;
		for (int e = 0; e < LOAD_ERR_COUNT; e++)
			f.res.err[e] += r.err[e];
		if (f.res.first_error[0] == '\0')
			memcpy(f.res.first_error, r.first_error,
			    sizeof(f.res.first_error));
	}
	if (conf->mode == LOAD_IRC) {
		f.expected = t->sent * (t->members ? t->members - 1 : 0);
		f.lost = f.expected > t->msgs ? f.expected - t->msgs : 0;
		if (t->msgs > f.expected)
			f.res.err[LOAD_ERR_UNEXPECTED] += t->msgs - f.expected;
	}
	for (int e = 0; e < LOAD_ERR_COUNT; e++)
		f.errors += f.res.err[e];
	f.secs = t_end > t_measure ? (double)(t_end - t_measure) / 1e9 : 0;
	f.mps = f.secs > 0 ? (double)f.res.win_msgs / f.secs : 0;
	f.bps = f.secs > 0 ? (double)f.res.win_bytes / f.secs : 0;
	f.hs_rate = hs_last > hs_first ? (double)hist_count(f.hs) /
	    ((double)(hs_last - hs_first) / 1e9) : 0;
	if (conf->json)
		load_report_json(conf, t, &f);
	else
		load_report_text(conf, t, &f);
	if (f.res.first_error[0] != '\0')
		fprintf(stderr, "evsock load: first error: %s\n",
		    f.res.first_error);
	fflush(stdout);
	hist_free(f.total);
	hist_free(f.hs);
	return f.errors || f.lost || t->failed || t->up == 0 ? 1 : 0;
}
