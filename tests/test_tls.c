/* TLS settings (common/tls.c) and the TLS transport beneath the server
   and client engines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <evsock/evsock.h>

#include "../common/tls.h"
#include "harness.h"
#include "tlscerts.h"

static char certdir[64];

static const char *
cert(const char *name)
{
	static char buf[4][160];
	static int i;

	i = (i + 1) % 4;
	return tlscerts_path(certdir, name, buf[i], sizeof(buf[i]));
}

static void
setup_certs(void)
{
	ck_assert_msg(tlscerts_make(certdir, sizeof(certdir)) == 0,
	    "cannot make test certificates (openssl command missing?)");
}

static void
teardown_certs(void)
{
	tlscerts_remove(certdir);
}

/* Returns the serial number of the leaf certificate t serves now. */
static long
serving_serial(struct evs_tls *t)
{
	SSL_CTX *ctx = evs_tls_ctx(t);
	X509 *x = SSL_CTX_get0_certificate(ctx);
	long serial = ASN1_INTEGER_get(X509_get0_serialNumber(x));

	SSL_CTX_free(ctx);
	return serial;
}

START_TEST(test_tls_server_settings)
{
	char err[256];
	struct evs_tls *t;

	t = evs_tls_server_new(cert("server.pem"), cert("server.key"), err,
	    sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(serving_serial(t), 1001);
	{
		SSL_CTX *ctx = evs_tls_ctx(t);
		ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx),
		    TLS1_2_VERSION);
		ck_assert(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_free(ctx);
	}
	evs_tls_free(t);
}
END_TEST

