/*
 * The cluster backplane over Redis: several instances as one chat
 * network.  Two hiredis connections run on the chat's own event loop
 * through hiredis's libevent adapter: one for commands (PUBLISH, the
 * nick claim scripts, heartbeats), one subscribed to the bus and to
 * this instance's own channel, since a subscribed connection can do
 * nothing else.
 *
 * Every instance keeps the whole network in memory (remote users are
 * users without a connection), publishes what its own users change,
 * and applies what the others publish (chat-redis-in.c) in the one
 * order Redis hands it out.  Redis itself holds only what must be
 * atomic or must outlive an instance: nick claims and heartbeats.
 *
 * hiredis 0.14 does not reconnect: a context is freed after its
 * disconnect callback, and we start over from a timer with backoff.
 * While Redis is unreachable the instance is split: it serves its own
 * users and says so.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../common/log.h"
#include "chat-redis-int.h"

/* Heartbeats (and checks of the others') per --cluster-timeout. */
#define CR_BEATS 6

#define CR_BACKOFF_MIN_MS 100
#define CR_BACKOFF_MAX_MS 5000
#define CR_QUEUE_MAX (16u << 20)

static void chat_redis_connect(struct chat_redis *);

/* Parses redis://HOST[:PORT][/DB] or unix:PATH into r. */
static int
chat_redis_parse_url(struct chat_redis *r, const char *url)
{
	const char *p, *end, *colon, *slash;
	size_t hl;
	char *e;
	long v;

	r->port = 6379;
	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] == '\0' || strlen(url + 5) >= sizeof(r->path))
			return -1;
		snprintf(r->path, sizeof(r->path), "%s", url + 5);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	p = url + 8;
	slash = strchr(p, '/');
	end = slash != NULL ? slash : p + strlen(p);
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (rb == NULL)
			return -1;
		hl = (size_t)(rb - p - 1);
		memcpy(r->host, p + 1, hl < sizeof(r->host) ? hl : 0);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hl = (size_t)((colon != NULL ? colon : end) - p);
		memcpy(r->host, p, hl < sizeof(r->host) ? hl : 0);
	}
	if (hl == 0 || hl >= sizeof(r->host))
		return -1;
	r->host[hl] = '\0';
	if (colon != NULL) {
		errno = 0;
		v = strtol(colon + 1, &e, 10);
		if (e != end || errno != 0 || v < 1 || v > 65535)
			return -1;
		r->port = (int)v;
	}
	if (slash != NULL) {
		errno = 0;
		v = strtol(slash + 1, &e, 10);
		if (*e != '\0' || e == slash + 1 || errno != 0 || v < 0 ||
		    v > 65535)
			return -1;
		r->db = (int)v;
	}
	return 0;
}

void
chat_redis_node_chan(const struct chat_redis *r, const char *node, char *buf,
    size_t size)
{
	if (r->db != 0)
		snprintf(buf, size, "evs:%d:n:%s", r->db, node);
	else
		snprintf(buf, size, "evs:n:%s", node);
}

static int
chat_redis_valid_node(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CR_NODE_MAX)
		return 0;
	return strspn(s,
	           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	           "0123456789.-_:") == n;
}

/* Tells every local user. */
static void
chat_redis_notice_all(struct chat_redis *r, const char *text)
{
	struct chat_user *u;

	TAILQ_FOREACH(u, &r->chat->users, link) {
		if ((u->flags & (U_REMOTE | U_REGISTERED | U_CLOSING)) ==
		    U_REGISTERED)
			chat_send_server(u, "NOTICE", "%s :*** %s", u->nick,
			    text);
	}
}

static uint64_t
chat_redis_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Redis answered: it is alive, however slow. */
static void
chat_redis_beaten(redisAsyncContext *ac, void *reply, void *priv)
{
	struct chat_redis *r = ac->data;

	(void)priv;
	if (reply != NULL && !r->freeing)
		r->answered_ms = chat_redis_now_ms();
}

/* The heartbeat, every beat (CR_BEATS a timeout): the key lives all
   but one beat of the timeout and the others look every beat, so an
   instance that dies right after a beat is seen gone at most a timeout
   later, while a live one has CR_BEATS - 2 beats to spare. */
