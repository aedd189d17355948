/*
 * Log-linear latency histogram: constant memory, bounded relative error,
 * mergeable.  Values are unsigned integers (evsock records nanoseconds).
 *
 * Values below 2^HIST_SUB_BITS have a bucket each; above that, every
 * power of two is split into 2^HIST_SUB_BITS equal buckets, so a bucket
 * is at most 1/128 of the values in it wide.  A reported percentile is
 * the middle of its bucket: within 0.4% of a value that was recorded.
 * Values at or above HIST_LIMIT (about 18 minutes in nanoseconds) are
 * counted in the top bucket; max stays exact.
 *
 * Not thread-safe: give each thread its own and merge them.
 */
#ifndef EVSOCK_COMMON_HIST_H
#define EVSOCK_COMMON_HIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS 7
#define HIST_LIMIT_BITS 40
#define HIST_LIMIT ((uint64_t)1 << HIST_LIMIT_BITS)

struct hist;

/* Returns a new empty histogram, or NULL (ENOMEM). */
struct hist *hist_new(void);

/* Frees h; NULL is a no-op. */
void hist_free(struct hist *h);

/* Empties h. */
void hist_reset(struct hist *h);

/* Records one value. */
void hist_record(struct hist *h, uint64_t v);

/* Records `n` occurrences of v. */
void hist_record_n(struct hist *h, uint64_t v, uint64_t n);

/* Adds every count of src into dst (src unchanged). */
void hist_merge(struct hist *dst, const struct hist *src);

/* Returns the number of values recorded. */
uint64_t hist_count(const struct hist *h);

/* Returns the smallest / largest value recorded exactly, 0 if empty. */
uint64_t hist_min(const struct hist *h);
uint64_t hist_max(const struct hist *h);

/* Returns the arithmetic mean of the recorded values (exact), 0 if
   empty. */
double hist_mean(const struct hist *h);

/*
 * Returns the value at percentile p (0 to 100): the smallest recorded
 * value v such that at least p% of the values are <= v, as the middle
 * of v's bucket, clamped to [min, max].  0 if empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);

/* Returns the exact sum of the recorded values. */
double hist_sum(const struct hist *h);

/* Returns how many buckets every histogram has. */
size_t hist_nbuckets(void);

/* Returns the count of bucket i (0 when i is out of range). */
uint64_t hist_bucket_count(const struct hist *h, size_t i);

/* Sets the exact min, max and sum of a histogram rebuilt from its
   buckets (hist_record_n of each bucket's low value); no-op if empty. */
void hist_set_exact(struct hist *h, uint64_t min, uint64_t max, double sum);

/*
 * Writes h's percentile distribution in HdrHistogram's .hgrm text form
 * (Value, Percentile, TotalCount, 1/(1-Percentile), five ticks per
 * half distance, the #[Mean ...] trailer), values divided by `unit`
 * (1000 for microseconds from nanoseconds).  Returns 0 or -1 (errno).
 */
int hist_write_hgrm(const struct hist *h, FILE *fp, double unit);

/* Returns the bucket index of v (for tests). */
size_t hist_index(uint64_t v);

/* Returns the lowest and highest value of bucket i (for tests). */
uint64_t hist_bucket_low(size_t i);
uint64_t hist_bucket_high(size_t i);

#endif
