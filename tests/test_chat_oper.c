/*
 * Integration: server operators over loopback: OPER against crypt(3)
 * hashes given through the library API, KILL, KLINE and its file,
 * WALLOPS, REHASH and STATS, and what each refuses to others.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tc.h"

/* Returns a crypt(3) hash of password with the given setting. */
static const char *
hash_of(const char *password, const char *setting)
{
	static struct crypt_data cd;
	const char *h = crypt_r(password, setting, &cd);

	ck_assert_ptr_nonnull(h);
	ck_assert_msg(h[0] != '*', "crypt cannot use %s", setting);
	return h;
}

static void
oper_setup(void)
{
	tc_chat_setup();
	ck_assert_int_eq(evs_chat_add_oper(tc_chat(), "root",
	                     hash_of("sesame", "$6$evsocktestsalt$")),
	    0);
}

/* Registers nick and makes it an operator. */
static struct tc *
tc_oper(const char *nick)
{
	struct tc *t = tc_register(nick);
	char want[64];

	tc_send(t, "OPER root sesame");
	tc_wait(t, " 381 ");
	snprintf(want, sizeof(want), "MODE %s +o", nick);
	tc_wait(t, want);
	return t;
}

START_TEST(test_chat_oper_oper)
{
	struct tc *a = tc_register("alice"), *b = tc_register("bob");

	tc_send(a, "OPER root wrong");
	tc_expect(a, " 464 ", ":evsockd 464 alice :Password incorrect");
	tc_send(a, "OPER nobody sesame");
	tc_expect(a, " 491 ", ":evsockd 491 alice :No O-lines for your host");
	tc_send(a, "OPER root");
	tc_wait(a, " 461 alice OPER ");
	tc_send(a, "OPER root sesame");
	tc_expect(a, " 381 ",
	    ":evsockd 381 alice :You are now an IRC "
	    "operator");
	tc_expect(a, "MODE", ":alice!alice@127.0.0.1 MODE alice +o");
	/* Others see it in WHOIS, WHO, USERHOST and LUSERS. */
	tc_send(b, "WHOIS alice");
	tc_expect(b, " 313 ", ":evsockd 313 bob alice :is an IRC operator");
	tc_send(b, "WHO alice");
	tc_wait(b, " 352 bob * alice 127.0.0.1 evsockd alice H* :0 ");
	tc_send(b, "USERHOST alice");
	tc_wait(b, " 302 bob :alice*=+alice@127.0.0.1");
	tc_send(b, "LUSERS");
	tc_expect(b, " 252 ", ":evsockd 252 bob 1 :operator(s) online");
	tc_send(a, "MODE alice");
	tc_wait(a, " 221 alice +o");
	/* +o comes only from OPER; -o drops it. */
	tc_send(b, "MODE bob +o");
	tc_send(b, "MODE bob");
	tc_wait(b, " 221 bob +");
	tc_send(a, "MODE alice -o");
	tc_wait(a, "MODE alice -o");
	tc_send(b, "WHOIS alice");
	tc_wait(b, " 318 bob alice ");
	tc_send(b, "LUSERS");
	tc_wait(b, " 266 ");
	tc_sync(b);
	b->pos = 0;
	ck_assert_int_eq(tc_count(b, " 313 "), 1);
}
END_TEST

START_TEST(test_chat_oper_tries_bounded)
{
	struct tc *a = tc_register("alice");

	for (int i = 0; i < 3; i++)
		tc_send(a, "OPER root wrong%d", i);
	tc_wait(a,
	    "ERROR :Closing Link: 127.0.0.1 (Too many failed OPER "
	    "attempts)");
	tc_wait_eof(a);
}
END_TEST

/* Password checks are slow by design: past a server-wide rate, OPER
   answers "busy" instead of hashing, whoever asks. */
START_TEST(test_chat_oper_checks_rate_limited)
{
	struct tc *t[15];
	size_t busy = 0, refused = 0;
	char nick[16];

	for (int i = 0; i < 15; i++) {
		snprintf(nick, sizeof(nick), "u%d", i);
		t[i] = tc_register(nick);
	}
	/* Two tries each, under the per-connection limit of three. */
	for (int i = 0; i < 15; i++) {
		tc_send(t[i], "OPER root wrong");
		tc_send(t[i], "OPER root wrong");
	}
	for (int i = 0; i < 15; i++) {
		tc_sync(t[i]);
		t[i]->pos = 0;
		busy += tc_count(t[i], "OPER is busy; try again in a moment");
		t[i]->pos = 0;
		refused += tc_count(t[i], " 464 ");
	}
	ck_assert_uint_eq(busy + refused, 30);
	ck_assert_uint_ge(busy, 1);
	ck_assert_uint_ge(refused, 8);
}
END_TEST

