/*
 * `evsock load merge A.json B.json ...`: adds runs made at the same
 * time from several machines into one report.  Each --json summary
 * carries its latency histogram's buckets, so the merged percentiles
 * are computed from the summed buckets, not averaged.  Throughputs
 * add; per-second samples add their counts and keep the worst
 * latencies.
 *
 * The JSON reader below reads what load-report.c writes: a value is
 * found by key inside an object, skipping what it does not need.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load-int.h"

static const char *load_merge_ws(const char *p);
static const char *load_merge_skip(const char *p);
static const char *load_merge_get(const char *obj, const char *key);
static double load_merge_num(const char *obj, const char *key);
static void load_merge_str(const char *obj, const char *key, char *buf,
    size_t len);
static int load_merge_hist(const char *obj, const char *key, struct hist *into);
static int load_merge_samples(const char *root, struct load_summary *s);
static int load_merge_file(const char *path, struct load_summary *s, int first);
static char *load_merge_read(const char *path);

static const char *
load_merge_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	return p;
}

/* Skips one JSON value; returns what follows it, or NULL. */
static const char *
load_merge_skip(const char *p)
{
	int depth = 0;

	p = load_merge_ws(p);
	do {
		if (*p == '\0')
			return NULL;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					return NULL;
				if (*p == '\\' && p[1] != '\0')
					p++;
			}
			p++;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if (*p == '}' || *p == ']') {
			depth--;
			p++;
		} else if (depth == 0) {
			/* A number or a literal. */
			p += strcspn(p, ",}] \n\r\t");
		} else
			p++;
	} while (depth > 0);
	return p;
}

/* The value of `key` in the object at obj, or NULL. */
static const char *
load_merge_get(const char *obj, const char *key)
{
	size_t klen = strlen(key);
	const char *p;

	if (obj == NULL || *(obj = load_merge_ws(obj)) != '{')
		return NULL;
	p = load_merge_ws(obj + 1);
	while (*p == '"') {
		const char *k = p + 1, *v;

		if ((p = load_merge_skip(p)) == NULL)
			return NULL;
		p = load_merge_ws(p);
		if (*p != ':')
			return NULL;
		v = load_merge_ws(p + 1);
		if ((size_t)(p - k) >= klen + 1 && strncmp(k, key, klen) == 0 &&
		    k[klen] == '"')
			return v;
		if ((p = load_merge_skip(v)) == NULL)
			return NULL;
		p = load_merge_ws(p);
		if (*p == ',')
			p = load_merge_ws(p + 1);
	}
	return NULL;
}

static double
load_merge_num(const char *obj, const char *key)
{
	const char *v = load_merge_get(obj, key);

	if (v == NULL)
		return 0;
	if (strncmp(v, "true", 4) == 0)
		return 1;
	return strtod(v, NULL);
}

/* A string value, its \" and \\ escapes undone ("" when absent). */
static void
load_merge_str(const char *obj, const char *key, char *buf, size_t len)
{
	const char *v = load_merge_get(obj, key);
	size_t o = 0;

	buf[0] = '\0';
	if (v == NULL || *v != '"')
		return;
	for (v++; *v != '"' && *v != '\0' && o + 1 < len; v++) {
		if (*v == '\\' && v[1] != '\0')
			v++;
		buf[o++] = *v;
	}
	buf[o] = '\0';
}

/* Adds the histogram stored under key into `into`. */
static int
load_merge_hist(const char *obj, const char *key, struct hist *into)
{
	const char *h = load_merge_get(obj, key), *p;
	struct hist *tmp;

	if (h == NULL)
		return -1;
	if ((int)load_merge_num(h, "sub_bits") != HIST_SUB_BITS ||
	    (p = load_merge_get(h, "buckets")) == NULL || *p != '[')
		return -1;
	if ((tmp = hist_new()) == NULL)
		return -1;
	for (p = load_merge_ws(p + 1); *p == '[';) {
		char *q;
		unsigned long long low, n;

		low = strtoull(load_merge_ws(p + 1), &q, 10);
		q = (char *)load_merge_ws(q);
		if (*q != ',')
			break;
		n = strtoull(load_merge_ws(q + 1), &q, 10);
		hist_record_n(tmp, low, n);
		if ((p = load_merge_skip(p)) == NULL)
			break;
		p = load_merge_ws(p);
		if (*p == ',')
			p = load_merge_ws(p + 1);
	}
	hist_set_exact(tmp, (uint64_t)load_merge_num(h, "min"),
	    (uint64_t)load_merge_num(h, "max"), load_merge_num(h, "sum"));
	hist_merge(into, tmp);
	hist_free(tmp);
	return 0;
}

