#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hist.h"

/* Percentiles are reported within this fraction of a recorded value. */
#define HIST_TOLERANCE 0.004

static uint64_t test_rng_state;

static uint64_t test_rng(void);
static int test_cmp_u64(const void *a, const void *b);
static uint64_t test_exact_percentile(const uint64_t *sorted, size_t n,
    double p);
static void test_check_close(uint64_t got, uint64_t want);

/* xorshift64*: a fixed, portable sequence for repeatable samples. */
static uint64_t
test_rng(void)
{
	test_rng_state ^= test_rng_state >> 12;
	test_rng_state ^= test_rng_state << 25;
	test_rng_state ^= test_rng_state >> 27;
	return test_rng_state * 2685821657736338717ULL;
}

static int
test_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The smallest sample with at least p% of the samples at or below it. */
static uint64_t
test_exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	double r = p / 100.0 * (double)n;
	size_t rank = (size_t)r;

	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static void
test_check_close(uint64_t got, uint64_t want)
{
	double diff = got > want ? (double)(got - want) : (double)(want - got);

	ck_assert_msg(diff <= HIST_TOLERANCE * (double)want + 1.0,
	    "got %llu, exact %llu", (unsigned long long)got,
	    (unsigned long long)want);
}

START_TEST(test_hist_buckets_contiguous)
{
	for (size_t i = 0; hist_bucket_high(i) < HIST_LIMIT - 1; i++) {
		ck_assert_uint_eq(hist_bucket_high(i) + 1,
		    hist_bucket_low(i + 1));
		ck_assert_uint_eq(hist_index(hist_bucket_low(i)), i);
		ck_assert_uint_eq(hist_index(hist_bucket_high(i)), i);
	}
}
END_TEST

START_TEST(test_hist_buckets_relative_width)
{
	for (size_t i = 128; hist_bucket_high(i) < HIST_LIMIT - 1; i++) {
		uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);

		ck_assert((double)(hi - lo + 1) / (double)lo <= 1.0 / 128);
	}
}
END_TEST

START_TEST(test_hist_small_values_exact)
{
	struct hist *h = hist_new();

	ck_assert_ptr_nonnull(h);
	for (uint64_t v = 0; v < 128; v++)
		hist_record(h, v);
	ck_assert_uint_eq(hist_percentile(h, 50), 63);
	ck_assert_uint_eq(hist_percentile(h, 100), 127);
	ck_assert_uint_eq(hist_min(h), 0);
	hist_free(h);
}
END_TEST

START_TEST(test_hist_uniform_percentiles)
{
	struct hist *h = hist_new();

	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(h, v);
	ck_assert_uint_eq(hist_count(h), 100000);
	test_check_close(hist_percentile(h, 50), 50000);
	test_check_close(hist_percentile(h, 90), 90000);
	test_check_close(hist_percentile(h, 99), 99000);
	test_check_close(hist_percentile(h, 99.9), 99900);
	ck_assert_uint_eq(hist_max(h), 100000);
	ck_assert_uint_eq(hist_min(h), 1);
	ck_assert(hist_mean(h) > 50000.49 && hist_mean(h) < 50000.51);
	hist_free(h);
}
END_TEST

/* A long-tailed sample (latencies look like this) against exact
   percentiles computed by sorting. */
START_TEST(test_hist_random_percentiles)
{
	static const double ps[] = { 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99 };
	const size_t n = 200000;
	uint64_t *v = malloc(n * sizeof(*v));
	struct hist *h = hist_new();

	ck_assert_ptr_nonnull(v);
	test_rng_state = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < n; i++) {
		/* 20 us base, exponential-ish spread up to ~seconds. */
		unsigned shift = (unsigned)(test_rng() % 21);
		v[i] = 20000 + (test_rng() >> (64 - 10 - shift));
		hist_record(h, v[i]);
	}
	qsort(v, n, sizeof(*v), test_cmp_u64);
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++)
		test_check_close(hist_percentile(h, ps[k]),
		    test_exact_percentile(v, n, ps[k]));
	ck_assert_uint_eq(hist_max(h), v[n - 1]);
	ck_assert_uint_eq(hist_min(h), v[0]);
	free(v);
	hist_free(h);
}
END_TEST

START_TEST(test_hist_merge_equals_whole)
{
	struct hist *a = hist_new(), *b = hist_new(), *all = hist_new();

	test_rng_state = 12345;
	for (int i = 0; i < 50000; i++) {
		uint64_t x = test_rng() % 10000000;

		hist_record(i % 2 ? a : b, x);
		hist_record(all, x);
	}
	hist_merge(a, b);
	ck_assert_uint_eq(hist_count(a), hist_count(all));
	ck_assert_uint_eq(hist_max(a), hist_max(all));
	ck_assert_uint_eq(hist_min(a), hist_min(all));
	for (double p = 0; p <= 100; p += 0.5)
		ck_assert_uint_eq(hist_percentile(a, p),
		    hist_percentile(all, p));
	hist_free(a);
	hist_free(b);
	hist_free(all);
}
END_TEST

