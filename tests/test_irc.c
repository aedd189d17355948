/* Unit: IRC message parsing and formatting, casemapping, names. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../common/irc.h"

/* Parses a copy of s (with its spare byte) into m; the copy lives in
   a static buffer until the next call. */
static int
parse(const char *s, size_t len, struct irc_msg *m)
{
	static char buf[8192];

	ck_assert_uint_lt(len, sizeof(buf));
	memcpy(buf, s, len);
	return irc_parse(buf, len, m);
}

static int
parse_str(const char *s, struct irc_msg *m)
{
	return parse(s, strlen(s), m);
}

START_TEST(test_irc_parse_command_and_params)
{
	struct irc_msg m;

	ck_assert_int_eq(parse_str("privmsg #chan :hello world", &m),
	    IRC_PARSE_OK);
	ck_assert_ptr_null(m.prefix);
	ck_assert_str_eq(m.command, "PRIVMSG");
	ck_assert_int_eq(m.nparams, 2);
	ck_assert_str_eq(m.params[0], "#chan");
	ck_assert_str_eq(m.params[1], "hello world");
	ck_assert_int_eq(m.trailing, 1);

	ck_assert_int_eq(parse_str("USER guest 0 * :Real Name", &m),
	    IRC_PARSE_OK);
	ck_assert_int_eq(m.nparams, 4);
	ck_assert_str_eq(m.params[2], "*");
	ck_assert_str_eq(m.params[3], "Real Name");

	ck_assert_int_eq(parse_str("NICK alice", &m), IRC_PARSE_OK);
	ck_assert_int_eq(m.nparams, 1);
	ck_assert_int_eq(m.trailing, 0);
	ck_assert_str_eq(m.params[0], "alice");
}
END_TEST

START_TEST(test_irc_parse_prefix_and_tags)
{
	struct irc_msg m;

	ck_assert_int_eq(parse_str(":nick!u@h PRIVMSG bob :hi", &m),
	    IRC_PARSE_OK);
	ck_assert_str_eq(m.prefix, "nick!u@h");
	ck_assert_str_eq(m.command, "PRIVMSG");
	ck_assert_str_eq(m.params[0], "bob");

	ck_assert_int_eq(parse_str("@time=2020-01-01T00:00:00Z;a=b :srv 001 "
	                           "me :Welcome",
	                     &m),
	    IRC_PARSE_OK);
	ck_assert_str_eq(m.prefix, "srv");
	ck_assert_str_eq(m.command, "001");
	ck_assert_int_eq(m.nparams, 2);
	ck_assert_str_eq(m.params[1], "Welcome");

	ck_assert_int_eq(parse_str("@a=b PING x", &m), IRC_PARSE_OK);
	ck_assert_ptr_null(m.prefix);
	ck_assert_str_eq(m.command, "PING");
}
END_TEST

START_TEST(test_irc_parse_trailing_forms)
{
	struct irc_msg m;

	/* "JOIN :" has one empty parameter, as irssi sends it. */
	ck_assert_int_eq(parse_str("JOIN :", &m), IRC_PARSE_OK);
	ck_assert_int_eq(m.nparams, 1);
	ck_assert_str_eq(m.params[0], "");

	ck_assert_int_eq(parse_str("PRIVMSG #c ::-) a  b ", &m), IRC_PARSE_OK);
	ck_assert_str_eq(m.params[1], ":-) a  b ");

	/* Extra spaces between parameters are one separator. */
	ck_assert_int_eq(parse_str("  MODE   #c   +o   bob  ", &m),
	    IRC_PARSE_OK);
	ck_assert_int_eq(m.nparams, 3);
	ck_assert_str_eq(m.params[2], "bob");
}
END_TEST

START_TEST(test_irc_parse_fifteen_params)
{
	struct irc_msg m;

	ck_assert_int_eq(parse_str("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 "
	                           "16 17",
	                     &m),
	    IRC_PARSE_OK);
	ck_assert_int_eq(m.nparams, IRC_MAX_PARAMS);
	ck_assert_str_eq(m.params[13], "14");
	ck_assert_str_eq(m.params[14], "15 16 17");
}
END_TEST

