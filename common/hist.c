#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

#define HIST_SUB ((uint64_t)1 << HIST_SUB_BITS)
#define HIST_BUCKETS ((size_t)(HIST_LIMIT_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	double sum;
	size_t lo; /* lowest used bucket, HIST_BUCKETS when empty */
	size_t hi; /* highest used bucket */
	uint64_t buckets[HIST_BUCKETS];
};

struct hist *
hist_new(void)
{
	struct hist *h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	h->lo = HIST_BUCKETS;
	return h;
}

void
hist_free(struct hist *h)
{
	free(h);
}

void
hist_reset(struct hist *h)
{
	/* Only the used range can be non-zero. */
	if (h->count > 0)
		memset(&h->buckets[h->lo], 0,
		    (h->hi - h->lo + 1) * sizeof(h->buckets[0]));
	h->count = 0;
	h->min = 0;
	h->max = 0;
	h->sum = 0;
	h->lo = HIST_BUCKETS;
	h->hi = 0;
}

size_t
hist_index(uint64_t v)
{
	unsigned e, shift;

	if (v < HIST_SUB)
		return (size_t)v;
	if (v >= HIST_LIMIT)
		return HIST_BUCKETS - 1;
	e = 63u - (unsigned)__builtin_clzll(v);
	shift = e - HIST_SUB_BITS;
	return (size_t)(shift + 1) * HIST_SUB +
	    (size_t)((v >> shift) - HIST_SUB);
}

uint64_t
hist_bucket_low(size_t i)
{
	size_t shift;

	if (i < HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	return (uint64_t)(i % HIST_SUB + HIST_SUB) << shift;
}

uint64_t
hist_bucket_high(size_t i)
{
	/* A bucket above the first HIST_SUB is 2^shift values wide. */
	return i < HIST_SUB ?
	    i :
	    hist_bucket_low(i) + ((uint64_t)1 << (i / HIST_SUB - 1)) - 1;
}

void
hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
	size_t i;

	if (n == 0)
		return;
	i = hist_index(v);
	h->buckets[i] += n;
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (h->count == 0 || v > h->max)
		h->max = v;
	if (i < h->lo)
		h->lo = i;
	if (i > h->hi)
		h->hi = i;
	h->count += n;
	h->sum += (double)v * (double)n;
}

void
hist_record(struct hist *h, uint64_t v)
{
	hist_record_n(h, v, 1);
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->count == 0)
		return;
	for (size_t i = src->lo; i <= src->hi; i++)
		dst->buckets[i] += src->buckets[i];
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->count == 0 || src->max > dst->max)
		dst->max = src->max;
	if (src->lo < dst->lo)
		dst->lo = src->lo;
	if (src->hi > dst->hi)
		dst->hi = src->hi;
	dst->count += src->count;
	dst->sum += src->sum;
}

uint64_t
hist_count(const struct hist *h)
{
	return h->count;
}

uint64_t
hist_min(const struct hist *h)
{
	return h->min;
}

uint64_t
hist_max(const struct hist *h)
{
	return h->max;
}

double
hist_mean(const struct hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	double r;

	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* The rank of the value that p% of the values are at or below. */
	r = p / 100.0 * (double)h->count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	for (size_t i = h->lo; i <= h->hi; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t lo = hist_bucket_low(i);
			uint64_t hi = hist_bucket_high(i);

			v = lo + (hi - lo) / 2;
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

double
hist_sum(const struct hist *h)
{
	return h->sum;
}

size_t
hist_nbuckets(void)
{
	return HIST_BUCKETS;
}

uint64_t
hist_bucket_count(const struct hist *h, size_t i)
{
	return i < HIST_BUCKETS ? h->buckets[i] : 0;
}

void
hist_set_exact(struct hist *h, uint64_t min, uint64_t max, double sum)
{
	if (h->count == 0)
		return;
	h->min = min;
	h->max = max;
	h->sum = sum;
}

/* The bucket holding the value of rank `rank` (1-based); *seen gets the
   count up to and including it. */
static size_t
hist_rank_bucket(const struct hist *h, uint64_t rank, uint64_t *seen)
{
	uint64_t s = 0;

	for (size_t i = h->lo; i <= h->hi; i++) {
		s += h->buckets[i];
		if (s >= rank) {
			*seen = s;
			return i;
		}
	}
	*seen = h->count;
	return h->hi;
}

int
hist_write_hgrm(const struct hist *h, FILE *fp, double unit)
{
	double p = 0, mean = hist_mean(h), var = 0;
	int lines = 0;

	fprintf(fp, "%12s %14s %10s %14s\n\n", "Value", "Percentile",
	    "TotalCount", "1/(1-Percentile)");
	/* HdrHistogram's percentile iteration: ticks get twice as dense
	   at each halving of the distance to 100%. */
	while (h->count > 0 && lines++ < 4000) {
		double r = p / 100.0 * (double)h->count, half;
		uint64_t rank = (uint64_t)r, seen, v;
		size_t i;

		if ((double)rank < r)
			rank++;
		if (rank == 0)
			rank = 1;
		i = hist_rank_bucket(h, rank, &seen);
		v = hist_bucket_high(i);
		if (v > h->max || seen == h->count)
			v = h->max;
		if (seen == h->count) {
			fprintf(fp, "%12.3f %2.12f %10llu\n", (double)v / unit,
			    1.0, (unsigned long long)h->count);
			break;
		}
		fprintf(fp, "%12.3f %2.12f %10llu %14.2f\n", (double)v / unit,
		    p / 100.0, (unsigned long long)seen,
		    1.0 / (1.0 - p / 100.0));
		half = floor(log2(100.0 / (100.0 - p))) + 1;
		p += 100.0 / (5.0 * pow(2.0, half));
		/* Past the rank of the last value, the next tick is 100%. */
		if (p / 100.0 * (double)h->count > (double)(h->count - 1))
			p = 100.0;
	}
	for (size_t i = h->lo; h->count > 0 && i <= h->hi; i++) {
		double mid = ((double)hist_bucket_low(i) +
		                 (double)hist_bucket_high(i)) /
		        2 -
		    mean;

		var += mid * mid * (double)h->buckets[i];
	}
	if (h->count > 0)
		var /= (double)h->count;
	fprintf(fp, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n",
	    mean / unit, sqrt(var) / unit);
	fprintf(fp, "#[Max     = %12.3f, Total count    = %12llu]\n",
	    (double)h->max / unit, (unsigned long long)h->count);
	fprintf(fp, "#[Buckets = %12d, SubBuckets     = %12d]\n",
	    HIST_LIMIT_BITS - HIST_SUB_BITS + 1, 1 << HIST_SUB_BITS);
	return ferror(fp) ? -1 : 0;
}
