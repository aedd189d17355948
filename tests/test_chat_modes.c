/*
 * Integration: channel modes and the rules they enforce (+b +e +I +i
 * with INVITE, +k, +l, +m with +v, +s, MODE lines), STATUSMSG, and the
 * fixes that came with them: QUIT takes effect at once, a line with a
 * NUL is answered, PRIVMSG targets are de-duplicated and capped by
 * TARGMAX, LUSERS counts only registered clients.  The chat service
 * and its clients share one event_base over loopback, port 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <evsock/evsock.h>

#include "tc.h"

/* Fixes. */

/* The quitter's client reads its ERROR but never closes: the server's
   view changes anyway, before the connection has ended. */
START_TEST(test_chat_modes_quit_at_once)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");
	size_t mark;

	tc_join(a, "#x");
	tc_join(b, "#x");
	a->hold = 1;
	tc_send(a, "QUIT :bye");
	tc_wait(a, "ERROR :Closing Link");
	/* No waiting: the server lingers up to 2 s on a's connection. */
	mark = b->pos;
	tc_sync(b);
	b->pos = mark;
	ck_assert_msg(tc_seen(b, ":a!a@127.0.0.1 QUIT :Quit: bye"),
	    "QUIT not relayed at once");
	tc_send(b, "NAMES #x");
	tc_expect(b, " 353 ", ":evsockd 353 b = #x :b");
	tc_send(b, "WHOIS a");
	tc_wait(b, " 401 b a ");
	tc_send(b, "LUSERS");
	tc_expect(b, " 251 ",
	    ":evsockd 251 b :There are 2 users and 0 "
	    "invisible on 1 servers");
	tc_expect(b, " 255 ",
	    ":evsockd 255 b :I have 2 clients and 0 "
	    "servers");
	tc_send(c, "NICK a");
	tc_expect(c, " NICK ", ":c!c@127.0.0.1 NICK :a");
}
END_TEST

START_TEST(test_chat_modes_nul_answered)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	static const char nul[] = "PRIVMSG b :be\0fore\r\n";
	static const char tagged[] = "@t=1 :a PRIVMSG b :x\0y\r\n";

	tc_send_raw(a, nul, sizeof(nul) - 1);
	tc_expect(a, " 400 ",
	    ":evsockd 400 a PRIVMSG :Line contains a NUL, "
	    "CR or LF byte and was not run");
	tc_send_raw(a, tagged, sizeof(tagged) - 1);
	tc_wait(a, " 400 a PRIVMSG ");
	tc_sync(b);
	ck_assert(!tc_seen(b, "PRIVMSG"));
}
END_TEST

START_TEST(test_chat_modes_targets)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	const char *l;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, "PRIVMSG #c,#C,b,B,#c :once each");
	tc_expect(b, "once", ":a!a@127.0.0.1 PRIVMSG #c :once each");
	tc_expect(b, "once", ":a!a@127.0.0.1 PRIVMSG b :once each");
	tc_sync(b);
	ck_assert_uint_eq(tc_count(b, "once"), 0);
	tc_register("c");
	tc_register("d");
	tc_register("e");
	tc_send(a, "PRIVMSG b,c,d,e,#c :five");
	tc_expect(a, " 407 ",
	    ":evsockd 407 a #c :Too many targets; the "
	    "limit is 4, nothing was sent");
	tc_send(a, "NOTICE b,c,d,e,#c :five");
	tc_sync(a);
	tc_sync(b);
	ck_assert(!tc_seen(b, "five"));
	ck_assert(!tc_seen(a, " 407 "));
	tc_send(a, "VERSION");
	l = tc_wait(a, " TARGMAX=");
	ck_assert_ptr_nonnull(strstr(l, " TARGMAX=KICK:4,NOTICE:4,PRIVMSG:4 "));
}
END_TEST

START_TEST(test_chat_modes_lusers_registered_only)
{
	struct tc *a = tc_register("a");

	tc_connect();
	tc_connect();
	tc_send(a, "LUSERS");
	tc_expect(a, " 253 ", ":evsockd 253 a 2 :unknown connection(s)");
	tc_expect(a, " 255 ",
	    ":evsockd 255 a :I have 1 clients and 0 "
	    "servers");
}
END_TEST

