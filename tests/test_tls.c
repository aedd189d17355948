/* TLS settings (common/tls.c) and the TLS transport beneath the server
   and client engines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <evsock/tls.h>

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
	    cert("server.key"), err, sizeof(err)), 0);
	ck_assert_int_eq(serving_serial(t), 1002);
	ck_assert_ptr_eq(SSL_get_SSL_CTX(ssl), before);
	ck_assert_int_eq(ASN1_INTEGER_get(X509_get0_serialNumber(
	    SSL_CTX_get0_certificate(before))), 1001);
	SSL_free(ssl);
	/* A broken pair leaves the running one. */
	ck_assert_int_eq(evs_tls_reload(t, cert("server.pem"),
	    cert("other.key"), err, sizeof(err)), -1);
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
	ck_assert_ptr_null(evs_tls_client_new(cert("bad.pem"), 0, err,
	    sizeof(err)));
	ck_assert_msg(strstr(err, "ca-file") != NULL, "%s", err);
	/* Client settings cannot be reloaded with a key pair. */
	t = evs_tls_client_new(NULL, 1, err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(evs_tls_reload(t, cert("server.pem"),
	    cert("server.key"), err, sizeof(err)), -1);
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
