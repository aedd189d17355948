/*
 * The cluster backplane as the chat modules see it: a small table of
 * functions that chat-state.c and chat-send.c call when something
 * local changes, so that other instances learn of it.  The one
 * implementation is chat-redis.c; without --cluster chat->link is NULL
 * and none of this runs.
 *
 * Events from other instances come back the other way: the backplane
 * applies them through chat_state_remote_* and delivers their lines
 * through chat_send_*_line, with chat->link_quiet raised so that
 * nothing it applies is published again.
 */
#ifndef EVSOCK_CHAT_LINK_H
#define EVSOCK_CHAT_LINK_H

#include <stddef.h>
#include <stdint.h>

struct chat_chan;
struct chat_link;
struct chat_member;
struct chat_user;

/* One line of a channel's history, as the cluster keeps it. */
struct chat_link_entry {
	const char *id;   /* the stream entry id, "<ms>-<seq>" */
	uint64_t ms;      /* when it was sent, wall clock */
	const char *line; /* as members saw it, without CRLF */
	size_t len;
};

/* Receives a history query's lines, oldest first (n = 0: none, or
   Redis could not answer); u is the user who asked. */
typedef void chat_link_history_fn(struct chat_user *u,
    const struct chat_link_entry *e, size_t n);

struct chat_link_ops {
	/* Claims `nick` for local user u across the cluster.  Returns 1
	   when the answer comes later through chat_reg_nick_claimed, 0
	   when the caller may take the nick now (the backplane is split). */
	int (*claim)(struct chat_link *, struct chat_user *u, const char *nick);
	/* u registered, or its user modes or away message changed. */
	void (*user)(struct chat_link *, struct chat_user *u);
	/* u changed its nick from `old` (may be ""). */
	void (*nick)(struct chat_link *, struct chat_user *u, const char *old);
	/* u is about to leave its channels and be freed. */
	void (*quit)(struct chat_link *, struct chat_user *u);
	/* A local user joined m->ch. */
	void (*join)(struct chat_link *, struct chat_member *m);
	/* u is leaving ch, by its own PART or by a local KICK (still a
	   member during the call). */
	void (*part)(struct chat_link *, struct chat_user *u,
	    struct chat_chan *ch);
	/* ch's topic, modes or operators changed. */
	void (*chan)(struct chat_link *, struct chat_chan *ch);
	/* A line from local `from` to ch's members but `except`.  With
	   `defer`, returns 1 if the backplane will deliver it to local
	   members itself, in the cluster's order; 0 if the caller must. */
	int (*chan_line)(struct chat_link *, struct chat_chan *ch,
	    struct chat_user *from, struct chat_user *except, const char *line,
	    size_t len, int defer);
	/* A line from local `from` to everyone sharing a channel with it. */
	void (*peers_line)(struct chat_link *, struct chat_user *from,
	    const char *line, size_t len);
	/* A line to remote user `to`. */
	void (*user_line)(struct chat_link *, struct chat_user *to,
	    const char *line, size_t len);
	/* Reads up to `limit` lines of channel `target`'s history sent
	   before entry id `before` (NULL: the newest) for local user u.
	   Returns 0 if cb will be called, unless u leaves first; -1 if
	   the cluster keeps no history now (split, or none kept). */
	int (*history)(struct chat_link *, struct chat_user *u,
	    const char *target, const char *before, size_t limit,
	    chat_link_history_fn *cb);
	/* The name of the instance remote user u is on. */
	const char *(*node_name)(struct chat_link *, const struct chat_user *u);
	/* Frees the backplane (after the last user left). */
	void (*free)(struct chat_link *);
};

struct chat_link {
	const struct chat_link_ops *ops;
};

/* Returns a Redis backplane for chat on `url` (redis://HOST:PORT[/DB]
   or unix:PATH) as instance `node`, declaring instances silent for
   timeout_ms dead; it connects in the background.  NULL with err set
   on a bad argument or when built without hiredis. */
struct chat_link *chat_redis_new(struct evs_chat *chat, const char *url,
    const char *node, unsigned timeout_ms, char *err, size_t errlen);

#endif
