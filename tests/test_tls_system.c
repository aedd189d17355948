/* System: evsockd's TLS listeners, evsock --tls, and other TLS
   implementations (Python's ssl module, openssl s_client) over
   loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "harness.h"
#include "tlscerts.h"

static struct harness_proc proc;
static char certdir[64];
static int echo_port, chat_port, plain_port;

static const char *
cert(const char *name)
{
	static char buf[8][160];
	static int i;

	i = (i + 1) % 8;
	return tlscerts_path(certdir, name, buf[i], sizeof(buf[i]));
}

/* Copies the file `from` over `to` (both in the certificate dir). */
static void
put(const char *from, const char *to)
{
	char data[16384];
	size_t n;
	FILE *in = fopen(cert(from), "r"), *out;

	ck_assert_ptr_nonnull(in);
	n = fread(data, 1, sizeof(data), in);
	fclose(in);
	out = fopen(cert(to), "w");
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(fwrite(data, 1, n, out), n);
	ck_assert_int_eq(fclose(out), 0);
}

/* evsockd with TLS echo, TLS chat and plain chat, serving live.pem. */
static void
start_with(const char *pem)
{
	const char *argv[] = { "evsockd", "--threads", "1", "--tls-listen",
		"echo=127.0.0.1:0", "--tls-listen", "chat=127.0.0.1:0",
		"--listen", "chat=127.0.0.1:0", "--tls-cert", cert("live.pem"),
		"--tls-key", cert("server.key"), NULL };
	int ports[3];

	put(pem, "live.pem");
	ck_assert_msg(harness_evsockd(&proc, argv, 3, ports) == 0,
	    "evsockd did not start: %s", proc.log);
	echo_port = ports[0];
	chat_port = ports[1];
	plain_port = ports[2];
}

static void
setup(void)
{
	ck_assert_msg(tlscerts_make(certdir, sizeof(certdir)) == 0,
	    "cannot make test certificates (openssl command missing?)");
	start_with("server.pem");
}

static void
teardown(void)
{
	if (proc.pid > 0)
		ck_assert_int_eq(harness_proc_stop(&proc, SIGTERM, 10000), 0);
	tlscerts_remove(certdir);
}

/* Runs argv with `in`; returns the exit status (-1 on a timeout);
   out and err get what it printed. */
