/*
 * evsock server engine: listeners, connections, limits, timeouts and
 * graceful shutdown on a caller's struct event_base.
 *
 * Threading: a server and everything hanging off it (listeners,
 * connections, services) belong to the thread that runs its event_base.
 * Call these functions only from that thread (from inside callbacks or
 * before/after the loop runs).  Use one server per event_base per thread.
 */
#ifndef EVSOCK_SERVER_H
#define EVSOCK_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/buffer.h>

#include <evsock/version.h>

#ifdef __cplusplus
extern "C" {
#endif

struct evs_server;
struct evs_listener;
struct evs_conn;

/* How the engine hands received bytes to a service. */
enum evs_framing {
	EVS_FRAMING_RAW, /* data(): every byte as it arrives */
	EVS_FRAMING_LINE /* line(): one line at a time, LF or CRLF stripped */
};

/* Service flags. */
#define EVS_SERVICE_SENDQ_CLOSE \
	0x01 /* over sendq: close ("SendQ exceeded")
                                        instead of pausing reads */
#define EVS_SERVICE_CORK \
	0x02 /* gather a connection's output while
                                        the loop runs callbacks and write
                                        it once at the end of the pass:
                                        one send() for many small
                                        messages (chat fan-out) */

/*
 * A service is a table of callbacks plus the caller's state pointer
 * (the `arg` given to evs_server_listen).  Every callback is optional
 * except data() for RAW and line() for LINE framing.  The table must
 * outlive every listener that uses it.  A service never touches a file
 * descriptor; it talks through evs_conn_*().
 */
struct evs_service {
	const char *name;
	enum evs_framing framing;
	unsigned flags;
	/* A connection was accepted.  Return 0 to keep it, -1 to close it. */
	int (*open)(struct evs_conn *c, void *arg);
	/* RAW framing: bytes in `in`; consume what you use (evbuffer_drain,
	   evbuffer_remove or evs_conn_send_buffer). */
	void (*data)(struct evs_conn *c, struct evbuffer *in, void *arg);
	/* LINE framing: one line of `len` bytes (may contain NUL), without
	   its LF or CRLF, followed by a NUL byte; the server's scratch
	   buffer, writable, valid only during the call. */
	void (*line)(struct evs_conn *c, char *line, size_t len, void *arg);
	/* LINE framing: a line exceeded the maximum; the engine discards it
	   up to the next LF and calls this once for it. */
	void (*overlong)(struct evs_conn *c, void *arg);
	/* The peer half-closed.  Default (NULL): close after flush. */
	void (*eof)(struct evs_conn *c, void *arg);
	/* The connection's timer (evs_conn_set_timeout) expired.  Default
	   (NULL): close with "Idle timeout". */
	void (*timeout)(struct evs_conn *c, void *arg);
	/* The server is shutting down.  Default (NULL): close after flush. */
	void (*shutdown)(struct evs_conn *c, void *arg);
	/* Format the line sent to client c, refused by a limit, into buf
	   (at most len bytes, terminator included); return its length.
	   Default: "ERROR :<reason>\r\n". */
	size_t (*refuse)(struct evs_conn *c, char *buf, size_t len,
	    const char *reason, void *arg);
	/* The connection is gone; `reason` says why.  Called once, outside
	   any other callback of this connection, before it is freed. */
	void (*close)(struct evs_conn *c, const char *reason, void *arg);
};

/* Server settings for evs_server_set(); see evsockd --help for meaning. */
enum evs_server_option {
	EVS_OPT_MAX_CLIENTS,     /* total connections; 0 = unlimited */
	EVS_OPT_MAX_PER_IP,      /* connections per peer address; 0 = off */
	EVS_OPT_SENDQ,           /* bytes of unsent output per connection */
	EVS_OPT_MAX_LINE,        /* LINE framing: bytes incl. CRLF */
	EVS_OPT_IDLE_TIMEOUT_MS, /* default timer for new connections; 0 = off */
	EVS_OPT_SHUTDOWN_TIMEOUT_MS, /* deadline for evs_server_shutdown */
	EVS_OPT_LINGER_MS, /* after our FIN, how long to drain the peer */
	EVS_OPT_BACKLOG,   /* listen(2) backlog for new listeners */
	EVS_OPT_REUSEPORT, /* 1: SO_REUSEPORT on new listeners */
	EVS_OPT_MAX_READ,  /* bytes per read(2) */
	EVS_OPT_HANDSHAKE_TIMEOUT_MS, /* TLS listeners: the handshake must
	                                finish within this (default 10 s) */
	EVS_OPT_STALL_TIMEOUT_MS,     /* close a connection whose queued output
	                             has not moved this long ("Stalled
	                             output"); 0 = off (default) */
	EVS_OPT_SOCKET_BUFFER,        /* SO_SNDBUF and SO_RCVBUF of listeners
	                             opened afterwards, which accepted
	                             sockets inherit; 0 = the kernel's
	                             autotuning (default) */
	EVS_OPT_PASS_BUDGET_US,       /* a loop pass that ran this long reads no
	                             more sockets of corked services (their
	                             fan-out), and a flush that ran this
	                             long writes no more corks (they wait for
	                             the next pass; replies first); 0 = off;
	                             default 20,000 */
	EVS_OPT_FLUSH_HOLD_US /* corked output of a busy loop waits to be
	                             written at most this long after the last
	                             flush, gathering more; 0 = off; default
	                             2,000 */
};

struct evs_server_stats {
	uint64_t accepted;      /* connections accepted and kept */
	uint64_t refused;       /* refused by a limit or the service's open() */
	uint64_t closed;        /* connections closed */
	uint64_t current;       /* connections open now */
	uint64_t bytes_in;      /* bytes received */
	uint64_t bytes_out;     /* bytes sent or queued for sending */
	uint64_t accept_pauses; /* times accept() ran out of descriptors */
};

/* Why a connection was refused: an index into refused_by below. */
enum evs_refusal {
	EVS_REFUSED_SHUTDOWN,    /* "shutdown": the server is shutting down */
	EVS_REFUSED_MAX_CLIENTS, /* "max_clients": EVS_OPT_MAX_CLIENTS */
	EVS_REFUSED_PER_IP,      /* "per_ip": EVS_OPT_MAX_PER_IP */
	EVS_REFUSED_SERVICE,     /* "service": the service's open() said no */
	EVS_REFUSED_COUNT
};

/*
 * Why a connection closed: an index into closed_by below.  The engine
 * knows its own reasons; a reason a service gives evs_conn_close is
 * read by its words: "Registration timed out", "Ping timeout...",
 * "Excess Flood"/"Flood...", "Killed..."/"K-lined...", "Quit...";
 * anything else is EVS_CLOSED_SERVICE.
 */
enum evs_close_cause {
	EVS_CLOSED_PEER,         /* "peer": the peer closed (EOF) */
	EVS_CLOSED_ERROR,        /* "error": reset, broken pipe, no memory,
	                            a failed TLS handshake */
	EVS_CLOSED_IDLE,         /* "idle_timeout": EVS_OPT_IDLE_TIMEOUT_MS or
	                            the service's timer without a timeout() */
	EVS_CLOSED_REGISTRATION, /* "registration_timeout" (chat) */
	EVS_CLOSED_PING,         /* "ping_timeout" (chat) */
	EVS_CLOSED_SENDQ,        /* "sendq": over EVS_OPT_SENDQ */
	EVS_CLOSED_STALL,        /* "stall": EVS_OPT_STALL_TIMEOUT_MS */
	EVS_CLOSED_FLOOD,        /* "flood": a rate limit of the service */
	EVS_CLOSED_KILL,         /* "kill": removed by an operator (KILL,
	                            a ban) */
	EVS_CLOSED_SHUTDOWN,     /* "shutdown": the server shut down */
	EVS_CLOSED_QUIT,         /* "quit": the client said goodbye */
	EVS_CLOSED_SERVICE,      /* "service": the service, another reason */
	EVS_CLOSED_COUNT
};

#define EVS_STATS_REASONS 16 /* room in the arrays below, for new reasons */

/* The counters of one address and service a server listens on. */
struct evs_listener_stats {
	char service[32];   /* the service's name ("echo", "chat") */
	char address[64];   /* "127.0.0.1:7007", "[::1]:6667" */
	int listening;      /* listeners open on it now (0: all closed) */
	uint64_t accepted;  /* connections accepted and kept */
	uint64_t current;   /* connections open now */
	uint64_t refused;   /* refused, any reason */
	uint64_t closed;    /* closed, any cause */
	uint64_t bytes_in;  /* bytes received */
	uint64_t bytes_out; /* bytes sent or queued for sending */
	uint64_t refused_by[EVS_STATS_REASONS]; /* by enum evs_refusal */
	uint64_t closed_by[EVS_STATS_REASONS];  /* by enum evs_close_cause */
};

/* Returns a refusal's short name ("max_clients"), or NULL. */
EVS_API const char *evs_refusal_name(enum evs_refusal r);

/* Returns a close cause's short name ("sendq"), or NULL. */
EVS_API const char *evs_close_cause_name(enum evs_close_cause cause);

/* Returns a new server on `base` (not owned), or NULL with errno set. */
EVS_API struct evs_server *evs_server_new(struct event_base *base);

/* Frees the server, its listeners and connections at once (no flush,
   no close callbacks).  NULL is a no-op.  Not from inside a callback of
   this server. */
EVS_API void evs_server_free(struct evs_server *srv);

/* Sets an option; returns 0, or -1 (EINVAL) for a bad option/value. */
EVS_API int evs_server_set(struct evs_server *srv, enum evs_server_option opt,
    long long value);

/* Returns an option's current value. */
EVS_API long long evs_server_get(const struct evs_server *srv,
    enum evs_server_option opt);

/*
 * Listens on "HOST:PORT" ("127.0.0.1:7007", "[::1]:0", "localhost:6667")
 * for `svc` with state `arg` (neither owned).  Port 0 picks a free port;
 * read it back with evs_listener_addr.  Host names resolve synchronously
 * (getaddrinfo) to their first address.  Returns the listener, or NULL
 * with errno set and, if errbuf is not NULL, a one-line reason in it.
 */
EVS_API struct evs_listener *evs_server_listen(struct evs_server *srv,
    const char *hostport, const struct evs_service *svc, void *arg,
    char *errbuf, size_t errlen);

/* Like evs_server_listen, on an already bound address. */
EVS_API struct evs_listener *evs_server_listen_addr(struct evs_server *srv,
    const struct sockaddr *sa, socklen_t salen, const struct evs_service *svc,
    void *arg, char *errbuf, size_t errlen);

/*
 * Like evs_server_listen, on a socket already bound (and possibly
 * listening), such as one systemd passes in (sd_listen_fds).  Takes fd,
 * and closes it on failure too.
 */
EVS_API struct evs_listener *evs_server_listen_fd(struct evs_server *srv,
    evutil_socket_t fd, const struct evs_service *svc, void *arg, char *errbuf,
    size_t errlen);

/* Closes the listener (its socket) at once; connections it accepted stay
   open.  NULL is a no-op. */
EVS_API void evs_listener_free(struct evs_listener *l);

/* Returns the bound address (owned by the listener) and its length. */
EVS_API const struct sockaddr *evs_listener_addr(const struct evs_listener *l,
    socklen_t *len);

/* Writes the bound address as "127.0.0.1:41234" or "[::1]:41234" into
   buf; returns buf. */
EVS_API char *evs_listener_addr_str(const struct evs_listener *l, char *buf,
    size_t len);

/* Returns the listener's bound port. */
EVS_API int evs_listener_port(const struct evs_listener *l);

/* Returns the listener's service. */
EVS_API const struct evs_service *evs_listener_service(
    const struct evs_listener *l);

/* Fills *st with the server's counters. */
EVS_API void evs_server_stats(const struct evs_server *srv,
    struct evs_server_stats *st);

/*
 * Fills st[0..n) with the counters of each address and service the
 * server listens or listened on, in the order first listened on; a
 * listener opened again on the same address for the same service
 * continues its counters.  Returns how many there are (may exceed n).
 */
EVS_API size_t evs_server_listener_stats(const struct evs_server *srv,
    struct evs_listener_stats *st, size_t n);

/* Returns the event_base the server runs on (not owned). */
EVS_API struct event_base *evs_server_base(const struct evs_server *srv);

/*
 * Starts a graceful shutdown: closes the listeners, asks each service
 * to wind its connections down (shutdown callback), flushes output,
 * ends each connection with a FIN, and drains input until the peer
 * closes.  Connections still open after `timeout_ms` (0: the
 * EVS_OPT_SHUTDOWN_TIMEOUT_MS setting) are closed hard.  When the last
 * connection is gone, done(srv, arg) runs once from the event loop;
 * it may free the server.  Returns 0, or -1 if already shutting down.
 */
EVS_API int evs_server_shutdown(struct evs_server *srv, unsigned timeout_ms,
    void (*done)(struct evs_server *srv, void *arg), void *arg);

/*
 * Connections.  A struct evs_conn is valid from the service's open()
 * until its close() returns; after that it is freed.
 */

/* Queues bytes for the peer, writing straight to the socket when
   nothing is queued.  Returns 0, or -1 if the connection is closing or
   was closed by this call (over sendq, write error). */
EVS_API int evs_conn_send(struct evs_conn *c, const void *data, size_t len);

/* Like evs_conn_send; takes all of `buf`'s contents (buf is left empty). */
EVS_API int evs_conn_send_buffer(struct evs_conn *c, struct evbuffer *buf);

/* printf into the connection; same returns as evs_conn_send. */
EVS_API int evs_conn_printf(struct evs_conn *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * A reference-counted message that is formatted once and queued to many
 * connections without copying (chat fan-out).  evs_msg_new copies
 * `len` bytes and returns a message with one reference, or NULL.
 */
struct evs_msg;
EVS_API struct evs_msg *evs_msg_new(const void *data, size_t len);
/* Returns the message's bytes and length. */
EVS_API const char *evs_msg_data(const struct evs_msg *m, size_t *len);
/* Drops one reference; frees at zero.  NULL is a no-op. */
EVS_API void evs_msg_unref(struct evs_msg *m);
/* Queues m to c, taking a new reference while queued; same returns as
   evs_conn_send. */
EVS_API int evs_conn_send_msg(struct evs_conn *c, struct evs_msg *m);

/* Closes after everything queued has been sent: stops reading, flushes,
   sends FIN, drains the peer briefly.  `reason` is copied and reaches
   the service's close().  Safe from any callback; idempotent. */
EVS_API void evs_conn_close(struct evs_conn *c, const char *reason);

/* Closes now, discarding queued output.  Same safety as evs_conn_close. */
EVS_API void evs_conn_abort(struct evs_conn *c, const char *reason);

/* Returns 1 once the connection is closing or closed, else 0. */
EVS_API int evs_conn_closing(const struct evs_conn *c);

/* Stops / resumes reading from the peer (the caller's own backpressure;
   independent of the engine's sendq pause). */
EVS_API void evs_conn_pause(struct evs_conn *c);
EVS_API void evs_conn_resume(struct evs_conn *c);

/* Sets the connection's timer: the service's timeout() runs after
   `ms` without input.  0 turns it off.  Input restarts it. */
EVS_API void evs_conn_set_timeout(struct evs_conn *c, unsigned ms);

/* LINE framing: sets this connection's line limit (bytes incl. CRLF,
   as EVS_OPT_MAX_LINE; 0: the server's again).  Not from inside the
   line callback, whose line lives in the buffer this may move.
   Returns 0, or -1 (EINVAL, ENOMEM). */
EVS_API int evs_conn_set_max_line(struct evs_conn *c, size_t max);

/* Returns the number of bytes queued but not yet sent. */
EVS_API size_t evs_conn_pending(const struct evs_conn *c);

/* Returns the peer's address (owned by the connection) and length. */
EVS_API const struct sockaddr *evs_conn_peer(const struct evs_conn *c,
    socklen_t *len);

/* Returns the peer's IP address as text ("127.0.0.1", "::1"), owned by
   the connection. */
EVS_API const char *evs_conn_peer_host(const struct evs_conn *c);

/* Returns a number unique to this connection within the process
   (across servers and threads). */
EVS_API uint64_t evs_conn_id(const struct evs_conn *c);

/* User data for the service; NULL until set. */
EVS_API void evs_conn_set_data(struct evs_conn *c, void *data);
EVS_API void *evs_conn_data(const struct evs_conn *c);

/* Returns the server the connection belongs to. */
EVS_API struct evs_server *evs_conn_server(const struct evs_conn *c);

/* Returns the service table and arg the connection was accepted for. */
EVS_API const struct evs_service *evs_conn_service(const struct evs_conn *c,
    void **arg);

#ifdef __cplusplus
}
#endif

#endif
