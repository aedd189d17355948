/*
 * The load engine's insides, shared by the worker (load-worker.c), its
 * connections (load-conn.c) and the protocols (load-echo.c,
 * load-irc.c).  load.c and load-report.c see only load-int.h.
 *
 * A protocol is a table of callbacks (struct load_proto): the worker
 * owns the loop, the pacing and the figures, a connection owns its
 * socket and output, and the protocol decides what to send and checks
 * what arrives.  A new protocol is one more file and one more table.
 */
#ifndef EVSOCK_CLIENT_LOAD_ENGINE_H
#define EVSOCK_CLIENT_LOAD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "../common/line.h"
#include "load-int.h"
#include "load-script.h"

#define LOAD_RBUF_SIZE (256 * 1024)

enum load_conn_state {
	LOAD_CONN_IDLE, /* not started */
	LOAD_CONN_CONNECTING,
	LOAD_CONN_REGISTERING, /* irc: NICK/USER sent */
	LOAD_CONN_JOINING,     /* irc: JOIN sent */
	LOAD_CONN_READY,
	LOAD_CONN_CLOSED
};

/* Per-connection state of each protocol. */
struct load_echo_conn {
	size_t rpos; /* bytes of the oldest message back */
};

struct load_irc_conn {
	struct line_reader lines;
	int nick_tries;
	uint64_t seq;
};

/* A reply awaited: when its request was due, which expect step it
   answers, and the sequence number of the send before it. */
struct load_req_exp {
	uint64_t due;
	uint64_t seq;
	uint32_t step;
};

struct load_req_conn {
	size_t pos;             /* the next script step */
	uint64_t seq;           /* sends so far on this slot */
	uint64_t last_due;      /* when the last send was due */
	struct load_req_exp *q; /* replies awaited, oldest at qhead */
	uint32_t qhead, qlen, qcap;
	struct load_match m; /* the oldest reply, as it arrives */
	char *want;          /* its expanded bytes (templates) */
	size_t wlen;
	int want_ready;
	struct event *sleep_ev;
	int sleeping;
	uint64_t rng; /* {rand:N} */
};

struct load_conn {
	struct load_worker *w;
	uint64_t id; /* global index 0..conns-1 */
	int fd;
	enum load_conn_state state;
	int want_write; /* EV_WRITE is armed */
	void *ssl;      /* --tls: the connection's SSL, else NULL */
	struct event *ev;
	/* Output not yet taken by the kernel. */
	char *obuf;
	size_t ooff, olen, ocap;
	/* Requests in flight, for protocols whose every message is
	   answered on its connection: the due time of each, oldest at
	   rhead; their count is send_seq - recv_seq. */
	uint64_t send_seq, recv_seq;
	uint64_t *ring;
	uint32_t rhead, rcap;
	int sender;
	int member;          /* ready when sending began */
	uint64_t ready_at;   /* when it became ready; 0 counts as always */
	uint64_t connect_at; /* when its connect began */
	union {
		struct load_echo_conn echo;
		struct load_irc_conn irc;
		struct load_req_conn req;
	} u;
};

struct load_proto {
	/* 1: every message is answered on its own connection (the
	   requests in flight say when a connection is done). */
	int replies;
	/* 1: every connection sends; 0: the first conf->senders. */
	int all_send;
	/* 1: sends on a timer even in closed loop. */
	int paced;
	/* Sets up w->pdata (the worker free()s it); returns 0 or -1. */
	int (*worker_init)(struct load_worker *w);
	/* The connection is up: register, or become ready. */
	void (*opened)(struct load_conn *c);
	/* Returns how many bytes to read at most (NULL: a whole buffer). */
	size_t (*read_want)(struct load_conn *c, size_t max);
	/* Bytes arrived at `now`; p is the worker's scratch (writable). */
	void (*input)(struct load_conn *c, char *p, size_t n, uint64_t now);
	/* Time to send one message, due at `due`. */
	void (*send)(struct load_conn *c, uint64_t due);
	/* The run is over: a polite goodbye if the socket takes it. */
	void (*bye)(struct load_conn *c);
	/* Frees the protocol's per-connection state. */
	void (*conn_free)(struct load_conn *c);
};