START_TEST(test_irc_parse_empty)
{
	struct irc_msg m;

	ck_assert_int_eq(parse_str("", &m), IRC_PARSE_EMPTY);
	ck_assert_int_eq(parse_str("    ", &m), IRC_PARSE_EMPTY);
	ck_assert_int_eq(parse_str(":prefix.only", &m), IRC_PARSE_EMPTY);
	ck_assert_int_eq(parse_str("@tags=only", &m), IRC_PARSE_EMPTY);
	ck_assert_int_eq(parse_str(":p ", &m), IRC_PARSE_EMPTY);
}
END_TEST

START_TEST(test_irc_parse_nul_and_cr)
{
	struct irc_msg m;

	ck_assert_int_eq(parse("PRIVMSG #c :a\0b", 15, &m), IRC_PARSE_BADCHAR);
	ck_assert_int_eq(parse("\0", 1, &m), IRC_PARSE_BADCHAR);
	ck_assert_int_eq(parse("PRIVMSG #c :a\rb", 15, &m), IRC_PARSE_BADCHAR);
	/* The next line parses normally: no state is carried over. */
	ck_assert_int_eq(parse_str("PING :x", &m), IRC_PARSE_OK);
	ck_assert_str_eq(m.params[0], "x");
}
END_TEST

START_TEST(test_irc_parse_invalid_utf8)
{
	struct irc_msg m;
	const char s[] = "PRIVMSG #c :\xff\xfe\xc3 \x80\xed\xa0\x80";

	ck_assert_int_eq(parse(s, sizeof(s) - 1, &m), IRC_PARSE_OK);
	ck_assert_int_eq(m.nparams, 2);
	ck_assert_str_eq(m.params[1], "\xff\xfe\xc3 \x80\xed\xa0\x80");
}
END_TEST

/* Every byte string of a few lengths parses or is refused; none
   crashes and all results point inside the line. */
START_TEST(test_irc_parse_random_bytes)
{
	static const char alphabet[] = { ' ', ':', '@', 'a', 'B', '#', '\0',
		'\r', '\xff', '\x80', '!', ',' };
	uint64_t x = 88172645463325252ULL;

	for (int round = 0; round < 20000; round++) {
		char line[64];
		size_t len = (size_t)(round % 40);
		struct irc_msg m;

		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			line[i] = alphabet[x % sizeof(alphabet)];
		}
		if (parse(line, len, &m) == IRC_PARSE_OK) {
			ck_assert_ptr_nonnull(m.command);
			ck_assert_int_le(m.nparams, IRC_MAX_PARAMS);
			ck_assert_uint_gt(strlen(m.command), 0);
		}
	}
}
END_TEST