START_TEST(test_hist_merge_into_empty)
{
	struct hist *a = hist_new(), *b = hist_new();

	hist_record(b, 1000);
	hist_record(b, 3000);
	hist_merge(a, b);
	ck_assert_uint_eq(hist_count(a), 2);
	ck_assert_uint_eq(hist_min(a), 1000);
	ck_assert_uint_eq(hist_max(a), 3000);
	hist_free(a);
	hist_free(b);
}
END_TEST

START_TEST(test_hist_empty_and_reset)
{
	struct hist *h = hist_new();

	ck_assert_uint_eq(hist_percentile(h, 99), 0);
	ck_assert_uint_eq(hist_max(h), 0);
	hist_record_n(h, 5000, 10);
	ck_assert_uint_eq(hist_count(h), 10);
	hist_reset(h);
	ck_assert_uint_eq(hist_count(h), 0);
	ck_assert_uint_eq(hist_percentile(h, 50), 0);
	hist_record(h, 7);
	ck_assert_uint_eq(hist_percentile(h, 50), 7);
	hist_free(h);
	hist_free(NULL);
}
END_TEST

START_TEST(test_hist_overflow_keeps_max)
{
	struct hist *h = hist_new();

	hist_record(h, 1000);
	hist_record(h, HIST_LIMIT * 4);
	ck_assert_uint_eq(hist_count(h), 2);
	ck_assert_uint_eq(hist_max(h), HIST_LIMIT * 4);
	ck_assert_uint_eq(hist_percentile(h, 100), HIST_LIMIT * 4);
	ck_assert(hist_percentile(h, 99) >= HIST_LIMIT / 2);
	hist_free(h);
}
END_TEST

/* The .hgrm text: HdrHistogram's columns, ticks that grow denser
   towards 100%, the final 100% row, the trailer. */
START_TEST(test_hist_hgrm_form)
{
	struct hist *h = hist_new(), *back = hist_new();
	char *buf = NULL, *last;
	size_t len = 0;
	FILE *fp;
	unsigned rows = 0;
	double prev = -1;

	for (uint64_t v = 1; v <= 100; v++)
		hist_record(h, v);
	fp = open_memstream(&buf, &len);
	ck_assert_int_eq(hist_write_hgrm(h, fp, 1), 0);
	fclose(fp);
	ck_assert_msg(strncmp(buf,
	                  "       Value     Percentile TotalCount "
	                  "1/(1-Percentile)\n\n",
	                  57) == 0,
	    "%s", buf);
	for (char *line = strchr(buf, '\n') + 2; *line != '#';
	     line = strchr(line, '\n') + 1) {
		double v, p;
		unsigned long long n;

		ck_assert_int_ge(sscanf(line, "%lf %lf %llu", &v, &p, &n), 3);
		ck_assert(p >= prev);
		prev = p;
		rows++;
	}
	ck_assert_uint_gt(rows, 20);
	last = strstr(buf, "     100.000 1.000000000000        100\n");
	ck_assert_msg(last != NULL, "%s", buf);
	ck_assert_msg(strstr(buf,
	                  "      50.000 0.500000000000         50"
	                  "           2.00\n") != NULL,
	    "%s", buf);
	ck_assert_msg(strstr(buf,
	                  "#[Mean    =       50.500, StdDeviation   "
	                  "= ") != NULL,
	    "%s", buf);
	ck_assert_msg(strstr(buf,
	                  "#[Max     =      100.000, Total count    "
	                  "=          100]\n") != NULL,
	    "%s", buf);
	ck_assert(strstr(buf, "#[Buckets = ") != NULL);
	free(buf);

	/* Rebuilt from its buckets, a histogram has the same percentiles. */
	for (size_t i = 0; i < hist_nbuckets(); i++)
		hist_record_n(back, hist_bucket_low(i),
		    hist_bucket_count(h, i));
	hist_set_exact(back, hist_min(h), hist_max(h), hist_sum(h));
	ck_assert_uint_eq(hist_count(back), hist_count(h));
	ck_assert_uint_eq(hist_percentile(back, 99.9),
	    hist_percentile(h, 99.9));
	ck_assert(hist_mean(back) == hist_mean(h));
	hist_free(h);
	hist_free(back);
}
END_TEST

static Suite *
hist_suite(void)
{
	Suite *s = suite_create("hist");
	TCase *tc;

	tc = tcase_create("buckets");
	tcase_add_test(tc, test_hist_buckets_contiguous);
	tcase_add_test(tc, test_hist_buckets_relative_width);
	tcase_add_test(tc, test_hist_small_values_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("percentiles");
	tcase_add_test(tc, test_hist_uniform_percentiles);
	tcase_add_test(tc, test_hist_random_percentiles);
	tcase_add_test(tc, test_hist_overflow_keeps_max);
	tcase_add_test(tc, test_hist_empty_and_reset);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_test(tc, test_hist_merge_equals_whole);
	tcase_add_test(tc, test_hist_merge_into_empty);
	tcase_add_test(tc, test_hist_hgrm_form);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
