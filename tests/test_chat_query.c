/*
 * Integration: the chat's queries over loopback: WHO with masks and
 * WHOX, ISON, USERHOST, WHOWAS, HELP, INFO, ADMIN, LINKS, MONITOR, and
 * registration's edge cases.
 */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "tc.h"

START_TEST(test_chat_query_who_masks)
{
	struct tc *a = tc_register("alice"), *b = tc_register("bob");
	struct tc *c = tc_register("carol");

	tc_send(b, "WHO *");
	ck_assert_ptr_nonnull(tc_wait(b, " 352 bob * alice "));
	tc_wait(b, " 315 bob * :End of WHO list");
	tc_send(b, "WHO AL*");
	tc_expect(b, " 352 ",
	    ":evsockd 352 bob * alice 127.0.0.1 evsockd "
	    "alice H :0 Real alice");
	tc_expect(b, " 315 ", ":evsockd 315 bob AL* :End of WHO list");
	/* A mask matches the real name too. */
	tc_send(b, "WHO *carol");
	tc_wait(b, " 352 bob * carol ");
	tc_sync(b);
	ck_assert_int_eq(tc_count(b, " 352 "), 0);
	/* +i hides from masks, not from an exact nick. */
	tc_send(a, "MODE alice +i");
	tc_wait(a, "MODE alice +i");
	tc_send(b, "WHO ali*");
	tc_wait(b, " 315 bob ali* ");
	tc_send(b, "WHO alice");
	tc_wait(b, " 352 bob * alice ");
	tc_wait(b, " 315 bob alice ");
	/* ... nor from those sharing a channel. */
	tc_join(a, "#x");
	tc_join(b, "#x");
	tc_send(b, "WHO ali*");
	tc_wait(b, " 352 bob * alice ");
	/* Away is G. */
	tc_send(c, "AWAY :out");
	tc_wait(c, " 306 ");
	tc_send(b, "WHO carol");
	tc_wait(b, " 352 bob * carol 127.0.0.1 evsockd carol G :0 Real carol");
	tc_send(b, "WHO nobody");
	tc_wait(b, ":evsockd 315 bob nobody :End of WHO list");
}
END_TEST

START_TEST(test_chat_query_whox)
{
	struct tc *a = tc_register("alice"), *b = tc_register("bob");

	tc_join(a, "#x");
	tc_send(b, "WHO alice %%tnf,42");
	tc_expect(b, " 354 ", ":evsockd 354 bob 42 alice H");
	tc_wait(b, " 315 bob alice ");
	/* The fields come in WHOX's order whatever the order asked. */
	tc_send(b, "WHO alice %%rnuca");
	tc_expect(b, " 354 ", ":evsockd 354 bob * alice alice 0 :Real alice");
	tc_send(b, "WHO #x %%cnf");
	tc_expect(b, " 354 ", ":evsockd 354 bob #x alice H@");
	tc_send(b, "VERSION");
	tc_wait(b, " MONITOR=100 WHOX ");
}
END_TEST

/* An invisible user's channels show in WHOIS only to their members. */
START_TEST(test_chat_query_whois_invisible)
{
	struct tc *a = tc_register("alice"), *b = tc_register("bob");

	tc_join(a, "#x");
	tc_send(a, "MODE alice +i");
	tc_wait(a, "MODE alice +i");
	tc_send(b, "WHOIS alice");
	tc_wait(b, " 318 bob alice ");
	b->pos = 0;
	ck_assert_int_eq(tc_count(b, " 319 bob alice "), 0);
	tc_join(b, "#x");
	tc_send(b, "WHOIS alice");
	tc_expect(b, " 319 ", ":evsockd 319 bob alice :@#x");
	tc_send(a, "AWAY :gone");
	tc_wait(a, " 306 ");
	tc_send(b, "WHOIS alice");
	tc_expect(b, " 301 ", ":evsockd 301 bob alice :gone");
}
END_TEST

START_TEST(test_chat_query_ison_userhost)
{
	struct tc *a = tc_register("alice"), *b = tc_register("bob");

	tc_send(b, "ISON ALICE nobody bob");
	tc_expect(b, " 303 ", ":evsockd 303 bob :alice bob");
	tc_send(b, "ISON :nobody ALICE");
	tc_expect(b, " 303 ", ":evsockd 303 bob :alice");
	tc_send(b, "USERHOST alice bob nobody");
	tc_expect(b, " 302 ",
	    ":evsockd 302 bob :alice=+alice@127.0.0.1 "
	    "bob=+bob@127.0.0.1");
	tc_send(a, "AWAY :later");
	tc_wait(a, " 306 ");
	tc_send(b, "USERHOST alice");
	tc_expect(b, " 302 ", ":evsockd 302 bob :alice=-alice@127.0.0.1");
	tc_send(b, "ISON");
	tc_wait(b, " 461 bob ISON ");
}
END_TEST