START_TEST(test_irc_format_crlf_and_limit)
{
	char buf[IRC_LINE_MAX + 1], big[2000];
	size_t n;

	n = irc_format(buf, sizeof(buf), IRC_LINE_MAX, ":%s PRIVMSG %s :%s",
	    "a!b@c", "#x", "hi");
	ck_assert_uint_eq(n, strlen(":a!b@c PRIVMSG #x :hi\r\n"));
	ck_assert_int_eq(memcmp(buf, ":a!b@c PRIVMSG #x :hi\r\n", n), 0);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = irc_format(buf, sizeof(buf), IRC_LINE_MAX, "PRIVMSG #x :%s", big);
	ck_assert_uint_eq(n, IRC_LINE_MAX);
	ck_assert_int_eq(buf[n - 2], '\r');
	ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

START_TEST(test_irc_format_strips_line_breaks)
{
	char buf[64];
	size_t n;

	n = irc_format(buf, sizeof(buf), sizeof(buf), "PRIVMSG #x :%s",
	    "a\rb\nc");
	ck_assert_uint_eq(n, strlen("PRIVMSG #x :a b c\r\n"));
	ck_assert_int_eq(memcmp(buf, "PRIVMSG #x :a b c\r\n", n), 0);
}
END_TEST

START_TEST(test_irc_format_utf8_cut)
{
	char buf[16];
	size_t n;

	/* 10 bytes of room: "abcdefgh" + half of "é" must drop the half. */
	n = irc_format(buf, sizeof(buf), 12, "abcdefghi\xc3\xa9");
	ck_assert_uint_eq(n, 11);
	ck_assert_int_eq(memcmp(buf, "abcdefghi\r\n", 11), 0);
	n = irc_format(buf, sizeof(buf), 12, "abcdefgh\xc3\xa9z");
	ck_assert_uint_eq(n, 12);
	ck_assert_int_eq(memcmp(buf, "abcdefgh\xc3\xa9\r\n", 12), 0);
	/* A four-byte sequence cut after two bytes goes entirely. */
	n = irc_format(buf, sizeof(buf), 12, "abcdefgh\xf0\x9f\x98\x80");
	ck_assert_uint_eq(n, 10);
}
END_TEST

START_TEST(test_irc_build_trailing_rules)
{
	char buf[IRC_LINE_MAX + 1];
	const char *p1[] = { "#c", "hello world" };
	const char *p2[] = { "#c", "word" };
	const char *p3[] = { "#c", "" };
	const char *p4[] = { "#c", ":colon" };
	const char *bad[] = { "a b", "x" };
	size_t n;

	n = irc_build(buf, sizeof(buf), IRC_LINE_MAX, "me!u@h", "PRIVMSG", 2,
	    p1);
	ck_assert_int_eq(memcmp(buf, ":me!u@h PRIVMSG #c :hello world\r\n", n),
	    0);
	n = irc_build(buf, sizeof(buf), IRC_LINE_MAX, NULL, "TOPIC", 2, p2);
	ck_assert_int_eq(memcmp(buf, "TOPIC #c word\r\n", n), 0);
	n = irc_build(buf, sizeof(buf), IRC_LINE_MAX, NULL, "TOPIC", 2, p3);
	ck_assert_int_eq(memcmp(buf, "TOPIC #c :\r\n", n), 0);
	n = irc_build(buf, sizeof(buf), IRC_LINE_MAX, NULL, "TOPIC", 2, p4);
	ck_assert_int_eq(memcmp(buf, "TOPIC #c ::colon\r\n", n), 0);
	ck_assert_uint_eq(irc_build(buf, sizeof(buf), IRC_LINE_MAX, NULL, "X",
	                      2, bad),
	    0);
}
END_TEST

START_TEST(test_irc_build_roundtrip)
{
	char buf[IRC_LINE_MAX + 1];
	const char *p[] = { "#chan", "some text: with colon" };
	struct irc_msg m;
	size_t n;

	n = irc_build(buf, sizeof(buf), IRC_LINE_MAX, "srv", "NOTICE", 2, p);
	ck_assert_int_eq(irc_parse(buf, n - 2, &m), IRC_PARSE_OK);
	ck_assert_str_eq(m.prefix, "srv");
	ck_assert_str_eq(m.command, "NOTICE");
	ck_assert_str_eq(m.params[1], "some text: with colon");
}
END_TEST

START_TEST(test_irc_casemapping_ascii)
{
	char low[32];

	ck_assert_int_eq(irc_casecmp("Alice", "aLICE"), 0);
	ck_assert_int_ne(irc_casecmp("alice", "alicf"), 0);
	/* ascii casemapping: []\~ are not folded to {}|^. */
	ck_assert_int_ne(irc_casecmp("a[b]", "a{b}"), 0);
	ck_assert_int_ne(irc_casecmp("\xc3\x89", "\xc3\xa9"), 0);
	irc_strlower(low, "#MiXeD[]", sizeof(low));
	ck_assert_str_eq(low, "#mixed[]");
	irc_strlower(low, "ABCDEFG", 4);
	ck_assert_str_eq(low, "abc");
	ck_assert_uint_eq(irc_casehash("#Chan"), irc_casehash("#cHAN"));
}
END_TEST

START_TEST(test_irc_valid_nick)
{
	ck_assert(irc_valid_nick("alice"));
	ck_assert(irc_valid_nick("[bot]"));
	ck_assert(irc_valid_nick("a-1_^{|}`\\"));
	ck_assert(irc_valid_nick("abcdefghijabcdefghijabcdefghij"));
	ck_assert(!irc_valid_nick("abcdefghijabcdefghijabcdefghijk"));
	ck_assert(!irc_valid_nick(""));
	ck_assert(!irc_valid_nick("1abc"));
	ck_assert(!irc_valid_nick("-abc"));
	ck_assert(!irc_valid_nick("#chan"));
	ck_assert(!irc_valid_nick("a b"));
	ck_assert(!irc_valid_nick("a,b"));
	ck_assert(!irc_valid_nick("a!b"));
	ck_assert(!irc_valid_nick("a@b"));
	ck_assert(!irc_valid_nick(":a"));
	ck_assert(!irc_valid_nick("\xc3\xa9t\xc3\xa9"));
}
END_TEST

START_TEST(test_irc_valid_channel)
{
	char name[IRC_CHANNEL_MAX + 2];

	ck_assert(irc_valid_channel("#chan"));
	ck_assert(irc_valid_channel("#\xc3\xa9t\xc3\xa9"));
	ck_assert(irc_valid_channel("#a:b"));
	ck_assert(!irc_valid_channel("#"));
	ck_assert(!irc_valid_channel("chan"));
	ck_assert(!irc_valid_channel("&chan"));
	ck_assert(!irc_valid_channel("#a,b"));
	ck_assert(!irc_valid_channel("#a b"));
	ck_assert(!irc_valid_channel("#a\007b"));
	/* CHANNELLEN=50 counts the '#'. */
	memset(name, 'x', sizeof(name));
	name[0] = '#';
	name[IRC_CHANNEL_MAX] = '\0';
	ck_assert(irc_valid_channel(name));
	name[IRC_CHANNEL_MAX] = 'x';
	name[IRC_CHANNEL_MAX + 1] = '\0';
	ck_assert(!irc_valid_channel(name));
}
END_TEST

START_TEST(test_irc_secret_equal)
{
	ck_assert(irc_secret_equal("hunter2", "hunter2"));
	ck_assert(!irc_secret_equal("hunter", "hunter2"));
	ck_assert(!irc_secret_equal("hunter22", "hunter2"));
	ck_assert(!irc_secret_equal("hunter3", "hunter2"));
	ck_assert(!irc_secret_equal("", "x"));
	ck_assert(!irc_secret_equal("x", ""));
	ck_assert(irc_secret_equal("", ""));
}
END_TEST

/* A comma list splits into its items; empty items are skipped and the
   list itself is left as it was. */
START_TEST(test_irc_list_next_items)
{
	const char *list = ",#a,,#bb,c,", *p = list;
	char item[8];

	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 2);
	ck_assert_str_eq(item, "#a");
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 3);
	ck_assert_str_eq(item, "#bb");
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 1);
	ck_assert_str_eq(item, "c");
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 0);
	ck_assert_str_eq(item, "");
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 0);
	ck_assert_str_eq(list, ",#a,,#bb,c,");

	p = "";
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 0);
	p = "alone";
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 5);
	ck_assert_str_eq(item, "alone");
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 0);
}
END_TEST

