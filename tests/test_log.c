/* Unit: log line formats (plain, RFC 3339 text, journald, JSON). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "../common/log.h"

static char path[64];

/* Sends stderr to a new temporary file. */
static void
setup(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/evsock-log-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	log_set_prog("prog");
}

static void
teardown(void)
{
	unlink(path);
}

static const char *
logged(void)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(test_log_time_format)
{
	char buf[40];

	ck_assert_str_eq(log_format_time(0, 0, buf, sizeof(buf)),
	    "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(log_format_time(1798765432LL, 987654321L, buf,
	                     sizeof(buf)),
	    "2027-01-01T01:03:52.987Z");
}
END_TEST

START_TEST(test_log_plain_and_text)
{
	const char *s;
	int y, mo, d, h, mi, sec, ms;

	log_set_format(LOG_FORMAT_PLAIN);
	log_warn("plain %d", 1);
	ck_assert_str_eq(logged(), "prog: warn: plain 1\n");
	log_set_format(LOG_FORMAT_TEXT);
	log_info("text");
	s = strchr(logged(), '\n') + 1;
	ck_assert_int_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ ", &y, &mo, &d,
	                     &h, &mi, &sec, &ms),
	    7);
	ck_assert_str_eq(s + 25, "prog: text\n");
}
END_TEST

/* Under journald (JOURNAL_STREAM names stderr) lines carry a syslog
   priority instead of a time. */
START_TEST(test_log_journal_priorities)
{
	struct stat sb;
	char env[64];

	ck_assert_int_eq(fstat(STDERR_FILENO, &sb), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_set_format(LOG_FORMAT_TEXT);
	log_error("e");
	log_warn("w");
	log_info("i");
	ck_assert_str_eq(logged(),
	    "<3>prog: error: e\n<4>prog: warn: w\n"
	    "<6>prog: i\n");
	/* Another stream (stderr redirected) is not journald. */
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_set_format(LOG_FORMAT_TEXT);
	log_info("x");
	ck_assert(strstr(logged(), "<6>prog: x") == NULL);
}
END_TEST

START_TEST(test_log_json)
{
	const char *s;

	log_set_format(LOG_FORMAT_JSON);
	log_error("quote \" backslash \\ tab\t bell\a");
	s = logged();
	ck_assert_msg(strncmp(s, "{\"time\":\"", 9) == 0, "%s", s);
	ck_assert_str_eq(s + 9 + 24,
	    "\",\"level\":\"error\",\"program\":"
	    "\"prog\",\"message\":\"quote \\\" backslash \\\\ tab\\u0009 "
	    "bell\\u0007\"}\n");
	log_set_format(LOG_FORMAT_PLAIN);
}
END_TEST

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* log_limited lets LOG_LIMIT_PER_SEC lines a second through and
   holds back the rest; log_msg is not limited. */
START_TEST(test_log_limited)
{
	static char buf[65536];
	size_t n, len;
	FILE *f;

	log_set_format(LOG_FORMAT_PLAIN);
	log_set_level(EVS_LOG_INFO);
	for (int i = 0; i < 100; i++)
		log_limited(EVS_LOG_INFO, "closed %d", i);
	log_limited(EVS_LOG_DEBUG, "not shown");
	for (int i = 0; i < 30; i++)
		log_info("always %d", i);
	log_limited_flush();
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = '\0';
	fclose(f);
	n = count(buf, "prog: closed ");
	/* The loop may straddle one change of second, not more. */
	ck_assert_msg(n >= LOG_LIMIT_PER_SEC && n <= 2 * LOG_LIMIT_PER_SEC,
	    "%zu lines: %s", n, buf);
	ck_assert_uint_eq(count(buf, "prog: always "), 30);
	ck_assert(strstr(buf, "not shown") == NULL);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("format");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_log_time_format);
	tcase_add_test(tc, test_log_plain_and_text);
	tcase_add_test(tc, test_log_journal_priorities);
	tcase_add_test(tc, test_log_json);
	tcase_add_test(tc, test_log_limited);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
