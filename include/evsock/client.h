/*
 * evsock client engine: one outgoing TCP connection on a caller's
 * struct event_base, connected without blocking (host names through
 * evdns), with a connect timeout, callbacks, and flushed close.
 *
 * Threading: a client belongs to the thread that runs its event_base.
 */
#ifndef EVSOCK_CLIENT_H
#define EVSOCK_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/dns.h>

#include <evsock/version.h>

#ifdef __cplusplus
extern "C" {
#endif

struct evs_client;

struct evs_client_callbacks {
	/* The connection is up. */
	void (*connected)(struct evs_client *cl, void *arg);
	/* Bytes arrived in `in`; consume what you use. */
	void (*data)(struct evs_client *cl, struct evbuffer *in, void *arg);
	/* Everything queued has been sent (output buffer empty). */
	void (*drained)(struct evs_client *cl, void *arg);
	/* The peer half-closed (EOF).  NULL: the engine closes once output
	   is flushed.  Non-NULL: the callback decides. */
	void (*eof)(struct evs_client *cl, void *arg);
	/*
	 * The connection is over: `error` is 0 after a clean close, else an
	 * errno value (ECONNREFUSED, ETIMEDOUT, ...) or -1 for a name
	 * resolution failure; `reason` is one line naming the address.
	 * Runs once, from the event loop; may call evs_client_free.
	 */
	void (*closed)(struct evs_client *cl, int error, const char *reason,
	    void *arg);
};

/*
 * Returns a new idle client on `base`, or NULL.  `dns` and `cbs` are
 * not owned and must outlive the client.  With `dns` NULL, a host name
 * makes the client start a resolver of its own (/etc/resolv.conf and
 * /etc/hosts); pass a shared evdns_base when making many clients.
 * A client makes one connection; make a new one to connect again.
 */
EVS_API struct evs_client *evs_client_new(struct event_base *base,
    struct evdns_base *dns, const struct evs_client_callbacks *cbs, void *arg);

/* Frees at once: no flush, no callbacks.  NULL is a no-op.  Safe from
   the client's own callbacks. */
EVS_API void evs_client_free(struct evs_client *cl);

/* Binds the local side to `host` (an IP address) before connecting;
   returns 0 or -1 (EINVAL). */
EVS_API int evs_client_set_source(struct evs_client *cl, const char *host);

/*
 * Starts connecting to "HOST:PORT" ("127.0.0.1:7007", "[::1]:7007",
 * "example.net:6667").  timeout_ms 0: no timeout.  Returns 0 (the
 * outcome arrives through connected or closed), or -1 with errno for
 * malformed input or a client already connecting.
 */
EVS_API int evs_client_connect(struct evs_client *cl, const char *hostport,
    unsigned timeout_ms);

/* Like evs_client_connect to a resolved address. */
EVS_API int evs_client_connect_addr(struct evs_client *cl,
    const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms);

/* Queues bytes, writing straight to the socket when nothing is queued.
   Bytes sent while the name resolves or the connection is being made
   are kept and go first once it is up (across addresses tried in turn).
   Returns 0, or -1 before evs_client_connect or once closed/closing. */
EVS_API int evs_client_send(struct evs_client *cl, const void *data,
    size_t len);

/* Like evs_client_send; takes all of buf's contents. */
EVS_API int evs_client_send_buffer(struct evs_client *cl, struct evbuffer *buf);

/* Half-closes: sends FIN once queued output is flushed; reading goes on. */
EVS_API void evs_client_shutdown_write(struct evs_client *cl);

/* Closes once queued output is flushed; closed() follows with error 0. */
EVS_API void evs_client_close(struct evs_client *cl);

/* Returns bytes queued but not yet sent. */
EVS_API size_t evs_client_pending(const struct evs_client *cl);

/* Stops / resumes reading. */
EVS_API void evs_client_pause(struct evs_client *cl);
EVS_API void evs_client_resume(struct evs_client *cl);

/* Sets the output level at or below which drained() runs (default 0). */
EVS_API void evs_client_set_drain_level(struct evs_client *cl, size_t bytes);

/* Returns the target as given ("host:port"), owned by the client. */
EVS_API const char *evs_client_target(const struct evs_client *cl);

/* Returns the socket, or -1 before connecting; for setsockopt only. */
EVS_API evutil_socket_t evs_client_fd(const struct evs_client *cl);

#ifdef __cplusplus
}
#endif

#endif