static int
run(const char *const *argv, const void *in, size_t inlen, char *out,
    size_t outcap, size_t *outlen, char *err, size_t errcap)
{
	int st = harness_run(argv, in, inlen, out, outcap, outlen, err, errcap,
	    30000 * harness_slowdown());

	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

START_TEST(test_tls_system_pipe_1mib)
{
	size_t len = 1024 * 1024, outlen = 0;
	char *in = malloc(len), *out = malloc(len + 1), err[512], target[64];
	const char *argv[] = { harness_prog("EVSOCK"), "--tls", "--ca-file",
		cert("ca.pem"), target, NULL };

	harness_random(in, len, 1);
	snprintf(target, sizeof(target), "localhost:%d", echo_port);
	ck_assert_int_eq(run(argv, in, len, out, len + 1, &outlen, err,
	                     sizeof(err)),
	    0);
	ck_assert_uint_eq(outlen, len);
	ck_assert(memcmp(in, out, len) == 0);
	free(in);
	free(out);
}
END_TEST

/* evsock --tls against the daemon; returns its exit status and its
   stderr in err. */
static int
evsock_tls(const char *host, const char *ca, char *err, size_t errlen)
{
	char target[64], out[64];
	const char *argv[] = { harness_prog("EVSOCK"), "--tls", "--ca-file", ca,
		target, NULL };
	size_t outlen;

	snprintf(target, sizeof(target), "%s:%d", host, echo_port);
	if (ca == NULL) {
		argv[2] = target;
		argv[3] = NULL;
	}
	return run(argv, "hi\n", 3, out, sizeof(out), &outlen, err, errlen);
}

/* One line on stderr, containing want. */
static void
one_line(const char *err, const char *want)
{
	const char *nl = strchr(err, '\n');

	ck_assert_msg(strstr(err, want) != NULL, "stderr: %s", err);
	ck_assert_msg(nl != NULL && nl[1] == '\0', "stderr: %s", err);
}

START_TEST(test_tls_system_unknown_ca)
{
	char err[512];

	/* The system's store does not hold the test CA. */
	ck_assert_int_eq(evsock_tls("localhost", NULL, err, sizeof(err)), 1);
	one_line(err, "certificate from an unknown CA");
}
END_TEST

START_TEST(test_tls_system_wrong_host)
{
	char err[512];

	harness_proc_stop(&proc, SIGTERM, 10000);
	start_with("wronghost.pem");
	ck_assert_int_eq(evsock_tls("localhost", cert("ca.pem"), err,
	                     sizeof(err)),
	    1);
	one_line(err, "certificate for another host");
	ck_assert_int_eq(evsock_tls("127.0.0.1", cert("ca.pem"), err,
	                     sizeof(err)),
	    1);
	one_line(err, "certificate for another host");
}
END_TEST

START_TEST(test_tls_system_expired)
{
	char err[512];

	harness_proc_stop(&proc, SIGTERM, 10000);
	start_with("expired.pem");
	ck_assert_msg(strstr(proc.log, "has expired") != NULL, "%s", proc.log);
	ck_assert_int_eq(evsock_tls("localhost", cert("ca.pem"), err,
	                     sizeof(err)),
	    1);
	one_line(err, "certificate expired");
}
END_TEST

/* Python's ssl module: echo, and chat with WHOIS 671; prints the
   serial of the certificate it was shown. */
static const char py_client[] =
    "import socket, ssl, sys\n"
    "ca, echo, chat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
    "ctx = ssl.create_default_context(cafile=ca)\n"
    "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', echo)),\n"
    "    server_hostname='localhost')\n"
    "data = bytes(range(256)) * 1024\n"
    "s.sendall(data)\n"
    "got = b''\n"
    "while len(got) < len(data):\n"
    "    b = s.recv(65536)\n"
    "    if not b: break\n"
    "    got += b\n"
    "assert got == data, 'echo differs'\n"
    "print('serial', s.getpeercert()['serialNumber'], s.version())\n"
    "s.close()\n"
    "c = ctx.wrap_socket(socket.create_connection(('127.0.0.1', chat)),\n"
    "    server_hostname='localhost')\n"
    "c.sendall(b'NICK py\\r\\nUSER py 0 * :Py\\r\\nWHOIS py\\r\\nQUIT\\r\\n')\n"
    "text = b''\n"
    "while True:\n"
    "    b = c.recv(4096)\n"
    "    if not b: break\n"
    "    text += b\n"
    "assert b' 671 py py :is using a secure connection' in text, text\n"
    "print('chat ok')\n";

START_TEST(test_tls_system_python_ssl)
{
	char out[512], err[2048], e[16], ch[16];
	const char *argv[] = { "/usr/bin/python3", "-c", py_client,
		cert("ca.pem"), e, ch, NULL };
	size_t outlen = 0;

	if (access("/usr/bin/python3", X_OK) != 0) {
		ck_assert_msg(getenv("CI") == NULL ||
		        strcmp(getenv("CI"), "true") != 0,
		    "no /usr/bin/python3");
		return;
	}
	snprintf(e, sizeof(e), "%d", echo_port);
	snprintf(ch, sizeof(ch), "%d", chat_port);
	ck_assert_msg(run(argv, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	                  sizeof(err)) == 0,
	    "python: %s", err);
	out[outlen] = '\0';
	ck_assert_msg(strstr(out, "serial 03E9 TLSv1.3") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "chat ok") != NULL, "%s", out);
}
END_TEST

START_TEST(test_tls_system_openssl_s_client)
{
	const char *reg = "NICK os\r\nUSER os 0 * :Os\r\nQUIT\r\n";
	char out[8192], err[4096], target[64];
	const char *argv[] = { "openssl", "s_client", "-connect", target,
		"-CAfile", cert("ca.pem"), "-verify_return_error",
		"-servername", "localhost", "-ign_eof", "-quiet", NULL };
	size_t outlen = 0;

	snprintf(target, sizeof(target), "127.0.0.1:%d", chat_port);
	ck_assert_msg(run(argv, reg, strlen(reg), out, sizeof(out) - 1, &outlen,
	                  err, sizeof(err)) == 0,
	    "s_client: %s", err);
	out[outlen] = '\0';
	ck_assert_msg(strstr(out, " 001 os ") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "Client Quit") != NULL, "%s", out);
	/* ISUPPORT names the TLS port. */
	snprintf(target, sizeof(target),
	    " 005 os SSL=127.0.0.1:%d :", chat_port);
	ck_assert_msg(strstr(out, target) != NULL, "%s", out);
	snprintf(target, sizeof(target), "127.0.0.1:%d", chat_port);
	/* TLS 1.1 is refused. */
	argv[9] = "-tls1_1";
	ck_assert_int_ne(run(argv, reg, strlen(reg), out, sizeof(out) - 1,
	                     &outlen, err, sizeof(err)),
	    0);
}
END_TEST