/* Lists. */

START_TEST(test_chat_modes_ban)
{
	struct tc *a = tc_register("a"), *b = tc_register("Bob");
	const char *l;

	tc_join(a, "#c");
	tc_send(a, "MODE #c +b BO*");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c +b BO*!*@*");
	tc_send(b, "JOIN #c");
	tc_expect(b, " 474 ",
	    ":evsockd 474 Bob #c :Cannot join channel "
	    "(+b)");
	tc_send(a, "MODE #c +b");
	l = tc_wait(a, " 367 ");
	ck_assert_msg(strncmp(l, ":evsockd 367 a #c BO*!*@* a ", 28) == 0, "%s",
	    l);
	tc_expect(a, " 368 ", ":evsockd 368 a #c :End of channel ban list");
	/* An exception lets Bob in; banned and not excepted, he is mute. */
	tc_send(a, "MODE #c +e *!*@127.0.0.?");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c +e *!*@127.0.0.?");
	tc_join(b, "#c");
	tc_send(b, "PRIVMSG #c :in");
	tc_wait(a, "PRIVMSG #c :in");
	tc_send(a, "MODE #c -e *!*@127.0.0.?");
	tc_wait(b, " MODE #c -e ");
	tc_send(b, "PRIVMSG #c :muted");
	tc_expect(b, " 404 ", ":evsockd 404 Bob #c :Cannot send to channel");
	tc_send(a, "MODE #c e");
	tc_expect(a, " 349 ",
	    ":evsockd 349 a #c :End of channel exception "
	    "list");
	tc_send(a, "MODE #c -b bo*!*@*");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c -b bo*!*@*");
	tc_send(b, "PRIVMSG #c :free");
	tc_wait(a, "PRIVMSG #c :free");
}
END_TEST

START_TEST(test_chat_modes_list_full)
{
	struct tc *a = tc_register("a");
	char line[256];
	int i;

	tc_join(a, "#c");
	for (i = 0; i < 100; i += 5) {
		snprintf(line, sizeof(line),
		    "MODE #c +bbbbb n%d n%d n%d n%d n%d", i, i + 1, i + 2,
		    i + 3, i + 4);
		tc_send(a, "%s", line);
	}
	tc_send(a, "MODE #c +I last");
	tc_expect(a, " 478 ", ":evsockd 478 a #c I :Channel list is full");
	tc_send(a, "MODE #c +b");
	tc_wait(a, " 368 ");
}
END_TEST

/* +i and INVITE. */

START_TEST(test_chat_modes_invite)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");

	tc_join(a, "#c");
	tc_send(a, "MODE #c +i");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c +i");
	tc_send(b, "JOIN #c");
	tc_expect(b, " 473 ", ":evsockd 473 b #c :Cannot join channel (+i)");
	tc_send(b, "INVITE");
	tc_expect(b, " 337 ", ":evsockd 337 b :End of /INVITE list");
	tc_send(c, "INVITE b #c");
	tc_expect(c, " 442 ", ":evsockd 442 c #c :You're not on that channel");
	tc_send(a, "INVITE b #c");
	tc_expect(a, " 341 ", ":evsockd 341 a b #c");
	tc_expect(b, " INVITE ", ":a!a@127.0.0.1 INVITE b #c");
	tc_send(b, "INVITE");
	tc_expect(b, " 336 ", ":evsockd 336 b #c");
	tc_wait(b, " 337 ");
	tc_join(b, "#c");
	/* Used up by the JOIN. */
	tc_send(b, "INVITE");
	tc_expect(b, " 33", ":evsockd 337 b :End of /INVITE list");
	tc_send(a, "INVITE b #c");
	tc_expect(a, " 443 ", ":evsockd 443 a b #c :is already on channel");
	tc_send(b, "INVITE c #c");
	tc_expect(b, " 482 ",
	    ":evsockd 482 b #c :You're not channel "
	    "operator");
	/* +I lets a matching user in without an invitation. */
	tc_send(a, "MODE #c +I c!*@*");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c +I c!*@*");
	tc_join(c, "#c");
	tc_send(a, "MODE #c I");
	tc_wait(a, " 346 a #c c!*@* a ");
	tc_expect(a, " 347 ",
	    ":evsockd 347 a #c :End of Channel Invite "
	    "Exception List");
}
END_TEST