static void
chat_redis_heartbeat(struct chat_redis *r)
{
	if (r->cmd != NULL)
		redisAsyncCommand(r->cmd, chat_redis_beaten, NULL,
		    "SET evs:node:%s %s PX %u", r->node, r->epoch,
		    r->timeout_ms - r->timeout_ms / CR_BEATS);
}

/* Says hello: the others drop what they knew of this instance, take
   its burst, and answer with theirs on this instance's channel. */
void
chat_redis_hello(struct chat_redis *r)
{
	r->state = CR_UP;
	chat_redis_out_publish(r, r->bus, NULL, 0, "H %s %s", r->node,
	    r->epoch);
	chat_redis_out_burst(r, r->bus, 1);
	if (r->was_split)
		chat_redis_notice_all(r,
		    "Network rejoined: the whole "
		    "network is reachable again");
	r->was_up = 1;
	r->was_split = 0;
	r->warned = 0;
	r->backoff_ms = CR_BACKOFF_MIN_MS;
	log_info("cluster: node %s joined", r->node);
}

/* Subscribed: reclaim the local nicks taken while split, then hello. */
static void
chat_redis_sync(struct chat_redis *r)
{
	struct chat_user *u;

	r->state = CR_SYNCING;
	chat_redis_heartbeat(r);
	/* Before the burst seats this instance's members again. */
	chat_redis_claim_reap(r, r->node, r->epoch, 1);
	redisAsyncCommand(r->cmd, NULL, NULL, "SADD evs:nodes %s", r->node);
	r->syncing = 0;
	TAILQ_FOREACH(u, &r->chat->users, link) {
		/* Registered or not: a nick taken while split is claimed. */
		if (!(u->flags & U_REMOTE) && u->nick[0] != '\0' &&
		    chat_redis_claim_rejoin(r, u))
			r->syncing++;
	}
	if (r->syncing == 0)
		chat_redis_hello(r);
}

static void
chat_redis_on_sub(redisAsyncContext *ac, void *reply, void *priv)
{
	struct chat_redis *r = ac->data;
	redisReply *rep = reply;

	(void)priv;
	if (rep == NULL || r->freeing || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements < 3 || rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(rep->element[0]->str, "message") == 0 &&
	    rep->element[2]->type == REDIS_REPLY_STRING) {
		if (r->state == CR_UP || r->state == CR_SYNCING)
			chat_redis_in_event(r, rep->element[2]->str,
			    rep->element[2]->len);
	} else if (strcmp(rep->element[0]->str, "subscribe") == 0 &&
	    ++r->nsubs == 2 && r->state == CR_CONNECTING && r->cmd != NULL) {
		chat_redis_sync(r);
	}
}

static void
chat_redis_on_connect(const redisAsyncContext *ac, int status)
{
	struct chat_redis *r = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this call. */
		if (ac == r->cmd)
			r->cmd = NULL;
		if (ac == r->sub)
			r->sub = NULL;
		chat_redis_split_later(r, ac->errstr);
	}
}

static void
chat_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct chat_redis *r = ac->data;

	(void)status;
	if (ac != r->cmd && ac != r->sub)
		return; /* one we freed ourselves */
	if (ac == r->cmd)
		r->cmd = NULL;
	if (ac == r->sub)
		r->sub = NULL;
	if (!r->freeing)
		chat_redis_split_later(r,
		    ac->errstr[0] != '\0' ? ac->errstr : "connection closed");
}