START_TEST(test_tls_system_plaintext_and_hello_logged)
{
	int fd = harness_connect(chat_port, 0);
	const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x00, 0x20 };
	char buf[64];

	ck_assert_int_eq(harness_write_all(fd, "NICK x\r\n", 8), 0);
	ck_assert_int_eq(harness_read_eof(fd, buf, sizeof(buf)), 0);
	close(fd);
	ck_assert(harness_proc_wait_log(&proc,
	    "TLS handshake failed: not a "
	    "TLS handshake",
	    5000 * harness_slowdown()));
	fd = harness_connect(plain_port, 0);
	ck_assert_int_eq(harness_write_all(fd, hello, sizeof(hello)), 0);
	ck_assert_int_eq(harness_read_eof(fd, buf, sizeof(buf)), 0);
	close(fd);
	ck_assert(harness_proc_wait_log(&proc, "TLS handshake on a plain port",
	    5000 * harness_slowdown()));
}
END_TEST

/* A blocking TLS connection to the echo port made with OpenSSL here:
   returns the SSL (its socket inside) and the serial it was shown. */
static SSL *
dial(SSL_CTX *ctx, long *serial)
{
	int fd = harness_connect(echo_port, 0);
	SSL *ssl = SSL_new(ctx);
	X509 *x;

	ck_assert_int_ge(fd, 0);
	SSL_set_fd(ssl, fd);
	SSL_set1_host(ssl, "localhost");
	ck_assert_int_eq(SSL_connect(ssl), 1);
	x = SSL_get1_peer_certificate(ssl);
	*serial = ASN1_INTEGER_get(X509_get0_serialNumber(x));
	X509_free(x);
	return ssl;
}

/* Echoes one line over ssl; returns 1 if it came back. */
static int
echoes(SSL *ssl)
{
	char buf[16];
	int n = 0, r;

	if (SSL_write(ssl, "ping\n", 5) != 5)
		return 0;
	while (n < 5 && (r = SSL_read(ssl, buf + n, 5 - n)) > 0)
		n += r;
	return n == 5 && memcmp(buf, "ping\n", 5) == 0;
}

