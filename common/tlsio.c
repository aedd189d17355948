/*
 * The TLS transport: an SSL over a BIO of our own.  The BIO reads with
 * one recv() on the socket (or from an evbuffer the caller fills) and
 * writes records into the evbuffer the current call names, so OpenSSL
 * never sees a full socket: the caller writes the records as it writes
 * plain bytes (straight to the socket while nothing is queued, the
 * rest queued), and sendq, write timeouts and the flushed close stay
 * the engine's.  An SSL therefore never asks to be called again for
 * writing, and reading waits only for the socket's read event.
 *
 * The peer closing without close_notify: contexts set
 * SSL_OP_IGNORE_UNEXPECTED_EOF, so a bare TCP EOF reads as an ordinary
 * end of stream.  That is safe for the protocols evsock frames: a line
 * counts only with its LF, and a partial line at the end is dropped,
 * so a truncated stream can lose a tail but never make a cut-off
 * command look complete; echo has no message boundaries to forge; and
 * an attacker able to inject a FIN could as well inject a reset.  Many
 * IRC clients close without close_notify, so treating that as an error
 * would log every quit as a failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"
#include "tlsio.h"

#define TLSIO_WHY_MAX 200

struct tlsio {
	SSL *ssl;
	evutil_socket_t fd;
	struct evbuffer *in;    /* received bytes when not reading fd */
	struct evbuffer *wire;  /* during a call: where records go */
	struct evbuffer *early; /* plaintext written before the handshake */
	int in_eof;
	int read_errno;
	int nread;           /* bytes the BIO has read so far, capped */
	unsigned char first; /* the first byte received */
	unsigned shut : 1;   /* close_notify sent */
	unsigned failed : 1;
	char *why; /* why it failed; made on failure only, as
	                           idle connections are many */
};

static BIO_METHOD *tlsio_method;
static CRYPTO_ONCE tlsio_once = CRYPTO_ONCE_STATIC_INIT;

static void tlsio_init_method(void);
static int tlsio_bio_read(BIO *, char *, int);
static int tlsio_bio_write(BIO *, const char *, int);
static long tlsio_bio_ctrl(BIO *, int, long, void *);
static int tlsio_bio_create(BIO *);
static void tlsio_fail(struct tlsio *, int, int);
static int tlsio_flush_early(struct tlsio *);

static void
tlsio_init_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "evsock");

	if (m == NULL)
		return;
	if (BIO_meth_set_read(m, tlsio_bio_read) != 1 ||
	    BIO_meth_set_write(m, tlsio_bio_write) != 1 ||
	    BIO_meth_set_ctrl(m, tlsio_bio_ctrl) != 1 ||
	    BIO_meth_set_create(m, tlsio_bio_create) != 1) {
		BIO_meth_free(m);
		return;
	}
	tlsio_method = m;
}

static int
tlsio_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
tlsio_bio_read(BIO *b, char *buf, int len)
{
	struct tlsio *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (t->in != NULL) {
		n = evbuffer_remove(t->in, buf, (size_t)len);
		if (n > 0)
			goto got;
		if (t->in_eof)
			return 0;
		BIO_set_retry_read(b);
		return -1;
	}
	n = recv(t->fd, buf, (size_t)len, 0);
	if (n > 0)
		goto got;
	if (n == 0) {
		t->in_eof = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		BIO_set_retry_read(b);
		return -1;
	}
	t->read_errno = errno;
	return -1;
got:
	if (t->nread == 0)
		t->first = (unsigned char)buf[0];
	if (t->nread < 1024)
		t->nread += (int)n;
	return (int)n;
}

/* Records always fit: they go to an evbuffer, never straight to a
   socket that could be full. */
static int
tlsio_bio_write(BIO *b, const char *buf, int len)
{
	struct tlsio *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (t->wire == NULL || evbuffer_add(t->wire, buf, (size_t)len) == -1)
		return -1;
	return len;
}

static long
tlsio_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
	case BIO_CTRL_WPENDING:
	default:
		return 0;
	}
}