START_TEST(test_chat_oper_api)
{
	struct tc *a;

	errno = 0;
	ck_assert_int_eq(evs_chat_add_oper(tc_chat(), "x", "notahash"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(evs_chat_add_oper(tc_chat(), "with space", "$6$x$y"),
	    -1);
	ck_assert_int_eq(evs_chat_add_oper(tc_chat(), "", "$6$x$y"), -1);
	/* yescrypt, where the system's libcrypt has it. */
	{
		struct crypt_data cd;
		const char *y;

		memset(&cd, 0, sizeof(cd));
		y = crypt_r("pw2", "$y$j9T$abcdefghijklmnopqrstu.$", &cd);
		if (y != NULL && y[0] != '*')
			ck_assert_int_eq(evs_chat_add_oper(tc_chat(), "yes", y),
			    0);
	}
	a = tc_register("alice");
	evs_chat_clear_opers(tc_chat());
	tc_send(a, "OPER root sesame");
	tc_wait(a, " 491 alice ");
}
END_TEST

START_TEST(test_chat_oper_kill)
{
	struct tc *op = tc_oper("op"), *a = tc_register("alice");
	struct tc *b = tc_register("bob");

	tc_join(a, "#x");
	tc_join(b, "#x");
	tc_send(b, "KILL alice :spam");
	tc_expect(b, " 481 ",
	    ":evsockd 481 bob :Permission Denied - You're "
	    "not an IRC operator");
	tc_send(op, "KILL nobody :x");
	tc_wait(op, " 401 op nobody ");
	tc_send(op, "KILL evsockd :x");
	tc_wait(op, " 483 op ");
	tc_send(op, "KILL alice :spam");
	tc_wait(a, "ERROR :Closing Link: 127.0.0.1 (Killed (op (spam)))");
	tc_wait_eof(a);
	tc_expect(b, " QUIT ",
	    ":alice!alice@127.0.0.1 QUIT :Killed (op "
	    "(spam))");
	tc_send(b, "WHOIS alice");
	tc_wait(b, " 401 bob alice ");
}
END_TEST

/* KILL takes effect at once, even for an operator: the operator count
   drops, and WHOWAS and MONITOR see the victim go exactly once. */
START_TEST(test_chat_oper_kill_departs_once)
{
	struct tc *op = tc_oper("op"), *v = tc_oper("victim");
	struct tc *w = tc_register("watcher");
	size_t mark;

	tc_send(w, "MONITOR + victim");
	tc_wait(w, " 730 watcher :victim!");
	tc_send(w, "LUSERS");
	tc_wait(w, " 252 watcher 2 ");
	tc_send(op, "KILL victim :bye");
	tc_wait(v, "Killed (op (bye))");
	tc_wait(w, " 731 watcher :victim");
	mark = w->pos;
	tc_send(w, "LUSERS");
	tc_send(w, "WHOWAS victim");
	tc_wait(w, " 369 watcher victim ");
	tc_wait_eof(v);
	tc_sync(w);
	w->pos = mark;
	ck_assert_int_eq(tc_count(w, " 252 watcher 1 "), 1);
	w->pos = mark;
	ck_assert_int_eq(tc_count(w, " 314 watcher victim "), 1);
	w->pos = mark;
	ck_assert_int_eq(tc_count(w, " 731 "), 0);
}
END_TEST

START_TEST(test_chat_oper_wallops)
{
	struct tc *op = tc_oper("op"), *w = tc_register("w");
	struct tc *n = tc_register("n");

	tc_send(w, "MODE w +w");
	tc_wait(w, "MODE w +w");
	tc_send(n, "WALLOPS :hi");
	tc_wait(n, " 481 n ");
	tc_send(op, "WALLOPS :hi all");
	tc_expect(w, "WALLOPS", ":op!op@127.0.0.1 WALLOPS :hi all");
	tc_expect(op, "WALLOPS", ":op!op@127.0.0.1 WALLOPS :hi all");
	tc_sync(n);
	ck_assert_int_eq(tc_count(n, "WALLOPS"), 0);
}
END_TEST

START_TEST(test_chat_oper_kline)
{
	char path[] = "/tmp/evsock-kline-XXXXXX", buf[1024];
	struct tc *op, *v, *again;
	FILE *f;
	size_t n;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	ck_assert_int_eq(evs_chat_set_kline_file(tc_chat(), path), 0);
	op = tc_oper("op");
	v = tc_register("victim");
	tc_send(v, "KLINE victim@* :no");
	tc_wait(v, " 481 victim ");
	tc_send(op, "KLINE *@* :everyone");
	tc_wait(op, "NOTICE op :*** That mask would ban everyone");
	tc_send(op, "KLINE victim@127.0.0.* :spamming");
	tc_wait(op,
	    "NOTICE op :*** Added K-line for victim@127.0.0.*: "
	    "spamming");
	tc_expect(v, " 465 ",
	    ":evsockd 465 victim :You are banned from this "
	    "server (spamming)");
	tc_wait(v, "ERROR :Closing Link: 127.0.0.1 (K-lined: spamming)");
	tc_wait_eof(v);
	/* Kept in the file... */
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(buf, "victim@127.0.0.* 0 ") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, " op :spamming\n") != NULL, "%s", buf);
	/* ... and read back, as after a restart: registration refused. */
	ck_assert_int_eq(evs_chat_set_kline_file(tc_chat(), path), 0);
	again = tc_connect();
	tc_send(again, "NICK victim");
	tc_send(again, "USER victim 0 * :V");
	tc_wait(again, " 465 victim ");
	tc_wait_eof(again);
	tc_send(op, "STATS k");
	tc_expect(op, " 216 ",
	    ":evsockd 216 op K 127.0.0.* * victim "
	    ":spamming");
	tc_wait(op, " 219 op k ");
	tc_send(op, "UNKLINE victim@127.0.0.*");
	tc_wait(op, "NOTICE op :*** Removed K-line for victim@127.0.0.*");
	again = tc_register("victim");
	tc_send(op, "KLINE 10 bob :later");
	tc_wait(op, "Added K-line for *@bob for 10 minutes: later");
	ck_assert_int_eq(evs_chat_set_kline_file(tc_chat(), NULL), 0);
	unlink(path);
}
END_TEST

