/* Unit: IRC mask matching and normalization (common/mask.c). */
#include <stdlib.h>

#include <check.h>

#include "../common/mask.h"

START_TEST(test_mask_match_wildcards)
{
	ck_assert_int_eq(mask_match("*", ""), 1);
	ck_assert_int_eq(mask_match("*", "a!b@c"), 1);
	ck_assert_int_eq(mask_match("bar!*@*", "bar!u@h"), 1);
	ck_assert_int_eq(mask_match("bar!*@*", "barx!u@h"), 0);
	ck_assert_int_eq(mask_match("b?r!*@*", "bAr!u@h"), 1);
	ck_assert_int_eq(mask_match("?", ""), 0);
	ck_assert_int_eq(mask_match("a*b*c", "aXXbYYbZc"), 1);
	ck_assert_int_eq(mask_match("a*b*c", "aXXbYYbZ"), 0);
	ck_assert_int_eq(mask_match("*@127.0.0.?", "n!u@127.0.0.1"), 1);
	ck_assert_int_eq(mask_match("*@127.0.0.?", "n!u@127.0.0.10"), 0);
	ck_assert_int_eq(mask_match("**a", "bba"), 1);
	ck_assert_int_eq(mask_match("", ""), 1);
	ck_assert_int_eq(mask_match("", "x"), 0);
}
END_TEST

START_TEST(test_mask_match_case)
{
	/* ascii casemapping: A-Z fold, nothing else does. */
	ck_assert_int_eq(mask_match("BAR!*@*", "bar!x@y"), 1);
	ck_assert_int_eq(mask_match("[a]!*@*", "{a}!x@y"), 0);
}
END_TEST

/* A long run of stars against a near miss stays quick. */
START_TEST(test_mask_match_backtracking)
{
	char s[2001];

	for (int i = 0; i < 2000; i++)
		s[i] = 'a';
	s[2000] = '\0';
	ck_assert_int_eq(mask_match("*a*a*a*a*a*a*a*a*b", s), 0);
	ck_assert_int_eq(mask_match("*a*a*a*a*a*a*a*a*a", s), 1);
}
END_TEST

START_TEST(test_mask_normalize_forms)
{
	char buf[64];

	ck_assert_uint_eq(mask_normalize(buf, sizeof(buf), "bar"), 7);
	ck_assert_str_eq(buf, "bar!*@*");
	mask_normalize(buf, sizeof(buf), "u@h");
	ck_assert_str_eq(buf, "*!u@h");
	mask_normalize(buf, sizeof(buf), "n!u");
	ck_assert_str_eq(buf, "n!u@*");
	mask_normalize(buf, sizeof(buf), "n!u@h");
	ck_assert_str_eq(buf, "n!u@h");
	mask_normalize(buf, sizeof(buf), "!@");
	ck_assert_str_eq(buf, "*!*@*");
	ck_assert_uint_eq(mask_normalize(buf, sizeof(buf), ""), 0);
	ck_assert_uint_eq(mask_normalize(buf, sizeof(buf), "a b"), 0);
	ck_assert_uint_eq(mask_normalize(buf, sizeof(buf), "a,b"), 0);
	ck_assert_uint_eq(mask_normalize(buf, 5, "abcdef"), 0);
}
END_TEST

static Suite *
mask_suite(void)
{
	Suite *s = suite_create("mask");
	TCase *tc = tcase_create("match");

	tcase_add_test(tc, test_mask_match_wildcards);
	tcase_add_test(tc, test_mask_match_case);
	tcase_add_test(tc, test_mask_match_backtracking);
	suite_add_tcase(s, tc);
	tc = tcase_create("normalize");
	tcase_add_test(tc, test_mask_normalize_forms);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mask_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
