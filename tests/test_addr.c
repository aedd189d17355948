#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../common/addr.h"

START_TEST(test_addr_split_ipv4)
{
	char host[ADDR_HOST_MAX];
	const char *err = NULL;
	int port = -1;

	ck_assert_int_eq(addr_split("127.0.0.1:7007", host, sizeof(host), &port,
	                     &err),
	    0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 7007);
	ck_assert_int_eq(addr_split("localhost:0", host, sizeof(host), &port,
	                     &err),
	    0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(port, 0);
	ck_assert_int_eq(addr_split("h:65535", host, sizeof(host), &port, &err),
	    0);
	ck_assert_int_eq(port, 65535);
}
END_TEST

START_TEST(test_addr_split_ipv6)
{
	char host[ADDR_HOST_MAX];
	const char *err = NULL;
	int port = -1;

	ck_assert_int_eq(addr_split("[::1]:7007", host, sizeof(host), &port,
	                     &err),
	    0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 7007);
	ck_assert_int_eq(addr_split("[fe80::1:2]:1", host, sizeof(host), &port,
	                     &err),
	    0);
	ck_assert_str_eq(host, "fe80::1:2");
}
END_TEST

START_TEST(test_addr_split_malformed)
{
	static const char *const bad[] = {
		"",
		"127.0.0.1",
		"127.0.0.1:",
		":7007",
		"host:65536",
		"host:-1",
		"host:7a",
		"host:123456",
		"::1:7007",
		"[::1]7007",
		"[::1",
		"[]:1",
		"[127.0.0.1]:1",
		"a b:1",
		"host:+1",
		"host: 1",
		"ho/st:1",
	};
	char host[ADDR_HOST_MAX];
	int port;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;
		ck_assert_msg(addr_split(bad[i], host, sizeof(host), &port,
		                  &err) == -1,
		    "accepted '%s'", bad[i]);
		ck_assert_ptr_nonnull(err);
	}
}
END_TEST

START_TEST(test_addr_split_long_host)
{
	char host[16], in[64];
	const char *err = NULL;
	int port;

	memset(in, 'a', 40);
	strcpy(in + 40, ":80");
	ck_assert_int_eq(addr_split(in, host, sizeof(host), &port, &err), -1);
	ck_assert_str_eq(err, "host name too long");
}
END_TEST

START_TEST(test_addr_split_listen)
{
	char svc[ADDR_SERVICE_MAX], host[ADDR_HOST_MAX];
	const char *err = NULL;
	int port;

	ck_assert_int_eq(addr_split_listen("echo=127.0.0.1:0", svc, sizeof(svc),
	                     host, sizeof(host), &port, &err),
	    0);
	ck_assert_str_eq(svc, "echo");
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 0);
	ck_assert_int_eq(addr_split_listen("chat=[::1]:6667", svc, sizeof(svc),
	                     host, sizeof(host), &port, &err),
	    0);
	ck_assert_str_eq(svc, "chat");
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(addr_split_listen("127.0.0.1:1", svc, sizeof(svc),
	                     host, sizeof(host), &port, &err),
	    -1);
	ck_assert_int_eq(addr_split_listen("=127.0.0.1:1", svc, sizeof(svc),
	                     host, sizeof(host), &port, &err),
	    -1);
	ck_assert_int_eq(addr_split_listen("Echo!=h:1", svc, sizeof(svc), host,
	                     sizeof(host), &port, &err),
	    -1);
	ck_assert_int_eq(addr_split_listen("echo=h", svc, sizeof(svc), host,
	                     sizeof(host), &port, &err),
	    -1);
}
END_TEST

START_TEST(test_addr_format)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char buf[64];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(41234);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ck_assert_str_eq(addr_format((struct sockaddr *)&sin, buf, sizeof(buf)),
	    "127.0.0.1:41234");
	ck_assert_int_eq(addr_port((struct sockaddr *)&sin), 41234);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(7007);
	sin6.sin6_addr = in6addr_loopback;
	ck_assert_str_eq(addr_format((struct sockaddr *)&sin6, buf,
	                     sizeof(buf)),
	    "[::1]:7007");
	ck_assert_str_eq(addr_format_host((struct sockaddr *)&sin6, buf,
	                     sizeof(buf)),
	    "::1");
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc;

	tc = tcase_create("split");
	tcase_add_test(tc, test_addr_split_ipv4);
	tcase_add_test(tc, test_addr_split_ipv6);
	tcase_add_test(tc, test_addr_split_malformed);
	tcase_add_test(tc, test_addr_split_long_host);
	suite_add_tcase(s, tc);
	tc = tcase_create("listen");
	tcase_add_test(tc, test_addr_split_listen);
	suite_add_tcase(s, tc);
	tc = tcase_create("format");
	tcase_add_test(tc, test_addr_format);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