static redisAsyncContext *
chat_redis_open(struct chat_redis *r)
{
	redisAsyncContext *ac = r->path[0] != '\0' ?
	    redisAsyncConnectUnix(r->path) :
	    redisAsyncConnect(r->host, r->port);

	if (ac == NULL)
		return NULL;
	if (ac->err != 0) {
		log_debug("cluster: %s", ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	redisAsyncSetConnectCallback(ac, chat_redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, chat_redis_on_disconnect);
	return ac;
}

static void
chat_redis_connect(struct chat_redis *r)
{
	r->nsubs = 0;
	r->queued = 0;
	r->state = CR_CONNECTING;
	r->answered_ms = chat_redis_now_ms();
	if ((r->cmd = chat_redis_open(r)) == NULL ||
	    (r->sub = chat_redis_open(r)) == NULL) {
		chat_redis_split_later(r, "cannot connect to Redis");
		return;
	}
	if (r->db != 0)
		redisAsyncCommand(r->cmd, NULL, NULL, "SELECT %d", r->db);
	redisAsyncCommand(r->sub, chat_redis_on_sub, NULL, "SUBSCRIBE %s %s",
	    r->bus, r->nodechan);
}

/* Closes both connections; hiredis calls the pending callbacks with no
   reply, and the disconnect callbacks find nothing of ours. */
static void
chat_redis_close(struct chat_redis *r)
{
	redisAsyncContext *cmd = r->cmd, *sub = r->sub;

	r->cmd = r->sub = NULL;
	if (cmd != NULL)
		redisAsyncFree(cmd);
	if (sub != NULL)
		redisAsyncFree(sub);
}

void
chat_redis_split_later(struct chat_redis *r, const char *why)
{
	int was = r->state;

	if (r->freeing || r->state == CR_DOWN)
		return;
	r->state = CR_DOWN;
	if (was == CR_UP || was == CR_SYNCING)
		log_warn("cluster: split from the network: %s", why);
	else if (!r->warned)
		log_warn("cluster: cannot reach Redis (%s); serving local "
		         "users and trying again",
		    why);
	else
		log_debug("cluster: cannot join: %s", why);
	/* One warning per outage, not one per attempt. */
	r->warned = 1;
	/* What was published still reaches local members, in order. */
	chat_redis_in_flush(r);
	event_active(r->split, EV_TIMEOUT, 0);
}

static void
chat_redis_split_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chat_redis *r = arg;
	struct chat_node *node;
	struct timeval tv;
	char reason[2 * CR_NODE_MAX + 2];

	(void)fd;
	(void)what;
	chat_redis_close(r);
	while ((node = TAILQ_FIRST(&r->nodes)) != NULL) {
		snprintf(reason, sizeof(reason), "%s %s", r->node, node->name);
		chat_redis_in_drop(r, node, reason);
	}
	if (r->was_up && !r->was_split)
		chat_redis_notice_all(r,
		    "Network split: lost the cluster "
		    "backplane; only users of this server are reachable "
		    "until it returns");
	r->was_split = r->was_up;
	tv.tv_sec = r->backoff_ms / 1000;
	tv.tv_usec = (r->backoff_ms % 1000) * 1000;
	evtimer_add(r->retry, &tv);
	if (r->backoff_ms < CR_BACKOFF_MAX_MS)
		r->backoff_ms *= 2;
}

static void
chat_redis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	chat_redis_connect(arg);
}

/* Whether node is still alive: its heartbeat key holds its epoch. */
struct cr_check {
	struct chat_redis *r;
	char name[CR_NODE_MAX + 1];
	char epoch[CR_EPOCH_MAX];
};

static void
chat_redis_checked(redisAsyncContext *ac, void *reply, void *priv)
{
	struct cr_check *ck = priv;
	struct chat_redis *r = ck->r;
	redisReply *rep = reply;
	struct chat_node *node;
	char reason[2 * CR_NODE_MAX + 2];

	(void)ac;
	if (rep != NULL && !r->freeing && r->state == CR_UP &&
	    (rep->type == REDIS_REPLY_NIL ||
	        (rep->type == REDIS_REPLY_STRING &&
	            strcmp(rep->str, ck->epoch) != 0))) {
		TAILQ_FOREACH(node, &r->nodes, link) {
			if (strcmp(node->name, ck->name) == 0 &&
			    strcmp(node->epoch, ck->epoch) == 0)
				break;
		}
		if (node != NULL) {
			log_info("cluster: node %s is gone", node->name);
			chat_redis_claim_reap(r, node->name, node->epoch, 0);
			snprintf(reason, sizeof(reason), "%s %s", r->node,
			    node->name);
			chat_redis_in_drop(r, node, reason);
		}
	}
	free(ck);
}

