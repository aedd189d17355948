/* Integration: the client engine's outcomes on loopback. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include <evsock/evsock.h>

#include "harness.h"

struct outcome {
	int connected;
	int closed;
	int error;
	char reason[320];
};

static void
oc_connected(struct evs_client *cl, void *arg)
{
	struct outcome *o = arg;

	o->connected = 1;
	evs_client_close(cl);
}

static void
oc_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	struct outcome *o = arg;

	(void)cl;
	o->closed = 1;
	o->error = error;
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
}

static const struct evs_client_callbacks oc_cbs = {
	.connected = oc_connected,
	.closed = oc_closed,
};

static int
oc_done(void *arg)
{
	return ((struct outcome *)arg)->closed;
}

/* Returns a loopback port with nothing listening on it. */
static int
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

START_TEST(test_client_refused)
{
	struct event_base *base = event_base_new();
	struct outcome o = { 0 };
	struct evs_client *cl = evs_client_new(base, NULL, &oc_cbs, &o);
	char target[64];

	snprintf(target, sizeof(target), "127.0.0.1:%d", closed_port());
	ck_assert_int_eq(evs_client_connect(cl, target, 5000), 0);
	ck_assert(harness_loop_until(base, oc_done, &o, 10000));
	ck_assert(!o.connected);
	ck_assert_int_eq(o.error, ECONNREFUSED);
	ck_assert_msg(strstr(o.reason, target) != NULL, "%s", o.reason);
	ck_assert_msg(strstr(o.reason, "refused") != NULL, "%s", o.reason);
	evs_client_free(cl);
	event_base_free(base);
}
END_TEST

START_TEST(test_client_by_name_and_clean_close)
{
	struct event_base *base = event_base_new();
	struct evs_server *srv = evs_server_new(base);
	struct outcome o = { 0 };
	struct evs_client *cl = evs_client_new(base, NULL, &oc_cbs, &o);
	struct evs_listener *l;
	char target[64];

	l = evs_server_listen(srv, "127.0.0.1:0", evs_echo_service(), NULL,
	    NULL, 0);
	ck_assert_ptr_nonnull(l);
	/* "localhost" goes through the resolver (hosts file). */
	snprintf(target, sizeof(target), "localhost:%d", evs_listener_port(l));
	ck_assert_int_eq(evs_client_connect(cl, target, 5000), 0);
	ck_assert(harness_loop_until(base, oc_done, &o, 10000));
	ck_assert_msg(o.connected, "%s", o.reason);
	ck_assert_int_eq(o.error, 0);
	evs_client_free(cl);
	evs_server_free(srv);
	event_base_free(base);
}
END_TEST

START_TEST(test_client_timeout)
{
	struct event_base *base = event_base_new();
	struct outcome o = { 0 };
	struct evs_client *cl = evs_client_new(base, NULL, &oc_cbs, &o);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char target[64];
	int lfd, fill[8], nfill = 0;
	uint64_t t0;

	/* A listener that never accepts, its backlog filled: further
	   connects stay pending, so the deadline must fire. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	for (int i = 0; i < 8; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		fill[nfill++] = fd;
	}
	snprintf(target, sizeof(target), "127.0.0.1:%d", ntohs(sin.sin_port));
	t0 = harness_now_ms();
	ck_assert_int_eq(evs_client_connect(cl, target, 300), 0);
	ck_assert(harness_loop_until(base, oc_done, &o, 10000));
	if (o.connected) {
		/* This kernel completed the handshake anyway; nothing to
		   time out here. */
		for (int i = 0; i < nfill; i++)
			close(fill[i]);
		close(lfd);
		evs_client_free(cl);
		event_base_free(base);
		return;
	}
	ck_assert_int_eq(o.error, ETIMEDOUT);
	ck_assert_msg(strstr(o.reason, "timed out") != NULL, "%s", o.reason);
	ck_assert_uint_ge(harness_now_ms() - t0, 250);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
	evs_client_free(cl);
	event_base_free(base);
}
END_TEST

START_TEST(test_client_malformed_target)
{
	struct event_base *base = event_base_new();
	struct outcome o = { 0 };
	struct evs_client *cl = evs_client_new(base, NULL, &oc_cbs, &o);

	ck_assert_int_eq(evs_client_connect(cl, "no-port", 1000), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(evs_client_connect(cl, "127.0.0.1:0", 1000), -1);
	evs_client_free(cl);
	event_base_free(base);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("connect");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_client_refused);
	tcase_add_test(tc, test_client_by_name_and_clean_close);
	tcase_add_test(tc, test_client_timeout);
	tcase_add_test(tc, test_client_malformed_target);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
