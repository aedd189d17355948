/*
 * Nick claims in Redis: taking, giving back and, for an instance that
 * died or came back as a new life, reaping them.  Each runs as a Lua
 * script so that it is atomic in Redis.  docs/CLUSTER.md lists the keys.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../common/log.h"
#include "chat-redis-int.h"

/* A nick claim awaiting Redis; u is NULL once the user left. */
struct cr_claim {
	TAILQ_ENTRY(cr_claim) link;
	struct chat_redis *r;
	struct chat_user *u;
	char nick[IRC_NICK_MAX + 1];
	int mode; /* CR_CLAIM_* */
};

enum { CR_CLAIM_NEW, CR_CLAIM_REJOIN, CR_CLAIM_QUIET };

/*
 * Takes a nick: KEYS[1] the claim, KEYS[2] the node's set of claims;
 * ARGV node, epoch, nick timestamp, mode, folded nick.  A claim of
 * this node's earlier life is stale.  After a split ("rejoin") the
 * earlier timestamp wins, ties to the smaller node name.
 */
static const char cr_claim_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local mine = ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3]\n"
    "if v then\n"
    "  local n, e, t = string.match(v, '^(%S+) (%S+) (%S+)$')\n"
    "  if n == ARGV[1] and e == ARGV[2] then\n"
    "    redis.call('SET', KEYS[1], mine) return 'OK'\n"
    "  end\n"
    "  local a, b = tonumber(ARGV[3]), tonumber(t)\n"
    "  if n ~= ARGV[1] and (ARGV[4] ~= 'rejoin' or b < a or\n"
    "      (a == b and n < ARGV[1])) then return 'TAKEN ' .. n end\n"
    "  if n ~= ARGV[1] then\n"
    "    redis.call('SREM', 'evs:nicks:' .. n, ARGV[5])\n"
    "    redis.call('SET', KEYS[1], mine)\n"
    "    redis.call('SADD', KEYS[2], ARGV[5]) return 'WON ' .. n\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[1], mine)\n"
    "redis.call('SADD', KEYS[2], ARGV[5]) return 'OK'\n";

/* Gives a nick back if this node (and life) still holds it. */
static const char cr_release_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and string.match(v, '^%S+ %S+') == ARGV[1] .. ' ' .. ARGV[2] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('SREM', KEYS[2], ARGV[3])\n"
    "end\n"
    "return 1\n";

/*
 * Frees the claims and seats of a node's dead life: KEYS[1] its claim
 * set, KEYS[2] its seats; ARGV node, epoch, mode.  "dead": that epoch
 * is gone.  "mine": the caller is that node in epoch, rejoining, and
 * everything of its other lives and its own seats go (its burst
 * counts them again).
 */
static const char cr_reap_lua[] =
    "local function stale(e)\n"
    "  if ARGV[3] == 'dead' then return e == ARGV[2] end\n"
    "  return e ~= ARGV[2]\n"
    "end\n"
    "for _, f in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local v = redis.call('GET', 'evs:nick:' .. f)\n"
    "  local n, e\n"
    "  if v then n, e = string.match(v, '^(%S+) (%S+)') end\n"
    "  if not v or n ~= ARGV[1] then redis.call('SREM', KEYS[1], f)\n"
    "  elseif stale(e) then\n"
    "    redis.call('DEL', 'evs:nick:' .. f) redis.call('SREM', KEYS[1], f)\n"
    "  end\n"
    "end\n"
    "local owner = redis.call('HGET', KEYS[2], '.epoch')\n"
    "if ARGV[3] == 'mine' or not owner or owner == ARGV[2] then\n"
    "  local kv = redis.call('HGETALL', KEYS[2])\n"
    "  for i = 1, #kv, 2 do\n"
    "    if kv[i] ~= '.epoch' then\n"
    "      local s = 'evs:seats:' .. kv[i]\n"
    "      if redis.call('DECRBY', s, kv[i + 1]) <= 0 then\n"
    "        redis.call('DEL', s) end\n"
    "    end\n"
    "  end\n"
    "  redis.call('DEL', KEYS[2])\n"
    "end\n"
    "if ARGV[3] == 'mine' then redis.call('HSET', KEYS[2], '.epoch', ARGV[2]) end\n"
    "return 1\n";

/* The key of a nick claim, case-folded. */
static void
chat_redis_claim_key(char *key, size_t size, char *fold, const char *nick)
{
	irc_strlower(fold, nick, IRC_NICK_MAX + 1);
	snprintf(key, size, "evs:nick:%s", fold);
}