/* Adds the per-second samples, second by second. */
static int
load_merge_samples(const char *root, struct load_summary *s)
{
	const char *p = load_merge_get(root, "samples");
	size_t i = 0;

	if (p == NULL || *p != '[')
		return 0;
	for (p = load_merge_ws(p + 1); *p == '['; i++) {
		double v[10];
		const char *q = p + 1;
		struct load_sample *x;

		for (int k = 0; k < 10; k++) {
			char *e;

			v[k] = strtod(load_merge_ws(q), &e);
			q = load_merge_ws(e);
			if (*q == ',')
				q++;
		}
		if (i == s->nsamples) {
			x = realloc(s->samples, (i + 1) * sizeof(*x));
			if (x == NULL)
				return -1;
			s->samples = x;
			memset(&x[i], 0, sizeof(*x));
			s->nsamples++;
		}
		x = &s->samples[i];
		if (v[0] > x->t)
			x->t = v[0];
		x->measured |= v[1] != 0;
		x->msgs += (uint64_t)v[2];
		x->conns += (uint64_t)v[3];
		x->errors += (uint64_t)v[4];
#define WORST(f, k) \
	if ((uint64_t)v[k] > x->f) \
	x->f = (uint64_t)v[k]
		WORST(p50, 5);
		WORST(p90, 6);
		WORST(p99, 7);
		WORST(p999, 8);
		WORST(max, 9);
#undef WORST
		if ((p = load_merge_skip(p)) == NULL)
			return -1;
		p = load_merge_ws(p);
		if (*p == ',')
			p = load_merge_ws(p + 1);
	}
	return 0;
}