START_TEST(test_tls_server_refuses_broken_pairs)
{
	char err[256];

	ck_assert_ptr_null(evs_tls_server_new(cert("bad.pem"),
	    cert("server.key"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "tls-cert") != NULL, "%s", err);
	ck_assert_ptr_null(evs_tls_server_new(cert("server.pem"),
	    cert("other.key"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "does not match") != NULL, "%s", err);
	ck_assert_ptr_null(evs_tls_server_new(cert("server.pem"),
	    cert("missing.key"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "tls-key") != NULL, "%s", err);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_tls_reload_swaps_or_keeps)
{
	char err[256];
	struct evs_tls *t;
	SSL_CTX *before;
	SSL *ssl;

	t = evs_tls_server_new(cert("server.pem"), cert("server.key"), err,
	    sizeof(err));
	ck_assert_ptr_nonnull(t);
	/* A connection made before the reload keeps its context. */
	ssl = tls_ssl_new(t);
	ck_assert_ptr_nonnull(ssl);
	before = SSL_get_SSL_CTX(ssl);
	ck_assert_int_eq(evs_tls_reload(t, cert("server2.pem"),
	                     cert("server.key"), err, sizeof(err)),
	    0);
	ck_assert_int_eq(serving_serial(t), 1002);
	ck_assert_ptr_eq(SSL_get_SSL_CTX(ssl), before);
	ck_assert_int_eq(ASN1_INTEGER_get(X509_get0_serialNumber(
	                     SSL_CTX_get0_certificate(before))),
	    1001);
	SSL_free(ssl);
	/* A broken pair leaves the running one. */
	ck_assert_int_eq(evs_tls_reload(t, cert("server.pem"),
	                     cert("other.key"), err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "does not match") != NULL, "%s", err);
	ck_assert_int_eq(serving_serial(t), 1002);
	evs_tls_free(t);
}
END_TEST

START_TEST(test_tls_client_settings)
{
	char err[256];
	struct evs_tls *t;

	t = evs_tls_client_new(cert("ca.pem"), 0, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	evs_tls_free(t);
	t = evs_tls_client_new(NULL, 0, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	evs_tls_free(t);
	ck_assert_ptr_null(
	    evs_tls_client_new(cert("bad.pem"), 0, err, sizeof(err)));
	ck_assert_msg(strstr(err, "ca-file") != NULL, "%s", err);
	/* Client settings cannot be reloaded with a key pair. */
	t = evs_tls_client_new(NULL, 1, err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(evs_tls_reload(t, cert("server.pem"),
	                     cert("server.key"), err, sizeof(err)),
	    -1);
	evs_tls_free(t);
}
END_TEST

START_TEST(test_tls_from_callers_ctx)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	struct evs_tls *t = evs_tls_from_ctx(ctx, 1);
	SSL_CTX *got;

	ck_assert_ptr_nonnull(t);
	got = evs_tls_ctx(t);
	ck_assert_ptr_eq(got, ctx);
	SSL_CTX_free(got);
	/* The caller's reference and ours are separate. */
	SSL_CTX_free(ctx);
	evs_tls_free(t);
	evs_tls_free(NULL);
}
END_TEST

/* One server with a TLS echo, a TLS chat and a plain chat listener, and
   the client side, all on one event_base. */
struct fixture {
	struct event_base *base;
	struct evs_server *srv;
	struct evs_chat *chat;
	struct evs_tls *stls; /* server settings */
	struct evs_tls *ctls; /* client settings: trusts the test CA */
	int echo_port, chat_port, plain_chat_port;
};

static struct fixture fx;

static void
setup_engine(void)
{
	struct evs_listener *l;
	char err[256];

	setup_certs();
	memset(&fx, 0, sizeof(fx));
	fx.base = event_base_new();
	fx.srv = evs_server_new(fx.base);
	fx.chat = evs_chat_new(fx.srv);
	ck_assert_ptr_nonnull(fx.chat);
	fx.stls = evs_tls_server_new(cert("server.pem"), cert("server.key"),
	    err, sizeof(err));
	ck_assert_msg(fx.stls != NULL, "%s", err);
	fx.ctls = evs_tls_client_new(cert("ca.pem"), 0, err, sizeof(err));
	ck_assert_msg(fx.ctls != NULL, "%s", err);
	l = evs_server_listen(fx.srv, "127.0.0.1:0", evs_echo_service(), NULL,
	    err, sizeof(err));
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(evs_listener_set_tls(l, fx.stls), 0);
	ck_assert_ptr_eq(evs_listener_tls(l), fx.stls);
	fx.echo_port = evs_listener_port(l);
	l = evs_server_listen(fx.srv, "127.0.0.1:0", evs_chat_service(),
	    fx.chat, err, sizeof(err));
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(evs_listener_set_tls(l, fx.stls), 0);
	fx.chat_port = evs_listener_port(l);
	l = evs_server_listen(fx.srv, "127.0.0.1:0", evs_chat_service(),
	    fx.chat, err, sizeof(err));
	ck_assert_ptr_nonnull(l);
	fx.plain_chat_port = evs_listener_port(l);
	/* Client settings are refused on a listener. */
	ck_assert_int_eq(evs_listener_set_tls(l, fx.ctls), -1);
}

static void
teardown_engine(void)
{
	evs_server_free(fx.srv);
	evs_chat_free(fx.chat);
	evs_tls_free(fx.stls);
	evs_tls_free(fx.ctls);
	event_base_free(fx.base);
	teardown_certs();
}

/* A client that sends `out` once up, collects what comes back, and
   closes once `want` bytes came (or when told to by a needle). */
struct peer {
	struct evs_client *cl;
	const char *out;
	size_t outlen;
	struct evbuffer *got;
	size_t want;
	const char *needle;
	int connected, closed, error;
	char reason[320];
};

static void
peer_connected(struct evs_client *cl, void *arg)
{
	struct peer *p = arg;

	p->connected = 1;
	if (p->outlen > 0)
		evs_client_send(cl, p->out, p->outlen);
}

static void
peer_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct peer *p = arg;

	evbuffer_add_buffer(p->got, in);
	if ((p->want > 0 && evbuffer_get_length(p->got) >= p->want) ||
	    (p->needle != NULL &&
	        evbuffer_search(p->got, p->needle, strlen(p->needle), NULL)
	                .pos != -1))
		evs_client_close(cl);
}

static void
peer_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	struct peer *p = arg;

	(void)cl;
	p->closed = 1;
	p->error = error;
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
}

static const struct evs_client_callbacks peer_cbs = {
	.connected = peer_connected,
	.data = peer_data,
	.closed = peer_closed,
};

static int
peer_done(void *arg)
{
	return ((struct peer *)arg)->closed;
}

/* Connects p to 127.0.0.1:port with settings tls (name checked:
   name, NULL for the address) and runs until it closes. */
static void
peer_run(struct peer *p, int port, struct evs_tls *tls, const char *name)
{
	char target[64];

	p->got = evbuffer_new();
	p->cl = evs_client_new(fx.base, NULL, &peer_cbs, p);
	ck_assert_ptr_nonnull(p->cl);
	ck_assert_int_eq(evs_client_set_tls(p->cl, tls, name), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	ck_assert_int_eq(evs_client_connect(p->cl, target, 10000), 0);
	ck_assert(harness_loop_until(fx.base, peer_done, p,
	    20000 * harness_slowdown()));
}

static void
peer_free(struct peer *p)
{
	evs_client_free(p->cl);
	evbuffer_free(p->got);
}

START_TEST(test_tls_echo_from_the_client_engine)
{
	size_t len = 256 * 1024;
	char *data = malloc(len), *back = malloc(len);
	struct peer p = { .out = data, .outlen = len, .want = len };

	harness_random(data, len, 13);
	peer_run(&p, fx.echo_port, fx.ctls, NULL);
	ck_assert_msg(p.error == 0, "%s", p.reason);
	ck_assert_uint_eq(evbuffer_get_length(p.got), len);
	evbuffer_remove(p.got, back, len);
	ck_assert(memcmp(data, back, len) == 0);
	peer_free(&p);
	free(data);
	free(back);
}
END_TEST

START_TEST(test_tls_chat_whois_671)
{
	const char *reg = "NICK sec\r\nUSER sec 0 * :Sec\r\nWHOIS sec\r\n";
	struct peer p = { .out = reg,
		.outlen = strlen(reg),
		.needle = " 318 " };
	char *text;

	peer_run(&p, fx.chat_port, fx.ctls, "localhost");
	ck_assert_msg(p.error == 0, "%s", p.reason);
	evbuffer_add(p.got, "", 1);
	text = (char *)evbuffer_pullup(p.got, -1);
	ck_assert_msg(strstr(text, " 001 sec ") != NULL, "%s", text);
	ck_assert_msg(strstr(text,
	                  " 671 sec sec :is using a secure "
	                  "connection") != NULL,
	    "%s", text);
	peer_free(&p);
}
END_TEST

START_TEST(test_tls_plain_chat_whois_no_671)
{
	const char *reg = "NICK pl\r\nUSER pl 0 * :Pl\r\nWHOIS pl\r\n";
	struct peer p = { .out = reg,
		.outlen = strlen(reg),
		.needle = " 318 " };
	char *text;

	peer_run(&p, fx.plain_chat_port, NULL, NULL);
	evbuffer_add(p.got, "", 1);
	text = (char *)evbuffer_pullup(p.got, -1);
	ck_assert_msg(strstr(text, " 318 ") != NULL, "%s", text);
	ck_assert_ptr_null(strstr(text, " 671 "));
	peer_free(&p);
}
END_TEST

/* Sends `what` on a plain socket to port and returns how long the
   server took to close (ms), running the loop meanwhile. */
static unsigned
closed_after(int port, const void *what, size_t len)
{
	int fd = harness_connect(port, 0);
	uint64_t start = harness_now_ms();
	char buf[256];
	ssize_t n = 1;

	ck_assert_int_ge(fd, 0);
	if (len > 0)
		ck_assert_int_eq(harness_write_all(fd, what, len), 0);
	while (harness_now_ms() - start < 15000) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		event_base_loop(fx.base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 10) == 1) {
			n = recv(fd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
		}
	}
	close(fd);
	ck_assert_msg(n <= 0, "the server did not close");
	return (unsigned)(harness_now_ms() - start);
}

START_TEST(test_tls_plaintext_on_tls_port_closed_at_once)
{
	const char *nick = "NICK x\r\nUSER x 0 * :x\r\n";

	/* Well before the handshake deadline (10 s). */
	ck_assert_uint_lt(closed_after(fx.chat_port, nick, strlen(nick)), 5000);
}
END_TEST

START_TEST(test_tls_client_hello_on_plain_port_closed_at_once)
{
	/* The start of a ClientHello: handshake record, TLS 1.0 header. */
	const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x00, 0xc8, 0x01,
		0x00, 0x00, 0xc4, 0x03, 0x03 };

	/* Well before the registration deadline (60 s). */
	ck_assert_uint_lt(closed_after(fx.plain_chat_port, hello,
	                      sizeof(hello)),
	    5000);
}
END_TEST

START_TEST(test_tls_handshake_deadline)
{
	unsigned ms;

	ck_assert_int_eq(evs_server_set(fx.srv, EVS_OPT_HANDSHAKE_TIMEOUT_MS,
	                     300),
	    0);
	ck_assert_int_eq(evs_server_get(fx.srv, EVS_OPT_HANDSHAKE_TIMEOUT_MS),
	    300);
	ms = closed_after(fx.echo_port, NULL, 0);
	ck_assert_uint_ge(ms, 250);
	ck_assert_uint_lt(ms, 5000);
}
END_TEST

/* Holds a TLS echo connection idle past the handshake deadline, then
   checks that it still echoes. */
struct idle {
	struct evs_client *cl;
	struct event *timer;
	int stage; /* 0 connecting, 1 idle, 2 echoing, 3 done */
	int closed;
	char reason[320];
};

static void
idle_connected(struct evs_client *cl, void *arg)
{
	struct idle *d = arg;
	struct timeval tv = { 0, 700000 };

	(void)cl;
	d->stage = 1;
	evtimer_add(d->timer, &tv);
}

static void
idle_timer(evutil_socket_t fd, short what, void *arg)
{
	struct idle *d = arg;

	(void)fd;
	(void)what;
	d->stage = 2;
	evs_client_send(d->cl, "x\n", 2);
}

static void
idle_data(struct evs_client *cl, struct evbuffer *in, void *arg)
{
	struct idle *d = arg;

	if (evbuffer_get_length(in) >= 2 && d->stage == 2) {
		d->stage = 3;
		evs_client_close(cl);
	}
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
idle_closed(struct evs_client *cl, int error, const char *reason, void *arg)
{
	struct idle *d = arg;

	(void)cl;
	(void)error;
	d->closed = 1;
	snprintf(d->reason, sizeof(d->reason), "%s", reason);
}

static const struct evs_client_callbacks idle_cbs = {
	.connected = idle_connected,
	.data = idle_data,
	.closed = idle_closed,
};

static int
idle_done(void *arg)
{
	return ((struct idle *)arg)->closed;
}

START_TEST(test_tls_handshake_deadline_ends_with_the_handshake)
{
	struct idle d = { 0 };
	char target[64];

	ck_assert_int_eq(evs_server_set(fx.srv, EVS_OPT_HANDSHAKE_TIMEOUT_MS,
	                     300),
	    0);
	d.timer = evtimer_new(fx.base, idle_timer, &d);
	d.cl = evs_client_new(fx.base, NULL, &idle_cbs, &d);
	evs_client_set_tls(d.cl, fx.ctls, NULL);
	snprintf(target, sizeof(target), "127.0.0.1:%d", fx.echo_port);
	ck_assert_int_eq(evs_client_connect(d.cl, target, 10000), 0);
	ck_assert(harness_loop_until(fx.base, idle_done, &d,
	    20000 * harness_slowdown()));
	ck_assert_msg(d.stage == 3, "stage %d: %s", d.stage, d.reason);
	evs_client_free(d.cl);
	event_free(d.timer);
}
END_TEST

START_TEST(test_tls_failed_handshake_touches_no_one_else)
{
	const char *hi = "still here\n";
	struct peer good = { .out = hi,
		.outlen = strlen(hi),
		.want = strlen(hi) };
	int bad = harness_connect(fx.echo_port, 0);

	/* A broken handshake on one connection while another works. */
	ck_assert_int_eq(harness_write_all(bad, "\x16\x03\x01\x00\x05junk", 9),
	    0);
	peer_run(&good, fx.echo_port, fx.ctls, NULL);
	ck_assert_msg(good.error == 0, "%s", good.reason);
	ck_assert_uint_eq(evbuffer_get_length(good.got), strlen(hi));
	close(bad);
	peer_free(&good);
}
END_TEST

/* Runs a client with settings tls against the echo port; returns its
   closed() reason in p. */
static void
refused(struct peer *p, struct evs_tls *tls, const char *name)
{
	peer_run(p, fx.echo_port, tls, name);
	ck_assert_int_eq(p->connected, 0);
	ck_assert_int_eq(p->error, EPROTO);
	ck_assert_ptr_null(strchr(p->reason, '\n'));
}

START_TEST(test_tls_verify_unknown_ca)
{
	char err[256];
	struct evs_tls *sys = evs_tls_client_new(NULL, 0, err, sizeof(err));
	struct peer p = { .want = 1 };

	ck_assert_ptr_nonnull(sys);
	refused(&p, sys, NULL);
	ck_assert_msg(strstr(p.reason, "unknown CA") != NULL, "%s", p.reason);
	peer_free(&p);
	evs_tls_free(sys);
}
END_TEST

START_TEST(test_tls_verify_wrong_host)
{
	struct peer p = { .want = 1 };

	refused(&p, fx.ctls, "irc.example.net");
	ck_assert_msg(strstr(p.reason, "another host") != NULL, "%s", p.reason);
	peer_free(&p);
}
END_TEST

START_TEST(test_tls_verify_expired)
{
	struct peer p = { .want = 1 };
	char err[256];

	ck_assert_int_eq(evs_tls_reload(fx.stls, cert("expired.pem"),
	                     cert("server.key"), err, sizeof(err)),
	    0);
	refused(&p, fx.ctls, NULL);
	ck_assert_msg(strstr(p.reason, "expired") != NULL, "%s", p.reason);
	peer_free(&p);
}
END_TEST

START_TEST(test_tls_insecure_accepts_any)
{
	char err[256];
	struct evs_tls *any = evs_tls_client_new(NULL, 1, err, sizeof(err));
	const char *hi = "hi\n";
	struct peer p = { .out = hi, .outlen = 3, .want = 3 };

	ck_assert_int_eq(evs_tls_reload(fx.stls, cert("wronghost.pem"),
	                     cert("server.key"), err, sizeof(err)),
	    0);
	peer_run(&p, fx.echo_port, any, NULL);
	ck_assert_msg(p.error == 0, "%s", p.reason);
	ck_assert_uint_eq(evbuffer_get_length(p.got), 3);
	peer_free(&p);
	evs_tls_free(any);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("settings");

	tcase_add_checked_fixture(tc, setup_certs, teardown_certs);
	tcase_add_test(tc, test_tls_server_settings);
	tcase_add_test(tc, test_tls_server_refuses_broken_pairs);
	tcase_add_test(tc, test_tls_reload_swaps_or_keeps);
	tcase_add_test(tc, test_tls_client_settings);
	tcase_add_test(tc, test_tls_from_callers_ctx);
	suite_add_tcase(s, tc);
	tc = tcase_create("engine");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_engine, teardown_engine);
	tcase_add_test(tc, test_tls_echo_from_the_client_engine);
	tcase_add_test(tc, test_tls_chat_whois_671);
	tcase_add_test(tc, test_tls_plain_chat_whois_no_671);
	tcase_add_test(tc, test_tls_plaintext_on_tls_port_closed_at_once);
	tcase_add_test(tc, test_tls_client_hello_on_plain_port_closed_at_once);
	tcase_add_test(tc, test_tls_handshake_deadline);
	tcase_add_test(tc, test_tls_handshake_deadline_ends_with_the_handshake);
	tcase_add_test(tc, test_tls_failed_handshake_touches_no_one_else);
	tcase_add_test(tc, test_tls_verify_unknown_ca);
	tcase_add_test(tc, test_tls_verify_wrong_host);
	tcase_add_test(tc, test_tls_verify_expired);
	tcase_add_test(tc, test_tls_insecure_accepts_any);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