static int rehash_calls, rehash_result;

static int
rehash_cb(struct evs_chat *c, void *arg)
{
	ck_assert_ptr_eq(c, tc_chat());
	ck_assert_ptr_eq(arg, &rehash_calls);
	rehash_calls++;
	return rehash_result;
}

START_TEST(test_chat_oper_rehash)
{
	struct tc *op = tc_oper("op"), *a = tc_register("alice");

	tc_send(a, "REHASH");
	tc_wait(a, " 481 alice ");
	tc_send(op, "REHASH");
	tc_wait(op, " 382 op configuration :Rehashing");
	tc_wait(op, "no configuration to reload");
	rehash_calls = 0;
	rehash_result = 0;
	evs_chat_set_rehash_cb(tc_chat(), rehash_cb, &rehash_calls);
	tc_send(op, "REHASH");
	tc_wait(op, " 382 op ");
	tc_wait(op, "NOTICE op :*** REHASH done");
	ck_assert_int_eq(rehash_calls, 1);
	rehash_result = -1;
	tc_send(op, "REHASH");
	tc_wait(op, "REHASH failed");
	ck_assert_int_eq(rehash_calls, 2);
}
END_TEST

START_TEST(test_chat_oper_stats)
{
	struct tc *op = tc_oper("op"), *a = tc_register("alice");
	const char *l;

	tc_send(a, "STATS u");
	tc_wait(a, " 481 alice ");
	tc_send(op, "STATS u");
	l = tc_wait(op, " 242 op :Server Up 0 days 0:00:");
	ck_assert_ptr_nonnull(l);
	tc_wait(op, " 219 op u :End of /STATS report");
	tc_send(op, "STATS m");
	tc_expect(op, " 212 op OPER", ":evsockd 212 op OPER 1 0 0");
	tc_wait(op, " 212 op STATS ");
	tc_wait(op, " 219 op m ");
	tc_send(op, "STATS l");
	tc_wait(op, " 211 op evsockd 2 0 ");
	tc_wait(op, " 219 op l ");
	tc_send(op, "STATS");
	tc_wait(op, " 461 op STATS ");
}
END_TEST

static Suite *
chat_oper_suite(void)
{
	Suite *s = suite_create("chat_oper");
	TCase *tc = tcase_create("oper");

	tcase_add_checked_fixture(tc, oper_setup, tc_chat_teardown);
	tcase_add_test(tc, test_chat_oper_oper);
	tcase_add_test(tc, test_chat_oper_tries_bounded);
	tcase_add_test(tc, test_chat_oper_checks_rate_limited);
	tcase_add_test(tc, test_chat_oper_api);
	tcase_add_test(tc, test_chat_oper_kill);
	tcase_add_test(tc, test_chat_oper_kill_departs_once);
	tcase_add_test(tc, test_chat_oper_wallops);
	tcase_add_test(tc, test_chat_oper_kline);
	tcase_add_test(tc, test_chat_oper_rehash);
	tcase_add_test(tc, test_chat_oper_stats);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(chat_oper_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