struct tlsio *
tlsio_new(struct evs_tls *tls, evutil_socket_t fd, const char *host)
{
	struct tlsio *t;
	BIO *bio;

	CRYPTO_THREAD_run_once(&tlsio_once, tlsio_init_method);
	if (tlsio_method == NULL)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->fd = fd;
	if ((t->ssl = tls_ssl_new(tls)) == NULL)
		goto fail;
	if ((bio = BIO_new(tlsio_method)) == NULL)
		goto fail;
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	if (tls_is_server(tls)) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (tls_set_peer_name(t->ssl, host) == -1)
			goto fail;
	}
	return t;
fail:
	ERR_clear_error();
	tlsio_free(t);
	return NULL;
}

void
tlsio_free(struct tlsio *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t->why);
	if (t->early != NULL)
		evbuffer_free(t->early);
	free(t);
}

void
tlsio_set_input(struct tlsio *t, struct evbuffer *in)
{
	t->in = in;
}

void
tlsio_input_eof(struct tlsio *t)
{
	t->in_eof = 1;
}

/* Records why the handshake or a read failed, as one line. */
static void
tlsio_fail(struct tlsio *t, int rc, int sslerr)
{
	char why[TLSIO_WHY_MAX];

	t->failed = 1;
	if (!SSL_is_server(t->ssl) &&
	    SSL_get_verify_result(t->ssl) != X509_V_OK) {
		tls_failure(t->ssl, why, sizeof(why));
	} else if (t->nread > 0 && !SSL_is_init_finished(t->ssl) &&
	    t->first != 0x16) {
		/* A TLS connection starts with a handshake record. */
		snprintf(why, sizeof(why),
		    "not a TLS handshake "
		    "(plaintext on a TLS port?)");
	} else if (sslerr == SSL_ERROR_SYSCALL && t->read_errno != 0) {
		snprintf(why, sizeof(why), "%s",
		    t->read_errno == ECONNRESET ? "Connection reset by peer" :
		                                  strerror(t->read_errno));
	} else if (sslerr == SSL_ERROR_SYSCALL ||
	    sslerr == SSL_ERROR_ZERO_RETURN) {
		snprintf(why, sizeof(why), "peer closed during the handshake");
	} else {
		tls_failure(t->ssl, why, sizeof(why));
	}
	(void)rc;
	ERR_clear_error();
	if (t->why == NULL)
		t->why = strdup(why);
}

int
tlsio_handshake(struct tlsio *t, struct evbuffer *wire)
{
	int rc, e;

	if (t->failed)
		return TLSIO_ERROR;
	if (SSL_is_init_finished(t->ssl))
		return 1;
	t->wire = wire;
	ERR_clear_error();
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		rc = tlsio_flush_early(t) == 0 ? 1 : TLSIO_ERROR;
		t->wire = NULL;
		return rc;
	}
	e = SSL_get_error(t->ssl, rc);
	t->wire = NULL;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return 0;
	}
	tlsio_fail(t, rc, e);
	return TLSIO_ERROR;
}

int
tlsio_ready(const struct tlsio *t)
{
	return SSL_is_init_finished(t->ssl);
}

ssize_t
tlsio_read(struct tlsio *t, void *buf, size_t len, struct evbuffer *wire)
{
	int rc, e;

	if (!SSL_is_init_finished(t->ssl)) {
		rc = tlsio_handshake(t, wire);
		if (rc != 1)
			return rc == 0 ? TLSIO_AGAIN : TLSIO_ERROR;
	}
	if (len > 1U << 30)
		len = 1U << 30;
	t->wire = wire;
	ERR_clear_error();
	rc = SSL_read(t->ssl, buf, (int)len);
	t->wire = NULL;
	if (rc > 0)
		return rc;
	e = SSL_get_error(t->ssl, rc);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return TLSIO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		if (t->read_errno == 0 && ERR_peek_error() == 0)
			return 0;
		break;
	default:
		break;
	}
	tlsio_fail(t, rc, e);
	if (t->read_errno != 0)
		errno = t->read_errno;
	return TLSIO_ERROR;
}

