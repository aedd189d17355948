#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../server/config.h"

#define ARGV(...) ((char *[]){ "evsockd", __VA_ARGS__, NULL })
#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

/* The last struct parse() filled; freed before the next parse and
   after each test. */
static struct config *last;

static void
free_last(void)
{
	if (last != NULL)
		config_free(last);
	last = NULL;
}

static int
parse(struct config *cfg, char **argv, int argc, char *err)
{
	free_last();
	last = cfg;
	return config_parse(cfg, argc, argv, err, 256);
}

static char conf_path[64];

/* Writes text to a new temporary config file; returns its path. */
static char *
conf(const char *text)
{
	FILE *f;
	int fd;

	snprintf(conf_path, sizeof(conf_path), "/tmp/evsock-conf-XXXXXX");
	fd = mkstemp(conf_path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return conf_path;
}

static void
teardown(void)
{
	free_last();
	if (conf_path[0] != '\0')
		unlink(conf_path);
	conf_path[0] = '\0';
}

START_TEST(test_config_defaults)
{
	char *argv[] = { "evsockd", NULL };
	static struct config cfg;
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
	static struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, argv, 6, err), 0);
	ck_assert_uint_eq(cfg.nlisten, 3);
	ck_assert_str_eq(cfg.listen[1].spec, "[::1]:6667");
	ck_assert_str_eq(cfg.listen[2].host, "localhost");
	ck_assert_int_eq(cfg.listen[2].port, 9);
}
END_TEST

START_TEST(test_config_tls_listen)
{
	char **argv = ARGV("--tls-listen", "chat=127.0.0.1:6697", "--listen",
	    "chat=127.0.0.1:6667", "--tls-cert", "c.pem", "--tls-key", "k.pem");
	static struct config cfg, cfg2;
	char err[256], path[128];

	ck_assert_int_eq(parse(&cfg, argv, 9, err), 0);
	ck_assert_uint_eq(cfg.nlisten, 2);
	ck_assert_int_eq(cfg.listen[0].tls, 1);
	ck_assert_str_eq(cfg.listen[0].spec, "127.0.0.1:6697");
	ck_assert_int_eq(cfg.listen[1].tls, 0);
	ck_assert_str_eq(cfg.tls_cert, "c.pem");
	ck_assert_int_eq(config_tls(&cfg), 1);
	ck_assert_int_eq(config_reloadable("tls-cert"), 1);
	ck_assert_int_eq(config_reloadable("tls-listen"), 0);

	/* The command line's listen replaces the file's listen and keeps
	   the file's tls-listen, and the other way round. */
	snprintf(path, sizeof(path), "%s",
	    conf("tls-listen echo=127.0.0.1:0\n"
	         "listen echo=127.0.0.1:1\ntls-cert c.pem\ntls-key k.pem\n"));
	argv = ARGV("--config", path, "--listen", "chat=127.0.0.1:2");
	ck_assert_int_eq(parse(&cfg2, argv, 5, err), 0);
	ck_assert_uint_eq(cfg2.nlisten, 2);
	ck_assert_int_eq(cfg2.listen[0].tls, 1);
	ck_assert_int_eq(cfg2.listen[1].port, 2);
	ck_assert_int_eq(cfg2.listen[1].tls, 0);
}
END_TEST

START_TEST(test_config_tls_needs_cert)
{
	char **argv = ARGV("--tls-listen", "chat=127.0.0.1:6697");
	static struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, argv, 3, err), -1);
	ck_assert_str_eq(err, "tls-listen needs tls-cert and tls-key");
}
END_TEST

START_TEST(test_config_values)
{
	char **argv = ARGV("--max-clients", "100", "--sendq", "64k",
	    "--idle-timeout", "250ms", "--flood-rate", "0", "--log-level",
	    "debug", "--threads", "2", "--backlog", "128", "--history-lines",
	    "0");
	static struct config cfg;
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
		static struct config cfg;
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

START_TEST(test_config_cluster)
{
	char **argv = ARGV("--cluster", "redis://127.0.0.1:6379/2",
	    "--node-name", "a1", "--cluster-timeout", "2s", "--reuseport",
	    "--history-lines", "100");
	char **bad = ARGV("--cluster-timeout", "100ms");
	static struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, bad, 3, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "--cluster-timeout"));
	ck_assert_int_eq(parse(&cfg, argv, 10, err), 0);
	ck_assert_str_eq(cfg.cluster, "redis://127.0.0.1:6379/2");
	ck_assert_str_eq(cfg.node_name, "a1");
	ck_assert_uint_eq(cfg.cluster_timeout_ms, 2000);
	ck_assert_int_eq(cfg.reuseport, 1);
	ck_assert_uint_eq(cfg.history_lines, 100);
	ck_assert_int_eq(parse(&cfg, ARGV("--reuseport"), 2, err), 0);
	ck_assert_ptr_null(cfg.cluster);
	ck_assert_uint_eq(cfg.cluster_timeout_ms, 15000);
	ck_assert_uint_eq(cfg.history_lines, 1000);
	/* Only the history length changes without a restart. */
	ck_assert_int_eq(config_reloadable("cluster"), 0);
	ck_assert_int_eq(config_reloadable("node-name"), 0);
	ck_assert_int_eq(config_reloadable("cluster-timeout"), 0);
	ck_assert_int_eq(config_reloadable("reuseport"), 0);
	ck_assert_int_eq(config_reloadable("history-lines"), 1);
}
END_TEST