/* +k, +l. */

START_TEST(test_chat_modes_key)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#c");
	tc_send(a, "MODE #c +k :has space");
	tc_expect(a, " 696 ",
	    ":evsockd 696 a #c k * :Invalid key: 1 to 32 "
	    "bytes, no space, comma or colon");
	tc_send(a, "MODE #c +k sesame");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c +k sesame");
	tc_send(a, "MODE #c +k other");
	tc_expect(a, " 467 ", ":evsockd 467 a #c :Channel key already set");
	tc_send(b, "JOIN #c");
	tc_expect(b, " 475 ", ":evsockd 475 b #c :Cannot join channel (+k)");
	tc_send(b, "JOIN #c wrong");
	tc_wait(b, " 475 b #c ");
	tc_send(b, "JOIN #d,#c x,sesame");
	tc_wait(b, " 366 b #d ");
	tc_wait(b, " 366 b #c ");
	tc_send(b, "MODE #c");
	tc_expect(b, " 324 ", ":evsockd 324 b #c +knt sesame");
	tc_send(a, "MODE #c -k");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c -k sesame");
}
END_TEST

START_TEST(test_chat_modes_limit)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");

	tc_join(a, "#c");
	tc_send(a, "MODE #c +l :0");
	tc_expect(a, " 696 ",
	    ":evsockd 696 a #c l 0 :Invalid limit: a number "
	    "from 1 to 1000000");
	tc_send(a, "MODE #c +l abc");
	tc_wait(a, " 696 a #c l abc ");
	tc_send(a, "MODE #c +l 2");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c +l 2");
	tc_join(b, "#c");
	tc_send(c, "JOIN #c");
	tc_expect(c, " 471 ", ":evsockd 471 c #c :Cannot join channel (+l)");
	/* An operator's invitation passes the limit. */
	tc_send(a, "INVITE c #c");
	tc_wait(c, " INVITE c #c");
	tc_join(c, "#c");
	tc_send(a, "MODE #c");
	tc_expect(a, " 324 ", ":evsockd 324 a #c +lnt 2");
	tc_send(a, "MODE #c -l");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c -l");
}
END_TEST

/* +m with +v, +s, STATUSMSG. */

START_TEST(test_chat_modes_moderated)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, "MODE #c +m");
	tc_wait(b, " MODE #c +m");
	tc_send(b, "PRIVMSG #c :hello");
	tc_expect(b, " 404 ", ":evsockd 404 b #c :Cannot send to channel");
	tc_send(a, "MODE #c +v b");
	tc_expect(b, " MODE ", ":a!a@127.0.0.1 MODE #c +v b");
	tc_send(b, "PRIVMSG #c :voiced");
	tc_expect(a, "voiced", ":b!b@127.0.0.1 PRIVMSG #c :voiced");
	tc_send(a, "NAMES #c");
	tc_expect(a, " 353 ", ":evsockd 353 a = #c :@a +b");
	tc_sync(a);
	ck_assert(!tc_seen(a, "hello"));
}
END_TEST

START_TEST(test_chat_modes_no_ctcp)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_send(a, "MODE #c +C");
	tc_wait(b, " MODE #c +C");
	tc_send(b, "PRIVMSG #c :\001VERSION\001");
	tc_expect(b, " 404 ", ":evsockd 404 b #c :Cannot send to channel");
	tc_send(b, "PRIVMSG #c :\001ACTION waves\001");
	tc_expect(a, "waves",
	    ":b!b@127.0.0.1 PRIVMSG #c :\001ACTION "
	    "waves\001");
	tc_send(a, "MODE #c");
	tc_expect(a, " 324 ", ":evsockd 324 a #c +Cnt");
	tc_sync(a);
	ck_assert(!tc_seen(a, "VERSION"));
}
END_TEST