/* An item longer than the buffer is cut, and the next one still
   starts at its own comma. */
START_TEST(test_irc_list_next_truncates)
{
	const char *p = "abcdefghij,k";
	char item[5];

	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 4);
	ck_assert_str_eq(item, "abcd");
	ck_assert_uint_eq(irc_list_next(&p, item, sizeof(item)), 1);
	ck_assert_str_eq(item, "k");
}
END_TEST

START_TEST(test_irc_tags_parsed)
{
	struct irc_msg m;

	ck_assert_int_eq(parse_str("@label=1;+x=a\\sb :p PRIVMSG #c :hi", &m),
	    IRC_PARSE_OK);
	ck_assert_str_eq(m.tags, "label=1;+x=a\\sb");
	ck_assert_str_eq(m.prefix, "p");
	ck_assert_str_eq(m.command, "PRIVMSG");
	ck_assert_int_eq(parse_str("PING x", &m), IRC_PARSE_OK);
	ck_assert_ptr_null(m.tags);
	ck_assert_int_eq(parse_str("@a=b", &m), IRC_PARSE_EMPTY);
}
END_TEST

START_TEST(test_irc_tags_escape_roundtrip)
{
	char esc[64], raw[64];
	size_t n;

	n = irc_tag_escape(esc, sizeof(esc), "a;b c\\d\r\ne");
	ck_assert_str_eq(esc, "a\\:b\\sc\\\\d\\r\\ne");
	ck_assert_uint_eq(n, strlen(esc));
	irc_tag_unescape(raw, sizeof(raw), esc, n);
	ck_assert_str_eq(raw, "a;b c\\d\r\ne");
	/* An unknown escape gives the character; a lone '\' goes. */
	irc_tag_unescape(raw, sizeof(raw), "\\b\\", 3);
	ck_assert_str_eq(raw, "b");
	ck_assert_uint_eq(irc_tag_escape(esc, 4, "a;b"), (size_t)-1);
	/* Cut to fit, always terminated. */
	ck_assert_uint_eq(irc_tag_unescape(raw, 3, "abcdef", 6), 2);
	ck_assert_str_eq(raw, "ab");
}
END_TEST

