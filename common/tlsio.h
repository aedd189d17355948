/*
 * The TLS transport beneath a connection: an SSL whose reads come from
 * the socket (or from an evbuffer of received bytes) and whose records
 * go into an evbuffer the caller then writes the way it writes plain
 * bytes.  A write therefore never waits inside OpenSSL: what the
 * kernel does not take queues where plain output would.
 */
#ifndef EVSOCK_COMMON_TLSIO_H
#define EVSOCK_COMMON_TLSIO_H

#include <stddef.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/util.h>

#include <evsock/tls.h>

#define TLSIO_ERROR (-1) /* the connection failed; tlsio_error says why */
#define TLSIO_AGAIN (-2) /* nothing to read until the peer sends more */

struct tlsio;

/*
 * Returns a transport on fd (not owned) with a new SSL from tls, or
 * NULL.  Client settings check the peer against `host` (a name also
 * goes out as SNI); server settings ignore it.
 */
struct tlsio *tlsio_new(struct evs_tls *tls, evutil_socket_t fd,
    const char *host);

/* Frees the transport and its SSL (nothing is sent).  NULL is a no-op. */
void tlsio_free(struct tlsio *t);

/* Takes received bytes from `in` (not owned) instead of recv() on the
   socket; `in_eof` set once the peer closed. */
void tlsio_set_input(struct tlsio *t, struct evbuffer *in);

/* Tells the transport that `in` will get no more bytes. */
void tlsio_input_eof(struct tlsio *t);

/*
 * Advances the handshake with what has arrived; records it makes go to
 * `wire`.  Returns 1 once done (plaintext written before it is
 * encrypted into wire now), 0 while waiting for the peer, TLSIO_ERROR
 * with tlsio_error set.
 */
int tlsio_handshake(struct tlsio *t, struct evbuffer *wire);

/* Returns 1 once the handshake is done. */
int tlsio_ready(const struct tlsio *t);

/*
 * Reads plaintext into buf: returns the byte count, 0 at the peer's
 * end (close_notify or TCP EOF), TLSIO_AGAIN, or TLSIO_ERROR.  Drives
 * the handshake first while it is not done.  Records the read makes
 * (alerts, key updates, tickets) go to wire.
 */
ssize_t tlsio_read(struct tlsio *t, void *buf, size_t len,
    struct evbuffer *wire);

/* Returns 1 if decrypted or received bytes wait inside the SSL (a read
   can return data without the socket being readable). */
int tlsio_pending(const struct tlsio *t);

/*
 * Encrypts len bytes at data into wire, or keeps them until the
 * handshake is done.  Returns 0, or -1 (out of memory, or a failed
 * connection).
 */
int tlsio_write(struct tlsio *t, const void *data, size_t len,
    struct evbuffer *wire);

/* Like tlsio_write for all of buf, which is left empty. */
int tlsio_write_buffer(struct tlsio *t, struct evbuffer *buf,
    struct evbuffer *wire);

/* Puts our close_notify into wire, once; later calls do nothing. */
void tlsio_shutdown(struct tlsio *t, struct evbuffer *wire);

/* Returns one line saying why the connection failed ("" if it did
   not). */
const char *tlsio_error(const struct tlsio *t);

/* Returns the errno of a failed socket read, or 0. */
int tlsio_errno(const struct tlsio *t);

/* Returns "TLSv1.3 TLS_AES_256_GCM_SHA384" style text once the
   handshake is done, else "". */
const char *tlsio_describe(const struct tlsio *t, char *buf, size_t len);

#endif
