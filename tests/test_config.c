#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../server/config.h"

#define ARGV(...) ((char *[]){ "evsockd", __VA_ARGS__, NULL })
#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static int
parse(struct config *cfg, char **argv, int argc, char *err)
{
	return config_parse(cfg, argc, argv, err, 256);
}

START_TEST(test_config_defaults)
{
	char *argv[] = { "evsockd", NULL };
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, argv, 1, err), 0);
	ck_assert_uint_eq(cfg.nlisten, 2);
	ck_assert_str_eq(cfg.listen[0].service, "echo");
	ck_assert_str_eq(cfg.listen[0].spec, "127.0.0.1:7007");
	ck_assert_str_eq(cfg.listen[1].service, "chat");
	ck_assert_str_eq(cfg.listen[1].spec, "127.0.0.1:6667");
	ck_assert_uint_eq(cfg.sendq, 1024 * 1024);
	ck_assert_uint_eq(cfg.backlog, 4096);
	ck_assert_uint_eq(cfg.max_line, 512);
	ck_assert_uint_eq(cfg.shutdown_timeout_ms, 5000);
	ck_assert_uint_eq(cfg.history_lines, 1000);
}
END_TEST

START_TEST(test_config_listen)
{
	char **argv = ARGV("--listen", "echo=127.0.0.1:0", "-l",
	    "chat=[::1]:6667", "--listen=echo=localhost:9");
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, argv, 6, err), 0);
	ck_assert_uint_eq(cfg.nlisten, 3);
	ck_assert_str_eq(cfg.listen[1].spec, "[::1]:6667");
	ck_assert_str_eq(cfg.listen[2].host, "localhost");
	ck_assert_int_eq(cfg.listen[2].port, 9);
}
END_TEST

START_TEST(test_config_values)
{
	char **argv = ARGV("--max-clients", "100", "--sendq", "64k",
	    "--idle-timeout", "250ms", "--flood-rate", "0",
	    "--log-level", "debug", "--threads", "2", "--backlog", "128",
	    "--history-lines", "0");
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, argv, 17, err), 0);
	ck_assert_uint_eq(cfg.history_lines, 0);
	ck_assert_uint_eq(cfg.backlog, 128);
	ck_assert_uint_eq(cfg.max_clients, 100);
	ck_assert_uint_eq(cfg.sendq, 65536);
	ck_assert_uint_eq(cfg.idle_timeout_ms, 250);
	ck_assert_uint_eq(cfg.flood_rate, 0);
	ck_assert_str_eq(cfg.log_level, "debug");
	ck_assert_uint_eq(cfg.threads, 2);
}
END_TEST

START_TEST(test_config_errors)
{
	struct {
		char *args[4];
		const char *want;
	} cases[] = {
		{ { "--listen", "ftp=127.0.0.1:21" }, "unknown service" },
		{ { "--listen", "echo=127.0.0.1" }, "missing :PORT" },
		{ { "--listen", "echo=127.0.0.1:99999" }, "port must be" },
		{ { "--bogus" }, "unknown option --bogus" },
		{ { "--max-clients" }, "needs a value" },
		{ { "--max-clients", "0" }, "out of range" },
		{ { "--backlog", "0" }, "out of range" },
		{ { "--backlog", "70000" }, "out of range" },
		{ { "--flood-rate", "2.5" }, "--flood-rate" },
		{ { "--history-lines", "-1" }, "--history-lines" },
		{ { "--sendq", "1T" }, "suffix" },
		{ { "--idle-timeout", "soon" }, "duration" },
		{ { "--log-level", "loud" }, "expected error" },
		{ { "--server-name", "a b" }, "expected a name" },
		{ { "stray" }, "unexpected argument" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[6] = { "evsockd", NULL };
		struct config cfg;
		char err[256] = "";
		int argc = 1;
		for (int j = 0; j < 4 && cases[i].args[j] != NULL; j++)
			argv[argc++] = cases[i].args[j];
		argv[argc] = NULL;
		ck_assert_int_eq(parse(&cfg, argv, argc, err), -1);
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		    "case %zu: '%s' lacks '%s'", i, err, cases[i].want);
	}
}
END_TEST

START_TEST(test_config_help_version)
{
	char **argv = ARGV("--help", "-V");
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, argv, 3, err), 0);
	ck_assert_int_eq(cfg.help, 1);
	ck_assert_int_eq(cfg.version, 1);
	ck_assert_ptr_nonnull(strstr(config_usage(), "--listen"));
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_config_listen);
	tcase_add_test(tc, test_config_values);
	tcase_add_test(tc, test_config_help_version);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_config_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