START_TEST(test_chat_query_whowas)
{
	struct tc *a = tc_register("alice"), *b = tc_register("bob");

	tc_send(b, "WHOWAS alice");
	tc_expect(b, " 406 ",
	    ":evsockd 406 bob alice :There was no such "
	    "nickname");
	tc_expect(b, " 369 ", ":evsockd 369 bob alice :End of WHOWAS");
	/* A nick change and a quit are both remembered, newest first. */
	tc_send(a, "NICK alicia");
	tc_wait(a, "NICK :alicia");
	tc_send(a, "NICK alice");
	tc_wait(a, "NICK :alice");
	tc_send(a, "QUIT :bye");
	tc_wait_eof(a);
	tc_send(b, "WHOWAS alice");
	tc_expect(b, " 314 ",
	    ":evsockd 314 bob alice alice 127.0.0.1 * "
	    ":Real alice");
	tc_wait(b, " 312 bob alice evsockd :");
	tc_expect(b, " 314 ",
	    ":evsockd 314 bob alice alice 127.0.0.1 * "
	    ":Real alice");
	tc_wait(b, " 369 bob alice ");
	tc_send(b, "WHOWAS alice 1");
	tc_wait(b, " 314 bob alice ");
	tc_wait(b, " 369 bob alice ");
	tc_sync(b);
	ck_assert_int_eq(tc_count(b, " 314 "), 0);
	tc_send(b, "WHOWAS alic*");
	tc_wait(b, " 314 bob alicia ");
	tc_send(b, "WHOWAS");
	tc_wait(b, " 431 bob ");
}
END_TEST

START_TEST(test_chat_query_whowas_bounded)
{
	struct tc *b = tc_register("bob");
	char nick[32];

	/* More departures than the ring holds: the oldest are gone. */
	for (int i = 0; i < 300; i++) {
		snprintf(nick, sizeof(nick), "n%d", i);
		tc_send(b, "NICK %s", nick);
	}
	tc_send(b, "NICK bob");
	tc_wait(b, "NICK :bob");
	tc_send(b, "WHOWAS n0");
	tc_wait(b, " 406 bob n0 ");
	tc_send(b, "WHOWAS n299");
	tc_wait(b, " 314 bob n299 ");
}
END_TEST

START_TEST(test_chat_query_help)
{
	struct tc *a = tc_register("alice");

	tc_send(a, "HELP");
	tc_wait(a, " 704 alice index :");
	tc_wait(a, " 705 alice index :");
	tc_wait(a, " 706 alice index :End of /HELP");
	tc_send(a, "HELPOP privmsg");
	tc_expect(a, " 704 ",
	    ":evsockd 704 alice PRIVMSG :PRIVMSG "
	    "<target>{,<target>} :<text>");
	tc_wait(a, " 706 alice PRIVMSG ");
	tc_send(a, "HELP KLINE");
	tc_wait(a, " 704 alice KLINE :");
	tc_send(a, "HELP NOSUCH");
	tc_expect(a, " 524 ",
	    ":evsockd 524 alice NOSUCH :No help available "
	    "on this topic");
}
END_TEST

START_TEST(test_chat_query_server_info)
{
	struct tc *a = tc_register("alice");

	tc_send(a, "INFO");
	tc_wait(a, " 371 alice :evsockd ");
	tc_wait(a, " 374 alice :End of INFO list");
	tc_send(a, "INFO other.server");
	tc_expect(a, " 402 ",
	    ":evsockd 402 alice other.server :No such "
	    "server");
	tc_send(a, "ADMIN");
	tc_expect(a, " 256 ",
	    ":evsockd 256 alice evsockd :Administrative "
	    "info");
	tc_wait(a, " 257 alice :");
	tc_wait(a, " 258 alice :");
	tc_wait(a, " 259 alice :");
	tc_send(a, "LINKS");
	tc_expect(a, " 364 ",
	    ":evsockd 364 alice evsockd evsockd :0 "
	    "evsock chat");
	tc_expect(a, " 365 ", ":evsockd 365 alice * :End of /LINKS list");
	tc_send(a, "TIME");
	tc_wait(a, " 391 alice evsockd ");
}
END_TEST

