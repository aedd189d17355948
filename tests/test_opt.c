#include <stdlib.h>

#include <check.h>

#include "../common/opt.h"

START_TEST(test_opt_uint)
{
	const char *err = NULL;
	uint64_t v;

	ck_assert_int_eq(opt_parse_uint("42", 0, 100, &v, &err), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(opt_parse_uint("0", 0, 100, &v, &err), 0);
	ck_assert_int_eq(opt_parse_uint("101", 0, 100, &v, &err), -1);
	ck_assert_int_eq(opt_parse_uint("5", 10, 100, &v, &err), -1);
	ck_assert_int_eq(opt_parse_uint("", 0, 100, &v, &err), -1);
	ck_assert_int_eq(opt_parse_uint("-1", 0, 100, &v, &err), -1);
	ck_assert_int_eq(opt_parse_uint("1x", 0, 100, &v, &err), -1);
	ck_assert_int_eq(opt_parse_uint(" 1", 0, 100, &v, &err), -1);
	ck_assert_int_eq(opt_parse_uint("99999999999999999999999", 0,
	                     UINT64_MAX, &v, &err),
	    -1);
	ck_assert_int_eq(opt_parse_uint(NULL, 0, 1, &v, &err), -1);
}
END_TEST

START_TEST(test_opt_size)
{
	const char *err = NULL;
	uint64_t v;

	ck_assert_int_eq(opt_parse_size("512", 0, UINT64_MAX, &v, &err), 0);
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(opt_parse_size("64k", 0, UINT64_MAX, &v, &err), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(opt_parse_size("1M", 0, UINT64_MAX, &v, &err), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(opt_parse_size("1MiB", 0, UINT64_MAX, &v, &err), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(opt_parse_size("2G", 0, UINT64_MAX, &v, &err), 0);
	ck_assert_uint_eq(v, 2147483648ULL);
	ck_assert_int_eq(opt_parse_size("1T", 0, UINT64_MAX, &v, &err), -1);
	ck_assert_int_eq(opt_parse_size("1Mx", 0, UINT64_MAX, &v, &err), -1);
	ck_assert_int_eq(opt_parse_size("k", 0, UINT64_MAX, &v, &err), -1);
	ck_assert_int_eq(opt_parse_size("2M", 0, 1024, &v, &err), -1);
	ck_assert_int_eq(opt_parse_size("99999999999999G", 0, UINT64_MAX, &v,
	                     &err),
	    -1);
}
END_TEST

START_TEST(test_opt_duration)
{
	const char *err = NULL;
	uint64_t ms;

	ck_assert_int_eq(opt_parse_duration("5", 1000000, &ms, &err), 0);
	ck_assert_uint_eq(ms, 5000);
	ck_assert_int_eq(opt_parse_duration("5s", 1000000, &ms, &err), 0);
	ck_assert_uint_eq(ms, 5000);
	ck_assert_int_eq(opt_parse_duration("250ms", 1000000, &ms, &err), 0);
	ck_assert_uint_eq(ms, 250);
	ck_assert_int_eq(opt_parse_duration("0.5s", 1000000, &ms, &err), 0);
	ck_assert_uint_eq(ms, 500);
	ck_assert_int_eq(opt_parse_duration("2m", 1000000, &ms, &err), 0);
	ck_assert_uint_eq(ms, 120000);
	ck_assert_int_eq(opt_parse_duration("1h", 1000, &ms, &err), -1);
	ck_assert_int_eq(opt_parse_duration("5x", 1000000, &ms, &err), -1);
	ck_assert_int_eq(opt_parse_duration("-5", 1000000, &ms, &err), -1);
	ck_assert_int_eq(opt_parse_duration("", 1000000, &ms, &err), -1);
	ck_assert_int_eq(opt_parse_duration("s", 1000000, &ms, &err), -1);
	ck_assert_int_eq(opt_parse_duration("1e999", 1000000, &ms, &err), -1);
}
END_TEST

START_TEST(test_opt_double)
{
	const char *err = NULL;
	double v;

	ck_assert_int_eq(opt_parse_double("1000", 1e9, &v, &err), 0);
	ck_assert(v == 1000.0);
	ck_assert_int_eq(opt_parse_double("0.5", 1e9, &v, &err), 0);
	ck_assert(v == 0.5);
	ck_assert_int_eq(opt_parse_double("nan", 1e9, &v, &err), -1);
	ck_assert_int_eq(opt_parse_double("inf", 1e9, &v, &err), -1);
	ck_assert_int_eq(opt_parse_double("-1", 1e9, &v, &err), -1);
	ck_assert_int_eq(opt_parse_double("1x", 1e9, &v, &err), -1);
	ck_assert_int_eq(opt_parse_double("2e9", 1e9, &v, &err), -1);
}
END_TEST

static Suite *
opt_suite(void)
{
	Suite *s = suite_create("opt");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_opt_uint);
	tcase_add_test(tc, test_opt_size);
	tcase_add_test(tc, test_opt_duration);
	tcase_add_test(tc, test_opt_double);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(opt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