START_TEST(test_chat_modes_secret)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");

	tc_join(a, "#s");
	tc_join(a, "#open");
	tc_send(a, "MODE #s +s");
	tc_wait(a, " MODE #s +s");
	tc_send(a, "NAMES #s");
	tc_expect(a, " 353 ", ":evsockd 353 a @ #s :@a");
	tc_send(b, "LIST");
	tc_wait(b, " 322 b #open ");
	tc_wait(b, " 323 ");
	tc_send(b, "NAMES #s");
	tc_expect(b, " 366 ", ":evsockd 366 b #s :End of /NAMES list");
	tc_send(b, "WHOIS a");
	tc_expect(b, " 319 ", ":evsockd 319 b a :@#open");
	tc_send(a, "MODE #s +b hidden");
	tc_wait(a, " MODE #s +b hidden!*@*");
	tc_send(b, "MODE #s +b");
	tc_expect(b, " 36", ":evsockd 368 b #s :End of channel ban list");
	tc_sync(b);
	ck_assert(!tc_seen(b, "#s "));
	ck_assert(!tc_seen(b, " 353 "));
}
END_TEST

START_TEST(test_chat_modes_statusmsg)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_join(c, "#c");
	tc_send(a, "MODE #c +v b");
	tc_wait(c, " MODE #c +v b");
	tc_send(c, "PRIVMSG @#c :to ops");
	tc_expect(a, "to ops", ":c!c@127.0.0.1 PRIVMSG @#c :to ops");
	tc_send(c, "NOTICE +#c :to voices");
	tc_expect(a, "voices", ":c!c@127.0.0.1 NOTICE +#c :to voices");
	tc_expect(b, "voices", ":c!c@127.0.0.1 NOTICE +#c :to voices");
	tc_sync(b);
	tc_sync(c);
	ck_assert(!tc_seen(b, "to ops"));
	ck_assert(!tc_seen(c, "to "));
}
END_TEST

/* MODE lines. */

START_TEST(test_chat_modes_line)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");
	const char *l;

	tc_join(a, "#c");
	tc_join(b, "#c");
	tc_join(c, "#c");
	/* Parameters are taken in the order of the letters needing them. */
	tc_send(a, "MODE #c +ovk-t+l b c key 5");
	tc_expect(c, " MODE ", ":a!a@127.0.0.1 MODE #c +ovk-t+l b c key 5");
	tc_wait(a, " MODE #c +ovk-t+l ");
	tc_send(a, "MODE #c -l+imns");
	tc_expect(a, " MODE ", ":a!a@127.0.0.1 MODE #c -l+ims");
	tc_send(a, "MODE #c");
	tc_expect(a, " 324 ", ":evsockd 324 a #c +ikmns key");
	l = tc_wait(a, " 329 ");
	ck_assert_msg(strncmp(l, ":evsockd 329 a #c ", 18) == 0, "%s", l);
	/* At most MODES=6 parameters per line; the rest is ignored. */
	tc_send(a, "MODE #c +bbbbbbb m1 m2 m3 m4 m5 m6 m7");
	tc_expect(a, " MODE ",
	    ":a!a@127.0.0.1 MODE #c +bbbbbb m1!*@* m2!*@* "
	    "m3!*@* m4!*@* m5!*@* m6!*@*");
	tc_send(a, "MODE #c +xq");
	tc_expect(a, " 472 ", ":evsockd 472 a x :is unknown mode char to me");
	tc_wait(a, " 472 a q ");
	tc_send(c, "MODE #c +m");
	tc_expect(c, " 482 ", ":evsockd 482 c #c :You're not channel operator");
	tc_send(a, "MODE #c +o nobody");
	tc_wait(a, " 401 a nobody ");
	tc_send(a, "VERSION");
	l = tc_wait(a, " CHANMODES=");
	ck_assert_ptr_nonnull(strstr(l, " CHANMODES=beI,k,l,Cimnst "));
	ck_assert_ptr_nonnull(strstr(l, " EXCEPTS=e INVEX=I KEYLEN=32 "));
	l = tc_wait(a, " MAXLIST=");
	ck_assert_ptr_nonnull(strstr(l, " MAXLIST=beI:100 MODES=6 "));
	ck_assert_ptr_nonnull(strstr(l, " PREFIX=(ov)@+ STATUSMSG=@+ "));
}
END_TEST

/* Sends LIST param from t and returns the channels of its 322 lines,
   space-separated and sorted by name, in buf. */