START_TEST(test_chat_query_server_description)
{
	struct tc *a;

	ck_assert_int_eq(evs_chat_set_server_info(tc_chat(), "two\r\nlines"),
	    -1);
	ck_assert_int_eq(evs_chat_set_server_info(tc_chat(), "test server"), 0);
	a = tc_register("alice");
	tc_send(a, "LINKS");
	tc_expect(a, " 364 ",
	    ":evsockd 364 alice evsockd evsockd :0 test server");
	tc_wait(a, " 365 alice ");
	tc_send(a, "WHOIS alice");
	tc_expect(a, " 312 ", ":evsockd 312 alice alice evsockd :test server");
	tc_wait(a, " 318 alice ");
	ck_assert_int_eq(evs_chat_set_server_info(tc_chat(), NULL), 0);
	tc_send(a, "LINKS");
	tc_expect(a, " 364 ",
	    ":evsockd 364 alice evsockd evsockd :0 evsock chat");
}
END_TEST

START_TEST(test_chat_query_monitor)
{
	struct tc *a = tc_register("alice"), *b;
	char list[1024];
	size_t n = 0;

	tc_send(a, "MONITOR + bob,carol");
	tc_expect(a, " 731 ", ":evsockd 731 alice :bob");
	tc_expect(a, " 731 ", ":evsockd 731 alice :carol");
	b = tc_register("bob");
	tc_expect(a, " 730 ", ":evsockd 730 alice :bob!bob@127.0.0.1");
	/* A change of case is no news; a new nick is. */
	tc_send(b, "NICK BOB");
	tc_wait(b, "NICK :BOB");
	tc_send(b, "NICK carol");
	tc_expect(a, " 731 ", ":evsockd 731 alice :BOB");
	tc_expect(a, " 730 ", ":evsockd 730 alice :carol!bob@127.0.0.1");
	tc_send(a, "MONITOR L");
	tc_wait(a, " 732 alice :");
	tc_wait(a, " 733 alice :End of MONITOR list");
	tc_send(a, "MONITOR S");
	tc_wait(a, " 731 alice :bob");
	tc_send(a, "MONITOR - carol");
	tc_send(b, "QUIT");
	tc_wait_eof(b);
	tc_sync(a);
	ck_assert_int_eq(tc_count(a, " 731 alice :carol"), 0);
	tc_send(a, "MONITOR C");
	tc_send(a, "MONITOR L");
	tc_expect(a, " 733 ", ":evsockd 733 alice :End of MONITOR list");
	/* The list is bounded. */
	for (int i = 0; i < 101; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%sm%d",
		    i > 0 ? "," : "", i);
	tc_send(a, "MONITOR + %s", list);
	tc_wait(a, " 734 alice 100 m100 :Monitor list is full");
	tc_send(a, "MONITOR + a*b");
	tc_wait(a, " 432 alice a*b ");
}
END_TEST

START_TEST(test_chat_query_register_edges)
{
	struct tc *t = tc_connect();

	tc_send(t, "NICK foo");
	tc_send(t, "USER foo 0 * :");
	tc_wait(t, " 461 foo USER ");
	tc_send(t, "USER foo 0 * :Foo");
	tc_wait(t, " 001 foo ");
	tc_send(t, "PASS x");
	tc_wait(t, " 462 foo ");
	tc_send(t, "USER foo 0 * :Foo");
	tc_wait(t, " 462 foo ");
}
END_TEST

static Suite *
chat_query_suite(void)
{
	Suite *s = suite_create("chat_query");
	TCase *tc = tcase_create("query");

	tcase_add_checked_fixture(tc, tc_chat_setup, tc_chat_teardown);
	tcase_add_test(tc, test_chat_query_who_masks);
	tcase_add_test(tc, test_chat_query_whox);
	tcase_add_test(tc, test_chat_query_whois_invisible);
	tcase_add_test(tc, test_chat_query_ison_userhost);
	tcase_add_test(tc, test_chat_query_whowas);
	tcase_add_test(tc, test_chat_query_whowas_bounded);
	tcase_add_test(tc, test_chat_query_help);
	tcase_add_test(tc, test_chat_query_server_info);
	tcase_add_test(tc, test_chat_query_server_description);
	tcase_add_test(tc, test_chat_query_monitor);
	tcase_add_test(tc, test_chat_query_register_edges);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(chat_query_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
