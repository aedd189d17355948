/* What the client engine's files share: the client's fields and the
   steps one file hands to another.  Internal to libevsock. */
#ifndef EVSOCK_CLIENT_INT_H
#define EVSOCK_CLIENT_INT_H

#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <evsock/client.h>

#include "../common/addr.h"
#include "../common/sockio.h"

enum client_state {
	CLIENT_IDLE,
	CLIENT_RESOLVING,
	CLIENT_CONNECTING,
	CLIENT_HANDSHAKING, /* TLS: connected, handshake under way */
	CLIENT_CONNECTED,
	CLIENT_DONE
};

struct evs_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct evdns_base *own_dns;
	struct evdns_getaddrinfo_request *req;
	const struct evs_client_callbacks *cbs;
	void *arg;
	struct bufferevent *bev;
	struct evbuffer *early; /* sent before connected: survives retries */
	struct event *timer;    /* connect deadline */
	struct event *deferred; /* runs closed() */
	struct evutil_addrinfo *ai_list, *ai_next;
	char *target;
	char host[ADDR_HOST_MAX];
	char port[8];
	struct sockaddr_storage source;
	socklen_t sourcelen;
	size_t drain_level;
	enum client_state state;
	int closing; /* close once flushed */
	int shut_wr; /* FIN once flushed */
	int shut_done;
	int paused;
	int last_err;
	int error;
	char reason[320];
	struct evs_tls *tls;    /* TLS settings, or NULL for plain TCP */
	struct tlsio *tio;      /* the TLS transport once connected */
	struct evbuffer *plain; /* TLS: decrypted input for data() */
	struct evbuffer *wire;  /* TLS: records on their way out */
	int tls_shut;           /* TLS: close_notify sent */
	char server_name[ADDR_HOST_MAX]; /* checked and sent as SNI; "":
	                                    the target's host */
};

/* client.c */
/* Ends the client once: records error and reason, stops its events and
   schedules closed() from a deferred event. */
void client_finish(struct evs_client *cl, int error, const char *reason);
/* The connection is up (after the TLS handshake, for TLS): early output
   goes first, then connected() runs. */
void client_up(struct evs_client *cl);
/* Sends the FIN or finishes the close once all output has left. */
void client_check_flushed(struct evs_client *cl);
/* Writes o (taken) to the connected socket, straight while nothing is
   queued, the rest queued.  Returns 0, SOCKIO_WRITE_ERROR after the
   client ended, or SOCKIO_NO_MEMORY. */
int client_write_through(struct evs_client *cl, struct sockio_out *o);
/* The bufferevent callbacks of a connecting or connected client. */
void client_read_cb(struct bufferevent *bev, void *arg);
/* Output drained below the watermark: flush checks, then drained(). */
void client_write_cb(struct bufferevent *bev, void *arg);
/* Connect result, EOF and errors of the bufferevent. */
void client_event_cb(struct bufferevent *bev, short what, void *arg);

/* client-connect.c */
/* Connects to the next resolved address; when none is left the client
   finishes with the last error. */
void client_connect_next(struct evs_client *cl);
/* The connect deadline (and the TLS handshake's) passed. */
void client_connect_timer_cb(evutil_socket_t fd, short what, void *arg);

/* client-tls.c */
/* TCP is up: the TLS handshake starts.  Returns 0, or -1 when the client
   finished. */
int client_tls_start(struct evs_client *cl);
/* Runs the handshake, then decrypts what arrived and hands it to
   data(). */
void client_tls_read(struct evs_client *cl);
/* Encrypts o (taken) and writes the records through.  Returns 0 or -1
   (the client ended). */
int client_tls_send(struct evs_client *cl, struct sockio_out *o);
/* Writes the records made so far through.  Returns 0 or -1 (the client
   ended). */
int client_tls_flush(struct evs_client *cl);
/* The handshake or the connection failed: one line naming the peer. */
void client_tls_failed(struct evs_client *cl, const char *why);

#endif