START_TEST(test_config_cluster_file)
{
	char err[256],
	    **argv = ARGV("--config",
	        conf("cluster unix:/run/redis.sock\n"
	             "node-name b2\n"
	             "cluster-timeout 1m\n"
	             "reuseport\n"
	             "history-lines 50\n"));
	static struct config cfg;

	ck_assert_int_eq(parse(&cfg, argv, 3, err), 0);
	ck_assert_str_eq(cfg.cluster, "unix:/run/redis.sock");
	ck_assert_str_eq(cfg.node_name, "b2");
	ck_assert_uint_eq(cfg.cluster_timeout_ms, 60000);
	ck_assert_int_eq(cfg.reuseport, 1);
	ck_assert_uint_eq(cfg.history_lines, 50);
	unlink(conf_path);
	argv = ARGV("--config", conf("history-lines 1000001\n"));
	ck_assert_int_eq(parse(&cfg, argv, 3, err), -1);
	ck_assert_ptr_nonnull(strstr(err, ":1: history-lines"));
}
END_TEST

START_TEST(test_config_help_version)
{
	char **argv = ARGV("--help", "-V");
	static struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, argv, 3, err), 0);
	ck_assert_int_eq(cfg.help, 1);
	ck_assert_int_eq(cfg.version, 1);
	ck_assert_ptr_nonnull(strstr(config_usage(), "--listen"));
}
END_TEST

/* A file sets options by their long names; # starts a comment. */
START_TEST(test_config_file)
{
	static struct config cfg;
	char err[256],
	    **argv = ARGV("--config",
	        conf("# evsockd\n"
	             "listen chat=0.0.0.0:6667\n"
	             "  listen   echo=[::1]:7  # trailing comment\n"
	             "\n"
	             "sendq 1M\n"
	             "idle-timeout 90s\n"
	             "motd-file /etc/motd#1\n"
	             "log-format json\n"));

	ck_assert_int_eq(parse(&cfg, argv, 3, err), 0);
	ck_assert_uint_eq(cfg.nlisten, 2);
	ck_assert_str_eq(cfg.listen[0].spec, "0.0.0.0:6667");
	ck_assert_str_eq(cfg.listen[1].spec, "[::1]:7");
	ck_assert_uint_eq(cfg.sendq, 1024 * 1024);
	ck_assert_uint_eq(cfg.idle_timeout_ms, 90000);
	ck_assert_str_eq(cfg.motd_file, "/etc/motd#1");
	ck_assert_str_eq(cfg.log_format, "json");
	ck_assert_str_eq(cfg.config_file, conf_path);
}
END_TEST

/* The command line overrides the file; a repeatable option given on
   the command line replaces the file's list instead of adding to it. */
START_TEST(test_config_command_line_overrides)
{
	static struct config cfg;
	char err[256], where[600], want[600];
	char **argv = ARGV("--sendq", "64k", "--config",
	    conf("listen chat=0.0.0.0:6667\nlisten echo=0.0.0.0:7\nsendq 1M\n"
	         "max-clients 10\n"),
	    "--listen", "echo=127.0.0.1:9");

	ck_assert_int_eq(parse(&cfg, argv, 7, err), 0);
	ck_assert_uint_eq(cfg.sendq, 64 * 1024);
	ck_assert_uint_eq(cfg.max_clients, 10);
	ck_assert_uint_eq(cfg.nlisten, 1);
	ck_assert_str_eq(cfg.listen[0].spec, "127.0.0.1:9");
	snprintf(want, sizeof(want), "%s:4", conf_path);
	ck_assert_str_eq(config_where(&cfg, "max-clients", where,
	                     sizeof(where)),
	    want);
	ck_assert_str_eq(config_where(&cfg, "sendq", where, sizeof(where)),
	    "--sendq");
}
END_TEST

