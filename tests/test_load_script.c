/* Unit: evsock load's templates, expectations and script files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../client/load-script.h"

/* Feeds `reply` to e in pieces of `step` bytes; returns the last
   result and leaves the reason in why. */
static int
feed(const struct load_expect *e, const char *want, size_t wlen,
    const char *reply, size_t len, size_t step, size_t *consumed, char *why,
    size_t whylen)
{
	struct load_match m;
	size_t off = 0, used;
	int r = 0;

	memset(&m, 0, sizeof(m));
	load_expect_match_reset(&m);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		r = load_expect_match(&m, e, want, wlen, reply + off, n, &used,
		    why, whylen);
		off += used;
		if (r != 0)
			break;
		ck_assert_uint_eq(used, n);
	}
	*consumed = off;
	load_expect_match_clear(&m);
	return r;
}

START_TEST(test_load_script_unescape)
{
	char out[64];
	const char *err = NULL;
	long n;

	n = load_script_unescape("a\\r\\n\\t\\\\\\x41\\0z\\101", 20, out, &err);
	ck_assert_int_eq(n, 9);
	ck_assert(memcmp(out, "a\r\n\t\\A\0zA", 9) == 0);
	ck_assert_int_eq(load_script_unescape("\\q", 2, out, &err), -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(load_script_unescape("x\\", 2, out, &err), -1);
	ck_assert_int_eq(load_script_unescape("\\xZ", 3, out, &err), -1);
}
END_TEST

START_TEST(test_load_script_templates_expand)
{
	struct load_tmpl t;
	const char *err = NULL;
	char out[128];
	uint64_t rng = 42;
	size_t n;

	ck_assert_int_eq(load_script_tmpl(&t, "GET /{conn}/{seq} {{x}\\r\\n",
	                     &err),
	    0);
	ck_assert(!t.constant);
	n = load_script_expand(&t, 7, 1234, &rng, out);
	ck_assert_uint_le(n, t.maxlen);
	ck_assert_uint_eq(n, strlen("GET /7/1234 {x}\r\n"));
	ck_assert(memcmp(out, "GET /7/1234 {x}\r\n", n) == 0);
	load_script_tmpl_clear(&t);

	ck_assert_int_eq(load_script_tmpl(&t, "k{rand:16}.", &err), 0);
	n = load_script_expand(&t, 0, 0, &rng, out);
	ck_assert_uint_eq(n, 18);
	for (size_t i = 1; i < 17; i++)
		ck_assert_msg(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
		                     "NOPQRSTUVWXYZ0123456789",
		                  out[i]) != NULL,
		    "%c", out[i]);
	ck_assert_int_eq(out[17], '.');
	load_script_tmpl_clear(&t);

	ck_assert_int_eq(load_script_tmpl(&t, "PING\\r\\n", &err), 0);
	ck_assert(t.constant);
	ck_assert_uint_eq(t.litlen, 6);
	load_script_tmpl_clear(&t);

	ck_assert_int_eq(load_script_tmpl(&t, "{what}", &err), -1);
	ck_assert_int_eq(load_script_tmpl(&t, "{rand:0}", &err), -1);
	ck_assert_int_eq(load_script_tmpl(&t, "{conn", &err), -1);
}
END_TEST

START_TEST(test_load_script_expect_exact_and_lines)
{
	struct load_script *s = load_script_new();
	char why[256], errs[128];
	size_t used;

	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_EXACT,
	                     "+PONG\\r\\n", errs, sizeof(errs)),
	    0);
	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_LINE, NULL, errs,
	                     sizeof(errs)),
	    0);
	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_RE,
	                     "^\\+P[A-Z]+$", errs, sizeof(errs)),
	    0);
	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_BYTES, "5", errs,
	                     sizeof(errs)),
	    0);
	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_EXACT,
	                     "{rand:3}", errs, sizeof(errs)),
	    -1);
	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_RE, "(", errs,
	                     sizeof(errs)),
	    -1);

	/* Byte by byte, and with the next reply behind it. */
	for (size_t step = 1; step <= 9; step += 8) {
		const struct load_expect *e = &s->steps[0].expect;

		ck_assert_int_eq(feed(e, e->text.lit, e->text.litlen,
		                     "+PONG\r\n+PONG\r\n", 14, step, &used, why,
		                     sizeof(why)),
		    1);
		ck_assert_uint_eq(used, 7);
		ck_assert_int_eq(feed(&s->steps[1].expect, NULL, 0,
		                     "anything\r\nmore", 15, step, &used, why,
		                     sizeof(why)),
		    1);
		ck_assert_uint_eq(used, 10);
		ck_assert_int_eq(feed(&s->steps[2].expect, NULL, 0, "+PONG\r\n",
		                     7, step, &used, why, sizeof(why)),
		    1);
		ck_assert_int_eq(feed(&s->steps[3].expect, NULL, 0, "1234567",
		                     7, step, &used, why, sizeof(why)),
		    1);
		ck_assert_uint_eq(used, 5);
	}
	ck_assert_int_eq(feed(&s->steps[0].expect, s->steps[0].expect.text.lit,
	                     7, "+PONX\r\n", 7, 3, &used, why, sizeof(why)),
	    -1);
	ck_assert_str_eq(why, "expected \"+PONG\\r\\n\", got \"+PONX\\r\"");
	ck_assert_int_eq(feed(&s->steps[2].expect, NULL, 0, "-ERR no\r\n", 9, 4,
	                     &used, why, sizeof(why)),
	    -1);
	ck_assert_str_eq(why,
	    "expected a line matching /^\\+P[A-Z]+$/, "
	    "got \"-ERR no\"");
	load_script_free(s);
}
END_TEST