static void
hangup(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

START_TEST(test_tls_system_reload)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *old, *fresh;
	long serial;

	SSL_CTX_load_verify_file(ctx, cert("ca.pem"));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	old = dial(ctx, &serial);
	ck_assert_int_eq(serial, 1001);

	/* New connections get the new certificate; the old one goes on. */
	put("server2.pem", "live.pem");
	kill(proc.pid, SIGHUP);
	ck_assert(harness_proc_wait_log(&proc, "reload: done",
	    10000 * harness_slowdown()));
	ck_assert_msg(strstr(proc.log, "TLS certificate") != NULL, "%s",
	    proc.log);
	fresh = dial(ctx, &serial);
	ck_assert_int_eq(serial, 1002);
	ck_assert(echoes(old));
	ck_assert(echoes(fresh));
	hangup(fresh);

	/* A broken pair keeps what runs, and says why. */
	put("bad.pem", "live.pem");
	kill(proc.pid, SIGHUP);
	ck_assert(harness_proc_wait_log(&proc, "reload failed",
	    10000 * harness_slowdown()));
	ck_assert_msg(strstr(proc.log, "live.pem") != NULL, "%s", proc.log);
	fresh = dial(ctx, &serial);
	ck_assert_int_eq(serial, 1002);
	ck_assert(echoes(old));
	hangup(fresh);
	hangup(old);
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(test_tls_system_load)
{
	char out[8192], err[2048], target[64];
	const char *argv[] = { harness_prog("EVSOCK"), "load", "--tls",
		"--ca-file", cert("ca.pem"), "-c", "5", "-d", "500ms",
		"--warmup", "0", "--json", target, NULL };
	size_t outlen = 0;

	snprintf(target, sizeof(target), "localhost:%d", echo_port);
	ck_assert_msg(run(argv, NULL, 0, out, sizeof(out) - 1, &outlen, err,
	                  sizeof(err)) == 0,
	    "load: %s", err);
	out[outlen] = '\0';
	ck_assert_msg(strstr(out, "\"tls\":{\"handshakes\":5,") != NULL, "%s",
	    out);
	ck_assert_msg(strstr(out, "\"handshake_latency_us\":{\"p50\":") != NULL,
	    "%s", out);
}
END_TEST

START_TEST(test_tls_system_chat_client)
{
	const char *in = "/join #t\nhello\n/quit\n";
	char out[8192], err[2048], target[64];
	const char *argv[] = { harness_prog("EVSOCK"), "chat", "--nick", "cc",
		"--tls", "--ca-file", cert("ca.pem"), target, NULL };
	size_t outlen = 0;

	snprintf(target, sizeof(target), "localhost:%d", chat_port);
	ck_assert_msg(run(argv, in, strlen(in), out, sizeof(out) - 1, &outlen,
	                  err, sizeof(err)) == 0,
	    "chat: %s", err);
	out[outlen] = '\0';
	ck_assert_msg(strstr(out, "cc has joined #t") != NULL, "%s", out);
}
END_TEST

START_TEST(test_tls_system_bad_pair_refused)
{
	char out[512], err[2048];
	const char *check[] = { harness_prog("EVSOCKD"), "--check-config",
		"--tls-listen", "chat=127.0.0.1:0", "--tls-cert",
		cert("server.pem"), "--tls-key", cert("other.key"), NULL };
	const char *start[] = { harness_prog("EVSOCKD"), "--tls-listen",
		"chat=127.0.0.1:0", "--tls-cert", cert("bad.pem"), "--tls-key",
		cert("server.key"), NULL };
	size_t outlen;

	ck_assert_int_eq(run(check, NULL, 0, out, sizeof(out), &outlen, err,
	                     sizeof(err)),
	    1);
	ck_assert_msg(strstr(err, "does not match") != NULL, "%s", err);
	ck_assert_int_eq(run(start, NULL, 0, out, sizeof(out), &outlen, err,
	                     sizeof(err)),
	    1);
	ck_assert_msg(strstr(err, "bad.pem") != NULL, "%s", err);
}
END_TEST

/* A socket a service manager passes in as "echo-tls" serves TLS with
   tls-cert and tls-key and no tls-listen. */
START_TEST(test_tls_system_passed_socket)
{
#ifdef HAVE_LIBSYSTEMD
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct harness_proc p = { 0 };
	const char *prog = harness_prog("EVSOCKD");
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ls, errpipe[2], saved = echo_port;
	long serial;
	SSL *ssl;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(ls, 16), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sin, &slen), 0);
	ck_assert_int_eq(pipe(errpipe), 0);
	p.pid = fork();
	ck_assert_int_ge(p.pid, 0);
	if (p.pid == 0) {
		char pid[32];
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(errpipe[1], 2);
		dup2(ls, 3);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_FDNAMES", "echo-tls", 1);
		execl(prog, "evsockd", "--threads", "1", "--tls-cert",
		    cert("server.pem"), "--tls-key", cert("server.key"),
		    (char *)NULL);
		_exit(127);
	}
	close(errpipe[1]);
	close(ls);
	p.err_fd = errpipe[0];
	fcntl(p.err_fd, F_SETFL, O_NONBLOCK);
	if (!harness_proc_wait_log(&p, "listening echo (TLS) on",
	        10000 * harness_slowdown())) {
		int st = harness_proc_stop(&p, SIGKILL, 1000);
		ck_abort_msg("status %d: %s", st, p.log);
	}
	SSL_CTX_load_verify_file(ctx, cert("ca.pem"));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	echo_port = ntohs(sin.sin_port);
	ssl = dial(ctx, &serial);
	echo_port = saved;
	ck_assert_int_eq(serial, 1001);
	ck_assert(echoes(ssl));
	hangup(ssl);
	SSL_CTX_free(ctx);
	ck_assert_int_eq(harness_proc_stop(&p, SIGTERM, 10000), 0);
#else
	fprintf(stderr,
	    "built without libsystemd: passed TLS sockets not "
	    "tested\n");
#endif
}
END_TEST

static Suite *
tls_system_suite(void)
{
	Suite *s = suite_create("tls_system");
	TCase *tc = tcase_create("evsockd");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tls_system_pipe_1mib);
	tcase_add_test(tc, test_tls_system_unknown_ca);
	tcase_add_test(tc, test_tls_system_wrong_host);
	tcase_add_test(tc, test_tls_system_expired);
	tcase_add_test(tc, test_tls_system_python_ssl);
	tcase_add_test(tc, test_tls_system_openssl_s_client);
	tcase_add_test(tc, test_tls_system_plaintext_and_hello_logged);
	tcase_add_test(tc, test_tls_system_reload);
	tcase_add_test(tc, test_tls_system_load);
	tcase_add_test(tc, test_tls_system_chat_client);
	tcase_add_test(tc, test_tls_system_bad_pair_refused);
	tcase_add_test(tc, test_tls_system_passed_socket);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_system_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
