/*
 * The Redis backplane's private header, shared by chat-redis.c (the
 * connections, heartbeats, splits and rejoins), chat-redis-out.c (what
 * this instance publishes, and the nick claims) and chat-redis-in.c
 * (what other instances published, applied here).
 * docs/CLUSTER.md describes every key, channel and event.
 */
#ifndef EVSOCK_CHAT_REDIS_INT_H
#define EVSOCK_CHAT_REDIS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "chat-int.h"
#include "chat-link.h"

#define CR_NODE_MAX 63
#define CR_EPOCH_MAX 24
#define CR_CHAN_MAX (CR_NODE_MAX + 24) /* a pub/sub channel's name */
#define CR_EVENT_MAX 65536             /* longest event applied */

struct redisAsyncContext;
struct cr_claim;
struct cr_query;

/* Another instance, as its events made it known. */
struct chat_node {
	TAILQ_ENTRY(chat_node) link;
	char name[CR_NODE_MAX + 1];
	char epoch[CR_EPOCH_MAX];
};

/* A channel message this instance published and delivers to its own
   members when Redis hands it back, in the order everyone sees. */
struct cr_defer {
	STAILQ_ENTRY(cr_defer) link;
	uint64_t seq;
	struct evs_msg *m;
	char chan[IRC_CHANNEL_MAX + 1];
	uint64_t except; /* the connection id of the member left out; 0 */
};

enum cr_state {
	CR_DOWN,       /* split: serving local users only */
	CR_CONNECTING, /* connections and subscriptions under way */
	CR_SYNCING,    /* reclaiming local nicks before saying hello */
	CR_UP
};

struct chat_redis {
	struct chat_link link; /* first: chat->link points here */
	struct evs_chat *chat;
	struct event_base *base;
	struct redisAsyncContext *cmd, *sub;
	char host[256];
	char path[108];
	int port, db;
	char node[CR_NODE_MAX + 1];
	char epoch[CR_EPOCH_MAX];
	/* Pub/sub channels belong to no database: with /DB in the URL
	   their names carry it, so that clusters on one Redis stay apart. */
	char bus[CR_CHAN_MAX];      /* every instance's events */
	char nodechan[CR_CHAN_MAX]; /* lines for this instance */
	unsigned timeout_ms;
	enum cr_state state;
	int was_up;    /* split notices only after the first join */
	int was_split; /* users were told of the split */
	int warned;    /* the outage is in the log */
	int freeing;
	struct event *beat;  /* heartbeat and liveness, every timeout/3 */
	struct event *retry; /* reconnect, after a backoff */
	struct event *split; /* the rest of a split, outside callers */
	unsigned backoff_ms;
	size_t queued; /* bytes published, not yet answered */
	size_t queue_max;
	uint64_t answered_ms; /* monotonic: Redis's last answer */
	uint64_t seq;
	int nsubs;
	size_t syncing; /* nick claims unanswered before hello */
	TAILQ_HEAD(, chat_node) nodes;
	STAILQ_HEAD(, cr_defer) defers;
	TAILQ_HEAD(, cr_claim) claims;
	TAILQ_HEAD(, cr_query) queries;
	char ev[CR_EVENT_MAX];
};

/* chat-redis.c */
/* Writes the name of node's own pub/sub channel into buf. */
void chat_redis_node_chan(const struct chat_redis *r, const char *node,
    char *buf, size_t size);
/* Declares the instance split (once): what awaits its return is
   delivered now; the rest of the split and the reconnection run from
   the loop, outside the caller. */
void chat_redis_split_later(struct chat_redis *r, const char *why);
/* Says hello once local nicks are reclaimed: the others drop what they
   knew of this instance, take its burst and answer with theirs. */
void chat_redis_hello(struct chat_redis *r);
/* Frees the backplane: the link's free operation. */
void chat_redis_free(struct chat_link *link);

/* chat-redis-out.c */
/* The link operations. */
extern const struct chat_link_ops chat_redis_out_ops;
/* Publishes a printf-built event on `chan` (CR_BUS or a node's
   channel), followed by len bytes of `tail` (may be NULL). */
void chat_redis_out_publish(struct chat_redis *r, const char *chan,
    const char *tail, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Claims `nick` for local u (NICK or registration waits for the
   answer); returns 1 if the answer will come, 0 if it cannot be asked. */
int chat_redis_claim_new(struct chat_redis *r, struct chat_user *u,
    const char *nick);
/* Gives `nick` back in Redis if this instance's life still holds it. */
void chat_redis_claim_release(struct chat_redis *r, const char *nick);
/* Drops u from the claims awaiting an answer (it is leaving). */
void chat_redis_claim_forget(struct chat_redis *r, const struct chat_user *u);
/* Claims local u's nick again after a split, earlier claims winning;
   returns 1 if the answer (chat_redis_hello when the last) will come. */
int chat_redis_claim_rejoin(struct chat_redis *r, struct chat_user *u);
/* Claims local u's new fallback nick (no answer awaited). */
void chat_redis_claim_quiet(struct chat_redis *r, struct chat_user *u);
/* Publishes local u and its memberships on chan. */
void chat_redis_out_announce(struct chat_redis *r, struct chat_user *u,
    const char *chan);
/* Publishes this instance's users, channels and memberships on chan;
   with `seat` (its own rejoin, on the bus) the memberships take their
   seats in Redis again. */
void chat_redis_out_burst(struct chat_redis *r, const char *chan, int seat);
/* Frees node's nick claims and channel seats in Redis: those of its
   life `epoch` once it is dead, or (mine) those of every other life
   and its seats, as it rejoins. */
void chat_redis_claim_reap(struct chat_redis *r, const char *node,
    const char *epoch, int mine);

/* chat-redis-in.c */
/* Applies one event from the bus or this instance's channel. */
void chat_redis_in_event(struct chat_redis *r, const char *data, size_t len);
/* Returns the node called name (creating it with epoch), or NULL if
   out of memory. */
struct chat_node *chat_redis_in_node(struct chat_redis *r, const char *name,
    const char *epoch);
/* Removes node and every user of it, telling local users they quit
   with `reason`. */
void chat_redis_in_drop(struct chat_redis *r, struct chat_node *node,
    const char *reason);
/* Renames u to its deterministic fallback, telling local peers. */
void chat_redis_in_rename(struct chat_redis *r, struct chat_user *u);
/* Delivers every message still awaiting its return, locally. */
void chat_redis_in_flush(struct chat_redis *r);

/* chat-redis-hist.c */
/* The link's history operation. */
int chat_redis_hist_query(struct chat_link *link, struct chat_user *u,
    const char *target, const char *before, size_t limit,
    chat_link_history_fn *cb);
/* Drops u from the queries awaiting Redis. */
void chat_redis_hist_forget(struct chat_redis *r, const struct chat_user *u);

#endif
