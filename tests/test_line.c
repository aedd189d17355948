#include <stdint.h>
#include <stdio.h>
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

START_TEST(test_line_frame_plain_bytes)
{
	const char *in = "one\r\ntwo\nthr";
	struct line_state st = { 0 };
	size_t used, len;

	ck_assert_int_eq(line_frame(&st, in, 13, MAX, &used, &len), LINE_OK);
	ck_assert_uint_eq(len, 3);
	ck_assert_uint_eq(used, 5);
	ck_assert(memcmp(in, "one", 3) == 0);
	ck_assert_int_eq(line_frame(&st, in + 5, 8, MAX, &used, &len), LINE_OK);
	ck_assert_uint_eq(len, 3);
	ck_assert_uint_eq(used, 4);
	/* No LF: nothing is consumed, the caller keeps the start. */
	ck_assert_int_eq(line_frame(&st, in + 9, 4, MAX, &used, &len),
	    LINE_NONE);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(line_frame(&st, in, 0, MAX, &used, &len), LINE_NONE);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_line_frame_limits)
{
	struct line_state st = { 0 };
	size_t used, len;

	/* 14 bytes of content + CRLF = 16 = MAX: accepted. */
	ck_assert_int_eq(line_frame(&st, "abcdefghijklmn\r\n", 16, MAX, &used,
	                     &len),
	    LINE_OK);
	ck_assert_uint_eq(len, 14);
	/* 15 bytes + LF: the content is over MAX - 2. */
	ck_assert_int_eq(line_frame(&st, "abcdefghijklmno\nx", 17, MAX, &used,
	                     &len),
	    LINE_OVERLONG);
	ck_assert_uint_eq(used, 16);
	ck_assert_int_eq(st.discarding, 0);
	/* No LF within MAX - 1 bytes: dropped, and so is the rest of the
	   line up to its LF, then framing resumes. */
	ck_assert_int_eq(line_frame(&st, "0123456789abcdefXYZ", 19, MAX, &used,
	                     &len),
	    LINE_OVERLONG);
	ck_assert_uint_eq(used, 19);
	ck_assert_int_eq(line_frame(&st, "junk", 4, MAX, &used, &len),
	    LINE_NONE);
	ck_assert_uint_eq(used, 4);
	ck_assert_int_eq(line_frame(&st, "tail\nok\n", 8, MAX, &used, &len),
	    LINE_NONE);
	ck_assert_uint_eq(used, 5);
	ck_assert_int_eq(line_frame(&st, "ok\n", 3, MAX, &used, &len), LINE_OK);
	ck_assert_uint_eq(len, 2);
}
END_TEST

/* Feeds s to r in pieces of `step` bytes; returns the lines joined
   with '|' ('!' for an overlong one) into out. */
static void
line_read_all(struct line_reader *r, const char *s, size_t n, size_t step,
    char *out, size_t size)
{
	char piece[128];
	size_t off = 0, o = 0;

	ck_assert_uint_le(step, sizeof(piece));
	out[0] = '\0';
	while (off < n) {
		size_t k = n - off < step ? n - off : step, at = 0;

		memcpy(piece, s + off, k);
		off += k;
		while (at < k) {
			char *line;
			size_t used, len;
			enum line_result res = line_read(r, piece + at, k - at,
			    &used, &line, &len);

			ck_assert_uint_gt(used, 0);
			at += used;
			if (res == LINE_OK)
				o += (size_t)snprintf(out + o, size - o,
				    "%.*s|", (int)len, line);
			else if (res == LINE_OVERLONG)
				o += (size_t)snprintf(out + o, size - o, "!|");
		}
	}
}

START_TEST(test_line_read_any_split)
{
	static const char in[] =
	    "one\r\ntwo\n\nabcdefghijklmn\r\n"
	    "0123456789abcdefXYZ more\nok\r\nabcdefghijklmno\nend\n";
	char want[256], got[256];
	struct line_reader r;

	/* Whole, and in every piece size down to one byte, the stream
	   frames the same. */
	memset(&r, 0, sizeof(r));
	r.max = MAX;
	line_read_all(&r, in, sizeof(in) - 1, sizeof(in), want, sizeof(want));
	ck_assert_str_eq(want, "one|two||abcdefghijklmn|!|ok|!|end|");
	for (size_t step = 1; step < 20; step++) {
		line_read_all(&r, in, sizeof(in) - 1, step, got, sizeof(got));
		ck_assert_msg(strcmp(got, want) == 0, "step %zu: %s", step,
		    got);
		ck_assert_uint_eq(r.held, 0);
	}
	line_reader_clear(&r);
}
END_TEST

START_TEST(test_line_read_matches_evbuffer)
{
	/* The plain-bytes reader and the evbuffer framer agree on a
	   stream of short, long, CR-ended and empty lines. */
	char in[2048], a[8192], b[8192], out[MAX + 1];
	struct evbuffer *eb = evbuffer_new();
	struct line_state st = { 0 };
	struct line_reader r;
	uint32_t x = 12345;
	size_t o = 0, len;
	enum line_result res;

	for (size_t i = 0; i < sizeof(in); i++) {
		x = x * 1103515245u + 12345u;
		in[i] = "ab\r\n\nxyz0123456789"[(x >> 16) % 18];
	}
	evbuffer_add(eb, in, sizeof(in));
	b[0] = '\0';
	while ((res = line_next(&st, eb, MAX, out, &len)) != LINE_NONE)
		o += (size_t)snprintf(b + o, sizeof(b) - o, "%s|",
		    res == LINE_OK ? out : "!");
	memset(&r, 0, sizeof(r));
	r.max = MAX;
	line_read_all(&r, in, sizeof(in), 7, a, sizeof(a));
	ck_assert_str_eq(a, b);
	line_reader_clear(&r);
	evbuffer_free(eb);
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
	tc = tcase_create("plain bytes");
	tcase_add_test(tc, test_line_frame_plain_bytes);
	tcase_add_test(tc, test_line_frame_limits);
	tcase_add_test(tc, test_line_read_any_split);
	tcase_add_test(tc, test_line_read_matches_evbuffer);
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