/* The whole file, NUL-terminated, or NULL (errno). */
static char *
load_merge_read(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (fp == NULL)
		return NULL;
	do {
		if (len + 65536 + 1 > cap) {
			char *p;

			cap = cap ? cap * 2 : 131072;
			if ((p = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(fp);
				errno = ENOMEM;
				return NULL;
			}
			buf = p;
		}
		n = fread(buf + len, 1, 65536, fp);
		len += n;
	} while (n > 0);
	fclose(fp);
	buf[len] = '\0';
	return buf;
}

static int
load_merge_file(const char *path, struct load_summary *s, int first)
{
	char *text, mode[16], target[256], buf[LOAD_ERROR_LEN];
	const char *root, *c, *k, *t;
	int rc = -1;

	if ((text = load_merge_read(path)) == NULL) {
		fprintf(stderr, "evsock load merge: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	root = load_merge_ws(text);
	load_merge_str(root, "mode", mode, sizeof(mode));
	if (mode[0] == '\0' ||
	    load_merge_hist(root, "histogram_ns", s->lat) == -1) {
		fprintf(stderr,
		    "evsock load merge: %s: not the --json of "
		    "evsock load (no histogram_ns)\n",
		    path);
		goto out;
	}
	load_merge_hist(root, "connect_histogram_ns", s->conn_lat);
	/* Runs over several targets carry their cross-target deliveries
	   too; a run over one target adds none. */
	if (load_merge_hist(root, "cross_histogram_ns", s->cross_lat) == 0)
		s->cross = 1;
	s->cross_msgs += (uint64_t)load_merge_num(root, "delivered_cross");
	load_merge_str(root, "target", target, sizeof(target));
	if (first) {
		snprintf(s->mode, sizeof(s->mode), "%s", mode);
		snprintf(s->target, sizeof(s->target), "%s", target);
		s->runs = 0;
		s->size = (uint64_t)load_merge_num(root, "size");
		s->pipeline = (unsigned)load_merge_num(root, "pipeline");
		s->warmup_s = load_merge_num(root, "warmup_s");
	} else {
		if (strcmp(s->mode, mode) != 0)
			snprintf(s->mode, sizeof(s->mode), "mixed");
		if (strstr(s->target, target) == NULL &&
		    strlen(s->target) + strlen(target) + 4 < sizeof(s->target))
			strcat(strcat(s->target, " + "), target);
	}
	s->runs += load_merge_get(root, "runs") != NULL ?
	    (unsigned)load_merge_num(root, "runs") :
	    1;
	c = load_merge_get(root, "connections");
	s->up += (uint64_t)load_merge_num(c, "ok");
	s->failed += (uint64_t)load_merge_num(c, "failed");
	s->conns += (uint64_t)load_merge_num(c, "asked");
	s->cps += load_merge_num(c, "per_s");
	s->threads += (unsigned)load_merge_num(root, "threads");
	s->rate += load_merge_num(root, "rate");
	s->churn |= load_merge_num(root, "churn") != 0;
	s->interrupted |= load_merge_num(root, "interrupted") != 0;
	if (load_merge_num(root, "duration_s") > s->secs)
		s->secs = load_merge_num(root, "duration_s");
	s->mps += load_merge_num(root, "throughput_msgs_per_s");
	s->bps += load_merge_num(root, "throughput_bytes_per_s");
	k = load_merge_get(root, "error_kinds");
	for (int e = 0; e < LOAD_ERR_COUNT; e++) {
		uint64_t n = (uint64_t)load_merge_num(k,
		    load_report_err_name((enum load_err)e));

		s->err[e] += n;
		s->errors += n;
	}
	t = load_merge_get(root, "totals");
	s->msgs += (uint64_t)load_merge_num(t, "msgs");
	s->sent += (uint64_t)load_merge_num(t, "sent");
	s->bytes_out += (uint64_t)load_merge_num(t, "bytes_sent");
	s->bytes_in += (uint64_t)load_merge_num(t, "bytes_received");
	s->cycles += (uint64_t)load_merge_num(t, "closed");
	s->members += (uint64_t)load_merge_num(root, "members");
	s->expected += (uint64_t)load_merge_num(root, "expected");
	s->lost += (uint64_t)load_merge_num(root, "lost");
	s->throttled += (uint64_t)load_merge_num(root, "throttled");
	load_merge_str(root, "first_error", buf, sizeof(buf));
	if (s->first_error[0] == '\0' && buf[0] != '\0')
		snprintf(s->first_error, sizeof(s->first_error), "%s: %s", path,
		    buf);
	load_merge_str(root, "first_mismatch", buf, sizeof(buf));
	if (s->first_mismatch[0] == '\0' && buf[0] != '\0')
		snprintf(s->first_mismatch, sizeof(s->first_mismatch), "%s: %s",
		    path, buf);
	if (load_merge_samples(root, s) == -1) {
		fprintf(stderr, "evsock load merge: out of memory\n");
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

int
load_merge_main(int argc, char **argv)
{
	static const struct option longopts[] = { { "json", no_argument, NULL,
		                                      'j' },
		{ "histogram", required_argument, NULL, 'H' },
		{ "report", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	static const double pct[] = { 50, 90, 99, 99.9 };
	struct load_output o;
	struct load_summary *s;
	int ch, rc;

	memset(&o, 0, sizeof(o));
	o.percentiles = pct;
	o.npercentiles = 4;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			o.json = 1;
			break;
		case 'H':
			o.histogram = optarg;
			break;
		case 'R':
			o.report = optarg;
			break;
		case 'h':
			printf(
			    "usage: evsock load merge [--json] [--histogram "
			    "FILE] [--report FILE.html] A.json B.json ...\n"
			    "\nAdds runs of `evsock load --json` made at the "
			    "same time into one report:\nthroughputs add, "
			    "percentiles come from the summed histograms.\n");
			return 0;
		case ':':
			fprintf(stderr, "evsock load merge: %s needs a value\n",
			    argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr,
			    "evsock load merge: unknown option "
			    "%s\n",
			    argv[optind - 1]);
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr,
		    "evsock load merge: which runs? give the "
		    "--json output files\n");
		return 2;
	}
	if ((s = load_report_summary_new()) == NULL) {
		fprintf(stderr, "evsock load merge: out of memory\n");
		return 1;
	}
	for (int i = optind; i < argc; i++)
		if (load_merge_file(argv[i], s, i == optind) == -1) {
			load_report_summary_free(s);
			return 2;
		}
	rc = load_report_emit(s, &o);
	load_report_summary_free(s);
	return rc;
}
