/*
 * evsock load's HTML report: one self-contained page (inline SVG and
 * CSS, no scripts) with the summary, throughput and latency
 * percentiles over time from the per-second samples, and the latency
 * distribution as a percentile spectrum (the HdrHistogram plot: the
 * x axis is 1/(1-percentile), so the tail gets the room).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "load-int.h"

#define W 900
#define H 300
#define ML 70 /* margins: left, right, top, bottom */
#define MR 40
#define MT 30
#define MB 45
#define MAXPTS 512

struct html_series {
	const char *name;
	const char *color;
	double x[MAXPTS], y[MAXPTS];
	size_t n;
};

struct html_axes {
	double x0, x1, y0, y1;
	int logx, logy;
	double shade0, shade1; /* the measured window, or 0, 0 */
};

static void html_text(FILE *fp, const char *s);
static double html_map(double v, double lo, double hi, int logscale,
    double from, double to);
static double html_step(double range);
static void html_chart(FILE *fp, const char *title, const char *xlabel,
    const char *ylabel, const struct html_axes *a, const struct html_series *s,
    size_t ns, int spectrum);
static void html_tick(FILE *fp, double x1, double x2, double y1, double y2,
    double tx, double ty, const char *anchor, const char *label);
static void html_ytick(FILE *fp, double px0, double px1, double y, double v);
static void html_xtick(FILE *fp, double x, double py0, double py1,
    const char *label);
static const char *html_num(char *buf, size_t len, double v);
static void html_spectrum(const struct hist *h, struct html_series *s);
static void html_summary(FILE *fp, const struct load_summary *s);

/* Writes s with HTML's special characters escaped. */
static void
html_text(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '<')
			fputs("&lt;", fp);
		else if (*s == '>')
			fputs("&gt;", fp);
		else if (*s == '&')
			fputs("&amp;", fp);
		else if (*s == '"')
			fputs("&quot;", fp);
		else
			fputc(*s, fp);
	}
}

static double
html_map(double v, double lo, double hi, int logscale, double from, double to)
{
	double f;

	if (logscale) {
		v = log10(v > 0 ? v : lo);
		lo = log10(lo);
		hi = log10(hi);
	}
	f = hi > lo ? (v - lo) / (hi - lo) : 0;
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return from + f * (to - from);
}