/* Problems in a file name the file and line. */
START_TEST(test_config_file_errors)
{
	struct {
		const char *text, *want;
	} cases[] = {
		{ "sendq 1M\nbogus 1\n", ":2: unknown setting 'bogus'" },
		{ "\n\nsendq\n", ":3: 'sendq' needs a value" },
		{ "sendq 1T\n", ":1: sendq '1T': unknown size suffix" },
		{ "help\n", ":1: 'help' is only accepted on the command line" },
		{ "config /x\n",
		    ":1: 'config' is only accepted on the command" },
		{ "listen ftp=1.2.3.4:21\n",
		    ":1: listen 'ftp=1.2.3.4:21': "
		    "unknown service" },
		{ "log-format xml\n", ":1: log-format 'xml': expected text" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct config cfg;
		char err[256] = "", want[128];
		char **argv = ARGV("--config", conf(cases[i].text));

		ck_assert_int_eq(parse(&cfg, argv, 3, err), -1);
		snprintf(want, sizeof(want), "%s%s", conf_path, cases[i].want);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
		    "case %zu: '%s' is not '%s'", i, err, want);
		teardown();
	}
}
END_TEST

/* --help is generated from the table: every option appears once. */
START_TEST(test_config_usage_lists_every_option)
{
	const char *u = config_usage();
	const char *names[] = { "--config PATH", "--check-config", "--listen",
		"--sendq BYTES", "--log-file PATH", "--log-format FORMAT",
		"--metrics HOST:PORT", "--user NAME", "-t, --threads N",
		"--cluster URL", "--cluster-timeout DUR", "--reuseport",
		"--history-lines N" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *p = strstr(u, names[i]);
		ck_assert_msg(p != NULL, "%s missing:\n%s", names[i], u);
		ck_assert_msg(strstr(p + 1, names[i]) == NULL, "%s twice",
		    names[i]);
	}
}
END_TEST

static void
diff_cb(const char *name, const char *oldv, const char *newv, int reloadable,
    void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s %s->%s %d;", name, oldv, newv,
	    reloadable);
}

/* A reload sees which settings changed and which need a restart, and
   keeps the running value of the latter. */
START_TEST(test_config_diff_and_keep_restart)
{
	struct config a, b;
	char err[256], out[512] = "";
	char **av = ARGV("--sendq", "1M", "--threads", "2");
	char **bv = ARGV("--sendq", "2M", "--threads", "4");

	ck_assert_int_eq(config_parse(&a, 5, av, err, sizeof(err)), 0);
	ck_assert_int_eq(config_parse(&b, 5, bv, err, sizeof(err)), 0);
	ck_assert_uint_eq(config_diff(&a, &b, diff_cb, out), 2);
	ck_assert_str_eq(out, "sendq 1048576->2097152 1;threads 2->4 0;");
	ck_assert_int_eq(config_diff_keep_restart(&b, &a), 0);
	ck_assert_uint_eq(b.threads, 2);
	ck_assert_uint_eq(b.sendq, 2 * 1024 * 1024);
	ck_assert_int_eq(config_reloadable("motd-file"), 1);
	ck_assert_int_eq(config_reloadable("listen"), 0);
	config_free(&a);
	config_free(&b);
}
END_TEST

#define HASH6 \
	"$6$rounds=5000$saltsalt$Kx3uHnJ7Yl0pO1vS7xV3hQ2m9y4bZ0jW" \
	"w5cR6tF8gA1eD2kL3nM4pQ5rS6tU7vW8xY9zA0bC1dE2fG3hI4jK5lM6nO7pQ8"

/* "oper NAME HASH" lines: only in a file, repeatable (the file's
   list, emptied by nothing on the command line), the hash must look
   like crypt(3) output; a reload sees a changed hash without the
   hash itself being shown. */
