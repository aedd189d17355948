#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>

#include "../common/line.h"

#define MAX 16

static struct evbuffer *
line_buf(const char *s, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, s, len);
	return b;
}

START_TEST(test_line_lf_and_crlf)
{
	struct evbuffer *b = line_buf("one\r\ntwo\nthree", 14);
	struct line_state st = { 0 };
	char out[MAX + 1];
	size_t len;

	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_str_eq(out, "one");
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_str_eq(out, "two");
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_NONE);
	evbuffer_add(b, "\n", 1);
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_str_eq(out, "three");
	ck_assert_uint_eq(len, 5);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_line_nul_bytes)
{
	struct evbuffer *b = line_buf("a\0b\n", 4);
	struct line_state st = { 0 };
	char out[MAX + 1];
	size_t len;

	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_uint_eq(len, 3);
	ck_assert(memcmp(out, "a\0b", 3) == 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_line_limit_exact)
{
	/* 14 bytes of content + CRLF = 16 = MAX: accepted. */
	struct evbuffer *b = line_buf("abcdefghijklmn\r\n", 16);
	struct line_state st = { 0 };
	char out[MAX + 1];
	size_t len;

	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_uint_eq(len, 14);
	evbuffer_add(b, "abcdefghijklmno\n", 16);
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OVERLONG);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_line_overlong_discarded)
{
	struct evbuffer *b = line_buf("0123456789abcdefXYZ", 19);
	struct line_state st = { 0 };
	char out[MAX + 1];
	size_t len;

	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OVERLONG);
	/* The rest of the overlong line is dropped, then framing resumes. */
	evbuffer_add(b, "more junk", 9);
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_NONE);
	evbuffer_add(b, "tail\nok\n", 8);
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_str_eq(out, "ok");
	evbuffer_free(b);
}
END_TEST

START_TEST(test_line_cr_without_lf)
{
	struct evbuffer *b = line_buf("a\rb\r\n", 5);
	struct line_state st = { 0 };
	char out[MAX + 1];
	size_t len;

	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_uint_eq(len, 3);
	ck_assert(memcmp(out, "a\rb", 3) == 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_line_empty)
{
	struct evbuffer *b = line_buf("\n\r\n", 3);
	struct line_state st = { 0 };
	char out[MAX + 1];
	size_t len = 99;

	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_OK);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(line_next(&st, b, MAX, out, &len), LINE_NONE);
	evbuffer_free(b);
}
END_TEST

static Suite *
line_suite(void)
{
	Suite *s = suite_create("line");
	TCase *tc = tcase_create("framing");

	tcase_add_test(tc, test_line_lf_and_crlf);
	tcase_add_test(tc, test_line_nul_bytes);
	tcase_add_test(tc, test_line_cr_without_lf);
	tcase_add_test(tc, test_line_empty);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_test(tc, test_line_limit_exact);
	tcase_add_test(tc, test_line_overlong_discarded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(line_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