START_TEST(test_load_script_expect_http)
{
	static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	                         "Server: t\r\n\r\nhelloHTTP/1.1";
	static const char chunked[] =
	    "HTTP/1.1 201 Created\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n"
	    "A\r\n0123456789\r\n0\r\nTrailer: v\r\n\r\nNEXT";
	static const char empty[] = "HTTP/1.1 204 No Content\r\n\r\nX";
	static const char bad[] = "HTTP/1.1 500 Oops\r\nContent-Length: 0"
	                          "\r\n\r\n";
	static const char noframe[] = "HTTP/1.1 200 OK\r\n\r\nbody";
	struct load_script *s = load_script_new();
	char why[256], errs[128];
	size_t used;

	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_HTTP, NULL, errs,
	                     sizeof(errs)),
	    0);
	ck_assert_int_eq(load_script_add_expect(s, LOAD_EXPECT_HTTP, "500",
	                     errs, sizeof(errs)),
	    0);
	for (size_t step = 1; step < 64; step *= 3) {
		ck_assert_int_eq(feed(&s->steps[0].expect, NULL, 0, cl,
		                     sizeof(cl) - 1, step, &used, why,
		                     sizeof(why)),
		    1);
		ck_assert_uint_eq(used, sizeof(cl) - 1 - 8);
		ck_assert_int_eq(feed(&s->steps[0].expect, NULL, 0, chunked,
		                     sizeof(chunked) - 1, step, &used, why,
		                     sizeof(why)),
		    1);
		ck_assert_uint_eq(used, sizeof(chunked) - 1 - 4);
		ck_assert_int_eq(feed(&s->steps[0].expect, NULL, 0, empty,
		                     sizeof(empty) - 1, step, &used, why,
		                     sizeof(why)),
		    1);
		ck_assert_uint_eq(used, sizeof(empty) - 2);
		ck_assert_int_eq(feed(&s->steps[1].expect, NULL, 0, bad,
		                     sizeof(bad) - 1, step, &used, why,
		                     sizeof(why)),
		    1);
	}
	ck_assert_int_eq(feed(&s->steps[0].expect, NULL, 0, bad,
	                     sizeof(bad) - 1, 5, &used, why, sizeof(why)),
	    -1);
	ck_assert_str_eq(why,
	    "expected HTTP status 2xx, got "
	    "\"HTTP/1.1 500 Oops\"");
	ck_assert_int_eq(feed(&s->steps[0].expect, NULL, 0, noframe,
	                     sizeof(noframe) - 1, 5, &used, why, sizeof(why)),
	    -1);
	ck_assert_msg(strstr(why, "Content-Length or chunked") != NULL, "%s",
	    why);
	ck_assert_int_eq(feed(&s->steps[0].expect, NULL, 0, "SSH-2.0\r\n", 9, 5,
	                     &used, why, sizeof(why)),
	    -1);
	ck_assert_msg(strstr(why, "status line") != NULL, "%s", why);
	load_script_free(s);
}
END_TEST

START_TEST(test_load_script_file)
{
	char path[] = "/tmp/evsock-script-XXXXXX", err[256];
	static const char text[] = "# a comment\n"
	                           "\n"
	                           "send AUTH {conn}\\r\\n\r\n"
	                           "expect +OK\\r\\n\n"
	                           "repeat\n"
	                           "  send GET k{seq}\\r\\n\n"
	                           "expect-re ^\\$[0-9]+$\n"
	                           "expect-bytes 7\n"
	                           "expect-line\n"
	                           "expect-http 404\n"
	                           "sleep 10ms\n"
	                           "close\n";
	struct load_script *s = load_script_new();
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1),
	    (ssize_t)sizeof(text) - 1);
	close(fd);
	ck_assert_msg(load_script_parse_file(s, path, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(s->nsteps, 9);
	ck_assert_uint_eq(s->loop, 2);
	ck_assert_int_eq(s->steps[0].kind, LOAD_STEP_SEND);
	ck_assert_uint_eq(s->steps[0].send.maxlen, 7 + 20);
	ck_assert_int_eq(s->steps[6].expect.status, 404);
	ck_assert_int_eq(s->steps[7].kind, LOAD_STEP_SLEEP);
	ck_assert_uint_eq(s->steps[7].sleep_ms, 10);
	ck_assert_int_eq(s->steps[8].kind, LOAD_STEP_CLOSE);
	ck_assert_uint_eq(load_script_count(s, LOAD_STEP_EXPECT, 0), 5);
	load_script_free(s);

	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "send x\nclose now\n", 17), 17);
	close(fd);
	s = load_script_new();
	ck_assert_int_eq(load_script_parse_file(s, path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: close takes no argument") != NULL, "%s",
	    err);
	load_script_free(s);
	unlink(path);
}
END_TEST

START_TEST(test_load_script_escape_cuts)
{
	char out[16];

	load_expect_escape("a\"b\\\r\x01", 6, out, sizeof(out));
	ck_assert_str_eq(out, "\"a\\\"b\\\\\\r...\"");
	load_expect_escape("ok", 2, out, sizeof(out));
	ck_assert_str_eq(out, "\"ok\"");
}
END_TEST

static Suite *
load_script_suite(void)
{
	Suite *s = suite_create("load_script");
	TCase *tc = tcase_create("script");

	tcase_add_test(tc, test_load_script_unescape);
	tcase_add_test(tc, test_load_script_templates_expand);
	tcase_add_test(tc, test_load_script_expect_exact_and_lines);
	tcase_add_test(tc, test_load_script_expect_http);
	tcase_add_test(tc, test_load_script_file);
	tcase_add_test(tc, test_load_script_escape_cuts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(load_script_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