static void
chat_redis_claim_done(redisAsyncContext *ac, void *reply, void *priv)
{
	struct cr_claim *cl = priv;
	struct chat_redis *r = cl->r;
	redisReply *rep = reply;
	const char *s = rep != NULL && rep->type == REDIS_REPLY_STATUS ?
	    rep->str :
	    rep != NULL && rep->type == REDIS_REPLY_STRING ? rep->str :
	                                                     NULL;
	struct chat_user *u = cl->u;
	int taken = s != NULL && strncmp(s, "TAKEN", 5) == 0;

	(void)ac;
	TAILQ_REMOVE(&r->claims, cl, link);
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		log_warn("cluster: nick claim: %s", rep->str);
	if (r->freeing) {
		free(cl);
		return;
	}
	switch (cl->mode) {
	case CR_CLAIM_NEW:
		/* Without an answer (split) the nick is taken locally; the
		   rejoin settles it. */
		if (u != NULL)
			chat_reg_nick_claimed(u, cl->nick, !taken);
		else if (s != NULL && strcmp(s, "OK") == 0)
			chat_redis_claim_release(r, cl->nick); /* u left */
		break;
	case CR_CLAIM_REJOIN:
		if (u == NULL && s != NULL && !taken)
			chat_redis_claim_release(r, cl->nick); /* u left */
		else if (s != NULL && strncmp(s, "WON ", 4) == 0)
			chat_redis_out_publish(r, r->bus, NULL, 0,
			    "X %s %s %s %s", r->node, r->epoch, cl->nick,
			    s + 4);
		else if (taken && u != NULL)
			chat_redis_in_rename(r, u);
		if (r->syncing > 0 && --r->syncing == 0 &&
		    r->state == CR_SYNCING)
			chat_redis_hello(r);
		break;
	default:
		break;
	}
	free(cl);
}

static int chat_redis_claim_mode(struct chat_redis *, struct chat_user *,
    const char *, int);

static int
chat_redis_claim_mode(struct chat_redis *r, struct chat_user *u,
    const char *nick, int mode)
{
	char key[sizeof("evs:nick:") + IRC_NICK_MAX + 1];
	char fold[IRC_NICK_MAX + 1], ts[24];
	struct cr_claim *cl;

	if (r->cmd == NULL || (cl = calloc(1, sizeof(*cl))) == NULL)
		return 0;
	cl->r = r;
	cl->u = u;
	cl->mode = mode;
	snprintf(cl->nick, sizeof(cl->nick), "%s", nick);
	chat_redis_claim_key(key, sizeof(key), fold, nick);
	snprintf(ts, sizeof(ts), "%llu",
	    (unsigned long long)(mode == CR_CLAIM_NEW ?
	            chat_state_wallclock_ms() :
	            u->nick_ts));
	if (redisAsyncCommand(r->cmd, chat_redis_claim_done, cl,
	        "EVAL %s 2 %s evs:nicks:%s %s %s %s %s %s", cr_claim_lua, key,
	        r->node, r->node, r->epoch, ts,
	        mode == CR_CLAIM_REJOIN ? "rejoin" : "new", fold) != 0) {
		free(cl);
		return 0;
	}
	TAILQ_INSERT_TAIL(&r->claims, cl, link);
	return 1;
}

int
chat_redis_claim_new(struct chat_redis *r, struct chat_user *u,
    const char *nick)
{
	return chat_redis_claim_mode(r, u, nick, CR_CLAIM_NEW);
}

void
chat_redis_claim_forget(struct chat_redis *r, const struct chat_user *u)
{
	struct cr_claim *cl;

	TAILQ_FOREACH(cl, &r->claims, link) {
		if (cl->u == u)
			cl->u = NULL;
	}
}

int
chat_redis_claim_rejoin(struct chat_redis *r, struct chat_user *u)
{
	return chat_redis_claim_mode(r, u, u->nick, CR_CLAIM_REJOIN);
}

void
chat_redis_claim_quiet(struct chat_redis *r, struct chat_user *u)
{
	chat_redis_claim_mode(r, u, u->nick, CR_CLAIM_QUIET);
}

void
chat_redis_claim_release(struct chat_redis *r, const char *nick)
{
	char key[sizeof("evs:nick:") + IRC_NICK_MAX + 1];
	char fold[IRC_NICK_MAX + 1];

	if (r->cmd == NULL || *nick == '\0')
		return;
	chat_redis_claim_key(key, sizeof(key), fold, nick);
	redisAsyncCommand(r->cmd, NULL, NULL,
	    "EVAL %s 2 %s evs:nicks:%s %s %s %s", cr_release_lua, key, r->node,
	    r->node, r->epoch, fold);
}

void
chat_redis_claim_reap(struct chat_redis *r, const char *node, const char *epoch,
    int mine)
{
	if (r->cmd != NULL)
		redisAsyncCommand(r->cmd, NULL, NULL,
		    "EVAL %s 2 evs:nicks:%s evs:seated:%s %s %s %s",
		    cr_reap_lua, node, node, node, epoch,
		    mine ? "mine" : "dead");
}