/* A round step that cuts `range` into about five. */
static double
html_step(double range)
{
	double m, e;

	if (range <= 0)
		return 1;
	e = pow(10, floor(log10(range / 5)));
	m = range / 5 / e;
	return e * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

/* One grid line from (x1,y1) to (x2,y2) and its label at (tx,ty). */
static void
html_tick(FILE *fp, double x1, double x2, double y1, double y2, double tx,
    double ty, const char *anchor, const char *label)
{
	fprintf(fp,
	    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
	    "class=\"g\"/><text x=\"%.1f\" y=\"%.1f\" class=\"l\" "
	    "text-anchor=\"%s\">%s</text>\n",
	    x1, x2, y1, y2, tx, ty, anchor, label);
}

/* A horizontal grid line at y, labelled v on the left. */
static void
html_ytick(FILE *fp, double px0, double px1, double y, double v)
{
	char num[32];

	html_tick(fp, px0, px1, y, y, px0 - 6, y + 4, "end",
	    html_num(num, sizeof(num), v));
}

/* A vertical grid line at x, labelled below. */
static void
html_xtick(FILE *fp, double x, double py0, double py1, const char *label)
{
	html_tick(fp, x, x, py0, py1, x, py0 + 16, "middle", label);
}

/* v as %g in buf. */
static const char *
html_num(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%g", v);
	return buf;
}

static void
html_chart(FILE *fp, const char *title, const char *xlabel, const char *ylabel,
    const struct html_axes *a, const struct html_series *s, size_t ns,
    int spectrum)
{
	double px0 = ML, px1 = W - MR, py0 = H - MB, py1 = MT, v, step;
	char num[32];

	fprintf(fp,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
	    W, H, W, H);
	fprintf(fp, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
	fprintf(fp, "<text x=\"%d\" y=\"18\" class=\"t\">", ML);
	html_text(fp, title);
	fprintf(fp, "</text>\n");
	if (a->shade1 > a->shade0) {
		double s0 = html_map(a->shade0, a->x0, a->x1, a->logx, px0,
		    px1);
		double s1 = html_map(a->shade1, a->x0, a->x1, a->logx, px0,
		    px1);

		fprintf(fp,
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\" fill=\"#eef4ff\"/>\n",
		    s0, py1, s1 - s0, py0 - py1);
	}
	/* Grid and tick labels. */
	if (a->logy) {
		for (v = pow(10, floor(log10(a->y0))); v <= a->y1 * 1.0001;
		     v *= 10) {
			double y = html_map(v, a->y0, a->y1, 1, py0, py1);

			if (v < a->y0)
				continue;
			html_ytick(fp, px0, px1, y, v);
		}
	} else {
		step = html_step(a->y1 - a->y0);
		for (v = ceil(a->y0 / step) * step; v <= a->y1 * 1.0001;
		     v += step) {
			double y = html_map(v, a->y0, a->y1, 0, py0, py1);

			html_ytick(fp, px0, px1, y, v);
		}
	}
	if (spectrum) {
		static const char *const names[] = { "0%", "90%", "99%",
			"99.9%", "99.99%", "99.999%", "99.9999%" };

		for (int i = 0; i < 7 && pow(10, i) <= a->x1 * 1.0001; i++) {
			double x = html_map(pow(10, i), a->x0, a->x1, 1, px0,
			    px1);

			html_xtick(fp, x, py0, py1, names[i]);
		}
	} else {
		step = html_step(a->x1 - a->x0);
		for (v = ceil(a->x0 / step) * step; v <= a->x1 * 1.0001;
		     v += step) {
			double x = html_map(v, a->x0, a->x1, 0, px0, px1);

			html_xtick(fp, x, py0, py1,
			    html_num(num, sizeof(num), v));
		}
	}
	fprintf(fp,
	    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
	    "height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
	    px0, py1, px1 - px0, py0 - py1);
	fprintf(fp,
	    "<text x=\"%.1f\" y=\"%d\" class=\"l\" "
	    "text-anchor=\"middle\">",
	    (px0 + px1) / 2, H - 8);
	html_text(fp, xlabel);
	fprintf(fp,
	    "</text><text x=\"14\" y=\"%.1f\" class=\"l\" "
	    "text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">",
	    (py0 + py1) / 2, (py0 + py1) / 2);
	html_text(fp, ylabel);
	fprintf(fp, "</text>\n");
	for (size_t k = 0; k < ns; k++) {
		fprintf(fp,
		    "<polyline fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"2\" points=\"",
		    s[k].color);
		for (size_t i = 0; i < s[k].n; i++)
			fprintf(fp, "%.1f,%.1f ",
			    html_map(s[k].x[i], a->x0, a->x1, a->logx, px0,
			        px1),
			    html_map(s[k].y[i], a->y0, a->y1, a->logy, py0,
			        py1));
		fprintf(fp,
		    "\"/>\n<rect x=\"%.1f\" y=\"%d\" width=\"12\" "
		    "height=\"4\" fill=\"%s\"/><text x=\"%.1f\" y=\"%d\" "
		    "class=\"l\">",
		    px1 - 90.0 * (double)(ns - k), 10, s[k].color,
		    px1 - 90.0 * (double)(ns - k) + 16, 15);
		html_text(fp, s[k].name);
		fprintf(fp, "</text>\n");
	}
	fprintf(fp, "</svg>\n");
}

/* The percentile spectrum of h: x = 1/(1-p), y = latency in us. */
static void
html_spectrum(const struct hist *h, struct html_series *s)
{
	s->n = 0;
	if (hist_count(h) == 0)
		return;
	for (double p = 0; s->n < MAXPTS;) {
		double half = floor(log2(100.0 / (100.0 - p))) + 1;

		s->x[s->n] = 1.0 / (1.0 - p / 100.0);
		s->y[s->n] = (double)hist_percentile(h, p) / 1e3;
		s->n++;
		if (p >= 100.0 - 100.0 / (double)hist_count(h) || p > 99.9999)
			break;
		p += 100.0 / (5.0 * pow(2.0, half));
	}
}

static void
html_summary(FILE *fp, const struct load_summary *s)
{
	static const double pct[] = { 50, 90, 99, 99.9 };

	fprintf(fp, "<table>\n<tr><th>run</th><td>");
	html_text(fp, s->mode);
	fprintf(fp, " ");
	html_text(fp, s->target);
	fprintf(fp, ", %llu connections (%llu failed), %s, %u thread%s",
	    (unsigned long long)s->conns, (unsigned long long)s->failed,
	    s->rate > 0 ? "open loop" : "closed loop", s->threads,
	    s->threads == 1 ? "" : "s");
	if (s->pipeline > 1)
		fprintf(fp, ", pipelining %u", s->pipeline);
	if (s->churn)
		fprintf(fp, ", one exchange per connection");
	if (s->runs > 1)
		fprintf(fp, ", %u runs merged", s->runs);
	fprintf(fp,
	    "</td></tr>\n<tr><th>measured</th><td>%.2f s after "
	    "%.2f s warmup%s</td></tr>\n",
	    s->secs, s->warmup_s, s->interrupted ? " (interrupted)" : "");
	fprintf(fp, "<tr><th>throughput</th><td>%.0f replies/s, %.2f MB/s",
	    s->mps, s->bps / 1e6);
	if (s->churn)
		fprintf(fp, ", %.0f connections/s", s->cps);
	fprintf(fp, "</td></tr>\n<tr><th>latency</th><td>");
	for (int i = 0; i < 4; i++)
		fprintf(fp, "p%g %.1f us &nbsp; ", pct[i],
		    (double)hist_percentile(s->lat, pct[i]) / 1e3);
	fprintf(fp, "max %.1f us (%llu replies)</td></tr>\n",
	    (double)hist_max(s->lat) / 1e3,
	    (unsigned long long)hist_count(s->lat));
	fprintf(fp, "<tr><th>errors</th><td class=\"%s\">%llu",
	    s->errors ? "bad" : "ok", (unsigned long long)s->errors);
	for (int e = 0; e < LOAD_ERR_COUNT; e++)
		if (s->err[e])
			fprintf(fp, " &nbsp; %s %llu",
			    load_report_err_name((enum load_err)e),
			    (unsigned long long)s->err[e]);
	fprintf(fp, "</td></tr>\n");
	if (s->first_mismatch[0] != '\0') {
		fprintf(fp, "<tr><th>first mismatch</th><td class=\"bad\">");
		html_text(fp, s->first_mismatch);
		fprintf(fp, "</td></tr>\n");
	}
	fprintf(fp, "</table>\n");
}

int
load_html_write(const struct load_summary *s, const char *path)
{
	static struct html_series ser[4];
	struct html_axes a;
	FILE *fp;
	double ymax = 0, ymin = 0, t0 = 0, t1 = 0, step;
	size_t n = s->nsamples, every;
	int rc;

	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
	      "<title>evsock load report</title>\n<style>\n"
	      "body{font:14px sans-serif;margin:20px;color:#222;"
	      "background:#fafafa}\n"
	      "h1{font-size:20px}table{border-collapse:collapse;"
	      "margin-bottom:16px}\n"
	      "th{text-align:left;padding:3px 12px 3px 0;color:#555}"
	      "td{padding:3px 0}\n.bad{color:#b00}.ok{color:#070}\n"
	      "svg{display:block;margin:8px 0;border:1px solid #ddd}\n"
	      "svg .t{font:bold 14px sans-serif}"
	      "svg .l{font:11px sans-serif;fill:#444}\n"
	      "svg .g{stroke:#e4e4e4}\n</style></head><body>\n"
	      "<h1>evsock load</h1>\n",
	    fp);
	html_summary(fp, s);

	/* Samples beyond MAXPTS are thinned, keeping their order. */
	every = n > MAXPTS ? (n + MAXPTS - 1) / MAXPTS : 1;
	memset(&a, 0, sizeof(a));
	ser[0].name = "replies/s";
	ser[0].color = "#1f6fd0";
	ser[0].n = 0;
	for (size_t i = 0; i < n; i += every) {
		const struct load_sample *x = &s->samples[i];

		ser[0].x[ser[0].n] = x->t;
		ser[0].y[ser[0].n++] = (double)x->msgs;
		if ((double)x->msgs > ymax)
			ymax = (double)x->msgs;
		if (x->measured && a.shade1 == 0)
			a.shade0 = x->t - 1;
		if (x->measured)
			a.shade1 = x->t;
	}
	t0 = 0;
	t1 = n > 0 ? s->samples[n - 1].t : 1;
	a.x0 = t0;
	a.x1 = t1 > t0 ? t1 : t0 + 1;
	a.y0 = 0;
	step = html_step(ymax > 0 ? ymax : 1);
	a.y1 = ceil((ymax > 0 ? ymax : 1) / step) * step;
	html_chart(fp, "Throughput over time (shaded: measured)",
	    "seconds since start", "replies per second", &a, ser, 1, 0);

	/* Latency percentiles over time, log scale. */
	{
		static const char *const names[] = { "p50", "p90", "p99",
			"max" };
		static const char *const colors[] = { "#1f6fd0", "#2a9d3a",
			"#e08a00", "#c0282d" };

		ymax = 0;
		ymin = 0;
		for (int k = 0; k < 4; k++) {
			ser[k].name = names[k];
			ser[k].color = colors[k];
			ser[k].n = 0;
		}
		for (size_t i = 0; i < n; i += every) {
			const struct load_sample *x = &s->samples[i];
			const uint64_t v[4] = { x->p50, x->p90, x->p99,
				x->max };

			if (x->msgs == 0)
				continue;
			for (int k = 0; k < 4; k++) {
				double us = (double)v[k] / 1e3;

				ser[k].x[ser[k].n] = x->t;
				ser[k].y[ser[k].n++] = us;
				if (us > ymax)
					ymax = us;
				if (us > 0 && (ymin == 0 || us < ymin))
					ymin = us;
			}
		}
		a.logy = 1;
		a.y0 = pow(10, floor(log10(ymin > 0 ? ymin : 1)));
		a.y1 = pow(10, ceil(log10(ymax > a.y0 ? ymax : a.y0 * 10)));
		html_chart(fp, "Latency percentiles over time, per second",
		    "seconds since start", "latency (us, log)", &a, ser, 4, 0);
	}

	/* The distribution of the measured window. */
	memset(&a, 0, sizeof(a));
	ser[0].name = "replies";
	ser[0].color = "#1f6fd0";
	html_spectrum(s->lat, &ser[0]);
	ser[1].name = "connects";
	ser[1].color = "#8a3ab9";
	html_spectrum(s->conn_lat, &ser[1]);
	ymax = 0;
	a.x1 = 10;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < ser[k].n; i++) {
			if (ser[k].y[i] > ymax)
				ymax = ser[k].y[i];
			if (ser[k].x[i] > a.x1)
				a.x1 = ser[k].x[i];
		}
	a.x0 = 1;
	a.x1 = pow(10, ceil(log10(a.x1)));
	a.logx = 1;
	step = html_step(ymax > 0 ? ymax : 1);
	a.y1 = ceil((ymax > 0 ? ymax : 1) / step) * step;
	html_chart(fp, "Latency by percentile (measured window)", "percentile",
	    "latency (us)", &a, ser, hist_count(s->conn_lat) > 0 ? 2 : 1, 1);
	fputs("<p>Latency counts from when each request was due.  Made by "
	      "<code>evsock load --report</code>.</p>\n</body></html>\n",
	    fp);
	rc = ferror(fp) ? -1 : 0;
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}