static const char *
list_of(struct tc *t, const char *param, char *buf, size_t len)
{
	char *names[16];
	size_t n = 0, i, j, o = 0;
	size_t mark = t->pos;

	tc_send(t, "LIST %s", param);
	tc_wait(t, " 323 ");
	for (i = mark; i < t->pos && n < 16; i++) {
		char *p = strstr(t->lines[i], " 322 ");

		if (p != NULL)
			names[n++] = strchr(p + 5, ' ') + 1;
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *x = names[j];

			names[j] = names[j - 1];
			names[j - 1] = x;
		}
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%.*s", i ? " " : "",
		    (int)strcspn(names[i], " "), names[i]);
	return buf;
}

/* LIST with ELIST=MNU: masks, negated masks, member counts. */
START_TEST(test_chat_modes_list_filters)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	char buf[256];

	tc_join(a, "#chan1");
	tc_join(a, "#chan2");
	tc_join(b, "#chan2");
	tc_join(a, "#other");
	ck_assert_str_eq(list_of(b, "*an1,#o*", buf, sizeof(buf)),
	    "#chan1 #other");
	ck_assert_str_eq(list_of(b, "!#ch*", buf, sizeof(buf)), "#other");
	ck_assert_str_eq(list_of(b, ">1", buf, sizeof(buf)), "#chan2");
	ck_assert_str_eq(list_of(b, "#ch*,<2", buf, sizeof(buf)), "#chan1");
	ck_assert_str_eq(list_of(b, "#chan2,#none", buf, sizeof(buf)),
	    "#chan2");
	ck_assert_str_eq(list_of(b, "<1", buf, sizeof(buf)), "");
	tc_send(b, "VERSION");
	tc_wait(b, " ELIST=MNU ");
}
END_TEST

/* KICK with lists: one channel and many users, or pairs in order. */
START_TEST(test_chat_modes_kick_lists)
{
	struct tc *a = tc_register("a"), *b = tc_register("b");
	struct tc *c = tc_register("c");

	tc_join(a, "#c");
	tc_join(a, "#d");
	tc_join(b, "#c");
	tc_join(c, "#c");
	tc_join(c, "#d");
	tc_send(a, "KICK #c b,c :out");
	tc_expect(a, " KICK ", ":a!a@127.0.0.1 KICK #c b :out");
	tc_expect(a, " KICK ", ":a!a@127.0.0.1 KICK #c c :out");
	tc_join(b, "#c");
	tc_send(a, "KICK #c,#d b,c :pairs");
	tc_expect(a, " KICK ", ":a!a@127.0.0.1 KICK #c b :pairs");
	tc_expect(a, " KICK ", ":a!a@127.0.0.1 KICK #d c :pairs");
	tc_send(b, "KICK #d a");
	tc_expect(b, " 442 ", ":evsockd 442 b #d :You're not on that channel");
}
END_TEST

static Suite *
chat_modes_suite(void)
{
	Suite *s = suite_create("chat_modes");
	TCase *tc;

	tc = tcase_create("fixes");
	tcase_add_checked_fixture(tc, tc_chat_setup, tc_chat_teardown);
	tcase_add_test(tc, test_chat_modes_quit_at_once);
	tcase_add_test(tc, test_chat_modes_nul_answered);
	tcase_add_test(tc, test_chat_modes_targets);
	tcase_add_test(tc, test_chat_modes_lusers_registered_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("lists");
	tcase_add_checked_fixture(tc, tc_chat_setup, tc_chat_teardown);
	tcase_add_test(tc, test_chat_modes_ban);
	tcase_add_test(tc, test_chat_modes_list_full);
	tcase_add_test(tc, test_chat_modes_invite);
	suite_add_tcase(s, tc);

	tc = tcase_create("modes");
	tcase_add_checked_fixture(tc, tc_chat_setup, tc_chat_teardown);
	tcase_add_test(tc, test_chat_modes_key);
	tcase_add_test(tc, test_chat_modes_limit);
	tcase_add_test(tc, test_chat_modes_moderated);
	tcase_add_test(tc, test_chat_modes_secret);
	tcase_add_test(tc, test_chat_modes_no_ctcp);
	tcase_add_test(tc, test_chat_modes_statusmsg);
	tcase_add_test(tc, test_chat_modes_line);
	tcase_add_test(tc, test_chat_modes_kick_lists);
	tcase_add_test(tc, test_chat_modes_list_filters);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(chat_modes_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