extern const struct load_proto load_echo_proto;
extern const struct load_proto load_irc_proto;
extern const struct load_proto load_req_proto;

struct load_worker {
	struct load_shared *sh;
	const struct load_conf *conf;
	const struct load_proto *proto;
	void *pdata; /* the protocol's per-worker buffer */
	unsigned id;
	struct event_base *base;
	struct event *tick;
	struct event *pacer; /* open loop: fires when the next message is due */
	struct load_conn *conns;
	size_t nconns;
	size_t next_connect; /* conns[] index to start next */
	int starting;        /* inside load_worker_start_connects */
	size_t connecting;
	uint64_t t_start;
	int phase; /* last phase acted on */
	uint64_t t_run, t_measure, t_end;
	uint64_t drain_deadline;
	/* pacer (open loop) */
	double pace_ns; /* ns between messages of this worker */
	uint64_t pace_k;
	uint64_t pace_offset;
	size_t pace_rr;
	size_t nsenders;
	struct load_conn **senders;
	char *rbuf;
	/* figures */
	struct hist *total;         /* latencies inside the window */
	struct hist *iv;            /* latencies since the last publish */
	struct hist *cross;         /* irc, several targets: those inside the
	                               window whose sender used another one */
	uint64_t cross_msgs;        /* deliveries from another target, ever */
	uint64_t hs_first, hs_last; /* --tls: first connect, last handshake */
	uint64_t iv_published;
	uint64_t up, failed, ready, open, msgs, sent, bytes_out, bytes_in;
	uint64_t members;
	uint64_t win_msgs, win_bytes;
	uint64_t err[LOAD_ERR_COUNT];
	char first_error[LOAD_ERROR_LEN];
	char first_mismatch[LOAD_ERROR_LEN];
	/* connections as the load */
	struct hist *conn_total; /* connect latencies */
	uint64_t cycles;         /* connections closed by a close step */
	uint64_t win_conns;      /* connects begun inside the window */
	uint64_t throttled;      /* irc: sends the server did not read */
	struct load_counts counts;
};

/* Counts an error of kind e and keeps the first error's words. */
void load_worker_error(struct load_worker *w, enum load_err e, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* Counts a reply that did not match and keeps the first one's words. */
void load_worker_mismatch(struct load_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keeps the first error's words without counting an error. */
void load_worker_note(struct load_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Counts one message due at `due` that completed at `now`. */
void load_worker_record(struct load_worker *w, uint64_t due, uint64_t now,
    size_t bytes);

/* Counts one message, already counted by load_worker_record, as
   delivered from a sender on another target than its receiver's. */
void load_worker_record_cross(struct load_worker *w, uint64_t due,
    uint64_t now);

/* Starts the connections that may start now. */
void load_worker_start_connects(struct load_worker *w, uint64_t now);

/* Acts on the main thread's RUN phase: membership, first messages. */
void load_worker_enter_run(struct load_worker *w);

/* Opens c's socket and starts connecting; returns 0 or -1 (errno). */
int load_conn_start(struct load_conn *c);

/* A connection that never came up: counts it failed, frees its socket. */
void load_conn_fail(struct load_conn *c, int err);

/* Closes c (no-op unless open). */
void load_conn_close(struct load_conn *c);

/* Frees what c holds, at the worker's end. */
void load_conn_free(struct load_conn *c);

/* Marks c ready (ready_at: when, or 0) and counts it. */
void load_conn_ready(struct load_conn *c, uint64_t ready_at);

/* Writes data, straight to the socket when nothing is queued, keeping
   what the kernel did not take.  Returns 0, or -1 after closing c. */
int load_conn_write(struct load_conn *c, const void *data, size_t len);

/* Remembers a request due at `due` as in flight; returns 0, or -1
   after closing c when too many are. */
int load_conn_push(struct load_conn *c, uint64_t due);

/* Forgets the oldest request in flight; returns when it was due. */
uint64_t load_conn_pop(struct load_conn *c);

#endif