static void
chat_redis_beat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chat_redis *r = arg;
	struct chat_node *node;

	(void)fd;
	(void)what;
	/* A Redis that takes connections but never answers (stopped,
	   swapping) splits us like one that is gone. */
	if (r->state != CR_DOWN &&
	    chat_redis_now_ms() - r->answered_ms > r->timeout_ms) {
		chat_redis_split_later(r, "Redis does not answer");
		return;
	}
	if (r->state != CR_UP)
		return;
	chat_redis_heartbeat(r);
	TAILQ_FOREACH(node, &r->nodes, link) {
		struct cr_check *ck = calloc(1, sizeof(*ck));

		if (ck == NULL)
			break;
		ck->r = r;
		memcpy(ck->name, node->name, sizeof(ck->name));
		memcpy(ck->epoch, node->epoch, sizeof(ck->epoch));
		if (redisAsyncCommand(r->cmd, chat_redis_checked, ck,
		        "GET evs:node:%s", node->name) != 0)
			free(ck);
	}
}

void
chat_redis_free(struct chat_link *link)
{
	struct chat_redis *r = (struct chat_redis *)(void *)link;
	struct chat_node *node;
	struct cr_defer *d;

	/* Leaving: what the users' goodbyes published goes out now (one
	   non-blocking write), and the heartbeat with it, so that the
	   others need not wait for the timeout. */
	if (r->cmd != NULL && r->state == CR_UP) {
		redisAsyncCommand(r->cmd, NULL, NULL, "DEL evs:node:%s",
		    r->node);
		redisAsyncHandleWrite(r->cmd);
	}
	r->freeing = 1;
	chat_redis_close(r);
	while ((node = TAILQ_FIRST(&r->nodes)) != NULL) {
		TAILQ_REMOVE(&r->nodes, node, link);
		free(node);
	}
	while ((d = STAILQ_FIRST(&r->defers)) != NULL) {
		STAILQ_REMOVE_HEAD(&r->defers, link);
		evs_msg_unref(d->m);
		free(d);
	}
	if (r->beat != NULL)
		event_free(r->beat);
	if (r->retry != NULL)
		event_free(r->retry);
	if (r->split != NULL)
		event_free(r->split);
	free(r);
}

struct chat_link *
chat_redis_new(struct evs_chat *chat, const char *url, const char *node,
    unsigned timeout_ms, char *err, size_t errlen)
{
	struct chat_redis *r;
	struct timeval tv;
	unsigned beat = timeout_ms / CR_BEATS;

	if (!chat_redis_valid_node(node)) {
		snprintf(err, errlen,
		    "node name '%s': expected up to %d "
		    "letters, digits and .-_:",
		    node, CR_NODE_MAX);
		errno = EINVAL;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (chat_redis_parse_url(r, url) == -1) {
		snprintf(err, errlen,
		    "cluster '%s': expected "
		    "redis://HOST:PORT[/DB] or unix:PATH",
		    url);
		free(r);
		errno = EINVAL;
		return NULL;
	}
	r->link.ops = &chat_redis_out_ops;
	r->chat = chat;
	r->base = evs_server_base(chat->srv);
	r->timeout_ms = timeout_ms;
	r->queue_max = CR_QUEUE_MAX;
	r->backoff_ms = CR_BACKOFF_MIN_MS;
	snprintf(r->node, sizeof(r->node), "%s", node);
	if (r->db != 0)
		snprintf(r->bus, sizeof(r->bus), "evs:%d:bus", r->db);
	else
		snprintf(r->bus, sizeof(r->bus), "evs:bus");
	chat_redis_node_chan(r, node, r->nodechan, sizeof(r->nodechan));
	/* A restarted instance keeps its name but not its users. */
	snprintf(r->epoch, sizeof(r->epoch), "%llx.%x",
	    (unsigned long long)chat_state_wallclock_ms(),
	    (unsigned)getpid() & 0xffff);
	TAILQ_INIT(&r->nodes);
	STAILQ_INIT(&r->defers);
	TAILQ_INIT(&r->claims);
	TAILQ_INIT(&r->queries);
	r->beat = event_new(r->base, -1, EV_PERSIST, chat_redis_beat_cb, r);
	r->retry = evtimer_new(r->base, chat_redis_retry_cb, r);
	r->split = evtimer_new(r->base, chat_redis_split_cb, r);
	tv.tv_sec = beat / 1000;
	tv.tv_usec = (beat % 1000) * 1000;
	if (r->beat == NULL || r->retry == NULL || r->split == NULL ||
	    event_add(r->beat, &tv) == -1) {
		snprintf(err, errlen, "out of memory");
		chat_redis_free(&r->link);
		return NULL;
	}
	chat_redis_connect(r);
	return &r->link;
}
