/* Internals shared by the server engine's files (server.c,
   server-listen.c, server-stats.c, conn.c, conn-read.c, conn-send.c,
   msg.c); not installed.  Calls run one way: server*.c call conn*.c,
   never the other way. */
#ifndef EVSOCK_SERVER_INT_H
#define EVSOCK_SERVER_INT_H

#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include <evsock/server.h>
#include <evsock/tls.h>

#include "../common/line.h"
#include "../common/sockio.h"
#include "spool.h"

union conn_addr {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

#define CONN_CLOSING 0x001    /* close after flush requested */
#define CONN_DEAD 0x002       /* on the dead list, waiting for the reaper */
#define CONN_SENDQ_WAIT 0x004 /* reads paused: output over sendq */
#define CONN_USER_PAUSE 0x008 /* reads paused by the service */
#define CONN_EOF 0x010        /* peer half-closed */
#define CONN_FIN_SENT 0x020   /* shutdown(SHUT_WR) done, draining */
#define CONN_OPENED 0x040     /* service open() returned 0 */
#define CONN_IN_READ 0x080    /* inside the read callback */
#define CONN_REFUSED 0x100    /* refused by a limit; never opened */
#define CONN_IP_COUNTED 0x200 /* counted in the per-IP table */
#define CONN_CORKED 0x400     /* on the server's flush list */
#define CONN_HANDSHAKE 0x1000 /* TLS handshake not done yet */
#define CONN_GOT_DATA 0x2000  /* something was received */
#define CONN_PEER_GONE \
	0x800 /* a write failed (reset, broken pipe):
                                 nothing more is sent; what the peer
                                 sent before is still read and served */

/* The counters of one address and service; they outlive the
   listeners and connections that count in them (until the server is
   freed), so that a counter never goes back. */
struct lstats {
	TAILQ_ENTRY(lstats) link;
	const struct evs_service *svc;
	union conn_addr addr;
	socklen_t addrlen;
	struct evs_listener_stats st;
};

TAILQ_HEAD(lstats_list, lstats);

struct evs_conn {
	TAILQ_ENTRY(evs_conn) link; /* server's live or dead list */
	struct evs_server *srv;
	struct lstats *ls; /* its listener's counters */
	const struct evs_service *svc;
	void *arg;
	struct event *rev; /* our read event, stored after the struct */
	unsigned read_ms;  /* its timeout while armed; 0: none */
	struct bufferevent *bev;
	struct tlsio *tls;      /* the TLS transport, or NULL for plain TCP */
	struct evbuffer *out;   /* bev's output: what the kernel did not take */
	struct spool_segs cork; /* EVS_SERVICE_CORK output not yet written:
	                           ranges of the server's spool */
	TAILQ_ENTRY(evs_conn) flink; /* server's flush list, while CORKED */
	void *data;
	char *reason;
	char *host; /* peer IP text, made on first use */
	uint64_t id;
	int cause; /* enum evs_close_cause once known, else -1 */
	unsigned timeout_ms;
	unsigned flags;
	size_t max_line; /* LINE framing limit; 0: the server's */
	struct line_state line;
	union conn_addr peer;
};

TAILQ_HEAD(conn_list, evs_conn);

struct evs_listener {
	TAILQ_ENTRY(evs_listener) link;
	struct evs_server *srv;
	struct evconnlistener *lev;
	const struct evs_service *svc;
	void *arg;
	union conn_addr addr;
	socklen_t addrlen;
	struct lstats *ls;
	struct evs_tls *tls; /* TLS settings for new connections, or NULL */
};

TAILQ_HEAD(listener_list, evs_listener);

struct ipcount;
struct tlsio;

struct evs_server {
	struct event_base *base;
	struct listener_list listeners;
	struct conn_list conns;
	struct conn_list dead;
	struct lstats_list lstats; /* per address and service */
	struct event *reaper;      /* frees dead connections */
	struct event *flusher;     /* writes corked output, once a pass */
	TAILQ_HEAD(, evs_conn) flushq;
	struct spool spool;         /* the bytes the corks on flushq refer to */
	struct evbuffer *tlsplain;  /* a TLS cork on its way to encryption */
	struct event *accept_retry; /* re-enables listeners after EMFILE */
	struct event *shutdown_timer;
	char *linebuf;            /* LINE framing scratch, linecap + 1 */
	size_t linecap;           /* the largest line limit in use */
	char *readbuf;            /* recv() scratch, max_read bytes */
	struct evbuffer *tlswire; /* TLS records on their way to a socket;
	                               empty between calls */
	struct {
		unsigned ms;
		const struct timeval *tv;
	} common_tv[8];         /* libevent common timeouts by length */
	struct ipcount **iptab; /* per-IP counts, when max_per_ip > 0 */
	void (*shutdown_done)(struct evs_server *, void *);
	void *shutdown_arg;
	struct evs_server_stats st;
	size_t max_clients;
	size_t max_per_ip;
	size_t sendq;
	size_t max_line;
	size_t max_read;
	unsigned idle_timeout_ms;
	unsigned shutdown_timeout_ms;
	unsigned pass_budget_us;    /* EVS_OPT_PASS_BUDGET_US */
	unsigned flush_hold_us;     /* EVS_OPT_FLUSH_HOLD_US */
	struct timeval read_pass;   /* the pass that last read a socket */
	struct timeval last_flush;  /* when the last flush began */
	size_t last_flush_n;        /* connections it wrote */
	unsigned long pass_max_us;  /* longest pass since the last report */
	struct timeval pass_report; /* when it was last reported */
	unsigned linger_ms;
	unsigned stall_timeout_ms;
	int socket_buffer;     /* 0: the kernel's autotuning */
	unsigned handshake_ms; /* TLS handshake deadline */
	int backlog;
	int reuseport;
	int accept_paused;
	int shutting_down;
	int done_called;
};

/* conn.c: makes a connection of fd for listener l (takes fd), on the
   server's live list but not yet opened; returns it, or NULL (fd
   closed). */
struct evs_conn *conn_new(struct evs_listener *l, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen);

/* conn.c: runs the service's open() and starts reading; returns 0, or
   -1 when the service refused (nothing sent, not closed yet). */
int conn_open(struct evs_conn *c);

/* conn.c: refuses a connection that was never opened: counts it
   under `why`, sends the service's refusal line for `reason`, then
   closes. */
void conn_refuse(struct evs_conn *c, enum evs_refusal why, const char *reason);

/* conn.c: sets c's stall timer (the bufferevent's write timeout) from
   the server's settings. */
void conn_stall_timer(struct evs_conn *c);

/* conn.c: counts the close that follows under EVS_CLOSED_ERROR unless
   a reason was given already (the reason about to be given is a socket
   error's text). */
void conn_cause_error(struct evs_conn *c);

/* conn.c: runs the service's close() for a dead connection that was
   opened (the reaper's work, once per connection). */
void conn_end(struct evs_conn *c);

/* conn.c: frees a connection at once without callbacks. */
void conn_free(struct evs_conn *c);

/* conn.c: begins shutdown for one connection. */
void conn_shutdown(struct evs_conn *c);

/* conn.c: the one way out: marks c dead with `reason` (NULL: keep the
   first one), stops its I/O and lets the reaper free it. */
void conn_lost(struct evs_conn *c, const char *reason);

/* conn.c: a write to c failed with err; see the definition. */
void conn_write_failed(struct evs_conn *c, int err);

/* conn-read.c: sets up c's read event on fd (not yet armed). */
void conn_read_init(struct evs_conn *c, evutil_socket_t fd);

/* conn-read.c: arms c's read event with its current timeout (the
   handshake's while a TLS handshake runs); nothing once c is dead. */
void conn_read_on(struct evs_conn *c);

/* conn-read.c: disarms c's read event. */
void conn_read_off(struct evs_conn *c);

/* conn-read.c: microseconds since the loop's current pass began, from
   libevent's cached time (about 0 when the base caches no time). */
unsigned long conn_read_pass_us(struct evs_server *srv);

/* conn-send.c: the transport's write: o (taken) goes to the socket
   while nothing is queued, the rest to the bufferevent; over TLS
   encrypted first.  Returns 0, SOCKIO_WRITE_ERROR or SOCKIO_NO_MEMORY. */
int conn_send_write_through(struct evs_conn *c, struct sockio_out *o);

/* conn-send.c: writes the records the last TLS call made (the server's
   wire buffer) the way plain output goes.  Returns 0, or -1 when c was
   lost or its peer is gone. */
int conn_send_tls_flush(struct evs_conn *c);

/* conn-send.c: drops all output the kernel has not taken, queued and
   corked. */
void conn_send_drop(struct evs_conn *c);

/* conn-send.c: takes c off the flush list; its cork keeps its bytes. */
void conn_send_uncork(struct evs_conn *c);

/* conn-send.c: writes c's corked bytes straight to the socket when
   nothing else is queued; what the kernel does not take moves to the
   bufferevent. */
void conn_send_flush(struct evs_conn *c);

/* conn-send.c: flushes every connection on the flush list (the
   flusher event's work, once a pass of the loop). */
void conn_send_flush_all(struct evs_server *srv);

/* server-listen.c: frees l: its socket closes, its counters stay. */
void server_listen_free(struct evs_listener *l);

/* server-listen.c: takes in the connections already waiting in l's
   accept queue, as the accept callback would. */
void server_listen_pending(struct evs_listener *l);

/* server-listen.c: enables accepting on every listener again (after a
   pause for descriptors), unless the server is shutting down. */
void server_listen_resume(struct evs_server *srv);

/* server-listen.c: frees c at once, giving back its admission: its slot
   and its per-IP count. */
void server_listen_conn_free(struct evs_server *srv, struct evs_conn *c);

/* server-listen.c: makes the per-IP table if there is none; returns 0,
   or -1 when out of memory. */
int server_listen_iptab(struct evs_server *srv);

/* server-listen.c: frees the per-IP table and its entries. */
void server_listen_iptab_free(struct evs_server *srv);

/* server-stats.c: returns the counters of svc on addr, made on first
   use and owned by srv, or NULL when out of memory. */
struct lstats *server_stats_listener(struct evs_server *srv,
    const struct evs_service *svc, const union conn_addr *addr,
    socklen_t addrlen);

/* server-stats.c: frees every listener's counters. */
void server_stats_free(struct evs_server *srv);

/* msg.c: takes one more reference to m and returns it. */
struct evs_msg *msg_ref(struct evs_msg *m);

/* msg.c: where m's bytes are in s since its last reset, copied there
   on first use; NULL when out of memory. */
const struct spool_at *msg_spool(struct evs_msg *m, struct spool *s);

/* msg.c: an evbuffer_ref_cleanup_cb that drops the reference `arg`. */
void msg_unref_cb(const void *data, size_t len, void *arg);

#endif