START_TEST(test_irc_tags_walk_and_get)
{
	const char *p = "a=1;;b;c=x\\:y;a=2", *k, *v;
	size_t kl, vl;
	char val[16];

	ck_assert_int_eq(irc_tag_next(&p, &k, &kl, &v, &vl), 1);
	ck_assert_uint_eq(kl, 1);
	ck_assert_uint_eq(vl, 1);
	ck_assert_int_eq(irc_tag_next(&p, &k, &kl, &v, &vl), 1);
	ck_assert_int_eq(k[0], 'b');
	ck_assert_uint_eq(vl, 0);
	ck_assert_int_eq(irc_tag_next(&p, &k, &kl, &v, &vl), 1);
	ck_assert_int_eq(irc_tag_next(&p, &k, &kl, &v, &vl), 1);
	ck_assert_int_eq(irc_tag_next(&p, &k, &kl, &v, &vl), 0);
	ck_assert_int_eq(irc_tag_get("a=1;c=x\\:y;a=2", "a", val, sizeof(val)),
	    1);
	ck_assert_str_eq(val, "2");
	ck_assert_int_eq(irc_tag_get("a=1;c=x\\:y", "c", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "x;y");
	ck_assert_int_eq(irc_tag_get("a=1", "b", val, sizeof(val)), 0);
	ck_assert_int_eq(irc_tag_get(NULL, "b", val, sizeof(val)), 0);
}
END_TEST

START_TEST(test_irc_tags_key_rules)
{
	ck_assert_int_eq(irc_tag_key_valid("+draft/reply", 12), 1);
	ck_assert_int_eq(irc_tag_key_valid("example.com/x-y", 15), 1);
	ck_assert_int_eq(irc_tag_key_valid("msgid", 5), 1);
	ck_assert_int_eq(irc_tag_key_valid("+", 1), 0);
	ck_assert_int_eq(irc_tag_key_valid("", 0), 0);
	ck_assert_int_eq(irc_tag_key_valid("a b", 3), 0);
	ck_assert_int_eq(irc_tag_key_valid("/x", 2), 0);
	ck_assert_int_eq(irc_tag_key_valid("x/", 2), 0);
	ck_assert_int_eq(irc_tag_key_valid("+a+b", 4), 0);
}
END_TEST

START_TEST(test_irc_tags_client_only)
{
	char out[64];

	/* Server tags go; values come back normalized. */
	irc_tags_client(out, sizeof(out),
	    "+buzz=fizz\\:buzz;cat=dog;+steel=wootz;+bad key=1;+e=;+f");
	ck_assert_str_eq(out, "+buzz=fizz\\:buzz;+steel=wootz;+e;+f");
	irc_tags_client(out, sizeof(out), "label=1;msgid=x");
	ck_assert_str_eq(out, "");
	irc_tags_client(out, sizeof(out), NULL);
	ck_assert_str_eq(out, "");
	/* What does not fit is left out, never cut; exactly full fits. */
	irc_tags_client(out, 12, "+a=12345;+b=123456789");
	ck_assert_str_eq(out, "+a=12345");
	ck_assert_uint_eq(irc_tags_client(out, 9, "+a=12345"), 8);
	ck_assert_uint_eq(irc_tags_client(out, 8, "+a=12345"), 0);
}
END_TEST

START_TEST(test_irc_time_format_parse)
{
	char buf[32];
	int64_t ms;

	ck_assert_uint_eq(irc_time_format(buf, sizeof(buf), 1577836800123LL),
	    24);
	ck_assert_str_eq(buf, "2020-01-01T00:00:00.123Z");
	ck_assert_int_eq(irc_time_parse(buf, &ms), 0);
	ck_assert_int_eq(ms, 1577836800123LL);
	ck_assert_int_eq(irc_time_parse("2020-01-01T00:00:01Z", &ms), 0);
	ck_assert_int_eq(ms, 1577836801000LL);
	ck_assert_int_eq(irc_time_parse("2020-01-01T00:00:01.5Z", &ms), 0);
	ck_assert_int_eq(ms, 1577836801500LL);
	ck_assert_int_eq(irc_time_parse("2020-01-01T00:00:01.123456Z", &ms), 0);
	ck_assert_int_eq(ms, 1577836801123LL);
	ck_assert_int_eq(irc_time_parse("yesterday", &ms), -1);
	ck_assert_int_eq(irc_time_parse("2020-13-01T00:00:00Z", &ms), -1);
	ck_assert_int_eq(irc_time_parse("2020-01-01T00:00:00.Z", &ms), -1);
	ck_assert_int_eq(irc_time_parse("2020-01-01T00:00:00Zx", &ms), -1);
	ck_assert_uint_eq(irc_time_format(buf, 10, 0), 0);
}
END_TEST

static Suite *
irc_suite(void)
{
	Suite *s = suite_create("irc");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_irc_parse_command_and_params);
	tcase_add_test(tc, test_irc_parse_prefix_and_tags);
	tcase_add_test(tc, test_irc_parse_trailing_forms);
	tcase_add_test(tc, test_irc_parse_fifteen_params);
	tcase_add_test(tc, test_irc_parse_empty);
	suite_add_tcase(s, tc);
	tc = tcase_create("malformed");
	tcase_add_test(tc, test_irc_parse_nul_and_cr);
	tcase_add_test(tc, test_irc_parse_invalid_utf8);
	tcase_add_test(tc, test_irc_parse_random_bytes);
	suite_add_tcase(s, tc);
	tc = tcase_create("format");
	tcase_add_test(tc, test_irc_format_crlf_and_limit);
	tcase_add_test(tc, test_irc_format_strips_line_breaks);
	tcase_add_test(tc, test_irc_format_utf8_cut);
	tcase_add_test(tc, test_irc_build_trailing_rules);
	tcase_add_test(tc, test_irc_build_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, test_irc_casemapping_ascii);
	tcase_add_test(tc, test_irc_valid_nick);
	tcase_add_test(tc, test_irc_valid_channel);
	tcase_add_test(tc, test_irc_secret_equal);
	suite_add_tcase(s, tc);
	tc = tcase_create("list");
	tcase_add_test(tc, test_irc_list_next_items);
	tcase_add_test(tc, test_irc_list_next_truncates);
	suite_add_tcase(s, tc);
	tc = tcase_create("tags");
	tcase_add_test(tc, test_irc_tags_parsed);
	tcase_add_test(tc, test_irc_tags_escape_roundtrip);
	tcase_add_test(tc, test_irc_tags_walk_and_get);
	tcase_add_test(tc, test_irc_tags_key_rules);
	tcase_add_test(tc, test_irc_tags_client_only);
	tcase_add_test(tc, test_irc_time_format_parse);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(irc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
