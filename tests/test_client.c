/* Integration: the client engine's outcomes on loopback. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
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

struct early {
	char got[64];
	size_t len;
	int closed;
};

static void
early_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct early *e = arg;
	size_t n = evbuffer_get_length(in);

	if (n > sizeof(e->got) - 1 - e->len)
		n = sizeof(e->got) - 1 - e->len;
	evbuffer_remove(in, e->got + e->len, n);
	e->len += n;
	if (e->len >= 12)
		evs_client_close(cl);
}

static void
early_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	(void)cl;
	(void)error;
	(void)reason;
	((struct early *)arg)->closed = 1;
}

static const struct evs_client_callbacks early_cbs = {
	.data = early_data,
	.closed = early_closed,
};

static int
early_done(void *arg)
{
	return ((struct early *)arg)->closed;
}

/* A DNS server on loopback UDP, in this process, that answers every
   name with ::1 (AAAA) and 127.0.0.1 (A): resolving is asynchronous. */
static void
dns_answer(struct evdns_server_request *req, void *arg)
{
	struct in_addr v4 = { htonl(INADDR_LOOPBACK) };
	struct in6_addr v6 = IN6ADDR_LOOPBACK_INIT;

	(void)arg;
	for (int i = 0; i < req->nquestions; i++) {
		const struct evdns_server_question *q = req->questions[i];

		if (q->type == EVDNS_TYPE_A)
			evdns_server_request_add_a_reply(req, q->name, 1, &v4,
			    10);
		else if (q->type == EVDNS_TYPE_AAAA)
			evdns_server_request_add_aaaa_reply(req, q->name, 1,
			    &v6, 10);
	}
	evdns_server_request_respond(req, 0);
}

/* Bytes sent while the name resolves and while the connection is made
   are kept, in order, and sent once it is up, also when the first
   address (::1, where nothing listens) refuses and the next is tried. */
START_TEST(test_client_send_before_connected)
{
	struct event_base *base = event_base_new();
	struct evs_server *srv = evs_server_new(base);
	struct evdns_base *dns = evdns_base_new(base, 0);
	struct evdns_server_port *dport;
	struct early e = { .len = 0 };
	struct evs_client *cl = evs_client_new(base, dns, &early_cbs, &e);
	struct evs_listener *l;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char target[64], ns[64];
	int ufd;

	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(ufd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(ufd, (struct sockaddr *)&sin, &slen), 0);
	dport = evdns_add_server_port_with_base(base, ufd, 0, dns_answer, NULL);
	ck_assert_ptr_nonnull(dport);
	snprintf(ns, sizeof(ns), "127.0.0.1:%d", ntohs(sin.sin_port));
	ck_assert_int_eq(evdns_base_nameserver_ip_add(dns, ns), 0);

	ck_assert_int_eq(evs_client_send(cl, "x", 1), -1);
	l = evs_server_listen(srv, "127.0.0.1:0", evs_echo_service(), NULL,
	    NULL, 0);
	ck_assert_ptr_nonnull(l);
	snprintf(target, sizeof(target), "echo.evsock.test:%d",
	    evs_listener_port(l));
	ck_assert_int_eq(evs_client_connect(cl, target, 5000), 0);
	ck_assert_int_eq(evs_client_send(cl, "early ", 6), 0);
	ck_assert_uint_eq(evs_client_pending(cl), 6);
	{
		struct evbuffer *b = evbuffer_new();

		evbuffer_add(b, "bytes\n", 6);
		ck_assert_int_eq(evs_client_send_buffer(cl, b), 0);
		ck_assert_uint_eq(evbuffer_get_length(b), 0);
		evbuffer_free(b);
	}
	ck_assert(harness_loop_until(base, early_done, &e, 10000));
	e.got[e.len] = '\0';
	ck_assert_str_eq(e.got, "early bytes\n");
	evs_client_free(cl);
	evs_server_free(srv);
	evdns_close_server_port(dport);
	evdns_base_free(dns, 0);
	close(ufd);
	event_base_free(base);
}
END_TEST

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
	tcase_add_test(tc, test_client_send_before_connected);
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
