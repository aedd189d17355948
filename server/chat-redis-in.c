/*
 * What other instances publish, applied to this instance's state.
 *
 * An event is one line of space-separated words, the last one after
 * " :" taking the rest: its kind, the sending node and that node's
 * epoch come first (docs/CLUSTER.md lists them).  State events (user,
 * nick, quit, join, part, channel) change the state silently; the
 * lines users see travel as line events that the origin built once.
 * chat->link_quiet is raised while an event applies, so nothing
 * applied here is published again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "chat-redis-int.h"

#define CR_ARGS 12

struct cr_event {
	char *argv[CR_ARGS];
	int argc;
	const char *tail; /* after " :", not NUL-terminated */
	size_t taillen;
};

/* Splits buf (NUL-terminated copy of len bytes) into words. */
static void
chat_redis_in_split(char *buf, size_t len, struct cr_event *e)
{
	char *p = buf;

	e->argc = 0;
	e->tail = NULL;
	e->taillen = 0;
	while (*p != '\0' && e->argc < CR_ARGS) {
		if (*p == ':') {
			e->tail = p + 1;
			e->taillen = len - (size_t)(p + 1 - buf);
			return;
		}
		e->argv[e->argc++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			return;
		*p++ = '\0';
	}
}

struct chat_node *
chat_redis_in_node(struct chat_redis *r, const char *name, const char *epoch)
{
	struct chat_node *node;

	TAILQ_FOREACH(node, &r->nodes, link) {
		if (strcmp(node->name, name) == 0)
			return node;
	}
	if ((node = calloc(1, sizeof(*node))) == NULL)
		return NULL;
	snprintf(node->name, sizeof(node->name), "%s", name);
	snprintf(node->epoch, sizeof(node->epoch), "%s", epoch);
	TAILQ_INSERT_TAIL(&r->nodes, node, link);
	return node;
}

void
chat_redis_in_drop(struct chat_redis *r, struct chat_node *node,
    const char *reason)
{
	struct evs_chat *chat = r->chat;
	struct chat_user *u, *next;

	chat->link_quiet++;
	for (u = TAILQ_FIRST(&chat->users); u != NULL; u = next) {
		next = TAILQ_NEXT(u, link);
		if (u->node != node)
			continue;
		chat_send_peers(u, 0, "QUIT", ":%s", reason);
		chat_state_quit(u);
	}
	chat->link_quiet--;
	TAILQ_REMOVE(&r->nodes, node, link);
	free(node);
}

/* The name a user who lost its nick to an earlier claim gets: the
   same on every instance, from the nick and the node that lost it. */
static void
chat_redis_in_fallback(char *out, size_t size, const char *nick,
    const char *node)
{
	uint32_t h = 2166136261u;
	const char *p;

	/* 32-bit FNV-1a of the folded nick, a space and the node: the
	   same on every machine, whatever its word size. */
	for (p = nick; *p != '\0'; p++)
		h = (h ^ (uint32_t)irc_tolower((unsigned char)*p)) * 16777619u;
	h = (h ^ ' ') * 16777619u;
	for (p = node; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, size, "%.*s-%04x", IRC_NICK_MAX - 5, nick,
	    (unsigned)(h & 0xffff));
}

void
chat_redis_in_rename(struct chat_redis *r, struct chat_user *u)
{
	struct evs_chat *chat = r->chat;
	char nick[IRC_NICK_MAX + 1];
	int local = !(u->flags & U_REMOTE);

	chat_redis_in_fallback(nick, sizeof(nick), u->nick,
	    local ? r->node : u->node->name);
	if (chat_state_find_user(chat, nick) != NULL)
		return;
	chat->link_quiet++;
	chat_send_peers(u, local, "NICK", ":%s", nick);
	chat_state_nick(u, nick);
	chat->link_quiet--;
	if (!local)
		return;
	chat_redis_claim_quiet(r, u);
	/* Instances that refused the user under the nick it lost learn
	   of it now; the others just see the same user again. */
	if (r->state == CR_UP && (u->flags & U_REGISTERED))
		chat_redis_out_announce(r, u, r->bus);
}

/* Delivers and frees a message that awaited its return. */
static void
chat_redis_in_deliver(struct chat_redis *r, struct cr_defer *d)
{
	struct chat_chan *ch = chat_state_find_chan(r->chat, d->chan);
	struct chat_member *mb;
	struct chat_user *except = NULL;
	const char *data;
	size_t len;

	if (ch != NULL) {
		TAILQ_FOREACH(mb, &ch->members, by_chan) {
			if (d->except != 0 && !(mb->u->flags & U_REMOTE) &&
			    evs_conn_id(mb->u->c) == d->except) {
				except = mb->u;
				break;
			}
		}
		data = evs_msg_data(d->m, &len);
		chat_send_chan_line(r->chat, ch, except, data, len, 0);
	}
	evs_msg_unref(d->m);
	free(d);
}

void
chat_redis_in_flush(struct chat_redis *r)
{
	struct cr_defer *d;

	while ((d = STAILQ_FIRST(&r->defers)) != NULL) {
		STAILQ_REMOVE_HEAD(&r->defers, link);
		chat_redis_in_deliver(r, d);
	}
}

/* Returns node's user called nick, or NULL. */
static struct chat_user *
chat_redis_in_user(struct chat_redis *r, struct chat_node *node,
    const char *nick)
{
	struct chat_user *u = chat_state_find_user(r->chat, nick);

	return u != NULL && u->node == node ? u : NULL;
}

static void
chat_redis_in_hello(struct chat_redis *r, struct chat_node *node)
{
	char reason[2 * CR_NODE_MAX + 2], chan[sizeof(r->nodechan)];
	char name[CR_NODE_MAX + 1], epoch[CR_EPOCH_MAX];

	/* What we knew of its last session goes; its burst follows. */
	snprintf(name, sizeof(name), "%s", node->name);
	snprintf(epoch, sizeof(epoch), "%s", node->epoch);
	snprintf(reason, sizeof(reason), "%s %s", r->node, node->name);
	chat_redis_in_drop(r, node, reason);
	chat_redis_in_node(r, name, epoch);
	chat_redis_node_chan(r, name, chan, sizeof(chan));
	chat_redis_out_burst(r, chan, 0);
}

/* U node epoch nick user host nickts modes :realname */
static void
chat_redis_in_uevent(struct chat_redis *r, struct chat_node *node,
    struct cr_event *e)
{
	char real[IRC_REALNAME_MAX + 1];
	struct chat_user *u;

	if (e->argc < 8 || e->tail == NULL || !irc_valid_nick(e->argv[3]))
		return;
	if ((u = chat_redis_in_user(r, node, e->argv[3])) == NULL) {
		snprintf(real, sizeof(real), "%.*s", (int)e->taillen, e->tail);
		u = chat_state_remote_new(r->chat, node, e->argv[3], e->argv[4],
		    e->argv[5], real);
		if (u == NULL) {
			log_warn("cluster: %s's user %s: the nick is taken "
			         "here",
			    node->name, e->argv[3]);
			return;
		}
	}
	u->nick_ts = strtoull(e->argv[6], NULL, 10);
	chat_state_remote_invisible(u, strchr(e->argv[7], 'i') != NULL);
}

/* C node epoch chan created topicts modes burst topicby ops :topic */
static void
chat_redis_in_cevent(struct chat_redis *r, struct cr_event *e)
{
	struct chat_chan *ch;
	struct chat_member *mb;
	time_t ts;
	int burst, local = 0;

	if (e->argc < 10 || e->tail == NULL ||
	    (ch = chat_state_find_chan(r->chat, e->argv[3])) == NULL)
		return;
	ts = (time_t)strtoll(e->argv[5], NULL, 10);
	burst = strcmp(e->argv[7], "1") == 0;
	TAILQ_FOREACH(mb, &ch->members, by_chan)
		local += !(mb->u->flags & U_REMOTE);
	if (!burst || ts > ch->topic_time) {
		free(ch->topic);
		ch->topic = e->taillen > 0 ? strndup(e->tail, e->taillen) :
		                             NULL;
		snprintf(ch->topic_by, sizeof(ch->topic_by), "%s",
		    strcmp(e->argv[8], "-") != 0 ? e->argv[8] : "");
		ch->topic_time = ts;
	}
	if (burst && local > 0)
		return;
	ch->topic_ops = strchr(e->argv[6], 't') != NULL;
	ch->no_external = strchr(e->argv[6], 'n') != NULL;
	if (burst)
		return;
	/* The operators, as the sender last saw them. */
	TAILQ_FOREACH(mb, &ch->members, by_chan) {
		const char *p = e->argv[9];
		size_t n = strlen(mb->u->nick);

		mb->op = 0;
		while ((p = strstr(p, mb->u->nick)) != NULL) {
			if ((p == e->argv[9] || p[-1] == ',') &&
			    (p[n] == ',' || p[n] == '\0')) {
				mb->op = 1;
				break;
			}
			p += n;
		}
	}
}

/* J node epoch chan nick op render */
static void
chat_redis_in_jevent(struct chat_redis *r, struct chat_node *node,
    struct cr_event *e)
{
	struct chat_user *u;
	struct chat_chan *ch;
	struct chat_member *mb;

	if (e->argc < 7 ||
	    (u = chat_redis_in_user(r, node, e->argv[4])) == NULL ||
	    !irc_valid_channel(e->argv[3]))
		return;
	ch = chat_state_find_chan(r->chat, e->argv[3]);
	if (ch == NULL || (mb = chat_state_member(u, ch)) == NULL) {
		if ((mb = chat_state_join(u, ch, e->argv[3])) == NULL)
			return;
		if (strcmp(e->argv[6], "1") == 0)
			chat_send_chan(mb->ch, NULL, u, "JOIN", "%s",
			    mb->ch->name);
	}
	mb->op = strcmp(e->argv[5], "1") == 0;
}

/* L node epoch seq chan except defer :line, for others' members. */
static void
chat_redis_in_levent(struct chat_redis *r, struct cr_event *e)
{
	struct chat_chan *ch;

	if (e->argc < 7 || e->tail == NULL ||
	    (ch = chat_state_find_chan(r->chat, e->argv[4])) == NULL)
		return;
	chat_send_chan_line(r->chat, ch,
	    chat_state_find_user(r->chat, e->argv[5]), e->tail, e->taillen, 1);
}

/* Our own channel message is back: its turn for local members. */
static void
chat_redis_in_own_levent(struct chat_redis *r, struct cr_event *e)
{
	struct cr_defer *d = STAILQ_FIRST(&r->defers);
	unsigned long long seq;

	if (e->argc < 7 || strcmp(e->argv[6], "1") != 0 || d == NULL)
		return;
	seq = strtoull(e->argv[3], NULL, 10);
	/* Those published before it and lost were flushed on a split. */
	while (d != NULL && d->seq <= seq) {
		STAILQ_REMOVE_HEAD(&r->defers, link);
		chat_redis_in_deliver(r, d);
		d = STAILQ_FIRST(&r->defers);
	}
}

static void
chat_redis_in_apply(struct chat_redis *r, struct chat_node *node,
    struct cr_event *e)
{
	struct evs_chat *chat = r->chat;
	const char *kind = e->argv[0];
	struct chat_user *u;
	struct chat_chan *ch;
	struct chat_member *mb;

	switch (kind[0]) {
	case 'H':
		chat_redis_in_hello(r, node);
		break;
	case 'U':
		chat_redis_in_uevent(r, node, e);
		break;
	case 'A': /* A node epoch nick :away ("": back) */
		if (e->argc >= 4 && e->tail != NULL &&
		    (u = chat_redis_in_user(r, node, e->argv[3])) != NULL) {
			char away[IRC_AWAY_MAX + 1];

			snprintf(away, sizeof(away), "%.*s", (int)e->taillen,
			    e->tail);
			chat_state_away(u, away[0] != '\0' ? away : NULL);
		}
		break;
	case 'N': /* N node epoch old new nickts */
		if (e->argc >= 6 &&
		    (u = chat_redis_in_user(r, node, e->argv[3])) != NULL &&
		    irc_valid_nick(e->argv[4])) {
			struct chat_user *other = chat_state_find_user(chat,
			    e->argv[4]);

			if (other != NULL && other != u)
				break;
			chat_state_nick(u, e->argv[4]);
			u->nick_ts = strtoull(e->argv[5], NULL, 10);
		}
		break;
	case 'Q': /* Q node epoch nick */
		if (e->argc >= 4 &&
		    (u = chat_redis_in_user(r, node, e->argv[3])) != NULL)
			chat_state_quit(u);
		break;
	case 'J':
		chat_redis_in_jevent(r, node, e);
		break;
	case 'P': /* P node epoch chan nick, of any instance's user */
		if (e->argc >= 5 &&
		    (u = chat_state_find_user(chat, e->argv[4])) != NULL &&
		    (ch = chat_state_find_chan(chat, e->argv[3])) != NULL &&
		    (mb = chat_state_member(u, ch)) != NULL)
			chat_state_part(mb);
		break;
	case 'C':
		chat_redis_in_cevent(r, e);
		break;
	case 'L':
		chat_redis_in_levent(r, e);
		break;
	case 'S': /* S node epoch nick :line */
		if (e->argc >= 4 && e->tail != NULL &&
		    (u = chat_redis_in_user(r, node, e->argv[3])) != NULL)
			chat_send_peers_line(u, e->tail, e->taillen);
		break;
	case 'M': /* M node epoch nick :line, on our channel */
		if (e->argc >= 4 && e->tail != NULL &&
		    (u = chat_state_find_user(chat, e->argv[3])) != NULL &&
		    !(u->flags & U_REMOTE) && !(u->flags & U_CLOSING))
			chat_send_user_line(u, e->tail, e->taillen);
		break;
	case 'X': /* X node epoch nick loser: the loser's user renames */
		if (e->argc >= 5 &&
		    (u = chat_state_find_user(chat, e->argv[3])) != NULL &&
		    strcmp(e->argv[4],
		        (u->flags & U_REMOTE) ? u->node->name : r->node) == 0)
			chat_redis_in_rename(r, u);
		break;
	default:
		break;
	}
}

void
chat_redis_in_event(struct chat_redis *r, const char *data, size_t len)
{
	struct evs_chat *chat = r->chat;
	struct chat_node *node;
	struct cr_event e;
	char *buf;
	int own;

	if (len >= CR_EVENT_MAX || (buf = malloc(len + 1)) == NULL)
		return;
	memcpy(buf, data, len);
	buf[len] = '\0';
	chat_redis_in_split(buf, len, &e);
	if (e.argc < 3 || strlen(e.argv[0]) != 1)
		goto out;
	own = strcmp(e.argv[1], r->node) == 0;
	if (own && strcmp(e.argv[2], r->epoch) != 0) {
		log_warn("cluster: another instance calls itself %s", r->node);
		goto out;
	}
	chat->link_quiet++;
	if (own) {
		/* Ours: channel messages and channel state wait for their
		   turn, and a lost nick is renamed everywhere at once;
		   everything else applied when it happened. */
		if (e.argv[0][0] == 'L')
			chat_redis_in_own_levent(r, &e);
		else if (e.argv[0][0] == 'C')
			chat_redis_in_cevent(r, &e);
		else if (e.argv[0][0] == 'X')
			chat_redis_in_apply(r, NULL, &e);
	} else if ((node = chat_redis_in_node(r, e.argv[1], e.argv[2])) !=
	    NULL) {
		/* The same name with a new epoch: it restarted. */
		if (strcmp(node->epoch, e.argv[2]) != 0 &&
		    e.argv[0][0] != 'H') {
			char reason[2 * CR_NODE_MAX + 2];

			snprintf(reason, sizeof(reason), "%s %s", r->node,
			    node->name);
			chat_redis_in_drop(r, node, reason);
			node = chat_redis_in_node(r, e.argv[1], e.argv[2]);
		}
		if (node != NULL) {
			snprintf(node->epoch, sizeof(node->epoch), "%s",
			    e.argv[2]);
			chat_redis_in_apply(r, node, &e);
		}
	}
	chat->link_quiet--;
out:
	free(buf);
}
