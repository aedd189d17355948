/* Unit: the token bucket behind the per-client command rate. */
#include <stdlib.h>

#include <check.h>

#include "../common/bucket.h"

static struct timeval
at(long sec, long usec)
{
	struct timeval tv;

	tv.tv_sec = sec;
	tv.tv_usec = usec;
	return tv;
}

/* A full bucket allows `burst` commands at once, then none. */
START_TEST(test_bucket_burst_then_empty)
{
	struct bucket b;
	struct timeval t0 = at(100, 0);
	int i;

	bucket_init(&b, 5, &t0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(bucket_take(&b, 10, 5, &t0), 1);
	ck_assert_int_eq(bucket_take(&b, 10, 5, &t0), 0);
}
END_TEST

/* Time earns `rate` tokens a second, never more than `burst`. */
START_TEST(test_bucket_refills_at_rate_up_to_burst)
{
	struct bucket b;
	struct timeval t0 = at(100, 0), t1 = at(100, 300000), t2 = at(200, 0);
	int i;

	bucket_init(&b, 5, &t0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(bucket_take(&b, 10, 5, &t0), 1);
	/* 0.3 s at 10/s: three tokens. */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(bucket_take(&b, 10, 5, &t1), 1);
	ck_assert_int_eq(bucket_take(&b, 10, 5, &t1), 0);
	/* 100 s later: full, but only `burst`. */
	bucket_refill(&b, 10, 5, &t2);
	ck_assert(b.tokens <= 5.0 && b.tokens >= 5.0);
}
END_TEST

/* A clock that steps back earns nothing and takes nothing away. */
START_TEST(test_bucket_clock_backwards)
{
	struct bucket b;
	struct timeval t0 = at(100, 0), back = at(99, 0);

	bucket_init(&b, 2, &t0);
	ck_assert_int_eq(bucket_take(&b, 10, 2, &t0), 1);
	ck_assert_int_eq(bucket_take(&b, 10, 2, &back), 1);
	ck_assert_int_eq(bucket_take(&b, 10, 2, &back), 0);
}
END_TEST

/* The wait is how long one whole token takes, a little over rather
   than under; spending after it leaves the bucket near zero. */
START_TEST(test_bucket_wait_and_spend)
{
	struct bucket b;
	struct timeval t0 = at(100, 0), tv, later;

	bucket_init(&b, 1, &t0);
	ck_assert_int_eq(bucket_take(&b, 4, 1, &t0), 1);
	ck_assert_int_eq(bucket_take(&b, 4, 1, &t0), 0);
	bucket_wait(&b, 4, &tv);
	/* One token at 4/s: 0.25 s. */
	ck_assert_int_eq(tv.tv_sec, 0);
	ck_assert_int_ge(tv.tv_usec, 250000);
	ck_assert_int_le(tv.tv_usec, 250002);
	later = at(100, 250001);
	bucket_spend(&b, 4, 1, &later);
	ck_assert(b.tokens > -0.001 && b.tokens < 0.001);
	/* Empty at 0.5/s: two whole seconds (and the extra microsecond). */
	bucket_wait(&b, 0.5, &tv);
	ck_assert_int_eq(tv.tv_sec, 2);
	ck_assert_int_le(tv.tv_usec, 1);
}
END_TEST

static Suite *
bucket_suite(void)
{
	Suite *s = suite_create("bucket");
	TCase *tc = tcase_create("rate");

	tcase_add_test(tc, test_bucket_burst_then_empty);
	tcase_add_test(tc, test_bucket_refills_at_rate_up_to_burst);
	tcase_add_test(tc, test_bucket_clock_backwards);
	tcase_add_test(tc, test_bucket_wait_and_spend);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(bucket_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
