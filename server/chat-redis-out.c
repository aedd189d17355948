/*
 * What this instance tells the cluster: the link operations that the
 * chat's state and delivery modules call and the events they publish
 * (nick claims are chat-redis-claim.c's).  docs/CLUSTER.md lists the
 * events and keys.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../common/log.h"
#include "chat-redis-int.h"

/*
 * Seats a member and publishes its join: KEYS[1] the channel's seats,
 * KEYS[2] the node's seats, KEYS[3] the bus; ARGV the event without
 * its last two words, the folded channel, the local operator flag and
 * the burst flag.  Outside a burst the first seat anywhere is the
 * operator, whatever the joining instance thought.
 */
static const char cr_join_lua[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "redis.call('HINCRBY', KEYS[2], ARGV[2], 1)\n"
    "local op = ARGV[3]\n"
    "if ARGV[4] == '0' then if n == 1 then op = '1' else op = '0' end end\n"
    "redis.call('PUBLISH', KEYS[3], ARGV[1] .. ' ' .. op .. ' ' .. ARGV[4])\n"
    "return op\n";

/* Frees seats: KEYS[1] the node's seats, ARGV the folded channels. */
static const char cr_unseat_lua[] =
    "for _, f in ipairs(ARGV) do\n"
    "  local s = 'evs:seats:' .. f\n"
    "  if redis.call('DECR', s) <= 0 then redis.call('DEL', s) end\n"
    "  if redis.call('HINCRBY', KEYS[1], f, -1) <= 0 then\n"
    "    redis.call('HDEL', KEYS[1], f) end\n"
    "end\n"
    "return 1\n";

/* Counts what Redis has not answered yet; over the bound, the
   instance declares itself split rather than grow. */
static void
chat_redis_out_published(redisAsyncContext *ac, void *reply, void *priv)
{
	struct chat_redis *r = ac->data;
	size_t len = (size_t)(uintptr_t)priv;

	(void)reply;
	r->queued = r->queued > len ? r->queued - len : 0;
}

/* Formats an event into r->ev: fmt's words, then len bytes of tail.
   Returns its length, or 0 if it does not fit or cannot be sent. */
static size_t
chat_redis_out_vformat(struct chat_redis *r, const char *tail, size_t len,
    const char *fmt, va_list ap)
{
	int n;

	if (r->cmd == NULL)
		return 0;
	n = vsnprintf(r->ev, sizeof(r->ev), fmt, ap);
	if (n < 0 || (size_t)n + len > sizeof(r->ev))
		return 0;
	if (len > 0)
		memcpy(r->ev + n, tail, len);
	return len + (size_t)n;
}

/* Sends a command carrying the len bytes of r->ev and counts them
   until chat_redis_out_published() hears Redis answer. */
static void
chat_redis_out_send(struct chat_redis *r, size_t len, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = redisvAsyncCommand(r->cmd, chat_redis_out_published,
	    (void *)(uintptr_t)len, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return;
	r->queued += len;
	if (r->queued > r->queue_max)
		chat_redis_split_later(r, "Redis is not keeping up");
}

void
chat_redis_out_publish(struct chat_redis *r, const char *chan, const char *tail,
    size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	len = chat_redis_out_vformat(r, tail, len, fmt, ap);
	va_end(ap);
	if (len > 0)
		chat_redis_out_send(r, len, "PUBLISH %s %b", chan, r->ev, len);
}

/* Keeps a channel message in the channel's history stream, trimmed to
   the history length, and publishes its event in the same script: the
   stream holds the order members saw. */
static const char cr_hist_lua[] =
    "redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', 'line', ARGV[2])\n"
    "return redis.call('PUBLISH', KEYS[1], ARGV[1])\n";

static void chat_redis_out_publish_hist(struct chat_redis *,
    const struct chat_chan *, const char *, size_t, const char *, ...)
    __attribute__((format(printf, 5, 6)));
static void
chat_redis_out_publish_hist(struct chat_redis *r, const struct chat_chan *ch,
    const char *line, size_t len, const char *fmt, ...)
{
	char fold[IRC_CHANNEL_MAX + 1];
	size_t n, body = len;
	va_list ap;

	va_start(ap, fmt);
	n = chat_redis_out_vformat(r, line, len, fmt, ap);
	va_end(ap);
	if (n == 0)
		return;
	while (body > 0 && (line[body - 1] == '\n' || line[body - 1] == '\r'))
		body--;
	irc_strlower(fold, ch->name, sizeof(fold));
	chat_redis_out_send(r, n, "EVAL %s 2 %s evs:hist:%s %b %b %u",
	    cr_hist_lua, r->bus, fold, r->ev, n, line, body,
	    r->chat->history_lines);
}

/* The instance's idea of who is operator yields to Redis's count. */
struct cr_seat {
	struct chat_redis *r;
	char chan[IRC_CHANNEL_MAX + 1];
	char nick[IRC_NICK_MAX + 1];
};

static void
chat_redis_out_seated(redisAsyncContext *ac, void *reply, void *priv)
{
	struct cr_seat *st = priv;
	struct chat_redis *r = st->r;
	redisReply *rep = reply;
	struct chat_user *u;
	struct chat_chan *ch;
	struct chat_member *mb;
	char line[IRC_LINE_MAX];
	int op, n;

	(void)ac;
	if (rep == NULL || r->freeing || rep->type != REDIS_REPLY_STRING ||
	    (ch = chat_state_find_chan(r->chat, st->chan)) == NULL ||
	    (u = chat_state_find_user(r->chat, st->nick)) == NULL ||
	    (u->flags & U_REMOTE) || (mb = chat_state_member(u, ch)) == NULL)
		goto out;
	op = strcmp(rep->str, "1") == 0;
	if (mb->op == op)
		goto out;
	mb->op = op;
	n = snprintf(line, sizeof(line), ":%s MODE %s %co %s\r\n",
	    r->chat->name, ch->name, op ? '+' : '-', u->nick);
	if (n > 0 && (size_t)n < sizeof(line))
		chat_send_chan_line(r->chat, ch, NULL, line, (size_t)n, 0);
out:
	free(st);
}

/* Seats local u in ch and publishes the join (J ... op burst). */
static void
chat_redis_out_seat(struct chat_redis *r, struct chat_user *u,
    struct chat_chan *ch, int op, int burst)
{
	char fold[IRC_CHANNEL_MAX + 1], ev[256];
	struct cr_seat *st = NULL;

	if (r->cmd == NULL)
		return;
	irc_strlower(fold, ch->name, sizeof(fold));
	snprintf(ev, sizeof(ev), "J %s %s %s %s", r->node, r->epoch, ch->name,
	    u->nick);
	if (!burst && (st = calloc(1, sizeof(*st))) != NULL) {
		st->r = r;
		snprintf(st->chan, sizeof(st->chan), "%s", ch->name);
		snprintf(st->nick, sizeof(st->nick), "%s", u->nick);
	}
	if (redisAsyncCommand(r->cmd, st != NULL ? chat_redis_out_seated : NULL,
	        st, "EVAL %s 3 evs:seats:%s evs:seated:%s %s %s %s %d %d",
	        cr_join_lua, fold, r->node, r->bus, ev, fold, op, burst) != 0)
		free(st);
}

/* Frees seats of node's user in the channels named by folds. */
static void
chat_redis_out_unseat(struct chat_redis *r, const char *node,
    const char **folds, size_t n)
{
	const char *argv[3 + IRC_CHANLIMIT + 1];
	char key[sizeof("evs:seated:") + CR_NODE_MAX];
	size_t i, argc = 0;

	if (r->cmd == NULL || n == 0 || n > IRC_CHANLIMIT)
		return;
	snprintf(key, sizeof(key), "evs:seated:%s", node);
	argv[argc++] = "EVAL";
	argv[argc++] = cr_unseat_lua;
	argv[argc++] = "1";
	argv[argc++] = key;
	for (i = 0; i < n; i++)
		argv[argc++] = folds[i];
	redisAsyncCommandArgv(r->cmd, NULL, NULL, (int)argc, argv, NULL);
}

/* The events that describe one local user. */
static void
chat_redis_out_user_event(struct chat_redis *r, const char *chan,
    const struct chat_user *u)
{
	chat_redis_out_publish(r, chan, NULL, 0, "U %s %s %s %s %s %llu %s :%s",
	    r->node, r->epoch, u->nick, u->user, u->host,
	    (unsigned long long)u->nick_ts,
	    (u->flags & U_INVISIBLE) ? "i" : "-", u->realname);
	/* Away or not: an update must clear what the others had. */
	chat_redis_out_publish(r, chan, NULL, 0, "A %s %s %s :%s", r->node,
	    r->epoch, u->nick, u->away != NULL ? u->away : "");
}

/* A channel's topic, modes and operators. */
static void
chat_redis_out_chan_event(struct chat_redis *r, const char *chan,
    const struct chat_chan *ch, int burst)
{
	char ops[CR_EVENT_MAX / 2];
	const struct chat_member *mb;
	size_t n = 0;

	ops[0] = '\0';
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		if (!mb->op || n + IRC_NICK_MAX + 2 >= sizeof(ops))
			continue;
		n += (size_t)snprintf(ops + n, sizeof(ops) - n, "%s%s",
		    n > 0 ? "," : "", mb->u->nick);
	}
	chat_redis_out_publish(r, chan, NULL, 0,
	    "C %s %s %s %lld %lld %s%s %d %s %s :%s", r->node, r->epoch,
	    ch->name, (long long)ch->created, (long long)ch->topic_time,
	    ch->topic_ops ? "t" : "", ch->no_external ? "n" : "-", burst,
	    ch->topic_by[0] != '\0' ? ch->topic_by : "-", n > 0 ? ops : "-",
	    ch->topic != NULL ? ch->topic : "");
}

void
chat_redis_out_announce(struct chat_redis *r, struct chat_user *u,
    const char *chan)
{
	struct chat_member *mb;

	chat_redis_out_user_event(r, chan, u);
	TAILQ_FOREACH(mb, &u->chans, by_user)
		chat_redis_out_publish(r, chan, NULL, 0, "J %s %s %s %s %d 1",
		    r->node, r->epoch, mb->ch->name, u->nick, mb->op);
}

void
chat_redis_out_burst(struct chat_redis *r, const char *chan, int seat)
{
	struct evs_chat *chat = r->chat;
	struct chat_user *u;
	struct chat_chan *ch;
	struct chat_member *mb;

	TAILQ_FOREACH(u, &chat->users, link) {
		if ((u->flags & (U_REMOTE | U_REGISTERED)) == U_REGISTERED)
			chat_redis_out_user_event(r, chan, u);
	}
	for (ch = chat_state_chan_next(chat, NULL); ch != NULL;
	     ch = chat_state_chan_next(chat, ch)) {
		int local = 0;

		TAILQ_FOREACH(mb, &ch->members, by_chan) {
			if (mb->u->flags & U_REMOTE)
				continue;
			local++;
			if (seat)
				chat_redis_out_seat(r, mb->u, ch, mb->op, 1);
			else
				chat_redis_out_publish(r, chan, NULL, 0,
				    "J %s %s %s %s %d 1", r->node, r->epoch,
				    ch->name, mb->u->nick, mb->op);
		}
		/* After the joins: the channel exists there by now. */
		if (local > 0)
			chat_redis_out_chan_event(r, chan, ch, 1);
	}
}

/* The link operations: what local users change. */

static struct chat_redis *
chat_redis_out_of(struct chat_link *link)
{
	return (struct chat_redis *)(void *)link;
}

static int
chat_redis_out_claim(struct chat_link *link, struct chat_user *u,
    const char *nick)
{
	struct chat_redis *r = chat_redis_out_of(link);

	/* While it rejoins too: a nick taken then is claimed like any. */
	if (r->state != CR_UP && r->state != CR_SYNCING)
		return 0;
	return chat_redis_claim_new(r, u, nick);
}

static void
chat_redis_out_user(struct chat_link *link, struct chat_user *u)
{
	struct chat_redis *r = chat_redis_out_of(link);

	if (r->state == CR_UP)
		chat_redis_out_user_event(r, r->bus, u);
}

static void
chat_redis_out_nick(struct chat_link *link, struct chat_user *u,
    const char *old)
{
	struct chat_redis *r = chat_redis_out_of(link);

	if (r->state != CR_UP && r->state != CR_SYNCING)
		return;
	if (irc_casecmp(old, u->nick) != 0)
		chat_redis_claim_release(r, old);
	if ((u->flags & U_REGISTERED) && r->state == CR_UP)
		chat_redis_out_publish(r, r->bus, NULL, 0, "N %s %s %s %s %llu",
		    r->node, r->epoch, old, u->nick,
		    (unsigned long long)u->nick_ts);
}

static void
chat_redis_out_quit(struct chat_link *link, struct chat_user *u)
{
	struct chat_redis *r = chat_redis_out_of(link);

	chat_redis_claim_forget(r, u);
	chat_redis_hist_forget(r, u);
	if ((r->state != CR_UP && r->state != CR_SYNCING) || u->nick[0] == '\0')
		return;
	chat_redis_claim_release(r, u->nick);
	/* Seats are taken only once up (the hello's burst seats all). */
	if (r->state != CR_UP)
		return;
	if (u->nchans > 0 && u->nchans <= IRC_CHANLIMIT) {
		char folds[IRC_CHANLIMIT][IRC_CHANNEL_MAX + 1];
		const char *fp[IRC_CHANLIMIT];
		struct chat_member *mb;
		size_t n = 0;

		TAILQ_FOREACH(mb, &u->chans, by_user) {
			irc_strlower(folds[n], mb->ch->name, sizeof(folds[n]));
			fp[n] = folds[n];
			n++;
		}
		chat_redis_out_unseat(r, r->node, fp, n);
	}
	if (u->flags & U_REGISTERED)
		chat_redis_out_publish(r, r->bus, NULL, 0, "Q %s %s %s",
		    r->node, r->epoch, u->nick);
}

static void
chat_redis_out_join(struct chat_link *link, struct chat_member *m)
{
	struct chat_redis *r = chat_redis_out_of(link);

	if (r->state == CR_UP)
		chat_redis_out_seat(r, m->u, m->ch, m->op, 0);
}

static void
chat_redis_out_part(struct chat_link *link, struct chat_user *u,
    struct chat_chan *ch)
{
	struct chat_redis *r = chat_redis_out_of(link);
	char fold[IRC_CHANNEL_MAX + 1];
	const char *fp = fold;

	if (r->state != CR_UP)
		return;
	irc_strlower(fold, ch->name, sizeof(fold));
	chat_redis_out_unseat(r,
	    (u->flags & U_REMOTE) ? u->node->name : r->node, &fp, 1);
	chat_redis_out_publish(r, r->bus, NULL, 0, "P %s %s %s %s", r->node,
	    r->epoch, ch->name, u->nick);
}

static void
chat_redis_out_chan(struct chat_link *link, struct chat_chan *ch)
{
	struct chat_redis *r = chat_redis_out_of(link);

	if (r->state == CR_UP)
		chat_redis_out_chan_event(r, r->bus, ch, 0);
}

/* Returns 1 if a channel line belongs in the history: a PRIVMSG or
   NOTICE, past its tags and prefix. */
static int
chat_redis_out_kept(const char *line, size_t len)
{
	const char *end = line + len, *p = line;

	for (int word = 0; word < 2 && p < end; word++) {
		if (*p != '@' && *p != ':')
			break;
		while (p < end && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
	}
	return (end - p > 8 && memcmp(p, "PRIVMSG ", 8) == 0) ||
	    (end - p > 7 && memcmp(p, "NOTICE ", 7) == 0);
}

static int
chat_redis_out_chan_line(struct chat_link *link, struct chat_chan *ch,
    struct chat_user *from, struct chat_user *except, const char *line,
    size_t len, int defer)
{
	struct chat_redis *r = chat_redis_out_of(link);
	struct cr_defer *d = NULL;

	(void)from;
	if (r->state != CR_UP)
		return 0;
	if (defer && (d = calloc(1, sizeof(*d))) != NULL &&
	    (d->m = evs_msg_new(line, len)) == NULL) {
		free(d);
		d = NULL;
	}
	r->seq++;
	if (d != NULL && r->chat->history_lines > 0 &&
	    chat_redis_out_kept(line, len))
		chat_redis_out_publish_hist(r, ch, line, len,
		    "L %s %s %llu %s %s 1 :", r->node, r->epoch,
		    (unsigned long long)r->seq, ch->name,
		    except != NULL ? except->nick : "-");
	else
		chat_redis_out_publish(r, r->bus, line, len,
		    "L %s %s %llu %s %s %d :", r->node, r->epoch,
		    (unsigned long long)r->seq, ch->name,
		    except != NULL ? except->nick : "-", d != NULL);
	if (d == NULL)
		return 0;
	d->seq = r->seq;
	snprintf(d->chan, sizeof(d->chan), "%s", ch->name);
	/* By connection: the sender may change its nick meanwhile. */
	d->except = except != NULL && !(except->flags & U_REMOTE) ?
	    evs_conn_id(except->c) :
	    0;
	STAILQ_INSERT_TAIL(&r->defers, d, link);
	/* A split on the way delivered what was pending, this one too. */
	if (r->state != CR_UP)
		chat_redis_in_flush(r);
	return 1;
}

static void
chat_redis_out_peers_line(struct chat_link *link, struct chat_user *from,
    const char *line, size_t len)
{
	struct chat_redis *r = chat_redis_out_of(link);

	if (r->state == CR_UP)
		chat_redis_out_publish(r, r->bus, line, len,
		    "S %s %s %s :", r->node, r->epoch, from->nick);
}

static void
chat_redis_out_user_line(struct chat_link *link, struct chat_user *to,
    const char *line, size_t len)
{
	struct chat_redis *r = chat_redis_out_of(link);
	char chan[sizeof(r->nodechan)];

	if (r->state != CR_UP || to->node == NULL)
		return;
	chat_redis_node_chan(r, to->node->name, chan, sizeof(chan));
	chat_redis_out_publish(r, chan, line, len, "M %s %s %s :", r->node,
	    r->epoch, to->nick);
}

static const char *
chat_redis_out_node_name(struct chat_link *link, const struct chat_user *u)
{
	(void)link;
	return u->node != NULL ? u->node->name : "";
}

const struct chat_link_ops chat_redis_out_ops = {
	.claim = chat_redis_out_claim,
	.user = chat_redis_out_user,
	.nick = chat_redis_out_nick,
	.quit = chat_redis_out_quit,
	.join = chat_redis_out_join,
	.part = chat_redis_out_part,
	.chan = chat_redis_out_chan,
	.chan_line = chat_redis_out_chan_line,
	.peers_line = chat_redis_out_peers_line,
	.user_line = chat_redis_out_user_line,
	.history = chat_redis_hist_query,
	.node_name = chat_redis_out_node_name,
	.free = chat_redis_free,
};