int
tlsio_pending(const struct tlsio *t)
{
	return SSL_has_pending(t->ssl) ||
	    (t->in != NULL && evbuffer_get_length(t->in) > 0);
}

/* Encrypts len bytes; the handshake is done. */
static int
tlsio_encrypt(struct tlsio *t, const void *data, size_t len,
    struct evbuffer *wire)
{
	const char *p = data;
	size_t written;
	int rc = 0;

	t->wire = wire;
	ERR_clear_error();
	while (len > 0) {
		if (SSL_write_ex(t->ssl, p, len, &written) != 1) {
			tlsio_fail(t, 0, SSL_get_error(t->ssl, 0));
			rc = -1;
			break;
		}
		p += written;
		len -= written;
	}
	t->wire = NULL;
	return rc;
}

static int
tlsio_flush_early(struct tlsio *t)
{
	struct evbuffer *e = t->early;
	struct evbuffer_iovec v;
	int rc = 0;

	if (e == NULL)
		return 0;
	while (rc == 0 && evbuffer_peek(e, -1, NULL, &v, 1) > 0) {
		rc = tlsio_encrypt(t, v.iov_base, v.iov_len, t->wire);
		evbuffer_drain(e, v.iov_len);
	}
	evbuffer_free(e);
	t->early = NULL;
	return rc;
}

int
tlsio_write(struct tlsio *t, const void *data, size_t len,
    struct evbuffer *wire)
{
	if (t->failed || t->shut)
		return -1;
	if (len == 0)
		return 0;
	if (!SSL_is_init_finished(t->ssl)) {
		if (t->early == NULL && (t->early = evbuffer_new()) == NULL)
			return -1;
		return evbuffer_add(t->early, data, len);
	}
	return tlsio_encrypt(t, data, len, wire);
}

int
tlsio_write_buffer(struct tlsio *t, struct evbuffer *buf, struct evbuffer *wire)
{
	struct evbuffer_iovec v[8];
	int n, rc = 0;

	if (t->failed || t->shut) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return -1;
	}
	if (!SSL_is_init_finished(t->ssl)) {
		if (t->early == NULL && (t->early = evbuffer_new()) == NULL) {
			evbuffer_drain(buf, evbuffer_get_length(buf));
			return -1;
		}
		return evbuffer_add_buffer(t->early, buf);
	}
	/* Chain by chain: what was encrypted is drained before the next
	   peek, so a long buffer never needs a contiguous copy. */
	while (rc == 0 && (n = evbuffer_peek(buf, -1, NULL, v, 8)) > 0) {
		size_t done = 0;

		if (n > 8)
			n = 8;
		for (int i = 0; i < n && rc == 0; i++) {
			rc = tlsio_encrypt(t, v[i].iov_base, v[i].iov_len,
			    wire);
			done += v[i].iov_len;
		}
		evbuffer_drain(buf, done);
	}
	if (rc != 0)
		evbuffer_drain(buf, evbuffer_get_length(buf));
	return rc;
}

void
tlsio_shutdown(struct tlsio *t, struct evbuffer *wire)
{
	if (t->shut || t->failed || !SSL_is_init_finished(t->ssl))
		return;
	t->shut = 1;
	t->wire = wire;
	ERR_clear_error();
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	t->wire = NULL;
}

const char *
tlsio_error(const struct tlsio *t)
{
	if (t->why != NULL)
		return t->why;
	return t->failed ? "TLS failure (out of memory)" : "";
}

int
tlsio_errno(const struct tlsio *t)
{
	return t->read_errno;
}

const char *
tlsio_describe(const struct tlsio *t, char *buf, size_t len)
{
	const SSL_CIPHER *c;

	if (!SSL_is_init_finished(t->ssl) ||
	    (c = SSL_get_current_cipher(t->ssl)) == NULL) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	snprintf(buf, len, "%s %s", SSL_get_version(t->ssl),
	    SSL_CIPHER_get_name(c));
	return buf;
}