START_TEST(test_config_opers)
{
	static struct config cfg, other;
	char err[256], out[512] = "";
	char **argv = ARGV("--config",
	    conf(
	        "oper alice " HASH6 "\n"
	        "oper bob\t$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317f"
	        "hZg9SqC.8i5rd.RhAtQ7\n"
	        "kline-file /var/lib/evsockd/klines\n"));
	char **cli = ARGV("--oper", "eve " HASH6);

	ck_assert_int_eq(parse(&cfg, argv, 3, err), 0);
	ck_assert_uint_eq(cfg.nopers, 2);
	ck_assert_str_eq(cfg.opers[0].name, "alice");
	ck_assert_str_eq(cfg.opers[0].hash, HASH6);
	ck_assert_str_eq(cfg.opers[1].name, "bob");
	ck_assert(strncmp(cfg.opers[1].hash, "$y$j9T$", 7) == 0);
	ck_assert_str_eq(cfg.kline_file, "/var/lib/evsockd/klines");
	ck_assert_int_eq(config_reloadable("oper"), 1);
	ck_assert_int_eq(config_reloadable("kline-file"), 1);

	/* Secrets stay off the command line (and out of ps). */
	ck_assert_int_eq(config_parse(&other, 3, cli, err, sizeof(err)), -1);
	config_free(&other);
	ck_assert_str_eq(err, "--oper is only accepted in a config file");
	ck_assert(strstr(config_usage(), "--oper") == NULL);

	ck_assert_int_eq(
	    config_parse(&other, 3,
	        ARGV("--config",
	            conf(
	                "oper alice $6$othersalt$Zy3uHnJ7Yl0pO1vS7xV3hQ2m9y4bZ0jW\n")),
	        err, sizeof(err)),
	    0);
	ck_assert_msg(config_diff(&cfg, &other, diff_cb, out) == 2, "%s", out);
	ck_assert_msg(strstr(out, "oper alice:") != NULL &&
	        strstr(out, "$") == NULL,
	    "%s", out);
	config_free(&other);
}
END_TEST

/* A bad operator line names the file, the line and the problem. */
START_TEST(test_config_oper_errors)
{
	const char *bad[] = {
		"oper alice\n",
		"oper alice secret\n",
		"oper alice $6$\n",
		"oper alice $6$salt$\n",
		"oper alice $$salt$hash00000000\n",
		"oper alice $6$salt$has h\n",
		"oper al:ice " HASH6 "\n",
		"oper alice " HASH6 "\noper alice " HASH6 "\n",
	};

	ck_assert_int_eq(config_check_hash(HASH6), 0);
	ck_assert_int_eq(config_check_hash("$2b$12$R9h/cIPz0gi.URNNX3kh2O"
	                                   "PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"),
	    0);
	ck_assert_int_eq(config_check_hash("password"), -1);
	ck_assert_int_eq(config_check_hash("$1$"), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static struct config cfg;
		char err[256] = "", want[128];
		char **argv = ARGV("--config", conf(bad[i]));

		ck_assert_int_eq(parse(&cfg, argv, 3, err), -1);
		snprintf(want, sizeof(want), "%s:%d: oper: ", conf_path,
		    i == sizeof(bad) / sizeof(bad[0]) - 1 ? 2 : 1);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
		    "case %zu: '%s'", i, err);
		ck_assert_msg(strstr(err, "secret") == NULL, "%s", err);
		teardown();
	}
}
END_TEST

/* The safe defaults for untrusted networks, and their bounds. */
START_TEST(test_config_stall_and_buffers)
{
	static struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, ARGV("--check-config"), 2, err), 0);
	ck_assert_uint_eq(cfg.stall_timeout_ms, 60000);
	ck_assert_uint_eq(cfg.socket_buffer, 64 * 1024);
	ck_assert_int_eq(parse(&cfg,
	                     ARGV("--stall-timeout", "0", "--socket-buffer",
	                         "0"),
	                     5, err),
	    0);
	ck_assert_uint_eq(cfg.stall_timeout_ms, 0);
	ck_assert_uint_eq(cfg.socket_buffer, 0);
	ck_assert_int_eq(parse(&cfg, ARGV("--socket-buffer", "1k"), 3, err),
	    -1);
	ck_assert_msg(strstr(err, "at least 4k") != NULL, "%s", err);
	ck_assert_int_eq(config_reloadable("stall-timeout"), 1);
	ck_assert_int_eq(config_reloadable("socket-buffer"), 0);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_config_listen);
	tcase_add_test(tc, test_config_tls_listen);
	tcase_add_test(tc, test_config_tls_needs_cert);
	tcase_add_test(tc, test_config_values);
	tcase_add_test(tc, test_config_cluster);
	tcase_add_test(tc, test_config_help_version);
	tcase_add_test(tc, test_config_usage_lists_every_option);
	tcase_add_test(tc, test_config_diff_and_keep_restart);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_config_file);
	tcase_add_test(tc, test_config_command_line_overrides);
	tcase_add_test(tc, test_config_cluster_file);
	tcase_add_test(tc, test_config_file_errors);
	tcase_add_test(tc, test_config_opers);
	tcase_add_test(tc, test_config_oper_errors);
	tcase_add_test(tc, test_config_stall_and_buffers);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, NULL, teardown);
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
